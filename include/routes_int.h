/* routes_int.h: what routes.c (the sets, the lifecycle) and route_watch.c
 * (route notifications and table dumps) share; private to the two. */
#ifndef FLOWOFFLOAD_ROUTES_INT_H
#define FLOWOFFLOAD_ROUTES_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "config.h"
#include "nft_plan.h"
#include "prefix_set.h"
#include "routes.h"

struct loop;
struct loop_timer;
struct nl_sock;

#define RETRY_MS 1000
#define MAX_DUMPS (2 * ROUTE_ROLES * CONFIG_MAX_LIST)

struct routes {
	struct loop *loop;
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct nft_ruleset *nft;
	struct nl_sock *nl;		/* notifications */
	struct nl_sock *dump;		/* table dumps, read from the loop */
	struct loop_timer *settle, *resync;
	struct prefix_set ps;
	uint32_t gen;			/* the current resync's generation */
	/* The dumps of one resync: a (family, table) each. */
	size_t n_dumps, dump_next;
	uint8_t dump_family[MAX_DUMPS];
	uint32_t dump_table[MAX_DUMPS];
	uint32_t dump_seq;
	bool dumping, again;		/* again: a resync was asked meanwhile */
	bool synced;			/* the first resync completed */
	bool full;			/* the next apply replaces the sets whole */
	struct nft_interval *applied[ROUTE_ROLES][2];
	size_t n_applied[ROUTE_ROLES][2];
	bool over[ROUTE_ROLES][2];
	uint64_t over_count[ROUTE_ROLES];
	uint64_t table_change_ms[ROUTE_ROLES][CONFIG_MAX_LIST];
	size_t chunk;			/* intervals per transaction (ROUTES_CHUNK) */
	uint64_t first_change_ms;	/* first change not yet applied, 0: none */
	uint64_t last_change_ms, last_apply_ms, last_resync_ms;
	struct backoff retry;
	struct routes_stats st;
};

/* routes.c: a route of table changed; an apply is due (debounced). */
void routes_changed(struct routes *r, uint32_t table);
void routes_schedule_apply(struct routes *r);

/* route_watch.c: the loop's callbacks, and a resync (dumps) started. */
void routes_on_event(struct loop *l, int fd, uint32_t events, void *arg);
void routes_on_dump(struct loop *l, int fd, uint32_t events, void *arg);
void routes_on_resync(struct loop *l, struct loop_timer *t, void *arg);
void routes_start_resync(struct routes *r);

#endif
