/* hw_budget: the hardware tier's share of the NIC table: which flows hold a
 * slot (in use, pending) and which the driver refused.  Pure: time is an input. */
#ifndef FLOWOFFLOAD_HW_BUDGET_H
#define FLOWOFFLOAD_HW_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "flows.h"

/*
 * A hardware-tier flow occupies a slot of the NIC's budget while it is
 * [HW_OFFLOAD] (in use), or admitted and not yet confirmed (pending): its
 * mark is written and the rule adds it at packet N, or it is in the
 * flowtable while the driver works.  One that stays in the flowtable
 * without [HW_OFFLOAD] past confirm-timeout was refused by the driver: it
 * is counted failed once and frees its slot.  The kernel keeps offering it
 * to the driver (about once a second while packets flow), so it may still
 * become [HW_OFFLOAD]: then it is in use again.
 */
enum hw_slot {
	HW_SLOT_NONE = 0,
	HW_SLOT_IN_USE,
	HW_SLOT_PENDING,
	HW_SLOT_FAILED,
};

/* The slots held now and the counters of what happened to them. */
struct hw_budget {
	uint32_t in_use;
	uint32_t pending;
	uint32_t failed_now;	/* flows counted failed, still alive */
	uint32_t max_in_use;	/* the largest in_use + pending seen */
	uint64_t failed;	/* hardware insertions not confirmed in time */
	uint64_t late;		/* ... of which [HW_OFFLOAD] came later */
};

/* The slot f holds; window_until is [window] until (packets). */
enum hw_slot hw_budget_slot(const struct flow *f, uint32_t window_until);

/* Move a flow's slot when its state changes between recounts. */
void hw_budget_take(struct hw_budget *b, enum hw_slot slot);
void hw_budget_release(struct hw_budget *b, enum hw_slot slot);

/* A recount: begin, one hw_budget_count per tracked flow, end.  count
 * marks a hardware flow failed once it sat in the flowtable confirm_ms
 * without [HW_OFFLOAD]; true when it did so now (the caller tells). */
void hw_budget_recount_begin(struct hw_budget *b);
bool hw_budget_count(struct hw_budget *b, struct flow *f, uint32_t window_until,
		     uint64_t confirm_ms, uint64_t now_ms);
void hw_budget_recount_end(struct hw_budget *b);

/* f reached [HW_OFFLOAD]: if it had been counted failed, the kernel's
 * retry got it into the NIC after all. */
void hw_budget_confirmed(struct hw_budget *b, struct flow *f);

#endif
