/* route_chunk.c: a [routes] set update, the difference of two interval
 * lists, split into transactions of at most k intervals, ordered so a set
 * half applied is never wider (only) or narrower (never) than its role
 * allows (see route_chunk.h).  Pure: no I/O, unit-tested in
 * test_prefix_set. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "route_chunk.h"

static bool iv_equal(const struct nft_interval *a, const struct nft_interval *b, unsigned int n)
{
	return !memcmp(a->lo, b->lo, n) && !memcmp(a->hi, b->hi, n);
}

/* old and new sorted, disjoint: the intervals only in old (del) and only
 * in new (add).  An interval that grew is deleted and added whole: its
 * start element is deleted and added again in the same transaction, as
 * nft does for `delete element` then `add element`. */
int routes_diff(const struct nft_interval *old, size_t n_old, const struct nft_interval *new,
		size_t n_new, unsigned int bytes, struct nft_interval **del, size_t *n_del,
		struct nft_interval **add, size_t *n_add)
{
	size_t i = 0, j = 0;
	int c;

	*n_del = *n_add = 0;
	*del = calloc(n_old ? n_old : 1, sizeof(**del));
	*add = calloc(n_new ? n_new : 1, sizeof(**add));
	if (!*del || !*add)
		return -ENOMEM;
	while (i < n_old || j < n_new) {
		if (i < n_old && j < n_new && iv_equal(&old[i], &new[j], bytes)) {
			i++;
			j++;
			continue;
		}
		c = i == n_old ? 1 : j == n_new ? -1 : memcmp(old[i].lo, new[j].lo, bytes);
		if (c <= 0)
			(*del)[(*n_del)++] = old[i++];
		if (c >= 0)
			(*add)[(*n_add)++] = new[j++];
	}
	return 0;
}

/* Where the steps go.  With out NULL nothing is written: the same walk
 * only counts the steps and the scratch intervals (routes_chunk_size). */
struct emit {
	struct nft_set_update *out;
	struct nft_interval *scratch;
	size_t steps, used;
};

static void step(struct emit *e, int kind, bool flush, const struct nft_interval *del, size_t n_del,
		 const struct nft_interval *add, size_t n_add)
{
	if (e->out)
		e->out[e->steps] = (struct nft_set_update){
			.kind = kind, .flush = flush, .del = n_del ? del : NULL, .n_del = n_del,
			.add = n_add ? add : NULL, .n_add = n_add
		};
	e->steps++;
}

/* Room for n intervals in scratch (NULL when counting). */
static struct nft_interval *take(struct emit *e, size_t n)
{
	struct nft_interval *p = e->out ? e->scratch + e->used : NULL;

	e->used += n;
	return p;
}

static void put(struct nft_interval *p, size_t at, const struct nft_interval *v)
{
	if (p)
		p[at] = *v;
}

/* One run of intervals (del or add) of one set in steps of at most k; the
 * first may carry a flush (alone when there are no intervals). */
static void run(struct emit *e, int kind, bool del, const struct nft_interval *iv, size_t total,
		bool flush, size_t k)
{
	size_t i = 0, m;

	do {
		m = total - i < k ? total - i : k;
		if (!m && !flush)
			return;
		step(e, kind, flush, del && iv ? iv + i : NULL, del ? m : 0,
		     !del && iv ? iv + i : NULL, del ? 0 : m);
		flush = false;
		i += m;
	} while (i < total);
}

static bool iv_before(const struct nft_interval *a, const struct nft_interval *b)
{
	return memcmp(a->hi, b->lo, sizeof(a->hi)) < 0;
}

static const struct nft_interval *iv_max_hi(const struct nft_interval *a,
					    const struct nft_interval *b)
{
	return memcmp(a->hi, b->hi, sizeof(a->hi)) >= 0 ? a : b;
}

/* Components: the deletes and adds of one set (each list sorted and
 * disjoint) in runs that overlap a neighbour of the other list, chained.
 * Two deletes never overlap, nor two adds, so a component is a range of
 * each list, and components are disjoint: one with a single interval
 * overlaps nothing (pure). */
struct comp {
	size_t d, nd, a, na;	/* del[d..d+nd), add[a..a+na) */
};

struct walk {
	const struct nft_interval *del, *add;
	size_t n_del, n_add, i, j;
};

static bool next_comp(struct walk *w, struct comp *c)
{
	const struct nft_interval *hi, *x;
	bool take_del;

	if (w->i == w->n_del && w->j == w->n_add)
		return false;
	*c = (struct comp){ .d = w->i, .a = w->j };
	hi = NULL;
	for (;;) {
		if (w->i < w->n_del && w->j < w->n_add)
			take_del = memcmp(w->del[w->i].lo, w->add[w->j].lo, sizeof(hi->lo)) <= 0;
		else if (w->i < w->n_del || w->j < w->n_add)
			take_del = w->i < w->n_del;
		else
			break;
		x = take_del ? &w->del[w->i] : &w->add[w->j];
		if (hi && iv_before(hi, x))
			break;
		hi = hi ? iv_max_hi(hi, x) : x;
		if (take_del) {
			w->i++;
			c->nd++;
		} else {
			w->j++;
			c->na++;
		}
	}
	return true;
}

static void walk_init(struct walk *w, const struct nft_set_update *u)
{
	*w = (struct walk){ .del = u->del, .add = u->add, .n_del = u->n_del, .n_add = u->n_add };
}

/* The pure intervals of one direction, copied together, in steps of k. */
static void pure_run(struct emit *e, const struct nft_set_update *u, bool del, size_t k)
{
	const struct nft_interval *src = del ? u->del : u->add;
	struct nft_interval *p;
	struct walk w;
	struct comp c;
	size_t n = 0;

	walk_init(&w, u);
	while (next_comp(&w, &c))
		n += c.nd + c.na == 1 && (del ? c.nd : c.na);
	if (!n)
		return;
	p = take(e, n);
	n = 0;
	walk_init(&w, u);
	while (next_comp(&w, &c))
		if (c.nd + c.na == 1 && (del ? c.nd : c.na))
			put(p, n++, &src[del ? c.d : c.a]);
	run(e, u->kind, del, p, n, false, k);
}

/* Components of at most k intervals, consecutive ones packed together,
 * from *w up to (not including) the first larger one; each whole in one
 * step, so a delete and the adds over it commit at once. */
static void pack(struct emit *e, const struct nft_set_update *u, struct walk *w, size_t k)
{
	const struct nft_interval *del = u->del, *add = u->add;
	struct walk start, probe;
	struct comp c;
	size_t nd, na, x;
	struct nft_interval *pd, *pa;

	for (;;) {
		start = *w;
		nd = na = 0;
		for (probe = *w; next_comp(&probe, &c);) {
			if (c.nd + c.na == 1)
				;	/* pure: another step's */
			else if (c.nd + c.na > k || nd + na + c.nd + c.na > k)
				break;
			else {
				nd += c.nd;
				na += c.na;
			}
			*w = probe;
		}
		if (!nd && !na)
			return;
		pd = take(e, nd);
		pa = take(e, na);
		nd = na = 0;
		for (probe = start; probe.i < w->i || probe.j < w->j;) {
			next_comp(&probe, &c);
			if (c.nd + c.na == 1)
				continue;
			for (x = 0; x < c.nd; x++)
				put(pd, nd++, &del[c.d + x]);
			for (x = 0; x < c.na; x++)
				put(pa, na++, &add[c.a + x]);
		}
		step(e, u->kind, false, pd, nd, pa, na);
	}
}

/* A component larger than k.  only (del_first): its deletes in steps,
 * then its adds (narrower meanwhile).  never: its deletes in steps, each
 * replacing the cover [lo, hi of the last delete] (the component's lowest
 * start on) by a wider one, the last reaching the component's end; then
 * its adds in steps from the right, each narrowing the cover to the end of
 * the add before them: never narrower than before or after, k - 2
 * intervals of the component a step (and the two covers). */
static void split_large(struct emit *e, const struct nft_set_update *u, const struct comp *c,
			bool del_first, size_t k)
{
	const struct nft_interval *del = (const struct nft_interval *)u->del + c->d,
				  *add = (const struct nft_interval *)u->add + c->a;
	struct nft_interval cover, *p;
	size_t b = k - 2, i, m, x;
	bool have = false;

	if (del_first) {
		run(e, u->kind, true, del, c->nd, false, k);
		run(e, u->kind, false, add, c->na, false, k);
		return;
	}
	cover = memcmp(del[0].lo, add[0].lo, sizeof(cover.lo)) <= 0 ? del[0] : add[0];
	memcpy(cover.hi, iv_max_hi(&del[c->nd - 1], &add[c->na - 1])->hi, sizeof(cover.hi));
	/* One delete over all the adds (a route withdrawn from over others)
	 * is the cover already. */
	i = c->nd == 1 && !memcmp(&cover, &del[0], sizeof(cover)) ? 1 : 0;
	for (; i < c->nd; i += m) {
		m = c->nd - i < b ? c->nd - i : b;
		p = take(e, have + m + 1);
		if (have)
			put(p, 0, &cover);
		for (x = 0; x < m; x++)
			put(p, have + x, &del[i + x]);
		memcpy(cover.hi, del[i + m - 1].hi, sizeof(cover.hi));
		if (i + m == c->nd)
			memcpy(cover.hi, iv_max_hi(&del[c->nd - 1], &add[c->na - 1])->hi,
			       sizeof(cover.hi));
		put(p, have + m, &cover);
		step(e, u->kind, false, p, have + m, p ? p + have + m : NULL, 1);
		have = true;
	}
	for (i = c->na; i > 0; i -= m) {
		m = i < b ? i : b;
		p = take(e, 1 + m + (i > m));
		put(p, 0, &cover);
		for (x = 0; x < m; x++)
			put(p, 1 + x, &add[i - m + x]);
		if (i > m) {
			memcpy(cover.hi, add[i - m - 1].hi, sizeof(cover.hi));
			put(p, 1 + m, &cover);
		}
		step(e, u->kind, false, p, 1, p ? p + 1 : NULL, m + (i > m));
	}
}

static void chunk_one(struct emit *e, const struct nft_set_update *u, bool del_first, size_t k)
{
	size_t km = k < 3 ? 3 : k;
	struct walk w, probe;
	struct comp c;

	if (u->flush) {
		/* What the set held goes at once; the new set follows. */
		run(e, u->kind, false, u->add, u->n_add, true, k);
		return;
	}
	pure_run(e, u, del_first, k);
	walk_init(&w, u);
	for (;;) {
		pack(e, u, &w, km);
		probe = w;
		if (!next_comp(&probe, &c))
			break;
		/* pack stopped before a component larger than km. */
		split_large(e, u, &c, del_first, km);
		w = probe;
	}
	pure_run(e, u, !del_first, k);
}

static size_t plan(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		   struct nft_set_update *out, struct nft_interval *scratch, size_t *used)
{
	struct emit e = { .out = out, .scratch = scratch };
	size_t i;

	if (!k)
		k = 1;
	for (i = 0; i < n; i++)
		chunk_one(&e, &u[i], del_first[i], k);
	if (used)
		*used = e.used;
	return e.steps;
}

void routes_chunk_size(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		       size_t *steps, size_t *scratch)
{
	*steps = plan(u, n, del_first, k, NULL, NULL, scratch);
}

size_t routes_chunk(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		    struct nft_set_update *out, struct nft_interval *scratch)
{
	return plan(u, n, del_first, k, out, scratch, NULL);
}
