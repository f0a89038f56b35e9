/* ct_gone: the conntracks whose DESTROY event was read while a full dump
 * runs.  Their rows may still come in that dump, older than the event; the
 * tracker drops them.  An open-addressing set of conntrack keys. */
#ifndef FLOWOFFLOAD_CT_GONE_H
#define FLOWOFFLOAD_CT_GONE_H

#include <stdbool.h>
#include <stdint.h>

#include "ct_parse.h"

/* Its bound: at most 2^20 slots (8 MiB), grown at 3/4 full, so at most
 * 786,432 keys. */
#define CT_GONE_MAX_SLOTS (1u << 20)
#define CT_GONE_MAX_KEYS (CT_GONE_MAX_SLOTS / 4 * 3)

struct ct_gone {
	uint64_t *slot;		/* 0 = empty */
	uint32_t cap;		/* slots, a power of two; 0 before first use */
	uint32_t used;
	bool full;		/* reached its bound: takes no more until emptied */
};

/* Empty the set (its memory is kept for the next dump). */
void ct_gone_clear(struct ct_gone *g);
/* Remember ct.  false when the set is at its bound (or out of memory) and
 * did not take it: only the first such call of a dump returns false, so a
 * caller can count dumps that overflowed. */
bool ct_gone_add(struct ct_gone *g, const struct ct_info *ct);
bool ct_gone_has(const struct ct_gone *g, const struct ct_info *ct);
void ct_gone_free(struct ct_gone *g);

#endif
