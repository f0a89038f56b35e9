/* rt_watch: the two rtnetlink sockets of a watcher (devices, shaping): one
 * joined to its notification groups, one for its own requests. */
#ifndef FLOWOFFLOAD_RT_WATCH_H
#define FLOWOFFLOAD_RT_WATCH_H

#include "nl.h"

/* Requests get a socket of their own: a reply never queues behind
 * notifications, and reading notifications never eats a reply. */
struct rt_watch {
	struct nl_sock *nl;	/* notifications of o->groups */
	struct nl_sock *req;	/* dumps and route lookups */
};

/* Both sockets on NETLINK_ROUTE with o's buffer layout, nl joined to o's
 * groups.  0, or a negative errno with neither left open. */
int rt_watch_open(struct rt_watch *w, const struct nl_opts *o);
void rt_watch_close(struct rt_watch *w);

#endif
