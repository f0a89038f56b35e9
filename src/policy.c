/* policy: decide for one conntrack whether to wait, admit it to the hardware
 * or software flowtable, or skip it and why.  Pure: no I/O, no clock, no state. */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "policy.h"

_Static_assert(REASON_MAX <= 32, "struct flow keeps a reason in 5 bits");

/*
 * The decision order, first match wins:
 *
 *  1. not TCP or UDP, or a protocol not in [offload] protocols: SKIP protocol.
 *     Nothing else can make such a flow offloadable.
 *  2. conntrack dying, or TCP closing (FIN_WAIT, CLOSE_WAIT, LAST_ACK,
 *     TIME_WAIT, CLOSE): SKIP state.  The kernel adds no closing TCP flow
 *     to a flowtable, and a dying entry is gone before a rule sees a mark.
 *  3. server port (original destination port) in [skip] ports: SKIP port.
 *  4. any endpoint of the original or the reply tuple inside [skip]
 *     prefixes: SKIP prefix.  Under NAT the reply tuple holds the real
 *     server (DNAT) and the translated client (SNAT), which the operator
 *     may have written instead of the addresses the client used.
 *  5. the flow's service class is a mice class (learned from finished
 *     flows, see classes.c): SKIP mice-class.
 *  5b. UDP without a reply yet while udp-require-reply: WAIT no-reply.  It
 *     comes after the skips so that a flow the policy rejects is settled at
 *     once instead of being asked about again on every event.
 *  4b. a shaper on its path that the software fast path would skip, with
 *     [shaping] policy = keep: SKIP shaped (the caller passes it only then).
 *  6. the tier: hardware while a hardware flowtable exists and the
 *     confirmed plus pending entries stay under capacity * watermark / 100;
 *     software otherwise ([hardware] overcommit: hardware whenever it
 *     exists).  A shaper anywhere on the path keeps it in
 *     software (ADMIT_SW shaped-hw) unless [shaping] policy = ignore.  The software tier always exists, so a full NIC
 *     never skips a flow (REASON_CAPACITY stays reserved).
 *
 * Every SKIP is final for its conntrack, so among the skips the order only
 * chooses the reason shown and counted: the checks on the entry itself come
 * before the scans of the port and prefix lists.
 */

static bool proto_enabled(const struct fo_config *cfg, uint8_t proto)
{
	if (proto == IPPROTO_TCP)
		return cfg->proto_tcp;
	if (proto == IPPROTO_UDP)
		return cfg->proto_udp;
	return false;
}

bool policy_closing(const struct ct_info *ct)
{
	if (ct->status & FO_IPS_DYING)
		return true;
	if (ct->proto != IPPROTO_TCP)
		return false;
	switch (ct->tcp_state) {
	case TCP_CONNTRACK_FIN_WAIT:
	case TCP_CONNTRACK_CLOSE_WAIT:
	case TCP_CONNTRACK_LAST_ACK:
	case TCP_CONNTRACK_TIME_WAIT:
	case TCP_CONNTRACK_CLOSE:
		return true;
	default:
		return false;
	}
}

static bool port_skipped(const struct fo_config *cfg, uint16_t port)
{
	size_t i;

	for (i = 0; i < cfg->n_skip_ports; i++)
		if (port >= cfg->skip_ports[i].lo && port <= cfg->skip_ports[i].hi)
			return true;
	return false;
}

static bool prefix_skipped(const struct fo_config *cfg, const struct ct_info *ct)
{
	const uint8_t *addrs[] = { ct->orig.src, ct->orig.dst, ct->reply.src, ct->reply.dst };
	size_t i, j;

	for (i = 0; i < cfg->n_skip_prefixes; i++)
		for (j = 0; j < sizeof(addrs) / sizeof(addrs[0]); j++)
			if (config_prefix_contains(&cfg->skip_prefixes[i], ct->family, addrs[j]))
				return true;
	return false;
}

/* [routes] never, and only without a followed prefix: the sets in the
 * ruleset keep such flows out already; the agent agrees with them. */
static bool routes_skipped(const struct fo_config *cfg, const struct policy_budget *b)
{
	unsigned int roles = b ? b->route_roles : 0;

	if (roles & (1u << ROUTE_NEVER))
		return true;
	return cfg->n_routes[ROUTE_ONLY] && !(roles & (1u << ROUTE_ONLY));
}

/*
 * With prefer-hardware tables, flows of other prefixes leave hw-reserve
 * percent of the budget free for preferred ones.  A slot is never taken
 * back: the kernel cannot move a flow from the NIC to the software path
 * without tearing its flowtable entry down (nf_flow_offload_del, then the
 * next packet takes the slow path and `flow add` again), and the hardware
 * rule would put it right back; so preferred flows wait for slots that
 * free up, and the reserve makes sure some do.
 */
static bool hw_room(const struct fo_config *cfg, const struct policy_budget *b)
{
	uint64_t used, limit;

	if (!b || !b->hw_available)
		return false;
	/* Overcommit: the driver refuses what does not fit and the kernel
	 * offers the refused flows again while they run (flow_offload_refresh),
	 * so the NIC itself hands freed slots to running flows. */
	if (cfg->hw_overcommit)
		return true;
	/* 64-bit: capacity 16M times 100 percent, or in_use plus pending
	 * near UINT32_MAX, must not wrap. */
	used = (uint64_t)b->hw_in_use + b->hw_pending;
	limit = (uint64_t)b->hw_capacity * b->hw_watermark / 100;
	if (cfg->n_routes[ROUTE_PREFER_HW] && !(b->route_roles & (1u << ROUTE_PREFER_HW)))
		limit = limit * (100 - cfg->routes_hw_reserve) / 100;
	return used < limit;
}

struct policy_decision policy_decide(const struct fo_config *cfg, const struct ct_info *ct,
				     const struct policy_budget *budget, uint64_t now_ms)
{
	struct policy_decision d = { VERDICT_SKIP, REASON_NONE };

	/* now_ms is for the mice classes, which need the age of a flow. */
	if (!proto_enabled(cfg, ct->proto))
		d.reason = REASON_PROTOCOL;
	else if (policy_closing(ct))
		d.reason = REASON_STATE;
	else if (port_skipped(cfg, ct->orig.dport))
		d.reason = REASON_PORT;
	else if (prefix_skipped(cfg, ct) || routes_skipped(cfg, budget))
		d.reason = REASON_PREFIX;
	else if (budget && budget->shaped_off_sw)
		d.reason = REASON_SHAPED;
	else if (budget && budget->class_verdict == CLASS_MICE)
		d.reason = REASON_MICE;
	else if (ct->proto == IPPROTO_UDP && cfg->udp_require_reply &&
		 !(ct->status & FO_IPS_SEEN_REPLY))
		d = (struct policy_decision){ VERDICT_WAIT, REASON_NO_REPLY };
	else if (budget && budget->class_verdict == CLASS_SHORT)
		/* The window keeps its flows out, with no mark to write; a
		 * hardware admission would hold a slot until each one ends. */
		d.verdict = VERDICT_ADMIT_SW;
	else if (hw_room(cfg, budget))
		d.verdict = VERDICT_ADMIT_HW;
	else
		d.verdict = VERDICT_ADMIT_SW;
	if (d.verdict == VERDICT_ADMIT_HW || d.verdict == VERDICT_ADMIT_SW)
		d.reason = !budget || budget->class_verdict == CLASS_OFF ? REASON_NO_CLASS :
			   budget->class_verdict == CLASS_LEARNING ? REASON_CLASS_LEARNING :
			   budget->class_verdict == CLASS_SHORT    ? REASON_CLASS_SHORT :
									 REASON_CLASS_MIXED;
	if (d.verdict == VERDICT_ADMIT_HW && budget->shaped_off_hw)
		d = (struct policy_decision){ VERDICT_ADMIT_SW, REASON_SHAPED_HW };
	return d;
}

const char *policy_verdict_str(enum policy_verdict v)
{
	static const char *const names[] = {
		[VERDICT_WAIT] = "wait",
		[VERDICT_ADMIT_SW] = "admit-sw",
		[VERDICT_ADMIT_HW] = "admit-hw",
		[VERDICT_SKIP] = "skip",
	};

	if ((unsigned int)v >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[v];
}

const char *policy_reason_str(enum policy_reason r)
{
	static const char *const names[REASON_MAX] = {
		[REASON_NONE] = "",
		[REASON_PROTOCOL] = "protocol",
		[REASON_PORT] = "port",
		[REASON_PREFIX] = "prefix",
		[REASON_DEVICE] = "device",
		[REASON_MICE] = "mice-class",
		[REASON_CAPACITY] = "capacity",
		[REASON_STATE] = "state",
		[REASON_NO_REPLY] = "no-reply",
		[REASON_CLASS_MIXED] = "class-mixed",
		[REASON_CLASS_LEARNING] = "class-learning",
		[REASON_NO_CLASS] = "no-class",
		[REASON_CLASS_SHORT] = "class-short",
		[REASON_SHAPED] = "shaped",
		[REASON_SHAPED_HW] = "shaped-hw",
	};

	if ((unsigned int)r >= REASON_MAX || !names[r])
		return "unknown";
	return names[r];
}
