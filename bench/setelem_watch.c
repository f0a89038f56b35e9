/* setelem_watch: prints each element nf_tables reports added to or deleted
 * from a set (NFNLGRP_NFTABLES, NFT_MSG_NEWSETELEM / DELSETELEM), with the
 * CLOCK_MONOTONIC time its message was read, for bench/route_scale's
 * route-change-to-set latency: no nft cache, no parsing delay.
 *
 * usage: setelem_watch [SET]   (in the namespace of the sets; SET: only
 * that set's elements).  One line each, flushed:
 *   add|del SETNAME ADDRESS SECONDS.NANOSECONDS
 * The end element of an interval (NFT_SET_ELEM_INTERVAL_END) is left out:
 * an interval's start address is the prefix's.  "ready" once subscribed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>

static const char *only_set;

static void elem(const struct nlattr *e, const char *op, const char *set, const struct timespec *ts)
{
	const struct nlattr *a, *k, *key = NULL;
	uint32_t flags = 0;
	char buf[INET6_ADDRSTRLEN];

	mnl_attr_for_each_nested (a, e) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_KEY:
			mnl_attr_for_each_nested (k, a)
				if (mnl_attr_get_type(k) == NFTA_DATA_VALUE)
					key = k;
			break;
		case NFTA_SET_ELEM_FLAGS:
			if (mnl_attr_get_payload_len(a) == 4)
				flags = ntohl(mnl_attr_get_u32(a));
			break;
		}
	}
	if (!key || (flags & NFT_SET_ELEM_INTERVAL_END))
		return;
	switch (mnl_attr_get_payload_len(key)) {
	case 4:
		inet_ntop(AF_INET, mnl_attr_get_payload(key), buf, sizeof(buf));
		break;
	case 16:
		inet_ntop(AF_INET6, mnl_attr_get_payload(key), buf, sizeof(buf));
		break;
	default:
		return;
	}
	printf("%s %s %s %lld.%09ld\n", op, set, buf, (long long)ts->tv_sec, ts->tv_nsec);
}

static int msg(const struct nlmsghdr *nlh, void *arg)
{
	const struct timespec *ts = arg;
	const struct nlattr *a, *list = NULL, *e;
	const char *set = "", *op;

	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_NEWSETELEM:
		op = "add";
		break;
	case NFT_MSG_DELSETELEM:
		op = "del";
		break;
	default:
		return MNL_CB_OK;
	}
	mnl_attr_for_each (a, nlh, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_LIST_SET:
			set = mnl_attr_get_str(a);
			break;
		case NFTA_SET_ELEM_LIST_ELEMENTS:
			list = a;
			break;
		}
	}
	if (!list || (only_set && strcmp(set, only_set)))
		return MNL_CB_OK;
	mnl_attr_for_each_nested (e, list)
		elem(e, op, set, ts);
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	struct mnl_socket *nl;
	struct timespec ts;
	unsigned int group = NFNLGRP_NFTABLES;
	int rcvbuf = 64 << 20;
	ssize_t n;

	if (argc > 2) {
		fprintf(stderr, "usage: setelem_watch [SET]\n");
		return 2;
	}
	only_set = argc == 2 ? argv[1] : NULL;
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		perror("setelem_watch: netlink");
		return 1;
	}
	/* A big buffer: a transaction of thousands of elements is as many
	 * notifications at once; a loss is reported, never hidden. */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (n < 0) {
			if (errno == ENOBUFS) {
				printf("lost\n");
				fflush(stdout);
				continue;
			}
			if (errno == EINTR)
				continue;
			perror("setelem_watch: recv");
			return 1;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, 0, msg, &ts) < 0 && errno != ENOENT) {
			perror("setelem_watch: parse");
			return 1;
		}
		fflush(stdout);
	}
}
