/* prefix_set: followed routes in an open-addressing hash (a full table is a
 * million of them), and the merged intervals the nft sets and lookups use. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "prefix_set.h"

enum { SLOT_EMPTY, SLOT_USED, SLOT_DEAD };

int pset_family_index(uint8_t family)
{
	return family == AF_INET6 ? 1 : 0;
}

static unsigned int key_bytes(int fam)
{
	return fam ? 16 : 4;
}

void pset_init(struct prefix_set *s)
{
	memset(s, 0, sizeof(*s));
}

void pset_free(struct prefix_set *s)
{
	free(s->slots);
	pset_init(s);
}

static bool same_key(const struct pset_route *a, const struct pset_route *b)
{
	return a->table == b->table && a->priority == b->priority && a->family == b->family &&
	       a->len == b->len && a->tos == b->tos && !memcmp(a->addr, b->addr, 16);
}

static uint64_t hash(const struct pset_route *r)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t k[28];
	size_t i;

	memcpy(k, &r->table, 4);
	memcpy(k + 4, &r->priority, 4);
	k[8] = r->family;
	k[9] = r->len;
	k[10] = r->tos;
	k[11] = 0;
	memcpy(k + 12, r->addr, 16);
	for (i = 0; i < sizeof(k); i++) {
		h ^= k[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

/* The per-table counter of (table, role); a new one when there is room
 * (tables come from the config, which lists at most PSET_MAX_TABLES). */
static struct pset_table_count *table_count(struct prefix_set *s, uint32_t table, uint8_t role)
{
	size_t i;

	for (i = 0; i < s->n_tables; i++)
		if (s->tables[i].table == table && s->tables[i].role == role)
			return &s->tables[i];
	if (s->n_tables == PSET_MAX_TABLES)
		return NULL;
	s->tables[s->n_tables] = (struct pset_table_count){ .table = table, .role = role };
	return &s->tables[s->n_tables++];
}

static void count_route(struct prefix_set *s, const struct pset_route *r, int delta)
{
	struct pset_table_count *t = table_count(s, r->table, r->role);
	int fam = pset_family_index(r->family);

	s->count[r->role][fam] += (size_t)delta;
	if (t)
		t->count[fam] += (size_t)delta;
}

size_t pset_table_routes(const struct prefix_set *s, uint32_t table, int role, int fam)
{
	size_t i;

	for (i = 0; i < s->n_tables; i++)
		if (s->tables[i].table == table && s->tables[i].role == role)
			return s->tables[i].count[fam];
	return 0;
}

/* The slot holding r, or NULL. */
static struct pset_entry *find(const struct prefix_set *s, const struct pset_route *r)
{
	size_t i, mask = s->cap - 1;

	if (!s->cap)
		return NULL;
	for (i = hash(r) & mask;; i = (i + 1) & mask) {
		struct pset_entry *e = &s->slots[i];

		if (e->state == SLOT_EMPTY)
			return NULL;
		if (e->state == SLOT_USED && same_key(&e->r, r))
			return e;
	}
}

static struct pset_entry *free_slot(struct prefix_set *s, const struct pset_route *r)
{
	size_t i, mask = s->cap - 1;

	for (i = hash(r) & mask;; i = (i + 1) & mask)
		if (s->slots[i].state != SLOT_USED)
			return &s->slots[i];
}

/* Keep the table at most 70% full, tombstones included. */
static int grow(struct prefix_set *s)
{
	struct pset_entry *old = s->slots, *e;
	size_t old_cap = s->cap, cap = s->cap ? s->cap : 1024, i;

	if ((s->used + s->dead + 1) * 10 < s->cap * 7)
		return 0;
	while ((s->used + 1) * 10 >= cap * 5)
		cap *= 2;
	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		s->slots = old;
		return -ENOMEM;
	}
	s->cap = cap;
	s->dead = 0;
	for (i = 0; i < old_cap; i++) {
		if (old[i].state != SLOT_USED)
			continue;
		e = free_slot(s, &old[i].r);
		*e = old[i];
	}
	free(old);
	return 0;
}

int pset_add(struct prefix_set *s, const struct pset_route *r, uint32_t gen)
{
	struct pset_entry *e = find(s, r);

	if (e) {
		e->gen = gen;
		if (e->r.role == r->role)
			return 0;
		count_route(s, &e->r, -1);
		e->r.role = r->role;
		count_route(s, &e->r, 1);
		return 1;
	}
	if (grow(s))
		return -ENOMEM;
	e = free_slot(s, r);
	if (e->state == SLOT_DEAD)
		s->dead--;
	e->r = *r;
	e->gen = gen;
	e->state = SLOT_USED;
	s->used++;
	count_route(s, r, 1);
	return 1;
}

static void drop(struct prefix_set *s, struct pset_entry *e)
{
	count_route(s, &e->r, -1);
	e->state = SLOT_DEAD;
	s->used--;
	s->dead++;
}

int pset_del(struct prefix_set *s, const struct pset_route *r)
{
	struct pset_entry *e = find(s, r);

	if (!e)
		return 0;
	drop(s, e);
	return 1;
}

size_t pset_sweep(struct prefix_set *s, uint32_t gen)
{
	size_t i, n = 0;

	for (i = 0; i < s->cap; i++)
		if (s->slots[i].state == SLOT_USED && s->slots[i].gen != gen) {
			drop(s, &s->slots[i]);
			n++;
		}
	return n;
}

static unsigned int cmp_bytes;

static int cmp_lo(const void *a, const void *b)
{
	const struct nft_interval *x = a, *y = b;
	int c = memcmp(x->lo, y->lo, cmp_bytes);

	return c ? c : -memcmp(x->hi, y->hi, cmp_bytes);
}

/* k + 1 == other?  (adjacent intervals merge) */
static bool adjacent(const uint8_t *hi, const uint8_t *lo, unsigned int bytes)
{
	uint8_t k[16];

	memcpy(k, hi, bytes);
	if (!nft_plan_key_inc(k, bytes))
		return false;
	return !memcmp(k, lo, bytes);
}

int pset_intervals(const struct prefix_set *s, int role, int fam, struct nft_interval **out,
		   size_t *n)
{
	unsigned int bytes = key_bytes(fam), bit, i;
	size_t want = s->count[role][fam], k = 0, j, m;
	struct nft_interval *iv;

	*out = NULL;
	*n = 0;
	if (!want)
		return 0;
	iv = calloc(want, sizeof(*iv));
	if (!iv)
		return -ENOMEM;
	for (j = 0; j < s->cap && k < want; j++) {
		const struct pset_route *r = &s->slots[j].r;

		if (s->slots[j].state != SLOT_USED || r->role != role ||
		    pset_family_index(r->family) != fam)
			continue;
		memcpy(iv[k].lo, r->addr, bytes);
		memcpy(iv[k].hi, r->addr, bytes);
		for (i = r->len; i < bytes * 8; i++) {
			bit = 7 - i % 8;
			iv[k].hi[i / 8] |= (uint8_t)(1u << bit);
		}
		k++;
	}
	cmp_bytes = bytes;
	qsort(iv, k, sizeof(*iv), cmp_lo);
	for (j = 1, m = 0; j < k; j++) {
		if (memcmp(iv[j].lo, iv[m].hi, bytes) <= 0 || adjacent(iv[m].hi, iv[j].lo, bytes)) {
			if (memcmp(iv[j].hi, iv[m].hi, bytes) > 0)
				memcpy(iv[m].hi, iv[j].hi, bytes);
			continue;
		}
		iv[++m] = iv[j];
	}
	*out = iv;
	*n = k ? m + 1 : 0;
	return 0;
}

bool pset_contains(const struct nft_interval *iv, size_t n, int fam, const uint8_t *addr)
{
	unsigned int bytes = key_bytes(fam);
	size_t lo = 0, hi = n;

	/* The last interval starting at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(iv[mid].lo, addr, bytes) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && memcmp(iv[lo - 1].hi, addr, bytes) >= 0;
}
