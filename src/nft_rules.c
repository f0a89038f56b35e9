/* nft_rules: the one description of each tier's rules (skip, offload,
 * small-packet, readmit, hw-return, events-quiet) as lists of terms. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>

#include "config.h"
#include "ct_admit.h"
#include "nft_plan.h"
#include "nft_rules.h"

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

/* The skip-prefix rules: each family's set is looked up with all four
 * addresses of the conntrack, because under NAT the reply tuple holds the
 * real server (DNAT) or client (SNAT). */
static const struct {
	uint8_t dir;
	uint32_t key4, key6;
	const char *text4, *text6;	/* after `ct ` */
} prefix_rules[] = {
	{ IP_CT_DIR_ORIGINAL, NFT_CT_SRC_IP, NFT_CT_SRC_IP6, "original ip saddr",
	  "original ip6 saddr" },
	{ IP_CT_DIR_ORIGINAL, NFT_CT_DST_IP, NFT_CT_DST_IP6, "original ip daddr",
	  "original ip6 daddr" },
	{ IP_CT_DIR_REPLY, NFT_CT_SRC_IP, NFT_CT_SRC_IP6, "reply ip saddr", "reply ip6 saddr" },
	{ IP_CT_DIR_REPLY, NFT_CT_DST_IP, NFT_CT_DST_IP6, "reply ip daddr", "reply ip6 daddr" },
};

enum rule_kind { RULE_OFFLOAD, RULE_SMALL, RULE_READMIT, RULE_HW_RETURN };

static struct nft_rule_spec *rule_new(struct nft_tier_spec *s, const char *chain,
				      const char *comment)
{
	struct nft_rule_spec *r = &s->rules[s->n_rules++];

	r->chain = chain;
	r->comment = comment;
	r->n = 0;
	return r;
}

static struct nft_term *term(struct nft_rule_spec *r, enum nft_term_kind kind)
{
	struct nft_term *t = &r->t[r->n++];

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	return t;
}

static void term_ab(struct nft_rule_spec *r, enum nft_term_kind kind, uint32_t a, uint32_t b)
{
	struct nft_term *t = term(r, kind);

	t->a = a;
	t->b = b;
}

static void term_ct_cmp(struct nft_rule_spec *r, uint32_t key, uint32_t op, uint32_t n)
{
	struct nft_term *t = term(r, NFT_TERM_CT_CMP);

	t->key = key;
	t->op = op;
	t->a = n;
}

static void term_tuple_lookup(struct nft_rule_spec *r, uint32_t key, uint8_t dir,
			      const char *text, const struct nft_skip_set *sets,
			      enum nft_skip_kind set)
{
	struct nft_term *t = term(r, NFT_TERM_CT_TUPLE);

	t->key = key;
	t->dir = dir;
	t->text = text;
	t = term(r, NFT_TERM_LOOKUP);
	t->key = set;
	t->text = sets[set].name;
	term(r, NFT_TERM_COUNTER);
	term(r, NFT_TERM_RETURN);
}

/* The protocol and the per-protocol conditions every rule of ours has: a
 * bare ACK for TCP (tcp-ack-only), a reply for UDP (udp-require-reply). */
static void proto_match(struct nft_rule_spec *r, const struct fo_config *cfg, uint8_t proto)
{
	term(r, NFT_TERM_L4PROTO)->proto = proto;
	if (proto == IPPROTO_TCP && cfg->tcp_ack_only)
		term(r, NFT_TERM_TCP_ACK_ONLY);
	if (proto == IPPROTO_UDP && cfg->udp_require_reply)
		term(r, NFT_TERM_SEEN_REPLY);
}

/* nft needs the protocol for ct proto-dst: one rule per protocol rather
 * than `meta l4proto { tcp, udp }`, which would take an anonymous set.
 * Sets and their rules come before the offload rules: a skipped flow must
 * return before any flow add sees it. */
static void describe_skip(const struct fo_config *cfg, struct nft_tier_spec *s)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct nft_rule_spec *r;
	size_t i;
	int k;

	for (i = 0; i < 2 && s->sets[NFT_SKIP_PORTS].n; i++) {
		if (protos[i] == IPPROTO_TCP ? !cfg->proto_tcp : !cfg->proto_udp)
			continue;
		r = rule_new(s, NFT_CHAIN, "skip-port");
		term(r, NFT_TERM_L4PROTO)->proto = protos[i];
		term_tuple_lookup(r, NFT_CT_PROTO_DST, IP_CT_DIR_ORIGINAL, "original proto-dst",
				  s->sets, NFT_SKIP_PORTS);
	}
	for (k = NFT_SKIP_4; k <= NFT_SKIP_6; k++) {
		if (!s->sets[k].n)
			continue;
		for (i = 0; i < sizeof(prefix_rules) / sizeof(prefix_rules[0]); i++) {
			r = rule_new(s, NFT_CHAIN, "skip-prefix");
			term_tuple_lookup(r, k == NFT_SKIP_4 ? prefix_rules[i].key4
							     : prefix_rules[i].key6,
					  prefix_rules[i].dir,
					  k == NFT_SKIP_4 ? prefix_rules[i].text4
							  : prefix_rules[i].text6,
					  s->sets, k);
		}
	}
}

/*
 * The window gate: one rule, `ct packets < window-from return`, right
 * after the skip rules (whose counters tests and operators read as "every
 * packet of a skipped flow", so they stay in front of it).  Each rule
 * after it wanted `ct packets >= window-from` or more, so a packet before
 * the window got no verdict from any of them; the gate ends the chain for
 * that packet at once (the base chain's return: its policy, accept), and
 * the rules drop the term.  Rule by rule, in both tiers:
 *
 *   routes-never, routes-only   had the term first (a lookup costs more
 *                               than the compare); their return ends the
 *                               chain as the gate's does
 *   mice-class                  [window-from, window-until]: keeps <= until
 *   offload (sw and hw tier)    [window-from, window-until]: keeps <= until;
 *                               with events = window the `ct event set`
 *                               still opens events only in the window
 *   offload-small (hw tier)     from small-from >= window-from: keeps its
 *                               term unless small-from is window-from
 *   readmit                     from window-from, no upper end: none left
 *   hw-return                   > window-until >= window-from: kept as it is
 *
 * A packet with no conntrack breaks the gate's ct load (no match, on to
 * the next rule), as it broke the term in each rule; every rule after the
 * gate still loads from the conntrack first, so it matches none of them.
 * A conntrack without accounting (made before any rule of `ct packets`
 * turned nf_conntrack_acct on) reads 0: the gate returns it, as every
 * rule's term refused it.  Each rule read the counter itself before; a
 * packet of the same flow on another CPU could move it between two rules
 * then as it can move it between the gate and a rule now.
 *
 * A window from packet 1 has no gate: `ct packets < 1` never holds, and
 * the `ct packets >= 1` terms stay, because they still turn away a
 * conntrack without accounting (0 packets).
 *
 * Measured (bench/route_gate_ab, the kernel alone, two runs of 13 rounds
 * paired): the eight routes-never lookups on a 93k-interval set behind
 * this gate ran at 0.969 and 0.961 of the empty set's new-flow rate, and
 * 3% faster than with the term in each rule; a `jump` to a chain of the
 * lookups was no better (return over jump 1.004, 0.991).  The default
 * chain without [routes] ran 3-4% faster than with the term in each of
 * its ten rules.
 */
static bool gated(const struct fo_config *cfg)
{
	return cfg->window_from > 1;
}

static void describe_gate(const struct fo_config *cfg, struct nft_tier_spec *s)
{
	struct nft_rule_spec *r;

	if (!gated(cfg))
		return;
	r = rule_new(s, NFT_CHAIN, "window-gate");
	term_ct_cmp(r, NFT_CT_PKTS, NFT_CMP_LT, cfg->window_from);
	term(r, NFT_TERM_RETURN);
}

/* `ct packets >= from`, unless the gate returned every packet before it. */
static void from_term(struct nft_rule_spec *r, const struct fo_config *cfg, uint32_t from)
{
	if (!gated(cfg) || from > cfg->window_from)
		term_ct_cmp(r, NFT_CT_PKTS, NFT_CMP_GTE, from);
}

/*
 * [routes]: never is the skip-prefix rule on a set routes.c fills; only
 * returns a flow none of whose four addresses is in the family's set (a
 * conntrack of the other family breaks the ct expression: no match).  An
 * empty only-set offloads nothing of its family, as the role says.  The
 * sets are looked up from packet window-from on (behind the gate), so the
 * policy holds at line rate with no round trip to the agent.
 */
static void describe_routes(const struct fo_config *cfg, struct nft_tier_spec *s)
{
	struct nft_rule_spec *r;
	struct nft_term *t;
	size_t i;
	int fam, k;

	for (fam = 0; fam < 2; fam++) {
		k = nft_plan_routes_set(ROUTE_NEVER, fam);
		for (i = 0; s->sets[k].dynamic && i < 4; i++) {
			r = rule_new(s, NFT_CHAIN, "routes-never");
			term_tuple_lookup(r, fam ? prefix_rules[i].key6 : prefix_rules[i].key4,
					  prefix_rules[i].dir,
					  fam ? prefix_rules[i].text6 : prefix_rules[i].text4, s->sets,
					  k);
		}
	}
	for (fam = 0; fam < 2; fam++) {
		k = nft_plan_routes_set(ROUTE_ONLY, fam);
		if (!s->sets[k].dynamic)
			continue;
		r = rule_new(s, NFT_CHAIN, "routes-only");
		for (i = 0; i < 4; i++) {
			t = term(r, NFT_TERM_CT_TUPLE);
			t->key = fam ? prefix_rules[i].key6 : prefix_rules[i].key4;
			t->dir = prefix_rules[i].dir;
			t->text = fam ? prefix_rules[i].text6 : prefix_rules[i].text4;
			t = term(r, NFT_TERM_LOOKUP);
			t->key = (uint32_t)k;
			t->text = s->sets[k].name;
			t->a = 1;
		}
		term(r, NFT_TERM_COUNTER);
		term(r, NFT_TERM_RETURN);
	}
}

/*
 * The learned mice classes (mice_set.c fills their server ports): a flow
 * of one returns before the offload rules see it, so the agent writes no
 * skip mark per flow.  Looked up on the window's packets only: before
 * them no rule would add the flow anyway, and past them the readmit and
 * hw-return rules keep flows the tier already took (a class that turned
 * mice since).  With events = window the rule opens the DESTROY event,
 * which the offload rule would have opened: the final counters keep
 * teaching the class, or it would decay out of the set and the mice
 * would come back once per half-life.
 */
static void describe_mice(const struct fo_config *cfg, const struct nft_tier *t,
			  struct nft_tier_spec *s)
{
	struct nft_rule_spec *r;
	struct nft_term *x;
	int k;

	for (k = NFT_MICE_TCP4; k < NFT_MICE_TCP4 + NFT_MICE_KINDS; k++) {
		if (!s->sets[k].dynamic)
			continue;
		r = rule_new(s, NFT_CHAIN, "mice-class");
		from_term(r, cfg, cfg->window_from);
		term_ct_cmp(r, NFT_CT_PKTS, NFT_CMP_LTE, cfg->window_until);
		term(r, NFT_TERM_NFPROTO)->a = k >= NFT_MICE_TCP6;
		term(r, NFT_TERM_L4PROTO)->proto = (k - NFT_MICE_TCP4) % 2 ? IPPROTO_UDP :
									     IPPROTO_TCP;
		x = term(r, NFT_TERM_CT_TUPLE);
		x->key = NFT_CT_PROTO_DST;
		x->dir = IP_CT_DIR_ORIGINAL;
		x->text = "original proto-dst";
		x = term(r, NFT_TERM_LOOKUP);
		x->key = (uint32_t)k;
		x->text = s->sets[k].name;
		term(r, NFT_TERM_COUNTER);
		if (nft_plan_events_quiet(cfg, t))
			term_ab(r, NFT_TERM_EVENT_SET, 1u << IPCT_DESTROY, 0);
		term(r, NFT_TERM_RETURN);
	}
}

/*
 * RULE_OFFLOAD: the offload rule of a tier and protocol.  In the hardware
 * tier, with min-avgpkt, it also wants `ct avgpkt >= A` (a request/response
 * mouse moves small packets; a transfer's full-size segments lift the
 * average well above), and RULE_SMALL takes flows of small packets that
 * are still alive at small-packet-window-from.  The software rule marks
 * what it offloads (value ADMIT_SW, after the add, which a refusal ends):
 * no event fires when a flow enters the flowtable, and a dump filtered on
 * this mark finds exactly the flows the rule took.  The
 * hardware tier's flows carry the agent's mark already.
 *
 * RULE_READMIT (software tier): a flow the rule offloaded once (it carries
 * the SW value) and that left the flowtable -- a flush or a firewall reload
 * destroyed the flowtable, or its entry timed out idle -- goes back on its
 * next packet, past the window's end too: those packets were on the fast
 * path already, and without this rule a flow past M would stay on the slow
 * path for good after every firewall reload.
 *
 * RULE_HW_RETURN (software tier): a hardware-tier flow (the agent's HW
 * value) that comes back to the slow path past the window's end -- idle
 * past the flowtable's timeout, or the flowtable was flushed -- was in the
 * hardware flowtable, whose rules stop at the window's end.  Without this
 * rule it would stay on the slow path for good; the hardware table cannot
 * take it back without a fresh budget decision, so it goes to the software
 * flowtable, and its field becomes the software value (the agent sees a
 * software flow, the readmit rule knows it from then on).
 */
static void describe_rule(const struct fo_config *cfg, const struct nft_tier *t, uint8_t proto,
			  enum rule_kind kind, struct nft_tier_spec *s)
{
	static const char *const comments[][2] = {
		[RULE_OFFLOAD] = { "offload-tcp", "offload-udp" },
		[RULE_SMALL] = { "offload-small-tcp", "offload-small-udp" },
		[RULE_READMIT] = { "readmit-tcp", "readmit-udp" },
		[RULE_HW_RETURN] = { "hw-return-tcp", "hw-return-udp" },
	};
	uint32_t sw = ct_admit_value(cfg->mark_mask, ADMIT_SW);
	uint32_t hw = ct_admit_value(cfg->mark_mask, ADMIT_HW);
	bool window = kind == RULE_OFFLOAD || kind == RULE_SMALL;
	struct nft_rule_spec *r = rule_new(s, NFT_CHAIN, comments[kind][proto == IPPROTO_UDP]);

	if (window)
		term_ab(r, NFT_TERM_MARK_MATCH, t->mark_and, t->mark_eq);
	else
		term_ab(r, NFT_TERM_MARK_MATCH, cfg->mark_mask, kind == RULE_READMIT ? sw : hw);
	if (kind == RULE_HW_RETURN)
		term_ct_cmp(r, NFT_CT_PKTS, NFT_CMP_GT, cfg->window_until);
	else
		from_term(r, cfg, kind == RULE_SMALL ? nft_plan_small_from(cfg) : cfg->window_from);
	if (window)
		term_ct_cmp(r, NFT_CT_PKTS, NFT_CMP_LTE, cfg->window_until);
	if (kind == RULE_OFFLOAD && cfg->min_avgpkt && t->hw)
		term_ct_cmp(r, NFT_CT_AVGPKT, NFT_CMP_GTE, cfg->min_avgpkt);
	proto_match(r, cfg, proto);
	term(r, NFT_TERM_COUNTER);
	if (window && nft_plan_events_quiet(cfg, t))
		term_ab(r, NFT_TERM_EVENT_SET, WINDOW_EVENTS, 0);
	if (kind == RULE_HW_RETURN)
		term_ab(r, NFT_TERM_MARK_KEEP, ~cfg->mark_mask, sw);
	term(r, NFT_TERM_FLOW_ADD);
	/* After the add: a refused add ends the rule (the kernel takes no
	 * closing TCP flow, and a request/response mouse's last ACK reaches
	 * packet N after its FIN), so the mark means "in the flowtable". */
	if (window && !t->hw)
		term_ab(r, NFT_TERM_MARK_OR, 0, sw);
}

void nft_rules_describe(const struct fo_config *cfg, const struct nft_tier *t,
			struct nft_tier_spec *out)
{
	static const enum rule_kind kinds[] = { RULE_OFFLOAD, RULE_SMALL, RULE_READMIT,
						RULE_HW_RETURN };
	struct nft_rule_spec *r;
	size_t i;

	out->tier = t;
	out->n_rules = 0;
	nft_plan_skip_sets(cfg, out->sets);
	describe_skip(cfg, out);
	describe_gate(cfg, out);
	describe_routes(cfg, out);
	describe_mice(cfg, t, out);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		/* The size test is the hardware tier's: a software entry
		 * costs at most a few slow-path packets (below what
		 * bench/cost_model resolves), which a flow alive at
		 * window-from pays back; a hardware slot is scarce and goes
		 * to flows that look like transfers. */
		if (kinds[i] == RULE_SMALL && (!cfg->min_avgpkt || !t->hw))
			continue;
		if (kinds[i] >= RULE_READMIT && t->hw)
			continue;
		if (cfg->proto_tcp)
			describe_rule(cfg, t, IPPROTO_TCP, kinds[i], out);
		if (cfg->proto_udp)
			describe_rule(cfg, t, IPPROTO_UDP, kinds[i], out);
	}
	/* events = window: every new conntrack starts with an empty event mask. */
	if (nft_plan_events_quiet(cfg, t)) {
		r = rule_new(out, NFT_EVENTS_CHAIN, "events-quiet");
		term(r, NFT_TERM_UNCONFIRMED);
		term_ab(r, NFT_TERM_EVENT_SET, 0, 0);
		term(r, NFT_TERM_COUNTER);
	}
}

bool nft_rules_has_chain(const struct nft_tier_spec *s, const char *chain)
{
	size_t i;

	for (i = 0; i < s->n_rules; i++)
		if (!strcmp(s->rules[i].chain, chain))
			return true;
	return false;
}
