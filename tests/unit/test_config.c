/* Unit tests for config.c: the exact error line for every kind of mistake,
 * the parsed values and defaults of good files, mark values and prefixes. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "ct_admit.h"
#include "config_table.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The "allowed" halves of the messages, spelled out again on purpose: an
 * operator reads them, so a change to one should fail a test. */
#define A_IFN "up to 64 interface names or wildcards (eth* wan?), at most 15 characters, " \
	      "without '/' or ':'"
#define A_DEVICES "auto, or " A_IFN
#define A_IFLIST A_IFN "; empty for none"
#define A_PROTO "tcp, udp or both"
#define A_FROM "a whole number 1..1000000, at most window-until"
#define A_UNTIL "a whole number 1..1000000, at least window-from"
#define A_BOOL "yes or no (also true/false, on/off, 1/0)"
#define A_MASK "a 32-bit mask, hex (0x0c000000) or decimal, of 2 or more contiguous bits"
#define A_MODE "auto, on or off"
#define A_CAP "1..16777216 entries (k and M suffixes: 8k is 8192)"
#define A_WM "a percentage 1..100 (90 or 90%)"
#define A_PORTS "up to 64 ports 1..65535 or ranges lo-hi (5060-5061); empty for none"
#define A_PREFIXES "up to 64 IPv4 or IPv6 addresses or prefixes with zero host bits " \
		   "(198.18.0.0/15 2001:db8::/32); empty for none"
#define A_FLOWS "1..100000000 flows (k and M suffixes: 1M is 1048576)"
#define A_STATUS "100ms..1h (ms, s, m, h; a bare number is seconds)"
#define A_RESYNC "1s..24h (ms, s, m, h; a bare number is seconds)"
#define A_EVBUF "64k..1G bytes (k, M and G suffixes)"
#define A_LISTEN "IPV4:PORT or [IPV6]:PORT, numeric, port 1..65535; empty for none"
#define A_SOCKET "an absolute path of at most 107 characters"
#define A_GROUP "a group name of at most 31 letters, digits, '_', '.' or '-', not starting " \
		"with '-'; empty for root's group"
#define A_ADMIN "a group name of at most 31 letters, digits, '_', '.' or '-', not starting " \
		"with '-'; empty for root only"
#define A_SECTIONS "[devices] [offload] [hardware] [skip] [routes] [classes] [agent]"
#define A_RT "routing tables by id 1..4294967295 or rt_tables name, each optionally with :protocol (100 100:bird isp:186); empty for none"
#define A_INDENT "allowed: keys and [sections] at the start of a line; only lists continue " \
		 "on indented lines"

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static char path[sizeof(tmpdir) + 32];

static int setup_dir(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(path, sizeof(path), "%s/flowoffload.conf", tmpdir);
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(tmpdir);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text; on error checks that the message is exactly path + expect
 * on one line and that cfg was not touched. */
static int load_text(const char *text, struct fo_config *cfg, const char *expect)
{
	static struct fo_config sentinel;
	char err[1024], want[1200];
	int ret;

	write_file(text);
	memset(cfg, 0xa5, sizeof(*cfg));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	memset(err, 0, sizeof(err));
	ret = config_load(path, cfg, err, sizeof(err));
	if (!expect) {
		if (ret)
			fail_msg("config:\n%s\nunexpected error %d: %s", text, ret, err);
		return ret;
	}
	snprintf(want, sizeof(want), "%s%s", path, expect);
	if (ret != -EINVAL || strcmp(err, want))
		fail_msg("config:\n%s\nreturned %d, message\n  %s\nexpected\n  %s", text, ret,
			 err, want);
	assert_null(strchr(err, '\n'));
	assert_memory_equal(cfg, &sentinel, sizeof(*cfg));
	return ret;
}

struct bad_case {
	const char *text;
	const char *expect;	/* the error after the file name */
};

static const struct bad_case bad_cases[] = {
	/* structure */
	{ "[hardwre]\nmode = on\n",
	  ":1: [hardwre]: unknown section; allowed: " A_SECTIONS },
	{ "[offload]\nwindow-from = 5\n\n[extra]\n# no keys at all\n",
	  ":4: [extra]: unknown section; allowed: " A_SECTIONS },
	{ "[Offload]\n", ":1: [Offload]: unknown section; allowed: " A_SECTIONS },
	{ "[]\n", ":1: []: unknown section; allowed: " A_SECTIONS },
	{ "[devices]\ndevice = eth0\n",
	  ":2: [devices] device: unknown key; allowed: devices software-only exclude" },
	{ "[offload]\nwindow = 5\n",
	  ":2: [offload] window: unknown key; allowed: protocols window-from window-until "
	  "tcp-ack-only udp-require-reply mark-mask min-avgpkt small-packet-window-from" },
	{ "[hardware]\nsize = 5\n",
	  ":2: [hardware] size: unknown key; allowed: mode capacity watermark confirm-timeout overcommit" },
	{ "[skip]\nport = 53\n", ":2: [skip] port: unknown key; allowed: ports prefixes" },
	{ "[agent]\nsocket_path = /x\n",
	  ":2: [agent] socket_path: unknown key; allowed: max-flows status-interval "
	  "resync-interval event-buffer socket socket-group admin-group user group keep-ruleset manage-ruleset "
	  "events metrics-dir metrics-interval metrics-listen" },
	{ "[offload]\nmode = on\n",
	  ":2: [offload] mode: unknown key; allowed: protocols window-from window-until "
	  "tcp-ack-only udp-require-reply mark-mask min-avgpkt small-packet-window-from" },
	{ "max-flows = 5\n[agent]\n",
	  ":1: max-flows: outside any section; allowed: a section line first: " A_SECTIONS },
	{ "[agent]\nmax-flows = 1\n# again\nmax-flows = 2\n",
	  ":4: [agent] max-flows: repeated (first set on line 2); allowed: each key once" },
	{ "[offload]\nprotocols = tcp\n[hardware]\nmode = on\n[offload]\nprotocols = udp\n",
	  ":6: [offload] protocols: repeated (first set on line 2); allowed: each key once" },
	/* An indented key right after a section line is a key, not a continuation. */
	{ "[offload]\nprotocols = tcp\n[offload]\n  protocols = udp\n",
	  ":4: [offload] protocols: repeated (first set on line 2); allowed: each key once" },
	{ "[offload]\nwindow-from\n", ":2: syntax error; expected key = value or [section]" },
	{ "[offload\nwindow-from = 5\n", ":1: syntax error; expected key = value or [section]" },
	/* the first error in the file wins, whichever kind it is */
	{ "[offload]\nnonsense\nwindow-from = 0\n",
	  ":2: syntax error; expected key = value or [section]" },
	{ "[offload]\nwindow-from = 0\nnonsense\n",
	  ":2: [offload] window-from: \"0\" is out of range; allowed: " A_FROM },
	{ "[offload]\nwindow-from = 6\n  7\n",
	  ":3: [offload] window-from: the indented line \"7\" continues its value; " A_INDENT },
	{ "[offload]\n  window-from = 6\n  window-until = 7\n",
	  ":3: [offload] window-from: the indented line \"window-until = 7\" continues its "
	  "value; " A_INDENT },
	{ "[skip]\nports = 53\n\t[agent]\nmax-flows = 5\n",
	  ":3: [skip] ports: the indented line \"[agent]\" continues its value; " A_INDENT },
	/* 200 characters: one more than inih's 200-byte buffer holds with its NUL. */
	{ "[agent]\n# 0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567\n",
	  ":2: line too long (200 characters); allowed: at most 199 characters per line, "
	  "lists continue on indented lines" },
	/* 199 characters are fine. */
	{ "[agent]\n# 0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789012345678901234567890123456\nmax-flows = 0\n",
	  ":3: [agent] max-flows: \"0\" is out of range; allowed: " A_FLOWS },

	{ "[devices]\ndevices = eth0 # uplink\n",
	  ":2: [devices] devices: \"eth0 # uplink\" holds a '#' comment; allowed: '#' comments "
	  "on lines of their own, \" ;\" after a value" },
	{ "[skip]\nports = 53\n  5060 #sip\n",
	  ":3: [skip] ports: \"5060 #sip\" holds a '#' comment; allowed: '#' comments "
	  "on lines of their own, \" ;\" after a value" },
	{ "[agent]\nsocket = /run/fo.sock\t# control\n",
	  ":2: [agent] socket: \"/run/fo.sock\t# control\" holds a '#' comment; allowed: '#' "
	  "comments on lines of their own, \" ;\" after a value" },

	/* [devices] */
	{ "[devices]\ndevices = eth0/1\n",
	  ":2: [devices] devices: \"eth0/1\" is not an interface name; allowed: " A_DEVICES },
	{ "[devices]\ndevices = wan:1\n",
	  ":2: [devices] devices: \"wan:1\" is not an interface name; allowed: " A_DEVICES },
	{ "[devices]\ndevices = eth0 ..\n",
	  ":2: [devices] devices: \"..\" is not an interface name; allowed: " A_DEVICES },
	{ "[devices]\ndevices = eth0 \x01x\n",
	  ":2: [devices] devices: \"\x01x\" is not an interface name; allowed: " A_DEVICES },
	{ "[devices]\ndevices = 0123456789abcdef\n",
	  ":2: [devices] devices: \"0123456789abcdef\" is longer than 15 characters; allowed: "
	  A_DEVICES },
	{ "[devices]\ndevices = auto eth0\n",
	  ":2: [devices] devices: \"auto\" cannot be combined with interface names; allowed: "
	  A_DEVICES },
	{ "[devices]\ndevices = eth0,\n  auto\n",
	  ":3: [devices] devices: \"auto\" cannot be combined with interface names; allowed: "
	  A_DEVICES },
	{ "[devices]\ndevices = auto auto\n",
	  ":2: [devices] devices: \"auto\" cannot be combined with interface names; allowed: "
	  A_DEVICES },
	{ "[devices]\ndevices =\n[offload]\n",
	  ":2: [devices] devices: no interface listed; allowed: " A_DEVICES },
	{ "[devices]\ndevices = ,\n",
	  ":2: [devices] devices: no interface listed; allowed: " A_DEVICES },
	{ "[devices]\nsoftware-only = eth0 a/b\n",
	  ":2: [devices] software-only: \"a/b\" is not an interface name; allowed: " A_IFLIST },
	{ "[devices]\nexclude = verylonginterface\n",
	  ":2: [devices] exclude: \"verylonginterface\" is longer than 15 characters; allowed: "
	  A_IFLIST },

	/* [offload] */
	{ "[offload]\nprotocols = icmp\n",
	  ":2: [offload] protocols: \"icmp\" is not an offloadable protocol; allowed: " A_PROTO },
	{ "[offload]\nprotocols = tcp, sctp\n",
	  ":2: [offload] protocols: \"sctp\" is not an offloadable protocol; allowed: " A_PROTO },
	{ "[offload]\nprotocols = TCP\n",
	  ":2: [offload] protocols: \"TCP\" is not an offloadable protocol; allowed: " A_PROTO },
	{ "[offload]\nprotocols =\n", ":2: [offload] protocols: no protocol listed; allowed: " A_PROTO },
	{ "[offload]\nwindow-from = 0\n",
	  ":2: [offload] window-from: \"0\" is out of range; allowed: " A_FROM },
	{ "[offload]\nwindow-from = 1000001\n",
	  ":2: [offload] window-from: \"1000001\" is out of range; allowed: " A_FROM },
	{ "[offload]\nwindow-from = five\n",
	  ":2: [offload] window-from: \"five\" is not a whole number; allowed: " A_FROM },
	{ "[offload]\nwindow-from =\n",
	  ":2: [offload] window-from: \"\" is not a whole number; allowed: " A_FROM },
	{ "[offload]\nwindow-until = -1\n",
	  ":2: [offload] window-until: \"-1\" is not a whole number; allowed: " A_UNTIL },
	{ "[offload]\nwindow-until = 1k\n",
	  ":2: [offload] window-until: \"1k\" is not a whole number; allowed: " A_UNTIL },
	{ "[offload]\nwindow-from = 10\nwindow-until = 5\n",
	  ":3: [offload] window-until: 5 is below window-from 10 (line 2); allowed: " A_UNTIL },
	{ "[offload]\nwindow-until = 5\n\nwindow-from = 10\n",
	  ":4: [offload] window-from: 10 is above window-until 5 (line 2); allowed: " A_FROM },
	{ "[offload]\nwindow-until = 3\n",
	  ":2: [offload] window-until: 3 is below window-from 16 (the default); allowed: " A_UNTIL },
	{ "[offload]\nwindow-from = 2000\n",
	  ":2: [offload] window-from: 2000 is above window-until 1000 (the default); allowed: "
	  A_FROM },
	{ "[offload]\nwindow-from = 10\nsmall-packet-window-from = 6\n",
	  ":3: [offload] small-packet-window-from: 6 is outside the window 10..1000; allowed: "
	  "0 (auto: 64 moved into the window) or a whole number between window-from and window-until" },
	{ "[offload]\nsmall-packet-window-from = 40\nwindow-until = 30\n",
	  ":2: [offload] small-packet-window-from: 40 is outside the window 16..30; allowed: "
	  "0 (auto: 64 moved into the window) or a whole number between window-from and window-until" },
	{ "[offload]\nmin-avgpkt = 70000\n",
	  ":2: [offload] min-avgpkt: \"70000\" is out of range; allowed: "
	  "0 (off) or 1..65535 bytes: the average packet size a flow needs at window-from" },
	{ "[hardware]\nconfirm-timeout = 10ms\n",
	  ":2: [hardware] confirm-timeout: \"10ms\" is out of range; allowed: "
	  "100ms..1h (ms, s, m, h; a bare number is seconds)" },
	{ "[agent]\nuser = -root\n",
	  ":2: [agent] user: \"-root\" is not a user name; allowed: a user name or uid of at most 31 "
	  "letters, digits, '_', '.' or '-', not starting with '-'; empty to stay the user that "
	  "started the agent" },
	{ "[agent]\ngroup = flowoffload\n",
	  ":2: [agent] group: a group without [agent] user; set user too, or leave group empty; "
	  "allowed: a group name or gid of at most 31 letters, digits, '_', '.' or '-', not "
	  "starting with '-'; empty for the user's primary group" },
	{ "[classes]\nmin-clients = 9\n",
	  ":2: [classes] min-clients: \"9\" is out of range; allowed: "
	  "1..8 distinct clients a verdict needs (1: any one client may decide)" },
	{ "[classes]\nmin-clients = 0\n",
	  ":2: [classes] min-clients: \"0\" is out of range; allowed: "
	  "1..8 distinct clients a verdict needs (1: any one client may decide)" },
	{ "[classes]\nmice-share = 0\n",
	  ":2: [classes] mice-share: \"0\" is out of range; allowed: a percentage 1..100 (95 or 95%)" },
	{ "[classes]\nmice-packets = many\n",
	  ":2: [classes] mice-packets: \"many\" is not a whole number; allowed: "
	  "1..1000000 packets: a finished flow with fewer is a mouse" },
	{ "[classes]\nhalf-life = 200h\n",
	  ":2: [classes] half-life: \"200h\" is out of range; allowed: 1s..168h (ms, s, m, h; a bare number is seconds)" },
	{ "[agent]\nevents = some\n",
	  ":2: [agent] events: \"some\" is not all or window; allowed: all, or window (needs [hardware] mode = off)" },
	{ "[agent]\nevents = window\n",
	  ":2: [agent] events: window hears of a flow only at packet N, too late for the hardware tier; "
	  "set [hardware] mode = off; allowed: all, or window (needs [hardware] mode = off)" },
	{ "[agent]\nmanage-ruleset = sometimes\n",
	  ":2: [agent] manage-ruleset: \"sometimes\" is not yes or no; allowed: " A_BOOL },
	{ "[offload]\ntcp-ack-only = maybe\n",
	  ":2: [offload] tcp-ack-only: \"maybe\" is not yes or no; allowed: " A_BOOL },
	{ "[offload]\nudp-require-reply = 2\n",
	  ":2: [offload] udp-require-reply: \"2\" is not yes or no; allowed: " A_BOOL },
	{ "[offload]\nmark-mask = 0x0c000001\n",
	  ":2: [offload] mark-mask: \"0x0c000001\" has non-contiguous bits; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 5\n",
	  ":2: [offload] mark-mask: \"5\" has non-contiguous bits; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0x04000000\n",
	  ":2: [offload] mark-mask: \"0x04000000\" has a single bit set; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0x80000000\n",
	  ":2: [offload] mark-mask: \"0x80000000\" has a single bit set; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0\n",
	  ":2: [offload] mark-mask: \"0\" has no bits set; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0x100000000\n",
	  ":2: [offload] mark-mask: \"0x100000000\" does not fit in 32 bits; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 4294967296\n",
	  ":2: [offload] mark-mask: \"4294967296\" does not fit in 32 bits; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0x\n",
	  ":2: [offload] mark-mask: \"0x\" is not a number; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 0x-c\n",
	  ":2: [offload] mark-mask: \"0x-c\" is not a number; allowed: " A_MASK },
	{ "[offload]\nmark-mask = 12M\n",
	  ":2: [offload] mark-mask: \"12M\" is not a number; allowed: " A_MASK },

	/* [hardware] */
	{ "[hardware]\nmode = yes\n", ":2: [hardware] mode: \"yes\" is not a mode; allowed: " A_MODE },
	{ "[hardware]\ncapacity = 0\n",
	  ":2: [hardware] capacity: \"0\" is out of range; allowed: " A_CAP },
	{ "[hardware]\ncapacity = 17M\n",
	  ":2: [hardware] capacity: \"17M\" is out of range; allowed: " A_CAP },
	{ "[hardware]\ncapacity = 16777217\n",
	  ":2: [hardware] capacity: \"16777217\" is out of range; allowed: " A_CAP },
	{ "[hardware]\ncapacity = 8x\n",
	  ":2: [hardware] capacity: \"8x\" is not a size; allowed: " A_CAP },
	{ "[hardware]\nwatermark = 0\n",
	  ":2: [hardware] watermark: \"0\" is out of range; allowed: " A_WM },
	{ "[hardware]\nwatermark = 101%\n",
	  ":2: [hardware] watermark: \"101%\" is out of range; allowed: " A_WM },
	{ "[hardware]\nwatermark = 90%%\n",
	  ":2: [hardware] watermark: \"90%%\" is not a percentage; allowed: " A_WM },
	{ "[hardware]\nwatermark = %\n",
	  ":2: [hardware] watermark: \"%\" is not a percentage; allowed: " A_WM },
	{ "[hardware]\nwatermark = 0.9\n",
	  ":2: [hardware] watermark: \"0.9\" is not a percentage; allowed: " A_WM },

	/* [routes] */
	{ "[routes]\nonly = 100 nosuchtable\n",
	  ":2: [routes] only: \"nosuchtable\" is neither a table id 1..4294967295 nor a name in /etc/iproute2/rt_tables; allowed: " A_RT },
	{ "[routes]\nnever = 0\n",
	  ":2: [routes] never: \"0\" is neither a table id 1..4294967295 nor a name in /etc/iproute2/rt_tables; allowed: " A_RT },
	{ "[routes]\nnever = 100:birdy\n",
	  ":2: [routes] never: \"birdy\" is not a route protocol (0..255 or a name such as bird, bgp, static); allowed: " A_RT },
	{ "[routes]\nnever = 100:256\n",
	  ":2: [routes] never: \"256\" is not a route protocol (0..255 or a name such as bird, bgp, static); allowed: " A_RT },
	{ "[routes]\nnever = 100 100\n",
	  ":2: [routes] never: \"100\" is listed twice; allowed: " A_RT },
	{ "[routes]\nprefer-hardware = 100:bird\nnever = 100\n",
	  ":3: [routes] never: table 100 is already followed by prefer-hardware; allowed: " A_RT },
	{ "[routes]\nonly = 5000:12\n\nnever = 5000:bird\n",
	  ":4: [routes] never: table 5000 is already followed by only; allowed: " A_RT },

	/* [skip] */
	{ "[skip]\nports = 0\n", ":2: [skip] ports: \"0\" is out of range; allowed: " A_PORTS },
	{ "[skip]\nports = 53 65536\n",
	  ":2: [skip] ports: \"65536\" is out of range; allowed: " A_PORTS },
	{ "[skip]\nports = 5061-5060\n",
	  ":2: [skip] ports: \"5061-5060\" has its first port above its last; allowed: " A_PORTS },
	{ "[skip]\nports = 100-70000\n",
	  ":2: [skip] ports: \"100-70000\" is out of range; allowed: " A_PORTS },
	{ "[skip]\nports = http\n",
	  ":2: [skip] ports: \"http\" is not a port or port range; allowed: " A_PORTS },
	{ "[skip]\nports = 5060-\n",
	  ":2: [skip] ports: \"5060-\" is not a port or port range; allowed: " A_PORTS },
	{ "[skip]\nports = -5060\n",
	  ":2: [skip] ports: \"-5060\" is not a port or port range; allowed: " A_PORTS },
	{ "[skip]\nports = 1-2-3\n",
	  ":2: [skip] ports: \"1-2-3\" is not a port or port range; allowed: " A_PORTS },
	{ "[skip]\nprefixes = 198.18.0.1/15\n",
	  ":2: [skip] prefixes: \"198.18.0.1/15\" has host bits set; write 198.18.0.0/15; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 198.18.0.0/15 198.19.3.129/25\n",
	  ":2: [skip] prefixes: \"198.19.3.129/25\" has host bits set; write 198.19.3.128/25; "
	  "allowed: " A_PREFIXES },
	{ "[skip]\nprefixes = 2001:db8::1/32\n",
	  ":2: [skip] prefixes: \"2001:db8::1/32\" has host bits set; write 2001:db8::/32; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 2001:db8:ffff::/33\n",
	  ":2: [skip] prefixes: \"2001:db8:ffff::/33\" has host bits set; write 2001:db8:8000::/33; "
	  "allowed: " A_PREFIXES },
	{ "[skip]\nprefixes = 198.18.0.0/33\n",
	  ":2: [skip] prefixes: \"198.18.0.0/33\" has a prefix length other than 0..32; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 2001:db8::/129\n",
	  ":2: [skip] prefixes: \"2001:db8::/129\" has a prefix length other than 0..128; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 198.18.0.0/\n",
	  ":2: [skip] prefixes: \"198.18.0.0/\" has a prefix length other than 0..32; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 300.1.1.1\n",
	  ":2: [skip] prefixes: \"300.1.1.1\" is not an IPv4 or IPv6 address; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 198.18/15\n",
	  ":2: [skip] prefixes: \"198.18/15\" is not an IPv4 or IPv6 address; allowed: "
	  A_PREFIXES },
	{ "[skip]\nprefixes = 2001:db8:::1\n",
	  ":2: [skip] prefixes: \"2001:db8:::1\" is not an IPv4 or IPv6 address; allowed: "
	  A_PREFIXES },

	/* [agent] */
	{ "[agent]\nmax-flows = 0\n",
	  ":2: [agent] max-flows: \"0\" is out of range; allowed: " A_FLOWS },
	{ "[agent]\nmax-flows = 200M\n",
	  ":2: [agent] max-flows: \"200M\" is out of range; allowed: " A_FLOWS },
	{ "[agent]\nmax-flows = many\n",
	  ":2: [agent] max-flows: \"many\" is not a size; allowed: " A_FLOWS },
	{ "[agent]\nstatus-interval = 50ms\n",
	  ":2: [agent] status-interval: \"50ms\" is out of range; allowed: " A_STATUS },
	{ "[agent]\nstatus-interval = 61m\n",
	  ":2: [agent] status-interval: \"61m\" is out of range; allowed: " A_STATUS },
	{ "[agent]\nstatus-interval = soon\n",
	  ":2: [agent] status-interval: \"soon\" is not a duration; allowed: " A_STATUS },
	{ "[agent]\nresync-interval = 999ms\n",
	  ":2: [agent] resync-interval: \"999ms\" is out of range; allowed: " A_RESYNC },
	{ "[agent]\nresync-interval = 25h\n",
	  ":2: [agent] resync-interval: \"25h\" is out of range; allowed: " A_RESYNC },
	{ "[agent]\nresync-interval = 30 s\n",
	  ":2: [agent] resync-interval: \"30 s\" is not a duration; allowed: " A_RESYNC },
	{ "[agent]\nevent-buffer = 63k\n",
	  ":2: [agent] event-buffer: \"63k\" is out of range; allowed: " A_EVBUF },
	{ "[agent]\nevent-buffer = 2G\n",
	  ":2: [agent] event-buffer: \"2G\" is out of range; allowed: " A_EVBUF },
	{ "[agent]\nevent-buffer = 8MB\n",
	  ":2: [agent] event-buffer: \"8MB\" is not a size; allowed: " A_EVBUF },
	{ "[agent]\nsocket = run/flowoffload.sock\n",
	  ":2: [agent] socket: \"run/flowoffload.sock\" is not an absolute path; allowed: "
	  A_SOCKET },
	{ "[agent]\nsocket =\n", ":2: [agent] socket: \"\" is not an absolute path; allowed: " A_SOCKET },
	{ "[agent]\nmetrics-dir = var/lib\n",
	  ":2: [agent] metrics-dir: \"var/lib\" is not an absolute path; allowed: an absolute "
	  "directory path of at most 199 characters; empty for none" },
	{ "[agent]\nmetrics-listen = localhost:9811\n",
	  ":2: [agent] metrics-listen: \"localhost\" is not an IPv4 address (names are not looked "
	  "up); allowed: " A_LISTEN },
	{ "[agent]\nmetrics-listen = ::1:9811\n",
	  ":2: [agent] metrics-listen: \"::1:9811\": an IPv6 address is written [ADDRESS]:PORT; "
	  "allowed: " A_LISTEN },
	{ "\n[agent]\nmetrics-listen = 127.0.0.1:0\n",
	  ":3: [agent] metrics-listen: \"0\" is not a port 1..65535; allowed: " A_LISTEN },
	{ "[agent]\nmetrics-interval = 500ms\n",
	  ":2: [agent] metrics-interval: \"500ms\" is out of range; allowed: 1s..1h (ms, s, m, h; "
	  "a bare number is seconds)" },
	{ "[agent]\nsocket = /run/0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890123456789012\n",
	  ":2: [agent] socket: the path is 108 characters long; allowed: " A_SOCKET },
	{ "[agent]\nsocket-group = -wheel\n",
	  ":2: [agent] socket-group: \"-wheel\" is not a group name; allowed: " A_GROUP },
	{ "[agent]\nsocket-group = net admins\n",
	  ":2: [agent] socket-group: \"net admins\" is not a group name; allowed: " A_GROUP },
	{ "[agent]\nsocket-group = g0123456789012345678901234567890\n",
	  ":2: [agent] socket-group: \"g0123456789012345678901234567890\" is not a group name; "
	  "allowed: " A_GROUP },
	{ "[agent]\nadmin-group = -wheel\n",
	  ":2: [agent] admin-group: \"-wheel\" is not a group name; allowed: " A_ADMIN },
	{ "[agent]\nadmin-group = g0123456789012345678901234567890\n",
	  ":2: [agent] admin-group: \"g0123456789012345678901234567890\" is not a group name; "
	  "allowed: " A_ADMIN },
	{ "[agent]\nkeep-ruleset = sure\n",
	  ":2: [agent] keep-ruleset: \"sure\" is not yes or no; allowed: " A_BOOL },
};

static void test_bad_configs(void **state)
{
	struct fo_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++)
		load_text(bad_cases[i].text, &cfg, bad_cases[i].expect);
}

/* The 65th entry of any list is refused where it appears, also when the
 * list continues on indented lines (64 entries do not fit on one line). */
struct too_many_case {
	const char *head;	/* section and key */
	const char *pre, *post;	/* one entry is pre, its index, post */
	const char *expect;
};

static void test_too_many_entries(void **state)
{
	static const struct too_many_case cases[] = {
		{ "[devices]\ndevices =", "eth", "",
		  ":9: [devices] devices: more than 64 entries; allowed: " A_DEVICES },
		{ "[devices]\nsoftware-only =", "sw", "",
		  ":9: [devices] software-only: more than 64 entries; allowed: " A_IFLIST },
		{ "[devices]\nexclude =", "x", "",
		  ":9: [devices] exclude: more than 64 entries; allowed: " A_IFLIST },
		{ "[skip]\nports =", "", "",
		  ":9: [skip] ports: more than 64 entries; allowed: " A_PORTS },
		{ "[skip]\nprefixes =", "198.18.", ".0/24",
		  ":9: [skip] prefixes: more than 64 entries; allowed: " A_PREFIXES },
	};
	struct fo_config cfg;
	char text[4096], entry[32];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		/* 10 entries per line: lines 3..8 hold entries 1..60, line 9 61..65. */
		for (int total = 64; total <= 65; total++) {
			snprintf(text, sizeof(text), "%s", cases[i].head);
			for (n = 1; n <= total; n++) {
				snprintf(entry, sizeof(entry), "%s%d%s", cases[i].pre, n, cases[i].post);
				strcat(text, n % 10 == 1 ? "\n\t" : ", ");
				strcat(text, entry);
			}
			strcat(text, "\n");
			load_text(text, &cfg, total == 65 ? cases[i].expect : NULL);
			if (total == 64)
				assert_int_equal(cfg.n_devices + cfg.n_sw_only + cfg.n_exclude +
						 cfg.n_skip_ports + cfg.n_skip_prefixes, 64);
		}
	}
}

static void test_missing_file(void **state)
{
	struct fo_config cfg, before;
	char p[256], err[256], want[300];

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	snprintf(want, sizeof(want), "%s/absent.conf: No such file or directory", tmpdir);
	snprintf(p, sizeof(p), "%s/absent.conf", tmpdir);
	assert_int_equal(config_load(p, &cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, want);
	assert_memory_equal(&cfg, &before, sizeof(cfg));

	/* A directory opens but cannot be read. */
	assert_int_equal(config_load(tmpdir, &cfg, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: Is a directory", tmpdir);
	assert_string_equal(err, want);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_err_buffer(void **state)
{
	struct fo_config cfg;
	char err[8];

	(void)state;
	write_file("[agent]\nmax-flows = 0\n");
	assert_int_equal(config_load(path, &cfg, NULL, 0), -EINVAL);
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

/* Every default, pinned: each is justified in README and the example, so a
 * change must be a decision, never a side effect that the example and
 * config_defaults() both follow. */
static void test_defaults(void **state)
{
	struct fo_config d, cfg;

	(void)state;
	config_defaults(&d);
	assert_true(d.devices_auto);
	assert_int_equal(d.n_devices, 0);
	assert_int_equal(d.n_sw_only, 0);
	assert_int_equal(d.n_exclude, 0);
	assert_true(d.proto_tcp);
	assert_true(d.proto_udp);
	assert_int_equal(d.window_from, 16);
	assert_int_equal(d.window_until, 1000);
	assert_true(d.tcp_ack_only);
	assert_false(d.udp_require_reply);
	assert_int_equal(d.mark_mask, 0x0c000000);
	assert_int_equal(d.min_avgpkt, 400);
	assert_int_equal(d.small_window_from, 0);
	assert_int_equal(d.hw_mode, HW_MODE_AUTO);
	assert_int_equal(d.hw_capacity, 1024);
	assert_int_equal(d.hw_watermark, 90);
	assert_int_equal(d.hw_confirm_ms, 3000);
	assert_int_equal(d.n_skip_ports, 0);
	assert_int_equal(d.n_skip_prefixes, 0);
	assert_true(d.classes_learn);
	assert_int_equal(d.classes_max, 4096);
	assert_int_equal(d.classes_half_life_ms, 600000);
	assert_int_equal(d.classes_min_flows, 20);
	assert_int_equal(d.classes_min_clients, 4);
	assert_int_equal(d.classes_mice_packets, 64);
	assert_int_equal(d.classes_mice_share, 95);
	assert_int_equal(d.max_flows, 1000000);
	assert_int_equal(d.status_interval_ms, 1000);
	assert_int_equal(d.resync_interval_ms, 30000);
	assert_int_equal(d.event_buffer, 8 << 20);
	assert_string_equal(d.socket_path, "/run/flowoffload/flowoffload.sock");
	assert_string_equal(d.socket_group, "");
	assert_string_equal(d.admin_group, "");
	assert_string_equal(d.run_user, "");
	assert_string_equal(d.run_group, "");
	assert_false(d.keep_ruleset);
	assert_true(d.manage_ruleset);
	assert_false(d.events_window);
	assert_string_equal(d.metrics_dir, "");
	assert_int_equal(d.metrics_interval_ms, 15000);

	/* An empty file, and one of comments and empty sections, are the defaults. */
	load_text("", &cfg, NULL);
	assert_memory_equal(&cfg, &d, sizeof(d));
	load_text("# nothing\n; still nothing\n\n[devices]\n[offload]\n[hardware]\n[skip]\n"
		  "[agent]\n", &cfg, NULL);
	assert_memory_equal(&cfg, &d, sizeof(d));
}

/* Every row documents itself: the example and flowoffload.conf(5) are
 * generated from the help (tools/config-doc), one sentence at least. */
static void test_every_key_has_help(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CONFIG_KEY_MAX; i++) {
		const struct config_key *k = &config_keys[i];

		if (!k->help || strlen(k->help) < 10 || !k->allowed)
			fail_msg("[%s] %s has no help or allowed text in src/config_table.c",
				 k->section, k->name);
	}
}

/* The example sets every key to its default: it and the code must agree. */
static void test_example_is_defaults(void **state)
{
	const char *srcdir = getenv("FLOWOFFLOAD_SRCDIR");
	struct fo_config d, cfg;
	char p[4096], err[1024];

	(void)state;
	snprintf(p, sizeof(p), "%s/flowoffload.conf.example", srcdir ? srcdir : ".");
	config_defaults(&d);
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(p, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_memory_equal(&cfg, &d, sizeof(d));
}

/* The key lines of the example (not comments, not blank), one string. */
static char *example_key_lines(void)
{
	const char *srcdir = getenv("FLOWOFFLOAD_SRCDIR");
	char p[4096], *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	FILE *in, *out;

	snprintf(p, sizeof(p), "%s/flowoffload.conf.example", srcdir ? srcdir : ".");
	in = fopen(p, "r");
	assert_non_null(in);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	while (getline(&line, &cap, in) > 0)
		if (!strchr("#;\n", line[0]))
			fputs(line, out);
	free(line);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	return buf;
}

/* The table renders the example's key lines exactly: every key of the
 * table is in the example with its default, in table order, and every key
 * line of the example is a row.  Example and table cannot drift. */
static void test_example_is_table(void **state)
{
	char *example = example_key_lines(), *table = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&table, &len);
	struct fo_config d, cfg;

	(void)state;
	assert_non_null(out);
	assert_int_equal(config_table_write_keys(out), 0);
	assert_int_equal(fclose(out), 0);
	assert_string_equal(table, example);

	/* What the table writes is a config file that loads as the defaults. */
	config_defaults(&d);
	load_text(table, &cfg, NULL);
	assert_memory_equal(&cfg, &d, sizeof(d));
	free(example);
	free(table);
}

/* Each row finds itself; the rows' sections are the only sections. */
static void test_table_lookup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CONFIG_KEY_MAX; i++) {
		const struct config_key *k = &config_keys[i];

		assert_ptr_equal(config_table_find(k->section, k->name), k);
		assert_true(config_table_known_section(k->section, strlen(k->section)));
		assert_non_null(k->def);
		assert_non_null(k->allowed);
	}
	assert_null(config_table_find("offload", "mode"));
	assert_null(config_table_find("hardwre", "mode"));
	assert_false(config_table_known_section("agents", 6));
	assert_false(config_table_known_section("", 0));
}

static void test_full_config(void **state)
{
	static const char text[] =
		"\xEF\xBB\xBF# every key, none at its default\n"
		"[devices]\n"
		"devices = eth0, eth1 wan? lan*\n"
		"software-only = wan?\n"
		"exclude = mgmt0,,lan9\n"
		"[offload]\n"
		"protocols = udp\n"
		"window-until = 64 ; inline comment\n"
		"window-from = 64\n"
		"tcp-ack-only = off\n"
		"udp-require-reply = TRUE\n"
		"mark-mask = 0x00000300\n"
		"[hardware]\n"
		"mode = on\n"
		"capacity = 8k\n"
		"watermark = 75%\n"
		"[skip]\n"
		"ports = 53, 5060-5061\n"
		"\t65535\n"
		"\n"
		"# a comment between continuation lines\n"
		"\t1-1\n"
		"prefixes = 198.18.0.0/15\n"
		"    2001:db8::/32 198.19.0.7\n"
		"    2001:db8::1 0.0.0.0/0, ::/0\n"
		"[agent]\n"
		"max-flows = 1M\n"
		"status-interval = 250ms\n"
		"resync-interval = 5m\n"
		"event-buffer = 32M\n"
		"socket = /tmp/fo.sock\n"
		"socket-group = net-admin_1.x\n"
		"admin-group = fo-adm\n"
		"user = flowoffload\n"
		"group = 65534\n"
		"keep-ruleset = 1\n";
	struct fo_config cfg;
	uint8_t a6[16];

	(void)state;
	load_text(text, &cfg, NULL);
	assert_false(cfg.devices_auto);
	assert_int_equal(cfg.n_devices, 4);
	assert_string_equal(cfg.devices[0], "eth0");
	assert_string_equal(cfg.devices[1], "eth1");
	assert_string_equal(cfg.devices[2], "wan?");
	assert_string_equal(cfg.devices[3], "lan*");
	assert_int_equal(cfg.n_sw_only, 1);
	assert_string_equal(cfg.sw_only[0], "wan?");
	assert_int_equal(cfg.n_exclude, 2);
	assert_string_equal(cfg.exclude[0], "mgmt0");
	assert_string_equal(cfg.exclude[1], "lan9");
	assert_false(cfg.proto_tcp);
	assert_true(cfg.proto_udp);
	assert_int_equal(cfg.window_from, 64);
	assert_int_equal(cfg.window_until, 64);
	assert_false(cfg.tcp_ack_only);
	assert_true(cfg.udp_require_reply);
	assert_int_equal(cfg.mark_mask, 0x300);
	assert_int_equal(cfg.hw_mode, HW_MODE_ON);
	assert_int_equal(cfg.hw_capacity, 8192);
	assert_int_equal(cfg.hw_watermark, 75);
	assert_int_equal(cfg.n_skip_ports, 4);
	assert_int_equal(cfg.skip_ports[0].lo, 53);
	assert_int_equal(cfg.skip_ports[0].hi, 53);
	assert_int_equal(cfg.skip_ports[1].lo, 5060);
	assert_int_equal(cfg.skip_ports[1].hi, 5061);
	assert_int_equal(cfg.skip_ports[2].lo, 65535);
	assert_int_equal(cfg.skip_ports[2].hi, 65535);
	assert_int_equal(cfg.skip_ports[3].lo, 1);
	assert_int_equal(cfg.skip_ports[3].hi, 1);
	assert_int_equal(cfg.n_skip_prefixes, 6);
	assert_int_equal(cfg.skip_prefixes[0].family, AF_INET);
	assert_int_equal(cfg.skip_prefixes[0].len, 15);
	assert_memory_equal(cfg.skip_prefixes[0].addr, "\xc6\x12\x00\x00", 4);
	assert_int_equal(cfg.skip_prefixes[1].family, AF_INET6);
	assert_int_equal(cfg.skip_prefixes[1].len, 32);
	inet_pton(AF_INET6, "2001:db8::", a6);
	assert_memory_equal(cfg.skip_prefixes[1].addr, a6, 16);
	assert_int_equal(cfg.skip_prefixes[2].family, AF_INET);
	assert_int_equal(cfg.skip_prefixes[2].len, 32);
	assert_memory_equal(cfg.skip_prefixes[2].addr, "\xc6\x13\x00\x07", 4);
	assert_int_equal(cfg.skip_prefixes[3].family, AF_INET6);
	assert_int_equal(cfg.skip_prefixes[3].len, 128);
	inet_pton(AF_INET6, "2001:db8::1", a6);
	assert_memory_equal(cfg.skip_prefixes[3].addr, a6, 16);
	assert_int_equal(cfg.skip_prefixes[4].family, AF_INET);
	assert_int_equal(cfg.skip_prefixes[4].len, 0);
	assert_int_equal(cfg.skip_prefixes[5].family, AF_INET6);
	assert_int_equal(cfg.skip_prefixes[5].len, 0);
	assert_int_equal(cfg.max_flows, 1048576);
	assert_int_equal(cfg.status_interval_ms, 250);
	assert_int_equal(cfg.resync_interval_ms, 300000);
	assert_int_equal(cfg.event_buffer, 32 << 20);
	assert_string_equal(cfg.socket_path, "/tmp/fo.sock");
	assert_string_equal(cfg.socket_group, "net-admin_1.x");
	assert_string_equal(cfg.admin_group, "fo-adm");
	assert_string_equal(cfg.run_user, "flowoffload");
	assert_string_equal(cfg.run_group, "65534");
	assert_true(cfg.keep_ruleset);
}

/* Range edges and spellings that must be accepted, one key at a time. */
struct good_case {
	const char *text;
	void (*check)(const struct fo_config *cfg, const char *text);
};

#define CHECK_FN(name, expr) \
	static void name(const struct fo_config *c, const char *text) \
	{ \
		if (!(expr)) \
			fail_msg("%s: %s", text, #expr); \
	}

CHECK_FN(c_from1, c->window_from == 1)
CHECK_FN(c_clients1, c->classes_min_clients == 1)
CHECK_FN(c_clients8, c->classes_min_clients == 8)
CHECK_FN(c_until1m, c->window_until == 1000000)
CHECK_FN(c_both1m, c->window_from == 1000000 && c->window_until == 1000000)
CHECK_FN(c_ack_yes, c->tcp_ack_only)
CHECK_FN(c_ack_no, !c->tcp_ack_only)
CHECK_FN(c_reply_yes, c->udp_require_reply)
CHECK_FN(c_reply_no, !c->udp_require_reply)
CHECK_FN(c_keep_yes, c->keep_ruleset)
CHECK_FN(c_keep_no, !c->keep_ruleset)
CHECK_FN(c_mask_dec, c->mark_mask == 0x0c000000)
CHECK_FN(c_mask_all, c->mark_mask == 0xffffffff)
CHECK_FN(c_mask_low, c->mark_mask == 3)
CHECK_FN(c_mask_top, c->mark_mask == 0xc0000000)
CHECK_FN(c_mode_off, c->hw_mode == HW_MODE_OFF)
CHECK_FN(c_mode_auto, c->hw_mode == HW_MODE_AUTO)
CHECK_FN(c_cap1, c->hw_capacity == 1)
CHECK_FN(c_cap16m, c->hw_capacity == 16777216)
CHECK_FN(c_wm1, c->hw_watermark == 1)
CHECK_FN(c_wm100, c->hw_watermark == 100)
CHECK_FN(c_flows1, c->max_flows == 1)
CHECK_FN(c_flows100m, c->max_flows == 100000000)
CHECK_FN(c_status_min, c->status_interval_ms == 100)
CHECK_FN(c_status_max, c->status_interval_ms == 3600000)
CHECK_FN(c_status_bare, c->status_interval_ms == 2000)
CHECK_FN(c_metrics_dir, !strcmp(c->metrics_dir, "/var/lib/node-exporter") &&
	 c->metrics_interval_ms == 60000)
CHECK_FN(c_metrics_off, c->metrics_dir[0] == '\0')
CHECK_FN(c_listen4, !strcmp(c->metrics_listen, "127.0.0.1:9811"))
CHECK_FN(c_listen6, !strcmp(c->metrics_listen, "[::1]:9811"))
CHECK_FN(c_listen_off, c->metrics_listen[0] == '\0')
CHECK_FN(c_resync_min, c->resync_interval_ms == 1000)
CHECK_FN(c_resync_max, c->resync_interval_ms == 86400000)
CHECK_FN(c_evbuf_min, c->event_buffer == 65536)
CHECK_FN(c_evbuf_max, c->event_buffer == 1073741824)
CHECK_FN(c_socket107, strlen(c->socket_path) == 107)
CHECK_FN(c_group31, strlen(c->socket_group) == 31)
CHECK_FN(c_admin31, strlen(c->admin_group) == 31 && !c->socket_group[0])
CHECK_FN(c_dev_auto, c->devices_auto && c->n_devices == 0)
CHECK_FN(c_dev15, c->n_devices == 1 && strlen(c->devices[0]) == 15)
CHECK_FN(c_dev_hash, c->n_devices == 1 && !strcmp(c->devices[0], "eth#1"))
CHECK_FN(c_ports_comment, c->n_skip_ports == 2 && c->skip_ports[1].lo == 54)
CHECK_FN(c_tcp_only, c->proto_tcp && !c->proto_udp)
CHECK_FN(c_both, c->proto_tcp && c->proto_udp)
CHECK_FN(c_crlf, c->window_from == 7 && c->hw_mode == HW_MODE_OFF)
CHECK_FN(c_colon, c->window_from == 9)
CHECK_FN(c_no_ports, c->n_skip_ports == 0 && c->n_skip_prefixes == 0)
CHECK_FN(c_port_full, c->n_skip_ports == 1 && c->skip_ports[0].lo == 1 &&
	 c->skip_ports[0].hi == 65535)

static const struct good_case good_cases[] = {
	{ "[offload]\nwindow-from = 1\n", c_from1 },
	{ "[classes]\nmin-clients = 1\n", c_clients1 },
	{ "[classes]\nmin-clients = 8\n", c_clients8 },
	{ "[offload]\nwindow-until = 1000000\n", c_until1m },
	{ "[offload]\nwindow-until = 1000000\nwindow-from = 1000000\n", c_both1m },
	{ "[offload]\ntcp-ack-only = yes\n", c_ack_yes },
	{ "[offload]\ntcp-ack-only = true\n", c_ack_yes },
	{ "[offload]\ntcp-ack-only = on\n", c_ack_yes },
	{ "[offload]\ntcp-ack-only = 1\n", c_ack_yes },
	{ "[offload]\ntcp-ack-only = YES\n", c_ack_yes },
	{ "[offload]\ntcp-ack-only = no\n", c_ack_no },
	{ "[offload]\ntcp-ack-only = false\n", c_ack_no },
	{ "[offload]\ntcp-ack-only = Off\n", c_ack_no },
	{ "[offload]\ntcp-ack-only = 0\n", c_ack_no },
	{ "[offload]\nudp-require-reply = yes\n", c_reply_yes },
	{ "[offload]\nudp-require-reply = false\n", c_reply_no },
	{ "[agent]\nkeep-ruleset = on\n", c_keep_yes },
	{ "[agent]\nkeep-ruleset = no\n", c_keep_no },
	{ "[offload]\nmark-mask = 201326592\n", c_mask_dec },
	{ "[offload]\nmark-mask = 0X0C000000\n", c_mask_dec },
	{ "[offload]\nmark-mask = 0x000000000c000000\n", c_mask_dec },
	{ "[offload]\nmark-mask = 0xffffffff\n", c_mask_all },
	{ "[offload]\nmark-mask = 0x3\n", c_mask_low },
	{ "[offload]\nmark-mask = 0xc0000000\n", c_mask_top },
	{ "[hardware]\nmode = off\n", c_mode_off },
	{ "[hardware]\nmode = auto\n", c_mode_auto },
	{ "[hardware]\ncapacity = 1\n", c_cap1 },
	{ "[hardware]\ncapacity = 16M\n", c_cap16m },
	{ "[hardware]\ncapacity = 16777216\n", c_cap16m },
	{ "[hardware]\nwatermark = 1\n", c_wm1 },
	{ "[hardware]\nwatermark = 100%\n", c_wm100 },
	{ "[agent]\nmax-flows = 1\n", c_flows1 },
	{ "[agent]\nmax-flows = 100000000\n", c_flows100m },
	{ "[agent]\nstatus-interval = 100ms\n", c_status_min },
	{ "[agent]\nstatus-interval = 1h\n", c_status_max },
	{ "[agent]\nstatus-interval = 2\n", c_status_bare },
	{ "[agent]\nmetrics-dir = /var/lib/node-exporter\nmetrics-interval = 1m\n", c_metrics_dir },
	{ "[agent]\nmetrics-dir =\n", c_metrics_off },
	{ "[agent]\nmetrics-listen = 127.0.0.1:9811\n", c_listen4 },
	{ "[agent]\nmetrics-listen = [::1]:9811\n", c_listen6 },
	{ "[agent]\nmetrics-listen =\n", c_listen_off },
	{ "[agent]\nresync-interval = 1s\n", c_resync_min },
	{ "[agent]\nresync-interval = 24h\n", c_resync_max },
	{ "[agent]\nevent-buffer = 64k\n", c_evbuf_min },
	{ "[agent]\nevent-buffer = 1G\n", c_evbuf_max },
	{ "[agent]\nsocket = /run/0123456789012345678901234567890123456789012345678901234567890123456789"
	  "01234567890123456789012345678901\n", c_socket107 },
	{ "[agent]\nsocket-group = g012345678901234567890123456789\n", c_group31 },
	{ "[agent]\nadmin-group = g012345678901234567890123456789\n", c_admin31 },
	{ "[devices]\ndevices = auto\n", c_dev_auto },
	{ "[devices]\ndevices =\n  auto\n", c_dev_auto },
	{ "[devices]\ndevices = 0123456789abcde\n", c_dev15 },
	{ "[devices]\ndevices = eth#1 ; a comment\n", c_dev_hash },
	{ "[offload]\nprotocols = tcp\n", c_tcp_only },
	{ "[offload]\nprotocols = udp,tcp\n", c_both },
	{ "[offload]\nprotocols = tcp tcp udp\n", c_both },
	{ "[offload]\r\nwindow-from = 7\r\n[hardware]\r\nmode = off\r\n", c_crlf },
	{ "[offload]\nwindow-from: 9\n", c_colon },
	{ "[skip]\nports =\nprefixes =\n", c_no_ports },
	{ "[skip]\nports = 1-65535\n", c_port_full },
	/* An indented '#' line is a comment, also inside a list. */
	{ "[skip]\nports = 53\n  #5060\n  ; 5061\n  54\n", c_ports_comment },
};

static void test_good_configs(void **state)
{
	struct fo_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(good_cases); i++) {
		load_text(good_cases[i].text, &cfg, NULL);
		good_cases[i].check(&cfg, good_cases[i].text);
	}
}

static void test_mark_value(void **state)
{
	static const struct {
		uint32_t mask;
		uint32_t val[4];	/* NONE, SW, HW, SKIP */
	} cases[] = {
		{ 0x0c000000, { 0, 0x04000000, 0x08000000, 0x0c000000 } },
		{ 0x00000003, { 0, 1, 2, 3 } },
		{ 0x000000f0, { 0, 0x10, 0x20, 0x30 } },
		{ 0xc0000000, { 0, 0x40000000, 0x80000000, 0xc0000000 } },
		{ 0xffffffff, { 0, 1, 2, 3 } },
		{ 0x00000600, { 0, 0x200, 0x400, 0x600 } },
	};
	struct fo_config cfg;
	size_t i;
	int v;

	(void)state;
	config_defaults(&cfg);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		cfg.mark_mask = cases[i].mask;
		for (v = ADMIT_NONE; v <= ADMIT_SKIP; v++) {
			uint32_t m = ct_admit_value(cfg.mark_mask, (enum admit_value)v);

			assert_int_equal(m, cases[i].val[v]);
			assert_int_equal(m & ~cfg.mark_mask, 0);
		}
	}
	/* Every value the agent writes stays inside the mask: the user's own
	 * mark bits are never touched. */
	cfg.mark_mask = 0;
	assert_int_equal(ct_admit_value(cfg.mark_mask, ADMIT_SKIP), 0);
}

struct contains_case {
	const char *prefix;	/* "addr/len" */
	const char *addr;
	bool in;
};

static void make_prefix(struct prefix *p, const char *text)
{
	char a[64];
	const char *slash = strchr(text, '/');

	memset(p, 0, sizeof(*p));
	snprintf(a, sizeof(a), "%.*s", (int)(slash - text), text);
	p->family = strchr(a, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(p->family, a, p->addr), 1);
	p->len = (uint8_t)atoi(slash + 1);
}

static void test_prefix_contains(void **state)
{
	static const struct contains_case cases[] = {
		{ "0.0.0.0/0", "198.18.0.1", true },
		{ "0.0.0.0/0", "255.255.255.255", true },
		{ "0.0.0.0/0", "2001:db8::1", false },
		{ "198.18.0.1/32", "198.18.0.1", true },
		{ "198.18.0.1/32", "198.18.0.0", false },
		{ "198.18.0.1/32", "198.18.0.3", false },
		{ "198.18.0.0/31", "198.18.0.1", true },
		{ "198.18.0.0/31", "198.18.0.2", false },
		{ "198.18.0.0/15", "198.19.255.255", true },
		{ "198.18.0.0/15", "198.17.255.255", false },
		{ "198.18.0.0/15", "198.20.0.0", false },
		{ "198.18.0.0/16", "198.19.0.0", false },
		{ "198.18.0.0/24", "198.18.0.255", true },
		{ "198.18.0.0/24", "198.18.1.0", false },
		{ "128.0.0.0/1", "198.18.0.1", true },
		{ "128.0.0.0/1", "127.255.255.255", false },
		{ "198.18.0.0/33", "198.18.0.0", false },
		{ "198.18.0.0/255", "198.18.0.0", false },
		{ "::/0", "2001:db8::1", true },
		{ "::/0", "::", true },
		{ "::/0", "198.18.0.1", false },
		{ "2001:db8::1/128", "2001:db8::1", true },
		{ "2001:db8::1/128", "2001:db8::", false },
		{ "2001:db8::1/128", "2001:db8::3", false },
		{ "2001:db8::/127", "2001:db8::1", true },
		{ "2001:db8::/127", "2001:db8::2", false },
		{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true },
		{ "2001:db8::/32", "2001:db9::", false },
		{ "2001:db8::/33", "2001:db8:7fff::1", true },
		{ "2001:db8::/33", "2001:db8:8000::", false },
		{ "2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", true },
		{ "2001:db8::/64", "2001:db8:0:1::", false },
		{ "2001:db8::/129", "2001:db8::", false },
		{ "8000::/1", "2001:db8::1", false },
		{ "8000::/1", "fe80::1", true },
		/* Same leading bytes, other family: 198.18 is c612 in hex. */
		{ "c612::/16", "198.18.0.1", false },
		{ "198.18.0.0/16", "c612::1", false },
	};
	struct prefix p;
	uint8_t addr[16];
	uint8_t fam;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		make_prefix(&p, cases[i].prefix);
		memset(addr, 0, sizeof(addr));
		fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(fam, cases[i].addr, addr), 1);
		if (config_prefix_contains(&p, fam, addr) != cases[i].in)
			fail_msg("%s contains %s: expected %d", cases[i].prefix, cases[i].addr,
				 cases[i].in);
	}
	make_prefix(&p, "198.18.0.0/15");
	assert_false(config_prefix_contains(&p, AF_UNSPEC, addr));
	assert_false(config_prefix_contains(NULL, AF_INET, addr));
	assert_false(config_prefix_contains(&p, AF_INET, NULL));
}

/* What the parser stored is what config_prefix_contains matches. */
static void test_parsed_prefix_matches(void **state)
{
	struct fo_config cfg;
	uint8_t a[16] = { 0 };

	(void)state;
	load_text("[skip]\nprefixes = 198.18.128.0/17 2001:db8:8000::/33\n", &cfg, NULL);
	inet_pton(AF_INET, "198.18.200.1", a);
	assert_true(config_prefix_contains(&cfg.skip_prefixes[0], AF_INET, a));
	inet_pton(AF_INET, "198.18.127.255", a);
	assert_false(config_prefix_contains(&cfg.skip_prefixes[0], AF_INET, a));
	inet_pton(AF_INET6, "2001:db8:8000::1", a);
	assert_true(config_prefix_contains(&cfg.skip_prefixes[1], AF_INET6, a));
	inet_pton(AF_INET6, "2001:db8:7fff::1", a);
	assert_false(config_prefix_contains(&cfg.skip_prefixes[1], AF_INET6, a));
}

static void test_routes(void **state)
{
	struct fo_config cfg;

	(void)state;
	load_text("[routes]\nprefer-hardware = 100:bird main:static\nonly = 4000000000\n"
		  "never = 100:bgp local\nmax-prefixes = 1M\nsettle = 50ms\nhw-reserve = 100%\n",
		  &cfg, NULL);
	assert_int_equal(cfg.n_routes[ROUTE_PREFER_HW], 2);
	assert_int_equal(cfg.routes[ROUTE_PREFER_HW][0].table, 100);
	assert_int_equal(cfg.routes[ROUTE_PREFER_HW][0].proto, 12);
	assert_int_equal(cfg.routes[ROUTE_PREFER_HW][1].table, 254);
	assert_int_equal(cfg.routes[ROUTE_PREFER_HW][1].proto, 4);
	assert_int_equal(cfg.n_routes[ROUTE_ONLY], 1);
	assert_int_equal(cfg.routes[ROUTE_ONLY][0].table, 4000000000u);
	assert_int_equal(cfg.routes[ROUTE_ONLY][0].proto, -1);
	assert_int_equal(cfg.n_routes[ROUTE_NEVER], 2);
	assert_int_equal(cfg.routes[ROUTE_NEVER][0].proto, 186);
	assert_int_equal(cfg.routes[ROUTE_NEVER][1].table, 255);
	assert_int_equal(cfg.routes_max, 1048576);
	assert_int_equal(cfg.routes_settle_ms, 50);
	assert_int_equal(cfg.routes_hw_reserve, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_too_many_entries),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key_has_help),
		cmocka_unit_test(test_example_is_defaults),
		cmocka_unit_test(test_example_is_table),
		cmocka_unit_test(test_table_lookup),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_good_configs),
		cmocka_unit_test(test_mark_value),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_parsed_prefix_matches),
		cmocka_unit_test(test_routes),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
