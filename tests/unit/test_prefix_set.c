/* test_prefix_set: the followed routes' hash, resync sweeps, and the merged
 * intervals (overlaps, adjacency, IPv6) checked against a brute force. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "prefix_set.h"
#include "routes.h"

static struct pset_route route(const char *addr, unsigned int len, uint32_t table, int role)
{
	struct pset_route r = { .table = table, .len = (uint8_t)len, .role = (uint8_t)role };

	r.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(r.family, addr, r.addr), 1);
	return r;
}

static bool has(const struct prefix_set *s, int role, const char *addr)
{
	struct nft_interval *iv;
	uint8_t a[16];
	size_t n;
	bool in;
	int fam = strchr(addr, ':') ? 1 : 0;

	assert_int_equal(inet_pton(fam ? AF_INET6 : AF_INET, addr, a), 1);
	assert_int_equal(pset_intervals(s, role, fam, &iv, &n), 0);
	in = pset_contains(iv, n, fam, a);
	free(iv);
	return in;
}

static size_t intervals(const struct prefix_set *s, int role, int fam)
{
	struct nft_interval *iv;
	size_t n;

	assert_int_equal(pset_intervals(s, role, fam, &iv, &n), 0);
	free(iv);
	return n;
}

static void test_merge(void **state)
{
	struct prefix_set s;
	struct pset_route r;

	(void)state;
	pset_init(&s);
	/* Adjacent /25s make one /24; a /26 inside adds nothing. */
	r = route("198.18.1.0", 25, 100, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("198.18.1.128", 25, 100, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	assert_int_equal(pset_add(&s, &r, 1), 0);
	r = route("198.18.1.64", 26, 100, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("198.18.9.0", 24, 100, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("2001:db8:1::", 48, 100, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	assert_int_equal(s.count[ROUTE_ONLY][0], 4);
	assert_int_equal(intervals(&s, ROUTE_ONLY, 0), 2);
	assert_int_equal(intervals(&s, ROUTE_ONLY, 1), 1);
	assert_true(has(&s, ROUTE_ONLY, "198.18.1.0"));
	assert_true(has(&s, ROUTE_ONLY, "198.18.1.255"));
	assert_false(has(&s, ROUTE_ONLY, "198.18.2.0"));
	assert_false(has(&s, ROUTE_ONLY, "198.18.0.255"));
	assert_true(has(&s, ROUTE_ONLY, "198.18.9.77"));
	assert_true(has(&s, ROUTE_ONLY, "2001:db8:1:ffff::1"));
	assert_false(has(&s, ROUTE_ONLY, "2001:db8:2::"));
	assert_false(has(&s, ROUTE_NEVER, "198.18.1.1"));
	/* The /26 stays when a /25 goes; the other half is a hole then. */
	r = route("198.18.1.0", 25, 100, ROUTE_ONLY);
	assert_int_equal(pset_del(&s, &r), 1);
	assert_int_equal(pset_del(&s, &r), 0);
	assert_false(has(&s, ROUTE_ONLY, "198.18.1.0"));
	assert_true(has(&s, ROUTE_ONLY, "198.18.1.64"));
	assert_true(has(&s, ROUTE_ONLY, "198.18.1.200"));
	assert_int_equal(intervals(&s, ROUTE_ONLY, 0), 2);
	/* The same prefix at another metric is another route. */
	r = route("198.18.9.0", 24, 100, ROUTE_ONLY);
	r.priority = 7;
	assert_int_equal(pset_add(&s, &r, 1), 1);
	assert_int_equal(s.count[ROUTE_ONLY][0], 4);
	pset_free(&s);
}

static void test_sweep_and_roles(void **state)
{
	struct prefix_set s;
	struct pset_route r;

	(void)state;
	pset_init(&s);
	r = route("198.18.0.0", 16, 100, ROUTE_NEVER);
	pset_add(&s, &r, 1);
	r = route("0.0.0.0", 0, 200, ROUTE_PREFER_HW);
	pset_add(&s, &r, 1);
	assert_true(has(&s, ROUTE_PREFER_HW, "255.255.255.255"));
	assert_true(has(&s, ROUTE_PREFER_HW, "0.0.0.0"));
	/* Resync 2 sees only the first: the other is swept. */
	r = route("198.18.0.0", 16, 100, ROUTE_NEVER);
	assert_int_equal(pset_add(&s, &r, 2), 0);
	assert_int_equal(pset_sweep(&s, 2), 1);
	assert_false(has(&s, ROUTE_PREFER_HW, "1.2.3.4"));
	assert_true(has(&s, ROUTE_NEVER, "198.18.3.4"));
	/* A reload that gives the table another role moves the route. */
	r.role = ROUTE_ONLY;
	assert_int_equal(pset_add(&s, &r, 3), 1);
	assert_int_equal(s.count[ROUTE_NEVER][0], 0);
	assert_int_equal(s.count[ROUTE_ONLY][0], 1);
	pset_free(&s);
}

/* Routes are counted per table and role (flowoffloadctl status's
 * per_table), through adds, role moves, deletes and sweeps. */
static void test_table_counts(void **state)
{
	struct prefix_set s;
	struct pset_route r;

	(void)state;
	pset_init(&s);
	r = route("198.18.0.0", 24, 100, ROUTE_NEVER);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("198.18.1.0", 24, 100, ROUTE_NEVER);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("2001:db8::", 48, 100, ROUTE_NEVER);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	r = route("198.19.0.0", 24, 101, ROUTE_ONLY);
	assert_int_equal(pset_add(&s, &r, 1), 1);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_NEVER, 0), 2);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_NEVER, 1), 1);
	assert_int_equal(pset_table_routes(&s, 101, ROUTE_ONLY, 0), 1);
	assert_int_equal(pset_table_routes(&s, 101, ROUTE_NEVER, 0), 0);
	assert_int_equal(pset_table_routes(&s, 102, ROUTE_ONLY, 0), 0);
	/* The same route again changes nothing; a role move moves its count. */
	r = route("198.18.0.0", 24, 100, ROUTE_NEVER);
	assert_int_equal(pset_add(&s, &r, 2), 0);
	r.role = ROUTE_ONLY;
	assert_int_equal(pset_add(&s, &r, 2), 1);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_NEVER, 0), 1);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_ONLY, 0), 1);
	r = route("198.18.1.0", 24, 100, ROUTE_NEVER);
	assert_int_equal(pset_del(&s, &r), 1);
	assert_int_equal(pset_del(&s, &r), 0);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_NEVER, 0), 0);
	/* Resync 2 saw only 198.18.0.0/24: the rest is swept. */
	assert_int_equal(pset_sweep(&s, 2), 2);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_NEVER, 1), 0);
	assert_int_equal(pset_table_routes(&s, 101, ROUTE_ONLY, 0), 0);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_ONLY, 0), 1);
	assert_int_equal(s.count[ROUTE_ONLY][0], 1);
	pset_free(&s);
	assert_int_equal(pset_table_routes(&s, 100, ROUTE_ONLY, 0), 0);
}

/* Many random prefixes, adds and deletes: the intervals answer as the
 * routes do, the hash survives growth and tombstones. */
static void test_random(void **state)
{
	enum { N = 20000 };
	struct pset_route *rs = calloc(N, sizeof(*rs));
	struct nft_interval *iv;
	struct prefix_set s;
	uint8_t a[16];
	size_t n, i, k, probes;
	bool in;

	(void)state;
	srandom(7);
	pset_init(&s);
	for (i = 0; i < N; i++) {
		uint32_t v = (uint32_t)random();

		rs[i].family = AF_INET;
		rs[i].len = (uint8_t)(8 + random() % 25);
		rs[i].table = 100;
		rs[i].priority = (uint32_t)i;	/* each a route of its own */
		rs[i].role = ROUTE_ONLY;
		v &= rs[i].len == 32 ? 0xffffffffu : ~(0xffffffffu >> rs[i].len);
		v = htonl(v);
		memcpy(rs[i].addr, &v, 4);
		assert_true(pset_add(&s, &rs[i], 1) >= 0);
	}
	for (i = 0; i < N; i += 2)
		pset_del(&s, &rs[i]);
	assert_int_equal(pset_intervals(&s, ROUTE_ONLY, 0, &iv, &n), 0);
	for (k = 1; k < n; k++)
		assert_true(memcmp(iv[k - 1].hi, iv[k].lo, 4) < 0);
	for (probes = 0; probes < 20000; probes++) {
		uint32_t v = htonl((uint32_t)random());

		memcpy(a, &v, 4);
		in = false;
		for (i = 1; i < N && !in; i += 2) {
			uint32_t net, mask = (uint32_t)~(0xffffffffull >> rs[i].len);

			memcpy(&net, rs[i].addr, 4);
			in = (ntohl(v) & mask) == ntohl(net);
		}
		assert_int_equal(pset_contains(iv, n, 0, a), in);
	}
	free(iv);
	pset_free(&s);
	free(rs);
}

/* routes_chunk: every interval once, at most k per step, a set's deletes
 * before its adds only where asked, a flush on the set's first step only,
 * overlapping deletes and adds together in one step. */
static struct nft_interval iv4(unsigned int lo, unsigned int hi)
{
	struct nft_interval v;

	memset(&v, 0, sizeof(v));
	v.lo[3] = (uint8_t)lo;
	v.hi[3] = (uint8_t)hi;
	return v;
}

static unsigned int lo3(const void *v)
{
	return ((const struct nft_interval *)v)->lo[3];
}

static void test_chunks(void **state)
{
	struct nft_interval del[10], add[7], scratch[64];
	struct nft_set_update u[3], out[32];
	bool del_first[3] = { true, false, false };
	size_t n, i, seen_del[3] = { 0 }, seen_add[3] = { 0 };
	bool added[3] = { false };

	(void)state;
	for (i = 0; i < 10; i++)
		del[i] = iv4(2 * i, 2 * i);	/* even */
	for (i = 0; i < 7; i++)
		add[i] = iv4(2 * i + 1, 2 * i + 1);	/* odd: no overlap */
	memset(u, 0, sizeof(u));
	u[0] = (struct nft_set_update){ .kind = 1, .del = del, .n_del = 10, .add = add, .n_add = 7 };
	u[1] = (struct nft_set_update){ .kind = 2, .del = del, .n_del = 10, .add = add, .n_add = 7 };
	/* A whole replacement: its deletes are the flush's. */
	u[2] = (struct nft_set_update){ .kind = 3, .flush = true, .del = del, .n_del = 10,
					.add = add, .n_add = 7 };
	routes_chunk_size(u, 3, del_first, 4, &n, &i);
	assert_int_equal(n, 12);
	assert_int_equal(i, 34);
	n = routes_chunk(u, 3, del_first, 4, out, scratch);
	assert_int_equal(n, 12);
	for (i = 0; i < n; i++) {
		size_t s = (size_t)out[i].kind - 1;

		assert_true(out[i].n_del + out[i].n_add <= 4);
		assert_true(!out[i].n_del || !out[i].n_add);
		if (out[i].n_del) {
			assert_memory_equal(out[i].del, del + seen_del[s],
					    out[i].n_del * sizeof(del[0]));
			seen_del[s] += out[i].n_del;
			/* only (del_first): no delete after an add. */
			if (del_first[s])
				assert_false(added[s]);
		}
		if (out[i].n_add) {
			assert_memory_equal(out[i].add, add + seen_add[s],
					    out[i].n_add * sizeof(add[0]));
			seen_add[s] += out[i].n_add;
			added[s] = true;
		}
		if (!del_first[s] && out[i].n_del)
			assert_int_equal(seen_add[s], 7);	/* never: adds first */
		assert_int_equal(out[i].flush, s == 2 && seen_add[s] == out[i].n_add);
	}
	assert_int_equal(seen_del[0], 10);
	assert_int_equal(seen_del[1], 10);
	assert_int_equal(seen_del[2], 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(seen_add[i], 7);

	/* Overlaps: del 10-20 and add 15-25 in one step, between the rest
	 * (never: add 30 first, delete 40 last). */
	del[0] = iv4(10, 20);
	del[1] = iv4(40, 40);
	add[0] = iv4(15, 25);
	add[1] = iv4(30, 30);
	u[0] = (struct nft_set_update){ .kind = 1, .del = del, .n_del = 2, .add = add, .n_add = 2 };
	n = routes_chunk(u, 1, &del_first[1], 1, out, scratch);
	assert_int_equal(n, 3);
	assert_true(out[0].n_add == 1 && !out[0].n_del && lo3(out[0].add) == 30);
	assert_true(out[1].n_add == 1 && out[1].n_del == 1);
	assert_true(lo3(out[1].del) == 10 && lo3(out[1].add) == 15);
	assert_true(out[2].n_del == 1 && !out[2].n_add && lo3(out[2].del) == 40);
	/* only: delete 40 first, add 30 last. */
	n = routes_chunk(u, 1, &del_first[0], 1, out, scratch);
	assert_int_equal(n, 3);
	assert_true(out[0].n_del == 1 && lo3(out[0].del) == 40);
	assert_true(out[1].n_add == 1 && out[1].n_del == 1);
	assert_true(out[2].n_add == 1 && lo3(out[2].add) == 30);

	/* A flush of a set that becomes empty is one step; nothing is none. */
	u[0] = (struct nft_set_update){ .kind = 1, .flush = true };
	u[1] = (struct nft_set_update){ .kind = 2 };
	n = routes_chunk(u, 2, del_first, 4, out, scratch);
	assert_int_equal(n, 1);
	assert_true(out[0].flush);
	assert_int_equal(out[0].n_add + out[0].n_del, 0);
	/* Exactly k: one step. */
	for (i = 0; i < 4; i++)
		add[i] = iv4(2 * i + 1, 2 * i + 1);
	u[0] = (struct nft_set_update){ .kind = 1, .add = add, .n_add = 4 };
	assert_int_equal(routes_chunk(u, 1, del_first, 4, out, scratch), 1);
}

/* A model of a set as the kernel keeps it (6.1 rbtree, intervals): a
 * delete names an interval the set holds; an add may touch one (adjacent)
 * but not overlap it.  Keys 0..255 in the last byte of an IPv4 key. */
#define M_KEYS 256

struct model {
	bool start[M_KEYS];	/* an interval starts here ... */
	unsigned int end[M_KEYS];	/* ... and ends here */
};

static unsigned int hi3(const struct nft_interval *v)
{
	return v->hi[3];
}

static void model_cover(const struct model *m, bool *cov)
{
	unsigned int a, x;

	memset(cov, 0, M_KEYS * sizeof(*cov));
	for (a = 0; a < M_KEYS; a++)
		if (m->start[a])
			for (x = a; x <= m->end[a]; x++)
				cov[x] = true;
}

static void model_step(struct model *m, const struct nft_set_update *s)
{
	const struct nft_interval *d = s->del, *a = s->add;
	bool cov[M_KEYS];
	size_t i;
	unsigned int x;

	for (i = 0; i < s->n_del; i++) {
		assert_true(m->start[lo3(&d[i])]);
		assert_int_equal(m->end[lo3(&d[i])], hi3(&d[i]));
		m->start[lo3(&d[i])] = false;
	}
	for (i = 0; i < s->n_add; i++) {
		model_cover(m, cov);
		assert_true(lo3(&a[i]) <= hi3(&a[i]));
		for (x = lo3(&a[i]); x <= hi3(&a[i]); x++)
			assert_false(cov[x]);	/* the kernel refuses an overlap */
		m->start[lo3(&a[i])] = true;
		m->end[lo3(&a[i])] = hi3(&a[i]);
	}
}

/* Sorted, disjoint, non-adjacent runs of a bitmap (as pset merges). */
static size_t runs(const bool *bits, struct nft_interval *iv)
{
	size_t n = 0;
	unsigned int a = 0, b;

	while (a < M_KEYS) {
		if (!bits[a]) {
			a++;
			continue;
		}
		for (b = a; b + 1 < M_KEYS && bits[b + 1]; b++)
			;
		iv[n++] = iv4(a, b);
		a = b + 1;
	}
	return n;
}

/* The diff routes.c sends: intervals only in old, only in new. */
static void only_in(const struct nft_interval *x, size_t nx, const struct nft_interval *y,
		    size_t ny, struct nft_interval *out, size_t *n)
{
	size_t i, j;

	*n = 0;
	for (i = 0; i < nx; i++) {
		for (j = 0; j < ny; j++)
			if (!memcmp(&x[i], &y[j], sizeof(x[i])))
				break;
		if (j == ny)
			out[(*n)++] = x[i];
	}
}

/* Random old and new sets, from sparse to dense, and changes from a few
 * points to a route over many (large components): every step at most
 * max(k, 3) intervals (k itself without overlaps), every delete names a
 * held interval, no add overlaps, only never wider than old and new
 * together and never never narrower than both, and the end is new. */
static void test_chunk_bound(void **state)
{
	static const size_t ks[] = { 1, 2, 3, 4, 5, 8, 64 };
	struct nft_interval old[M_KEYS], new[M_KEYS], del[M_KEYS], add[M_KEYS];
	bool ob[M_KEYS], nb[M_KEYS], cov[M_KEYS];
	unsigned int seed = 14, round, x, lo, len;
	size_t n_old, n_new, n_del, n_add, ki, i, n, n_steps, n_scratch, big = 0;
	int only;

	(void)state;
	for (round = 0; round < 400; round++) {
		unsigned int density = 1 + rand_r(&seed) % 6, changes = 1 + rand_r(&seed) % 8;

		for (x = 0; x < M_KEYS; x++)
			ob[x] = (unsigned int)rand_r(&seed) % 8 < density;
		memcpy(nb, ob, sizeof(nb));
		while (changes--) {
			/* A route over a range, or one withdrawn. */
			lo = rand_r(&seed) % M_KEYS;
			len = 1u << (rand_r(&seed) % 8);
			for (x = lo; x < lo + len && x < M_KEYS; x++)
				nb[x] = rand_r(&seed) % 2 ? true : rand_r(&seed) % 3 ? nb[x] : false;
		}
		n_old = runs(ob, old);
		n_new = runs(nb, new);
		only_in(old, n_old, new, n_new, del, &n_del);
		only_in(new, n_new, old, n_old, add, &n_add);
		for (ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
			for (only = 0; only < 2; only++) {
				struct nft_set_update u = { .kind = 1, .del = del, .n_del = n_del,
							    .add = add, .n_add = n_add };
				struct nft_set_update *out;
				struct nft_interval *scratch;
				bool df = only;
				struct model m;
				size_t k = ks[ki], km = k < 3 ? 3 : k;

				routes_chunk_size(&u, 1, &df, k, &n_steps, &n_scratch);
				out = calloc(n_steps + 1, sizeof(*out));
				scratch = calloc(n_scratch + 1, sizeof(*scratch));
				assert_non_null(out);
				assert_non_null(scratch);
				n = routes_chunk(&u, 1, &df, k, out, scratch);
				assert_int_equal(n, n_steps);
				memset(&m, 0, sizeof(m));
				for (i = 0; i < n_old; i++) {
					m.start[lo3(&old[i])] = true;
					m.end[lo3(&old[i])] = hi3(&old[i]);
				}
				for (i = 0; i < n; i++) {
					size_t sz = out[i].n_del + out[i].n_add;

					assert_int_equal(out[i].kind, 1);
					assert_false(out[i].flush);
					assert_true(sz >= 1);
					assert_true(sz <= km);
					if (!out[i].n_del || !out[i].n_add)
						assert_true(sz <= k || sz <= 3);
					big = sz > big ? sz : big;
					model_step(&m, &out[i]);
					model_cover(&m, cov);
					for (x = 0; x < M_KEYS; x++) {
						if (only)
							assert_true(!cov[x] || ob[x] || nb[x]);
						else
							assert_true(cov[x] || !ob[x] || !nb[x]);
					}
				}
				/* The end: exactly new's intervals. */
				for (x = 0; x < M_KEYS; x++) {
					bool want = false;

					for (i = 0; i < n_new; i++)
						if (lo3(&new[i]) == x) {
							want = true;
							assert_int_equal(m.end[x], hi3(&new[i]));
						}
					assert_int_equal(m.start[x], want);
				}
				free(out);
				free(scratch);
			}
	}
	assert_true(big >= 3);
}

/* Two routes over many, chained by a delete across their gap: only
 * deletes them in steps, then adds the two; never grows a cover over them,
 * then narrows it to the new intervals. */
static void test_chunk_large(void **state)
{
	struct nft_interval del[20], add[2], scratch[128];
	struct nft_set_update u, out[64];
	bool df;
	size_t i, n;

	(void)state;
	for (i = 0; i < 20; i++)
		del[i] = iv4(10 + 4 * i, 11 + 4 * i);	/* 10-11, 14-15, ... 86-87 */
	del[12] = iv4(58, 61);
	add[0] = iv4(5, 59);
	add[1] = iv4(61, 99);
	u = (struct nft_set_update){ .kind = 1, .del = del, .n_del = 20, .add = add, .n_add = 2 };
	df = true;
	n = routes_chunk(&u, 1, &df, 8, out, scratch);
	assert_int_equal(n, 4);	/* 8 + 8 + 4 deletes, then 2 adds */
	for (i = 0; i < 3; i++)
		assert_true(out[i].n_del && !out[i].n_add);
	assert_true(out[3].n_add == 2 && !out[3].n_del);
	df = false;
	n = routes_chunk(&u, 1, &df, 8, out, scratch);
	/* Deletes 6 a step (and the cover): 4 steps; the adds: 1 step. */
	assert_int_equal(n, 5);
	assert_true(out[0].n_del == 6 && out[0].n_add == 1);
	assert_int_equal(lo3(out[0].add), 5);
	assert_int_equal(hi3(out[0].add), 31);	/* the 6th delete's end */
	assert_true(out[1].n_del == 7 && out[1].n_add == 1);
	assert_int_equal(lo3(out[1].del), 5);	/* the cover goes first */
	assert_true(out[3].n_del == 3 && out[3].n_add == 1);
	assert_int_equal(hi3(out[3].add), 99);	/* the last reaches the end */
	assert_true(out[4].n_del == 1 && out[4].n_add == 2);
	assert_int_equal(lo3(out[4].del), 5);
	assert_int_equal(hi3(out[4].del), 99);

	/* The other way (a route over others withdrawn): the delete is the
	 * cover; never narrows it from the right, 6 adds a step. */
	u = (struct nft_set_update){ .kind = 1, .del = &add[0], .n_del = 1, .add = del,
				     .n_add = 10 };
	add[0] = iv4(10, 47);	/* over del[0..9]: 10-11 ... 46-47 */
	n = routes_chunk(&u, 1, &df, 8, out, scratch);
	assert_int_equal(n, 2);
	assert_true(out[0].n_del == 1 && out[0].n_add == 7);	/* 6 adds and the cover */
	assert_int_equal(lo3(out[0].add), 26);
	assert_int_equal(lo3(&((const struct nft_interval *)out[0].add)[6]), 10);
	assert_int_equal(hi3(&((const struct nft_interval *)out[0].add)[6]), 23);
	assert_true(out[1].n_del == 1 && out[1].n_add == 4);
	assert_int_equal(hi3(out[1].del), 23);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_sweep_and_roles),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_table_counts),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_chunk_bound),
		cmocka_unit_test(test_chunk_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
