/* config_table: every key of flowoffload.conf, once: the parser, the
 * defaults, the example config and the man page all read these rows. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_table.h"

#define IFNAMES_ALLOWED \
	"up to 64 interface names or wildcards (eth* wan?), at most 15 characters, " \
	"without '/' or ':'"
#define BOOL_ALLOWED "yes or no (also true/false, on/off, 1/0)"
#define DURATION_UNITS "(ms, s, m, h; a bare number is seconds)"

#define FIELD(f) .off = offsetof(struct fo_config, f), .size = sizeof(((struct fo_config *)0)->f)
#define LIST(f, n) FIELD(f), .count_off = offsetof(struct fo_config, n)
#define AT(sec, key) .section = sec, .name = key
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define BOOL(sec, key, f, d, h) \
	{ AT(sec, key), .type = CONFIG_BOOL, FIELD(f), .def = d, .allowed = BOOL_ALLOWED, .help = h }

#define ROUTE_TABLES_ALLOWED \
	"routing tables by id 1..4294967295 or rt_tables name, each optionally " \
	"with :protocol (100 100:bird isp:186); empty for none"

#define SECOND 1000ULL
#define HOUR (3600 * SECOND)

static const struct config_word hw_modes[] = {
	{ "auto", HW_MODE_AUTO }, { "on", HW_MODE_ON }, { "off", HW_MODE_OFF }, { NULL, 0 },
};
static const struct config_word shaping_policies[] = {
	{ "keep", SHAPING_KEEP }, { "software-only", SHAPING_SW_ONLY },
	{ "ignore", SHAPING_IGNORE }, { NULL, 0 },
};
static const struct config_word event_modes[] = {
	{ "all", false }, { "window", true }, { NULL, 0 },
};
static const struct config_word protocols[] = {
	{ "tcp", offsetof(struct fo_config, proto_tcp) },
	{ "udp", offsetof(struct fo_config, proto_udp) },
	{ NULL, 0 },
};

/* Each row's help says why its default is what it is; tools/config-doc
 * renders the rows as flowoffload.conf.example and flowoffload.conf(5). */
const struct config_key config_keys[CONFIG_KEY_MAX] = {
	[CONFIG_KEY_DEVICES] = { AT("devices", "devices"), .type = CONFIG_IFNAMES,
		LIST(devices, n_devices), .has_auto = true,
		.auto_off = offsetof(struct fo_config, devices_auto),
		.empty = "no interface listed", .def = "auto",
		.allowed = "auto, or " IFNAMES_ALLOWED,
		.help = "The devices the flowtables are attached to.  \"auto\": every device that is "
			"up, not loopback and has forwarding enabled, followed through hotplug.  "
			"Otherwise up to 64 names or fnmatch(3) wildcards (eth*, lan?), at most 15 "
			"characters each.  Default auto: a router's forwarding devices are exactly "
			"the ones whose flows can take a fast path." },
	[CONFIG_KEY_SW_ONLY] = { AT("devices", "software-only"), .type = CONFIG_IFNAMES,
		LIST(sw_only, n_sw_only), .def = "",
		.allowed = IFNAMES_ALLOWED "; empty for none",
		.help = "Devices never put in the hardware flowtable, only in the software one: "
			"links with shaping or QoS, whose packets must keep passing through the "
			"host.  Same syntax as devices.  Default: none." },
	[CONFIG_KEY_EXCLUDE] = { AT("devices", "exclude"), .type = CONFIG_IFNAMES,
		LIST(exclude, n_exclude), .def = "",
		.allowed = IFNAMES_ALLOWED "; empty for none",
		.help = "Devices never put in any flowtable (management, tunnels to inspect).  "
			"Default: none." },

	[CONFIG_KEY_PROTOCOLS] = { AT("offload", "protocols"), .type = CONFIG_FLAGS,
		.words = protocols, .noun = "an offloadable protocol",
		.empty = "no protocol listed", .def = "tcp udp", .allowed = "tcp, udp or both",
		.help = "Protocols to offload: tcp, udp or both.  The kernel's flowtable carries "
			"nothing else (GRE only without NAT).  Default: both." },
	/* window-until >= window-from is checked once the file is read: the
	 * two may come in either order. */
	[CONFIG_KEY_WINDOW_FROM] = { AT("offload", "window-from"), .type = CONFIG_UINT,
		FIELD(window_from), RANGE(1, 1000000), .def = "16",
		.allowed = "a whole number 1..1000000, at most window-until",
		.help = "The offload window, in packets of both directions together: a flow is "
			"added on packet window-from and never after packet window-until.  "
			"For window-from, 1..1000000, default 16: a request/response exchange "
			"(handshake, request, answer, about 12 packets before its FIN) ends "
			"before it and never takes a flowtable entry, which would cost about as "
			"much as the packets it saves (bench/cost_model); a flow alive at packet "
			"16 pays its entry back, and a transfer loses 16 packets of thousands." },
	[CONFIG_KEY_WINDOW_UNTIL] = { AT("offload", "window-until"), .type = CONFIG_UINT,
		FIELD(window_until), RANGE(1, 1000000), .def = "1000",
		.allowed = "a whole number 1..1000000, at least window-from",
		.help = "window-until, 1..1000000 and at least window-from, default 1000: moving a "
			"fast flow late lets the fast path overtake packets still queued on the "
			"slow path (reordering); flows past it stay where they are." },
	[CONFIG_KEY_TCP_ACK_ONLY] = BOOL("offload", "tcp-ack-only", tcp_ack_only, "yes",
		"Only a bare ACK (no SYN, FIN or RST) may trigger the offload of a TCP "
			"flow.  yes/no (true/false, on/off, 1/0).  Default yes: the kernel also "
			"requires an established, assured connection, and the handshake and "
			"teardown belong to the slow path."),
	[CONFIG_KEY_UDP_REQUIRE_REPLY] =
		BOOL("offload", "udp-require-reply", udp_require_reply, "no",
		"Admit a UDP flow only once the other side has answered.  Default no: the "
			"kernel offloads one-way UDP streams (media, tunnels) correctly, and "
			"waiting would keep them on the slow path.  Say yes to keep unanswered "
			"probes and scans out of the flowtable."),
	[CONFIG_KEY_MARK_MASK] = { AT("offload", "mark-mask"), .type = CONFIG_MASK,
		FIELD(mark_mask), .def = "0x0c000000",
		.allowed = "a 32-bit mask, hex (0x0c000000) or decimal, of 2 or more contiguous "
			   "bits",
		.help = "The conntrack mark bits the agent owns for its admission decision; your "
			"own mark bits outside the mask are left alone.  Hex (0x...) or decimal, 2 "
			"or more contiguous bits: the values 1 (software), 2 (hardware) and 3 "
			"(skip) are written in units of the lowest bit.  Default 0x0c000000: two "
			"high bits that routing and QoS setups rarely use." },
	[CONFIG_KEY_MIN_AVGPKT] = { AT("offload", "min-avgpkt"), .type = CONFIG_UINT,
		FIELD(min_avgpkt), RANGE(0, 65535), .def = "400",
		.allowed = "0 (off) or 1..65535 bytes: the average packet size a flow needs at "
			   "window-from",
		.help = "Mice signal of the hardware tier: at window-from a flow is offloaded to "
			"the hardware flowtable only if its average "
			"packet size so far (both directions, `ct avgpkt`) is at least this many "
			"bytes; 0..65535, 0 turns the test off.  A request/response mouse "
			"(handshake, a small request, a small answer) averages 100-200 bytes at "
			"packet 10; a bulk transfer's full-size segments bring it near 700 or "
			"more.  A flow that fails the test is offloaded later if its average "
			"rises, or at small-packet-window-from.  Default 400: measured on the "
			"traffic mix of tests/kernel/agent_skips_mice_mix.sh, request/response "
			"mice average 130-430 bytes per packet at packet 12 (most near 280), bulk "
			"and medium transfers 600 and more; at packet 5 a transfer's handshake "
			"still weighs (about 370), and its next full-size segment lifts it past "
			"400 (packet 6).  The software tier has no size test: its entry costs "
			"about as much as a few slow-path packets (bench/cost_model), which a "
			"small-packet flow alive at window-from pays back." },
	[CONFIG_KEY_SMALL_WINDOW_FROM] = { AT("offload", "small-packet-window-from"),
		.type = CONFIG_UINT, FIELD(small_window_from), RANGE(0, 1000000), .def = "0",
		.allowed = "0 (auto: 64 moved into the window) or a whole number between "
			   "window-from and window-until",
		.help = "Where a flow whose packets stay small is offloaded after all (gaming, "
			"VoIP, chatty long sessions): a packet number between window-from and "
			"window-until, or 0 for auto: packet 64 (past any request/response "
			"exchange; 1.3 s of a 50 packet/s voice stream), moved into the window.  "
			"Only used with min-avgpkt.  Default 0 (auto)." },

	[CONFIG_KEY_HW_MODE] = { AT("hardware", "mode"), .type = CONFIG_ENUM, FIELD(hw_mode),
		.words = hw_modes, .noun = "a mode", .def = "auto", .allowed = "auto, on or off",
		.help = "The hardware tier.  auto: use the devices that accept a hardware "
			"flowtable and say which do not; on: every offload device must accept it, "
			"or the agent refuses to start; off: software flowtable only.  Default "
			"auto: the same config works on any NIC." },
	[CONFIG_KEY_HW_CAPACITY] = { AT("hardware", "capacity"), .type = CONFIG_SIZE,
		FIELD(hw_capacity), RANGE(1, 16777216), .def = "1024",
		.allowed = "1..16777216 entries (k and M suffixes: 8k is 8192)",
		.help = "Entries the NIC's flow table holds, 1..16777216 (k and M suffixes:  8k = "
			"8192).  Default 1024: smaller than any known offload NIC's table "
			"(mtk_eth_soc 8192, airoha 32K); set it to your NIC's size." },
	[CONFIG_KEY_HW_WATERMARK] = { AT("hardware", "watermark"), .type = CONFIG_PERCENT,
		FIELD(hw_watermark), RANGE(1, 100), .def = "90",
		.allowed = "a percentage 1..100 (90 or 90%)",
		.help = "Percent of capacity the agent fills, 1..100 (\"90\" or \"90%\").  Default 90: "
			"the NIC's table also holds entries the agent has not counted yet, and "
			"when a hardware add fails the flow silently stays in software." },
	[CONFIG_KEY_HW_CONFIRM] = { AT("hardware", "confirm-timeout"), .type = CONFIG_DURATION,
		FIELD(hw_confirm_ms), RANGE(100, HOUR), .def = "3s",
		.allowed = "100ms..1h " DURATION_UNITS,
		.help = "A flow admitted to the hardware flowtable that is in the flowtable but "
			"not [HW_OFFLOAD] this long after it got there counts as a failed "
			"insertion: it is reported and stops counting against capacity (the kernel "
			"keeps it in software and may still retry; a late success counts again).  "
			"100ms..1h.  Default 3s: the kernel's offload work queue answers within "
			"milliseconds unless the driver refused." },
	[CONFIG_KEY_HW_OVERCOMMIT] = BOOL("hardware", "overcommit", hw_overcommit, "no",
		"Admit every flow the hardware tier would take to the hardware flowtable "
			"even past capacity * watermark.  The NIC refuses what does not fit; such a "
			"flow runs in the software fast path of the same flowtable and the kernel "
			"offers it to the NIC again about once a second while it runs, so a slot "
			"that frees goes to a flow still running, which favours long flows "
			"(bench/hw_pareto).  yes/no (true/false, on/off, 1/0).  Default no: the "
			"first flows to arrive keep the slots and the NIC is never asked for more "
			"than it holds."),
	[CONFIG_KEY_SHAPING_POLICY] = { AT("shaping", "policy"), .type = CONFIG_ENUM,
		FIELD(shaping_policy), .words = shaping_policies, .noun = "a policy",
		.def = "keep", .allowed = "keep, software-only or ignore",
		.help = "Flows through a device that shapes (a root tbf, htb, hfsc, or cake with "
			"a bandwidth; an ingress or clsact qdisc while an ifb device shapes) are "
			"kept off the hardware tier, which skips every qdisc of the host.  keep "
			"also keeps them out of the software flowtable where its fast path would "
			"skip the shaper: a shaped bridge whose port the flowtable hooks (the fast "
			"path transmits on the port directly).  software-only: off hardware only.  "
			"ignore: shapers change nothing.  Default keep: a configured rate holds." },

	[CONFIG_KEY_SKIP_PORTS] = { AT("skip", "ports"), .type = CONFIG_PORTS,
		LIST(skip_ports, n_skip_ports), .def = "",
		.allowed = "up to 64 ports 1..65535 or ranges lo-hi (5060-5061); empty for none",
		.help = "Server ports (the original destination port): up to 64 ports 1..65535 or "
			"ranges lo-hi, e.g. \"53 5060-5061\".  Default: none." },
	[CONFIG_KEY_SKIP_PREFIXES] = { AT("skip", "prefixes"), .type = CONFIG_PREFIXES,
		LIST(skip_prefixes, n_skip_prefixes), .def = "",
		.allowed = "up to 64 IPv4 or IPv6 addresses or prefixes with zero host bits "
			   "(198.18.0.0/15 2001:db8::/32); empty for none",
		.help = "Up to 64 IPv4 or IPv6 prefixes; a flow with either endpoint inside, in "
			"the original or in the NATed reply direction, is skipped.  A bare address "
			"is a /32 or /128; host bits must be zero (198.18.0.0/15, not "
			"198.18.0.1/15).  Default: none." },

	[CONFIG_KEY_ROUTES_PREFER_HW] = { AT("routes", "prefer-hardware"),
		.type = CONFIG_ROUTE_TABLES, LIST(routes[ROUTE_PREFER_HW], n_routes[ROUTE_PREFER_HW]),
		.def = "", .allowed = ROUTE_TABLES_ALLOWED,
		.help = "Flows with an end (either address, original or NATed reply direction) "
			"inside a route of these tables take the hardware tier first: they may "
			"use the whole hardware budget, other flows only what hw-reserve leaves.  "
			"Each entry is a table, by id (100) or by its name in "
			"/etc/iproute2/rt_tables, optionally with \":protocol\" to follow only the "
			"routes that protocol installed (100:bird, cdn:186); protocols by number "
			"0..255 or as kernel, boot, static, ra, dhcp, zebra, bird, babel, bgp, isis, "
			"ospf, rip, eigrp.  Default: none." },
	[CONFIG_KEY_ROUTES_ONLY] = { AT("routes", "only"), .type = CONFIG_ROUTE_TABLES,
		LIST(routes[ROUTE_ONLY], n_routes[ROUTE_ONLY]), .def = "",
		.allowed = ROUTE_TABLES_ALLOWED,
		.help = "Offload only flows with an end inside a route of these tables; every "
			"other flow stays on the slow path (an empty table offloads nothing).  The "
			"forward rules look the prefixes up in interval sets at packet "
			"window-from.  Same syntax as prefer-hardware.  Default: none." },
	[CONFIG_KEY_ROUTES_NEVER] = { AT("routes", "never"), .type = CONFIG_ROUTE_TABLES,
		LIST(routes[ROUTE_NEVER], n_routes[ROUTE_NEVER]), .def = "",
		.allowed = ROUTE_TABLES_ALLOWED,
		.help = "Never offload flows with an end inside a route of these tables (like "
			"[skip] prefixes, but followed live).  Same syntax as prefer-hardware.  "
			"Default: none." },
	[CONFIG_KEY_ROUTES_MAX] = { AT("routes", "max-prefixes"), .type = CONFIG_SIZE,
		FIELD(routes_max), RANGE(1, 4194304), .def = "256k",
		.allowed = "1..4194304 routes (k and M suffixes: 256k is 262144)",
		.help = "Routes one role follows per address family, at most, 1..4194304 (k and M "
			"suffixes).  A table that grows past it is not applied (the sets keep "
			"what they held: never half a table), a warning says so and stats "
			"routes.over_limit counts it.  Default 256k: a selected table (own space, "
			"CDNs) is far smaller; a full Internet table (about 1M IPv4 routes) costs "
			"the kernel's interval set about 2 element nodes per merged interval." },
	[CONFIG_KEY_ROUTES_SETTLE] = { AT("routes", "settle"), .type = CONFIG_DURATION,
		FIELD(routes_settle_ms), RANGE(10, 60 * SECOND), .def = "200ms",
		.allowed = "10ms..60s " DURATION_UNITS,
		.help = "Route changes are applied this long after the last one of a burst (and "
			"at most 4 times as long after its first), in one transaction: a route "
			"that flaps within it costs nothing.  10ms..60s.  Default 200ms: a BGP "
			"update burst is one transaction, and a withdrawn prefix leaves the "
			"hardware tier well within a second." },
	[CONFIG_KEY_ROUTES_RESYNC] = { AT("routes", "resync-interval"),
		.type = CONFIG_DURATION, FIELD(routes_resync_ms), RANGE(SECOND, 24 * HOUR),
		.def = "5m", .allowed = "1s..24h " DURATION_UNITS,
		.help = "How often the followed tables are dumped in full and the sets compared, "
			"a safety net for lost notifications (an overrun schedules one at once).  "
			"1s..24h.  Default 5m." },
	[CONFIG_KEY_ROUTES_HW_RESERVE] = { AT("routes", "hw-reserve"), .type = CONFIG_PERCENT,
		FIELD(routes_hw_reserve), RANGE(0, 100), .def = "25",
		.allowed = "a percentage 0..100 (25 or 25%)",
		.help = "With prefer-hardware tables: the percent of the hardware budget that only "
			"flows of preferred prefixes may take; other flows get a hardware slot "
			"only while the rest has room.  100: the hardware tier is for preferred "
			"flows alone.  The kernel cannot move a flow from the NIC back to software "
			"without tearing it down, so a preferred flow never takes a slot another "
			"flow holds; the reserve keeps room for it.  Default 25." },
	[CONFIG_KEY_ANALYSIS_LEN4] = { AT("routes", "analysis-ipv4-length"), .type = CONFIG_UINT,
		FIELD(analysis_len4), RANGE(8, 32), .def = "24",
		.allowed = "a prefix length 8..32",
		.help = "flowoffloadctl prefixes adds up finished flows per remote prefix of this "
			"length (the flow's real server: the reply direction's source).  8..32.  "
			"Default 24: the smallest prefix BGP carries." },
	[CONFIG_KEY_ANALYSIS_LEN6] = { AT("routes", "analysis-ipv6-length"), .type = CONFIG_UINT,
		FIELD(analysis_len6), RANGE(16, 128), .def = "48",
		.allowed = "a prefix length 16..128",
		.help = "The same for IPv6, 16..128.  Default 48: the smallest prefix BGP "
			"carries." },
	[CONFIG_KEY_ANALYSIS_MAX] = { AT("routes", "analysis-max"), .type = CONFIG_SIZE,
		FIELD(analysis_max), RANGE(0, 4194304), .def = "64k",
		.allowed = "0 (off) or up to 4194304 prefixes (k and M suffixes)",
		.help = "Remote prefixes flowoffloadctl prefixes tracks, about 80 bytes each, "
			"allocated at start; when full, prefixes whose decayed flows fell below "
			"0.05 make room, and flows of new prefixes are otherwise not counted.  "
			"Their weight halves every [classes] half-life.  0 turns the analysis "
			"off.  Default 64k." },

	[CONFIG_KEY_CLASSES_LEARN] = BOOL("classes", "learn", classes_learn, "yes",
		"Learn from finished flows, per service class, and skip the classes of "
			"mice.  Needs conntrack accounting (net.netfilter.nf_conntrack_acct = 1, "
			"which the installed sysctl.d snippet sets).  yes/no, default yes."),
	[CONFIG_KEY_CLASSES_MAX] = { AT("classes", "max-classes"), .type = CONFIG_SIZE,
		FIELD(classes_max), RANGE(1, 1048576), .def = "4096",
		.allowed = "1..1048576 classes (k suffix: 4k is 4096)",
		.help = "Classes tracked at most, 1..1048576 (k suffix); about 700 bytes each, "
			"allocated at start.  When full, the class with the least weight makes "
			"room.  Default 4096." },
	[CONFIG_KEY_CLASSES_HALF_LIFE] = { AT("classes", "half-life"), .type = CONFIG_DURATION,
		FIELD(classes_half_life_ms), RANGE(SECOND, 168 * HOUR), .def = "10m",
		.allowed = "1s..168h " DURATION_UNITS,
		.help = "What was learned halves its weight every half-life, 1s..168h.  Default "
			"10m: a service that changes its traffic is re-learned within minutes." },
	[CONFIG_KEY_CLASSES_MIN_FLOWS] = { AT("classes", "min-flows"), .type = CONFIG_UINT,
		FIELD(classes_min_flows), RANGE(1, 1000000), .def = "20",
		.allowed = "1..1000000 finished flows (decayed) before a verdict",
		.help = "Finished flows (decayed) a class needs before it gets a verdict, "
			"1..1000000.  Default 20." },
	/* 8: the clients class_clients.c tracks per class. */
	[CONFIG_KEY_CLASSES_MIN_CLIENTS] = { AT("classes", "min-clients"), .type = CONFIG_UINT,
		FIELD(classes_min_clients), RANGE(1, 8), .def = "4",
		.allowed = "1..8 distinct clients a verdict needs (1: any one client may decide)",
		.help = "Distinct clients (source addresses; an IPv6 client by its /64) whose "
			"flows a class needs before it gets a verdict, 1..8; and no client counts "
			"for more than 1/min-clients of a class (the excess of its flows, mice or "
			"not, is left out of the verdict).  Default 4: one LAN host making "
			"thousands of short connections to a server port cannot turn that port "
			"into a mice class and take the fast path from everyone's large flows to "
			"it; it takes 4 hosts behaving alike.  1: any one client may decide (a "
			"router with a single client behind it)." },
	[CONFIG_KEY_CLASSES_MICE_PACKETS] = { AT("classes", "mice-packets"), .type = CONFIG_UINT,
		FIELD(classes_mice_packets), RANGE(1, 1000000), .def = "64",
		.allowed = "1..1000000 packets: a finished flow with fewer is a mouse",
		.help = "A finished flow with fewer packets (both directions) is a mouse, "
			"1..1000000.  Default 64: a request/response exchange or two." },
	[CONFIG_KEY_CLASSES_MICE_SHARE] = { AT("classes", "mice-share"), .type = CONFIG_PERCENT,
		FIELD(classes_mice_share), RANGE(1, 100), .def = "95",
		.allowed = "a percentage 1..100 (95 or 95%)",
		.help = "Percent of a class's (decayed) flows that must be mice for the class to "
			"be skipped, 1..100.  Default 95: one elephant in twenty keeps a class "
			"offloadable." },
	[CONFIG_KEY_CLASSES_LEARN_WINDOW] = BOOL("classes", "learn-window", classes_learn_window,
		"no",
		"Choose window-from from the packet counts of finished flows (the classes "
			"that are not mice, summed) to minimise the modelled router CPU "
			"(README, the cost model), between 3 and window-until, changed only "
			"when the model saves at least 2% and at most once per window-hold; a "
			"change reinstalls the ruleset in one transaction (offloaded flows come "
			"back through the readmit rule).  The configured window-from is the "
			"start.  yes/no, default no: on the measured mixes the model's best "
			"window is within 2% of the default 16." ),
	[CONFIG_KEY_CLASSES_WINDOW_HOLD] = { AT("classes", "window-hold"),
		.type = CONFIG_DURATION, FIELD(classes_window_hold_ms), RANGE(60 * SECOND, 168 * HOUR),
		.def = "30m", .allowed = "1m..168h " DURATION_UNITS,
		.help = "With learn-window: the learned window-from changes at most once per "
			"window-hold, 1m..168h.  Default 30m." },

	[CONFIG_KEY_MAX_FLOWS] = { AT("agent", "max-flows"), .type = CONFIG_SIZE,
		FIELD(max_flows), RANGE(1, 100000000), .def = "1000000",
		.allowed = "1..100000000 flows (k and M suffixes: 1M is 1048576)",
		.help = "Conntrack entries the agent tracks, 1..100000000 (k and M suffixes:  1M = "
			"1048576).  Default 1000000: above the conntrack table size of most "
			"routers; memory grows with it." },
	/* A status dump walks the whole conntrack table: more often than
	 * 100 ms costs the kernel more than it tells us; a resync is a full
	 * reconciliation and only a safety net for lost events. */
	[CONFIG_KEY_STATUS_INTERVAL] = { AT("agent", "status-interval"), .type = CONFIG_DURATION,
		FIELD(status_interval_ms), RANGE(100, HOUR), .def = "1s",
		.allowed = "100ms..1h " DURATION_UNITS,
		.help = "How often the agent dumps the conntrack entries it admitted to see which "
			"became offloaded (the kernel sends no event for that) and read their "
			"counters.  100ms..1h (ms, s, m, h; a bare number is seconds).  Default "
			"1s: fresh enough for the hardware budget, cheap for the kernel.  Each dump "
			"walks the whole conntrack table, so while dumps find nothing new (no flow "
			"admitted or moved, no hardware slot in use) the agent spaces them out, up "
			"to 16 intervals and at least 250 times what the last one cost in CPU.  "
			"`flowoffloadctl flows` never answers from a read older than "
			"status-interval or 1 s, whichever is shorter: it starts a dump and waits "
			"for it (at most 3 s); `status` starts one and shows the age of its data." },
	[CONFIG_KEY_RESYNC_INTERVAL] = { AT("agent", "resync-interval"), .type = CONFIG_DURATION,
		FIELD(resync_interval_ms), RANGE(SECOND, 24 * HOUR), .def = "30s",
		.allowed = "1s..24h " DURATION_UNITS,
		.help = "How often the agent reconciles its table with a full dump, a safety net "
			"for lost events.  1s..24h.  Default 30s: a lost event leaves a stale "
			"entry for at most that long, and a full dump every 30 s costs the kernel "
			"little next to the events themselves.  With no new flows and a resync that "
			"found nothing, the next waits 16 intervals (and at least 250 times its CPU "
			"cost); lost events get a resync of their own at once." },
	[CONFIG_KEY_EVENT_BUFFER] = { AT("agent", "event-buffer"), .type = CONFIG_SIZE,
		FIELD(event_buffer), RANGE(64ULL << 10, 1ULL << 30), .def = "8M",
		.allowed = "64k..1G bytes (k, M and G suffixes)",
		.help = "Receive buffer of the conntrack event socket, 64k..1G bytes (k, M, G).  "
			"Default 8M: measured without lost events up to 125k events/s, where the "
			"kernel's default 208k loses events from about 40k/s.  After an overrun "
			"the agent doubles it, up to 8 times this value, and resyncs." },
	/* sun_path holds 108 bytes with the terminating NUL. */
	[CONFIG_KEY_SOCKET] = { AT("agent", "socket"), .type = CONFIG_PATH, FIELD(socket_path),
		.def = CONFIG_DEFAULT_SOCKET,
		.allowed = "an absolute path of at most 107 characters",
		.help = "The control socket flowoffloadctl talks to: an absolute path of at most "
			"107 characters.  Default /run/flowoffload/flowoffload.sock: a directory "
			"of its own (the agent creates it when missing) that the systemd unit "
			"makes the one place its sandbox may write (RuntimeDirectory)." },
	[CONFIG_KEY_SOCKET_GROUP] = { AT("agent", "socket-group"), .type = CONFIG_GROUP,
		FIELD(socket_group), .def = "",
		.allowed = "a group name of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for root's group",
		.help = "Group whose members may use the control socket.  Default empty: the "
			"agent's own group, root's when root starts it by hand, flowoffload "
			"under the systemd unit (User=/Group= flowoffload)." },
	/* Reading is for the socket group; changing state (reload) is for
	 * root and this group, checked per client with SO_PEERCRED. */
	[CONFIG_KEY_ADMIN_GROUP] = { AT("agent", "admin-group"), .type = CONFIG_GROUP,
		FIELD(admin_group), .def = "",
		.allowed = "a group name of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for root only",
		.help = "Group whose members may also change the agent's state over the control "
			"socket (flowoffloadctl reload; at most one every 5 s).  Default empty: "
			"root only.  Everyone who can connect may read (status, stats, flows, "
			"classes)." },
	/* Empty by default: see README (Privileges) for why root stays the
	 * default and what a dedicated user needs. */
	[CONFIG_KEY_USER] = { AT("agent", "user"), .type = CONFIG_USER, FIELD(run_user), .def = "",
		.allowed = "a user name or uid of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty to stay the user that started the agent",
		.help = "The user the agent switches to when started as root, once its control "
			"socket and lock file are open and before it installs anything or reads "
			"conntrack: it keeps CAP_NET_ADMIN alone, and root's file ownership no "
			"longer (a compromised agent cannot write /etc).  A name or a uid; the "
			"config file must be readable by it for reloads.  Started as that user "
			"already (systemd User= with AmbientCapabilities=CAP_NET_ADMIN, as "
			"flowoffload.service does) it stays.  Default empty: stay the user that "
			"started it (README, Privileges)." },
	[CONFIG_KEY_GROUP] = { AT("agent", "group"), .type = CONFIG_GROUP, FIELD(run_group),
		.def = "",
		.allowed = "a group name or gid of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for the user's primary group",
		.help = "The group of that user.  Default empty: its primary group." },
	[CONFIG_KEY_KEEP_RULESET] = BOOL("agent", "keep-ruleset", keep_ruleset, "no",
		"Leave the agent's nftables tables in place on exit.  Default no: a "
			"stopped agent removes what it installed; say yes to keep flows that are "
			"already offloaded on the fast path across an agent restart."),
	[CONFIG_KEY_MANAGE_RULESET] = BOOL("agent", "manage-ruleset", manage_ruleset, "yes",
		"Install and guard the agent's nftables tables.  no: the operator's own "
			"ruleset offloads (OpenWrt fw4, nft-scripts/flowoffload-static.nft) and "
			"the agent only tracks, reports and writes marks; there is then no "
			"hardware tier.  Default yes."),
	[CONFIG_KEY_EVENTS] = { AT("agent", "events"), .type = CONFIG_ENUM, FIELD(events_window),
		.words = event_modes, .noun = "all or window", .def = "all",
		.allowed = "all, or window (needs [hardware] mode = off)",
		.help = "Which conntrack events the kernel builds.  all: the agent hears every new "
			"flow (NEW and DESTROY), needed to decide the hardware tier and to skip a "
			"learned mice class before packet N.  window: the ruleset gives every new "
			"conntrack an empty event mask and widens it only when the offload rule "
			"takes the flow, so the kernel reports a flow once when it reaches packet "
			"N (UPDATE) and once when it ends (DESTROY), and nothing for flows that "
			"never get there.  Measured (bench/event_mask, bench/conn_rate): a "
			"listener costs the router 25-35% of its new-flow rate; with the mask it "
			"keeps 92-104%.  The mask is the conntrack's: other listeners (conntrackd, "
			"conntrack -E) hear no more than the agent.  window needs [hardware] mode "
			"= off.  Default all." },
	[CONFIG_KEY_METRICS_DIR] = { AT("agent", "metrics-dir"), .type = CONFIG_PATH,
		FIELD(metrics_dir), .def = "",
		.allowed = "an absolute directory path of at most 199 characters; empty for none",
		.help = "A directory where the agent writes its Prometheus metrics as "
			"flowoffload.prom every metrics-interval, for node_exporter's textfile "
			"collector: written to flowoffload.prom.tmp, then renamed, so a scrape "
			"never reads half a file.  The same text as `flowoffloadctl metrics`.  "
			"Under the systemd unit the directory must be made writable (a drop-in "
			"with ReadWritePaths=).  Default empty: no file; the control socket "
			"answers metrics anyway." },
	[CONFIG_KEY_METRICS_INTERVAL] = { AT("agent", "metrics-interval"),
		.type = CONFIG_DURATION, FIELD(metrics_interval_ms), RANGE(SECOND, HOUR),
		.def = "15s", .allowed = "1s..1h " DURATION_UNITS,
		.help = "How often the metrics file is written.  Default 15s: Prometheus' "
			"usual scrape interval; each write walks the flow table once." },
	[CONFIG_KEY_METRICS_LISTEN] = { AT("agent", "metrics-listen"), .type = CONFIG_LISTEN,
		FIELD(metrics_listen), .def = "",
		.allowed = "IPV4:PORT or [IPV6]:PORT, numeric, port 1..65535; empty for none",
		.help = "An address where the agent answers Prometheus scrapes itself: GET "
			"/metrics over HTTP returns the text of `flowoffloadctl metrics`, served "
			"from the agent's event loop (at most 8 scrapers at once, 5 s for a "
			"request, 10 s for an answer; never blocks the agent).  For example "
			"127.0.0.1:9811 or [::1]:9811 (9811 is only the examples' choice: "
			"Prometheus' exporter port range, 9100-9999, is allocated in full; take "
			"a port free on the router).  Changes take effect at the next start.  Under "
			"the systemd unit the sandbox allows no IP sockets: a drop-in must add "
			"RestrictAddressFamilies=AF_INET AF_INET6 and IPAddressAllow=.  No TLS "
			"and no authentication: listen on loopback or a management address.  "
			"Default empty: no listener (metrics-dir and the control socket need "
			"no open port)." },
};

/* Sections with prose of their own, beyond their keys'. */
static const struct {
	const char *section, *help;
} section_help[] = {
	{ "skip",
		"Flows never offloaded, because rules later in the forward path (quotas, rate "
		"limits, accounting) must keep seeing their packets: offloaded packets bypass "
		"every later rule." },
	{ "routes",
		"Prefixes followed live from kernel routing tables (filled by BIRD or FRR, "
		"for example with a kernel protocol exporting a chosen set into table 100), "
		"IPv4 and IPv6.  The agent hears route notifications, keeps each role's "
		"prefixes merged in interval sets in its own tables, and applies changes in "
		"one transaction per burst.  A table may serve one role only." },
	{ "classes",
		"Learning from finished flows.  A service class is a protocol and server port "
		"(the original destination port); DESTROY events carry each flow's final "
		"counters, and the agent keeps per class a decayed distribution of flow sizes "
		"and durations.  A class whose flows almost always finish small (mice) and "
		"commonly reach window-from is skipped: the agent writes the skip mark on its "
		"new flows (reason mice-class).  Classes that mix mice and elephants (HTTPS) are "
		"left to the rule's min-avgpkt test." },
};

const char *config_table_section_help(const char *section)
{
	size_t i;

	for (i = 0; i < sizeof(section_help) / sizeof(section_help[0]); i++)
		if (!strcmp(section_help[i].section, section))
			return section_help[i].help;
	return NULL;
}

const struct config_key *config_table_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_KEY_MAX; i++)
		if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

/* Every section has keys, so the rows are the list of sections. */
bool config_table_known_section(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CONFIG_KEY_MAX; i++)
		if (strlen(config_keys[i].section) == len &&
		    !memcmp(config_keys[i].section, name, len))
			return true;
	return false;
}

void config_table_key_names(const char *section, char *buf, size_t len)
{
	size_t i, off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (i = 0; i < CONFIG_KEY_MAX && off < len; i++) {
		if (strcmp(config_keys[i].section, section))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? " " : "",
					config_keys[i].name);
	}
}

int config_table_write_keys(FILE *f)
{
	const char *section = "";
	size_t i;
	int n;

	for (i = 0; i < CONFIG_KEY_MAX; i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(k->section, section)) {
			section = k->section;
			if (fprintf(f, "[%s]\n", section) < 0)
				return -EIO;
		}
		n = fprintf(f, "%s =%s%s\n", k->name, *k->def ? " " : "", k->def);
		if (n < 0)
			return -EIO;
	}
	return 0;
}
