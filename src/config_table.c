/* config_table: every key of /etc/flowoffload.conf, once: the parser, the
 * defaults and the example's key lines all read these rows. */
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
#define BOOL(sec, key, f, d) \
	{ AT(sec, key), .type = CONFIG_BOOL, FIELD(f), .def = d, .allowed = BOOL_ALLOWED }

#define SECOND 1000ULL
#define HOUR (3600 * SECOND)

static const struct config_word hw_modes[] = {
	{ "auto", HW_MODE_AUTO }, { "on", HW_MODE_ON }, { "off", HW_MODE_OFF }, { NULL, 0 },
};
static const struct config_word event_modes[] = {
	{ "all", false }, { "window", true }, { NULL, 0 },
};
static const struct config_word protocols[] = {
	{ "tcp", offsetof(struct fo_config, proto_tcp) },
	{ "udp", offsetof(struct fo_config, proto_udp) },
	{ NULL, 0 },
};

/* The reasons for each default are in flowoffload.conf.example, whose key
 * lines test_config checks against these rows. */
const struct config_key config_keys[CONFIG_KEY_MAX] = {
	[CONFIG_KEY_DEVICES] = { AT("devices", "devices"), .type = CONFIG_IFNAMES,
		LIST(devices, n_devices), .has_auto = true,
		.auto_off = offsetof(struct fo_config, devices_auto),
		.empty = "no interface listed", .def = "auto",
		.allowed = "auto, or " IFNAMES_ALLOWED },
	[CONFIG_KEY_SW_ONLY] = { AT("devices", "software-only"), .type = CONFIG_IFNAMES,
		LIST(sw_only, n_sw_only), .def = "",
		.allowed = IFNAMES_ALLOWED "; empty for none" },
	[CONFIG_KEY_EXCLUDE] = { AT("devices", "exclude"), .type = CONFIG_IFNAMES,
		LIST(exclude, n_exclude), .def = "",
		.allowed = IFNAMES_ALLOWED "; empty for none" },

	[CONFIG_KEY_PROTOCOLS] = { AT("offload", "protocols"), .type = CONFIG_FLAGS,
		.words = protocols, .noun = "an offloadable protocol",
		.empty = "no protocol listed", .def = "tcp udp", .allowed = "tcp, udp or both" },
	/* window-until >= window-from is checked once the file is read: the
	 * two may come in either order. */
	[CONFIG_KEY_WINDOW_FROM] = { AT("offload", "window-from"), .type = CONFIG_UINT,
		FIELD(window_from), RANGE(1, 1000000), .def = "5",
		.allowed = "a whole number 1..1000000, at most window-until" },
	[CONFIG_KEY_WINDOW_UNTIL] = { AT("offload", "window-until"), .type = CONFIG_UINT,
		FIELD(window_until), RANGE(1, 1000000), .def = "1000",
		.allowed = "a whole number 1..1000000, at least window-from" },
	[CONFIG_KEY_TCP_ACK_ONLY] = BOOL("offload", "tcp-ack-only", tcp_ack_only, "yes"),
	[CONFIG_KEY_UDP_REQUIRE_REPLY] =
		BOOL("offload", "udp-require-reply", udp_require_reply, "no"),
	[CONFIG_KEY_MARK_MASK] = { AT("offload", "mark-mask"), .type = CONFIG_MASK,
		FIELD(mark_mask), .def = "0x0c000000",
		.allowed = "a 32-bit mask, hex (0x0c000000) or decimal, of 2 or more contiguous "
			   "bits" },
	[CONFIG_KEY_MIN_AVGPKT] = { AT("offload", "min-avgpkt"), .type = CONFIG_UINT,
		FIELD(min_avgpkt), RANGE(0, 65535), .def = "400",
		.allowed = "0 (off) or 1..65535 bytes: the average packet size a flow needs at "
			   "window-from" },
	[CONFIG_KEY_SMALL_WINDOW_FROM] = { AT("offload", "small-packet-window-from"),
		.type = CONFIG_UINT, FIELD(small_window_from), RANGE(0, 1000000), .def = "0",
		.allowed = "0 (auto: 64 moved into the window) or a whole number between "
			   "window-from and window-until" },

	[CONFIG_KEY_HW_MODE] = { AT("hardware", "mode"), .type = CONFIG_ENUM, FIELD(hw_mode),
		.words = hw_modes, .noun = "a mode", .def = "auto", .allowed = "auto, on or off" },
	[CONFIG_KEY_HW_CAPACITY] = { AT("hardware", "capacity"), .type = CONFIG_SIZE,
		FIELD(hw_capacity), RANGE(1, 16777216), .def = "1024",
		.allowed = "1..16777216 entries (k and M suffixes: 8k is 8192)" },
	[CONFIG_KEY_HW_WATERMARK] = { AT("hardware", "watermark"), .type = CONFIG_PERCENT,
		FIELD(hw_watermark), RANGE(1, 100), .def = "90",
		.allowed = "a percentage 1..100 (90 or 90%)" },
	[CONFIG_KEY_HW_CONFIRM] = { AT("hardware", "confirm-timeout"), .type = CONFIG_DURATION,
		FIELD(hw_confirm_ms), RANGE(100, HOUR), .def = "3s",
		.allowed = "100ms..1h " DURATION_UNITS },

	[CONFIG_KEY_SKIP_PORTS] = { AT("skip", "ports"), .type = CONFIG_PORTS,
		LIST(skip_ports, n_skip_ports), .def = "",
		.allowed = "up to 64 ports 1..65535 or ranges lo-hi (5060-5061); empty for none" },
	[CONFIG_KEY_SKIP_PREFIXES] = { AT("skip", "prefixes"), .type = CONFIG_PREFIXES,
		LIST(skip_prefixes, n_skip_prefixes), .def = "",
		.allowed = "up to 64 IPv4 or IPv6 addresses or prefixes with zero host bits "
			   "(198.18.0.0/15 2001:db8::/32); empty for none" },

	[CONFIG_KEY_CLASSES_LEARN] = BOOL("classes", "learn", classes_learn, "yes"),
	[CONFIG_KEY_CLASSES_MAX] = { AT("classes", "max-classes"), .type = CONFIG_SIZE,
		FIELD(classes_max), RANGE(1, 1048576), .def = "4096",
		.allowed = "1..1048576 classes (k suffix: 4k is 4096)" },
	[CONFIG_KEY_CLASSES_HALF_LIFE] = { AT("classes", "half-life"), .type = CONFIG_DURATION,
		FIELD(classes_half_life_ms), RANGE(SECOND, 168 * HOUR), .def = "10m",
		.allowed = "1s..168h " DURATION_UNITS },
	[CONFIG_KEY_CLASSES_MIN_FLOWS] = { AT("classes", "min-flows"), .type = CONFIG_UINT,
		FIELD(classes_min_flows), RANGE(1, 1000000), .def = "20",
		.allowed = "1..1000000 finished flows (decayed) before a verdict" },
	/* 8: the clients class_clients.c tracks per class. */
	[CONFIG_KEY_CLASSES_MIN_CLIENTS] = { AT("classes", "min-clients"), .type = CONFIG_UINT,
		FIELD(classes_min_clients), RANGE(1, 8), .def = "4",
		.allowed = "1..8 distinct clients a verdict needs (1: any one client may decide)" },
	[CONFIG_KEY_CLASSES_MICE_PACKETS] = { AT("classes", "mice-packets"), .type = CONFIG_UINT,
		FIELD(classes_mice_packets), RANGE(1, 1000000), .def = "64",
		.allowed = "1..1000000 packets: a finished flow with fewer is a mouse" },
	[CONFIG_KEY_CLASSES_MICE_SHARE] = { AT("classes", "mice-share"), .type = CONFIG_PERCENT,
		FIELD(classes_mice_share), RANGE(1, 100), .def = "95",
		.allowed = "a percentage 1..100 (95 or 95%)" },

	[CONFIG_KEY_MAX_FLOWS] = { AT("agent", "max-flows"), .type = CONFIG_SIZE,
		FIELD(max_flows), RANGE(1, 100000000), .def = "1000000",
		.allowed = "1..100000000 flows (k and M suffixes: 1M is 1048576)" },
	/* A status dump walks the whole conntrack table: more often than
	 * 100 ms costs the kernel more than it tells us; a resync is a full
	 * reconciliation and only a safety net for lost events. */
	[CONFIG_KEY_STATUS_INTERVAL] = { AT("agent", "status-interval"), .type = CONFIG_DURATION,
		FIELD(status_interval_ms), RANGE(100, HOUR), .def = "1s",
		.allowed = "100ms..1h " DURATION_UNITS },
	[CONFIG_KEY_RESYNC_INTERVAL] = { AT("agent", "resync-interval"), .type = CONFIG_DURATION,
		FIELD(resync_interval_ms), RANGE(SECOND, 24 * HOUR), .def = "30s",
		.allowed = "1s..24h " DURATION_UNITS },
	[CONFIG_KEY_EVENT_BUFFER] = { AT("agent", "event-buffer"), .type = CONFIG_SIZE,
		FIELD(event_buffer), RANGE(64ULL << 10, 1ULL << 30), .def = "8M",
		.allowed = "64k..1G bytes (k, M and G suffixes)" },
	/* sun_path holds 108 bytes with the terminating NUL. */
	[CONFIG_KEY_SOCKET] = { AT("agent", "socket"), .type = CONFIG_PATH, FIELD(socket_path),
		.def = "/run/flowoffload.sock",
		.allowed = "an absolute path of at most 107 characters" },
	[CONFIG_KEY_SOCKET_GROUP] = { AT("agent", "socket-group"), .type = CONFIG_GROUP,
		FIELD(socket_group), .def = "",
		.allowed = "a group name of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for root's group" },
	/* Reading is for the socket group; changing state (reload) is for
	 * root and this group, checked per client with SO_PEERCRED. */
	[CONFIG_KEY_ADMIN_GROUP] = { AT("agent", "admin-group"), .type = CONFIG_GROUP,
		FIELD(admin_group), .def = "",
		.allowed = "a group name of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for root only" },
	/* Empty by default: see README (Privileges) for why root stays the
	 * default and what a dedicated user needs. */
	[CONFIG_KEY_USER] = { AT("agent", "user"), .type = CONFIG_USER, FIELD(run_user), .def = "",
		.allowed = "a user name or uid of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty to stay the user that started the agent" },
	[CONFIG_KEY_GROUP] = { AT("agent", "group"), .type = CONFIG_GROUP, FIELD(run_group),
		.def = "",
		.allowed = "a group name or gid of at most 31 letters, digits, '_', '.' or '-', not "
			   "starting with '-'; empty for the user's primary group" },
	[CONFIG_KEY_KEEP_RULESET] = BOOL("agent", "keep-ruleset", keep_ruleset, "no"),
	[CONFIG_KEY_MANAGE_RULESET] = BOOL("agent", "manage-ruleset", manage_ruleset, "yes"),
	[CONFIG_KEY_EVENTS] = { AT("agent", "events"), .type = CONFIG_ENUM, FIELD(events_window),
		.words = event_modes, .noun = "all or window", .def = "all",
		.allowed = "all, or window (needs [hardware] mode = off)" },
};

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
