/* Unit tests for nft_ruleset_render: the exact nft text for each shape of
 * config and plan, and the plans it must refuse. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <sys/socket.h>
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

static struct prefix prefix4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	struct prefix p = { .family = AF_INET, .len = len, .addr = { a, b, c, d } };

	return p;
}

/* hi32:mid16::lo16/len: enough for the documentation range 2001:db8::/32. */
static struct prefix prefix6(uint32_t hi32, uint16_t mid16, uint8_t len)
{
	struct prefix p = { .family = AF_INET6, .len = len };

	p.addr[0] = hi32 >> 24;
	p.addr[1] = (hi32 >> 16) & 0xff;
	p.addr[2] = (hi32 >> 8) & 0xff;
	p.addr[3] = hi32 & 0xff;
	p.addr[4] = mid16 >> 8;
	p.addr[5] = mid16 & 0xff;
	return p;
}

static void add_port(struct fo_config *cfg, uint16_t lo, uint16_t hi)
{
	cfg->skip_ports[cfg->n_skip_ports++] = (struct port_range){ lo, hi };
}

static void add_prefix(struct fo_config *cfg, struct prefix p)
{
	cfg->skip_prefixes[cfg->n_skip_prefixes++] = p;
}

static void strip_fingerprints(char *out);

/* The defaults without the mice signal: most tests are about other parts
 * of the rule (test_mice_signal and test_sw_only_defaults keep it). */
static void defaults_plain(struct fo_config *cfg)
{
	config_defaults(cfg);
	cfg->min_avgpkt = 0;
}

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
	defaults_plain(&cfg);
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
	cfg2 = cfg;
	cfg2.udp_require_reply = true;
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* The skip sets are part of both tables. */
	cfg2 = cfg;
	add_port(&cfg2, 53, 53);
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload_hw", a),
				fingerprint_of(&cfg2, &plan, "flowoffload_hw", b));
	cfg = cfg2;
	add_port(&cfg2, 5060, 5061);
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	cfg2 = cfg;
	add_prefix(&cfg2, prefix4(198, 18, 5, 0, 24));
	assert_string_not_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
				fingerprint_of(&cfg2, &plan, "flowoffload", b));
	/* The same ports spelled otherwise are the same tables. */
	defaults_plain(&cfg);
	defaults_plain(&cfg2);
	add_port(&cfg, 53, 54);
	add_port(&cfg2, 54, 54);
	add_port(&cfg2, 53, 53);
	assert_string_equal(fingerprint_of(&cfg, &plan, "flowoffload", a),
			    fingerprint_of(&cfg2, &plan, "flowoffload", b));
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 ct avgpkt >= 400 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 ct avgpkt >= 400 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 64 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-small-tcp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 64 ct packets <= 1000 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-small-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "}\n");
}

static void test_sw_and_hw(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
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
	defaults_plain(&cfg);
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "}\n");
}

/* min-avgpkt adds `ct avgpkt >= A` to the offload rule; with
 * small-packet-window-from a second rule per protocol takes small-packet
 * flows later; readmit rules stay as they are. */
static void test_mice_signal(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	config_defaults(&cfg);
	cfg.window_from = 12;
	cfg.min_avgpkt = 400;
	cfg.small_window_from = 48;
	cfg.proto_udp = false;
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 12 ct packets <= 1000 ct avgpkt >= 400 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 48 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-small-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 12 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t}\n"
		      "}\n");
	/* small-packet-window-from 0 is auto: packet 64 (inside 12..1000). */
	cfg.small_window_from = 0;
	cfg.proto_tcp = false;
	cfg.proto_udp = true;
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 12 ct packets <= 1000 ct avgpkt >= 400 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 64 ct packets <= 1000 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-small-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 12 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "}\n");
}

/* events = window: the offload rules widen the event mask to destroy and
 * mark; a prerouting chain gives new conntracks an empty one.  The
 * hardware table has neither. */
static void test_events_window(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out = NULL;

	(void)state;
	defaults_plain(&cfg);
	cfg.proto_tcp = false;
	cfg.events_window = true;
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter ct event set 0x84 ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "\n"
		      "\tchain events {\n"
		      "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
		      "\t\tct status & confirmed == 0 ct event set 0x0 counter comment \"events-quiet\"\n"
		      "\t}\n"
		      "}\n");
	plan_set(&plan, "eth0", NULL, "eth0");
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "table inet flowoffload_hw {"));
	assert_null(strstr(strstr(out, "table inet flowoffload_hw {"), "ct event set"));
	free(out);
}

static void test_tcp_without_ack_only(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto tcp counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t}\n"
		      "}\n");
}

/* The mark unit is the mask's lowest bit: software tests the unit's
 * second bit (set by HW and SKIP), hardware the whole field; the window
 * goes in verbatim. */
static void test_mask_and_window(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
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
		      "\t\tct mark & 0x00000020 == 0x00000000 ct packets >= 3 ct packets <= 50 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x00000010 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x000000f0 == 0x00000010 ct packets >= 3 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x000000f0 == 0x00000020 ct packets > 50 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xffffff1f | 0x00000010 flow add @ft comment \"hw-return-tcp\"\n"
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
	defaults_plain(&cfg);
	cfg.mark_mask = 0xc0000000;
	cfg.window_from = 7;
	cfg.window_until = 7;
	plan_set(&plan, "lan0", NULL, "lan0");
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "table inet flowoffload {\n"));
	assert_non_null(strstr(out, "ct mark & 0x80000000 == 0x00000000 ct packets >= 7 ct packets <= 7 meta l4proto tcp"));
	assert_non_null(strstr(out, "ct mark & 0xc0000000 == 0x80000000 ct packets >= 7 ct packets <= 7 meta l4proto udp"));
	free(out);
}

/* A single port and a range; both protocols get a skip-port rule, both
 * tiers the set and the rules. */
static void test_skip_ports(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
	add_port(&cfg, 5060, 5061);
	add_port(&cfg, 53, 53);
	plan_set(&plan, "lan0", NULL, "lan0");
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tset skip_ports {\n"
		      "\t\ttype inet_service\n"
		      "\t\tflags interval\n"
		      "\t\telements = { 53, 5060-5061 }\n"
		      "\t}\n"
		      "\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"lan0\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tmeta l4proto tcp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n"
		      "\t\tmeta l4proto udp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "}\n"
		      "table inet flowoffload_hw\n"
		      "delete table inet flowoffload_hw\n"
		      "table inet flowoffload_hw {\n"
		      "\tset skip_ports {\n"
		      "\t\ttype inet_service\n"
		      "\t\tflags interval\n"
		      "\t\telements = { 53, 5060-5061 }\n"
		      "\t}\n"
		      "\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"lan0\" }\n"
		      "\t\tflags offload\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tmeta l4proto tcp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n"
		      "\t\tmeta l4proto udp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n");
}

/* Sorted, overlaps and neighbours merged (nft refuses overlapping
 * elements), five ports to a line as nft lists them; with TCP only, one
 * skip-port rule. */
static void test_skip_ports_merged(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out = NULL;

	(void)state;
	defaults_plain(&cfg);
	cfg.proto_udp = false;
	add_port(&cfg, 9000, 9000);
	add_port(&cfg, 1000, 2000);
	add_port(&cfg, 1, 1024);
	add_port(&cfg, 2001, 2001);
	add_port(&cfg, 3000, 3000);
	add_port(&cfg, 3002, 3002);
	add_port(&cfg, 4000, 4000);
	add_port(&cfg, 5000, 5000);
	add_port(&cfg, 65535, 65535);
	add_port(&cfg, 3000, 3000);
	plan_set(&plan, "lan0", NULL, NULL);
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "\t\telements = { 1-2001, 3000, 3002, 4000, 5000,\n"
				    "\t\t\t     9000, 65535 }\n"));
	assert_non_null(strstr(out, "\t\tmeta l4proto tcp ct original proto-dst @skip_ports counter return comment \"skip-port\"\n"));
	assert_null(strstr(out, "meta l4proto udp ct original"));
	free(out);
}

/* IPv4 and IPv6 each in their own set, looked up with all four addresses
 * of the conntrack. */
static void test_skip_prefixes(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
	cfg.proto_udp = false;
	add_prefix(&cfg, prefix6(0x20010db8, 5, 48));
	add_prefix(&cfg, prefix4(198, 18, 5, 0, 24));
	add_prefix(&cfg, prefix6(0x20010db8, 7, 128));
	add_prefix(&cfg, prefix4(192, 0, 2, 7, 32));
	plan_set(&plan, "lan0", "wan0", NULL);
	expect_render(&cfg, &plan,
		      "table inet flowoffload\n"
		      "delete table inet flowoffload\n"
		      "table inet flowoffload {\n"
		      "\tset skip4 {\n"
		      "\t\ttype ipv4_addr\n"
		      "\t\tflags interval\n"
		      "\t\telements = { 192.0.2.7, 198.18.5.0/24 }\n"
		      "\t}\n"
		      "\n"
		      "\tset skip6 {\n"
		      "\t\ttype ipv6_addr\n"
		      "\t\tflags interval\n"
		      "\t\telements = { 2001:db8:5::/48,\n"
		      "\t\t\t     2001:db8:7:: }\n"
		      "\t}\n"
		      "\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"lan0\", \"wan0\" }\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct original ip saddr @skip4 counter return comment \"skip-prefix\"\n"
		      "\t\tct original ip daddr @skip4 counter return comment \"skip-prefix\"\n"
		      "\t\tct reply ip saddr @skip4 counter return comment \"skip-prefix\"\n"
		      "\t\tct reply ip daddr @skip4 counter return comment \"skip-prefix\"\n"
		      "\t\tct original ip6 saddr @skip6 counter return comment \"skip-prefix\"\n"
		      "\t\tct original ip6 daddr @skip6 counter return comment \"skip-prefix\"\n"
		      "\t\tct reply ip6 saddr @skip6 counter return comment \"skip-prefix\"\n"
		      "\t\tct reply ip6 daddr @skip6 counter return comment \"skip-prefix\"\n"
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter flow add @ft comment \"readmit-tcp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto tcp tcp flags & (fin | syn | rst | ack) == ack counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-tcp\"\n"
		      "\t}\n"
		      "}\n");
}

/* Only the family configured gets a set; merged neighbours print as the
 * prefix or range nft lists; two IPv4 elements to a line. */
static void test_skip_prefixes_merged(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;
	char *out = NULL;

	(void)state;
	defaults_plain(&cfg);
	add_prefix(&cfg, prefix4(11, 0, 0, 0, 8));
	add_prefix(&cfg, prefix4(10, 0, 0, 0, 8));
	add_prefix(&cfg, prefix4(10, 1, 0, 0, 16));
	add_prefix(&cfg, prefix4(198, 18, 5, 0, 24));
	add_prefix(&cfg, prefix4(198, 18, 6, 0, 24));
	add_prefix(&cfg, prefix4(203, 0, 113, 0, 31));
	add_prefix(&cfg, prefix4(0, 0, 0, 0, 32));
	plan_set(&plan, "lan0", NULL, NULL);
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "\t\telements = { 0.0.0.0, 10.0.0.0/7,\n"
				    "\t\t\t     198.18.5.0-198.18.6.255, 203.0.113.0/31 }\n"));
	assert_null(strstr(out, "skip6"));
	assert_null(strstr(out, "ip6"));
	assert_null(strstr(out, "skip_ports"));
	free(out);

	/* Everything, in both families. */
	defaults_plain(&cfg);
	add_prefix(&cfg, prefix6(0, 0, 0));
	add_prefix(&cfg, prefix4(0, 0, 0, 0, 0));
	add_prefix(&cfg, prefix4(198, 18, 5, 0, 24));
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "\t\telements = { 0.0.0.0/0 }\n"));
	assert_non_null(strstr(out, "\t\telements = { ::/0 }\n"));
	free(out);
}

/* UDP waits for the server's first reply: one-way streams stay slow. */
static void test_udp_require_reply(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
	cfg.proto_tcp = false;
	cfg.udp_require_reply = true;
	plan_set(&plan, "eth0", NULL, "eth0");
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
		      "\t\tct mark & 0x08000000 == 0x00000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp ct status & seen-reply == seen-reply counter ct mark set ct mark | 0x04000000 flow add @ft comment \"offload-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x04000000 ct packets >= 5 meta l4proto udp ct status & seen-reply == seen-reply counter flow add @ft comment \"readmit-udp\"\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets > 1000 meta l4proto udp ct status & seen-reply == seen-reply counter ct mark set ct mark & 0xf7ffffff | 0x04000000 flow add @ft comment \"hw-return-udp\"\n"
		      "\t}\n"
		      "}\n"
		      "table inet flowoffload_hw\n"
		      "delete table inet flowoffload_hw\n"
		      "table inet flowoffload_hw {\n"
		      "\tflowtable ft {\n"
		      "\t\thook ingress priority filter\n"
		      "\t\tdevices = { \"eth0\" }\n"
		      "\t\tflags offload\n"
		      "\t\tcounter\n"
		      "\t}\n"
		      "\n"
		      "\tchain forward {\n"
		      "\t\ttype filter hook forward priority filter + 10; policy accept;\n"
		      "\t\tct mark & 0x0c000000 == 0x08000000 ct packets >= 5 ct packets <= 1000 meta l4proto udp ct status & seen-reply == seen-reply counter flow add @ft comment \"offload-udp\"\n"
		      "\t}\n"
		      "}\n");
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
	defaults_plain(&cfg);

	plan_set(&plan, NULL, NULL, NULL);	/* no software device */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", "lan0", NULL);	/* a device twice: EEXIST in the kernel */
	expect_refused(&cfg, &plan);

	plan_set(&plan, "lan0", NULL, NULL);
	cfg.mark_mask = 0;
	expect_refused(&cfg, &plan);

	defaults_plain(&cfg);
	cfg.window_from = 10;
	cfg.window_until = 9;
	expect_refused(&cfg, &plan);

	defaults_plain(&cfg);
	cfg.proto_tcp = cfg.proto_udp = false;
	expect_refused(&cfg, &plan);

	/* One mask bit holds ADMIT_SW but not HW or SKIP: the software rule
	 * would test bit 0x200, which is not ours, and a hardware rule would
	 * match mark 0, every flow never admitted. */
	defaults_plain(&cfg);
	cfg.mark_mask = 0x00000100;
	plan_set(&plan, "lan0", NULL, "lan0");
	expect_refused(&cfg, &plan);
	plan_set(&plan, "lan0", NULL, NULL);
	expect_refused(&cfg, &plan);
	/* Two bits are enough for both tiers. */
	cfg.mark_mask = 0x00000300;
	out = NULL;
	assert_int_equal(nft_ruleset_render(&cfg, &plan, &out), 0);
	assert_non_null(strstr(out, "ct mark & 0x00000200 == 0x00000000 ct packets"));
	assert_null(strstr(out, "flowoffload_hw"));
	free(out);

	/* Skip lists the config parser would never produce. */
	defaults_plain(&cfg);
	cfg.n_skip_ports = 1;
	cfg.skip_ports[0] = (struct port_range){ 90, 80 };
	expect_refused(&cfg, &plan);
	defaults_plain(&cfg);
	cfg.n_skip_ports = CONFIG_MAX_LIST + 1;
	expect_refused(&cfg, &plan);
	defaults_plain(&cfg);
	cfg.n_skip_prefixes = 1;
	cfg.skip_prefixes[0] = prefix4(10, 0, 0, 0, 33);
	expect_refused(&cfg, &plan);
	cfg.skip_prefixes[0].family = 0;
	cfg.skip_prefixes[0].len = 8;
	expect_refused(&cfg, &plan);
	cfg.skip_prefixes[0] = prefix6(0x20010db8, 0, 129);
	expect_refused(&cfg, &plan);
}

/* A device name longer than the kernel's IFNAMSIZ - 1 is not a device. */
static void test_name_not_terminated(void **state)
{
	struct ruleset_plan plan;
	struct fo_config cfg;

	(void)state;
	defaults_plain(&cfg);
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
		cmocka_unit_test(test_mice_signal),
		cmocka_unit_test(test_events_window),
		cmocka_unit_test(test_mask_and_window),
		cmocka_unit_test(test_high_mask_single_packet),
		cmocka_unit_test(test_skip_ports),
		cmocka_unit_test(test_skip_ports_merged),
		cmocka_unit_test(test_skip_prefixes),
		cmocka_unit_test(test_skip_prefixes_merged),
		cmocka_unit_test(test_udp_require_reply),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_name_not_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
