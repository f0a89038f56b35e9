/* config_table: the one description of /etc/flowoffload/flowoffload.conf, a row per key
 * (section, name, type, field, range, default, allowed, help) read by all. */
#ifndef FLOWOFFLOAD_CONFIG_TABLE_H
#define FLOWOFFLOAD_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The rows in file order; an id names a row that a check across keys
 * (window-until below window-from) blames. */
enum config_key_id {
	CONFIG_KEY_DEVICES,
	CONFIG_KEY_SW_ONLY,
	CONFIG_KEY_EXCLUDE,
	CONFIG_KEY_PROTOCOLS,
	CONFIG_KEY_WINDOW_FROM,
	CONFIG_KEY_WINDOW_UNTIL,
	CONFIG_KEY_TCP_ACK_ONLY,
	CONFIG_KEY_UDP_REQUIRE_REPLY,
	CONFIG_KEY_MARK_MASK,
	CONFIG_KEY_MIN_AVGPKT,
	CONFIG_KEY_SMALL_WINDOW_FROM,
	CONFIG_KEY_HW_MODE,
	CONFIG_KEY_HW_CAPACITY,
	CONFIG_KEY_HW_WATERMARK,
	CONFIG_KEY_HW_CONFIRM,
	CONFIG_KEY_HW_OVERCOMMIT,
	CONFIG_KEY_SHAPING_POLICY,
	CONFIG_KEY_SKIP_PORTS,
	CONFIG_KEY_SKIP_PREFIXES,
	CONFIG_KEY_ROUTES_PREFER_HW,
	CONFIG_KEY_ROUTES_ONLY,
	CONFIG_KEY_ROUTES_NEVER,
	CONFIG_KEY_ROUTES_MAX,
	CONFIG_KEY_ROUTES_SETTLE,
	CONFIG_KEY_ROUTES_RESYNC,
	CONFIG_KEY_ROUTES_HW_RESERVE,
	CONFIG_KEY_ANALYSIS_LEN4,
	CONFIG_KEY_ANALYSIS_LEN6,
	CONFIG_KEY_ANALYSIS_MAX,
	CONFIG_KEY_CLASSES_LEARN,
	CONFIG_KEY_CLASSES_MAX,
	CONFIG_KEY_CLASSES_HALF_LIFE,
	CONFIG_KEY_CLASSES_MIN_FLOWS,
	CONFIG_KEY_CLASSES_MIN_CLIENTS,
	CONFIG_KEY_CLASSES_MICE_PACKETS,
	CONFIG_KEY_CLASSES_MICE_SHARE,
	CONFIG_KEY_CLASSES_LEARN_WINDOW,
	CONFIG_KEY_CLASSES_WINDOW_HOLD,
	CONFIG_KEY_MAX_FLOWS,
	CONFIG_KEY_STATUS_INTERVAL,
	CONFIG_KEY_RESYNC_INTERVAL,
	CONFIG_KEY_EVENT_BUFFER,
	CONFIG_KEY_SOCKET,
	CONFIG_KEY_SOCKET_GROUP,
	CONFIG_KEY_ADMIN_GROUP,
	CONFIG_KEY_USER,
	CONFIG_KEY_GROUP,
	CONFIG_KEY_KEEP_RULESET,
	CONFIG_KEY_MANAGE_RULESET,
	CONFIG_KEY_EVENTS,
	CONFIG_KEY_METRICS_DIR,
	CONFIG_KEY_METRICS_INTERVAL,
	CONFIG_KEY_METRICS_LISTEN,
	CONFIG_KEY_MAX,
};

enum config_type {
	CONFIG_BOOL,		/* yes/no, true/false, on/off, 1/0, any case */
	CONFIG_ENUM,		/* one of words[], exact case; value stored */
	CONFIG_UINT,		/* a plain decimal in min..max */
	CONFIG_SIZE,		/* k, M, G suffixes (binary), min..max */
	CONFIG_PERCENT,		/* min..max, an optional '%' after it */
	CONFIG_DURATION,	/* ms, s, m, h; min..max milliseconds */
	CONFIG_MASK,		/* hex or decimal, 2 or more contiguous bits */
	CONFIG_PATH,		/* an absolute path that fits the field */
	CONFIG_GROUP,		/* a portable group name that fits the field */
	CONFIG_USER,		/* a portable user name (or uid) that fits the field */
	CONFIG_LISTEN,		/* IPV4:PORT or [IPV6]:PORT, numeric; empty: none */
	/* Lists: entries separated by blanks or commas, continued on
	 * indented lines; given in the file, a list replaces its default. */
	CONFIG_FLAGS,		/* words[]: each sets the bool at its value (offset) */
	CONFIG_IFNAMES,		/* interface names or fnmatch(3) wildcards */
	CONFIG_PORTS,		/* ports and ranges lo-hi */
	CONFIG_PREFIXES,	/* IPv4 and IPv6 prefixes, host bits zero */
	CONFIG_ROUTE_TABLES,	/* routing tables: id or rt_tables name, ":proto" */
};

struct config_word {
	const char *word;
	size_t value;
};

struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	size_t off, size;	/* the field in struct fo_config */
	size_t count_off;	/* lists with an array field: its entry count */
	bool has_auto;		/* the list may be the word "auto" alone */
	size_t auto_off;	/* with has_auto: the bool that says so */
	uint64_t min, max;	/* numbers: the range, in the field's unit */
	const struct config_word *words; /* ENUM, FLAGS; NULL-terminated */
	const char *noun;	/* ENUM, FLAGS: "\"%s\" is not <noun>" */
	const char *empty;	/* a list that must not be empty: the error */
	const char *def;	/* the default, written as in the file */
	const char *allowed;	/* the "allowed:" half of every error */
	/* What the key does and why its default is what it is: prose, two
	 * blanks between sentences (the man page starts each on a line). */
	const char *help;
};

/* A section's own prose, printed above its first key (or NULL). */
const char *config_table_section_help(const char *section);

extern const struct config_key config_keys[CONFIG_KEY_MAX];

/* The row of [section] name, or NULL. */
const struct config_key *config_table_find(const char *section, const char *name);

/* Is name (len bytes, not terminated) a section of the file? */
bool config_table_known_section(const char *name, size_t len);

/* The names of section's keys, blank-separated, in table order. */
void config_table_key_names(const char *section, char *buf, size_t len);

/* The key lines of the example config: each section line and, below it,
 * "name = default" per key, in table order.  Returns 0 or -EIO. */
int config_table_write_keys(FILE *f);

#endif
