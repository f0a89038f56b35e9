/* Unit tests for backoff.c: retry delays double from the minimum to the cap
 * and start over after a success; logs follow powers of two and rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void test_delays_double_to_the_cap(void **state)
{
	struct backoff b;
	static const uint32_t want[] = { 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600,
					 30000, 30000 };
	size_t i;

	backoff_init(&b, 100, 30000);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(backoff_failed(&b), want[i]);
	assert_int_equal(b.failures, 11);
	backoff_succeeded(&b);
	assert_int_equal(b.failures, 0);
	assert_int_equal(backoff_failed(&b), 100);
}

static void test_cap_below_min_and_huge_cap(void **state)
{
	struct backoff b;
	int i;

	backoff_init(&b, 500, 10);
	assert_int_equal(backoff_failed(&b), 500);
	assert_int_equal(backoff_failed(&b), 500);
	/* Doubling never wraps past UINT32_MAX. */
	backoff_init(&b, 1, UINT32_MAX);
	for (i = 0; i < 40; i++)
		assert_true(backoff_failed(&b) >= 1);
	assert_int_equal(b.delay_ms, UINT32_MAX);
}

static void test_logs_at_powers_of_two(void **state)
{
	struct backoff b;
	int logged = 0, i;

	backoff_init(&b, 1, 1000);
	assert_false(backoff_log_due(&b));
	for (i = 1; i <= 1000; i++) {
		bool next = backoff_next_log_due(&b);

		backoff_failed(&b);
		assert_int_equal(next, backoff_log_due(&b));
		if (backoff_log_due(&b)) {
			logged++;
			assert_int_equal(i & (i - 1), 0);
		}
	}
	assert_int_equal(logged, 10);	/* 1, 2, 4, ..., 512 */
}

static void test_ratelimit_burst_then_held(void **state)
{
	struct ratelimit r;
	uint64_t held = 99;
	int i, ok = 0;

	ratelimit_init(&r, 10000, 3);
	for (i = 0; i < 10; i++)
		ok += ratelimit_ok(&r, 5000 + (uint64_t)i, &held);
	assert_int_equal(ok, 3);
	assert_int_equal(held, 0);
	/* Still inside the interval: held back. */
	assert_false(ratelimit_ok(&r, 14999, &held));
	/* A new interval: the first line reports the 8 held back. */
	assert_true(ratelimit_ok(&r, 15000, &held));
	assert_int_equal(held, 8);
	assert_true(ratelimit_ok(&r, 15001, &held));
	assert_int_equal(held, 0);
	/* A clock that goes backwards opens a new interval, never a stuck one. */
	assert_true(ratelimit_ok(&r, 1, &held));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delays_double_to_the_cap),
		cmocka_unit_test(test_cap_below_min_and_huge_cap),
		cmocka_unit_test(test_logs_at_powers_of_two),
		cmocka_unit_test(test_ratelimit_burst_then_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
