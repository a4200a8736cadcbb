/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/coap's request bodies handed on a block at a time
 * (mcoap_on_block1), from RFC 7959's text: each block of a PUT reaches the
 * handler once, in order, with its offset (2.3); a block with more to follow
 * is answered 2.31 Continue with Block1 echoing NUM, M=1 and SZX, the last
 * with the handler's code and M=0; a block that does not continue the body
 * is 4.08 Request Entity Incomplete (2.9.2) and never reaches the handler; a
 * block with M=1 not of its SZX's size is 4.00 (2.2); the last block again
 * (our 2.31 lost) is answered 2.31 again but not handed on twice; a block the
 * handler refuses ends the body; the body limit does not bound such a body.
 * The test plays the server: its socket is the session's peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "coap/coap.h"

static struct m2m_coap *C;
static int peer = -1;
static uint16_t mid = 0x100;

/* what the block handler saw */
static struct {
	unsigned n;
	uint64_t off[16];
	size_t len[16];
	bool more[16];
	unsigned answer;          /* what it answers (0: 2.04) */
	uint64_t total;
} H;

static unsigned on_block(void *ctx, const struct m2m_coap_msg *req, uint64_t offset)
{
	(void)ctx;
	if (H.n < 16) {
		H.off[H.n] = offset;
		H.len[H.n] = req->len;
		H.more[H.n] = req->block1.has && req->block1.more;
	}
	H.n++;
	H.total += req->len;
	return H.answer ? H.answer : 0x44;
}

static unsigned handled;

static void handler(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	(void)ctx, (void)req;
	handled++;
	rep->code = 0x44;
}

static int setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct m2m_coap_opts o = { .security = M2M_DM_NOSEC, .max_body = 1024 };
	struct m2m_err err;
	char uri[64];

	(void)state;
	memset(&H, 0, sizeof(H));
	handled = 0;
	peer = socket(AF_INET, SOCK_DGRAM, 0);
	if (peer < 0 || bind(peer, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(peer, (struct sockaddr *)&a, &al))
		return -1;
	snprintf(uri, sizeof(uri), "coap://127.0.0.1:%u", ntohs(a.sin_port));
	o.uri = uri;
	if (mcoap_open(&o, handler, NULL, &C, &err) || mcoap_add_path(C, "/5/0/0", &err) ||
	    mcoap_add_path(C, "/5/0/1", &err))
		return -1;
	mcoap_on_block1(C, "/5/0/0", on_block, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mcoap_close(C);
	C = NULL;
	close(peer);
	return 0;
}

static size_t put_opt(uint8_t *p, unsigned delta, const uint8_t *v, size_t len)
{
	size_t n = 0;

	p[n++] = (uint8_t)((delta < 13 ? delta : 13) << 4 | len);
	if (delta >= 13)
		p[n++] = (uint8_t)(delta - 13);
	memcpy(p + n, v, len);
	return n + len;
}

struct answer {
	unsigned code;
	bool has_b1;
	unsigned b1;   /* NUM << 4 | M << 3 | SZX */
};

/*
 * A confirmable PUT of path ("0" or "1": /5/0/0 or /5/0/1) with Block1
 * NUM/M/SZX (num < 0: none) and len bytes; the client's answer.
 */
static struct answer put(const char *res, int num, bool more, unsigned szx, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)mcoap_local_port(C)) };
	uint8_t b[1500], v[3];
	struct answer a = { 0 };
	size_t n = 0;
	ssize_t got = -1;
	unsigned opt = 0;

	mid++;
	b[n++] = 0x41; /* CON, token length 1 */
	b[n++] = 0x03; /* PUT */
	b[n++] = (uint8_t)(mid >> 8);
	b[n++] = (uint8_t)mid;
	b[n++] = 0x7a;
	n += put_opt(b + n, 11, (const uint8_t *)"5", 1);
	n += put_opt(b + n, 0, (const uint8_t *)"0", 1);
	n += put_opt(b + n, 0, (const uint8_t *)res, 1);
	v[0] = 42; /* Content-Format application/octet-stream */
	n += put_opt(b + n, 12 - 11, v, 1);
	if (num >= 0) {
		unsigned x = (unsigned)num << 4 | (more ? 8u : 0u) | szx;

		v[0] = (uint8_t)(x >> 16), v[1] = (uint8_t)(x >> 8), v[2] = (uint8_t)x;
		n += put_opt(b + n, 27 - 12, x > 0xffff ? v : x > 0xff ? v + 1 : v + 2,
			     x > 0xffff ? 3 : x > 0xff ? 2 : 1);
	}
	if (len) {
		b[n++] = 0xff;
		memset(b + n, num & 0xff, len);
		n += len;
	}
	assert_int_equal(sendto(peer, b, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
	for (int i = 0; i < 200 && got < 0; i++) {
		mcoap_process(C, 5);
		got = recv(peer, b, sizeof(b), MSG_DONTWAIT);
	}
	assert_true(got >= 5);
	a.code = b[1];
	for (size_t i = 4 + (b[0] & 15); i < (size_t)got && b[i] != 0xff;) {
		unsigned d = b[i] >> 4, l = b[i] & 15, x = 0;

		i++;
		if (d == 13)
			d = b[i++] + 13u;
		opt += d;
		for (unsigned k = 0; k < l; k++)
			x = x << 8 | b[i + k];
		if (opt == 27) {
			a.has_b1 = true;
			a.b1 = x;
		}
		i += l;
	}
	return a;
}

#define C231 0x5f
#define C204 0x44

/* three blocks of 1024 (a body three times the body limit): 2.31, 2.31, 2.04 */
static void test_in_order(void **state)
{
	struct answer a;

	(void)state;
	a = put("0", 0, true, 6, 1024);
	assert_int_equal(a.code, C231);
	assert_true(a.has_b1);
	assert_int_equal(a.b1, 0u << 4 | 8 | 6);
	a = put("0", 1, true, 6, 1024);
	assert_int_equal(a.code, C231);
	assert_int_equal(a.b1, 1u << 4 | 8 | 6);
	a = put("0", 2, false, 6, 100);
	assert_int_equal(a.code, C204);
	assert_true(a.has_b1);
	assert_int_equal(a.b1, 2u << 4 | 6);
	assert_int_equal(H.n, 3);
	assert_int_equal(H.off[0], 0);
	assert_int_equal(H.off[1], 1024);
	assert_int_equal(H.off[2], 2048);
	assert_true(H.more[0] && H.more[1] && !H.more[2]);
	assert_int_equal(H.total, 2148);
	assert_int_equal(handled, 0);
}

/* a block that does not continue the body: 4.08, not handed on; the body is gone */
static void test_out_of_order(void **state)
{
	(void)state;
	assert_int_equal(put("0", 1, true, 6, 1024).code, 0x88); /* no block 0 before */
	assert_int_equal(put("0", 0, true, 6, 1024).code, C231);
	assert_int_equal(put("0", 2, true, 6, 1024).code, 0x88); /* block 1 skipped */
	assert_int_equal(put("0", 1, true, 6, 1024).code, 0x88); /* that body ended */
	assert_int_equal(H.n, 1);
	/* a new body from block 0 is taken */
	assert_int_equal(put("0", 0, true, 4, 256).code, C231);
	assert_int_equal(put("0", 1, false, 4, 10).code, C204);
	assert_int_equal(H.n, 3);
	assert_int_equal(H.off[2], 256);
}

/* the last block again (our 2.31 lost): 2.31 again, handed on once */
static void test_repeated(void **state)
{
	(void)state;
	assert_int_equal(put("0", 0, true, 6, 1024).code, C231);
	assert_int_equal(put("0", 1, true, 6, 1024).code, C231);
	assert_int_equal(put("0", 1, true, 6, 1024).code, C231);
	assert_int_equal(H.n, 2);
	assert_int_equal(put("0", 2, false, 6, 1).code, C204);
	assert_int_equal(H.n, 3);
	assert_int_equal(H.off[2], 2048);
}

/* M=1 with fewer bytes than SZX says: 4.00 (RFC 7959 2.2) */
static void test_short_block(void **state)
{
	(void)state;
	assert_int_equal(put("0", 0, true, 6, 1000).code, 0x80);
	assert_int_equal(H.n, 0);
}

/* a block the handler refuses: its code, no Block1; the body ended */
static void test_refused(void **state)
{
	struct answer a;

	(void)state;
	assert_int_equal(put("0", 0, true, 6, 1024).code, C231);
	H.answer = 0x8d; /* 4.13 */
	a = put("0", 1, true, 6, 1024);
	assert_int_equal(a.code, 0x8d);
	assert_false(a.has_b1);
	H.answer = 0;
	assert_int_equal(put("0", 2, true, 6, 1024).code, 0x88);
	assert_int_equal(H.n, 2);
}

/* a body in one datagram: the handler's, at offset 0, last; another path is not handed on */
static void test_whole_and_other_path(void **state)
{
	struct answer a;

	(void)state;
	a = put("0", -1, false, 0, 5);
	assert_int_equal(a.code, C204);
	assert_false(a.has_b1);
	assert_int_equal(H.n, 1);
	assert_int_equal(H.off[0], 0);
	assert_false(H.more[0]);
	/* /5/0/1 in blocks: reassembled under the body limit as before, then the handler */
	assert_int_equal(put("1", 0, true, 6, 1024).code, C231);
	assert_int_equal(put("1", 1, true, 6, 1024).code, 0x8d); /* past max_body: 4.13 */
	assert_int_equal(H.n, 1);
	assert_int_equal(handled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_and_other_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
