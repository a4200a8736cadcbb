/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/coap: a GET resumed from a later Block2 block
 * (mcoap_start_from, mcoap_get_from), one block alone and the next asked
 * for from the answer handler (mcoap_start_block, mcoap_on_next_block) against a small server of the test's
 * own on the loopback, which serves one resource in blocks as RFC 7959 lays
 * them out and notes the blocks asked for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "coap/coap.h"

#define BODY_LEN 1000

static const uint8_t etag[4] = { 0x5e, 0x11, 0xa7, 0x02 };

/* the server: one resource of BODY_LEN bytes with ETag etag */
struct srv {
	int fd;
	unsigned port;
	uint8_t body[BODY_LEN];
	unsigned szx;           /* its largest block: 16 << szx bytes */
	bool no_blocks;         /* a server without block-wise transfers: the whole, always */
	bool no_etag;           /* no ETag on a block but 0 (libcoap's coap-server, random access) */
	unsigned n;             /* requests seen */
	unsigned first_num, first_szx; /* the Block2 option of the first (num 0, szx 7 if none) */
	unsigned lowest;        /* the lowest byte offset asked for */
	unsigned asked[64];     /* the Block2 numbers asked for, in order */
};

static struct srv S;

static size_t put_opt(uint8_t *p, unsigned delta, const uint8_t *v, size_t len)
{
	size_t n = 0;

	/* deltas and lengths below 269 are all this server needs */
	p[n++] = (uint8_t)((delta < 13 ? delta : 13) << 4 | (len < 13 ? len : 13));
	if (delta >= 13)
		p[n++] = (uint8_t)(delta - 13);
	if (len >= 13)
		p[n++] = (uint8_t)(len - 13);
	memcpy(p + n, v, len);
	return n + len;
}

static size_t uint_opt(uint8_t v[4], unsigned x)
{
	size_t n = 0;

	for (int sh = 24; sh >= 0; sh -= 8)
		if (n || (x >> sh) & 0xff || sh == 0)
			v[n++] = (uint8_t)(x >> sh);
	return n;
}

/* Answer one request (a confirmable GET), piggybacked in the ACK. */
static void srv_answer(struct srv *s, const uint8_t *b, size_t len, struct sockaddr_in *from)
{
	uint8_t out[1400], v[4];
	size_t tkl, i, n, off = 0, chunk;
	unsigned num = 0, szx = s->szx, req_szx = 7, optnum = 0, code = 0x45, last = 0;
	bool has_b2 = false, more;

	if (len < 4 || b[0] >> 6 != 1 || (tkl = b[0] & 15) > 8 || 4 + tkl > len)
		return;
	for (i = 4 + tkl; i < len && b[i] != 0xff;) {
		unsigned d = b[i] >> 4, l = b[i] & 15, x = 0;

		i++;
		if (d == 13)
			d = b[i++] + 13u;
		if (l == 13)
			l = b[i++] + 13u;
		optnum += d;
		if (optnum == 23) { /* Block2 */
			for (unsigned k = 0; k < l; k++)
				x = x << 8 | b[i + k];
			has_b2 = true;
			num = x >> 4;
			req_szx = x & 7;
		}
		i += l;
	}
	if (has_b2) {
		off = (size_t)num << (req_szx + 4);
		if (req_szx < szx)
			szx = req_szx;
	}
	if (s->n++ == 0) {
		s->first_num = num;
		s->first_szx = req_szx;
	}
	if (off < s->lowest)
		s->lowest = (unsigned)off;
	if (s->n <= sizeof(s->asked) / sizeof(s->asked[0]))
		s->asked[s->n - 1] = num;
	memcpy(out, b, 4 + tkl);
	out[0] = (uint8_t)(0x60 | tkl); /* ACK */
	n = 4 + tkl;
	if (off >= BODY_LEN) {
		out[1] = 0x82; /* 4.02 Bad Option */
		goto send;
	}
	if (!s->no_etag || off == 0) {
		n += put_opt(out + n, 4, etag, sizeof(etag));
		last = 4;
	}
	if (s->no_blocks) {
		chunk = BODY_LEN;
		off = 0;
	} else {
		chunk = (size_t)16 << szx;
		if (chunk > BODY_LEN - off)
			chunk = BODY_LEN - off;
		more = off + chunk < BODY_LEN;
		n += put_opt(out + n, 23 - last, v,
			     uint_opt(v, (unsigned)(off >> (szx + 4)) << 4 | (more ? 8u : 0u) | szx));
		n += put_opt(out + n, 28 - 23, v, uint_opt(v, BODY_LEN));
	}
	out[1] = (uint8_t)code;
	out[n++] = 0xff;
	memcpy(out + n, s->body + off, chunk);
	n += chunk;
send:
	sendto(s->fd, out, n, 0, (struct sockaddr *)from, sizeof(*from));
}

static void srv_serve(struct srv *s)
{
	uint8_t b[1500];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t len;

	while ((len = recvfrom(s->fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) >
	       0) {
		srv_answer(s, b, (size_t)len, &from);
		fl = sizeof(from);
	}
}

static struct m2m_coap *C;

static void handler(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	(void)ctx, (void)req;
	rep->code = 0x84; /* 4.04 */
}

static int setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct m2m_coap_opts o = { .security = M2M_DM_NOSEC, .block_size = 64 };
	struct m2m_err err;
	char uri[64];

	(void)state;
	memset(&S, 0, sizeof(S));
	for (size_t i = 0; i < BODY_LEN; i++)
		S.body[i] = (uint8_t)(i * 7 + i / 256);
	S.szx = 2;
	S.lowest = ~0u;
	S.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (S.fd < 0 || bind(S.fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(S.fd, (struct sockaddr *)&a, &al))
		return -1;
	S.port = ntohs(a.sin_port);
	snprintf(uri, sizeof(uri), "coap://127.0.0.1:%u", S.port);
	o.uri = uri;
	return mcoap_open(&o, handler, NULL, &C, &err) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	mcoap_close(C);
	C = NULL;
	close(S.fd);
	return 0;
}

/* Drive the request under way (mcoap_start_from) and the server in turns. */
static int run(struct m2m_coap_msg *resp, uint8_t **body, struct m2m_err *err)
{
	while (!mcoap_poll(C)) {
		mcoap_process(C, 1);
		srv_serve(&S);
	}
	return mcoap_finish(C, resp, body, err);
}

/* from block 3 (of 64 bytes) on: exactly the bytes from 192 on, nothing before asked */
static void test_resume_from_block(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, etag, sizeof(etag), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.code, 0x45);
	assert_int_equal(resp.len, BODY_LEN - 3 * 64);
	assert_non_null(body);
	assert_memory_equal(body, S.body + 3 * 64, BODY_LEN - 3 * 64);
	assert_int_equal(S.first_num, 3);
	assert_int_equal(S.first_szx, 2);
	assert_int_equal(S.lowest, 3 * 64);
	assert_int_equal(S.n, (BODY_LEN + 63) / 64 - 3);
	free(body);
}

/* the server's blocks are smaller (32): its block 6 starts where our 3 does */
static void test_resume_smaller_blocks(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	S.szx = 1;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, etag, sizeof(etag), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.len, BODY_LEN - 3 * 64);
	assert_memory_equal(body, S.body + 3 * 64, BODY_LEN - 3 * 64);
	assert_int_equal(resp.block2.num, 6);
	assert_int_equal(S.lowest, 3 * 64);
	free(body);
}

/* the last block alone, and block 0 (the whole) with the context's block size */
static void test_resume_last_and_first(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 15, 64, etag, sizeof(etag), 5000, &err),
			 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.len, BODY_LEN - 15 * 64);
	assert_memory_equal(body, S.body + 15 * 64, BODY_LEN - 15 * 64);
	free(body);
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 0, 0, etag, sizeof(etag), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.len, BODY_LEN);
	assert_memory_equal(body, S.body, BODY_LEN);
	free(body);
}

/* another ETag: the resource changed since the earlier blocks, refused */
static void test_resume_etag_mismatch(void **state)
{
	static const uint8_t old[4] = { 0x5e, 0x11, 0xa7, 0x01 };
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, old, sizeof(old), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), M2M_ERR_PROTOCOL);
	assert_null(body);
	assert_non_null(strstr(err.msg, "another ETag"));
	assert_int_equal(S.n, 1); /* no later block asked for */
	/* none given, one sent: refused too */
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, NULL, 0, 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), M2M_ERR_PROTOCOL);
	assert_null(body);
}

/* a server that ignores Block2 sends the whole from byte 0: not what was asked */
static void test_resume_ignored(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	S.no_blocks = true;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, etag, sizeof(etag), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), M2M_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "does not start at byte 192"));
}

/* beyond the end: the server's 4.02 is an answer (OK, its code) */
static void test_resume_beyond(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 16, 64, etag, sizeof(etag), 5000, &err),
			 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.code, 0x82);
	free(body);
}

static void test_resume_bad_args(void **state)
{
	struct m2m_err err;
	uint8_t nine[9] = { 0 };

	(void)state;
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 100, etag, 4, 5000, &err),
			 M2M_ERR_FAILURE);
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 2048, etag, 4, 5000, &err),
			 M2M_ERR_FAILURE);
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 3, 64, nine, 9, 5000, &err),
			 M2M_ERR_FAILURE);
	assert_int_equal(mcoap_start_from(C, "/fw", NULL, 1u << 20, 64, etag, 4, 5000, &err),
			 M2M_ERR_FAILURE);
	assert_int_equal(S.n, 0);
}

/*
 * One block alone (mcoap_start_block): block 3 and nothing after it; the
 * server's answer without an ETag (coap-server's to a block out of sequence)
 * is taken, another ETag is not
 */
static void test_block_alone(void **state)
{
	static const uint8_t old[4] = { 0x5e, 0x11, 0xa7, 0x01 };
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	(void)state;
	S.no_etag = true;
	assert_int_equal(mcoap_start_block(C, "/fw", NULL, 3, 64, old, sizeof(old), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.code, 0x45);
	assert_int_equal(resp.len, 64);
	assert_memory_equal(body, S.body + 3 * 64, 64);
	assert_true(resp.block2.has && resp.block2.more);
	assert_int_equal(resp.block2.num, 3);
	assert_int_equal(resp.etag_len, 0);
	assert_int_equal(S.n, 1); /* no later block asked for */
	free(body);
	/* the last block: more is false */
	assert_int_equal(mcoap_start_block(C, "/fw", NULL, 15, 64, NULL, 0, 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.len, BODY_LEN - 15 * 64);
	assert_false(resp.block2.more);
	free(body);
	/* an ETag on both sides that differs: the resource changed */
	S.no_etag = false;
	assert_int_equal(mcoap_start_block(C, "/fw", NULL, 3, 64, old, sizeof(old), 5000, &err), 0);
	assert_int_equal(run(&resp, &body, &err), M2M_ERR_PROTOCOL);
	assert_non_null(strstr(err.msg, "another ETag"));
	assert_null(body);
}

/* the next-block hook: wanted up to block next_last */
static unsigned next_last, next_calls;

static bool next_ok(void *ctx, const struct m2m_coap_msg *answer)
{
	(void)ctx;
	next_calls++;
	return answer->block2.num + 1 <= next_last;
}

/* block num alone, as the caller starts it: its bytes, then the server's pending requests */
static void one_block(unsigned num)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;

	assert_int_equal(mcoap_start_block(C, "/fw", NULL, num, 64, etag, sizeof(etag), 5000, &err),
			 0);
	assert_int_equal(run(&resp, &body, &err), 0);
	assert_int_equal(resp.code, 0x45);
	assert_int_equal(resp.block2.num, num);
	assert_memory_equal(body, S.body + num * 64, resp.len);
	free(body);
	usleep(2000);
	srv_serve(&S);
}

/*
 * mcoap_on_next_block: block n + 1 is asked for as soon as block n is in
 * (from the answer handler), once, and the caller's start of that block takes
 * it; nothing is asked for ahead that the hook does not want, after the last
 * block, or twice; a caller that starts another block gets that block's
 * bytes, not the late answer to the one asked for ahead.
 */
static void test_next_block(void **state)
{
	(void)state;
	mcoap_on_next_block(C, next_ok, NULL);
	next_last = 5;
	one_block(3);
	assert_int_equal(S.n, 2); /* 3, and 4 ahead */
	assert_int_equal(S.asked[1], 4);
	one_block(4);             /* taken as it was asked for: 5 ahead */
	assert_int_equal(S.n, 3);
	assert_int_equal(S.asked[2], 5);
	one_block(5);             /* the hook wants no 6 */
	assert_int_equal(S.n, 3);
	assert_int_equal(next_calls, 3);
	next_last = 99;
	one_block(14);            /* 15 ahead, the last: nothing after it */
	one_block(15);
	assert_int_equal(S.n, 5);
	assert_int_equal(S.asked[4], 15);
	one_block(7);             /* 8 ahead, but 10 is started */
	assert_int_equal(S.asked[6], 8);
	one_block(10);
	assert_int_equal(S.asked[7], 10);
	assert_int_equal(S.asked[8], 11);
	mcoap_on_next_block(C, NULL, NULL);
	one_block(11);            /* off: the request under way is taken, none after it */
	assert_int_equal(S.n, 9);
	one_block(12);
	assert_int_equal(S.n, 10);
}

/* the blocking form, with the server in a child process */
static void test_get_from(void **state)
{
	struct m2m_coap_msg resp;
	struct m2m_err err;
	uint8_t *body;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 2000; i++) {
			srv_serve(&S);
			usleep(1000);
		}
		_exit(0);
	}
	assert_int_equal(mcoap_get_from(C, "/fw", NULL, 7, 64, etag, sizeof(etag), 5000, &resp,
					&body, &err), 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(resp.len, BODY_LEN - 7 * 64);
	assert_memory_equal(body, S.body + 7 * 64, BODY_LEN - 7 * 64);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resume_from_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_smaller_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_last_and_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_etag_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_beyond, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_block, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
