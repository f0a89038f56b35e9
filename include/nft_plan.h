/* nft_plan: what the agent's tables hold, decided from the config and the
 * plan without libnftnl or I/O: validation, tiers, normalised skip sets. */
#ifndef FLOWOFFLOAD_NFT_PLAN_H
#define FLOWOFFLOAD_NFT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_ruleset.h"

#define NFT_KEY_MAX 16

/* nft's datatype ids (nftables src/datatype.h), kept in the set's
 * NFTA_SET_KEY_TYPE so that `nft list` prints the elements as ports and
 * addresses; the kernel itself never reads them. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_INET_SERVICE 13

/* One table of the ruleset: the software or the hardware tier.  A flow
 * may be added when ct mark & mark_and == mark_eq. */
struct nft_tier {
	const char *table;
	const char (*devs)[CONFIG_IFNAMSIZ];
	size_t n_devs;
	bool hw;
	uint32_t mark_and;
	uint32_t mark_eq;
	char comment[40];	/* the table's: "flowoffload <fingerprint>" */
	char rules_comment[40];	/* the forward chain's: "flowoffload rules <...>" */
};

/* A closed interval of keys in network byte order: what a skip port
 * range or prefix becomes in an interval set. */
struct nft_interval {
	uint8_t lo[NFT_KEY_MAX];
	uint8_t hi[NFT_KEY_MAX];
};

/* The static skip sets, then the [routes] sets that routes.c fills and
 * the learned mice classes' server ports that mice_set.c fills: they are
 * created empty (the fingerprint covers no route and no class) and exist
 * only when their role follows some table, or when classes are learned. */
enum nft_skip_kind {
	NFT_SKIP_PORTS,
	NFT_SKIP_4,
	NFT_SKIP_6,
	NFT_ROUTES_ONLY4,
	NFT_ROUTES_ONLY6,
	NFT_ROUTES_NEVER4,
	NFT_ROUTES_NEVER6,
	NFT_MICE_TCP4,
	NFT_MICE_UDP4,
	NFT_MICE_TCP6,
	NFT_MICE_UDP6,
	NFT_SKIP_KINDS
};

#define NFT_MICE_KINDS 4

/* One named interval set of static skip policy, sorted and merged. */
struct nft_skip_set {
	const char *name;
	uint32_t key_type;	/* NFT_TYPE_* */
	uint32_t key_len;
	unsigned int per_line;	/* elements on one line of nft's listing */
	bool dynamic;		/* a [routes] set: created even when empty, its
				 * elements are routes.c's */
	size_t n;
	struct nft_interval iv[CONFIG_MAX_LIST];
};

/* 0, or -EINVAL for a config or plan the kernel would refuse or that
 * would test bits that are not ours. */
int nft_plan_check(const struct fo_config *cfg, const struct ruleset_plan *plan);

/* The tiers to install (1 or 2), comments left empty. */
size_t nft_plan_tiers(const struct fo_config *cfg, const struct ruleset_plan *plan,
		      struct nft_tier t[2]);

/* The set kind of a [routes] role (ROUTE_ONLY, ROUTE_NEVER) and family
 * index (0 IPv4, 1 IPv6). */
int nft_plan_routes_set(int role, int fam);

/* The mice set of a family (AF_INET, AF_INET6) and protocol (TCP, UDP),
 * or -1 for any other. */
int nft_plan_mice_set(uint8_t family, uint8_t proto);

void nft_plan_skip_sets(const struct fo_config *cfg, struct nft_skip_set sets[NFT_SKIP_KINDS]);

/* k + 1 in place; false when k was the largest key (it wraps to zero). */
bool nft_plan_key_inc(uint8_t *k, uint32_t len);

/* events = window and the small-packet rules, as both tiers see them. */
bool nft_plan_events_quiet(const struct fo_config *cfg, const struct nft_tier *t);
uint32_t nft_plan_small_from(const struct fo_config *cfg);

#endif
