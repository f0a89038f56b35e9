/* ct_admit: writes admission decisions onto conntrack entries as masked bits
 * of the conntrack mark, over its own ctnetlink socket, one ACK per update. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "ct_admit.h"
#include "nl.h"

/*
 * No wait at all: netlink_unicast() hands a request to a kernel socket by
 * calling its input function in the sender's context (nfnetlink_rcv ->
 * ctnetlink_new_conntrack -> netlink_ack), so the ACK is on our receive
 * queue before sendmsg() returns, and reading it then is one non-blocking
 * recvmsg().  A round through the event loop would add a wakeup per mark
 * and a table of requests in flight for nothing.  Should an ACK ever be
 * missing (it cannot be lost: the socket holds nothing else and its buffer
 * fits it), the write is counted as no_ack and the loop goes on; the next
 * request skips the stray reply by its sequence number.
 */
#define ADMIT_TIMEOUT_MS 0
/* With NETLINK_CAP_ACK an ACK is a header, an nlmsgerr and the
 * extended-ACK attributes: well under a page. */
#define ADMIT_RECV_BUF 8192

struct ct_admit {
	struct nl_sock *nl;
	struct ct_admit_stats st;
};

uint32_t ct_admit_value(uint32_t mask, enum admit_value v)
{
	if (!mask)
		return 0;
	return ((uint32_t)v << __builtin_ctz(mask)) & mask;
}

int ct_admit_open(struct ct_admit **out)
{
	struct nl_opts o = { .bufsize = ADMIT_RECV_BUF, .batch = 1 };
	struct ct_admit *a;
	int err;

	if (!out)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	err = nl_open(&a->nl, NETLINK_NETFILTER, &o);
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

static void put_tuple(struct nlmsghdr *nlh, const struct ct_info *ct)
{
	struct nlattr *tuple, *nest;
	size_t alen = ct->family == AF_INET ? 4 : 16;

	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, ct->family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen,
		     ct->orig.src);
	mnl_attr_put(nlh, ct->family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen,
		     ct->orig.dst);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, ct->proto);
	/* TCP, UDP, UDP-Lite, SCTP, DCCP and GRE key on the two "ports";
	 * protocols without them ignore the attributes. */
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(ct->orig.sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(ct->orig.dport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
}

int ct_admit_set_mark(struct ct_admit *a, const struct ct_info *ct, uint32_t value, uint32_t mask,
		      char *err, size_t errlen)
{
	char buf[512] __attribute__((aligned(8)));
	struct nl_ack ack;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	int ret;

	if (!a)
		return -EINVAL;
	if (err && errlen)
		err[0] = '\0';
	if (!ct || (ct->family != AF_INET && ct->family != AF_INET6) || ct->zone > UINT16_MAX) {
		ret = -EINVAL;
		goto fail;
	}
	/*
	 * ctnetlink_change_mark() computes (old & ~mask) ^ value, not | value:
	 * a value bit outside the mask would flip the user's own bit instead
	 * of setting it.  With value inside mask the XOR lands on cleared bits
	 * and equals (old & ~mask) | value, which is what we promise.
	 */
	if (value & ~mask) {
		if (err && errlen)
			snprintf(err, errlen, "mark value 0x%x has bits outside mask 0x%x", value,
				 mask);
		ret = -EINVAL;
		goto fail;
	}
	/* An ICMP tuple is keyed on type, code and id, which struct ct_info
	 * does not carry; nothing offloads ICMP anyway. */
	if (ct->proto == IPPROTO_ICMP || ct->proto == IPPROTO_ICMPV6) {
		ret = -EOPNOTSUPP;
		goto fail;
	}

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	/* No NLM_F_CREATE: ctnetlink_new_conntrack() then only updates an
	 * existing entry and answers ENOENT when it is gone. */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = nl_seq_next(a->nl);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = ct->family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	put_tuple(nlh, ct);
	/* The kernel finds the entry by tuple and zone; it checks CTA_ID on
	 * delete but not on update.  Sent anyway: it costs 8 bytes. */
	mnl_attr_put_u32(nlh, CTA_ID, htonl(ct->id));
	if (ct->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons((uint16_t)ct->zone));
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(value));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));

	ret = nl_request(a->nl, nlh, ADMIT_TIMEOUT_MS, NULL, NULL, &ack);
	if (ret < 0 && ack.msg && err && errlen)
		snprintf(err, errlen, "%s", ack.msg);
	if (!ret) {
		a->st.updates++;
		return 0;
	}
	if (ret == -ENOENT) {
		a->st.gone++;
		return ret;
	}
	if (ret == -ETIMEDOUT)
		a->st.no_ack++;
fail:
	a->st.errors++;
	if (err && errlen && !err[0])
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

const struct ct_admit_stats *ct_admit_stats(const struct ct_admit *a)
{
	return &a->st;
}

void ct_admit_close(struct ct_admit *a)
{
	if (!a)
		return;
	nl_close(a->nl);
	free(a);
}
