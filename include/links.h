/* links: the router's network devices (rtnetlink) and which of them the
 * config puts into the flowtables: a list, wildcards, or auto. */
#ifndef FLOWOFFLOAD_LINKS_H
#define FLOWOFFLOAD_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct link_info {
	char name[CONFIG_IFNAMSIZ];
	int ifindex;
	bool up;
	bool loopback;
	bool forwarding;	/* IPv4 or IPv6 forwarding enabled on it */
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

/* Pure: is name in the config's software-only list (names or wildcards)? */
bool links_is_sw_only(const struct fo_config *cfg, const char *name);

#endif
