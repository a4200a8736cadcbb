/* SPDX-License-Identifier: MIT */
/* Unit tests of lib/lwm2m: paths, the codecs, the data model and its operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "state/state.h"
#include "m2m/dm.h"
#include "lwm2m/lwm2m.h"
#include "lwm2m/objects.h"
#include "lwm2m/obj_int.h"
#include "m2m/update.h"
#include "lwm2m/observe.h"
#include "lwm2m/state.h"

/* ---- a test object: /9/0 with a string, an integer, a float, a multiple, an executable ---- */

static char name[32] = "pump";
static int64_t level = 7;
static int executed;

static const struct lw_res_def test_res[] = {
	{ 0, LW_STRING, LW_OP_R | LW_OP_W, false },
	{ 1, LW_INTEGER, LW_OP_R | LW_OP_W, false },
	{ 2, LW_FLOAT, LW_OP_R, false },
	{ 3, LW_INTEGER, LW_OP_R, true },
	{ 4, LW_NONE, LW_OP_E, false },
	{ 5, LW_OPAQUE, LW_OP_R, false },
};

static int t_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		  struct lw_value *v)
{
	switch (res) {
	case 0:
		v->type = LW_STRING;
		v->buf = (uint8_t *)name;
		v->len = strlen(name);
		return 0;
	case 1:
		v->type = LW_INTEGER;
		v->i = level;
		return 0;
	case 2:
		v->type = LW_FLOAT;
		v->f = 2.5;
		return 0;
	case 3:
		v->type = LW_INTEGER;
		v->i = 100 + ri;
		return 0;
	case 5:
		v->type = LW_OPAQUE;
		v->buf = (uint8_t *)"\x00\x01\x02";
		v->len = 3;
		return 0;
	}
	return LW_NOT_FOUND;
}

static int t_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	return 2;
}

static int t_write(struct lw_object *o, uint16_t inst, uint16_t res, const struct lw_value *v,
		   bool apply)
{
	if (res == 0) {
		if (v->len >= sizeof(name))
			return LW_BAD_REQUEST;
		if (apply) {
			memcpy(name, v->buf, v->len);
			name[v->len] = 0;
		}
	} else {
		if (v->i > 1000)
			return LW_BAD_REQUEST; /* a value the object refuses */
		if (apply)
			level = v->i;
	}
	return 0;
}

static int t_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg, size_t len)
{
	executed++;
	return 0;
}

static const struct lw_object_ops t_ops = {
	.read = t_read, .count = t_count, .write = t_write, .exec = t_exec,
};

static struct lw_object tobj = {
	.id = 9, .res = test_res, .n_res = 6, .inst = { 0 }, .n_inst = 1, .ops = &t_ops,
};

static struct lw_registry reg;

static int setup(void **state)
{
	memset(&reg, 0, sizeof(reg));
	strcpy(name, "pump");
	level = 7;
	executed = 0;
	return lw_registry_add(&reg, &tobj);
}

static struct lw_path P(const char *s)
{
	struct lw_path p;

	assert_true(lw_path_parse(s, strlen(s), &p));
	return p;
}

/* ---- tests ---- */

static void test_paths(void **state)
{
	struct lw_path p;
	char b[32];

	assert_true(lw_path_parse("/3/0/11/2", 9, &p));
	assert_int_equal(p.depth, 4);
	assert_int_equal(p.id[2], 11);
	lw_path_format(&p, b, sizeof(b));
	assert_string_equal(b, "/3/0/11/2");
	assert_true(lw_path_parse("/", 1, &p));
	assert_int_equal(p.depth, 0);
	assert_false(lw_path_parse("/3//1", 5, &p));
	assert_false(lw_path_parse("/3/0/", 5, &p));
	assert_false(lw_path_parse("/65535", 6, &p));
	assert_false(lw_path_parse("/1/2/3/4/5", 10, &p));
	assert_false(lw_path_parse("/a", 2, &p));
}

static void test_text(void **state)
{
	struct lw_value v;
	struct lw_buf b = { 0 };

	assert_int_equal(lw_text_decode((const uint8_t *)"-42", 3, LW_INTEGER, &v), 0);
	assert_int_equal(v.i, -42);
	assert_int_equal(lw_text_decode((const uint8_t *)"4x", 2, LW_INTEGER, &v), LW_BAD_REQUEST);
	assert_int_equal(lw_text_decode((const uint8_t *)"2", 1, LW_BOOLEAN, &v), LW_BAD_REQUEST);
	assert_int_equal(lw_text_decode((const uint8_t *)"3:1", 3, LW_OBJLNK, &v), 0);
	assert_int_equal(v.lnk[0], 3);
	assert_int_equal(v.lnk[1], 1);
	assert_int_equal(lw_text_decode((const uint8_t *)"-1", 2, LW_UNSIGNED, &v), LW_BAD_REQUEST);
	assert_int_equal(lw_text_decode((const uint8_t *)"1e999", 5, LW_FLOAT, &v), LW_BAD_REQUEST);
	v.type = LW_FLOAT;
	v.f = 0.1;
	assert_int_equal(lw_text_encode(&v, &b), 0);
	assert_string_equal((char *)b.p, "0.1");
	lw_buf_free(&b);
}

static void test_tlv(void **state)
{
	/* every kind of TLV the object's read gives, byte by byte */
	static const uint8_t want[] = {
		0xc4, 0x00, 'p', 'u', 'm', 'p',        /* resource 0, length in the type byte */
		0xc1, 0x01, 0x07,                      /* resource 1, 1 byte */
		0xc8, 0x02, 0x08, 0x40, 0x04, 0, 0, 0, 0, 0, 0, /* 2.5 as a double */
		0x86, 0x03, 0x41, 0x00, 0x64, 0x41, 0x01, 0x65, /* multiple 3: 100, 101 */
		0xc3, 0x05, 0x00, 0x01, 0x02,          /* opaque */
	};
	struct lw_path p = P("/9/0");
	struct lw_records rs = { 0 }, back = { 0 };
	struct lw_buf b = { 0 };

	assert_int_equal(lw_read(&reg, &p, &rs), 0);
	assert_int_equal(lw_tlv_encode(&rs, &p, &b), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	assert_int_equal(lw_tlv_decode(b.p, b.len, &p, &back), 0);
	assert_int_equal(back.n, rs.n);
	assert_int_equal(back.r[3].path.depth, 4);
	assert_int_equal(back.r[3].path.id[3], 0);
	assert_int_equal(lw_value_coerce(&back.r[1].v, LW_INTEGER), 0);
	assert_int_equal(back.r[1].v.i, 7);
	assert_int_equal(lw_value_coerce(&back.r[2].v, LW_FLOAT), 0);
	assert_true(back.r[2].v.f == 2.5);
	lw_records_free(&back);
	/* truncated, and a resource instance where a resource must be */
	assert_int_equal(lw_tlv_decode(b.p, b.len - 1, &p, &back), LW_BAD_REQUEST);
	lw_records_free(&back);
	assert_int_equal(lw_tlv_decode((const uint8_t *)"\x41\x00\x01", 3, &p, &back),
			 LW_BAD_REQUEST);
	lw_records_free(&back);
	/* an object instance around it, for a write on the object */
	p = P("/9");
	assert_int_equal(lw_tlv_decode((const uint8_t *)"\x03\x00\xc1\x01\x05", 5, &p, &back), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.r[0].path.depth, 3);
	lw_records_free(&back);
	lw_records_free(&rs);
	lw_buf_free(&b);
}

static void test_senml_json(void **state)
{
	struct lw_path p = P("/9/0");
	struct lw_records rs = { 0 }, back = { 0 };
	struct lw_buf b = { 0 };

	assert_int_equal(lw_read(&reg, &p, &rs), 0);
	assert_int_equal(lw_senml_json_encode(&rs, &p, &b), 0);
	assert_string_equal((char *)b.p,
			    "[{\"bn\":\"/9/0/\",\"n\":\"0\",\"vs\":\"pump\"},{\"n\":\"1\",\"v\":7},"
			    "{\"n\":\"2\",\"v\":2.5},{\"n\":\"3/0\",\"v\":100},{\"n\":\"3/1\",\"v\":101},"
			    "{\"n\":\"5\",\"vd\":\"AAEC\"}]");
	assert_int_equal(lw_senml_json_decode(b.p, b.len, &back), 0);
	assert_int_equal(back.n, 6);
	assert_int_equal(back.r[5].v.type, LW_OPAQUE);
	assert_memory_equal(back.r[5].v.buf, "\x00\x01\x02", 3);
	lw_records_free(&back);
	assert_int_equal(lw_senml_json_decode((const uint8_t *)"[{\"n\":\"1\",\"v\":1}]", 18, &back),
			 LW_BAD_REQUEST); /* no base name: not a path */
	lw_records_free(&back);
	assert_int_equal(lw_senml_json_decode((const uint8_t *)"[{\"bn\":\"/9/0/1\"}]", 17, &back),
			 LW_BAD_REQUEST); /* no value */
	lw_records_free(&back);
	lw_records_free(&rs);
	lw_buf_free(&b);
}

/*
 * LwM2M 1.1's composite operations: the paths of a Read-Composite (names
 * alone, of any depth), an answer whose base name changes with the instance
 * (RFC 8428 4.1: a base name holds until the next), a path not present left
 * out, and a Write-Composite applied whole or not at all.
 */
static void test_composite(void **state)
{
	static const char paths[] = "[{\"n\":\"/9/0/1\"},{\"n\":\"/1/0/1\"},{\"bn\":\"/9/0/\",\"n\":\"0\"},"
				    "{\"n\":\"3/1\"}]";
	/* [{-2: "/", 0: "9/0/1"}, {0: "9/0"}] */
	static const uint8_t cpaths[] = { 0x82, 0xa2, 0x21, 0x61, '/', 0x00, 0x65, '9', '/', '0', '/',
					  '1', 0xa1, 0x00, 0x63, '9', '/', '0' };
	static const char bad[] = "[{\"bn\":\"/9/0/\",\"n\":\"0\",\"vs\":\"tank\"},{\"n\":\"2\",\"v\":1.5}]";
	static const char good[] = "[{\"bn\":\"/9/0/\",\"n\":\"0\",\"vs\":\"tank\"},{\"n\":\"1\",\"v\":9}]";
	struct lw_records rs = { 0 }, names = { 0 };
	struct lw_buf b = { 0 };
	unsigned used;

	strcpy(name, "pump");
	level = 7;
	assert_int_equal(lw_senml_names_decode((const uint8_t *)paths, strlen(paths), false, &names), 0);
	assert_int_equal(names.n, 4);
	assert_int_equal(names.r[2].path.depth, 3);
	assert_int_equal(names.r[3].path.depth, 4);
	lw_records_free(&names);
	assert_int_equal(lw_senml_names_decode(cpaths, sizeof(cpaths), true, &names), 0);
	assert_int_equal(names.n, 2);
	assert_int_equal(names.r[1].path.depth, 2);
	lw_records_free(&names);
	/* /1/0/1 is not in this registry: left out */
	assert_int_equal(lw_fetch_composite(&reg, LW_FMT_SENML_JSON, LW_FMT_NONE, (const uint8_t *)paths,
					    strlen(paths), &names, &rs, &b, &used), 0);
	assert_int_equal(used, LW_FMT_SENML_JSON);
	assert_int_equal(names.n, 4);
	lw_records_free(&names);
	assert_string_equal((char *)b.p, "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":7},{\"n\":\"0\",\"vs\":\"pump\"},"
					 "{\"n\":\"3/1\",\"v\":101}]");
	lw_records_free(&rs);
	lw_buf_free(&b);
	assert_int_equal(lw_fetch_composite(&reg, LW_FMT_SENML_JSON, LW_FMT_TEXT, (const uint8_t *)paths,
					    strlen(paths), &names, &rs, &b, &used), LW_NOT_ACCEPTABLE);
	assert_int_equal(lw_fetch_composite(&reg, LW_FMT_TLV, LW_FMT_NONE, (const uint8_t *)paths,
					    strlen(paths), &names, &rs, &b, &used), LW_UNSUPPORTED_CF);
	assert_int_equal(lw_fetch_composite(&reg, LW_FMT_SENML_JSON, LW_FMT_NONE,
					    (const uint8_t *)"[{\"n\":\"/8/0\"}]", 14, &names, &rs, &b, &used),
			 LW_NOT_FOUND);
	lw_records_free(&names);
	lw_records_free(&rs);
	lw_buf_free(&b);
	/* a value that cannot be written (/9/0/2 is read-only): nothing written */
	assert_int_equal(lw_patch_composite(&reg, LW_FMT_SENML_JSON, (const uint8_t *)bad,
					    strlen(bad)), LW_NOT_ALLOWED);
	assert_string_equal(name, "pump");
	assert_int_equal(lw_patch_composite(&reg, LW_FMT_SENML_JSON, (const uint8_t *)good,
					    strlen(good)), 0);
	assert_string_equal(name, "tank");
	assert_int_equal(level, 9);
}

static void test_senml_cbor(void **state)
{
	struct lw_path p = P("/9/0");
	struct lw_records rs = { 0 }, back = { 0 };
	struct lw_buf b = { 0 };
	/* an array header claiming 2^32 items in 9 bytes */
	static const uint8_t huge[] = { 0x9b, 0, 0, 0, 1, 0, 0, 0, 0 };
	/* vb (4) given a float32: libcbor's cbor_is_bool() would assert (found by the fuzzer) */
	static const uint8_t vb_float[] = { 0x81, 0xa3, 0x2b, 0x2b, 0x04, 0xfa, 0xff, 0xff, 0xff,
					    0x11, 0x00, 0x66, '4', '4', '/', '3', '/', '0' };

	assert_int_equal(lw_read(&reg, &p, &rs), 0);
	assert_int_equal(lw_senml_cbor_encode(&rs, &p, &b), 0);
	assert_int_equal(lw_senml_cbor_decode(b.p, b.len, &back), 0);
	assert_int_equal(back.n, rs.n);
	for (size_t i = 0; i < rs.n; i++)
		assert_int_equal(back.r[i].path.id[2], rs.r[i].path.id[2]);
	assert_string_equal((char *)back.r[0].v.buf, "pump");
	assert_int_equal(back.r[1].v.i, 7);
	lw_records_free(&back);
	assert_int_equal(lw_senml_cbor_decode(huge, sizeof(huge), &back), LW_BAD_REQUEST);
	assert_int_equal(lw_senml_cbor_decode(vb_float, sizeof(vb_float), &back), LW_BAD_REQUEST);
	lw_records_free(&back);
	assert_int_equal(lw_senml_cbor_decode(b.p, b.len - 1, &back), LW_BAD_REQUEST);
	lw_records_free(&back);
	lw_records_free(&rs);
	lw_buf_free(&b);
}

static void test_link(void **state)
{
	static const char in[] = "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0/13>;pmin=1;pmax=5";
	struct lw_link l[4];
	size_t n;

	assert_int_equal(lw_link_decode((const uint8_t *)in, strlen(in), l, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(l[0].path.depth, 0);
	assert_string_equal(l[0].attrs, "rt=\"oma.lwm2m\";ct=110");
	assert_int_equal(l[2].path.id[2], 13);
	assert_string_equal(l[2].attrs, "pmin=1;pmax=5");
	assert_int_equal(lw_link_decode((const uint8_t *)"</1>,", 5, l, 4, &n), LW_BAD_REQUEST);
	assert_int_equal(lw_link_decode((const uint8_t *)"</1>;a=\",", 9, l, 4, &n), LW_BAD_REQUEST);
	assert_int_equal(lw_link_decode((const uint8_t *)"</1>,</2>", 9, l, 1, &n), LW_BAD_REQUEST);
}

static int dec(const struct lw_path *p, unsigned fmt, const char *s, struct lw_records *out)
{
	return lw_decode(&reg, p, fmt, (const uint8_t *)s, strlen(s), out);
}

static void test_operations(void **state)
{
	struct lw_records rs = { 0 }, in = { 0 };
	struct lw_path p;
	struct lw_buf b = { 0 };
	struct lw_attrs a;
	unsigned used;

	/* Read one resource, default format text */
	p = P("/9/0/1");
	assert_int_equal(lw_read(&reg, &p, &rs), 0);
	assert_int_equal(lw_encode(&rs, &p, LW_FMT_NONE, &b, &used), 0);
	assert_int_equal(used, LW_FMT_TEXT);
	assert_string_equal((char *)b.p, "7");
	lw_records_free(&rs);
	lw_buf_free(&b);
	p = P("/9/0/3/1");
	assert_int_equal(lw_read(&reg, &p, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].v.i, 101);
	lw_records_free(&rs);
	p = P("/9/0/3/7");
	assert_int_equal(lw_read(&reg, &p, &rs), LW_NOT_FOUND);
	lw_records_free(&rs);
	p = P("/9/0/4");
	assert_int_equal(lw_read(&reg, &p, &rs), LW_NOT_ALLOWED);
	p = P("/9/1");
	assert_int_equal(lw_read(&reg, &p, &rs), LW_NOT_FOUND);
	p = P("/8");
	assert_int_equal(lw_read(&reg, &p, &rs), LW_NOT_FOUND);

	/* Write: text for one resource, SenML for a partial update */
	p = P("/9/0/1");
	assert_int_equal(lw_decode(&reg, &p, LW_FMT_TEXT, (const uint8_t *)"12", 2, &in), 0);
	assert_int_equal(lw_write(&reg, &p, &in, true), 0);
	assert_int_equal(level, 12);
	lw_records_free(&in);
	p = P("/9/0");
	assert_int_equal(dec(&p, LW_FMT_SENML_JSON,
			     "[{\"bn\":\"/9/0/\",\"n\":\"0\",\"vs\":\"valve\"},{\"n\":\"1\",\"v\":3}]",
			     &in), 0);
	assert_int_equal(lw_write(&reg, &p, &in, false), 0);
	assert_string_equal(name, "valve");
	assert_int_equal(level, 3);
	lw_records_free(&in);
	/* all or nothing: a read-only resource in the payload changes nothing */
	assert_int_equal(dec(&p, LW_FMT_SENML_JSON,
			     "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":99},{\"n\":\"2\",\"v\":1}]",
			     &in), 0);
	assert_int_equal(lw_write(&reg, &p, &in, false), LW_NOT_ALLOWED);
	assert_int_equal(level, 3);
	lw_records_free(&in);
	/* ... and a value its object refuses after one it takes changes nothing either */
	assert_int_equal(dec(&p, LW_FMT_SENML_JSON,
			     "[{\"bn\":\"/9/0/\",\"n\":\"1\",\"v\":7},{\"n\":\"0\",\"vs\":"
			     "\"a-name-far-too-long-for-the-object-to-keep-0123456789abcdef\"}]",
			     &in), 0);
	assert_int_equal(lw_write(&reg, &p, &in, false), LW_BAD_REQUEST);
	assert_int_equal(level, 3);
	assert_string_equal(name, "valve");
	lw_records_free(&in);
	/* a float where an integer is wanted */
	p = P("/9/0/1");
	assert_int_equal(dec(&p, LW_FMT_SENML_JSON, "[{\"bn\":\"/9/0/1\",\"v\":1.5}]", &in), 0);
	assert_int_equal(lw_write(&reg, &p, &in, true), LW_BAD_REQUEST);
	lw_records_free(&in);
	assert_int_equal(lw_decode(&reg, &p, 9999, (const uint8_t *)"x", 1, &in), LW_UNSUPPORTED_CF);
	lw_records_free(&in);

	/* Execute */
	p = P("/9/0/4");
	assert_int_equal(lw_execute(&reg, &p, NULL, 0), 0);
	assert_int_equal(executed, 1);
	p = P("/9/0/1");
	assert_int_equal(lw_execute(&reg, &p, NULL, 0), LW_NOT_ALLOWED);

	/* Write-Attributes and Discover */
	p = P("/9/0/1");
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=2&pmax=10&gt=5", 19), 0);
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=20&pmax=10", 15), LW_BAD_REQUEST);
	/* an attribute not applied here (epmin, 1.1) is refused, not taken silently */
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=3&epmin=1", 14), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "lt=9", 4), LW_BAD_REQUEST); /* lt >= gt */
	/* numbers: no inf, nan or hex; gt and lt may be negative, pmin, pmax and st not */
	p = P("/9/0/2");
	assert_int_equal(lw_write_attrs(&reg, &p, "st=inf", 6), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "lt=inf", 6), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=nan", 6), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=0x10", 7), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=1e999", 8), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "st=-1", 5), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=-1", 7), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=1e308&lt=-1e308", 18), 0);
	assert_int_equal(lw_attrs_get(&reg, &p, &a), LW_A_GT | LW_A_LT);
	assert_true(a.gt == 1e308 && a.lt == -1e308);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=-40.5&lt=-90", 15), 0);
	/* lt + 2 st < gt (LwM2M 1.1 5.1.2) */
	assert_int_equal(lw_write_attrs(&reg, &p, "st=30", 5), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "st=20", 5), 0);
	/* gt, lt, st on a string resource: refused */
	p = P("/9/0/0");
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=1", 4), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=1&st=1", 11), LW_BAD_REQUEST);
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=1", 6), 0);
	/* removed again (a name alone), so that what follows sees none of them */
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin", 4), 0);
	p = P("/9/0/2");
	assert_int_equal(lw_write_attrs(&reg, &p, "gt&lt&st", 8), 0);
	p = P("/9/0");
	assert_int_equal(lw_write_attrs(&reg, &p, "pmax=60", 7), 0);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=1", 4), LW_BAD_REQUEST);
	p = P("/9/0/1");
	assert_int_equal(lw_attrs_get(&reg, &p, &a), LW_A_PMIN | LW_A_PMAX | LW_A_GT);
	assert_int_equal(a.pmin, 2);
	assert_int_equal(a.pmax, 10); /* the resource's own wins over the instance's */
	p = P("/9/0/2");
	assert_int_equal(lw_attrs_get(&reg, &p, &a), LW_A_PMAX);
	assert_int_equal(a.pmax, 60);
	p = P("/9/0");
	assert_int_equal(lw_discover(&reg, &p, &b), 0);
	assert_string_equal((char *)b.p, "</9/0>;pmax=60,</9/0/0>,</9/0/1>;pmin=2;pmax=10;gt=5,"
			    "</9/0/2>,</9/0/3>;dim=2,</9/0/4>,</9/0/5>");
	lw_buf_free(&b);
	/* Discover shows a number as written, so that it reads back the same (not %g's 1.23457e+08) */
	p = P("/9/0/2");
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=123456789&lt=-0.1&st=1234.5678", 33), 0);
	assert_int_equal(lw_discover(&reg, &p, &b), 0);
	assert_string_equal((char *)b.p, "</9/0/2>;gt=123456789;lt=-0.1;st=1234.5678");
	lw_buf_free(&b);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt=1e308&lt=-2.2250738585072014e-308", 36), 0);
	assert_int_equal(lw_discover(&reg, &p, &b), 0);
	assert_string_equal((char *)b.p, "</9/0/2>;gt=1e+308;lt=-2.2250738585072014e-308;st=1234.5678");
	lw_buf_free(&b);
	assert_int_equal(lw_write_attrs(&reg, &p, "gt&lt&st", 8), 0);
	lw_register_links(&reg, &b);
	assert_string_equal((char *)b.p, "</>;rt=\"oma.lwm2m\";ct=110,</9/0>");
	lw_buf_free(&b);
}

static void test_b64(void **state)
{
	struct lw_buf b = { 0 };

	lw_b64_encode((const uint8_t *)"\xfb\xff", 2, &b);
	assert_string_equal((char *)b.p, "-_8");
	lw_buf_free(&b);
	assert_int_equal(lw_b64_decode("-_8=", 4, &b), 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "\xfb\xff", 2);
	lw_buf_free(&b);
	assert_int_equal(lw_b64_decode("A", 1, &b), LW_BAD_REQUEST);
	lw_buf_free(&b);
}

/* The shipped DDFs describe the resources the project's objects serve. */
/* the text of <tag>...</tag> in the item at p (up to its </Item>), into out */
static void ddf_field(const char *p, const char *tag, char *out, size_t n)
{
	char open[32], close[32];
	const char *end = strstr(p, "</Item>"), *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(p, open);
	assert_non_null(a);
	assert_true(end == NULL || a < end);
	a += strlen(open);
	b = strstr(a, close);
	assert_non_null(b);
	assert_true((size_t)(b - a) < n);
	memcpy(out, a, (size_t)(b - a));
	out[b - a] = 0;
}

/*
 * lwm2m/ddf/ID.xml (what a management server loads, OMA's DDF schema) says
 * what the client serves: each item's operations, type and multiplicity as
 * the object's table has them, and no item it does not serve.
 */
static void check_ddf(uint16_t id, bool multiple)
{
	static const char *const types[] = { [LW_NONE] = "", [LW_STRING] = "String",
					     [LW_INTEGER] = "Integer", [LW_UNSIGNED] = "Unsigned Integer",
					     [LW_FLOAT] = "Float", [LW_BOOLEAN] = "Boolean",
					     [LW_OPAQUE] = "Opaque", [LW_TIME] = "Time",
					     [LW_OBJLNK] = "Objlnk" };
	struct m2m_config cfg = { 0 };
	struct lw_objects objs;
	struct lw_registry r = { 0 };
	struct lw_object *o;
	char *xml = NULL, item[32], got[32], want[8], path[64], oid[64], inst[96];
	const char *p;
	size_t cap = 0, items = 0;
	FILE *f;

	snprintf(path, sizeof(path), "lwm2m/ddf/%u.xml", id);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(getdelim(&xml, &cap, 0, f) > 0);
	fclose(f);
	cfg.dm.lifetime_ms = 60000;
	assert_int_equal(lw_objects_init(&objs, &cfg, &r), 0);
	o = lw_registry_find(&r, id);
	assert_non_null(o);
	snprintf(oid, sizeof(oid), "<ObjectID>%u</ObjectID>", id);
	assert_non_null(strstr(xml, oid));
	snprintf(inst, sizeof(inst), "<MultipleInstances>%s</MultipleInstances>\n\t\t<Mandatory>",
		 multiple ? "Multiple" : "Single");
	assert_non_null(strstr(xml, inst));
	for (p = xml; (p = strstr(p, "<Item ID=\"")) != NULL; p++)
		items++;
	assert_int_equal(items, o->n_res);
	for (size_t i = 0; i < o->n_res; i++) {
		const struct lw_res_def *d = &o->res[i];

		snprintf(item, sizeof(item), "<Item ID=\"%u\">", d->id);
		p = strstr(xml, item);
		assert_non_null(p);
		snprintf(want, sizeof(want), "%s%s%s", d->ops & LW_OP_R ? "R" : "",
			 d->ops & LW_OP_W ? "W" : "", d->ops & LW_OP_E ? "E" : "");
		ddf_field(p, "Operations", got, sizeof(got));
		assert_string_equal(got, want);
		ddf_field(p, "Type", got, sizeof(got));
		assert_true(d->type < sizeof(types) / sizeof(types[0]) && types[d->type]);
		assert_string_equal(got, types[d->type]);
		ddf_field(p, "MultipleInstances", got, sizeof(got));
		assert_string_equal(got, d->multiple ? "Multiple" : "Single");
	}
	lw_objects_free(&objs);
	free(xml);
}

static void test_vpn_ddf(void **state)
{
	(void)state;
	check_ddf(LW_OBJ_M2M_VPN, true);
}

static void test_policy_ddf(void **state)
{
	(void)state;
	check_ddf(LW_OBJ_M2M_POLICY, false);
}

/* The table of objects: registered in order, Security hidden, instances from the config. */
/* An Execute's arguments, TS 1.1 Core 6.3.5: arg = DIGIT / DIGIT "=" "'" *CHAR "'" */
static void test_exec_arg(void **state)
{
	char v[16];
	bool present;

#define ARG(s, d) lw_exec_arg((const uint8_t *)(s), strlen(s), d, v, sizeof(v), &present)
	(void)state;
	/* none: optional */
	assert_int_equal(lw_exec_arg(NULL, 0, 0, v, sizeof(v), &present), 0);
	assert_false(present);
	assert_string_equal(v, "");
	/* the specification's examples */
	assert_int_equal(ARG("5", 5), 0);
	assert_true(present);
	assert_string_equal(v, "");
	assert_int_equal(ARG("2='10.3'", 2), 0);
	assert_true(present);
	assert_string_equal(v, "10.3");
	assert_int_equal(ARG("7, 0=' https://x'", 0), 0); /* its own example has spaces */
	assert_string_equal(v, " https://x");
	assert_int_equal(ARG("0,1,2,3,4", 3), 0);
	assert_true(present);
	assert_int_equal(ARG("0,1,2,3,4", 7), 0);
	assert_false(present);
	assert_int_equal(ARG("1='a',0='ticket-4711'", 0), 0);
	assert_string_equal(v, "ticket-4711");
	assert_int_equal(ARG("0=''", 0), 0);
	assert_true(present);
	assert_string_equal(v, "");
	/* refused: not the syntax */
	assert_int_equal(ARG("x", 0), LW_BAD_REQUEST);
	assert_int_equal(ARG("10", 0), LW_BAD_REQUEST);       /* one digit */
	assert_int_equal(ARG("0='a", 0), LW_BAD_REQUEST);     /* no closing quote */
	assert_int_equal(ARG("0=a", 0), LW_BAD_REQUEST);      /* no quotes */
	assert_int_equal(ARG("0='a'b", 0), LW_BAD_REQUEST);   /* after the quote */
	assert_int_equal(ARG("0,", 0), LW_BAD_REQUEST);
	assert_int_equal(ARG(",0", 0), LW_BAD_REQUEST);
	assert_int_equal(ARG("0,0", 0), LW_BAD_REQUEST);      /* a digit twice */
	assert_int_equal(ARG("0='a\"b'", 0), LW_BAD_REQUEST); /* '"' is no CHAR */
	assert_int_equal(ARG("0='a\\b'", 0), LW_BAD_REQUEST); /* nor a backslash */
	assert_int_equal(ARG("0='a\nb'", 0), LW_BAD_REQUEST); /* nor a control character */
	assert_int_equal(lw_exec_arg((const uint8_t *)"0='a\0b'", 7, 0, v, sizeof(v), &present),
			 LW_BAD_REQUEST);
	/* longer than the caller takes: refused, not cut */
	assert_int_equal(ARG("0='0123456789abcdef'", 0), LW_BAD_REQUEST);
	assert_int_equal(ARG("0='0123456789abcde'", 0), 0);
	/* a long value of another digit is only checked */
	assert_int_equal(ARG("1='0123456789abcdef0123',0='ok'", 0), 0);
	assert_string_equal(v, "ok");
#undef ARG
}

static void test_objects_table(void **state)
{
	static const uint16_t ids[] = { 0, 1, 3, 4, 6, LW_OBJ_M2M_VPN, 5, LW_OBJ_M2M_POLICY };
	struct m2m_vpn_profile prof[2] = { { .name = "a" }, { .name = "b" } };
	struct m2m_config cfg = { 0 };
	struct lw_objects objs;
	struct lw_registry r = { 0 };
	struct lw_buf b = { 0 };

	(void)state;
	cfg.dm.lifetime_ms = 60000;
	cfg.profiles = prof;
	cfg.n_profiles = 2;
	assert_int_equal(lw_objects_init(&objs, &cfg, &r), 0);
	assert_int_equal(r.n, sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.obj[i]->id, ids[i]);
	assert_true(r.obj[0]->hidden);
	assert_int_equal(lw_registry_find(&r, 6)->n_inst, 0); /* no dm.location */
	assert_int_equal(lw_registry_find(&r, LW_OBJ_M2M_VPN)->n_inst, 2);
	assert_int_equal(lw_registry_find(&r, 5)->n_inst, 0); /* no update: section */
	assert_int_equal(objs.lifetime_s, 60);
	lw_register_links(&r, &b);
	assert_string_equal((char *)b.p, "</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,"
					 "</3>;ver=1.1,</3/0>,</4/0>,</6>,</33810/0>,</33810/1>,</5>,</33811/0>");
	lw_buf_free(&b);
	lw_objects_free(&objs);
}

/*
 * The Device object's Firmware Version (/3/0/3, TS 1.1 Core E.4: "Current
 * firmware version of the Device"): the firmware package the update engine
 * last committed (update.firmware in the state directory), the running kernel
 * until one was, or without an update: section.
 */
static void test_device_firmware_version(void **state)
{
	struct m2m_update_config up = { 0 };
	struct m2m_config cfg = { 0 };
	struct lw_objects objs;
	struct lw_registry r = { 0 };
	struct lw_records rs = { 0 };
	struct lw_path p = P("/3/0/3");
	struct m2m_state st;
	struct m2m_err err = { 0 };
	struct utsname u;
	char dir[] = "/tmp/m2m-test-fwv-XXXXXX", kernel[600];
	static const char rec[] = "{\"name\":\"gate-fw\",\"version\":\"2.4.2\",\"slot\":\"B\"}";

	(void)state;
	assert_int_equal(uname(&u), 0);
	snprintf(kernel, sizeof(kernel), "%s %s", u.sysname, u.release);
	assert_non_null(mkdtemp(dir));
	cfg.dm.lifetime_ms = 60000;
	cfg.state_dir = dir;
	assert_int_equal(lw_objects_init(&objs, &cfg, &r), 0);
	/* no update: section */
	assert_int_equal(lw_read(&r, &p, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].v.len, strlen(kernel));
	assert_memory_equal(rs.r[0].v.buf, kernel, strlen(kernel));
	lw_records_free(&rs);
	lw_objects_free(&objs);

	/* an update: section, nothing committed yet */
	cfg.update = &up;
	memset(&r, 0, sizeof(r));
	assert_int_equal(lw_objects_init(&objs, &cfg, &r), 0);
	assert_int_equal(lw_read(&r, &p, &rs), 0);
	assert_int_equal(rs.r[0].v.len, strlen(kernel));
	assert_memory_equal(rs.r[0].v.buf, kernel, strlen(kernel));
	lw_records_free(&rs);

	/* a firmware package committed */
	assert_int_equal(m2m_state_open(&st, dir, &err), 0);
	assert_int_equal(m2m_state_write(&st, "update.firmware", rec, strlen(rec), &err), 0);
	assert_int_equal(lw_read(&r, &p, &rs), 0);
	assert_int_equal(rs.r[0].v.len, 5);
	assert_memory_equal(rs.r[0].v.buf, "2.4.2", 5);
	lw_records_free(&rs);

	/* a damaged record: the kernel again, never garbage */
	assert_int_equal(m2m_state_write(&st, "update.firmware", "{\"name\":1}", 10, &err), 0);
	assert_int_equal(lw_read(&r, &p, &rs), 0);
	assert_int_equal(rs.r[0].v.len, strlen(kernel));
	lw_records_free(&rs);
	lw_objects_free(&objs);

	unlinkat(st.dirfd, "update.firmware", 0);
	m2m_state_close(&st);
	assert_int_equal(rmdir(dir), 0);
}

/*
 * After the server's Update (E.6), an install into a slot the device has not
 * booted is carried on by a reboot (the device's reboot hook); an install that
 * needs none (the script installer: its health check ran, committed or rolled
 * back), a failure, or a package still held do not.
 */
static void test_fw_reboot_due(void **state)
{
	struct m2m_update_status st = { .state = M2M_UPDATE_INSTALLED };

	(void)state;
	snprintf(st.slot, sizeof(st.slot), "B");
	assert_true(lw_fw_reboot_due(&st));
	st.slot[0] = 0;
	assert_false(lw_fw_reboot_due(&st));   /* no slot: it runs once installed */
	snprintf(st.slot, sizeof(st.slot), "B");
	st.state = M2M_UPDATE_COMMITTED;
	st.done = true;
	assert_false(lw_fw_reboot_due(&st));
	st.state = M2M_UPDATE_ROLLED_BACK;
	assert_false(lw_fw_reboot_due(&st));
	st.state = M2M_UPDATE_FAILED;
	st.done = false;
	assert_false(lw_fw_reboot_due(&st));
	st.state = M2M_UPDATE_VERIFIED;
	assert_false(lw_fw_reboot_due(&st));
}

static const char obs_state[] =
	"{\"version\":1,\"server\":\"coap://s\",\"endpoint\":\"ep\",\"observations\":["
	"{\"path\":\"/6/0/0\",\"token\":\"2d43a4a6\",\"accept\":0,\"seq\":77,"
	"\"taken\":1000,\"hash\":\"0011223344556677\",\"numeric\":true,\"num\":48.5,"
	"\"notes\":[{\"at\":5,\"cf\":0,\"data\":\"NTAuMw==\"},"
	"{\"at\":6,\"cf\":0,\"data\":\"NTEuNA==\"}]},"
	"{\"path\":\"/3/0\",\"token\":\"zz\",\"accept\":0,\"seq\":1,\"taken\":0,"
	"\"hash\":\"0011223344556677\"}]}";

/* Saved observations: what is read back is what was saved; anything wrong is dropped. */
static void test_obs_state(void **state)
{
	static struct lw_observers s, t;
	char dir[] = "/tmp/m2m-unit-obs.XXXXXX", path[64];
	struct m2m_state st;
	struct m2m_err err;

	(void)state;
	lw_obs_parse(&s, NULL, obs_state, strlen(obs_state), "coap://s", "ep");
	assert_int_equal(s.n, 1); /* the second has a token that is not hex */
	assert_string_equal(s.o[0].path, "/6/0/0");
	assert_int_equal(s.o[0].toklen, 4);
	assert_int_equal(s.o[0].seq, 77);
	assert_int_equal(s.o[0].n_note, 2);
	assert_int_equal(s.o[0].note[1].len, 4);
	assert_memory_equal(s.o[0].note[1].p, "51.4", 4);
	assert_true(s.o[0].numeric);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(m2m_state_open(&st, dir, &err), 0);
	snprintf(path, sizeof(path), "%s/obs.json", dir);
	{
		struct lw_obs_settings set = { .dflt_pmin = 2, .dflt_pmax = 60, .storing = false },
				       back = { 0 };
		struct lw_path ap = { { 6, 0, 0, 0 }, 3 };

		set.attrs[0] = (struct lw_attrs){ .path = ap, .set = LW_A_PMIN | LW_A_GT,
						  .pmin = 5, .gt = 49.25 };
		set.n_attrs = 1;
		assert_int_equal(lw_obs_save(&s, &set, &st, "obs.json", "coap://s", "ep", &err), 0);
		lw_obs_load(&t, &back, &st, "obs.json", "coap://s", "ep");
		assert_true(back.present);
		assert_int_equal(back.dflt_pmin, 2);
		assert_int_equal(back.dflt_pmax, 60);
		assert_false(back.storing);
		assert_int_equal(back.n_attrs, 1);
		assert_int_equal(back.attrs[0].set, LW_A_PMIN | LW_A_GT);
		assert_int_equal(back.attrs[0].pmin, 5);
		assert_true(back.attrs[0].gt == 49.25);
	}
	assert_int_equal(t.n, 1);
	assert_memory_equal(t.o[0].token, s.o[0].token, 4);
	assert_int_equal(t.o[0].n_note, 2);
	assert_memory_equal(t.o[0].note[0].p, "50.3", 4);
	assert_memory_equal(t.o[0].last_hash, s.o[0].last_hash, 8);
	lw_obs_free(&t);
	/* another server or endpoint: not ours */
	lw_obs_load(&t, NULL, &st, "obs.json", "coap://other", "ep");
	assert_int_equal(t.n, 0);
	lw_obs_load(&t, NULL, &st, "obs.json", "coap://s", "ep2");
	assert_int_equal(t.n, 0);
	assert_int_equal(access(path, F_OK), 0); /* not damaged: another server's, kept */
	/* damaged (cut short by hand, or a disk that lost a sector): set aside, none loaded */
	assert_int_equal(truncate(path, 40), 0);
	lw_obs_load(&t, NULL, &st, "obs.json", "coap://s", "ep");
	assert_int_equal(t.n, 0);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/obs.json.bad", dir);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	m2m_state_close(&st);
	rmdir(dir);
	/* truncated, not JSON, empty */
	lw_obs_parse(&t, NULL, obs_state, strlen(obs_state) / 2, "coap://s", "ep");
	assert_int_equal(t.n, 0);
	lw_obs_parse(&t, NULL, "\x01\xff", 2, "coap://s", "ep");
	assert_int_equal(t.n, 0);
	lw_obs_parse(&t, NULL, "", 0, "coap://s", "ep");
	assert_int_equal(t.n, 0);
	lw_obs_free(&s);

	/* the age of the last value survives a reboot: taken a day before this boot began */
	{
		char text[512];
		int64_t wall = (int64_t)time(NULL) * 1000, mono = (int64_t)m2m_now_ms();
		int64_t day = 86400000, age;

		snprintf(text, sizeof(text),
			 "{\"version\":1,\"server\":\"coap://s\",\"endpoint\":\"ep\","
			 "\"observations\":[{\"path\":\"/6/0/0\",\"token\":\"01\",\"accept\":0,"
			 "\"seq\":1,\"taken\":%lld,\"hash\":\"0011223344556677\"}]}",
			 (long long)(wall - mono - day));
		lw_obs_parse(&s, NULL, text, strlen(text), "coap://s", "ep");
		assert_int_equal(s.n, 1);
		assert_true(s.o[0].last_ms < 0);
		age = (int64_t)m2m_now_ms() - s.o[0].last_ms;
		assert_true(age > mono + day - 5000 && age < mono + day + 5000);
		lw_obs_free(&s);
	}
}

/*
 * How long the serving loop may sleep for its observations: until pmin ends
 * (nothing can be sent before), then a sample every LW_OBS_SAMPLE_MS, and
 * pmax when it comes first; the defaults when the path has no attributes.
 */
static void test_obs_next(void **state)
{
	static struct lw_observers s;
	struct lw_path p = P("/9/0/1");
	int64_t now = (int64_t)m2m_now_ms();
	uint64_t n;

	(void)state;
	assert_true(lw_obs_next_ms(&s, &reg, 0, 0) == UINT64_MAX); /* none: no bound from them */
	s.n = 1;
	s.o[0].p = p;
	/* no attributes, no defaults: the next sample */
	s.o[0].last_ms = now;
	assert_int_equal(lw_obs_next_ms(&s, &reg, 0, 0), LW_OBS_SAMPLE_MS);
	/* the default pmin (Server resource 2): not before it ends */
	n = lw_obs_next_ms(&s, &reg, 5, 0);
	assert_true(n > 4900 && n <= 5000);
	s.o[0].last_ms = now - 4800;
	n = lw_obs_next_ms(&s, &reg, 5, 0);
	assert_true(n > 100 && n <= 200);
	/* pmin over: sampled */
	s.o[0].last_ms = now - 6000;
	assert_int_equal(lw_obs_next_ms(&s, &reg, 5, 0), LW_OBS_SAMPLE_MS);
	/* a pmax that comes before the next sample */
	s.o[0].last_ms = now - 5500;
	n = lw_obs_next_ms(&s, &reg, 5, 6);
	assert_true(n > 400 && n <= 500);
	s.o[0].last_ms = now - 5600;
	n = lw_obs_next_ms(&s, &reg, 0, 6);
	assert_true(n > 300 && n <= 400);
	/* a pmax passed already (the tick could not send: offline, say): the next sample */
	s.o[0].last_ms = now - 9000;
	assert_int_equal(lw_obs_next_ms(&s, &reg, 0, 6), LW_OBS_SAMPLE_MS);
	/* a pmax not above pmin counts for nothing: pmin's end */
	s.o[0].last_ms = now - 6000;
	n = lw_obs_next_ms(&s, &reg, 10, 5);
	assert_true(n > 3900 && n <= 4000);
	/* the path's own attributes win over the defaults */
	assert_int_equal(lw_write_attrs(&reg, &p, "pmin=30&pmax=60", 15), 0);
	s.o[0].last_ms = now;
	n = lw_obs_next_ms(&s, &reg, 5, 6);
	assert_true(n > 29900 && n <= 30000);
	/* the soonest of several */
	s.n = 2;
	s.o[1].p = P("/9/0/2");
	s.o[1].last_ms = now - 2500;
	n = lw_obs_next_ms(&s, &reg, 3, 0);
	assert_true(n > 400 && n <= 500);
}

/*
 * A reset of a notification (RFC 7641 3.6) of an observation made in an
 * earlier run: lost, kept across runs until the server observes the path
 * again; one made in this run is only cancelled.
 */
static void test_obs_lost(void **state)
{
	static struct lw_observers s, t;
	char dir[] = "/tmp/m2m-unit-lost.XXXXXX", path[64];
	struct m2m_coap_msg req = { .toklen = 2, .token = { 0xab, 0xcd }, .accept = M2M_COAP_NONE };
	struct lw_path p = { { 3, 0, 13, 0 }, 3 };
	struct lw_records rs = { 0 };
	static const uint8_t tok[] = { 0x2d, 0x43, 0xa4, 0xa6 };
	struct m2m_state st;
	struct m2m_err err;
	uint32_t seq;

	(void)state;
	lw_obs_parse(&s, NULL, obs_state, strlen(obs_state), "coap://s", "ep");
	assert_int_equal(s.n, 1);
	snprintf(req.path, sizeof(req.path), "/3/0/13");
	assert_true(lw_obs_take(&s, &req, &p, &rs, (const uint8_t *)"1", 1, &seq));
	assert_int_equal(s.n, 2);
	/* made in this run: a cancel, nothing lost */
	lw_obs_failed(&s, req.token, req.toklen, true);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_lost, 0);
	/* not a reset (no answer): the server is out of reach, nothing ends */
	lw_obs_failed(&s, tok, sizeof(tok), false);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.n_lost, 0);
	/* made in an earlier run (loaded): lost */
	lw_obs_failed(&s, tok, sizeof(tok), true);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.n_lost, 1);
	assert_string_equal(s.lost[0].path, "/6/0/0");
	assert_true(s.lost[0].at > 1700000000000ull);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(m2m_state_open(&st, dir, &err), 0);
	assert_int_equal(lw_obs_save(&s, &(struct lw_obs_settings){ 0 }, &st, "obs.json",
				     "coap://s", "ep", &err), 0);
	lw_obs_load(&t, NULL, &st, "obs.json", "coap://s", "ep");
	assert_int_equal(t.n_lost, 1);
	assert_string_equal(t.lost[0].path, "/6/0/0");
	assert_true(t.lost[0].at == s.lost[0].at);
	/* the server observes it again: no longer lost */
	snprintf(req.path, sizeof(req.path), "/6/0/0");
	p = (struct lw_path){ { 6, 0, 0, 0 }, 3 };
	assert_true(lw_obs_take(&t, &req, &p, &rs, (const uint8_t *)"1", 1, &seq));
	assert_int_equal(t.n_lost, 0);
	/* and a new registration starts over */
	s.lost[0].at = 1;
	lw_obs_clear(&s);
	assert_int_equal(s.n_lost, 0);
	lw_obs_free(&t);
	lw_obs_free(&s);
	snprintf(path, sizeof(path), "%s/obs.json", dir);
	unlink(path);
	m2m_state_close(&st);
	rmdir(dir);
}

/* A float becomes an integer only when it is one, and in range. */
static void test_coerce_float(void **state)
{
	struct lw_value v = { .type = LW_FLOAT, .f = 3.0 };

	(void)state;
	assert_int_equal(lw_value_coerce(&v, LW_INTEGER), 0);
	assert_int_equal(v.i, 3);
	v = (struct lw_value){ .type = LW_FLOAT, .f = -7.0 };
	assert_int_equal(lw_value_coerce(&v, LW_INTEGER), 0);
	assert_int_equal(v.i, -7);
	v = (struct lw_value){ .type = LW_FLOAT, .f = 3.5 };
	assert_int_not_equal(lw_value_coerce(&v, LW_INTEGER), 0);
	v = (struct lw_value){ .type = LW_FLOAT, .f = 1e19 };
	assert_int_not_equal(lw_value_coerce(&v, LW_INTEGER), 0);
	v = (struct lw_value){ .type = LW_FLOAT, .f = 1e19 };
	assert_int_equal(lw_value_coerce(&v, LW_UNSIGNED), 0);
	assert_true(v.u == 10000000000000000000ull);
	v = (struct lw_value){ .type = LW_FLOAT, .f = -1.0 };
	assert_int_not_equal(lw_value_coerce(&v, LW_UNSIGNED), 0);
	v = (struct lw_value){ .type = LW_FLOAT, .f = 0.0 / 0.0 };
	assert_int_not_equal(lw_value_coerce(&v, LW_INTEGER), 0);
	v = (struct lw_value){ .type = LW_FLOAT, .f = 0.0 / 0.0 };
	assert_int_not_equal(lw_value_coerce(&v, LW_UNSIGNED), 0);
}

static void put_text(const char *dir, const char *file, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool has_file(const char *dir, const char *file)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static void rm_dir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * The bootstrap result read back is what was saved; a damaged one (a null
 * where the key was) is set aside and taken as none: the next run
 * bootstraps again.
 */
static void test_bs_state(void **state)
{
	char dir[] = "/tmp/m2m-unit-bs.XXXXXX", path[64];
	struct m2m_config cfg = { 0 };
	struct lw_bs_server s = { .uri = "coaps://dm.example:5684", .mode = 0, .ssid = 7,
				  .lifetime = 300, .binding = "UQ" }, back;
	struct m2m_err err;
	json_object *o;
	struct stat sb;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cfg.state_dir = dir;
	memcpy(s.identity, "dev1", 4);
	s.id_len = 4;
	memcpy(s.secret, "\x01\x02\x03", 3);
	s.secret_len = 3;
	s.sec_inst = 2;
	s.srv_inst = 3;
	s.dflt_pmax = 30;
	s.dflt_pmin = 5; /* not written: not kept */
	s.notif_storing = false;
	s.has = LW_BS_HAS_PMAX | LW_BS_HAS_STORING;
	assert_int_equal(lw_bs_load(&cfg, &back), M2M_ERR_NOT_FOUND);
	assert_int_equal(lw_bs_save(&cfg, &s, &err), 0);
	snprintf(path, sizeof(path), "%s/dm-bootstrap.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(lw_bs_load(&cfg, &back), 0);
	assert_string_equal(back.uri, s.uri);
	assert_int_equal(back.ssid, 7);
	assert_int_equal(back.lifetime, 300);
	assert_string_equal(back.binding, "UQ");
	assert_int_equal(back.id_len, 4);
	assert_memory_equal(back.secret, s.secret, 3);
	/* the instance IDs and the Server resources written (TS 1.1 Core appendix E) */
	assert_int_equal(back.sec_inst, 2);
	assert_int_equal(back.srv_inst, 3);
	assert_int_equal(back.has, LW_BS_HAS_PMAX | LW_BS_HAS_STORING);
	assert_int_equal(back.dflt_pmax, 30);
	assert_false(back.notif_storing);
	assert_int_equal(back.dflt_pmin, 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(lw_state_read_json(&cfg, "dm-bootstrap.json", 65536, NULL, NULL, &o,
						    &err), 0);
		assert_non_null(o);
		json_object_put(o);
	}
	/* as earlier versions wrote it: instance 0 of both, Short Server ID 1 if none */
	put_text(dir, "dm-bootstrap.json", "{\"uri\":\"coap://dm.example\",\"ssid\":0}");
	assert_int_equal(lw_bs_load(&cfg, &back), 0);
	assert_int_equal(back.sec_inst, 0);
	assert_int_equal(back.srv_inst, 0);
	assert_int_equal(back.ssid, 1);
	assert_int_equal(back.has, 0);
	put_text(dir, "dm-bootstrap.json", "{\"uri\":\"coaps://dm.example:5684\",\"secret\":null}");
	assert_int_equal(lw_bs_load(&cfg, &back), M2M_ERR_NOT_FOUND);
	assert_false(has_file(dir, "dm-bootstrap.json"));
	assert_true(has_file(dir, "dm-bootstrap.json.bad"));
	assert_int_equal(back.uri[0], 0); /* nothing of it kept */
	assert_int_equal(lw_bs_load(&cfg, &back), M2M_ERR_NOT_FOUND);
	rm_dir(dir);
}

/*
 * The registration as earlier versions wrote it reads back; a damaged one is
 * set aside and taken as none (the client registers afresh), and the status
 * says so as its last error. A reader creates no state directory.
 */
static void test_reg_state(void **state)
{
	char dir[] = "/tmp/m2m-unit-reg.XXXXXX", sub[64], text[512];
	struct m2m_config cfg = { 0 };
	struct m2m_dm_state st;
	long long now = (long long)time(NULL);

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/state", dir);
	cfg.state_dir = sub;
	assert_int_equal(m2m_dm_state_load(&cfg, &st), M2M_ERR_NOT_FOUND);
	assert_false(has_file(dir, "state"));
	cfg.state_dir = dir;
	snprintf(text, sizeof(text),
		 "{\n  \"server\":\"coap://s\",\n  \"endpoint\":\"ep\",\n  \"location\":\"/rd/5a3f\","
		 "\n  \"registered_at\":%lld,\n  \"lifetime\":300,\n  \"binding\":\"UQ\","
		 "\n  \"last_attempt\":%lld,\n  \"last_rc\":0,\n  \"last_error\":\"\","
		 "\n  \"links\":\"</3/0>\"\n}",
		 now, now);
	put_text(dir, "dm-registration.json", text);
	assert_int_equal(m2m_dm_state_load(&cfg, &st), 0);
	assert_true(st.registered);
	assert_string_equal(st.location, "/rd/5a3f");
	assert_string_equal(st.binding, "UQ");
	assert_int_equal(st.lifetime_s, 300);
	/* cut short (a disk that lost its last sector) */
	text[strlen(text) / 2] = 0;
	put_text(dir, "dm-registration.json", text);
	assert_int_equal(m2m_dm_state_load(&cfg, &st), M2M_ERR_NOT_FOUND);
	assert_false(st.registered);
	assert_int_equal(st.location[0], 0);
	assert_int_equal(st.last_rc, M2M_ERR_FAILURE);
	assert_non_null(strstr(st.last_error, "dm-registration.json is damaged (moved to "
					       "dm-registration.json.bad)"));
	assert_false(has_file(dir, "dm-registration.json"));
	assert_true(has_file(dir, "dm-registration.json.bad"));
	/* the next read finds none: a Register, not an Update */
	assert_int_equal(m2m_dm_state_load(&cfg, &st), M2M_ERR_NOT_FOUND);
	assert_int_equal(st.last_rc, 0);
	/* JSON, but not a registration */
	put_text(dir, "dm-registration.json", "{\"server\":\"coap://s\",\"location\":7}");
	assert_int_equal(m2m_dm_state_load(&cfg, &st), M2M_ERR_NOT_FOUND);
	assert_non_null(strstr(st.last_error, "no \"endpoint\""));
	rm_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_text),
		cmocka_unit_test_setup(test_tlv, setup),
		cmocka_unit_test_setup(test_senml_json, setup),
		cmocka_unit_test_setup(test_senml_cbor, setup),
		cmocka_unit_test(test_link),
		cmocka_unit_test_setup(test_operations, setup),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_vpn_ddf),
		cmocka_unit_test(test_policy_ddf),
		cmocka_unit_test(test_exec_arg),
		cmocka_unit_test(test_objects_table),
		cmocka_unit_test(test_device_firmware_version),
		cmocka_unit_test(test_fw_reboot_due),
		cmocka_unit_test(test_obs_state),
		cmocka_unit_test(test_obs_lost),
		cmocka_unit_test_setup(test_obs_next, setup),
		cmocka_unit_test(test_coerce_float),
		cmocka_unit_test(test_bs_state),
		cmocka_unit_test(test_reg_state),
		cmocka_unit_test(test_composite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
