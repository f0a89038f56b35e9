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
	assert_true(routes_chunk_steps(u, 3, 4) >= 12);
	assert_int_equal(routes_chunk_scratch(u, 3), 34);
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
	u[0] = (struct nft_set_update){ .kind = 1, .add = add, .n_add = 4 };
	assert_int_equal(routes_chunk(u, 1, del_first, 4, out, scratch), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_sweep_and_roles),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_table_counts),
		cmocka_unit_test(test_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
