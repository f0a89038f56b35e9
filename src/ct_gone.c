/* ct_gone: a set of conntracks that ended while a full dump runs (see
 * include/ct_gone.h). */
#include <stdlib.h>
#include <string.h>

#include "ct_gone.h"
#include "hash.h"

/* At most 2^20 slots (8 MiB), 3/4 of them used: 786,432 DESTROYs read
 * during one resync, 78,000 flows a second ending during a 10 s walk.
 * Past it the set stops growing; a stale row of what it misses brings
 * the flow back until the next resync sweeps it. */
#define GONE_MIN 1024u

/* A conntrack's key: its id, and its ports and protocol against a reused
 * id; never 0. */
static uint64_t key_of(const struct ct_info *ct)
{
	uint64_t k = (uint64_t)ct->id << 32 |
		     (((uint32_t)ct->orig.sport << 16 | ct->orig.dport) ^ ct->proto);

	return k ? k : 1;
}

static uint32_t slot_of(uint64_t k, uint32_t cap)
{
	return hash_mix32((uint32_t)(k >> 32) ^ (uint32_t)k) & (cap - 1);
}

/* Put k into slots (cap of them, not full); false if it was there. */
static bool put(uint64_t *slots, uint32_t cap, uint64_t k)
{
	uint32_t i;

	for (i = slot_of(k, cap); slots[i]; i = (i + 1) & (cap - 1))
		if (slots[i] == k)
			return false;
	slots[i] = k;
	return true;
}

void ct_gone_clear(struct ct_gone *g)
{
	if (g->used)
		memset(g->slot, 0, (size_t)g->cap * sizeof(*g->slot));
	g->used = 0;
	g->full = false;
}

/* At 3/4 full the set doubles. */
bool ct_gone_add(struct ct_gone *g, const struct ct_info *ct)
{
	if (g->full)
		return true;
	if (!g->cap || (g->used + 1) * 4 > g->cap * 3) {
		uint32_t cap = g->cap ? g->cap * 2 : GONE_MIN, i;
		uint64_t *slots;

		if (cap > CT_GONE_MAX_SLOTS || !(slots = calloc(cap, sizeof(*slots)))) {
			g->full = true;
			return false;
		}
		for (i = 0; i < g->cap; i++)
			if (g->slot[i])
				put(slots, cap, g->slot[i]);
		free(g->slot);
		g->slot = slots;
		g->cap = cap;
	}
	if (put(g->slot, g->cap, key_of(ct)))
		g->used++;
	return true;
}

bool ct_gone_has(const struct ct_gone *g, const struct ct_info *ct)
{
	uint64_t k;
	uint32_t i;

	if (!g->used)
		return false;
	k = key_of(ct);
	for (i = slot_of(k, g->cap); g->slot[i]; i = (i + 1) & (g->cap - 1))
		if (g->slot[i] == k)
			return true;
	return false;
}

void ct_gone_free(struct ct_gone *g)
{
	free(g->slot);
	memset(g, 0, sizeof(*g));
}
