/* Unit tests for flows.c: identity, bounds, id reuse, sweep, and the index
 * against a naive reference under a long randomized workload. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "flows.h"

static struct ct_info mk4(uint32_t id, uint32_t src, uint16_t sport, uint16_t dport)
{
	struct ct_info ct;

	memset(&ct, 0, sizeof(ct));
	ct.id = id;
	ct.family = AF_INET;
	ct.proto = 6;
	memcpy(ct.orig.src, &src, 4);
	ct.orig.dst[0] = 198;
	ct.orig.dst[1] = 18;
	ct.orig.dst[3] = 2;
	ct.orig.sport = sport;
	ct.orig.dport = dport;
	ct.reply = ct.orig;
	return ct;
}

static void test_create_bounds(void **state)
{
	struct flows *t = NULL;

	(void)state;
	assert_int_equal(flows_create(&t, 0), -EINVAL);
	assert_int_equal(flows_create(&t, (size_t)1 << 31), -EINVAL);
	assert_int_equal(flows_create(&t, 1), 0);
	assert_int_equal(flows_capacity(t), 1);
	assert_int_equal(flows_count(t), 0);
	flows_destroy(t);
	flows_destroy(NULL);
}

static void test_insert_lookup_remove(void **state)
{
	struct ct_info a = mk4(100, 0x010012c6, 40000, 80);
	struct ct_info b6;
	struct flows *t;
	struct flow *f, *g;
	bool created;

	(void)state;
	assert_int_equal(flows_create(&t, 16), 0);
	assert_null(flows_lookup(t, &a));
	assert_int_equal(flows_upsert(t, &a, 1234, &f, &created), 0);
	assert_true(created);
	assert_non_null(f);
	assert_int_equal(f->ct.id, 100);
	assert_int_equal(f->state, FLOW_WAITING);
	assert_int_equal(f->tier, TIER_NONE);
	assert_int_equal(f->first_seen_ms, 1234);
	assert_int_equal(f->gen, 0);
	assert_ptr_equal(flows_lookup(t, &a), f);

	/* A second upsert returns the same entry untouched. */
	f->state = FLOW_ADMITTED;
	assert_int_equal(flows_upsert(t, &a, 9999, &g, &created), 0);
	assert_false(created);
	assert_ptr_equal(g, f);
	assert_int_equal(g->first_seen_ms, 1234);
	assert_int_equal(g->state, FLOW_ADMITTED);
	assert_int_equal(flows_count(t), 1);

	/* IPv6 entry with the same id and the same leading bytes. */
	memset(&b6, 0, sizeof(b6));
	b6 = a;
	b6.family = AF_INET6;
	assert_null(flows_lookup(t, &b6));
	assert_int_equal(flows_upsert(t, &b6, 1, &g, &created), 0);
	assert_true(created);
	assert_ptr_not_equal(g, f);
	assert_int_equal(flows_count(t), 2);

	/* Bytes beyond the IPv4 address are not identity. */
	a.orig.src[9] = 0x55;
	a.orig.dst[15] = 0x66;
	assert_ptr_equal(flows_lookup(t, &a), f);

	/* Counters, mark, status and the reply tuple are not identity either. */
	a.mark = 7;
	a.status = 0xffff;
	a.packets[0] = 99;
	a.reply.dport = 1;
	assert_ptr_equal(flows_lookup(t, &a), f);

	assert_int_equal(flows_remove(t, &a), 0);
	assert_int_equal(flows_remove(t, &a), -ENOENT);
	assert_null(flows_lookup(t, &a));
	assert_ptr_equal(flows_lookup(t, &b6), g);
	assert_int_equal(flows_count(t), 1);
	flows_destroy(t);
}

/* The per-state, per-tier counts (the metrics' flows gauge and the
 * service manager's STATUS=) count live flows only. */
static void test_count_states(void **state)
{
	uint64_t n[FLOW_STATE_MAX][FLOW_TIER_MAX];
	struct flows *t = NULL;
	struct ct_info ct;
	struct flow *f;
	bool created;
	uint32_t i;

	(void)state;
	assert_int_equal(flows_create(&t, 16), 0);
	for (i = 0; i < 6; i++) {
		ct = mk4(10 + i, 0x01020304, (uint16_t)(1000 + i), 80);
		assert_int_equal(flows_upsert(t, &ct, 1, &f, &created), 0);
		f->state = i < 3 ? FLOW_OFFLOADED : FLOW_HW_OFFLOADED;
		f->tier = i < 2 ? TIER_SW : TIER_HW;
	}
	ct = mk4(10, 0x01020304, 1000, 80);
	assert_int_equal(flows_remove(t, &ct), 0);
	flows_count_states(t, n);
	assert_int_equal(n[FLOW_OFFLOADED][TIER_SW], 1);
	assert_int_equal(n[FLOW_OFFLOADED][TIER_HW], 1);
	assert_int_equal(n[FLOW_HW_OFFLOADED][TIER_HW], 3);
	assert_int_equal(n[FLOW_WAITING][TIER_NONE], 0);
	assert_int_equal(n[FLOW_OFFLOADED][TIER_SW] + n[FLOW_OFFLOADED][TIER_HW] +
				 n[FLOW_HW_OFFLOADED][TIER_HW], flows_count(t));
	flows_destroy(t);
}

/* Conntrack ids are 32-bit hashes: a reused id, or two live entries with
 * one id, must never be confused. */
static void test_id_reuse(void **state)
{
	struct ct_info a = mk4(7, 0x010012c6, 40000, 443);
	struct ct_info b = mk4(7, 0x010012c6, 40001, 443);
	struct ct_info c = a;
	struct flows *t;
	struct flow *fa, *fb, *fc;
	bool created;

	(void)state;
	c.proto = 17;
	assert_int_equal(flows_create(&t, 8), 0);
	assert_int_equal(flows_upsert(t, &a, 1, &fa, &created), 0);
	assert_null(flows_lookup(t, &b));
	assert_null(flows_lookup(t, &c));
	assert_int_equal(flows_upsert(t, &b, 2, &fb, &created), 0);
	assert_true(created);
	assert_int_equal(flows_upsert(t, &c, 3, &fc, &created), 0);
	assert_true(created);
	assert_ptr_not_equal(fa, fb);
	assert_ptr_not_equal(fa, fc);
	assert_ptr_equal(flows_lookup(t, &a), fa);
	assert_ptr_equal(flows_lookup(t, &b), fb);
	assert_ptr_equal(flows_lookup(t, &c), fc);
	assert_int_equal(fb->ct.orig.sport, 40001);

	assert_int_equal(flows_remove(t, &a), 0);
	assert_null(flows_lookup(t, &a));
	assert_ptr_equal(flows_lookup(t, &b), fb);
	assert_ptr_equal(flows_lookup(t, &c), fc);

	/* The same tuple under a new id is a new conntrack. */
	b.id = 8;
	assert_null(flows_lookup(t, &b));
	assert_int_equal(flows_upsert(t, &b, 4, &fa, &created), 0);
	assert_true(created);
	assert_int_equal(flows_count(t), 3);
	flows_destroy(t);
}

static void test_full(void **state)
{
	struct flows *t;
	struct flow *f;
	struct ct_info ct;
	bool created;
	uint32_t i;

	(void)state;
	assert_int_equal(flows_create(&t, 10), 0);
	for (i = 0; i < 10; i++) {
		ct = mk4(i, 0x010012c6, (uint16_t)(1000 + i), 80);
		assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), 0);
		assert_true(created);
	}
	ct = mk4(10, 0x010012c6, 1010, 80);
	assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), -ENOSPC);
	assert_null(flows_lookup(t, &ct));
	assert_int_equal(flows_count(t), 10);

	/* An existing entry is still returned when full. */
	ct = mk4(3, 0x010012c6, 1003, 80);
	assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), 0);
	assert_false(created);

	assert_int_equal(flows_remove(t, &ct), 0);
	ct = mk4(10, 0x010012c6, 1010, 80);
	assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), 0);
	assert_true(created);
	ct = mk4(11, 0x010012c6, 1011, 80);
	assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), -ENOSPC);
	flows_destroy(t);
}

struct seen {
	uint8_t hit[4096];
	unsigned int calls;
};

static void mark_seen(struct flow *f, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->hit[f->ct.orig.sport]++;
}

static void test_sweep(void **state)
{
	struct flows *t;
	struct flow *f;
	struct ct_info ct;
	struct seen s;
	bool created;
	uint32_t i;

	(void)state;
	assert_int_equal(flows_create(&t, 1000), 0);
	for (i = 0; i < 1000; i++) {
		/* Few distinct ids: long probe runs cross the removals. */
		ct = mk4(i % 13, 0x010012c6, (uint16_t)i, 80);
		assert_int_equal(flows_upsert(t, &ct, 0, &f, &created), 0);
		f->gen = i % 3 ? 5 : 4;
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(flows_sweep(t, 5, mark_seen, &s), 334);
	assert_int_equal(s.calls, 334);
	assert_int_equal(flows_count(t), 666);
	for (i = 0; i < 1000; i++) {
		ct = mk4(i % 13, 0x010012c6, (uint16_t)i, 80);
		assert_int_equal(s.hit[i], i % 3 ? 0 : 1);
		if (i % 3)
			assert_non_null(flows_lookup(t, &ct));
		else
			assert_null(flows_lookup(t, &ct));
	}
	memset(&s, 0, sizeof(s));
	flows_foreach(t, mark_seen, &s);
	assert_int_equal(s.calls, 666);
	assert_int_equal(flows_sweep(t, 5, NULL, NULL), 0);
	assert_int_equal(flows_sweep(t, 6, NULL, NULL), 666);
	assert_int_equal(flows_count(t), 0);
	memset(&s, 0, sizeof(s));
	flows_foreach(t, mark_seen, &s);
	assert_int_equal(s.calls, 0);
	flows_destroy(t);
}

static void test_strings(void **state)
{
	(void)state;
	assert_string_equal(flows_state_str(FLOW_WAITING), "waiting");
	assert_string_equal(flows_state_str(FLOW_ADMITTED), "admitted");
	assert_string_equal(flows_state_str(FLOW_OFFLOADED), "offloaded");
	assert_string_equal(flows_state_str(FLOW_HW_OFFLOADED), "hw-offloaded");
	assert_string_equal(flows_state_str(FLOW_SKIPPED), "skipped");
	assert_string_equal(flows_state_str(FLOW_STATE_MAX), "?");
	assert_string_equal(flows_tier_str(TIER_NONE), "");
	assert_string_equal(flows_tier_str(TIER_SW), "sw");
	assert_string_equal(flows_tier_str(TIER_HW), "hw");
	assert_string_equal(flows_tier_str((enum flow_tier)7), "?");
}

/* ---- randomized comparison with a naive reference ---------------------- */

#define REF_MAX 96

struct ref {
	struct ct_info ct[REF_MAX];
	bool live[REF_MAX];
	uint64_t tag[REF_MAX]; /* stored in first_seen_ms */
	unsigned int count;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* A small key space: 12 ids, 4 ports, 2 families, 2 protocols, so ids
 * collide, entries come and go under the same id, and runs wrap around. */
static struct ct_info random_ct(void)
{
	struct ct_info ct;

	memset(&ct, 0, sizeof(ct));
	ct.id = rnd() % 12 * 0x01000193u;
	ct.family = rnd() % 2 ? AF_INET : AF_INET6;
	ct.proto = rnd() % 2 ? 6 : 17;
	ct.orig.src[0] = 198;
	ct.orig.src[3] = (uint8_t)(rnd() % 2);
	ct.orig.sport = (uint16_t)(rnd() % 4);
	ct.orig.dport = 53;
	return ct;
}

static int ref_find(const struct ref *r, const struct ct_info *ct)
{
	int i;

	for (i = 0; i < REF_MAX; i++)
		if (r->live[i] && r->ct[i].id == ct->id && r->ct[i].family == ct->family &&
		    r->ct[i].proto == ct->proto &&
		    !memcmp(&r->ct[i].orig, &ct->orig, sizeof(ct->orig)))
			return i;
	return -1;
}

static void check_all(struct flows *t, const struct ref *r)
{
	struct flow *f;
	int i;

	assert_int_equal(flows_count(t), r->count);
	for (i = 0; i < REF_MAX; i++) {
		if (!r->live[i])
			continue;
		f = flows_lookup(t, &r->ct[i]);
		assert_non_null(f);
		assert_int_equal(f->first_seen_ms, r->tag[i]);
	}
}

static void run_random(size_t cap, unsigned int ops)
{
	struct ref *r = calloc(1, sizeof(*r));
	uint64_t next_tag = 1;
	struct flows *t;
	unsigned int n;

	assert_non_null(r);
	assert_true(cap <= REF_MAX);
	assert_int_equal(flows_create(&t, cap), 0);
	for (n = 0; n < ops; n++) {
		struct ct_info ct = random_ct();
		int i = ref_find(r, &ct), j, err;
		struct flow *f;
		bool created;

		switch (rnd() % 8) {
		case 0:
		case 1:
		case 2:
		case 3:
			err = flows_upsert(t, &ct, next_tag, &f, &created);
			if (i >= 0) {
				assert_int_equal(err, 0);
				assert_false(created);
				assert_int_equal(f->first_seen_ms, r->tag[i]);
			} else if (r->count == cap) {
				assert_int_equal(err, -ENOSPC);
			} else {
				assert_int_equal(err, 0);
				assert_true(created);
				for (j = 0; r->live[j]; j++)
					;
				r->live[j] = true;
				r->ct[j] = ct;
				r->tag[j] = next_tag;
				r->count++;
			}
			next_tag++;
			break;
		case 4:
		case 5:
		case 6:
			err = flows_remove(t, &ct);
			assert_int_equal(err, i >= 0 ? 0 : -ENOENT);
			if (i >= 0) {
				r->live[i] = false;
				r->count--;
			}
			break;
		default:
			f = flows_lookup(t, &ct);
			if (i < 0)
				assert_null(f);
			else
				assert_int_equal(f->first_seen_ms, r->tag[i]);
			break;
		}
		if (n % 64 == 0)
			check_all(t, r);
	}
	check_all(t, r);
	flows_destroy(t);
	free(r);
}

static void test_random_small(void **state)
{
	(void)state;
	/* 7 of 8 key bits collide in a 16-slot index: every run wraps. */
	run_random(12, 200000);
}

static void test_random_full(void **state)
{
	(void)state;
	/* The key space (12*2*2*2*4 = 384) is larger than the table: it
	 * runs full, and removals happen at 3/4 load. */
	run_random(96, 300000);
}

/* The index starts small and grows (rehashing) as flows come: every flow
 * stays findable across the growths, to a full table of max_flows, with
 * ids colliding (a 32-bit hash in the kernel). */
static void test_grow(void **state)
{
	const uint32_t max = 70000;
	struct flows *t;
	struct flow *f;
	struct ct_info ct;
	bool created;
	uint32_t i;

	(void)state;
	assert_int_equal(flows_create(&t, max), 0);
	for (i = 0; i < max; i++) {
		ct = mk4(i % 9001 * 0x9e3779b1u, 0xc6120000u + i, (uint16_t)i, 53);
		assert_int_equal(flows_upsert(t, &ct, i + 1, &f, &created), 0);
		assert_true(created);
	}
	ct = mk4(1, 0xc6130000u, 1, 53);
	assert_int_equal(flows_upsert(t, &ct, 1, &f, &created), -ENOSPC);
	assert_int_equal(flows_count(t), max);
	for (i = 0; i < max; i++) {
		ct = mk4(i % 9001 * 0x9e3779b1u, 0xc6120000u + i, (uint16_t)i, 53);
		f = flows_lookup(t, &ct);
		assert_non_null(f);
		assert_int_equal(f->first_seen_ms, i + 1);
		if (i % 2)
			assert_int_equal(flows_remove(t, &ct), 0);
	}
	for (i = 0; i < max; i++) {
		ct = mk4(i % 9001 * 0x9e3779b1u, 0xc6120000u + i, (uint16_t)i, 53);
		f = flows_lookup(t, &ct);
		if (i % 2)
			assert_null(f);
		else
			assert_non_null(f);
	}
	flows_destroy(t);
}

/* The cursor of a streamed listing under churn: every flow live for the
 * whole walk is seen exactly once; one removed ahead of the cursor never;
 * one added into storage ahead of it once; nothing freed is returned. */
static void test_cursor_churn(void **state)
{
	enum { N = 10000 };
	static uint8_t seen[3 * N];
	struct flows *t;
	struct ct_info ct;
	struct flow *f;
	uint32_t pos = 0, i, walked = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(flows_create(&t, 3 * N), 0);
	for (i = 1; i <= N; i++) {
		ct = mk4(i, 0x010012c6, (uint16_t)i, 80);
		assert_int_equal(flows_upsert(t, &ct, 1, NULL, NULL), 0);
	}
	while ((f = flows_next(t, &pos))) {
		assert_true(f->ct.id >= 1 && f->ct.id < 3 * N);
		assert_int_equal(seen[f->ct.id]++, 0);
		if (++walked == N / 2) {
			/* Halfway: drop every 10th flow (behind and ahead), then
			 * add as many new ones (they reuse the freed entries,
			 * behind and ahead) and N more at the end. */
			for (i = 10; i <= N; i += 10) {
				ct = mk4(i, 0x010012c6, (uint16_t)i, 80);
				assert_int_equal(flows_remove(t, &ct), 0);
			}
			for (i = N + 1; i <= 2 * N + N / 10; i++) {
				ct = mk4(i, 0x010012c6, (uint16_t)i, 80);
				assert_int_equal(flows_upsert(t, &ct, 1, NULL, NULL), 0);
			}
		}
	}
	assert_true(flows_cursor_done(t, pos));
	for (i = 1; i <= N; i++) {
		if (i % 10)
			assert_int_equal(seen[i], 1); /* live throughout */
		else if (i > N / 2)
			assert_int_equal(seen[i], 0); /* removed before the cursor got there */
	}
	/* The N appended at the end lie ahead of the cursor: all seen. */
	for (i = N + N / 10 + 1; i <= 2 * N + N / 10; i++)
		assert_int_equal(seen[i], 1);
	flows_destroy(t);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bounds),
		cmocka_unit_test(test_insert_lookup_remove),
		cmocka_unit_test(test_id_reuse),
		cmocka_unit_test(test_count_states),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_random_small),
		cmocka_unit_test(test_random_full),
		cmocka_unit_test(test_cursor_churn),
		cmocka_unit_test(test_grow),
	};

	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
