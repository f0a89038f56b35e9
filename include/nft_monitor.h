/* nft_monitor: nftables change events (NFNLGRP_NFTABLES): tells the agent
 * when someone deletes a table, flowtable, chain, rule or set, and where. */
#ifndef FLOWOFFLOAD_NFT_MONITOR_H
#define FLOWOFFLOAD_NFT_MONITOR_H

#include <stdint.h>

enum nft_monitor_object {
	NFT_MON_UNKNOWN = 0,	/* events were lost or cut: anything may have gone */
	NFT_MON_TABLE,
	NFT_MON_FLOWTABLE,
	NFT_MON_CHAIN,
	NFT_MON_RULE,
	NFT_MON_SET,		/* a set or some of its elements */
	NFT_MON_OBJECT,		/* a stateful object (counter, quota...) */
};

/* One deletion committed by the socket portid (0: the kernel itself) in
 * table (family inet), or with NFT_MON_UNKNOWN and table NULL after lost
 * events. */
typedef void (*nft_monitor_cb)(enum nft_monitor_object what, const char *table, uint32_t portid,
			       void *arg);

struct nft_monitor;

/* A non-blocking NETLINK_NETFILTER socket subscribed to NFNLGRP_NFTABLES.
 * Needs CAP_NET_ADMIN.  0 or a negative errno. */
int nft_monitor_open(struct nft_monitor **out);
/* Pure: is nlh a deletion in an inet table?  1 with *what and *table (NULL
 * and NFT_MON_UNKNOWN when the table cannot be read), or 0. */
struct nlmsghdr;
int nft_monitor_parse(const struct nlmsghdr *nlh, enum nft_monitor_object *what,
		      const char **table);
int nft_monitor_fd(const struct nft_monitor *m);

/* Read until EAGAIN or budget messages; calls cb for every deletion in an
 * inet table.  Returns the number of messages read, -ENOBUFS after an
 * overrun (cb was told, with NFT_MON_UNKNOWN), or another negative errno. */
int nft_monitor_read(struct nft_monitor *m, unsigned int budget, nft_monitor_cb cb, void *arg);

const char *nft_monitor_object_str(enum nft_monitor_object what);
void nft_monitor_close(struct nft_monitor *m);

#endif
