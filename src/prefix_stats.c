/* prefix_stats: per remote prefix, the decayed flows and bytes of finished
 * flows and the bytes that went through the hardware tier. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "class_math.h"
#include "classes.h"
#include "prefix_stats.h"

/* A prefix whose decayed flows fell below this is forgotten when the
 * table is full. */
#define FORGET_FLOWS 0.05

int pstats_init(struct prefix_stats *s, size_t max, uint8_t len4, uint8_t len6,
		uint64_t half_life_ms)
{
	size_t cap = 16;

	memset(s, 0, sizeof(*s));
	while (cap < max * 2)
		cap *= 2;
	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	s->cap = cap;
	s->max = max;
	s->len4 = len4;
	s->len6 = len6;
	s->half_life_ms = (double)half_life_ms;
	return 0;
}

void pstats_free(struct prefix_stats *s)
{
	free(s->slots);
	s->slots = NULL;
}

static double decay(const struct prefix_stats *s, uint64_t from, uint64_t to)
{
	return to <= from ? 1.0 : class_math_pow2(-(double)(to - from) / s->half_life_ms);
}

static size_t slot_of(const struct prefix_stats *s, uint8_t family, const uint8_t *addr)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ family;
	size_t i;

	for (i = 0; i < 16; i++) {
		h ^= addr[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h ^ (h >> 31)) & (s->cap - 1);
}

static struct pstat *find(struct prefix_stats *s, uint8_t family, const uint8_t *addr, bool add)
{
	size_t i;

	for (i = slot_of(s, family, addr);; i = (i + 1) & (s->cap - 1)) {
		struct pstat *p = &s->slots[i];

		if (!p->family) {
			if (!add)
				return NULL;
			p->family = family;
			memcpy(p->addr, addr, 16);
			s->n++;
			return p;
		}
		if (p->family == family && !memcmp(p->addr, addr, 16))
			return p;
	}
}

/* Full: rebuild without the prefixes that decayed to almost nothing. */
static void forget(struct prefix_stats *s, uint64_t now_ms)
{
	struct pstat *old = s->slots, *p;
	size_t i, cap = s->cap;

	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		s->slots = old;
		return;
	}
	s->n = 0;
	for (i = 0; i < cap; i++) {
		if (!old[i].family || old[i].flows * decay(s, old[i].last_ms, now_ms) < FORGET_FLOWS)
			continue;
		p = find(s, old[i].family, old[i].addr, true);
		*p = old[i];
	}
	free(old);
}

void pstats_observe(struct prefix_stats *s, uint8_t family, const uint8_t *addr, uint64_t bytes,
		    bool hw, uint64_t now_ms)
{
	unsigned int len = family == AF_INET6 ? s->len6 : s->len4, bits = family == AF_INET6 ? 128 : 32;
	uint8_t key[16] = { 0 };
	struct pstat *p;
	double d;
	unsigned int i;

	memcpy(key, addr, bits / 8);
	for (i = len; i < bits; i++)
		key[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	p = find(s, family, key, false);
	if (!p && s->n >= s->max)
		forget(s, now_ms);
	if (!p && s->n >= s->max) {
		s->dropped++;
		return;
	}
	if (!p) {
		p = find(s, family, key, true);
		p->len = (uint8_t)len;
		p->last_ms = now_ms;
	}
	d = decay(s, p->last_ms, now_ms);
	p->flows = p->flows * d + 1;
	p->bytes = p->bytes * d + (double)bytes;
	p->hw_bytes = p->hw_bytes * d + (hw ? (double)bytes : 0);
	if (now_ms > p->last_ms)
		p->last_ms = now_ms;
	p->flows_total++;
	s->observed++;
}

static int by_bytes(const void *a, const void *b)
{
	const struct pstat *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

long pstats_top(const struct prefix_stats *s, uint64_t now_ms, size_t limit, struct pstat **out)
{
	struct pstat *v = calloc(s->n ? s->n : 1, sizeof(*v));
	size_t i, k = 0;
	double d;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < s->cap && k < s->n; i++) {
		if (!s->slots[i].family)
			continue;
		v[k] = s->slots[i];
		d = decay(s, v[k].last_ms, now_ms);
		v[k].flows *= d;
		v[k].bytes *= d;
		v[k].hw_bytes *= d;
		k++;
	}
	qsort(v, k, sizeof(*v), by_bytes);
	*out = v;
	return (long)(k < limit ? k : limit);
}
