/* ct_events: conntrack over ctnetlink: the event socket (NEW/DESTROY...) and
 * the query socket for filtered dumps; both produce struct ct_info. */
#ifndef FLOWOFFLOAD_CT_EVENTS_H
#define FLOWOFFLOAD_CT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"

struct nlmsghdr;

enum ct_msg {
	CT_MSG_NEW = 0,
	CT_MSG_UPDATE,
	CT_MSG_DESTROY,
	CT_MSG_DUMP,	/* an entry of a dump reply */
};

/* Event groups to subscribe to. */
#define CT_GROUP_NEW (1u << 0)
#define CT_GROUP_UPDATE (1u << 1)
#define CT_GROUP_DESTROY (1u << 2)

typedef void (*ct_cb)(enum ct_msg type, const struct ct_info *ct, void *arg);

struct ct_events_stats {
	uint64_t messages;	/* conntrack messages parsed */
	uint64_t parse_errors;	/* messages skipped as malformed */
	uint64_t overruns;	/* ENOBUFS: events lost, a resync is due */
	uint64_t rcvbuf;	/* receive buffer the kernel granted, bytes */
};

/* Parse one ctnetlink message (IPCTNL_MSG_CT_NEW or _DELETE) into ct.
 * Unknown attributes are ignored.  0, or -EINVAL when the message is not a
 * conntrack message or lacks the original tuple. */
int ct_parse(const struct nlmsghdr *nlh, struct ct_info *ct, enum ct_msg *type);

struct ct_events;

/* A non-blocking NETLINK_NETFILTER socket subscribed to groups (CT_GROUP_*),
 * receive buffer rcvbuf bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
int ct_events_open(struct ct_events **out, unsigned int groups, uint64_t rcvbuf);
int ct_events_fd(const struct ct_events *ev);

/* After an overrun: double the receive buffer asked for, up to max bytes
 * (before the kernel's doubling).  0, -ENOSPC when already at max, or the
 * errno of the refusal (the buffer then stays as it was). */
int ct_events_grow(struct ct_events *ev, uint64_t max);

/* Read until EAGAIN or budget messages; calls cb for each conntrack message.
 * Returns the number handled, -ENOBUFS after an overrun (the caller must
 * resync; the socket stays usable), or another negative errno. */
int ct_events_read(struct ct_events *ev, unsigned int budget, ct_cb cb, void *arg);
const struct ct_events_stats *ct_events_stats(const struct ct_events *ev);
void ct_events_close(struct ct_events *ev);

struct ct_query;

int ct_query_open(struct ct_query **out);
/* Dump the conntrack table (family AF_UNSPEC for both), only entries whose
 * mark & mask == mark & mask when mask is non-zero; blocking, bounded by a
 * timeout.  cb gets CT_MSG_DUMP for each entry.  0 or negative errno. */
int ct_query_dump(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask, ct_cb cb,
		  void *arg);
void ct_query_close(struct ct_query *q);

#endif
