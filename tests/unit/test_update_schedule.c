/*
 * The jitter of a check run (lib/update/schedule.h): the delay stays in its
 * window and covers it uniformly; a device's value is the SHA-256 of its id
 * (the same every day), random without one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "update/schedule.h"

static void test_delay_bounds(void **state)
{
	(void)state;
	assert_int_equal(upd_schedule_delay_ms(0, UINT64_MAX), 0);
	assert_int_equal(upd_schedule_delay_ms(600000, 0), 0);
	assert_int_equal(upd_schedule_delay_ms(600000, UINT64_MAX), 599999);
	assert_int_equal(upd_schedule_delay_ms(600000, UINT64_C(1) << 63), 300000);
	assert_int_equal(upd_schedule_delay_ms(UINT32_MAX, UINT64_MAX), UINT32_MAX - 1);
	assert_int_equal(upd_schedule_delay_ms(1, UINT64_MAX), 0);
}

/* equal slices of the value's range fall in equal slices of the window */
static void test_delay_uniform(void **state)
{
	unsigned bins[10] = { 0 };

	(void)state;
	for (uint64_t i = 0; i < 100000; i++) {
		uint64_t r = i * (UINT64_MAX / 100000);

		bins[upd_schedule_delay_ms(10000, r) / 1000]++;
	}
	for (int b = 0; b < 10; b++)
		assert_in_range(bins[b], 9999, 10001);
}

static void test_value(void **state)
{
	struct m2m_err err = { 0 };
	uint64_t a, b, c;

	(void)state;
	/* printf 'm2m-update-check:dev1' | sha256sum: its first 8 bytes */
	assert_int_equal(upd_schedule_value("dev1", &a, &err), M2M_OK);
	assert_true(a == UINT64_C(0x23294b6f385bdfb1));
	assert_int_equal(upd_schedule_value("dev1", &b, &err), M2M_OK);
	assert_true(a == b);
	assert_int_equal(upd_schedule_value("dev2", &b, &err), M2M_OK);
	assert_true(a != b);
	/* no id: getrandom, another value each time */
	assert_int_equal(upd_schedule_value(NULL, &b, &err), M2M_OK);
	assert_int_equal(upd_schedule_value("", &c, &err), M2M_OK);
	assert_true(b != c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_bounds),
		cmocka_unit_test(test_delay_uniform),
		cmocka_unit_test(test_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
