/* ct_sync: keeps the tracker in step with conntrack: the event socket read
 * in batches, overruns and resyncs, the periodic full and status dumps. */
#ifndef FLOWOFFLOAD_CT_SYNC_H
#define FLOWOFFLOAD_CT_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ct_events.h"
#include "nft_ruleset.h"

struct loop;
struct ruleset_guard;
struct tracker;
struct ct_sync;

struct ct_sync_stats {
	uint64_t overruns;
	uint64_t rcvbuf_grows;		/* event buffer doublings after overruns */
	uint64_t event_batches;		/* pauses of the event socket to batch a burst */
	uint64_t resyncs;
	uint64_t resyncs_after_overrun;
	uint64_t resync_errors;
	uint64_t resync_bad_entries;	/* dump entries skipped as unreadable */
	uint64_t status_dumps;
	uint64_t status_errors;
	uint64_t status_skipped;	/* status ticks skipped: nothing to see (backoff) */
	uint64_t resyncs_skipped;	/* periodic resyncs skipped the same way */
	uint64_t event_wakeups;		/* reads of the event socket (each one or more recvmmsg) */
	uint64_t status_cpu_ns;		/* CPU the last status dump cost (kernel walk included) */
	uint64_t resync_cpu_ns;		/* and the last resync */
	bool kernel_filter;		/* the kernel-side event filter is attached */
};

/* Open the query and event sockets (subscribed before the startup dump: a
 * flow born during the dump is then queued rather than lost) and attach
 * the event filter.  cfg and plan are the agent's, read at each use. */
int ct_sync_open(struct ct_sync **out, struct loop *l, const struct fo_config *cfg,
		 const struct ruleset_plan *plan, struct tracker *trk, struct ruleset_guard *guard);
void ct_sync_close(struct ct_sync *s);

/* The startup dump, then the event socket and the dump timers in the loop. */
int ct_sync_start(struct ct_sync *s);

/* After a reload: the event filter for cfg's protocols, and the dump
 * timers at the intervals of the agent's cfg. */
void ct_sync_attach_filter(struct ct_sync *s, const struct fo_config *cfg);
void ct_sync_reconfigure(struct ct_sync *s);

/* The flows' states as the last status dump read them from the kernel:
 * true when that dump ended less than status-interval (at most 1 s) ago.  Otherwise a
 * dump is started at once (backoff and duty floor aside: someone is
 * looking) and false returned; when a status dump that began after the
 * latest such ask ends (or one fails), cb(arg) of ct_sync_on_fresh runs. */
bool ct_sync_status_fresh(struct ct_sync *s);
void ct_sync_on_fresh(struct ct_sync *s, void (*cb)(void *), void *arg);
/* Since the last status dump ended; UINT64_MAX before the first. */
uint64_t ct_sync_status_age_ms(const struct ct_sync *s);

const struct ct_sync_stats *ct_sync_stats(const struct ct_sync *s);
const struct ct_events_stats *ct_sync_events_stats(const struct ct_sync *s);

#endif
