/* nft_rules: the rules of a tier, described once as lists of match and
 * action terms that the text and the libnftnl emitters both walk. */
#ifndef FLOWOFFLOAD_NFT_RULES_H
#define FLOWOFFLOAD_NFT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_plan.h"

/* Each kind is one piece of nft syntax and the expressions it compiles
 * to (nft_terms.c holds both, side by side). */
enum nft_term_kind {
	NFT_TERM_MARK_MATCH,	/* ct mark & a == b */
	NFT_TERM_CT_CMP,	/* ct packets|avgpkt OP n */
	NFT_TERM_L4PROTO,	/* meta l4proto tcp|udp */
	NFT_TERM_NFPROTO,	/* meta nfproto ipv4|ipv6 (a: 1 for ipv6) */
	NFT_TERM_TCP_ACK_ONLY,	/* tcp flags & (fin | syn | rst | ack) == ack */
	NFT_TERM_SEEN_REPLY,	/* ct status & seen-reply == seen-reply */
	NFT_TERM_UNCONFIRMED,	/* ct status & confirmed == 0 */
	NFT_TERM_CT_TUPLE,	/* ct original proto-dst, ct reply ip6 daddr... */
	NFT_TERM_LOOKUP,	/* @set, or with a != 0: != @set */
	NFT_TERM_COUNTER,
	NFT_TERM_EVENT_SET,	/* ct event set a */
	NFT_TERM_MARK_OR,	/* ct mark set ct mark | b */
	NFT_TERM_MARK_KEEP,	/* ct mark set ct mark & (a | b) | b */
	NFT_TERM_RETURN,
	NFT_TERM_FLOW_ADD,	/* flow add @ft */
};

struct nft_term {
	enum nft_term_kind kind;
	uint32_t key;		/* NFT_CT_* or the skip set kind */
	uint32_t op;		/* NFT_CMP_* */
	uint32_t a, b;
	uint8_t dir, proto;
	const char *text;	/* CT_TUPLE: "original proto-dst"... */
};

#define NFT_TERMS_MAX 12
/* 2 skip-port, 8 skip-prefix, the window gate, 8 routes-never, 2
 * routes-only, 4 mice-class, 2 offload, 2 small-packet, 2 readmit, 2
 * hw-return and the events-quiet rule. */
#define NFT_RULES_MAX 34

struct nft_rule_spec {
	const char *chain;
	const char *comment;
	size_t n;
	struct nft_term t[NFT_TERMS_MAX];
};

/* A tier's contents: its skip sets and its rules in chain order. */
struct nft_tier_spec {
	const struct nft_tier *tier;
	struct nft_skip_set sets[NFT_SKIP_KINDS];
	size_t n_rules;
	struct nft_rule_spec rules[NFT_RULES_MAX];
};

void nft_rules_describe(const struct fo_config *cfg, const struct nft_tier *t,
			struct nft_tier_spec *out);

/* Does any rule go in chain?  The events chain exists only for its rule. */
bool nft_rules_has_chain(const struct nft_tier_spec *s, const char *chain);

#endif
