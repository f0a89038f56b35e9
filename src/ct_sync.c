/* ct_sync: keeps the tracker in step with conntrack: the event socket read
 * in batches, its overruns and replacement; the dumps are ct_sync_dumps.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "ct_filter.h"
#include "ct_query.h"
#include "ct_sync.h"
#include "ct_sync_int.h"
#include "log.h"
#include "loop.h"
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
/* On overruns the event buffer doubles, up to this many times event-buffer:
 * a storm that the configured size cannot absorb gets more room, but one
 * that never ends cannot make the kernel pin unbounded memory for us. */
#define EVENT_BUFFER_GROWTH 8

static void ct_sync_on_ct(enum ct_msg type, const struct ct_info *ct, void *arg)
{
	struct ct_sync *s = arg;

	tracker_event(s->trk, type, ct, loop_now_ms());
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
	ct_sync_ask_resync(s, "event socket replaced", true);
}

static void on_events(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ct_sync *s = arg;
	int ret = ct_events_read(s->ev, EVENT_BUDGET, ct_sync_on_ct, s);

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
	int ret = ct_sync_dumps_start(s);

	if (!ret)
		ret = loop_add_fd(s->loop, ct_events_fd(s->ev), EPOLLIN, on_events, s);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_events_later, s, &s->events_later);
	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_reopen, s, &s->reopen_timer);
	return ret;
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
