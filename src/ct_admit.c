/* ct_admit: writes admission decisions onto conntrack entries as masked bits
 * of the conntrack mark, over its own ctnetlink socket, one ACK per update. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "ct_admit.h"

/* The kernel handles a ctnetlink request inside our sendmsg(), so the ACK
 * is queued before send returns and the receive never really waits; the
 * timeout only bounds the impossible case. */
#define ADMIT_TIMEOUT_S 1

struct ct_admit {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	struct ct_admit_stats st;
	/* With NETLINK_CAP_ACK an ACK is a header, an nlmsgerr and the
	 * extended-ACK attributes: well under a page. */
	char buf[8192];
};

int ct_admit_open(struct ct_admit **out)
{
	struct timeval tv = { .tv_sec = ADMIT_TIMEOUT_S };
	struct ct_admit *a;
	int one = 1, fd, err;

	if (!out)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!a->nl) {
		err = -errno;
		goto err_free;
	}
	fd = mnl_socket_get_fd(a->nl);
	if (mnl_socket_bind(a->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		goto err_errno;
	/* The kernel's reason for a refusal, and ACKs that do not echo our
	 * request back; both exist since 4.12, so failing here is fatal. */
	if (mnl_socket_setsockopt(a->nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(a->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		goto err_errno;
	a->portid = mnl_socket_get_portid(a->nl);
	a->seq = (uint32_t)time(NULL);
	*out = a;
	return 0;

err_errno:
	err = -errno;
	mnl_socket_close(a->nl);
err_free:
	free(a);
	return err;
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

/* Copy NLMSGERR_ATTR_MSG, if the kernel sent one, into err. */
static bool ext_ack_msg(const struct nlmsghdr *nlh, char *err, size_t errlen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !err || !errlen)
		return false;
	/* Uncapped ACKs carry the whole request before the attributes. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return false;
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (NLMSG_HDRLEN + MNL_ALIGN(off) > nlh->nlmsg_len)
		return false;
	mnl_attr_for_each (a, nlh, off) {
		if (mnl_attr_get_type(a) != NLMSGERR_ATTR_MSG ||
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			continue;
		snprintf(err, errlen, "%s", mnl_attr_get_str(a));
		return true;
	}
	return false;
}

/* The ACK for our request: 0 or the kernel's negative errno. */
static int read_ack(struct ct_admit *a, char *err, size_t errlen)
{
	int fd = mnl_socket_get_fd(a->nl);

	for (;;) {
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = recv(fd, a->buf, sizeof(a->buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)a->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;

			/* An ACK of an earlier request that timed out. */
			if (nlh->nlmsg_seq != a->seq || nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				return -EPROTO;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error < 0)
				ext_ack_msg(nlh, err, errlen);
			return e->error > 0 ? -EPROTO : e->error;
		}
	}
}

int ct_admit_set_mark(struct ct_admit *a, const struct ct_info *ct, uint32_t value, uint32_t mask,
		      char *err, size_t errlen)
{
	char buf[512];
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
	nlh->nlmsg_seq = ++a->seq;
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

	if (mnl_socket_sendto(a->nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = read_ack(a, err, errlen);
	if (!ret) {
		a->st.updates++;
		return 0;
	}
	if (ret == -ENOENT) {
		a->st.gone++;
		return ret;
	}
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
	mnl_socket_close(a->nl);
	free(a);
}
