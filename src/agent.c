/* agent: the daemon's state and the glue of the data flow: conntrack events
 * and dumps into flows, policy decisions into admissions, the ruleset kept. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "config.h"
#include "agent.h"
#include "classes.h"
#include "ct_admit.h"
#include "ct_events.h"
#include "ct_filter.h"
#include "ctl.h"
#include "flows.h"
#include "hw_budget.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "nft_monitor.h"
#include "nft_ruleset.h"
#include "policy.h"
#include "privs.h"

/* Events handled per wakeup before the loop serves the other fds. */
#define EVENT_BUDGET 512
/* Under a burst the agent reads events in batches: after a read that found
 * EVENT_COALESCE_MIN or more queued it stops watching the socket for
 * EVENT_COALESCE_MS, so a storm costs a wake-up per millisecond rather
 * than one per event (measured: 0.6 wake-ups per event at 37k flows/s, 41%
 * of the agent's CPU).  A lone event is read at once: decisions that race
 * the flow's packet N (the hardware mark) are not delayed when idle. */
#define EVENT_COALESCE_MIN 2
#define EVENT_COALESCE_MS 1
/* Failed hardware insertions logged one by one; later ones are counted. */
#define HW_FAILED_LOGGED 20
/* After an overrun, resync once the storm had a moment to pass. */
#define RESYNC_DELAY_MS 1000
/* On overruns the event buffer doubles, up to this many times event-buffer:
 * a storm that the configured size cannot absorb gets more room, but one
 * that never ends cannot make the kernel pin unbounded memory for us. */
#define EVENT_BUFFER_GROWTH 8
/* nftables events handled per wakeup. */
#define NFT_EVENT_BUDGET 256
/* After a deletion in our tables, check (and restore) this much later: one
 * transaction's events arrive together, and a firewall reload may be a few
 * transactions in a row; the check then happens once. */
#define RULESET_CHECK_DELAY_MS 100
/* Something that deletes our tables again each time they are back (a
 * firewall manager that removes tables it does not know) must not make us
 * reinstall in a tight loop: after RESTORE_BURST restores within
 * RESTORE_BURST_MS, restores wait RESTORE_BACKOFF_MS. */
#define RESTORE_BURST 5
#define RESTORE_BURST_MS 10000
#define RESTORE_BACKOFF_MS 5000
/* The only capability the running daemon keeps: nftables transactions,
 * conntrack mark updates, event group membership and SO_RCVBUFFORCE all
 * check CAP_NET_ADMIN, at the time of each request. */
#define KEPT_CAPS (1ULL << CAP_NET_ADMIN)

struct agent_stats {
	uint64_t events[CT_MSG_DUMP + 1];
	uint64_t verdicts[VERDICT_SKIP + 1];
	uint64_t reasons[REASON_MAX];
	uint64_t adopted;		/* flows that already carried our admission */
	uint64_t admit_errors;
	uint64_t admit_gone;
	uint64_t table_full;
	uint64_t overruns;
	uint64_t resyncs;
	uint64_t resyncs_after_overrun;
	uint64_t resync_errors;
	uint64_t status_dumps;
	uint64_t status_errors;
	uint64_t ruleset_installs;
	uint64_t ruleset_failures;
	uint64_t ruleset_restored;	/* reinstalled after someone removed it */
	uint64_t ruleset_events;	/* deletions in our tables by other programs */
	uint64_t ruleset_checks;	/* checks those events triggered */
	uint64_t ignored;		/* conntracks of protocols we never offload */
	uint64_t quiet_skipped;		/* events = window: dumped conntracks below the window */
	uint64_t rcvbuf_grows;		/* event buffer doublings after overruns */
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t offloaded;		/* flows first seen [OFFLOAD] */
	uint64_t hw_offloaded;		/* flows first seen [HW_OFFLOAD] */
	uint64_t returned;		/* offloaded flows back on the slow path */
	uint64_t hw_raced;		/* hardware marks that came after the software rule */
	uint64_t hw_returned_sw;	/* hardware flows the hw-return rule moved to software */
	uint64_t class_window_skips;	/* mice-class flows left to the window: they end before it */
	uint64_t class_learned_at_close; /* closed TCP flows learned from a dump, before DESTROY */
	uint64_t event_batches;		/* pauses of the event socket to batch a burst */
};

struct agent {
	struct fo_config cfg;
	const char *config_path;
	bool foreground;
	bool keep_ruleset_opt;
	struct ruleset_plan plan;
	char *rendered;

	struct loop *loop;
	struct flows *flows;
	struct classes *cls;		/* NULL: [classes] learn = no */
	struct ct_events *ev;
	struct ct_query *q;
	struct ct_admit *adm;
	struct nft_ruleset *nft;
	struct ctl *ctl;
	struct loop_timer *status_timer;
	struct loop_timer *resync_timer;
	struct loop_timer *resync_soon;
	struct loop_timer *events_later;	/* re-watches the event socket */
	bool events_paused;
	struct nft_monitor *mon;
	struct loop_timer *ruleset_check;
	bool ruleset_edited;		/* rules or sets of ours deleted by others */
	uint64_t ruleset_event_ms;	/* first deletion the pending check is for */
	uint64_t restore_ms[RESTORE_BURST]; /* the last restores, a ring */
	unsigned int restore_next;
	bool ct_filter_on;		/* the kernel-side event filter is attached */
	int lock_fd;

	uint32_t gen;
	struct hw_budget hw;
	uint64_t started_ms;
	int exit_code;
	struct agent_stats st;
};

/* ---- plan: devices and tiers --------------------------------------------- */

int agent_plan(const struct fo_config *cfg, struct ruleset_plan *plan, bool probe_hw,
	       FILE *notes, char *err, size_t errlen)
{
	char sel[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	struct nft_ruleset *nft = NULL;
	struct link_info *links = NULL;
	size_t n = 0, nsel, i;
	int ret;

	memset(plan, 0, sizeof(*plan));
	ret = links_list(&links, &n);
	if (ret) {
		snprintf(err, errlen, "cannot list network devices: %s", strerror(-ret));
		return ret;
	}
	nsel = links_select(cfg, links, n, sel, CONFIG_MAX_LIST);
	free(links);
	if (nsel == 0) {
		snprintf(err, errlen,
			 "no device to offload: [devices] devices = %s matched no %snetwork device",
			 cfg->devices_auto ? "auto" : "(list)",
			 cfg->devices_auto ? "up, forwarding, non-loopback " : "existing ");
		return -ENODEV;
	}
	for (i = 0; i < nsel; i++)
		strcpy(plan->sw_devs[plan->n_sw++], sel[i]);

	if (cfg->hw_mode == HW_MODE_OFF)
		return 0;
	if (probe_hw) {
		ret = nft_ruleset_open(&nft);
		if (ret) {
			snprintf(err, errlen, "cannot open an nftables socket: %s", strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < nsel; i++) {
		char perr[256] = "";

		if (links_is_sw_only(cfg, sel[i]))
			continue;
		ret = probe_hw ? nft_ruleset_probe_hw(nft, sel[i], perr, sizeof(perr)) : -EOPNOTSUPP;
		if (ret == 0) {
			strcpy(plan->hw_devs[plan->n_hw++], sel[i]);
			continue;
		}
		if (cfg->hw_mode == HW_MODE_ON) {
			snprintf(err, errlen,
				 "[hardware] mode = on, but %s cannot offload a flowtable (%s); set mode = auto or list %s in software-only",
				 sel[i], perr[0] ? perr : strerror(-ret), sel[i]);
			nft_ruleset_close(nft);
			return ret;
		}
		if (notes && probe_hw)
			fprintf(notes, "flowtable %s: %s lacks hardware offload (%s); using software only\n",
				NFT_TABLE_HW, sel[i], strerror(-ret));
	}
	nft_ruleset_close(nft);
	return 0;
}

/* ---- service classes ------------------------------------------------------ */

static void classes_params_of(const struct fo_config *cfg, struct classes_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_classes = cfg->classes_max;
	p->half_life_ms = cfg->classes_half_life_ms > UINT32_MAX ? UINT32_MAX :
				  (uint32_t)cfg->classes_half_life_ms;
	p->min_flows = cfg->classes_min_flows;
	p->mice_packets = cfg->classes_mice_packets;
	p->mice_share_pct = cfg->classes_mice_share;
}

static bool classes_params_equal(const struct fo_config *x, const struct fo_config *y)
{
	return x->classes_learn == y->classes_learn && x->classes_max == y->classes_max &&
	       x->classes_half_life_ms == y->classes_half_life_ms &&
	       x->classes_min_flows == y->classes_min_flows &&
	       x->classes_mice_packets == y->classes_mice_packets &&
	       x->classes_mice_share == y->classes_mice_share;
}

/* A new table for cfg (NULL when learning is off); 0 or -errno. */
static int classes_open(const struct fo_config *cfg, struct classes **out)
{
	struct classes_params p;
	uint32_t seed = 0;

	*out = NULL;
	if (!cfg->classes_learn)
		return 0;
	classes_params_of(cfg, &p);
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
 */
static int class_input(struct agent *a, const struct ct_info *ct, uint64_t now)
{
	struct class_stats cs;

	switch (classes_verdict(a->cls, ct, now)) {
	case CLASS_MICE:
		if (classes_get(a->cls, ct, now, &cs) == 0 && cs.packets_p90 < a->cfg.window_from) {
			a->st.class_window_skips++;
			return CLASS_IN_SHORT;
		}
		return CLASS_IN_MICE;
	case CLASS_MIXED:
		return CLASS_IN_MIXED;
	case CLASS_LEARNING:
	default:
		return a->cls ? CLASS_IN_LEARNING : CLASS_IN_NONE;
	}
}

/* ---- flows: decisions and state ------------------------------------------- */

static uint32_t mark_shift(uint32_t mask)
{
	return mask ? (uint32_t)__builtin_ctz(mask) : 0;
}

static enum admit_value admission_of(const struct agent *a, const struct ct_info *ct)
{
	if (!ct->has_mark)
		return ADMIT_NONE;
	return (enum admit_value)((ct->mark & a->cfg.mark_mask) >> mark_shift(a->cfg.mark_mask));
}

static enum hw_slot hw_slot_of(const struct agent *a, const struct flow *f)
{
	return hw_budget_slot(f, a->cfg.window_until);
}

struct budget_walk {
	struct agent *a;
	uint64_t now;
};

static void count_budget_cb(struct flow *f, void *arg)
{
	struct budget_walk *w = arg;
	struct agent *a = w->a;

	if (!hw_budget_count(&a->hw, f, a->cfg.window_until, a->cfg.hw_confirm_ms, w->now))
		return;
	/* A NIC that refuses everything must not flood the log: the first
	 * few are told, the rest counted (stats, status). */
	if (a->hw.failed <= HW_FAILED_LOGGED)
		log_notice("conntrack id %u: admitted to hardware but not [HW_OFFLOAD] %llu ms after entering the flowtable: the driver refused it; it runs in software and frees its hardware slot%s",
			   f->ct.id, (unsigned long long)flow_age_ms(w->now, f->entered_ms),
			   a->hw.failed == HW_FAILED_LOGGED ?
				   " (further refusals are only counted)" : "");
}

static void recount_budget(struct agent *a)
{
	struct budget_walk w = { a, loop_now_ms() };

	hw_budget_recount_begin(&a->hw);
	if (a->plan.n_hw)
		flows_foreach(a->flows, count_budget_cb, &w);
	hw_budget_recount_end(&a->hw);
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
static int write_mark(struct agent *a, struct flow *f, enum admit_value v)
{
	uint32_t value = config_mark_value(&a->cfg, v);
	uint32_t mask = v == ADMIT_HW ? value : a->cfg.mark_mask;
	char err[256] = "";
	int ret;

	ret = ct_admit_set_mark(a->adm, &f->ct, value, mask, err, sizeof(err));
	if (ret == -ENOENT) {
		/* The flow ended before we got to it: nothing to do, counted. */
		a->st.admit_gone++;
		f->state = FLOW_SKIPPED;
		f->skip_reason = REASON_STATE;
		return ret;
	}
	if (ret) {
		a->st.admit_errors++;
		f->admit_failed = 1;
		log_warn("conntrack id %u: cannot write the admission mark: %s%s%s", f->ct.id,
			 strerror(-ret), err[0] ? ": " : "", err);
		return ret;
	}
	f->admit_failed = 0;
	f->ct.mark = (f->ct.mark & ~mask) | value;
	f->ct.has_mark = true;
	return 0;
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
static void decide(struct agent *a, struct flow *f, uint64_t now)
{
	struct policy_budget b = {
		.hw_available = a->plan.n_hw > 0,
		.hw_capacity = a->cfg.hw_capacity,
		.hw_watermark = a->cfg.hw_watermark,
		.hw_in_use = a->hw.in_use,
		.hw_pending = a->hw.pending,
	};
	enum admit_value have = admission_of(a, &f->ct);
	struct policy_decision d;

	/* A mark is a decision already taken: by the rule when it offloaded
	 * the flow (software), or by us, maybe in an earlier run.  Keep it:
	 * re-deciding could move a flow between tiers under its feet. */
	if (have != ADMIT_NONE) {
		a->st.adopted++;
		if (have == ADMIT_SKIP) {
			f->state = FLOW_SKIPPED;
			f->skip_reason = REASON_MICE;
			return;
		}
		f->state = FLOW_ADMITTED;
		f->tier = have == ADMIT_HW ? TIER_HW : TIER_SW;
		f->entered_ms = flow_ms(now);
		hw_budget_take(&a->hw, hw_slot_of(a, f));
		return;
	}

	b.class_verdict = class_input(a, &f->ct, now);
	d = policy_decide(&a->cfg, &f->ct, &b, now);
	a->st.verdicts[d.verdict]++;
	a->st.reasons[d.reason]++;
	switch (d.verdict) {
	case VERDICT_WAIT:
		f->state = FLOW_WAITING;
		f->skip_reason = (uint8_t)d.reason;
		return;
	case VERDICT_SKIP:
		f->state = FLOW_SKIPPED;
		f->skip_reason = (uint8_t)d.reason;
		/* Protocol, port, prefix and closing state are enforced by the
		 * ruleset and the kernel; only a learned verdict needs a mark. */
		if (d.reason == REASON_MICE || d.reason == REASON_CAPACITY)
			write_mark(a, f, ADMIT_SKIP);
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
	if (write_mark(a, f, ADMIT_HW))
		return;
	log_debug("conntrack id %u (sport %u): admitted to hardware at packet %llu (%u in use, %u pending)",
		  f->ct.id, f->ct.orig.sport,
		  (unsigned long long)(f->ct.packets[0] + f->ct.packets[1]), a->hw.in_use,
		  a->hw.pending);
	f->state = FLOW_ADMITTED;
	f->tier = TIER_HW;
	f->skip_reason = (uint8_t)d.reason;
	f->entered_ms = flow_ms(now);
	hw_budget_take(&a->hw, HW_SLOT_PENDING);
}

/* A flow we admitted to hardware that the software rule had taken first
 * (see write_mark): it is in the software flowtable, so it is a software
 * flow; its field goes back to the software value, which the readmit
 * rules know. */
static void lost_race(struct agent *a, struct flow *f)
{
	char err[256] = "";
	uint32_t sw = config_mark_value(&a->cfg, ADMIT_SW);
	int ret;

	f->tier = TIER_SW;
	a->st.hw_raced++;
	/* Not through write_mark(): the flow is offloaded, and a conntrack
	 * that ended meanwhile must not turn it into a skipped one here (its
	 * DESTROY event removes it).  Any other failure leaves SW|HW in the
	 * field, which no readmit rule matches: say so. */
	ret = ct_admit_set_mark(a->adm, &f->ct, sw, a->cfg.mark_mask, err, sizeof(err));
	if (ret == 0) {
		f->ct.mark = (f->ct.mark & ~a->cfg.mark_mask) | sw;
	} else if (ret != -ENOENT) {
		a->st.admit_errors++;
		log_warn("conntrack id %u: cannot turn a raced hardware admission into software: %s%s%s",
			 f->ct.id, strerror(-ret), err[0] ? ": " : "", err);
	}
	log_debug("conntrack id %u (sport %u): the software rule offloaded it before our hardware mark landed",
		  f->ct.id, f->ct.orig.sport);
}

/* Fold the kernel's view of a known flow into our record. */
static void refresh(struct agent *a, struct flow *f, const struct ct_info *ct, uint64_t now)
{
	enum hw_slot slot = hw_slot_of(a, f);
	uint8_t old = f->state;

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
	if (old == FLOW_WAITING || old == FLOW_SKIPPED)
		return;
	if (f->tier == TIER_HW) {
		switch (admission_of(a, &f->ct)) {
		case ADMIT_SKIP:
			lost_race(a, f);
			break;
		case ADMIT_SW:
			/* The ruleset's hw-return rule took it into the software
			 * flowtable: back on the slow path past the window's end. */
			f->tier = TIER_SW;
			f->hw_failed = 0;
			a->st.hw_returned_sw++;
			log_debug("conntrack id %u (sport %u): back from the hardware flowtable past the window; now in software",
				  f->ct.id, f->ct.orig.sport);
			break;
		default:
			break;
		}
	}
	if (ct->status & FO_IPS_HW_OFFLOAD)
		f->state = FLOW_HW_OFFLOADED;
	else if (ct->status & FO_IPS_OFFLOAD)
		f->state = FLOW_OFFLOADED;
	else if (old == FLOW_OFFLOADED || old == FLOW_HW_OFFLOADED)
		f->state = FLOW_ADMITTED;
	if (f->state != old) {
		/* Into the flowtable, maybe again (back from an eviction,
		 * or out of the NIC): the driver's time to confirm runs
		 * from here, not from the first entry. */
		if (f->state == FLOW_OFFLOADED || f->state == FLOW_HW_OFFLOADED)
			f->entered_ms = flow_ms(now);
		if (f->state == FLOW_OFFLOADED && !f->offloaded_ms) {
			f->offloaded_ms = flow_ms(now);
			a->st.offloaded++;
		} else if (f->state == FLOW_HW_OFFLOADED && !f->offloaded_ms) {
			f->offloaded_ms = flow_ms(now);
			a->st.hw_offloaded++;
		} else if (f->state == FLOW_ADMITTED) {
			a->st.returned++;
		}
		if (f->state == FLOW_HW_OFFLOADED)
			hw_budget_confirmed(&a->hw, f);
	}
	if (hw_slot_of(a, f) != slot) {
		hw_budget_release(&a->hw, slot);
		hw_budget_take(&a->hw, hw_slot_of(a, f));
	}
}

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
static void learn_at_close(struct agent *a, struct flow *f, const struct ct_info *ct, uint64_t now)
{
	f->class_seen = 1;
	a->st.class_learned_at_close++;
	classes_observe(a->cls, ct, flow_age_ms(now, f->first_seen_ms), now);
}

static void on_ct(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct agent *a = arg;
	uint64_t now = loop_now_ms();
	struct flow *f;
	bool created;
	int ret;

	a->st.events[type]++;
	/* The event socket's filter keeps these out already; dumps bring
	 * them, and tracking what can never be offloaded only costs memory
	 * (and would leave entries whose DESTROY events never come). */
	if (!proto_wanted(&a->cfg, ct->proto)) {
		a->st.ignored++;
		return;
	}
	if (type == CT_MSG_DESTROY) {
		f = flows_lookup(a->flows, ct);
		if (f) {
			hw_budget_release(&a->hw, hw_slot_of(a, f));
			/* Its final counters teach the flow's service class,
			 * unless its close did already. */
			if (a->cls && ct->has_counters && !f->class_seen)
				classes_observe(a->cls, ct, flow_age_ms(now, f->first_seen_ms), now);
		}
		flows_remove(a->flows, ct);
		return;
	}
	ret = flows_upsert(a->flows, ct, now, &f, &created);
	if (ret) {
		a->st.table_full++;
		return;
	}
	f->gen = a->gen & FLOW_GEN_MASK;
	if (!created)
		refresh(a, f, ct, now);
	if (f->state == FLOW_WAITING)
		decide(a, f, now);
	if (created && f->state != FLOW_WAITING && f->state != FLOW_SKIPPED)
		refresh(a, f, ct, now);
	if (a->cls && !f->class_seen && ct_closed(ct))
		learn_at_close(a, f, ct, now);
}

/* ---- periodic work --------------------------------------------------------- */

static int install_ruleset(struct agent *a, const char *why)
{
	char err[512] = "";
	int ret;

	ret = nft_ruleset_install(a->nft, &a->cfg, &a->plan, err, sizeof(err));
	if (ret) {
		a->st.ruleset_failures++;
		log_err("cannot install the ruleset (%s): %s", why, err[0] ? err : strerror(-ret));
		return ret;
	}
	a->st.ruleset_installs++;
	return 0;
}

/*
 * With events = window, a conntrack without our mark bits has not reached
 * the window (the offload rule's mark will announce it with an UPDATE) or
 * predates the ruleset (its events still come): a dump tracks it only if it
 * is tracked already, or it would stay tracked with no DESTROY to end it
 * until the next sweep, the cost that mode exists to avoid.
 */
static void on_ct_dumped(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct agent *a = arg;

	if (a->cfg.events_window && admission_of(a, ct) == ADMIT_NONE &&
	    !flows_lookup(a->flows, ct)) {
		a->st.events[type]++;
		a->st.quiet_skipped++;
		return;
	}
	on_ct(type, ct, arg);
}

static int resync(struct agent *a, const char *why)
{
	size_t gone;
	int ret;

	a->gen++;
	ret = ct_query_dump(a->q, AF_UNSPEC, 0, 0, on_ct_dumped, a);
	if (ret) {
		a->st.resync_errors++;
		log_warn("conntrack resync (%s) failed: %s; will retry", why, strerror(-ret));
		return ret;
	}
	a->st.resyncs++;
	gone = flows_sweep(a->flows, a->gen, NULL, NULL);
	recount_budget(a);
	log_debug("resync (%s): %zu flows tracked, %zu gone", why, flows_count(a->flows), gone);
	return 0;
}

static void on_status_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	int ret;

	/* No event fires when a flow enters the flowtable: filtered dumps of
	 * the admitted flows tell us which are offloaded, and their counters. */
	ret = ct_query_dump(a->q, AF_UNSPEC, config_mark_value(&a->cfg, ADMIT_SW),
			    a->cfg.mark_mask, on_ct, a);
	/* The hardware bit alone: also the flows whose mark came after the
	 * software rule (and our learned skips, which refresh leaves be). */
	if (!ret && a->plan.n_hw)
		ret = ct_query_dump(a->q, AF_UNSPEC, config_mark_value(&a->cfg, ADMIT_HW),
				    config_mark_value(&a->cfg, ADMIT_HW), on_ct, a);
	if (ret) {
		a->st.status_errors++;
		log_warn("offload status dump failed: %s", strerror(-ret));
	} else {
		a->st.status_dumps++;
	}
	recount_budget(a);

	/* Without the nftables monitor, poll for our tables here. */
	if (a->cfg.manage_ruleset && !a->mon && !loop_timer_armed(a->ruleset_check))
		loop_timer_set(a->ruleset_check, 1, 0);
}

static void on_resync_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;

	if (t == a->resync_soon) {
		if (resync(a, "after overrun") == 0)
			a->st.resyncs_after_overrun++;
		else
			loop_timer_set(t, RESYNC_DELAY_MS, 0);
		return;
	}
	resync(a, "periodic");
	/* The monitor's safety net: a check that finds our tables complete
	 * costs three small requests. */
	if (a->cfg.manage_ruleset && !loop_timer_armed(a->ruleset_check))
		loop_timer_set(a->ruleset_check, 1, 0);
}

static void on_events(struct loop *l, int fd, uint32_t events, void *arg);

static void on_events_later(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	int fd = ct_events_fd(a->ev);

	if (loop_add_fd(l, fd, EPOLLIN, on_events, a)) {
		/* No memory for the handler: try again shortly. */
		loop_timer_set(t, EVENT_COALESCE_MS, 0);
		return;
	}
	a->events_paused = false;
	on_events(l, fd, EPOLLIN, a);
}

static void on_events(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct agent *a = arg;
	int ret = ct_events_read(a->ev, EVENT_BUDGET, on_ct, a);

	if (ret >= EVENT_COALESCE_MIN && !a->events_paused && loop_del_fd(l, fd) == 0) {
		a->events_paused = true;
		a->st.event_batches++;
		loop_timer_set(a->events_later, EVENT_COALESCE_MS, 0);
	}

	if (ret == -ENOBUFS) {
		a->st.overruns++;
		/* conntrackd's answer: more room for the next burst, within a
		 * cap, and one resync for what this one lost. */
		ret = ct_events_grow(a->ev, a->cfg.event_buffer * EVENT_BUFFER_GROWTH);
		if (ret == 0) {
			a->st.rcvbuf_grows++;
			log_notice("conntrack event socket overrun: receive buffer grown to %llu bytes (cap %llu)",
				   (unsigned long long)ct_events_stats(a->ev)->rcvbuf,
				   (unsigned long long)a->cfg.event_buffer * EVENT_BUFFER_GROWTH * 2);
		} else if (ret != -ENOSPC) {
			log_warn("conntrack event socket overrun: cannot grow its receive buffer: %s",
				 strerror(-ret));
		}
		if (!loop_timer_armed(a->resync_soon)) {
			log_warn("conntrack events lost (receive buffer overrun); resync in %d ms",
				 RESYNC_DELAY_MS);
			loop_timer_set(a->resync_soon, RESYNC_DELAY_MS, 0);
		}
	} else if (ret < 0) {
		log_err("reading conntrack events failed: %s", strerror(-ret));
	}
}

/* ---- the ruleset under attack --------------------------------------------- */

static uint64_t ruleset_check_delay(const struct agent *a, uint64_t now)
{
	/* The oldest of the last RESTORE_BURST restores. */
	uint64_t oldest = a->restore_ms[a->restore_next];

	if (oldest && now - oldest < RESTORE_BURST_MS)
		return RESTORE_BACKOFF_MS;
	return RULESET_CHECK_DELAY_MS;
}

static void on_nft_event(enum nft_monitor_object what, const char *table, uint32_t portid,
			 void *arg)
{
	struct agent *a = arg;
	uint64_t now, delay;

	if (what != NFT_MON_UNKNOWN) {
		/* Our own installs replace our tables: not an attack. */
		if (portid == nft_ruleset_portid(a->nft))
			return;
		if (strcmp(table, NFT_TABLE_SW) != 0 && strcmp(table, NFT_TABLE_HW) != 0)
			return;
		a->st.ruleset_events++;
		log_debug("nftables: %s deleted in table inet %s by netlink port %u",
			  nft_monitor_object_str(what), table, portid);
	}
	/* A rule or set deleted from a table that stays is an edit the
	 * presence check cannot see: it calls for a reinstall too. */
	if (what == NFT_MON_RULE || what == NFT_MON_SET || what == NFT_MON_OBJECT)
		a->ruleset_edited = true;
	if (loop_timer_armed(a->ruleset_check))
		return;
	now = loop_now_ms();
	delay = ruleset_check_delay(a, now);
	if (delay != RULESET_CHECK_DELAY_MS)
		log_warn("the agent's tables were restored %d times within %d s and are being deleted again; next check in %llu ms",
			 RESTORE_BURST, RESTORE_BURST_MS / 1000, (unsigned long long)delay);
	a->ruleset_event_ms = now;
	loop_timer_set(a->ruleset_check, delay, 0);
}

static void on_nft_monitor(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct agent *a = arg;
	int ret = nft_monitor_read(a->mon, NFT_EVENT_BUDGET, on_nft_event, a);

	if (ret == -ENOBUFS)
		log_warn("nftables events lost (receive buffer overrun); checking the agent's tables");
	else if (ret < 0)
		log_err("reading nftables events failed: %s", strerror(-ret));
}

static void on_ruleset_check(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	uint64_t since = a->ruleset_event_ms;
	bool edited = a->ruleset_edited;
	int ret;

	a->ruleset_event_ms = 0;
	a->ruleset_edited = false;
	if (since)
		a->st.ruleset_checks++;
	ret = nft_ruleset_present(a->nft, &a->plan);
	if (ret < 0) {
		log_warn("cannot check the agent's nftables tables: %s; again in 1 s", strerror(-ret));
		a->ruleset_event_ms = since;
		a->ruleset_edited = edited;
		loop_timer_set(t, 1000, 0);
		return;
	}
	if (ret == 1 && !edited)
		return;
	if (install_ruleset(a, "restore")) {
		a->ruleset_event_ms = since;
		a->ruleset_edited = edited;
		loop_timer_set(t, 1000, 0);
		return;
	}
	a->st.ruleset_restored++;
	a->restore_ms[a->restore_next] = loop_now_ms();
	a->restore_next = (a->restore_next + 1) % RESTORE_BURST;
	if (since)
		log_warn("the agent's nftables tables were %s by another program (a firewall reload, nft flush ruleset?); restored %llu ms after the first deletion",
			 ret == 0 ? "removed" : "edited",
			 (unsigned long long)(loop_now_ms() - since));
	else
		log_warn("the agent's nftables tables were gone (a firewall reload, nft flush ruleset?); restored");
}

/* ---- control socket ------------------------------------------------------- */

static const char *proto_str(uint8_t p, char *buf, size_t len)
{
	if (p == IPPROTO_TCP)
		return "tcp";
	if (p == IPPROTO_UDP)
		return "udp";
	snprintf(buf, len, "%u", p);
	return buf;
}

static const char *addr_str(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

struct flows_out {
	struct agent *a;
	FILE *out;
	bool json;
	size_t n;
};

/* Why the flow is where it is: the skip or wait reason, or for a
 * hardware-tier flow the driver refused, hw-refused. */
static const char *flow_reason(const struct flow *f)
{
	if (f->hw_failed)
		return "hw-refused";
	return policy_reason_str(f->skip_reason);
}

static void flow_out_cb(struct flow *f, void *arg)
{
	struct flows_out *o = arg;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN],
		rd[INET6_ADDRSTRLEN], pb[8];
	const struct ct_info *c = &f->ct;
	uint64_t pk = c->packets[0] + c->packets[1], by = c->bytes[0] + c->bytes[1];

	addr_str(c->family, c->orig.src, s, sizeof(s));
	addr_str(c->family, c->orig.dst, d, sizeof(d));
	if (o->json) {
		/* Written directly rather than built with jansson: a table of
		 * a million flows would otherwise become a million objects in
		 * memory before the first byte goes out.  Every string here is
		 * an address, a number or one of our fixed names: nothing to
		 * escape. */
		fprintf(o->out,
			"%s\n  {\"id\": %u, \"family\": \"%s\", \"proto\": \"%s\", \"src\": \"%s\", \"sport\": %u, \"dst\": \"%s\", \"dport\": %u, \"reply_src\": \"%s\", \"reply_sport\": %u, \"reply_dst\": \"%s\", \"reply_dport\": %u, \"state\": \"%s\", \"tier\": \"%s\", \"reason\": \"%s\", \"packets\": %llu, \"bytes\": %llu, \"avgpkt\": %llu, \"mark\": %u}",
			o->n++ ? "," : "", c->id, c->family == AF_INET6 ? "ipv6" : "ipv4",
			proto_str(c->proto, pb, sizeof(pb)), s, c->orig.sport, d, c->orig.dport,
			addr_str(c->family, c->reply.src, rs, sizeof(rs)), c->reply.sport,
			addr_str(c->family, c->reply.dst, rd, sizeof(rd)), c->reply.dport,
			flows_state_str(f->state), flows_tier_str(f->tier),
			flow_reason(f), (unsigned long long)pk,
			(unsigned long long)by, (unsigned long long)(pk ? by / pk : 0), c->mark);
		return;
	}
	fprintf(o->out, "%-10u %-4s %-4s %s:%u -> %s:%u  %-12s %-3s %-14s %10llu %14llu %6llu\n",
		c->id, c->family == AF_INET6 ? "ipv6" : "ipv4", proto_str(c->proto, pb, sizeof(pb)),
		s, c->orig.sport, d, c->orig.dport, flows_state_str(f->state),
		f->tier ? flows_tier_str(f->tier) : "-",
		f->skip_reason || f->hw_failed ? flow_reason(f) : "-",
		(unsigned long long)pk, (unsigned long long)by,
		(unsigned long long)(pk ? by / pk : 0));
}

static void cpu_and_rss(double *cpu_s, long *rss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	*rss_kb = ru.ru_maxrss;
}

static json_t *stats_json(const struct agent *a)
{
	const struct ct_events_stats *es = ct_events_stats(a->ev);
	const struct ct_admit_stats *as = ct_admit_stats(a->adm);
	json_t *reasons = json_object(), *j;
	double cpu;
	long rss;
	int i;

	cpu_and_rss(&cpu, &rss);
	for (i = 1; i < REASON_MAX; i++)
		json_object_set_new(reasons, policy_reason_str((enum policy_reason)i),
				    json_integer((json_int_t)a->st.reasons[i]));
	j = json_pack(
		"{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}, s:{s:I, s:I, s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:f, s:I, s:I, s:I}}",
		"events",
		"new", (json_int_t)a->st.events[CT_MSG_NEW],
		"update", (json_int_t)a->st.events[CT_MSG_UPDATE],
		"destroy", (json_int_t)a->st.events[CT_MSG_DESTROY],
		"dump_entries", (json_int_t)a->st.events[CT_MSG_DUMP],
		"parse_errors", (json_int_t)es->parse_errors,
		"overruns", (json_int_t)a->st.overruns,
		"rcvbuf", (json_int_t)es->rcvbuf,
		"rcvbuf_grows", (json_int_t)a->st.rcvbuf_grows,
		"batched_pauses", (json_int_t)a->st.event_batches,
		"ignored", (json_int_t)a->st.ignored,
		"quiet_skipped", (json_int_t)a->st.quiet_skipped,
		"kernel_filter", a->ct_filter_on,
		"decisions",
		"wait", (json_int_t)a->st.verdicts[VERDICT_WAIT],
		"admit_sw", (json_int_t)a->st.verdicts[VERDICT_ADMIT_SW],
		"admit_hw", (json_int_t)a->st.verdicts[VERDICT_ADMIT_HW],
		"skip", (json_int_t)a->st.verdicts[VERDICT_SKIP],
		"reasons", reasons,
		"admission",
		"marks_written", (json_int_t)as->updates,
		"gone", (json_int_t)as->gone,
		"errors", (json_int_t)as->errors,
		"adopted", (json_int_t)a->st.adopted,
		"flows",
		"tracked", (json_int_t)flows_count(a->flows),
		"capacity", (json_int_t)flows_capacity(a->flows),
		"table_full", (json_int_t)a->st.table_full,
		"returned_to_slow_path", (json_int_t)a->st.returned,
		"offload",
		"offloaded", (json_int_t)a->st.offloaded,
		"hw_offloaded", (json_int_t)a->st.hw_offloaded,
		"hw_in_use", (json_int_t)a->hw.in_use,
		"hw_pending", (json_int_t)a->hw.pending,
		"hw_failed_insertions", (json_int_t)a->hw.failed,
		"hw_late_confirmations", (json_int_t)a->hw.late,
		"hw_mark_too_late", (json_int_t)a->st.hw_raced,
		"hw_returned_to_sw", (json_int_t)a->st.hw_returned_sw,
		"hw_max_in_use", (json_int_t)a->hw.max_in_use,
		"status_dump_errors", (json_int_t)a->st.status_errors,
		"resync",
		"resyncs", (json_int_t)a->st.resyncs,
		"after_overrun", (json_int_t)a->st.resyncs_after_overrun,
		"errors", (json_int_t)a->st.resync_errors,
		"ruleset",
		"installs", (json_int_t)a->st.ruleset_installs,
		"failures", (json_int_t)a->st.ruleset_failures,
		"restored", (json_int_t)a->st.ruleset_restored,
		"reloads", (json_int_t)a->st.reloads,
		"reload_failures", (json_int_t)a->st.reload_failures,
		"foreign_deletions", (json_int_t)a->st.ruleset_events,
		"checks", (json_int_t)a->st.ruleset_checks,
		"process",
		"cpu_seconds", cpu,
		"max_rss_kb", (json_int_t)rss,
		"uptime_ms", (json_int_t)(loop_now_ms() - a->started_ms),
		"capabilities", (json_int_t)privs_effective());
	if (j) {
		const struct classes_counters *cc = classes_counters(a->cls);

		json_object_set_new(j, "classes",
				    json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
					      "learning", a->cls != NULL,
					      "tracked", (json_int_t)classes_count(a->cls),
					      "memory_bytes", (json_int_t)classes_memory(a->cls),
					      "observed", (json_int_t)cc->observed,
					      "no_counters", (json_int_t)cc->no_counters,
					      "unanswered", (json_int_t)cc->unanswered,
					      "created", (json_int_t)cc->created,
					      "evicted", (json_int_t)cc->evicted,
					      "left_to_window", (json_int_t)a->st.class_window_skips,
					      "learned_at_close", (json_int_t)a->st.class_learned_at_close));
	}
	return j;
}

/* Text form of a two-level JSON object: "section.key value" per line. */
static void print_flat(FILE *out, json_t *obj, const char *prefix)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char name[128];

		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (json_is_object(v))
			print_flat(out, v, name);
		else if (json_is_integer(v))
			fprintf(out, "%-40s %lld\n", name, (long long)json_integer_value(v));
		else if (json_is_real(v))
			fprintf(out, "%-40s %.3f\n", name, json_real_value(v));
		else if (json_is_string(v))
			fprintf(out, "%-40s %s\n", name, json_string_value(v));
		else if (json_is_boolean(v))
			fprintf(out, "%-40s %s\n", name, json_is_true(v) ? "yes" : "no");
	}
}

/* The hardware budget is one NIC table shared by every device of the
 * hardware flowtable (one chip, as on the routers we target): each such
 * device shows the same group figures. */
static json_t *hw_group_json(const struct agent *a)
{
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:i}",
			 "capacity", (int)a->cfg.hw_capacity,
			 "watermark", (int)a->cfg.hw_watermark,
			 "in_use", (int)a->hw.in_use,
			 "pending", (int)a->hw.pending,
			 "failed", (int)a->hw.failed_now,
			 "failed_insertions", (json_int_t)a->hw.failed,
			 "late_confirmations", (json_int_t)a->hw.late,
			 "max_in_use", (int)a->hw.max_in_use);
}

static bool dev_in_hw(const struct agent *a, const char *dev)
{
	size_t j;

	for (j = 0; j < a->plan.n_hw; j++)
		if (strcmp(a->plan.hw_devs[j], dev) == 0)
			return true;
	return false;
}

static json_t *status_json(const struct agent *a)
{
	json_t *devs = json_array(), *hw;
	size_t i;

	for (i = 0; i < a->plan.n_sw; i++) {
		bool cap = dev_in_hw(a, a->plan.sw_devs[i]);

		json_array_append_new(devs, json_pack("{s:s, s:b, s:s, s:o}", "name",
						      a->plan.sw_devs[i], "hardware", cap, "tiers",
						      cap ? "sw,hw" : "sw", "hw_group",
						      cap ? hw_group_json(a) : json_null()));
	}
	hw = hw_group_json(a);
	json_object_set_new(hw, "available", json_boolean(a->plan.n_hw > 0));
	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:b, s:s, s:o, s:o, s:I}",
			 "version", PACKAGE_VERSION,
			 "config", a->config_path,
			 "window_from", (int)a->cfg.window_from,
			 "window_until", (int)a->cfg.window_until,
			 "min_avgpkt", (int)a->cfg.min_avgpkt,
			 "tcp", a->cfg.proto_tcp, "udp", a->cfg.proto_udp,
			 "tcp_ack_only", a->cfg.tcp_ack_only,
			 "hardware_mode", a->cfg.hw_mode == HW_MODE_ON ? "on" :
					  a->cfg.hw_mode == HW_MODE_AUTO ? "auto" : "off",
			 "devices", devs,
			 "hardware", hw,
			 "flows_tracked", (json_int_t)flows_count(a->flows));
}

/* Text status: the flat keys, then a table of the devices. */
static void print_devices(FILE *out, json_t *devs)
{
	size_t i;
	json_t *d;

	fprintf(out, "\n%-16s %-8s %-6s %9s %7s %8s %7s %14s\n", "DEVICE", "HARDWARE", "TIERS",
		"CAPACITY", "IN_USE", "PENDING", "FAILED", "FAILED_INSERTS");
	json_array_foreach(devs, i, d) {
		json_t *g = json_object_get(d, "hw_group");

		fprintf(out, "%-16s %-8s %-6s", json_string_value(json_object_get(d, "name")),
			json_is_true(json_object_get(d, "hardware")) ? "yes" : "no",
			json_string_value(json_object_get(d, "tiers")));
		if (json_is_object(g))
			fprintf(out, " %9lld %7lld %8lld %7lld %14lld\n",
				(long long)json_integer_value(json_object_get(g, "capacity")),
				(long long)json_integer_value(json_object_get(g, "in_use")),
				(long long)json_integer_value(json_object_get(g, "pending")),
				(long long)json_integer_value(json_object_get(g, "failed")),
				(long long)json_integer_value(json_object_get(g, "failed_insertions")));
		else
			fprintf(out, " %9s %7s %8s %7s %14s\n", "-", "-", "-", "-", "-");
	}
}

static int reload(struct agent *a, FILE *out);

/* flowoffloadctl classes: what was learned, heaviest class first. */
static int classes_out(struct agent *a, FILE *out, bool json)
{
	size_t n = classes_count(a->cls), i;
	struct class_stats *cs;
	json_t *arr;

	if (!a->cls) {
		if (json)
			fputs("[]\n", out);
		else
			fputs("class learning is off ([classes] learn = no)\n", out);
		return 0;
	}
	cs = calloc(n ? n : 1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	n = classes_snapshot(a->cls, cs, n, loop_now_ms());
	arr = json ? json_array() : NULL;
	if (!json)
		fprintf(out, "%-4s %-5s %-5s %-24s %9s %9s %6s %20s %26s %16s %s\n", "FAM", "PROTO",
			"PORT", "SERVER", "WEIGHT", "FLOWS", "MICE%", "PACKETS p50/p90/p99",
			"BYTES p50/p90/p99", "MS p50/p90", "VERDICT");
	for (i = 0; i < n; i++) {
		char server[INET6_ADDRSTRLEN + 4] = "*", pbuf[8], pk[32], by[48], du[32];
		const char *pb;

		if (cs[i].prefix_len) {
			addr_str(cs[i].family, cs[i].server, server, sizeof(server));
			snprintf(server + strlen(server), sizeof(server) - strlen(server), "/%u",
				 cs[i].prefix_len);
		}
		pb = proto_str(cs[i].proto, pbuf, sizeof(pbuf));
		if (json) {
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:i, s:s, s:f, s:I, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:s}",
					       "family", cs[i].family == AF_INET6 ? "ipv6" : "ipv4",
					       "proto", pb, "port", (int)cs[i].port, "server", server,
					       "weight", cs[i].weight, "flows", (json_int_t)cs[i].flows_total,
					       "mice_share", cs[i].mice_share,
					       "packets", "p50", (json_int_t)cs[i].packets_p50,
					       "p90", (json_int_t)cs[i].packets_p90,
					       "p99", (json_int_t)cs[i].packets_p99,
					       "bytes", "p50", (json_int_t)cs[i].bytes_p50,
					       "p90", (json_int_t)cs[i].bytes_p90,
					       "p99", (json_int_t)cs[i].bytes_p99,
					       "duration_ms", "p50", (json_int_t)cs[i].duration_ms_p50,
					       "p90", (json_int_t)cs[i].duration_ms_p90,
					       "verdict", classes_verdict_str(cs[i].verdict)));
			continue;
		}
		snprintf(pk, sizeof(pk), "%llu/%llu/%llu", (unsigned long long)cs[i].packets_p50,
			 (unsigned long long)cs[i].packets_p90, (unsigned long long)cs[i].packets_p99);
		snprintf(by, sizeof(by), "%llu/%llu/%llu", (unsigned long long)cs[i].bytes_p50,
			 (unsigned long long)cs[i].bytes_p90, (unsigned long long)cs[i].bytes_p99);
		snprintf(du, sizeof(du), "%llu/%llu", (unsigned long long)cs[i].duration_ms_p50,
			 (unsigned long long)cs[i].duration_ms_p90);
		fprintf(out, "%-4s %-5s %-5u %-24s %9.1f %9llu %6.1f %20s %26s %16s %s\n",
			cs[i].family == AF_INET6 ? "ipv6" : "ipv4", pb, cs[i].port,
			server, cs[i].weight, (unsigned long long)cs[i].flows_total,
			100.0 * cs[i].mice_share, pk, by, du, classes_verdict_str(cs[i].verdict));
	}
	if (json) {
		json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_decref(arr);
	}
	free(cs);
	return 0;
}

static int on_ctl(int argc, char **argv, FILE *out, void *arg)
{
	struct agent *a = arg;
	bool json = false;
	const char *cmd = argv[0];
	json_t *j = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(out, "%s: unknown option '%s'\n", cmd, argv[i]);
			return -EINVAL;
		}
	}
	if (strcmp(cmd, "status") == 0) {
		char mask[12];

		j = status_json(a);
		snprintf(mask, sizeof(mask), "0x%08x", a->cfg.mark_mask);
		json_object_set_new(j, "mark_mask", json_string(mask));
	} else if (strcmp(cmd, "stats") == 0) {
		j = stats_json(a);
	} else if (strcmp(cmd, "flows") == 0) {
		struct flows_out o = { .a = a, .out = out, .json = json };

		if (!json)
			fprintf(out, "%-10s %-4s %-4s %-46s %-12s %-3s %-14s %10s %14s %6s\n", "ID",
				"FAM", "PROT", "FLOW", "STATE", "TIER", "REASON", "PACKETS", "BYTES",
				"AVGPKT");
		else
			fputc('[', out);
		flows_foreach(a->flows, flow_out_cb, &o);
		if (json)
			fputs(o.n ? "\n]\n" : "]\n", out);
		return 0;
	} else if (strcmp(cmd, "classes") == 0) {
		return classes_out(a, out, json);
	} else if (strcmp(cmd, "reload") == 0) {
		return reload(a, out);
	} else {
		fprintf(out, "unknown command '%s'; commands: status flows classes stats reload\n",
			cmd);
		return -EINVAL;
	}
	if (json) {
		json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
	} else if (json_is_object(j)) {
		print_flat(out, j, "");
		if (json_is_array(json_object_get(j, "devices")))
			print_devices(out, json_object_get(j, "devices"));
	}
	json_decref(j);
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

/* The kernel drops events of protocols cfg never offloads; without the
 * filter (an old kernel) they are read and ignored. */
static void attach_filter(struct agent *a, const struct fo_config *cfg)
{
	int ret = ct_filter_attach(ct_events_fd(a->ev), cfg->proto_tcp, cfg->proto_udp);

	a->ct_filter_on = ret == 0;
	if (ret)
		log_warn("conntrack events: cannot attach the protocol filter (%s); filtering in the agent",
			 strerror(-ret));
}

/* manage-ruleset = no: the operator's ruleset does the offloading and the
 * agent only tracks, reports and marks.  It cannot know which devices of
 * that ruleset offload to hardware, so it keeps no hardware tier. */
static int external_ruleset(struct fo_config *cfg)
{
	if (!cfg->manage_ruleset)
		cfg->hw_mode = HW_MODE_OFF;
	return 0;
}

static int reload(struct agent *a, FILE *out)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char err[512], *text = NULL;
	int ret;

	ret = config_load(a->config_path, &cfg, err, sizeof(err));
	if (!ret && cfg.manage_ruleset != a->cfg.manage_ruleset) {
		snprintf(err, sizeof(err), "[agent] manage-ruleset changes only at a restart");
		ret = -EINVAL;
	}
	if (!ret && cfg.events_window != a->cfg.events_window) {
		snprintf(err, sizeof(err), "[agent] events changes only at a restart");
		ret = -EINVAL;
	}
	if (!ret)
		ret = external_ruleset(&cfg);
	if (!ret)
		ret = agent_plan(&cfg, &plan, cfg.manage_ruleset, NULL, err, sizeof(err));
	if (!ret) {
		ret = nft_ruleset_render(&cfg, &plan, &text);
		if (ret)
			snprintf(err, sizeof(err), "cannot render the ruleset: %s", strerror(-ret));
	}
	if (!ret && cfg.manage_ruleset && (!a->rendered || strcmp(text, a->rendered) != 0)) {
		ret = nft_ruleset_install(a->nft, &cfg, &plan, err, sizeof(err));
		if (!ret)
			a->st.ruleset_installs++;
	}
	if (ret) {
		a->st.reload_failures++;
		free(text);
		log_err("reload refused, the running configuration stays: %s", err);
		if (out)
			fprintf(out, "reload refused, the running configuration stays: %s\n", err);
		return ret;
	}
	if (!classes_params_equal(&cfg, &a->cfg)) {
		struct classes *cls = NULL;

		/* New parameters start a new table: what was learned under
		 * the old ones is dropped. */
		if (classes_open(&cfg, &cls) == 0) {
			classes_destroy(a->cls);
			a->cls = cls;
			log_notice("[classes] changed: learning starts over");
		} else {
			log_warn("[classes] changed, but no memory for a new table; the old one stays");
		}
	}
	if (cfg.mark_mask != a->cfg.mark_mask)
		log_warn("mark-mask changed from 0x%08x to 0x%08x: flows admitted before keep the old bits",
			 a->cfg.mark_mask, cfg.mark_mask);
	if (cfg.proto_tcp != a->cfg.proto_tcp || cfg.proto_udp != a->cfg.proto_udp)
		attach_filter(a, &cfg);
	if (cfg.event_buffer != a->cfg.event_buffer || cfg.max_flows != a->cfg.max_flows ||
	    cfg.udp_require_reply != a->cfg.udp_require_reply ||
	    strcmp(cfg.socket_path, a->cfg.socket_path) || strcmp(cfg.socket_group, a->cfg.socket_group))
		log_notice("event-buffer, max-flows, udp-require-reply's event subscription, socket and socket-group take effect at the next start");
	a->cfg = cfg;
	a->plan = plan;
	free(a->rendered);
	a->rendered = text;
	loop_timer_set(a->status_timer, a->cfg.status_interval_ms, a->cfg.status_interval_ms);
	loop_timer_set(a->resync_timer, a->cfg.resync_interval_ms, a->cfg.resync_interval_ms);
	a->st.reloads++;
	log_info("configuration %s reloaded", a->config_path);
	if (out)
		fprintf(out, "reloaded %s\n", a->config_path);
	return 0;
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct agent *a = arg;

	if (signo == SIGHUP) {
		reload(a, NULL);
		return;
	}
	log_info("signal %d: shutting down", signo);
	loop_stop(l);
}

/*
 * One agent per control socket.  The socket alone cannot be the lock: two
 * agents started at once both find no one answering, and the second's
 * unlink and bind would take the path from the first.  An flock on a file
 * beside it settles the race; the file stays after exit (removing it would
 * reopen the race for a starting agent that already opened it).
 */
static int lock_instance(struct agent *a)
{
	char path[sizeof(a->cfg.socket_path) + 8], pid[24] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s.lock", a->cfg.socket_path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int err = -errno;

		log_err("lock file %s: %s; not starting", path, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

		if (err == -EADDRINUSE) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			log_err("another flowoffloadd (pid %s) holds %s and answers on %s; not starting (nothing was changed)",
				pid[0] ? pid : "unknown", path, a->cfg.socket_path);
		} else {
			log_err("lock file %s: %s; not starting", path, strerror(-err));
		}
		close(fd);
		return err;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("lock file %s: cannot record our pid: %s", path, strerror(errno));
	a->lock_fd = fd;
	return 0;
}

int agent_run(const struct agent_options *opt, const struct fo_config *cfg)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct agent *a;
	char err[512] = "";
	unsigned int groups = CT_GROUP_NEW | CT_GROUP_DESTROY;
	int ret;

	a = calloc(1, sizeof(*a));
	if (!a)
		return 1;
	a->cfg = *cfg;
	if (!a->cfg.manage_ruleset && a->cfg.hw_mode != HW_MODE_OFF)
		log_notice("manage-ruleset = no: the operator's ruleset offloads; no hardware tier");
	external_ruleset(&a->cfg);
	a->config_path = opt->config_path;
	a->foreground = opt->foreground;
	a->keep_ruleset_opt = opt->keep_ruleset;
	a->started_ms = loop_now_ms();
	a->exit_code = 1;
	a->lock_fd = -1;
	signal(SIGPIPE, SIG_IGN);

	ret = loop_create(&a->loop);
	if (ret)
		goto out;
	ret = loop_signals(a->loop, sigs, 3, on_signal, a);
	if (ret)
		goto out;
	/* The lock and the control socket first: a second agent stops here,
	 * before it has touched anything. */
	if (lock_instance(a))
		goto out;
	ret = ctl_open(&a->ctl, a->loop, a->cfg.socket_path, a->cfg.socket_group, on_ctl, a);
	if (ret == -EADDRINUSE) {
		log_err("another flowoffloadd answers on %s; not starting (nothing was changed)",
			a->cfg.socket_path);
		goto out;
	}
	if (ret) {
		log_err("control socket %s: %s", a->cfg.socket_path, strerror(-ret));
		goto out;
	}
	ret = agent_plan(&a->cfg, &a->plan, a->cfg.manage_ruleset, NULL, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		goto out;
	}
	{
		size_t i;

		for (i = 0; i < a->plan.n_sw; i++)
			if (!dev_in_hw(a, a->plan.sw_devs[i]) && a->cfg.hw_mode != HW_MODE_OFF &&
			    !links_is_sw_only(&a->cfg, a->plan.sw_devs[i]))
				log_notice("flowtable %s: %s lacks hardware offload; using software only",
					   NFT_TABLE_HW, a->plan.sw_devs[i]);
	}
	ret = flows_create(&a->flows, a->cfg.max_flows);
	if (ret)
		goto out_err;
	ret = classes_open(&a->cfg, &a->cls);
	if (ret)
		goto out_err;
	ret = nft_ruleset_open(&a->nft);
	if (ret)
		goto out_err;
	ret = nft_ruleset_render(&a->cfg, &a->plan, &a->rendered);
	if (ret)
		goto out_err;
	/* Listening before the install: a flush right after it is seen. */
	ret = a->cfg.manage_ruleset ? nft_monitor_open(&a->mon) : 0;
	if (ret) {
		log_warn("cannot listen to nftables events (%s); checking the agent's tables every %llu ms instead",
			 strerror(-ret), (unsigned long long)a->cfg.status_interval_ms);
		a->mon = NULL;
	}
	/* A restarted agent finds its tables in place: replacing them would
	 * evict every offloaded flow, and those past the window's end would
	 * never return to the fast path. */
	if (!a->cfg.manage_ruleset) {
		log_info("manage-ruleset = no: leaving nftables to the operator's ruleset");
	} else if (nft_ruleset_installed(a->nft, &a->cfg, &a->plan) == 1) {
		log_info("the ruleset in the kernel is already the one to install; keeping it");
	} else {
		ret = install_ruleset(a, "startup");
		if (ret)
			goto out;
	}
	ret = ct_admit_open(&a->adm);
	if (ret)
		goto out_err;
	ret = ct_query_open(&a->q);
	if (ret)
		goto out_err;
	if (a->cfg.udp_require_reply)
		groups |= CT_GROUP_UPDATE;
	/* events = window: the ruleset keeps every conntrack quiet until its
	 * packet N; then the mark the rule sets is our UPDATE event. */
	if (a->cfg.events_window)
		groups = CT_GROUP_UPDATE | CT_GROUP_DESTROY;
	/* Subscribe before the startup dump: a flow born during the dump is
	 * then in the socket's queue rather than lost; seeing one twice is
	 * harmless (upsert). */
	ret = ct_events_open(&a->ev, groups, a->cfg.event_buffer);
	if (ret)
		goto out_err;
	attach_filter(a, &a->cfg);
	{
		uint64_t t0 = loop_now_ms();

		if (resync(a, "startup") == 0)
			log_info("startup dump: %zu flows tracked in %llu ms", flows_count(a->flows),
				 (unsigned long long)(loop_now_ms() - t0));
	}
	ret = loop_add_fd(a->loop, ct_events_fd(a->ev), EPOLLIN, on_events, a);
	if (!ret && a->mon)
		ret = loop_add_fd(a->loop, nft_monitor_fd(a->mon), EPOLLIN, on_nft_monitor, a);
	if (ret)
		goto out_err;
	ret = loop_timer_add(a->loop, a->cfg.status_interval_ms, a->cfg.status_interval_ms,
			     on_status_timer, a, &a->status_timer);
	if (!ret)
		ret = loop_timer_add(a->loop, a->cfg.resync_interval_ms, a->cfg.resync_interval_ms,
				     on_resync_timer, a, &a->resync_timer);
	if (!ret)
		ret = loop_timer_add(a->loop, 0, 0, on_resync_timer, a, &a->resync_soon);
	if (!ret)
		ret = loop_timer_add(a->loop, 0, 0, on_events_later, a, &a->events_later);
	if (!ret)
		ret = loop_timer_add(a->loop, 0, 0, on_ruleset_check, a, &a->ruleset_check);
	if (ret)
		goto out_err;

	/* Every socket is open (control, nftables, monitor, conntrack
	 * admission, query and events): from here on the agent needs only
	 * CAP_NET_ADMIN, which the kernel checks on each netlink request. */
	ret = privs_drop(KEPT_CAPS, err, sizeof(err));
	if (ret) {
		log_err("cannot drop capabilities: %s; not running with more than needed", err);
		goto out;
	}
	log_info("capabilities: CAP_NET_ADMIN only (CapEff %016llx), no new privileges",
		 (unsigned long long)privs_effective());

	log_info("running: %zu device(s) in software, %zu in hardware; window packets %u..%u; %zu flows from the startup dump",
		 a->plan.n_sw, a->plan.n_hw, a->cfg.window_from, a->cfg.window_until,
		 flows_count(a->flows));
	ret = loop_run(a->loop);
	a->exit_code = ret ? 1 : 0;
	if (!a->cfg.manage_ruleset) {
		/* nothing of ours in nftables */
	} else if (!a->cfg.keep_ruleset && !a->keep_ruleset_opt) {
		ret = nft_ruleset_remove(a->nft, err, sizeof(err));
		if (ret) {
			log_err("cannot remove the agent's tables: %s", err);
			a->exit_code = 1;
		}
	} else {
		log_info("leaving the agent's tables in place (keep-ruleset)");
	}
	goto out;

out_err:
	log_err("startup failed: %s", strerror(-ret));
out:
	ctl_close(a->ctl);
	nft_monitor_close(a->mon);
	ct_events_close(a->ev);
	ct_query_close(a->q);
	ct_admit_close(a->adm);
	nft_ruleset_close(a->nft);
	flows_destroy(a->flows);
	classes_destroy(a->cls);
	loop_destroy(a->loop);
	free(a->rendered);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	ret = a->exit_code;
	free(a);
	return ret;
}
