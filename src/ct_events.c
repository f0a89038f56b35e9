/* ct_events: the conntrack event socket (NEW/UPDATE/DESTROY groups): reads
 * events from the agent's loop and hands them on parsed as struct ct_info. */
#include <errno.h>
#include <stdlib.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "ct_events.h"
#include "nl.h"

/* Events are read EV_BATCH at a time with recvmmsg(2): each event is its
 * own datagram, and one system call per event was a fifth of the agent's
 * CPU in a storm.  An event message is well under EV_MSG_MAX bytes. */
#define EV_BATCH 32
#define EV_MSG_MAX 8192

struct ct_events {
	struct nl_sock *nl;
	unsigned int groups;	/* CT_GROUP_* */
	uint64_t requested;	/* the receive buffer asked for, before doubling */
	struct ct_events_stats st;
};

/* A socket subscribed to ev->groups with a receive buffer of rcvbuf bytes. */
static int open_sock(struct ct_events *ev, uint64_t rcvbuf, struct nl_sock **out)
{
	static const struct {
		unsigned int flag;
		unsigned int group;
	} map[] = {
		{ CT_GROUP_NEW, NFNLGRP_CONNTRACK_NEW },
		{ CT_GROUP_UPDATE, NFNLGRP_CONNTRACK_UPDATE },
		{ CT_GROUP_DESTROY, NFNLGRP_CONNTRACK_DESTROY },
	};
	unsigned int join[sizeof(map) / sizeof(map[0])];
	struct nl_opts o = { .bufsize = EV_MSG_MAX, .batch = EV_BATCH, .groups = join };
	struct nl_sock *nl;
	uint64_t granted;
	int err;
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (ev->groups & map[i].flag)
			join[o.n_groups++] = map[i].group;
	err = nl_open(&nl, NETLINK_NETFILTER, &o);
	if (err)
		return err;
	/* The kernel doubles the request (its bookkeeping overhead counts
	 * against the buffer) and reports the doubled size: report that. */
	err = nl_set_rcvbuf(nl, rcvbuf, &granted);
	if (err) {
		nl_close(nl);
		return err;
	}
	ev->st.rcvbuf = granted;
	*out = nl;
	return 0;
}

int ct_events_open(struct ct_events **out, unsigned int groups, uint64_t rcvbuf)
{
	struct ct_events *ev;
	int err;

	if (!out || !groups || (groups & ~(CT_GROUP_NEW | CT_GROUP_UPDATE | CT_GROUP_DESTROY)))
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->groups = groups;
	err = open_sock(ev, rcvbuf, &ev->nl);
	if (err) {
		free(ev);
		return err;
	}
	ev->requested = rcvbuf ? rcvbuf : ev->st.rcvbuf / 2;
	*out = ev;
	return 0;
}

int ct_events_reopen(struct ct_events *ev)
{
	struct nl_sock *nl;
	int err;

	err = open_sock(ev, ev->requested, &nl);
	if (err)
		return err;
	nl_close(ev->nl);
	ev->nl = nl;
	ev->st.reopens++;
	return 0;
}

int ct_events_grow(struct ct_events *ev, uint64_t max)
{
	uint64_t want, granted;
	int err;

	if (ev->requested >= max)
		return -ENOSPC;
	want = ev->requested * 2 > max ? max : ev->requested * 2;
	err = nl_set_rcvbuf(ev->nl, want, &granted);
	if (err)
		return err;
	ev->requested = want;
	ev->st.rcvbuf = granted;
	return 0;
}

int ct_events_fd(const struct ct_events *ev)
{
	return nl_fd(ev->nl);
}

struct event_read {
	struct ct_events *ev;
	ct_cb cb;
	void *arg;
};

static int event_msg(const struct nlmsghdr *nlh, void *data)
{
	struct event_read *r = data;
	struct ct_info ct;
	enum ct_msg type;

	/* A datagram cut by the buffer: its event is lost. */
	if (!nlh) {
		r->ev->st.parse_errors++;
		return 0;
	}
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return 0;
	if (ct_parse(nlh, &ct, &type)) {
		r->ev->st.parse_errors++;
		return 0;
	}
	r->ev->st.messages++;
	r->cb(type, &ct, r->arg);
	return 0;
}

int ct_events_read(struct ct_events *ev, unsigned int budget, ct_cb cb, void *arg)
{
	struct event_read r = { .ev = ev, .cb = cb, .arg = arg };
	int n;

	n = nl_read(ev->nl, budget, event_msg, &r, NULL);
	if (n == -ENOBUFS)
		ev->st.overruns++;
	else if (n < 0 && n != -EAGAIN && n != -EINTR)
		ev->st.read_errors++;
	return n;
}

const struct ct_events_stats *ct_events_stats(const struct ct_events *ev)
{
	return &ev->st;
}

void ct_events_close(struct ct_events *ev)
{
	if (!ev)
		return;
	nl_close(ev->nl);
	free(ev);
}
