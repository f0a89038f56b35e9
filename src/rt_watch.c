/* rt_watch: the two rtnetlink sockets of a watcher (devices, shaping): one
 * joined to its notification groups, one for its own requests. */
#include <linux/netlink.h>
#include <stddef.h>

#include "nl.h"
#include "rt_watch.h"

int rt_watch_open(struct rt_watch *w, const struct nl_opts *o)
{
	struct nl_opts req_o = { .bufsize = o->bufsize, .batch = o->batch };
	int ret;

	w->nl = w->req = NULL;
	ret = nl_open(&w->nl, NETLINK_ROUTE, o);
	if (!ret)
		ret = nl_open(&w->req, NETLINK_ROUTE, &req_o);
	if (ret)
		rt_watch_close(w);
	return ret;
}

void rt_watch_close(struct rt_watch *w)
{
	nl_close(w->nl);
	nl_close(w->req);
	w->nl = w->req = NULL;
}
