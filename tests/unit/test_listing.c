/* test_listing: the options of flowoffloadctl flows/classes (--limit and the
 * filters) and which flows each filter selects. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "flows.h"
#include "listing.h"
#include "policy.h"

static FILE *err;

static int parse(bool classes, struct listing_filter *f, const char *a1, const char *a2,
		 const char *a3)
{
	char *argv[] = { (char *)(classes ? "classes" : "flows"), (char *)a1, (char *)a2, (char *)a3, NULL };
	int argc = 1;

	while (argc < 4 && argv[argc])
		argc++;
	rewind(err);
	return listing_parse(argc, argv, classes, f, err);
}

static void test_parse(void **state)
{
	struct listing_filter f;

	(void)state;
	err = tmpfile();
	assert_non_null(err);
	assert_int_equal(parse(false, &f, NULL, NULL, NULL), 0);
	assert_false(f.json);
	assert_int_equal(f.limit, 0);
	assert_int_equal(f.state, -1);
	assert_int_equal(f.tier, -1);
	assert_int_equal(f.family, 0);
	assert_int_equal(parse(false, &f, "--json", "--limit", "10"), 0);
	assert_true(f.json);
	assert_int_equal(f.limit, 10);
	assert_int_equal(parse(false, &f, "--state", "hw-offloaded", NULL), 0);
	assert_int_equal(f.state, FLOW_HW_OFFLOADED);
	assert_int_equal(parse(false, &f, "--tier", "none", NULL), 0);
	assert_int_equal(f.tier, TIER_NONE);
	assert_int_equal(parse(false, &f, "--tier", "sw", NULL), 0);
	assert_int_equal(f.tier, TIER_SW);
	assert_int_equal(parse(false, &f, "--addr", "2001:db8::1", NULL), 0);
	assert_int_equal(f.family, AF_INET6);
	assert_int_equal(parse(false, &f, "--reason", "mice-class", NULL), 0);
	assert_string_equal(f.reason, "mice-class");
	/* Refusals. */
	assert_int_equal(parse(false, &f, "--limit", "0", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--limit", "-1", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--limit", "99999999999999999999999", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--limit", NULL, NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--state", "gone", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--tier", "", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--addr", "198.18.0.0/15", NULL), -EINVAL);
	assert_int_equal(parse(false, &f, "--reason", "a-reason-far-too-long-to-be-one", NULL),
			 -EINVAL);
	assert_int_equal(parse(false, &f, "--bogus", NULL, NULL), -EINVAL);
	/* classes: --json and --limit only. */
	assert_int_equal(parse(true, &f, "--limit", "3", "--json"), 0);
	assert_int_equal(f.limit, 3);
	assert_int_equal(parse(true, &f, "--state", "offloaded", NULL), -EINVAL);
	fclose(err);
}

static void test_match(void **state)
{
	struct listing_filter f;
	struct flow fl;
	uint8_t a[4] = { 198, 18, 1, 2 };

	(void)state;
	err = tmpfile();
	assert_non_null(err);
	memset(&fl, 0, sizeof(fl));
	fl.ct.family = AF_INET;
	fl.ct.reply.src[0] = 198;
	fl.ct.reply.src[1] = 18;
	fl.ct.reply.src[2] = 1;
	fl.ct.reply.src[3] = 2;
	fl.state = FLOW_OFFLOADED;
	fl.tier = TIER_SW;
	assert_int_equal(parse(false, &f, NULL, NULL, NULL), 0);
	assert_true(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--addr", "198.18.1.2", NULL), 0);
	assert_memory_equal(f.addr, a, 4);
	assert_true(listing_match(&f, &fl)); /* the reply direction counts */
	assert_int_equal(parse(false, &f, "--addr", "198.18.1.3", NULL), 0);
	assert_false(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--addr", "::ffff:198.18.1.2", NULL), 0);
	assert_false(listing_match(&f, &fl)); /* another family */
	assert_int_equal(parse(false, &f, "--state", "offloaded", NULL), 0);
	assert_true(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--state", "admitted", NULL), 0);
	assert_false(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--tier", "hw", NULL), 0);
	assert_false(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--reason", "-", NULL), 0);
	assert_true(listing_match(&f, &fl));
	fl.skip_reason = REASON_MICE;
	assert_false(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--reason", "mice-class", NULL), 0);
	assert_true(listing_match(&f, &fl));
	fl.hw_failed = 1;
	assert_false(listing_match(&f, &fl));
	assert_int_equal(parse(false, &f, "--reason", "hw-refused", NULL), 0);
	assert_true(listing_match(&f, &fl));
	fclose(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
