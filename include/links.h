/* links: the router's network devices (rtnetlink) and which of them the
 * config puts into the flowtables: a list, wildcards, or auto. */
#ifndef FLOWOFFLOAD_LINKS_H
#define FLOWOFFLOAD_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The devices the kernel's forward-path discovery (dev_fill_forward_path,
 * 6.1) walks through toward the device a flow's packets really enter on. */
enum link_kind {
	LINK_OTHER = 0,
	LINK_VLAN,		/* 802.1Q or 802.1ad, on the device `lower` */
	LINK_BRIDGE,		/* its ports are the links whose master it is */
	LINK_PPP,		/* PPPoE sessions on the devices in pppoe[] */
};

#define LINKS_MAX_PPPOE 4

struct link_info {
	char name[CONFIG_IFNAMSIZ];
	int ifindex;
	bool up;
	bool loopback;
	bool forwarding;	/* IPv4 or IPv6 forwarding enabled on it */
	enum link_kind kind;
	int lower;		/* VLAN: the ifindex it tags on (IFLA_LINK) */
	int master;		/* the ifindex of its bridge (or bond, VRF) */
	unsigned int vlan_id;
	bool vlan_ad;		/* 802.1ad (QinQ's service tag) */
	/* PPP: the devices of this namespace's PPPoE sessions
	 * (/proc/net/pppoe, which does not say which ppp unit each feeds:
	 * with several sessions each ppp device gets all of them). */
	char pppoe[LINKS_MAX_PPPOE][CONFIG_IFNAMSIZ];
};

/* A logical device and a device its forward path ends on, kept from one
 * resolution to the next: while ppp0 is gone (a PPPoE reconnect creates a
 * new one), its lower device stays hooked. */
struct links_lower {
	char dev[CONFIG_IFNAMSIZ];
	char lower[CONFIG_IFNAMSIZ];
};

struct links_memory {
	struct links_lower pairs[CONFIG_MAX_LIST];
	size_t n;
};

/* Pure: an RTM_NEWLINK message into *l (all but forwarding, which is read
 * from /proc): 1, or 0 for a message that is not a usable link. */
struct nlmsghdr;
int links_parse(const struct nlmsghdr *nlh, struct link_info *l);
/* All links of this network namespace (rtnetlink dump).  *out is malloc'd. */
int links_list(struct link_info **out, size_t *n);

/* Pure: the devices the config selects from the given links, in ifindex
 * order: `auto` takes up, forwarding, non-loopback links; a list takes
 * names and fnmatch(3) wildcards of existing links; `exclude` always wins.
 * Returns the count written to sel (at most max). */
size_t links_select(const struct fo_config *cfg, const struct link_info *links, size_t n,
		    char (*sel)[CONFIG_IFNAMSIZ], size_t max);

/* Pure: links_select, plus the devices the selected ones' packets really
 * enter on, where the kernel's forward path reaches them: a VLAN's lower
 * device (through QinQ), a bridge's ports, a PPPoE session's device, each
 * followed down to the end.  The flowtable needs the logical device (the
 * kernel's default path: the route's device) or the one below (the
 * forward path, used when that device is in the flowtable): both are
 * hooked, so either way is fast.  mem (may be NULL) carries lower devices
 * over from the previous call for logical devices that are gone; it is
 * updated.  why (may be NULL) receives one line per resolved path.
 * Returns the count written to sel (at most max), in ifindex order. */
size_t links_resolve(const struct fo_config *cfg, const struct link_info *links, size_t n,
		     struct links_memory *mem, char (*sel)[CONFIG_IFNAMSIZ], size_t max,
		     char *why, size_t whylen);

/* Pure: is name in the config's software-only list (names or wildcards)? */
bool links_is_sw_only(const struct fo_config *cfg, const char *name);

struct nl_sock;

/* The output device of the kernel's route toward addr (a full-length
 * RTM_GETROUTE on the rtnetlink socket s, answered by its ACK within
 * timeout_ms): where a flow leaves toward addr, and on a router that routes
 * symmetrically where packets from addr come in.  0 when there is none or
 * no answer. */
int links_route_oif(struct nl_sock *s, uint8_t family, const uint8_t *addr,
		    unsigned int timeout_ms);

#endif
