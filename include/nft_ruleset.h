/* nft_ruleset: the agent's nftables tables (software tier `inet flowoffload`,
 * hardware tier `inet flowoffload_hw`), built with libnftnl, installed and
 * removed in one transaction each, and rendered as nft text for humans. */
#ifndef FLOWOFFLOAD_NFT_RULESET_H
#define FLOWOFFLOAD_NFT_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define NFT_TABLE_SW "flowoffload"
#define NFT_TABLE_HW "flowoffload_hw"
#define NFT_FLOWTABLE "ft"
#define NFT_CHAIN "forward"
#define NFT_EVENTS_CHAIN "events"	/* events = window: the quiet mask */

/* What to install: the devices of each tier (a device may be in both: the
 * kernel accepts one flowtable per device per table). */
struct ruleset_plan {
	size_t n_sw;
	char sw_devs[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	size_t n_hw;	/* 0: no hardware table */
	char hw_devs[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
};

/* The ruleset as an nft script (what --check-config prints); *out is
 * malloc'd.  Loading it with `nft -f` gives the same tables as install. */
int nft_ruleset_render(const struct fo_config *cfg, const struct ruleset_plan *plan, char **out);

/* The install batch as the kernel receives it (begin, every message, end),
 * hex-dumped one message at a time under the object it builds, with
 * sequence numbers counted from 0 and no stale hardware table to drop:
 * what the golden files and `ruleset_tool batch` compare.  *out is
 * malloc'd. */
int nft_ruleset_dump_batch(const struct fo_config *cfg, const struct ruleset_plan *plan,
			   char **out);

struct nft_ruleset;

int nft_ruleset_open(struct nft_ruleset **out);

/* One batch: replace the agent's tables.  A tier whose table and
 * flowtable (fingerprint and devices) are already the ones to install
 * keeps both, and with them the offloaded flows; only its chains, sets and
 * rules are replaced.  Any other tier's table is replaced whole (which
 * evicts its flows).  Never touches other tables.  On refusal nothing
 * changes and err holds the object and the kernel's extended-ACK
 * message. */
int nft_ruleset_install(struct nft_ruleset *r, const struct fo_config *cfg,
			const struct ruleset_plan *plan, char *err, size_t errlen);

/* Tiers the last successful install replaced in place (0 after a failed
 * one). */
unsigned int nft_ruleset_kept(const struct nft_ruleset *r);

/* One batch deleting the agent's tables that exist.  0 when none did. */
int nft_ruleset_remove(struct nft_ruleset *r, char *err, size_t errlen);

/* Does the kernel accept a `flags offload` flowtable on dev?  Asked in a
 * batch that is never committed.  0 yes, -EOPNOTSUPP no, other -errno. */
int nft_ruleset_probe_hw(struct nft_ruleset *r, const char *dev, char *err, size_t errlen);

/* The connection queries go through (nft_foreign asks on it). */
struct nft_conn *nft_ruleset_conn(struct nft_ruleset *r);

/* Are both (or, with n_hw == 0, the software) tables currently present? */
int nft_ruleset_present(struct nft_ruleset *r, const struct ruleset_plan *plan);

/* Is exactly this ruleset installed already?  Each table carries a
 * fingerprint of itself and its flowtable in its comment, its forward
 * chain one of the chains, sets and rules.  1 yes, 0 no (absent,
 * different, or incomplete), or a negative errno. */
int nft_ruleset_installed(struct nft_ruleset *r, const struct fo_config *cfg,
			  const struct ruleset_plan *plan);

/* The netlink port id of the socket installs go through: nftables events
 * carry it, so the agent can tell its own changes from anyone else's. */
uint32_t nft_ruleset_portid(const struct nft_ruleset *r);

/* The devices each tier's flowtable hooks in the kernel now, into kernel
 * (n_hw 0 without a hardware table): NFT_RULESET_SW | NFT_RULESET_HW for
 * the flowtables found, or a negative errno. */
#define NFT_RULESET_SW 1
#define NFT_RULESET_HW 2
int nft_ruleset_read_devices(struct nft_ruleset *r, struct ruleset_plan *kernel);

/* One batch taking the flowtables from kernel (as read, present as
 * returned) to want's devices in place: flows through the devices that
 * stay keep their entries.  A hardware tier that appears or goes is its
 * table added or dropped.  The number of devices added and removed (0:
 * nothing sent), -ENOENT without the software flowtable (a restore's job),
 * or a negative errno with err naming the object. */
int nft_ruleset_update_devices(struct nft_ruleset *r, const struct fo_config *cfg,
			       const struct ruleset_plan *kernel, int present,
			       const struct ruleset_plan *want, char *err, size_t errlen);

/* One [routes] set's change, applied in each table of the plan. */
struct nft_set_update {
	int kind;			/* enum nft_skip_kind, NFT_ROUTES_* */
	bool flush;			/* replace the set whole */
	const void *del, *add;		/* struct nft_interval arrays */
	size_t n_del, n_add;
};

/* One transaction: every update in the software table and, with n_hw, the
 * hardware table.  The messages sent (0: nothing to do), or a negative
 * errno with err naming the object and the kernel's message. */
int nft_ruleset_update_sets(struct nft_ruleset *r, const struct fo_config *cfg,
			    const struct ruleset_plan *plan, const struct nft_set_update *u,
			    size_t n, char *err, size_t errlen);

void nft_ruleset_close(struct nft_ruleset *r);

#endif
