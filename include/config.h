/* config: /etc/flowoffload/flowoffload.conf (INI, libinih): the defaults, the parser and
 * the validation; every error names file:line, the key and what is allowed. */
#ifndef FLOWOFFLOAD_CONFIG_H
#define FLOWOFFLOAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The build sets it from sysconfdir (mk/install.am). */
/* In a directory of its own: the service's RuntimeDirectory, writable by
 * the agent's user under ProtectSystem=strict (data/flowoffload.service.in). */
#define CONFIG_DEFAULT_SOCKET "/run/flowoffload/flowoffload.sock"
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/flowoffload/flowoffload.conf"
#endif
#define CONFIG_MAX_LIST 64	/* entries in any one list key */
#define CONFIG_IFNAMSIZ 16

enum hw_mode {
	HW_MODE_OFF = 0,
	HW_MODE_AUTO,	/* use devices that accept `flags offload`, say which do not */
	HW_MODE_ON,	/* every offload device must accept it, or refuse to start */
};

/* [shaping] policy: what a shaper on a flow's path does to its tier. */
enum shaping_policy {
	SHAPING_KEEP = 0,	/* off hardware; off the flowtable where its fast
				 * path would skip the shaper (shaping.c) */
	SHAPING_SW_ONLY,	/* off hardware only */
	SHAPING_IGNORE,		/* shapers change nothing */
};

struct port_range {
	uint16_t lo, hi;
};

struct prefix {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t len;		/* prefix length */
	uint8_t addr[16];	/* network byte order, host bits zeroed */
};

/* A kernel routing table followed by [routes], optionally only its routes
 * of one protocol (RTPROT_*). */
struct route_table_sel {
	uint32_t table;		/* RT_TABLE_* id, 1..2^32-1 */
	int16_t proto;		/* RTPROT_* to keep, -1: every protocol */
};

/* The roles a followed table's prefixes play (src/routes.c). */
enum route_role { ROUTE_PREFER_HW, ROUTE_ONLY, ROUTE_NEVER, ROUTE_ROLES };

struct fo_config {
	/* [devices] */
	bool devices_auto;	/* devices = auto */
	size_t n_devices;	/* names or fnmatch(3) wildcards ("eth*") */
	char devices[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	size_t n_sw_only;	/* software-only: never in the hardware flowtable */
	char sw_only[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	size_t n_exclude;	/* exclude: never in any flowtable */
	char exclude[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];

	/* [offload] */
	bool proto_tcp;
	bool proto_udp;
	uint32_t window_from;	/* N: offload on packet N (both directions counted) */
	uint32_t window_until;	/* M: never after packet M */
	bool tcp_ack_only;	/* only a bare ACK (no SYN/FIN/RST) triggers flow add */
	bool udp_require_reply;	/* wait for a reply before admitting UDP */
	uint32_t mark_mask;	/* conntrack mark bits the agent owns */
	uint32_t min_avgpkt;	/* bytes per packet a flow needs at N; 0: no test */
	uint32_t small_window_from; /* packet from which small-packet flows are offloaded;
				     * 0: auto (64, moved into the window) */

	/* [hardware] */
	enum hw_mode hw_mode;
	uint32_t hw_capacity;	/* entries the NIC table holds */
	uint32_t hw_watermark;	/* percent of capacity the agent fills at most */
	enum shaping_policy shaping_policy; /* [shaping] policy */
	uint64_t hw_confirm_ms;	/* a hardware admission not [HW_OFFLOAD] this long
				 * after entering the flowtable failed */
	bool hw_overcommit;	/* admit past the budget; the kernel's re-offer
				 * fills slots as they free */

	/* [skip] */
	size_t n_skip_ports;	/* server (original destination) ports never offloaded */
	struct port_range skip_ports[CONFIG_MAX_LIST];
	size_t n_skip_prefixes;	/* flows with either endpoint inside are never offloaded */
	struct prefix skip_prefixes[CONFIG_MAX_LIST];

	/* [routes] */
	size_t n_routes[ROUTE_ROLES];	/* tables per role */
	struct route_table_sel routes[ROUTE_ROLES][CONFIG_MAX_LIST];
	uint32_t routes_max;		/* routes per role and family, at most */
	uint64_t routes_settle_ms;	/* debounce of route changes */
	uint64_t routes_resync_ms;	/* full dump of the tables */
	uint32_t routes_hw_reserve;	/* percent of the hardware budget only
					 * preferred flows may take */
	uint32_t analysis_len4, analysis_len6;	/* flowoffloadctl prefixes */
	uint32_t analysis_max;		/* prefixes tracked; 0: no analysis */

	/* [classes] */
	bool classes_learn;		/* learn service classes from finished flows */
	uint32_t classes_max;		/* classes tracked at most (memory bound) */
	uint64_t classes_half_life_ms;	/* decay of what was learned */
	uint32_t classes_min_flows;	/* decayed flows before a class gets a verdict */
	uint32_t classes_min_clients;	/* distinct clients a verdict needs; each counts
					 * for at most 1/min-clients of a class */
	uint32_t classes_mice_packets;	/* a finished flow with fewer packets is a mouse */
	uint32_t classes_mice_share;	/* percent of mice that makes a class a mice class */
	bool classes_learn_window;	/* window-from chosen by the cost model */
	uint64_t classes_window_hold_ms; /* at least this long between two changes */

	/* [agent] */
	uint64_t max_flows;
	uint64_t status_interval_ms;	/* offload-status dump period */
	uint64_t resync_interval_ms;	/* full reconciliation dump period */
	uint64_t event_buffer;		/* conntrack event socket receive buffer, bytes */
	char socket_path[108];
	char socket_group[32];		/* empty: root's group */
	char admin_group[32];		/* may reload over the socket; empty: root only */
	char run_user[32];		/* switch to this user at start; empty: stay */
	char run_group[32];		/* its group; empty: the user's primary group */
	bool keep_ruleset;		/* leave the tables in place on exit */
	bool manage_ruleset;		/* install and guard the tables (no: the
					 * operator's own ruleset does) */
	bool events_window;		/* events = window: conntrack events only for
					 * flows that reach the window */
	char metrics_dir[200];		/* textfile directory; empty: no file */
	uint64_t metrics_interval_ms;	/* how often the metrics file is written */
	char metrics_listen[64];	/* scrape endpoint ADDR:PORT; empty: none */
};

void config_defaults(struct fo_config *cfg);

/* Parse path into cfg (defaults first, then the file).  On error returns a
 * negative errno and writes one line to err: "FILE:LINE: [section] key: what
 * is wrong; allowed: ...".  cfg is untouched on error. */
int config_load(const char *path, struct fo_config *cfg, char *err, size_t errlen);

/* Does prefix p contain the address (family, 4 or 16 bytes)? */
bool config_prefix_contains(const struct prefix *p, uint8_t family, const uint8_t *addr);

#endif
