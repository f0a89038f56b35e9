/* prefix_stats: flow analysis for choosing prefixes: bytes and flows of
 * finished flows per remote prefix, decayed, with the hardware share; pure. */
#ifndef FLOWOFFLOAD_PREFIX_STATS_H
#define FLOWOFFLOAD_PREFIX_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pstat {
	uint8_t family;		/* 0: empty slot */
	uint8_t len;
	uint8_t addr[16];	/* host bits zero */
	double flows, bytes, hw_bytes;	/* decayed to last_ms */
	uint64_t flows_total;
	uint64_t last_ms;
};

struct prefix_stats {
	struct pstat *slots;
	size_t cap, n, max;
	uint8_t len4, len6;
	double half_life_ms;
	uint64_t dropped;	/* flows of new prefixes refused: table full */
	uint64_t observed;
};

/* max prefixes tracked, the lengths remote addresses are cut to, the
 * half-life of what was seen.  0 or -ENOMEM. */
int pstats_init(struct prefix_stats *s, size_t max, uint8_t len4, uint8_t len6,
		uint64_t half_life_ms);
void pstats_free(struct prefix_stats *s);

/* A finished flow of bytes (both directions) whose remote end is addr;
 * hw: it was in the hardware tier. */
void pstats_observe(struct prefix_stats *s, uint8_t family, const uint8_t *addr, uint64_t bytes,
		    bool hw, uint64_t now_ms);

/* The tracked prefixes decayed to now_ms, heaviest (bytes) first, at most
 * limit, into *out (malloc'd).  The number, or -ENOMEM. */
long pstats_top(const struct prefix_stats *s, uint64_t now_ms, size_t limit, struct pstat **out);

#endif
