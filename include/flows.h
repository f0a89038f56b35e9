/* flows: the agent's table of tracked conntrack entries: what it copied from
 * the kernel, what it decided, and what the flow became. */
#ifndef FLOWOFFLOAD_FLOWS_H
#define FLOWOFFLOAD_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct_parse.h"

enum flow_state {
	FLOW_WAITING = 0,	/* seen, not decided yet */
	FLOW_ADMITTED,		/* admission mark written; the rule adds it at packet N */
	FLOW_OFFLOADED,		/* [OFFLOAD] seen in a dump */
	FLOW_HW_OFFLOADED,	/* [HW_OFFLOAD] seen in a dump */
	FLOW_SKIPPED,		/* policy said no; reason in skip_reason */
	FLOW_STATE_MAX,
};

/* A generation only needs to differ from the last one: a sweep follows
 * every full dump, so the live flows all carry the current value. */
#define FLOW_GEN_BITS 5
#define FLOW_GEN_MASK ((1u << FLOW_GEN_BITS) - 1)

enum flow_tier {
	TIER_NONE = 0,
	TIER_SW,
	TIER_HW,
	FLOW_TIER_MAX,
};

/*
 * 144 bytes: the agent keeps one per tracked conntrack, and the target is
 * 160 bytes per flow at a million flows with the index.  Times are the
 * agent's millisecond clock modulo 2^32 (49.7 days): ages are taken by
 * unsigned difference, right for anything younger than that.
 */
struct flow {
	struct ct_info ct;
	uint8_t state;		/* enum flow_state */
	uint8_t tier;		/* enum flow_tier */
	uint8_t skip_reason : 5; /* enum policy_reason (policy.h), or why admitted */
	uint8_t shaped_slot : 3; /* reason shaped or shaped-hw: the shaper's device
				  * (shaping_slot_name); 0: unknown */
	uint8_t admit_failed : 1; /* the mark update was refused */
	uint8_t hw_failed : 1;	/* hardware tier, in the flowtable but not
				 * [HW_OFFLOAD] within confirm-timeout */
	uint8_t class_seen : 1;	/* its final counters went to the classes (a
				 * dump showed the TCP close): not again at DESTROY */
	uint8_t gen : FLOW_GEN_BITS; /* reconciliation generation last seen in */
	uint32_t first_seen_ms;
	uint32_t entered_ms;	/* admitted, then each dump that showed it enter
				 * the flowtable again: the hardware confirm clock;
				 * 0: never (flow_ms() never returns 0) */
	uint32_t offloaded_ms;	/* first dump that showed [OFFLOAD]; 0: never */
};

/* The clock value stored in a flow: never 0, which means "never". */
static inline uint32_t flow_ms(uint64_t now_ms)
{
	uint32_t v = (uint32_t)now_ms;

	return v ? v : 1;
}

/* Milliseconds from a stored time to now. */
static inline uint32_t flow_age_ms(uint64_t now_ms, uint32_t then)
{
	return (uint32_t)now_ms - then;
}

struct flows;

/* A table bounded at max_flows entries. */
int flows_create(struct flows **out, size_t max_flows);
void flows_destroy(struct flows *t);

/* The entry for this conntrack: same id, same original tuple, family and
 * protocol (conntrack ids can be reused once an entry is gone). */
struct flow *flows_lookup(struct flows *t, const struct ct_info *ct);

/* Insert a new entry copied from ct, or return the existing one (*created
 * says which).  -ENOSPC when the table is full. */
int flows_upsert(struct flows *t, const struct ct_info *ct, uint64_t now_ms,
		 struct flow **out, bool *created);

/* Remove one entry; 0 or -ENOENT. */
int flows_remove(struct flows *t, const struct ct_info *ct);

size_t flows_count(const struct flows *t);
/* The flows in each state and tier, by a walk of the table. */
void flows_count_states(const struct flows *t, uint64_t counts[FLOW_STATE_MAX][FLOW_TIER_MAX]);
size_t flows_capacity(const struct flows *t);

/* Visit every entry; the callback may not insert or remove. */
void flows_foreach(struct flows *t, void (*cb)(struct flow *f, void *arg), void *arg);

/*
 * A resumable walk for a reader that takes a table apart in pieces while
 * the loop goes on (flowoffloadctl flows): start with *pos = 0; each call
 * returns the next live entry and moves *pos past it, NULL at the end.
 * Between calls, entries may come and go: an entry live for the whole walk
 * is returned exactly once; one removed before the cursor reached it is
 * not returned; one added meanwhile is returned if its storage lies ahead
 * of the cursor (a new entry or a reused free one), otherwise not.  Each
 * storage entry is visited once, and only while live: a reader never sees a
 * freed entry and only flows that were live at some point of the walk; a
 * conntrack removed behind the cursor and tracked again ahead of it (its
 * DESTROY, then a resync) shows up twice, once per life.
 */
struct flow *flows_next(struct flows *t, uint32_t *pos);
/* Is every storage entry behind the cursor? */
bool flows_cursor_done(const struct flows *t, uint32_t pos);

/* Drop every entry whose gen differs from gen & FLOW_GEN_MASK (not seen by
 * the last full dump); the callback, if any, sees each before it goes.
 * Returns how many. */
size_t flows_sweep(struct flows *t, uint32_t gen, void (*cb)(struct flow *f, void *arg),
		   void *arg);

const char *flows_state_str(enum flow_state s);
const char *flows_tier_str(enum flow_tier t);

#endif
