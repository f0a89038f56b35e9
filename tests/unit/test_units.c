/* Unit tests for units.c: every accepted spelling and every rejection an
 * operator's typo can produce. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "units.h"

struct size_case {
	const char *in;
	int err;
	uint64_t out;
};

static void test_size(void **state)
{
	static const struct size_case cases[] = {
		{ "0", 0, 0 },
		{ "4096", 0, 4096 },
		{ "64k", 0, 65536 },
		{ "64K", 0, 65536 },
		{ "4M", 0, 4194304 },
		{ "2g", 0, 2147483648ULL },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "k", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ " 5", -EINVAL, 0 },
		{ "+5", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "4MB", -EINVAL, 0 },
		{ "4 M", -EINVAL, 0 },
		{ "4T", -EINVAL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int err = units_parse_size(cases[i].in, &v);

		assert_int_equal(err, cases[i].err);
		if (!err)
			assert_int_equal(v, cases[i].out);
	}
	assert_int_equal(units_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_uint_bounds(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(units_parse_uint("5", 1, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(units_parse_uint("1", 1, 10, &v), 0);
	assert_int_equal(units_parse_uint("10", 1, 10, &v), 0);
	assert_int_equal(units_parse_uint("0", 1, 10, &v), -ERANGE);
	assert_int_equal(units_parse_uint("11", 1, 10, &v), -ERANGE);
	assert_int_equal(units_parse_uint("5k", 1, 10000, &v), -EINVAL);
	assert_int_equal(units_parse_uint("", 0, 10, &v), -EINVAL);
	/* A failed parse leaves the output untouched. */
	v = 77;
	assert_int_equal(units_parse_uint("x", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 77);
}

static void test_duration(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(units_parse_duration_ms("30", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(units_parse_duration_ms("30s", &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(units_parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(units_parse_duration_ms("5m", &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(units_parse_duration_ms("2h", &v), 0);
	assert_int_equal(v, 7200000);
	assert_int_equal(units_parse_duration_ms("1sec", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("ms", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("5d", &v), -EINVAL);
	assert_int_equal(units_parse_duration_ms("18446744073709551615h", &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
