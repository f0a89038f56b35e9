/* flows: the agent's table of tracked conntrack entries, keyed by conntrack
 * id, bounded, with flows stored in preallocated chunks (no malloc per flow). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flows.h"
#include "hash.h"

/*
 * Layout.  The index is an open-addressing table with linear probing: each
 * slot holds the conntrack id (so probing and backward-shift deletion never
 * touch a flow's cache line) and the flow's storage number plus one (0 means
 * empty).  Several live conntracks may share an id (it is a 32-bit hash in
 * the kernel, and with a million entries collisions are certain), so a
 * lookup walks the whole probe run comparing ids, and only on an id match
 * compares the full identity in the flow itself.
 *
 * Deletion uses backward shift instead of tombstones: a table that churns
 * for months would otherwise fill with tombstones and need rehashing.
 *
 * Flows live in chunks of FLOW_CHUNK, allocated the first time the table
 * grows into them and kept until flows_destroy: a table that once held N
 * flows keeps their memory, and steady-state insert/remove never calls
 * malloc.  Free storage entries form a list linked through their ct.id
 * and are recognised by state == FLOW_STATE_MAX, which no live flow has.
 *
 * The index has ceil(max_flows * 4 / 3) slots (load at most 3/4), not a
 * power of two: at a million flows that is 11 bytes per flow instead of up
 * to 16.  A hash becomes a slot by multiply-shift (Lemire's reduction).
 * It starts at INDEX_START flows' worth and doubles (rehashing) when 3/4
 * full, up to that size: every event looks its id up at a random place in
 * the index, and a 10 MiB index for a few thousand flows made that lookup
 * a cache and TLB miss each time (measured in bench/conn_rate: the lookup
 * and the first-touch page faults were a quarter of the agent's CPU).
 */
_Static_assert(sizeof(struct flow) <= 144, "struct flow grew past 144 bytes");

#define FLOW_CHUNK_SHIFT 12
#define FLOW_CHUNK (1u << FLOW_CHUNK_SHIFT)
#define FLOWS_MAX (1u << 30)
#define INDEX_START 16384
#define FLOW_FREE FLOW_STATE_MAX
#define NO_FREE UINT32_MAX

struct slot {
	uint32_t id;
	uint32_t ref; /* storage number + 1; 0: empty */
};

struct flows {
	struct slot *slots;
	uint32_t nslots;
	uint32_t max_slots; /* nslots once grown to max_flows */
	uint32_t max; /* max_flows */
	uint32_t count; /* live flows */
	uint32_t used; /* storage numbers handed out so far (high water) */
	uint32_t free_head; /* first free storage number, or NO_FREE */
	uint32_t nchunks;
	struct flow **chunks;
};

/* Conntrack ids are hashes already on current kernels, but older ones used
 * the object's address, whose low bits are constant: mix before masking. */
static inline uint32_t id_hash(uint32_t id)
{
	return hash_mix32(id);
}

static inline struct flow *flow_at(const struct flows *t, uint32_t n)
{
	return &t->chunks[n >> FLOW_CHUNK_SHIFT][n & (FLOW_CHUNK - 1)];
}

/* IPv4 uses only the first 4 address bytes: whatever a caller left in the
 * other 12 must not make the same conntrack look like two. */
static bool tuple_eq(uint8_t family, const struct flow_tuple *a, const struct flow_tuple *b)
{
	size_t alen = family == AF_INET ? 4 : 16;

	return a->sport == b->sport && a->dport == b->dport && !memcmp(a->src, b->src, alen) &&
	       !memcmp(a->dst, b->dst, alen);
}

static bool same_ct(const struct ct_info *a, const struct ct_info *b)
{
	return a->id == b->id && a->family == b->family && a->proto == b->proto &&
	       tuple_eq(a->family, &a->orig, &b->orig);
}

static inline uint32_t home_of(const struct flows *t, uint32_t id)
{
	return (uint32_t)(((uint64_t)id_hash(id) * t->nslots) >> 32);
}

static inline uint32_t next_slot(const struct flows *t, uint32_t i)
{
	return i + 1 == t->nslots ? 0 : i + 1;
}

/* The slot holding ct, or -1. */
static long find_slot(const struct flows *t, const struct ct_info *ct)
{
	uint32_t i = home_of(t, ct->id);

	for (;; i = next_slot(t, i)) {
		const struct slot *s = &t->slots[i];

		if (!s->ref)
			return -1;
		if (s->id == ct->id && same_ct(&flow_at(t, s->ref - 1)->ct, ct))
			return i;
	}
}

/* Load factor at most 3/4 when full: linear probing degrades fast beyond
 * that.  One more than that, so a full table keeps an empty slot and every
 * probe run ends. */
static uint64_t slots_for(uint64_t flows)
{
	return (flows * 4 + 2) / 3 + 1;
}

/* Double the index (up to max_slots), every entry rehashed into the new
 * one; on failure the old one stays. */
static int grow(struct flows *t)
{
	uint64_t n = (uint64_t)t->nslots * 2;
	struct slot *ns;
	uint32_t i, j;

	if (n > t->max_slots)
		n = t->max_slots;
	ns = calloc(n, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < t->nslots; i++) {
		if (!t->slots[i].ref)
			continue;
		for (j = (uint32_t)(((uint64_t)id_hash(t->slots[i].id) * n) >> 32); ns[j].ref;
		     j = j + 1 == n ? 0 : j + 1)
			;
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->nslots = (uint32_t)n;
	return 0;
}

int flows_create(struct flows **out, size_t max_flows)
{
	struct flows *t;
	uint64_t n;

	if (!out || !max_flows || max_flows > FLOWS_MAX)
		return -EINVAL;
	n = slots_for(max_flows < INDEX_START ? max_flows : INDEX_START);

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->slots = calloc(n, sizeof(*t->slots));
	t->nchunks = (uint32_t)((max_flows + FLOW_CHUNK - 1) / FLOW_CHUNK);
	t->chunks = calloc(t->nchunks, sizeof(*t->chunks));
	if (!t->slots || !t->chunks) {
		free(t->slots);
		free(t->chunks);
		free(t);
		return -ENOMEM;
	}
	t->nslots = (uint32_t)n;
	t->max_slots = (uint32_t)slots_for(max_flows);
	t->max = (uint32_t)max_flows;
	t->free_head = NO_FREE;
	*out = t;
	return 0;
}

void flows_destroy(struct flows *t)
{
	uint32_t i;

	if (!t)
		return;
	for (i = 0; i < t->nchunks; i++)
		free(t->chunks[i]);
	free(t->chunks);
	free(t->slots);
	free(t);
}

struct flow *flows_lookup(struct flows *t, const struct ct_info *ct)
{
	long i = find_slot(t, ct);

	return i < 0 ? NULL : flow_at(t, t->slots[i].ref - 1);
}

/* A storage number for a new flow: a freed one first, so the chunks already
 * touched stay the working set. */
static int storage_get(struct flows *t, uint32_t *n)
{
	uint32_t c;

	if (t->free_head != NO_FREE) {
		*n = t->free_head;
		t->free_head = flow_at(t, *n)->ct.id;
		return 0;
	}
	if (t->used >= t->max)
		return -ENOSPC;
	c = t->used >> FLOW_CHUNK_SHIFT;
	if (!t->chunks[c]) {
		t->chunks[c] = malloc(FLOW_CHUNK * sizeof(struct flow));
		if (!t->chunks[c])
			return -ENOMEM;
	}
	*n = t->used++;
	return 0;
}

static void storage_put(struct flows *t, uint32_t n)
{
	struct flow *f = flow_at(t, n);

	f->state = FLOW_FREE;
	f->ct.id = t->free_head;
	t->free_head = n;
}

int flows_upsert(struct flows *t, const struct ct_info *ct, uint64_t now_ms, struct flow **out,
		 bool *created)
{
	struct flow *f;
	uint32_t i, n;
	long found;
	int err;

	found = find_slot(t, ct);
	if (found >= 0) {
		if (out)
			*out = flow_at(t, t->slots[found].ref - 1);
		if (created)
			*created = false;
		return 0;
	}
	if (t->count >= t->max)
		return -ENOSPC;
	/* Past 3/4 full: a larger index, or (no memory) a fuller one while
	 * an empty slot remains. */
	if (((uint64_t)t->count + 1) * 4 > (uint64_t)t->nslots * 3 && t->nslots < t->max_slots &&
	    grow(t) && t->count + 2 > t->nslots)
		return -ENOMEM;
	err = storage_get(t, &n);
	if (err)
		return err;

	f = flow_at(t, n);
	memset(f, 0, sizeof(*f));
	f->ct = *ct;
	f->state = FLOW_WAITING;
	f->tier = TIER_NONE;
	f->first_seen_ms = flow_ms(now_ms);

	for (i = home_of(t, ct->id); t->slots[i].ref; i = next_slot(t, i))
		;
	t->slots[i].id = ct->id;
	t->slots[i].ref = n + 1;
	t->count++;
	if (out)
		*out = f;
	if (created)
		*created = true;
	return 0;
}

/* Backward-shift deletion: pull later members of the probe run into the
 * hole unless that would move them before their home slot, so every run
 * stays contiguous from its home and lookups stay correct. */
static void slot_delete(struct flows *t, uint32_t hole)
{
	uint32_t j = hole, home;

	for (;;) {
		j = next_slot(t, j);
		if (!t->slots[j].ref)
			break;
		home = home_of(t, t->slots[j].id);
		/* Leave slot j alone if its home lies cyclically in (hole, j]. */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		t->slots[hole] = t->slots[j];
		hole = j;
	}
	t->slots[hole].ref = 0;
	t->slots[hole].id = 0;
}

int flows_remove(struct flows *t, const struct ct_info *ct)
{
	long i = find_slot(t, ct);
	uint32_t n;

	if (i < 0)
		return -ENOENT;
	n = t->slots[i].ref - 1;
	slot_delete(t, (uint32_t)i);
	storage_put(t, n);
	t->count--;
	return 0;
}

size_t flows_count(const struct flows *t)
{
	return t->count;
}

size_t flows_capacity(const struct flows *t)
{
	return t->max;
}

/* Walk the storage rather than the index: flows never move in storage, so
 * removals during a sweep cannot make the walk skip or repeat an entry. */
void flows_foreach(struct flows *t, void (*cb)(struct flow *f, void *arg), void *arg)
{
	uint32_t n;

	for (n = 0; n < t->used; n++) {
		struct flow *f = flow_at(t, n);

		if (f->state != FLOW_FREE)
			cb(f, arg);
	}
}

void flows_count_states(const struct flows *t, uint64_t counts[FLOW_STATE_MAX][FLOW_TIER_MAX])
{
	uint32_t n;

	memset(counts, 0, sizeof(uint64_t) * FLOW_STATE_MAX * FLOW_TIER_MAX);
	for (n = 0; n < t->used; n++) {
		const struct flow *f = flow_at(t, n);

		if (f->state < FLOW_STATE_MAX && f->tier < FLOW_TIER_MAX)
			counts[f->state][f->tier]++;
	}
}

/* A cursor is a storage number: storage never moves and the high-water
 * mark only grows, so a cursor stays valid whatever happens between two
 * calls (see flows.h for what a reader sees under churn). */
struct flow *flows_next(struct flows *t, uint32_t *pos)
{
	while (*pos < t->used) {
		struct flow *f = flow_at(t, (*pos)++);

		if (f->state != FLOW_FREE)
			return f;
	}
	return NULL;
}

bool flows_cursor_done(const struct flows *t, uint32_t pos)
{
	return pos >= t->used;
}

size_t flows_sweep(struct flows *t, uint32_t gen, void (*cb)(struct flow *f, void *arg), void *arg)
{
	size_t dropped = 0;
	uint32_t n;

	for (n = 0; n < t->used; n++) {
		struct flow *f = flow_at(t, n);
		long i;

		if (f->state == FLOW_FREE || f->gen == (gen & FLOW_GEN_MASK))
			continue;
		/* Found before the callback runs, so a callback that rewrites
		 * the flow's copy of the conntrack cannot lose the slot.
		 * Every live storage entry is indexed; a miss means someone
		 * changed a stored flow's identity, and freeing the entry
		 * anyway would leave a slot pointing at a reused one. */
		i = find_slot(t, &f->ct);
		if (i < 0 || t->slots[i].ref - 1 != n)
			abort();
		if (cb)
			cb(f, arg);
		slot_delete(t, (uint32_t)i);
		storage_put(t, n);
		t->count--;
		dropped++;
	}
	return dropped;
}

const char *flows_state_str(enum flow_state s)
{
	static const char *const names[FLOW_STATE_MAX] = {
		[FLOW_WAITING] = "waiting",	[FLOW_ADMITTED] = "admitted",
		[FLOW_OFFLOADED] = "offloaded", [FLOW_HW_OFFLOADED] = "hw-offloaded",
		[FLOW_SKIPPED] = "skipped",
	};

	if ((unsigned int)s >= FLOW_STATE_MAX)
		return "?";
	return names[s];
}

const char *flows_tier_str(enum flow_tier t)
{
	switch (t) {
	case TIER_NONE:
		return "";
	case TIER_SW:
		return "sw";
	case TIER_HW:
		return "hw";
	case FLOW_TIER_MAX:
		break;
	}
	return "?";
}
