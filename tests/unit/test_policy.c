/* SPDX-License-Identifier: MIT */
/*
 * lib/policy's fence and audit log: distances against known ones, every
 * verdict of a fix, and a chain that shows a record changed, removed or put
 * in between, survives a torn last line and rotates without a break.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/config.h"
#include "m2m/policy.h"
#include "policy/policy_int.h"
#include "state/state.h"

/* ---- the fence ---- */

static void test_distance(void **state)
{
	/* a degree of latitude on the IUGG mean sphere: 6371008.8 * pi / 180 */
	assert_true(fabs(pol_distance_m(0, 0, 1, 0) - 111195.08) < 1);
	/* Paris (Notre-Dame) to London (Charing Cross): 343.5 km on the sphere */
	assert_true(fabs(pol_distance_m(48.8530, 2.3499, 51.5080, -0.1247) / 1000 - 343.5) < 1.0);
	/* short distances keep their digits: 1e-5 degree of latitude is 1.11 m */
	assert_true(fabs(pol_distance_m(48.8566, 2.3522, 48.85661, 2.3522) - 1.112) < 0.01);
	/* across the antimeridian and through a pole */
	assert_true(fabs(pol_distance_m(0, 179.9, 0, -179.9) - 22239.0) < 1);
	assert_true(fabs(pol_distance_m(89, 0, 89, 180) - 2 * 111195.08) < 1);
	assert_true(pol_distance_m(10, 20, 10, 20) == 0);
}

static void test_fence(void **state)
{
	struct m2m_policy_config pc = { .fence_lat = 48.8566, .fence_lon = 2.3522,
					.fence_radius_m = 500, .max_age_ms = 60000 };
	/* 100 m east of the centre is 100 / (111195.08 * cos(lat)) degrees of longitude */
	double deg_e = 1.0 / (111195.08 * cos(48.8566 * M_PI / 180));
	struct pol_fix fix = { 3, 48.8566, 2.3522 + 400 * deg_e, NAN, 1000000 };
	char d[192];

	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_HOLDS);
	assert_string_equal(d, "400 m from the fence's centre (radius 500 m)");
	fix.lon = 2.3522 + 600 * deg_e;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000010, d, sizeof(d)), M2M_POLICY_BROKEN);
	assert_string_equal(d, "600 m from the fence's centre (radius 500 m) at 48.85660,2.36040");
	/* 600 m with an error of 150 m could be inside: not outside */
	fix.eph = 150;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_HOLDS);
	fix.eph = 50;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_BROKEN);
	/* an error larger than the fence says nothing */
	fix.eph = 800;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_UNKNOWN);
	assert_string_equal(d, "the fix's error (800 m) is larger than the fence (radius 500 m)");
	fix.eph = NAN;
	/* a fix older than max_age, or from the future by as much, is none */
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000061, d, sizeof(d)), M2M_POLICY_UNKNOWN);
	assert_string_equal(d, "the last fix is 61 s from now (max_age 60 s)");
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000 - 61, d, sizeof(d)), M2M_POLICY_UNKNOWN);
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000060, d, sizeof(d)), M2M_POLICY_BROKEN);
	/* a fix without a time is taken as now (gpsd's POLL gives the last one) */
	fix.time = 0;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000061, d, sizeof(d)), M2M_POLICY_BROKEN);
	/* no fix */
	fix.mode = 1;
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_UNKNOWN);
	assert_string_equal(d, "no fix");
	assert_int_equal(pol_fence_verdict(&pc, NULL, 1000000, d, sizeof(d)), M2M_POLICY_UNKNOWN);
	/* far away: kilometres */
	fix = (struct pol_fix){ 2, 51.5080, -0.1247, NAN, 0 };
	assert_int_equal(pol_fence_verdict(&pc, &fix, 1000000, d, sizeof(d)), M2M_POLICY_BROKEN);
	assert_non_null(strstr(d, "343.5 km from the fence's centre"));
}

/* ---- the audit log ---- */

static char dir[64];

static int setup(void **state)
{
	/* in memory: a rotation writes hundreds of records, each flushed */
	strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/m2m-test-pol.XXXXXX"
						  : "/tmp/m2m-test-pol.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct seen {
	unsigned n, first, last;
	char events[8][16];
};

static int collect(void *ctx, const struct m2m_policy_audit_record *r)
{
	struct seen *s = ctx;

	if (!s->n)
		s->first = r->seq;
	if (s->n < 8)
		snprintf(s->events[s->n], sizeof(s->events[0]), "%s", r->event);
	s->n++;
	s->last = r->seq;
	assert_int_equal(strlen(r->hash), 64);
	return 0;
}

static void open_st(struct m2m_state *st)
{
	struct m2m_err err = { 0 };

	assert_int_equal(m2m_state_open(st, dir, &err), M2M_OK);
}

static char *slurp(const char *name, size_t *len)
{
	char path[160], *buf = NULL;
	struct m2m_err err = { 0 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(m2m_read_file(path, 1 << 20, &buf, len, &err), M2M_OK);
	return buf;
}

static void spill(const char *name, const char *buf, size_t len)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* replace line n (0-based) of the log with rec, its CRC made right: only the chain can tell */
static void forge_line(unsigned n, const char *rec)
{
	size_t len;
	char *buf = slurp(POL_AUDIT_NAME, &len), *out = malloc(len + 4096), *p = buf;
	size_t o = 0;

	for (unsigned i = 0; *p; i++) {
		char *nl = strchr(p, '\n');

		assert_non_null(nl);
		if (i == n)
			o += (size_t)sprintf(out + o, "%08lx %s\n", m2m_crc32(rec, strlen(rec)), rec);
		else {
			memcpy(out + o, p, (size_t)(nl + 1 - p));
			o += (size_t)(nl + 1 - p);
		}
		p = nl + 1;
	}
	spill(POL_AUDIT_NAME, out, o);
	free(out);
	free(buf);
}

static void remove_line(unsigned n)
{
	size_t len, o = 0;
	char *buf = slurp(POL_AUDIT_NAME, &len), *out = malloc(len + 1), *p = buf;

	for (unsigned i = 0; *p; i++) {
		char *nl = strchr(p, '\n');

		if (i != n) {
			memcpy(out + o, p, (size_t)(nl + 1 - p));
			o += (size_t)(nl + 1 - p);
		}
		p = nl + 1;
	}
	spill(POL_AUDIT_NAME, out, o);
	free(out);
	free(buf);
}

static void three(struct m2m_state *st, struct pol_audit *a)
{
	struct m2m_err err = { 0 };

	memset(a, 0, sizeof(*a));
	assert_int_equal(pol_audit_append(st, a, 1000, "broken", "tamper", "the case is open", &err), M2M_OK);
	assert_int_equal(pol_audit_append(st, a, 1001, "quarantine", "tamper", "tamper: the case\x1b[2J is open", &err), M2M_OK);
	assert_int_equal(pol_audit_append(st, a, 1002, "release", "", "released by uid 0: fixed", &err), M2M_OK);
	assert_int_equal(a->seq, 3);
}

static void test_audit_chain(void **state)
{
	struct m2m_state st;
	struct pol_audit a, b;
	struct m2m_err err = { 0 };
	struct seen s = { 0 };
	struct pol_audit_rec r;
	size_t len;
	char *buf;

	open_st(&st);
	three(&st, &a);
	assert_int_equal(pol_audit_read(&st, &b, collect, &s, &err), M2M_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.events[0], "broken");
	assert_string_equal(s.events[2], "release");
	assert_string_equal(a.head, b.head);
	assert_int_equal(b.seq, 3);
	assert_int_equal(b.first_time, 1000);

	/* the records are what they say: JSON, chained, control characters taken out */
	buf = slurp(POL_AUDIT_NAME, &len);
	assert_true(pol_audit_parse(strchr(buf, ' ') + 1, strcspn(strchr(buf, ' ') + 1, "\n"), &r));
	assert_int_equal(r.seq, 1);
	assert_string_equal(r.prev, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_non_null(strstr(buf, "tamper: the case?[2J is open"));
	free(buf);

	/* a record changed (its CRC made right) breaks the chain at the next one */
	forge_line(1, "{\"seq\":2,\"time\":1001,\"event\":\"quarantine\",\"policy\":\"tamper\","
		      "\"detail\":\"nothing happened\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}");
	memset(&s, 0, sizeof(s));
	assert_int_equal(pol_audit_read(&st, &b, collect, &s, &err), M2M_ERR_INTEGRITY);
	assert_string_equal(err.msg, "audit log: policy-audit, line 2 (record 2): does not follow record 1: "
				     "a record was changed, removed or put in between");
	m2m_state_close(&st);
}

static void test_audit_removed(void **state)
{
	struct m2m_state st;
	struct pol_audit a, b;
	struct m2m_err err = { 0 };

	open_st(&st);
	m2m_state_remove(&st, POL_AUDIT_NAME, NULL);
	three(&st, &a);
	remove_line(1);
	assert_int_equal(pol_audit_read(&st, &b, NULL, NULL, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "line 2 (record 3): does not follow record 1"));
	/* the first record removed: the log begins neither with record 1 nor with a rotation */
	m2m_state_remove(&st, POL_AUDIT_NAME, NULL);
	three(&st, &a);
	remove_line(0);
	assert_int_equal(pol_audit_read(&st, &b, NULL, NULL, &err), M2M_ERR_INTEGRITY);
	assert_string_equal(err.msg, "audit log: policy-audit, line 1 (record 2): the log does not begin "
				     "with its first record or a rotation: records were removed at its start");
	m2m_state_close(&st);
}

static void test_audit_torn(void **state)
{
	struct m2m_state st;
	struct pol_audit a, b;
	struct m2m_err err = { 0 };
	size_t len;
	char *buf;

	open_st(&st);
	m2m_state_remove(&st, POL_AUDIT_NAME, NULL);
	three(&st, &a);
	/* the power went while the third was written: half of it */
	buf = slurp(POL_AUDIT_NAME, &len);
	spill(POL_AUDIT_NAME, buf, len - 40);
	free(buf);
	assert_int_equal(pol_audit_read(&st, &b, NULL, NULL, &err), M2M_OK);
	assert_int_equal(b.seq, 2);
	/* the next record chains to the last whole one */
	assert_int_equal(pol_audit_append(&st, &b, 1003, "boot", "", "again", &err), M2M_OK);
	assert_int_equal(pol_audit_read(&st, &a, NULL, NULL, &err), M2M_OK);
	assert_int_equal(a.seq, 3);
	/* a damaged line before a whole one is not a power cut */
	buf = slurp(POL_AUDIT_NAME, &len);
	buf[3] = buf[3] == '0' ? '1' : '0';
	spill(POL_AUDIT_NAME, buf, len);
	free(buf);
	assert_int_equal(pol_audit_read(&st, &a, NULL, NULL, &err), M2M_ERR_INTEGRITY);
	m2m_state_close(&st);
}

static void test_audit_rotate(void **state)
{
	struct m2m_state st;
	struct pol_audit a, b;
	struct m2m_err err = { 0 };
	struct seen s = { 0 };
	char detail[200];
	unsigned n = 0;

	open_st(&st);
	m2m_state_remove(&st, POL_AUDIT_NAME, NULL);
	memset(&a, 0, sizeof(a));
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	/* until the first file is full and the second begins */
	while (!m2m_state_exists(&st, POL_AUDIT_NAME ".1")) {
		assert_int_equal(pol_audit_append(&st, &a, 2000 + n, "unknown", "location", detail, &err), M2M_OK);
		n++;
		assert_true(n < 10000);
	}
	/* n records asked for, and the one that began the second file */
	assert_int_equal(pol_audit_read(&st, &b, collect, &s, &err), M2M_OK);
	assert_int_equal(s.n, n + 1);
	assert_int_equal(b.seq, n + 1);
	assert_int_equal(a.seq, n + 1);
	/* two files more: the oldest goes; the log begins with the record that began a file */
	for (unsigned i = 0; i < 2 * n; i++)
		assert_int_equal(pol_audit_append(&st, &a, 3000, "holds", "sim", detail, &err), M2M_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(pol_audit_read(&st, &b, collect, &s, &err), M2M_OK);
	assert_string_equal(s.events[0], "rotated");
	assert_true(s.first >= n);
	assert_int_equal(s.last, a.seq);
	assert_int_equal(b.seq, a.seq);
	assert_int_equal(s.n, s.last - s.first + 1);
	/* the file before removed: the log begins at the rotation, as after the next one */
	assert_int_equal(m2m_state_remove(&st, POL_AUDIT_NAME ".1", &err), M2M_OK);
	assert_int_equal(pol_audit_read(&st, &b, NULL, NULL, &err), M2M_OK);
	/* but the rotation's own record taken off the start is seen */
	remove_line(0);
	assert_int_equal(pol_audit_read(&st, &b, NULL, NULL, &err), M2M_ERR_INTEGRITY);
	assert_non_null(strstr(err.msg, "records were removed at its start"));
	m2m_state_close(&st);
}

static void test_audit_parse(void **state)
{
	struct pol_audit_rec r;
	const char *good = "{\"seq\":7,\"time\":5,\"event\":\"restored\",\"policy\":\"\",\"detail\":\"d\","
			   "\"prev\":\"00000000000000000000000000000000000000000000000000000000000000ff\"}";

	assert_true(pol_audit_parse(good, strlen(good), &r));
	assert_int_equal(r.seq, 7);
	/* a length short of the text is a cut record */
	assert_false(pol_audit_parse(good, strlen(good) - 1, &r));
	assert_false(pol_audit_parse("{}", 2, &r));
	assert_false(pol_audit_parse("[1]", 3, &r));
	/* an unknown event, a hash of upper-case hex, a seq of 0 */
	static const char *const bad[] = {
		"{\"seq\":7,\"time\":5,\"event\":\"wiped\",\"policy\":\"\",\"detail\":\"d\","
		"\"prev\":\"00000000000000000000000000000000000000000000000000000000000000ff\"}",
		"{\"seq\":7,\"time\":5,\"event\":\"boot\",\"policy\":\"\",\"detail\":\"d\","
		"\"prev\":\"00000000000000000000000000000000000000000000000000000000000000FF\"}",
		"{\"seq\":0,\"time\":5,\"event\":\"boot\",\"policy\":\"\",\"detail\":\"d\","
		"\"prev\":\"00000000000000000000000000000000000000000000000000000000000000ff\"}",
		"{\"seq\":7,\"time\":-5,\"event\":\"boot\",\"policy\":\"\",\"detail\":\"d\","
		"\"prev\":\"00000000000000000000000000000000000000000000000000000000000000ff\"}",
		"{\"seq\":7,\"time\":5,\"event\":\"boot\",\"policy\":\"gps\",\"detail\":\"d\","
		"\"prev\":\"00000000000000000000000000000000000000000000000000000000000000ff\"}",
		"{\"seq\":7,\"time\":5,\"event\":\"boot\",\"policy\":\"\",\"detail\":\"d\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pol_audit_parse(bad[i], strlen(bad[i]), &r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),      cmocka_unit_test(test_fence),
		cmocka_unit_test(test_audit_chain),   cmocka_unit_test(test_audit_removed),
		cmocka_unit_test(test_audit_torn),    cmocka_unit_test(test_audit_rotate),
		cmocka_unit_test(test_audit_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
