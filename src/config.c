/* config: read /etc/flowoffload.conf (INI, libinih) into struct fo_config and
 * validate every key; each error is one line naming file:line, key and allowed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <ini.h>

#include "config.h"
#include "units.h"

/* Entries of a list key are separated by blanks or commas, so both
 * "tcp udp" and "tcp,udp" read the way an operator means them. */
#define LIST_SEP " \t,"
#define SECTIONS_ALLOWED "[devices] [offload] [hardware] [skip] [classes] [agent]"
#define SOCKET_GROUP_MAX 31

enum key_id {
	KEY_DEVICES,
	KEY_SW_ONLY,
	KEY_EXCLUDE,
	KEY_PROTOCOLS,
	KEY_WINDOW_FROM,
	KEY_WINDOW_UNTIL,
	KEY_TCP_ACK_ONLY,
	KEY_UDP_REQUIRE_REPLY,
	KEY_MARK_MASK,
	KEY_MIN_AVGPKT,
	KEY_SMALL_WINDOW_FROM,
	KEY_HW_MODE,
	KEY_HW_CAPACITY,
	KEY_HW_WATERMARK,
	KEY_HW_CONFIRM,
	KEY_SKIP_PORTS,
	KEY_SKIP_PREFIXES,
	KEY_CLASSES_LEARN,
	KEY_CLASSES_MAX,
	KEY_CLASSES_HALF_LIFE,
	KEY_CLASSES_MIN_FLOWS,
	KEY_CLASSES_MICE_PACKETS,
	KEY_CLASSES_MICE_SHARE,
	KEY_MAX_FLOWS,
	KEY_STATUS_INTERVAL,
	KEY_RESYNC_INTERVAL,
	KEY_EVENT_BUFFER,
	KEY_SOCKET,
	KEY_SOCKET_GROUP,
	KEY_KEEP_RULESET,
	KEY_MANAGE_RULESET,
	KEY_EVENTS,
	KEY_MAX,
};

struct parse_state;
struct key_def;

/* For a list key, parse is called once per entry; otherwise once with the
 * whole value.  It returns 0 or the error from fail(). */
typedef int (*parse_fn)(struct parse_state *st, const struct key_def *k, const char *v);

struct key_def {
	enum key_id id;
	const char *section;
	const char *name;
	bool list;
	parse_fn parse;
	const char *allowed;
};

struct parse_state {
	const char *path;
	FILE *f;
	char *line;			/* getline(3) buffer */
	size_t linecap;
	int lineno;			/* the line inih is working on */
	int read_err;			/* errno of a failed read */
	bool inih_prev_name;		/* inih's idea of "a key was set in this section" */
	bool cont;			/* this line continues the previous key */
	const struct key_def *cur;	/* the key the last key line set */
	int key_line[KEY_MAX];		/* where each key was set; 0: not set */
	int err_line;			/* first error found; 0: none */
	int err;
	char msg[1024];
	struct fo_config cfg;
};

static int parse_ifname(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_protocol(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_window(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_min_avgpkt(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_classes_num(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_events(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_bool(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_mark_mask(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_hw_mode(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_hw_capacity(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_watermark(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_port(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_prefix(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_max_flows(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_interval(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_event_buffer(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_socket(struct parse_state *st, const struct key_def *k, const char *v);
static int parse_socket_group(struct parse_state *st, const struct key_def *k, const char *v);

#define IFNAMES_ALLOWED \
	"up to 64 interface names or wildcards (eth* wan?), at most 15 characters, " \
	"without '/' or ':'"
#define BOOL_ALLOWED "yes or no (also true/false, on/off, 1/0)"
#define DURATION_UNITS "(ms, s, m, h; a bare number is seconds)"

/* Indexed by key_id: the key of an error found after the file is read
 * (window-until below window-from) is looked up by its id. */
#define KEY(id_, sec, name_, list_, fn, allowed_) [id_] = { id_, sec, name_, list_, fn, allowed_ }
static const struct key_def keys[] = {
	KEY(KEY_DEVICES, "devices", "devices", true, parse_ifname,
	    "auto, or " IFNAMES_ALLOWED),
	KEY(KEY_SW_ONLY, "devices", "software-only", true, parse_ifname,
	    IFNAMES_ALLOWED "; empty for none"),
	KEY(KEY_EXCLUDE, "devices", "exclude", true, parse_ifname,
	    IFNAMES_ALLOWED "; empty for none"),
	KEY(KEY_PROTOCOLS, "offload", "protocols", true, parse_protocol,
	    "tcp, udp or both"),
	KEY(KEY_WINDOW_FROM, "offload", "window-from", false, parse_window,
	    "a whole number 1..1000000, at most window-until"),
	KEY(KEY_WINDOW_UNTIL, "offload", "window-until", false, parse_window,
	    "a whole number 1..1000000, at least window-from"),
	KEY(KEY_TCP_ACK_ONLY, "offload", "tcp-ack-only", false, parse_bool,
	    BOOL_ALLOWED),
	KEY(KEY_UDP_REQUIRE_REPLY, "offload", "udp-require-reply", false, parse_bool,
	    BOOL_ALLOWED),
	KEY(KEY_MARK_MASK, "offload", "mark-mask", false, parse_mark_mask,
	    "a 32-bit mask, hex (0x0c000000) or decimal, of 2 or more contiguous bits"),
	KEY(KEY_MIN_AVGPKT, "offload", "min-avgpkt", false, parse_min_avgpkt,
	    "0 (off) or 1..65535 bytes: the average packet size a flow needs at window-from"),
	KEY(KEY_SMALL_WINDOW_FROM, "offload", "small-packet-window-from", false, parse_window,
	    "0 (auto: 64 moved into the window) or a whole number between window-from and window-until"),
	KEY(KEY_HW_MODE, "hardware", "mode", false, parse_hw_mode,
	    "auto, on or off"),
	KEY(KEY_HW_CAPACITY, "hardware", "capacity", false, parse_hw_capacity,
	    "1..16777216 entries (k and M suffixes: 8k is 8192)"),
	KEY(KEY_HW_WATERMARK, "hardware", "watermark", false, parse_watermark,
	    "a percentage 1..100 (90 or 90%)"),
	KEY(KEY_HW_CONFIRM, "hardware", "confirm-timeout", false, parse_interval,
	    "100ms..1h " DURATION_UNITS),
	KEY(KEY_SKIP_PORTS, "skip", "ports", true, parse_port,
	    "up to 64 ports 1..65535 or ranges lo-hi (5060-5061); empty for none"),
	KEY(KEY_SKIP_PREFIXES, "skip", "prefixes", true, parse_prefix,
	    "up to 64 IPv4 or IPv6 addresses or prefixes with zero host bits "
	    "(198.18.0.0/15 2001:db8::/32); empty for none"),
	KEY(KEY_CLASSES_LEARN, "classes", "learn", false, parse_bool, BOOL_ALLOWED),
	KEY(KEY_CLASSES_MAX, "classes", "max-classes", false, parse_classes_num,
	    "1..1048576 classes (k suffix: 4k is 4096)"),
	KEY(KEY_CLASSES_HALF_LIFE, "classes", "half-life", false, parse_interval,
	    "1s..168h " DURATION_UNITS),
	KEY(KEY_CLASSES_MIN_FLOWS, "classes", "min-flows", false, parse_classes_num,
	    "1..1000000 finished flows (decayed) before a verdict"),
	KEY(KEY_CLASSES_MICE_PACKETS, "classes", "mice-packets", false, parse_classes_num,
	    "1..1000000 packets: a finished flow with fewer is a mouse"),
	KEY(KEY_CLASSES_MICE_SHARE, "classes", "mice-share", false, parse_watermark,
	    "a percentage 1..100 (95 or 95%)"),
	KEY(KEY_MAX_FLOWS, "agent", "max-flows", false, parse_max_flows,
	    "1..100000000 flows (k and M suffixes: 1M is 1048576)"),
	KEY(KEY_STATUS_INTERVAL, "agent", "status-interval", false, parse_interval,
	    "100ms..1h " DURATION_UNITS),
	KEY(KEY_RESYNC_INTERVAL, "agent", "resync-interval", false, parse_interval,
	    "1s..24h " DURATION_UNITS),
	KEY(KEY_EVENT_BUFFER, "agent", "event-buffer", false, parse_event_buffer,
	    "64k..1G bytes (k, M and G suffixes)"),
	KEY(KEY_SOCKET, "agent", "socket", false, parse_socket,
	    "an absolute path of at most 107 characters"),
	KEY(KEY_SOCKET_GROUP, "agent", "socket-group", false, parse_socket_group,
	    "a group name of at most 31 letters, digits, '_', '.' or '-', not starting "
	    "with '-'; empty for root's group"),
	KEY(KEY_KEEP_RULESET, "agent", "keep-ruleset", false, parse_bool,
	    BOOL_ALLOWED),
	KEY(KEY_MANAGE_RULESET, "agent", "manage-ruleset", false, parse_bool,
	    BOOL_ALLOWED),
	KEY(KEY_EVENTS, "agent", "events", false, parse_events,
	    "all, or window (needs [hardware] mode = off)"),
};
#undef KEY

_Static_assert(sizeof(keys) / sizeof(keys[0]) == KEY_MAX, "one key_def per key_id");

static const char *const sections[] = { "devices", "offload", "hardware", "skip", "classes",
					 "agent" };

void config_defaults(struct fo_config *cfg)
{
	/* The reasons for each default are in flowoffload.conf.example. */
	memset(cfg, 0, sizeof(*cfg));
	cfg->devices_auto = true;
	cfg->proto_tcp = true;
	cfg->proto_udp = true;
	cfg->window_from = 5;
	cfg->window_until = 1000;
	cfg->tcp_ack_only = true;
	cfg->udp_require_reply = false;
	cfg->mark_mask = 0x0c000000;
	cfg->hw_mode = HW_MODE_AUTO;
	cfg->hw_capacity = 1024;
	cfg->hw_watermark = 90;
	cfg->hw_confirm_ms = 3000;
	cfg->min_avgpkt = 400;
	cfg->classes_learn = true;
	cfg->classes_max = 4096;
	cfg->classes_half_life_ms = 10 * 60 * 1000;
	cfg->classes_min_flows = 20;
	cfg->classes_mice_packets = 64;
	cfg->classes_mice_share = 95;
	cfg->max_flows = 1000000;
	cfg->status_interval_ms = 1000;
	cfg->resync_interval_ms = 30000;
	cfg->event_buffer = 8ULL << 20;
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", "/run/flowoffload.sock");
	cfg->keep_ruleset = false;
	cfg->manage_ruleset = true;
}

/* Errors are found in file order, except the checks that need the whole
 * key or file; keeping the lowest line number reports what an operator
 * reading from the top meets first. */
__attribute__((format(printf, 3, 4)))
static int record(struct parse_state *st, int line, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	if (st->err_line && st->err_line <= line)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	st->err_line = line;
	st->err = -EINVAL;
	snprintf(st->msg, sizeof(st->msg), "%s:%d: %s", st->path, line, what);
	return -EINVAL;
}

__attribute__((format(printf, 5, 6)))
static int fail_at(struct parse_state *st, int line, const struct key_def *k, const char *allowed,
		   const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return record(st, line, "[%s] %s: %s; allowed: %s", k->section, k->name, what,
		      allowed ? allowed : k->allowed);
}

#define fail(st, k, ...) fail_at((st), (st)->lineno, (k), NULL, __VA_ARGS__)

static bool list_full(struct parse_state *st, const struct key_def *k, size_t n)
{
	if (n < CONFIG_MAX_LIST)
		return false;
	fail(st, k, "more than %d entries", CONFIG_MAX_LIST);
	return true;
}

static void ifname_list(struct fo_config *c, enum key_id id, char (**names)[CONFIG_IFNAMSIZ],
			size_t **n)
{
	switch (id) {
	case KEY_SW_ONLY:
		*names = c->sw_only;
		*n = &c->n_sw_only;
		break;
	case KEY_EXCLUDE:
		*names = c->exclude;
		*n = &c->n_exclude;
		break;
	default:
		*names = c->devices;
		*n = &c->n_devices;
		break;
	}
}

/* The kernel's dev_valid_name() rejects '/', ':', blanks, "." and "..";
 * control characters are refused too since no one names a device so on
 * purpose.  fnmatch(3) wildcards are ordinary characters to the kernel. */
static bool valid_ifname(const char *v)
{
	const unsigned char *p;

	if (!strcmp(v, ".") || !strcmp(v, ".."))
		return false;
	for (p = (const unsigned char *)v; *p; p++)
		if (*p == '/' || *p == ':' || isspace(*p) || iscntrl(*p))
			return false;
	return true;
}

static int parse_ifname(struct parse_state *st, const struct key_def *k, const char *v)
{
	struct fo_config *c = &st->cfg;
	char (*names)[CONFIG_IFNAMSIZ];
	size_t *n;

	ifname_list(c, k->id, &names, &n);
	if (k->id == KEY_DEVICES) {
		if (c->devices_auto || (*n && !strcmp(v, "auto")))
			return fail(st, k, "\"auto\" cannot be combined with interface names");
		if (!strcmp(v, "auto")) {
			c->devices_auto = true;
			return 0;
		}
	}
	if (strlen(v) >= CONFIG_IFNAMSIZ)
		return fail(st, k, "\"%s\" is longer than %d characters", v, CONFIG_IFNAMSIZ - 1);
	if (!valid_ifname(v))
		return fail(st, k, "\"%s\" is not an interface name", v);
	if (list_full(st, k, *n))
		return -EINVAL;
	snprintf(names[*n], CONFIG_IFNAMSIZ, "%s", v);
	(*n)++;
	return 0;
}

static int parse_protocol(struct parse_state *st, const struct key_def *k, const char *v)
{
	if (!strcmp(v, "tcp"))
		st->cfg.proto_tcp = true;
	else if (!strcmp(v, "udp"))
		st->cfg.proto_udp = true;
	else
		return fail(st, k, "\"%s\" is not an offloadable protocol", v);
	return 0;
}

static int parse_uint_range(struct parse_state *st, const struct key_def *k, const char *v,
			    uint64_t min, uint64_t max, uint64_t *out)
{
	int err = units_parse_uint(v, min, max, out);

	if (err == -ERANGE)
		return fail(st, k, "\"%s\" is out of range", v);
	if (err)
		return fail(st, k, "\"%s\" is not a whole number", v);
	return 0;
}

static int parse_size_range(struct parse_state *st, const struct key_def *k, const char *v,
			    uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t val = 0;
	int err = units_parse_size(v, &val);

	if (err == -EINVAL)
		return fail(st, k, "\"%s\" is not a size", v);
	if (err || val < min || val > max)
		return fail(st, k, "\"%s\" is out of range", v);
	*out = val;
	return 0;
}

static int parse_window(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t val = 0;
	int err;

	/* window-until >= window-from is checked once the file is read:
	 * the two may come in either order. */
	err = parse_uint_range(st, k, v, k->id == KEY_SMALL_WINDOW_FROM ? 0 : 1, 1000000, &val);
	if (err)
		return err;
	if (k->id == KEY_WINDOW_FROM)
		st->cfg.window_from = (uint32_t)val;
	else if (k->id == KEY_SMALL_WINDOW_FROM)
		st->cfg.small_window_from = (uint32_t)val;
	else
		st->cfg.window_until = (uint32_t)val;
	return 0;
}

static int parse_classes_num(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t val = 0;
	int err;

	if (k->id == KEY_CLASSES_MAX) {
		err = parse_size_range(st, k, v, 1, 1048576, &val);
		if (!err)
			st->cfg.classes_max = (uint32_t)val;
		return err;
	}
	err = parse_uint_range(st, k, v, 1, 1000000, &val);
	if (err)
		return err;
	if (k->id == KEY_CLASSES_MIN_FLOWS)
		st->cfg.classes_min_flows = (uint32_t)val;
	else
		st->cfg.classes_mice_packets = (uint32_t)val;
	return 0;
}

static int parse_events(struct parse_state *st, const struct key_def *k, const char *v)
{
	if (!strcmp(v, "all"))
		st->cfg.events_window = false;
	else if (!strcmp(v, "window"))
		st->cfg.events_window = true;
	else
		return fail(st, k, "\"%s\" is not all or window", v);
	return 0;
}

static int parse_min_avgpkt(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t val = 0;
	int err;

	err = parse_uint_range(st, k, v, 0, 65535, &val);
	if (!err)
		st->cfg.min_avgpkt = (uint32_t)val;
	return err;
}

static int parse_bool(struct parse_state *st, const struct key_def *k, const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	bool val;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i])) {
			val = true;
			goto found;
		}
		if (!strcasecmp(v, no[i])) {
			val = false;
			goto found;
		}
	}
	return fail(st, k, "\"%s\" is not yes or no", v);
found:
	switch (k->id) {
	case KEY_TCP_ACK_ONLY:
		st->cfg.tcp_ack_only = val;
		break;
	case KEY_UDP_REQUIRE_REPLY:
		st->cfg.udp_require_reply = val;
		break;
	case KEY_MANAGE_RULESET:
		st->cfg.manage_ruleset = val;
		break;
	case KEY_CLASSES_LEARN:
		st->cfg.classes_learn = val;
		break;
	default:
		st->cfg.keep_ruleset = val;
		break;
	}
	return 0;
}

static int parse_mark_mask(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t val = 0;
	uint32_t m;
	size_t i;
	int err;

	if ((v[0] == '0') && (v[1] == 'x' || v[1] == 'X')) {
		/* strtoull would accept a sign, blanks and an empty number. */
		if (!v[2])
			return fail(st, k, "\"%s\" is not a number", v);
		for (i = 2; v[i]; i++)
			if (!isxdigit((unsigned char)v[i]))
				return fail(st, k, "\"%s\" is not a number", v);
		errno = 0;
		val = strtoull(v + 2, NULL, 16);
		if (errno == ERANGE || val > UINT32_MAX)
			return fail(st, k, "\"%s\" does not fit in 32 bits", v);
	} else {
		err = units_parse_uint(v, 0, UINT32_MAX, &val);
		if (err == -ERANGE)
			return fail(st, k, "\"%s\" does not fit in 32 bits", v);
		if (err)
			return fail(st, k, "\"%s\" is not a number", v);
	}
	m = (uint32_t)val;
	/* The admission values 1..3 are multiples of the lowest set bit:
	 * they need two bits, and every bit between must be ours too. */
	if (!m)
		return fail(st, k, "\"%s\" has no bits set", v);
	if (!(m & (m - 1)))
		return fail(st, k, "\"%s\" has a single bit set", v);
	m >>= __builtin_ctz(m);
	if (m & (m + 1))
		return fail(st, k, "\"%s\" has non-contiguous bits", v);
	st->cfg.mark_mask = (uint32_t)val;
	return 0;
}

static int parse_hw_mode(struct parse_state *st, const struct key_def *k, const char *v)
{
	if (!strcmp(v, "auto"))
		st->cfg.hw_mode = HW_MODE_AUTO;
	else if (!strcmp(v, "on"))
		st->cfg.hw_mode = HW_MODE_ON;
	else if (!strcmp(v, "off"))
		st->cfg.hw_mode = HW_MODE_OFF;
	else
		return fail(st, k, "\"%s\" is not a mode", v);
	return 0;
}

static int parse_hw_capacity(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t val = 0;
	int err;

	err = parse_size_range(st, k, v, 1, 16777216, &val);
	if (!err)
		st->cfg.hw_capacity = (uint32_t)val;
	return err;
}

static int parse_watermark(struct parse_state *st, const struct key_def *k, const char *v)
{
	char num[16];
	size_t len = strlen(v);
	uint64_t val = 0;
	int err;

	if (len >= sizeof(num))
		return fail(st, k, "\"%s\" is not a percentage", v);
	memcpy(num, v, len + 1);
	if (len && num[len - 1] == '%')
		num[len - 1] = '\0';
	err = units_parse_uint(num, 1, 100, &val);
	if (err == -ERANGE)
		return fail(st, k, "\"%s\" is out of range", v);
	if (err)
		return fail(st, k, "\"%s\" is not a percentage", v);
	if (k->id == KEY_CLASSES_MICE_SHARE)
		st->cfg.classes_mice_share = (uint32_t)val;
	else
		st->cfg.hw_watermark = (uint32_t)val;
	return 0;
}

static int parse_port(struct parse_state *st, const struct key_def *k, const char *v)
{
	struct fo_config *c = &st->cfg;
	const char *dash = strchr(v, '-');
	uint64_t lo = 0, hi = 0;
	char num[8];
	size_t len;
	int err;

	len = dash ? (size_t)(dash - v) : strlen(v);
	if (len >= sizeof(num))
		return fail(st, k, "\"%s\" is not a port or port range", v);
	memcpy(num, v, len);
	num[len] = '\0';
	err = units_parse_uint(num, 1, 65535, &lo);
	if (!err) {
		hi = lo;
		if (dash)
			err = units_parse_uint(dash + 1, 1, 65535, &hi);
	}
	if (err == -ERANGE)
		return fail(st, k, "\"%s\" is out of range", v);
	if (err)
		return fail(st, k, "\"%s\" is not a port or port range", v);
	if (lo > hi)
		return fail(st, k, "\"%s\" has its first port above its last", v);
	if (list_full(st, k, c->n_skip_ports))
		return -EINVAL;
	c->skip_ports[c->n_skip_ports].lo = (uint16_t)lo;
	c->skip_ports[c->n_skip_ports].hi = (uint16_t)hi;
	c->n_skip_ports++;
	return 0;
}

static void mask_host_bits(uint8_t *addr, unsigned int len, unsigned int bytes)
{
	unsigned int i;

	for (i = 0; i < bytes; i++) {
		if (len >= 8) {
			len -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff << (8 - len));
		len = 0;
	}
}

static int parse_prefix(struct parse_state *st, const struct key_def *k, const char *v)
{
	struct fo_config *c = &st->cfg;
	const char *slash = strchr(v, '/');
	char addr[INET6_ADDRSTRLEN + 1];
	char net[INET6_ADDRSTRLEN];
	struct prefix p = { 0 };
	uint8_t masked[16];
	unsigned int bits, bytes;
	uint64_t len;
	size_t alen;

	alen = slash ? (size_t)(slash - v) : strlen(v);
	if (alen >= sizeof(addr))
		return fail(st, k, "\"%s\" is not an IPv4 or IPv6 address", v);
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	p.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	bits = p.family == AF_INET ? 32 : 128;
	bytes = bits / 8;
	if (inet_pton(p.family, addr, p.addr) != 1)
		return fail(st, k, "\"%s\" is not an IPv4 or IPv6 address", v);
	len = bits;
	if (slash && units_parse_uint(slash + 1, 0, bits, &len))
		return fail(st, k, "\"%s\" has a prefix length other than 0..%u", v, bits);
	p.len = (uint8_t)len;
	/* Matching ignores host bits anyway, but an operator who wrote them
	 * may have meant a different prefix: say which one this is. */
	memcpy(masked, p.addr, sizeof(masked));
	mask_host_bits(masked, p.len, bytes);
	if (memcmp(masked, p.addr, bytes)) {
		inet_ntop(p.family, masked, net, sizeof(net));
		return fail(st, k, "\"%s\" has host bits set; write %s/%u", v, net, p.len);
	}
	if (list_full(st, k, c->n_skip_prefixes))
		return -EINVAL;
	c->skip_prefixes[c->n_skip_prefixes++] = p;
	return 0;
}

static int parse_max_flows(struct parse_state *st, const struct key_def *k, const char *v)
{
	return parse_size_range(st, k, v, 1, 100000000, &st->cfg.max_flows);
}

static int parse_interval(struct parse_state *st, const struct key_def *k, const char *v)
{
	uint64_t min = 100, max = 3600 * 1000, val = 0;
	int err;

	/* A status dump walks the whole conntrack table: more often than
	 * 100 ms costs the kernel more than it tells us; a resync is a full
	 * reconciliation and only a safety net for lost events. */
	if (k->id == KEY_RESYNC_INTERVAL) {
		min = 1000;
		max = 24 * 3600 * 1000;
	} else if (k->id == KEY_CLASSES_HALF_LIFE) {
		min = 1000;
		max = 7 * 24 * 3600 * 1000ULL;
	}
	err = units_parse_duration_ms(v, &val);
	if (err == -EINVAL)
		return fail(st, k, "\"%s\" is not a duration", v);
	if (err || val < min || val > max)
		return fail(st, k, "\"%s\" is out of range", v);
	if (k->id == KEY_RESYNC_INTERVAL)
		st->cfg.resync_interval_ms = val;
	else if (k->id == KEY_HW_CONFIRM)
		st->cfg.hw_confirm_ms = val;
	else if (k->id == KEY_CLASSES_HALF_LIFE)
		st->cfg.classes_half_life_ms = val;
	else
		st->cfg.status_interval_ms = val;
	return 0;
}

static int parse_event_buffer(struct parse_state *st, const struct key_def *k, const char *v)
{
	return parse_size_range(st, k, v, 64ULL << 10, 1ULL << 30, &st->cfg.event_buffer);
}

static int parse_socket(struct parse_state *st, const struct key_def *k, const char *v)
{
	size_t len = strlen(v);

	if (v[0] != '/')
		return fail(st, k, "\"%s\" is not an absolute path", v);
	/* sun_path holds 108 bytes with the terminating NUL. */
	if (len >= sizeof(st->cfg.socket_path))
		return fail(st, k, "the path is %zu characters long", len);
	memcpy(st->cfg.socket_path, v, len + 1);
	return 0;
}

/* The portable POSIX user and group name characters; the group is resolved
 * when the socket is created, so a typo is caught there, not here. */
static int parse_socket_group(struct parse_state *st, const struct key_def *k, const char *v)
{
	size_t len = strlen(v), i;

	if (len > SOCKET_GROUP_MAX || v[0] == '-')
		return fail(st, k, "\"%s\" is not a group name", v);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_.-", v[i]))
			return fail(st, k, "\"%s\" is not a group name", v);
	memcpy(st->cfg.socket_group, v, len + 1);
	return 0;
}

static int parse_list(struct parse_state *st, const struct key_def *k, const char *value)
{
	const char *p = value;
	char tok[256];
	size_t n;
	int err;

	for (;;) {
		p += strspn(p, LIST_SEP);
		if (!*p)
			return 0;
		n = strcspn(p, LIST_SEP);
		if (n >= sizeof(tok))
			return fail(st, k, "an entry of %zu characters is too long", n);
		memcpy(tok, p, n);
		tok[n] = '\0';
		err = k->parse(st, k, tok);
		if (err)
			return err;
		p += n;
	}
}

/* A list key given in the file replaces its default entirely. */
static void begin_key(struct parse_state *st, const struct key_def *k)
{
	struct fo_config *c = &st->cfg;

	switch (k->id) {
	case KEY_DEVICES:
		c->devices_auto = false;
		c->n_devices = 0;
		break;
	case KEY_SW_ONLY:
		c->n_sw_only = 0;
		break;
	case KEY_EXCLUDE:
		c->n_exclude = 0;
		break;
	case KEY_PROTOCOLS:
		c->proto_tcp = false;
		c->proto_udp = false;
		break;
	case KEY_SKIP_PORTS:
		c->n_skip_ports = 0;
		break;
	case KEY_SKIP_PREFIXES:
		c->n_skip_prefixes = 0;
		break;
	default:
		break;
	}
}

/* A list may continue on indented lines, so emptiness is known only when
 * the next key (or the end of the file) comes. */
static int finish_key(struct parse_state *st)
{
	const struct key_def *k = st->cur;

	if (!k)
		return 0;
	st->cur = NULL;
	if (k->id == KEY_DEVICES && !st->cfg.devices_auto && !st->cfg.n_devices)
		return fail_at(st, st->key_line[k->id], k, NULL, "no interface listed");
	if (k->id == KEY_PROTOCOLS && !st->cfg.proto_tcp && !st->cfg.proto_udp)
		return fail_at(st, st->key_line[k->id], k, NULL, "no protocol listed");
	return 0;
}

static int check_window(struct parse_state *st)
{
	const struct fo_config *c = &st->cfg;
	int lf = st->key_line[KEY_WINDOW_FROM], lu = st->key_line[KEY_WINDOW_UNTIL];
	char where[32];

	if (c->window_until >= c->window_from) {
		int ls = st->key_line[KEY_SMALL_WINDOW_FROM];

		if (!c->small_window_from ||
		    (c->small_window_from >= c->window_from &&
		     c->small_window_from <= c->window_until))
			return 0;
		return fail_at(st, ls, &keys[KEY_SMALL_WINDOW_FROM], NULL,
			       "%u is outside the window %u..%u", c->small_window_from,
			       c->window_from, c->window_until);
	}
	/* Blame the key the operator wrote last: the other one was already
	 * in place (or is the default) when it was written. */
	if (lu > lf) {
		if (lf)
			snprintf(where, sizeof(where), "line %d", lf);
		else
			snprintf(where, sizeof(where), "the default");
		return fail_at(st, lu, &keys[KEY_WINDOW_UNTIL], NULL,
			       "%u is below window-from %u (%s)", c->window_until, c->window_from,
			       where);
	}
	if (lu)
		snprintf(where, sizeof(where), "line %d", lu);
	else
		snprintf(where, sizeof(where), "the default");
	return fail_at(st, lf, &keys[KEY_WINDOW_FROM], NULL, "%u is above window-until %u (%s)",
		       c->window_from, c->window_until, where);
}

static bool known_section(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strlen(sections[i]) == len && !memcmp(sections[i], name, len))
			return true;
	return false;
}

static const struct key_def *find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < KEY_MAX; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int unknown_key(struct parse_state *st, const char *section, const char *name)
{
	char allowed[256] = "";
	size_t i, off = 0;

	for (i = 0; i < KEY_MAX && off < sizeof(allowed); i++) {
		if (strcmp(keys[i].section, section))
			continue;
		off += (size_t)snprintf(allowed + off, sizeof(allowed) - off, "%s%s",
					off ? " " : "", keys[i].name);
	}
	return record(st, st->lineno, "[%s] %s: unknown key; allowed: %s", section, name, allowed);
}

/* inih takes '#' as a comment only at the start of a line: after a value
 * it is part of the value, and "devices = eth0 # uplink" would quietly add
 * two devices named "#" and "uplink". */
static int check_comment(struct parse_state *st, const struct key_def *k, const char *value)
{
	const char *p;

	for (p = strchr(value, '#'); p; p = strchr(p + 1, '#'))
		if (p == value || isspace((unsigned char)p[-1]))
			return fail_at(st, st->lineno, k,
				       "'#' comments on lines of their own, \" ;\" after a value",
				       "\"%s\" holds a '#' comment", value);
	return 0;
}

static int handle_key(struct parse_state *st, const char *section, const char *name,
		      const char *value)
{
	const struct key_def *k;
	int err;

	if (st->cont) {
		k = st->cur;
		if (!k)
			return 0;
		/* An indented key or section line is a continuation to inih;
		 * say so rather than report it as a bad list entry. */
		if (!k->list || strpbrk(value, "=["))
			return fail_at(st, st->lineno, k,
				       "keys and [sections] at the start of a line; only lists "
				       "continue on indented lines",
				       "the indented line \"%s\" continues its value", value);
		err = check_comment(st, k, value);
		return err ? err : parse_list(st, k, value);
	}
	err = finish_key(st);
	if (err)
		return err;
	if (!*section)
		return record(st, st->lineno, "%s: outside any section; allowed: a section line first: "
			      SECTIONS_ALLOWED, name);
	if (!known_section(section, strlen(section)))
		return record(st, st->lineno, "[%s]: unknown section; allowed: " SECTIONS_ALLOWED,
			      section);
	k = find_key(section, name);
	if (!k)
		return unknown_key(st, section, name);
	if (st->key_line[k->id])
		return fail_at(st, st->lineno, k, "each key once",
			       "repeated (first set on line %d)", st->key_line[k->id]);
	st->key_line[k->id] = st->lineno;
	st->cur = k;
	begin_key(st, k);
	err = check_comment(st, k, value);
	if (err)
		return err;
	return k->list ? parse_list(st, k, value) : k->parse(st, k, value);
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	if (st->err_line)
		return 0;
	return handle_key(st, section, name, value ? value : "") == 0;
}

/* inih's own scan (ini.c, find_chars_or_comment): an inline ';' comment
 * starts only after a blank. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* inih tells the handler nothing but section, name and value, so the
 * reader looks at each line the way ini.c will: an indented line after a
 * key in the same section continues that key's value (ini_allow_multiline,
 * on in Debian's build), and a section with no keys reaches no handler,
 * so its name is checked here. */
static void classify_line(struct parse_state *st, const char *line)
{
	const char *s = line, *e;

	if (st->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	st->cont = false;
	if (!*s || *s == ';' || *s == '#')
		return;
	if (st->inih_prev_name && s > line) {
		st->cont = true;
		return;
	}
	if (*s == '[') {
		st->inih_prev_name = false;
		e = find_chars_or_comment(s + 1, "]");
		if (*e == ']' && !known_section(s + 1, (size_t)(e - s - 1)))
			record(st, st->lineno, "[%.*s]: unknown section; allowed: " SECTIONS_ALLOWED,
			       (int)(e - s - 1), s + 1);
		return;
	}
	e = find_chars_or_comment(s, "=:");
	if (*e == '=' || *e == ':')
		st->inih_prev_name = e > s;
}

/* One physical line per call, so inih's line count and ours agree.  Lines
 * inih would split are refused instead of being parsed in pieces; reading
 * stops at the first error, which is the one reported. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	ssize_t len;

	if (st->err_line || num < 2)
		return NULL;
	errno = 0;
	len = getline(&st->line, &st->linecap, st->f);
	if (len < 0) {
		if (ferror(st->f) || errno == ENOMEM)
			st->read_err = errno ? errno : EIO;
		return NULL;
	}
	st->lineno++;
	if (len && st->line[len - 1] == '\n')
		st->line[--len] = '\0';
	if (len && st->line[len - 1] == '\r')
		st->line[--len] = '\0';
	if (len > num - 1) {
		record(st, st->lineno,
		       "line too long (%zd characters); allowed: at most %d characters per line, "
		       "lists continue on indented lines",
		       len, num - 1);
		return NULL;
	}
	memcpy(str, st->line, (size_t)len + 1);
	classify_line(st, str);
	return str;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int config_load(const char *path, struct fo_config *cfg, char *err, size_t errlen)
{
	struct parse_state *st;
	int ret, line;

	/* struct fo_config is several kilobytes: keep it off the stack. */
	st = calloc(1, sizeof(*st));
	if (!st) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	config_defaults(&st->cfg);
	st->path = path;
	st->f = fopen(path, "re");
	if (!st->f) {
		ret = -errno;
		snprintf(st->msg, sizeof(st->msg), "%s: %s", path, strerror(errno));
		goto out;
	}
	line = ini_parse_stream(read_line, st, ini_handler_cb, st);
	fclose(st->f);
	free(st->line);
	if (st->read_err) {
		ret = -st->read_err;
		snprintf(st->msg, sizeof(st->msg), "%s: %s", path, strerror(st->read_err));
		goto out;
	}
	if (line == -2) {
		ret = -ENOMEM;
		snprintf(st->msg, sizeof(st->msg), "%s: out of memory", path);
		goto out;
	}
	if (line > 0)
		record(st, line, "syntax error; expected key = value or [section]");
	if (!st->err_line && !finish_key(st))
		check_window(st);
	if (!st->err_line && st->cfg.events_window && st->cfg.hw_mode != HW_MODE_OFF)
		fail_at(st, st->key_line[KEY_EVENTS], &keys[KEY_EVENTS], NULL,
			"window hears of a flow only at packet N, too late for the hardware tier; set [hardware] mode = off");
	if (st->err_line) {
		ret = st->err;
		goto out;
	}
	*cfg = st->cfg;
	ret = 0;
out:
	if (ret)
		set_err(err, errlen, st->msg);
	free(st);
	return ret;
}

uint32_t config_mark_value(const struct fo_config *cfg, enum admit_value v)
{
	if (!cfg->mark_mask)
		return 0;
	return ((uint32_t)v << __builtin_ctz(cfg->mark_mask)) & cfg->mark_mask;
}

bool config_prefix_contains(const struct prefix *p, uint8_t family, const uint8_t *addr)
{
	unsigned int bits, full, rem;
	uint8_t m;

	if (!p || !addr || p->family != family)
		return false;
	if (family == AF_INET)
		bits = 32;
	else if (family == AF_INET6)
		bits = 128;
	else
		return false;
	if (p->len > bits)
		return false;
	full = p->len / 8;
	rem = p->len % 8;
	if (memcmp(p->addr, addr, full))
		return false;
	if (!rem)
		return true;
	m = (uint8_t)(0xff << (8 - rem));
	return ((p->addr[full] ^ addr[full]) & m) == 0;
}
