/* nft_ruleset: the agent's nftables tables built with libnftnl, installed and
 * removed in one batch (one transaction) each, probed, and rendered as text. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <endian.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "config.h"
#include "nft_ruleset.h"

#define NFT_TABLE_PROBE "flowoffload_probe"
/* nft's `priority filter` is 0 at the ingress hook and in inet chains. */
#define FLOWTABLE_PRIO NF_IP_PRI_FILTER
#define CHAIN_PRIO (NF_IP_PRI_FILTER + 10)

/* The largest batch holds 54 messages (the hardware table's 25: table,
 * delete, table, flowtable, chain, three sets with their elements, two
 * skip-port, eight skip-prefix, two offload and two small-packet rules;
 * the software table's 29 with its two readmit and two hw-return rules)
 * besides begin and end. */
#define BATCH_MAX_MSGS 64
/* The batch buffer keeps room for the largest message beyond its limit,
 * because libnftnl writes a message before mnl_nlmsg_batch_next can refuse
 * it.  That is the elements of a set of CONFIG_MAX_LIST IPv6 intervals:
 * 2 * 64 + 1 elements of at most 48 bytes (nest, flags, key, user data)
 * after about 100 bytes of headers, table and set names. */
#define BATCH_MSG_MAX 8192
#define SETELEM_MSG_MAX (256 + (2 * CONFIG_MAX_LIST + 1) * 48)
_Static_assert(SETELEM_MSG_MAX <= BATCH_MSG_MAX, "a set's elements may overrun the batch buffer");
#define BATCH_LIMIT (BATCH_MAX_MSGS * BATCH_MSG_MAX)
#define SNDBUF_SIZE (1 << 20)
/* Under emulation (TCG) a flowtable bind can take a while; a kernel that
 * never answers must not hang the agent forever either. */
#define REPLY_TIMEOUT_MS 10000
/* Replies are ACKs and single objects, each far below a page. */
#define RECV_BUF_SIZE 16384

/* TCP flag bits of byte 13 of the TCP header. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* nft's datatype ids (nftables src/datatype.h), kept in the set's
 * NFTA_SET_KEY_TYPE so that `nft list` prints the elements as ports and
 * addresses; the kernel itself never reads them. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_INET_SERVICE 13
/* nft's enum byteorder, in the set's NFTNL_UDATA_SET_KEYBYTEORDER. */
#define NFT_BYTEORDER_BIG_ENDIAN 2

#define KEY_MAX 16

struct nft_ruleset {
	struct mnl_socket *nl;
	uint32_t seq;
};

/* One table of the ruleset: the software or the hardware tier.  A flow
 * may be added when ct mark & mark_and == mark_eq. */
struct tier {
	const char *table;
	const char (*devs)[CONFIG_IFNAMSIZ];
	size_t n_devs;
	bool hw;
	uint32_t mark_and;
	uint32_t mark_eq;
	char comment[40];	/* "flowoffload <fingerprint>" */
};

/* A closed interval of keys in network byte order: what a skip port
 * range or prefix becomes in an interval set. */
struct interval {
	uint8_t lo[KEY_MAX];
	uint8_t hi[KEY_MAX];
};

enum skip_kind { SKIP_PORTS, SKIP_4, SKIP_6, SKIP_KINDS };

/* One named interval set of static skip policy, sorted and merged. */
struct skip_set {
	const char *name;
	uint32_t key_type;	/* NFT_TYPE_* */
	uint32_t key_len;
	unsigned int per_line;	/* elements on one line of nft's listing */
	size_t n;
	struct interval iv[CONFIG_MAX_LIST];
};

struct batch_msg {
	uint32_t seq;
	char what[96];
	const struct nlmsghdr *nlh; /* inside the batch buffer, for extack offsets */
	bool acked;
};

struct batch {
	char *buf;
	struct mnl_nlmsg_batch *b;
	uint32_t begin_seq;
	uint32_t set_id;	/* the last set id given out in this batch */
	size_t n;
	struct batch_msg msgs[BATCH_MAX_MSGS];
};

/* ---- validation ------------------------------------------------------ */

static bool devs_valid(const char (*devs)[CONFIG_IFNAMSIZ], size_t n)
{
	size_t i, k;

	if (n > CONFIG_MAX_LIST)
		return false;
	for (i = 0; i < n; i++) {
		if (!devs[i][0] || strnlen(devs[i], CONFIG_IFNAMSIZ) == CONFIG_IFNAMSIZ)
			return false;
		/* The kernel refuses a device twice in one flowtable (EEXIST). */
		for (k = 0; k < i; k++)
			if (!strcmp(devs[i], devs[k]))
				return false;
	}
	return true;
}

static int skip_check(const struct fo_config *cfg);

static int plan_check(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	if (!cfg || !plan)
		return -EINVAL;
	if (!cfg->mark_mask || (!cfg->proto_tcp && !cfg->proto_udp) ||
	    cfg->window_from > cfg->window_until)
		return -EINVAL;
	if (plan->n_sw == 0 || !devs_valid(plan->sw_devs, plan->n_sw) ||
	    !devs_valid(plan->hw_devs, plan->n_hw) || skip_check(cfg))
		return -EINVAL;
	/* The software rule tests the bit HW and SKIP share; a mask too
	 * narrow to hold it would test a bit that is not ours. */
	if (!config_mark_value(cfg, ADMIT_HW))
		return -EINVAL;
	return 0;
}

static int tier_fingerprint(const struct fo_config *cfg, struct tier *t);

static size_t plan_tiers(const struct fo_config *cfg, const struct ruleset_plan *plan,
			 struct tier t[2])
{
	size_t n = 1, i;

	/* Software: every flow the agent has not sent to hardware or marked
	 * skip, admitted or not yet seen: a late mark write under load must
	 * not delay the offload past the window's start.  HW (2) and SKIP
	 * (3) are the values with the field's second bit set. */
	t[0] = (struct tier){
		.table = NFT_TABLE_SW,
		.devs = plan->sw_devs,
		.n_devs = plan->n_sw,
		.mark_and = config_mark_value(cfg, ADMIT_HW) & config_mark_value(cfg, ADMIT_SKIP),
		.mark_eq = 0,
	};
	/* Hardware: only the flows the agent admitted within the NIC's budget. */
	if (plan->n_hw) {
		t[1] = (struct tier){
			.table = NFT_TABLE_HW,
			.devs = plan->hw_devs,
			.n_devs = plan->n_hw,
			.hw = true,
			.mark_and = cfg->mark_mask,
			.mark_eq = config_mark_value(cfg, ADMIT_HW),
		};
		n = 2;
	}
	for (i = 0; i < n; i++)
		if (tier_fingerprint(cfg, &t[i]))
			return 0;
	return n;
}

/* ---- static skip policy ------------------------------------------------ */

/* The skip-prefix rules: each family's set is looked up with all four
 * addresses of the conntrack, because under NAT the reply tuple holds the
 * real server (DNAT) or client (SNAT). */
static const struct {
	uint8_t dir;
	uint32_t key4, key6;
	const char *dir_name, *addr_name;	/* `ct DIR ip[6] ADDR` */
} prefix_rules[] = {
	{ IP_CT_DIR_ORIGINAL, NFT_CT_SRC_IP, NFT_CT_SRC_IP6, "original", "saddr" },
	{ IP_CT_DIR_ORIGINAL, NFT_CT_DST_IP, NFT_CT_DST_IP6, "original", "daddr" },
	{ IP_CT_DIR_REPLY, NFT_CT_SRC_IP, NFT_CT_SRC_IP6, "reply", "saddr" },
	{ IP_CT_DIR_REPLY, NFT_CT_DST_IP, NFT_CT_DST_IP6, "reply", "daddr" },
};

/* k + 1 in place; false when k was the largest key (it wraps to zero). */
static bool key_inc(uint8_t *k, uint32_t len)
{
	while (len--)
		if (++k[len])
			return true;
	return false;
}

static bool key_is_zero(const uint8_t *k, uint32_t len)
{
	while (len--)
		if (k[len])
			return false;
	return true;
}

/* Sorted, with overlapping and adjacent intervals merged: nft refuses
 * overlapping elements in a set without auto-merge ("conflicting
 * intervals"), and merging the adjacent ones too gives one form however
 * the operator split a range, so the fingerprint does not depend on it. */
static void skip_set_normalise(struct skip_set *s)
{
	uint8_t next[KEY_MAX];
	struct interval tmp;
	size_t i, j, n = 0;

	for (i = 1; i < s->n; i++) {
		tmp = s->iv[i];
		for (j = i; j > 0 && memcmp(s->iv[j - 1].lo, tmp.lo, s->key_len) > 0; j--)
			s->iv[j] = s->iv[j - 1];
		s->iv[j] = tmp;
	}
	for (i = 0; i < s->n; i++) {
		struct interval *last = n ? &s->iv[n - 1] : NULL;

		if (last) {
			memcpy(next, last->hi, s->key_len);
			if (!key_inc(next, s->key_len) ||
			    memcmp(s->iv[i].lo, next, s->key_len) <= 0) {
				if (memcmp(s->iv[i].hi, last->hi, s->key_len) > 0)
					memcpy(last->hi, s->iv[i].hi, s->key_len);
				continue;
			}
		}
		s->iv[n++] = s->iv[i];
	}
	s->n = n;
}

static void skip_set_build(const struct fo_config *cfg, enum skip_kind kind, struct skip_set *s)
{
	/* per_line: how many elements of each type nft lists on one line. */
	static const struct {
		const char *name;
		uint32_t key_type, key_len;
		unsigned int per_line;
	} shapes[SKIP_KINDS] = {
		[SKIP_PORTS] = { "skip_ports", NFT_TYPE_INET_SERVICE, 2, 5 },
		[SKIP_4] = { "skip4", NFT_TYPE_IPADDR, 4, 2 },
		[SKIP_6] = { "skip6", NFT_TYPE_IP6ADDR, 16, 1 },
	};
	uint8_t family = kind == SKIP_4 ? AF_INET : AF_INET6;
	struct interval *iv;
	unsigned int bit;
	size_t i;

	s->name = shapes[kind].name;
	s->key_type = shapes[kind].key_type;
	s->key_len = shapes[kind].key_len;
	s->per_line = shapes[kind].per_line;
	s->n = 0;
	if (kind == SKIP_PORTS) {
		for (i = 0; i < cfg->n_skip_ports; i++) {
			iv = &s->iv[s->n++];
			iv->lo[0] = cfg->skip_ports[i].lo >> 8;
			iv->lo[1] = cfg->skip_ports[i].lo & 0xff;
			iv->hi[0] = cfg->skip_ports[i].hi >> 8;
			iv->hi[1] = cfg->skip_ports[i].hi & 0xff;
		}
	} else {
		for (i = 0; i < cfg->n_skip_prefixes; i++) {
			const struct prefix *p = &cfg->skip_prefixes[i];

			if (p->family != family)
				continue;
			iv = &s->iv[s->n++];
			memcpy(iv->lo, p->addr, s->key_len);
			memcpy(iv->hi, p->addr, s->key_len);
			for (bit = p->len; bit < s->key_len * 8; bit++) {
				iv->lo[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
				iv->hi[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
			}
		}
	}
	skip_set_normalise(s);
}

static void skip_sets_build(const struct fo_config *cfg, struct skip_set sets[SKIP_KINDS])
{
	int k;

	for (k = 0; k < SKIP_KINDS; k++)
		skip_set_build(cfg, k, &sets[k]);
}

static int skip_check(const struct fo_config *cfg)
{
	size_t i;

	if (cfg->n_skip_ports > CONFIG_MAX_LIST || cfg->n_skip_prefixes > CONFIG_MAX_LIST)
		return -EINVAL;
	for (i = 0; i < cfg->n_skip_ports; i++)
		if (cfg->skip_ports[i].lo > cfg->skip_ports[i].hi)
			return -EINVAL;
	for (i = 0; i < cfg->n_skip_prefixes; i++) {
		const struct prefix *p = &cfg->skip_prefixes[i];

		if ((p->family != AF_INET || p->len > 32) && (p->family != AF_INET6 || p->len > 128))
			return -EINVAL;
	}
	return 0;
}

/* ---- rendering ------------------------------------------------------- */

/* The prefix length when [lo, hi] is exactly one prefix, else -1. */
static int interval_prefix(const struct interval *iv, uint32_t len)
{
	unsigned int bit, plen = len * 8;
	bool split = false;

	for (bit = 0; bit < len * 8; bit++) {
		uint8_t m = 0x80 >> (bit % 8);
		bool l = iv->lo[bit / 8] & m, h = iv->hi[bit / 8] & m;

		if (!split && l != h) {
			split = true;
			plen = bit;
		}
		if (split && (l || !h))
			return -1;
	}
	return (int)plen;
}

static void render_key(FILE *f, const struct skip_set *s, const uint8_t *k)
{
	char buf[INET6_ADDRSTRLEN];

	if (s->key_type == NFT_TYPE_INET_SERVICE)
		fprintf(f, "%u", (unsigned int)(k[0] << 8 | k[1]));
	else
		fputs(inet_ntop(s->key_len == 4 ? AF_INET : AF_INET6, k, buf, sizeof(buf)), f);
}

/* As nft lists an element: a single key, a prefix (addresses only), or a
 * range. */
static void render_interval(FILE *f, const struct skip_set *s, const struct interval *iv)
{
	int plen = interval_prefix(iv, s->key_len);

	render_key(f, s, iv->lo);
	if (plen == (int)s->key_len * 8)
		return;
	if (plen >= 0 && s->key_type != NFT_TYPE_INET_SERVICE) {
		fprintf(f, "/%d", plen);
		return;
	}
	fputc('-', f);
	render_key(f, s, iv->hi);
}

static void render_set(FILE *f, const struct skip_set *s)
{
	static const char *const types[] = {
		[NFT_TYPE_IPADDR] = "ipv4_addr",
		[NFT_TYPE_IP6ADDR] = "ipv6_addr",
		[NFT_TYPE_INET_SERVICE] = "inet_service",
	};
	unsigned int count = 0;
	size_t i;

	fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\telements = { ", s->name,
		types[s->key_type]);
	for (i = 0; i < s->n; i++) {
		if (i)
			fputs(++count < s->per_line ? ", " : ",\n\t\t\t     ", f);
		if (count >= s->per_line)
			count = 0;
		render_interval(f, s, &s->iv[i]);
	}
	fputs(" }\n\t}\n\n", f);
}

static void render_skip_rules(FILE *f, const struct fo_config *cfg,
			      const struct skip_set sets[SKIP_KINDS])
{
	size_t i;
	int k;

	/* nft needs the protocol for ct proto-dst: one rule per protocol
	 * rather than `meta l4proto { tcp, udp }`, which would take an
	 * anonymous set. */
	if (sets[SKIP_PORTS].n && cfg->proto_tcp)
		fputs("\t\tmeta l4proto tcp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n",
		      f);
	if (sets[SKIP_PORTS].n && cfg->proto_udp)
		fputs("\t\tmeta l4proto udp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n",
		      f);
	for (k = SKIP_4; k <= SKIP_6; k++) {
		if (!sets[k].n)
			continue;
		for (i = 0; i < sizeof(prefix_rules) / sizeof(prefix_rules[0]); i++)
			fprintf(f, "\t\tct %s %s %s @%s counter return comment \"skip-prefix\"\n",
				prefix_rules[i].dir_name, k == SKIP_4 ? "ip" : "ip6",
				prefix_rules[i].addr_name, sets[k].name);
	}
}

/* The software rule marks what it offloads (value ADMIT_SW): no event
 * fires when a flow enters the flowtable, and a dump filtered on this mark
 * finds exactly the flows the rule took.  The hardware tier's flows carry
 * the agent's mark already. */
static void render_mark_set(FILE *f, const struct fo_config *cfg, const struct tier *t)
{
	if (!t->hw)
		fprintf(f, " ct mark set ct mark | 0x%08x", config_mark_value(cfg, ADMIT_SW));
}

/*
 * events = window: the kernel builds a conntrack event only for flows that
 * reach the window.  Every new conntrack starts with an empty event mask
 * (chain events, prerouting at mangle: at raw the conntrack is not attached
 * yet); the offload rule widens it to mark and destroy, and the mark it
 * sets then reports the flow once (UPDATE), its end once more (DESTROY).
 * Measured (bench/event_mask): a listener cost the router 25-35% of its
 * UDP new-flow rate, 0-8% with the mask.  The mask is the conntrack's, so
 * other listeners (conntrackd, conntrack -E) hear no more than we do.
 */
#define WINDOW_EVENTS ((1u << IPCT_DESTROY) | (1u << IPCT_MARK))
#define EVENTS_CHAIN_PRIO NF_IP_PRI_MANGLE

static bool events_quiet(const struct fo_config *cfg, const struct tier *t)
{
	return cfg->events_window && !t->hw;
}

static bool small_rules(const struct fo_config *cfg)
{
	return cfg->min_avgpkt != 0;
}

/* small-packet-window-from, or for 0 (auto) packet 64 -- past any
 * request/response exchange, 1.3 s of a 50 packet/s voice stream --
 * moved into the window. */
static uint32_t small_from(const struct fo_config *cfg)
{
	uint32_t v = cfg->small_window_from ? cfg->small_window_from : 64;

	if (v < cfg->window_from)
		v = cfg->window_from;
	if (v > cfg->window_until)
		v = cfg->window_until;
	return v;
}

/* The protocol and the per-protocol conditions every rule of ours has: a
 * bare ACK for TCP (tcp-ack-only), a reply for UDP (udp-require-reply). */
static void render_proto_match(FILE *f, const struct fo_config *cfg, int proto)
{
	fprintf(f, " meta l4proto %s", proto == IPPROTO_TCP ? "tcp" : "udp");
	if (proto == IPPROTO_TCP && cfg->tcp_ack_only)
		fputs(" tcp flags & (fin | syn | rst | ack) == ack", f);
	if (proto == IPPROTO_UDP && cfg->udp_require_reply)
		fputs(" ct status & seen-reply == seen-reply", f);
}

/* The offload rule of a tier and protocol.  With min-avgpkt the main rule
 * also wants `ct avgpkt >= A` (a request/response mouse moves small
 * packets; a transfer's full-size segments lift the average well above),
 * and a second rule (small) takes flows of small packets that are still
 * alive at small-packet-window-from. */
static void render_rule(FILE *f, const struct fo_config *cfg, const struct tier *t, int proto,
			bool small)
{
	const char *name = proto == IPPROTO_TCP ? "tcp" : "udp";

	fprintf(f, "\t\tct mark & 0x%08x == 0x%08x ct packets >= %u ct packets <= %u",
		t->mark_and, t->mark_eq, small ? small_from(cfg) : cfg->window_from,
		cfg->window_until);
	if (cfg->min_avgpkt && !small)
		fprintf(f, " ct avgpkt >= %u", cfg->min_avgpkt);
	render_proto_match(f, cfg, proto);
	fputs(" counter", f);
	if (events_quiet(cfg, t))
		fprintf(f, " ct event set 0x%x", WINDOW_EVENTS);
	render_mark_set(f, cfg, t);
	fprintf(f, " flow add @" NFT_FLOWTABLE " comment \"offload-%s%s\"\n", small ? "small-" : "",
		name);
}


/* The software tier's second rule per protocol: a flow the rule offloaded
 * once (it carries the SW value) and that left the flowtable -- a flush or
 * a firewall reload destroyed the flowtable, or its entry timed out idle --
 * goes back on its next packet, past the window's end too: those packets
 * were on the fast path already, and without this rule a flow past M would
 * stay on the slow path for good after every firewall reload. */
static void render_readmit_rule(FILE *f, const struct fo_config *cfg, int proto)
{
	fprintf(f, "\t\tct mark & 0x%08x == 0x%08x ct packets >= %u", cfg->mark_mask,
		config_mark_value(cfg, ADMIT_SW), cfg->window_from);
	render_proto_match(f, cfg, proto);
	fprintf(f, " counter flow add @" NFT_FLOWTABLE " comment \"readmit-%s\"\n",
		proto == IPPROTO_TCP ? "tcp" : "udp");
}

/*
 * The software tier's third rule per protocol: a hardware-tier flow (the
 * agent's HW value) that comes back to the slow path past the window's end
 * -- idle past the flowtable's timeout, or the flowtable was flushed -- was
 * in the hardware flowtable, whose rules stop at the window's end.  Without
 * this rule it would stay on the slow path for good; the hardware table
 * cannot take it back without a fresh budget decision, so it goes to the
 * software flowtable, and its field becomes the software value (the agent
 * sees a software flow, the readmit rule knows it from then on).
 */
static void render_hw_return_rule(FILE *f, const struct fo_config *cfg, int proto)
{
	uint32_t sw = config_mark_value(cfg, ADMIT_SW);

	fprintf(f, "\t\tct mark & 0x%08x == 0x%08x ct packets > %u", cfg->mark_mask,
		config_mark_value(cfg, ADMIT_HW), cfg->window_until);
	render_proto_match(f, cfg, proto);
	/* nft lists the kept bits with the value's: (mark & ~field) | sw
	 * reads back as mark & (~field | sw) | sw, the same bytecode. */
	fprintf(f, " counter ct mark set ct mark & 0x%08x | 0x%08x flow add @" NFT_FLOWTABLE
		   " comment \"hw-return-%s\"\n",
		~cfg->mark_mask | sw, sw, proto == IPPROTO_TCP ? "tcp" : "udp");
}

static void render_body(FILE *f, const struct fo_config *cfg, const struct tier *t)
{
	struct skip_set sets[SKIP_KINDS];
	size_t i;
	int k;

	/* In nft's listing order: sets, flowtable, chain. */
	skip_sets_build(cfg, sets);
	for (k = 0; k < SKIP_KINDS; k++)
		if (sets[k].n)
			render_set(f, &sets[k]);
	fputs("\tflowtable " NFT_FLOWTABLE " {\n", f);
	fputs("\t\thook ingress priority filter\n\t\tdevices = { ", f);
	/* Quoted: a device may be named like an nft keyword ("vlan", "ip6"). */
	for (i = 0; i < t->n_devs; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", t->devs[i]);
	fputs(" }\n", f);
	if (t->hw)
		fputs("\t\tflags offload\n", f);
	fputs("\t\tcounter\n\t}\n\n", f);
	fputs("\tchain " NFT_CHAIN " {\n"
	      "\t\ttype filter hook forward priority filter + 10; policy accept;\n",
	      f);
	render_skip_rules(f, cfg, sets);
	if (cfg->proto_tcp)
		render_rule(f, cfg, t, IPPROTO_TCP, false);
	if (cfg->proto_udp)
		render_rule(f, cfg, t, IPPROTO_UDP, false);
	if (small_rules(cfg) && cfg->proto_tcp)
		render_rule(f, cfg, t, IPPROTO_TCP, true);
	if (small_rules(cfg) && cfg->proto_udp)
		render_rule(f, cfg, t, IPPROTO_UDP, true);
	if (!t->hw && cfg->proto_tcp)
		render_readmit_rule(f, cfg, IPPROTO_TCP);
	if (!t->hw && cfg->proto_udp)
		render_readmit_rule(f, cfg, IPPROTO_UDP);
	if (!t->hw && cfg->proto_tcp)
		render_hw_return_rule(f, cfg, IPPROTO_TCP);
	if (!t->hw && cfg->proto_udp)
		render_hw_return_rule(f, cfg, IPPROTO_UDP);
	fputs("\t}\n", f);
	if (events_quiet(cfg, t))
		fputs("\n\tchain " NFT_EVENTS_CHAIN " {\n"
		      "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
		      "\t\tct status & confirmed == 0 ct event set 0x0 counter comment \"events-quiet\"\n"
		      "\t}\n",
		      f);
}

/* FNV-1a, 64 bits: a fingerprint, not a defence against anyone. */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The table's comment carries a fingerprint of its contents, so a
 * restarted agent can tell that the installed table is already the one it
 * would install, and keep it: replacing a flowtable evicts every flow in
 * it, and flows past the window's end would never come back. */
static int tier_fingerprint(const struct fo_config *cfg, struct tier *t)
{
	char *body = NULL;
	size_t len;
	FILE *f = open_memstream(&body, &len);

	if (!f)
		return -ENOMEM;
	render_body(f, cfg, t);
	if (ferror(f) | fclose(f)) {
		free(body);
		return -ENOMEM;
	}
	snprintf(t->comment, sizeof(t->comment), "flowoffload %016llx",
		 (unsigned long long)fnv1a(body));
	free(body);
	return 0;
}

static void render_tier(FILE *f, const struct fo_config *cfg, const struct tier *t)
{
	/* The same replace idiom install uses: loading the text twice gives
	 * the same tables, never a merge of old and new. */
	fprintf(f, "table inet %s\ndelete table inet %s\n", t->table, t->table);
	fprintf(f, "table inet %s {\n\tcomment \"%s\"\n", t->table, t->comment);
	render_body(f, cfg, t);
	fputs("}\n", f);
}

int nft_ruleset_render(const struct fo_config *cfg, const struct ruleset_plan *plan, char **out)
{
	struct tier t[2];
	size_t n, i, len;
	FILE *f;
	int ret;

	ret = plan_check(cfg, plan);
	if (ret)
		return ret;
	*out = NULL;
	f = open_memstream(out, &len);
	if (!f)
		return -ENOMEM;
	n = plan_tiers(cfg, plan, t);
	if (!n) {
		fclose(f);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		render_tier(f, cfg, &t[i]);
	if (ferror(f) | fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- building the objects --------------------------------------------- */

static struct nftnl_table *table_build(const char *name, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud;

	if (!t)
		return NULL;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, name) < 0)
		goto err;
	if (comment && comment[0]) {
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud)
			goto err;
		if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment) ||
		    nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
					 nftnl_udata_buf_len(ud)) < 0) {
			nftnl_udata_buf_free(ud);
			goto err;
		}
		nftnl_udata_buf_free(ud);
	}
	return t;
err:
	nftnl_table_free(t);
	return NULL;
}

static struct nftnl_flowtable *
flowtable_build(const char *table, const char (*devs)[CONFIG_IFNAMSIZ], size_t n, uint32_t flags)
{
	const char *names[CONFIG_MAX_LIST + 1];
	struct nftnl_flowtable *ft;
	size_t i;

	if (n > CONFIG_MAX_LIST)
		return NULL;
	ft = nftnl_flowtable_alloc();
	if (!ft)
		return NULL;
	for (i = 0; i < n; i++)
		names[i] = devs[i];
	names[n] = NULL;
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FAMILY, NFPROTO_INET);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_s32(ft, NFTNL_FLOWTABLE_PRIO, FLOWTABLE_PRIO);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FLAGS, flags);
	if (nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_TABLE, table) < 0 ||
	    nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_NAME, NFT_FLOWTABLE) < 0 ||
	    nftnl_flowtable_set_array(ft, NFTNL_FLOWTABLE_DEVICES, names) < 0) {
		nftnl_flowtable_free(ft);
		return NULL;
	}
	return ft;
}

static struct nftnl_chain *chain_build(const char *table, const char *name, uint32_t hook,
				       int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return NULL;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter") < 0) {
		nftnl_chain_free(c);
		return NULL;
	}
	return c;
}

/* The rule owns each expression as soon as it is made, so a failure half
 * way through frees everything with the rule. */
static struct nftnl_expr *expr_new(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e;

	e = nftnl_expr_alloc(name);
	if (e)
		nftnl_rule_add_expr(r, e);
	return e;
}

static struct nftnl_expr *expr_ct_new(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new(r, "ct");

	if (!e)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	return e;
}

static bool expr_ct(struct nftnl_rule *r, uint32_t key)
{
	return expr_ct_new(r, key) != NULL;
}

/* A key of one direction's tuple: `ct original ...`, `ct reply ...`. */
static bool expr_ct_dir(struct nftnl_rule *r, uint32_t key, uint8_t dir)
{
	struct nftnl_expr *e = expr_ct_new(r, key);

	if (!e)
		return false;
	nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, dir);
	return true;
}

static bool expr_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new(r, "meta");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return true;
}

static bool expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new(r, "cmp");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	return nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) == 0;
}

/* reg1 = reg1 & mask: nft's encoding of `x & mask`. */
static bool expr_and(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	static const uint8_t zero[4];
	struct nftnl_expr *e = expr_new(r, "bitwise");

	if (!e || len > sizeof(zero))
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	return nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) == 0 &&
	       nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len) == 0;
}

/* `ct mark set (ct mark & keep) ^ value`: load the mark, one bitwise, store
 * it back.  nft's `ct mark | bits` is keep = ~bits, value = bits. */
static bool expr_mark_update(struct nftnl_rule *r, uint32_t keep, uint32_t value)
{
	struct nftnl_expr *e;

	if (!expr_ct(r, NFT_CT_MARK))
		return false;
	e = expr_new(r, "bitwise");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	if (nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &keep, sizeof(keep)) ||
	    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &value, sizeof(value)))
		return false;
	e = expr_new(r, "ct");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	return true;
}

/* `ct mark set ct mark | bits`. */
static bool expr_mark_or(struct nftnl_rule *r, uint32_t bits)
{
	return expr_mark_update(r, ~bits, bits);
}

/* `ct packets >= N`, `ct avgpkt >= A`: the counter is a host-order u64,
 * and cmp compares bytes (memcmp), so nft turns it big-endian first; so do
 * we, which also makes `nft list` print the same rule. */
static bool expr_ct_u64(struct nftnl_rule *r, uint32_t key, uint32_t op, uint64_t n)
{
	uint64_t be = htobe64(n);
	struct nftnl_expr *e;

	if (!expr_ct(r, key))
		return false;
	e = expr_new(r, "byteorder");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, sizeof(be));
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, sizeof(be));
	return expr_cmp(r, op, &be, sizeof(be));
}

/* `ct event set MASK`: the conntrack's event mask (IPCT_* bits). */
static bool expr_ct_event_set(struct nftnl_rule *r, uint32_t mask)
{
	struct nftnl_expr *e = expr_new(r, "immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	if (nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &mask, sizeof(mask)))
		return false;
	e = expr_new(r, "ct");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_EVENTMASK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	return true;
}

/* `ct status & confirmed == 0`: the conntrack's first packet. */
static bool expr_ct_unconfirmed(struct nftnl_rule *r)
{
	uint32_t bit = IPS_CONFIRMED, zero = 0;

	return expr_ct(r, NFT_CT_STATUS) && expr_and(r, &bit, sizeof(bit)) &&
	       expr_cmp(r, NFT_CMP_EQ, &zero, sizeof(zero));
}

static bool expr_tcp_flags_ack_only(struct nftnl_rule *r)
{
	static const uint8_t mask = TCPF_FIN | TCPF_SYN | TCPF_RST | TCPF_ACK;
	static const uint8_t ack = TCPF_ACK;
	struct nftnl_expr *e = expr_new(r, "payload");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 13);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return expr_and(r, &mask, 1) && expr_cmp(r, NFT_CMP_EQ, &ack, 1);
}

/* `@set`: the set by name and by its id in this batch, as nft sends it. */
static bool expr_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = expr_new(r, "lookup");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	return nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) == 0;
}

/* `return`: the packet leaves our chain as with its policy accept; the
 * user's own chains still decide its fate. */
static bool expr_return(struct nftnl_rule *r)
{
	struct nftnl_expr *e = expr_new(r, "immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_RETURN);
	return true;
}

static bool expr_l4proto(struct nftnl_rule *r, uint8_t proto)
{
	return expr_meta(r, NFT_META_L4PROTO) && expr_cmp(r, NFT_CMP_EQ, &proto, 1);
}

/* `ct status & seen-reply == seen-reply`; the status is host order. */
static bool expr_ct_seen_reply(struct nftnl_rule *r)
{
	uint32_t bit = IPS_SEEN_REPLY;

	return expr_ct(r, NFT_CT_STATUS) && expr_and(r, &bit, sizeof(bit)) &&
	       expr_cmp(r, NFT_CMP_EQ, &bit, sizeof(bit));
}

static bool rule_comment(struct nftnl_rule *r, const char *comment)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	bool ok;

	if (!ud)
		return false;
	ok = nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment) &&
	     nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				 nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	return ok;
}

static struct nftnl_rule *rule_new_in(const char *table, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

static struct nftnl_rule *rule_new(const char *table)
{
	return rule_new_in(table, NFT_CHAIN);
}

/* The rule, or NULL (and the rule freed) when any step failed. */
static struct nftnl_rule *rule_finish(struct nftnl_rule *r, bool ok, const char *comment)
{
	if (ok && rule_comment(r, comment))
		return r;
	nftnl_rule_free(r);
	return NULL;
}

/* events = window: every new conntrack starts with an empty event mask. */
static struct nftnl_rule *quiet_rule_build(const struct tier *t)
{
	struct nftnl_rule *r = rule_new_in(t->table, NFT_EVENTS_CHAIN);
	bool ok;

	if (!r)
		return NULL;
	ok = expr_ct_unconfirmed(r) && expr_ct_event_set(r, 0) && expr_new(r, "counter");
	return rule_finish(r, ok, "events-quiet");
}

enum rule_kind { RULE_OFFLOAD, RULE_SMALL, RULE_READMIT, RULE_HW_RETURN };

/* The offload rule of the tier (RULE_SMALL: the small-packet one), or the
 * software tier's rule that takes back flows it offloaded before (see
 * render_readmit_rule). */
static struct nftnl_rule *rule_build(const struct fo_config *cfg, const struct tier *t,
				     uint8_t proto, enum rule_kind kind)
{
	static const char *const comments[][2] = {
		[RULE_OFFLOAD] = { "offload-tcp", "offload-udp" },
		[RULE_SMALL] = { "offload-small-tcp", "offload-small-udp" },
		[RULE_READMIT] = { "readmit-tcp", "readmit-udp" },
		[RULE_HW_RETURN] = { "hw-return-tcp", "hw-return-udp" },
	};
	uint32_t mask = t->mark_and, mark = t->mark_eq, from = cfg->window_from;
	uint32_t sw = config_mark_value(cfg, ADMIT_SW);
	bool readmit = kind == RULE_READMIT, hw_return = kind == RULE_HW_RETURN;
	struct nftnl_expr *e;
	struct nftnl_rule *r;
	bool ok;

	if (readmit) {
		mask = cfg->mark_mask;
		mark = sw;
	} else if (hw_return) {
		mask = cfg->mark_mask;
		mark = config_mark_value(cfg, ADMIT_HW);
	}
	if (kind == RULE_SMALL)
		from = small_from(cfg);
	r = rule_new(t->table);
	if (!r)
		return NULL;
	/* The conntrack mark is a host-order u32 in the register. */
	ok = expr_ct(r, NFT_CT_MARK) && expr_and(r, &mask, sizeof(mask)) &&
	     expr_cmp(r, NFT_CMP_EQ, &mark, sizeof(mark));
	if (hw_return)
		ok = ok && expr_ct_u64(r, NFT_CT_PKTS, NFT_CMP_GT, cfg->window_until);
	else
		ok = ok && expr_ct_u64(r, NFT_CT_PKTS, NFT_CMP_GTE, from);
	if (!readmit && !hw_return)
		ok = ok && expr_ct_u64(r, NFT_CT_PKTS, NFT_CMP_LTE, cfg->window_until);
	if (kind == RULE_OFFLOAD && cfg->min_avgpkt)
		ok = ok && expr_ct_u64(r, NFT_CT_AVGPKT, NFT_CMP_GTE, cfg->min_avgpkt);
	ok = ok && expr_l4proto(r, proto);
	if (ok && proto == IPPROTO_TCP && cfg->tcp_ack_only)
		ok = expr_tcp_flags_ack_only(r);
	if (ok && proto == IPPROTO_UDP && cfg->udp_require_reply)
		ok = expr_ct_seen_reply(r);
	ok = ok && expr_new(r, "counter");
	if (ok && events_quiet(cfg, t) && kind != RULE_READMIT && !hw_return)
		ok = expr_ct_event_set(r, WINDOW_EVENTS);
	if (ok && !t->hw && (kind == RULE_OFFLOAD || kind == RULE_SMALL))
		ok = expr_mark_or(r, sw);
	if (ok && hw_return)
		ok = expr_mark_update(r, ~cfg->mark_mask, sw);
	if (ok) {
		e = expr_new(r, "flow_offload");
		ok = e && nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, NFT_FLOWTABLE) == 0;
	}
	return rule_finish(r, ok, comments[kind][proto == IPPROTO_UDP]);
}

/* `meta l4proto P ct original proto-dst @skip_ports counter return`, or
 * with proto 0 `ct DIR ip[6] ADDR @skipN counter return`. */
static struct nftnl_rule *skip_rule_build(const struct tier *t, uint8_t proto, uint32_t key,
					  uint8_t dir, const char *set, uint32_t set_id)
{
	struct nftnl_rule *r = rule_new(t->table);
	bool ok;

	if (!r)
		return NULL;
	ok = !proto || expr_l4proto(r, proto);
	ok = ok && expr_ct_dir(r, key, dir) && expr_lookup(r, set, set_id) &&
	     expr_new(r, "counter") && expr_return(r);
	return rule_finish(r, ok, proto ? "skip-port" : "skip-prefix");
}

static struct nftnl_set *set_build(const char *table, const struct skip_set *s, uint32_t id)
{
	struct nftnl_set *set = nftnl_set_alloc();
	struct nftnl_udata_buf *ud;
	bool ok;

	if (!set)
		return NULL;
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(set, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, s->key_type);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, s->key_len);
	nftnl_set_set_u32(set, NFTNL_SET_ID, id);
	/* The key's byte order, which nft keeps in the set's user data for
	 * its own listing: the same bytes as nft sends. */
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	ok = ud && nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG_ENDIAN) &&
	     nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	if (!ok || nftnl_set_set_str(set, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(set, NFTNL_SET_NAME, s->name) < 0) {
		nftnl_set_free(set);
		return NULL;
	}
	return set;
}

/* One element of an interval set; the set owns it at once. */
static bool set_elem_add(struct nftnl_set *set, const uint8_t *key, uint32_t len, bool end,
			 bool to_max)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nftnl_udata_buf *ud;
	bool ok;

	if (!e)
		return false;
	nftnl_set_elem_add(set, e);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len) < 0)
		return false;
	if (!to_max)
		return true;
	/* Only for nft: an interval running to the largest key has no end
	 * element, and this flag tells `nft list` it is not a lone key. */
	ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	ok = ud && nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
				       NFTNL_SET_ELEM_F_INTERVAL_OPEN) &&
	     nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
				nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	return ok;
}

/* The kernel's interval sets hold starts and ends (end = last + 1, flagged
 * INTERVAL_END); nft also opens with an end at key 0 unless the first
 * interval starts there, and gives an interval running to the largest key
 * no end.  The same elements as nft keeps render == install true to the
 * byte (`nft --debug=netlink list` shows them). */
static bool set_elems_build(struct nftnl_set *set, const struct skip_set *s)
{
	uint8_t end[KEY_MAX];
	bool to_max;
	size_t i;

	if (s->n && !key_is_zero(s->iv[0].lo, s->key_len)) {
		memset(end, 0, sizeof(end));
		if (!set_elem_add(set, end, s->key_len, true, false))
			return false;
	}
	for (i = 0; i < s->n; i++) {
		memcpy(end, s->iv[i].hi, s->key_len);
		to_max = !key_inc(end, s->key_len);
		if (!set_elem_add(set, s->iv[i].lo, s->key_len, false, to_max) ||
		    (!to_max && !set_elem_add(set, end, s->key_len, true, false)))
			return false;
	}
	return true;
}

/* ---- batches ---------------------------------------------------------- */

static int batch_init(struct nft_ruleset *r, struct batch *b)
{
	memset(b, 0, sizeof(*b));
	/* mnl_nlmsg_batch needs room for one message beyond its limit.
	 * Zeroed: libmnl leaves attribute padding as it finds it, and the
	 * batch is compared byte for byte (golden files, fingerprint). */
	b->buf = calloc(1, BATCH_LIMIT + BATCH_MSG_MAX);
	if (!b->buf)
		return -ENOMEM;
	b->b = mnl_nlmsg_batch_start(b->buf, BATCH_LIMIT);
	if (!b->b) {
		free(b->buf);
		return -ENOMEM;
	}
	b->begin_seq = r->seq++;
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->b), b->begin_seq);
	mnl_nlmsg_batch_next(b->b);
	return 0;
}

static void batch_free(struct batch *b)
{
	if (b->b)
		mnl_nlmsg_batch_stop(b->b);
	free(b->buf);
	b->b = NULL;
	b->buf = NULL;
}

/* Starts the next message; the caller fills the payload and calls
 * batch_commit_msg. */
static struct nlmsghdr *batch_msg(struct nft_ruleset *r, struct batch *b, uint16_t type,
				  uint16_t flags, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static struct nlmsghdr *batch_msg(struct nft_ruleset *r, struct batch *b, uint16_t type,
				  uint16_t flags, const char *fmt, ...)
{
	struct batch_msg *m;
	struct nlmsghdr *nlh;
	va_list ap;

	if (b->n == BATCH_MAX_MSGS)
		return NULL;
	m = &b->msgs[b->n];
	m->seq = r->seq++;
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), type, NFPROTO_INET,
				    flags | NLM_F_ACK, m->seq);
	m->nlh = nlh;
	return nlh;
}

static int batch_commit_msg(struct batch *b)
{
	/* false: the message would pass the limit and is left out; a batch
	 * is all or nothing, so the whole operation fails. */
	if (!mnl_nlmsg_batch_next(b->b))
		return -EMSGSIZE;
	b->n++;
	return 0;
}

static int batch_table(struct nft_ruleset *r, struct batch *b, uint16_t type, const char *table,
		       const char *comment, const char *verb)
{
	struct nftnl_table *t = table_build(table, comment);
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nlh = batch_msg(r, b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, "%stable inet %s",
			verb, table);
	if (!nlh) {
		nftnl_table_free(t);
		return -EMSGSIZE;
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return batch_commit_msg(b);
}

/* `table x; delete table x`: creating first makes the delete succeed
 * whether or not the table existed, in the same transaction. */
static int batch_table_drop(struct nft_ruleset *r, struct batch *b, const char *table)
{
	int ret = batch_table(r, b, NFT_MSG_NEWTABLE, table, NULL, "");

	return ret ? ret : batch_table(r, b, NFT_MSG_DELTABLE, table, NULL, "delete ");
}

static int batch_flowtable(struct nft_ruleset *r, struct batch *b, const char *table,
			   const char (*devs)[CONFIG_IFNAMSIZ], size_t n, uint32_t flags)
{
	struct nftnl_flowtable *ft = flowtable_build(table, devs, n, flags);
	struct nlmsghdr *nlh;

	if (!ft)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWFLOWTABLE, NLM_F_CREATE,
			"flowtable inet %s " NFT_FLOWTABLE, table);
	if (!nlh) {
		nftnl_flowtable_free(ft);
		return -EMSGSIZE;
	}
	nftnl_flowtable_nlmsg_build_payload(nlh, ft);
	nftnl_flowtable_free(ft);
	return batch_commit_msg(b);
}

static int batch_chain(struct nft_ruleset *r, struct batch *b, const char *table,
		       const char *name, uint32_t hook, int32_t prio)
{
	struct nftnl_chain *c = chain_build(table, name, hook, prio);
	struct nlmsghdr *nlh;

	if (!c)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain inet %s %s", table, name);
	if (!nlh) {
		nftnl_chain_free(c);
		return -EMSGSIZE;
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return batch_commit_msg(b);
}

/* Takes the rule (NULL: building it failed) and frees it. */
static int batch_rule(struct nft_ruleset *r, struct batch *b, struct nftnl_rule *rule,
		      const char *table, const char *comment)
{
	struct nlmsghdr *nlh;

	if (!rule)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "rule inet %s %s (%s)",
			table, nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN), comment);
	if (!nlh) {
		nftnl_rule_free(rule);
		return -EMSGSIZE;
	}
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	nftnl_rule_free(rule);
	return batch_commit_msg(b);
}

/* The set and, in a second message, its elements. */
static int batch_set(struct nft_ruleset *r, struct batch *b, const char *table,
		     const struct skip_set *s, uint32_t id)
{
	struct nftnl_set *set = set_build(table, s, id);
	struct nlmsghdr *nlh;
	int ret = -EMSGSIZE;

	if (!set)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWSET, NLM_F_CREATE, "set inet %s %s", table, s->name);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, set);
	ret = batch_commit_msg(b);
	if (ret)
		goto out;
	ret = -ENOMEM;
	if (!set_elems_build(set, s))
		goto out;
	ret = -EMSGSIZE;
	nlh = batch_msg(r, b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "elements of set inet %s %s",
			table, s->name);
	if (!nlh)
		goto out;
	nftnl_set_elems_nlmsg_build_payload(nlh, set);
	ret = batch_commit_msg(b);
out:
	nftnl_set_free(set);
	return ret;
}

static int batch_skip(struct nft_ruleset *r, struct batch *b, const struct fo_config *cfg,
		      const struct tier *t)
{
	struct skip_set sets[SKIP_KINDS];
	uint32_t ids[SKIP_KINDS] = { 0 };
	size_t i;
	int k, ret = 0;

	skip_sets_build(cfg, sets);
	for (k = 0; k < SKIP_KINDS && !ret; k++) {
		if (!sets[k].n)
			continue;
		ids[k] = ++b->set_id;
		ret = batch_set(r, b, t->table, &sets[k], ids[k]);
	}
	if (!ret && sets[SKIP_PORTS].n && cfg->proto_tcp)
		ret = batch_rule(r, b,
				 skip_rule_build(t, IPPROTO_TCP, NFT_CT_PROTO_DST, IP_CT_DIR_ORIGINAL,
						 sets[SKIP_PORTS].name, ids[SKIP_PORTS]),
				 t->table, "skip-port");
	if (!ret && sets[SKIP_PORTS].n && cfg->proto_udp)
		ret = batch_rule(r, b,
				 skip_rule_build(t, IPPROTO_UDP, NFT_CT_PROTO_DST, IP_CT_DIR_ORIGINAL,
						 sets[SKIP_PORTS].name, ids[SKIP_PORTS]),
				 t->table, "skip-port");
	for (k = SKIP_4; k <= SKIP_6 && !ret; k++) {
		if (!sets[k].n)
			continue;
		for (i = 0; i < sizeof(prefix_rules) / sizeof(prefix_rules[0]) && !ret; i++)
			ret = batch_rule(r, b,
					 skip_rule_build(t, 0,
							 k == SKIP_4 ? prefix_rules[i].key4
								     : prefix_rules[i].key6,
							 prefix_rules[i].dir, sets[k].name, ids[k]),
					 t->table, "skip-prefix");
	}
	return ret;
}

static int batch_tier(struct nft_ruleset *r, struct batch *b, const struct fo_config *cfg,
		      const struct tier *t)
{
	uint32_t flags = NFT_FLOWTABLE_COUNTER | (t->hw ? NFT_FLOWTABLE_HW_OFFLOAD : 0);
	int ret;

	ret = batch_table_drop(r, b, t->table);
	if (!ret)
		ret = batch_table(r, b, NFT_MSG_NEWTABLE, t->table, t->comment, "");
	if (!ret)
		ret = batch_flowtable(r, b, t->table, t->devs, t->n_devs, flags);
	if (!ret)
		ret = batch_chain(r, b, t->table, NFT_CHAIN, NF_INET_FORWARD, CHAIN_PRIO);
	if (!ret && events_quiet(cfg, t))
		ret = batch_chain(r, b, t->table, NFT_EVENTS_CHAIN, NF_INET_PRE_ROUTING,
				  EVENTS_CHAIN_PRIO);
	/* Sets and the rules that look them up before the offload rules: a
	 * skipped flow must return before any flow add sees it. */
	if (!ret)
		ret = batch_skip(r, b, cfg, t);
	if (!ret && cfg->proto_tcp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_TCP, RULE_OFFLOAD), t->table,
				 "offload-tcp");
	if (!ret && cfg->proto_udp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_UDP, RULE_OFFLOAD), t->table,
				 "offload-udp");
	if (!ret && small_rules(cfg) && cfg->proto_tcp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_TCP, RULE_SMALL), t->table,
				 "offload-small-tcp");
	if (!ret && small_rules(cfg) && cfg->proto_udp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_UDP, RULE_SMALL), t->table,
				 "offload-small-udp");
	if (!ret && !t->hw && cfg->proto_tcp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_TCP, RULE_READMIT), t->table,
				 "readmit-tcp");
	if (!ret && !t->hw && cfg->proto_udp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_UDP, RULE_READMIT), t->table,
				 "readmit-udp");
	if (!ret && !t->hw && cfg->proto_tcp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_TCP, RULE_HW_RETURN), t->table,
				 "hw-return-tcp");
	if (!ret && !t->hw && cfg->proto_udp)
		ret = batch_rule(r, b, rule_build(cfg, t, IPPROTO_UDP, RULE_HW_RETURN), t->table,
				 "hw-return-udp");
	if (!ret && events_quiet(cfg, t))
		ret = batch_rule(r, b, quiet_rule_build(t), t->table, "events-quiet");
	return ret;
}

/* ---- talking to the kernel ---------------------------------------------- */

/* Throws away replies of an earlier request that timed out, so they are
 * never mistaken for answers to this one (sequence numbers also differ). */
static void sock_drain(struct nft_ruleset *r)
{
	char buf[RECV_BUF_SIZE];

	while (mnl_socket_recvfrom(r->nl, buf, sizeof(buf)) > 0)
		;
}

static int sock_wait(struct nft_ruleset *r, struct timespec *deadline)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(r->nl), .events = POLLIN };
	struct timespec now;
	long ms;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return -ETIMEDOUT;
	ret = poll(&p, 1, (int)ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	return ret == 0 ? -ETIMEDOUT : 0;
}

static int extack_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	if (type == NLMSGERR_ATTR_OFFS && mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	if (type <= NLMSGERR_ATTR_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

/* The attribute the kernel blamed, if it is a string in our message: for a
 * missing device that is the device's name. */
static const char *blamed_string(const struct nlmsghdr *sent, uint32_t offs)
{
	const struct nlattr *a;
	const char *s;
	size_t len, i;

	if (!sent || offs < sizeof(*sent) || offs + sizeof(*a) > sent->nlmsg_len)
		return NULL;
	a = (const struct nlattr *)((const char *)sent + offs);
	if (a->nla_len <= sizeof(*a) || offs + a->nla_len > sent->nlmsg_len)
		return NULL;
	s = (const char *)a + sizeof(*a);
	len = a->nla_len - sizeof(*a);
	if (s[len - 1] != '\0' || len == 1)
		return NULL;
	for (i = 0; i + 1 < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return NULL;
	return s;
}

/* 6.1 blames no attribute when a flowtable's device does not exist; the
 * name is what the operator needs, so find it the way the kernel did (we
 * are in the same network namespace). */
static const char *missing_device(const struct nlmsghdr *sent)
{
	const struct nlattr *a, *h, *d;

	if (!sent || (sent->nlmsg_type & 0xff) != NFT_MSG_NEWFLOWTABLE)
		return NULL;
	mnl_attr_for_each (a, sent, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_FLOWTABLE_HOOK)
			continue;
		mnl_attr_for_each_nested (h, a) {
			if (mnl_attr_get_type(h) != NFTA_FLOWTABLE_HOOK_DEVS)
				continue;
			mnl_attr_for_each_nested (d, h) {
				if (mnl_attr_get_type(d) == NFTA_DEVICE_NAME &&
				    mnl_attr_validate(d, MNL_TYPE_NUL_STRING) == 0 &&
				    !if_nametoindex(mnl_attr_get_str(d)))
					return mnl_attr_get_str(d);
			}
		}
	}
	return NULL;
}

/* "OBJECT: strerror (kernel: MSG) at "ATTR"" */
static void ack_describe(const struct nlmsghdr *ack, const char *what, const struct nlmsghdr *sent,
			 char *out, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(ack);
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { NULL };
	const char *blamed = NULL, *missing = NULL;
	size_t off = sizeof(*e);

	if (ack->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (!(ack->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (mnl_nlmsg_get_payload_len(ack) >= off)
			mnl_attr_parse(ack, (unsigned int)off, extack_cb, tb);
	}
	if (tb[NLMSGERR_ATTR_OFFS])
		blamed = blamed_string(sent, mnl_attr_get_u32(tb[NLMSGERR_ATTR_OFFS]));
	if (!blamed && e->error == -ENOENT)
		missing = missing_device(sent);
	snprintf(out, len, "%s: %s%s%s%s%s%s%s%s%s%s", what, strerror(-e->error),
		 tb[NLMSGERR_ATTR_MSG] ? " (kernel: " : "",
		 tb[NLMSGERR_ATTR_MSG] ? mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]) : "",
		 tb[NLMSGERR_ATTR_MSG] ? ")" : "", blamed ? " at \"" : "", blamed ? blamed : "",
		 blamed ? "\"" : "", missing ? " (no device \"" : "", missing ? missing : "",
		 missing ? "\")" : "");
}

/* Reads replies until every message of the batch has its ACK (the kernel
 * sends them all once the whole batch is processed), or the kernel refused
 * the batch as a whole.  The first failing message decides the result. */
static int batch_replies(struct nft_ruleset *r, struct batch *b, char *err, size_t errlen)
{
	char buf[RECV_BUF_SIZE];
	size_t pending = b->n, failed = 0;
	uint32_t first_seq = UINT32_MAX;
	struct timespec deadline;
	int first_err = 0, ret;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += REPLY_TIMEOUT_MS / 1000;
	while (pending) {
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				ret = -errno;
				snprintf(err, errlen, "reading the kernel's replies: %s",
					 strerror(errno));
				return ret;
			}
			ret = sock_wait(r, &deadline);
			if (ret) {
				snprintf(err, errlen,
					 "no reply from nftables for %zu of %zu messages: %s",
					 pending, b->n, strerror(-ret));
				return ret;
			}
			continue;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			struct batch_msg *m = NULL;
			size_t i;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_seq == b->begin_seq && e->error) {
				/* Refused as a whole (no permission, no
				 * nf_tables): no other reply follows. */
				ack_describe(nlh, "nftables batch", NULL, err, errlen);
				return e->error;
			}
			for (i = 0; i < b->n; i++)
				if (b->msgs[i].seq == nlh->nlmsg_seq)
					m = &b->msgs[i];
			if (!m || m->acked)
				continue;
			m->acked = true;
			pending--;
			if (!e->error)
				continue;
			failed++;
			if (m->seq < first_seq) {
				first_seq = m->seq;
				first_err = e->error;
				ack_describe(nlh, m->what, m->nlh, err, errlen);
			}
		}
	}
	/* Later messages often fail only because of the first one (a rule
	 * whose flowtable was refused); say so without listing them. */
	if (failed > 1) {
		size_t used = strlen(err);

		if (used < errlen)
			snprintf(err + used, errlen - used, " (and %zu later messages failed)",
				 failed - 1);
	}
	return first_err;
}

/* commit false leaves out the batch end: the kernel processes and answers
 * every message, then aborts the transaction (how `nft --check` works). */
static int batch_send(struct nft_ruleset *r, struct batch *b, bool commit, char *err, size_t errlen)
{
	ssize_t n;

	if (commit) {
		nftnl_batch_end(mnl_nlmsg_batch_current(b->b), r->seq++);
		if (!mnl_nlmsg_batch_next(b->b)) {
			snprintf(err, errlen, "building the nftables batch: %s",
				 strerror(EMSGSIZE));
			return -EMSGSIZE;
		}
	}
	sock_drain(r);
	n = mnl_socket_sendto(r->nl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b));
	if (n < 0) {
		int ret = -errno;

		snprintf(err, errlen, "sending the nftables batch (%zu bytes): %s",
			 mnl_nlmsg_batch_size(b->b), strerror(errno));
		return ret;
	}
	return batch_replies(r, b, err, errlen);
}

/*
 * Send one request and read its answer: messages with the request's
 * sequence number go to msg_cb (if any) until the ACK.  Returns the ACK's
 * error (0, -ENOENT...), or a negative errno when the socket fails or the
 * reply does not come within REPLY_TIMEOUT_MS.
 */
static int request(struct nft_ruleset *r, struct nlmsghdr *nlh, char *buf, size_t buflen,
		   int (*msg_cb)(const struct nlmsghdr *m, void *arg), void *arg)
{
	uint32_t seq = nlh->nlmsg_seq;
	struct timespec deadline;
	ssize_t n;
	int ret;

	sock_drain(r);
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += REPLY_TIMEOUT_MS / 1000;
	for (;;) {
		const struct nlmsghdr *m;
		int rem;

		n = mnl_socket_recvfrom(r->nl, buf, buflen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			ret = sock_wait(r, &deadline);
			if (ret)
				return ret;
			continue;
		}
		rem = (int)n;
		for (m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, rem);
		     m = mnl_nlmsg_next(m, &rem)) {
			if (m->nlmsg_seq != seq)
				continue;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) < sizeof(*e))
					return -EBADMSG;
				return e->error;
			}
			if (msg_cb) {
				ret = msg_cb(m, arg);
				if (ret)
					return ret;
			}
		}
	}
}

/* One request, one answer: 1 the object exists, 0 it does not. */
static int nft_exists(struct nft_ruleset *r, uint16_t type, const char *table, const char *name)
{
	char buf[RECV_BUF_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_ACK, r->seq++);
	switch (type) {
	case NFT_MSG_GETTABLE:
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
		break;
	case NFT_MSG_GETFLOWTABLE:
		mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_NAME, name);
		break;
	case NFT_MSG_GETCHAIN:
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
		break;
	default:
		return -EINVAL;
	}
	/* The object itself comes first, then the ACK. */
	ret = request(r, nlh, buf, sizeof(buf), NULL, NULL);
	if (ret == -ENOENT)
		return 0;
	return ret ? ret : 1;
}

static int table_exists(struct nft_ruleset *r, const char *table, char *err, size_t errlen)
{
	int ret = nft_exists(r, NFT_MSG_GETTABLE, table, NULL);

	if (ret < 0)
		snprintf(err, errlen, "table inet %s: cannot ask whether it exists: %s", table,
			 strerror(-ret));
	return ret;
}

/* ---- public ----------------------------------------------------------- */

static void dump_msg(FILE *f, const char *what, const struct nlmsghdr *nlh)
{
	const uint8_t *p = (const uint8_t *)nlh;
	uint32_t i;

	fprintf(f, "# %s\n", what);
	for (i = 0; i < nlh->nlmsg_len; i++)
		fprintf(f, "%s%02x%s", i % 16 ? "" : "\t", p[i],
			i % 16 == 15 || i + 1 == nlh->nlmsg_len ? "\n" : i % 4 == 3 ? " " : "");
}

static void dump_batch(FILE *f, const struct batch *b)
{
	const struct nlmsghdr *nlh = mnl_nlmsg_batch_head(b->b);
	int len = (int)mnl_nlmsg_batch_size(b->b);
	size_t i = 0;

	dump_msg(f, "batch begin", nlh);
	for (nlh = mnl_nlmsg_next(nlh, &len); mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len))
		dump_msg(f, i < b->n ? b->msgs[i++].what : "batch end", nlh);
}

int nft_ruleset_dump_batch(const struct fo_config *cfg, const struct ruleset_plan *plan,
			   char **out)
{
	struct nft_ruleset fake = { .seq = 0 };
	struct tier t[2];
	struct batch b;
	size_t n, i, len;
	FILE *f;
	int ret;

	ret = plan_check(cfg, plan);
	if (ret)
		return ret;
	ret = batch_init(&fake, &b);
	if (ret)
		return ret;
	n = plan_tiers(cfg, plan, t);
	if (!n)
		ret = -ENOMEM;
	for (i = 0; i < n && !ret; i++)
		ret = batch_tier(&fake, &b, cfg, &t[i]);
	if (!ret) {
		nftnl_batch_end(mnl_nlmsg_batch_current(b.b), fake.seq++);
		if (!mnl_nlmsg_batch_next(b.b))
			ret = -EMSGSIZE;
	}
	*out = NULL;
	f = ret ? NULL : open_memstream(out, &len);
	if (!ret && !f)
		ret = -ENOMEM;
	if (f) {
		dump_batch(f, &b);
		if (ferror(f) | fclose(f)) {
			free(*out);
			*out = NULL;
			ret = -ENOMEM;
		}
	}
	batch_free(&b);
	return ret;
}

int nft_ruleset_open(struct nft_ruleset **out)
{
	struct nft_ruleset *r;
	int one = 1, sndbuf = SNDBUF_SIZE, fd, ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* Non-blocking: replies are awaited with poll and a deadline. */
	r->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!r->nl) {
		ret = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* Errors carry the kernel's message and the blamed attribute, and
	 * not a copy of our whole request. */
	if (mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* A batch is one datagram: it must fit the send buffer whole.  The
	 * kernel caps this at wmem_max, still far above our largest batch. */
	fd = mnl_socket_get_fd(r->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
		ret = -errno;
		goto err_close;
	}
	r->seq = (uint32_t)time(NULL);
	*out = r;
	return 0;

err_close:
	mnl_socket_close(r->nl);
err_free:
	free(r);
	return ret;
}

uint32_t nft_ruleset_portid(const struct nft_ruleset *r)
{
	return mnl_socket_get_portid(r->nl);
}

void nft_ruleset_close(struct nft_ruleset *r)
{
	if (!r)
		return;
	mnl_socket_close(r->nl);
	free(r);
}

int nft_ruleset_install(struct nft_ruleset *r, const struct fo_config *cfg,
			const struct ruleset_plan *plan, char *err, size_t errlen)
{
	struct tier t[2];
	struct batch b;
	size_t n, i;
	int ret, hw_stale = 0;

	err[0] = '\0';
	ret = plan_check(cfg, plan);
	if (ret) {
		snprintf(err, errlen, "invalid ruleset plan or configuration");
		return ret;
	}
	/* A leftover hardware table would keep offloading to the NIC. */
	if (!plan->n_hw) {
		hw_stale = table_exists(r, NFT_TABLE_HW, err, errlen);
		if (hw_stale < 0)
			return hw_stale;
	}
	ret = batch_init(r, &b);
	if (ret) {
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
		return ret;
	}
	n = plan_tiers(cfg, plan, t);
	if (!n)
		ret = -ENOMEM;
	for (i = 0; i < n && !ret; i++)
		ret = batch_tier(r, &b, cfg, &t[i]);
	if (!ret && hw_stale)
		ret = batch_table_drop(r, &b, NFT_TABLE_HW);
	if (ret)
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
	else
		ret = batch_send(r, &b, true, err, errlen);
	batch_free(&b);
	return ret;
}

int nft_ruleset_remove(struct nft_ruleset *r, char *err, size_t errlen)
{
	static const char *const tables[] = { NFT_TABLE_SW, NFT_TABLE_HW };
	bool present[2];
	struct batch b;
	size_t i, n = 0;
	int ret;

	err[0] = '\0';
	for (i = 0; i < 2; i++) {
		ret = table_exists(r, tables[i], err, errlen);
		if (ret < 0)
			return ret;
		present[i] = ret;
		n += ret;
	}
	if (!n)
		return 0;
	ret = batch_init(r, &b);
	if (ret) {
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
		return ret;
	}
	/* Add-then-delete: a table someone removed since we asked does not
	 * fail the batch. */
	for (i = 0; i < 2 && !ret; i++)
		if (present[i])
			ret = batch_table_drop(r, &b, tables[i]);
	if (ret)
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
	else
		ret = batch_send(r, &b, true, err, errlen);
	batch_free(&b);
	return ret;
}

int nft_ruleset_probe_hw(struct nft_ruleset *r, const char *dev, char *err, size_t errlen)
{
	char devs[1][CONFIG_IFNAMSIZ];
	struct batch b;
	int ret;

	err[0] = '\0';
	if (!dev || !dev[0] || strlen(dev) >= CONFIG_IFNAMSIZ)
		return -EINVAL;
	strcpy(devs[0], dev);
	ret = batch_init(r, &b);
	if (!ret)
		ret = batch_table(r, &b, NFT_MSG_NEWTABLE, NFT_TABLE_PROBE, NULL, "");
	if (!ret)
		ret = batch_flowtable(r, &b, NFT_TABLE_PROBE, devs, 1, NFT_FLOWTABLE_HW_OFFLOAD);
	if (ret)
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
	else
		ret = batch_send(r, &b, false, err, errlen);
	batch_free(&b);
	return ret;
}

int nft_ruleset_present(struct nft_ruleset *r, const struct ruleset_plan *plan)
{
	const char *tables[2] = { NFT_TABLE_SW, NFT_TABLE_HW };
	size_t i, n = plan && plan->n_hw ? 2 : 1;
	int ret;

	/* The table alone is not enough: `nft delete chain` or `delete
	 * flowtable` leave it standing but stop the offload. */
	for (i = 0; i < n; i++) {
		ret = nft_exists(r, NFT_MSG_GETTABLE, tables[i], NULL);
		if (ret == 1)
			ret = nft_exists(r, NFT_MSG_GETFLOWTABLE, tables[i], NFT_FLOWTABLE);
		if (ret == 1)
			ret = nft_exists(r, NFT_MSG_GETCHAIN, tables[i], NFT_CHAIN);
		if (ret != 1)
			return ret;
	}
	return 1;
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **out = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
		const char *v = nftnl_udata_get(attr);
		uint8_t len = nftnl_udata_len(attr);

		/* Only a NUL-terminated string inside its TLV counts. */
		if (len && v[len - 1] == '\0')
			*out = v;
	}
	return MNL_CB_OK;
}

struct comment_req {
	char *buf;
	size_t len;
	int found;
};

static int comment_msg_cb(const struct nlmsghdr *m, void *arg)
{
	struct comment_req *req = arg;
	struct nftnl_table *t;
	const char *c = NULL;
	uint32_t ulen = 0;
	const void *ud;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWTABLE)
		return 0;
	t = nftnl_table_alloc();
	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(m, t) == 0) {
		req->found = 1;
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &ulen);
		if (ud && ulen)
			nftnl_udata_parse(ud, ulen, comment_cb, &c);
		if (c)
			snprintf(req->buf, req->len, "%s", c);
	}
	nftnl_table_free(t);
	return 0;
}

/* The table's comment into buf: 1 found (buf may be empty: no comment),
 * 0 no such table, or a negative errno. */
static int table_comment(struct nft_ruleset *r, const char *table, char *buf, size_t len)
{
	struct comment_req req = { .buf = buf, .len = len };
	char rbuf[RECV_BUF_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	buf[0] = '\0';
	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, r->seq++);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
	ret = request(r, nlh, rbuf, sizeof(rbuf), comment_msg_cb, &req);
	if (ret == -ENOENT)
		return 0;
	return ret ? ret : req.found;
}

int nft_ruleset_installed(struct nft_ruleset *r, const struct fo_config *cfg,
			  const struct ruleset_plan *plan)
{
	char comment[64];
	struct tier t[2];
	size_t n, i;
	int ret;

	if (plan_check(cfg, plan))
		return -EINVAL;
	n = plan_tiers(cfg, plan, t);
	if (!n)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ret = table_comment(r, t[i].table, comment, sizeof(comment));
		if (ret <= 0)
			return ret;
		if (strcmp(comment, t[i].comment) != 0)
			return 0;
	}
	ret = nft_ruleset_present(r, plan);
	if (ret != 1)
		return ret;
	/* A hardware table the plan no longer has would keep offloading. */
	if (!plan->n_hw) {
		ret = table_comment(r, NFT_TABLE_HW, comment, sizeof(comment));
		if (ret < 0)
			return ret;
		if (ret)
			return 0;
	}
	return 1;
}
