/* Unit tests for tracker.c: event sequences as the kernel sends them (NEW,
 * UPDATE with a mark, dump rows, DESTROY) replayed through the flow state
 * machine with a fake mark writer; decisions, marks written and counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "classes.h"
#include "config.h"
#include "ct_admit.h"
#include "ct_gone.h"
#include "flows.h"
#include "hw_budget.h"
#include "tracker.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ST_OK (FO_IPS_SEEN_REPLY | FO_IPS_ASSURED)
#define OFF FO_IPS_OFFLOAD
#define HWOFF (FO_IPS_OFFLOAD | FO_IPS_HW_OFFLOAD)
#define EST TCP_CONNTRACK_ESTABLISHED
#define SW_HW ADMIT_SKIP /* the field after our HW bit landed on a SW flow */

/* The fake mark writer: records each write, answers from a script. */
struct fake_writer {
	int answers[8];		/* returned by the first writes; then 0 */
	size_t n;
	uint32_t value[16];
	uint32_t mask[16];
};

static int fake_set_mark(void *arg, const struct ct_info *ct, uint32_t value, uint32_t mask,
			 char *err, size_t errlen)
{
	struct fake_writer *w = arg;
	int ret = w->n < ARRAY_SIZE(w->answers) ? w->answers[w->n] : 0;

	(void)ct;
	if (ret && ret != -ENOENT)
		snprintf(err, errlen, "refused by the test");
	if (w->n < ARRAY_SIZE(w->value)) {
		w->value[w->n] = value;
		w->mask[w->n] = mask;
	}
	w->n++;
	return ret;
}

struct fixture {
	struct fo_config cfg;
	struct ruleset_plan plan;
	struct fake_writer w;
	struct tracker *t;
};

static void setup_fx(struct fixture *fx, bool hw, bool learn)
{
	struct tracker_ops ops = { fake_set_mark, &fx->w };

	memset(fx, 0, sizeof(*fx));
	config_defaults(&fx->cfg);
	fx->cfg.classes_learn = learn;
	fx->cfg.max_flows = 64;
	fx->plan.n_sw = 1;
	fx->plan.n_hw = hw ? 1 : 0;
	assert_int_equal(tracker_create(&fx->t, &fx->cfg, &fx->plan, &ops), 0);
}

/* One message of a recorded sequence, and the flow expected after it. */
struct step {
	enum ct_msg type;
	uint64_t at;		/* ms */
	uint32_t status;	/* besides SEEN_REPLY|ASSURED */
	enum admit_value mark;	/* the field in the message */
	uint64_t packets;
	uint8_t tcp_state;	/* 0: established */
	int state;		/* expected; -1: no longer tracked */
	int tier;
	size_t writes;		/* marks written so far */
};

static struct ct_info mkct(const struct fixture *fx, uint32_t id, const struct step *s)
{
	struct ct_info ct;

	memset(&ct, 0, sizeof(ct));
	ct.id = id;
	ct.family = AF_INET;
	ct.proto = IPPROTO_TCP;
	ct.tcp_state = s->tcp_state ? s->tcp_state : EST;
	memcpy(ct.orig.src, "\xc0\xa8\x01\x02", 4);
	memcpy(ct.orig.dst, "\xc6\x33\x64\x07", 4);
	ct.orig.sport = (uint16_t)(40000 + id);
	ct.orig.dport = 443;
	memcpy(ct.reply.src, ct.orig.dst, 4);
	memcpy(ct.reply.dst, ct.orig.src, 4);
	ct.reply.sport = 443;
	ct.reply.dport = ct.orig.sport;
	ct.has_status = true;
	ct.status = ST_OK | s->status;
	ct.has_mark = true;
	ct.mark = ct_admit_value(fx->cfg.mark_mask, s->mark);
	ct.has_counters = true;
	ct.packets[0] = (s->packets + 1) / 2;
	ct.packets[1] = s->packets / 2;
	ct.bytes[0] = ct.packets[0] * 1400;
	ct.bytes[1] = ct.packets[1] * 60;
	return ct;
}

static void replay(struct fixture *fx, uint32_t id, const struct step *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		struct ct_info ct = mkct(fx, id, s);
		struct flow *f;

		tracker_event(fx->t, s->type, &ct, s->at);
		f = flows_lookup(tracker_flows(fx->t), &ct);
		if (s->state < 0) {
			assert_null(f);
		} else {
			assert_non_null(f);
			assert_int_equal(f->state, s->state);
			assert_int_equal(f->tier, s->tier);
		}
		assert_int_equal(fx->w.n, s->writes);
	}
}

static const struct tracker_stats *st_of(const struct fixture *fx)
{
	return tracker_stats(fx->t);
}

/* No hardware: the rule offloads at packet N, no mark is written; the
 * dumps show the flow enter the flowtable and come back. */
static void test_software_flow(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 20, OFF, ADMIT_SW, 6, 0, FLOW_OFFLOADED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 30, OFF, ADMIT_SW, 900, 0, FLOW_OFFLOADED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 40, 0, ADMIT_SW, 2000, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DESTROY, 50, 0, ADMIT_SW, 2000, 0, -1, 0, 0 },
	};
	struct fixture fx;

	(void)state;
	setup_fx(&fx, false, false);
	replay(&fx, 1, seq, ARRAY_SIZE(seq));
	assert_int_equal(st_of(&fx)->verdicts[VERDICT_ADMIT_SW], 1);
	assert_int_equal(st_of(&fx)->reasons[REASON_NO_CLASS], 1);
	assert_int_equal(st_of(&fx)->offloaded, 1);
	assert_int_equal(st_of(&fx)->returned, 1);
	assert_int_equal(st_of(&fx)->events[CT_MSG_NEW], 1);
	assert_int_equal(st_of(&fx)->events[CT_MSG_DUMP], 3);
	assert_int_equal(st_of(&fx)->events[CT_MSG_DESTROY], 1);
	tracker_destroy(fx.t);
}

static bool path_is_fast;
static unsigned int path_asked;

static bool fake_path_fast(void *arg, const struct ct_info *ct, bool hw)
{
	(void)arg;
	(void)ct;
	(void)hw;
	path_asked++;
	return path_is_fast;
}

/* [OFFLOAD] while the flow enters on a device the flowtable does not hook
 * is not reported offloaded; once the path is fast, it is. */
static void test_offloaded_only_on_a_fast_path(void **state)
{
	static const struct step slow[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 20, OFF, ADMIT_SW, 6, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 30, OFF, ADMIT_SW, 200, 0, FLOW_ADMITTED, TIER_SW, 0 },
	};
	static const struct step fast[] = {
		{ CT_MSG_DUMP, 40, OFF, ADMIT_SW, 300, 0, FLOW_OFFLOADED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 50, OFF, ADMIT_SW, 400, 0, FLOW_OFFLOADED, TIER_SW, 0 },
	};
	struct tracker_ops ops = { fake_set_mark, NULL, fake_path_fast };
	struct fixture fx;

	(void)state;
	setup_fx(&fx, false, false);
	tracker_destroy(fx.t);
	ops.arg = &fx.w;
	assert_int_equal(tracker_create(&fx.t, &fx.cfg, &fx.plan, &ops), 0);
	path_is_fast = false;
	path_asked = 0;
	replay(&fx, 1, slow, ARRAY_SIZE(slow));
	assert_int_equal(path_asked, 2);
	assert_int_equal(st_of(&fx)->offloaded, 0);
	path_is_fast = true;
	replay(&fx, 1, fast, ARRAY_SIZE(fast));
	/* Asked once more: an offloaded flow is not asked again. */
	assert_int_equal(path_asked, 3);
	assert_int_equal(st_of(&fx)->offloaded, 1);
	tracker_destroy(fx.t);
}

/* Hardware: our bit is written alone (mask = the bit), the flow holds a
 * pending slot until [HW_OFFLOAD], then an in-use one until DESTROY. */
static void test_hardware_flow(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_UPDATE, 15, 0, ADMIT_HW, 3, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 20, HWOFF, ADMIT_HW, 6, 0, FLOW_HW_OFFLOADED, TIER_HW, 1 },
	};
	static const struct step end = { CT_MSG_DESTROY, 30, 0, ADMIT_HW, 9, 0, -1, 0, 1 };
	const struct hw_budget *b;
	struct fixture fx;

	(void)state;
	setup_fx(&fx, true, false);
	replay(&fx, 2, seq, 1);
	b = tracker_budget(fx.t);
	assert_int_equal(fx.w.value[0], ct_admit_value(fx.cfg.mark_mask, ADMIT_HW));
	assert_int_equal(fx.w.mask[0], ct_admit_value(fx.cfg.mark_mask, ADMIT_HW));
	assert_int_equal(b->pending, 1);
	replay(&fx, 2, seq + 1, 2);
	assert_int_equal(b->pending, 0);
	assert_int_equal(b->in_use, 1);
	assert_int_equal(b->max_in_use, 1);
	assert_int_equal(st_of(&fx)->hw_offloaded, 1);
	assert_int_equal(st_of(&fx)->verdicts[VERDICT_ADMIT_HW], 1);
	replay(&fx, 2, &end, 1);
	assert_int_equal(b->in_use, 0);
	tracker_destroy(fx.t);
}

/* The software rule took the flow at packet N before our hardware bit
 * landed: the field reads SW|HW, the flow sits in the software flowtable,
 * and the tracker turns the field back to the software value. */
static void test_hardware_lost_race(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 4, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 20, OFF, SW_HW, 8, 0, FLOW_OFFLOADED, TIER_SW, 2 },
		{ CT_MSG_DUMP, 5000, OFF, ADMIT_SW, 9, 0, FLOW_OFFLOADED, TIER_SW, 2 },
	};
	const struct hw_budget *b;
	struct fixture fx;

	(void)state;
	setup_fx(&fx, true, false);
	replay(&fx, 3, seq, ARRAY_SIZE(seq));
	assert_int_equal(fx.w.value[1], ct_admit_value(fx.cfg.mark_mask, ADMIT_SW));
	assert_int_equal(fx.w.mask[1], fx.cfg.mark_mask);
	assert_int_equal(st_of(&fx)->hw_raced, 1);
	assert_int_equal(st_of(&fx)->offloaded, 1);
	assert_int_equal(st_of(&fx)->hw_offloaded, 0);
	/* A software flow: no slot, and never a refusal by the driver. */
	b = tracker_budget(fx.t);
	tracker_recount(fx.t, 100000);
	assert_int_equal(b->pending, 0);
	assert_int_equal(b->failed, 0);
	tracker_destroy(fx.t);
}

/* A raced flow whose conntrack died meanwhile stays what it is; another
 * refusal is counted as an admission error. */
static void test_lost_race_write_fails(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 4, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 20, OFF, SW_HW, 8, 0, FLOW_OFFLOADED, TIER_SW, 2 },
	};
	struct fixture fx;
	struct flow *f;
	struct ct_info ct;

	(void)state;
	setup_fx(&fx, true, false);
	fx.w.answers[1] = -ENOENT;
	replay(&fx, 4, seq, ARRAY_SIZE(seq));
	assert_int_equal(st_of(&fx)->admit_errors, 0);
	assert_int_equal(st_of(&fx)->hw_raced, 1);
	tracker_destroy(fx.t);

	setup_fx(&fx, true, false);
	fx.w.answers[1] = -EPERM;
	replay(&fx, 5, seq, ARRAY_SIZE(seq));
	assert_int_equal(st_of(&fx)->admit_errors, 1);
	assert_int_equal(st_of(&fx)->hw_raced, 1);
	/* SW|HW stays in the field: the next dump does not race again. */
	ct = mkct(&fx, 5, &seq[1]);
	f = flows_lookup(tracker_flows(fx.t), &ct);
	assert_int_equal(f->ct.mark & fx.cfg.mark_mask, fx.cfg.mark_mask);
	tracker_destroy(fx.t);
}

/* Past the window's end the hw-return rule moves a hardware flow into the
 * software flowtable and stamps the software value: no slot any more. */
static void test_hardware_returns_to_software(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 20, HWOFF, ADMIT_HW, 6, 0, FLOW_HW_OFFLOADED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 30, 0, ADMIT_HW, 1200, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 40, OFF, ADMIT_SW, 1300, 0, FLOW_OFFLOADED, TIER_SW, 1 },
	};
	const struct hw_budget *b;
	struct fixture fx;

	(void)state;
	setup_fx(&fx, true, false);
	replay(&fx, 6, seq, 2);
	b = tracker_budget(fx.t);
	assert_int_equal(b->in_use, 1);
	/* Out of the NIC past the window: the hardware rule will not re-add
	 * it, so it frees its slot. */
	replay(&fx, 6, seq + 2, 1);
	assert_int_equal(b->in_use, 0);
	assert_int_equal(b->pending, 0);
	assert_int_equal(st_of(&fx)->returned, 1);
	replay(&fx, 6, seq + 3, 1);
	assert_int_equal(st_of(&fx)->hw_returned_sw, 1);
	assert_int_equal(st_of(&fx)->offloaded, 0);
	assert_int_equal(b->in_use + b->pending + b->failed_now, 0);
	tracker_destroy(fx.t);
}

/* In the flowtable without [HW_OFFLOAD] past confirm-timeout: refused,
 * counted once, slot freed; the kernel's retry may still get it in. */
static void test_hardware_refused_then_late(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 1000, OFF, ADMIT_HW, 6, 0, FLOW_OFFLOADED, TIER_HW, 1 },
		{ CT_MSG_DUMP, 9000, HWOFF, ADMIT_HW, 60, 0, FLOW_HW_OFFLOADED, TIER_HW, 1 },
	};
	const struct hw_budget *b;
	struct fixture fx;

	(void)state;
	setup_fx(&fx, true, false);
	replay(&fx, 7, seq, 2);
	b = tracker_budget(fx.t);
	tracker_recount(fx.t, 1000 + fx.cfg.hw_confirm_ms - 1);
	assert_int_equal(b->failed, 0);
	assert_int_equal(b->pending, 1);
	tracker_recount(fx.t, 1000 + fx.cfg.hw_confirm_ms);
	assert_int_equal(b->failed, 1);
	assert_int_equal(b->failed_now, 1);
	assert_int_equal(b->pending, 0);
	tracker_recount(fx.t, 1000 + 2 * fx.cfg.hw_confirm_ms);
	assert_int_equal(b->failed, 1);
	replay(&fx, 7, seq + 2, 1);
	assert_int_equal(b->late, 1);
	assert_int_equal(b->in_use, 1);
	assert_int_equal(b->failed_now, 0);
	tracker_destroy(fx.t);
}

/* A mark found on a new flow is a decision taken before (a restart). */
static void test_adopts_marks(void **state)
{
	static const struct step hw = { CT_MSG_DUMP, 10, 0, ADMIT_HW, 3, 0, FLOW_ADMITTED,
					TIER_HW, 0 };
	static const struct step skip = { CT_MSG_DUMP, 10, 0, ADMIT_SKIP, 3, 0, FLOW_SKIPPED,
					  TIER_NONE, 0 };
	static const struct step sw = { CT_MSG_DUMP, 10, OFF, ADMIT_SW, 30, 0, FLOW_OFFLOADED,
					TIER_SW, 0 };
	struct fixture fx;

	(void)state;
	setup_fx(&fx, true, false);
	replay(&fx, 8, &hw, 1);
	replay(&fx, 9, &skip, 1);
	replay(&fx, 10, &sw, 1);
	assert_int_equal(st_of(&fx)->adopted, 3);
	assert_int_equal(tracker_budget(fx.t)->pending, 1);
	assert_int_equal(st_of(&fx)->verdicts[VERDICT_ADMIT_HW], 0);
	assert_int_equal(st_of(&fx)->offloaded, 1);
	tracker_destroy(fx.t);
}

/* The conntrack died before our write: skipped, counted gone; any other
 * refusal leaves the flow undecided, to be tried on its next message. */
static void test_admission_write_fails(void **state)
{
	static const struct step gone = { CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_SKIPPED,
					  TIER_NONE, 1 };
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_WAITING, TIER_NONE, 2 },
		{ CT_MSG_UPDATE, 20, 0, ADMIT_NONE, 2, 0, FLOW_ADMITTED, TIER_HW, 3 },
	};
	struct fixture fx;
	struct ct_info ct;

	(void)state;
	setup_fx(&fx, true, false);
	fx.w.answers[0] = -ENOENT;
	fx.w.answers[1] = -EPERM;
	replay(&fx, 11, &gone, 1);
	ct = mkct(&fx, 11, &gone);
	assert_int_equal(flows_lookup(tracker_flows(fx.t), &ct)->skip_reason, REASON_STATE);
	assert_int_equal(st_of(&fx)->admit_gone, 1);
	replay(&fx, 12, seq, ARRAY_SIZE(seq));
	assert_int_equal(st_of(&fx)->admit_errors, 1);
	assert_int_equal(st_of(&fx)->verdicts[VERDICT_ADMIT_HW], 3);
	assert_int_equal(tracker_budget(fx.t)->pending, 1);
	tracker_destroy(fx.t);
}

/* A burst: more new flows than the budget holds, every one decided before
 * the first reaches the flowtable (a fast machine sees a SYN flood of
 * elephants so).  The pending slots alone must stop the hardware admissions
 * at the watermark; the rest go to software.  Then the first ones reach the
 * chip: pending slots become in-use slots, no new room appears. */
static void test_hardware_burst(void **state)
{
	static const struct step born = { CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, -2, 0, 0 };
	static const struct step in_hw = { CT_MSG_UPDATE, 20, HWOFF, ADMIT_HW, 14, 0, -2, 0, 0 };
	const struct hw_budget *b;
	struct fixture fx;
	uint32_t id, hw = 0, sw = 0, limit;

	(void)state;
	setup_fx(&fx, true, false);
	fx.cfg.hw_capacity = 10;
	fx.cfg.hw_watermark = 80;
	limit = 8;
	for (id = 100; id < 130; id++) {
		struct ct_info ct = mkct(&fx, id, &born);
		const struct flow *f;

		tracker_event(fx.t, CT_MSG_NEW, &ct, born.at);
		f = flows_lookup(tracker_flows(fx.t), &ct);
		assert_non_null(f);
		assert_int_equal(f->state, FLOW_ADMITTED);
		if (f->tier == TIER_HW)
			hw++;
		else if (f->tier == TIER_SW)
			sw++;
	}
	b = tracker_budget(fx.t);
	assert_int_equal(hw, limit);
	assert_int_equal(sw, 30 - limit);
	assert_int_equal(b->pending, limit);
	assert_int_equal(b->in_use, 0);
	assert_int_equal(fx.w.n, limit);	/* one mark per hardware admission */
	assert_int_equal(st_of(&fx)->verdicts[VERDICT_ADMIT_HW], limit);
	for (id = 100; id < 104; id++) {
		struct ct_info ct = mkct(&fx, id, &in_hw);

		tracker_event(fx.t, CT_MSG_UPDATE, &ct, in_hw.at);
	}
	assert_int_equal(b->pending, limit - 4);
	assert_int_equal(b->in_use, 4);
	assert_int_equal(b->max_in_use, limit);
	tracker_destroy(fx.t);
}

/* A closed TCP connection teaches its class when a dump first shows it
 * closed; its DESTROY (after TIME_WAIT) then teaches nothing again. */
static void test_learns_at_close(void **state)
{
	static const struct step seq[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DUMP, 500, 0, ADMIT_NONE, 12, TCP_CONNTRACK_TIME_WAIT, FLOW_ADMITTED,
		  TIER_SW, 0 },
		{ CT_MSG_DUMP, 900, 0, ADMIT_NONE, 12, TCP_CONNTRACK_TIME_WAIT, FLOW_ADMITTED,
		  TIER_SW, 0 },
		{ CT_MSG_DESTROY, 120500, 0, ADMIT_NONE, 12, TCP_CONNTRACK_CLOSE, -1, 0, 0 },
	};
	static const struct step plain[] = {
		{ CT_MSG_NEW, 10, 0, ADMIT_NONE, 1, 0, FLOW_ADMITTED, TIER_SW, 0 },
		{ CT_MSG_DESTROY, 700, 0, ADMIT_NONE, 12, TCP_CONNTRACK_CLOSE, -1, 0, 0 },
	};
	struct fixture fx;

	(void)state;
	setup_fx(&fx, false, true);
	replay(&fx, 13, seq, ARRAY_SIZE(seq));
	assert_int_equal(st_of(&fx)->class_learned_at_close, 1);
	assert_int_equal(classes_counters(tracker_classes(fx.t))->observed, 1);
	assert_int_equal(st_of(&fx)->reasons[REASON_CLASS_LEARNING], 1);
	/* Without a dump of its close, DESTROY teaches. */
	replay(&fx, 14, plain, ARRAY_SIZE(plain));
	assert_int_equal(st_of(&fx)->class_learned_at_close, 1);
	assert_int_equal(classes_counters(tracker_classes(fx.t))->observed, 2);
	tracker_destroy(fx.t);
}

/* events = window: a dumped conntrack without our bits is not tracked;
 * one with them, or one tracked already, is. */
static void test_events_window_dump(void **state)
{
	static const struct step bare = { CT_MSG_DUMP, 10, 0, ADMIT_NONE, 2, 0, -1, 0, 0 };
	static const struct step marked = { CT_MSG_DUMP, 10, OFF, ADMIT_SW, 8, 0, FLOW_OFFLOADED,
					    TIER_SW, 0 };
	struct fixture fx;
	struct ct_info ct;

	(void)state;
	setup_fx(&fx, false, false);
	fx.cfg.events_window = true;
	ct = mkct(&fx, 15, &bare);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 10);
	assert_null(flows_lookup(tracker_flows(fx.t), &ct));
	assert_int_equal(st_of(&fx)->quiet_skipped, 1);
	assert_int_equal(st_of(&fx)->events[CT_MSG_DUMP], 1);
	ct = mkct(&fx, 16, &marked);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 10);
	assert_non_null(flows_lookup(tracker_flows(fx.t), &ct));
	assert_int_equal(st_of(&fx)->quiet_skipped, 1);
	tracker_destroy(fx.t);
}

/* A full dump drops what it did not show; protocols we never offload are
 * not tracked at all. */
static void test_sweep_and_ignored(void **state)
{
	static const struct step row = { CT_MSG_DUMP, 10, 0, ADMIT_NONE, 2, 0, FLOW_ADMITTED,
					 TIER_SW, 0 };
	struct fixture fx;
	struct ct_info ct;

	(void)state;
	setup_fx(&fx, false, false);
	replay(&fx, 17, &row, 1);
	replay(&fx, 18, &row, 1);
	tracker_dump_begin(fx.t);
	ct = mkct(&fx, 18, &row);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 20);
	assert_int_equal(tracker_sweep(fx.t, 30), 1);
	assert_int_equal(flows_count(tracker_flows(fx.t)), 1);
	ct.proto = 1;
	tracker_event(fx.t, CT_MSG_NEW, &ct, 40);
	assert_int_equal(st_of(&fx)->ignored, 1);
	tracker_destroy(fx.t);
}

/* A dump row is older than an event read after the dump began: a resync
 * row of a conntrack whose DESTROY came first does not bring the flow
 * back (it would stay tracked until the next resync's sweep); a row read
 * before the DESTROY is undone by it; the same tuple with a new id (a new
 * connection) is tracked; and a status dump never starts tracking. */
static void test_dump_row_after_destroy(void **state)
{
	static const struct step row = { CT_MSG_DUMP, 10, OFF, ADMIT_SW, 40, 0, FLOW_OFFLOADED,
					 TIER_SW, 0 };
	static const struct step end = { CT_MSG_DESTROY, 12, OFF, ADMIT_SW, 40, 0, -1, 0, 0 };
	struct fixture fx;
	struct ct_info ct, gone, again;
	uint32_t id;

	(void)state;
	setup_fx(&fx, false, false);
	replay(&fx, 21, &row, 1);
	replay(&fx, 22, &row, 1);
	assert_int_equal(flows_count(tracker_flows(fx.t)), 2);

	tracker_dump_begin(fx.t);
	/* 21: DESTROY read, then its row. */
	gone = mkct(&fx, 21, &end);
	tracker_event(fx.t, CT_MSG_DESTROY, &gone, 12);
	ct = mkct(&fx, 21, &row);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 13);
	assert_null(flows_lookup(tracker_flows(fx.t), &ct));
	assert_int_equal(st_of(&fx)->dump_stale, 1);
	/* 22: its row, then its DESTROY. */
	ct = mkct(&fx, 22, &row);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 13);
	gone = mkct(&fx, 22, &end);
	tracker_event(fx.t, CT_MSG_DESTROY, &gone, 14);
	assert_null(flows_lookup(tracker_flows(fx.t), &ct));
	/* 21's tuple again under a new conntrack id: a new connection. */
	again = mkct(&fx, 21, &row);
	again.id = 1021;
	tracker_dumped(fx.t, CT_MSG_DUMP, &again, 15);
	assert_non_null(flows_lookup(tracker_flows(fx.t), &again));
	/* A row of the old conntrack (id 21) now: older than its DESTROY,
	 * it does not touch the new connection's record. */
	ct = mkct(&fx, 21, &row);
	ct.packets[0] = 999;
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 15);
	assert_int_not_equal(flows_lookup(tracker_flows(fx.t), &again)->ct.packets[0], 999);
	tracker_dump_end(fx.t);
	assert_int_equal(tracker_sweep(fx.t, 16), 0);
	assert_int_equal(flows_count(tracker_flows(fx.t)), 1);
	assert_int_equal(st_of(&fx)->dump_stale, 2);

	/* The next dump starts with an empty set: a row with 22's id and
	 * tuple is tracked (no DESTROY read since this dump began). */
	tracker_dump_begin(fx.t);
	ct = mkct(&fx, 22, &row);
	tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 20);
	assert_non_null(flows_lookup(tracker_flows(fx.t), &ct));
	tracker_dump_end(fx.t);

	/* Many DESTROYs during one dump: the set grows past its first size
	 * and still knows every one. */
	tracker_dump_begin(fx.t);
	for (id = 100; id < 3100; id++) {
		gone = mkct(&fx, id, &end);
		tracker_event(fx.t, CT_MSG_DESTROY, &gone, 30);
	}
	for (id = 100; id < 3100; id++) {
		ct = mkct(&fx, id, &row);
		tracker_dumped(fx.t, CT_MSG_DUMP, &ct, 31);
		assert_null(flows_lookup(tracker_flows(fx.t), &ct));
	}
	assert_int_equal(st_of(&fx)->dump_stale, 3002);
	assert_int_equal(st_of(&fx)->dump_gone_overflow, 0);
	tracker_dump_end(fx.t);

	/* A status row of a flow not tracked: counted, not tracked. */
	ct = mkct(&fx, 5000, &row);
	tracker_status_row(fx.t, CT_MSG_DUMP, &ct, 40);
	assert_null(flows_lookup(tracker_flows(fx.t), &ct));
	assert_int_equal(st_of(&fx)->dump_stale, 3003);
	/* ... and of a tracked one: refreshed. */
	ct = mkct(&fx, 1021, &row);
	ct.id = 1021;
	ct.orig.sport = (uint16_t)(40000 + 21);
	ct.reply.dport = ct.orig.sport;
	ct.packets[0] = 500;
	tracker_status_row(fx.t, CT_MSG_DUMP, &ct, 41);
	assert_int_equal(flows_lookup(tracker_flows(fx.t), &ct)->ct.packets[0], 500);
	tracker_destroy(fx.t);
}

/* The set of conntracks that ended during a dump: a conntrack id under
 * other ports is another key; it doubles from 1,024 slots and stops at
 * 2^20 slots, 3/4 full (786,432 keys): the first key it cannot take says
 * so once (the tracker counts that dump), later ones are let go quietly,
 * and it still knows every key it took; emptied, it takes keys again. */
static void test_ct_gone_bound(void **state)
{
	const uint32_t bound = CT_GONE_MAX_KEYS;
	struct ct_gone g = { 0 };
	struct ct_info ct;
	uint32_t id, taken = 0;

	(void)state;
	memset(&ct, 0, sizeof(ct));
	ct.proto = IPPROTO_TCP;
	ct.orig.sport = 40000;
	ct.orig.dport = 80;
	ct.id = 7;
	assert_false(ct_gone_has(&g, &ct));
	assert_true(ct_gone_add(&g, &ct));
	assert_true(ct_gone_has(&g, &ct));
	ct.orig.sport = 40001;
	assert_false(ct_gone_has(&g, &ct));
	ct_gone_clear(&g);
	ct.orig.sport = 40000;
	assert_false(ct_gone_has(&g, &ct));

	for (id = 1; id <= bound + 10; id++) {
		ct.id = id;
		if (!ct_gone_add(&g, &ct))
			break;
		taken++;
	}
	assert_int_equal(taken, 786432);
	assert_int_equal(g.cap, CT_GONE_MAX_SLOTS);
	ct.id = bound + 5;
	assert_true(ct_gone_add(&g, &ct));	/* past the bound: said once */
	assert_false(ct_gone_has(&g, &ct));
	for (id = 1; id <= bound; id += 4099) {
		ct.id = id;
		assert_true(ct_gone_has(&g, &ct));
	}
	ct.id = bound;
	assert_true(ct_gone_has(&g, &ct));
	ct_gone_clear(&g);
	ct.id = 1;
	assert_false(ct_gone_has(&g, &ct));
	assert_true(ct_gone_add(&g, &ct));
	assert_true(ct_gone_has(&g, &ct));
	ct_gone_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_software_flow),
		cmocka_unit_test(test_offloaded_only_on_a_fast_path),
		cmocka_unit_test(test_hardware_flow),
		cmocka_unit_test(test_hardware_lost_race),
		cmocka_unit_test(test_lost_race_write_fails),
		cmocka_unit_test(test_hardware_returns_to_software),
		cmocka_unit_test(test_hardware_refused_then_late),
		cmocka_unit_test(test_adopts_marks),
		cmocka_unit_test(test_admission_write_fails),
		cmocka_unit_test(test_hardware_burst),
		cmocka_unit_test(test_learns_at_close),
		cmocka_unit_test(test_events_window_dump),
		cmocka_unit_test(test_sweep_and_ignored),
		cmocka_unit_test(test_dump_row_after_destroy),
		cmocka_unit_test(test_ct_gone_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
