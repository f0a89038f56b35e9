/* ct_events: conntrack over ctnetlink: the event socket (NEW/UPDATE/DESTROY);
 * the parser (ct_parse.h) and the query socket (ct_query.h) come with it. */
#ifndef FLOWOFFLOAD_CT_EVENTS_H
#define FLOWOFFLOAD_CT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "ct_parse.h"
#include "ct_query.h"
#include "flows.h"

/* Event groups to subscribe to. */
#define CT_GROUP_NEW (1u << 0)
#define CT_GROUP_UPDATE (1u << 1)
#define CT_GROUP_DESTROY (1u << 2)

struct ct_events_stats {
	uint64_t messages;	/* conntrack messages parsed */
	uint64_t parse_errors;	/* messages skipped as malformed */
	uint64_t overruns;	/* ENOBUFS: events lost, a resync is due */
	uint64_t rcvbuf;	/* receive buffer the kernel granted, bytes */
	uint64_t read_errors;	/* reads that failed otherwise */
	uint64_t reopens;	/* sockets replaced after such failures */
};

struct ct_events;

/* A non-blocking NETLINK_NETFILTER socket subscribed to groups (CT_GROUP_*),
 * receive buffer rcvbuf bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
int ct_events_open(struct ct_events **out, unsigned int groups, uint64_t rcvbuf);
int ct_events_fd(const struct ct_events *ev);
/* Replace the socket by a fresh one (same groups, the buffer grown so far):
 * for a socket that keeps failing.  Its events in between are lost; the
 * fd changes.  0, or a negative errno (the old socket then stays). */
int ct_events_reopen(struct ct_events *ev);

/* After an overrun: double the receive buffer asked for, up to max bytes
 * (before the kernel's doubling).  0, -ENOSPC when already at max, or the
 * errno of the refusal (the buffer then stays as it was). */
int ct_events_grow(struct ct_events *ev, uint64_t max);

/* Read until EAGAIN or budget messages; calls cb for each conntrack message.
 * Returns the number read, -ENOBUFS after an overrun (the caller must
 * resync; the socket stays usable), or another negative errno. */
int ct_events_read(struct ct_events *ev, unsigned int budget, ct_cb cb, void *arg);
const struct ct_events_stats *ct_events_stats(const struct ct_events *ev);
void ct_events_close(struct ct_events *ev);

#endif
