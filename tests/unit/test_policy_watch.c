/* SPDX-License-Identifier: MIT */
/*
 * lib/policy's watch: the bucket that bounds its restores. A fight with
 * another tool that removes the quarantine's table as fast as it can gets 5
 * restores at once, then one every 5 minutes, and never more than 17 in an
 * hour; a bucket left alone fills up again, to 5 and no more.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>

#include "policy/policy_int.h"

#define MIN_MS (60 * 1000ULL)
#define T0 1000000ULL /* a monotonic clock does not start at 0 */

static void test_bucket_burst(void **state)
{
	struct pol_bucket b;
	uint64_t next;

	(void)state;
	pol_bucket_init(&b, T0);
	for (int i = 0; i < POL_RESTORE_BURST; i++) {
		assert_true(pol_bucket_ready(&b, T0 + (uint64_t)i, &next));
		assert_int_equal(next, T0 + (uint64_t)i);
		pol_bucket_take(&b, T0 + (uint64_t)i);
	}
	/* the sixth waits for the refill, counted from the first one taken */
	assert_false(pol_bucket_ready(&b, T0 + 10, &next));
	assert_int_equal(next, T0 + POL_RESTORE_EVERY_MS);
	/* taking from an empty bucket takes nothing */
	pol_bucket_take(&b, T0 + 10);
	assert_false(pol_bucket_ready(&b, T0 + POL_RESTORE_EVERY_MS - 1, &next));
	assert_int_equal(next, T0 + POL_RESTORE_EVERY_MS);
	assert_true(pol_bucket_ready(&b, T0 + POL_RESTORE_EVERY_MS, &next));
	pol_bucket_take(&b, T0 + POL_RESTORE_EVERY_MS);
	assert_false(pol_bucket_ready(&b, T0 + POL_RESTORE_EVERY_MS + 1, &next));
	assert_int_equal(next, T0 + 2 * POL_RESTORE_EVERY_MS);
}

static void test_bucket_refill(void **state)
{
	struct pol_bucket b;
	uint64_t next, t = T0;
	int n = 0;

	(void)state;
	pol_bucket_init(&b, t);
	for (int i = 0; i < POL_RESTORE_BURST; i++)
		pol_bucket_take(&b, t);
	/* two refills' time: two, and the time of the third kept */
	t += 2 * POL_RESTORE_EVERY_MS + 1000;
	while (pol_bucket_ready(&b, t, &next)) {
		pol_bucket_take(&b, t);
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(next, T0 + 3 * POL_RESTORE_EVERY_MS);
	/* a day alone: full, and no fuller */
	t += 24 * 60 * MIN_MS;
	for (n = 0; pol_bucket_ready(&b, t, &next); n++)
		pol_bucket_take(&b, t);
	assert_int_equal(n, POL_RESTORE_BURST);
}

/* A restore asked for every 50 ms for three hours: what the man page promises. */
static void test_bucket_fight(void **state)
{
	const uint64_t span = 3 * 60 * MIN_MS, step = 50;
	size_t cap = 64, n = 0;
	uint64_t *at = malloc(cap * sizeof(*at)), next;
	struct pol_bucket b;

	(void)state;
	assert_non_null(at);
	pol_bucket_init(&b, T0);
	for (uint64_t t = T0; t < T0 + span; t += step) {
		if (!pol_bucket_ready(&b, t, &next))
			continue;
		pol_bucket_take(&b, t);
		assert_true(n < cap);
		at[n++] = t;
	}
	/* 5 at once, then one every 5 minutes: 5 + 3 * 12 - 1 in three hours */
	assert_int_equal(n, POL_RESTORE_BURST + 3 * 60 * MIN_MS / POL_RESTORE_EVERY_MS - 1);
	/* the first refill counts from the first one taken, then one every 5 minutes */
	assert_int_equal(at[POL_RESTORE_BURST], T0 + POL_RESTORE_EVERY_MS);
	for (size_t i = POL_RESTORE_BURST + 1; i < n; i++)
		assert_int_equal(at[i] - at[i - 1], POL_RESTORE_EVERY_MS);
	/* in any hour, at most 5 + 12 */
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		for (size_t j = i; j < n && at[j] < at[i] + 60 * MIN_MS; j++)
			k++;
		assert_true(k <= POL_RESTORE_BURST + 60 * MIN_MS / POL_RESTORE_EVERY_MS);
	}
	free(at);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst),
		cmocka_unit_test(test_bucket_refill),
		cmocka_unit_test(test_bucket_fight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
