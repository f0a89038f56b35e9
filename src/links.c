/* links: the router's network devices from an rtnetlink dump, and the pure
 * selection of the devices the config puts into the flowtables. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "config.h"
#include "links.h"
#include "nl.h"

/* A link added or removed during the dump makes the kernel flag it as
 * interrupted; a fresh dump is consistent. */
#define DUMP_ATTEMPTS 5
/* The kernel never fills a dump datagram beyond 32 KiB. */
#define DUMP_BUF_SIZE 32768
/* The kernel answers a link dump at once; this bounds the impossible. */
#define DUMP_TIMEOUT_MS 5000

struct dump {
	struct link_info *links;
	size_t n, cap;
};

/* "1\n" or "0\n" from a sysctl file; a missing file (no IPv6, or the link
 * went away meanwhile) reads as off. */
static bool forwarding_on(const char *family, const char *name)
{
	char path[128], buf[8] = "";
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding", family, name) >=
	    (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] != '0';
}

int links_parse(const struct nlmsghdr *nlh, struct link_info *l)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const char *name = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return 0;
	/* libmnl walks to the aligned end: an unaligned length is a cut
	 * message (the kernel pads them all). */
	if (nlh->nlmsg_len % NLMSG_ALIGNTO)
		return 0;
	mnl_attr_for_each (a, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(a) == IFLA_IFNAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
	}
	if (!name || !name[0] || strlen(name) >= CONFIG_IFNAMSIZ)
		return 0;
	memset(l, 0, sizeof(*l));
	strcpy(l->name, name);
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->loopback = ifi->ifi_flags & IFF_LOOPBACK;
	return 1;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct link_info l;

	if (!links_parse(nlh, &l))
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct link_info *p = realloc(d->links, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->links = p;
		d->cap = cap;
	}
	l.forwarding = forwarding_on("ipv4", l.name) || forwarding_on("ipv6", l.name);
	d->links[d->n++] = l;
	return 0;
}

/* One socket per attempt: the rest of an interrupted dump dies with it
 * instead of being read as the start of the next one. */
static int dump_once(struct dump *d)
{
	struct nl_opts o = { .bufsize = DUMP_BUF_SIZE, .batch = 1 };
	char req[128] __attribute__((aligned(8)));
	struct nl_sock *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int ret;

	ret = nl_open(&nl, NETLINK_ROUTE, &o);
	if (ret)
		return ret;
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = nl_seq_next(nl);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	/* Statistics are most of a link message and we need none of them. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	/* -EINTR: the kernel flagged the dump inconsistent. */
	ret = nl_request(nl, nlh, DUMP_TIMEOUT_MS, link_cb, d, NULL);
	nl_close(nl);
	return ret;
}

static int by_ifindex(const void *a, const void *b)
{
	const struct link_info *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

int links_list(struct link_info **out, size_t *n)
{
	struct dump d = { NULL, 0, 0 };
	int ret = -EINTR, attempt;

	for (attempt = 0; attempt < DUMP_ATTEMPTS && ret == -EINTR; attempt++) {
		d.n = 0;
		ret = dump_once(&d);
	}
	if (ret) {
		free(d.links);
		return ret;
	}
	/* The kernel dumps in hash order, not ifindex order. */
	if (d.n)
		qsort(d.links, d.n, sizeof(*d.links), by_ifindex);
	*out = d.links;
	*n = d.n;
	return 0;
}

static bool matches_any(const char (*patterns)[CONFIG_IFNAMSIZ], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n && i < CONFIG_MAX_LIST; i++)
		if (fnmatch(patterns[i], name, 0) == 0)
			return true;
	return false;
}

static bool selected(const struct fo_config *cfg, const struct link_info *l)
{
	if (matches_any(cfg->exclude, cfg->n_exclude, l->name))
		return false;
	if (cfg->devices_auto)
		return l->up && l->forwarding && !l->loopback;
	return matches_any(cfg->devices, cfg->n_devices, l->name);
}

size_t links_select(const struct fo_config *cfg, const struct link_info *links, size_t n,
		    char (*sel)[CONFIG_IFNAMSIZ], size_t max)
{
	size_t count = 0, i;
	int last = 0;
	bool have_last = false;

	/* Selection sort by ifindex without copying or allocating: the input
	 * is small (tens of links) and this function must stay pure. */
	while (count < max) {
		const struct link_info *next = NULL;

		for (i = 0; i < n; i++) {
			const struct link_info *l = &links[i];

			if (have_last && l->ifindex <= last)
				continue;
			if (next && l->ifindex >= next->ifindex)
				continue;
			if (!l->name[0] || strnlen(l->name, CONFIG_IFNAMSIZ) == CONFIG_IFNAMSIZ)
				continue;
			if (!selected(cfg, l))
				continue;
			next = l;
		}
		if (!next)
			break;
		strcpy(sel[count++], next->name);
		last = next->ifindex;
		have_last = true;
	}
	return count;
}

bool links_is_sw_only(const struct fo_config *cfg, const char *name)
{
	return matches_any(cfg->sw_only, cfg->n_sw_only, name);
}
