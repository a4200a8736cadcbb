/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the header lines of an http or https pull's answers, as libcurl hands
 * them to lib/update/fetch_http.c's header callback (upd_http_header: status lines,
 * ETag, Location, Content-Range, Content-Length, the empty line that ends an answer and
 * the verdict on the final one), and each line's value through the Content-Range
 * parser (upd_http_content_range). The first byte says where the pull stands: from 0
 * or resumed from byte 500, with or without a saved ETag, with or without the
 * package's size known. Besides not crashing: a Content-Range taken obeys RFC 9110
 * 14.4 (first <= last < total), a body is let through only after a 200, 206 or 416, a
 * stop always has its reason, the Location kept is bounded and NUL-terminated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "update/fetch_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;

/* the pull's file: an empty temporary file, removed at once (nothing is written to it) */
static int file(void)
{
	char path[] = "/tmp/m2m-fuzz-http-XXXXXX";

	if (fd < 0 && (fd = mkstemp(path)) >= 0)
		unlink(path);
	if (fd < 0)
		abort();
	return fd;
}

static void range_ok(const struct upd_http_range *r)
{
	if (r->star ? r->first || r->last : r->first > r->last || (r->total && r->total <= r->last))
		abort();
}

static void check_range(const char *v)
{
	struct upd_http_range r;

	if (upd_http_content_range(v, &r))
		range_ok(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upd_fetch_opts o = { .url = "http://127.0.0.1/pkg", .path = "(fuzz)" };
	struct upd_fetch_state st = { 0 };
	struct upd_fetch_io io = { 0 };
	struct m2m_err err = { 0 };
	struct upd_http h;
	size_t at = 1;

	if (!size)
		return 0;
	if (data[0] & 1)
		st.offset = 500;
	if (data[0] & 2)
		snprintf(st.etag, sizeof(st.etag), "\"v1\"");
	if (data[0] & 4)
		o.expected = 1000;
	io.o = &o;
	io.st = &st;
	io.err = &err;
	io.fd = file();
	upd_http_start(&h, &io);
	while (at < size) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
		char *line = malloc(len + 1);
		size_t r;

		if (!line)
			abort();
		memcpy(line, data + at, len);
		line[len] = 0;
		at += len;
		/* the value alone, as the callback hands it on (the parser sees C strings) */
		check_range(line);
		if (len > 14)
			check_range(line + 14);
		r = upd_http_header(&h, line, len);
		free(line);
		if (memchr(h.location, 0, sizeof(h.location)) == NULL ||
		    strlen(h.location) > UPD_HTTP_LOCATION)
			abort();
		if (r == 0) {
			/* stopped: why, or a start again from byte 0 */
			if (!h.restart && (!h.rc || !err.msg[0]))
				abort();
			break;
		}
		if (r != len)
			abort();
		if (h.decided && h.code != 200 && h.code != 206 && h.code != 416)
			abort();
		if (h.has_range)
			range_ok(&h.range);
	}
	return 0;
}
