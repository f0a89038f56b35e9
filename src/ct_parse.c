/* ct_parse: the parser for ctnetlink conntrack messages (events and dump
 * entries) into struct ct_info, without allocating. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "ct_parse.h"

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
