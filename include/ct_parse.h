/* ct_parse: the parser for ctnetlink conntrack messages (events and dump
 * entries) into struct ct_info, without allocating. */
#ifndef FLOWOFFLOAD_CT_PARSE_H
#define FLOWOFFLOAD_CT_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Conntrack status bits the agent reads (include/uapi nf_conntrack_common.h). */
#define FO_IPS_SEEN_REPLY (1u << 1)
#define FO_IPS_ASSURED (1u << 2)
#define FO_IPS_SRC_NAT (1u << 4)
#define FO_IPS_DST_NAT (1u << 5)
#define FO_IPS_DYING (1u << 9)
#define FO_IPS_OFFLOAD (1u << 14)
#define FO_IPS_HW_OFFLOAD (1u << 15)

/* One direction of a conntrack tuple.  Addresses in network byte order;
 * IPv4 uses the first 4 bytes.  Ports in host byte order. */
struct flow_tuple {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
};

/* What the kernel told us about one conntrack (an event or a dump entry):
 * only the fields the agent uses. */
struct ct_info {
	uint32_t id;		/* CTA_ID */
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t tcp_state;	/* TCP_CONNTRACK_*, 0 when not TCP or unknown */
	bool has_counters;	/* CTA_COUNTERS_* present (acct on) */
	bool has_mark;
	bool has_status;
	struct flow_tuple orig;	 /* CTA_TUPLE_ORIG */
	struct flow_tuple reply; /* CTA_TUPLE_REPLY: differs from orig under NAT */
	uint32_t mark;
	uint32_t status;	/* IPS_* bits */
	uint32_t zone;
	uint64_t packets[2];	/* [0] original, [1] reply */
	uint64_t bytes[2];
};

struct nlmsghdr;

enum ct_msg {
	CT_MSG_NEW = 0,
	CT_MSG_UPDATE,
	CT_MSG_DESTROY,
	CT_MSG_DUMP,	/* an entry of a dump reply */
};

typedef void (*ct_cb)(enum ct_msg type, const struct ct_info *ct, void *arg);

/* Parse one ctnetlink message (IPCTNL_MSG_CT_NEW or _DELETE) into ct.
 * Unknown attributes are ignored.  0, or -EINVAL when the message is not a
 * conntrack message or lacks the original tuple. */
int ct_parse(const struct nlmsghdr *nlh, struct ct_info *ct, enum ct_msg *type);

#endif
