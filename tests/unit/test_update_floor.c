/* SPDX-License-Identifier: MIT */
/*
 * The TPM floor's encoding (lib/update/floor.h), without a TPM: a set of
 * floors that is only ever raised, one copy encoded and decoded back, every
 * kind of damage refused, a copy torn at every byte, the choice between the
 * two copies of the index, the index full; and update.floor in m2m.yaml(5).
 * The TPM itself: tests/integration/306-update-floor-tpm.t.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/config.h"
#include "state/state.h"
#include "update/floor.h"

static struct upd_version ver(const char *s)
{
	struct upd_version v;

	assert_true(upd_version_parse(s, &v));
	return v;
}

static void raise_to(struct upd_floor_set *s, const char *name, const char *v, int want)
{
	struct upd_version x = ver(v);

	assert_int_equal(upd_floor_set_raise(s, name, &x), want);
}

static void assert_floor(const struct upd_floor_set *s, const char *name, const char *v)
{
	const struct upd_version *got = upd_floor_set_get(s, name);
	struct upd_version want;

	if (!v) {
		assert_null(got);
		return;
	}
	want = ver(v);
	assert_non_null(got);
	assert_int_equal(upd_version_cmp(got, &want), 0);
	assert_int_equal(got->n, want.n);
}

static void test_set_only_raised(void **state)
{
	struct upd_floor_set s = { 0 };

	assert_floor(&s, "fw", NULL);
	raise_to(&s, "fw", "2.4.1", 1);
	raise_to(&s, "fw", "2.4.1", 0);   /* the same again: nothing */
	raise_to(&s, "fw", "2.4.0.9", 0); /* lower: nothing */
	raise_to(&s, "fw", "2.4.1.0", 0); /* equal ("2.4.1" == "2.4.1.0") */
	assert_floor(&s, "fw", "2.4.1");
	raise_to(&s, "fw", "10.0", 1);
	assert_floor(&s, "fw", "10.0");
	raise_to(&s, "app", "1", 1);
	raise_to(&s, "zz", "3.2", 1);
	assert_int_equal(s.n, 3);
	/* sorted by name */
	assert_string_equal(s.e[0].name, "app");
	assert_string_equal(s.e[1].name, "fw");
	assert_string_equal(s.e[2].name, "zz");
}

static void test_set_full(void **state)
{
	static struct upd_floor_set s;
	char name[16];

	for (int i = 0; i < UPD_FLOOR_NAMES_MAX; i++) {
		snprintf(name, sizeof(name), "p%03d", i);
		raise_to(&s, name, "1", 1);
	}
	raise_to(&s, "p000", "2", 1); /* a known name is still raised */
	raise_to(&s, "q", "1", -1);   /* a new one: full, never dropped silently */
	assert_int_equal(s.n, UPD_FLOOR_NAMES_MAX);
	assert_floor(&s, "q", NULL);
}

static void sample(struct upd_floor_set *s)
{
	memset(s, 0, sizeof(*s));
	raise_to(s, "pos-firmware", "2.4.1", 1);
	raise_to(s, "pos-app", "999999999.0.999999999.7", 1);
	raise_to(s, "cfg", "1", 1);
}

static void test_copy_roundtrip(void **state)
{
	struct upd_floor_set s, d;
	uint8_t buf[512];
	size_t len;
	uint32_t gen;

	sample(&s);
	assert_int_equal(upd_floor_copy_encode(&s, 7, buf, sizeof(buf), &len, NULL), M2M_OK);
	/* 16 + (2+12+12) + (2+7+16) + (2+3+4) */
	assert_int_equal(len, 16 + 26 + 25 + 9);
	assert_memory_equal(buf, "m2mF\x01\x03\x00\x00\x00\x07", 10);
	memset(buf + len, 0xff, sizeof(buf) - len); /* the rest of the half is not looked at */
	assert_int_equal(upd_floor_copy_decode(buf, sizeof(buf), &d, &gen), UPD_COPY_VALID);
	assert_int_equal(gen, 7);
	assert_int_equal(d.n, 3);
	assert_floor(&d, "pos-firmware", "2.4.1");
	assert_floor(&d, "pos-app", "999999999.0.999999999.7");
	assert_floor(&d, "cfg", "1");
	/* no floors at all is a valid copy too (not "empty") */
	memset(&s, 0, sizeof(s));
	assert_int_equal(upd_floor_copy_encode(&s, 1, buf, sizeof(buf), &len, NULL), M2M_OK);
	assert_int_equal(len, 16);
	assert_int_equal(upd_floor_copy_decode(buf, len, &d, &gen), UPD_COPY_VALID);
	assert_int_equal(d.n, 0);
}

static void test_copy_empty(void **state)
{
	struct upd_floor_set d;
	uint8_t buf[64];
	uint32_t gen;

	memset(buf, 0xff, sizeof(buf)); /* what a TPM reads where nothing was written */
	assert_int_equal(upd_floor_copy_decode(buf, sizeof(buf), &d, &gen), UPD_COPY_EMPTY);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(upd_floor_copy_decode(buf, sizeof(buf), &d, &gen), UPD_COPY_EMPTY);
}

/* encode, change one thing with a fixed CRC, expect DAMAGED */
static void reseal(uint8_t *buf, size_t len)
{
	uint32_t c = (uint32_t)m2m_crc32(buf, len - 4);

	buf[len - 4] = (uint8_t)(c >> 24);
	buf[len - 3] = (uint8_t)(c >> 16);
	buf[len - 2] = (uint8_t)(c >> 8);
	buf[len - 1] = (uint8_t)c;
}

static void test_copy_damaged(void **state)
{
	struct upd_floor_set s, d;
	uint8_t good[512], buf[512];
	size_t len;
	uint32_t gen;

	sample(&s);
	assert_int_equal(upd_floor_copy_encode(&s, 3, good, sizeof(good), &len, NULL), M2M_OK);
#define DAMAGED(what)                                                                              \
	do {                                                                                       \
		memcpy(buf, good, sizeof(buf));                                                    \
		what;                                                                              \
		assert_int_equal(upd_floor_copy_decode(buf, len, &d, &gen), UPD_COPY_DAMAGED);     \
	} while (0)
	DAMAGED(buf[20] ^= 1);                              /* a flipped bit: the CRC */
	DAMAGED(buf[len - 1] ^= 1);                         /* the CRC itself */
	DAMAGED(memcpy(buf, "m2mG", 4); reseal(buf, len));  /* another magic */
	DAMAGED(buf[4] = 2; reseal(buf, len));              /* another format */
	DAMAGED(buf[5] = 4; reseal(buf, len));              /* more entries than there are */
	DAMAGED(buf[5] = 2; reseal(buf, len));              /* bytes left after the entries */
	DAMAGED(buf[5] = UPD_FLOOR_NAMES_MAX + 1);          /* too many */
	DAMAGED(buf[11] = 0xff);                            /* a length past the half */
	DAMAGED(buf[12] = 0; reseal(buf, len));             /* an empty name */
	DAMAGED(buf[12] = 64; reseal(buf, len));            /* a name too long */
	DAMAGED(buf[13] = '/'; reseal(buf, len));           /* a character not in names */
	DAMAGED(buf[16] = 0; reseal(buf, len));             /* "cfg" then 0 parts */
	DAMAGED(buf[16] = 5; reseal(buf, len));             /* 5 parts */
	DAMAGED(buf[17] = 0x3c; buf[18] = 0x9a; buf[19] = 0xca; buf[20] = 0x00;
		reseal(buf, len));                          /* 1000000000: 10 digits */
	/* names out of order: "cfg" becomes "zfg", before "pos-app" */
	DAMAGED(buf[13] = 'z'; reseal(buf, len));
#undef DAMAGED
	/* a name twice */
	{
		struct upd_floor_set two = { 0 };

		raise_to(&two, "aa", "1", 1);
		raise_to(&two, "ab", "1", 1);
		assert_int_equal(upd_floor_copy_encode(&two, 1, buf, sizeof(buf), &len, NULL), M2M_OK);
		buf[12 + 1 + 2 + 1 + 4 + 2] = 'a'; /* the second name becomes "aa" too */
		reseal(buf, len);
		assert_int_equal(upd_floor_copy_decode(buf, len, &d, &gen), UPD_COPY_DAMAGED);
	}
}

/* a write cut at every byte: the half is the new copy's prefix over the old one's bytes */
static void test_copy_torn(void **state)
{
	struct upd_floor_set olds, news, d;
	uint8_t oldb[256], newb[256], buf[256];
	size_t olen, nlen;
	uint32_t gen;

	sample(&olds);
	news = olds;
	raise_to(&news, "pos-firmware", "2.5", 1);
	raise_to(&news, "extra", "4.4.4.4", 1);
	memset(oldb, 0xff, sizeof(oldb));
	memset(newb, 0xff, sizeof(newb));
	assert_int_equal(upd_floor_copy_encode(&olds, 1, oldb, sizeof(oldb), &olen, NULL), M2M_OK);
	assert_int_equal(upd_floor_copy_encode(&news, 3, newb, sizeof(newb), &nlen, NULL), M2M_OK);
	for (size_t cut = 0; cut < nlen; cut++) {
		enum upd_floor_copy c;

		memcpy(buf, oldb, sizeof(buf));
		memcpy(buf, newb, cut);
		c = upd_floor_copy_decode(buf, sizeof(buf), &d, &gen);
		/* never a valid copy that is neither: never half of each */
		if (c == UPD_COPY_VALID && gen == 3)
			fail_msg("cut at %zu: taken for the new copy", cut);
		if (c == UPD_COPY_VALID) {
			assert_int_equal(gen, 1);
			assert_int_equal(d.n, olds.n);
		}
	}
	memcpy(buf, newb, sizeof(buf));
	assert_int_equal(upd_floor_copy_decode(buf, sizeof(buf), &d, &gen), UPD_COPY_VALID);
	assert_int_equal(gen, 3);
}

static void test_pick(void **state)
{
	const enum upd_floor_copy E = UPD_COPY_EMPTY, V = UPD_COPY_VALID, D = UPD_COPY_DAMAGED;

	assert_int_equal(upd_floor_copy_pick(V, 1, E, 0), 0); /* the first write */
	assert_int_equal(upd_floor_copy_pick(V, 1, V, 2), 1);
	assert_int_equal(upd_floor_copy_pick(V, 3, V, 2), 0);
	assert_int_equal(upd_floor_copy_pick(V, 3, D, 0), 0); /* a write into B was cut */
	assert_int_equal(upd_floor_copy_pick(D, 0, V, 2), 1);
	assert_int_equal(upd_floor_copy_pick(V, 2, V, 2), -1); /* never written so by us */
	assert_int_equal(upd_floor_copy_pick(D, 0, D, 0), -1);
	assert_int_equal(upd_floor_copy_pick(E, 0, E, 0), -1); /* written, yet nothing: damaged */
	/* the first write (into the first half) cut: there were no floors yet */
	assert_int_equal(upd_floor_copy_pick(D, 0, E, 0), 2);
	assert_int_equal(upd_floor_copy_pick(E, 0, D, 0), -1);
}

static void test_copy_full(void **state)
{
	static struct upd_floor_set s;
	uint8_t buf[512];
	struct m2m_err err = { 0 };
	size_t len, n = 0;
	char name[64];

	/* 63-character names, 4 parts: 16 + k * (2 + 63 + 16) bytes; 6 fit in 512, 7 do not */
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "%063d", i);
		raise_to(&s, name, "1.2.3.4", 1);
		if (upd_floor_copy_encode(&s, 1, buf, sizeof(buf), &len, &err) == M2M_OK)
			n++;
	}
	assert_int_equal(n, 6);
	assert_int_equal(upd_floor_copy_encode(&s, 1, buf, sizeof(buf), &len, &err), M2M_ERR_STORAGE);
	assert_int_equal(len, 0);
	assert_string_equal(err.msg, "7 package names need 583 bytes, 512 are there");
}

/* ---- update.floor in m2m.yaml */

#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"device:\n"                                                                                \
	"  id: dev1.lab\n"                                                                         \
	"  model: pos-a\n"                                                                         \
	"update:\n"                                                                                \
	"  trust: /ca.pem\n"

static int parse(const char *extra, struct m2m_config **cfg, struct m2m_err *err)
{
	char *yaml;
	int rc;

	assert_true(asprintf(&yaml, "%s%s", BASE, extra) > 0);
	rc = m2m_config_parse("m2m.yaml", yaml, strlen(yaml), cfg, err);
	free(yaml);
	return rc;
}

static void test_config(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} bad[] = {
		{ "  floor: tpm\n",
		  "m2m.yaml:7:10: update.floor: invalid floor 'tpm'; expected file, or a mapping with "
		  "tpm: {index, tcti}" },
		{ "  floor: {}\n",
		  "m2m.yaml:7:10: update.floor: an empty mapping; expected file, or a mapping with tpm: "
		  "{index, tcti}" },
		{ "  floor: {tpm: {tcti: \"swtpm:path=/run/s\"}}\n",
		  "m2m.yaml:7:11: update.floor.tpm.index: missing; expected the NV index that holds "
		  "the floors, such as 0x01800f00" },
		{ "  floor: {tpm: 3}\n",
		  "m2m.yaml:7:16: update.floor.tpm: got '3'; expected a mapping with index and "
		  "optionally tcti" },
		{ "  floor: {file: x}\n",
		  "m2m.yaml:7:11: update.floor: unknown key 'file'; expected one of tpm" },
		{ "  floor: {tpm: {index: 0x81010002}}\n",
		  "m2m.yaml:7:24: update.floor.tpm.index: invalid NV index '0x81010002'; expected an NV "
		  "index in hex, 0x01000000 to 0x01bfffff" },
		{ "  floor: {tpm: {index: 25169664}}\n",
		  "m2m.yaml:7:24: update.floor.tpm.index: invalid NV index '25169664'; expected an NV "
		  "index in hex, 0x01000000 to 0x01bfffff" },
		{ "  floor: {tpm: {index: 0x01c00002}}\n",
		  "m2m.yaml:7:24: update.floor.tpm.index: NV index '0x01c00002' is the TCG's "
		  "(endorsement and platform certificates); expected an NV index in hex, 0x01000000 to "
		  "0x01bfffff" },
		{ "  floor: {tpm: {index: 0x01800f00, tcti: \"cmd:tpm2-sim\"}}\n",
		  NULL /* the TCTI's own message: checked for the path only */ },
	};
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };

	assert_int_equal(parse("", &cfg, &err), M2M_OK);
	assert_false(cfg->update->floor_tpm);
	m2m_config_free(cfg);
	assert_int_equal(parse("  floor: file\n", &cfg, &err), M2M_OK);
	assert_false(cfg->update->floor_tpm);
	m2m_config_free(cfg);
	assert_int_equal(parse("  floor:\n    tpm:\n      tcti: \"swtpm:path=/run/swtpm.sock\"\n"
			       "      index: 0x01800F00\n", &cfg, &err), M2M_OK);
	assert_true(cfg->update->floor_tpm);
	assert_string_equal(cfg->update->floor_tcti, "swtpm:path=/run/swtpm.sock");
	assert_int_equal(cfg->update->floor_index, 0x01800f00);
	m2m_config_free(cfg);
	assert_int_equal(parse("  floor: {tpm: {index: 0x01000000}}\n", &cfg, &err), M2M_OK);
	assert_null(cfg->update->floor_tcti); /* the default TCTI */
	assert_int_equal(cfg->update->floor_index, 0x01000000);
	m2m_config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = (struct m2m_config *)1;
		assert_int_equal(parse(bad[i].yaml, &cfg, &err), M2M_ERR_CONFIG);
		assert_null(cfg);
		if (bad[i].msg)
			assert_string_equal(err.msg, bad[i].msg);
		else
			assert_non_null(strstr(err.msg, "update.floor.tpm.tcti"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_only_raised),
		cmocka_unit_test(test_set_full),
		cmocka_unit_test(test_copy_roundtrip),
		cmocka_unit_test(test_copy_empty),
		cmocka_unit_test(test_copy_damaged),
		cmocka_unit_test(test_copy_torn),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_copy_full),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
