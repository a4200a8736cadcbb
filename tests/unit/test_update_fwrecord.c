/*
 * update.firmware (lib/update/fw_record.h): the record of the firmware that
 * runs and of what was committed into each slot. A record written before the
 * slots were kept ({"name", "version", "slot"}) is read as it was meant; a
 * damaged one is refused whole (no half of it believed) and never crashes;
 * a commit, an install into a slot and a fallback of the bootloader change
 * it as fw_record.h says; what is written reads back the same.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "update/fw_record.h"

static int parse(const char *s, struct upd_fw_record *r)
{
	struct m2m_err err = { 0 };
	int rc = upd_fw_record_parse(s, strlen(s), r, &err);

	if (rc)
		assert_string_not_equal(err.msg, "");
	return rc;
}

/* r written and read again is r */
static void round_trip(const struct upd_fw_record *r)
{
	struct upd_fw_record back;
	char *j = upd_fw_record_json(r);

	assert_non_null(j);
	assert_int_equal(parse(j, &back), M2M_OK);
	assert_memory_equal(&back, r, sizeof(back));
	free(j);
}

static void test_old_record(void **state)
{
	struct upd_fw_record r;

	(void)state;
	/* the record of before: what runs, and its slot's entry */
	assert_int_equal(parse("{\"name\":\"gate-fw\",\"version\":\"2.0.0\",\"slot\":\"B\"}", &r), M2M_OK);
	assert_string_equal(r.run.name, "gate-fw");
	assert_string_equal(r.run.version, "2.0.0");
	assert_string_equal(r.run.slot, "B");
	assert_string_equal(r.source, "record");
	assert_int_equal(r.run.committed, 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.slots[0].slot, "B");
	assert_string_equal(r.slots[0].version, "2.0.0");
	assert_false(r.fell_back);
	assert_null(upd_fw_record_slot(&r, "A"));
	/* a script's firmware: no slot, no slot entry */
	assert_int_equal(parse(" {\"name\":\"pos-fw\",\"version\":\"1.0\"}\n", &r), M2M_OK);
	assert_string_equal(r.run.slot, "");
	assert_int_equal(r.n, 0);
	/* nothing committed */
	assert_int_equal(parse("{}", &r), M2M_OK);
	assert_string_equal(r.run.version, "");
	assert_int_equal(r.n, 0);
}

static void test_damaged(void **state)
{
	static const char *const bad[] = {
		"", "[1]", "null", "\"x\"", "{", "{} {}", "{}x",
		"{\"name\":1}", "{\"name\":\"pos-fw\"}", "{\"version\":\"1.0\"}",
		"{\"name\":\"\",\"version\":\"1.0\"}", "{\"name\":\"a\",\"version\":\"\"}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slot\":7}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slot\":\"\"}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"committed\":\"today\"}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"committed\":-5}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"source\":\"guess\"}",
		"{\"slot\":\"A\",\"source\":\"record\"}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slots\":[]}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slots\":{\"A\":{\"name\":\"a\"}}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slots\":{\"A\":{}}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slots\":{\"\":{\"name\":\"a\",\"version\":\"1\"}}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"slots\":{\"A\":3}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"fallback\":{\"name\":\"a\",\"version\":\"2\"}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"fallback\":{\"slot\":\"B\",\"time\":\"now\"}}",
		"{\"name\":\"a\",\"version\":\"1.0\",\"fallback\":true}",
		/* longer than its field: never cut short into another version */
		"{\"name\":\"a\",\"version\":\"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0\"}",
		"{\"name\":\"a\",\"version\":\"1\\u00002\"}",
	};
	char nine[512];
	struct upd_fw_record r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0x5a, sizeof(r));
		if (parse(bad[i], &r) != M2M_ERR_FAILURE)
			fail_msg("accepted: %s", bad[i]);
		/* nothing of it is kept */
		assert_string_equal(r.run.version, "");
		assert_int_equal(r.n, 0);
		assert_false(r.fell_back);
	}
	/* more slots than the table holds */
	strcpy(nine, "{\"name\":\"a\",\"version\":\"1\",\"slots\":{");
	for (int i = 0; i < UPD_FW_SLOTS_MAX + 1; i++)
		snprintf(nine + strlen(nine), sizeof(nine) - strlen(nine),
			 "%s\"S%d\":{\"name\":\"a\",\"version\":\"1\"}", i ? "," : "", i);
	strcat(nine, "}}");
	assert_int_equal(parse(nine, &r), M2M_ERR_FAILURE);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(upd_fw_record_parse("{}garbage", 2, &r, &(struct m2m_err){ 0 }), M2M_OK);
}

static void test_commit_and_fallback(void **state)
{
	struct upd_fw_record r = { 0 };
	char *j;

	(void)state;
	/* the first commit into B of a device whose factory firmware in A no record names */
	upd_fw_record_commit(&r, "gate-fw", "2.0.0", "B", 1000);
	assert_string_equal(r.run.version, "2.0.0");
	assert_int_equal(r.run.committed, 1000);
	assert_int_equal(r.n, 1);
	round_trip(&r);
	/* 3.0.0 into A: A's entry too */
	upd_fw_record_commit(&r, "gate-fw", "3.0.0", "A", 2000);
	assert_int_equal(r.n, 2);
	assert_string_equal(upd_fw_record_slot(&r, "B")->version, "2.0.0");
	assert_string_equal(upd_fw_record_slot(&r, "A")->version, "3.0.0");
	round_trip(&r);
	/* the bootloader gives up on A and boots B: 2.0.0 runs, the fallback is kept */
	upd_fw_record_fall_back(&r, "B", "9.9.9", 3000);
	assert_string_equal(r.run.version, "2.0.0");
	assert_string_equal(r.run.slot, "B");
	assert_int_equal(r.run.committed, 1000);
	assert_string_equal(r.source, "record");
	assert_true(r.fell_back);
	assert_string_equal(r.from.version, "3.0.0");
	assert_string_equal(r.from.slot, "A");
	assert_int_equal(r.from.committed, 2000);
	assert_int_equal(r.fell_back_at, 3000);
	round_trip(&r);
	/* an install writes A: its entry goes; the next commit ends the fallback */
	assert_true(upd_fw_record_forget(&r, "A"));
	assert_false(upd_fw_record_forget(&r, "A"));
	assert_null(upd_fw_record_slot(&r, "A"));
	upd_fw_record_commit(&r, "gate-fw", "3.1.0", "A", 4000);
	assert_false(r.fell_back);
	assert_string_equal(r.from.slot, "");
	j = upd_fw_record_json(&r);
	assert_null(strstr(j, "fallback"));
	free(j);
	round_trip(&r);
}

static void test_fallback_unknown(void **state)
{
	struct upd_fw_record r;
	char *j;

	(void)state;
	/* a record of before: B committed, nothing of A: RAUC's word for A if it has one */
	assert_int_equal(parse("{\"name\":\"gate-fw\",\"version\":\"2.0.0\",\"slot\":\"B\"}", &r), M2M_OK);
	upd_fw_record_fall_back(&r, "A", "1.0.0", 50);
	assert_string_equal(r.run.name, "gate-fw");
	assert_string_equal(r.run.version, "1.0.0");
	assert_string_equal(r.source, "rauc");
	round_trip(&r);
	/* ... and none: not known, and no version claimed */
	assert_int_equal(parse("{\"name\":\"gate-fw\",\"version\":\"2.0.0\",\"slot\":\"B\"}", &r), M2M_OK);
	upd_fw_record_fall_back(&r, "A", "", 50);
	assert_string_equal(r.run.version, "");
	assert_string_equal(r.run.name, "");
	assert_string_equal(r.run.slot, "A");
	assert_string_equal(r.source, "");
	assert_string_equal(r.from.version, "2.0.0");
	j = upd_fw_record_json(&r);
	assert_null(strstr(j, "\"version\":\"2.0.0\",\"slot\":\"A\""));
	free(j);
	round_trip(&r);
	/* a RAUC version longer than the field is no version either */
	assert_int_equal(parse("{\"name\":\"gate-fw\",\"version\":\"2.0.0\",\"slot\":\"B\"}", &r), M2M_OK);
	upd_fw_record_fall_back(&r, "A", "1.0.0-with-a-build-suffix-far-too-long-to-fit", 50);
	assert_string_equal(r.run.version, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_record),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_commit_and_fallback),
		cmocka_unit_test(test_fallback_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
