/* config_value: parses the text of one key into struct fo_config by the
 * type its config_table row names; the error says what, config.c says where. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config_value.h"
#include "metrics_http.h"
#include "rt_names.h"
#include "units.h"

/* Entries of a list key are separated by blanks or commas, so both
 * "tcp udp" and "tcp,udp" read the way an operator means them. */
#define LIST_SEP " \t,"

/* The rows locate fields by offset and size: a field is one of these. */
_Static_assert(sizeof(bool) == 1, "bool fields are stored as one byte");
_Static_assert(sizeof(enum hw_mode) == sizeof(uint32_t), "enum fields are stored as 32 bits");

/* One value being parsed: the key, where it goes, where its error goes. */
struct value {
	struct fo_config *cfg;
	const struct config_key *k;
	char *why;
	size_t whylen;
};

typedef int (*parse_fn)(struct value *x, const char *v);

__attribute__((format(printf, 2, 3)))
static int bad(struct value *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->why, x->whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void *field(struct fo_config *cfg, size_t off)
{
	return (char *)cfg + off;
}

static const void *cfield(const struct fo_config *cfg, size_t off)
{
	return (const char *)cfg + off;
}

static void store_bool(struct fo_config *cfg, size_t off, bool val)
{
	memcpy(field(cfg, off), &val, sizeof(val));
}

/* Numbers and enum values go into a bool, a 32-bit or a 64-bit field. */
static void store_uint(struct value *x, uint64_t val)
{
	void *p = field(x->cfg, x->k->off);
	uint32_t v32 = (uint32_t)val;

	if (x->k->size == sizeof(val))
		memcpy(p, &val, sizeof(val));
	else if (x->k->size == sizeof(v32))
		memcpy(p, &v32, sizeof(v32));
	else
		store_bool(x->cfg, x->k->off, val != 0);
}

static size_t *list_count(struct fo_config *cfg, const struct config_key *k)
{
	return field(cfg, k->count_off);
}

/* 0 while the list has room for one more entry. */
static int list_room(struct value *x)
{
	if (*list_count(x->cfg, x->k) < CONFIG_MAX_LIST)
		return 0;
	return bad(x, "more than %d entries", CONFIG_MAX_LIST);
}

static int parse_bool(struct value *x, const char *v)
{
	static const struct config_word words[] = {
		{ "yes", true }, { "true", true }, { "on", true }, { "1", true },
		{ "no", false }, { "false", false }, { "off", false }, { "0", false },
		{ NULL, 0 },
	};
	const struct config_word *w;

	for (w = words; w->word; w++) {
		if (!strcasecmp(v, w->word)) {
			store_uint(x, w->value);
			return 0;
		}
	}
	return bad(x, "\"%s\" is not yes or no", v);
}

static const struct config_word *find_word(const struct config_word *w, const char *v)
{
	for (; w->word; w++)
		if (!strcmp(v, w->word))
			return w;
	return NULL;
}

static int parse_enum(struct value *x, const char *v)
{
	const struct config_word *w = find_word(x->k->words, v);

	if (!w)
		return bad(x, "\"%s\" is not %s", v, x->k->noun);
	store_uint(x, w->value);
	return 0;
}

/* A flag word sets the bool its value locates; saying it twice is harmless. */
static int parse_flag(struct value *x, const char *v)
{
	const struct config_word *w = find_word(x->k->words, v);

	if (!w)
		return bad(x, "\"%s\" is not %s", v, x->k->noun);
	store_bool(x->cfg, w->value, true);
	return 0;
}

static int parse_uint(struct value *x, const char *v)
{
	uint64_t val = 0;
	int err = units_parse_uint(v, x->k->min, x->k->max, &val);

	if (err == -ERANGE)
		return bad(x, "\"%s\" is out of range", v);
	if (err)
		return bad(x, "\"%s\" is not a whole number", v);
	store_uint(x, val);
	return 0;
}

/* Sizes and durations: units.c reads the suffix, the row bounds the result. */
static int parse_scaled(struct value *x, const char *v)
{
	bool duration = x->k->type == CONFIG_DURATION;
	uint64_t val = 0;
	int err;

	err = duration ? units_parse_duration_ms(v, &val) : units_parse_size(v, &val);
	if (err == -EINVAL)
		return bad(x, "\"%s\" is not %s", v, duration ? "a duration" : "a size");
	if (err || val < x->k->min || val > x->k->max)
		return bad(x, "\"%s\" is out of range", v);
	store_uint(x, val);
	return 0;
}

static int parse_percent(struct value *x, const char *v)
{
	char num[16];
	size_t len = strlen(v);
	uint64_t val = 0;
	int err;

	if (len >= sizeof(num))
		return bad(x, "\"%s\" is not a percentage", v);
	memcpy(num, v, len + 1);
	if (len && num[len - 1] == '%')
		num[len - 1] = '\0';
	err = units_parse_uint(num, x->k->min, x->k->max, &val);
	if (err == -ERANGE)
		return bad(x, "\"%s\" is out of range", v);
	if (err)
		return bad(x, "\"%s\" is not a percentage", v);
	store_uint(x, val);
	return 0;
}

static int parse_mask(struct value *x, const char *v)
{
	uint64_t val = 0;
	uint32_t m;
	size_t i;
	int err;

	if ((v[0] == '0') && (v[1] == 'x' || v[1] == 'X')) {
		/* strtoull would accept a sign, blanks and an empty number. */
		if (!v[2])
			return bad(x, "\"%s\" is not a number", v);
		for (i = 2; v[i]; i++)
			if (!isxdigit((unsigned char)v[i]))
				return bad(x, "\"%s\" is not a number", v);
		errno = 0;
		val = strtoull(v + 2, NULL, 16);
		if (errno == ERANGE || val > UINT32_MAX)
			return bad(x, "\"%s\" does not fit in 32 bits", v);
	} else {
		err = units_parse_uint(v, 0, UINT32_MAX, &val);
		if (err == -ERANGE)
			return bad(x, "\"%s\" does not fit in 32 bits", v);
		if (err)
			return bad(x, "\"%s\" is not a number", v);
	}
	m = (uint32_t)val;
	/* The admission values 1..3 are multiples of the lowest set bit:
	 * they need two bits, and every bit between must be ours too. */
	if (!m)
		return bad(x, "\"%s\" has no bits set", v);
	if (!(m & (m - 1)))
		return bad(x, "\"%s\" has a single bit set", v);
	m >>= __builtin_ctz(m);
	if (m & (m + 1))
		return bad(x, "\"%s\" has non-contiguous bits", v);
	store_uint(x, val);
	return 0;
}

static int parse_path(struct value *x, const char *v)
{
	size_t len = strlen(v);

	/* Empty turns off what a path key whose default is empty names. */
	if (!len && !*x->k->def) {
		memset(field(x->cfg, x->k->off), 0, x->k->size);
		return 0;
	}
	if (v[0] != '/')
		return bad(x, "\"%s\" is not an absolute path", v);
	if (len >= x->k->size)
		return bad(x, "the path is %zu characters long", len);
	memcpy(field(x->cfg, x->k->off), v, len + 1);
	return 0;
}

/* A listen address, checked as the agent will bind it; empty is off. */
static int parse_listen(struct value *x, const char *v)
{
	struct sockaddr_storage ss;
	size_t len = strlen(v);
	socklen_t sslen;

	if (len && metrics_http_parse_listen(v, &ss, &sslen, x->why, x->whylen))
		return -EINVAL;
	if (len >= x->k->size)
		return bad(x, "\"%s\" is too long", v);
	memcpy(field(x->cfg, x->k->off), v, len + 1);
	return 0;
}

/* The portable POSIX user and group name characters; names are resolved
 * when the agent starts (the socket's group when the socket is created),
 * so a typo is caught there, not here. */
static int parse_group(struct value *x, const char *v)
{
	const char *what = x->k->type == CONFIG_USER ? "user" : "group";
	size_t len = strlen(v), i;

	if (len >= x->k->size || v[0] == '-')
		return bad(x, "\"%s\" is not a %s name", v, what);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("_.-", v[i]))
			return bad(x, "\"%s\" is not a %s name", v, what);
	memcpy(field(x->cfg, x->k->off), v, len + 1);
	return 0;
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

static int parse_ifname(struct value *x, const char *v)
{
	char (*names)[CONFIG_IFNAMSIZ] = field(x->cfg, x->k->off);
	size_t *n = list_count(x->cfg, x->k);

	if (x->k->has_auto) {
		bool *all = field(x->cfg, x->k->auto_off);

		if (*all || (*n && !strcmp(v, "auto")))
			return bad(x, "\"auto\" cannot be combined with interface names");
		if (!strcmp(v, "auto")) {
			*all = true;
			return 0;
		}
	}
	if (strlen(v) >= CONFIG_IFNAMSIZ)
		return bad(x, "\"%s\" is longer than %d characters", v, CONFIG_IFNAMSIZ - 1);
	if (!valid_ifname(v))
		return bad(x, "\"%s\" is not an interface name", v);
	if (list_room(x))
		return -EINVAL;
	snprintf(names[*n], CONFIG_IFNAMSIZ, "%s", v);
	(*n)++;
	return 0;
}

static int parse_port(struct value *x, const char *v)
{
	struct port_range *ports = field(x->cfg, x->k->off);
	size_t *n = list_count(x->cfg, x->k);
	const char *dash = strchr(v, '-');
	uint64_t lo = 0, hi = 0;
	char num[8];
	size_t len;
	int err;

	len = dash ? (size_t)(dash - v) : strlen(v);
	if (len >= sizeof(num))
		return bad(x, "\"%s\" is not a port or port range", v);
	memcpy(num, v, len);
	num[len] = '\0';
	err = units_parse_uint(num, 1, 65535, &lo);
	if (!err) {
		hi = lo;
		if (dash)
			err = units_parse_uint(dash + 1, 1, 65535, &hi);
	}
	if (err == -ERANGE)
		return bad(x, "\"%s\" is out of range", v);
	if (err)
		return bad(x, "\"%s\" is not a port or port range", v);
	if (lo > hi)
		return bad(x, "\"%s\" has its first port above its last", v);
	if (list_room(x))
		return -EINVAL;
	ports[*n].lo = (uint16_t)lo;
	ports[*n].hi = (uint16_t)hi;
	(*n)++;
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

static int parse_prefix(struct value *x, const char *v)
{
	struct prefix *prefixes = field(x->cfg, x->k->off);
	size_t *n = list_count(x->cfg, x->k);
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
		return bad(x, "\"%s\" is not an IPv4 or IPv6 address", v);
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	p.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	bits = p.family == AF_INET ? 32 : 128;
	bytes = bits / 8;
	if (inet_pton(p.family, addr, p.addr) != 1)
		return bad(x, "\"%s\" is not an IPv4 or IPv6 address", v);
	len = bits;
	if (slash && units_parse_uint(slash + 1, 0, bits, &len))
		return bad(x, "\"%s\" has a prefix length other than 0..%u", v, bits);
	p.len = (uint8_t)len;
	/* Matching ignores host bits anyway, but an operator who wrote them
	 * may have meant a different prefix: say which one this is. */
	memcpy(masked, p.addr, sizeof(masked));
	mask_host_bits(masked, p.len, bytes);
	if (memcmp(masked, p.addr, bytes)) {
		inet_ntop(p.family, masked, net, sizeof(net));
		return bad(x, "\"%s\" has host bits set; write %s/%u", v, net, p.len);
	}
	if (list_room(x))
		return -EINVAL;
	prefixes[(*n)++] = p;
	return 0;
}

/* TABLE[:PROTO]: a routing table by id or rt_tables name, and the route
 * protocol whose routes alone are followed. */
static int parse_route_table(struct value *x, const char *v)
{
	struct route_table_sel *sel = field(x->cfg, x->k->off);
	size_t *n = list_count(x->cfg, x->k);
	const char *colon = strchr(v, ':');
	struct route_table_sel t = { .proto = -1 };
	char name[128];
	uint8_t proto;
	size_t len, i;

	len = colon ? (size_t)(colon - v) : strlen(v);
	if (!len || len >= sizeof(name))
		return bad(x, "\"%s\" names no routing table", v);
	memcpy(name, v, len);
	name[len] = '\0';
	if (rt_names_table(name, &t.table))
		return bad(x, "\"%s\" is neither a table id 1..4294967295 nor a name in "
			   "/etc/iproute2/rt_tables", name);
	if (colon) {
		if (rt_names_proto(colon + 1, &proto))
			return bad(x, "\"%s\" is not a route protocol (0..255 or a name such as "
				   "bird, bgp, static)", colon + 1);
		t.proto = proto;
	}
	for (i = 0; i < *n; i++)
		if (sel[i].table == t.table && sel[i].proto == t.proto)
			return bad(x, "\"%s\" is listed twice", v);
	if (list_room(x))
		return -EINVAL;
	sel[(*n)++] = t;
	return 0;
}

static const parse_fn parsers[] = {
	[CONFIG_BOOL] = parse_bool,
	[CONFIG_ENUM] = parse_enum,
	[CONFIG_UINT] = parse_uint,
	[CONFIG_SIZE] = parse_scaled,
	[CONFIG_PERCENT] = parse_percent,
	[CONFIG_DURATION] = parse_scaled,
	[CONFIG_MASK] = parse_mask,
	[CONFIG_PATH] = parse_path,
	[CONFIG_GROUP] = parse_group,
	[CONFIG_USER] = parse_group,
	[CONFIG_LISTEN] = parse_listen,
	[CONFIG_FLAGS] = parse_flag,
	[CONFIG_IFNAMES] = parse_ifname,
	[CONFIG_PORTS] = parse_port,
	[CONFIG_PREFIXES] = parse_prefix,
	[CONFIG_ROUTE_TABLES] = parse_route_table,
};

_Static_assert(sizeof(parsers) / sizeof(parsers[0]) == CONFIG_ROUTE_TABLES + 1,
	       "a parser per type");

static int parse_list(struct value *x, parse_fn parse, const char *value)
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
			return bad(x, "an entry of %zu characters is too long", n);
		memcpy(tok, p, n);
		tok[n] = '\0';
		err = parse(x, tok);
		if (err)
			return err;
		p += n;
	}
}

bool config_value_is_list(const struct config_key *k)
{
	return k->type >= CONFIG_FLAGS;
}

void config_value_begin(struct fo_config *cfg, const struct config_key *k)
{
	const struct config_word *w;

	if (k->type == CONFIG_FLAGS)
		for (w = k->words; w->word; w++)
			store_bool(cfg, w->value, false);
	else if (config_value_is_list(k))
		*list_count(cfg, k) = 0;
	if (k->has_auto)
		store_bool(cfg, k->auto_off, false);
}

int config_value_parse(struct fo_config *cfg, const struct config_key *k, const char *value,
		       char *why, size_t whylen)
{
	struct value x = { .cfg = cfg, .k = k, .why = why, .whylen = whylen };
	parse_fn parse = parsers[k->type];

	return config_value_is_list(k) ? parse_list(&x, parse, value) : parse(&x, value);
}

/* Entries in a list: the words set, the names or "auto". */
static size_t entries(const struct fo_config *cfg, const struct config_key *k)
{
	const struct config_word *w;
	size_t n = 0;
	bool set;

	if (k->type == CONFIG_FLAGS) {
		for (w = k->words; w->word; w++) {
			memcpy(&set, cfield(cfg, w->value), sizeof(set));
			n += set;
		}
		return n;
	}
	memcpy(&n, cfield(cfg, k->count_off), sizeof(n));
	if (k->has_auto) {
		memcpy(&set, cfield(cfg, k->auto_off), sizeof(set));
		n += set;
	}
	return n;
}

int config_value_finish(const struct fo_config *cfg, const struct config_key *k, char *why,
			size_t whylen)
{
	if (!k->empty || entries(cfg, k))
		return 0;
	snprintf(why, whylen, "%s", k->empty);
	return -EINVAL;
}
