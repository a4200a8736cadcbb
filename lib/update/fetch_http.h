/* SPDX-License-Identifier: MIT */
/*
 * fetch_http.c's judge of an HTTP answer, apart from libcurl: the header
 * lines as libcurl hands them to its header callback, one at a time, and the
 * verdict on the final answer before a byte of its body is written. Internal
 * to lib/update (not exported by libm2m); the fuzz target
 * (tests/fuzz/fuzz_http_headers.c) and the unit test
 * (tests/unit/test_update_http.c) drive the same functions as a pull.
 */
#ifndef M2M_UPDATE_FETCH_HTTP_H
#define M2M_UPDATE_FETCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "update/fetch.h"

/*
 * A Content-Range value (RFC 9110 14.4): "bytes FIRST-LAST/TOTAL" or
 * "bytes FIRST-LAST/" "*" (total 0: not known), or "bytes *" "/TOTAL"
 * (unsatisfied: star set, first and last 0).
 */
struct upd_http_range {
	bool star;
	uint64_t first, last, total;
};
/*
 * Parse v (the value, blanks around it already off). False, and *r
 * unspecified, for anything else: another unit, a last before its first, a
 * total not beyond the last, a number that does not fit 64 bits, or anything
 * after the value. The unit is case-insensitive (RFC 9110 14.1).
 */
bool upd_http_content_range(const char *v, struct upd_http_range *r);

/* The location of a redirect kept for its message: the most shown of it */
#define UPD_HTTP_LOCATION 64
/*
 * All the header lines of one request's answers (interim 1xx, redirects, the
 * final answer and its chunked trailers): libcurl keeps them for its headers
 * API, and trailers without a bound of its own (an endless stream of them
 * took 634 MB in 5 s here with libcurl 7.88.1; CVE-2023-38039's fix bounds
 * only an answer's headers, and not in every build). Real answers take a
 * few KiB.
 */
#define UPD_HTTP_HEADERS_MAX (256 * 1024)

/* One request and its answers (an interim 1xx or a redirect, then the final one) */
struct upd_http {
	struct upd_fetch_io *io;
	bool ranged;            /* this request asked for the bytes from st->offset on */
	long code;              /* the status of the answer whose headers are arriving (0: none) */
	char etag[132];
	bool has_range, has_len;
	struct upd_http_range range;
	uint64_t len;
	char location[UPD_HTTP_LOCATION + 1]; /* this answer's Location, its start ("": none) */
	bool location_long;     /* ... and there was more of it */
	size_t header_bytes;    /* of every answer to this request, trailers too */
	bool decided;           /* the final answer's headers judged: its body may come */
	bool complete;          /* 416: we have it all; its body is not ours */
	bool restart;           /* a 200 to a Range: ask again for the whole */
	long verify;            /* https: the TLS library's verdict on the server's chain (0: none) */
	/* https: the certificate of the chain whose dates failed the check ("": none seen) */
	char cert[160];
	int cert_depth;         /* 0: the server's own */
	time_t not_before, not_after;
	SSL_verify_cb verify_next; /* libcurl's verify callback (NULL: none), called on */
	int rc;                 /* our verdict that stopped the transfer */
};

/* A request from io->st->offset (a Range if it is not 0), no answer yet */
void upd_http_start(struct upd_http *h, struct upd_fetch_io *io);

/*
 * One header line of an answer, its CR LF included (libcurl's header
 * callback): a status line starts an answer, the empty line ends its headers
 * and the final answer is judged then. len to go on, 0 to stop the transfer
 * (h->rc set, or h->restart: ask again for the whole).
 */
size_t upd_http_header(struct upd_http *h, const char *b, size_t len);

#endif
