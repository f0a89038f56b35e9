/* test_nft_foreign: finding other tables' flowtables on our devices from
 * the dump messages nf_tables sends (built here with libnftnl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>

#include "nft_foreign.h"

static char buf[8192];

static const struct nlmsghdr *flowtable_msg(uint32_t family, const char *table, const char *name,
					    const char **devs, int n, uint32_t flags)
{
	struct nftnl_flowtable *ft = nftnl_flowtable_alloc();
	struct nlmsghdr *nlh;

	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_TABLE, table);
	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_NAME, name);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_PRIO, 0);
	nftnl_flowtable_set_array(ft, NFTNL_FLOWTABLE_DEVICES, devs);
	if (flags)
		nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FLAGS, flags);
	(void)n;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWFLOWTABLE, (uint16_t)family, 0, 1);
	nftnl_flowtable_nlmsg_build_payload(nlh, ft);
	nftnl_flowtable_free(ft);
	return nlh;
}

static const struct nlmsghdr *rule_msg(const char *table, const char *ft_name)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "forward");
	e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	if (ft_name) {
		e = nftnl_expr_alloc("flow_offload");
		nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, ft_name);
		nftnl_rule_add_expr(r, e);
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nlh;
}

static struct ruleset_plan plan_lan_wan(void)
{
	struct ruleset_plan p;

	memset(&p, 0, sizeof(p));
	p.n_sw = 2;
	strcpy(p.sw_devs[0], "lan0");
	strcpy(p.sw_devs[1], "wan0");
	p.n_hw = 2;
	strcpy(p.hw_devs[0], "lan0");
	strcpy(p.hw_devs[1], "wan0");
	return p;
}

/* fw4's ft on both our devices, flags offload, fed by one rule. */
static void test_fw4_flowtable(void **state)
{
	const char *devs[] = { "lan0", "eth9", "wan0", NULL };
	struct ruleset_plan p = plan_lan_wan();
	struct nft_foreign f;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_INET, "fw4", "ft",
									 devs, 3, NFT_FLOWTABLE_HW_OFFLOAD)),
			 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(f.ft[0].table, "fw4");
	assert_string_equal(f.ft[0].name, "ft");
	assert_true(f.ft[0].hw);
	assert_int_equal(f.ft[0].n_devs, 2);	/* eth9 is not ours */
	assert_string_equal(f.ft[0].devs[0], "lan0");
	assert_string_equal(f.ft[0].devs[1], "wan0");
	assert_int_equal(nft_foreign_count_rule(&f.ft[0], rule_msg("fw4", "ft")), 0);
	assert_int_equal(nft_foreign_count_rule(&f.ft[0], rule_msg("fw4", NULL)), 0);
	assert_int_equal(nft_foreign_count_rule(&f.ft[0], rule_msg("fw4", "other")), 0);
	assert_int_equal(f.ft[0].rules, 1);
	assert_non_null(nft_foreign_hw_on(&f, "wan0"));
	assert_null(nft_foreign_hw_on(&f, "eth9"));
	assert_int_equal(nft_foreign_drop_hw(&p, &f), 2);
	assert_int_equal(p.n_hw, 0);
	assert_int_equal(p.n_sw, 2);
}

/* Ours, and others on devices we do not use, are not kept; software
 * flowtables contest no hardware. */
static void test_ignored(void **state)
{
	const char *ours[] = { "lan0", "wan0", NULL };
	const char *elsewhere[] = { "eth9", NULL };
	const char *one[] = { "wan0", NULL };
	struct ruleset_plan p = plan_lan_wan();
	struct nft_foreign f, g;

	(void)state;
	memset(&f, 0, sizeof(f));
	nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_INET, NFT_TABLE_SW, "ft", ours, 2, 0));
	nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_INET, NFT_TABLE_HW, "ft", ours, 2,
							NFT_FLOWTABLE_HW_OFFLOAD));
	nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_INET, "fw4", "ft", elsewhere, 1,
							NFT_FLOWTABLE_HW_OFFLOAD));
	assert_int_equal(f.n, 0);
	/* The same name in another family is someone else's. */
	nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_IPV4, NFT_TABLE_SW, "ft", one, 1, 0));
	assert_int_equal(f.n, 1);
	assert_false(f.ft[0].hw);
	assert_null(nft_foreign_hw_on(&f, "wan0"));
	assert_int_equal(nft_foreign_drop_hw(&p, &f), 0);
	assert_int_equal(p.n_hw, 2);
	g = f;
	assert_true(nft_foreign_equal(&f, &g));
	g.ft[0].rules++;
	assert_false(nft_foreign_equal(&f, &g));
}

/* One device of two contested: the other keeps its hardware tier. */
static void test_drop_one(void **state)
{
	const char *one[] = { "lan0", NULL };
	struct ruleset_plan p = plan_lan_wan();
	struct nft_foreign f;

	(void)state;
	memset(&f, 0, sizeof(f));
	nft_foreign_add_flowtable(&f, &p, flowtable_msg(NFPROTO_NETDEV, "x", "hw", one, 1,
							NFT_FLOWTABLE_HW_OFFLOAD));
	assert_int_equal(nft_foreign_drop_hw(&p, &f), 1);
	assert_int_equal(p.n_hw, 1);
	assert_string_equal(p.hw_devs[0], "wan0");
	assert_string_equal(nft_foreign_family_str(f.ft[0].family), "netdev");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fw4_flowtable),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_drop_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
