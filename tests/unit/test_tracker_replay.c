/* Unit tests for tracker.c on ctnetlink messages recorded from a real kernel
 * (tests/unit/data/): events and dump rows replayed in order, checked after each. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libmnl/libmnl.h>

#include "config.h"
#include "ct_admit.h"
#include "ct_parse.h"
#include "classes.h"
#include "flows.h"
#include "hw_budget.h"
#include "recording.h"
#include "tracker.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The recording's router set ct mark 0x1 on TCP/5001 and 0x5 on UDP/5003
 * (data/README).  Under the default mask 0x0c000000 both read ADMIT_NONE
 * and the replay would only show three plain decisions.  Under 0x6 (two
 * contiguous bits, as [offload] mark-mask requires) the unit is 0x2:
 * 0x1 lies outside the mask, a foreign bit the agent must keep, so the
 * IPv4 TCP flow is undecided and gets our hardware bit (0x4 under mask
 * 0x4, field 0x5 after); 0x5 reads 0x4 = ADMIT_HW, so the UDP flow
 * carries a hardware admission from an earlier run and is adopted, not
 * decided.  The unmarked IPv6 flow comes when the one hardware entry
 * (capacity 1, watermark 100%) is pending: software tier.
 */
#define MASK 0x6u
#define HW_BIT 0x4u

/* ---- the recordings -------------------------------------------------------- */

struct recording {
	char *buf;
	int len;
	int n;
	enum ct_msg type[32];
	struct ct_info ct[32];
};

static void load(struct recording *r, const char *name)
{
	const struct nlmsghdr *nlh;
	int len;

	memset(r, 0, sizeof(*r));
	r->buf = recording_read(name, &r->len);
	/* Every message parses: test_ct_parse.c checks them field by field. */
	len = r->len;
	for (nlh = (const struct nlmsghdr *)r->buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		assert_true(r->n < (int)ARRAY_SIZE(r->ct));
		assert_int_equal(ct_parse(nlh, &r->ct[r->n], &r->type[r->n]), 0);
		r->n++;
	}
	assert_int_equal(len, 0);
}

static void unload(struct recording *r)
{
	free(r->buf);
}

/* The three flows of the recording, as their first messages name them. */
enum { TCP4, TCP6, UDP4, NFLOWS };
static const int first_msg[NFLOWS] = { 0, 3, 6 };
#define NEVENTS 17

/* ---- the tracker under test ------------------------------------------------ */

struct fake_writer {
	size_t n;
	uint32_t value[8];
	uint32_t mask[8];
	uint32_t id[8];
};

static int fake_set_mark(void *arg, const struct ct_info *ct, uint32_t value, uint32_t mask,
			 char *err, size_t errlen)
{
	struct fake_writer *w = arg;

	(void)err;
	(void)errlen;
	if (w->n < ARRAY_SIZE(w->value)) {
		w->value[w->n] = value;
		w->mask[w->n] = mask;
		w->id[w->n] = ct->id;
	}
	w->n++;
	return 0;
}

struct fixture {
	struct fo_config cfg;
	struct ruleset_plan plan;
	struct fake_writer w;
	struct tracker *t;
	struct recording ev, dump, dump_mark;
	const struct ct_info *flow_ct[NFLOWS];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct tracker_ops ops;
	int i;

	assert_non_null(fx);
	config_defaults(&fx->cfg);
	fx->cfg.mark_mask = MASK;
	fx->cfg.hw_capacity = 1;
	fx->cfg.hw_watermark = 100;
	fx->cfg.classes_learn = true;
	fx->plan.n_sw = 1;
	fx->plan.n_hw = 1;
	ops = (struct tracker_ops){ fake_set_mark, &fx->w };
	assert_int_equal(tracker_create(&fx->t, &fx->cfg, &fx->plan, &ops), 0);
	load(&fx->ev, "events.bin");
	load(&fx->dump, "dump.bin");
	load(&fx->dump_mark, "dump_mark.bin");
	assert_int_equal(fx->ev.n, NEVENTS);
	assert_int_equal(fx->dump.n, 3);
	assert_int_equal(fx->dump_mark.n, 1);
	for (i = 0; i < NFLOWS; i++) {
		assert_int_equal(fx->ev.type[first_msg[i]], CT_MSG_NEW);
		fx->flow_ct[i] = &fx->ev.ct[first_msg[i]];
	}
	/* The premise of MASK: what each flow's recorded mark reads as. */
	assert_int_equal(fx->flow_ct[TCP4]->mark & MASK, 0);
	assert_false(fx->flow_ct[TCP6]->has_mark);
	assert_int_equal(fx->flow_ct[UDP4]->mark & MASK, ct_admit_value(MASK, ADMIT_HW));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tracker_destroy(fx->t);
	unload(&fx->ev);
	unload(&fx->dump);
	unload(&fx->dump_mark);
	free(fx);
	return 0;
}

static struct flow *flow_of(struct fixture *fx, int i)
{
	return flows_lookup(tracker_flows(fx->t), fx->flow_ct[i]);
}

static const struct tracker_stats *st(const struct fixture *fx)
{
	return tracker_stats(fx->t);
}

/* ---- the expected story, message by message -------------------------------- */

/* clang-format off */
#define GONE { -1, 0 }
#define A_HW { FLOW_ADMITTED, TIER_HW }
#define A_SW { FLOW_ADMITTED, TIER_SW }

struct after {
	struct {
		int state;	/* -1: not tracked */
		int tier;
	} flow[NFLOWS];
	size_t writes;		/* marks written so far */
	uint32_t pending;	/* hardware slots held, admitted not confirmed */
	uint64_t admit_hw, admit_sw, adopted;
};

static const struct after story[NEVENTS] = {
	/* 0 NEW TCP4 SYN_SENT, mark 0x1: decided, hardware room: our bit. */
	{ { A_HW, GONE, GONE }, 1, 1, 1, 0, 0 },
	/* 1, 2 UPDATE TCP4 to SYN_RECV, ESTABLISHED: nothing new. */
	{ { A_HW, GONE, GONE }, 1, 1, 1, 0, 0 },
	{ { A_HW, GONE, GONE }, 1, 1, 1, 0, 0 },
	/* 3 NEW TCP6, no mark: the one hardware entry is pending: software,
	 * for which the ruleset needs no mark. */
	{ { A_HW, A_SW, GONE }, 1, 1, 1, 1, 0 },
	{ { A_HW, A_SW, GONE }, 1, 1, 1, 1, 0 },
	{ { A_HW, A_SW, GONE }, 1, 1, 1, 1, 0 },
	/* 6 NEW UDP4, mark 0x5 = ADMIT_HW: adopted as it is, over capacity
	 * (the decision was taken before), holding a pending slot. */
	{ { A_HW, A_SW, A_HW }, 1, 2, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 2, 1, 1, 1 },
	/* 8 UPDATE TCP4 FIN_WAIT: a closing flow is never re-added to the
	 * NIC: its pending slot goes. */
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	{ { A_HW, A_SW, A_HW }, 1, 1, 1, 1, 1 },
	/* 14-16 `conntrack -F`: DESTROY UDP4, TCP4, TCP6. */
	{ { A_HW, A_SW, GONE }, 1, 0, 1, 1, 1 },
	{ { GONE, A_SW, GONE }, 1, 0, 1, 1, 1 },
	{ { GONE, GONE, GONE }, 1, 0, 1, 1, 1 },
};
/* clang-format on */

/* A mismatch names the message it followed. */
#define EXPECT(msg, what, got, want)                                                             \
	do {                                                                                     \
		unsigned long long got_ = (got), want_ = (want);                                 \
		if (got_ != want_)                                                               \
			fail_msg("after message %d: %s is %llu, expected %llu", msg, what, got_, \
				 want_);                                                         \
	} while (0)

static void check_after(struct fixture *fx, const struct after *a, int msg, size_t writes0,
			uint64_t decided0)
{
	static const char *const names[NFLOWS] = { "TCP4", "TCP6", "UDP4" };
	const struct hw_budget *b = tracker_budget(fx->t);
	char what[64];
	size_t tracked = 0;
	int i;

	for (i = 0; i < NFLOWS; i++) {
		struct flow *f = flow_of(fx, i);

		if (a->flow[i].state < 0) {
			if (f)
				fail_msg("after message %d: %s still tracked", msg, names[i]);
			continue;
		}
		if (!f)
			fail_msg("after message %d: %s not tracked", msg, names[i]);
		tracked++;
		snprintf(what, sizeof(what), "%s state", names[i]);
		EXPECT(msg, what, f->state, a->flow[i].state);
		snprintf(what, sizeof(what), "%s tier", names[i]);
		EXPECT(msg, what, f->tier, a->flow[i].tier);
	}
	EXPECT(msg, "flows tracked", flows_count(tracker_flows(fx->t)), tracked);
	EXPECT(msg, "marks written", fx->w.n, writes0 + a->writes);
	EXPECT(msg, "hw pending", b->pending, a->pending);
	EXPECT(msg, "hw in use", b->in_use, 0);
	EXPECT(msg, "admit-hw verdicts", st(fx)->verdicts[VERDICT_ADMIT_HW],
	       decided0 + a->admit_hw);
	EXPECT(msg, "admit-sw verdicts", st(fx)->verdicts[VERDICT_ADMIT_SW],
	       decided0 + a->admit_sw);
	EXPECT(msg, "skip+wait verdicts",
	       st(fx)->verdicts[VERDICT_SKIP] + st(fx)->verdicts[VERDICT_WAIT], 0);
	EXPECT(msg, "adopted", st(fx)->adopted, decided0 + a->adopted);
}

/* Events from..to-1 in order, each checked against the story; now = 1000 +
 * 100 ms per message. */
static void replay_events(struct fixture *fx, int from, int to, size_t writes0, uint64_t decided0)
{
	int i;

	for (i = from; i < to; i++) {
		tracker_event(fx->t, fx->ev.type[i], &fx->ev.ct[i], 1000 + 100 * (uint64_t)i);
		check_after(fx, &story[i], i, writes0, decided0);
	}
}

/* One full dump (resync) of a recording's rows. */
static size_t full_dump(struct fixture *fx, const struct recording *r, uint64_t now)
{
	int i;

	tracker_dump_begin(fx->t);
	for (i = 0; i < r->n; i++) {
		assert_int_equal(r->type[i], CT_MSG_DUMP);
		tracker_dumped(fx->t, r->type[i], &r->ct[i], now);
	}
	return tracker_sweep(fx->t, now);
}

/* ---- the cases -------------------------------------------------------------- */

/* The recorded events from the first SYN to `conntrack -F`. */
static void test_replay_events(void **state)
{
	struct fixture *fx = *state;
	struct flow *f;

	tracker_event(fx->t, fx->ev.type[0], &fx->ev.ct[0], 1000);
	check_after(fx, &story[0], 0, 0, 0);
	/* Our hardware bit alone, on the IPv4 TCP conntrack. */
	assert_int_equal(fx->w.value[0], HW_BIT);
	assert_int_equal(fx->w.mask[0], HW_BIT);
	assert_int_equal(fx->w.id[0], fx->flow_ct[TCP4]->id);
	f = flow_of(fx, TCP4);
	assert_int_equal(f->skip_reason, REASON_CLASS_LEARNING);
	replay_events(fx, 1, NEVENTS, 0, 0);

	assert_int_equal(st(fx)->events[CT_MSG_NEW], 3);
	assert_int_equal(st(fx)->events[CT_MSG_UPDATE], 11);
	assert_int_equal(st(fx)->events[CT_MSG_DESTROY], 3);
	assert_int_equal(st(fx)->events[CT_MSG_DUMP], 0);
	assert_int_equal(st(fx)->reasons[REASON_CLASS_LEARNING], 2);
	assert_int_equal(st(fx)->admit_errors + st(fx)->admit_gone + st(fx)->table_full, 0);
	assert_int_equal(st(fx)->ignored + st(fx)->quiet_skipped, 0);
	/* Never [OFFLOAD] in the recording (no flowtable on that router). */
	assert_int_equal(st(fx)->offloaded + st(fx)->hw_offloaded + st(fx)->returned, 0);
	assert_int_equal(st(fx)->hw_raced + st(fx)->hw_returned_sw, 0);
	/* Events carry no counters before DESTROY, so the TIME_WAIT updates
	 * teach nothing; the three DESTROYs (final counters, UDP answered)
	 * each teach their class once. */
	assert_int_equal(st(fx)->class_learned_at_close, 0);
	assert_int_equal(classes_counters(tracker_classes(fx->t))->observed, 3);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 0);
	assert_int_equal(tracker_budget(fx->t)->max_in_use, 2);
}

/* The same recording twice: the first flush leaves nothing behind, so the
 * second pass (same ids, same tuples) tells the same story. */
static void test_replay_events_twice(void **state)
{
	struct fixture *fx = *state;

	replay_events(fx, 0, NEVENTS, 0, 0);
	replay_events(fx, 0, NEVENTS, 1, 1);
	assert_int_equal(fx->w.value[1], HW_BIT);
	assert_int_equal(fx->w.id[1], fx->flow_ct[TCP4]->id);
	assert_int_equal(st(fx)->events[CT_MSG_NEW], 6);
	assert_int_equal(st(fx)->events[CT_MSG_DESTROY], 6);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 0);
}

/* The dump was taken with both TCP flows established and UDP answered,
 * between events 7 and 8: a resync there finds the three flows known,
 * adds no entry, sweeps none, changes no decision; the rows' counters
 * and marks are folded in. */
static void test_dump_between_events(void **state)
{
	struct fixture *fx = *state;
	struct flow *f;

	replay_events(fx, 0, 8, 0, 0);
	assert_int_equal(full_dump(fx, &fx->dump, 1750), 0);
	check_after(fx, &story[7], 7, 0, 0);
	assert_int_equal(st(fx)->events[CT_MSG_DUMP], 3);
	/* The row for TCP6 carries mark 0 (dumps always do): still nothing
	 * under the mask, no decision again. */
	f = flow_of(fx, TCP6);
	assert_true(f->ct.has_counters);
	assert_int_equal(f->ct.packets[0], 6);
	assert_int_equal(f->ct.packets[1], 5);
	f = flow_of(fx, UDP4);
	assert_int_equal(f->ct.bytes[0], 384);
	assert_int_equal(f->ct.mark, 0x5);
	replay_events(fx, 8, NEVENTS, 0, 0);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 0);
}

/* The startup order: the dump first, then the events.  The rows decide
 * (same outcome as the NEW events would); the events that follow,
 * NEW included, find each flow and create no second entry. */
static void test_dump_then_events(void **state)
{
	struct fixture *fx = *state;
	int i;

	assert_int_equal(full_dump(fx, &fx->dump, 500), 0);
	/* Rows in dump order: UDP4 (adopted, pending), TCP6 (mark 0: decided,
	 * no room: software), TCP4 (mark 0x1: decided, no room: software). */
	assert_int_equal(flows_count(tracker_flows(fx->t)), 3);
	assert_int_equal(flow_of(fx, UDP4)->tier, TIER_HW);
	assert_int_equal(flow_of(fx, TCP6)->tier, TIER_SW);
	assert_int_equal(flow_of(fx, TCP4)->tier, TIER_SW);
	assert_int_equal(st(fx)->adopted, 1);
	assert_int_equal(st(fx)->verdicts[VERDICT_ADMIT_SW], 2);
	assert_int_equal(st(fx)->verdicts[VERDICT_ADMIT_HW], 0);
	assert_int_equal(fx->w.n, 0);
	assert_int_equal(tracker_budget(fx->t)->pending, 1);

	for (i = 0; i < 14; i++) {
		tracker_event(fx->t, fx->ev.type[i], &fx->ev.ct[i], 1000 + 100 * (uint64_t)i);
		assert_int_equal(flows_count(tracker_flows(fx->t)), 3);
	}
	/* Known flows are refreshed, not decided again. */
	assert_int_equal(st(fx)->adopted, 1);
	assert_int_equal(st(fx)->verdicts[VERDICT_ADMIT_SW], 2);
	assert_int_equal(st(fx)->verdicts[VERDICT_ADMIT_HW], 0);
	assert_int_equal(fx->w.n, 0);
	assert_int_equal(flow_of(fx, TCP4)->tier, TIER_SW);
	for (; i < NEVENTS; i++)
		tracker_event(fx->t, fx->ev.type[i], &fx->ev.ct[i], 1000 + 100 * (uint64_t)i);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 0);
	assert_int_equal(tracker_budget(fx->t)->pending, 0);
}

/* dump_mark.bin as a full dump that shows only the UDP flow: the sweep
 * keeps it and drops the two TCP flows; the budget is recounted; their
 * DESTROYs later find nothing to remove. */
static void test_sweep_keeps_what_dump_saw(void **state)
{
	struct fixture *fx = *state;
	int i;

	replay_events(fx, 0, 8, 0, 0);
	assert_int_equal(full_dump(fx, &fx->dump_mark, 1750), 2);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 1);
	assert_non_null(flow_of(fx, UDP4));
	assert_null(flow_of(fx, TCP4));
	assert_null(flow_of(fx, TCP6));
	/* TCP4's pending slot went with it. */
	assert_int_equal(tracker_budget(fx->t)->pending, 1);
	/* A second sweep after a dump of all three keeps the survivor, and
	 * the dump brings the two TCP flows back, each once. */
	assert_int_equal(full_dump(fx, &fx->dump, 1800), 0);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 3);
	assert_int_equal(st(fx)->adopted, 1);
	/* Back by rows with the hardware entry taken by UDP4: software. */
	assert_int_equal(flow_of(fx, TCP4)->tier, TIER_SW);
	assert_int_equal(st(fx)->verdicts[VERDICT_ADMIT_SW], 3);
	for (i = 14; i < NEVENTS; i++)
		tracker_event(fx->t, fx->ev.type[i], &fx->ev.ct[i], 2000);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 0);
	assert_int_equal(tracker_budget(fx->t)->pending, 0);
}

/* events = window: the dump tracks only rows with our bits (UDP4, 0x5)
 * or flows known already; the others wait for the rule's mark. */
static void test_events_window_dump(void **state)
{
	struct fixture *fx = *state;

	fx->cfg.events_window = true;
	assert_int_equal(full_dump(fx, &fx->dump, 500), 0);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 1);
	assert_non_null(flow_of(fx, UDP4));
	assert_int_equal(st(fx)->quiet_skipped, 2);
	assert_int_equal(st(fx)->events[CT_MSG_DUMP], 3);
	assert_int_equal(st(fx)->adopted, 1);
	assert_int_equal(fx->w.n, 0);
	/* Once the NEW event of TCP4 made it known, its row is folded in. */
	tracker_event(fx->t, fx->ev.type[0], &fx->ev.ct[0], 1000);
	assert_int_equal(full_dump(fx, &fx->dump, 1750), 0);
	assert_int_equal(flows_count(tracker_flows(fx->t)), 2);
	assert_int_equal(st(fx)->quiet_skipped, 3);
	assert_int_equal(flow_of(fx, TCP4)->ct.packets[0], 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replay_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_events_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_between_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_then_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_keeps_what_dump_saw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_window_dump, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
