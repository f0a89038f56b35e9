/* nft_monitor: listens to nftables change events (what `nft monitor` shows)
 * and reports deletions in inet tables, so the agent can restore its own. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "nft_monitor.h"
#include "nl.h"

/* A committed transaction's events arrive together, one message each; a
 * `flush ruleset` of a large firewall sends one per rule and set element
 * list.  4 MiB (SO_RCVBUFFORCE) holds thousands of them; an overrun is
 * still handled (the agent checks its tables). */
#define MON_RCVBUF (4 << 20)
/* nf_tables sends each event in an skb of up to NLMSG_GOODSIZE; a rule
 * with a large anonymous set can take more: take the largest datagram. */
#define MON_RECV_BUF 65536

struct nft_monitor {
	struct nl_sock *nl;
};

int nft_monitor_open(struct nft_monitor **out)
{
	static const unsigned int groups[] = { NFNLGRP_NFTABLES };
	struct nl_opts o = { .bufsize = MON_RECV_BUF, .batch = 1, .groups = groups, .n_groups = 1 };
	struct nft_monitor *m;
	int err;

	if (!out)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	err = nl_open(&m->nl, NETLINK_NETFILTER, &o);
	if (err)
		goto err_free;
	err = nl_set_rcvbuf(m->nl, MON_RCVBUF, NULL);
	if (err)
		goto err_close;
	*out = m;
	return 0;

err_close:
	nl_close(m->nl);
err_free:
	free(m);
	return err;
}

int nft_monitor_fd(const struct nft_monitor *m)
{
	return nl_fd(m->nl);
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

int nft_monitor_parse(const struct nlmsghdr *nlh, enum nft_monitor_object *what,
		      const char **table)
{
	const struct nfgenmsg *nfg;
	uint16_t attr;

	*table = NULL;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    !event_object(NFNL_MSG_TYPE(nlh->nlmsg_type), what, &attr))
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return 0;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != NFPROTO_INET)
		return 0;
	/* libmnl's attribute walk runs to the aligned end of the message: an
	 * unaligned length (the kernel pads every message) is a cut one, and
	 * walking it could read past the datagram.  A deletion we cannot
	 * place: assume the worst. */
	if (nlh->nlmsg_len % NLMSG_ALIGNTO == 0)
		*table = msg_string(nlh, attr);
	if (!*table)
		*what = NFT_MON_UNKNOWN;
	return 1;
}

static void handle(const struct nlmsghdr *nlh, nft_monitor_cb cb, void *arg)
{
	enum nft_monitor_object what;
	const char *table;

	/* nf_tables stamps each event with the port id of the socket whose
	 * transaction made it (0 when the kernel acted on its own). */
	if (nft_monitor_parse(nlh, &what, &table))
		cb(what, table, nlh->nlmsg_pid, arg);
}

struct monitor_read {
	nft_monitor_cb cb;
	void *arg;
};

static int monitor_msg(const struct nlmsghdr *nlh, void *data)
{
	struct monitor_read *r = data;

	/* A cut datagram: a deletion we cannot place, assume the worst. */
	if (!nlh)
		r->cb(NFT_MON_UNKNOWN, NULL, 0, r->arg);
	else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
		handle(nlh, r->cb, r->arg);
	return 0;
}

int nft_monitor_read(struct nft_monitor *m, unsigned int budget, nft_monitor_cb cb, void *arg)
{
	struct monitor_read r = { .cb = cb, .arg = arg };
	int n;

	/* nl_read takes only the kernel's datagrams: only the kernel
	 * multicasts nftables events. */
	n = nl_read(m->nl, budget, monitor_msg, &r, NULL);
	if (n == -ENOBUFS)
		cb(NFT_MON_UNKNOWN, NULL, 0, arg);
	return n;
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
	nl_close(m->nl);
	free(m);
}
