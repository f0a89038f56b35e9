/* ct_sync: keeps the tracker in step with conntrack: the event socket read
 * in batches, overruns and resyncs, the periodic full and status dumps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "backoff.h"
#include "ct_admit.h"
#include "ct_filter.h"
#include "ct_sync.h"
#include "flows.h"
#include "log.h"
#include "loop.h"
#include "ruleset_guard.h"
#include "tracker.h"

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
/* Without a hardware tier no mark races packet N (the software tier's
 * offload needs no mark from us): a read that found a full batch and
 * drained the socket pauses longer, for fewer wake-ups in a storm (2 ms at
 * 120k events/s is 240 events, within one read's budget).  A read that
 * stopped at its budget left events queued: it pauses the short time. */
#define EVENT_COALESCE_FULL 32
#define EVENT_COALESCE_SW_MS 2
/* After an overrun, resync once the storm had a moment to pass. */
#define RESYNC_DELAY_MS 1000
/* Dump messages read per wakeup of the query socket (each holds a few
 * dozen entries): the events socket gets its turn in between. */
#define DUMP_BUDGET 16
/* On overruns the event buffer doubles, up to this many times event-buffer:
 * a storm that the configured size cannot absorb gets more room, but one
 * that never ends cannot make the kernel pin unbounded memory for us. */
#define EVENT_BUFFER_GROWTH 8
/* A failing event socket is replaced after 100 ms, then after twice as
 * long each time the new one fails too, up to a minute; failed dumps
 * (status, resync after an overrun) back off the same way, from their
 * own interval. */
#define REOPEN_MIN_MS 100
#define RETRY_MAX_MS 60000
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

struct ct_sync {
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct loop *loop;
	struct tracker *trk;
	struct ruleset_guard *guard;
	struct ct_events *ev;
	struct ct_query *q;
	struct loop_timer *status_timer;
	struct loop_timer *resync_timer;
	struct loop_timer *resync_soon;
	struct loop_timer *events_later;	/* re-watches the event socket */
	struct loop_timer *reopen_timer;	/* replaces a failing one */
	bool events_paused;
	bool events_failed;	/* unwatched until reopened */
	struct backoff reopen, status_fail, resync_fail;
	uint64_t status_next_ms;	/* no status dump before (after failures) */
	/* The dumps read from the loop: the one running, those asked for. */
	int job;			/* enum dump_job */
	bool want_resync, want_status, want_status_hw;
	bool resync_after_overrun, next_after_overrun;	/* running, asked for */
	const char *resync_why, *next_why;
	/* The backoff of the periodic dumps: a dump every *_every ticks of
	 * its timer; what the tracker had done when the last one started. */
	uint32_t status_every, status_ticks;
	uint32_t resync_every, resync_ticks;
	uint64_t status_seen, resync_seen;
	uint64_t resync_flows_seen;	/* new flows heard when the last resync started */
	size_t resync_found;		/* flows the running resync added */
	uint64_t dump_cpu0_ns;		/* this thread's CPU when the running dump started */
	uint64_t status_cpu_ns;		/* the last status dump's CPU (both tiers) */
	uint64_t status_quiet_until, resync_quiet_until;	/* duty-cycle floors, loop ms */
	/* Status asked for by a reader (ct_sync_status_fresh): the asks so
	 * far, the asks when the running status dump started, and when the
	 * last one ended. */
	uint64_t ask_seq, dump_ask_seq;
	uint64_t status_read_ms;
	void (*on_fresh)(void *);
	void *on_fresh_arg;
	struct ct_sync_stats st;
};

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

static void on_ct(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct ct_sync *s = arg;

	tracker_event(s->trk, type, ct, loop_now_ms());
}

static void on_ct_dumped(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct ct_sync *s = arg;
	size_t before = flows_count(tracker_flows(s->trk));

	tracker_dumped(s->trk, type, ct, loop_now_ms());
	if (flows_count(tracker_flows(s->trk)) > before)
		s->resync_found++;
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

static void dump_next(struct ct_sync *s);
static const char resync_startup_why[] = "startup";

static void resync_done(struct ct_sync *s, int ret)
{
	size_t gone;
	bool after_overrun = s->resync_after_overrun;

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
	/* Without the nftables monitor, poll for our tables here. */
	ruleset_guard_poll(s->guard);
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
					  s->cfg->mark_mask, on_ct, on_dump_done, s);
		break;
	default:
		ret = ct_query_dump_start(s->q, AF_UNSPEC, hw, hw, on_ct, on_dump_done, s);
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
static void ask_resync(struct ct_sync *s, const char *why, bool after_overrun)
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
		ask_resync(s, "after overrun", true);
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
	ask_resync(s, "periodic", false);
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

static void on_events(struct loop *l, int fd, uint32_t events, void *arg);

static void on_events_later(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ct_sync *s = arg;
	int fd = ct_events_fd(s->ev);

	if (s->events_failed)
		return;
	if (loop_add_fd(l, fd, EPOLLIN, on_events, s)) {
		/* No memory for the handler: try again shortly. */
		loop_timer_set(t, EVENT_COALESCE_MS, 0);
		return;
	}
	s->events_paused = false;
	on_events(l, fd, EPOLLIN, s);
}

/* conntrackd's answer to an overrun: more room for the next burst, within
 * a cap, and one resync for what this one lost. */
static void overrun(struct ct_sync *s)
{
	int ret;

	s->st.overruns++;
	ret = ct_events_grow(s->ev, s->cfg->event_buffer * EVENT_BUFFER_GROWTH);
	if (ret == 0) {
		s->st.rcvbuf_grows++;
		log_notice("conntrack event socket overrun: receive buffer grown to %llu bytes (cap %llu)",
			   (unsigned long long)ct_events_stats(s->ev)->rcvbuf,
			   (unsigned long long)s->cfg->event_buffer * EVENT_BUFFER_GROWTH * 2);
	} else if (ret != -ENOSPC) {
		log_warn("conntrack event socket overrun: cannot grow its receive buffer: %s",
			 strerror(-ret));
	}
	if (!loop_timer_armed(s->resync_soon)) {
		log_warn("conntrack events lost (receive buffer overrun); resync in %d ms",
			 RESYNC_DELAY_MS);
		loop_timer_set(s->resync_soon, RESYNC_DELAY_MS, 0);
	}
}

/*
 * A read that fails for another reason than an overrun (or an error the
 * socket reports through epoll) would fail again at every wakeup: the
 * socket is taken out of the loop and replaced after a backoff delay, and
 * a resync finds what it missed meanwhile.
 */
static void events_failed(struct ct_sync *s, int err)
{
	uint32_t delay = backoff_failed(&s->reopen);

	if (!s->events_paused)
		loop_del_fd(s->loop, ct_events_fd(s->ev));
	loop_timer_set(s->events_later, 0, 0);
	s->events_paused = true;
	s->events_failed = true;
	loop_timer_set(s->reopen_timer, delay, 0);
	if (backoff_log_due(&s->reopen))
		log_err("reading conntrack events failed: %s (%llu in a row); new event socket in %u ms, then a resync",
			strerror(-err), (unsigned long long)s->reopen.failures, delay);
}

static void on_reopen(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ct_sync *s = arg;
	int ret = ct_events_reopen(s->ev);

	if (!ret) {
		ct_sync_attach_filter(s, s->cfg);
		ret = loop_add_fd(l, ct_events_fd(s->ev), EPOLLIN, on_events, s);
	}
	if (ret) {
		events_failed(s, ret);
		return;
	}
	s->events_paused = false;
	s->events_failed = false;
	log_notice("conntrack event socket replaced (after %llu failures); resyncing",
		   (unsigned long long)s->reopen.failures);
	/* Only a read that works clears the backoff (on_events). */
	ask_resync(s, "event socket replaced", true);
}

static void on_events(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ct_sync *s = arg;
	int ret = ct_events_read(s->ev, EVENT_BUDGET, on_ct, s);

	s->st.event_wakeups++;
	if (ret > 0)
		backoff_succeeded(&s->reopen);
	if (ret >= EVENT_COALESCE_MIN && !s->events_paused && loop_del_fd(l, fd) == 0) {
		s->events_paused = true;
		s->st.event_batches++;
		loop_timer_set(s->events_later,
			       ret >= EVENT_COALESCE_FULL && ret < EVENT_BUDGET && !s->plan->n_hw ?
				       EVENT_COALESCE_SW_MS :
				       EVENT_COALESCE_MS,
			       0);
	}
	if (ret == -ENOBUFS)
		overrun(s);
	else if (ret < 0 && ret != -EAGAIN && ret != -EINTR)
		events_failed(s, ret);
}

/* The kernel drops events of protocols cfg never offloads; without the
 * filter (an old kernel) they are read and ignored. */
void ct_sync_attach_filter(struct ct_sync *s, const struct fo_config *cfg)
{
	int ret = ct_filter_attach(ct_events_fd(s->ev), cfg->proto_tcp, cfg->proto_udp);

	s->st.kernel_filter = ret == 0;
	if (ret)
		log_warn("conntrack events: cannot attach the protocol filter (%s); filtering in the agent",
			 strerror(-ret));
}

static unsigned int event_groups(const struct fo_config *cfg)
{
	unsigned int groups = CT_GROUP_NEW | CT_GROUP_DESTROY;

	if (cfg->udp_require_reply)
		groups |= CT_GROUP_UPDATE;
	/* events = window: the ruleset keeps every conntrack quiet until its
	 * packet N; then the mark the rule sets is our UPDATE event. */
	if (cfg->events_window)
		groups = CT_GROUP_UPDATE | CT_GROUP_DESTROY;
	return groups;
}

int ct_sync_open(struct ct_sync **out, struct loop *l, const struct fo_config *cfg,
		 const struct ruleset_plan *plan, struct tracker *trk, struct ruleset_guard *guard)
{
	struct ct_sync *s;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->plan = plan;
	s->loop = l;
	s->trk = trk;
	s->guard = guard;
	backoff_init(&s->reopen, REOPEN_MIN_MS, RETRY_MAX_MS);
	backoff_init(&s->status_fail, cfg->status_interval_ms, RETRY_MAX_MS);
	backoff_init(&s->resync_fail, RESYNC_DELAY_MS, RETRY_MAX_MS);
	s->status_every = 1;
	s->resync_every = 1;
	ret = ct_query_open(&s->q);
	if (!ret)
		ret = ct_events_open(&s->ev, event_groups(cfg), cfg->event_buffer);
	if (ret) {
		ct_sync_close(s);
		return ret;
	}
	ct_sync_attach_filter(s, cfg);
	*out = s;
	return 0;
}

int ct_sync_start(struct ct_sync *s)
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
		ret = loop_add_fd(s->loop, ct_events_fd(s->ev), EPOLLIN, on_events, s);
	if (!ret)
		ret = loop_timer_add(s->loop, s->cfg->status_interval_ms, s->cfg->status_interval_ms,
				     on_status_timer, s, &s->status_timer);
	if (!ret)
		ret = loop_timer_add(s->loop, s->cfg->resync_interval_ms,
				     s->cfg->resync_interval_ms, on_resync_timer, s, &s->resync_timer);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_resync_timer, s, &s->resync_soon);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_events_later, s, &s->events_later);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_reopen, s, &s->reopen_timer);
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

void ct_sync_close(struct ct_sync *s)
{
	if (!s)
		return;
	ct_events_close(s->ev);
	ct_query_close(s->q);
	free(s);
}

const struct ct_sync_stats *ct_sync_stats(const struct ct_sync *s)
{
	return &s->st;
}

const struct ct_events_stats *ct_sync_events_stats(const struct ct_sync *s)
{
	return ct_events_stats(s->ev);
}
