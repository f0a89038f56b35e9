/* routes: follows the kernel routing tables [routes] names (rtnetlink route
 * notifications and dumps) and keeps the agent's prefix sets equal to them. */
#ifndef FLOWOFFLOAD_ROUTES_H
#define FLOWOFFLOAD_ROUTES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "nft_ruleset.h"
#include "route_chunk.h"

struct loop;
struct nft_interval;
struct routes;

struct routes_stats {
	uint64_t events;	/* route notifications read */
	uint64_t events_ignored; /* of tables or protocols not followed */
	uint64_t overruns;	/* ENOBUFS on the notification socket */
	uint64_t resyncs;	/* full dumps of the followed tables */
	uint64_t resync_swept;	/* routes the dumps no longer had */
	uint64_t dump_errors;	/* dumps that failed or were interrupted */
	uint64_t applies;	/* set updates sent (each one or more chunks) */
	uint64_t chunks;	/* transactions they took (ROUTES_CHUNK each) */
	uint64_t largest_chunk;	/* intervals of the largest one, one tier's */
	uint64_t full_replaces;	/* ... that replaced the sets whole */
	uint64_t added;		/* intervals added to the sets */
	uint64_t removed;	/* intervals deleted from them */
	uint64_t failures;	/* transactions the kernel refused */
	uint64_t over_limit;	/* applies that left a role's family unchanged
				 * because it had more than max-prefixes routes */
	uint64_t lag_last_ms;	/* first unapplied change to its transaction */
	uint64_t lag_max_ms;
};

/* Per role and family (0 IPv4, 1 IPv6): what is followed and applied. */
struct routes_view {
	uint64_t routes[ROUTE_ROLES][2];	/* routes followed now */
	uint64_t intervals[ROUTE_ROLES][2];	/* merged, as applied */
	bool over[ROUTE_ROLES][2];		/* past max-prefixes */
	uint64_t over_count[ROUTE_ROLES];	/* applies it held back for that */
	/* Per table of the role, in [routes] order (cfg->routes[role][i]). */
	uint64_t table_routes[ROUTE_ROLES][CONFIG_MAX_LIST][2];
	uint64_t table_change_ms[ROUTE_ROLES][CONFIG_MAX_LIST]; /* 0: none yet */
	uint64_t last_change_ms;		/* loop_now_ms() of the last route change */
	uint64_t last_apply_ms;			/* ... of the last transaction */
	uint64_t last_resync_ms;
	bool pending;				/* changes not applied yet */
};

/* Roles of a flow's address: bits (1 << ROUTE_*). */
#define ROUTES_BIT(role) (1u << (role))

/* cfg and plan are the agent's, read at each use.  Opens the notification
 * socket at once, before the first dump.  Without [routes] tables nothing
 * is opened and every call is cheap. */
int routes_open(struct routes **out, struct loop *l, const struct fo_config *cfg,
		const struct ruleset_plan *plan, struct nft_ruleset *nft);
/* Dump the tables and fill the sets (a full replace: the sets of a kept
 * table may hold anything). */
int routes_start(struct routes *r);
void routes_close(struct routes *r);

/* The tables were (re)installed: their sets are empty; fill them now. */
void routes_tables_installed(struct routes *r);
/* The config was reloaded: dump again, roles may have changed. */
void routes_reload(struct routes *r);

/* The roles of addr (family AF_INET/AF_INET6, 4 or 16 bytes) as last
 * applied: the same prefixes the kernel's sets hold. */
unsigned int routes_roles(const struct routes *r, uint8_t family, const uint8_t *addr);

/* Does the agent follow tables (were there [routes] tables at start)? */
bool routes_enabled(const struct routes *r);
const struct routes_stats *routes_stats(const struct routes *r);
void routes_view(const struct routes *r, struct routes_view *v);

#endif
