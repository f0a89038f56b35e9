/* nft_build: a tier's description as libnftnl objects in a batch, and the
 * table's fingerprint taken from those messages. */
#ifndef FLOWOFFLOAD_NFT_BUILD_H
#define FLOWOFFLOAD_NFT_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libnftnl/rule.h>

#include "config.h"
#include "nft_batch.h"
#include "nft_rules.h"

/* Replace the tier's table: drop it, add it with s->tier->comment, then
 * its flowtable, chains, sets and rules. */
int nft_build_tier(struct nft_batch *b, const struct nft_tier_spec *s);

/* What of a tier's chains and sets the kernel holds now. */
struct nft_tier_present {
	bool chain, events_chain;
	bool sets[NFT_SKIP_KINDS];
};

/* Replace the tier's chains, sets and rules in place, keeping the table
 * and its flowtable (and the flowtable's entries): delete those p says are
 * there, then add them as s describes. */
int nft_build_tier_rules(struct nft_batch *b, const struct nft_tier_spec *s,
			 const struct nft_tier_present *p);

/* `table x; delete table x`: creating first makes the delete succeed
 * whether or not the table existed, in the same transaction. */
int nft_build_table_drop(struct nft_batch *b, const char *table);

/* The tier's flowtable gains (add) or loses the n devices in place, in one
 * message; nothing for n == 0. */
int nft_build_flowtable_devices(struct nft_batch *b, const char *table, bool hw, bool add,
				const char (*devs)[CONFIG_IFNAMSIZ], size_t n);

/* A table with a `flags offload` flowtable on dev alone. */
int nft_build_probe(struct nft_batch *b, const char *table, const char *dev);

/* One rule of the description; set_ids maps the skip set kinds to their
 * ids in the batch.  NULL when out of memory. */
struct nftnl_rule *nft_build_rule(const char *table, const struct nft_rule_spec *r,
				  const uint32_t *set_ids);

/* A [routes] set (s: its name and key) changed in place: flush it first,
 * or delete the n_del intervals; then add the n_add intervals.  Messages
 * the update takes at most: nft_build_set_update_msgs. */
int nft_build_set_update(struct nft_batch *b, const char *table, const struct nft_skip_set *s,
			 bool flush, const struct nft_interval *del, size_t n_del,
			 const struct nft_interval *add, size_t n_add);
size_t nft_build_set_update_msgs(size_t n_del, size_t n_add);

/* "flowoffload <16 hex digits>" into table_comment: a hash of the messages
 * that build the tier's table (its comment left out) and flowtable (its
 * devices left out); "flowoffload rules <16 hex digits>" into
 * rules_comment: of the chains (that comment left out), sets and rules.
 * Both buffers len bytes.  0 or a negative errno. */
int nft_build_fingerprint(const struct nft_tier_spec *s, char *table_comment,
			  char *rules_comment, size_t len);

#endif
