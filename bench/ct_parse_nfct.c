/* ct_parse_nfct: ct_parse() through libnetfilter_conntrack (nfct_nlmsg_parse
 * into one preallocated object), linked into bench/flowoffloadd_nfct. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ct_parse.h"

/*
 * The question is whether the library's parser costs the agent more
 * than 10% CPU per flow (bench/conn_rate, config fo-nfct).  This object
 * takes the place of src/ct_parse.c at link time (same symbol, listed
 * before libflowoffload.a), so the agent is otherwise the same binary.  It
 * parses into one object reset per message from a blank template, as a
 * long-running listener would, instead of nfct_new()/nfct_destroy() each
 * time.
 */
static struct nf_conntrack *obj, *blank;

static enum ct_msg msg_type(const struct nlmsghdr *nlh, int *err)
{
	*err = 0;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case IPCTNL_MSG_CT_NEW:
		if (nlh->nlmsg_flags & NLM_F_MULTI)
			return CT_MSG_DUMP;
		return nlh->nlmsg_flags & NLM_F_CREATE ? CT_MSG_NEW : CT_MSG_UPDATE;
	case IPCTNL_MSG_CT_DELETE:
		return CT_MSG_DESTROY;
	}
	*err = -EINVAL;
	return CT_MSG_NEW;
}

static void tuple_of(const struct nf_conntrack *c, bool reply, uint8_t family,
		     struct flow_tuple *t)
{
	enum nf_conntrack_attr s4 = reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC;
	enum nf_conntrack_attr d4 = reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST;
	enum nf_conntrack_attr s6 = reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC;
	enum nf_conntrack_attr d6 = reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST;

	/* nfct_get_attr() is NULL for an attribute the message lacked. */
	if (!nfct_attr_is_set(c, family == AF_INET ? s4 : s6) ||
	    !nfct_attr_is_set(c, family == AF_INET ? d4 : d6))
		return;
	if (family == AF_INET) {
		memcpy(t->src, nfct_get_attr(c, s4), 4);
		memcpy(t->dst, nfct_get_attr(c, d4), 4);
	} else {
		memcpy(t->src, nfct_get_attr(c, s6), 16);
		memcpy(t->dst, nfct_get_attr(c, d6), 16);
	}
	t->sport = ntohs(nfct_get_attr_u16(c, reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC));
	t->dport = ntohs(nfct_get_attr_u16(c, reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST));
}

static void counters_of(const struct nf_conntrack *c, struct ct_info *ct)
{
	if (!nfct_attr_is_set(c, ATTR_ORIG_COUNTER_PACKETS))
		return;
	ct->has_counters = true;
	ct->packets[0] = nfct_get_attr_u64(c, ATTR_ORIG_COUNTER_PACKETS);
	ct->packets[1] = nfct_get_attr_u64(c, ATTR_REPL_COUNTER_PACKETS);
	ct->bytes[0] = nfct_get_attr_u64(c, ATTR_ORIG_COUNTER_BYTES);
	ct->bytes[1] = nfct_get_attr_u64(c, ATTR_REPL_COUNTER_BYTES);
}

int ct_parse(const struct nlmsghdr *nlh, struct ct_info *ct, enum ct_msg *type)
{
	enum ct_msg t;
	int err;

	if (!nlh || !ct || !type)
		return -EINVAL;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg) ||
	    NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return -EINVAL;
	t = msg_type(nlh, &err);
	if (err)
		return err;
	if (!obj) {
		obj = nfct_new();
		blank = nfct_new();
		if (!obj || !blank)
			return -ENOMEM;
	}
	nfct_copy(obj, blank, NFCT_CP_OVERRIDE);
	if (nfct_nlmsg_parse(nlh, obj) < 0)
		return -EINVAL;
	memset(ct, 0, sizeof(*ct));
	ct->family = nfct_get_attr_u8(obj, ATTR_L3PROTO);
	if ((ct->family != AF_INET && ct->family != AF_INET6) ||
	    !nfct_attr_is_set(obj, ATTR_L4PROTO))
		return -EINVAL;
	ct->proto = nfct_get_attr_u8(obj, ATTR_L4PROTO);
	ct->id = nfct_get_attr_u32(obj, ATTR_ID);
	if (!nfct_attr_is_set(obj, ct->family == AF_INET ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC))
		return -EINVAL;
	tuple_of(obj, false, ct->family, &ct->orig);
	tuple_of(obj, true, ct->family, &ct->reply);
	if (nfct_attr_is_set(obj, ATTR_MARK)) {
		ct->has_mark = true;
		ct->mark = nfct_get_attr_u32(obj, ATTR_MARK);
	}
	if (nfct_attr_is_set(obj, ATTR_STATUS)) {
		ct->has_status = true;
		ct->status = nfct_get_attr_u32(obj, ATTR_STATUS);
	}
	if (nfct_attr_is_set(obj, ATTR_ZONE))
		ct->zone = nfct_get_attr_u16(obj, ATTR_ZONE);
	if (nfct_attr_is_set(obj, ATTR_TCP_STATE))
		ct->tcp_state = nfct_get_attr_u8(obj, ATTR_TCP_STATE);
	counters_of(obj, ct);
	*type = t;
	return 0;
}
