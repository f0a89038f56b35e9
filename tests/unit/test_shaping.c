/* Unit tests for the shaper detection: qdisc and link messages built the way
 * the kernel sends them, classified, and the path walk over the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "policy.h"
#include "shaping.h"

static char buf[4096] __attribute__((aligned(8)));

/* An RTM_NEWQDISC as a dump answers it: tcmsg, TCA_KIND, TCA_OPTIONS. */
static const struct nlmsghdr *qdisc_msg(int ifindex, uint32_t parent, const char *kind,
					uint64_t cake_rate)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct tcmsg *tcm;
	struct nlattr *opts;

	nlh->nlmsg_type = RTM_NEWQDISC;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = parent;
	tcm->tcm_handle = parent == TC_H_INGRESS ? 0xffff0000 : 0x80010000;
	mnl_attr_put_strz(nlh, TCA_KIND, kind);
	opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	if (!strcmp(kind, "cake")) {
		mnl_attr_put_u64(nlh, TCA_CAKE_BASE_RATE64, cake_rate);
		mnl_attr_put_u32(nlh, TCA_CAKE_DIFFSERV_MODE, 1);
	}
	mnl_attr_nest_end(nlh, opts);
	return nlh;
}

static const struct nlmsghdr *link_msg(int ifindex, const char *name, const char *kind,
				       int master, int link)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *info;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_index = ifindex;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	if (link)
		mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)link);
	if (kind) {
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
		mnl_attr_nest_end(nlh, info);
	}
	return nlh;
}

static void test_qdisc_kinds(void **state)
{
	static const struct {
		const char *kind;
		uint32_t parent;
		uint64_t rate;
		bool shapes, ingress;
	} cases[] = {
		{ "tbf", TC_H_ROOT, 0, true, false },
		{ "htb", TC_H_ROOT, 0, true, false },
		{ "hfsc", TC_H_ROOT, 0, true, false },
		{ "tbf", 0x00010001, 0, true, false },	/* under a class: still a limit */
		{ "cake", TC_H_ROOT, 2500000, true, false },
		{ "cake", TC_H_ROOT, 0, false, false },	/* unlimited: schedules only */
		{ "fq_codel", TC_H_ROOT, 0, false, false },
		{ "fq", TC_H_ROOT, 0, false, false },
		{ "noqueue", TC_H_ROOT, 0, false, false },
		{ "mq", TC_H_ROOT, 0, false, false },
		{ "pfifo_fast", TC_H_ROOT, 0, false, false },
		{ "ingress", TC_H_INGRESS, 0, false, true },
		{ "clsact", TC_H_CLSACT, 0, false, true },
	};
	struct shaping_qdisc q;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(shaping_parse_qdisc(qdisc_msg(7, cases[i].parent, cases[i].kind,
								cases[i].rate), &q), 1);
		assert_int_equal(q.ifindex, 7);
		assert_string_equal(q.kind, cases[i].kind);
		assert_int_equal(q.shapes, cases[i].shapes);
		assert_int_equal(q.ingress, cases[i].ingress);
		assert_int_equal(q.root, cases[i].parent == TC_H_ROOT);
	}
	/* Not a qdisc message. */
	assert_int_equal(shaping_parse_qdisc(link_msg(3, "wan0", NULL, 0, 0), &q), 0);
}

static void test_link_parse(void **state)
{
	struct shaping_dev d;

	(void)state;
	assert_int_equal(shaping_parse_link(link_msg(5, "wan0.10", "vlan", 0, 3), &d), 1);
	assert_string_equal(d.name, "wan0.10");
	assert_int_equal(d.lower, 3);
	assert_false(d.bridge);
	/* A veth names its peer in IFLA_LINK: not a lower device. */
	assert_int_equal(shaping_parse_link(link_msg(4, "wan0", "veth", 6, 9), &d), 1);
	assert_int_equal(d.lower, 0);
	assert_int_equal(d.master, 6);
	assert_int_equal(shaping_parse_link(link_msg(6, "br-wan", "bridge", 0, 0), &d), 1);
	assert_true(d.bridge);
	assert_int_equal(shaping_parse_link(link_msg(8, "ifb0", "ifb", 0, 0), &d), 1);
	assert_true(d.ifb);
}

/* lan0 2, wanl 3 (VLAN lower), wan0.10 5 over it, br-wan 6 with port wanp 4,
 * ifb0 8, plain wan1 9. */
static void build(struct shaping_set *s)
{
	struct shaping_dev d;

	shaping_set_clear(s);
	assert_int_equal(shaping_parse_link(link_msg(2, "lan0", "veth", 0, 0), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(3, "wanl", "veth", 0, 0), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(5, "wan0.10", "vlan", 0, 3), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(6, "br-wan", "bridge", 0, 0), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(4, "wanp", "veth", 6, 0), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(8, "ifb0", "ifb", 0, 0), &d), 1);
	shaping_set_add(s, &d);
	assert_int_equal(shaping_parse_link(link_msg(9, "wan1", "veth", 0, 0), &d), 1);
	shaping_set_add(s, &d);
}

static void qdisc(struct shaping_set *s, int ifindex, uint32_t parent, const char *kind)
{
	struct shaping_qdisc q;

	assert_int_equal(shaping_parse_qdisc(qdisc_msg(ifindex, parent, kind, 0), &q), 1);
	shaping_set_qdisc(s, &q);
}

static const char *hooked_names;

static bool hooked(const char *name, void *arg)
{
	(void)arg;
	return strstr(hooked_names, name) != NULL;
}

static struct shaping_verdict walk(const struct shaping_set *s, int egress)
{
	struct shaping_verdict v = { 0, 0 };

	shaping_path(s, egress, hooked, NULL, &v);
	return v;
}

static void test_paths(void **state)
{
	struct shaping_set s = { 0 };
	struct shaping_verdict v;

	(void)state;
	build(&s);
	hooked_names = "lan0 wanl wanp wan1";
	/* Nothing shapes: nothing to keep. */
	v = walk(&s, 5);
	assert_int_equal(v.off_hw, 0);
	assert_int_equal(v.off_sw, 0);

	/* fq_codel schedules, it does not shape. */
	qdisc(&s, 9, TC_H_ROOT, "fq_codel");
	v = walk(&s, 9);
	assert_int_equal(v.off_hw, 0);

	/* A tbf on the plain WAN device: the software path passes it. */
	build(&s);
	qdisc(&s, 9, TC_H_ROOT, "tbf");
	v = walk(&s, 9);
	assert_int_equal(v.off_hw, 9);
	assert_int_equal(v.off_sw, 0);

	/* On a VLAN upper device, or on its lower one: off hardware only. */
	build(&s);
	qdisc(&s, 5, TC_H_ROOT, "htb");
	v = walk(&s, 5);
	assert_int_equal(v.off_hw, 5);
	assert_int_equal(v.off_sw, 0);
	build(&s);
	qdisc(&s, 3, TC_H_ROOT, "tbf");
	v = walk(&s, 5);
	assert_int_equal(v.off_hw, 3);
	assert_int_equal(v.off_sw, 0);

	/* On a bridge whose port the flowtable hooks: the fast path would
	 * transmit on the port, past the bridge's shaper. */
	build(&s);
	qdisc(&s, 6, TC_H_ROOT, "tbf");
	v = walk(&s, 6);
	assert_int_equal(v.off_hw, 6);
	assert_int_equal(v.off_sw, 6);
	/* ... but not when the flowtable hooks only the bridge. */
	hooked_names = "lan0 br-wan";
	v = walk(&s, 6);
	assert_int_equal(v.off_hw, 6);
	assert_int_equal(v.off_sw, 0);
	/* A shaper on the port itself is passed. */
	hooked_names = "lan0 wanp";
	build(&s);
	qdisc(&s, 4, TC_H_ROOT, "tbf");
	v = walk(&s, 6);
	assert_int_equal(v.off_hw, 4);
	assert_int_equal(v.off_sw, 0);

	/* An ingress redirect counts only while an ifb shapes. */
	build(&s);
	qdisc(&s, 9, TC_H_INGRESS, "ingress");
	v = walk(&s, 9);
	assert_int_equal(v.off_hw, 0);
	qdisc(&s, 8, TC_H_ROOT, "tbf");
	v = walk(&s, 9);
	assert_int_equal(v.off_hw, 9);
	assert_int_equal(v.off_sw, 0);
	/* The ifb itself is on no flow's path. */
	assert_false(shaping_dev_shaped(&s, shaping_set_find(&s, 8)));

	/* An unknown egress device: no verdict. */
	v = walk(&s, 42);
	assert_int_equal(v.off_hw, 0);
	free(s.devs);
}

/* The policy side: keep moves a hardware admission to software and skips
 * a flow whose fast path would skip the shaper. */
static void test_policy(void **state)
{
	struct fo_config cfg;
	struct ct_info ct;
	struct policy_budget b = { .hw_available = true, .hw_capacity = 100,
				   .hw_watermark = 100, .class_verdict = CLASS_OFF };
	struct policy_decision d;

	(void)state;
	config_defaults(&cfg);
	memset(&ct, 0, sizeof(ct));
	ct.family = AF_INET;
	ct.proto = IPPROTO_TCP;
	ct.tcp_state = 3;	/* ESTABLISHED */
	ct.orig.dport = 5201;
	d = policy_decide(&cfg, &ct, &b, 0);
	assert_int_equal(d.verdict, VERDICT_ADMIT_HW);
	b.shaped_off_hw = 4;
	d = policy_decide(&cfg, &ct, &b, 0);
	assert_int_equal(d.verdict, VERDICT_ADMIT_SW);
	assert_int_equal(d.reason, REASON_SHAPED_HW);
	assert_string_equal(policy_reason_str(d.reason), "shaped-hw");
	b.shaped_off_sw = 4;
	d = policy_decide(&cfg, &ct, &b, 0);
	assert_int_equal(d.verdict, VERDICT_SKIP);
	assert_int_equal(d.reason, REASON_SHAPED);
	assert_string_equal(policy_reason_str(d.reason), "shaped");
	/* Without a hardware tier a shaper on a passing path changes nothing. */
	b.shaped_off_sw = 0;
	b.hw_available = false;
	d = policy_decide(&cfg, &ct, &b, 0);
	assert_int_equal(d.verdict, VERDICT_ADMIT_SW);
	assert_int_equal(d.reason, REASON_NO_CLASS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qdisc_kinds),
		cmocka_unit_test(test_link_parse),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
