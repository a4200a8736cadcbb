/*
 * gpsd's JSON lines (lib/policy/gpsd.c, pol_gpsd_line): the lines are gpsd
 * 3.22's own, as it sent them here to ?WATCH={"enable":true,"json":true};?POLL;
 * fed NMEA over UDP (tests/lab/gps.sh). gpsd_json(5): a TPV's "class" and
 * "mode" are always there, mode 2 is a 2D fix and 3 a 3D one, "time" is ISO
 * 8601 UTC and may be absent, "eph" (horizontal error, m) is optional; a
 * POLL's "tpv" holds the last TPV of each active device. A line of anything
 * else, or a fix's field of the wrong type or out of range, is not gpsd's
 * (-1); a line is read to its len and never further.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "policy/policy_int.h"

/* gpsd 3.22, verbatim */
#define TPV_3D "{\"class\":\"TPV\",\"device\":\"udp://127.0.0.1:39472\",\"mode\":3,\"time\":\"2026-12-07T15:04:31.940Z\",\"ept\":0.005,\"lat\":48.856600000,\"lon\":2.352200000,\"altHAE\":82.0000,\"altMSL\":35.0000,\"alt\":35.0000,\"track\":0.0000,\"magtrack\":0.8292,\"magvar\":0.8,\"speed\":0.000,\"geoidSep\":47.000,\"eph\":17.100}"
#define TPV_2D "{\"class\":\"TPV\",\"device\":\"udp://127.0.0.1:39472\",\"mode\":2,\"time\":\"2026-12-07T15:04:31.940Z\",\"ept\":0.005,\"lat\":48.856600000,\"lon\":2.352200000,\"track\":0.0000,\"magtrack\":0.8292,\"magvar\":0.8,\"speed\":0.000}"
#define TPV_MODE1 "{\"class\":\"TPV\",\"device\":\"udp://127.0.0.1:39472\",\"mode\":1,\"time\":\"2026-12-07T15:04:40.000Z\",\"ept\":0.005}"
#define TPV_NO_TIME "{\"class\":\"TPV\",\"device\":\"udp://127.0.0.1:39472\",\"mode\":3,\"lat\":48.856600000,\"lon\":2.352200000,\"altHAE\":82.0000,\"altMSL\":35.0000,\"alt\":35.0000,\"magvar\":0.8,\"geoidSep\":47.000,\"eph\":17.100}"
#define POLL_FIX "{\"class\":\"POLL\",\"time\":\"2026-12-07T15:04:35.095Z\",\"active\":1,\"tpv\":[" TPV_3D "],\"gst\":[{\"class\":\"GST\",\"device\":\"udp://127.0.0.1:39472\"}],\"sky\":[{\"class\":\"SKY\",\"device\":\"udp://127.0.0.1:39472\",\"hdop\":0.90,\"nSat\":0,\"uSat\":0}]}"
#define POLL_EMPTY "{\"class\":\"POLL\",\"time\":\"2026-12-07T15:04:28.442Z\",\"active\":0,\"tpv\":[],\"gst\":[],\"sky\":[]}"
#define SKY "{\"class\":\"SKY\",\"device\":\"udp://127.0.0.1:39472\",\"hdop\":0.90,\"nSat\":4,\"uSat\":0,\"satellites\":[{\"PRN\":5,\"el\":45.0,\"az\":120.0,\"ss\":40.0,\"used\":false,\"gnssid\":0,\"svid\":5},{\"PRN\":12,\"el\":30.0,\"az\":200.0,\"ss\":35.0,\"used\":false,\"gnssid\":0,\"svid\":12},{\"PRN\":17,\"el\":60.0,\"az\":300.0,\"ss\":42.0,\"used\":false,\"gnssid\":0,\"svid\":17},{\"PRN\":24,\"el\":10.0,\"az\":50.0,\"ss\":20.0,\"used\":false,\"gnssid\":0,\"svid\":24}]}"
#define POLL_NOFIX "{\"class\":\"POLL\",\"time\":\"2026-12-07T15:04:45.689Z\",\"active\":1,\"tpv\":[" TPV_MODE1 "],\"gst\":[{\"class\":\"GST\",\"device\":\"udp://127.0.0.1:39472\"}],\"sky\":[{\"class\":\"SKY\",\"device\":\"udp://127.0.0.1:39472\",\"vdop\":1.50,\"hdop\":0.90,\"pdop\":1.80,\"nSat\":4,\"uSat\":0,\"satellites\":[{\"PRN\":5,\"el\":45.0,\"az\":120.0,\"ss\":40.0,\"used\":false,\"gnssid\":0,\"svid\":5}]}]}"
#define VERSION "{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}"
#define DEVICES "{\"class\":\"DEVICES\",\"devices\":[{\"class\":\"DEVICE\",\"path\":\"udp://127.0.0.1:39472\",\"driver\":\"NMEA0183\",\"activated\":\"2026-12-07T15:04:31.946Z\",\"flags\":1}]}"
#define DEVICE "{\"class\":\"DEVICE\",\"path\":\"udp://127.0.0.1:39472\",\"driver\":\"NMEA0183\",\"activated\":\"2026-12-07T15:04:31.946Z\"}"
#define WATCH "{\"class\":\"WATCH\",\"enable\":true,\"json\":true,\"nmea\":false,\"raw\":0,\"scaled\":false,\"timing\":false,\"split24\":false,\"pps\":false}"
#define ERROR "{\"class\":\"ERROR\",\"message\":\"Unrecognized request '?FOO;\\n'\"}"

#define T_153431 1796655871 /* 2026-12-07T15:04:31Z */

/* n bytes of s in a buffer of exactly that length (no NUL after it: a read past it is caught) */
static int line_n(const char *s, size_t n, struct pol_fix *f)
{
	char *b = malloc(n ? n : 1);
	int r;

	assert_non_null(b);
	memcpy(b, s, n);
	r = pol_gpsd_line(b, n, f);
	free(b);
	return r;
}

static int line(const char *s, struct pol_fix *f)
{
	return line_n(s, strlen(s), f);
}

/* a TPV with mode 3 and the given extra fields */
static int tpv_with(const char *fields, struct pol_fix *f)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "{\"class\":\"TPV\",\"mode\":3,%s}", fields);
	return line(buf, f);
}

/* the fix the lines above hold: 48.8566 2.3522 at 2026-12-07T15:04:31.940Z (the fraction dropped) */
static void is_the_fix(const struct pol_fix *f, int mode)
{
	assert_int_equal(f->mode, mode);
	assert_true(fabs(f->lat - 48.8566) < 1e-9);
	assert_true(fabs(f->lon - 2.3522) < 1e-9);
	assert_int_equal(f->time, T_153431);
}

static void test_tpv(void **state)
{
	struct pol_fix f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(line(TPV_3D, &f), 1);
	is_the_fix(&f, 3);
	assert_true(fabs(f.eph - 17.1) < 1e-9);

	/* 2D from an RMC: no eph */
	memset(&f, 0, sizeof(f));
	assert_int_equal(line(TPV_2D, &f), 1);
	is_the_fix(&f, 2);
	assert_true(isnan(f.eph));

	/* a GGA before any date: no time */
	memset(&f, 0, sizeof(f));
	assert_int_equal(line(TPV_NO_TIME, &f), 1);
	assert_int_equal(f.mode, 3);
	assert_int_equal(f.time, 0);
	assert_true(fabs(f.lat - 48.8566) < 1e-9);

	/* gpsd ends its lines with CR LF: the CR (or a LF) is white space */
	assert_int_equal(line(TPV_3D "\r", &f), 1);
	assert_int_equal(line(" " TPV_3D " \r\n", &f), 1);

	/* the edges of the ranges are in them */
	assert_int_equal(tpv_with("\"lat\":-90,\"lon\":180", &f), 1);
	assert_true(f.lat == -90 && f.lon == 180);
	assert_int_equal(tpv_with("\"lat\":90.0,\"lon\":-180.0,\"eph\":0", &f), 1);
	assert_true(f.eph == 0);
}

static void test_no_fix(void **state)
{
	struct pol_fix f = { .mode = 42 };

	(void)state;
	/* no fix: 0, and *fix untouched */
	assert_int_equal(line(TPV_MODE1, &f), 0);
	assert_int_equal(tpv_with("\"lat\":1.5", &f), 0);           /* no lon */
	assert_int_equal(tpv_with("\"lon\":1.5", &f), 0);           /* no lat */
	assert_int_equal(line("{\"class\":\"TPV\",\"mode\":0}", &f), 0);
	assert_int_equal(line("{\"class\":\"TPV\",\"mode\":1,\"lat\":1,\"lon\":2}", &f), 0);
	assert_int_equal(line("{\"class\":\"TPV\",\"mode\":3}", &f), 0);
	assert_int_equal(line(VERSION, &f), 0);
	assert_int_equal(line(DEVICES, &f), 0);
	assert_int_equal(line(DEVICE, &f), 0);
	assert_int_equal(line(WATCH, &f), 0);
	assert_int_equal(line(SKY, &f), 0);
	assert_int_equal(line(ERROR, &f), 0);
	assert_int_equal(line(POLL_EMPTY, &f), 0);
	assert_int_equal(line(POLL_NOFIX, &f), 0);
	/* a POLL without a tpv list */
	assert_int_equal(line("{\"class\":\"POLL\",\"time\":\"2026-12-07T15:04:28.442Z\",\"active\":0}", &f), 0);
	assert_int_equal(f.mode, 42);
}

#define TPV_AT(t, lat) "{\"class\":\"TPV\",\"mode\":3,\"time\":\"" t "\",\"lat\":" lat ",\"lon\":2.0}"

static void test_poll(void **state)
{
	struct pol_fix f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(line(POLL_FIX, &f), 1);
	is_the_fix(&f, 3);

	/* the newest fix of the list, wherever it is in it */
	assert_int_equal(line("{\"class\":\"POLL\",\"tpv\":[" TPV_AT("2026-12-07T15:04:31Z", "1.0") ","
			      TPV_AT("2026-12-07T15:04:33Z", "3.0") "," TPV_AT("2026-12-07T15:04:32Z", "2.0") "]}",
			      &f), 1);
	assert_true(f.lat == 3.0);
	assert_int_equal(f.time, T_153431 + 2);
	/* a newer TPV without a fix does not hide an older fix */
	assert_int_equal(line("{\"class\":\"POLL\",\"tpv\":[" TPV_AT("2026-12-07T15:04:31Z", "1.0") ","
			      TPV_MODE1 "]}", &f), 1);
	assert_true(f.lat == 1.0);
	/* a fix without a time is older than one with a time */
	assert_int_equal(line("{\"class\":\"POLL\",\"tpv\":[" TPV_AT("2026-12-07T15:04:31Z", "1.0") ","
			      TPV_NO_TIME "]}", &f), 1);
	assert_true(f.lat == 1.0);
	/* two with the same time: the later in the list */
	assert_int_equal(line("{\"class\":\"POLL\",\"tpv\":[" TPV_AT("2026-12-07T15:04:31Z", "1.0") ","
			      TPV_AT("2026-12-07T15:04:31.5Z", "5.0") "]}", &f), 1);
	assert_true(f.lat == 5.0);
}

static void test_time(void **state)
{
	static const char *const bad[] = {
		"\"time\":1796655871.94",             /* gpsd before protocol 3.10: unix seconds */
		"\"time\":\"\"",
		"\"time\":\"2026-12-07T15:04:31\"",   /* no Z */
		"\"time\":\"2026-12-07T15:04:31+01:00\"",
		"\"time\":\"2026-12-07 15:04:31Z\"",
		"\"time\":\"2026-12-07T15:04Z\"",
		"\"time\":\"2026-12-07T15:04:31.Z\"",
		"\"time\":\"2026-12-07T15:04:31.0123456789Z\"", /* 10 digits */
		"\"time\":\"2026-12-07T15:04:31.5ZZ\"",
		"\"time\":\"2026-13-07T15:04:31Z\"",
		"\"time\":\"2026-00-07T15:04:31Z\"",
		"\"time\":\"2026-02-29T15:04:31Z\"",  /* not a leap year */
		"\"time\":\"2026-04-31T15:04:31Z\"",
		"\"time\":\"2026-12-00T15:04:31Z\"",
		"\"time\":\"2026-12-07T24:00:00Z\"",
		"\"time\":\"2026-12-07T15:60:00Z\"",
		"\"time\":\"2026-12-07T15:04:61Z\"",
		"\"time\":\"1969-12-31T23:59:59Z\"",
		"\"time\":\"+026-12-07T15:04:31Z\"",
		"\"time\":\"2026-12-07T15:04:31Z\\u0000x\"",
	};
	struct pol_fix f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char fields[160];

		snprintf(fields, sizeof(fields), "\"lat\":1,\"lon\":2,%s", bad[i]);
		if (tpv_with(fields, &f) != -1)
			fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(tpv_with("\"lat\":1,\"lon\":2,\"time\":\"2024-02-29T12:00:00Z\"", &f), 1);
	assert_int_equal(f.time, 1709208000);
	assert_int_equal(tpv_with("\"lat\":1,\"lon\":2,\"time\":\"2024-02-29T12:00:00.123456789Z\"", &f), 1);
	assert_int_equal(f.time, 1709208000);
	/* a leap second is the next second */
	assert_int_equal(tpv_with("\"lat\":1,\"lon\":2,\"time\":\"2016-12-31T23:59:60.000Z\"", &f), 1);
	assert_int_equal(f.time, 1483228800);
	assert_int_equal(tpv_with("\"lat\":1,\"lon\":2,\"time\":\"1970-01-01T00:00:01Z\"", &f), 1);
	assert_int_equal(f.time, 1);
}

static void test_not_gpsd(void **state)
{
	static const char *const bad[] = {
		"", " ", "not json", "HTTP/1.1 400 Bad Request", "[1,2]", "\"TPV\"", "42", "null",
		"{}", "{\"class\":5}", "{\"class\":\"\"}", "{\"class\":null,\"mode\":3}", "{\"mode\":3,\"lat\":1,\"lon\":2}",
		/* a TPV's fields of the wrong type or out of range */
		"{\"class\":\"TPV\"}",
		"{\"class\":\"TPV\",\"mode\":\"3\",\"lat\":1,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3.0,\"lat\":1,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":4,\"lat\":1,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":-1}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":\"48.8566\",\"lon\":2.3522}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":48.8566,\"lon\":\"2.3522\"}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":91,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":-90.000001,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1,\"lon\":180.5}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1,\"lon\":-181}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":null,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":true,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":NaN,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1,\"lon\":Infinity}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1e400,\"lon\":2}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1,\"lon\":2,\"eph\":-1}",
		"{\"class\":\"TPV\",\"mode\":3,\"lat\":1,\"lon\":2,\"eph\":\"17\"}",
		"{\"class\":\"TPV\",\"mode\":1,\"lat\":95}",              /* wrong even without a fix */
		/* a POLL's tpv list */
		"{\"class\":\"POLL\",\"tpv\":{}}",
		"{\"class\":\"POLL\",\"tpv\":[1]}",
		"{\"class\":\"POLL\",\"tpv\":[{\"class\":\"SKY\"}]}",
		"{\"class\":\"POLL\",\"tpv\":[{\"mode\":3,\"lat\":1,\"lon\":2}]}",
		"{\"class\":\"POLL\",\"tpv\":[" TPV_3D ",{\"class\":\"TPV\",\"mode\":3,\"lat\":91,\"lon\":2}]}",
		/* not one object */
		TPV_3D " x", TPV_3D TPV_3D, TPV_3D ",", "{\"class\":\"TPV\",\"mode\":3,}",
		"{'class':'TPV','mode':3}",
		/* nested deeper than any gpsd object */
		"{\"class\":\"SKY\",\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	};
	struct pol_fix f = { .mode = 42 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (line(bad[i], &f) != -1)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(f.mode, 42);
}

static void test_bounds(void **state)
{
	static const char tpv[] = TPV_3D;
	struct pol_fix f;
	char *big;
	size_t n;

	(void)state;
	/* truncated: every proper prefix of a real line */
	for (n = 0; n < sizeof(tpv) - 1; n++)
		if (line_n(tpv, n, &f) != -1)
			fail_msg("a prefix of %zu bytes accepted", n);
	/* a len shorter than the string: only len bytes count */
	assert_int_equal(pol_gpsd_line(TPV_3D "garbage", sizeof(tpv) - 1, &f), 1);
	assert_int_equal(pol_gpsd_line(TPV_3D, sizeof(tpv) - 2, &f), -1);
	/* an embedded NUL, inside the object or after it */
	{
		char b[] = TPV_3D;

		b[20] = '\0';
		assert_int_equal(pol_gpsd_line(b, sizeof(b) - 1, &f), -1);
		assert_int_equal(pol_gpsd_line(TPV_3D "\0", sizeof(tpv), &f), -1);
	}
	/* a line longer than 64 KiB is none of gpsd's, even if it is JSON */
	n = 64 * 1024 + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, TPV_3D, sizeof(tpv) - 1);
	assert_int_equal(pol_gpsd_line(big, 64 * 1024, &f), 1);
	assert_int_equal(pol_gpsd_line(big, n, &f), -1);
	free(big);
}

static void test_fix_arguments(void **state)
{
	struct m2m_err err = { 0 };
	struct pol_fix f;
	int stop = 1;

	(void)state;
	/* no host, or a port that is no number 1-65535: the caller's mistake */
	assert_int_equal(pol_gpsd_fix("", "2947", m2m_now_ms() + 1000, NULL, &f, &err), M2M_ERR_CONFIG);
	assert_int_equal(pol_gpsd_fix("localhost", "gpsd", m2m_now_ms() + 1000, NULL, &f, &err), M2M_ERR_CONFIG);
	assert_int_equal(pol_gpsd_fix("localhost", "0", m2m_now_ms() + 1000, NULL, &f, &err), M2M_ERR_CONFIG);
	assert_int_equal(pol_gpsd_fix("localhost", "65536", m2m_now_ms() + 1000, NULL, &f, &err), M2M_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "gpsd"));
	/* a deadline already past, or stopped: TIMEOUT before anything is tried */
	assert_int_equal(pol_gpsd_fix("127.0.0.1", "2947", m2m_now_ms(), NULL, &f, &err), M2M_ERR_TIMEOUT);
	assert_non_null(strstr(err.msg, "127.0.0.1:2947"));
	assert_int_equal(pol_gpsd_fix("127.0.0.1", "2947", m2m_now_ms() + 1000, &stop, &f, &err), M2M_ERR_TIMEOUT);
	assert_non_null(strstr(err.msg, "stopped"));
	/* no err: the code all the same */
	assert_int_equal(pol_gpsd_fix("127.0.0.1", "2947", m2m_now_ms(), NULL, &f, NULL), M2M_ERR_TIMEOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tpv),
		cmocka_unit_test(test_no_fix),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_not_gpsd),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_fix_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
