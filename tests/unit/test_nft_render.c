/* Unit tests for nft_ruleset: the exact nft text and install batch for each
 * shape of config and plan (golden files), every rule's bytecode read back
 * against its text, the fingerprint, and the plans it must refuse. */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

#include "config.h"
#include "nft_build.h"
#include "nft_plan.h"
#include "nft_rules.h"
#include "nft_ruleset.h"

static void plan_set(struct ruleset_plan *p, const char *sw0, const char *sw1, const char *hw0)
{
	memset(p, 0, sizeof(*p));
	if (sw0)
		strcpy(p->sw_devs[p->n_sw++], sw0);
	if (sw1)
		strcpy(p->sw_devs[p->n_sw++], sw1);
	if (hw0)
		strcpy(p->hw_devs[p->n_hw++], hw0);
}

static struct prefix prefix4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	struct prefix p = { .family = AF_INET, .len = len, .addr = { a, b, c, d } };

	return p;
}

/* hi32:mid16::lo16/len: enough for the documentation range 2001:db8::/32. */
static struct prefix prefix6(uint32_t hi32, uint16_t mid16, uint8_t len)
{
	struct prefix p = { .family = AF_INET6, .len = len };

	p.addr[0] = hi32 >> 24;
	p.addr[1] = (hi32 >> 16) & 0xff;
	p.addr[2] = (hi32 >> 8) & 0xff;
	p.addr[3] = hi32 & 0xff;
	p.addr[4] = mid16 >> 8;
	p.addr[5] = mid16 & 0xff;
	return p;
}

static void add_port(struct fo_config *cfg, uint16_t lo, uint16_t hi)
{
	cfg->skip_ports[cfg->n_skip_ports++] = (struct port_range){ lo, hi };
}

static void add_prefix(struct fo_config *cfg, struct prefix p)
{
	cfg->skip_prefixes[cfg->n_skip_prefixes++] = p;
}

/* The defaults without the mice signal: most cases are about other parts
 * of the rule (sw_only_defaults and the mice cases keep it). */
static void defaults_plain(struct fo_config *cfg)
{
	config_defaults(cfg);
	cfg->min_avgpkt = 0;
	/* The window the golden files were written with (the default until
	 * the cost model moved it to 16). */
	cfg->window_from = 5;
}

/* Each golden case: a config and a plan, and the two files that hold what
 * they give today: NAME.nft (the text --check-config prints) and
 * NAME.batch (the install batch, as the kernel receives it).  Run with
 * FLOWOFFLOAD_REGEN_GOLDEN=1 to rewrite the files from the code, then read
 * the diff as the change of behaviour it is. */
struct golden_case {
	const char *name;
	void (*setup)(struct fo_config *cfg, struct ruleset_plan *plan);
};

static void case_sw_only_defaults(struct fo_config *cfg, struct ruleset_plan *plan)
{
	config_defaults(cfg);
	plan_set(plan, "lan0", "wan0", NULL);
}

static void case_sw_and_hw(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	plan_set(plan, "lan0", "wan0", "wan0");
}

static void case_udp_only(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_tcp = false;
	plan_set(plan, "eth0", NULL, NULL);
}

/* min-avgpkt adds `ct avgpkt >= A` to the hardware tier's offload rule;
 * with small-packet-window-from a second rule per protocol takes
 * small-packet flows later.  The software tier's rules have no size test
 * (its entry costs about what it saves, bench/cost_model). */
static void case_mice_signal_tcp(struct fo_config *cfg, struct ruleset_plan *plan)
{
	config_defaults(cfg);
	cfg->window_from = 12;
	cfg->min_avgpkt = 400;
	cfg->small_window_from = 48;
	cfg->proto_udp = false;
	plan_set(plan, "eth0", NULL, "eth1");
}

/* small-packet-window-from 0 is auto: packet 64 (inside 12..1000). */
static void case_mice_signal_udp_auto(struct fo_config *cfg, struct ruleset_plan *plan)
{
	case_mice_signal_tcp(cfg, plan);
	cfg->small_window_from = 0;
	cfg->proto_tcp = false;
	cfg->proto_udp = true;
}

/* events = window: the offload rules widen the event mask to destroy and
 * mark; a prerouting chain gives new conntracks an empty one.  The
 * hardware table has neither. */
static void case_events_window(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_tcp = false;
	cfg->events_window = true;
	plan_set(plan, "eth0", NULL, NULL);
}

static void case_events_window_hw(struct fo_config *cfg, struct ruleset_plan *plan)
{
	case_events_window(cfg, plan);
	plan_set(plan, "eth0", NULL, "eth0");
}

static void case_tcp_without_ack_only(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_udp = false;
	cfg->tcp_ack_only = false;
	plan_set(plan, "eth0", "eth1", NULL);
}

/* The mark unit is the mask's lowest bit: software tests the unit's
 * second bit (set by HW and SKIP), hardware the whole field; the window
 * goes in verbatim. */
static void case_mask_and_window(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->mark_mask = 0x000000f0;
	cfg->window_from = 3;
	cfg->window_until = 50;
	cfg->proto_udp = false;
	plan_set(plan, "br-lan", NULL, "br-lan");
}

/* A window of one packet and the top bits of the mark. */
static void case_high_mask_single_packet(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->mark_mask = 0xc0000000;
	cfg->window_from = 7;
	cfg->window_until = 7;
	plan_set(plan, "lan0", NULL, "lan0");
}

/* A single port and a range; both protocols get a skip-port rule, both
 * tiers the set and the rules. */
static void case_skip_ports(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	add_port(cfg, 5060, 5061);
	add_port(cfg, 53, 53);
	plan_set(plan, "lan0", NULL, "lan0");
}

/* Sorted, overlaps and neighbours merged (nft refuses overlapping
 * elements), five ports to a line as nft lists them; with TCP only, one
 * skip-port rule. */
static void case_skip_ports_merged(struct fo_config *cfg, struct ruleset_plan *plan)
{
	static const uint16_t ports[][2] = { { 9000, 9000 }, { 1000, 2000 }, { 1, 1024 },
					     { 2001, 2001 }, { 3000, 3000 }, { 3002, 3002 },
					     { 4000, 4000 }, { 5000, 5000 }, { 65535, 65535 },
					     { 3000, 3000 } };
	size_t i;

	defaults_plain(cfg);
	cfg->proto_udp = false;
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		add_port(cfg, ports[i][0], ports[i][1]);
	plan_set(plan, "lan0", NULL, NULL);
}

/* IPv4 and IPv6 each in their own set, looked up with all four addresses
 * of the conntrack. */
static void case_skip_prefixes(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_udp = false;
	add_prefix(cfg, prefix6(0x20010db8, 5, 48));
	add_prefix(cfg, prefix4(198, 18, 5, 0, 24));
	add_prefix(cfg, prefix6(0x20010db8, 7, 128));
	add_prefix(cfg, prefix4(192, 0, 2, 7, 32));
	plan_set(plan, "lan0", "wan0", NULL);
}

/* Only the family configured gets a set; merged neighbours print as the
 * prefix or range nft lists; two IPv4 elements to a line. */
static void case_skip_prefixes_merged(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	add_prefix(cfg, prefix4(11, 0, 0, 0, 8));
	add_prefix(cfg, prefix4(10, 0, 0, 0, 8));
	add_prefix(cfg, prefix4(10, 1, 0, 0, 16));
	add_prefix(cfg, prefix4(198, 18, 5, 0, 24));
	add_prefix(cfg, prefix4(198, 18, 6, 0, 24));
	add_prefix(cfg, prefix4(203, 0, 113, 0, 31));
	add_prefix(cfg, prefix4(0, 0, 0, 0, 32));
	plan_set(plan, "lan0", NULL, NULL);
}

/* Everything, in both families: intervals that run to the largest key. */
static void case_skip_everything(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	add_prefix(cfg, prefix6(0, 0, 0));
	add_prefix(cfg, prefix4(0, 0, 0, 0, 0));
	add_prefix(cfg, prefix4(198, 18, 5, 0, 24));
	plan_set(plan, "lan0", NULL, NULL);
}

/* UDP waits for the server's first reply: one-way streams stay slow. */
static void case_udp_require_reply(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_tcp = false;
	cfg->udp_require_reply = true;
	plan_set(plan, "eth0", NULL, "eth0");
}

/* [routes] only and never (tables 100 and 200, both families): their sets
 * start empty (routes.c fills them), their rules look them up from
 * packet window-from on, before the mice and offload rules. */
static void case_routes(struct fo_config *cfg, struct ruleset_plan *plan)
{
	defaults_plain(cfg);
	cfg->proto_udp = false;
	cfg->routes[ROUTE_ONLY][cfg->n_routes[ROUTE_ONLY]++].table = 100;
	cfg->routes[ROUTE_NEVER][cfg->n_routes[ROUTE_NEVER]++].table = 200;
	plan_set(plan, "lan0", "wan0", "wan0");
}

/* A window from packet 1: every packet is in it, no packets term. */
static void case_routes_from_first(struct fo_config *cfg, struct ruleset_plan *plan)
{
	case_routes(cfg, plan);
	cfg->window_from = 1;
	plan_set(plan, "lan0", NULL, NULL);
}

/* Everything at once, both tiers: every rule kind in one table. */
static void case_all_rules(struct fo_config *cfg, struct ruleset_plan *plan)
{
	config_defaults(cfg);
	cfg->events_window = true;
	cfg->udp_require_reply = true;
	add_port(cfg, 53, 53);
	add_prefix(cfg, prefix4(198, 18, 5, 0, 24));
	add_prefix(cfg, prefix6(0x20010db8, 5, 48));
	plan_set(plan, "lan0", "wan0", "wan0");
}

static const struct golden_case golden_cases[] = {
	{ "sw_only_defaults", case_sw_only_defaults },
	{ "sw_and_hw", case_sw_and_hw },
	{ "udp_only", case_udp_only },
	{ "mice_signal_tcp", case_mice_signal_tcp },
	{ "mice_signal_udp_auto", case_mice_signal_udp_auto },
	{ "events_window", case_events_window },
	{ "events_window_hw", case_events_window_hw },
	{ "tcp_without_ack_only", case_tcp_without_ack_only },
	{ "mask_and_window", case_mask_and_window },
	{ "high_mask_single_packet", case_high_mask_single_packet },
	{ "skip_ports", case_skip_ports },
	{ "skip_ports_merged", case_skip_ports_merged },
	{ "skip_prefixes", case_skip_prefixes },
	{ "skip_prefixes_merged", case_skip_prefixes_merged },
	{ "skip_everything", case_skip_everything },
	{ "udp_require_reply", case_udp_require_reply },
	{ "routes", case_routes },
	{ "routes_from_first", case_routes_from_first },
	{ "all_rules", case_all_rules },
};

static char *file_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = (n + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) < 0, 0);
	assert_int_equal(fclose(f), 0);
}

/* out against GOLDEN_DIR/NAME.EXT, or the file rewritten from it. */
static void expect_golden(const char *name, const char *ext, const char *out)
{
	const char *regen = getenv("FLOWOFFLOAD_REGEN_GOLDEN");
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/%s.%s", GOLDEN_DIR, name, ext);
	if (regen && !strcmp(regen, "1")) {
		file_write(path, out);
		return;
	}
	want = file_read(path);
	if (!want)
		fail_msg("%s: missing (FLOWOFFLOAD_REGEN_GOLDEN=1 writes it)", path);
	if (strcmp(want, out))
		print_error("%s differs from the code's output\n", path);
	assert_string_equal(out, want);
	free(want);
}

static void test_golden(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(golden_cases) / sizeof(golden_cases[0]); i++) {
		golden_cases[i].setup(&cfg, &plan);
		out = NULL;
		assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
		expect_golden(golden_cases[i].name, "nft", out);
		free(out);
		out = NULL;
		assert_int_equal(nft_ruleset_dump_batch(&cfg, &plan, &out), 0);
		expect_golden(golden_cases[i].name, "batch", out);
		free(out);
	}
}

/* ---- text and bytecode agree ------------------------------------------- */

/* What the expressions seen so far left for the next one. */
struct decode {
	FILE *f;
	const char *load;	/* the register's source, as nft names it */
	char load_buf[48];
	bool masked, be64, first;
	uint32_t mask, xor, imm;
};

static void word(struct decode *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void word(struct decode *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->first)
		fputc(' ', d->f);
	d->first = false;
	va_start(ap, fmt);
	vfprintf(d->f, fmt, ap);
	va_end(ap);
}

static void decode_ct_load(struct decode *d, struct nftnl_expr *e)
{
	static const char *const dirs[] = { "original", "reply" };
	uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);
	const char *dir = nftnl_expr_is_set(e, NFTNL_EXPR_CT_DIR)
				  ? dirs[nftnl_expr_get_u8(e, NFTNL_EXPR_CT_DIR)]
				  : NULL;

	assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG), NFT_REG_1);
	d->masked = d->be64 = false;
	switch (key) {
	case NFT_CT_MARK:
		d->load = "ct mark";
		return;
	case NFT_CT_PKTS:
		d->load = "ct packets";
		return;
	case NFT_CT_AVGPKT:
		d->load = "ct avgpkt";
		return;
	case NFT_CT_STATUS:
		d->load = "ct status";
		return;
	}
	assert_non_null(dir);
	snprintf(d->load_buf, sizeof(d->load_buf), "ct %s %s", dir,
		 key == NFT_CT_PROTO_DST ? "proto-dst" :
		 key == NFT_CT_SRC_IP	 ? "ip saddr" :
		 key == NFT_CT_DST_IP	 ? "ip daddr" :
		 key == NFT_CT_SRC_IP6	 ? "ip6 saddr" :
		 key == NFT_CT_DST_IP6	 ? "ip6 daddr" :
					   "?");
	d->load = d->load_buf;
}

/* (reg & mask) ^ xor stored into the mark: nft lists `ct mark | V` when
 * every other bit is kept, else `ct mark & K | V` with K = mask | V. */
static void decode_ct_store(struct decode *d, struct nftnl_expr *e)
{
	uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);

	if (key == NFT_CT_EVENTMASK) {
		word(d, "ct event set 0x%x", d->imm);
		return;
	}
	assert_int_equal(key, NFT_CT_MARK);
	assert_string_equal(d->load, "ct mark");
	assert_true(d->masked);
	assert_int_equal(d->mask & d->xor, 0);
	if (d->mask == ~d->xor)
		word(d, "ct mark set ct mark | 0x%08x", d->xor);
	else
		word(d, "ct mark set ct mark & 0x%08x | 0x%08x", d->mask | d->xor, d->xor);
	d->load = NULL;
}

static const char *status_name(uint32_t v)
{
	return v == IPS_SEEN_REPLY ? "seen-reply" : v == IPS_CONFIRMED ? "confirmed" : "?";
}

static void decode_value(struct decode *d, uint32_t v, bool mask)
{
	if (!strcmp(d->load, "ct mark"))
		fprintf(d->f, "0x%08x", v);
	else if (!strcmp(d->load, "ct status"))
		fputs(v ? status_name(v) : "0", d->f);
	else if (!strcmp(d->load, "tcp flags"))
		fputs(mask && v == 0x17 ? "(fin | syn | rst | ack)" : v == 0x10 ? "ack" : "?", d->f);
	else if (!strcmp(d->load, "meta l4proto"))
		fputs(v == IPPROTO_TCP ? "tcp" : v == IPPROTO_UDP ? "udp" : "?", d->f);
	else if (!strcmp(d->load, "meta nfproto"))
		fputs(v == NFPROTO_IPV4 ? "ipv4" : v == NFPROTO_IPV6 ? "ipv6" : "?", d->f);
	else
		fprintf(d->f, "%u", v);
}

static void decode_cmp(struct decode *d, struct nftnl_expr *e)
{
	static const char *const ops[] = { [NFT_CMP_EQ] = "==", [NFT_CMP_GT] = ">",
					   [NFT_CMP_GTE] = ">=", [NFT_CMP_LTE] = "<=",
					   [NFT_CMP_LT] = "<" };
	uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), len, v = 0;
	const void *data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	uint64_t be;

	assert_non_null(d->load);
	if (d->be64) {
		assert_int_equal(len, sizeof(be));
		memcpy(&be, data, sizeof(be));
		v = (uint32_t)be64toh(be);
	} else if (len == 1) {
		v = *(const uint8_t *)data;
	} else {
		assert_int_equal(len, sizeof(v));
		memcpy(&v, data, sizeof(v));
	}
	word(d, "%s", d->load);
	if (d->masked) {
		fputs(" & ", d->f);
		decode_value(d, d->mask, true);
	}
	/* nft lists a plain equality without its operator. */
	if (d->masked || op != NFT_CMP_EQ)
		fprintf(d->f, " %s", ops[op]);
	fputc(' ', d->f);
	decode_value(d, v, false);
	d->load = NULL;
}

static void decode_bitwise(struct decode *d, struct nftnl_expr *e)
{
	uint32_t len, mlen, xlen;
	const void *m = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &mlen);
	const void *x = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &xlen);

	len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN);
	assert_int_equal(mlen, len);
	assert_int_equal(xlen, len);
	d->mask = d->xor = 0;
	memcpy(&d->mask, m, len);
	memcpy(&d->xor, x, len);
	/* A one-byte field compares its first byte: on this host's order. */
	if (len == 1) {
		d->mask = *(const uint8_t *)m;
		d->xor = *(const uint8_t *)x;
	}
	d->masked = true;
}

static int decode_expr(struct nftnl_expr *e, void *arg)
{
	struct decode *d = arg;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (!strcmp(name, "ct") && nftnl_expr_is_set(e, NFTNL_EXPR_CT_DREG)) {
		decode_ct_load(d, e);
	} else if (!strcmp(name, "ct")) {
		decode_ct_store(d, e);
	} else if (!strcmp(name, "meta")) {
		uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);

		assert_true(key == NFT_META_L4PROTO || key == NFT_META_NFPROTO);
		d->load = key == NFT_META_L4PROTO ? "meta l4proto" : "meta nfproto";
		d->masked = d->be64 = false;
	} else if (!strcmp(name, "payload")) {
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE),
				 NFT_PAYLOAD_TRANSPORT_HEADER);
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET), 13);
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN), 1);
		d->load = "tcp flags";
		d->masked = d->be64 = false;
	} else if (!strcmp(name, "bitwise")) {
		decode_bitwise(d, e);
	} else if (!strcmp(name, "byteorder")) {
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_OP), NFT_BYTEORDER_HTON);
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SIZE), 8);
		d->be64 = true;
	} else if (!strcmp(name, "cmp")) {
		decode_cmp(d, e);
	} else if (!strcmp(name, "lookup")) {
		bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
			   nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV;

		word(d, "%s %s@%s", d->load, inv ? "!= " : "",
		     nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
		d->load = NULL;
	} else if (!strcmp(name, "counter")) {
		word(d, "counter");
	} else if (!strcmp(name, "immediate") &&
		   nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG) == NFT_REG_VERDICT) {
		assert_int_equal(nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT), (uint32_t)NFT_RETURN);
		word(d, "return");
	} else if (!strcmp(name, "immediate")) {
		uint32_t len;

		memcpy(&d->imm, nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len), sizeof(d->imm));
		assert_int_equal(len, sizeof(d->imm));
	} else if (!strcmp(name, "flow_offload")) {
		word(d, "flow add @%s", nftnl_expr_get_str(e, NFTNL_EXPR_FLOW_TABLE_NAME));
	} else {
		fail_msg("unexpected expression %s", name);
	}
	return 0;
}

static int comment_of(const struct nftnl_udata *attr, void *data)
{
	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		*(const char **)data = nftnl_udata_get(attr);
	return 0;
}

/* The rule as nft would list it, read back from its expressions alone. */
static char *rule_decode(struct nftnl_rule *r)
{
	struct decode d = { .first = true };
	const char *comment = NULL;
	char *out = NULL;
	uint32_t ulen;
	const void *ud;
	size_t len;

	d.f = open_memstream(&out, &len);
	assert_non_null(d.f);
	fputs("\t\t", d.f);
	assert_int_equal(nftnl_expr_foreach(r, decode_expr, &d), 0);
	assert_null(d.load);	/* every load was consumed */
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
	assert_non_null(ud);
	nftnl_udata_parse(ud, ulen, comment_of, &comment);
	assert_non_null(comment);
	fprintf(d.f, " comment \"%s\"", comment);
	assert_int_equal(fclose(d.f), 0);
	return out;
}

/* Every rule's expressions, read back, give its line of the rendered
 * text, in order: the two outputs of the description say the same. */
static void expect_agree(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	static const uint32_t ids[NFT_SKIP_KINDS] = { 1, 2, 3 };
	struct nft_tier_spec *spec = malloc(sizeof(*spec));
	char *text = NULL, *line, *save = NULL, *got;
	struct nftnl_rule *r;
	struct nft_tier t[2];
	size_t n, i, k, rules = 0;

	assert_non_null(spec);
	assert_int_equal(nft_ruleset_render(cfg, plan, &text), 0);
	line = strtok_r(text, "\n", &save);
	n = nft_plan_tiers(cfg, plan, t);
	for (i = 0; i < n; i++) {
		nft_rules_describe(cfg, &t[i], spec);
		for (k = 0; k < spec->n_rules; k++, rules++) {
			/* The next rule line: two tabs, a comment. */
			while (line && (strncmp(line, "\t\t", 2) || !strstr(line, " comment \"")))
				line = strtok_r(NULL, "\n", &save);
			assert_non_null(line);
			r = nft_build_rule(t[i].table, &spec->rules[k], ids);
			assert_non_null(r);
			got = rule_decode(r);
			assert_string_equal(got, line);
			free(got);
			nftnl_rule_free(r);
			line = strtok_r(NULL, "\n", &save);
		}
	}
	assert_true(rules > 0);
	free(text);
	free(spec);
}

static void test_text_and_bytecode_agree(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(golden_cases) / sizeof(golden_cases[0]); i++) {
		golden_cases[i].setup(&cfg, &plan);
		expect_agree(&cfg, &plan);
	}
}

/* "<table's>/<forward chain's>" fingerprints of the table in the render;
 * only the table's with table_only. */
static char *fingerprint_part(const struct fo_config *cfg, const struct ruleset_plan *plan,
			      const char *table, bool table_only, char *buf)
{
	char *out = NULL, *p, *q, head[64];
	const char *chain = "chain forward {\n\t\tcomment \"flowoffload rules ";

	assert_int_equal(nft_ruleset_render(cfg, plan, &out), 0);
	snprintf(head, sizeof(head), "table inet %s {\n\tcomment \"flowoffload ", table);
	p = strstr(out, head);
	assert_non_null(p);
	memcpy(buf, p + strlen(head), 16);
	buf[16] = '\0';
	q = strstr(p, chain);
	assert_non_null(q);
	if (!table_only) {
		buf[16] = '/';
		memcpy(buf + 17, q + strlen(chain), 16);
		buf[33] = '\0';
	}
	free(out);
	return buf;
}

static char *fingerprint_of(const struct fo_config *cfg, const struct ruleset_plan *plan,
			    const char *table, char *buf)
{
	return fingerprint_part(cfg, plan, table, false, buf);
}

/* The fingerprint must change with anything that changes the tables, and
 * only then: it decides whether a restarted agent keeps the installed ones. */
static void test_fingerprint(void **state)
{
	struct ruleset_plan plan, plan2;
	struct fo_config cfg, cfg2;
	char a[34], b[34];

	(void)state;
	defaults_plain(&cfg);
	plan_set(&plan, "lan0", "wan0", "wan0");
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg, &plan, "flowoffload", b));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg, &plan, "flowoffload_hw", b));
	cfg2 = cfg;
	cfg2.window_from = 6;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* A rule change leaves the table's part alone: a reload replaces the
	 * chains in place and the flowtable keeps its flows. */
	assert_string_equal(fingerprint_part(&cfg, &plan, "flowoffload", true, a),
			    fingerprint_part(&cfg2, &plan, "flowoffload", true, b));
	assert_string_equal(fingerprint_part(&cfg, &plan, "flowoffload_hw", true, a),
			    fingerprint_part(&cfg2, &plan, "flowoffload_hw", true, b));
	/* The table's name and its flowtable's flags are the table's part. */
	assert_string_not_equal(fingerprint_part(&cfg, &plan, "flowoffload", true, a),
				fingerprint_part(&cfg, &plan, "flowoffload_hw", true, b));
	cfg2 = cfg;
	cfg2.tcp_ack_only = false;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* Devices follow the links in place (devices.c): a restarted agent
	 * reconciles them and keeps the table and its flows. */
	plan_set(&plan2, "lan0", "wan1", "wan0");
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg, &plan2, "flowoffload", b));
	/* The hardware table's devices do not change the software table. */
	plan_set(&plan2, "lan0", "wan0", "lan0");
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg, &plan2, "flowoffload", b));
	cfg2 = cfg;
	cfg2.udp_require_reply = true;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* The skip sets are part of both tables. */
	cfg2 = cfg;
	add_port(&cfg2, 53, 53);
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload_hw", a),
				fingerprint_of(&cfg2, &plan, "flowoffload_hw", b));
	cfg = cfg2;
	add_port(&cfg2, 5060, 5061);
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	cfg2 = cfg;
	add_prefix(&cfg2, prefix4(198, 18, 5, 0, 24));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* The same ports spelled otherwise are the same tables. */
	defaults_plain(&cfg);
	defaults_plain(&cfg2);
	add_port(&cfg, 53, 54);
	add_port(&cfg2, 54, 54);
	add_port(&cfg2, 53, 53);
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg2, &plan, "flowoffload", b));
}

static void expect_refused(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	char *out = (char *)"untouched";

	assert_int_equal(nft_ruleset_render(cfg, plan, &out), -EINVAL);
	assert_string_equal(out, "untouched");
}

static void test_refused(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out;

	(void)state;
	defaults_plain(&cfg);

	plan_set(&plan, NULL, NULL, NULL);	/* no software device */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", "lan0", NULL);	/* a device twice: EEXIST in the kernel */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", NULL, NULL);
	cfg.mark_mask = 0;
	expect_refused(&cfg, &plan);

	defaults_plain(&cfg);
	cfg.window_from = 10;
	cfg.window_until = 9;
	expect_refused(&cfg, &plan);

	defaults_plain(&cfg);
	cfg.proto_tcp = cfg.proto_udp = false;
	expect_refused(&cfg, &plan);

	/* One mask bit holds ADMIT_SW but not HW or SKIP: the software rule
	 * would test bit 0x200, which is not ours, and a hardware rule would
	 * match mark 0, every flow never admitted. */
	defaults_plain(&cfg);
	cfg.mark_mask = 0x00000100;
	plan_set(&plan, "lan0", NULL, "lan0");
	expect_refused(&cfg, &plan);
	plan_set(&plan, "lan0", NULL, NULL);
	expect_refused(&cfg, &plan);
	/* Two bits are enough for both tiers. */
	cfg.mark_mask = 0x00000300;
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "ct mark & 0x00000200 == 0x00000000 ct packets"));
	assert_null(strstr(out, "flowoffload_hw"));
	free(out);

	/* Skip lists the config parser would never produce. */
	defaults_plain(&cfg);
	cfg.n_skip_ports = 1;
	cfg.skip_ports[0] = (struct port_range){ 90, 80 };
	expect_refused(&cfg, &plan);
	defaults_plain(&cfg);
	cfg.n_skip_ports = CONFIG_MAX_LIST + 1;
	expect_refused(&cfg, &plan);
	defaults_plain(&cfg);
	cfg.n_skip_prefixes = 1;
	cfg.skip_prefixes[0] = prefix4(10, 0, 0, 0, 33);
	expect_refused(&cfg, &plan);
	cfg.skip_prefixes[0].family = 0;
	cfg.skip_prefixes[0].len = 8;
	expect_refused(&cfg, &plan);
	cfg.skip_prefixes[0] = prefix6(0x20010db8, 0, 129);
	expect_refused(&cfg, &plan);
}

/* A device name longer than the kernel's IFNAMSIZ - 1 is not a device. */
static void test_name_not_terminated(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
	plan_set(&plan, "lan0", NULL, NULL);
	memset(plan.sw_devs[0], 'x', CONFIG_IFNAMSIZ);
	expect_refused(&cfg, &plan);
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

/* The window gate: one per tier when the window starts past packet 1,
 * and then no rule repeats the lower bound; a small-packet rule starting
 * where the window starts needs none either, one starting later keeps
 * its own.  From packet 1: no gate, the `>= 1` terms stay (they refuse a
 * conntrack without accounting, whose count reads 0). */
static void test_window_gate(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out;

	(void)state;
	case_mice_signal_tcp(&cfg, &plan);
	plan_set(&plan, "eth0", NULL, "eth1");
	cfg.small_window_from = cfg.window_from;
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_int_equal(count_of(out, "ct packets < 12 return comment \"window-gate\""), 2);
	assert_int_equal(count_of(out, "ct packets >="), 0);
	assert_non_null(strstr(out, "ct packets <= 1000 meta l4proto tcp"));
	free(out);

	cfg.small_window_from = 48;
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_int_equal(count_of(out, "ct packets >= "), 1);
	assert_non_null(strstr(out, "ct packets >= 48 ct packets <= 1000"));
	free(out);

	cfg.window_from = 1;
	cfg.small_window_from = 1;
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_null(strstr(out, "window-gate"));
	assert_null(strstr(out, "ct packets < "));
	/* mice-class x2 and offload in the software tier, readmit; mice x2,
	 * offload and small in the hardware one. */
	assert_int_equal(count_of(out, "ct packets >= 1 "), 8);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_text_and_bytecode_agree),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_name_not_terminated),
		cmocka_unit_test(test_window_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
