/* nft_terms: each rule term's nft text and its libnftnl expressions, one
 * pair per term kind, so the listing and the bytecode come from one place. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "nft_ruleset.h"
#include "nft_terms.h"

/* TCP flag bits of byte 13 of the TCP header. */
#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

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

/* reg1 = reg1 ^ 0 & mask, or with xor the mark update's value: nft's
 * encoding of `x & mask` and of `(x & keep) ^ value`. */
static bool expr_bitwise(struct nftnl_rule *r, const void *mask, const void *xor, uint32_t len)
{
	struct nftnl_expr *e = expr_new(r, "bitwise");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	return nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len) == 0 &&
	       nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len) == 0;
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

/* `x & mask == value` on the register a load just filled. */
static bool expr_masked_eq(struct nftnl_rule *r, const void *mask, const void *value,
			   uint32_t len)
{
	static const uint8_t zero[4];

	return len <= sizeof(zero) && expr_bitwise(r, mask, zero, len) &&
	       expr_cmp(r, NFT_CMP_EQ, value, len);
}

/* Stores reg1 into a conntrack key: `ct mark set`, `ct event set`. */
static bool expr_ct_store(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr_new(r, "ct");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	return true;
}

/* ---- the terms ---------------------------------------------------------- */

static void mark_match_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "ct mark & 0x%08x == 0x%08x", t->a, t->b);
}

/* The conntrack mark is a host-order u32 in the register. */
static bool mark_match_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	(void)ids;
	return expr_ct(r, NFT_CT_MARK) && expr_masked_eq(r, &t->a, &t->b, sizeof(t->a));
}

static void ct_cmp_text(FILE *f, const struct nft_term *t)
{
	static const char *const ops[] = { [NFT_CMP_LT] = "<", [NFT_CMP_LTE] = "<=",
					   [NFT_CMP_GT] = ">", [NFT_CMP_GTE] = ">=" };

	fprintf(f, "ct %s %s %u", t->key == NFT_CT_PKTS ? "packets" : "avgpkt", ops[t->op], t->a);
}

/* `ct packets >= N`, `ct avgpkt >= A`: the counter is a host-order u64,
 * and cmp compares bytes (memcmp), so nft turns it big-endian first; so do
 * we, which also makes `nft list` print the same rule. */
static bool ct_cmp_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	uint64_t be = htobe64(t->a);
	struct nftnl_expr *e;

	(void)ids;
	if (!expr_ct(r, t->key))
		return false;
	e = expr_new(r, "byteorder");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, sizeof(be));
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, sizeof(be));
	return expr_cmp(r, t->op, &be, sizeof(be));
}

static void l4proto_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "meta l4proto %s", t->proto == IPPROTO_TCP ? "tcp" : "udp");
}

static bool l4proto_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_new(r, "meta");

	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return expr_cmp(r, NFT_CMP_EQ, &t->proto, 1);
}

static void nfproto_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "meta nfproto %s", t->a ? "ipv6" : "ipv4");
}

/* The packet's family in an inet table: one byte, NFPROTO_*. */
static bool nfproto_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	uint8_t fam = t->a ? NFPROTO_IPV6 : NFPROTO_IPV4;
	struct nftnl_expr *e = expr_new(r, "meta");

	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_NFPROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return expr_cmp(r, NFT_CMP_EQ, &fam, 1);
}

static void tcp_ack_only_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("tcp flags & (fin | syn | rst | ack) == ack", f);
}

static bool tcp_ack_only_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	static const uint8_t mask = TCPF_FIN | TCPF_SYN | TCPF_RST | TCPF_ACK;
	static const uint8_t ack = TCPF_ACK;
	struct nftnl_expr *e = expr_new(r, "payload");

	(void)t;
	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 13);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return expr_masked_eq(r, &mask, &ack, 1);
}

static void seen_reply_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("ct status & seen-reply == seen-reply", f);
}

/* The status is host order. */
static bool seen_reply_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	uint32_t bit = IPS_SEEN_REPLY;

	(void)t;
	(void)ids;
	return expr_ct(r, NFT_CT_STATUS) && expr_masked_eq(r, &bit, &bit, sizeof(bit));
}

static void unconfirmed_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("ct status & confirmed == 0", f);
}

/* The conntrack's first packet. */
static bool unconfirmed_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	uint32_t bit = IPS_CONFIRMED, zero = 0;

	(void)t;
	(void)ids;
	return expr_ct(r, NFT_CT_STATUS) && expr_masked_eq(r, &bit, &zero, sizeof(bit));
}

static void ct_tuple_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "ct %s", t->text);
}

/* A key of one direction's tuple: `ct original ...`, `ct reply ...`. */
static bool ct_tuple_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_ct_new(r, t->key);

	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, t->dir);
	return true;
}

static void lookup_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "%s@%s", t->a ? "!= " : "", t->text);
}

/* The set by name and by its id in this batch, as nft sends it. */
static bool lookup_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_new(r, "lookup");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, ids[t->key]);
	if (t->a)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	return nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, t->text) == 0;
}

static void counter_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("counter", f);
}

static bool counter_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	(void)t;
	(void)ids;
	return expr_new(r, "counter") != NULL;
}

static void event_set_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "ct event set 0x%x", t->a);
}

/* The conntrack's event mask (IPCT_* bits). */
static bool event_set_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_new(r, "immediate");

	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	if (nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &t->a, sizeof(t->a)))
		return false;
	return expr_ct_store(r, NFT_CT_EVENTMASK);
}

static void mark_or_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "ct mark set ct mark | 0x%08x", t->b);
}

/* nft lists the kept bits with the value's: (mark & keep) | value reads
 * back as mark & (keep | value) | value, the same bytecode. */
static void mark_keep_text(FILE *f, const struct nft_term *t)
{
	fprintf(f, "ct mark set ct mark & 0x%08x | 0x%08x", t->a | t->b, t->b);
}

/* `ct mark set (ct mark & keep) ^ value`: load the mark, one bitwise, store
 * it back.  nft's `ct mark | bits` is keep = ~bits, value = bits. */
static bool mark_set_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	uint32_t keep = t->kind == NFT_TERM_MARK_OR ? ~t->b : t->a;

	(void)ids;
	return expr_ct(r, NFT_CT_MARK) && expr_bitwise(r, &keep, &t->b, sizeof(keep)) &&
	       expr_ct_store(r, NFT_CT_MARK);
}

static void return_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("return", f);
}

/* The packet leaves our chain as with its policy accept; the user's own
 * chains still decide its fate. */
static bool return_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_new(r, "immediate");

	(void)t;
	(void)ids;
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_RETURN);
	return true;
}

static void flow_add_text(FILE *f, const struct nft_term *t)
{
	(void)t;
	fputs("flow add @" NFT_FLOWTABLE, f);
}

static bool flow_add_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids)
{
	struct nftnl_expr *e = expr_new(r, "flow_offload");

	(void)t;
	(void)ids;
	return e && nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, NFT_FLOWTABLE) == 0;
}

static const struct {
	void (*text)(FILE *f, const struct nft_term *t);
	bool (*expr)(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *ids);
} terms[] = {
	[NFT_TERM_MARK_MATCH] = { mark_match_text, mark_match_expr },
	[NFT_TERM_CT_CMP] = { ct_cmp_text, ct_cmp_expr },
	[NFT_TERM_L4PROTO] = { l4proto_text, l4proto_expr },
	[NFT_TERM_NFPROTO] = { nfproto_text, nfproto_expr },
	[NFT_TERM_TCP_ACK_ONLY] = { tcp_ack_only_text, tcp_ack_only_expr },
	[NFT_TERM_SEEN_REPLY] = { seen_reply_text, seen_reply_expr },
	[NFT_TERM_UNCONFIRMED] = { unconfirmed_text, unconfirmed_expr },
	[NFT_TERM_CT_TUPLE] = { ct_tuple_text, ct_tuple_expr },
	[NFT_TERM_LOOKUP] = { lookup_text, lookup_expr },
	[NFT_TERM_COUNTER] = { counter_text, counter_expr },
	[NFT_TERM_EVENT_SET] = { event_set_text, event_set_expr },
	[NFT_TERM_MARK_OR] = { mark_or_text, mark_set_expr },
	[NFT_TERM_MARK_KEEP] = { mark_keep_text, mark_set_expr },
	[NFT_TERM_RETURN] = { return_text, return_expr },
	[NFT_TERM_FLOW_ADD] = { flow_add_text, flow_add_expr },
};

void nft_terms_text(FILE *f, const struct nft_term *t)
{
	terms[t->kind].text(f, t);
}

int nft_terms_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *set_ids)
{
	return terms[t->kind].expr(r, t, set_ids) ? 0 : -ENOMEM;
}
