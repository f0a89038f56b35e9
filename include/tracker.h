/* tracker: the flow state machine: conntrack events and dump rows in;
 * decisions, admission marks, offload state and the hardware budget out. */
#ifndef FLOWOFFLOAD_TRACKER_H
#define FLOWOFFLOAD_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ct_events.h"
#include "hw_budget.h"
#include "nft_ruleset.h"
#include "policy.h"

struct classes;
struct flows;
struct tracker;

/* How the tracker writes a mark: ct_admit_set_mark's contract (0, -ENOENT
 * when the conntrack is gone, another -errno with a message in err).  A
 * unit test passes a fake. */
struct tracker_ops {
	int (*set_mark)(void *arg, const struct ct_info *ct, uint32_t value, uint32_t mask,
			char *err, size_t errlen);
	void *arg;
	/* Optional: can this [OFFLOAD] flow's packets take the fast path
	 * (hw: the hardware flowtable's)?  Asked at each dump that shows a
	 * software flow newly offloaded; until it says yes the flow is not
	 * reported offloaded. */
	bool (*path_fast)(void *arg, const struct ct_info *ct, bool hw);
	/* Optional: the [routes] roles of the flow's addresses (bits
	 * 1 << ROUTE_*), asked when the flow is decided. */
	unsigned int (*route_roles)(void *arg, const struct ct_info *ct);
	/* Optional: a tracked flow ended with these final counters (its
	 * DESTROY event); hw: the agent had it in the hardware tier. */
	void (*flow_finished)(void *arg, const struct ct_info *ct, bool hw);
	/* Optional: the shapers on the flow's path (shaping_flow), asked
	 * once, when the flow is decided. */
	void (*shaped)(void *arg, const struct ct_info *ct, int *off_hw, int *off_sw);
	/* Optional: does the kernel's mice set hold the flow's class
	 * (mice_set_contains)?  Asked when a mice class decides a flow. */
	bool (*mice_in_set)(void *arg, const struct ct_info *ct);
};

struct tracker_stats {
	uint64_t events[CT_MSG_DUMP + 1];
	uint64_t verdicts[VERDICT_SKIP + 1];
	uint64_t reasons[REASON_MAX];
	uint64_t adopted;		/* flows that already carried our admission */
	uint64_t admit_errors;
	uint64_t admit_gone;
	uint64_t table_full;
	uint64_t ignored;		/* conntracks of protocols we never offload */
	uint64_t quiet_skipped;		/* events = window: dumped conntracks below the window */
	uint64_t dump_stale;		/* resync rows whose DESTROY came first, status
					 * rows of flows not tracked */
	uint64_t dump_gone_overflow;	/* resyncs with more DESTROYs than the set's bound */
	uint64_t offloaded;		/* flows first seen [OFFLOAD] */
	uint64_t hw_offloaded;		/* flows first seen [HW_OFFLOAD] */
	uint64_t returned;		/* offloaded flows back on the slow path */
	uint64_t hw_raced;		/* hardware marks that came after the software rule */
	uint64_t hw_returned_sw;	/* hardware flows the hw-return rule moved to software */
	uint64_t class_window_skips;	/* mice-class flows left to the window: they end before it */
	uint64_t class_learned_at_close; /* closed TCP flows learned from a dump, before DESTROY */
	uint64_t class_set_skips;	/* mice-class flows the kernel's mice set skips: no mark */
	uint64_t class_marks_saved;	/* ... of them, flows that would have cost a skip mark */
	uint64_t class_mice_marks;	/* mice-class skip marks asked for (class not in the set) */
	uint64_t class_learned_untracked; /* events = window: DESTROYs of flows the mice
					   * rule opened the event for, learned */
};

/* cfg and plan are the agent's, read at each use (a reload changes them in
 * place); the tracker owns its flow table and its class table. */
int tracker_create(struct tracker **out, const struct fo_config *cfg,
		   const struct ruleset_plan *plan, const struct tracker_ops *ops);
void tracker_destroy(struct tracker *t);

/* One conntrack event. */
void tracker_event(struct tracker *t, enum ct_msg type, const struct ct_info *ct, uint64_t now_ms);
/* A row of a full dump (resync): with events = window, rows without our
 * mark start no tracking; nor does a row of a conntrack whose DESTROY
 * event was read after the dump began (the row is older than the event). */
void tracker_dumped(struct tracker *t, enum ct_msg type, const struct ct_info *ct,
		    uint64_t now_ms);
/* A row of a filtered dump (status): refreshes a tracked flow, never
 * starts tracking one (flows come from events and resyncs; a row read
 * before its flow's DESTROY would bring the flow back with nothing to end
 * it). */
void tracker_status_row(struct tracker *t, enum ct_msg type, const struct ct_info *ct,
			uint64_t now_ms);

/* A full dump: begin before its rows, end when the last row is in (or the
 * dump failed), sweep after a complete one (drops what it did not show,
 * recounts the budget); sweep returns how many went. */
void tracker_dump_begin(struct tracker *t);
void tracker_dump_end(struct tracker *t);
size_t tracker_sweep(struct tracker *t, uint64_t now_ms);
/* Recount the hardware budget from the table (after status dumps). */
void tracker_recount(struct tracker *t, uint64_t now_ms);

/* Before the agent takes a reloaded cfg: new [classes] parameters start a
 * new class table. */
void tracker_reconfigure(struct tracker *t, const struct fo_config *next);

struct flows *tracker_flows(const struct tracker *t);
struct classes *tracker_classes(const struct tracker *t); /* NULL: learning off */
const struct hw_budget *tracker_budget(const struct tracker *t);
const struct tracker_stats *tracker_stats(const struct tracker *t);

#endif
