/* tracker: the flow state machine: conntrack events and dump rows in;
 * decisions, admission marks, offload state and the hardware budget out. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <linux/netfilter/nf_conntrack_tcp.h>

#include "classes.h"
#include "ct_admit.h"
#include "ct_gone.h"
#include "flows.h"
#include "log.h"
#include "loop.h"
#include "shaping.h"
#include "tracker.h"
#include "backoff.h"

/* Failed hardware insertions logged one by one; later ones are counted. */
#define HW_FAILED_LOGGED 20

#define MARK_LOG_INTERVAL_MS 60000
#define MARK_LOG_BURST 5

struct tracker {
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct tracker_ops ops;
	struct flows *flows;
	struct classes *cls;		/* NULL: [classes] learn = no */
	uint32_t gen;
	struct hw_budget hw;
	struct tracker_stats st;
	uint64_t now_ms;		/* of the event or dump row at hand */
	struct ratelimit mark_log;	/* failed mark writes: a few lines a minute */
	bool dumping;			/* a full dump runs */
	struct ct_gone gone;		/* DESTROYs read since it began */
};

/* ---- service classes ------------------------------------------------------ */

static void class_params_of(const struct fo_config *cfg, struct classes_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_classes = cfg->classes_max;
	p->half_life_ms = cfg->classes_half_life_ms > UINT32_MAX ? UINT32_MAX :
				  (uint32_t)cfg->classes_half_life_ms;
	p->min_flows = cfg->classes_min_flows;
	p->mice_packets = cfg->classes_mice_packets;
	p->mice_share_pct = cfg->classes_mice_share;
	p->min_clients = cfg->classes_min_clients;
}

static bool class_params_equal(const struct fo_config *x, const struct fo_config *y)
{
	return x->classes_learn == y->classes_learn && x->classes_max == y->classes_max &&
	       x->classes_half_life_ms == y->classes_half_life_ms &&
	       x->classes_min_flows == y->classes_min_flows &&
	       x->classes_min_clients == y->classes_min_clients &&
	       x->classes_mice_packets == y->classes_mice_packets &&
	       x->classes_mice_share == y->classes_mice_share;
}

/* A new table for cfg (NULL when learning is off); 0 or -errno. */
static int class_table_open(const struct fo_config *cfg, struct classes **out)
{
	struct classes_params p;
	uint32_t seed = 0;

	*out = NULL;
	if (!cfg->classes_learn)
		return 0;
	class_params_of(cfg, &p);
	/* The index hash is seeded so that nobody can aim flows at one
	 * chain of it; a weak seed only costs speed. */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint32_t)loop_now_ms() ^ (uint32_t)getpid();
	p.hash_seed = seed;
	return classes_create(out, &p);
}

/*
 * What the classes say about a new flow.  A mice class whose flows mostly
 * end before window-from needs no mark: the window keeps them out already,
 * and a mark write per DNS query would cost the agent more than it saves.
 * A mice class in the kernel's mice set (mice_set.c) needs none either:
 * the ruleset skips it; *in_set says so, and *saved that the flow would
 * have cost a mark write without the set.
 */
static int class_input(struct tracker *t, const struct ct_info *ct, uint64_t now, bool *in_set,
		       bool *saved)
{
	struct class_stats cs;
	bool before_window;

	*in_set = *saved = false;
	switch (classes_verdict(t->cls, ct, now)) {
	case CLASS_MICE:
		before_window = classes_get(t->cls, ct, now, &cs) == 0 &&
				cs.packets_p90 < t->cfg->window_from;
		if (t->ops.mice_in_set && t->ops.mice_in_set(t->ops.arg, ct)) {
			*in_set = true;
			*saved = !before_window;
			return CLASS_MICE;
		}
		if (before_window) {
			t->st.class_window_skips++;
			return CLASS_SHORT;
		}
		return CLASS_MICE;
	case CLASS_MIXED:
		return CLASS_MIXED;
	case CLASS_LEARNING:
	default:
		return t->cls ? CLASS_LEARNING : CLASS_OFF;
	}
}

/* ---- the hardware budget -------------------------------------------------- */

static enum hw_slot hw_slot_of(const struct tracker *t, const struct flow *f)
{
	return hw_budget_slot(f, t->cfg->window_until);
}

struct budget_walk {
	struct tracker *t;
	uint64_t now;
};

static void count_budget_cb(struct flow *f, void *arg)
{
	struct budget_walk *w = arg;
	struct tracker *t = w->t;

	if (!hw_budget_count(&t->hw, f, t->cfg->window_until, t->cfg->hw_confirm_ms, w->now))
		return;
	/* A NIC that refuses everything must not flood the log: the first
	 * few are told, the rest counted (stats, status). */
	if (t->hw.failed <= HW_FAILED_LOGGED)
		log_notice("conntrack id %u: admitted to hardware but not [HW_OFFLOAD] %llu ms after entering the flowtable: the driver refused it; it runs in software and frees its hardware slot%s",
			   f->ct.id, (unsigned long long)flow_age_ms(w->now, f->entered_ms),
			   t->hw.failed == HW_FAILED_LOGGED ?
				   " (further refusals are only counted)" : "");
}

void tracker_recount(struct tracker *t, uint64_t now_ms)
{
	struct budget_walk w = { t, now_ms };

	t->now_ms = now_ms;

	hw_budget_recount_begin(&t->hw);
	if (t->plan->n_hw)
		flows_foreach(t->flows, count_budget_cb, &w);
	hw_budget_recount_end(&t->hw);
}

/* ---- decisions ------------------------------------------------------------- */

static uint32_t mark_shift(uint32_t mask)
{
	return mask ? (uint32_t)__builtin_ctz(mask) : 0;
}

static enum admit_value admission_of(const struct tracker *t, const struct ct_info *ct)
{
	if (!ct->has_mark)
		return ADMIT_NONE;
	return (enum admit_value)((ct->mark & t->cfg->mark_mask) >> mark_shift(t->cfg->mark_mask));
}

/* A refused mark write is logged, a few a minute: a kernel that refuses
 * every write (a policy, memory) must not turn each flow into a log line.
 * The count is in stats (admission.errors) either way. */
static void mark_failed(struct tracker *t, const char *what, const struct flow *f, int ret,
			const char *err)
{
	uint64_t held = 0;

	if (!ratelimit_ok(&t->mark_log, t->now_ms, &held))
		return;
	log_warn("conntrack id %u: %s: %s%s%s%s", f->ct.id, what, strerror(-ret), err[0] ? ": " : "",
		 err, held ? " (and more not logged: see stats admission.errors)" : "");
}

/* Write our decision into the flow's conntrack mark (masked).  0, or a
 * negative errno after counting it; the flow is marked gone on ENOENT. */
/*
 * The hardware value is written as its one bit (mask = that bit), not as
 * the whole field: when the software rule already took the flow at packet
 * N (our write lost the race), the field becomes SW|HW, the skip value,
 * which the software rule has stamped and we never write for a flow we
 * admitted to hardware; refresh() then knows the flow sits in the
 * software flowtable rather than reading its missing [HW_OFFLOAD] as a
 * refusal by the driver.
 */
static int write_mark(struct tracker *t, struct flow *f, enum admit_value v)
{
	uint32_t value = ct_admit_value(t->cfg->mark_mask, v);
	uint32_t mask = v == ADMIT_HW ? value : t->cfg->mark_mask;
	char err[256] = "";
	int ret;

	ret = t->ops.set_mark(t->ops.arg, &f->ct, value, mask, err, sizeof(err));
	if (ret == -ENOENT) {
		/* The flow ended before we got to it: nothing to do, counted. */
		t->st.admit_gone++;
		f->state = FLOW_SKIPPED;
		f->skip_reason = REASON_STATE;
		return ret;
	}
	if (ret) {
		t->st.admit_errors++;
		f->admit_failed = 1;
		mark_failed(t, "cannot write the admission mark", f, ret, err);
		return ret;
	}
	f->admit_failed = 0;
	f->ct.mark = (f->ct.mark & ~mask) | value;
	f->ct.has_mark = true;
	return 0;
}

/* A mark is a decision already taken: by the rule when it offloaded the
 * flow (software), or by us, maybe in an earlier run.  Keep it: re-deciding
 * could move a flow between tiers under its feet. */
static void adopt(struct tracker *t, struct flow *f, enum admit_value have, uint64_t now)
{
	t->st.adopted++;
	if (have == ADMIT_SKIP) {
		f->state = FLOW_SKIPPED;
		f->skip_reason = REASON_MICE;
		return;
	}
	f->state = FLOW_ADMITTED;
	f->tier = have == ADMIT_HW ? TIER_HW : TIER_SW;
	f->entered_ms = flow_ms(now);
	hw_budget_take(&t->hw, hw_slot_of(t, f));
}

/*
 * The ruleset offloads every TCP/UDP flow on its packet N unless its mark
 * says otherwise, and enforces the static policy (protocols, skip ports and
 * prefixes, UDP reply) itself: none of that waits for us.  Measured: when
 * the kernel waited for an admission mark from the agent, a loaded router
 * offloaded an elephant at packet 29 instead of 12.  So the agent writes a
 * mark only for what the kernel cannot decide: the hardware tier (budget)
 * and learned skips.  A late mark then costs efficiency (the flow stays in
 * software, or a mouse takes an entry), never policy.
 */
static void decide(struct tracker *t, struct flow *f, uint64_t now)
{
	struct policy_budget b = {
		.hw_available = t->plan->n_hw > 0,
		.hw_capacity = t->cfg->hw_capacity,
		.hw_watermark = t->cfg->hw_watermark,
		.hw_in_use = t->hw.in_use,
		.hw_pending = t->hw.pending,
	};
	enum admit_value have = admission_of(t, &f->ct);
	struct policy_decision d;
	bool in_set, saved;

	if (have != ADMIT_NONE) {
		adopt(t, f, have, now);
		return;
	}
	b.class_verdict = class_input(t, &f->ct, now, &in_set, &saved);
	if (t->ops.route_roles)
		b.route_roles = t->ops.route_roles(t->ops.arg, &f->ct);
	if (t->ops.shaped && !policy_closing(&f->ct))
		t->ops.shaped(t->ops.arg, &f->ct, &b.shaped_off_hw, &b.shaped_off_sw);
	d = policy_decide(t->cfg, &f->ct, &b, now);
	if (d.reason == REASON_SHAPED || d.reason == REASON_SHAPED_HW)
		f->shaped_slot = shaping_slot(d.reason == REASON_SHAPED ? b.shaped_off_sw :
									  b.shaped_off_hw);
	t->st.verdicts[d.verdict]++;
	t->st.reasons[d.reason]++;
	switch (d.verdict) {
	case VERDICT_WAIT:
		f->state = FLOW_WAITING;
		f->skip_reason = (uint8_t)d.reason;
		return;
	case VERDICT_SKIP:
		f->state = FLOW_SKIPPED;
		f->skip_reason = (uint8_t)d.reason;
		/* Protocol, port, prefix and closing state are enforced by the
		 * ruleset and the kernel; only a learned verdict needs a mark,
		 * unless the mice set holds its class. */
		if (d.reason == REASON_MICE && in_set) {
			t->st.class_set_skips++;
			t->st.class_marks_saved += saved;
			return;
		}
		if (d.reason == REASON_MICE)
			t->st.class_mice_marks++;
		if (d.reason == REASON_MICE || d.reason == REASON_CAPACITY ||
		    d.reason == REASON_SHAPED)
			write_mark(t, f, ADMIT_SKIP);
		return;
	case VERDICT_ADMIT_SW:
		f->state = FLOW_ADMITTED;
		f->tier = TIER_SW;
		f->skip_reason = (uint8_t)d.reason;
		f->entered_ms = flow_ms(now);
		return;
	case VERDICT_ADMIT_HW:
		break;
	}
	if (write_mark(t, f, ADMIT_HW))
		return;
	log_debug("conntrack id %u (sport %u): admitted to hardware at packet %llu (%u in use, %u pending)",
		  f->ct.id, f->ct.orig.sport,
		  (unsigned long long)(f->ct.packets[0] + f->ct.packets[1]), t->hw.in_use,
		  t->hw.pending);
	f->state = FLOW_ADMITTED;
	f->tier = TIER_HW;
	f->skip_reason = (uint8_t)d.reason;
	f->entered_ms = flow_ms(now);
	hw_budget_take(&t->hw, HW_SLOT_PENDING);
}

/* A flow we admitted to hardware that the software rule had taken first
 * (see write_mark): it is in the software flowtable, so it is a software
 * flow; its field goes back to the software value, which the readmit
 * rules know. */
static void lost_race(struct tracker *t, struct flow *f)
{
	char err[256] = "";
	uint32_t sw = ct_admit_value(t->cfg->mark_mask, ADMIT_SW);
	int ret;

	f->tier = TIER_SW;
	t->st.hw_raced++;
	/* Not through write_mark(): the flow is offloaded, and a conntrack
	 * that ended meanwhile must not turn it into a skipped one here (its
	 * DESTROY event removes it).  Any other failure leaves SW|HW in the
	 * field, which no readmit rule matches: say so. */
	ret = t->ops.set_mark(t->ops.arg, &f->ct, sw, t->cfg->mark_mask, err, sizeof(err));
	if (ret == 0) {
		f->ct.mark = (f->ct.mark & ~t->cfg->mark_mask) | sw;
	} else if (ret != -ENOENT) {
		t->st.admit_errors++;
		mark_failed(t, "cannot turn a raced hardware admission into software", f, ret, err);
	}
	log_debug("conntrack id %u (sport %u): the software rule offloaded it before our hardware mark landed",
		  f->ct.id, f->ct.orig.sport);
}

/* ---- the kernel's view folded in ------------------------------------------ */

static void copy_kernel_view(struct flow *f, const struct ct_info *ct)
{
	if (ct->has_status)
		f->ct.status = ct->status;
	if (ct->has_mark)
		f->ct.mark = ct->mark;
	f->ct.has_mark |= ct->has_mark;
	if (ct->tcp_state)
		f->ct.tcp_state = ct->tcp_state;
	if (ct->has_counters) {
		memcpy(f->ct.packets, ct->packets, sizeof(f->ct.packets));
		memcpy(f->ct.bytes, ct->bytes, sizeof(f->ct.bytes));
		f->ct.has_counters = true;
	}
}

/* What the mark of a hardware-tier flow says the ruleset did with it. */
static void hw_tier_mark(struct tracker *t, struct flow *f)
{
	switch (admission_of(t, &f->ct)) {
	case ADMIT_SKIP:
		lost_race(t, f);
		break;
	case ADMIT_SW:
		/* The ruleset's hw-return rule took it into the software
		 * flowtable: back on the slow path past the window's end. */
		f->tier = TIER_SW;
		f->hw_failed = 0;
		t->st.hw_returned_sw++;
		log_debug("conntrack id %u (sport %u): back from the hardware flowtable past the window; now in software",
			  f->ct.id, f->ct.orig.sport);
		break;
	default:
		break;
	}
}

/* The flow moved into or out of the flowtable. */
static void state_changed(struct tracker *t, struct flow *f, uint64_t now)
{
	/* Into the flowtable, maybe again (back from an eviction, or out of
	 * the NIC): the driver's time to confirm runs from here, not from
	 * the first entry. */
	if (f->state == FLOW_OFFLOADED || f->state == FLOW_HW_OFFLOADED)
		f->entered_ms = flow_ms(now);
	if (f->state == FLOW_OFFLOADED && !f->offloaded_ms) {
		f->offloaded_ms = flow_ms(now);
		t->st.offloaded++;
	} else if (f->state == FLOW_HW_OFFLOADED && !f->offloaded_ms) {
		f->offloaded_ms = flow_ms(now);
		t->st.hw_offloaded++;
	} else if (f->state == FLOW_ADMITTED) {
		t->st.returned++;
	}
	if (f->state == FLOW_HW_OFFLOADED)
		hw_budget_confirmed(&t->hw, f);
}

/* Fold the kernel's view of a known flow into our record. */
static void refresh(struct tracker *t, struct flow *f, const struct ct_info *ct, uint64_t now)
{
	enum hw_slot slot = hw_slot_of(t, f);
	uint8_t old = f->state;

	copy_kernel_view(f, ct);
	if (old == FLOW_WAITING || old == FLOW_SKIPPED)
		return;
	if (f->tier == TIER_HW)
		hw_tier_mark(t, f);
	if (ct->status & FO_IPS_HW_OFFLOAD)
		f->state = FLOW_HW_OFFLOADED;
	else if (ct->status & FO_IPS_OFFLOAD)
		f->state = FLOW_OFFLOADED;
	else if (old == FLOW_OFFLOADED || old == FLOW_HW_OFFLOADED)
		f->state = FLOW_ADMITTED;
	/* [OFFLOAD] says the flow is in the flowtable, not that its packets
	 * enter on devices the flowtable hooks.  (The hardware tier is left
	 * to its confirm clock: its budget counts on the state.) */
	if (f->state == FLOW_OFFLOADED && old != FLOW_OFFLOADED && t->ops.path_fast &&
	    !t->ops.path_fast(t->ops.arg, ct, false))
		f->state = old;
	if (f->state != old)
		state_changed(t, f, now);
	if (hw_slot_of(t, f) != slot) {
		hw_budget_release(&t->hw, slot);
		hw_budget_take(&t->hw, hw_slot_of(t, f));
	}
}

/* ---- events and dump rows --------------------------------------------------- */

static bool proto_wanted(const struct fo_config *cfg, uint8_t proto)
{
	return (proto == IPPROTO_TCP && cfg->proto_tcp) || (proto == IPPROTO_UDP && cfg->proto_udp);
}

/* A TCP connection past its close: its counters are final. */
static bool ct_closed(const struct ct_info *ct)
{
	return ct->proto == IPPROTO_TCP && ct->has_counters &&
	       (ct->tcp_state == TCP_CONNTRACK_TIME_WAIT || ct->tcp_state == TCP_CONNTRACK_CLOSE);
}

/*
 * A closed TCP connection teaches its class when a dump first shows it
 * closed, not at its DESTROY event: that comes after TIME_WAIT, two
 * minutes by default, so learning from DESTROY alone lags that much (and
 * counts TIME_WAIT in the duration).  The periodic resync sees every flow,
 * the status dumps the marked ones; DESTROY then skips it.
 */
static void learn_at_close(struct tracker *t, struct flow *f, const struct ct_info *ct,
			   uint64_t now)
{
	f->class_seen = 1;
	if (t->cls) {
		t->st.class_learned_at_close++;
		classes_observe(t->cls, ct, flow_age_ms(now, f->first_seen_ms), now);
	}
	if (t->ops.flow_finished)
		t->ops.flow_finished(t->ops.arg, ct, f->tier == TIER_HW);
}

static void destroyed(struct tracker *t, const struct ct_info *ct, uint64_t now)
{
	struct flow *f = flows_lookup(t->flows, ct);

	if (t->dumping && !ct_gone_add(&t->gone, ct))
		t->st.dump_gone_overflow++;
	if (f) {
		hw_budget_release(&t->hw, hw_slot_of(t, f));
		/* Its final counters teach the flow's service class, unless
		 * its close did already. */
		if (t->cls && ct->has_counters && !f->class_seen)
			classes_observe(t->cls, ct, flow_age_ms(now, f->first_seen_ms), now);
		if (t->ops.flow_finished && ct->has_counters && !f->class_seen)
			t->ops.flow_finished(t->ops.arg, ct, f->tier == TIER_HW);
	} else if (t->cfg->events_window && t->cls && ct->has_counters && t->ops.mice_in_set &&
		   t->ops.mice_in_set(t->ops.arg, ct)) {
		/* The mice rule opened this DESTROY (nft_rules.c): the only
		 * word of the flow, and what keeps its class learned.  Its
		 * start was never seen: duration unknown, 0 (no verdict
		 * reads durations). */
		t->st.class_learned_untracked++;
		classes_observe(t->cls, ct, 0, now);
		return;
	}
	flows_remove(t->flows, ct);
}

void tracker_event(struct tracker *t, enum ct_msg type, const struct ct_info *ct, uint64_t now)
{
	struct flow *f;
	bool created;

	t->now_ms = now;
	t->st.events[type]++;
	/* The event socket's filter keeps these out already; dumps bring
	 * them, and tracking what can never be offloaded only costs memory
	 * (and would leave entries whose DESTROY events never come). */
	if (!proto_wanted(t->cfg, ct->proto)) {
		t->st.ignored++;
		return;
	}
	if (type == CT_MSG_DESTROY) {
		destroyed(t, ct, now);
		return;
	}
	if (flows_upsert(t->flows, ct, now, &f, &created)) {
		t->st.table_full++;
		return;
	}
	f->gen = t->gen & FLOW_GEN_MASK;
	if (!created)
		refresh(t, f, ct, now);
	if (f->state == FLOW_WAITING)
		decide(t, f, now);
	if (created && f->state != FLOW_WAITING && f->state != FLOW_SKIPPED)
		refresh(t, f, ct, now);
	if ((t->cls || t->ops.flow_finished) && !f->class_seen && ct_closed(ct))
		learn_at_close(t, f, ct, now);
}

/*
 * With events = window, a conntrack without our mark bits has not reached
 * the window (the offload rule's mark will announce it with an UPDATE) or
 * predates the ruleset (its events still come): a dump tracks it only if it
 * is tracked already, or it would stay tracked with no DESTROY to end it
 * until the next sweep, the cost that mode exists to avoid.
 */
void tracker_dumped(struct tracker *t, enum ct_msg type, const struct ct_info *ct, uint64_t now)
{
	bool quiet, stale;

	t->now_ms = now;
	/* Its DESTROY was read after this dump began: the row is older,
	 * whether or not a new connection holds the tuple by now. */
	stale = t->dumping && ct_gone_has(&t->gone, ct);
	quiet = t->cfg->events_window && admission_of(t, ct) == ADMIT_NONE;
	if (stale || (quiet && !flows_lookup(t->flows, ct))) {
		t->st.events[type]++;
		if (stale)
			t->st.dump_stale++;
		else
			t->st.quiet_skipped++;
		return;
	}
	tracker_event(t, type, ct, now);
}

void tracker_status_row(struct tracker *t, enum ct_msg type, const struct ct_info *ct,
			uint64_t now)
{
	t->now_ms = now;
	if (!flows_lookup(t->flows, ct)) {
		t->st.events[type]++;
		t->st.dump_stale++;
		return;
	}
	tracker_event(t, type, ct, now);
}

void tracker_dump_begin(struct tracker *t)
{
	t->gen++;
	t->dumping = true;
	ct_gone_clear(&t->gone);
}

void tracker_dump_end(struct tracker *t)
{
	t->dumping = false;
}

size_t tracker_sweep(struct tracker *t, uint64_t now_ms)
{
	size_t gone = flows_sweep(t->flows, t->gen, NULL, NULL);

	tracker_recount(t, now_ms);
	return gone;
}

/* ---- lifecycle -------------------------------------------------------------- */

int tracker_create(struct tracker **out, const struct fo_config *cfg,
		   const struct ruleset_plan *plan, const struct tracker_ops *ops)
{
	struct tracker *t;
	int ret;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->plan = plan;
	t->ops = *ops;
	ratelimit_init(&t->mark_log, MARK_LOG_INTERVAL_MS, MARK_LOG_BURST);
	ret = flows_create(&t->flows, cfg->max_flows);
	if (!ret)
		ret = class_table_open(cfg, &t->cls);
	if (ret) {
		tracker_destroy(t);
		return ret;
	}
	*out = t;
	return 0;
}

void tracker_destroy(struct tracker *t)
{
	if (!t)
		return;
	flows_destroy(t->flows);
	classes_destroy(t->cls);
	ct_gone_free(&t->gone);
	free(t);
}

void tracker_reconfigure(struct tracker *t, const struct fo_config *next)
{
	struct classes *cls = NULL;

	if (class_params_equal(next, t->cfg))
		return;
	/* New parameters start a new table: what was learned under the old
	 * ones is dropped. */
	if (class_table_open(next, &cls) == 0) {
		classes_destroy(t->cls);
		t->cls = cls;
		log_notice("[classes] changed: learning starts over");
	} else {
		log_warn("[classes] changed, but no memory for a new table; the old one stays");
	}
}

struct flows *tracker_flows(const struct tracker *t)
{
	return t->flows;
}

struct classes *tracker_classes(const struct tracker *t)
{
	return t->cls;
}

const struct hw_budget *tracker_budget(const struct tracker *t)
{
	return &t->hw;
}

const struct tracker_stats *tracker_stats(const struct tracker *t)
{
	return &t->st;
}
