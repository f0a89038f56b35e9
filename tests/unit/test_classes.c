/* Unit tests for classes.c: verdicts and how they change, decay, the memory
 * bound and eviction, percentiles, prefix keys (IPv4 and IPv6), and the
 * client rules of class_clients.c (min-clients, the cap on one client). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "class_clients.h"
#include "classes.h"
#include "flows.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HL 600000u /* half-life, ms */
#define T0 5000000u /* a monotonic clock is rarely at 0 */
#define MOUSE 6 /* packets: a short exchange */
#define ELEPHANT 5000

static const struct classes_params base_params = {
	.max_classes = 64,
	.half_life_ms = HL,
	.min_flows = 20,
	.mice_packets = 32,
	.mice_share_pct = 95,
	.prefix4 = 0,
	.prefix6 = 0,
	.hash_seed = 0x5eed,
};

static struct classes *mk(const struct classes_params *p)
{
	struct classes *c = NULL;

	assert_int_equal(classes_create(&c, p), 0);
	assert_non_null(c);
	return c;
}

/* A finished, answered TCP flow of `packets` packets (both directions) and
 * 100 bytes a packet, from a client to dst:port. */
static struct ct_info flow(int family, const char *dst, uint16_t port, uint64_t packets)
{
	struct ct_info ct;

	memset(&ct, 0, sizeof(ct));
	ct.family = (uint8_t)family;
	ct.proto = IPPROTO_TCP;
	ct.has_counters = true;
	ct.has_status = true;
	ct.status = FO_IPS_SEEN_REPLY | FO_IPS_ASSURED;
	assert_int_equal(
		inet_pton(family, family == AF_INET ? "198.18.0.1" : "2001:db8::1", ct.orig.src),
		1);
	assert_int_equal(inet_pton(family, dst, ct.orig.dst), 1);
	ct.orig.sport = 40000;
	ct.orig.dport = port;
	ct.reply = ct.orig;
	ct.packets[0] = packets - packets / 2;
	ct.packets[1] = packets / 2;
	ct.bytes[0] = ct.packets[0] * 100;
	ct.bytes[1] = ct.packets[1] * 100;
	return ct;
}

static struct ct_info flow4(uint16_t port, uint64_t packets)
{
	return flow(AF_INET, "198.18.0.2", port, packets);
}

static void observe_n(struct classes *c, uint16_t port, uint64_t packets, unsigned int n,
		      uint64_t now)
{
	struct ct_info ct = flow4(port, packets);

	while (n--)
		classes_observe(c, &ct, 100, now);
}

static struct class_stats get(struct classes *c, const struct ct_info *ct, uint64_t now)
{
	struct class_stats s;

	assert_int_equal(classes_get(c, ct, now, &s), 0);
	return s;
}

static double weight_of(struct classes *c, uint16_t port, uint64_t now)
{
	struct ct_info ct = flow4(port, 1);

	return get(c, &ct, now).weight;
}

static enum class_verdict verdict_of(struct classes *c, uint16_t port, uint64_t now)
{
	struct ct_info ct = flow4(port, 1);

	/* A NEW conntrack has no counters yet: the verdict must not care. */
	ct.has_counters = false;
	ct.packets[0] = ct.packets[1] = 0;
	return classes_verdict(c, &ct, now);
}

static void assert_rel(double got, double want, double tol)
{
	if (fabs(got - want) > tol * fabs(want))
		fail_msg("got %.15g, want %.15g (relative tolerance %g)", got, want, tol);
}

static void test_create_params(void **state)
{
	struct classes_params p;
	struct classes *c = NULL;
	struct class_stats s;
	struct ct_info ct = flow4(443, 1);
	size_t i;
	static const struct {
		size_t off;
		uint32_t v;
	} bad32[] = {
		{ offsetof(struct classes_params, max_classes), 0 },
		{ offsetof(struct classes_params, max_classes), CLASSES_MAX + 1 },
		{ offsetof(struct classes_params, half_life_ms), 0 },
		{ offsetof(struct classes_params, mice_share_pct), 0 },
		{ offsetof(struct classes_params, mice_share_pct), 101 },
	};

	(void)state;
	assert_int_equal(classes_create(NULL, &base_params), -EINVAL);
	assert_int_equal(classes_create(&c, NULL), -EINVAL);
	for (i = 0; i < ARRAY_SIZE(bad32); i++) {
		p = base_params;
		memcpy((char *)&p + bad32[i].off, &bad32[i].v, sizeof(uint32_t));
		assert_int_equal(classes_create(&c, &p), -EINVAL);
	}
	p = base_params;
	p.prefix4 = 33;
	assert_int_equal(classes_create(&c, &p), -EINVAL);
	p = base_params;
	p.prefix6 = 129;
	assert_int_equal(classes_create(&c, &p), -EINVAL);
	assert_null(c);

	p = base_params;
	p.max_classes = 1;
	p.prefix4 = 32;
	p.prefix6 = 128;
	c = mk(&p);
	assert_int_equal(classes_count(c), 0);
	assert_true(classes_memory(c) > 0);
	assert_int_equal(classes_verdict(c, &ct, T0), CLASS_LEARNING);
	assert_int_equal(classes_get(c, &ct, T0, &s), -ENOENT);
	assert_int_equal(classes_snapshot(c, &s, 1, T0), 0);
	classes_destroy(c);

	/* A disabled module (NULL) answers like an empty one. */
	classes_destroy(NULL);
	classes_observe(NULL, &ct, 1, T0);
	assert_int_equal(classes_verdict(NULL, &ct, T0), CLASS_LEARNING);
	assert_int_equal(classes_count(NULL), 0);
	assert_int_equal(classes_counters(NULL)->observed, 0);

	assert_string_equal(classes_verdict_str(CLASS_LEARNING), "learning");
	assert_string_equal(classes_verdict_str(CLASS_MIXED), "mixed");
	assert_string_equal(classes_verdict_str(CLASS_MICE), "mice");
	assert_string_equal(classes_verdict_str((enum class_verdict)7), "?");
}

static void test_learning_until_min_flows(void **state)
{
	struct classes *c = mk(&base_params);
	struct class_stats s;
	unsigned int i;

	(void)state;
	assert_int_equal(verdict_of(c, 53, T0), CLASS_LEARNING);
	for (i = 1; i < 20; i++) {
		observe_n(c, 53, 2, 1, T0);
		assert_int_equal(verdict_of(c, 53, T0), CLASS_LEARNING);
	}
	observe_n(c, 53, 2, 1, T0);
	assert_int_equal(verdict_of(c, 53, T0), CLASS_MICE);
	assert_int_equal(classes_snapshot(c, &s, 1, T0), 1);
	assert_int_equal(s.flows_total, 20);
	assert_rel(s.weight, 20, 1e-9);
	assert_int_equal(s.verdict, CLASS_MICE);
	assert_int_equal(s.port, 53);
	assert_int_equal(s.proto, IPPROTO_TCP);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.prefix_len, 0);
	assert_int_equal(s.last_ms, T0);
	/* Another port has learned nothing. */
	assert_int_equal(verdict_of(c, 54, T0), CLASS_LEARNING);

	/* Exactly min_flows flows observed a moment ago are a verdict, at
	 * whatever distance from the table's epoch they were observed. */
	for (i = 0; i < 300; i++) {
		uint64_t t = T0 + 1 + i * 7919;

		observe_n(c, (uint16_t)(1000 + i), 2, 19, t);
		assert_int_equal(verdict_of(c, (uint16_t)(1000 + i), t), CLASS_LEARNING);
		observe_n(c, (uint16_t)(1000 + i), 2, 1, t);
		assert_int_equal(verdict_of(c, (uint16_t)(1000 + i), t), CLASS_MICE);
	}
	classes_destroy(c);
}

static void test_all_mice(void **state)
{
	struct classes *c = mk(&base_params);
	struct ct_info ct = flow4(853, 1);
	struct class_stats s;
	unsigned int i;

	(void)state;
	for (i = 0; i < 100; i++)
		observe_n(c, 853, 1 + i % 31, 1, T0 + i * 1000);
	s = get(c, &ct, T0 + 100 * 1000);
	assert_int_equal(s.verdict, CLASS_MICE);
	assert_int_equal(classes_verdict(c, &ct, T0 + 100 * 1000), CLASS_MICE);
	assert_true(s.mice_share == 1.0);
	assert_int_equal(s.flows_total, 100);
	assert_true(s.packets_p99 <= 31);
	classes_destroy(c);
}

static void test_mixed_port(void **state)
{
	struct classes *c = mk(&base_params);
	struct ct_info ct = flow4(443, 1);
	struct class_stats s;
	unsigned int i;

	(void)state;
	/* HTTPS: 90% mice (a handshake and a small request) and 10%
	 * downloads on the same server port. */
	for (i = 0; i < 200; i++)
		observe_n(c, 443, i % 10 == 9 ? ELEPHANT : 4 + i % 20, 1, T0 + i * 500);
	assert_int_equal(classes_count(c), 1);
	s = get(c, &ct, T0 + 200 * 500);
	assert_int_equal(s.verdict, CLASS_MIXED);
	assert_int_equal(verdict_of(c, 443, T0 + 200 * 500), CLASS_MIXED);
	assert_rel(s.mice_share, 0.9, 1e-3);
	assert_true(s.packets_p50 <= 32);
	assert_int_equal(s.packets_p99, ELEPHANT);
	assert_int_equal(s.bytes_p99, ELEPHANT * 100);

	/* One elephant in 25 (96% mice) is still MICE at 95%, which is why
	 * the share is a parameter: the agent's threshold for a mixed class
	 * can come from the percentiles. */
	classes_destroy(c);
	c = mk(&base_params);
	for (i = 0; i < 200; i++)
		observe_n(c, 443, i % 25 == 24 ? ELEPHANT : 4, 1, T0);
	assert_int_equal(verdict_of(c, 443, T0), CLASS_MICE);
	classes_destroy(c);

	/* Exactly mice_share_pct is MICE; a bit less is not. */
	c = mk(&base_params);
	observe_n(c, 443, 31, 19, T0);
	observe_n(c, 443, 32, 1, T0);
	assert_int_equal(verdict_of(c, 443, T0), CLASS_MICE);
	observe_n(c, 443, 31, 18, T0);
	observe_n(c, 443, 32, 2, T0);
	assert_rel(get(c, &ct, T0).mice_share, 0.925, 1e-12);
	assert_int_equal(verdict_of(c, 443, T0), CLASS_MIXED);
	classes_destroy(c);
}

/* A class learned as MICE changes its mind when elephants arrive and the
 * old mice decay, and goes back once the elephants are gone. */
static void test_verdict_changes(void **state)
{
	struct classes *c = mk(&base_params);
	struct ct_info ct = flow4(8080, 1);
	uint64_t t = T0;
	unsigned int i;

	(void)state;
	for (i = 0; i < 200; i++, t += 1000)
		observe_n(c, 8080, MOUSE, 1, t);
	assert_int_equal(verdict_of(c, 8080, t), CLASS_MICE);

	/* Two half-lives of a new service behind the port: 1 flow in 4 is a
	 * transfer.  Every step of the way the verdict follows the share. */
	for (i = 0; i < 240; i++, t += HL / 120)
		observe_n(c, 8080, i % 4 == 0 ? ELEPHANT : MOUSE, 1, t);
	assert_int_equal(verdict_of(c, 8080, t), CLASS_MIXED);
	assert_rel(get(c, &ct, t).mice_share, 0.8, 0.05);

	/* The transfers stop; mice only for five half-lives. */
	for (i = 0; i < 600; i++, t += HL / 120)
		observe_n(c, 8080, MOUSE, 1, t);
	assert_int_equal(verdict_of(c, 8080, t), CLASS_MICE);

	/* And with no flows at all the verdict expires: back to learning. */
	assert_int_equal(verdict_of(c, 8080, t + 3 * HL), CLASS_MICE);
	assert_int_equal(verdict_of(c, 8080, t + 20 * HL), CLASS_LEARNING);
	classes_destroy(c);
}

static void test_decay(void **state)
{
	struct classes *c = mk(&base_params);
	static const double at[] = { 0, 1, 0.5, 0.25, 2, 3.7, 10, 100.5 };
	struct ct_info ct = flow4(443, 1);
	size_t i;

	(void)state;
	observe_n(c, 443, MOUSE, 40, T0);
	assert_rel(weight_of(c, 443, T0), 40, 1e-12);
	assert_rel(weight_of(c, 443, T0 + HL), 20, 1e-12);
	assert_rel(weight_of(c, 443, T0 + 2 * HL), 10, 1e-12);
	for (i = 0; i < ARRAY_SIZE(at); i++)
		assert_rel(weight_of(c, 443, T0 + (uint64_t)(at[i] * HL)), 40 * exp2(-at[i]),
			   1e-12);
	/* Reading does not decay anything twice, nor going back in time. */
	assert_rel(weight_of(c, 443, T0 + HL), 20, 1e-12);
	assert_rel(weight_of(c, 443, T0 - 1000), 40, 1e-12);

	/* 40 flows are a verdict for one half-life with min_flows 20. */
	assert_int_equal(verdict_of(c, 443, T0 + HL), CLASS_MICE);
	assert_int_equal(verdict_of(c, 443, T0 + HL + HL / 100), CLASS_LEARNING);

	/* New flows add at full weight on top of the decayed ones. */
	observe_n(c, 443, MOUSE, 10, T0 + HL);
	assert_rel(weight_of(c, 443, T0 + HL), 30, 1e-12);
	assert_rel(weight_of(c, 443, T0 + 2 * HL), 15, 1e-12);
	assert_int_equal(get(c, &ct, T0 + HL).flows_total, 50);

	/* Past 256 half-lives the table rescales itself: a class observed
	 * after that leaves the decay of the others exact. */
	observe_n(c, 80, MOUSE, 1, T0 + 300 * (uint64_t)HL + 123);
	assert_rel(weight_of(c, 443, T0 + 300 * (uint64_t)HL + 123), 60 * exp2(-300 - 123.0 / HL),
		   1e-12);
	assert_rel(weight_of(c, 80, T0 + 300 * (uint64_t)HL + 123), 1, 1e-12);
	assert_rel(weight_of(c, 80, T0 + 301 * (uint64_t)HL + 123), 0.5, 1e-12);
	classes_destroy(c);
}

/* 1500 half-lives at a steady rate: the weight settles where the
 * geometric series says, across the epoch moves, without drift. */
static void test_long_run(void **state)
{
	struct classes_params p = base_params;
	struct classes *c;
	const uint64_t step = 1000; /* one flow a second, half-life 100 s */
	double steady;
	uint64_t t = T0;
	unsigned int i;

	(void)state;
	p.half_life_ms = 100000;
	c = mk(&p);
	steady = 1 / (1 - exp2(-(double)step / p.half_life_ms));
	for (i = 0; i < 1500 * 100; i++, t += step) {
		observe_n(c, 443, MOUSE, 1, t);
		observe_n(c, 80, MOUSE, 1, T0); /* a time from the past */
		if (i % 9973 == 0 && i > 2000)
			assert_rel(weight_of(c, 443, t), steady, 1e-6);
	}
	assert_rel(weight_of(c, 443, t - step), steady, 1e-6);
	/* Port 80's flows, stamped in the past, count at the latest time
	 * seen: its weight is the same series. */
	assert_rel(weight_of(c, 80, t - step), steady, 1e-9);
	/* After 2000 half-lives of nothing: zero, not NaN. */
	assert_true(weight_of(c, 443, t + 2000 * (uint64_t)p.half_life_ms) == 0);
	assert_int_equal(verdict_of(c, 443, t + 2000 * (uint64_t)p.half_life_ms), CLASS_LEARNING);
	/* And a class seen again after that gap starts afresh. */
	t += 5000 * (uint64_t)p.half_life_ms;
	observe_n(c, 443, ELEPHANT, 25, t);
	assert_rel(weight_of(c, 443, t), 25, 1e-9);
	assert_int_equal(verdict_of(c, 443, t), CLASS_MIXED);
	classes_destroy(c);
}

static void test_memory_bound(void **state)
{
	struct classes_params p = base_params;
	struct class_stats s[16];
	struct classes *c;
	size_t mem;
	unsigned int i;

	(void)state;
	p.max_classes = 8;
	c = mk(&p);
	mem = classes_memory(c);
	for (i = 0; i < 100; i++) {
		observe_n(c, (uint16_t)(1000 + i), MOUSE, 1 + i % 3, T0 + i);
		assert_true(classes_count(c) <= 8);
		assert_int_equal(classes_memory(c), mem);
	}
	assert_int_equal(classes_count(c), 8);
	assert_int_equal(classes_snapshot(c, s, ARRAY_SIZE(s), T0 + 100), 8);
	assert_int_equal(classes_counters(c)->created, 100);
	assert_int_equal(classes_counters(c)->evicted, 92);
	assert_int_equal(classes_counters(c)->observed, 199);
	classes_destroy(c);

	/* Memory is linear in max_classes and set at create. */
	p.max_classes = 4096;
	c = mk(&p);
	mem = classes_memory(c);
	print_message("classes_memory(4096) = %zu bytes\n", mem);
	assert_true(mem < 4096 * 1024);
	for (i = 0; i < 20000; i++)
		observe_n(c, (uint16_t)i, MOUSE, 1, T0 + i);
	assert_int_equal(classes_count(c), 4096);
	assert_int_equal(classes_memory(c), mem);
	classes_destroy(c);
}

static void test_eviction_keeps_heavy(void **state)
{
	struct classes_params p = base_params;
	struct class_stats s[8];
	struct classes *c;
	uint64_t t = T0;
	unsigned int i;

	(void)state;
	p.max_classes = 8;
	c = mk(&p);
	/* Four real services, then a scan of 100 ports (one flow each), over
	 * a few minutes. */
	observe_n(c, 53, 2, 50, t);
	observe_n(c, 443, ELEPHANT, 30, t);
	observe_n(c, 22, 100, 10, t);
	observe_n(c, 25, 40, 3, t);
	for (i = 0; i < 100; i++, t += 2000)
		observe_n(c, (uint16_t)(2000 + i), 1, 1, t);
	assert_int_equal(classes_count(c), 8);
	assert_int_equal(classes_snapshot(c, s, ARRAY_SIZE(s), t), 8);
	assert_int_equal(s[0].port, 53);
	assert_int_equal(s[1].port, 443);
	assert_int_equal(s[2].port, 22);
	assert_int_equal(s[3].port, 25);
	assert_int_equal(s[0].flows_total, 50);
	assert_int_equal(verdict_of(c, 53, t), CLASS_MICE);
	assert_int_equal(verdict_of(c, 443, t), CLASS_MIXED);
	/* The scan churned through the other four slots: its latest ports. */
	for (i = 4; i < 8; i++)
		assert_true(s[i].port >= 2096 && s[i].port < 2100);

	/* Ten half-lives later every class has decayed below one flow, the
	 * old services to 50, 30, 10 and 3 / ~1024: newcomers replace the
	 * scan's classes first, then the old services, lightest first. */
	t += 10 * HL;
	for (i = 0; i < 7; i++)
		observe_n(c, (uint16_t)(9000 + i), 1, 1, t);
	assert_int_equal(classes_count(c), 8);
	assert_int_equal(classes_snapshot(c, s, ARRAY_SIZE(s), t), 8);
	for (i = 0; i < 7; i++)
		assert_true(s[i].port >= 9000 && s[i].port < 9007);
	assert_int_equal(s[7].port, 53);
	assert_rel(s[7].weight, 50 * exp2(-10 - 200000.0 / HL), 1e-9);
	/* Still there, but below min_flows: no verdict any more. */
	assert_int_equal(verdict_of(c, 53, t), CLASS_LEARNING);
	classes_destroy(c);
}

static void test_percentiles(void **state)
{
	struct classes *c = mk(&base_params);
	struct ct_info ct;
	struct class_stats s;
	unsigned int i;

	(void)state;
	/* Packets 1..100, bytes 1000 a packet, durations 10 ms a packet. */
	for (i = 1; i <= 100; i++) {
		ct = flow4(443, i);
		ct.bytes[0] = i * 1000;
		ct.bytes[1] = 0;
		classes_observe(c, &ct, i * 10, T0);
	}
	s = get(c, &ct, T0);
	assert_int_equal(s.packets_p50, 64); /* 50 is in (32, 64] */
	assert_int_equal(s.packets_p90, 100); /* (64, 128], capped at the largest seen */
	assert_int_equal(s.packets_p99, 100);
	assert_int_equal(s.bytes_p50, 65536);
	assert_int_equal(s.bytes_p90, 100000);
	assert_int_equal(s.bytes_p99, 100000);
	assert_int_equal(s.duration_ms_p50, 512);
	assert_int_equal(s.duration_ms_p90, 1000);
	assert_rel(s.mice_share, 0.31, 1e-9); /* 1..31 packets */
	classes_destroy(c);

	/* Single-packet flows, tiny, instantaneous: the first buckets. */
	c = mk(&base_params);
	ct = flow4(53, 1);
	ct.bytes[0] = 70;
	classes_observe(c, &ct, 0, T0);
	s = get(c, &ct, T0);
	assert_int_equal(s.packets_p50, 1);
	assert_int_equal(s.packets_p99, 1);
	assert_int_equal(s.bytes_p50, 70);
	assert_int_equal(s.duration_ms_p90, 0);

	/* A median on a bucket boundary is the lower one. */
	ct = flow4(53, 100);
	classes_observe(c, &ct, 0, T0);
	assert_int_equal(get(c, &ct, T0).packets_p50, 1);
	assert_int_equal(get(c, &ct, T0).packets_p90, 100);

	/* Beyond the last bucket: the largest value seen. */
	ct = flow4(53, (uint64_t)1 << 40);
	ct.bytes[0] = (uint64_t)1 << 50;
	for (i = 0; i < 9; i++)
		classes_observe(c, &ct, 86400000, T0);
	s = get(c, &ct, T0);
	assert_int_equal(s.packets_p50, (uint64_t)1 << 40);
	assert_int_equal(s.bytes_p99, ((uint64_t)1 << 50) + ((uint64_t)1 << 39) * 100);
	assert_int_equal(s.duration_ms_p50, 86400000);
	assert_int_equal(s.packets_p99, (uint64_t)1 << 40);
	classes_destroy(c);

	/* Decay weighs the percentiles: 30 flows of 1000 packets three
	 * half-lives ago (3.75 now) against 10 of 4 packets now. */
	c = mk(&base_params);
	observe_n(c, 443, 1000, 30, T0);
	observe_n(c, 443, 4, 10, T0 + 3 * HL);
	ct = flow4(443, 1);
	s = get(c, &ct, T0 + 3 * HL);
	assert_int_equal(s.packets_p50, 4);
	assert_int_equal(s.packets_p90, 1000);
	assert_rel(s.weight, 13.75, 1e-9);
	assert_rel(s.mice_share, 10 / 13.75, 1e-9);
	classes_destroy(c);
}

/* prefix4 = 24: two servers on one port are two classes; a mouse server
 * (an ad or telemetry endpoint) and a download server behind 443. */
static void test_prefix4(void **state)
{
	struct classes_params p = base_params;
	struct ct_info a = flow(AF_INET, "198.18.0.2", 443, MOUSE);
	struct ct_info a2 = flow(AF_INET, "198.18.0.77", 443, MOUSE);
	struct ct_info b = flow(AF_INET, "198.18.1.2", 443, ELEPHANT);
	struct ct_info b_mouse = flow(AF_INET, "198.18.1.2", 443, MOUSE);
	struct class_stats s[4];
	struct classes *c;
	unsigned int i;
	uint8_t want[16] = { 198, 18, 0, 0 };

	(void)state;
	p.prefix4 = 24;
	c = mk(&p);
	for (i = 0; i < 50; i++) {
		classes_observe(c, i % 2 ? &a : &a2, 50, T0);
		classes_observe(c, i % 2 ? &b : &b_mouse, 50000, T0);
	}
	assert_int_equal(classes_count(c), 2);
	assert_int_equal(classes_verdict(c, &a, T0), CLASS_MICE);
	assert_int_equal(classes_verdict(c, &a2, T0), CLASS_MICE);
	assert_int_equal(classes_verdict(c, &b, T0), CLASS_MIXED);
	assert_int_equal(classes_snapshot(c, s, ARRAY_SIZE(s), T0), 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(s[i].prefix_len, 24);
		assert_int_equal(s[i].port, 443);
	}
	/* Equal weights: in key order. */
	assert_memory_equal(s[0].server, want, 16);
	assert_int_equal(s[0].verdict, CLASS_MICE);
	want[2] = 1;
	assert_memory_equal(s[1].server, want, 16);
	assert_int_equal(s[1].verdict, CLASS_MIXED);
	assert_rel(s[1].mice_share, 0.5, 1e-12);
	classes_destroy(c);

	/* Port only: one class, mixed, which is the safe answer. */
	c = mk(&base_params);
	for (i = 0; i < 50; i++) {
		classes_observe(c, i % 2 ? &a : &a2, 50, T0);
		classes_observe(c, i % 2 ? &b : &b_mouse, 50000, T0);
	}
	assert_int_equal(classes_count(c), 1);
	assert_int_equal(classes_verdict(c, &a, T0), CLASS_MIXED);
	assert_int_equal(classes_snapshot(c, s, ARRAY_SIZE(s), T0), 1);
	assert_int_equal(s[0].prefix_len, 0);
	memset(want, 0, sizeof(want));
	assert_memory_equal(s[0].server, want, 16);
	classes_destroy(c);
}

static void test_ipv6(void **state)
{
	struct classes_params p = base_params;
	struct ct_info m = flow(AF_INET6, "2001:db8:0:1::80", 443, MOUSE);
	struct ct_info m2 = flow(AF_INET6, "2001:db8:0:1:ffff::1", 443, MOUSE);
	struct ct_info e = flow(AF_INET6, "2001:db8:0:2::80", 443, ELEPHANT);
	struct ct_info v4 = flow4(443, MOUSE);
	struct ct_info odd = flow(AF_INET6, "2001:db8:0:fff::1", 443, MOUSE);
	struct ct_info far = flow(AF_INET6, "2001:db8:0:1000::1", 443, MOUSE);
	struct class_stats s;
	struct classes *c;
	unsigned int i;
	uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01 };

	(void)state;
	p.prefix6 = 64;
	c = mk(&p);
	for (i = 0; i < 30; i++) {
		classes_observe(c, i % 2 ? &m : &m2, 10, T0);
		classes_observe(c, &e, 10, T0);
		classes_observe(c, &v4, 10, T0);
	}
	assert_int_equal(classes_count(c), 3);
	assert_int_equal(classes_verdict(c, &m, T0), CLASS_MICE);
	assert_int_equal(classes_verdict(c, &m2, T0), CLASS_MICE);
	assert_int_equal(classes_verdict(c, &e, T0), CLASS_MIXED);
	assert_int_equal(classes_verdict(c, &v4, T0), CLASS_MICE);
	s = get(c, &m, T0);
	assert_int_equal(s.family, AF_INET6);
	assert_int_equal(s.prefix_len, 64);
	assert_int_equal(s.flows_total, 30);
	assert_memory_equal(s.server, want, 16);
	/* IPv4 keys use prefix4 (0 here): no address at all. */
	s = get(c, &v4, T0);
	assert_int_equal(s.family, AF_INET);
	assert_int_equal(s.prefix_len, 0);
	classes_destroy(c);

	/* A prefix that splits a byte: /52 keeps the top 4 bits of byte 6:
	 * 0:fff:: and 0:1:: share 0::/52, 0:1000:: is the next /52. */
	p.prefix6 = 52;
	c = mk(&p);
	classes_observe(c, &odd, 10, T0);
	classes_observe(c, &m, 10, T0);
	classes_observe(c, &far, 10, T0);
	assert_int_equal(classes_count(c), 2);
	s = get(c, &odd, T0);
	want[7] = 0x00;
	assert_int_equal(s.prefix_len, 52);
	assert_memory_equal(s.server, want, 16);
	assert_int_equal(s.flows_total, 2);
	s = get(c, &far, T0);
	want[6] = 0x10;
	assert_memory_equal(s.server, want, 16);
	assert_int_equal(s.flows_total, 1);
	classes_destroy(c);
}

/* What the statistics must not learn from. */
static void test_ignored(void **state)
{
	struct classes *c = mk(&base_params);
	struct ct_info ct = flow4(443, 1);
	const struct classes_counters *k = classes_counters(c);

	(void)state;
	ct.has_counters = false; /* nf_conntrack_acct off: every flow would look like a mouse */
	classes_observe(c, &ct, 1, T0);
	ct = flow4(443, 1);
	ct.status = 0; /* a SYN nobody answered */
	classes_observe(c, &ct, 1, T0);
	ct = flow4(443, 1);
	ct.proto = 1; /* ICMP */
	classes_observe(c, &ct, 1, T0);
	ct = flow4(443, 1);
	ct.family = 7;
	classes_observe(c, &ct, 1, T0);
	assert_int_equal(classes_count(c), 0);
	assert_int_equal(k->no_counters, 1);
	assert_int_equal(k->unanswered, 1);
	assert_int_equal(k->unsupported, 2);
	assert_int_equal(k->observed, 0);

	/* Without a status at all the flow counts; UDP and TCP on one port
	 * are two classes. */
	ct = flow4(443, 1);
	ct.has_status = false;
	ct.status = 0;
	classes_observe(c, &ct, 1, T0);
	ct.proto = IPPROTO_UDP;
	classes_observe(c, &ct, 1, T0);
	assert_int_equal(classes_count(c), 2);
	assert_int_equal(k->observed, 2);
	assert_int_equal(k->created, 2);
	classes_destroy(c);
}

/* Random workload on a small table: after each observation of a new key
 * the class that went was a lightest one, the snapshot is sorted, and
 * classes_get agrees with it. */
static void test_random_eviction(void **state)
{
	struct classes_params p = base_params;
	struct class_stats before[16], after[16], g;
	struct classes *c;
	uint64_t t = T0;
	unsigned int i, j, n_before, n_after, gone;

	(void)state;
	p.max_classes = 16;
	p.half_life_ms = 10000;
	c = mk(&p);
	srandom(7);
	for (i = 0; i < 20000; i++) {
		/* Zipf-ish ports: a few heavy, a long tail. */
		uint16_t port = (uint16_t)(1 + (random() % 64) * (random() % 64) / 8);
		struct ct_info ct = flow4(port, 1 + (uint64_t)(random() % 200));

		t += (uint64_t)(random() % 300);
		n_before = (unsigned int)classes_snapshot(c, before, 16, t);
		classes_observe(c, &ct, 1, t);
		n_after = (unsigned int)classes_snapshot(c, after, 16, t);
		assert_true(n_after <= 16);
		for (j = 1; j < n_after; j++)
			assert_true(after[j - 1].weight >= after[j].weight);
		for (j = 0; j < n_after; j++) {
			struct ct_info q = flow4(after[j].port, 1);

			g = get(c, &q, t);
			assert_true(g.weight == after[j].weight);
		}
		if (n_before < 16 || n_after != 16)
			continue;
		gone = 16;
		for (j = 0; j < n_before; j++) {
			unsigned int m;

			for (m = 0; m < n_after && after[m].port != before[j].port; m++)
				;
			if (m == n_after) {
				assert_int_equal(gone, 16); /* at most one went */
				gone = j;
			}
		}
		if (gone < 16)
			assert_true(before[gone].weight <=
				    before[n_before - 1].weight * (1 + 1e-12));
	}
	assert_true(classes_counters(c)->evicted > 100);
	classes_destroy(c);
}

/* ---- clients: min-clients and the cap on one client ------------------------ */

/* n flows of `packets` packets from client src to 198.18.0.2:port. */
static void observe_from(struct classes *c, const char *src, uint16_t port, uint64_t packets,
			 unsigned int n, uint64_t now)
{
	struct ct_info ct = flow4(port, packets);

	if (strchr(src, ':')) {
		ct = flow(AF_INET6, "2001:db8:1::2", port, packets);
		assert_int_equal(inet_pton(AF_INET6, src, ct.orig.src), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET, src, ct.orig.src), 1);
	}
	while (n--)
		classes_observe(c, &ct, 100, now);
}

static const char *const lan[] = {
	"198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14",
	"198.18.0.15", "198.18.0.16", "198.18.0.17", "198.18.0.18",
};

/* The poisoning of issue 17: six clients fetch large objects from a port,
 * then one host opens 5000 short connections to it.  Counted whole, the
 * class is 98.8% mice and everyone's elephants would be skipped. */
static void test_noisy_client_cannot_flip(void **state)
{
	struct classes_params p = base_params;
	struct class_stats st;
	struct ct_info probe = flow4(443, 1);
	struct classes *c;
	unsigned int i;

	(void)state;
	for (p.min_clients = 1; p.min_clients <= 4; p.min_clients += 3) {
		c = mk(&p);
		for (i = 0; i < 6; i++)
			observe_from(c, lan[i], 443, ELEPHANT, 10, T0);
		assert_int_equal(verdict_of(c, 443, T0), CLASS_MIXED);
		observe_from(c, "198.18.0.66", 443, MOUSE, 5000, T0 + 1000);
		st = get(c, &probe, T0 + 1000);
		print_message("min-clients %u: verdict %s, weight %.0f counted %.1f, %u clients\n",
			      p.min_clients, classes_verdict_str(st.verdict), st.weight,
			      st.counted_weight, st.clients);
		assert_int_equal(st.clients, 7);
		if (p.min_clients == 1) {
			/* The positive control: without the rule, one host flips it. */
			assert_int_equal(verdict_of(c, 443, T0 + 1000), CLASS_MICE);
			assert_rel(st.counted_weight, 5060, 2e-3);
		} else {
			assert_int_equal(verdict_of(c, 443, T0 + 1000), CLASS_MIXED);
			/* Capped at a quarter: 60 / (1 - 1/4) = 80 counted. */
			assert_rel(st.counted_weight, 80, 2e-3);
		}
		classes_destroy(c);
	}
}

/* A fresh class: one client, however busy, or three, give no verdict;
 * four alike do; the counted weight needs min-flows as before. */
static void test_min_clients(void **state)
{
	struct classes_params p = base_params;
	struct classes *c;
	unsigned int i;

	(void)state;
	p.min_clients = 4;
	c = mk(&p);
	observe_from(c, lan[0], 53, MOUSE, 1000, T0);
	assert_int_equal(verdict_of(c, 53, T0), CLASS_LEARNING);
	assert_rel(weight_of(c, 53, T0), 1000, 1e-9);
	observe_from(c, lan[1], 53, MOUSE, 1000, T0);
	observe_from(c, lan[2], 53, MOUSE, 1000, T0);
	assert_int_equal(verdict_of(c, 53, T0), CLASS_LEARNING);
	observe_from(c, lan[3], 53, MOUSE, 4, T0);
	/* Four clients, the fourth light: counted 4 x 4 = 16 < 20 flows. */
	assert_int_equal(verdict_of(c, 53, T0), CLASS_LEARNING);
	observe_from(c, lan[3], 53, MOUSE, 1, T0);
	assert_int_equal(verdict_of(c, 53, T0), CLASS_MICE);
	classes_destroy(c);

	/* Several clients sharing the work evenly decide as one did before. */
	c = mk(&p);
	for (i = 0; i < 25; i++)
		observe_from(c, lan[i % 5], 8080, MOUSE, 1, T0 + i);
	assert_int_equal(verdict_of(c, 8080, T0 + 25), CLASS_MICE);
	for (i = 0; i < 2; i++)
		observe_from(c, lan[i], 8080, ELEPHANT, 1, T0 + 30);
	assert_int_equal(verdict_of(c, 8080, T0 + 30), CLASS_MIXED);
	classes_destroy(c);

	/* IPv6: one host is its /64, whatever addresses it takes there. */
	c = mk(&p);
	observe_from(c, "2001:db8::1", 53, MOUSE, 10, T0);
	observe_from(c, "2001:db8::2", 53, MOUSE, 10, T0);
	observe_from(c, "2001:db8::ffff:1", 53, MOUSE, 10, T0);
	observe_from(c, "2001:db8:0:0:8000::9", 53, MOUSE, 10, T0);
	observe_from(c, "2001:db8::1:2:3:4", 53, MOUSE, 10, T0);
	{
		struct ct_info ct = flow(AF_INET6, "2001:db8:1::2", 53, 1);

		assert_int_equal(get(c, &ct, T0).clients, 1);
		assert_int_equal(classes_verdict(c, &ct, T0), CLASS_LEARNING);
		observe_from(c, "2001:db8:0:1::1", 53, MOUSE, 10, T0);
		observe_from(c, "2001:db8:0:2::1", 53, MOUSE, 10, T0);
		observe_from(c, "2001:db8:0:3::1", 53, MOUSE, 10, T0);
		assert_int_equal(get(c, &ct, T0).clients, 4);
		assert_int_equal(classes_verdict(c, &ct, T0), CLASS_MICE);
	}
	classes_destroy(c);
}

/* The noisy client keeps its entry while many light clients churn through
 * the others, so its cap holds; what the churned clients did counts. */
static void test_noisy_client_stays_tracked(void **state)
{
	struct classes_params p = base_params;
	struct ct_info probe = flow4(443, 1);
	struct class_stats st;
	struct classes *c;
	char addr[32];
	unsigned int i;

	(void)state;
	p.min_clients = 4;
	c = mk(&p);
	observe_from(c, "198.18.0.66", 443, MOUSE, 5000, T0);
	for (i = 0; i < 200; i++) {
		snprintf(addr, sizeof(addr), "198.18.1.%u", i);
		observe_from(c, addr, 443, ELEPHANT, 1, T0 + i);
		observe_from(c, "198.18.0.66", 443, MOUSE, 10, T0 + i);
	}
	st = get(c, &probe, T0 + 200);
	assert_int_equal(st.clients, CLASS_CLIENTS_MAX);
	assert_int_equal(verdict_of(c, 443, T0 + 200), CLASS_MIXED);
	/* 200 elephants counted; the noisy host's 7000 mice at most a quarter. */
	assert_true(st.counted_weight < 200 / 0.75 * 1.0001);
	assert_true(st.counted_weight > 200);
	classes_destroy(c);
}

/* class_clients_count on random sets: no client above 1/k of the counted
 * weight, a capped client exactly at it, and nothing capped without need. */
static void test_cap_holds(void **state)
{
	struct class_clients cc;
	struct class_count n;
	unsigned int run, i, k;
	uint32_t rnd = 12345;

	(void)state;
	for (run = 0; run < 20000; run++) {
		double w = 0, mice = 0, rest, cap = -1, tracked = 0;

		memset(&cc, 0, sizeof(cc));
		k = 2 + run % 7;
		for (i = 0; i < 1 + run % CLASS_CLIENTS_MAX; i++) {
			rnd = rnd * 1103515245u + 12345u;
			/* Weights over six orders of magnitude, some equal. */
			class_clients_add(&cc, (rnd >> 8) % 12, pow(10, (rnd >> 16) % 7) / 10 + 1,
					  rnd & 1);
		}
		for (i = 0; i < cc.n; i++) {
			tracked += cc.w[i];
			mice += cc.mice[i];
		}
		rnd = rnd * 1103515245u + 12345u;
		rest = (rnd >> 20) % 3 ? 0 : (double)((rnd >> 8) % 50);
		w = tracked + rest;
		class_clients_count(&cc, w, mice + rest / 2, k, &n);
		assert_int_equal(n.clients, cc.n);
		assert_true(n.w <= w * (1 + 1e-12));
		if (n.mice > n.w * (1 + 1e-12))
			fail_msg("run %u: mice %.17g > w %.17g (k %u, n %u, rest %g)", run, n.mice, n.w,
				 k, cc.n, rest);
		/* A client above its share of what is counted is capped, at
		 * exactly that share. */
		for (i = 0; i < cc.n; i++)
			if (cc.w[i] * k > n.w * (1 + 1e-9))
				cap = n.w / k;
		if (cap < 0) {
			/* Nothing capped: the totals. */
			assert_rel(n.w, w, 1e-12);
			continue;
		}
		/* Capped: the counted weight is the cap's fixed point. */
		{
			double sum = rest;

			for (i = 0; i < cc.n; i++)
				sum += cc.w[i] < cap ? cc.w[i] : cap;
			if (fabs(sum - n.w) > 1e-9 * (n.w + 1))
				fail_msg("run %u: counted %.12g, from the cap %.12g", run, n.w, sum);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_params),
		cmocka_unit_test(test_learning_until_min_flows),
		cmocka_unit_test(test_all_mice),
		cmocka_unit_test(test_mixed_port),
		cmocka_unit_test(test_verdict_changes),
		cmocka_unit_test(test_decay),
		cmocka_unit_test(test_long_run),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_eviction_keeps_heavy),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_prefix4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_random_eviction),
		cmocka_unit_test(test_noisy_client_cannot_flip),
		cmocka_unit_test(test_min_clients),
		cmocka_unit_test(test_noisy_client_stays_tracked),
		cmocka_unit_test(test_cap_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
