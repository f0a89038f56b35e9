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
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "config.h"
#include "nft_ruleset.h"

#define NFT_TABLE_PROBE "flowoffload_probe"
/* nft's `priority filter` is 0 at the ingress hook and in inet chains. */
#define FLOWTABLE_PRIO NF_IP_PRI_FILTER
#define CHAIN_PRIO (NF_IP_PRI_FILTER + 10)

/* The largest batch holds 14 messages (two tables of 7) besides begin and
 * end; each stays far below 4 KiB (64 device names are about 1.3 KiB). */
#define BATCH_MAX_MSGS 32
#define BATCH_LIMIT (BATCH_MAX_MSGS * 4096)
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

struct nft_ruleset {
	struct mnl_socket *nl;
	uint32_t seq;
};

/* One table of the ruleset: the software or the hardware tier. */
struct tier {
	const char *table;
	const char (*devs)[CONFIG_IFNAMSIZ];
	size_t n_devs;
	bool hw;
	uint32_t mark;
	char comment[40];	/* "flowoffload <fingerprint>" */
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

static int plan_check(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	if (!cfg || !plan)
		return -EINVAL;
	if (!cfg->mark_mask || (!cfg->proto_tcp && !cfg->proto_udp) ||
	    cfg->window_from > cfg->window_until)
		return -EINVAL;
	if (plan->n_sw == 0 || !devs_valid(plan->sw_devs, plan->n_sw) ||
	    !devs_valid(plan->hw_devs, plan->n_hw))
		return -EINVAL;
	/* A mask too narrow for the value gives mark 0: the rule would match
	 * every flow the agent never admitted. */
	if (!config_mark_value(cfg, ADMIT_SW) || (plan->n_hw && !config_mark_value(cfg, ADMIT_HW)))
		return -EINVAL;
	return 0;
}

static int tier_fingerprint(const struct fo_config *cfg, struct tier *t);

static size_t plan_tiers(const struct fo_config *cfg, const struct ruleset_plan *plan,
			 struct tier t[2])
{
	size_t n = 1, i;

	t[0] = (struct tier){ NFT_TABLE_SW, plan->sw_devs, plan->n_sw, false,
			      config_mark_value(cfg, ADMIT_SW), "" };
	if (plan->n_hw) {
		t[1] = (struct tier){ NFT_TABLE_HW, plan->hw_devs, plan->n_hw, true,
				      config_mark_value(cfg, ADMIT_HW), "" };
		n = 2;
	}
	for (i = 0; i < n; i++)
		if (tier_fingerprint(cfg, &t[i]))
			return 0;
	return n;
}

/* ---- rendering ------------------------------------------------------- */

static void render_rule(FILE *f, const struct fo_config *cfg, const struct tier *t, int proto)
{
	fprintf(f, "\t\tct mark & 0x%08x == 0x%08x ct packets >= %u ct packets <= %u",
		cfg->mark_mask, t->mark, cfg->window_from, cfg->window_until);
	if (proto == IPPROTO_TCP) {
		fputs(" meta l4proto tcp", f);
		if (cfg->tcp_ack_only)
			fputs(" tcp flags & (fin | syn | rst | ack) == ack", f);
		fputs(" counter flow add @" NFT_FLOWTABLE " comment \"offload-tcp\"\n", f);
	} else {
		fputs(" meta l4proto udp counter flow add @" NFT_FLOWTABLE
		      " comment \"offload-udp\"\n",
		      f);
	}
}

static void render_body(FILE *f, const struct fo_config *cfg, const struct tier *t)
{
	size_t i;

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
	if (cfg->proto_tcp)
		render_rule(f, cfg, t, IPPROTO_TCP);
	if (cfg->proto_udp)
		render_rule(f, cfg, t, IPPROTO_UDP);
	fputs("\t}\n", f);
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

static struct nftnl_chain *chain_build(const char *table)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return NULL;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_FORWARD);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, CHAIN_PRIO);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, NFT_CHAIN) < 0 ||
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

static bool expr_ct(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new(r, "ct");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
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

/* `ct packets >= N`: the counter is a host-order u64, and cmp compares
 * bytes (memcmp), so nft turns it big-endian first; so do we, which also
 * makes `nft list` print the same rule. */
static bool expr_ct_packets(struct nftnl_rule *r, uint32_t op, uint64_t n)
{
	uint64_t be = htobe64(n);
	struct nftnl_expr *e;

	if (!expr_ct(r, NFT_CT_PKTS))
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

static struct nftnl_rule *rule_build(const struct fo_config *cfg, const struct tier *t,
				     uint8_t proto)
{
	const char *comment = proto == IPPROTO_TCP ? "offload-tcp" : "offload-udp";
	uint32_t mask = cfg->mark_mask, mark = t->mark;
	struct nftnl_expr *e;
	struct nftnl_rule *r;
	bool ok;

	r = nftnl_rule_alloc();
	if (!r)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	ok = nftnl_rule_set_str(r, NFTNL_RULE_TABLE, t->table) == 0 &&
	     nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, NFT_CHAIN) == 0;

	/* The conntrack mark is a host-order u32 in the register. */
	ok = ok && expr_ct(r, NFT_CT_MARK) && expr_and(r, &mask, sizeof(mask)) &&
	     expr_cmp(r, NFT_CMP_EQ, &mark, sizeof(mark));
	ok = ok && expr_ct_packets(r, NFT_CMP_GTE, cfg->window_from) &&
	     expr_ct_packets(r, NFT_CMP_LTE, cfg->window_until);
	ok = ok && expr_meta(r, NFT_META_L4PROTO) && expr_cmp(r, NFT_CMP_EQ, &proto, 1);
	if (ok && proto == IPPROTO_TCP && cfg->tcp_ack_only)
		ok = expr_tcp_flags_ack_only(r);
	ok = ok && expr_new(r, "counter");
	if (ok) {
		e = expr_new(r, "flow_offload");
		ok = e && nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, NFT_FLOWTABLE) == 0;
	}
	ok = ok && rule_comment(r, comment);
	if (!ok) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

/* ---- batches ---------------------------------------------------------- */

static int batch_init(struct nft_ruleset *r, struct batch *b)
{
	memset(b, 0, sizeof(*b));
	/* mnl_nlmsg_batch needs room for one message beyond its limit. */
	b->buf = malloc(BATCH_LIMIT + MNL_SOCKET_BUFFER_SIZE);
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

static int batch_chain(struct nft_ruleset *r, struct batch *b, const char *table)
{
	struct nftnl_chain *c = chain_build(table);
	struct nlmsghdr *nlh;

	if (!c)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain inet %s " NFT_CHAIN, table);
	if (!nlh) {
		nftnl_chain_free(c);
		return -EMSGSIZE;
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return batch_commit_msg(b);
}

static int batch_rule(struct nft_ruleset *r, struct batch *b, const struct fo_config *cfg,
		      const struct tier *t, uint8_t proto)
{
	struct nftnl_rule *rule = rule_build(cfg, t, proto);
	struct nlmsghdr *nlh;

	if (!rule)
		return -ENOMEM;
	nlh = batch_msg(r, b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
			"rule inet %s " NFT_CHAIN " (offload-%s)", t->table,
			proto == IPPROTO_TCP ? "tcp" : "udp");
	if (!nlh) {
		nftnl_rule_free(rule);
		return -EMSGSIZE;
	}
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	nftnl_rule_free(rule);
	return batch_commit_msg(b);
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
		ret = batch_chain(r, b, t->table);
	if (!ret && cfg->proto_tcp)
		ret = batch_rule(r, b, cfg, t, IPPROTO_TCP);
	if (!ret && cfg->proto_udp)
		ret = batch_rule(r, b, cfg, t, IPPROTO_UDP);
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

/* One request, one answer: 1 the object exists, 0 it does not. */
static int nft_exists(struct nft_ruleset *r, uint16_t type, const char *table, const char *name)
{
	char buf[RECV_BUF_SIZE];
	struct timespec deadline;
	struct nlmsghdr *nlh;
	uint32_t seq = r->seq++;
	ssize_t n;
	int ret, len;

	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_ACK, seq);
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
	sock_drain(r);
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += REPLY_TIMEOUT_MS / 1000;
	for (;;) {
		const struct nlmsghdr *m;

		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
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
		/* The object itself comes first, then the ACK. */
		len = (int)n;
		for (m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			const struct nlmsgerr *e;

			if (m->nlmsg_seq != seq || m->nlmsg_type != NLMSG_ERROR ||
			    mnl_nlmsg_get_payload_len(m) < sizeof(*e))
				continue;
			e = mnl_nlmsg_get_payload(m);
			if (e->error == -ENOENT)
				return 0;
			return e->error ? e->error : 1;
		}
	}
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

/* The table's comment into buf: 1 found (buf may be empty: no comment),
 * 0 no such table, or a negative errno. */
static int table_comment(struct nft_ruleset *r, const char *table, char *buf, size_t len)
{
	char rbuf[RECV_BUF_SIZE];
	struct timespec deadline;
	struct nlmsghdr *nlh;
	uint32_t seq = r->seq++;
	int ret, found = 0;
	ssize_t n;

	buf[0] = '\0';
	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
	sock_drain(r);
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += REPLY_TIMEOUT_MS / 1000;
	for (;;) {
		const struct nlmsghdr *m;
		int rem;

		n = mnl_socket_recvfrom(r->nl, rbuf, sizeof(rbuf));
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
		for (m = (const struct nlmsghdr *)rbuf; mnl_nlmsg_ok(m, rem);
		     m = mnl_nlmsg_next(m, &rem)) {
			if (m->nlmsg_seq != seq)
				continue;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) < sizeof(*e))
					return -EBADMSG;
				if (e->error == -ENOENT)
					return 0;
				return e->error ? e->error : found;
			}
			if (NFNL_MSG_TYPE(m->nlmsg_type) == NFT_MSG_NEWTABLE) {
				struct nftnl_table *t = nftnl_table_alloc();
				const char *c = NULL;
				uint32_t ulen = 0;
				const void *ud;

				if (!t)
					return -ENOMEM;
				if (nftnl_table_nlmsg_parse(m, t) == 0) {
					found = 1;
					ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &ulen);
					if (ud && ulen)
						nftnl_udata_parse(ud, ulen, comment_cb, &c);
					if (c)
						snprintf(buf, len, "%s", c);
				}
				nftnl_table_free(t);
			}
		}
	}
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
