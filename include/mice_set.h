/* mice_set: keeps the agent's mice sets (one per family and protocol) equal
 * to the learned mice classes' server ports, so the kernel skips them. */
#ifndef FLOWOFFLOAD_MICE_SET_H
#define FLOWOFFLOAD_MICE_SET_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "flows.h"
#include "nft_ruleset.h"

struct loop;
struct mice_set;
struct tracker;

struct mice_set_stats {
	uint64_t walks;		/* class table walks */
	uint64_t applies;	/* set transactions sent */
	uint64_t full_replaces;	/* ... that replaced the sets whole */
	uint64_t added;		/* ports added to the sets */
	uint64_t removed;	/* ports deleted from them (a class no longer mice) */
	uint64_t failures;	/* transactions the kernel refused */
	uint64_t prefix_classes; /* mice classes keyed by a server prefix: not in a set */
	uint64_t entries;	/* ports in the sets now, as applied */
	uint64_t last_apply_ms;	/* loop_now_ms() of the last transaction; 0: none */
};

/* cfg, plan and the tracker's class table are read at each use.  Without
 * class learning or without a managed ruleset every call is cheap and the
 * sets stay empty (they do not exist). */
int mice_set_open(struct mice_set **out, struct loop *l, const struct fo_config *cfg,
		  const struct ruleset_plan *plan, struct nft_ruleset *nft,
		  const struct tracker *trk);
int mice_set_start(struct mice_set *m);
void mice_set_close(struct mice_set *m);

/* The tables were (re)installed: their sets are empty; fill them soon. */
void mice_set_tables_installed(struct mice_set *m);
/* The config was reloaded: which sets exist may have changed. */
void mice_set_reload(struct mice_set *m);

/* Is the class of ct (family, protocol, server port) in the kernel's set,
 * as last applied?  The kernel then skips the flow with no mark. */
bool mice_set_contains(const struct mice_set *m, const struct ct_info *ct);

const struct mice_set_stats *mice_set_stats(const struct mice_set *m);

#endif
