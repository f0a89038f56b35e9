/* Unit tests for hw_budget.c: which slot each flow holds, the counts moved
 * by take and release, and the recount that finds the driver's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "flows.h"
#include "hw_budget.h"

#define UNTIL 1000
#define CONFIRM 2000

static struct flow mkflow(uint8_t tier, uint8_t state, uint64_t packets, uint32_t offloaded_ms)
{
	struct flow f;

	memset(&f, 0, sizeof(f));
	f.ct.proto = IPPROTO_TCP;
	f.ct.tcp_state = TCP_CONNTRACK_ESTABLISHED;
	f.ct.has_status = true;
	f.ct.status = FO_IPS_SEEN_REPLY | FO_IPS_ASSURED;
	f.ct.packets[0] = packets;
	f.tier = tier;
	f.state = state;
	f.offloaded_ms = offloaded_ms;
	f.entered_ms = offloaded_ms ? offloaded_ms : 1;
	return f;
}

static void test_slot_of_each_state(void **state)
{
	struct flow f;

	(void)state;
	f = mkflow(TIER_SW, FLOW_HW_OFFLOADED, 10, 5);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
	f = mkflow(TIER_HW, FLOW_WAITING, 1, 0);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
	f = mkflow(TIER_HW, FLOW_SKIPPED, 1, 0);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
	f = mkflow(TIER_HW, FLOW_HW_OFFLOADED, 10, 5);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_IN_USE);
	f = mkflow(TIER_HW, FLOW_OFFLOADED, 10, 5);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_PENDING);
	f.hw_failed = 1;
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_FAILED);
}

/* An admitted hardware flow waits for packet N; back from the flowtable it
 * keeps its slot only while the hardware rule could re-add it. */
static void test_slot_of_admitted(void **state)
{
	struct flow f;

	(void)state;
	f = mkflow(TIER_HW, FLOW_ADMITTED, 3, 0);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_PENDING);
	/* Never offloaded: past the window it is still ours to wait for. */
	f = mkflow(TIER_HW, FLOW_ADMITTED, UNTIL + 1, 0);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_PENDING);
	f = mkflow(TIER_HW, FLOW_ADMITTED, UNTIL, 5);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_PENDING);
	f = mkflow(TIER_HW, FLOW_ADMITTED, UNTIL + 1, 5);
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
	f = mkflow(TIER_HW, FLOW_ADMITTED, 3, 0);
	f.ct.tcp_state = TCP_CONNTRACK_TIME_WAIT;
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
	f = mkflow(TIER_HW, FLOW_ADMITTED, 3, 0);
	f.ct.status |= FO_IPS_DYING;
	assert_int_equal(hw_budget_slot(&f, UNTIL), HW_SLOT_NONE);
}

static void test_take_release(void **state)
{
	struct hw_budget b = { 0 };

	(void)state;
	hw_budget_take(&b, HW_SLOT_PENDING);
	hw_budget_take(&b, HW_SLOT_PENDING);
	hw_budget_take(&b, HW_SLOT_IN_USE);
	hw_budget_take(&b, HW_SLOT_FAILED);
	hw_budget_take(&b, HW_SLOT_NONE);
	assert_int_equal(b.pending, 2);
	assert_int_equal(b.in_use, 1);
	assert_int_equal(b.failed_now, 1);
	/* Failed slots are freed: the peak counts in use and pending only. */
	assert_int_equal(b.max_in_use, 3);
	hw_budget_release(&b, HW_SLOT_PENDING);
	hw_budget_release(&b, HW_SLOT_IN_USE);
	hw_budget_release(&b, HW_SLOT_FAILED);
	hw_budget_release(&b, HW_SLOT_NONE);
	assert_int_equal(b.pending, 1);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.failed_now, 0);
	assert_int_equal(b.max_in_use, 3);
	/* A release between recounts never wraps below zero. */
	hw_budget_release(&b, HW_SLOT_IN_USE);
	hw_budget_release(&b, HW_SLOT_FAILED);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.failed_now, 0);
}

/* The driver's time to confirm runs from entering the flowtable; a refusal
 * is counted once, and a later [HW_OFFLOAD] counts as late. */
static void test_recount_finds_refusals(void **state)
{
	struct hw_budget b = { .in_use = 7, .pending = 9, .failed_now = 4 };
	struct flow f[4];
	size_t i;

	(void)state;
	f[0] = mkflow(TIER_HW, FLOW_OFFLOADED, 10, 100);
	f[1] = mkflow(TIER_HW, FLOW_OFFLOADED, 10, 100);
	f[1].entered_ms = 1500;
	f[2] = mkflow(TIER_HW, FLOW_HW_OFFLOADED, 10, 100);
	f[3] = mkflow(TIER_SW, FLOW_OFFLOADED, 10, 100);
	hw_budget_recount_begin(&b);
	assert_true(hw_budget_count(&b, &f[0], UNTIL, CONFIRM, 100 + CONFIRM));
	assert_false(hw_budget_count(&b, &f[1], UNTIL, CONFIRM, 100 + CONFIRM));
	assert_false(hw_budget_count(&b, &f[2], UNTIL, CONFIRM, 100 + CONFIRM));
	assert_false(hw_budget_count(&b, &f[3], UNTIL, CONFIRM, 100 + CONFIRM));
	hw_budget_recount_end(&b);
	assert_true(f[0].hw_failed);
	assert_false(f[1].hw_failed);
	assert_false(f[3].hw_failed);
	assert_int_equal(b.failed, 1);
	assert_int_equal(b.failed_now, 1);
	assert_int_equal(b.pending, 1);
	assert_int_equal(b.in_use, 1);
	assert_int_equal(b.max_in_use, 2);

	/* Counted once: the next recount finds f[0] failed already, and
	 * f[1], which entered later, failed now. */
	hw_budget_recount_begin(&b);
	for (i = 0; i < 4; i++)
		assert_int_equal(hw_budget_count(&b, &f[i], UNTIL, CONFIRM, 100 + 10 * CONFIRM),
				 i == 1);
	hw_budget_recount_end(&b);
	assert_int_equal(b.failed, 2);
	assert_int_equal(b.failed_now, 2);
	assert_int_equal(b.pending, 0);

	f[0].state = FLOW_HW_OFFLOADED;
	hw_budget_confirmed(&b, &f[0]);
	hw_budget_confirmed(&b, &f[2]);
	assert_false(f[0].hw_failed);
	assert_int_equal(b.late, 1);
}

/* A flow that never entered the flowtable is never refused, however old. */
static void test_recount_needs_an_entry(void **state)
{
	struct hw_budget b = { 0 };
	struct flow f = mkflow(TIER_HW, FLOW_OFFLOADED, 10, 0);

	(void)state;
	hw_budget_recount_begin(&b);
	assert_false(hw_budget_count(&b, &f, UNTIL, CONFIRM, 1000000));
	hw_budget_recount_end(&b);
	assert_int_equal(b.failed, 0);
	assert_int_equal(b.pending, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_of_each_state),
		cmocka_unit_test(test_slot_of_admitted),
		cmocka_unit_test(test_take_release),
		cmocka_unit_test(test_recount_finds_refusals),
		cmocka_unit_test(test_recount_needs_an_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
