/* prefix_set: the routes [routes] follows, by role and family (a hash of
 * route keys), and their prefixes merged into sorted intervals; pure. */
#ifndef FLOWOFFLOAD_PREFIX_SET_H
#define FLOWOFFLOAD_PREFIX_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_plan.h"

#define PSET_FAMILIES 2		/* 0: IPv4, 1: IPv6 */

/* A route as the kernel tells it apart: table, family, destination,
 * length, tos and priority (metric). */
struct pset_route {
	uint32_t table;
	uint32_t priority;
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t len;
	uint8_t tos;
	uint8_t role;		/* enum route_role */
	uint8_t addr[16];	/* host bits zero */
};

struct pset_entry {
	struct pset_route r;
	uint32_t gen;		/* the resync that last saw it */
	uint8_t state;		/* 0 empty, 1 used, 2 deleted */
};

/* Routes followed per table and role: at most as many as [routes] lists. */
#define PSET_MAX_TABLES (ROUTE_ROLES * CONFIG_MAX_LIST)
struct pset_table_count {
	uint32_t table;
	uint8_t role;
	size_t count[PSET_FAMILIES];
};

struct prefix_set {
	struct pset_entry *slots;
	size_t cap, used, dead;
	size_t count[ROUTE_ROLES][PSET_FAMILIES];
	struct pset_table_count tables[PSET_MAX_TABLES];
	size_t n_tables;
};

int pset_family_index(uint8_t family);

void pset_init(struct prefix_set *s);
void pset_free(struct prefix_set *s);

/* Insert or refresh r (seen by resync gen).  1 new or changed role, 0 as
 * before, -ENOMEM. */
int pset_add(struct prefix_set *s, const struct pset_route *r, uint32_t gen);
/* 1 removed, 0 not there. */
int pset_del(struct prefix_set *s, const struct pset_route *r);
/* Drop the routes no resync since gen has seen; the number dropped. */
size_t pset_sweep(struct prefix_set *s, uint32_t gen);

/* Routes of table followed in role, of family index fam (0 IPv4, 1 IPv6). */
size_t pset_table_routes(const struct prefix_set *s, uint32_t table, int role, int fam);

/* The role's prefixes of a family, sorted and merged (overlapping and
 * adjacent prefixes make one interval), keys in network byte order, 4 or
 * 16 bytes used.  *out is malloc'd (NULL when empty).  0 or -ENOMEM. */
int pset_intervals(const struct prefix_set *s, int role, int fam, struct nft_interval **out,
		   size_t *n);

/* Is addr (4 or 16 bytes) inside one of the n sorted intervals? */
bool pset_contains(const struct nft_interval *iv, size_t n, int fam, const uint8_t *addr);

#endif
