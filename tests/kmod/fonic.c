// SPDX-License-Identifier: GPL-2.0
/*
 * fonic - an emulated flowtable-offload NIC for flowoffload's kernel tests.
 *
 * Devices come in pairs, like a cable: what one end transmits, the other end
 * receives.  Every fonic device is a port of one emulated switch chip whose
 * flow table is shared by all ports and bounded by the `capacity` module
 * parameter (counted in flows: a flow's original and reply entries take one
 * slot).  The chip implements ndo_setup_tc(TC_SETUP_FT), so a netfilter
 * flowtable with `flags offload` on fonic devices pushes its flows here: a
 * packet arriving at a port that matches an entry is rewritten (Ethernet
 * addresses, NAT, TTL/hop limit, checksums) and sent out of the entry's
 * egress port without the host stack ever seeing it.  Everything else is
 * delivered to the stack as a plain NIC would.
 *
 * Control and observation live in debugfs (/sys/kernel/debug/fonic/); see
 * tests/kmod/README.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/rtnetlink.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/jhash.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/delay.h>
#include <linux/random.h>
#include <linux/tc_act/tc_csum.h>
#include <net/rtnetlink.h>
#include <net/flow_offload.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/checksum.h>
#include <net/netfilter/nf_flow_table.h>

#define DRV_NAME		"fonic"
#define FONIC_HASH_BITS		10
#define FONIC_HASH_SIZE		(1U << FONIC_HASH_BITS)
#define FONIC_MAX_MANGLES	24
#define FONIC_MAX_DEPTH		4	/* chained ports forwarding in "hardware" */
#define FONIC_FAIL_RING		16
#define TCPHDR_FIN_RST		0x0005	/* in the flag word keyed by the dissector */

static unsigned int capacity = 64;
module_param(capacity, uint, 0644);
MODULE_PARM_DESC(capacity,
		 "flows the emulated chip's table holds, shared by all fonic ports (default 64)");

static bool verbose;
module_param(verbose, bool, 0644);
MODULE_PARM_DESC(verbose, "log every flow rule the kernel offers to the kernel log");

/* IFLA_INFO_DATA of the "fonic" link kind: the peer, laid out like veth's. */
enum {
	FONIC_INFO_UNSPEC,
	FONIC_INFO_PEER,	/* struct ifinfomsg + IFLA_* attributes */
	__FONIC_INFO_MAX
};
#define FONIC_INFO_MAX	(__FONIC_INFO_MAX - 1)

enum fonic_ctr {
	FONIC_RX_HW_HITS,		/* packets the chip forwarded itself */
	FONIC_RX_HW_BYTES,		/* their layer 3 bytes */
	FONIC_RX_TO_STACK,		/* packets handed to the host stack */
	FONIC_TX_HW,			/* packets sent out by the chip */
	FONIC_REPLACE_OK,		/* entries inserted */
	FONIC_REPLACE_UPDATE,		/* REPLACE of an entry already present */
	FONIC_REPLACE_ENOSPC,		/* flow insertions refused: table full */
	FONIC_REPLACE_FAIL_INJECTED,	/* flow insertions failed on purpose */
	FONIC_REPLACE_SIBLING_FAILED,	/* reply entries refused with their flow */
	FONIC_REPLACE_UNSUPPORTED,	/* rules the chip cannot carry out */
	FONIC_REPLACE_EXISTS,		/* key already taken by another entry */
	FONIC_DESTROY,			/* entries removed by the kernel */
	FONIC_PURGED,			/* entries dropped by the chip itself */
	FONIC_STATS_CALLS,		/* FLOW_CLS_STATS answered */
	FONIC_NR_CTRS
};

static const char * const fonic_ctr_names[FONIC_NR_CTRS] = {
	[FONIC_RX_HW_HITS]		= "rx_hw_hits",
	[FONIC_RX_HW_BYTES]		= "rx_hw_bytes",
	[FONIC_RX_TO_STACK]		= "rx_to_stack",
	[FONIC_TX_HW]			= "tx_hw",
	[FONIC_REPLACE_OK]		= "replace_ok",
	[FONIC_REPLACE_UPDATE]		= "replace_update",
	[FONIC_REPLACE_ENOSPC]		= "replace_enospc",
	[FONIC_REPLACE_FAIL_INJECTED]	= "replace_fail_injected",
	[FONIC_REPLACE_SIBLING_FAILED]	= "replace_sibling_failed",
	[FONIC_REPLACE_UNSUPPORTED]	= "replace_unsupported",
	[FONIC_REPLACE_EXISTS]		= "replace_exists",
	[FONIC_DESTROY]			= "destroy",
	[FONIC_PURGED]			= "purged",
	[FONIC_STATS_CALLS]		= "stats_calls",
};

struct fonic_priv {
	struct net_device __rcu	*peer;
	struct net_device	*dev;
	struct list_head	node;		/* fonic_devices */
	unsigned int		ft_bound;	/* flowtable blocks bound */
	atomic64_t		ctr[FONIC_NR_CTRS];
};

/* One flowtable's binding to the chip (the cb_priv of its flow_block_cb). */
struct fonic_binding {
	struct net	*net;
	unsigned int	id;
};

/* Exact-match lookup key; always memset before filling (hashed and compared
 * as raw bytes). */
struct fonic_key {
	struct net	*net;
	int		iif;
	u8		l3;		/* 4 or 6 */
	u8		l4;		/* IPPROTO_TCP or IPPROTO_UDP */
	__be16		sport;
	__be16		dport;
	u16		pad;
	union {
		__be32		v4;
		struct in6_addr	v6;
	} src, dst;
};

struct fonic_mangle {
	u8	htype;		/* enum flow_action_mangle_base */
	u8	offset;
	u32	mask;		/* bits to keep, in memory order */
	u32	val;
};

struct fonic_entry {
	struct hlist_node	key_node;
	struct hlist_node	cookie_node;
	struct list_head	list;		/* fonic_entries, oldest first */
	struct rcu_head		rcu;
	struct fonic_key	key;
	unsigned long		cookie;
	unsigned long		flow_id;	/* the flow's original-direction cookie */
	unsigned int		id;
	unsigned int		flow_no;
	unsigned int		bid;		/* binding id */
	struct fonic_binding	*binding;
	u8			dir;
	bool			has_tcp_flags;
	__be16			tcp_flags_key;
	__be16			tcp_flags_mask;
	int			oif;
	u32			csum_flags;
	u32			used_keys;
	u8			n_mangles;
	struct fonic_mangle	mangles[FONIC_MAX_MANGLES];
	atomic64_t		pkts;
	atomic64_t		bytes;
	unsigned long		lastused;	/* jiffies */
	unsigned long		created;	/* jiffies */
	u64			rep_pkts;	/* already reported by STATS */
	u64			rep_bytes;
};

static const struct net_device_ops fonic_netdev_ops;
static struct rtnl_link_ops fonic_link_ops;

/* fonic_lock serialises the control plane: the table's writers, bindings,
 * the device list and debugfs.  The data path reads the table under RCU. */
static DEFINE_MUTEX(fonic_lock);
static LIST_HEAD(fonic_devices);
static LIST_HEAD(fonic_entries);
static struct hlist_head fonic_key_ht[FONIC_HASH_SIZE];
static struct hlist_head fonic_cookie_ht[FONIC_HASH_SIZE];
static u32 fonic_seed;
static unsigned int fonic_flows, fonic_nentries, fonic_flows_max;
static unsigned int fonic_nbindings, fonic_next_bid, fonic_next_id, fonic_next_flow;
static atomic64_t fonic_total[FONIC_NR_CTRS];
static char fonic_last_refusal[160];
static int fonic_chip;		/* cb_ident of every fonic block callback */
static DEFINE_PER_CPU(u8, fonic_depth);

/* Fault injection (debugfs). */
static u32 fonic_fail_nth;
static u32 fonic_delay_ms;
static u32 fonic_fail_errno = EIO;
static unsigned long fonic_fail_until;
static bool fonic_fail_window;

static struct {
	unsigned long	flow_id;
	int		err;
	unsigned long	when;
} fonic_failed[FONIC_FAIL_RING];
static unsigned int fonic_failed_next;

static struct dentry *fonic_dbg;

static bool fonic_is_ours(const struct net_device *dev)
{
	return dev && dev->netdev_ops == &fonic_netdev_ops;
}

static void fonic_count(struct fonic_priv *priv, enum fonic_ctr c, s64 n)
{
	if (priv)
		atomic64_add(n, &priv->ctr[c]);
	atomic64_add(n, &fonic_total[c]);
}

/* ---- the table -------------------------------------------------------- */

static u32 fonic_key_hash(const struct fonic_key *k)
{
	return jhash(k, sizeof(*k), fonic_seed) & (FONIC_HASH_SIZE - 1);
}

static u32 fonic_cookie_hash(unsigned long cookie)
{
	return hash_long(cookie, FONIC_HASH_BITS);
}

static struct fonic_entry *fonic_lookup_key(const struct fonic_key *k)
{
	struct fonic_entry *e;

	hlist_for_each_entry_rcu(e, &fonic_key_ht[fonic_key_hash(k)], key_node,
				 lockdep_is_held(&fonic_lock))
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	return NULL;
}

static struct fonic_entry *fonic_lookup_cookie(unsigned long cookie)
{
	struct fonic_entry *e;

	hlist_for_each_entry_rcu(e, &fonic_cookie_ht[fonic_cookie_hash(cookie)],
				 cookie_node, lockdep_is_held(&fonic_lock))
		if (e->cookie == cookie)
			return e;
	return NULL;
}

/*
 * nf_flow_table_offload passes &flow->tuplehash[dir].tuple as the cookie, so
 * the two entries of one flow sit sizeof(struct flow_offload_tuple_rhash)
 * apart.  The chip uses that (an emulator's privilege) to count capacity in
 * flows and to fail a flow's two entries together.
 */
static unsigned long fonic_sibling_cookie(const struct fonic_entry *e)
{
	return e->dir ? e->flow_id :
			e->flow_id + sizeof(struct flow_offload_tuple_rhash);
}

static struct fonic_priv *fonic_priv_by_index(struct net *net, int ifindex)
{
	struct net_device *dev;
	struct fonic_priv *priv = NULL;

	/* The device cannot be freed while fonic_lock is held: its ndo_uninit
	 * takes the lock first. */
	rcu_read_lock();
	dev = dev_get_by_index_rcu(net, ifindex);
	if (fonic_is_ours(dev))
		priv = netdev_priv(dev);
	rcu_read_unlock();
	return priv;
}

static void fonic_unlink_entry(struct fonic_entry *e)
{
	lockdep_assert_held(&fonic_lock);
	hlist_del_rcu(&e->key_node);
	hlist_del_rcu(&e->cookie_node);
	list_del(&e->list);
	fonic_nentries--;
	if (!fonic_lookup_cookie(fonic_sibling_cookie(e)))
		fonic_flows--;
	kfree_rcu(e, rcu);
}

/* Entries the kernel will never destroy (their ports or flowtable are
 * gone): drop them, counted as purged. */
static void fonic_purge(struct fonic_binding *b, struct net *net, int ifindex)
{
	struct fonic_entry *e, *tmp;

	lockdep_assert_held(&fonic_lock);
	list_for_each_entry_safe(e, tmp, &fonic_entries, list) {
		if (b && e->binding != b)
			continue;
		if (net && (e->key.net != net ||
			    (e->key.iif != ifindex && e->oif != ifindex)))
			continue;
		fonic_count(NULL, FONIC_PURGED, 1);
		fonic_unlink_entry(e);
	}
}

static void fonic_record_failure(unsigned long flow_id, int err)
{
	unsigned int i = fonic_failed_next++ % FONIC_FAIL_RING;

	fonic_failed[i].flow_id = flow_id;
	fonic_failed[i].err = err;
	fonic_failed[i].when = jiffies;
}

/* The error the original direction of this flow just failed with, if any. */
static int fonic_take_failure(unsigned long flow_id)
{
	unsigned int i;

	for (i = 0; i < FONIC_FAIL_RING; i++) {
		if (fonic_failed[i].flow_id != flow_id || !fonic_failed[i].err ||
		    time_after(jiffies, fonic_failed[i].when + HZ))
			continue;
		fonic_failed[i].flow_id = 0;
		return fonic_failed[i].err;
	}
	return 0;
}

static int fonic_injected_fault(void)
{
	int err = -(int)clamp_val(fonic_fail_errno, 1, 4095);

	if (fonic_fail_nth && --fonic_fail_nth == 0)
		return err;
	if (fonic_fail_window) {
		if (time_before(jiffies, fonic_fail_until))
			return err;
		fonic_fail_window = false;
	}
	return 0;
}

/* ---- parsing the rules nf_flow_table_offload builds ------------------- */

static void fonic_refuse(const char *why, const struct fonic_entry *e)
{
	snprintf(fonic_last_refusal, sizeof(fonic_last_refusal),
		 "%s (ingress ifindex %d)", why, e->key.iif);
	if (verbose)
		pr_info("refused a rule: %s\n", fonic_last_refusal);
}

static int fonic_add_mangle(struct fonic_entry *e,
			    const struct flow_action_entry *act)
{
	u32 off = act->mangle.offset;
	struct fonic_mangle *m;
	bool ok;

	switch (act->mangle.htype) {
	case FLOW_ACT_MANGLE_HDR_TYPE_ETH:
		ok = off <= ETH_HLEN - 4;
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_IP4:	/* addresses only */
		ok = e->key.l3 == 4 && (off == offsetof(struct iphdr, saddr) ||
					off == offsetof(struct iphdr, daddr));
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_IP6:	/* addresses only */
		ok = e->key.l3 == 6 && off >= offsetof(struct ipv6hdr, saddr) &&
		     off <= sizeof(struct ipv6hdr) - 4;
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_TCP:	/* ports, sequence, ack */
		ok = e->key.l4 == IPPROTO_TCP && off <= 8;
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_UDP:	/* ports */
		ok = e->key.l4 == IPPROTO_UDP && off == 0;
		break;
	default:
		ok = false;
	}
	if (!ok || off % 4) {
		fonic_refuse("mangle of a header field the chip cannot rewrite", e);
		return -EOPNOTSUPP;
	}
	if (e->n_mangles == FONIC_MAX_MANGLES) {
		fonic_refuse("too many mangle actions", e);
		return -EOPNOTSUPP;
	}
	m = &e->mangles[e->n_mangles++];
	m->htype = act->mangle.htype;
	m->offset = off;
	m->mask = act->mangle.mask;
	m->val = act->mangle.val & ~act->mangle.mask;
	return 0;
}

static int fonic_parse_rule(struct fonic_binding *b, struct flow_cls_offload *cls,
			    struct fonic_entry *e, struct fonic_priv **ipriv)
{
	const unsigned int ok_keys = BIT(FLOW_DISSECTOR_KEY_META) |
		BIT(FLOW_DISSECTOR_KEY_CONTROL) | BIT(FLOW_DISSECTOR_KEY_BASIC) |
		BIT(FLOW_DISSECTOR_KEY_IPV4_ADDRS) | BIT(FLOW_DISSECTOR_KEY_IPV6_ADDRS) |
		BIT(FLOW_DISSECTOR_KEY_TCP) | BIT(FLOW_DISSECTOR_KEY_PORTS);
	struct flow_rule *rule = flow_cls_offload_flow_rule(cls);
	const struct flow_action_entry *act;
	struct flow_match_control control;
	struct flow_match_basic basic;
	struct flow_match_ports ports;
	struct flow_match_meta meta;
	u16 addr_type;
	int i, err;

	*ipriv = NULL;
	memset(&e->key, 0, sizeof(e->key));
	e->key.net = b->net;
	e->n_mangles = 0;
	e->oif = 0;
	e->csum_flags = 0;
	e->has_tcp_flags = false;
	e->used_keys = rule->match.dissector->used_keys;

	if (!flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_META)) {
		fonic_refuse("no ingress port in the match", e);
		return -EOPNOTSUPP;
	}
	flow_rule_match_meta(rule, &meta);
	e->key.iif = meta.key->ingress_ifindex;
	if (meta.mask->ingress_ifindex != -1) {
		fonic_refuse("wildcard ingress port", e);
		return -EOPNOTSUPP;
	}
	*ipriv = fonic_priv_by_index(b->net, e->key.iif);
	if (!*ipriv) {
		fonic_refuse("ingress device is not a fonic port", e);
		return -EOPNOTSUPP;
	}
	if (!((*ipriv)->dev->features & NETIF_F_HW_TC)) {
		fonic_refuse("hw-tc-offload is off on the ingress port", e);
		return -EOPNOTSUPP;
	}
	if (e->used_keys & ~ok_keys) {
		fonic_refuse("match on VLAN, tunnel or other unsupported keys", e);
		return -EOPNOTSUPP;
	}
	if (!flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_CONTROL) ||
	    !flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_BASIC) ||
	    !flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_PORTS)) {
		fonic_refuse("not an exact 5-tuple match", e);
		return -EOPNOTSUPP;
	}
	flow_rule_match_control(rule, &control);
	addr_type = control.key->addr_type;
	flow_rule_match_basic(rule, &basic);
	if (basic.mask->n_proto != htons(0xffff) || basic.mask->ip_proto != 0xff ||
	    (basic.key->ip_proto != IPPROTO_TCP && basic.key->ip_proto != IPPROTO_UDP)) {
		fonic_refuse("layer 4 protocol is neither TCP nor UDP", e);
		return -EOPNOTSUPP;
	}
	e->key.l4 = basic.key->ip_proto;

	if (addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS &&
	    basic.key->n_proto == htons(ETH_P_IP) &&
	    flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV4_ADDRS)) {
		struct flow_match_ipv4_addrs a;

		flow_rule_match_ipv4_addrs(rule, &a);
		if (a.mask->src != htonl(0xffffffff) || a.mask->dst != htonl(0xffffffff)) {
			fonic_refuse("IPv4 address prefixes", e);
			return -EOPNOTSUPP;
		}
		e->key.l3 = 4;
		e->key.src.v4 = a.key->src;
		e->key.dst.v4 = a.key->dst;
	} else if (addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS &&
		   basic.key->n_proto == htons(ETH_P_IPV6) &&
		   flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_IPV6_ADDRS)) {
		struct flow_match_ipv6_addrs a;

		flow_rule_match_ipv6_addrs(rule, &a);
		if (ipv6_addr_any(&a.mask->src) || ipv6_addr_any(&a.mask->dst) ||
		    memchr_inv(&a.mask->src, 0xff, sizeof(a.mask->src)) ||
		    memchr_inv(&a.mask->dst, 0xff, sizeof(a.mask->dst))) {
			fonic_refuse("IPv6 address prefixes", e);
			return -EOPNOTSUPP;
		}
		e->key.l3 = 6;
		e->key.src.v6 = a.key->src;
		e->key.dst.v6 = a.key->dst;
	} else {
		fonic_refuse("neither an IPv4 nor an IPv6 address match", e);
		return -EOPNOTSUPP;
	}

	flow_rule_match_ports(rule, &ports);
	if (ports.mask->src != htons(0xffff) || ports.mask->dst != htons(0xffff)) {
		fonic_refuse("port ranges", e);
		return -EOPNOTSUPP;
	}
	e->key.sport = ports.key->src;
	e->key.dport = ports.key->dst;

	if (flow_rule_match_key(rule, FLOW_DISSECTOR_KEY_TCP)) {
		struct flow_match_tcp t;

		if (e->key.l4 != IPPROTO_TCP) {
			fonic_refuse("TCP flags match on a UDP flow", e);
			return -EOPNOTSUPP;
		}
		flow_rule_match_tcp(rule, &t);
		e->has_tcp_flags = true;
		e->tcp_flags_mask = t.mask->flags;
		e->tcp_flags_key = t.key->flags & t.mask->flags;
	}

	flow_action_for_each(i, act, &rule->action) {
		switch (act->id) {
		case FLOW_ACTION_MANGLE:
			err = fonic_add_mangle(e, act);
			if (err)
				return err;
			break;
		case FLOW_ACTION_CSUM:
			if (act->csum_flags & ~(TCA_CSUM_UPDATE_FLAG_IPV4HDR |
						TCA_CSUM_UPDATE_FLAG_TCP |
						TCA_CSUM_UPDATE_FLAG_UDP)) {
				fonic_refuse("checksum update of other protocols", e);
				return -EOPNOTSUPP;
			}
			e->csum_flags |= act->csum_flags;
			break;
		case FLOW_ACTION_REDIRECT:
			if (e->oif || !fonic_is_ours(act->dev) ||
			    !net_eq(dev_net(act->dev), b->net)) {
				fonic_refuse("egress device is not a fonic port", e);
				return -EOPNOTSUPP;
			}
			e->oif = act->dev->ifindex;
			break;
		case FLOW_ACTION_VLAN_PUSH:
		case FLOW_ACTION_VLAN_POP:
		case FLOW_ACTION_PPPOE_PUSH:
			fonic_refuse("VLAN/PPPoE encapsulation", e);
			return -EOPNOTSUPP;
		case FLOW_ACTION_TUNNEL_ENCAP:
		case FLOW_ACTION_TUNNEL_DECAP:
			fonic_refuse("tunnel encapsulation", e);
			return -EOPNOTSUPP;
		default:
			fonic_refuse("unknown action", e);
			return -EOPNOTSUPP;
		}
	}
	if (!e->oif) {
		fonic_refuse("no redirect to an egress port", e);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void fonic_log_rule(const char *what, struct flow_cls_offload *cls,
			   const struct fonic_entry *e, int err)
{
	struct flow_rule *rule = flow_cls_offload_flow_rule(cls);
	const struct flow_action_entry *act;
	static const char * const htypes[] = { "unspec", "eth", "ip4", "ip6", "tcp", "udp" };
	char buf[768];
	int i, n;

	n = scnprintf(buf, sizeof(buf), "%s dir=%u used_keys=%#x iif=%d l3=%u l4=%u",
		      what, e->dir, rule->match.dissector->used_keys, e->key.iif,
		      e->key.l3, e->key.l4);
	if (e->has_tcp_flags)
		n += scnprintf(buf + n, sizeof(buf) - n, " tcp_flags=%#06x/%#06x",
			       ntohs(e->tcp_flags_key), ntohs(e->tcp_flags_mask));
	flow_action_for_each(i, act, &rule->action) {
		switch (act->id) {
		case FLOW_ACTION_MANGLE:
			n += scnprintf(buf + n, sizeof(buf) - n,
				       " MANGLE(%s+%u mask=%08x val=%08x)",
				       act->mangle.htype < ARRAY_SIZE(htypes) ?
				       htypes[act->mangle.htype] : "?",
				       act->mangle.offset,
				       be32_to_cpu((__force __be32)act->mangle.mask),
				       be32_to_cpu((__force __be32)act->mangle.val));
			break;
		case FLOW_ACTION_CSUM:
			n += scnprintf(buf + n, sizeof(buf) - n, " CSUM(%#x)",
				       act->csum_flags);
			break;
		case FLOW_ACTION_REDIRECT:
			n += scnprintf(buf + n, sizeof(buf) - n, " REDIRECT(%s)",
				       act->dev ? act->dev->name : "?");
			break;
		default:
			n += scnprintf(buf + n, sizeof(buf) - n, " ACTION%u", act->id);
		}
	}
	pr_info("%s -> %d\n", buf, err);
}

/* ---- the flow block callback ------------------------------------------ */

static bool fonic_same_rule(const struct fonic_entry *a, const struct fonic_entry *b)
{
	return !memcmp(&a->key, &b->key, sizeof(a->key)) && a->oif == b->oif &&
	       a->has_tcp_flags == b->has_tcp_flags &&
	       a->tcp_flags_key == b->tcp_flags_key &&
	       a->tcp_flags_mask == b->tcp_flags_mask &&
	       a->csum_flags == b->csum_flags && a->n_mangles == b->n_mangles &&
	       !memcmp(a->mangles, b->mangles, a->n_mangles * sizeof(a->mangles[0]));
}

static void fonic_link_entry(struct fonic_entry *e)
{
	list_add_tail(&e->list, &fonic_entries);
	hlist_add_head_rcu(&e->key_node, &fonic_key_ht[fonic_key_hash(&e->key)]);
	hlist_add_head_rcu(&e->cookie_node, &fonic_cookie_ht[fonic_cookie_hash(e->cookie)]);
	fonic_nentries++;
}

static int fonic_replace(struct fonic_binding *b, struct flow_cls_offload *cls)
{
	/* The cookie is the flow's struct flow_offload_tuple (see above). */
	const struct flow_offload_tuple *tuple = (const void *)cls->cookie;
	struct fonic_entry *e, *old, *sib;
	struct fonic_priv *ipriv;
	bool delayed = false;
	int err;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->cookie = cls->cookie;
	e->dir = tuple->dir;
	e->flow_id = cls->cookie - e->dir * sizeof(struct flow_offload_tuple_rhash);
	e->binding = b;
	e->bid = b->id;

again:
	mutex_lock(&fonic_lock);
	err = fonic_parse_rule(b, cls, e, &ipriv);
	if (verbose && !delayed)
		fonic_log_rule("REPLACE", cls, e, err);
	if (err) {
		fonic_count(ipriv, FONIC_REPLACE_UNSUPPORTED, 1);
		goto out_free;
	}

	old = fonic_lookup_cookie(e->cookie);
	if (old) {
		/* The software path refreshes offloaded flows with REPLACE. */
		fonic_count(ipriv, FONIC_REPLACE_UPDATE, 1);
		if (!fonic_same_rule(old, e)) {
			struct fonic_entry *dup = fonic_lookup_key(&e->key);

			if (dup && dup != old) {
				fonic_count(ipriv, FONIC_REPLACE_EXISTS, 1);
				err = -EEXIST;
				goto out_free;
			}
			e->id = old->id;
			e->flow_no = old->flow_no;
			e->created = old->created;
			e->lastused = old->lastused;
			atomic64_set(&e->pkts, atomic64_read(&old->pkts));
			atomic64_set(&e->bytes, atomic64_read(&old->bytes));
			e->rep_pkts = old->rep_pkts;
			e->rep_bytes = old->rep_bytes;
			hlist_del_rcu(&old->key_node);
			hlist_add_head_rcu(&e->key_node, &fonic_key_ht[fonic_key_hash(&e->key)]);
			hlist_replace_rcu(&old->cookie_node, &e->cookie_node);
			list_replace(&old->list, &e->list);
			kfree_rcu(old, rcu);
			e = NULL;
		}
		err = 0;
		goto out_free;
	}

	sib = fonic_lookup_cookie(fonic_sibling_cookie(e));
	if (!sib) {
		/* A new flow: the chip decides whether it takes it. */
		if (e->dir) {
			err = fonic_take_failure(e->flow_id);
			if (err) {
				fonic_count(ipriv, FONIC_REPLACE_SIBLING_FAILED, 1);
				goto out_free;
			}
		}
		if (fonic_delay_ms && !delayed) {
			u32 ms = fonic_delay_ms;

			/* The offload work runs in a workqueue: sleeping is
			 * allowed, but not with fonic_lock held. */
			mutex_unlock(&fonic_lock);
			msleep(ms);
			delayed = true;
			goto again;
		}
		err = fonic_injected_fault();
		if (err) {
			fonic_count(ipriv, FONIC_REPLACE_FAIL_INJECTED, 1);
			fonic_record_failure(e->flow_id, err);
			goto out_free;
		}
		if (fonic_flows >= READ_ONCE(capacity)) {
			err = -ENOSPC;
			fonic_count(ipriv, FONIC_REPLACE_ENOSPC, 1);
			fonic_record_failure(e->flow_id, err);
			goto out_free;
		}
	}
	if (fonic_lookup_key(&e->key)) {
		fonic_count(ipriv, FONIC_REPLACE_EXISTS, 1);
		err = -EEXIST;
		goto out_free;
	}

	e->id = ++fonic_next_id;
	e->flow_no = sib ? sib->flow_no : ++fonic_next_flow;
	e->created = jiffies;
	e->lastused = e->created;
	fonic_link_entry(e);
	if (!sib) {
		fonic_flows++;
		fonic_flows_max = max(fonic_flows_max, fonic_flows);
	}
	fonic_count(ipriv, FONIC_REPLACE_OK, 1);
	mutex_unlock(&fonic_lock);
	return 0;

out_free:
	mutex_unlock(&fonic_lock);
	kfree(e);
	return err;
}

static int fonic_destroy(struct flow_cls_offload *cls)
{
	struct fonic_entry *e;

	mutex_lock(&fonic_lock);
	e = fonic_lookup_cookie(cls->cookie);
	if (!e) {
		mutex_unlock(&fonic_lock);
		return -ENOENT;
	}
	fonic_count(fonic_priv_by_index(e->key.net, e->key.iif), FONIC_DESTROY, 1);
	fonic_unlink_entry(e);
	mutex_unlock(&fonic_lock);
	return 0;
}

static int fonic_stats(struct flow_cls_offload *cls)
{
	struct fonic_entry *e;
	u64 pkts, bytes;

	mutex_lock(&fonic_lock);
	e = fonic_lookup_cookie(cls->cookie);
	if (!e) {
		mutex_unlock(&fonic_lock);
		return -ENOENT;
	}
	/* Deltas since the last call: nf_flow_table adds them to conntrack. */
	pkts = atomic64_read(&e->pkts);
	bytes = atomic64_read(&e->bytes);
	flow_stats_update(&cls->stats, bytes - e->rep_bytes, pkts - e->rep_pkts, 0,
			  READ_ONCE(e->lastused), FLOW_ACTION_HW_STATS_DELAYED);
	e->rep_pkts = pkts;
	e->rep_bytes = bytes;
	fonic_count(fonic_priv_by_index(e->key.net, e->key.iif), FONIC_STATS_CALLS, 1);
	mutex_unlock(&fonic_lock);
	return 0;
}

static int fonic_block_cb(enum tc_setup_type type, void *type_data, void *cb_priv)
{
	struct flow_cls_offload *cls = type_data;

	/* nf_flow_table calls block callbacks with TC_SETUP_CLSFLOWER. */
	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;

	switch (cls->command) {
	case FLOW_CLS_REPLACE:
		return fonic_replace(cb_priv, cls);
	case FLOW_CLS_DESTROY:
		return fonic_destroy(cls);
	case FLOW_CLS_STATS:
		return fonic_stats(cls);
	default:
		return -EOPNOTSUPP;
	}
}

static void fonic_binding_release(void *cb_priv)
{
	struct fonic_binding *b = cb_priv;

	/* The flowtable let go of the chip: its entries go with it (the
	 * kernel destroys flows after unbinding when a table is deleted). */
	mutex_lock(&fonic_lock);
	fonic_purge(b, NULL, 0);
	fonic_nbindings--;
	mutex_unlock(&fonic_lock);
	kfree(b);
}

static int fonic_setup_ft(struct net_device *dev, struct flow_block_offload *bo)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct flow_block_cb *block_cb;
	struct fonic_binding *b;
	int err = 0;

	if (bo->binder_type != FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS)
		return -EOPNOTSUPP;

	mutex_lock(&fonic_lock);
	/* One callback per flowtable, however many ports it spans: every rule
	 * reaches the chip once. */
	block_cb = flow_block_cb_lookup(bo->block, fonic_block_cb, &fonic_chip);
	switch (bo->command) {
	case FLOW_BLOCK_BIND:
		if (!(dev->features & NETIF_F_HW_TC)) {
			err = -EOPNOTSUPP;
			break;
		}
		if (!block_cb) {
			b = kzalloc(sizeof(*b), GFP_KERNEL);
			if (!b) {
				err = -ENOMEM;
				break;
			}
			b->net = bo->net;
			b->id = ++fonic_next_bid;
			block_cb = flow_block_cb_alloc(fonic_block_cb, &fonic_chip, b,
						       fonic_binding_release);
			if (IS_ERR(block_cb)) {
				kfree(b);
				err = PTR_ERR(block_cb);
				break;
			}
			flow_block_cb_add(block_cb, bo);
			fonic_nbindings++;
		}
		flow_block_cb_incref(block_cb);
		priv->ft_bound++;
		break;
	case FLOW_BLOCK_UNBIND:
		if (!block_cb) {
			err = -ENOENT;
			break;
		}
		if (priv->ft_bound)
			priv->ft_bound--;
		if (!flow_block_cb_decref(block_cb))
			flow_block_cb_remove(block_cb, bo);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	mutex_unlock(&fonic_lock);
	return err;
}

static int fonic_setup_tc(struct net_device *dev, enum tc_setup_type type,
			  void *type_data)
{
	if (type != TC_SETUP_FT)
		return -EOPNOTSUPP;
	return fonic_setup_ft(dev, type_data);
}

/* ---- the data path ---------------------------------------------------- */

struct fonic_pkt {
	struct fonic_key	key;
	unsigned int		l4off;
	unsigned int		l3len;
	__be16			tcp_flags;
};

/* What a packet arriving at @rcv looks like to the chip; false when it is
 * nothing the chip forwards (not TCP/UDP, IP options, fragments, expiring
 * TTL, ...): those go to the stack, as in the software flowtable. */
static bool fonic_parse_pkt(struct net_device *rcv, struct sk_buff *skb,
			    struct fonic_pkt *p)
{
	unsigned int l4len;
	u8 proto;

	if (skb_is_gso(skb) || !pskb_may_pull(skb, ETH_HLEN))
		return false;
	memset(&p->key, 0, sizeof(p->key));
	p->key.net = dev_net(rcv);
	p->key.iif = rcv->ifindex;

	switch (((struct ethhdr *)skb->data)->h_proto) {
	case htons(ETH_P_IP): {
		const struct iphdr *iph;

		if (!pskb_may_pull(skb, ETH_HLEN + sizeof(*iph)))
			return false;
		iph = (const void *)(skb->data + ETH_HLEN);
		if (iph->version != 4 || iph->ihl != 5 || ip_is_fragment(iph) ||
		    iph->ttl <= 1)
			return false;
		p->l3len = ntohs(iph->tot_len);
		if (p->l3len < sizeof(*iph) || p->l3len > skb->len - ETH_HLEN)
			return false;
		proto = iph->protocol;
		p->key.l3 = 4;
		p->key.src.v4 = iph->saddr;
		p->key.dst.v4 = iph->daddr;
		p->l4off = ETH_HLEN + sizeof(*iph);
		break;
	}
	case htons(ETH_P_IPV6): {
		const struct ipv6hdr *ip6h;

		if (!pskb_may_pull(skb, ETH_HLEN + sizeof(*ip6h)))
			return false;
		ip6h = (const void *)(skb->data + ETH_HLEN);
		if (ip6h->version != 6 || ip6h->hop_limit <= 1)
			return false;
		p->l3len = sizeof(*ip6h) + ntohs(ip6h->payload_len);
		if (p->l3len > skb->len - ETH_HLEN)
			return false;
		proto = ip6h->nexthdr;
		p->key.l3 = 6;
		p->key.src.v6 = ip6h->saddr;
		p->key.dst.v6 = ip6h->daddr;
		p->l4off = ETH_HLEN + sizeof(*ip6h);
		break;
	}
	default:
		return false;
	}

	switch (proto) {
	case IPPROTO_TCP:
		l4len = sizeof(struct tcphdr);
		break;
	case IPPROTO_UDP:
		l4len = sizeof(struct udphdr);
		break;
	default:
		return false;
	}
	if (p->l4off + l4len > ETH_HLEN + p->l3len ||
	    !pskb_may_pull(skb, p->l4off + l4len))
		return false;
	p->key.l4 = proto;
	p->key.sport = ((const __be16 *)(skb->data + p->l4off))[0];
	p->key.dport = ((const __be16 *)(skb->data + p->l4off))[1];
	p->tcp_flags = 0;
	if (proto == IPPROTO_TCP) {
		__be16 w;

		/* Data offset and flags, as the flow dissector keys them. */
		memcpy(&w, skb->data + p->l4off + 12, sizeof(w));
		p->tcp_flags = w & htons(0x0fff);
	}
	return true;
}

static void fonic_l4_csum(const struct fonic_entry *e, struct sk_buff *skb,
			  __sum16 *check, __be32 from, __be32 to, bool pseudo)
{
	if (e->key.l4 == IPPROTO_UDP) {
		/* IPv4 UDP without a checksum stays without one. */
		if (!*check && skb->ip_summed != CHECKSUM_PARTIAL)
			return;
		inet_proto_csum_replace4(check, skb, from, to, pseudo);
		if (!*check)
			*check = CSUM_MANGLED_0;
		return;
	}
	inet_proto_csum_replace4(check, skb, from, to, pseudo);
}

/* Carry out the entry's rewrites with incremental checksum updates, then
 * age the packet by one hop, as the software flowtable does. */
static void fonic_rewrite(const struct fonic_entry *e, struct sk_buff *skb,
			  const struct fonic_pkt *p)
{
	u8 *eth = skb->data, *nh = skb->data + ETH_HLEN, *th = skb->data + p->l4off;
	__sum16 *check = e->key.l4 == IPPROTO_TCP ? &((struct tcphdr *)th)->check :
						    &((struct udphdr *)th)->check;
	unsigned int i;

	for (i = 0; i < e->n_mangles; i++) {
		const struct fonic_mangle *m = &e->mangles[i];
		u8 *base;
		u32 from, to;

		switch (m->htype) {
		case FLOW_ACT_MANGLE_HDR_TYPE_ETH:
			base = eth;
			break;
		case FLOW_ACT_MANGLE_HDR_TYPE_IP4:
		case FLOW_ACT_MANGLE_HDR_TYPE_IP6:
			base = nh;
			break;
		default:
			base = th;
		}
		memcpy(&from, base + m->offset, sizeof(from));
		to = (from & m->mask) | m->val;
		if (to == from)
			continue;
		memcpy(base + m->offset, &to, sizeof(to));

		switch (m->htype) {
		case FLOW_ACT_MANGLE_HDR_TYPE_IP4:
			csum_replace4(&((struct iphdr *)nh)->check,
				      (__force __be32)from, (__force __be32)to);
			fallthrough;
		case FLOW_ACT_MANGLE_HDR_TYPE_IP6:
			/* Addresses: part of the layer 4 pseudo header. */
			fonic_l4_csum(e, skb, check, (__force __be32)from,
				      (__force __be32)to, true);
			break;
		case FLOW_ACT_MANGLE_HDR_TYPE_TCP:
		case FLOW_ACT_MANGLE_HDR_TYPE_UDP:
			fonic_l4_csum(e, skb, check, (__force __be32)from,
				      (__force __be32)to, false);
			break;
		}
	}

	if (e->key.l3 == 4)
		ip_decrease_ttl((struct iphdr *)nh);
	else
		((struct ipv6hdr *)nh)->hop_limit--;
}

static void fonic_receive(struct net_device *rcv, struct sk_buff *skb);

/* The chip's fast path: true when it consumed the packet. */
static bool fonic_hw_forward(struct net_device *rcv, struct sk_buff *skb)
{
	struct fonic_priv *rpriv = netdev_priv(rcv);
	struct net_device *out, *outpeer;
	struct fonic_entry *e;
	struct fonic_pkt p;

	if (!fonic_parse_pkt(rcv, skb, &p))
		return false;
	e = fonic_lookup_key(&p.key);
	if (!e)
		return false;
	/* FIN and RST miss (the rule matches flags & (FIN|RST) == 0, and the
	 * chip never forwards them anyway): the kernel sees them and tears the
	 * flow down, as the software flowtable does. */
	if (e->has_tcp_flags && (p.tcp_flags & e->tcp_flags_mask) != e->tcp_flags_key)
		return false;
	if (p.tcp_flags & htons(TCPHDR_FIN_RST))
		return false;
	out = dev_get_by_index_rcu(e->key.net, e->oif);
	if (!fonic_is_ours(out) || !netif_running(out) || !netif_carrier_ok(out) ||
	    !(out->features & NETIF_F_HW_TC) || p.l3len > out->mtu)
		return false;
	outpeer = rcu_dereference(((struct fonic_priv *)netdev_priv(out))->peer);
	if (!outpeer)
		return false;
	if (skb_ensure_writable(skb, p.l4off + (p.key.l4 == IPPROTO_TCP ?
						sizeof(struct tcphdr) :
						sizeof(struct udphdr))))
		return false;

	fonic_rewrite(e, skb, &p);
	atomic64_inc(&e->pkts);
	atomic64_add(p.l3len, &e->bytes);
	WRITE_ONCE(e->lastused, jiffies);
	fonic_count(rpriv, FONIC_RX_HW_HITS, 1);
	fonic_count(rpriv, FONIC_RX_HW_BYTES, p.l3len);

	skb_clear_tstamp(skb);
	skb->dev = out;
	fonic_count(netdev_priv(out), FONIC_TX_HW, 1);
	fonic_receive(outpeer, skb);
	return true;
}

/* A packet arrives at @rcv from its peer (or from the chip). */
static void fonic_receive(struct net_device *rcv, struct sk_buff *skb)
{
	struct fonic_priv *priv = netdev_priv(rcv);
	unsigned int len;

	if (unlikely(!netif_running(rcv))) {
		dev_core_stats_rx_dropped_inc(rcv);
		kfree_skb(skb);
		return;
	}
	if (READ_ONCE(priv->ft_bound) && (rcv->features & NETIF_F_HW_TC)) {
		bool done;

		if (unlikely(__this_cpu_read(fonic_depth) >= FONIC_MAX_DEPTH)) {
			dev_core_stats_rx_dropped_inc(rcv);
			kfree_skb(skb);
			return;
		}
		__this_cpu_inc(fonic_depth);
		done = fonic_hw_forward(rcv, skb);
		__this_cpu_dec(fonic_depth);
		if (done)
			return;
	}

	/* The wire carries complete checksums (no checksum offload is
	 * advertised): make the receiver verify them. */
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		skb->ip_summed = CHECKSUM_NONE;
	len = skb->len;
	if (likely(dev_forward_skb(rcv, skb) == NET_RX_SUCCESS)) {
		dev_sw_netstats_rx_add(rcv, len);
		fonic_count(priv, FONIC_RX_TO_STACK, 1);
	}
}

static netdev_tx_t fonic_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer;

	/* pktgen hands over skbs it still holds: the chip rewrites in place. */
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (unlikely(!skb)) {
		dev_core_stats_tx_dropped_inc(dev);
		return NETDEV_TX_OK;
	}
	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	if (unlikely(!peer)) {
		dev_core_stats_tx_dropped_inc(dev);
		kfree_skb(skb);
	} else {
		dev_sw_netstats_tx_add(dev, 1, skb->len);
		fonic_receive(peer, skb);
	}
	rcu_read_unlock();
	return NETDEV_TX_OK;
}

/* ---- the device ------------------------------------------------------- */

static int fonic_open(struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	if (!peer)
		return -ENOTCONN;
	if (peer->flags & IFF_UP) {
		netif_carrier_on(dev);
		netif_carrier_on(peer);
	}
	return 0;
}

static int fonic_close(struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	netif_carrier_off(dev);
	if (peer)
		netif_carrier_off(peer);
	return 0;
}

static int fonic_dev_init(struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	int i;

	priv->dev = dev;
	for (i = 0; i < FONIC_NR_CTRS; i++)
		atomic64_set(&priv->ctr[i], 0);
	mutex_lock(&fonic_lock);
	list_add_tail(&priv->node, &fonic_devices);
	mutex_unlock(&fonic_lock);
	return 0;
}

static void fonic_dev_uninit(struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);

	mutex_lock(&fonic_lock);
	list_del(&priv->node);
	mutex_unlock(&fonic_lock);
}

static int fonic_get_iflink(const struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer;
	int iflink;

	rcu_read_lock();
	peer = rcu_dereference(priv->peer);
	iflink = peer ? peer->ifindex : 0;
	rcu_read_unlock();
	return iflink;
}

static struct net_device *fonic_get_peer_dev(struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);

	return rcu_dereference(priv->peer);
}

static const struct net_device_ops fonic_netdev_ops = {
	.ndo_init		= fonic_dev_init,
	.ndo_uninit		= fonic_dev_uninit,
	.ndo_open		= fonic_open,
	.ndo_stop		= fonic_close,
	.ndo_start_xmit		= fonic_xmit,
	.ndo_get_stats64	= dev_get_tstats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_setup_tc		= fonic_setup_tc,
	.ndo_get_iflink		= fonic_get_iflink,
	.ndo_get_peer_dev	= fonic_get_peer_dev,
};

static void fonic_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, DRV_NAME, sizeof(info->driver));
	strscpy(info->version, "1", sizeof(info->version));
}

static int fonic_get_link_ksettings(struct net_device *dev,
				    struct ethtool_link_ksettings *cmd)
{
	cmd->base.speed = SPEED_10000;
	cmd->base.duplex = DUPLEX_FULL;
	cmd->base.port = PORT_OTHER;
	cmd->base.autoneg = AUTONEG_DISABLE;
	return 0;
}

static const struct ethtool_ops fonic_ethtool_ops = {
	.get_drvinfo		= fonic_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_link_ksettings	= fonic_get_link_ksettings,
};

static void fonic_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE | IFF_NO_QUEUE;
	dev->netdev_ops = &fonic_netdev_ops;
	dev->ethtool_ops = &fonic_ethtool_ops;
	/* No checksum or segmentation offload: frames on the "wire" are
	 * complete, so the receivers check what the chip rewrote. */
	dev->features |= NETIF_F_LLTX | NETIF_F_HW_TC;
	dev->hw_features = NETIF_F_HW_TC;
	dev->needs_free_netdev = true;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;	/* allocated by the core */
	dev->max_mtu = ETH_MAX_MTU;
}

/* ---- rtnetlink: ip link add NAME type fonic [peer name PEER] ---------- */

static int fonic_validate(struct nlattr *tb[], struct nlattr *data[],
			  struct netlink_ext_ack *extack)
{
	if (tb[IFLA_ADDRESS]) {
		if (nla_len(tb[IFLA_ADDRESS]) != ETH_ALEN)
			return -EINVAL;
		if (!is_valid_ether_addr(nla_data(tb[IFLA_ADDRESS])))
			return -EADDRNOTAVAIL;
	}
	return 0;
}

static int fonic_newlink(struct net *src_net, struct net_device *dev,
			 struct nlattr *tb[], struct nlattr *data[],
			 struct netlink_ext_ack *extack)
{
	struct nlattr *peer_tb[IFLA_MAX + 1], **tbp = tb;
	unsigned char assign = NET_NAME_ENUM;
	struct ifinfomsg *ifmp = NULL;
	struct net_device *peer;
	char peer_name[IFNAMSIZ];
	struct net *peer_net;
	int err;

	if (data && data[FONIC_INFO_PEER]) {
		ifmp = nla_data(data[FONIC_INFO_PEER]);
		err = rtnl_nla_parse_ifinfomsg(peer_tb, data[FONIC_INFO_PEER], extack);
		if (err < 0)
			return err;
		err = fonic_validate(peer_tb, NULL, extack);
		if (err < 0)
			return err;
		tbp = peer_tb;
	}

	/* The device's own name first: the peer's default name derives from it. */
	if (strchr(dev->name, '%')) {
		err = dev_alloc_name(dev, dev->name);
		if (err < 0)
			return err;
	}
	if (ifmp && tbp[IFLA_IFNAME]) {
		nla_strscpy(peer_name, tbp[IFLA_IFNAME], IFNAMSIZ);
		assign = NET_NAME_USER;
	} else if (strlen(dev->name) < IFNAMSIZ - 1) {
		snprintf(peer_name, IFNAMSIZ, "%sp", dev->name);
		assign = NET_NAME_PREDICTABLE;
	} else {
		snprintf(peer_name, IFNAMSIZ, DRV_NAME "p%%d");
	}

	peer_net = rtnl_link_get_net(src_net, tbp);
	if (IS_ERR(peer_net))
		return PTR_ERR(peer_net);
	peer = rtnl_create_link(peer_net, peer_name, assign, &fonic_link_ops, tbp, extack);
	if (IS_ERR(peer)) {
		put_net(peer_net);
		return PTR_ERR(peer);
	}
	if (!ifmp || !tbp[IFLA_ADDRESS])
		eth_hw_addr_random(peer);
	err = register_netdevice(peer);
	put_net(peer_net);
	if (err < 0) {
		free_netdev(peer);
		return err;
	}
	netif_carrier_off(peer);
	err = rtnl_configure_link(peer, ifmp, 0, NULL);
	if (err < 0)
		goto err_peer;

	if (!tb[IFLA_ADDRESS])
		eth_hw_addr_random(dev);
	err = register_netdevice(dev);
	if (err < 0)
		goto err_peer;
	netif_carrier_off(dev);

	rcu_assign_pointer(((struct fonic_priv *)netdev_priv(dev))->peer, peer);
	rcu_assign_pointer(((struct fonic_priv *)netdev_priv(peer))->peer, dev);
	return 0;

err_peer:
	unregister_netdevice(peer);
	return err;
}

static void fonic_dellink(struct net_device *dev, struct list_head *head)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	/* Both ends go, like a cable; readers are covered by the RCU grace
	 * period before the devices are freed. */
	RCU_INIT_POINTER(priv->peer, NULL);
	unregister_netdevice_queue(dev, head);
	if (peer) {
		priv = netdev_priv(peer);
		RCU_INIT_POINTER(priv->peer, NULL);
		unregister_netdevice_queue(peer, head);
	}
}

static struct net *fonic_get_link_net(const struct net_device *dev)
{
	struct fonic_priv *priv = netdev_priv(dev);
	struct net_device *peer = rtnl_dereference(priv->peer);

	return peer ? dev_net(peer) : dev_net(dev);
}

static const struct nla_policy fonic_policy[FONIC_INFO_MAX + 1] = {
	[FONIC_INFO_PEER] = { .len = sizeof(struct ifinfomsg) },
};

static struct rtnl_link_ops fonic_link_ops = {
	.kind		= DRV_NAME,
	.priv_size	= sizeof(struct fonic_priv),
	.setup		= fonic_setup,
	.validate	= fonic_validate,
	.newlink	= fonic_newlink,
	.dellink	= fonic_dellink,
	.policy		= fonic_policy,
	.maxtype	= FONIC_INFO_MAX,
	.get_link_net	= fonic_get_link_net,
};

static int fonic_netdev_event(struct notifier_block *nb, unsigned long event,
			      void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);

	if (event != NETDEV_UNREGISTER || !fonic_is_ours(dev))
		return NOTIFY_DONE;
	mutex_lock(&fonic_lock);
	fonic_purge(NULL, dev_net(dev), dev->ifindex);
	mutex_unlock(&fonic_lock);
	return NOTIFY_DONE;
}

static struct notifier_block fonic_notifier = {
	.notifier_call = fonic_netdev_event,
};

/* ---- debugfs ---------------------------------------------------------- */

static const char *fonic_ifname(struct net *net, int ifindex)
{
	struct net_device *dev = dev_get_by_index_rcu(net, ifindex);

	return dev ? dev->name : "?";
}

static void fonic_show_entry(struct seq_file *m, const struct fonic_entry *e)
{
	u8 tmpl[3][40] = {}, set[3][40] = {};	/* eth, l3, l4 */
	unsigned int i, j;

	for (i = 0; i < e->n_mangles; i++) {
		const struct fonic_mangle *mg = &e->mangles[i];
		int h = mg->htype == FLOW_ACT_MANGLE_HDR_TYPE_ETH ? 0 :
			(mg->htype == FLOW_ACT_MANGLE_HDR_TYPE_IP4 ||
			 mg->htype == FLOW_ACT_MANGLE_HDR_TYPE_IP6) ? 1 : 2;
		u8 mask[4], val[4];

		memcpy(mask, &mg->mask, 4);
		memcpy(val, &mg->val, 4);
		for (j = 0; j < 4; j++) {
			if (mask[j] == 0xff)
				continue;
			tmpl[h][mg->offset + j] = val[j];
			set[h][mg->offset + j] = 1;
		}
	}

	seq_printf(m, "id=%u flow=%u dir=%s table=%u netns=%u iif=%s proto=%s",
		   e->id, e->flow_no, e->dir ? "reply" : "original", e->bid,
		   e->key.net->ns.inum, fonic_ifname(e->key.net, e->key.iif),
		   e->key.l4 == IPPROTO_TCP ? "tcp" : "udp");
	if (e->key.l3 == 4)
		seq_printf(m, " src=%pI4 sport=%u dst=%pI4 dport=%u",
			   &e->key.src.v4, ntohs(e->key.sport),
			   &e->key.dst.v4, ntohs(e->key.dport));
	else
		seq_printf(m, " src=%pI6c sport=%u dst=%pI6c dport=%u",
			   &e->key.src.v6, ntohs(e->key.sport),
			   &e->key.dst.v6, ntohs(e->key.dport));
	if (e->has_tcp_flags)
		seq_printf(m, " tcpflags=%#x/%#x", ntohs(e->tcp_flags_key),
			   ntohs(e->tcp_flags_mask));
	if (!memchr_inv(set[0], 1, ETH_ALEN))
		seq_printf(m, " eth_dst=%pM", tmpl[0]);
	if (!memchr_inv(set[0] + ETH_ALEN, 1, ETH_ALEN))
		seq_printf(m, " eth_src=%pM", tmpl[0] + ETH_ALEN);
	if (e->key.l3 == 4) {
		if (!memchr_inv(set[1] + 12, 1, 4))
			seq_printf(m, " snat=%pI4", tmpl[1] + 12);
		if (!memchr_inv(set[1] + 16, 1, 4))
			seq_printf(m, " dnat=%pI4", tmpl[1] + 16);
	} else {
		if (!memchr_inv(set[1] + 8, 1, 16))
			seq_printf(m, " snat=%pI6c", tmpl[1] + 8);
		if (!memchr_inv(set[1] + 24, 1, 16))
			seq_printf(m, " dnat=%pI6c", tmpl[1] + 24);
	}
	if (set[2][0] && set[2][1])
		seq_printf(m, " snat_port=%u", tmpl[2][0] << 8 | tmpl[2][1]);
	if (set[2][2] && set[2][3])
		seq_printf(m, " dnat_port=%u", tmpl[2][2] << 8 | tmpl[2][3]);
	if (e->csum_flags)
		seq_printf(m, " csum=%s%s%s",
			   e->csum_flags & TCA_CSUM_UPDATE_FLAG_IPV4HDR ? "ip4" : "",
			   e->csum_flags & TCA_CSUM_UPDATE_FLAG_TCP ? "+tcp" : "",
			   e->csum_flags & TCA_CSUM_UPDATE_FLAG_UDP ? "+udp" : "");
	seq_printf(m, " mangles=%u oif=%s packets=%llu bytes=%llu idle_ms=%u\n",
		   e->n_mangles, fonic_ifname(e->key.net, e->oif),
		   (u64)atomic64_read(&e->pkts), (u64)atomic64_read(&e->bytes),
		   jiffies_to_msecs(jiffies - READ_ONCE(e->lastused)));
}

static int fonic_table_show(struct seq_file *m, void *v)
{
	const struct fonic_entry *e;

	mutex_lock(&fonic_lock);
	rcu_read_lock();
	list_for_each_entry(e, &fonic_entries, list)
		fonic_show_entry(m, e);
	rcu_read_unlock();
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fonic_table);

static int fonic_devices_show(struct seq_file *m, void *v)
{
	const struct fonic_priv *priv;
	int i;

	mutex_lock(&fonic_lock);
	rcu_read_lock();
	list_for_each_entry(priv, &fonic_devices, node) {
		const struct net_device *dev = priv->dev;
		const struct net_device *peer = rcu_dereference(priv->peer);

		seq_printf(m, "name=%s ifindex=%d netns=%u", dev->name, dev->ifindex,
			   dev_net(dev)->ns.inum);
		if (peer)
			seq_printf(m, " peer=%s peer_ifindex=%d peer_netns=%u",
				   peer->name, peer->ifindex, dev_net(peer)->ns.inum);
		else
			seq_puts(m, " peer=-");
		seq_printf(m, " up=%d carrier=%d hw_tc=%d bound=%u mtu=%u",
			   !!(dev->flags & IFF_UP), netif_carrier_ok(dev),
			   !!(dev->features & NETIF_F_HW_TC), priv->ft_bound, dev->mtu);
		for (i = 0; i < FONIC_NR_CTRS; i++)
			seq_printf(m, " %s=%lld", fonic_ctr_names[i],
				   (s64)atomic64_read(&priv->ctr[i]));
		seq_putc(m, '\n');
	}
	rcu_read_unlock();
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fonic_devices);

static int fonic_counters_show(struct seq_file *m, void *v)
{
	int i;

	mutex_lock(&fonic_lock);
	seq_printf(m, "capacity %u\nflows_in_use %u\nentries_in_use %u\n"
		   "max_flows_in_use %u\nbindings %u\n",
		   READ_ONCE(capacity), fonic_flows, fonic_nentries,
		   fonic_flows_max, fonic_nbindings);
	for (i = 0; i < FONIC_NR_CTRS; i++)
		seq_printf(m, "%s %lld\n", fonic_ctr_names[i],
			   (s64)atomic64_read(&fonic_total[i]));
	seq_printf(m, "last_refusal %s\n",
		   fonic_last_refusal[0] ? fonic_last_refusal : "-");
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fonic_counters);

static int fonic_fail_nth_get(void *data, u64 *val)
{
	mutex_lock(&fonic_lock);
	*val = fonic_fail_nth;
	mutex_unlock(&fonic_lock);
	return 0;
}

static int fonic_fail_nth_set(void *data, u64 val)
{
	if (val > U32_MAX)
		return -EINVAL;
	mutex_lock(&fonic_lock);
	fonic_fail_nth = val;
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(fonic_fail_nth_fops, fonic_fail_nth_get,
			 fonic_fail_nth_set, "%llu\n");

static int fonic_fail_for_get(void *data, u64 *val)
{
	mutex_lock(&fonic_lock);
	*val = fonic_fail_window && time_before(jiffies, fonic_fail_until) ?
	       jiffies_to_msecs(fonic_fail_until - jiffies) : 0;
	mutex_unlock(&fonic_lock);
	return 0;
}

static int fonic_fail_for_set(void *data, u64 val)
{
	if (val > 3600 * 1000)
		return -EINVAL;
	mutex_lock(&fonic_lock);
	fonic_fail_until = jiffies + msecs_to_jiffies(val);
	fonic_fail_window = val > 0;
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(fonic_fail_for_fops, fonic_fail_for_get,
			 fonic_fail_for_set, "%llu\n");

static int fonic_u32_get(void *data, u64 *val)
{
	*val = READ_ONCE(*(u32 *)data);
	return 0;
}

static int fonic_delay_set(void *data, u64 val)
{
	if (val > 60 * 1000)
		return -EINVAL;
	WRITE_ONCE(fonic_delay_ms, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(fonic_delay_fops, fonic_u32_get, fonic_delay_set, "%llu\n");

static int fonic_errno_set(void *data, u64 val)
{
	if (val < 1 || val > 4095)
		return -EINVAL;
	WRITE_ONCE(fonic_fail_errno, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(fonic_errno_fops, fonic_u32_get, fonic_errno_set, "%llu\n");

static int fonic_clear_set(void *data, u64 val)
{
	struct fonic_priv *priv;
	int i;

	mutex_lock(&fonic_lock);
	for (i = 0; i < FONIC_NR_CTRS; i++)
		atomic64_set(&fonic_total[i], 0);
	list_for_each_entry(priv, &fonic_devices, node)
		for (i = 0; i < FONIC_NR_CTRS; i++)
			atomic64_set(&priv->ctr[i], 0);
	fonic_flows_max = fonic_flows;
	fonic_last_refusal[0] = 0;
	mutex_unlock(&fonic_lock);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(fonic_clear_fops, NULL, fonic_clear_set, "%llu\n");

static void fonic_debugfs_init(void)
{
	fonic_dbg = debugfs_create_dir(DRV_NAME, NULL);
	debugfs_create_file("table", 0444, fonic_dbg, NULL, &fonic_table_fops);
	debugfs_create_file("devices", 0444, fonic_dbg, NULL, &fonic_devices_fops);
	debugfs_create_file("counters", 0444, fonic_dbg, NULL, &fonic_counters_fops);
	debugfs_create_file_unsafe("fail_nth", 0644, fonic_dbg, NULL,
				   &fonic_fail_nth_fops);
	debugfs_create_file_unsafe("fail_for_ms", 0644, fonic_dbg, NULL,
				   &fonic_fail_for_fops);
	debugfs_create_file_unsafe("fail_errno", 0644, fonic_dbg, &fonic_fail_errno,
				   &fonic_errno_fops);
	debugfs_create_file_unsafe("delay_ms", 0644, fonic_dbg, &fonic_delay_ms,
				   &fonic_delay_fops);
	debugfs_create_file_unsafe("clear", 0200, fonic_dbg, NULL, &fonic_clear_fops);
}

/* ---- module ----------------------------------------------------------- */

static int __init fonic_init(void)
{
	int err;

	fonic_seed = get_random_u32();
	err = register_netdevice_notifier(&fonic_notifier);
	if (err)
		return err;
	err = rtnl_link_register(&fonic_link_ops);
	if (err) {
		unregister_netdevice_notifier(&fonic_notifier);
		return err;
	}
	fonic_debugfs_init();
	return 0;
}

static void __exit fonic_exit(void)
{
	/* Deleting the devices unbinds them from their flowtables, which
	 * releases the bindings and their entries. */
	rtnl_link_unregister(&fonic_link_ops);
	unregister_netdevice_notifier(&fonic_notifier);
	debugfs_remove_recursive(fonic_dbg);
	rcu_barrier();
}

module_init(fonic_init);
module_exit(fonic_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Emulated flowtable-offload NIC for flowoffload's tests");
MODULE_ALIAS_RTNL_LINK(DRV_NAME);
