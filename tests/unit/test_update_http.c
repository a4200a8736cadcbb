/*
 * The judge of an HTTP answer in an http or https pull (lib/update/fetch_http.h).
 * Content-Range from RFC 9110 14.4's grammar:
 *   Content-Range     = range-unit SP ( range-resp / unsatisfied-range )
 *   range-resp        = incl-range "/" ( complete-length / "*" )
 *   incl-range        = first-pos "-" last-pos
 *   unsatisfied-range = "*" "/" complete-length
 * "invalid if it contains a range-resp that has a last-pos value less than its
 * first-pos value, or a complete-length value less than or equal to its
 * last-pos value"; range units are case-insensitive (14.1). And the header
 * lines of answers as libcurl hands them: an interim 1xx and a redirect are not
 * the answer; a final 3xx (RFC 9110 15.4: 304 to a request with no condition,
 * or no Location) is a PROTOCOL error that says what the server answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "update/fetch_http.h"

static void test_range_valid(void **state)
{
	struct upd_http_range r;

	(void)state;
	assert_true(upd_http_content_range("bytes 0-499/1234", &r));
	assert_false(r.star);
	assert_true(r.first == 0 && r.last == 499 && r.total == 1234);
	assert_true(upd_http_content_range("bytes 42-1233/1234", &r));
	assert_true(r.first == 42 && r.last == 1233 && r.total == 1234);
	assert_true(upd_http_content_range("bytes 0-0/1", &r));
	assert_true(r.first == 0 && r.last == 0 && r.total == 1);
	/* complete-length "*": not known */
	assert_true(upd_http_content_range("bytes 500-999/*", &r));
	assert_true(r.first == 500 && r.last == 999 && r.total == 0 && !r.star);
	/* unsatisfied-range */
	assert_true(upd_http_content_range("bytes */1234", &r));
	assert_true(r.star && r.total == 1234);
	assert_true(upd_http_content_range("bytes */0", &r));
	assert_true(r.star && r.total == 0);
	/* the unit is case-insensitive */
	assert_true(upd_http_content_range("BYTES 1-2/3", &r));
	assert_true(upd_http_content_range("Bytes */7", &r));
	/* the largest that 64 bits hold */
	assert_true(upd_http_content_range("bytes 0-18446744073709551614/18446744073709551615", &r));
	assert_true(r.last == UINT64_MAX - 1 && r.total == UINT64_MAX);
	/* leading zeros are digits */
	assert_true(upd_http_content_range("bytes 007-010/0011", &r));
	assert_true(r.first == 7 && r.last == 10 && r.total == 11);
}

static void test_range_invalid(void **state)
{
	static const char *const bad[] = {
		/* last-pos < first-pos */
		"bytes 500-499/1234",
		/* complete-length <= last-pos */
		"bytes 0-1234/1234",
		"bytes 0-0/0",
		/* no complete-length */
		"bytes 0-499",
		"bytes 0-499/",
		/* overflowing numbers */
		"bytes 0-18446744073709551616/18446744073709551617",
		"bytes 18446744073709551616-18446744073709551616/*",
		"bytes 0-1/18446744073709551616",
		"bytes */18446744073709551616",
		"bytes 0-1/99999999999999999999999999999999",
		/* unsatisfied-range has a complete-length, never "*" */
		"bytes */*",
		"bytes *",
		"bytes */",
		"bytes *-1/2",
		/* another unit, no SP, two SP */
		"items 0-1/2",
		"bytes0-1/2",
		"bytes  0-1/2",
		"bytes",
		"",
		/* anything after the value */
		"bytes 0-1/2x",
		"bytes 0-1/2 ",
		"bytes 0-1/*x",
		"bytes */12 3",
		"bytes 0-1/2, bytes 3-4/5",
		/* signs, blanks, other digits */
		"bytes -1-2/3",
		"bytes +0-1/2",
		"bytes 0--1/2",
		"bytes 0 -1/2",
		"bytes 0-1 /2",
		"bytes 0x1-2/3",
		"bytes \xd9\xa1-2/3",
	};
	struct upd_http_range r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (upd_http_content_range(bad[i], &r))
			fail_msg("accepted: \"%s\"", bad[i]);
}

/* A pull's io on an empty temporary file (removed at once: the fd is enough), from offset */
struct pull {
	struct upd_fetch_opts o;
	struct upd_fetch_state st;
	struct upd_fetch_io io;
	struct m2m_err err;
	struct upd_http h;
};

static void pull_start(struct pull *p, uint64_t offset, const char *etag)
{
	memset(p, 0, sizeof(*p));
	p->o.url = "http://127.0.0.1/pkg";
	p->o.path = "(temporary)";
	p->st.offset = offset;
	snprintf(p->st.etag, sizeof(p->st.etag), "%s", etag);
	p->io.o = &p->o;
	p->io.st = &p->st;
	p->io.err = &p->err;
	{
		char path[] = "/tmp/m2m-test-http-XXXXXX";

		p->io.fd = mkstemp(path);
		assert_true(p->io.fd >= 0);
		unlink(path);
	}
	upd_http_start(&p->h, &p->io);
}

/* lines as libcurl gives them, each with its CR LF; the verdict of the last one */
static size_t answer(struct pull *p, ...)
{
	va_list ap;
	const char *l;
	size_t r = 0;

	va_start(ap, p);
	while ((l = va_arg(ap, const char *))) {
		char line[512];

		snprintf(line, sizeof(line), "%s\r\n", l);
		r = upd_http_header(&p->h, line, strlen(line));
		if (!r)
			break;
	}
	va_end(ap);
	return r;
}

static void pull_end(struct pull *p)
{
	close(p->io.fd);
}

static void test_answer_whole(void **state)
{
	struct pull p;

	(void)state;
	pull_start(&p, 0, "");
	assert_int_not_equal(answer(&p, "HTTP/1.1 100 Continue", "", "HTTP/1.1 200 OK",
				    "ETag: \"v1\"", "Content-Length: 1000", "", NULL), 0);
	assert_true(p.h.decided);
	assert_string_equal(p.st.etag, "\"v1\"");
	assert_true(p.st.total == 1000);
	/* a chunked body's trailers, after it: the answer was judged, nothing changes */
	assert_int_not_equal(answer(&p, "ETag: \"v2\"", "Content-Length: 5", "", NULL), 0);
	assert_string_equal(p.st.etag, "\"v1\"");
	assert_true(p.st.total == 1000 && !p.h.rc);
	pull_end(&p);
}

/* a redirect is followed by libcurl: its headers are forgotten, the next answer judged */
static void test_answer_redirect(void **state)
{
	struct pull p;

	(void)state;
	pull_start(&p, 0, "");
	assert_int_not_equal(answer(&p, "HTTP/1.1 302 Found", "Location: /other",
				    "Content-Length: 5", "", NULL), 0);
	assert_false(p.h.decided);
	assert_string_equal(p.h.location, "/other");
	assert_int_not_equal(answer(&p, "HTTP/1.1 200 OK", "", NULL), 0);
	assert_true(p.h.decided);
	assert_string_equal(p.h.location, "");
	assert_true(p.st.total == 0); /* the redirect's Content-Length is not the package's */
	pull_end(&p);
}

/* a final 3xx: what the server answered, not "no answer" or "a body before its headers" */
static void test_answer_final_3xx(void **state)
{
	static const struct {
		const char *line, *want;
	} codes[] = {
		{ "HTTP/1.1 304 Not Modified", "HTTP 304 and no Location to follow" },
		{ "HTTP/1.1 300 Multiple Choices", "HTTP 300 and no Location to follow" },
		{ "HTTP/2 302 ", "HTTP 302 and no Location to follow" },
		{ "HTTP/1.1 301 Moved", "HTTP 301 and no Location to follow" },
	};
	struct pull p;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		pull_start(&p, 0, "");
		/* an empty Location is none (libcurl does not follow it either) */
		assert_int_equal(answer(&p, codes[i].line, "Location:   ", "", NULL), 0);
		assert_int_equal(p.h.rc, M2M_ERR_PROTOCOL);
		assert_non_null(strstr(p.err.msg, codes[i].want));
		assert_false(p.h.decided);
		pull_end(&p);
	}
}

static void test_answer_206(void **state)
{
	struct pull p;

	(void)state;
	/* the rest from our offset: taken */
	pull_start(&p, 500, "\"v1\"");
	assert_int_not_equal(answer(&p, "HTTP/1.1 206 Partial Content", "ETag: \"v1\"",
				    "Content-Range: bytes 500-999/1000", "", NULL), 0);
	assert_true(p.h.decided && p.st.total == 1000);
	pull_end(&p);
	/* from elsewhere: refused */
	pull_start(&p, 500, "");
	assert_int_equal(answer(&p, "HTTP/1.1 206 Partial Content",
				"Content-Range: bytes 0-999/1000", "", NULL), 0);
	assert_int_equal(p.h.rc, M2M_ERR_PROTOCOL);
	pull_end(&p);
	/* with something after the value: not a Content-Range, so refused */
	pull_start(&p, 500, "");
	assert_int_equal(answer(&p, "HTTP/1.1 206 Partial Content",
				"Content-Range: bytes 500-999/1000x", "", NULL), 0);
	assert_int_equal(p.h.rc, M2M_ERR_PROTOCOL);
	pull_end(&p);
	/* another ETag (a server that does not heed If-Range): the whole again */
	pull_start(&p, 500, "\"v1\"");
	assert_int_equal(answer(&p, "HTTP/1.1 206 Partial Content", "ETag: \"v2\"",
				"Content-Range: bytes 500-999/1000", "", NULL), 0);
	assert_true(p.h.restart && !p.h.rc);
	pull_end(&p);
}

/* 416 with "*" "/" our offset: we have it all */
static void test_answer_416(void **state)
{
	struct pull p;

	(void)state;
	pull_start(&p, 1000, "");
	assert_int_not_equal(answer(&p, "HTTP/1.1 416 Range Not Satisfiable",
				    "Content-Range: bytes */1000", "", NULL), 0);
	assert_true(p.h.complete && p.st.total == 1000);
	pull_end(&p);
	pull_start(&p, 1000, "");
	assert_int_equal(answer(&p, "HTTP/1.1 416 Range Not Satisfiable",
				"Content-Range: bytes */2000", "", NULL), 0);
	assert_true(p.h.restart && !p.h.complete);
	pull_end(&p);
}

/* a value longer than kept is not taken cut; a Location is kept to its first bytes */
static void test_answer_long_values(void **state)
{
	char cr[300], loc[300];
	struct pull p;

	(void)state;
	/* "bytes 500-999/1000", blanks, then more: cut at 127 bytes, a parser that stops
	   after the number would take it */
	snprintf(cr, sizeof(cr), "Content-Range: bytes 500-999/1000%*s1", 150, "");
	pull_start(&p, 500, "");
	assert_int_equal(answer(&p, "HTTP/1.1 206 Partial Content", cr, "", NULL), 0);
	assert_int_equal(p.h.rc, M2M_ERR_PROTOCOL);
	pull_end(&p);
	snprintf(loc, sizeof(loc), "Location: file:///%0200d", 0);
	pull_start(&p, 0, "");
	assert_int_not_equal(answer(&p, "HTTP/1.1 302 Found", loc, "", NULL), 0);
	assert_int_equal(strlen(p.h.location), UPD_HTTP_LOCATION);
	assert_true(p.h.location_long);
	pull_end(&p);
}

/* a status line whose code is not 3 digits is no status: never taken as a 1xx or a 200 */
static void test_status_line(void **state)
{
	static const char *const bad[] = { "HTTP/1.1 -200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK",
					   "HTTP/1.1", "HTTP/1.1 OK 200" };
	struct pull p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pull_start(&p, 0, "");
		assert_int_equal(answer(&p, bad[i], "", NULL), 0);
		assert_int_equal(p.h.rc, M2M_ERR_PROTOCOL);
		assert_false(p.h.decided);
		pull_end(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_valid),
		cmocka_unit_test(test_range_invalid),
		cmocka_unit_test(test_answer_whole),
		cmocka_unit_test(test_answer_redirect),
		cmocka_unit_test(test_answer_final_3xx),
		cmocka_unit_test(test_answer_206),
		cmocka_unit_test(test_answer_416),
		cmocka_unit_test(test_answer_long_values),
		cmocka_unit_test(test_status_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
