/* nft_foreign: finds other programs' flowtables on the agent's devices (a
 * distribution firewall's, such as OpenWrt fw4's) and the rules feeding them. */
#ifndef FLOWOFFLOAD_NFT_FOREIGN_H
#define FLOWOFFLOAD_NFT_FOREIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_batch.h"
#include "nft_ruleset.h"

/* Flowtables of others that share a device with the agent, kept. */
#define NFT_FOREIGN_MAX 8
#define NFT_FOREIGN_NAME 64

struct nft_foreign_ft {
	uint32_t family;		/* NFPROTO_* of its table */
	char table[NFT_FOREIGN_NAME];
	char name[NFT_FOREIGN_NAME];
	bool hw;			/* flags offload: it binds the NIC too */
	uint32_t rules;			/* rules with `flow add @name` */
	size_t n_devs;			/* the devices it shares with the agent */
	char devs[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
};

struct nft_foreign {
	size_t n;
	bool truncated;			/* more than NFT_FOREIGN_MAX */
	struct nft_foreign_ft ft[NFT_FOREIGN_MAX];
};

/* The ruleset's generation (bumped by every committed transaction). */
int nft_foreign_gen(struct nft_conn *c, uint32_t *gen);

/* Every flowtable outside the agent's tables, in any family, that hooks a
 * device of plan (either tier), with the number of rules of its table that
 * add flows to it.  0 or a negative errno (-EINTR: the ruleset changed
 * during the dump; ask again). */
int nft_foreign_scan(struct nft_conn *c, const struct ruleset_plan *plan, struct nft_foreign *out);

/* The two steps of a scan, for one dump message each (the unit tests
 * feed them messages built with libnftnl): a NEWFLOWTABLE message is kept
 * in f when it is someone else's on a device of plan; a NEWRULE message
 * adds to ft->rules when it has `flow add @<ft->name>`. */
struct nlmsghdr;
int nft_foreign_add_flowtable(struct nft_foreign *f, const struct ruleset_plan *plan,
			      const struct nlmsghdr *m);
int nft_foreign_count_rule(struct nft_foreign_ft *ft, const struct nlmsghdr *m);

/* Is dev hooked by a foreign `flags offload` flowtable?  Its entry, or NULL. */
const struct nft_foreign_ft *nft_foreign_hw_on(const struct nft_foreign *f, const char *dev);

/* Take the devices such a flowtable holds out of plan's hardware tier
 * (they stay in software): two `flags offload` flowtables on one device
 * would both bind the NIC's flow block and fight over its table.  Returns
 * how many were taken out. */
size_t nft_foreign_drop_hw(struct ruleset_plan *plan, const struct nft_foreign *f);

/* Same findings (order included)? */
bool nft_foreign_equal(const struct nft_foreign *a, const struct nft_foreign *b);

/* "inet", "ip", ... for messages. */
const char *nft_foreign_family_str(uint32_t family);

#endif
