/* policy: the pure decision for one flow: wait, admit to the hardware or
 * software tier, or skip with a reason.  No I/O, no clock: time is an input. */
#ifndef FLOWOFFLOAD_POLICY_H
#define FLOWOFFLOAD_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "classes.h"
#include "config.h"
#include "flows.h"

enum policy_verdict {
	VERDICT_WAIT = 0,	/* not decidable yet; ask again on the next event or dump */
	VERDICT_ADMIT_SW,
	VERDICT_ADMIT_HW,
	VERDICT_SKIP,
};

enum policy_reason {
	REASON_NONE = 0,
	REASON_PROTOCOL,	/* not a configured protocol (or not TCP/UDP) */
	REASON_PORT,		/* server port in [skip] ports */
	REASON_PREFIX,		/* an endpoint in [skip] prefixes */
	REASON_DEVICE,		/* reserved: device policy lives in the ruleset */
	REASON_MICE,		/* service class of short-lived flows */
	REASON_CAPACITY,	/* hardware full and no software tier */
	REASON_STATE,		/* conntrack closing or dying */
	REASON_NO_REPLY,	/* UDP without a reply and udp-require-reply (a WAIT reason) */
	/* Why an admitted flow was admitted (shown by flowoffloadctl flows;
	 * the ruleset's window and min-avgpkt then decide when): */
	REASON_CLASS_MIXED,	/* its service class mixes mice and elephants */
	REASON_CLASS_LEARNING,	/* its class has too few finished flows yet */
	REASON_NO_CLASS,	/* class learning is off */
	REASON_CLASS_SHORT,	/* a mice class whose flows end before the window:
				 * left to it, never given a hardware slot */
	REASON_SHAPED,		/* a shaper on its path that the software fast
				 * path would skip: kept off the flowtable */
	REASON_SHAPED_HW,	/* a shaper on its path: kept off the hardware
				 * tier (which skips every qdisc), software */
	REASON_MAX,
};

/* The hardware tier's occupancy, observed by the agent. */
struct policy_budget {
	bool hw_available;	/* a hardware flowtable is installed */
	uint32_t hw_capacity;	/* entries */
	uint32_t hw_watermark;	/* percent */
	uint32_t hw_in_use;	/* [HW_OFFLOAD] seen in the last dump */
	uint32_t hw_pending;	/* admitted to hardware, not yet confirmed */
	/* What the agent learned of the flow's service class. */
	enum class_verdict class_verdict;
	/* [routes]: the roles of the flow's addresses (ROUTES_BIT(ROUTE_*)),
	 * as the kernel's sets hold them. */
	unsigned int route_roles;
	/* Shapers on the flow's path (shaping.c; ifindexes, 0: none),
	 * already filtered by [shaping] policy. */
	int shaped_off_hw, shaped_off_sw;
};

struct policy_decision {
	enum policy_verdict verdict;
	enum policy_reason reason;	/* why SKIP or WAIT; REASON_NONE for admits */
};

struct policy_decision policy_decide(const struct fo_config *cfg, const struct ct_info *ct,
				     const struct policy_budget *budget, uint64_t now_ms);

/* The conntrack is dying or a TCP connection is closing: the kernel adds
 * no such flow to a flowtable. */
bool policy_closing(const struct ct_info *ct);

const char *policy_verdict_str(enum policy_verdict v);
const char *policy_reason_str(enum policy_reason r);

#endif
