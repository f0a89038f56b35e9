/* nft_monitor: listens to nftables change events (what `nft monitor` shows)
 * and reports deletions in inet tables, so the agent can restore its own. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "nft_monitor.h"

/* A committed transaction's events arrive together, one message each; a
 * `flush ruleset` of a large firewall sends one per rule and set element
 * list.  4 MiB (SO_RCVBUFFORCE) holds thousands of them; an overrun is
 * still handled (the agent checks its tables). */
#define MON_RCVBUF (4 << 20)
/* nf_tables sends each event in an skb of up to NLMSG_GOODSIZE; a rule
 * with a large anonymous set can take more: take the largest datagram. */
#define MON_RECV_BUF 65536

struct nft_monitor {
	struct mnl_socket *nl;
	char buf[MON_RECV_BUF] __attribute__((aligned(8))); /* read in place as nlmsghdr */
};

int nft_monitor_open(struct nft_monitor **out)
{
	struct nft_monitor *m;
	int fd, val, err;

	if (!out)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!m->nl) {
		err = -errno;
		goto err_free;
	}
	fd = mnl_socket_get_fd(m->nl);
	val = NFNLGRP_NFTABLES;
	if (mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &val, sizeof(val)) < 0)
		goto err_errno;
	/* Lost events must surface as ENOBUFS: we then check everything. */
	val = 0;
	if (mnl_socket_setsockopt(m->nl, NETLINK_NO_ENOBUFS, &val, sizeof(val)) < 0)
		goto err_errno;
	val = MON_RCVBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &val, sizeof(val)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val)) < 0)
		goto err_errno;
	*out = m;
	return 0;

err_errno:
	err = -errno;
	mnl_socket_close(m->nl);
err_free:
	free(m);
	return err;
}

int nft_monitor_fd(const struct nft_monitor *m)
{
	return mnl_socket_get_fd(m->nl);
}

/* The table a deletion event names: each object type carries it as its own
 * attribute (all of them happen to be type 1 today; spelled out anyway). */
static bool event_object(uint16_t type, enum nft_monitor_object *what, uint16_t *attr)
{
	switch (type) {
	case NFT_MSG_DELTABLE:
		*what = NFT_MON_TABLE;
		*attr = NFTA_TABLE_NAME;
		return true;
	case NFT_MSG_DELFLOWTABLE:
		*what = NFT_MON_FLOWTABLE;
		*attr = NFTA_FLOWTABLE_TABLE;
		return true;
	case NFT_MSG_DELCHAIN:
		*what = NFT_MON_CHAIN;
		*attr = NFTA_CHAIN_TABLE;
		return true;
	case NFT_MSG_DELRULE:
		*what = NFT_MON_RULE;
		*attr = NFTA_RULE_TABLE;
		return true;
	case NFT_MSG_DELSET:
		*what = NFT_MON_SET;
		*attr = NFTA_SET_TABLE;
		return true;
	case NFT_MSG_DELSETELEM:
		*what = NFT_MON_SET;
		*attr = NFTA_SET_ELEM_LIST_TABLE;
		return true;
	case NFT_MSG_DELOBJ:
		*what = NFT_MON_OBJECT;
		*attr = NFTA_OBJ_TABLE;
		return true;
	}
	return false;
}

/* The NUL-terminated string attribute attr of the message, or NULL.
 * Unknown attributes are skipped; a cut one ends the walk. */
static const char *msg_string(const struct nlmsghdr *nlh, uint16_t attr)
{
	const struct nlattr *a;

	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != attr)
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return NULL;
		return mnl_attr_get_str(a);
	}
	return NULL;
}

static void handle(const struct nlmsghdr *nlh, nft_monitor_cb cb, void *arg)
{
	const struct nfgenmsg *nfg;
	enum nft_monitor_object what;
	const char *table;
	uint16_t attr;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    !event_object(NFNL_MSG_TYPE(nlh->nlmsg_type), &what, &attr))
		return;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != NFPROTO_INET)
		return;
	table = msg_string(nlh, attr);
	if (!table) {
		/* A deletion we cannot place: assume the worst. */
		cb(NFT_MON_UNKNOWN, NULL, nlh->nlmsg_pid, arg);
		return;
	}
	/* nf_tables stamps each event with the port id of the socket whose
	 * transaction made it (0 when the kernel acted on its own). */
	cb(what, table, nlh->nlmsg_pid, arg);
}

int nft_monitor_read(struct nft_monitor *m, unsigned int budget, nft_monitor_cb cb, void *arg)
{
	int fd = mnl_socket_get_fd(m->nl);
	unsigned int handled = 0;

	if (budget > INT_MAX)
		budget = INT_MAX;
	while (handled < budget) {
		struct sockaddr_nl sa = { 0 };
		struct iovec iov = { .iov_base = m->buf, .iov_len = sizeof(m->buf) };
		struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
				      .msg_iovlen = 1 };
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = recvmsg(fd, &msg, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				cb(NFT_MON_UNKNOWN, NULL, 0, arg);
				return -ENOBUFS;
			}
			return -errno;
		}
		/* Only the kernel multicasts nftables events. */
		if (sa.nl_pid != 0)
			continue;
		if (msg.msg_flags & MSG_TRUNC) {
			cb(NFT_MON_UNKNOWN, NULL, 0, arg);
			handled++;
			continue;
		}
		len = (int)n;
		/* mnl_nlmsg_ok() compares the length as an int: a length of
		 * 2 GiB or more would pass it; the second test stops that. */
		for (nlh = (const struct nlmsghdr *)m->buf;
		     mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= (uint32_t)len;
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			handled++;
			if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
				handle(nlh, cb, arg);
		}
	}
	return (int)handled;
}

const char *nft_monitor_object_str(enum nft_monitor_object what)
{
	static const char *const names[] = {
		[NFT_MON_UNKNOWN] = "objects (events lost)",
		[NFT_MON_TABLE] = "table",
		[NFT_MON_FLOWTABLE] = "flowtable",
		[NFT_MON_CHAIN] = "chain",
		[NFT_MON_RULE] = "rule",
		[NFT_MON_SET] = "set",
		[NFT_MON_OBJECT] = "object",
	};

	if ((unsigned int)what >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[what];
}

void nft_monitor_close(struct nft_monitor *m)
{
	if (!m)
		return;
	mnl_socket_close(m->nl);
	free(m);
}
