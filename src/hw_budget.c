/* hw_budget: the hardware tier's share of the NIC table: which flows hold a
 * slot (in use, pending) and which the driver refused.  Pure: time is an input. */
#include "hw_budget.h"
#include "policy.h"

enum hw_slot hw_budget_slot(const struct flow *f, uint32_t window_until)
{
	if (f->tier != TIER_HW)
		return HW_SLOT_NONE;
	switch (f->state) {
	case FLOW_HW_OFFLOADED:
		return HW_SLOT_IN_USE;
	case FLOW_ADMITTED:
		/* Waiting for its packet N, or back from the flowtable: the
		 * hardware rule re-adds it only while within the window and
		 * not closing (a closed connection lingers in TIME_WAIT);
		 * past the window the hw-return rule sends it to software. */
		if (policy_closing(&f->ct))
			return HW_SLOT_NONE;
		if (f->offloaded_ms && f->ct.packets[0] + f->ct.packets[1] > window_until)
			return HW_SLOT_NONE;
		return HW_SLOT_PENDING;
	case FLOW_OFFLOADED:
		return f->hw_failed ? HW_SLOT_FAILED : HW_SLOT_PENDING;
	default:
		return HW_SLOT_NONE;
	}
}

static void note_peak(struct hw_budget *b)
{
	if (b->in_use + b->pending > b->max_in_use)
		b->max_in_use = b->in_use + b->pending;
}

void hw_budget_release(struct hw_budget *b, enum hw_slot slot)
{
	if (slot == HW_SLOT_IN_USE && b->in_use)
		b->in_use--;
	else if (slot == HW_SLOT_PENDING && b->pending)
		b->pending--;
	else if (slot == HW_SLOT_FAILED && b->failed_now)
		b->failed_now--;
}

static void add_slot(struct hw_budget *b, enum hw_slot slot)
{
	if (slot == HW_SLOT_IN_USE)
		b->in_use++;
	else if (slot == HW_SLOT_PENDING)
		b->pending++;
	else if (slot == HW_SLOT_FAILED)
		b->failed_now++;
}

void hw_budget_take(struct hw_budget *b, enum hw_slot slot)
{
	add_slot(b, slot);
	note_peak(b);
}

void hw_budget_recount_begin(struct hw_budget *b)
{
	b->in_use = 0;
	b->pending = 0;
	b->failed_now = 0;
}

bool hw_budget_count(struct hw_budget *b, struct flow *f, uint32_t window_until,
		     uint64_t confirm_ms, uint64_t now_ms)
{
	bool refused = false;

	if (f->tier != TIER_HW)
		return false;
	if (f->state == FLOW_OFFLOADED && !f->hw_failed && f->offloaded_ms &&
	    flow_age_ms(now_ms, f->entered_ms) >= confirm_ms) {
		f->hw_failed = 1;
		b->failed++;
		refused = true;
	}
	add_slot(b, hw_budget_slot(f, window_until));
	return refused;
}

void hw_budget_recount_end(struct hw_budget *b)
{
	note_peak(b);
}

void hw_budget_confirmed(struct hw_budget *b, struct flow *f)
{
	if (!f->hw_failed)
		return;
	f->hw_failed = 0;
	b->late++;
}
