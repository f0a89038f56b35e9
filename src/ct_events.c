/* ct_events: conntrack over ctnetlink: the parser for conntrack messages, the
 * event socket (NEW/UPDATE/DESTROY groups) and the query socket for dumps. */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "ct_events.h"

/* The kernel sizes a dump's skbs from the reader's buffer, up to 32 KiB:
 * a smaller buffer means more system calls per dump; a bigger one is never
 * filled.  Events are a few hundred bytes each, one per datagram. */
#define CT_RECV_BUF 32768
#define CT_QUERY_TIMEOUT_S 5

/*
 * The parser walks attributes with libmnl rather than going through
 * libnetfilter_conntrack: that library allocates an nf_conntrack object per
 * message and copies every attribute into it, and the agent parses every
 * event and every dump entry, so the walk below copies only the fields of
 * struct ct_info into the caller's storage and never allocates.
 *
 * mnl_attr_parse() stops quietly at the first attribute that does not fit,
 * which makes a cut message look like a complete, shorter one; the walks
 * here use the same libmnl iterators but reject anything left over.
 */

struct tuple_seen {
	struct flow_tuple *t;
	uint8_t family;
	uint8_t proto;
	bool src, dst, num;
};

static int bad(const struct nlattr *a, enum mnl_attr_data_type type)
{
	return mnl_attr_validate(a, type) < 0 ? -EINVAL : 0;
}

/* Run fn on every attribute nested in nest; -EINVAL if the attributes do
 * not fill the nest exactly (a cut or corrupt attribute). */
static int walk_nested(const struct nlattr *nest, int (*fn)(const struct nlattr *, void *),
		       void *data)
{
	const char *end = (const char *)mnl_attr_get_payload(nest) + mnl_attr_get_payload_len(nest);
	const struct nlattr *a;
	int err;

	if (bad(nest, MNL_TYPE_NESTED))
		return -EINVAL;
	mnl_attr_for_each_nested (a, nest) {
		err = fn(a, data);
		if (err)
			return err;
	}
	return (const char *)a < end ? -EINVAL : 0;
}

static int ip_attr(const struct nlattr *a, void *data)
{
	struct tuple_seen *s = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_IP_V4_SRC:
	case CTA_IP_V4_DST:
		if (s->family != AF_INET || bad(a, MNL_TYPE_U32))
			return -EINVAL;
		if (mnl_attr_get_type(a) == CTA_IP_V4_SRC) {
			memcpy(s->t->src, mnl_attr_get_payload(a), 4);
			s->src = true;
		} else {
			memcpy(s->t->dst, mnl_attr_get_payload(a), 4);
			s->dst = true;
		}
		break;
	case CTA_IP_V6_SRC:
	case CTA_IP_V6_DST:
		if (s->family != AF_INET6 || mnl_attr_validate2(a, MNL_TYPE_BINARY, 16) < 0)
			return -EINVAL;
		if (mnl_attr_get_type(a) == CTA_IP_V6_SRC) {
			memcpy(s->t->src, mnl_attr_get_payload(a), 16);
			s->src = true;
		} else {
			memcpy(s->t->dst, mnl_attr_get_payload(a), 16);
			s->dst = true;
		}
		break;
	}
	return 0;
}

static int proto_attr(const struct nlattr *a, void *data)
{
	struct tuple_seen *s = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_PROTO_NUM:
		if (bad(a, MNL_TYPE_U8))
			return -EINVAL;
		s->proto = mnl_attr_get_u8(a);
		s->num = true;
		break;
	case CTA_PROTO_SRC_PORT:
		if (bad(a, MNL_TYPE_U16))
			return -EINVAL;
		s->t->sport = ntohs(mnl_attr_get_u16(a));
		break;
	case CTA_PROTO_DST_PORT:
		if (bad(a, MNL_TYPE_U16))
			return -EINVAL;
		s->t->dport = ntohs(mnl_attr_get_u16(a));
		break;
	}
	return 0;
}

static int tuple_attr(const struct nlattr *a, void *data)
{
	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_IP:
		return walk_nested(a, ip_attr, data);
	case CTA_TUPLE_PROTO:
		return walk_nested(a, proto_attr, data);
	case CTA_TUPLE_ZONE:
		return bad(a, MNL_TYPE_U16);
	}
	return 0;
}

/* A tuple the agent can use has both addresses and a protocol; ports stay
 * 0 for protocols without them. */
static int parse_tuple(const struct nlattr *nest, uint8_t family, struct flow_tuple *t,
		       uint8_t *proto)
{
	struct tuple_seen s = { .t = t, .family = family };
	int err;

	err = walk_nested(nest, tuple_attr, &s);
	if (err)
		return err;
	if (!s.src || !s.dst || !s.num)
		return -EINVAL;
	*proto = s.proto;
	return 0;
}

static int tcp_attr(const struct nlattr *a, void *data)
{
	struct ct_info *ct = data;

	if (mnl_attr_get_type(a) != CTA_PROTOINFO_TCP_STATE)
		return 0;
	if (bad(a, MNL_TYPE_U8))
		return -EINVAL;
	ct->tcp_state = mnl_attr_get_u8(a);
	return 0;
}

static int protoinfo_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) != CTA_PROTOINFO_TCP)
		return 0;
	return walk_nested(a, tcp_attr, data);
}

struct counters {
	struct ct_info *ct;
	int dir;
};

static int counter_attr(const struct nlattr *a, void *data)
{
	struct counters *c = data;
	struct ct_info *ct = c->ct;

	switch (mnl_attr_get_type(a)) {
	case CTA_COUNTERS_PACKETS:
	case CTA_COUNTERS_BYTES:
		if (bad(a, MNL_TYPE_U64))
			return -EINVAL;
		/* mnl_attr_get_u64 copies: 64-bit payloads are only 4-byte
		 * aligned in a netlink message. */
		if (mnl_attr_get_type(a) == CTA_COUNTERS_PACKETS)
			ct->packets[c->dir] = be64toh(mnl_attr_get_u64(a));
		else
			ct->bytes[c->dir] = be64toh(mnl_attr_get_u64(a));
		break;
	case CTA_COUNTERS32_PACKETS:
	case CTA_COUNTERS32_BYTES:
		/* Kernels before 2.6.35 sent these; harmless to accept. */
		if (bad(a, MNL_TYPE_U32))
			return -EINVAL;
		if (mnl_attr_get_type(a) == CTA_COUNTERS32_PACKETS)
			ct->packets[c->dir] = ntohl(mnl_attr_get_u32(a));
		else
			ct->bytes[c->dir] = ntohl(mnl_attr_get_u32(a));
		break;
	}
	return 0;
}

struct parse_state {
	struct ct_info *ct;
	bool orig;
};

static int ct_attr(const struct nlattr *a, void *data)
{
	struct parse_state *ps = data;
	struct ct_info *ct = ps->ct;
	struct counters c = { .ct = ct };
	uint8_t proto;
	int err;

	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_ORIG:
		err = parse_tuple(a, ct->family, &ct->orig, &ct->proto);
		if (err)
			return err;
		ps->orig = true;
		break;
	case CTA_TUPLE_REPLY:
		return parse_tuple(a, ct->family, &ct->reply, &proto);
	case CTA_ID:
		if (bad(a, MNL_TYPE_U32))
			return -EINVAL;
		ct->id = ntohl(mnl_attr_get_u32(a));
		break;
	case CTA_MARK:
		if (bad(a, MNL_TYPE_U32))
			return -EINVAL;
		ct->mark = ntohl(mnl_attr_get_u32(a));
		ct->has_mark = true;
		break;
	case CTA_STATUS:
		if (bad(a, MNL_TYPE_U32))
			return -EINVAL;
		ct->status = ntohl(mnl_attr_get_u32(a));
		ct->has_status = true;
		break;
	case CTA_ZONE:
		if (bad(a, MNL_TYPE_U16))
			return -EINVAL;
		ct->zone = ntohs(mnl_attr_get_u16(a));
		break;
	case CTA_PROTOINFO:
		return walk_nested(a, protoinfo_attr, ct);
	case CTA_COUNTERS_ORIG:
	case CTA_COUNTERS_REPLY:
		c.dir = mnl_attr_get_type(a) == CTA_COUNTERS_REPLY;
		err = walk_nested(a, counter_attr, &c);
		if (err)
			return err;
		ct->has_counters = true;
		break;
	}
	return 0;
}

int ct_parse(const struct nlmsghdr *nlh, struct ct_info *ct, enum ct_msg *type)
{
	struct parse_state ps = { .ct = ct };
	const struct nfgenmsg *nfg;
	const struct nlattr *a;
	enum ct_msg t;
	int err;

	if (!nlh || !ct || !type)
		return -EINVAL;
	/* libmnl's walk runs to the aligned end of the message; the kernel
	 * always pads its messages, so an unaligned length is a cut one, and
	 * walking it could read past the caller's buffer. */
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*nfg) || nlh->nlmsg_len % NLMSG_ALIGNTO)
		return -EINVAL;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return -EINVAL;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case IPCTNL_MSG_CT_NEW:
		/* ctnetlink_conntrack_event() sets NLM_F_CREATE|NLM_F_EXCL on
		 * IPCT_NEW/IPCT_RELATED events only; dump entries are
		 * IPCTNL_MSG_CT_NEW with NLM_F_MULTI. */
		if (nlh->nlmsg_flags & NLM_F_MULTI)
			t = CT_MSG_DUMP;
		else if (nlh->nlmsg_flags & NLM_F_CREATE)
			t = CT_MSG_NEW;
		else
			t = CT_MSG_UPDATE;
		break;
	case IPCTNL_MSG_CT_DELETE:
		t = CT_MSG_DESTROY;
		break;
	default:
		return -EINVAL;
	}

	memset(ct, 0, sizeof(*ct));
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return -EINVAL;
	ct->family = nfg->nfgen_family;

	mnl_attr_for_each (a, nlh, sizeof(*nfg)) {
		err = ct_attr(a, &ps);
		if (err)
			return err;
	}
	if ((const char *)a < (const char *)mnl_nlmsg_get_payload_tail(nlh))
		return -EINVAL;
	if (!ps.orig)
		return -EINVAL;
	*type = t;
	return 0;
}

/* mnl_nlmsg_ok() of libmnl 1.0.4 compares (int)nlmsg_len <= len: a length
 * of 2 GiB or more turns negative and passes, and the walk leaves the
 * buffer.  Every datagram walk here goes through this check instead. */
static bool nlmsg_ok(const struct nlmsghdr *nlh, int len)
{
	return mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= (uint32_t)len;
}

/* One datagram; the sender's port id in *from (0: the kernel). */
static ssize_t nl_recv(int fd, void *buf, size_t len, uint32_t *from)
{
	struct sockaddr_nl sa = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = &sa,
		.msg_namelen = sizeof(sa),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	n = recvmsg(fd, &msg, 0);
	if (n < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	*from = sa.nl_pid;
	return n;
}

/* ---- event socket ------------------------------------------------------ */

/* Events are read EV_BATCH at a time with recvmmsg(2): each event is its
 * own datagram, and one system call per event was a fifth of the agent's
 * CPU in a storm.  An event message is well under EV_MSG_MAX bytes. */
#define EV_BATCH 32
#define EV_MSG_MAX 8192

struct ct_events {
	struct mnl_socket *nl;
	uint64_t requested;	/* the receive buffer asked for, before doubling */
	struct ct_events_stats st;
	struct mmsghdr mm[EV_BATCH];
	struct iovec iov[EV_BATCH];
	struct sockaddr_nl from[EV_BATCH];
	char buf[EV_BATCH][EV_MSG_MAX] __attribute__((aligned(8))); /* read in place as nlmsghdr */
};

/* SO_RCVBUFFORCE passes net.core.rmem_max, which the default (about 208
 * KiB) makes far too small for event bursts; it needs CAP_NET_ADMIN, so an
 * unprivileged run falls back to SO_RCVBUF, which rmem_max caps. */
static int set_rcvbuf(int fd, uint64_t bytes)
{
	int v = bytes > INT_MAX / 2 ? INT_MAX / 2 : (int)bytes;

	if (!setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)))
		return 0;
	if (!setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)))
		return 0;
	return -errno;
}

int ct_events_open(struct ct_events **out, unsigned int groups, uint64_t rcvbuf)
{
	static const struct {
		unsigned int flag;
		int group;
	} map[] = {
		{ CT_GROUP_NEW, NFNLGRP_CONNTRACK_NEW },
		{ CT_GROUP_UPDATE, NFNLGRP_CONNTRACK_UPDATE },
		{ CT_GROUP_DESTROY, NFNLGRP_CONNTRACK_DESTROY },
	};
	struct ct_events *ev;
	socklen_t len;
	int fd, val, err;
	size_t i;

	if (!out || !groups || (groups & ~(CT_GROUP_NEW | CT_GROUP_UPDATE | CT_GROUP_DESTROY)))
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!ev->nl) {
		err = -errno;
		goto err_free;
	}
	fd = mnl_socket_get_fd(ev->nl);
	if (mnl_socket_bind(ev->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err_errno;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!(groups & map[i].flag))
			continue;
		val = map[i].group;
		if (mnl_socket_setsockopt(ev->nl, NETLINK_ADD_MEMBERSHIP, &val, sizeof(val)) < 0)
			goto err_errno;
	}
	/* Off is the default; say it anyway: a lost event must surface as
	 * ENOBUFS so the caller resyncs, never pass silently. */
	val = 0;
	if (mnl_socket_setsockopt(ev->nl, NETLINK_NO_ENOBUFS, &val, sizeof(val)) < 0)
		goto err_errno;
	if (rcvbuf) {
		err = set_rcvbuf(fd, rcvbuf);
		if (err)
			goto err_close;
	}
	/* The kernel doubles the request (its bookkeeping overhead counts
	 * against the buffer) and reports the doubled size: report that. */
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, &len) < 0)
		goto err_errno;
	ev->st.rcvbuf = (uint64_t)val;
	ev->requested = rcvbuf ? rcvbuf : (uint64_t)val / 2;
	*out = ev;
	return 0;

err_errno:
	err = -errno;
err_close:
	mnl_socket_close(ev->nl);
err_free:
	free(ev);
	return err;
}

int ct_events_grow(struct ct_events *ev, uint64_t max)
{
	int fd = mnl_socket_get_fd(ev->nl), val, err;
	socklen_t len = sizeof(val);
	uint64_t want;

	if (ev->requested >= max)
		return -ENOSPC;
	want = ev->requested * 2 > max ? max : ev->requested * 2;
	err = set_rcvbuf(fd, want);
	if (err)
		return err;
	ev->requested = want;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, &len) < 0)
		return -errno;
	ev->st.rcvbuf = (uint64_t)val;
	return 0;
}

int ct_events_fd(const struct ct_events *ev)
{
	return mnl_socket_get_fd(ev->nl);
}

int ct_events_read(struct ct_events *ev, unsigned int budget, ct_cb cb, void *arg)
{
	int fd = mnl_socket_get_fd(ev->nl);
	unsigned int handled = 0;

	if (budget > INT_MAX)
		budget = INT_MAX;
	while (handled < budget) {
		unsigned int want = budget - handled < EV_BATCH ? budget - handled : EV_BATCH, k;
		int got;

		for (k = 0; k < want; k++) {
			ev->iov[k] = (struct iovec){ .iov_base = ev->buf[k], .iov_len = EV_MSG_MAX };
			ev->mm[k].msg_hdr = (struct msghdr){
				.msg_name = &ev->from[k],
				.msg_namelen = sizeof(ev->from[k]),
				.msg_iov = &ev->iov[k],
				.msg_iovlen = 1,
			};
			ev->mm[k].msg_len = 0;
		}
		got = recvmmsg(fd, ev->mm, want, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* The kernel dropped events; the error is
				 * reported once and cleared, the queue is still
				 * readable. */
				ev->st.overruns++;
				return -ENOBUFS;
			}
			return -errno;
		}
		for (k = 0; k < (unsigned int)got; k++) {
			const struct nlmsghdr *nlh;
			int len = (int)ev->mm[k].msg_len;

			if (ev->mm[k].msg_hdr.msg_flags & MSG_TRUNC) {
				ev->st.parse_errors++;
				continue;
			}
			/* Only the kernel multicasts conntrack events. */
			if (ev->from[k].nl_pid != 0)
				continue;
			for (nlh = (const struct nlmsghdr *)ev->buf[k]; nlmsg_ok(nlh, len);
			     nlh = mnl_nlmsg_next(nlh, &len)) {
				struct ct_info ct;
				enum ct_msg type;

				if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
					continue;
				if (ct_parse(nlh, &ct, &type)) {
					ev->st.parse_errors++;
					continue;
				}
				ev->st.messages++;
				handled++;
				cb(type, &ct, arg);
			}
		}
		if ((unsigned int)got < want)
			break;
	}
	return (int)handled;
}

const struct ct_events_stats *ct_events_stats(const struct ct_events *ev)
{
	return &ev->st;
}

void ct_events_close(struct ct_events *ev)
{
	if (!ev)
		return;
	mnl_socket_close(ev->nl);
	free(ev);
}

/* ---- query socket ------------------------------------------------------ */

struct ct_query {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	/* A dump that stopped midway leaves the kernel's dump running on the
	 * socket (the next request would get EBUSY, or stale entries): such
	 * a socket is replaced before the next dump. */
	bool stale;
	/* Aligned: messages are read in place as struct nlmsghdr; after the
	 * bool above, an unaligned buffer traps on strict-alignment CPUs. */
	char buf[CT_RECV_BUF] __attribute__((aligned(8)));
};

static int query_socket(struct ct_query *q)
{
	struct timeval tv = { .tv_sec = CT_QUERY_TIMEOUT_S };
	int one = 1, fd, err;

	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q->nl)
		return -errno;
	fd = mnl_socket_get_fd(q->nl);
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		goto err;
	/* Extended ACKs give a refused dump's reason; capped ACKs keep our
	 * request out of the reply.  Both are optional on old kernels. */
	mnl_socket_setsockopt(q->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(q->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	q->portid = mnl_socket_get_portid(q->nl);
	q->stale = false;
	return 0;
err:
	err = -errno;
	mnl_socket_close(q->nl);
	q->nl = NULL;
	return err;
}

int ct_query_open(struct ct_query **out)
{
	struct ct_query *q;
	int err;

	if (!out)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	err = query_socket(q);
	if (err) {
		free(q);
		return err;
	}
	q->seq = (uint32_t)time(NULL);
	*out = q;
	return 0;
}

/* 1: the dump's NLMSG_DONE was seen, 0: keep reading, <0: the dump failed. */
static int dump_msgs(struct ct_query *q, int len, ct_cb cb, void *arg, bool *bad_entry, bool *intr)
{
	const struct nlmsghdr *nlh;
	struct ct_info ct;
	enum ct_msg type;

	for (nlh = (const struct nlmsghdr *)q->buf; nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		/* Leftovers of an earlier request carry another sequence. */
		if (nlh->nlmsg_seq != q->seq || nlh->nlmsg_pid != q->portid)
			continue;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			*intr = true;
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			/* The dump's own error, if any, rides in DONE. */
			if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
				int e;

				memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
				if (e < 0)
					return e;
			}
			return 1;
		case NLMSG_ERROR:
			if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(struct nlmsgerr)) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				return e->error < 0 ? e->error : -EPROTO;
			}
			return -EPROTO;
		case NLMSG_NOOP:
		case NLMSG_OVERRUN:
			continue;
		}
		if (ct_parse(nlh, &ct, &type)) {
			*bad_entry = true;
			continue;
		}
		cb(CT_MSG_DUMP, &ct, arg);
	}
	return 0;
}

int ct_query_dump(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask, ct_cb cb,
		  void *arg)
{
	char req[256];
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	bool bad_entry = false, intr = false;
	int fd, err;

	if (!q || !cb || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (q->stale) {
		mnl_socket_close(q->nl);
		q->nl = NULL;
	}
	if (!q->nl) {
		err = query_socket(q);
		if (err)
			return err;
	}
	fd = mnl_socket_get_fd(q->nl);

	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++q->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	/* AF_UNSPEC: ctnetlink_filter_match() skips the family test when
	 * the requested family is 0, so both families come back. */
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mask) {
		/* The kernel keeps entries with (ct mark & mask) == value:
		 * the value must be masked or nothing ever matches.  Older
		 * kernels filter only when both attributes are present. */
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark & mask));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	}
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		uint32_t from = UINT32_MAX;
		ssize_t n;

		n = nl_recv(fd, q->buf, sizeof(q->buf), &from);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			q->stale = true;
			return n == -EAGAIN || n == -EWOULDBLOCK ? -ETIMEDOUT : (int)n;
		}
		if (from != 0)
			continue;
		err = dump_msgs(q, (int)n, cb, arg, &bad_entry, &intr);
		if (err)
			break;
	}
	if (err < 0)
		return err;
	/* A reconciliation sweep after an incomplete dump would drop live
	 * flows: tell the caller the picture is not whole. */
	if (bad_entry)
		return -EBADMSG;
	if (intr)
		return -EAGAIN;
	return 0;
}

void ct_query_close(struct ct_query *q)
{
	if (!q)
		return;
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q);
}
