/* Unit tests for policy.c: every verdict and reason, which reason wins when
 * several apply, NAT reply tuples, and the hardware budget's edges. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "config.h"
#include "flows.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ST_OK (FO_IPS_SEEN_REPLY | FO_IPS_ASSURED)
#define EST TCP_CONNTRACK_ESTABLISHED
#define IPPROTO_ICMP_ 1
#define IPPROTO_GRE_ 47
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_SCTP_ 132

/* [skip] of the base config. */
#define SKIP_NET4 "198.19.200.0/24"
#define SKIP_NET6 "2001:db8:dead::/48"

enum cfg_flags {
	CF_NO_TCP = 1 << 0,
	CF_NO_UDP = 1 << 1,
	CF_REQUIRE_REPLY = 1 << 2,
};

#define HW(cap, wm, used, pend) { true, (cap), (wm), (used), (pend) }
#define ROOM HW(1000, 90, 0, 0)
#define NO_HW { false, 1000, 90, 0, 0 }

struct pcase {
	const char *name;
	uint8_t proto;
	uint8_t tcp_state;
	uint32_t status;
	/* Addresses and ports; NULL or 0 take the base flow's, and the reply
	 * tuple defaults to the mirror of the original (no NAT). */
	const char *osrc, *odst;
	uint16_t osport, odport;
	const char *rsrc, *rdst;
	uint16_t rsport, rdport;
	unsigned int cfg;
	struct policy_budget budget;
	enum policy_verdict v;
	enum policy_reason r;
};

#define ADMIT_HW VERDICT_ADMIT_HW, REASON_NO_CLASS
#define ADMIT_SW VERDICT_ADMIT_SW, REASON_NO_CLASS
#define SKIP(r) VERDICT_SKIP, REASON_##r
#define WAIT(r) VERDICT_WAIT, REASON_##r

static const struct pcase cases[] = {
	/* protocol */
	{ "tcp established", IPPROTO_TCP, EST, ST_OK, .budget = ROOM, ADMIT_HW },
	{ "tcp established, no hw tier", IPPROTO_TCP, EST, ST_OK, .budget = NO_HW, ADMIT_SW },
	{ "udp", IPPROTO_UDP, 0, ST_OK, .budget = ROOM, ADMIT_HW },
	{ "udp, no hw tier", IPPROTO_UDP, 0, ST_OK, .budget = NO_HW, ADMIT_SW },
	{ "icmp", IPPROTO_ICMP_, 0, ST_OK, .budget = ROOM, SKIP(PROTOCOL) },
	{ "icmpv6", IPPROTO_ICMPV6_, 0, ST_OK, "2001:db8:1::2", "2001:db8:2::2",
	  .budget = ROOM, SKIP(PROTOCOL) },
	{ "gre", IPPROTO_GRE_, 0, ST_OK, .budget = ROOM, SKIP(PROTOCOL) },
	{ "sctp", IPPROTO_SCTP_, 0, ST_OK, .budget = ROOM, SKIP(PROTOCOL) },
	{ "proto 0", 0, 0, ST_OK, .budget = ROOM, SKIP(PROTOCOL) },
	{ "tcp not configured", IPPROTO_TCP, EST, ST_OK, .cfg = CF_NO_TCP, .budget = ROOM,
	  SKIP(PROTOCOL) },
	{ "udp not configured", IPPROTO_UDP, 0, ST_OK, .cfg = CF_NO_UDP, .budget = ROOM,
	  SKIP(PROTOCOL) },
	{ "tcp with only udp off", IPPROTO_TCP, EST, ST_OK, .cfg = CF_NO_UDP, .budget = ROOM,
	  ADMIT_HW },
	{ "udp with only tcp off", IPPROTO_UDP, 0, ST_OK, .cfg = CF_NO_TCP, .budget = ROOM,
	  ADMIT_HW },

	/* state */
	{ "tcp fin_wait", IPPROTO_TCP, TCP_CONNTRACK_FIN_WAIT, ST_OK, .budget = ROOM, SKIP(STATE) },
	{ "tcp close_wait", IPPROTO_TCP, TCP_CONNTRACK_CLOSE_WAIT, ST_OK, .budget = ROOM,
	  SKIP(STATE) },
	{ "tcp last_ack", IPPROTO_TCP, TCP_CONNTRACK_LAST_ACK, ST_OK, .budget = ROOM, SKIP(STATE) },
	{ "tcp time_wait", IPPROTO_TCP, TCP_CONNTRACK_TIME_WAIT, ST_OK, .budget = ROOM,
	  SKIP(STATE) },
	{ "tcp close", IPPROTO_TCP, TCP_CONNTRACK_CLOSE, ST_OK, .budget = ROOM, SKIP(STATE) },
	{ "tcp state unknown", IPPROTO_TCP, TCP_CONNTRACK_NONE, ST_OK, .budget = ROOM, ADMIT_HW },
	/* Not closing: the rule's packet window and the kernel's ESTABLISHED
	 * test decide when such a flow is added. */
	{ "tcp syn_sent", IPPROTO_TCP, TCP_CONNTRACK_SYN_SENT, 0, .budget = ROOM, ADMIT_HW },
	{ "tcp syn_recv", IPPROTO_TCP, TCP_CONNTRACK_SYN_RECV, 0, .budget = ROOM, ADMIT_HW },
	{ "tcp listen/syn_sent2", IPPROTO_TCP, TCP_CONNTRACK_LISTEN, 0, .budget = ROOM, ADMIT_HW },
	{ "tcp dying", IPPROTO_TCP, EST, ST_OK | FO_IPS_DYING, .budget = ROOM, SKIP(STATE) },
	{ "udp dying", IPPROTO_UDP, 0, ST_OK | FO_IPS_DYING, .budget = ROOM, SKIP(STATE) },
	{ "udp ignores tcp_state", IPPROTO_UDP, TCP_CONNTRACK_FIN_WAIT, ST_OK, .budget = ROOM,
	  ADMIT_HW },
	{ "already offloaded is not a state reason", IPPROTO_TCP, EST,
	  ST_OK | FO_IPS_OFFLOAD | FO_IPS_HW_OFFLOAD, .budget = ROOM, ADMIT_HW },

	/* port: the original destination port only */
	{ "udp dns", IPPROTO_UDP, 0, ST_OK, .odport = 53, .budget = ROOM, SKIP(PORT) },
	{ "range low end", IPPROTO_UDP, 0, ST_OK, .odport = 5060, .budget = ROOM, SKIP(PORT) },
	{ "range high end", IPPROTO_TCP, EST, ST_OK, .odport = 5061, .budget = ROOM, SKIP(PORT) },
	{ "below range", IPPROTO_UDP, 0, ST_OK, .odport = 5059, .budget = ROOM, ADMIT_HW },
	{ "above range", IPPROTO_UDP, 0, ST_OK, .odport = 5062, .budget = ROOM, ADMIT_HW },
	{ "client port 53 is not the server port", IPPROTO_UDP, 0, ST_OK, .osport = 53,
	  .odport = 40001, .budget = ROOM, ADMIT_HW },
	{ "dnat from a skipped port", IPPROTO_TCP, EST, ST_OK, .odport = 5060, .rsport = 8080,
	  .budget = ROOM, SKIP(PORT) },
	{ "dnat to a skipped port: orig.dport counts", IPPROTO_TCP, EST, ST_OK, .odport = 8080,
	  .rsport = 5060, .budget = ROOM, ADMIT_HW },

	/* prefix: any endpoint, either tuple */
	{ "orig.src in prefix", IPPROTO_TCP, EST, ST_OK, .osrc = "198.19.200.1", .budget = ROOM,
	  SKIP(PREFIX) },
	{ "orig.dst in prefix", IPPROTO_TCP, EST, ST_OK, .odst = "198.19.200.254",
	  .budget = ROOM, SKIP(PREFIX) },
	{ "dnat: reply.src (real server) in prefix", IPPROTO_TCP, EST,
	  ST_OK | FO_IPS_DST_NAT, .odst = "198.19.0.80", .rsrc = "198.19.200.80",
	  .budget = ROOM, SKIP(PREFIX) },
	{ "snat: reply.dst (translated client) in prefix", IPPROTO_UDP, 0,
	  ST_OK | FO_IPS_SRC_NAT, .osrc = "198.18.5.5", .rdst = "198.19.200.7",
	  .budget = ROOM, SKIP(PREFIX) },
	{ "prefix last address", IPPROTO_TCP, EST, ST_OK, .odst = "198.19.200.255",
	  .budget = ROOM, SKIP(PREFIX) },
	{ "just past the prefix", IPPROTO_TCP, EST, ST_OK, .odst = "198.19.201.0",
	  .budget = ROOM, ADMIT_HW },
	{ "just before the prefix", IPPROTO_TCP, EST, ST_OK, .odst = "198.19.199.255",
	  .budget = ROOM, ADMIT_HW },
	{ "v6 orig.dst in prefix", IPPROTO_TCP, EST, ST_OK, "2001:db8:1::2", "2001:db8:dead::1",
	  .budget = ROOM, SKIP(PREFIX) },
	{ "v6 reply.src in prefix (nat66)", IPPROTO_UDP, 0, ST_OK, "2001:db8:1::2",
	  "2001:db8:2::2", .rsrc = "2001:db8:dead:ffff::1", .budget = ROOM, SKIP(PREFIX) },
	{ "v6 just outside", IPPROTO_TCP, EST, ST_OK, "2001:db8:1::2", "2001:db8:deae::1",
	  .budget = ROOM, ADMIT_HW },
	/* The same bytes in the other family never match: c613:c800:: starts
	 * with the bytes of 198.19.200.0/24 (unit-test data, never on a wire). */
	{ "v6 address with a v4 prefix's bytes", IPPROTO_TCP, EST, ST_OK, "2001:db8:1::2",
	  "c613:c800::1", .budget = ROOM, ADMIT_HW },

	/* no-reply wait */
	{ "udp no reply, required", IPPROTO_UDP, 0, 0, .cfg = CF_REQUIRE_REPLY, .budget = ROOM,
	  WAIT(NO_REPLY) },
	{ "udp assured without reply bit, required", IPPROTO_UDP, 0, FO_IPS_ASSURED,
	  .cfg = CF_REQUIRE_REPLY, .budget = ROOM, WAIT(NO_REPLY) },
	{ "udp no reply, required, no hw tier", IPPROTO_UDP, 0, 0, .cfg = CF_REQUIRE_REPLY,
	  .budget = NO_HW, WAIT(NO_REPLY) },
	{ "udp reply seen, required", IPPROTO_UDP, 0, FO_IPS_SEEN_REPLY, .cfg = CF_REQUIRE_REPLY,
	  .budget = ROOM, ADMIT_HW },
	{ "udp no reply, not required", IPPROTO_UDP, 0, 0, .budget = ROOM, ADMIT_HW },
	{ "tcp no reply, required: udp only", IPPROTO_TCP, TCP_CONNTRACK_SYN_SENT, 0,
	  .cfg = CF_REQUIRE_REPLY, .budget = ROOM, ADMIT_HW },

	/* precedence: the earlier reason wins */
	{ "icmp dying: protocol before state", IPPROTO_ICMP_, 0, FO_IPS_DYING, .budget = ROOM,
	  SKIP(PROTOCOL) },
	{ "tcp off and closing: protocol before state", IPPROTO_TCP, TCP_CONNTRACK_CLOSE, ST_OK,
	  .cfg = CF_NO_TCP, .budget = ROOM, SKIP(PROTOCOL) },
	{ "icmp to a skipped prefix: protocol before prefix", IPPROTO_ICMP_, 0, ST_OK,
	  .odst = "198.19.200.1", .budget = ROOM, SKIP(PROTOCOL) },
	{ "closing on a skipped port: state before port", IPPROTO_TCP, TCP_CONNTRACK_TIME_WAIT,
	  ST_OK, .odport = 53, .budget = ROOM, SKIP(STATE) },
	{ "dying in a skipped prefix: state before prefix", IPPROTO_UDP, 0,
	  ST_OK | FO_IPS_DYING, .osrc = "198.19.200.9", .budget = ROOM, SKIP(STATE) },
	{ "skipped port and prefix: port before prefix", IPPROTO_UDP, 0, ST_OK, .odport = 53,
	  .odst = "198.19.200.53", .budget = ROOM, SKIP(PORT) },
	{ "skipped port, no reply: port before wait", IPPROTO_UDP, 0, 0, .odport = 5060,
	  .cfg = CF_REQUIRE_REPLY, .budget = ROOM, SKIP(PORT) },
	{ "skipped prefix, no reply: prefix before wait", IPPROTO_UDP, 0, 0,
	  .rsrc = "198.19.200.2", .cfg = CF_REQUIRE_REPLY, .budget = ROOM, SKIP(PREFIX) },
	{ "dying, no reply: state before wait", IPPROTO_UDP, 0, FO_IPS_DYING,
	  .cfg = CF_REQUIRE_REPLY, .budget = ROOM, SKIP(STATE) },
	{ "udp off, no reply: protocol before wait", IPPROTO_UDP, 0, 0,
	  .cfg = CF_NO_UDP | CF_REQUIRE_REPLY, .budget = ROOM, SKIP(PROTOCOL) },

	/* budget: hardware while in_use + pending < capacity * watermark / 100 */
	{ "one under the watermark", IPPROTO_TCP, EST, ST_OK, .budget = HW(1000, 90, 899, 0),
	  ADMIT_HW },
	{ "exactly at the watermark", IPPROTO_TCP, EST, ST_OK, .budget = HW(1000, 90, 900, 0),
	  ADMIT_SW },
	{ "pending reaches the watermark", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(1000, 90, 899, 1), ADMIT_SW },
	{ "pending alone at the watermark", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(1000, 90, 0, 900), ADMIT_SW },
	{ "in use plus pending under", IPPROTO_TCP, EST, ST_OK, .budget = HW(1000, 90, 450, 449),
	  ADMIT_HW },
	{ "over the watermark", IPPROTO_UDP, 0, ST_OK, .budget = HW(1000, 90, 1000, 50),
	  ADMIT_SW },
	{ "limit floors: 10 * 95% = 9, 8 used", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(10, 95, 8, 0), ADMIT_HW },
	{ "limit floors: 10 * 95% = 9, 9 used", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(10, 95, 9, 0), ADMIT_SW },
	{ "capacity 1 at 90% holds nothing", IPPROTO_TCP, EST, ST_OK, .budget = HW(1, 90, 0, 0),
	  ADMIT_SW },
	{ "capacity 1 at 100%, empty", IPPROTO_TCP, EST, ST_OK, .budget = HW(1, 100, 0, 0),
	  ADMIT_HW },
	{ "capacity 1 at 100%, full", IPPROTO_TCP, EST, ST_OK, .budget = HW(1, 100, 1, 0),
	  ADMIT_SW },
	{ "capacity 0", IPPROTO_TCP, EST, ST_OK, .budget = HW(0, 90, 0, 0), ADMIT_SW },
	{ "watermark 0", IPPROTO_TCP, EST, ST_OK, .budget = HW(1000, 0, 0, 0), ADMIT_SW },
	{ "hw unavailable with room", IPPROTO_TCP, EST, ST_OK, .budget = { false, 1000, 90, 0, 0 },
	  ADMIT_SW },
	{ "16M at 100%, one free", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(16777216, 100, 16777215, 0), ADMIT_HW },
	{ "16M at 100%, full", IPPROTO_TCP, EST, ST_OK, .budget = HW(16777216, 100, 16777216, 0),
	  ADMIT_SW },
	{ "16M at 99%: limit 16609443, one under", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(16777216, 99, 16609442, 0), ADMIT_HW },
	{ "16M at 99%: limit 16609443, at it", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(16777216, 99, 16609443, 0), ADMIT_SW },
	/* 32-bit arithmetic would wrap in these and pick hardware. */
	{ "in_use + pending past 2^32", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(16777216, 100, UINT32_MAX, 1), ADMIT_SW },
	{ "both counters at UINT32_MAX", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(UINT32_MAX, 100, UINT32_MAX, UINT32_MAX), ADMIT_SW },
	{ "capacity * watermark past 2^32", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(UINT32_MAX, UINT32_MAX, UINT32_MAX, 0), ADMIT_HW },
	{ "4G capacity at 100%, one under", IPPROTO_TCP, EST, ST_OK,
	  .budget = HW(UINT32_MAX, 100, UINT32_MAX - 1, 0), ADMIT_HW },
};

static void base_config(struct fo_config *cfg, unsigned int flags)
{
	config_defaults(cfg);
	cfg->skip_ports[0] = (struct port_range){ 53, 53 };
	cfg->skip_ports[1] = (struct port_range){ 5060, 5061 };
	cfg->n_skip_ports = 2;
	cfg->skip_prefixes[0].family = AF_INET;
	cfg->skip_prefixes[0].len = 24;
	inet_pton(AF_INET, "198.19.200.0", cfg->skip_prefixes[0].addr);
	cfg->skip_prefixes[1].family = AF_INET6;
	cfg->skip_prefixes[1].len = 48;
	inet_pton(AF_INET6, "2001:db8:dead::", cfg->skip_prefixes[1].addr);
	cfg->n_skip_prefixes = 2;
	cfg->proto_tcp = !(flags & CF_NO_TCP);
	cfg->proto_udp = !(flags & CF_NO_UDP);
	cfg->udp_require_reply = flags & CF_REQUIRE_REPLY;
}

static void set_addr(uint8_t *dst, uint8_t family, const char *text)
{
	memset(dst, 0, 16);
	assert_int_equal(inet_pton(family, text, dst), 1);
}

static void build_ct(const struct pcase *c, struct ct_info *ct)
{
	const char *osrc = c->osrc, *odst = c->odst;

	memset(ct, 0, sizeof(*ct));
	ct->family = (osrc && strchr(osrc, ':')) ? AF_INET6 : AF_INET;
	if (!osrc)
		osrc = "198.18.0.2";
	if (!odst)
		odst = ct->family == AF_INET6 ? "2001:db8:2::2" : "198.19.0.2";
	ct->id = 1;
	ct->proto = c->proto;
	ct->tcp_state = c->tcp_state;
	ct->has_status = true;
	ct->status = c->status;
	set_addr(ct->orig.src, ct->family, osrc);
	set_addr(ct->orig.dst, ct->family, odst);
	ct->orig.sport = c->osport ? c->osport : 40000;
	ct->orig.dport = c->odport ? c->odport : 443;
	set_addr(ct->reply.src, ct->family, c->rsrc ? c->rsrc : odst);
	set_addr(ct->reply.dst, ct->family, c->rdst ? c->rdst : osrc);
	ct->reply.sport = c->rsport ? c->rsport : ct->orig.dport;
	ct->reply.dport = c->rdport ? c->rdport : ct->orig.sport;
}

static void test_table(void **state)
{
	struct fo_config cfg, cfg_copy;
	struct ct_info ct, ct_copy;
	struct policy_budget b;
	struct policy_decision d, d2;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct pcase *c = &cases[i];

		base_config(&cfg, c->cfg);
		build_ct(c, &ct);
		b = c->budget;
		cfg_copy = cfg;
		ct_copy = ct;
		d = policy_decide(&cfg, &ct, &b, 0);
		if (d.verdict != c->v || d.reason != c->r)
			fail_msg("case \"%s\": got %s/%s, expected %s/%s", c->name,
				 policy_verdict_str(d.verdict), policy_reason_str(d.reason),
				 policy_verdict_str(c->v), policy_reason_str(c->r));
		/* Pure: inputs untouched, and time changes nothing (yet). */
		assert_memory_equal(&cfg, &cfg_copy, sizeof(cfg));
		assert_memory_equal(&ct, &ct_copy, sizeof(ct));
		d2 = policy_decide(&cfg, &ct, &b, UINT64_MAX);
		assert_int_equal(d2.verdict, d.verdict);
		assert_int_equal(d2.reason, d.reason);
	}
}

/* Any verdict or reason: expect() does not check it. */
#define ANY (-1)

/* policy_decide(cfg, ct, b) at time 0 gives verdict v and reason r (either
 * ANY); a mismatch names the caller's line. */
static void expect_at(int line, const struct fo_config *cfg, const struct ct_info *ct,
		      const struct policy_budget *b, int v, int r)
{
	struct policy_decision d = policy_decide(cfg, ct, b, 0);

	if ((v != ANY && (int)d.verdict != v) || (r != ANY && (int)d.reason != r))
		fail_msg("line %d: got %s/%s, expected %s/%s", line, policy_verdict_str(d.verdict),
			 policy_reason_str(d.reason),
			 v == ANY ? "any" : policy_verdict_str((enum policy_verdict)v),
			 r == ANY ? "any" : policy_reason_str((enum policy_reason)r));
}

#define expect(cfg, ct, b, v, r) expect_at(__LINE__, cfg, ct, b, v, r)

static void test_null_budget(void **state)
{
	static const struct pcase c = { "tcp", IPPROTO_TCP, EST, ST_OK };
	struct fo_config cfg;
	struct ct_info ct;

	(void)state;
	base_config(&cfg, 0);
	build_ct(&c, &ct);
	expect(&cfg, &ct, NULL, VERDICT_ADMIT_SW, REASON_NO_CLASS);
}

/* A mice class skips after the static skips and before the UDP reply
 * wait; the other class verdicts only explain an admission. */
static void test_class_verdicts(void **state)
{
	static const struct pcase tcp = { "tcp", IPPROTO_TCP, EST, ST_OK };
	struct policy_budget b = { .hw_available = false };
	struct fo_config cfg;
	struct ct_info ct;

	(void)state;
	base_config(&cfg, 0);
	build_ct(&tcp, &ct);
	b.class_verdict = CLASS_MICE;
	expect(&cfg, &ct, &b, VERDICT_SKIP, REASON_MICE);
	b.class_verdict = CLASS_MIXED;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, REASON_CLASS_MIXED);
	b.class_verdict = CLASS_LEARNING;
	expect(&cfg, &ct, &b, ANY, REASON_CLASS_LEARNING);
	/* Hardware with room: mixed and learning classes get a slot, a class
	 * whose mice end before the window does not (no mark, no slot). */
	b.hw_available = true;
	b.hw_capacity = 64;
	b.hw_watermark = 100;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, ANY);
	b.class_verdict = CLASS_SHORT;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, REASON_CLASS_SHORT);
	b.hw_available = false;
	/* A closing flow of a mice class: state wins, it comes first. */
	b.class_verdict = CLASS_MICE;
	ct.tcp_state = TCP_CONNTRACK_FIN_WAIT;
	expect(&cfg, &ct, &b, ANY, REASON_STATE);
	/* UDP without reply under udp-require-reply: a mice class skips
	 * rather than waits. */
	base_config(&cfg, CF_REQUIRE_REPLY);
	build_ct(&tcp, &ct);
	ct.proto = IPPROTO_UDP;
	ct.status &= ~FO_IPS_SEEN_REPLY;
	expect(&cfg, &ct, &b, VERDICT_SKIP, REASON_MICE);
}

/* [hardware] overcommit: past capacity * watermark a flow still goes to the
 * hardware flowtable (the NIC refuses what does not fit, the kernel offers
 * it again while it runs); what keeps a flow out of hardware otherwise
 * still does: no hardware flowtable, a short or mice class, a shaper, a
 * never route. */
static void test_overcommit(void **state)
{
	static const struct pcase tcp = { "tcp", IPPROTO_TCP, EST, ST_OK };
	struct policy_budget b = { .hw_available = true, .hw_capacity = 64, .hw_watermark = 90,
				   .class_verdict = CLASS_MIXED };
	struct fo_config cfg;
	struct ct_info ct;

	(void)state;
	base_config(&cfg, 0);
	build_ct(&tcp, &ct);
	/* 57 of 64 taken: the budget (90 %) is full. */
	b.hw_in_use = 50;
	b.hw_pending = 7;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, REASON_CLASS_MIXED);
	cfg.hw_overcommit = true;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, REASON_CLASS_MIXED);
	/* Far past the NIC's table too. */
	b.hw_in_use = 64;
	b.hw_pending = 500;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, ANY);
	b.class_verdict = CLASS_SHORT;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, REASON_CLASS_SHORT);
	b.class_verdict = CLASS_MICE;
	expect(&cfg, &ct, &b, VERDICT_SKIP, REASON_MICE);
	b.class_verdict = CLASS_LEARNING;
	b.shaped_off_hw = true;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, REASON_SHAPED_HW);
	b.shaped_off_hw = false;
	b.hw_available = false;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, ANY);
	b.hw_available = true;
	cfg.n_routes[ROUTE_NEVER] = 1;
	b.route_roles = 1u << ROUTE_NEVER;
	expect(&cfg, &ct, &b, VERDICT_SKIP, REASON_PREFIX);
	/* No budget at all (a caller without a hardware tier): software. */
	b.route_roles = 0;
	cfg.n_routes[ROUTE_NEVER] = 0;
	expect(&cfg, &ct, NULL, VERDICT_ADMIT_SW, ANY);
}

/* [routes]: never and only skip with reason prefix; flows outside
 * prefer-hardware stop at capacity * watermark * (100 - hw-reserve). */
static void test_routes_roles(void **state)
{
	static const struct pcase tcp = { "tcp", IPPROTO_TCP, EST, ST_OK };
	struct policy_budget b = { .hw_available = true, .hw_capacity = 100, .hw_watermark = 100,
				   .class_verdict = CLASS_MIXED };
	struct fo_config cfg;
	struct ct_info ct;

	(void)state;
	base_config(&cfg, 0);
	build_ct(&tcp, &ct);
	cfg.n_routes[ROUTE_NEVER] = 1;
	b.route_roles = 1u << ROUTE_NEVER;
	expect(&cfg, &ct, &b, VERDICT_SKIP, REASON_PREFIX);
	cfg.n_routes[ROUTE_ONLY] = 1;
	b.route_roles = 0;
	expect(&cfg, &ct, &b, ANY, REASON_PREFIX);
	b.route_roles = 1u << ROUTE_ONLY;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, ANY);
	/* A reserve of 25: others stop at 75 slots, preferred go to 100. */
	cfg.n_routes[ROUTE_PREFER_HW] = 1;
	cfg.routes_hw_reserve = 25;
	b.hw_in_use = 74;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, ANY);
	b.hw_pending = 1;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, ANY);
	b.route_roles |= 1u << ROUTE_PREFER_HW;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_HW, ANY);
	b.hw_in_use = 99;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, ANY);
	/* 100: hardware for preferred flows alone. */
	cfg.routes_hw_reserve = 100;
	b.hw_in_use = 0;
	b.hw_pending = 0;
	b.route_roles = 1u << ROUTE_ONLY;
	expect(&cfg, &ct, &b, VERDICT_ADMIT_SW, ANY);
}

/*
 * Every combination of the conditions each rule looks at.  The oracle is not
 * a second if-chain: it lists which conditions hold (from the combination's
 * parameters, never from the conntrack) and checks properties of the
 * decision against that set:
 *   - a skip happens exactly when some skip condition holds, and the reason
 *     given is one that holds (soundness, whatever the order);
 *   - among several, the reason is the first in the documented precedence
 *     (the list in policy.c's header comment, as data here);
 *   - the no-reply wait happens exactly when nothing skips and it holds;
 *   - otherwise the tier follows the budget alone.
 */
enum prefix_pos { PFX_NONE, PFX_OSRC, PFX_ODST, PFX_RSRC, PFX_RDST, PFX_MAX };

/* The documented order of the skip reasons, first wins. */
static const enum policy_reason precedence[] = {
	REASON_PROTOCOL, REASON_STATE, REASON_PORT, REASON_PREFIX,
};

static bool holds(unsigned int set, enum policy_reason r)
{
	return set & (1u << r);
}

static void check_combination(const char *what, unsigned int skips, bool wait_reply,
			      bool hw_expected, struct policy_decision d)
{
	size_t i;

	if (skips) {
		if (d.verdict != VERDICT_SKIP || !holds(skips, d.reason))
			fail_msg("%s: got %s/%s, but skip conditions %#x hold", what,
				 policy_verdict_str(d.verdict), policy_reason_str(d.reason), skips);
		for (i = 0; i < ARRAY_SIZE(precedence) && precedence[i] != d.reason; i++)
			if (holds(skips, precedence[i]))
				fail_msg("%s: reason %s given while %s, earlier, holds", what,
					 policy_reason_str(d.reason),
					 policy_reason_str(precedence[i]));
		return;
	}
	if (d.verdict == VERDICT_SKIP)
		fail_msg("%s: skipped (%s) with no skip condition", what,
			 policy_reason_str(d.reason));
	if (wait_reply) {
		if (d.verdict != VERDICT_WAIT || d.reason != REASON_NO_REPLY)
			fail_msg("%s: got %s/%s, expected wait/no-reply", what,
				 policy_verdict_str(d.verdict), policy_reason_str(d.reason));
		return;
	}
	if (d.verdict != (hw_expected ? VERDICT_ADMIT_HW : VERDICT_ADMIT_SW) ||
	    d.reason != REASON_NO_CLASS)
		fail_msg("%s: got %s/%s, expected %s/no-class", what, policy_verdict_str(d.verdict),
			 policy_reason_str(d.reason), hw_expected ? "admit-hw" : "admit-sw");
}

static void test_exhaustive_order(void **state)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP_, IPPROTO_SCTP_ };
	static const unsigned int cfgs[] = { 0, CF_NO_TCP, CF_NO_UDP };
	/* With whether the kernel calls each TCP state closing. */
	static const struct {
		uint8_t state;
		bool closing;
	} tstates[] = {
		{ TCP_CONNTRACK_NONE, false },	    { TCP_CONNTRACK_SYN_SENT, false },
		{ TCP_CONNTRACK_ESTABLISHED, false }, { TCP_CONNTRACK_FIN_WAIT, true },
		{ TCP_CONNTRACK_CLOSE_WAIT, true },   { TCP_CONNTRACK_LAST_ACK, true },
		{ TCP_CONNTRACK_TIME_WAIT, true },    { TCP_CONNTRACK_CLOSE, true },
	};
	/* With whether each has room in the hardware tier. */
	static const struct {
		struct policy_budget b;
		bool room;
	} budgets[] = {
		{ HW(100, 50, 49, 0), true },
		{ HW(100, 50, 25, 25), false },
		{ { false, 100, 50, 0, 0 }, false },
	};
	size_t np, nc, ns, nb;
	unsigned int dying, port, pfx, reply, req, n = 0;

	(void)state;
	for (np = 0; np < ARRAY_SIZE(protos); np++)
	for (nc = 0; nc < ARRAY_SIZE(cfgs); nc++)
	for (ns = 0; ns < ARRAY_SIZE(tstates); ns++)
	for (dying = 0; dying < 2; dying++)
	for (port = 0; port < 2; port++)
	for (pfx = 0; pfx < PFX_MAX; pfx++)
	for (reply = 0; reply < 2; reply++)
	for (req = 0; req < 2; req++)
	for (nb = 0; nb < ARRAY_SIZE(budgets); nb++) {
		struct pcase c = { "combination" };
		struct fo_config cfg;
		struct ct_info ct;
		struct policy_decision d;
		unsigned int flags = cfgs[nc] | (req ? CF_REQUIRE_REPLY : 0), skips = 0;
		bool enabled;
		char what[160];

		c.proto = protos[np];
		c.tcp_state = tstates[ns].state;
		c.status = (dying ? FO_IPS_DYING : 0) | (reply ? FO_IPS_SEEN_REPLY : 0);
		c.odport = port ? 5061 : 5062;
		c.osrc = pfx == PFX_OSRC ? "198.19.200.1" : NULL;
		c.odst = pfx == PFX_ODST ? "198.19.200.2" : NULL;
		c.rsrc = pfx == PFX_RSRC ? "198.19.200.3" : "198.19.0.3";
		c.rdst = pfx == PFX_RDST ? "198.19.200.4" : "198.18.0.4";
		base_config(&cfg, flags);
		build_ct(&c, &ct);
		d = policy_decide(&cfg, &ct, &budgets[nb].b, 12345);

		enabled = (c.proto == IPPROTO_TCP && !(flags & CF_NO_TCP)) ||
			  (c.proto == IPPROTO_UDP && !(flags & CF_NO_UDP));
		if (!enabled)
			skips |= 1u << REASON_PROTOCOL;
		if (dying || (c.proto == IPPROTO_TCP && tstates[ns].closing))
			skips |= 1u << REASON_STATE;
		if (port)
			skips |= 1u << REASON_PORT;
		if (pfx != PFX_NONE)
			skips |= 1u << REASON_PREFIX;
		snprintf(what, sizeof(what),
			 "proto %u cfg %#x tcp_state %u dying %u port %u prefix %u reply %u budget %zu",
			 c.proto, flags, c.tcp_state, dying, port, pfx, reply, nb);
		check_combination(what, skips, c.proto == IPPROTO_UDP && req && !reply,
				  budgets[nb].room, d);
		n++;
	}
	assert_int_equal(n, 4 * 3 * 8 * 2 * 2 * PFX_MAX * 2 * 2 * 3);
}

static void test_strings(void **state)
{
	static const char *const verdicts[] = { "wait", "admit-sw", "admit-hw", "skip" };
	static const char *const reasons[] = {
		"", "protocol", "port", "prefix", "device", "mice-class", "capacity", "state",
		"no-reply", "class-mixed", "class-learning", "no-class", "class-short", "shaped",
		"shaped-hw",
	};
	unsigned int i;

	(void)state;
	assert_int_equal(VERDICT_WAIT, 0);
	assert_int_equal(VERDICT_SKIP, 3);
	for (i = 0; i < ARRAY_SIZE(verdicts); i++)
		assert_string_equal(policy_verdict_str((enum policy_verdict)i), verdicts[i]);
	assert_int_equal(ARRAY_SIZE(reasons), REASON_MAX);
	for (i = 0; i < REASON_MAX; i++)
		assert_string_equal(policy_reason_str((enum policy_reason)i), reasons[i]);
	assert_string_equal(policy_reason_str(REASON_CAPACITY), "capacity");
	assert_string_equal(policy_verdict_str((enum policy_verdict)4), "unknown");
	assert_string_equal(policy_verdict_str((enum policy_verdict)-1), "unknown");
	assert_string_equal(policy_reason_str(REASON_MAX), "unknown");
	assert_string_equal(policy_reason_str((enum policy_reason)200), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_null_budget),
		cmocka_unit_test(test_class_verdicts),
		cmocka_unit_test(test_exhaustive_order),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_routes_roles),
		cmocka_unit_test(test_overcommit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
