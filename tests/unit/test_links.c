/* Unit tests for links_select, links_is_sw_only and the plans made from them
 * (resolved, and --check-config's as written, on any machine). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "config.h"
#include "links.h"
#include "nft_ruleset.h"
#include "plan.h"

/* Deliberately not in ifindex order: the dump is in hash order. */
static const struct link_info links[] = {
	{ "wan0", 3, true, false, true },
	{ "lo", 1, true, true, true },
	{ "lan0", 2, true, false, true },
	{ "eth2", 7, true, false, false }, /* up, not forwarding */
	{ "eth1", 6, false, false, true }, /* forwarding, down */
	{ "wlan0", 4, true, false, true },
	{ "br-lan", 5, true, false, true },
	{ "veth10", 10, true, false, true },
	{ "veth9", 9, true, false, true },
};
#define N_LINKS (sizeof(links) / sizeof(links[0]))

static void cfg_list(struct fo_config *cfg, bool is_auto, const char *const *devices,
		     const char *const *exclude)
{
	config_defaults(cfg);
	cfg->devices_auto = is_auto;
	cfg->n_devices = 0;
	cfg->n_exclude = 0;
	for (; devices && *devices; devices++)
		strcpy(cfg->devices[cfg->n_devices++], *devices);
	for (; exclude && *exclude; exclude++)
		strcpy(cfg->exclude[cfg->n_exclude++], *exclude);
}

/* expected: space-separated names in order, "" for none. */
static void expect_select(const struct fo_config *cfg, size_t max, const char *expected)
{
	char sel[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	char got[CONFIG_MAX_LIST * CONFIG_IFNAMSIZ] = "";
	size_t n, i;

	memset(sel, 0, sizeof(sel));
	n = links_select(cfg, links, N_LINKS, sel, max);
	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, sel[i]);
	}
	assert_string_equal(got, expected);
}

static void test_auto(void **state)
{
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, true, NULL, NULL);
	/* No lo (loopback), no eth1 (down), no eth2 (not forwarding). */
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 wlan0 br-lan veth9 veth10");
}

static void test_auto_exclude(void **state)
{
	static const char *const ex[] = { "veth*", "wlan0", NULL };
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, true, NULL, ex);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 br-lan");
}

/* The list is in the config's order, the result in ifindex order; a
 * listed device is taken whether or not it is up or forwarding. */
static void test_list(void **state)
{
	static const char *const devs[] = { "wan0", "eth1", "lan0", "eth2", NULL };
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, false, devs, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 eth1 eth2");
}

static void test_missing_devices(void **state)
{
	static const char *const some[] = { "lan0", "nosuch0", "wan0", NULL };
	static const char *const none[] = { "nosuch0", "ppp*", NULL };
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, false, some, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0");
	cfg_list(&cfg, false, none, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "");
	/* An empty list selects nothing, it does not mean auto. */
	cfg_list(&cfg, false, NULL, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "");
}

static void test_wildcards(void **state)
{
	static const char *const veth[] = { "veth*", NULL };
	static const char *const cls[] = { "eth[12]", "?an0", NULL };
	static const char *const overlap[] = { "*an0", "lan*", "lan0", NULL };
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, false, veth, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "veth9 veth10");
	cfg_list(&cfg, false, cls, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 eth1 eth2");
	/* A device matched by several entries is taken once. */
	cfg_list(&cfg, false, overlap, NULL);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 wlan0");
}

static void test_exclude_wins(void **state)
{
	static const char *const devs[] = { "*", NULL };
	static const char *const ex[] = { "lo", "veth1?", "eth*", NULL };
	static const char *const named[] = { "lan0", NULL };
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, false, devs, ex);
	expect_select(&cfg, CONFIG_MAX_LIST, "lan0 wan0 wlan0 br-lan veth9");
	/* Even over an exact name in the list. */
	cfg_list(&cfg, false, named, named);
	expect_select(&cfg, CONFIG_MAX_LIST, "");
}

static void test_max(void **state)
{
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, true, NULL, NULL);
	expect_select(&cfg, 2, "lan0 wan0");
	expect_select(&cfg, 0, "");
}

static void test_no_links(void **state)
{
	char sel[1][CONFIG_IFNAMSIZ];
	struct fo_config cfg;

	(void)state;
	cfg_list(&cfg, true, NULL, NULL);
	assert_int_equal(links_select(&cfg, NULL, 0, sel, 1), 0);
}

static void test_sw_only(void **state)
{
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_false(links_is_sw_only(&cfg, "lan0"));
	strcpy(cfg.sw_only[cfg.n_sw_only++], "wlan*");
	strcpy(cfg.sw_only[cfg.n_sw_only++], "ppp0");
	assert_true(links_is_sw_only(&cfg, "wlan0"));
	assert_true(links_is_sw_only(&cfg, "wlan1"));
	assert_true(links_is_sw_only(&cfg, "ppp0"));
	assert_false(links_is_sw_only(&cfg, "ppp1"));
	assert_false(links_is_sw_only(&cfg, "lan0"));
}

/* --check-config's plan: the file as written, whatever this machine has. */
static void test_plan_offline(void **state)
{
	static const char *const list[] = { "lan0", "eth*", "ppp0", NULL };
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *text = NULL;

	(void)state;
	cfg_list(&cfg, true, NULL, NULL);
	assert_int_equal(plan_offline(&cfg, &plan, NULL), 0);
	assert_int_equal(plan.n_sw, 1);
	assert_string_equal(plan.sw_devs[0], PLAN_AUTO_PLACEHOLDER);
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &text), 0);
	free(text);

	cfg_list(&cfg, false, list, NULL);
	cfg.hw_mode = HW_MODE_ON;
	strcpy(cfg.sw_only[cfg.n_sw_only++], "ppp*");
	assert_int_equal(plan_offline(&cfg, &plan, NULL), 0);
	assert_int_equal(plan.n_sw, 3);
	assert_string_equal(plan.sw_devs[1], "eth*");
	/* mode = on: every device not software-only is in hardware. */
	assert_int_equal(plan.n_hw, 2);
	assert_string_equal(plan.hw_devs[0], "lan0");
	assert_string_equal(plan.hw_devs[1], "eth*");
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &text), 0);
	free(text);

	cfg_list(&cfg, false, NULL, NULL);
	assert_int_equal(plan_offline(&cfg, &plan, NULL), -ENODEV);
}

/* The resolving path (--dry-run, the agent) still refuses a selection that
 * matches nothing here. */
static void test_plan_from_links_empty(void **state)
{
	static const struct link_info only_lo[] = { { "lo", 1, true, true, true } };
	struct ruleset_plan plan;
	struct fo_config cfg;
	char err[256] = "";

	(void)state;
	cfg_list(&cfg, true, NULL, NULL);
	cfg.hw_mode = HW_MODE_OFF;
	assert_int_equal(plan_from_links(&cfg, only_lo, 1, NULL, &plan, false, NULL, err, sizeof(err)),
			 -ENODEV);
	assert_non_null(strstr(err, "devices = auto matched no up, forwarding"));
	assert_int_equal(plan_from_links(&cfg, links, N_LINKS, NULL, &plan, false, NULL, err,
					 sizeof(err)),
			 0);
	assert_int_equal(plan.n_sw, 6);
}

/* A home router: br-lan over lan1 and lan2 (lan2 a VLAN on eth1), PPPoE on
 * wan0.7 (VLAN 7 on wan0), QinQ on eth3, PPPoE over QinQ on eth4. */
static const struct link_info router[] = {
	{ "lo", 1, true, true, true },
	{ "wan0", 2, true, false, false },
	{ "wan0.7", 3, true, false, false, LINK_VLAN, 2, 0, 7, false },
	{ "ppp0", 4, true, false, true, LINK_PPP, .pppoe = { "wan0.7" } },
	{ "eth1", 5, true, false, false },
	{ "lan1", 6, true, false, false, LINK_OTHER, 0, 8 },
	{ "lan2", 7, true, false, false, LINK_VLAN, 5, 8, 20, false },
	{ "br-lan", 8, true, false, true, LINK_BRIDGE },
	{ "eth3", 9, true, false, false },
	{ "eth3.100", 10, true, false, false, LINK_VLAN, 9, 0, 100, true },
	{ "eth3.100.200", 11, true, false, true, LINK_VLAN, 10, 0, 200, false },
	{ "eth4", 12, true, false, false },
	{ "eth4.1", 13, true, false, false, LINK_VLAN, 12, 0, 1, true },
	{ "eth4.1.2", 14, true, false, false, LINK_VLAN, 13, 0, 2, false },
	{ "ppp1", 15, true, false, false, LINK_PPP, .pppoe = { "eth4.1.2" } },
};
#define N_ROUTER (sizeof(router) / sizeof(router[0]))

static void expect_resolve(const struct fo_config *cfg, struct links_memory *mem,
			   const struct link_info *l, size_t n, const char *expected,
			   const char *why_has)
{
	char sel[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ], why[2048];
	char got[CONFIG_MAX_LIST * CONFIG_IFNAMSIZ] = "";
	size_t k, i;

	k = links_resolve(cfg, l, n, mem, sel, CONFIG_MAX_LIST, why, sizeof(why));
	for (i = 0; i < k; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, sel[i]);
	}
	assert_string_equal(got, expected);
	if (why_has && !strstr(why, why_has))
		fail_msg("\"%s\" not in:\n%s", why_has, why);
}

static void test_resolve_paths(void **state)
{
	static const char *const pppoe[] = { "br-lan", "ppp0", NULL };
	static const char *const qinq[] = { "eth3.100.200", NULL };
	static const char *const deep[] = { "ppp1", NULL };
	static const char *const ex_wan[] = { "wan0", NULL };
	struct fo_config cfg;

	(void)state;
	/* fw4's list: the logical devices; their ports and lowers join. */
	cfg_list(&cfg, false, pppoe, NULL);
	expect_resolve(&cfg, NULL, router, N_ROUTER, "wan0 ppp0 eth1 lan1 br-lan",
		       "ppp0 -> PPPoE on wan0.7 -> VLAN 7 on wan0: hooks wan0 too");
	expect_resolve(&cfg, NULL, router, N_ROUTER, "wan0 ppp0 eth1 lan1 br-lan",
		       "br-lan -> bridge port lan2 -> VLAN 20 on eth1: hooks eth1 too");
	/* QinQ: down to the device, past the service tag. */
	cfg_list(&cfg, false, qinq, NULL);
	expect_resolve(&cfg, NULL, router, N_ROUTER, "eth3 eth3.100.200",
		       "VLAN 200 on eth3.100 -> VLAN 100 (802.1ad) on eth3: hooks eth3");
	/* Three encapsulations: the kernel keeps two; the logical one alone. */
	cfg_list(&cfg, false, deep, NULL);
	expect_resolve(&cfg, NULL, router, N_ROUTER, "ppp1", "3 encapsulations");
	/* Exclude wins over a lower device too. */
	cfg_list(&cfg, false, pppoe, ex_wan);
	expect_resolve(&cfg, NULL, router, N_ROUTER, "ppp0 eth1 lan1 br-lan", "wan0 is excluded");
	/* auto: forwarding devices and their paths. */
	cfg_list(&cfg, true, NULL, NULL);
	expect_resolve(&cfg, NULL, router, N_ROUTER, "wan0 ppp0 eth1 lan1 br-lan eth3 eth3.100.200",
		       NULL);
}

/* ppp0 gone (a reconnect): its lower device stays; back, resolved afresh. */
static void test_resolve_memory(void **state)
{
	static const char *const list[] = { "br-lan", "ppp0", NULL };
	struct link_info gone[N_ROUTER];
	struct links_memory mem = { .n = 0 };
	struct fo_config cfg;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < N_ROUTER; i++)
		if (strcmp(router[i].name, "ppp0"))
			gone[n++] = router[i];
	cfg_list(&cfg, false, list, NULL);
	/* Never seen: nothing to keep. */
	expect_resolve(&cfg, &mem, gone, n, "eth1 lan1 br-lan", NULL);
	expect_resolve(&cfg, &mem, router, N_ROUTER, "wan0 ppp0 eth1 lan1 br-lan", NULL);
	expect_resolve(&cfg, &mem, gone, n, "wan0 eth1 lan1 br-lan",
		       "ppp0 is gone (re-created on reconnect): keeping its lower device wan0");
	expect_resolve(&cfg, &mem, gone, n, "wan0 eth1 lan1 br-lan", NULL);
	expect_resolve(&cfg, &mem, router, N_ROUTER, "wan0 ppp0 eth1 lan1 br-lan", NULL);
}

/* The shipped example, checked by the real binary in a network namespace
 * with no device but a down loopback: the build host. */
static void test_check_config_anywhere(void **state)
{
	char cmd[1024], line[256];
	FILE *p;
	int st, flowtables = 0;

	(void)state;
	if (unshare(CLONE_NEWNET))
		skip();
	snprintf(cmd, sizeof(cmd), "%s/flowoffloadd --check-config -c %s/flowoffload.conf.example 2>&1",
		 BUILDDIR, SRCDIR);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		flowtables += strstr(line, "flowtable ft {") != NULL;
	st = pclose(p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(flowtables >= 1);
	/* --dry-run resolves devices: here, none. */
	snprintf(cmd, sizeof(cmd), "%s/flowoffloadd --dry-run -c %s/flowoffload.conf.example >/dev/null 2>&1",
		 BUILDDIR, SRCDIR);
	st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_auto_exclude),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_missing_devices),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_exclude_wins),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_no_links),
		cmocka_unit_test(test_sw_only),
		cmocka_unit_test(test_plan_offline),
		cmocka_unit_test(test_plan_from_links_empty),
		cmocka_unit_test(test_resolve_paths),
		cmocka_unit_test(test_resolve_memory),
		cmocka_unit_test(test_check_config_anywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
