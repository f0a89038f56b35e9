/* ct_sync_int: the state of ct_sync, shared by its two files: the event
 * socket's (ct_sync.c) and the dumps' (ct_sync_dumps.c). */
#ifndef FLOWOFFLOAD_CT_SYNC_INT_H
#define FLOWOFFLOAD_CT_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "ct_sync.h"

struct ct_query;
struct loop_timer;

/* After an overrun, resync once the storm had a moment to pass. */
#define RESYNC_DELAY_MS 1000
/* A failing event socket is replaced after 100 ms, then after twice as
 * long each time the new one fails too, up to a minute; failed dumps
 * (status, resync after an overrun) back off the same way, from their
 * own interval. */
#define REOPEN_MIN_MS 100
#define RETRY_MAX_MS 60000

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

/* ct_sync_dumps.c: a resync asked for (by why; after_overrun: events were
 * lost), and the startup dump, the query socket and the dump timers. */
void ct_sync_ask_resync(struct ct_sync *s, const char *why, bool after_overrun);
int ct_sync_dumps_start(struct ct_sync *s);

#endif
