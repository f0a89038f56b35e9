/* Unit tests for nft_ruleset_render: the exact nft text for each shape of
 * config and plan, and the plans it must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "nft_ruleset.h"

static void plan_set(struct ruleset_plan *p, const char *sw0, const char *sw1, const char *hw0)
{
	memset(p, 0, sizeof(*p));
	if (sw0)
		strcpy(p->sw_devs[p->n_sw++], sw0);
	if (sw1)
		strcpy(p->sw_devs[p->n_sw++], sw1);
	if (hw0)
		strcpy(p->hw_devs[p->n_hw++], hw0);
}

static void strip_fingerprints(char *out);

static void expect_render(const struct fo_config *cfg, const struct ruleset_plan *plan,
			  const char *expected)
{
	char *out = NULL;

	assert_int_equal(nft_ruleset_render(cfg, plan, &out), 0);
	assert_non_null(out);
	strip_fingerprints(out);
	assert_string_equal(out, expected);
	free(out);
}

/* Each table opens with `comment "flowoffload <16 hex digits>"`: check its
 * form and cut it out, so the expectations below stay readable. */
static void strip_fingerprints(char *out)
{
	static const char open[] = " {\n\tcomment \"flowoffload ";
	char *p = out;
	int tables = 0;

	while ((p = strstr(p, open))) {
		char *c = p + 3, *hex = p + strlen(open);
		size_t i;

		for (i = 0; i < 16; i++)
			assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
		assert_memory_equal(hex + 16, "\"\n", 2);
		memmove(c, hex + 18, strlen(hex + 18) + 1);
		p = c;
		tables++;
	}
	assert_true(tables >= 1);
}

static char *fingerprint_of(const struct fo_config *cfg, const struct ruleset_plan *plan,
			    const char *table, char *buf)
{
	char *out = NULL, *p, head[64];

	assert_int_equal(nft_ruleset_render(cfg, plan, &out), 0);
	snprintf(head, sizeof(head), "table inet %s {\n\tcomment \"flowoffload ", table);
	p = strstr(out, head);
	assert_non_null(p);
	memcpy(buf, p + strlen(head), 16);
	buf[16] = '\0';
	free(out);
	return buf;
}

/* The fingerprint must change with anything that changes the tables, and
 * only then: it decides whether a restarted agent keeps the installed ones. */
static void test_fingerprint(void **state)
{
	struct ruleset_plan plan, plan2;
	struct fo_config cfg, cfg2;
	char a[17], b[17];

	(void)state;
	config_defaults(&cfg);
	plan_set(&plan, "lan0", "wan0", "wan0");
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg, &plan, "flowoffload", b));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg, &plan, "flowoffload_hw", b));
	cfg2 = cfg;
	cfg2.window_from = 6;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	cfg2 = cfg;
	cfg2.tcp_ack_only = false;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	plan_set(&plan2, "lan0", "wan1", "wan0");
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg, &plan2, "flowoffload", b));
	/* The hardware table's devices do not change the software table. */
	plan_set(&plan2, "lan0", "wan0", "lan0");
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg, &plan2, "flowoffload", b));
}

static void test_sw_only_defaults(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	plan_set(&plan, "lan0", "wan0", NULL);
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"lan0\", \"wan0\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n");
}

static void test_sw_and_hw(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	plan_set(&plan, "lan0", "wan0", "wan0");
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"lan0\", \"wan0\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n"
		      "table inet flowoffload_hw\n"
		      "delete table inet flowoffload_hw\n"
		      "table inet flowoffload_hw {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"wan0\" }\n"
		      "\t\tflags offload\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n");
}

static void test_udp_only(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	cfg.proto_tcp = false;
	plan_set(&plan, "eth0", NULL, NULL);
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"eth0\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n");
}

static void test_tcp_without_ack_only(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	cfg.proto_udp = false;
	cfg.tcp_ack_only = false;
	plan_set(&plan, "eth0", "eth1", NULL);
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"eth0\", \"eth1\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp counter flow add @ft comment \"offload-tcp\"\n"
		      "\t}\n"
		      "}\n");
}

/* The mark unit is the mask's lowest bit; the window goes in verbatim. */
static void test_mask_and_window(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	cfg.mark_mask = 0x000000f0;
	cfg.window_from = 3;
	cfg.window_until = 50;
	cfg.proto_udp = false;
	plan_set(&plan, "br-lan", NULL, "br-lan");
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"br-lan\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x000000f0 == 0x00000010 ct packets >= 3 ct packets <= 50 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t}\n"
		      "}\n"
		      "table inet flowoffload_hw\n"
		      "delete table inet flowoffload_hw\n"
		      "table inet flowoffload_hw {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"br-lan\" }\n"
		      "\t\tflags offload\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x000000f0 == 0x00000020 ct packets >= 3 ct packets <= 50 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t}\n"
		      "}\n");
}

/* A window of one packet and the top bits of the mark. */
static void test_high_mask_single_packet(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out = NULL;

	(void)state;
	config_defaults(&cfg);
	cfg.mark_mask = 0xc0000000;
	cfg.window_from = 7;
	cfg.window_until = 7;
	plan_set(&plan, "lan0", NULL, "lan0");
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "table inet flowoffload {\n"));
	assert_non_null(strstr(out, "ct mark & 0xc0000000 == 0x40000000 ct packets >= 7 ct packets <= 7 meta l4proto tcp"));
	assert_non_null(strstr(out, "ct mark & 0xc0000000 == 0x80000000 ct packets >= 7 ct packets <= 7 meta l4proto udp"));
	free(out);
}

static void expect_refused(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	char *out = (char *)"untouched";

	assert_int_equal(nft_ruleset_render(cfg, plan, &out), -EINVAL);
	assert_string_equal(out, "untouched");
}

static void test_refused(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out;

	(void)state;
	config_defaults(&cfg);

	plan_set(&plan, NULL, NULL, NULL);	/* no software device */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", "lan0", NULL);	/* a device twice: EEXIST in the kernel */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", NULL, NULL);
	cfg.mark_mask = 0;
	expect_refused(&cfg, &plan);

	config_defaults(&cfg);
	cfg.window_from = 10;
	cfg.window_until = 9;
	expect_refused(&cfg, &plan);

	config_defaults(&cfg);
	cfg.proto_tcp = cfg.proto_udp = false;
	expect_refused(&cfg, &plan);

	/* One mask bit holds ADMIT_SW but not ADMIT_HW: a hardware rule would
	 * match mark 0, every flow never admitted. */
	config_defaults(&cfg);
	cfg.mark_mask = 0x00000100;
	plan_set(&plan, "lan0", NULL, "lan0");
	expect_refused(&cfg, &plan);
	plan_set(&plan, "lan0", NULL, NULL);
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "ct mark & 0x00000100 == 0x00000100 ct packets"));
	assert_null(strstr(out, "flowoffload_hw"));
	free(out);
}

/* A device name longer than the kernel's IFNAMSIZ - 1 is not a device. */
static void test_name_not_terminated(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	plan_set(&plan, "lan0", NULL, NULL);
	memset(plan.sw_devs[0], 'x', CONFIG_IFNAMSIZ);
	expect_refused(&cfg, &plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sw_only_defaults),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_sw_and_hw),
		cmocka_unit_test(test_udp_only),
		cmocka_unit_test(test_tcp_without_ack_only),
		cmocka_unit_test(test_mask_and_window),
		cmocka_unit_test(test_high_mask_single_packet),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_name_not_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
