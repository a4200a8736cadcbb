/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the VICI module: the message builder and decoder, lookups,
 * packets, and the client against a scripted fake charon that listens on a
 * unix socket in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vici/vici.h"

/* A byte string literal and its length, NULs included. */
#define RAW(s) (const uint8_t *)(s), sizeof(s) - 1

/* The body of swanctl's initiate request, as captured on the wire. */
static const char initiate_body[] =
	"\x03\x05" "child" "\x00\x03" "net" "\x03\x08" "loglevel" "\x00\x01" "1";

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct vici_node *decode_ok(const uint8_t *p, size_t len)
{
	struct m2m_err err = { 0 };
	struct vici_node *n = NULL;

	if (vici_decode(p, len, &n, &err) != M2M_OK)
		fail_msg("decode failed: %s", err.msg);
	assert_non_null(n);
	return n;
}

static void assert_dump(const struct vici_node *n, const char *want)
{
	char *s = vici_dump(n);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void assert_err(const struct m2m_err *err, int rc, int want_rc, const char *want_msg)
{
	if (rc != want_rc)
		fail_msg("rc %d (%s), want %d; message: %s", rc, m2m_rc_name(rc), want_rc,
			 err->msg);
	assert_int_equal(err->rc, want_rc);
	assert_string_equal(err->msg, want_msg);
}

/* ---- builder ------------------------------------------------------------- */

static void build_initiate(struct vici_buf *b)
{
	vici_buf_init(b);
	vici_add_kvs(b, "child", "net");
	vici_add_kvf(b, "loglevel", "%d", 1);
}

static void test_encode_initiate(void **state)
{
	struct vici_buf b;

	build_initiate(&b);
	assert_int_equal(vici_buf_check(&b, NULL), M2M_OK);
	assert_int_equal(b.len, sizeof(initiate_body) - 1);
	assert_memory_equal(b.data, initiate_body, b.len);
	vici_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* freeing twice, or an untouched buffer, is harmless */
	vici_buf_free(&b);
	vici_buf_free(NULL);
}

static void test_encode_elements(void **state)
{
	static const char want[] =
		"\x01\x01" "s"
		"\x03\x01" "k" "\x00\x02" "v\0"
		"\x04\x01" "l" "\x05\x00\x01" "a" "\x05\x00\x00" "\x06"
		"\x02";
	struct vici_buf b;

	vici_buf_init(&b);
	vici_begin_section(&b, "s");
	vici_add_kv(&b, "k", "v", 2);
	vici_begin_list(&b, "l");
	vici_add_items(&b, "a");
	vici_add_item(&b, NULL, 0);
	vici_end_list(&b);
	vici_end_section(&b);
	assert_int_equal(vici_buf_check(&b, NULL), M2M_OK);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	vici_buf_free(&b);
}

/* Run one builder misuse and check the sticky error it leaves. */
static void builder_error(void (*misuse)(struct vici_buf *), const char *want)
{
	struct m2m_err err = { 0 };
	struct vici_buf b;
	char msg[200];
	size_t len;

	vici_buf_init(&b);
	misuse(&b);
	snprintf(msg, sizeof(msg), "building VICI message: %s", want);
	assert_err(&err, vici_buf_check(&b, &err), M2M_ERR_FAILURE, msg);
	/* sticky: nothing more is added once an error is recorded */
	len = b.len;
	vici_add_kvs(&b, "after", "error");
	vici_begin_section(&b, "x");
	assert_int_equal(b.len, len);
	assert_err(&err, vici_buf_check(&b, &err), M2M_ERR_FAILURE, msg);
	vici_buf_free(&b);
}

static char long_name[257];
static uint8_t big_value[65536 + 1];

static void mis_name256(struct vici_buf *b)
{
	vici_add_kvs(b, long_name, "x");
}

static void mis_section256(struct vici_buf *b)
{
	vici_begin_section(b, long_name);
}

static void mis_list256(struct vici_buf *b)
{
	vici_begin_list(b, long_name);
}

static void mis_value65536(struct vici_buf *b)
{
	vici_add_kv(b, "k", big_value, 65536);
}

static void mis_item65536(struct vici_buf *b)
{
	vici_begin_list(b, "l");
	vici_add_item(b, big_value, 65536);
}

static void mis_too_large(struct vici_buf *b)
{
	char key[8];
	int i;

	/* eight maximal values are just over VICI_MAX_PACKET */
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		vici_add_kv(b, key, big_value, 65535);
	}
}

static void mis_end_section(struct vici_buf *b)
{
	vici_end_section(b);
}

static void mis_kv_in_list(struct vici_buf *b)
{
	vici_begin_list(b, "l");
	vici_add_kvs(b, "k", "v");
}

static void mis_section_in_list(struct vici_buf *b)
{
	vici_begin_list(b, "l");
	vici_begin_section(b, "s");
}

static void mis_list_in_list(struct vici_buf *b)
{
	vici_begin_list(b, "l");
	vici_begin_list(b, "m");
}

static void mis_end_section_in_list(struct vici_buf *b)
{
	vici_begin_section(b, "s");
	vici_begin_list(b, "l");
	vici_end_section(b);
}

static void mis_item_outside(struct vici_buf *b)
{
	vici_add_items(b, "x");
}

static void mis_end_list_outside(struct vici_buf *b)
{
	vici_end_list(b);
}

static void mis_null_name(struct vici_buf *b)
{
	vici_add_kvs(b, NULL, "x");
}

static void mis_null_value(struct vici_buf *b)
{
	vici_add_kv(b, "k", NULL, 3);
}

static void mis_null_str(struct vici_buf *b)
{
	vici_add_kvs(b, "k", NULL);
}

static void mis_too_deep(struct vici_buf *b)
{
	int i;

	for (i = 0; i <= VICI_MAX_DEPTH; i++)
		vici_begin_section(b, "s");
}

static void mis_list_too_deep(struct vici_buf *b)
{
	int i;

	for (i = 0; i < VICI_MAX_DEPTH; i++)
		vici_begin_section(b, "s");
	vici_begin_list(b, "l");
}

static void test_builder_errors(void **state)
{
	memset(long_name, 'n', 256);
	builder_error(mis_name256, "name longer than 255 bytes");
	builder_error(mis_section256, "name longer than 255 bytes");
	builder_error(mis_list256, "name longer than 255 bytes");
	builder_error(mis_value65536, "value longer than 65535 bytes");
	builder_error(mis_item65536, "value longer than 65535 bytes");
	builder_error(mis_too_large, "message too large");
	builder_error(mis_end_section, "section end without a section");
	builder_error(mis_kv_in_list, "key-value inside a list");
	builder_error(mis_section_in_list, "section inside a list");
	builder_error(mis_list_in_list, "list inside a list");
	builder_error(mis_end_section_in_list, "section end inside a list");
	builder_error(mis_item_outside, "list item outside a list");
	builder_error(mis_end_list_outside, "list end outside a list");
	builder_error(mis_null_name, "missing name");
	builder_error(mis_null_value, "missing value");
	builder_error(mis_null_str, "missing value");
	builder_error(mis_too_deep, "nesting too deep");
	builder_error(mis_list_too_deep, "nesting too deep");
}

static void test_builder_unbalanced(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_buf b;

	vici_buf_init(&b);
	vici_begin_section(&b, "a");
	vici_begin_section(&b, "b");
	assert_err(&err, vici_buf_check(&b, &err), M2M_ERR_FAILURE,
		   "building VICI message: 2 section(s) not ended");
	vici_buf_free(&b);

	vici_buf_init(&b);
	vici_begin_list(&b, "l");
	assert_err(&err, vici_buf_check(&b, &err), M2M_ERR_FAILURE,
		   "building VICI message: list not ended");
	vici_buf_free(&b);
}

static void test_builder_limits_ok(void **state)
{
	struct vici_node *n;
	struct vici_buf b;
	char name255[256];
	int i;

	memset(name255, 'x', 255);
	name255[255] = '\0';
	memset(big_value, 0xa5, sizeof(big_value));
	vici_buf_init(&b);
	vici_add_kv(&b, name255, big_value, 65535);
	vici_begin_list(&b, "l");
	vici_add_item(&b, big_value, 65535);
	vici_end_list(&b);
	for (i = 0; i < VICI_MAX_DEPTH; i++)
		vici_begin_section(&b, "s");
	for (i = 0; i < VICI_MAX_DEPTH; i++)
		vici_end_section(&b);
	assert_int_equal(vici_buf_check(&b, NULL), M2M_OK);

	n = decode_ok(b.data, b.len);
	assert_int_equal(vici_find(n, name255)->vlen, 65535);
	assert_memory_equal(vici_find_str(n, name255), big_value, 65535);
	assert_int_equal(vici_find(n, "l")->child->vlen, 65535);
	assert_non_null(vici_find(n, "s.s.s.s.s.s.s.s.s.s.s.s.s.s.s.s."
				     "s.s.s.s.s.s.s.s.s.s.s.s.s.s.s.s"));
	vici_node_free(n);
	vici_buf_free(&b);
}

/* ---- decoder ------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	static const uint8_t bin[] = { 0x00, 0x01, 0xff, 0x00 };
	const struct vici_node *l, *c;
	struct vici_node *n;
	struct vici_buf b;

	vici_buf_init(&b);
	vici_add_kvs(&b, "version", "2");
	vici_begin_section(&b, "conn.with.dots");
	vici_add_kvs(&b, "a", "1");
	vici_begin_section(&b, "local");
	vici_add_kvs(&b, "auth", "pubkey");
	vici_begin_list(&b, "certs");
	vici_add_items(&b, "c1");
	vici_add_item(&b, bin, 2);
	vici_end_list(&b);
	vici_end_section(&b);
	vici_begin_list(&b, "empty-list");
	vici_end_list(&b);
	vici_begin_section(&b, "empty-section");
	vici_end_section(&b);
	vici_end_section(&b);
	vici_add_kv(&b, "bin", bin, sizeof(bin));
	vici_add_kv(&b, "empty", "", 0);
	vici_add_kvs(&b, "quote", "a\"b\\c\nd\te");
	vici_begin_list(&b, "vips");
	vici_add_items(&b, "10.0.0.1");
	vici_add_items(&b, "10.0.0.2");
	vici_end_list(&b);
	assert_int_equal(vici_buf_check(&b, NULL), M2M_OK);

	n = decode_ok(b.data, b.len);
	assert_int_equal(n->type, VICI_NODE_SECTION);
	assert_null(n->name);
	assert_dump(n, "{\"version\": \"2\", \"conn.with.dots\": {\"a\": \"1\", \"local\": "
		       "{\"auth\": \"pubkey\", \"certs\": [\"c1\", \"\\u0000\\u0001\"]}, "
		       "\"empty-list\": [], \"empty-section\": {}}, "
		       "\"bin\": \"\\u0000\\u0001\\u00ff\\u0000\", \"empty\": \"\", "
		       "\"quote\": \"a\\\"b\\\\c\\nd\\te\", "
		       "\"vips\": [\"10.0.0.1\", \"10.0.0.2\"]}");

	/* binary values keep their length and are NUL-terminated anyway */
	c = vici_find(n, "bin");
	assert_non_null(c);
	assert_int_equal(c->type, VICI_NODE_KV);
	assert_int_equal(c->vlen, sizeof(bin));
	assert_memory_equal(c->value, bin, sizeof(bin));
	assert_int_equal(c->value[c->vlen], '\0');
	c = vici_find(n, "empty");
	assert_int_equal(c->vlen, 0);
	assert_string_equal(c->value, "");

	/* a list is found by its path; its items are unnamed KVs in order */
	l = vici_find(n, "conn.with.dots.local.certs");
	assert_non_null(l);
	assert_int_equal(l->type, VICI_NODE_LIST);
	assert_string_equal(l->name, "certs");
	c = l->child;
	assert_int_equal(c->type, VICI_NODE_KV);
	assert_null(c->name);
	assert_string_equal(c->value, "c1");
	c = c->next;
	assert_int_equal(c->vlen, 2);
	assert_memory_equal(c->value, bin, 2);
	assert_null(c->next);
	assert_null(vici_find(n, "conn.with.dots.empty-list")->child);
	assert_null(vici_find(n, "conn.with.dots.empty-section")->child);
	assert_string_equal(vici_find_str(n, "conn.with.dots.local.auth"), "pubkey");

	vici_node_free(n);
	vici_buf_free(&b);
}

static void test_decode_empty(void **state)
{
	struct vici_node *n;

	n = decode_ok(NULL, 0);
	assert_null(n->child);
	assert_dump(n, "{}");
	vici_node_free(n);
	vici_node_free(NULL);
	assert_dump(NULL, "null");
}

static const struct bad_msg {
	const uint8_t *data;
	size_t len;
	const char *what;
	size_t off;
} bad_msgs[] = {
	{ RAW("\x01"), "truncated name length", 0 },
	{ RAW("\x01\x05" "ab"), "truncated name", 0 },
	{ RAW("\x01\x03" "a\0b" "\x02"), "NUL byte in name", 0 },
	{ RAW("\x02"), "section end without a section", 0 },
	{ RAW("\x01\x01" "a" "\x02\x02"), "section end without a section", 4 },
	{ RAW("\x01\x01" "a"), "section not ended", 3 },
	{ RAW("\x01\x01" "a" "\x01\x01" "b" "\x02"), "section not ended", 7 },
	{ RAW("\x03"), "truncated name length", 0 },
	{ RAW("\x03\x01"), "truncated name", 0 },
	{ RAW("\x03\x01" "a"), "truncated value length", 0 },
	{ RAW("\x03\x01" "a" "\x00"), "truncated value length", 0 },
	{ RAW("\x03\x01" "a" "\x00\x05" "ab"), "truncated value", 0 },
	{ RAW("\x03\x01" "a" "\xff\xff"), "truncated value", 0 },
	{ RAW("\x03\x01" "a" "\x00\x00" "\x03\x01" "b" "\x00\x02" "x"), "truncated value", 5 },
	{ RAW("\x05\x00\x01" "x"), "list item outside a list", 0 },
	{ RAW("\x01\x01" "s" "\x05\x00\x00" "\x02"), "list item outside a list", 3 },
	{ RAW("\x06"), "list end outside a list", 0 },
	{ RAW("\x01\x01" "a" "\x06\x02"), "list end outside a list", 3 },
	{ RAW("\x04\x01" "l" "\x03\x01" "a" "\x00\x00" "\x06"), "key-value inside a list", 3 },
	{ RAW("\x04\x01" "l" "\x01\x01" "s" "\x02\x06"), "section inside a list", 3 },
	{ RAW("\x04\x01" "l" "\x04\x01" "m" "\x06\x06"), "list inside a list", 3 },
	{ RAW("\x04\x01" "l" "\x02"), "section end inside a list", 3 },
	{ RAW("\x04\x01" "l"), "list not ended", 3 },
	{ RAW("\x04\x01" "l" "\x05\x00\x01" "x"), "list not ended", 7 },
	{ RAW("\x04\x01" "l" "\x05"), "truncated value length", 3 },
	{ RAW("\x04\x01" "l" "\x05\x00"), "truncated value length", 3 },
	{ RAW("\x04\x01" "l" "\x05\x00\x02" "x"), "truncated value", 3 },
	{ RAW("\x04"), "truncated name length", 0 },
	{ RAW("\x04\x02" "l"), "truncated name", 0 },
	{ RAW("\x00"), "unknown element type 0", 0 },
	{ RAW("\x07"), "unknown element type 7", 0 },
	{ RAW("\x03\x01" "a" "\x00\x00" "\xff"), "unknown element type 255", 5 },
	{ RAW("\x04\x01" "l" "\x09"), "unknown element type 9", 3 },
};

static void test_decode_malformed(void **state)
{
	struct m2m_err err;
	struct vici_node *n;
	char want[200];
	size_t i;

	for (i = 0; i < sizeof(bad_msgs) / sizeof(bad_msgs[0]); i++) {
		const struct bad_msg *m = &bad_msgs[i];

		m2m_err_clear(&err);
		n = (struct vici_node *)&err; /* must be reset to NULL */
		snprintf(want, sizeof(want), "malformed VICI message: %s at offset %zu", m->what,
			 m->off);
		print_message("case %zu: %s\n", i, want);
		assert_err(&err, vici_decode(m->data, m->len, &n, &err), M2M_ERR_PROTOCOL, want);
		assert_null(n);
	}
}

/* Every proper prefix of a message wrapped in one section is incomplete. */
static void test_decode_truncations(void **state)
{
	struct m2m_err err;
	struct vici_node *n;
	struct vici_buf b;
	size_t len;

	vici_buf_init(&b);
	vici_begin_section(&b, "ike");
	vici_add_kvs(&b, "state", "ESTABLISHED");
	vici_begin_list(&b, "local-vips");
	vici_add_items(&b, "10.99.2.1");
	vici_end_list(&b);
	vici_begin_section(&b, "child-sas");
	vici_add_kv(&b, "x", "\0\0", 2);
	vici_end_section(&b);
	vici_end_section(&b);
	assert_int_equal(vici_buf_check(&b, NULL), M2M_OK);
	for (len = 1; len < b.len; len++) {
		n = NULL;
		assert_int_equal(vici_decode(b.data, len, &n, &err), M2M_ERR_PROTOCOL);
		assert_null(n);
		assert_non_null(strstr(err.msg, "malformed VICI message: "));
	}
	n = decode_ok(b.data, b.len);
	vici_node_free(n);
	vici_buf_free(&b);
}

static void test_decode_depth(void **state)
{
	uint8_t msg[3 * (VICI_MAX_DEPTH + 1) + 4 + VICI_MAX_DEPTH + 1];
	struct m2m_err err;
	struct vici_node *n;
	char want[100];
	size_t len = 0;
	int i;

	/* VICI_MAX_DEPTH nested sections are fine */
	for (i = 0; i < VICI_MAX_DEPTH; i++) {
		msg[len++] = VICI_SECTION_START;
		msg[len++] = 1;
		msg[len++] = 's';
	}
	memset(msg + len, VICI_SECTION_END, VICI_MAX_DEPTH);
	n = decode_ok(msg, len + VICI_MAX_DEPTH);
	vici_node_free(n);

	/* one more level is refused, at the element that opens it */
	msg[len++] = VICI_SECTION_START;
	msg[len++] = 1;
	msg[len++] = 's';
	memset(msg + len, VICI_SECTION_END, VICI_MAX_DEPTH + 1);
	snprintf(want, sizeof(want), "malformed VICI message: nesting too deep at offset %d",
		 3 * VICI_MAX_DEPTH);
	assert_err(&err, vici_decode(msg, len + VICI_MAX_DEPTH + 1, &n, &err), M2M_ERR_PROTOCOL,
		   want);
	assert_null(n);

	/* a list counts as a level too */
	len -= 3;
	msg[len++] = VICI_LIST_START;
	msg[len++] = 1;
	msg[len++] = 'l';
	msg[len++] = VICI_LIST_END;
	assert_err(&err, vici_decode(msg, len, &n, &err), M2M_ERR_PROTOCOL, want);
	len -= 7;
	msg[len++] = VICI_LIST_START;
	msg[len++] = 1;
	msg[len++] = 'l';
	msg[len++] = VICI_LIST_END;
	memset(msg + len, VICI_SECTION_END, VICI_MAX_DEPTH - 1);
	n = decode_ok(msg, len + VICI_MAX_DEPTH - 1);
	vici_node_free(n);
}

/*
 * Random bytes, biased towards element types and short lengths so that the
 * decoder gets past the first byte: it must answer OK or PROTOCOL and leak
 * nothing (run under valgrind).
 */
static void test_decode_random(void **state)
{
	uint32_t x = 0x9e3779b9;
	struct m2m_err err;
	struct vici_node *n;
	uint8_t msg[64];
	int i, rc, ok = 0;
	size_t len, j;

	for (i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		len = x % sizeof(msg);
		for (j = 0; j < len; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			msg[j] = (x >> 8) % 4 ? x % 8 : x >> 24;
		}
		n = NULL;
		rc = vici_decode(msg, len, &n, &err);
		if (rc == M2M_OK) {
			char *s = vici_dump(n);

			assert_non_null(s);
			free(s);
			ok++;
		} else {
			assert_int_equal(rc, M2M_ERR_PROTOCOL);
			assert_null(n);
		}
		vici_node_free(n);
	}
	print_message("%d of 20000 random messages were valid\n", ok);
}

/* ---- lookups ------------------------------------------------------------- */

static void test_find(void **state)
{
	/* {a: "kv", a: {b: "y"}, a.b: "dotted", yes: "yes", no: "no", up: "YES", l: [x]} */
	static const char msg[] =
		"\x03\x01" "a" "\x00\x02" "kv"
		"\x01\x01" "a" "\x03\x01" "b" "\x00\x01" "y" "\x01\x01" "c" "\x02" "\x02"
		"\x03\x03" "a.b" "\x00\x06" "dotted"
		"\x03\x03" "yes" "\x00\x03" "yes"
		"\x03\x02" "no" "\x00\x02" "no"
		"\x03\x02" "up" "\x00\x03" "YES"
		"\x04\x01" "l" "\x05\x00\x01" "x" "\x06";
	const struct vici_node *f;
	struct vici_node *n;

	n = decode_ok(RAW(msg));
	/* the first match in wire order wins; a KV cannot be descended into */
	assert_string_equal(vici_find_str(n, "a"), "kv");
	assert_string_equal(vici_find_str(n, "a.b"), "y");
	f = vici_find(n, "a.c");
	assert_non_null(f);
	assert_int_equal(f->type, VICI_NODE_SECTION);
	assert_null(vici_find_str(n, "a.c"));
	f = vici_find(n, "l");
	assert_non_null(f);
	assert_int_equal(f->type, VICI_NODE_LIST);
	assert_null(vici_find_str(n, "l"));
	assert_null(vici_find(n, "l.x"));
	assert_null(vici_find(n, "l.0"));
	assert_null(vici_find(n, "nope"));
	assert_null(vici_find(n, "a.nope"));
	assert_null(vici_find(n, "a."));
	assert_null(vici_find(n, ".a"));
	assert_null(vici_find(n, ""));
	assert_null(vici_find(n, "a.b.c"));
	assert_null(vici_find(NULL, "a"));
	assert_null(vici_find(n, NULL));
	/* a child is not a section: no path leads through it */
	assert_null(vici_find(vici_find(n, "yes"), "x"));

	assert_true(vici_find_yes(n, "yes"));
	assert_false(vici_find_yes(n, "no"));
	assert_false(vici_find_yes(n, "up"));
	assert_false(vici_find_yes(n, "nope"));
	assert_false(vici_find_yes(n, "a"));
	assert_false(vici_find_yes(NULL, "yes"));
	vici_node_free(n);

	/* a name holding dots is found when no section path matches */
	n = decode_ok(RAW("\x01\x08" "10.0.0.1" "\x03\x04" "port" "\x00\x03" "500" "\x02"));
	assert_string_equal(vici_find_str(n, "10.0.0.1.port"), "500");
	vici_node_free(n);
}

/* ---- packets and results ------------------------------------------------- */

static void test_packet_split(void **state)
{
	struct m2m_err err;
	const uint8_t *body;
	const char *name;
	size_t nlen, blen;
	struct vici_node *n;
	int type;

	assert_int_equal(vici_packet_split(RAW("\x03\x0b" "control-log"), &type, &name, &nlen,
					   &body, &blen, &err), M2M_OK);
	assert_int_equal(type, VICI_EVENT_REGISTER);
	assert_int_equal(nlen, 11);
	assert_memory_equal(name, "control-log", 11);
	assert_int_equal(blen, 0);

	assert_int_equal(vici_packet_split(RAW("\x05"), &type, &name, &nlen, &body, &blen, &err),
			 M2M_OK);
	assert_int_equal(type, VICI_EVENT_CONFIRM);
	assert_null(name);
	assert_int_equal(nlen, 0);
	assert_int_equal(blen, 0);

	/* the captured answer to initiate */
	assert_int_equal(vici_packet_split(RAW("\x01" "\x03\x07" "success" "\x00\x03" "yes"),
					   &type, &name, &nlen, &body, &blen, &err), M2M_OK);
	assert_int_equal(type, VICI_CMD_RESPONSE);
	assert_null(name);
	assert_int_equal(blen, 14);
	n = decode_ok(body, blen);
	assert_int_equal(vici_check_success(n, "initiate", &err), M2M_OK);
	vici_node_free(n);

	assert_int_equal(vici_packet_split(RAW("\x00\x08" "initiate" "\x03\x05" "child"
					       "\x00\x03" "net"),
					   &type, &name, &nlen, &body, &blen, &err), M2M_OK);
	assert_int_equal(type, VICI_CMD_REQUEST);
	assert_memory_equal(name, "initiate", 8);
	assert_int_equal(blen, 12);

	assert_err(&err, vici_packet_split(NULL, 0, &type, &name, &nlen, &body, &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: empty");
	assert_int_equal(type, -1);
	assert_err(&err, vici_packet_split(RAW("\x08"), &type, &name, &nlen, &body, &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: unknown packet type 8");
	assert_err(&err, vici_packet_split(RAW("\x07"), &type, &name, &nlen, &body, &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: truncated name length");
	assert_err(&err, vici_packet_split(RAW("\x07\x05" "ab"), &type, &name, &nlen, &body,
					   &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: truncated name");
	assert_err(&err, vici_packet_split(RAW("\x00\x00" "\x02"), &type, &name, &nlen, &body,
					   &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: empty name");
	assert_err(&err, vici_packet_split(big_value, VICI_MAX_PACKET + 1, &type, &name, &nlen,
					   &body, &blen, &err),
		   M2M_ERR_PROTOCOL, "malformed VICI packet: 524289 bytes, more than 524288");
}

static void test_check_success(void **state)
{
	struct m2m_err err;
	struct vici_node *n;

	n = decode_ok(RAW("\x03\x07" "success" "\x00\x03" "yes"));
	assert_int_equal(vici_check_success(n, "initiate", &err), M2M_OK);
	vici_node_free(n);

	n = decode_ok(RAW("\x03\x07" "success" "\x00\x02" "no"
			  "\x03\x06" "errmsg" "\x00\x22" "establishing CHILD_SA 'net' failed"));
	assert_err(&err, vici_check_success(n, "initiate", &err), M2M_ERR_FAILURE,
		   "initiate: establishing CHILD_SA 'net' failed");
	assert_err(&err, vici_check_success(n, NULL, &err), M2M_ERR_FAILURE,
		   "establishing CHILD_SA 'net' failed");
	vici_node_free(n);

	n = decode_ok(RAW("\x03\x07" "success" "\x00\x02" "no"));
	assert_err(&err, vici_check_success(n, "terminate", &err), M2M_ERR_FAILURE,
		   "terminate: command failed");
	vici_node_free(n);

	/* errmsg is kept to one line whatever charon puts in it */
	n = decode_ok(RAW("\x03\x07" "success" "\x00\x02" "no"
			  "\x03\x06" "errmsg" "\x00\x06" "a\nb\0c\x1b"));
	assert_err(&err, vici_check_success(n, "load-key", &err), M2M_ERR_FAILURE,
		   "load-key: a b c ");
	vici_node_free(n);

	/* "success" must be exactly yes, and must be a value */
	n = decode_ok(RAW("\x01\x07" "success" "\x02"));
	assert_err(&err, vici_check_success(n, "x", &err), M2M_ERR_FAILURE, "x: command failed");
	vici_node_free(n);
	n = decode_ok(NULL, 0);
	assert_err(&err, vici_check_success(n, "x", &err), M2M_ERR_FAILURE, "x: command failed");
	vici_node_free(n);
	assert_err(&err, vici_check_success(NULL, "x", &err), M2M_ERR_FAILURE,
		   "x: command failed");
	assert_int_equal(vici_check_success(NULL, "x", NULL), M2M_ERR_FAILURE);
}

/* ---- the client against a fake charon ------------------------------------ */

struct server;
/* Plays charon's side on fd; returns true to keep fd open until the client closes. */
typedef bool (*script_fn)(struct server *s, int fd);

struct server {
	char dir[64];
	char path[108];
	int lfd;
	pthread_t thread;
	script_fn script;
	const void *raw; /* for script_raw */
	size_t raw_len;
	bool failed;
	char why[256]; /* first failed check in the server thread */
};

/* cmocka must not longjmp out of another thread: record, assert later */
static void srv_fail(struct server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void srv_fail(struct server *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static bool srv_write(int fd, const void *p, size_t len, bool slow)
{
	const uint8_t *b = p;
	size_t step;
	ssize_t n;

	while (len) {
		/* slow: one byte per send(), so the client sees every split */
		step = slow ? 1 : len;
		n = send(fd, b, step, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		len -= n;
		if (slow)
			usleep(300);
	}
	return true;
}

static bool srv_read(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	ssize_t n;

	while (len) {
		n = recv(fd, b, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		len -= n;
	}
	return true;
}

/* Read one whole packet, length prefix included, into a malloc'd buffer. */
static uint8_t *srv_recv(struct server *s, int fd, size_t *len)
{
	uint8_t hdr[4], *p;
	uint32_t n;

	if (!srv_read(fd, hdr, 4)) {
		srv_fail(s, "no packet from the client");
		return NULL;
	}
	n = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	if (n == 0 || n > VICI_MAX_PACKET) {
		srv_fail(s, "client sent length %u", n);
		return NULL;
	}
	p = malloc(4 + n);
	memcpy(p, hdr, 4);
	if (!srv_read(fd, p + 4, n)) {
		srv_fail(s, "client packet cut short");
		free(p);
		return NULL;
	}
	*len = 4 + n;
	return p;
}

static void srv_skip(struct server *s, int fd)
{
	size_t len;

	free(srv_recv(s, fd, &len));
}

/* Expect exactly these bytes as the next packet. */
static void srv_expect(struct server *s, int fd, const uint8_t *want, size_t want_len)
{
	uint8_t *p;
	size_t len;

	p = srv_recv(s, fd, &len);
	if (p && (len != want_len || memcmp(p, want, len)))
		srv_fail(s, "client packet differs (%zu bytes, want %zu)", len, want_len);
	free(p);
}

/* Send a packet whose body comes from a builder. */
static void srv_send(struct server *s, int fd, int type, const char *name,
		     const struct vici_buf *body, bool slow)
{
	size_t nlen = name ? strlen(name) : 0, blen = body ? body->len : 0;
	size_t total = 1 + (name ? 1 + nlen : 0) + blen, i = 0;
	uint8_t *p = malloc(4 + total);

	p[i++] = total >> 24;
	p[i++] = total >> 16;
	p[i++] = total >> 8;
	p[i++] = total;
	p[i++] = type;
	if (name) {
		p[i++] = nlen;
		memcpy(p + i, name, nlen);
		i += nlen;
	}
	if (blen)
		memcpy(p + i, body->data, blen);
	if (!srv_write(fd, p, 4 + total, slow))
		srv_fail(s, "cannot send to the client");
	free(p);
}

/* Send a response or event with one key-value. */
static void srv_send_kv(struct server *s, int fd, int type, const char *name, const char *k,
			const char *v, bool slow)
{
	struct vici_buf b;

	vici_buf_init(&b);
	vici_add_kvs(&b, k, v);
	srv_send(s, fd, type, name, &b, slow);
	vici_buf_free(&b);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	char buf[256];
	int fd;

	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0) {
		srv_fail(s, "accept: %s", strerror(errno));
		return NULL;
	}
	if (s->script(s, fd)) {
		/* stay connected until the client hangs up */
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void server_start(struct server *s, script_fn script)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/m2m-test-vici-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/charon.vici", s->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	s->script = script;
	/* listening before the thread starts: the client may connect at once */
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	/* wakes an accept() that never got a client */
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
	if (s->failed)
		fail_msg("fake charon: %s", s->why);
}

static struct vici_conn *client(struct server *s)
{
	struct m2m_err err = { 0 };
	struct vici_conn *c = NULL;
	char uri[160];

	snprintf(uri, sizeof(uri), "unix://%s", s->path);
	if (vici_connect(&c, uri, &err) != M2M_OK)
		fail_msg("connect: %s", err.msg);
	assert_non_null(c);
	return c;
}

struct events {
	int count;
	char last[64];
	char info[64];
	struct vici_conn *conn; /* set: try to re-enter it from the callback */
	int reenter_rc;
};

static void on_event(void *ctx, const char *event, const struct vici_node *msg)
{
	struct events *ev = ctx;
	struct vici_node *r = NULL;
	const char *v;

	ev->count++;
	snprintf(ev->last, sizeof(ev->last), "%s", event);
	v = vici_find_str(msg, "group");
	if (!v)
		v = vici_find_str(msg, "gw.child-sas.net-1.state");
	snprintf(ev->info, sizeof(ev->info), "%s", v ? v : "");
	if (ev->conn) {
		ev->reenter_rc = vici_request(ev->conn, "version", NULL, &r, NULL, NULL, 100,
					      NULL);
		vici_node_free(r);
	}
}

/* The captured swanctl --initiate exchange, plus child-updown after it. */
static bool script_initiate(struct server *s, int fd)
{
	struct vici_buf b;

	srv_expect(s, fd, RAW("\x00\x00\x00\x0d" "\x03\x0b" "control-log"));
	srv_write(fd, "\x00\x00\x00\x01\x05", 5, false);
	srv_expect(s, fd, RAW("\x00\x00\x00\x23" "\x00\x08" "initiate" "\x03\x05" "child"
			      "\x00\x03" "net" "\x03\x08" "loglevel" "\x00\x01" "1"));
	vici_buf_init(&b);
	vici_add_kvs(&b, "group", "IKE");
	vici_add_kvs(&b, "level", "0");
	vici_add_kvs(&b, "ikesa-name", "gw");
	vici_add_kvs(&b, "msg", "initiating IKE_SA gw[1] to 192.0.2.1");
	srv_send(s, fd, VICI_EVENT, "control-log", &b, false);
	vici_buf_free(&b);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "success", "yes", false);

	vici_buf_init(&b);
	vici_add_kvs(&b, "up", "yes");
	vici_begin_section(&b, "gw");
	vici_begin_section(&b, "child-sas");
	vici_begin_section(&b, "net-1");
	vici_add_kvs(&b, "state", "INSTALLED");
	vici_end_section(&b);
	vici_end_section(&b);
	vici_end_section(&b);
	srv_send(s, fd, VICI_EVENT, "child-updown", &b, false);
	vici_buf_free(&b);
	return true;
}

static void test_client_initiate(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	struct vici_buf b;
	int fd;

	server_start(&s, script_initiate);
	c = client(&s);
	fd = vici_fd(c);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);

	assert_int_equal(vici_register(c, "control-log", 2000, &err), M2M_OK);
	build_initiate(&b);
	ev.conn = c;
	ev.reenter_rc = -1;
	if (vici_request(c, "initiate", &b, &resp, on_event, &ev, 2000, &err))
		fail_msg("initiate: %s", err.msg);
	vici_buf_free(&b);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.last, "control-log");
	assert_string_equal(ev.info, "IKE");
	assert_int_equal(ev.reenter_rc, M2M_ERR_FAILURE);
	assert_int_equal(vici_check_success(resp, "initiate", &err), M2M_OK);
	vici_node_free(resp);

	ev.conn = NULL;
	assert_int_equal(vici_wait_event(c, on_event, &ev, 2000, &err), M2M_OK);
	assert_int_equal(ev.count, 2);
	assert_string_equal(ev.last, "child-updown");
	assert_string_equal(ev.info, "INSTALLED");
	assert_err(&err, vici_wait_event(c, on_event, &ev, 100, &err), M2M_ERR_TIMEOUT,
		   "no event from charon within 100 ms");
	vici_close(c);
	server_stop(&s);
}

/*
 * A pipeline: charon reads all three packets before it answers any (a client
 * that waited for the first answer would hang here), then answers them in
 * order with an event on the way, as charon's vici plugin does.
 */
static bool script_pipeline(struct server *s, int fd)
{
	struct vici_buf b;

	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x03\x07" "list-sa"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x0a" "\x03\x08" "log-x-yz"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x13" "\x00\x08" "list-sas" "\x03\x03" "ike" "\x00\x02" "gw"));
	srv_write(fd, "\x00\x00\x00\x01\x05", 5, false);
	srv_write(fd, "\x00\x00\x00\x01\x05", 5, false);
	vici_buf_init(&b);
	vici_add_kvs(&b, "group", "SA");
	srv_send(s, fd, VICI_EVENT, "list-sa", &b, false);
	vici_buf_free(&b);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "success", "yes", false);
	/* the second: an unknown event; the command after it is still answered, then dropped */
	srv_expect(s, fd, RAW("\x00\x00\x00\x07" "\x03\x05" "frobn"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x07" "\x00\x05" "stats"));
	srv_write(fd, "\x00\x00\x00\x01\x06", 5, false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "stale", "yes", false);
	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x00\x07" "version"));
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "daemon", "charon", false);
	return true;
}

static void test_client_pipeline(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	struct vici_buf b;

	server_start(&s, script_pipeline);
	c = client(&s);
	vici_buf_init(&b);
	vici_add_kvs(&b, "ike", "gw");
	struct vici_step st[] = {
		{ .type = VICI_EVENT_REGISTER, .name = "list-sa" },
		{ .type = VICI_EVENT_REGISTER, .name = "log-x-yz" },
		{ .type = VICI_CMD_REQUEST, .name = "list-sas", .req = &b },
	};
	if (vici_pipeline(c, st, 3, on_event, &ev, 2000, &err))
		fail_msg("pipeline: %s", err.msg);
	vici_buf_free(&b);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.last, "list-sa");
	assert_string_equal(ev.info, "SA");
	assert_null(st[0].resp);
	assert_int_equal(vici_check_success(st[2].resp, "list-sas", &err), M2M_OK);
	vici_node_free(st[2].resp);

	struct vici_step bad[] = {
		{ .type = VICI_EVENT_REGISTER, .name = "frobn" },
		{ .type = VICI_CMD_REQUEST, .name = "stats" },
	};
	assert_err(&err, vici_pipeline(c, bad, 2, NULL, NULL, 2000, &err), M2M_ERR_PROTOCOL,
		   "charon does not know event 'frobn' (vici plugin too old?)");
	assert_null(bad[1].resp);
	/* the answer owed to "stats" is not taken for the next command's */
	if (vici_request(c, "version", NULL, &resp, NULL, NULL, 2000, &err))
		fail_msg("version: %s", err.msg);
	assert_string_equal(vici_find_str(resp, "daemon"), "charon");
	vici_node_free(resp);

	/* nothing is sent when a step is wrong */
	struct vici_step none[] = {
		{ .type = VICI_CMD_REQUEST, .name = "version" },
		{ .type = VICI_EVENT_CONFIRM, .name = "x" },
	};
	assert_err(&err, vici_pipeline(c, none, 2, NULL, NULL, 100, &err), M2M_ERR_FAILURE,
		   "VICI packet type 5 is not a request");
	vici_close(c);
	server_stop(&s);
}

/*
 * vici_end_wait(): charon logs the CHILD SA established, then (later) two more
 * events and the initiate's answer; the next command's answer comes after them.
 */
static bool script_end_wait(struct server *s, int fd)
{
	srv_expect(s, fd, RAW("\x00\x00\x00\x23" "\x00\x08" "initiate" "\x03\x05" "child"
			      "\x00\x03" "net" "\x03\x08" "loglevel" "\x00\x01" "1"));
	srv_send_kv(s, fd, VICI_EVENT, "control-log", "msg", "CHILD_SA net{1} established", false);
	/* only what the client asks next lets the rest come: it did stop waiting */
	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x00\x07" "version"));
	srv_send_kv(s, fd, VICI_EVENT, "control-log", "msg", "later", false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "success", "yes", false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "daemon", "charon", false);
	return true;
}

struct ender {
	struct vici_conn *c;
	int count;
};

static void end_on_first(void *ctx, const char *event, const struct vici_node *msg)
{
	struct ender *e = ctx;

	(void)event;
	(void)msg;
	if (e->count++ == 0)
		vici_end_wait(e->c);
}

static void test_client_end_wait(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct ender e = { 0 };
	struct vici_buf b;
	struct server s;

	server_start(&s, script_end_wait);
	e.c = client(&s);
	build_initiate(&b);
	if (vici_request(e.c, "initiate", &b, &resp, end_on_first, &e, 2000, &err))
		fail_msg("initiate: %s", err.msg);
	vici_buf_free(&b);
	assert_null(resp);
	assert_int_equal(e.count, 1);
	/* outside a callback it does nothing */
	vici_end_wait(e.c);
	/* the initiate's late answer is dropped, not taken for this one's */
	if (vici_request(e.c, "version", NULL, &resp, end_on_first, &e, 2000, &err))
		fail_msg("version: %s", err.msg);
	assert_int_equal(e.count, 2);
	assert_string_equal(vici_find_str(resp, "daemon"), "charon");
	vici_node_free(resp);
	vici_close(e.c);
	server_stop(&s);
}

/* Charon that writes every byte of an event and the response separately. */
static bool script_slow(struct server *s, int fd)
{
	struct vici_buf b;

	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x00\x07" "version"));
	srv_send_kv(s, fd, VICI_EVENT, "log", "msg", "hello", true);
	vici_buf_init(&b);
	vici_add_kvs(&b, "daemon", "charon");
	vici_add_kvs(&b, "version", "5.9.8");
	srv_send(s, fd, VICI_CMD_RESPONSE, NULL, &b, true);
	vici_buf_free(&b);
	return true;
}

static void test_client_partial_reads(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;

	server_start(&s, script_slow);
	/* a plain path works as well as a unix:// URI */
	assert_int_equal(vici_connect(&c, s.path, &err), M2M_OK);
	if (vici_request(c, "version", NULL, &resp, on_event, &ev, 5000, &err))
		fail_msg("version: %s", err.msg);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.last, "log");
	assert_string_equal(vici_find_str(resp, "daemon"), "charon");
	assert_string_equal(vici_find_str(resp, "version"), "5.9.8");
	vici_node_free(resp);
	vici_close(c);
	server_stop(&s);
}

/* A request larger than the socket buffer: the client must write in pieces. */
static void build_big(struct vici_buf *b)
{
	uint8_t chunk[60000];
	size_t i;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = i * 7;
	vici_buf_init(b);
	vici_add_kvs(b, "type", "X509");
	vici_begin_list(b, "data");
	for (i = 0; i < 7; i++) {
		chunk[0] = i;
		vici_add_item(b, chunk, sizeof(chunk));
	}
	vici_end_list(b);
}

static bool script_big(struct server *s, int fd)
{
	struct vici_buf b;
	uint8_t *p;
	size_t len;

	/* let the client fill the socket buffer and wait for POLLOUT */
	usleep(100 * 1000);
	p = srv_recv(s, fd, &len);
	build_big(&b);
	if (p && (len != 4 + 1 + 1 + 9 + b.len || memcmp(p + 4, "\x00\x09" "load-cert", 11) ||
		  memcmp(p + 15, b.data, b.len)))
		srv_fail(s, "big request differs");
	vici_buf_free(&b);
	free(p);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "success", "yes", false);
	return true;
}

static void test_client_partial_writes(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	struct vici_buf b;

	server_start(&s, script_big);
	c = client(&s);
	build_big(&b);
	assert_true(b.len > 400000);
	if (vici_request(c, "load-cert", &b, &resp, NULL, NULL, 10000, &err))
		fail_msg("load-cert: %s", err.msg);
	vici_buf_free(&b);
	assert_int_equal(vici_check_success(resp, "load-cert", &err), M2M_OK);
	vici_node_free(resp);
	vici_close(c);
	server_stop(&s);
}

static bool script_silent(struct server *s, int fd)
{
	srv_skip(s, fd);
	return true;
}

/* Events keep coming, the answer never does. */
static bool script_flood(struct server *s, int fd)
{
	struct vici_buf b;
	bool ok = true;

	srv_skip(s, fd);
	vici_buf_init(&b);
	vici_add_kvs(&b, "msg", "retransmit");
	while (ok) {
		size_t total = 1 + 1 + 3 + b.len;
		uint8_t p[64] = { 0, 0, 0, total, VICI_EVENT, 3, 'l', 'o', 'g' };

		memcpy(p + 9, b.data, b.len);
		ok = srv_write(fd, p, 4 + total, false);
		usleep(50 * 1000);
	}
	vici_buf_free(&b);
	close(fd);
	return false;
}

static void run_timeout(script_fn script, int timeout_ms, int min_events)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	int64_t t0, dt;
	char want[100];

	server_start(&s, script);
	c = client(&s);
	t0 = mono_ms();
	snprintf(want, sizeof(want), "no answer from charon to 'initiate' within %d ms",
		 timeout_ms);
	assert_err(&err, vici_request(c, "initiate", NULL, &resp, on_event, &ev, timeout_ms,
				      &err), M2M_ERR_TIMEOUT, want);
	dt = mono_ms() - t0;
	print_message("timed out after %lld ms, %d events\n", (long long)dt, ev.count);
	assert_null(resp);
	/* within the limit for the whole exchange, not per read */
	assert_true(dt >= timeout_ms - 2);
	assert_true(dt < timeout_ms + 1000);
	assert_true(ev.count >= min_events);
	vici_close(c);
	server_stop(&s);
}

static void test_client_timeout(void **state)
{
	run_timeout(script_silent, 300, 0);
	run_timeout(script_flood, 400, 2);
}

static bool script_idle(struct server *s, int fd);

/* Half an event, then nothing. */
static bool script_half(struct server *s, int fd)
{
	srv_write(fd, "\x00\x00\x00\x14\x07\x03" "log", 9, false);
	return true;
}

/* A time limit before a packet leaves the stream in step; one inside a packet does not. */
static void test_client_broken(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_conn *c;
	struct server s;

	assert_true(vici_broken(NULL));
	server_start(&s, script_idle);
	c = client(&s);
	assert_int_equal(vici_wait_event(c, NULL, NULL, 50, &err), M2M_ERR_TIMEOUT);
	assert_false(vici_broken(c));
	vici_close(c);
	server_stop(&s);

	server_start(&s, script_half);
	c = client(&s);
	assert_int_equal(vici_wait_event(c, NULL, NULL, 200, &err), M2M_ERR_TIMEOUT);
	assert_true(vici_broken(c));
	vici_close(c);
	server_stop(&s);
	(void)state;
}

/* Answers late: the late answer must not be taken for the next one's. */
static bool script_late(struct server *s, int fd)
{
	srv_skip(s, fd);
	usleep(400 * 1000);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "n", "1", false);
	srv_skip(s, fd);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "n", "2", false);
	return true;
}

/* A malformed event fails the request; its answer comes anyway. */
static bool script_bad_event(struct server *s, int fd)
{
	srv_skip(s, fd);
	srv_write(fd, "\x00\x00\x00\x06" "\x07\x03" "log" "\x02", 10, false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "n", "1", false);
	srv_skip(s, fd);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "n", "2", false);
	return true;
}

static void test_client_resync(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;

	server_start(&s, script_late);
	c = client(&s);
	assert_int_equal(vici_request(c, "stats", NULL, &resp, NULL, NULL, 150, &err),
			 M2M_ERR_TIMEOUT);
	if (vici_request(c, "stats", NULL, &resp, NULL, NULL, 3000, &err))
		fail_msg("second request: %s", err.msg);
	assert_string_equal(vici_find_str(resp, "n"), "2");
	vici_node_free(resp);
	vici_close(c);
	server_stop(&s);

	server_start(&s, script_bad_event);
	c = client(&s);
	assert_err(&err, vici_request(c, "stats", NULL, &resp, NULL, NULL, 3000, &err),
		   M2M_ERR_PROTOCOL,
		   "event 'log' from charon: malformed VICI message: "
		   "section end without a section at offset 0");
	assert_null(resp);
	if (vici_request(c, "stats", NULL, &resp, NULL, NULL, 3000, &err))
		fail_msg("second request: %s", err.msg);
	assert_string_equal(vici_find_str(resp, "n"), "2");
	vici_node_free(resp);
	vici_close(c);
	server_stop(&s);
}

static bool script_close(struct server *s, int fd)
{
	srv_skip(s, fd);
	close(fd);
	return false;
}

static bool script_close_at_once(struct server *s, int fd)
{
	close(fd);
	return false;
}

static void test_client_peer_closes(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	char want[300];

	server_start(&s, script_close);
	c = client(&s);
	assert_err(&err, vici_request(c, "initiate", NULL, &resp, NULL, NULL, 2000, &err),
		   M2M_ERR_DAEMON, "charon closed the connection");
	snprintf(want, sizeof(want),
		 "VICI connection to %s unusable after an earlier error; reconnect", s.path);
	assert_err(&err, vici_request(c, "initiate", NULL, &resp, NULL, NULL, 2000, &err),
		   M2M_ERR_DAEMON, want);
	assert_err(&err, vici_register(c, "log", 2000, &err), M2M_ERR_DAEMON, want);
	vici_close(c);
	server_stop(&s);

	server_start(&s, script_close_at_once);
	c = client(&s);
	assert_err(&err, vici_wait_event(c, NULL, NULL, 2000, &err), M2M_ERR_DAEMON,
		   "charon closed the connection");
	vici_close(c);
	server_stop(&s);
}

/* Answer the first packet with s->raw, then stay silent. */
static bool script_raw(struct server *s, int fd)
{
	srv_skip(s, fd);
	srv_write(fd, s->raw, s->raw_len, false);
	return true;
}

static void test_client_bad_replies(void **state)
{
	static const struct {
		const char *raw;
		size_t raw_len;
		bool reg;
		int rc;
		const char *msg;
		bool usable; /* a later request then simply times out */
	} cases[] = {
		{ "\x00\x10\x00\x00", 4, false, M2M_ERR_PROTOCOL,
		  "VICI packet length 1048576 from charon out of range (1..524288)", false },
		{ "\xff\xff\xff\xff", 4, false, M2M_ERR_PROTOCOL,
		  "VICI packet length 4294967295 from charon out of range (1..524288)", false },
		{ "\x00\x00\x00\x00", 4, false, M2M_ERR_PROTOCOL,
		  "VICI packet length 0 from charon out of range (1..524288)", false },
		{ "\x00\x00\x00\x01\x02", 5, false, M2M_ERR_PROTOCOL,
		  "charon does not know command 'frobnicate' (vici plugin too old?)", true },
		{ "\x00\x00\x00\x01\x06", 5, true, M2M_ERR_PROTOCOL,
		  "charon does not know event 'frobnicate' (vici plugin too old?)", true },
		{ "\x00\x00\x00\x01\x09", 5, false, M2M_ERR_PROTOCOL,
		  "malformed VICI packet: unknown packet type 9", false },
		{ "\x00\x00\x00\x01\x05", 5, false, M2M_ERR_PROTOCOL,
		  "unexpected VICI packet type 5 from charon in answer to 'frobnicate'", false },
		{ "\x00\x00\x00\x01\x01", 5, true, M2M_ERR_PROTOCOL,
		  "unexpected VICI packet type 1 from charon in answer to 'register frobnicate'",
		  false },
		{ "\x00\x00\x00\x01\x00", 5, false, M2M_ERR_PROTOCOL,
		  "malformed VICI packet: truncated name length", false },
		{ "\x00\x00\x00\x02\x01\x02", 6, false, M2M_ERR_PROTOCOL,
		  "answer to 'frobnicate': malformed VICI message: "
		  "section end without a section at offset 0", true },
		/* a packet cut short by the deadline leaves the stream unusable */
		{ "\x00\x00\x00\x10\x01\x03", 6, false, M2M_ERR_TIMEOUT,
		  "no answer from charon to 'frobnicate' within 300 ms", false },
		{ "\x00\x00", 2, false, M2M_ERR_TIMEOUT,
		  "no answer from charon to 'frobnicate' within 300 ms", false },
	};
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu: %s\n", i, cases[i].msg);
		server_start(&s, script_raw);
		s.raw = cases[i].raw;
		s.raw_len = cases[i].raw_len;
		c = client(&s);
		if (cases[i].reg)
			rc = vici_register(c, "frobnicate", 300, &err);
		else
			rc = vici_request(c, "frobnicate", NULL, &resp, NULL, NULL, 300, &err);
		assert_err(&err, rc, cases[i].rc, cases[i].msg);
		assert_null(resp);
		rc = vici_request(c, "frobnicate", NULL, &resp, NULL, NULL, 50, &err);
		assert_int_equal(rc, cases[i].usable ? M2M_ERR_TIMEOUT : M2M_ERR_DAEMON);
		vici_close(c);
		server_stop(&s);
	}
}

/* A reply nobody asked for while waiting for events. */
static bool script_unsolicited(struct server *s, int fd)
{
	srv_write(fd, "\x00\x00\x00\x01\x01", 5, false);
	return true;
}

static void test_client_unsolicited(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_conn *c;
	struct server s;

	server_start(&s, script_unsolicited);
	c = client(&s);
	assert_err(&err, vici_wait_event(c, NULL, NULL, 2000, &err), M2M_ERR_PROTOCOL,
		   "unexpected VICI packet type 1 from charon");
	vici_close(c);
	server_stop(&s);
}

/*
 * A registration sent ahead: its answer comes first, with the next exchange.
 * Then one charon refuses: the next exchange fails with it, the connection
 * stays in step; then one given up on with the request after it.
 */
static bool script_ahead(struct server *s, int fd)
{
	struct vici_buf b;

	srv_expect(s, fd, RAW("\x00\x00\x00\x0d" "\x03\x0b" "control-log"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x0a" "\x00\x08" "initiate"));
	srv_write(fd, "\x00\x00\x00\x01\x05", 5, false);
	vici_buf_init(&b);
	vici_add_kvs(&b, "group", "IKE");
	srv_send(s, fd, VICI_EVENT, "control-log", &b, false);
	vici_buf_free(&b);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "success", "yes", false);
	/* refused */
	srv_expect(s, fd, RAW("\x00\x00\x00\x07" "\x03\x05" "frobn"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x07" "\x00\x05" "stats"));
	srv_write(fd, "\x00\x00\x00\x01\x06", 5, false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "stale", "yes", false);
	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x00\x07" "version"));
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "daemon", "charon", false);
	/* given up on: answered late, both dropped */
	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x03\x07" "list-sa"));
	srv_expect(s, fd, RAW("\x00\x00\x00\x07" "\x00\x05" "stats"));
	usleep(300 * 1000);
	srv_write(fd, "\x00\x00\x00\x01\x05", 5, false);
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "stale", "yes", false);
	srv_expect(s, fd, RAW("\x00\x00\x00\x09" "\x00\x07" "version"));
	srv_send_kv(s, fd, VICI_CMD_RESPONSE, NULL, "daemon", "charon", false);
	return true;
}

static void test_client_register_ahead(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;

	assert_false(vici_register_ahead(NULL, "control-log", 100));
	server_start(&s, script_ahead);
	c = client(&s);
	assert_false(vici_register_ahead(c, "", 100));
	assert_true(vici_register_ahead(c, "control-log", 100));
	if (vici_request(c, "initiate", NULL, &resp, on_event, &ev, 2000, &err))
		fail_msg("initiate: %s", err.msg);
	assert_int_equal(ev.count, 1);
	assert_string_equal(ev.last, "control-log");
	assert_int_equal(vici_check_success(resp, "initiate", &err), M2M_OK);
	vici_node_free(resp);

	assert_true(vici_register_ahead(c, "frobn", 100));
	assert_err(&err, vici_request(c, "stats", NULL, &resp, NULL, NULL, 2000, &err),
		   M2M_ERR_PROTOCOL, "charon does not know event 'frobn' (vici plugin too old?)");
	assert_null(resp);

	/* the answer owed to "stats" still to come: nothing goes ahead of it */
	assert_false(vici_register_ahead(c, "list-sa", 100));
	if (vici_request(c, "version", NULL, &resp, NULL, NULL, 2000, &err))
		fail_msg("version: %s", err.msg);
	assert_string_equal(vici_find_str(resp, "daemon"), "charon");
	vici_node_free(resp);

	/* a request given up on: the registration's answer and its own are dropped when they come */
	assert_true(vici_register_ahead(c, "list-sa", 100));
	assert_err(&err, vici_request(c, "stats", NULL, &resp, NULL, NULL, 100, &err),
		   M2M_ERR_TIMEOUT, "no answer from charon to 'stats' within 100 ms");
	if (vici_request(c, "version", NULL, &resp, NULL, NULL, 2000, &err))
		fail_msg("version after the late answers: %s", err.msg);
	assert_string_equal(vici_find_str(resp, "daemon"), "charon");
	vici_node_free(resp);
	vici_close(c);
	server_stop(&s);
	(void)state;
}

/* Events without a pause, and never the answer: for 1.5 s, then hang up. */
static bool script_storm(struct server *s, int fd)
{
	struct vici_buf b;
	uint64_t end;
	struct timespec ts;

	srv_skip(s, fd);
	vici_buf_init(&b);
	vici_add_kvs(&b, "group", "IKE");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1500;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 >= end)
			break;
		srv_send(s, fd, VICI_EVENT, "control-log", &b, false);
		if (s->failed)
			break;
	}
	vici_buf_free(&b);
	s->failed = false; /* the client hung up while we still sent: expected */
	close(fd);
	return false;
}

/* a slow consumer: while it works, the next events are already waiting */
static void slow_event(void *ctx, const char *event, const struct vici_node *msg)
{
	on_event(ctx, event, msg);
	usleep(2000);
}

static void test_client_event_storm(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct timespec a, b;
	struct vici_conn *c;
	struct server s;
	long ms;

	server_start(&s, script_storm);
	c = client(&s);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_err(&err, vici_request(c, "initiate", NULL, &resp, slow_event, &ev, 200, &err),
		   M2M_ERR_TIMEOUT, "no answer from charon to 'initiate' within 200 ms");
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ev.count > 0);
	assert_true(ms < 300);
	vici_close(c);
	server_stop(&s);
	(void)state;
}

/*
 * A burst in one write: a small event, one larger than the client's read-ahead
 * buffer, another small one. Each must come out whole and in order, and what
 * was read ahead must show in vici_pending() (poll() cannot see it).
 */
static bool script_burst(struct server *s, int fd)
{
	struct vici_buf b[3];
	uint8_t *all = NULL;
	size_t len = 0;
	char big[9000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 3; i++) {
		const char *name = i == 2 ? "ike-updown" : "control-log";
		size_t nlen = strlen(name), total;

		vici_buf_init(&b[i]);
		vici_add_kvs(&b[i], "group", i == 1 ? big : i == 0 ? "IKE" : "CFG");
		total = 1 + 1 + nlen + b[i].len;
		all = realloc(all, len + 4 + total);
		all[len++] = total >> 24;
		all[len++] = total >> 16;
		all[len++] = total >> 8;
		all[len++] = total;
		all[len++] = VICI_EVENT;
		all[len++] = nlen;
		memcpy(all + len, name, nlen);
		len += nlen;
		memcpy(all + len, b[i].data, b[i].len);
		len += b[i].len;
		vici_buf_free(&b[i]);
	}
	if (!srv_write(fd, all, len, false))
		srv_fail(s, "cannot send the burst");
	free(all);
	return true;
}

static void big_event(void *ctx, const char *event, const struct vici_node *msg)
{
	struct events *ev = ctx;
	const char *v = vici_find_str(msg, "group");

	ev->count++;
	snprintf(ev->last, sizeof(ev->last), "%s", event);
	snprintf(ev->info, sizeof(ev->info), "%zu %.3s", v ? strlen(v) : 0, v ? v : "");
}

static void test_client_read_ahead(void **state)
{
	struct events ev = { 0 };
	struct m2m_err err = { 0 };
	struct vici_conn *c;
	struct server s;

	server_start(&s, script_burst);
	c = client(&s);
	assert_false(vici_pending(c));
	assert_int_equal(vici_wait_event(c, big_event, &ev, 2000, &err), M2M_OK);
	assert_string_equal(ev.last, "control-log");
	assert_string_equal(ev.info, "3 IKE");
	/* the next one's start was read with it */
	assert_true(vici_pending(c));
	assert_int_equal(vici_wait_event(c, big_event, &ev, 2000, &err), M2M_OK);
	assert_string_equal(ev.last, "control-log");
	assert_string_equal(ev.info, "8999 xxx");
	assert_int_equal(vici_wait_event(c, big_event, &ev, 2000, &err), M2M_OK);
	assert_string_equal(ev.last, "ike-updown");
	assert_string_equal(ev.info, "3 CFG");
	assert_int_equal(ev.count, 3);
	assert_false(vici_pending(c));
	/* nothing more: a timeout, and the connection still usable */
	assert_err(&err, vici_wait_event(c, big_event, &ev, 50, &err), M2M_ERR_TIMEOUT,
		   "no event from charon within 50 ms");
	assert_false(vici_pending(NULL));
	vici_close(c);
	server_stop(&s);
}

/* Nothing is expected to reach charon. */
static bool script_idle(struct server *s, int fd)
{
	return true;
}

static void test_client_misuse(void **state)
{
	struct m2m_err err = { 0 };
	struct vici_node *resp = NULL;
	struct vici_conn *c;
	struct server s;
	struct vici_buf b;
	char want[300];

	assert_int_equal(vici_fd(NULL), -1);
	vici_close(NULL);
	assert_int_equal(vici_request(NULL, "x", NULL, &resp, NULL, NULL, 10, &err),
			 M2M_ERR_FAILURE);

	server_start(&s, script_idle);
	c = client(&s);
	/* an unbalanced body never goes out */
	vici_buf_init(&b);
	vici_begin_section(&b, "s");
	assert_err(&err, vici_request(c, "load-conn", &b, &resp, NULL, NULL, 10, &err),
		   M2M_ERR_FAILURE, "load-conn: building VICI message: 1 section(s) not ended");
	vici_buf_free(&b);
	assert_err(&err, vici_request(c, "", NULL, &resp, NULL, NULL, 10, &err),
		   M2M_ERR_FAILURE, "invalid VICI name ''");
	memset(long_name, 'n', 256);
	snprintf(want, sizeof(want), "invalid VICI name '%s'", long_name);
	assert_err(&err, vici_request(c, long_name, NULL, &resp, NULL, NULL, 10, &err),
		   M2M_ERR_FAILURE, want);
	assert_null(resp);
	vici_close(c);
	server_stop(&s);
}

static void test_connect_errors(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct m2m_err err = { 0 };
	char dir[64], path[160], uri[200], want[300], lng[200];
	bool absent = false;
	struct vici_conn *c = (struct vici_conn *)&err;
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/m2m-test-vici-XXXXXX");
	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof(path), "%s/missing", dir);
	snprintf(want, sizeof(want), "charon is not running (no socket at %s)", path);
	assert_err(&err, vici_connect(&c, path, &err), M2M_ERR_DAEMON, want);
	assert_null(c);
	assert_err(&err, vici_connect_within(&c, path, 100, &absent, &err), M2M_ERR_DAEMON, want);
	assert_true(absent);
	snprintf(uri, sizeof(uri), "unix://%s", path);
	assert_err(&err, vici_connect(&c, uri, &err), M2M_ERR_DAEMON, want);

	/* a regular file where the socket should be */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(want, sizeof(want), "%s is not a VICI socket", path);
	assert_err(&err, vici_connect(&c, path, &err), M2M_ERR_DAEMON, want);
	/* says nothing of charon: down and the wipe must not take it for gone */
	absent = true;
	assert_err(&err, vici_connect_within(&c, path, 100, &absent, &err), M2M_ERR_DAEMON, want);
	assert_false(absent);
	snprintf(path, sizeof(path), "%s/file/below", dir);
	snprintf(want, sizeof(want), "charon is not running (no socket at %s)", path);
	assert_err(&err, vici_connect(&c, path, &err), M2M_ERR_DAEMON, want);
	snprintf(want, sizeof(want), "%s is not a VICI socket", dir);
	assert_err(&err, vici_connect(&c, dir, &err), M2M_ERR_DAEMON, want);

	/* a socket left behind by a charon that is gone */
	snprintf(path, sizeof(path), "%s/stale.vici", dir);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(want, sizeof(want), "charon is not running (nothing listens on %s)", path);
	assert_err(&err, vici_connect(&c, path, &err), M2M_ERR_DAEMON, want);
	assert_null(c);
	assert_err(&err, vici_connect_within(&c, path, 100, &absent, &err), M2M_ERR_DAEMON, want);
	assert_true(absent);

	assert_err(&err, vici_connect(&c, "tcp://127.0.0.1:4502", &err), M2M_ERR_CONFIG,
		   "unsupported VICI URI 'tcp://127.0.0.1:4502' (use unix:///path)");
	assert_err(&err, vici_connect(&c, "charon.vici", &err), M2M_ERR_CONFIG,
		   "unsupported VICI URI 'charon.vici' (use unix:///path)");
	assert_err(&err, vici_connect(&c, "unix://relative", &err), M2M_ERR_CONFIG,
		   "unsupported VICI URI 'unix://relative' (use unix:///path)");
	assert_int_equal(vici_connect(&c, NULL, &err), M2M_ERR_CONFIG);
	memset(lng, 'x', sizeof(lng) - 1);
	lng[0] = '/';
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(vici_connect(&c, lng, &err), M2M_ERR_CONFIG);
	assert_null(c);

	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * A socket that exists but that we may not use. Root passes every
 * permission check, so as root a child drops to nobody to try.
 */
static void test_connect_permission(void **state)
{
	struct server s;
	struct m2m_err err = { 0 };
	struct vici_conn *c = NULL;
	char want[300];
	int status, rc;
	pid_t pid;

	server_start(&s, script_idle);
	assert_int_equal(chmod(s.path, 0600), 0);
	snprintf(want, sizeof(want), "permission denied on %s", s.path);
	if (geteuid() != 0) {
		assert_err(&err, vici_connect(&c, s.path, &err), M2M_ERR_DAEMON, want);
		assert_null(c);
		/* let the server's accept() return */
		assert_int_equal(chmod(s.path, 0700), 0);
		c = client(&s);
		vici_close(c);
		server_stop(&s);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		rc = vici_connect(&c, s.path, &err);
		_exit(rc == M2M_ERR_DAEMON && !c && strcmp(err.msg, want) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = client(&s);
	vici_close(c);
	server_stop(&s);
}

/* A charon that stopped accepting: its listen queue fills and connect() would block for ever. */
static void test_connect_queue_full(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct m2m_err err = { 0 };
	char dir[64], want[300];
	struct vici_conn *c = NULL;
	int lfd, fds[64], n = 0;
	int64_t t0, took;
	bool absent = true;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/m2m-test-vici-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/full", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	/* fill the queue: connects that are never accepted, until the kernel says EAGAIN */
	for (; n < 64; n++) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fds[n]);
			break;
		}
	}
	assert_true(n < 64);
	t0 = mono_ms();
	snprintf(want, sizeof(want), "charon accepted no connection on %s within 200 ms", sa.sun_path);
	assert_err(&err, vici_connect_within(&c, sa.sun_path, 200, &absent, &err), M2M_ERR_TIMEOUT, want);
	took = mono_ms() - t0;
	assert_null(c);
	assert_false(absent); /* a charon that does not accept is there */
	assert_true(took >= 195 && took < 300);
	/* once the daemon accepts again, the same call connects */
	close(accept(lfd, NULL, NULL));
	assert_int_equal(vici_connect_within(&c, sa.sun_path, 200, &absent, &err), M2M_OK);
	assert_false(absent);
	vici_close(c);
	while (n-- > 0)
		close(fds[n]);
	close(lfd);
	unlink(sa.sun_path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_initiate),
		cmocka_unit_test(test_encode_elements),
		cmocka_unit_test(test_builder_errors),
		cmocka_unit_test(test_builder_unbalanced),
		cmocka_unit_test(test_builder_limits_ok),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_decode_empty),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_truncations),
		cmocka_unit_test(test_decode_depth),
		cmocka_unit_test(test_decode_random),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_packet_split),
		cmocka_unit_test(test_check_success),
		cmocka_unit_test(test_client_initiate),
		cmocka_unit_test(test_client_pipeline),
		cmocka_unit_test(test_client_end_wait),
		cmocka_unit_test(test_client_partial_reads),
		cmocka_unit_test(test_client_partial_writes),
		cmocka_unit_test(test_client_timeout),
		cmocka_unit_test(test_client_broken),
		cmocka_unit_test(test_client_resync),
		cmocka_unit_test(test_client_peer_closes),
		cmocka_unit_test(test_client_bad_replies),
		cmocka_unit_test(test_client_unsolicited),
		cmocka_unit_test(test_client_read_ahead),
		cmocka_unit_test(test_client_register_ahead),
		cmocka_unit_test(test_client_event_storm),
		cmocka_unit_test(test_client_misuse),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_connect_permission),
		cmocka_unit_test(test_connect_queue_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
