/* ct_sync_dumps: the dumps that keep the tracker true between events: the
 * startup dump, resyncs, status dumps, their cadence and the fresh reads. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "ct_admit.h"
#include "ct_query.h"
#include "ct_sync.h"
#include "ct_sync_int.h"
#include "flows.h"
#include "log.h"
#include "loop.h"
#include "ruleset_guard.h"
#include "tracker.h"

/* Dump messages read per wakeup of the query socket (each holds a few
 * dozen entries): the events socket gets its turn in between. */
#define DUMP_BUDGET 16
/*
 * The status dump and the periodic resync each walk the whole conntrack
 * table in the kernel (the status dump's mark filter is applied per entry),
 * whatever they return, and a resync parses every entry: with a million
 * idle conntracks the agent spent 40% of a core on them (bench/idle_cpu:
 * 0.3-0.4 s of CPU per status dump, every second; 2-3 s per resync, every
 * 30 s).  So both back off while they find nothing.  A status dump that changed nothing puts the next twice as
 * many intervals later, up to STATUS_BACKOFF_MAX (16 s at the default
 * 1 s); the base interval returns with anything to see: a flow admitted
 * (it may reach packet N any moment), a flow that moved into or out of the
 * flowtable, a hardware slot in use or pending (the budget counts on fresh
 * status).  A resync that found the events complete (nothing missed,
 * nothing to sweep, no close learned) puts the next RESYNC_BACKOFF_MAX
 * intervals later (8 min at the default 30 s): lost events announce
 * themselves (ENOBUFS, a failing socket) and get their own resync at once.
 * New flows bring the base interval back: a resync is also where a TCP
 * connection that closed before packet N (no mark, so no status dump sees
 * it) teaches its class, two minutes before its DESTROY event.
 * And while backed off, neither kind takes more than 1/DUTY_SHARE of a
 * core: the next waits DUTY_SHARE times the CPU the last one cost (a
 * status walk of a million idle entries costs about 0.37 s, a resync of
 * them 2.3 s).  Together they keep an idle agent under 1% of a core.
 */
#define STATUS_BACKOFF_MAX 16
#define RESYNC_BACKOFF_MAX 16
#define DUTY_SHARE 250

/* What makes a status dump worth its walk: admissions (the flow may reach
 * packet N any moment) and flows that moved into or out of the flowtable. */
static uint64_t status_activity(const struct ct_sync *s)
{
	const struct tracker_stats *ts = tracker_stats(s->trk);

	return ts->verdicts[VERDICT_ADMIT_SW] + ts->verdicts[VERDICT_ADMIT_HW] + ts->offloaded +
	       ts->hw_offloaded + ts->returned + ts->hw_raced + ts->hw_returned_sw +
	       ts->class_learned_at_close;
}

/* Flows heard of since the start (NEW events; UPDATE in events = window). */
static uint64_t new_flows(const struct ct_sync *s)
{
	const struct tracker_stats *ts = tracker_stats(s->trk);

	return ts->events[CT_MSG_NEW] + (s->cfg->events_window ? ts->events[CT_MSG_UPDATE] : 0);
}

static bool hw_busy(const struct ct_sync *s)
{
	const struct hw_budget *hw = tracker_budget(s->trk);

	return hw->in_use || hw->pending;
}

static uint32_t backed_off(uint32_t every, uint32_t max)
{
	return every >= max / 2 ? max : every * 2;
}

/* CPU time of this thread (the loop's): what a dump cost, kernel walk
 * included (the kernel fills dump messages inside our recvmsg calls). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A reader's answer is read from the kernel again when the last status
 * dump is older than this (or status-interval, if shorter). */
#define READ_FRESH_MS 1000

/* The loop time before which a backed-off dump that cost cpu_ns waits. */
static uint64_t quiet_until(uint64_t cpu_ns)
{
	return loop_now_ms() + cpu_ns / 1000000 * DUTY_SHARE;
}

/*
 * The dumps after startup are read from the loop (ct_query's asynchronous
 * dump), so conntrack events, mark writes and the ruleset guard go on
 * while a resync walks a table of a million entries.  One dump runs at a
 * time on the query socket; a dump asked for while another runs is
 * remembered and started when that one ends.
 */
enum dump_job {
	JOB_NONE = 0,
	JOB_RESYNC,		/* the whole table: add what we missed, sweep the rest */
	JOB_STATUS_SW,		/* the admitted flows: offload status and counters */
	JOB_STATUS_HW,		/* the hardware bit alone */
};

static void on_ct_dumped(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct ct_sync *s = arg;
	size_t before = flows_count(tracker_flows(s->trk));

	tracker_dumped(s->trk, type, ct, loop_now_ms());
	if (flows_count(tracker_flows(s->trk)) > before)
		s->resync_found++;
}

/* A status dump's row: the flows it shows are tracked already (see
 * tracker_status_row). */
static void on_status_row(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct ct_sync *s = arg;

	tracker_status_row(s->trk, type, ct, loop_now_ms());
}

static void dump_next(struct ct_sync *s);
static const char resync_startup_why[] = "startup";

static void resync_done(struct ct_sync *s, int ret)
{
	size_t gone;
	bool after_overrun = s->resync_after_overrun;

	tracker_dump_end(s->trk);
	s->resync_after_overrun = false;
	if (ret) {
		uint32_t delay = backoff_failed(&s->resync_fail);

		s->st.resync_errors++;
		if (backoff_log_due(&s->resync_fail))
			log_warn("conntrack resync (%s) failed: %s (%llu in a row); will retry", s->resync_why,
				 strerror(-ret), (unsigned long long)s->resync_fail.failures);
		/* The periodic timer retries a periodic one; lost events
		 * cannot wait that long. */
		if (s->resync_why != resync_startup_why && (after_overrun || s->events_failed) &&
		    s->loop && !loop_timer_armed(s->resync_soon))
			loop_timer_set(s->resync_soon, delay, 0);
		return;
	}
	backoff_succeeded(&s->resync_fail);
	s->st.resyncs++;
	if (after_overrun)
		s->st.resyncs_after_overrun++;
	/* An entry we could not read may be a flow we track: sweeping would
	 * drop it.  The next resync sweeps. */
	if (ct_query_bad_entries(s->q)) {
		s->st.resync_bad_entries += ct_query_bad_entries(s->q);
		log_warn("conntrack resync (%s): %llu unreadable entries skipped; flows not swept this time",
			 s->resync_why, (unsigned long long)ct_query_bad_entries(s->q));
		return;
	}
	gone = tracker_sweep(s->trk, loop_now_ms());
	log_debug("resync (%s): %zu flows tracked, %zu gone, %zu found", s->resync_why,
		  flows_count(tracker_flows(s->trk)), gone, s->resync_found);
	/* A resync that found the events complete (and learned no close)
	 * is not needed as often; one that found anything is. */
	s->st.resync_cpu_ns = thread_cpu_ns() - s->dump_cpu0_ns;
	if (gone || s->resync_found || after_overrun ||
	    tracker_stats(s->trk)->class_learned_at_close != s->resync_seen) {
		s->resync_every = 1;
		s->resync_quiet_until = 0;
	} else {
		s->resync_every = RESYNC_BACKOFF_MAX;
		s->resync_quiet_until = quiet_until(s->st.resync_cpu_ns);
	}
}

static void status_done(struct ct_sync *s, int ret)
{
	if (ret) {
		uint32_t delay = backoff_failed(&s->status_fail);

		s->st.status_errors++;
		s->status_next_ms = loop_now_ms() + delay;
		if (backoff_log_due(&s->status_fail))
			log_warn("offload status dump failed: %s (%llu in a row); next in %u ms",
				 strerror(-ret), (unsigned long long)s->status_fail.failures, delay);
	} else {
		uint64_t a = status_activity(s);

		s->status_read_ms = loop_now_ms();
		s->st.status_dumps++;
		s->status_next_ms = 0;
		backoff_succeeded(&s->status_fail);
		s->st.status_cpu_ns = thread_cpu_ns() - s->dump_cpu0_ns;
		if (a != s->status_seen || hw_busy(s)) {
			s->status_every = 1;
			s->status_quiet_until = 0;
		} else {
			s->status_every = backed_off(s->status_every, STATUS_BACKOFF_MAX);
			s->status_quiet_until = quiet_until(s->st.status_cpu_ns);
		}
		s->status_seen = a;
	}
	tracker_recount(s->trk, loop_now_ms());
	/* Readers wait for a dump that began after they asked (or for a
	 * failure: they get what there is, with its age). */
	if (s->ask_seq != s->dump_ask_seq && !ret) {
		s->want_status = true;
	} else if (s->on_fresh) {
		s->dump_ask_seq = s->ask_seq;
		s->on_fresh(s->on_fresh_arg);
	}
}

static void on_dump_done(int ret, void *arg)
{
	struct ct_sync *s = arg;
	enum dump_job job = s->job;

	s->job = JOB_NONE;
	switch (job) {
	case JOB_RESYNC:
		resync_done(s, ret);
		break;
	case JOB_STATUS_SW:
		/* The hardware bit alone: also the flows whose mark came after
		 * the software rule (and our learned skips, which refresh
		 * leaves be). */
		if (!ret && s->plan->n_hw) {
			s->want_status_hw = true;
			break;
		}
		status_done(s, ret);
		break;
	case JOB_STATUS_HW:
		status_done(s, ret);
		break;
	case JOB_NONE:
		break;
	}
	dump_next(s);
}

static int dump_start(struct ct_sync *s, enum dump_job job)
{
	uint32_t hw = ct_admit_value(s->cfg->mark_mask, ADMIT_HW);
	int ret;

	s->job = job;
	switch (job) {
	case JOB_RESYNC:
		s->resync_why = s->next_why;
		s->resync_after_overrun = s->next_after_overrun;
		s->resync_found = 0;
		s->resync_seen = tracker_stats(s->trk)->class_learned_at_close;
		s->resync_flows_seen = new_flows(s);
		s->dump_cpu0_ns = thread_cpu_ns();
		tracker_dump_begin(s->trk);
		ret = ct_query_dump_start(s->q, AF_UNSPEC, 0, 0, on_ct_dumped, on_dump_done, s);
		break;
	case JOB_STATUS_SW:
		/* No event fires when a flow enters the flowtable: filtered
		 * dumps of the admitted flows tell us which are offloaded. */
		s->status_seen = status_activity(s);
		s->status_ticks = 0;
		s->dump_ask_seq = s->ask_seq;
		s->dump_cpu0_ns = thread_cpu_ns();
		ret = ct_query_dump_start(s->q, AF_UNSPEC,
					  ct_admit_value(s->cfg->mark_mask, ADMIT_SW),
					  s->cfg->mark_mask, on_status_row, on_dump_done, s);
		break;
	default:
		ret = ct_query_dump_start(s->q, AF_UNSPEC, hw, hw, on_status_row, on_dump_done, s);
		break;
	}
	if (ret)
		s->job = JOB_NONE;
	return ret;
}

/* Start the next dump asked for, if the socket is free: a resync first (it
 * refreshes the admitted flows too), then the status dumps. */
static void dump_next(struct ct_sync *s)
{
	enum dump_job job = JOB_NONE;
	int ret;

	if (s->job != JOB_NONE || ct_query_busy(s->q))
		return;
	if (s->want_resync) {
		s->want_resync = false;
		job = JOB_RESYNC;
	} else if (s->want_status_hw) {
		s->want_status_hw = false;
		job = JOB_STATUS_HW;
	} else if (s->want_status) {
		s->want_status = false;
		job = JOB_STATUS_SW;
	}
	if (job == JOB_NONE)
		return;
	ret = dump_start(s, job);
	if (ret)
		/* Reported as the dump's own failure would be. */
		on_dump_done(ret, s);
}

static void on_query(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ct_sync *s = arg;

	ct_query_on_readable(s->q, DUMP_BUDGET);
}

/* A periodic resync while one runs is redundant; after an overrun, the
 * running one may have walked past entries whose events were lost: one
 * more follows it. */
void ct_sync_ask_resync(struct ct_sync *s, const char *why, bool after_overrun)
{
	if (s->want_resync) {
		s->next_after_overrun |= after_overrun;
		return;
	}
	if (s->job == JOB_RESYNC && !after_overrun)
		return;
	s->want_resync = true;
	s->next_why = why;
	s->next_after_overrun = after_overrun;
	dump_next(s);
}

static void on_status_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ct_sync *s = arg;

	if (loop_now_ms() < s->status_next_ms)
		return;
	/* Backed off: only every status_every ticks, unless there is news. */
	if (status_activity(s) != s->status_seen || hw_busy(s)) {
		s->status_every = 1;
		s->status_quiet_until = 0;
	}
	if (++s->status_ticks < s->status_every || loop_now_ms() < s->status_quiet_until) {
		s->st.status_skipped++;
		return;
	}
	if (s->job != JOB_STATUS_SW && s->job != JOB_STATUS_HW && !s->want_status_hw)
		s->want_status = true;
	dump_next(s);
}

static void on_resync_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ct_sync *s = arg;

	if (t == s->resync_soon) {
		ct_sync_ask_resync(s, "after overrun", true);
		return;
	}
	/* The monitor's safety net. */
	ruleset_guard_recheck(s->guard);
	if (new_flows(s) != s->resync_flows_seen) {
		s->resync_every = 1;
		s->resync_quiet_until = 0;
	}
	if (++s->resync_ticks < s->resync_every || loop_now_ms() < s->resync_quiet_until) {
		s->st.resyncs_skipped++;
		return;
	}
	s->resync_ticks = 0;
	ct_sync_ask_resync(s, "periodic", false);
}

/* The startup dump is read before the loop runs: nothing else is due yet,
 * and readiness means the table is known.  Its outcome is handled as the
 * loop's resyncs' is. */
static int resync_startup(struct ct_sync *s)
{
	int ret;

	s->resync_why = resync_startup_why;
	s->resync_after_overrun = false;
	s->dump_cpu0_ns = thread_cpu_ns();
	tracker_dump_begin(s->trk);
	ret = ct_query_dump(s->q, AF_UNSPEC, 0, 0, on_ct_dumped, s);
	resync_done(s, ret);
	return ret;
}

/* The events' side (ct_sync_start) adds its socket and timers after these. */
int ct_sync_dumps_start(struct ct_sync *s)
{
	uint64_t t0 = loop_now_ms();
	int ret;

	if (resync_startup(s) == 0)
		log_info("startup dump: %zu flows tracked in %llu ms",
			 flows_count(tracker_flows(s->trk)),
			 (unsigned long long)(loop_now_ms() - t0));
	/* After the synchronous dump: a failed one replaces the socket. */
	ret = loop_add_fd(s->loop, ct_query_fd(s->q), EPOLLIN, on_query, s);
	if (!ret)
		ret = loop_timer_add(s->loop, s->cfg->status_interval_ms, s->cfg->status_interval_ms,
				     on_status_timer, s, &s->status_timer);
	if (!ret)
		ret = loop_timer_add(s->loop, s->cfg->resync_interval_ms,
				     s->cfg->resync_interval_ms, on_resync_timer, s, &s->resync_timer);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_resync_timer, s, &s->resync_soon);
	return ret;
}

bool ct_sync_status_fresh(struct ct_sync *s)
{
	uint64_t now = loop_now_ms(), fresh = s->cfg->status_interval_ms;

	/* What the normal cadence gives, at most a second old: a long
	 * status-interval spaces the dumps, not the truth of the answers. */
	if (fresh > READ_FRESH_MS)
		fresh = READ_FRESH_MS;
	if (s->status_read_ms && now - s->status_read_ms < fresh)
		return true;
	/* Not one more dump for each reader of a stale view: one for all. */
	s->ask_seq++;
	s->status_every = 1;
	s->status_quiet_until = 0;
	if (s->job != JOB_STATUS_SW && s->job != JOB_STATUS_HW && !s->want_status_hw)
		s->want_status = true;
	dump_next(s);
	return false;
}

uint64_t ct_sync_status_age_ms(const struct ct_sync *s)
{
	return s->status_read_ms ? loop_now_ms() - s->status_read_ms : UINT64_MAX;
}

void ct_sync_on_fresh(struct ct_sync *s, void (*cb)(void *), void *arg)
{
	s->on_fresh = cb;
	s->on_fresh_arg = arg;
}

/* A reload starts both cadences afresh: the operator may be looking. */
void ct_sync_reconfigure(struct ct_sync *s)
{
	s->status_every = 1;
	s->resync_every = 1;
	s->status_quiet_until = 0;
	s->resync_quiet_until = 0;
	loop_timer_set(s->status_timer, s->cfg->status_interval_ms, s->cfg->status_interval_ms);
	loop_timer_set(s->resync_timer, s->cfg->resync_interval_ms, s->cfg->resync_interval_ms);
}
