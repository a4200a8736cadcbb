/* SPDX-License-Identifier: MIT */
/*
 * lib/update's pull transports: a package fetched from a URL into a file,
 * block by block, resumable after an interruption. http and https through
 * libcurl (fetch_http.c: Range with If-Range, RFC 7233), coap and coaps
 * through lib/coap (fetch_coap.c: one Block2 request per block, RFC 7959).
 *
 * Every byte goes to the file and to the caller's sink (the streaming
 * verifier), so the package is checked while it arrives and never sits in
 * memory. On a resume the sink is first given the bytes already in the file
 * (read back from disk), so it always sees the package from byte 0, in
 * order, once per upd_fetch() call.
 *
 * The resume state {offset, validator} is the caller's to keep (the
 * journal): given back at every checkpoint (after an fsync, so that what it
 * says is on disk) and at the end, also on failure. A resume whose validator
 * no longer matches (the resource changed), or that the server does not
 * honour (it answers from byte 0), truncates the file and starts from 0:
 * never two versions joined in one file.
 */
#ifndef M2M_UPDATE_FETCH_H
#define M2M_UPDATE_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "coap/coap.h"
#include "update/update.h"

/*
 * fsync and a checkpoint after this many bytes and this long since the last
 * one, and at the end: a power cut loses at most 1 MiB or one second of the
 * transfer, whichever is more. Not every MiB on a fast link: an fdatasync
 * blocks the transfer for 5-25 ms on the bench's disk (an ext4 journal
 * commit), and the whole MiBs are already on their way to the disk
 * (sync_file_range after each write), so the end's fsync finds little left.
 */
#define UPD_FETCH_CHECKPOINT (1024 * 1024)
#define UPD_FETCH_CHECKPOINT_MS 1000
/* the file is written in runs of this many bytes: 16384 pwrites of a 1 KiB Block2 cost 8% */
#define UPD_FETCH_WRITE (256 * 1024)

enum upd_scheme {
	UPD_SCHEME_INVALID = 0, /* not a URI with a host (LwM2M: invalid URI) */
	UPD_SCHEME_UNSUPPORTED, /* a URI of another scheme (LwM2M: unsupported protocol) */
	UPD_SCHEME_HTTP,
	UPD_SCHEME_HTTPS,
	UPD_SCHEME_COAP,
	UPD_SCHEME_COAPS,
};
enum upd_scheme upd_fetch_scheme(const char *url);

/*
 * Where a pull stands. offset: the bytes of the file that are good (the
 * resume point); etag: the resource's validator for them (HTTP: the ETag as
 * the server sent it, quotes included; CoAP: hex), "" if none is known, and
 * then nothing is compared (the package's signature and hash at the end
 * catch a resource that changed); total: the resource's size, 0 unknown.
 */
struct upd_fetch_state {
	uint64_t offset;
	char etag[132];
	uint64_t total;
};

/* Bytes so far (from 0, including those resumed from), total if known (0 otherwise). */
typedef void (*upd_progress_fn)(void *ctx, uint64_t done, uint64_t total);
/* The state after an fsync (what is on disk): for the journal. An error stops the pull with it. */
typedef int (*upd_checkpoint_fn)(void *ctx, const struct upd_fetch_state *st,
				 struct m2m_err *err);

struct upd_fetch_opts {
	const char *url;
	const char *path;               /* the destination file (created 0600 if absent) */
	uint64_t expected;              /* the package's size if known (0: not); more is INTEGRITY */
	uint64_t max;                   /* if expected is 0: the most accepted (0: no bound); more is PROTOCOL */
	unsigned timeout_ms;            /* the whole pull (0: none); TIMEOUT after it */
	unsigned connect_timeout_ms;    /* 0: 30 s (bounded by timeout_ms) */
	unsigned stall_ms;              /* nothing arrives this long: TIMEOUT (0: 60 s) */
	/* https: the CA file that the server's certificate must chain to (NULL: the system's);
	   TLS verification is always on */
	const char *ca;
	/* coap, coaps: the security (PSK, X.509 as in dm:), block_size (dm.block_size);
	   its uri is ignored (the url's host is used). NULL: coap:// without security */
	const struct m2m_coap_opts *coap;
	upd_sink_fn sink;               /* may be NULL */
	void *sink_ctx;
	upd_progress_fn progress;       /* may be NULL */
	void *progress_ctx;
	upd_checkpoint_fn checkpoint;   /* may be NULL */
	void *checkpoint_ctx;
	volatile const int *stop;       /* set by a signal handler: stop at the next block (TIMEOUT) */
};

/*
 * Pull o->url into o->path from st (zeroed: from the start). st is updated
 * as the pull goes and is the state to keep on return, also on failure.
 * OK: the whole resource is in the file (st->offset == st->total). Errors:
 * CONFIG (not a URL of ours, unsupported scheme), UNREACHABLE (no
 * connection, dropped; HTTP 429, 502, 503, 504: not now), TIMEOUT (the
 * time bound, or a stall), AUTH_REMOTE (the server's TLS certificate or
 * DTLS credentials refused), CLOCK (https: a certificate of the server's
 * chain expired or not yet valid), AUTH_LOCAL
 * (the server refused us: 401, 403, 4.01, 4.03), NOT_FOUND (404, 4.04),
 * PROTOCOL (a bad answer, a redirect not followed, or more than max),
 * INTEGRITY (not the expected size), STORAGE (not enough space: before the
 * first byte when the size is known, or a write that failed), DEVICE (http
 * or https, and libcurl.so.4 is not installed: it is loaded on the first
 * such pull), or the sink's or checkpoint's error.
 */
int upd_fetch(const struct upd_fetch_opts *o, struct upd_fetch_state *st, struct m2m_err *err);

/*
 * For the transports (fetch_http.c, fetch_coap.c): the file and the sink
 * behind one writer. Bytes are written at st->offset and given to the sink.
 */
struct upd_fetch_io {
	const struct upd_fetch_opts *o;
	struct upd_fetch_state *st;
	struct m2m_err *err;
	int fd;
	uint64_t synced;                /* st->offset at the last fsync */
	uint64_t synced_at;             /* m2m_now_ms() then (or at the start) */
	bool fed;                       /* the sink has had the bytes before st->offset */
	uint64_t sunk;                  /* bytes given to the sink in this call */
	uint64_t deadline;              /* m2m_now_ms() at which the pull gives up; 0: none */
	/* the last `buffered` bytes before st->offset, not yet written to the file */
	uint8_t *buf;
	size_t buffered;
};
/* The most the resource may hold: expected, else max; UINT64_MAX if neither. */
uint64_t upd_io_bound(const struct upd_fetch_io *io);
/* The resource's size, learnt from the server: within the bound, and space for the rest. */
int upd_io_total(struct upd_fetch_io *io, uint64_t total);
/* Keep the first offset bytes only (offset <= st->offset): a resume from there. */
int upd_io_rewind(struct upd_fetch_io *io, uint64_t offset);
/* Start again from byte 0: the file emptied, the validator and size forgotten. */
int upd_io_restart(struct upd_fetch_io *io);
/* The bytes before st->offset to the sink (once): the answer continues at st->offset. */
int upd_io_continue(struct upd_fetch_io *io);
/*
 * len bytes at st->offset: the file, the sink, the progress, the checkpoints.
 * The file is written in runs of UPD_FETCH_WRITE (a block of 1 KiB is not a
 * write of its own); what is buffered goes to the file before any fsync, read
 * back, truncation or return.
 */
int upd_io_write(struct upd_fetch_io *io, const void *data, size_t len);
/* fsync and the checkpoint. */
int upd_io_sync(struct upd_fetch_io *io);
/* ms left before the deadline (at least 1); UINT32_MAX-ish if none. */
unsigned upd_io_left_ms(const struct upd_fetch_io *io);

int upd_fetch_http(struct upd_fetch_io *io);
int upd_fetch_coap(struct upd_fetch_io *io);

#endif
