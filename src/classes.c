/* classes: per service class, decayed log-scale histograms of the sizes and
 * durations of finished flows, in a table bounded and allocated at create. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "class_clients.h"
#include "class_math.h"
#include "classes.h"
#include "hash.h"

/*
 * Decay.  A flow observed at time t weighs 2^(-(now - t) / half_life) at
 * now.  Rather than multiplying every bucket of a class by the decay each
 * time it is touched, the table stores weights relative to one epoch E:
 * an observation at t adds 2^((t - E) / half_life), and the weight at now
 * is the stored value times 2^(-(now - E) / half_life) ("forward decay",
 * Cormode et al., ICDE 2009).  The same factor scales every class, so:
 *
 *  - an observation costs one exp2 and a few additions, and a verdict one
 *    exp2 and a multiplication; nothing is touched to decay it;
 *  - shares and percentiles are ratios inside a class: no factor at all;
 *  - the order of the classes by decayed weight does not change with time,
 *    only when a class is observed, so a min-heap on the stored weight
 *    always has the lightest class at its root: eviction is O(log n).
 *
 * The increments grow by 2 per half-life; once they would pass 2^256 (256
 * half-lives, 42 hours at 10 minutes) every stored value is multiplied by
 * the same power of two and E moves forward: exact, and order-preserving
 * (only a class lighter than 2^-1000 of a flow loses precision or becomes
 * zero).  Doubles keep a busy class exact: a float bucket stops counting
 * new flows at 2^24 of weight, which a class of 20000 flows/s reaches at a
 * 10-minute half-life.
 *
 * Eviction.  When the table is full, a new class replaces the one with the
 * smallest decayed weight, whatever that weight: a new service must get
 * its chance to be learned.  A new class enters with the weight of one
 * flow, more than any class whose flows have decayed below one flow, so a
 * stream of one-off keys (a port scan) churns through the slots of the
 * lightest classes, oldest first: a class is replaced only when it is the
 * lightest of all, and the heavy classes, the ones a verdict is worth
 * having for, keep their slots as long as the table has room for at least
 * one class more than them.
 *
 * Index: open addressing with linear probing at load <= 3/4, each slot
 * holding the key's hash and the class number + 1; deletion by backward
 * shift (as in flows.c).
 */

#define HIST_BUCKETS CLASSES_HIST_BUCKETS
#define RENORM_HALF_LIVES 256

enum { H_PACKETS = 0, H_BYTES, H_DURATION, H_MAX };

/* Bucket 0 holds values <= 2^base, bucket i (0 < i < last) values in
 * (2^(base+i-1), 2^(base+i)], the last bucket everything above: packets
 * 1 .. 4M, bytes 256 B .. 1 GiB, durations 8 ms .. 9.3 hours. */
static const uint8_t hist_base[H_MAX] = {
	[H_PACKETS] = 0,
	[H_BYTES] = 8,
	[H_DURATION] = 3,
};

/* No padding: memcmp and hashing see only the fields. */
struct class_key {
	uint8_t family;
	uint8_t proto;
	uint8_t prefix_len;
	uint8_t zero;
	uint16_t port;
	uint8_t server[16];
};

struct class {
	double w; /* weight, relative to the epoch */
	double mice; /* the part of w from mice */
	double hist[H_MAX][HIST_BUCKETS];
	uint64_t max_seen[H_MAX];
	uint64_t flows_total;
	uint64_t last_ms;
	uint32_t heap_pos;
	struct class_key key;
	struct class_clients clients; /* the heaviest clients, for the verdict */
};

struct slot {
	uint32_t hash;
	uint32_t ref; /* class number + 1; 0: empty */
};

/* One line of a snapshot's ranking. */
struct rank {
	double w;
	const struct class *cl;
};

struct classes {
	struct classes_params p;
	struct slot *slots;
	uint32_t mask; /* slot count - 1 */
	uint32_t count; /* classes in use: cls[0 .. count) */
	struct class *cls; /* max_classes */
	uint32_t *heap; /* class numbers, min-heap on cls[].w */
	struct rank *ranks; /* scratch for snapshots, max_classes */
	uint64_t epoch_ms;
	uint64_t latest_ms; /* the latest observation time */
	bool started; /* epoch_ms set by a first observation */
	size_t memory;
	struct classes_counters ctr;
};

static uint32_t key_hash(const struct class_key *k, uint32_t seed)
{
	const uint8_t *b = (const uint8_t *)k;
	uint32_t h = seed ^ 0x811c9dc5u;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 0x01000193u;
	/* FNV alone leaves the low bits, which pick the slot, weak. */
	return hash_mix32(h);
}

/* The class key of a conntrack: false when the agent never offloads it. */
static bool key_of(const struct classes *c, const struct ct_info *ct, struct class_key *k)
{
	unsigned int alen, plen, full, rem;

	if (ct->proto != IPPROTO_TCP && ct->proto != IPPROTO_UDP)
		return false;
	if (ct->family == AF_INET) {
		alen = 4;
		plen = c->p.prefix4;
	} else if (ct->family == AF_INET6) {
		alen = 16;
		plen = c->p.prefix6;
	} else {
		return false;
	}
	memset(k, 0, sizeof(*k));
	k->family = ct->family;
	k->proto = ct->proto;
	k->prefix_len = (uint8_t)plen;
	k->port = ct->orig.dport;
	full = plen / 8;
	rem = plen % 8;
	memcpy(k->server, ct->orig.dst, full);
	if (rem && full < alen)
		k->server[full] = ct->orig.dst[full] & (uint8_t)(0xff00u >> rem);
	return true;
}

/* The slot of the class with key k (hash h), or -1. */
static long find_slot(const struct classes *c, const struct class_key *k, uint32_t h)
{
	uint32_t i;

	for (i = h & c->mask;; i = (i + 1) & c->mask) {
		const struct slot *s = &c->slots[i];

		if (!s->ref)
			return -1;
		if (s->hash == h && !memcmp(&c->cls[s->ref - 1].key, k, sizeof(*k)))
			return i;
	}
}

static void slot_insert(struct classes *c, uint32_t h, uint32_t n)
{
	uint32_t i;

	for (i = h & c->mask; c->slots[i].ref; i = (i + 1) & c->mask)
		;
	c->slots[i].hash = h;
	c->slots[i].ref = n + 1;
}

/* Backward-shift deletion: pull later members of the probe run into the
 * hole unless that would move them before their home slot. */
static void slot_delete(struct classes *c, uint32_t hole)
{
	uint32_t j = hole, home;

	for (;;) {
		j = (j + 1) & c->mask;
		if (!c->slots[j].ref)
			break;
		home = c->slots[j].hash & c->mask;
		/* Leave slot j alone if its home lies cyclically in (hole, j]. */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		c->slots[hole] = c->slots[j];
		hole = j;
	}
	c->slots[hole].ref = 0;
	c->slots[hole].hash = 0;
}

static void heap_set(struct classes *c, uint32_t pos, uint32_t n)
{
	c->heap[pos] = n;
	c->cls[n].heap_pos = pos;
}

static void heap_up(struct classes *c, uint32_t pos)
{
	uint32_t n = c->heap[pos];
	double w = c->cls[n].w;

	while (pos) {
		uint32_t parent = (pos - 1) / 2;

		if (c->cls[c->heap[parent]].w <= w)
			break;
		heap_set(c, pos, c->heap[parent]);
		pos = parent;
	}
	heap_set(c, pos, n);
}

static void heap_down(struct classes *c, uint32_t pos)
{
	uint32_t n = c->heap[pos];
	double w = c->cls[n].w;

	for (;;) {
		uint32_t child = 2 * pos + 1;

		if (child >= c->count)
			break;
		if (child + 1 < c->count && c->cls[c->heap[child + 1]].w < c->cls[c->heap[child]].w)
			child++;
		if (w <= c->cls[c->heap[child]].w)
			break;
		heap_set(c, pos, c->heap[child]);
		pos = child;
	}
	heap_set(c, pos, n);
}

int classes_create(struct classes **out, const struct classes_params *p)
{
	struct classes *c;
	uint64_t want, n = 2;

	if (!out || !p || !p->max_classes || p->max_classes > CLASSES_MAX || !p->half_life_ms ||
	    !p->mice_share_pct || p->mice_share_pct > 100 || p->prefix4 > 32 || p->prefix6 > 128 ||
	    p->min_clients > CLASS_CLIENTS_MAX)
		return -EINVAL;
	want = ((uint64_t)p->max_classes * 4 + 2) / 3;
	while (n < want)
		n <<= 1;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = *p;
	c->mask = (uint32_t)(n - 1);
	c->slots = calloc(n, sizeof(*c->slots));
	if (!c->slots)
		goto err_slots;
	c->cls = calloc(p->max_classes, sizeof(*c->cls));
	if (!c->cls)
		goto err_cls;
	c->heap = calloc(p->max_classes, sizeof(*c->heap));
	if (!c->heap)
		goto err_heap;
	c->ranks = calloc(p->max_classes, sizeof(*c->ranks));
	if (!c->ranks)
		goto err_ranks;
	c->memory =
		sizeof(*c) + n * sizeof(*c->slots) +
		(size_t)p->max_classes * (sizeof(*c->cls) + sizeof(*c->heap) + sizeof(*c->ranks));
	*out = c;
	return 0;

err_ranks:
	free(c->heap);
err_heap:
	free(c->cls);
err_cls:
	free(c->slots);
err_slots:
	free(c);
	return -ENOMEM;
}

void classes_destroy(struct classes *c)
{
	if (!c)
		return;
	free(c->ranks);
	free(c->heap);
	free(c->cls);
	free(c->slots);
	free(c);
}

/* Move the epoch to within a half-life of now, scaling every stored weight
 * by the same power of two. */
static void renormalize(struct classes *c, uint64_t now_ms)
{
	uint64_t k = (now_ms - c->epoch_ms) / c->p.half_life_ms;
	double f = class_math_pow2(k > 2000 ? -2000.0 : -(double)k);
	uint32_t n;
	int h, b;

	for (n = 0; n < c->count; n++) {
		struct class *cl = &c->cls[n];

		cl->w *= f;
		cl->mice *= f;
		class_clients_scale(&cl->clients, f);
		for (h = 0; h < H_MAX; h++)
			for (b = 0; b < HIST_BUCKETS; b++)
				cl->hist[h][b] *= f;
	}
	c->epoch_ms += k * c->p.half_life_ms;
}

static void hist_add(struct class *cl, int h, uint64_t v, double inc)
{
	cl->hist[h][class_math_bucket(v, hist_base[h])] += inc;
	if (v > cl->max_seen[h])
		cl->max_seen[h] = v;
}

/* The class for key k: the existing one, or a new one of weight zero (in a
 * free entry, or in the lightest class's) already placed in the heap; the
 * caller weighs it and sifts it down. */
static struct class *class_get(struct classes *c, const struct class_key *k, uint32_t h)
{
	long i = find_slot(c, k, h);
	struct class *cl;
	uint32_t n;

	if (i >= 0)
		return &c->cls[c->slots[i].ref - 1];
	if (c->count < c->p.max_classes) {
		n = c->count++;
		cl = &c->cls[n];
		memset(cl, 0, sizeof(*cl));
		heap_set(c, c->count - 1, n);
		heap_up(c, c->count - 1);
	} else {
		/* The root is the lightest; the newcomer starts from zero
		 * there, which keeps the heap valid until it is weighed. */
		n = c->heap[0];
		cl = &c->cls[n];
		i = find_slot(c, &cl->key, key_hash(&cl->key, c->p.hash_seed));
		if (i < 0)
			abort(); /* every class is indexed */
		slot_delete(c, (uint32_t)i);
		memset(cl, 0, sizeof(*cl));
		cl->heap_pos = 0;
		c->ctr.evicted++;
	}
	cl->key = *k;
	slot_insert(c, h, n);
	c->ctr.created++;
	return cl;
}

void classes_observe(struct classes *c, const struct ct_info *ct, uint64_t duration_ms,
		     uint64_t now_ms)
{
	struct class_key k;
	struct class *cl;
	uint64_t packets;
	bool mouse;
	double inc;

	if (!c || !ct)
		return;
	if (!ct->has_counters) {
		c->ctr.no_counters++;
		return;
	}
	if (!key_of(c, ct, &k)) {
		c->ctr.unsupported++;
		return;
	}
	/* Never answered: never offloadable either (the kernel offloads
	 * established TCP only, the agent waits for a UDP reply), and a scan
	 * or a SYN flood must not make a real service look like mice. */
	if (ct->has_status && !(ct->status & FO_IPS_SEEN_REPLY)) {
		c->ctr.unanswered++;
		return;
	}

	if (!c->started) {
		c->started = true;
		c->epoch_ms = now_ms;
		c->latest_ms = now_ms;
	}
	if (now_ms < c->latest_ms)
		now_ms = c->latest_ms;
	c->latest_ms = now_ms;
	if (now_ms - c->epoch_ms >= (uint64_t)RENORM_HALF_LIVES * c->p.half_life_ms)
		renormalize(c, now_ms);
	inc = class_math_pow2((double)(now_ms - c->epoch_ms) / c->p.half_life_ms);

	cl = class_get(c, &k, key_hash(&k, c->p.hash_seed));
	packets = ct->packets[0] + ct->packets[1];
	mouse = packets < c->p.mice_packets;
	cl->w += inc;
	if (mouse)
		cl->mice += inc;
	class_clients_add(&cl->clients, class_clients_id(ct, c->p.hash_seed), inc, mouse);
	hist_add(cl, H_PACKETS, packets, inc);
	hist_add(cl, H_BYTES, ct->bytes[0] + ct->bytes[1], inc);
	hist_add(cl, H_DURATION, duration_ms, inc);
	cl->flows_total++;
	cl->last_ms = now_ms;
	heap_down(c, cl->heap_pos);
	c->ctr.observed++;
}

/* Stored weight to flows at now_ms. */
static double decay_at(const struct classes *c, uint64_t now_ms)
{
	if (now_ms <= c->epoch_ms)
		return 1.0;
	return class_math_pow2(-(double)(now_ms - c->epoch_ms) / c->p.half_life_ms);
}

/* decay: stored weight to flows now.  The counts are those of
 * class_clients_count: each client capped, and min-clients of them needed. */
static enum class_verdict verdict_of(const struct classes *c, const struct class *cl, double decay,
				     struct class_count *n)
{
	class_clients_count(&cl->clients, cl->w, cl->mice, c->p.min_clients, n);
	/* The relative slack keeps 20 flows observed a moment ago at 20, not
	 * 19.999999999 after the round trip through the epoch's scale. */
	if (!(n->w > 0) || n->w * decay * (1 + 1e-9) < c->p.min_flows)
		return CLASS_LEARNING;
	if (n->clients < c->p.min_clients)
		return CLASS_LEARNING;
	if (n->mice * 100 >= n->w * c->p.mice_share_pct)
		return CLASS_MICE;
	return CLASS_MIXED;
}

enum class_verdict classes_verdict(struct classes *c, const struct ct_info *ct, uint64_t now_ms)
{
	struct class_count n;
	struct class_key k;
	long i;

	if (!c || !ct || !key_of(c, ct, &k))
		return CLASS_LEARNING;
	i = find_slot(c, &k, key_hash(&k, c->p.hash_seed));
	if (i < 0)
		return CLASS_LEARNING;
	return verdict_of(c, &c->cls[c->slots[i].ref - 1], decay_at(c, now_ms), &n);
}

/* The q-quantile of the class's histogram h. */
static uint64_t quantile(const struct class *cl, int h, double q)
{
	return class_math_quantile(cl->hist[h], hist_base[h], cl->max_seen[h], q);
}

static void fill_stats(const struct classes *c, const struct class *cl, double decay,
		       struct class_stats *s)
{
	struct class_count n;

	memset(s, 0, sizeof(*s));
	s->family = cl->key.family;
	s->proto = cl->key.proto;
	s->prefix_len = cl->key.prefix_len;
	memcpy(s->server, cl->key.server, sizeof(s->server));
	s->port = cl->key.port;
	s->weight = cl->w * decay;
	s->mice_share = cl->w > 0 ? cl->mice / cl->w : 0;
	if (s->mice_share > 1)
		s->mice_share = 1;
	s->flows_total = cl->flows_total;
	s->packets_p50 = quantile(cl, H_PACKETS, 0.50);
	s->packets_p90 = quantile(cl, H_PACKETS, 0.90);
	s->packets_p99 = quantile(cl, H_PACKETS, 0.99);
	s->bytes_p50 = quantile(cl, H_BYTES, 0.50);
	s->bytes_p90 = quantile(cl, H_BYTES, 0.90);
	s->bytes_p99 = quantile(cl, H_BYTES, 0.99);
	s->duration_ms_p50 = quantile(cl, H_DURATION, 0.50);
	s->duration_ms_p90 = quantile(cl, H_DURATION, 0.90);
	s->verdict = verdict_of(c, cl, decay, &n);
	memcpy(s->packets_hist, cl->hist[H_PACKETS], sizeof(s->packets_hist));
	s->packets_max = cl->max_seen[H_PACKETS];
	s->counted_weight = n.w * decay;
	s->clients = n.clients;
	s->last_ms = cl->last_ms;
}

int classes_get(struct classes *c, const struct ct_info *ct, uint64_t now_ms,
		struct class_stats *out)
{
	struct class_key k;
	long i;

	if (!c || !ct || !out || !key_of(c, ct, &k))
		return -ENOENT;
	i = find_slot(c, &k, key_hash(&k, c->p.hash_seed));
	if (i < 0)
		return -ENOENT;
	fill_stats(c, &c->cls[c->slots[i].ref - 1], decay_at(c, now_ms), out);
	return 0;
}

size_t classes_foreach_mice(struct classes *c, uint64_t now_ms,
			    void (*cb)(const struct class_stats *s, void *arg), void *arg)
{
	struct class_stats s;
	struct class_count n;
	double decay;
	size_t seen = 0;
	uint32_t i;

	if (!c)
		return 0;
	decay = decay_at(c, now_ms);
	for (i = 0; i < c->count; i++) {
		/* The verdict alone first: the percentiles only for the few
		 * classes that are mice. */
		if (verdict_of(c, &c->cls[i], decay, &n) != CLASS_MICE)
			continue;
		fill_stats(c, &c->cls[i], decay, &s);
		cb(&s, arg);
		seen++;
	}
	return seen;
}

size_t classes_window_buckets(const double *hist, uint64_t packets_max,
			      struct window_bucket out[CLASSES_HIST_BUCKETS])
{
	uint64_t lo, hi;
	size_t n = 0;
	int i;

	for (i = 0; i < HIST_BUCKETS; i++) {
		lo = i ? (1ull << (i - 1)) + 1 : 1;
		hi = i < HIST_BUCKETS - 1 ? 1ull << i : UINT64_MAX;
		if (hi > packets_max)
			hi = packets_max;
		if (!(hist[i] > 0) || hi < lo)
			continue;
		out[n++] = (struct window_bucket){ lo, hi, hist[i] };
	}
	return n;
}

size_t classes_window_dist(struct classes *c, uint64_t now_ms,
			   struct window_bucket out[CLASSES_HIST_BUCKETS])
{
	double sum[HIST_BUCKETS] = { 0 };
	uint64_t max = 0;
	struct class_count n;
	double decay;
	uint32_t i;
	int b;

	if (!c)
		return 0;
	decay = decay_at(c, now_ms);
	for (i = 0; i < c->count; i++) {
		const struct class *cl = &c->cls[i];

		if (verdict_of(c, cl, decay, &n) == CLASS_MICE)
			continue;
		for (b = 0; b < HIST_BUCKETS; b++)
			sum[b] += cl->hist[H_PACKETS][b] * decay;
		if (cl->max_seen[H_PACKETS] > max)
			max = cl->max_seen[H_PACKETS];
	}
	return classes_window_buckets(sum, max, out);
}

static int rank_cmp(const void *pa, const void *pb)
{
	const struct rank *a = pa, *b = pb;

	if (a->w != b->w)
		return a->w > b->w ? -1 : 1;
	return memcmp(&a->cl->key, &b->cl->key, sizeof(a->cl->key));
}

size_t classes_snapshot(struct classes *c, struct class_stats *out, size_t max, uint64_t now_ms)
{
	double decay;
	uint32_t n;
	size_t i;

	if (!c || !out || !max)
		return 0;
	for (n = 0; n < c->count; n++)
		c->ranks[n] = (struct rank){ c->cls[n].w, &c->cls[n] };
	qsort(c->ranks, c->count, sizeof(*c->ranks), rank_cmp);
	decay = decay_at(c, now_ms);
	for (i = 0; i < max && i < c->count; i++)
		fill_stats(c, c->ranks[i].cl, decay, &out[i]);
	return i;
}

const struct classes_counters *classes_counters(const struct classes *c)
{
	static const struct classes_counters none;

	return c ? &c->ctr : &none;
}

size_t classes_count(const struct classes *c)
{
	return c ? c->count : 0;
}

size_t classes_memory(const struct classes *c)
{
	return c ? c->memory : 0;
}

const char *classes_verdict_str(enum class_verdict v)
{
	switch (v) {
	case CLASS_LEARNING:
		return "learning";
	case CLASS_MIXED:
		return "mixed";
	case CLASS_MICE:
		return "mice";
	case CLASS_OFF:
		return "off";
	case CLASS_SHORT:
		return "short";
	}
	return "?";
}
