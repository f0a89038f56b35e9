/* links: the router's network devices from an rtnetlink dump, and the pure
 * selection of the devices the config puts into the flowtables. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <linux/if_arp.h>
#include <linux/if_ether.h>

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

/* IFLA_LINKINFO: the kind, and a VLAN's id and protocol. */
static void parse_linkinfo(const struct nlattr *info, struct link_info *l)
{
	const struct nlattr *a, *d;
	bool vlan = false;

	mnl_attr_for_each_nested (a, info) {
		if (mnl_attr_get_type(a) == IFLA_INFO_KIND &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0) {
			const char *kind = mnl_attr_get_str(a);

			if (!strcmp(kind, "vlan"))
				vlan = true;
			else if (!strcmp(kind, "bridge"))
				l->kind = LINK_BRIDGE;
			else if (!strcmp(kind, "ppp"))
				l->kind = LINK_PPP;
		}
	}
	if (!vlan)
		return;
	l->kind = LINK_VLAN;
	mnl_attr_for_each_nested (a, info) {
		if (mnl_attr_get_type(a) != IFLA_INFO_DATA)
			continue;
		mnl_attr_for_each_nested (d, a) {
			if (mnl_attr_get_type(d) == IFLA_VLAN_ID &&
			    mnl_attr_validate(d, MNL_TYPE_U16) == 0)
				l->vlan_id = mnl_attr_get_u16(d);
			else if (mnl_attr_get_type(d) == IFLA_VLAN_PROTOCOL &&
				 mnl_attr_validate(d, MNL_TYPE_U16) == 0)
				l->vlan_ad = mnl_attr_get_u16(d) == htons(ETH_P_8021AD);
		}
	}
}

int links_parse(const struct nlmsghdr *nlh, struct link_info *l)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const char *name = NULL;
	struct link_info extra = { .kind = LINK_OTHER };
	bool other_netns = false;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return 0;
	/* libmnl walks to the aligned end: an unaligned length is a cut
	 * message (the kernel pads them all). */
	if (nlh->nlmsg_len % NLMSG_ALIGNTO)
		return 0;
	mnl_attr_for_each (a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				name = mnl_attr_get_str(a);
			break;
		case IFLA_LINK:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				extra.lower = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_MASTER:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				extra.master = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINK_NETNSID:
			other_netns = true;
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, &extra);
			break;
		}
	}
	if (!name || !name[0] || strlen(name) >= CONFIG_IFNAMSIZ)
		return 0;
	memset(l, 0, sizeof(*l));
	strcpy(l->name, name);
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->loopback = ifi->ifi_flags & IFF_LOOPBACK;
	l->kind = extra.kind;
	if (ifi->ifi_type == ARPHRD_PPP)
		l->kind = LINK_PPP;
	/* A VLAN's lower device in another namespace is out of reach (and
	 * its ifindex means nothing here); a veth's peer is not a lower. */
	if (l->kind == LINK_VLAN && !other_netns)
		l->lower = extra.lower;
	l->master = extra.master;
	l->vlan_id = extra.vlan_id;
	l->vlan_ad = extra.vlan_ad;
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

/* /proc/net/pppoe: "Id Address Device" per session of this namespace; each
 * session's device goes to every ppp link (see links.h). */
static void read_pppoe(struct link_info *links, size_t n)
{
	char line[256], dev[CONFIG_IFNAMSIZ + 1];
	char devs[LINKS_MAX_PPPOE][CONFIG_IFNAMSIZ];
	size_t nd = 0, i, j;
	FILE *f = fopen("/proc/net/pppoe", "re");

	if (!f)
		return;		/* no pppoe module: no sessions */
	while (fgets(line, sizeof(line), f) && nd < LINKS_MAX_PPPOE) {
		if (sscanf(line, "%*x %*s %16s", dev) != 1 || strlen(dev) >= CONFIG_IFNAMSIZ)
			continue;	/* the header, or a name too long */
		for (j = 0; j < nd && strcmp(devs[j], dev); j++)
			;
		if (j == nd)
			strcpy(devs[nd++], dev);
	}
	fclose(f);
	for (i = 0; i < n; i++)
		if (links[i].kind == LINK_PPP)
			for (j = 0; j < nd; j++)
				strcpy(links[i].pppoe[j], devs[j]);
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
	read_pppoe(d.links, d.n);
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

/* ---- forward paths ----------------------------------------------------- */

/* Bounds the walk: VLAN in VLAN in bridge is three; loops cannot happen in
 * the kernel, but the input is a snapshot taken while devices move. */
#define PATH_DEPTH_MAX 6
/* nf_flow_table keeps two encapsulations (NF_FLOW_TABLE_ENCAP_MAX, 6.1): a
 * deeper path (PPPoE over QinQ) takes the kernel's default path, on the
 * logical device. */
#define PATH_ENCAP_MAX 2

struct resolve {
	const struct fo_config *cfg;
	const struct link_info *links;
	size_t n;
	const char *top;	/* the selected logical device */
	bool *add;		/* by index into links */
	struct links_memory out;
	char *why;
	size_t whylen, off;
};

static const struct link_info *by_index(const struct resolve *r, int ifindex)
{
	size_t i;

	for (i = 0; ifindex > 0 && i < r->n; i++)
		if (r->links[i].ifindex == ifindex)
			return &r->links[i];
	return NULL;
}

static const struct link_info *by_name(const struct resolve *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->links[i].name, name))
			return &r->links[i];
	return NULL;
}

static void say(struct resolve *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct resolve *r, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (!r->why || r->off >= r->whylen)
		return;
	va_start(ap, fmt);
	w = vsnprintf(r->why + r->off, r->whylen - r->off, fmt, ap);
	va_end(ap);
	if (w > 0)
		r->off += (size_t)w;
}

static void remember(struct resolve *r, const char *dev, const char *lower)
{
	size_t i;

	for (i = 0; i < r->out.n; i++)
		if (!strcmp(r->out.pairs[i].dev, dev) && !strcmp(r->out.pairs[i].lower, lower))
			return;
	if (r->out.n == CONFIG_MAX_LIST)
		return;
	strcpy(r->out.pairs[r->out.n].dev, dev);
	strcpy(r->out.pairs[r->out.n].lower, lower);
	r->out.n++;
}

static void bottom(struct resolve *r, const struct link_info *l, const char *chain, int encaps)
{
	if (!strcmp(l->name, r->top))
		return;		/* not a path device: the logical one alone */
	if (encaps > PATH_ENCAP_MAX) {
		say(r, "%s%s: %d encapsulations, the kernel keeps %d: its flows use %s itself\n",
		    r->top, chain, encaps, PATH_ENCAP_MAX, r->top);
		return;
	}
	if (matches_any(r->cfg->exclude, r->cfg->n_exclude, l->name)) {
		say(r, "%s%s: %s is excluded: its flows use %s itself\n", r->top, chain, l->name,
		    r->top);
		return;
	}
	say(r, "%s%s: hooks %s too (the kernel's forward path ends there)\n", r->top, chain,
	    l->name);
	r->add[l - r->links] = true;
	remember(r, r->top, l->name);
}

static void walk(struct resolve *r, const struct link_info *l, const char *chain, int depth,
		 int encaps)
{
	char next[256];
	const struct link_info *low;
	size_t i, j;
	bool any = false;

	if (depth > PATH_DEPTH_MAX)
		return;
	switch (l->kind) {
	case LINK_VLAN:
		low = by_index(r, l->lower);
		if (!low)
			break;
		snprintf(next, sizeof(next), "%s -> VLAN %u%s on %s", chain, l->vlan_id,
			 l->vlan_ad ? " (802.1ad)" : "", low->name);
		walk(r, low, next, depth + 1, encaps + 1);
		return;
	case LINK_BRIDGE:
		for (i = 0; i < r->n; i++) {
			if (r->links[i].master != l->ifindex || &r->links[i] == l)
				continue;
			snprintf(next, sizeof(next), "%s -> bridge port %s", chain, r->links[i].name);
			walk(r, &r->links[i], next, depth + 1, encaps);
			any = true;
		}
		if (any)
			return;
		break;
	case LINK_PPP:
		for (j = 0; j < LINKS_MAX_PPPOE && l->pppoe[j][0]; j++) {
			low = by_name(r, l->pppoe[j]);
			if (!low)
				continue;
			snprintf(next, sizeof(next), "%s -> PPPoE on %s", chain, low->name);
			walk(r, low, next, depth + 1, encaps + 1);
			any = true;
		}
		if (any)
			return;
		break;
	default:
		break;
	}
	bottom(r, l, chain, encaps);
}

size_t links_resolve(const struct fo_config *cfg, const struct link_info *links, size_t n,
		     struct links_memory *mem, char (*sel)[CONFIG_IFNAMSIZ], size_t max,
		     char *why, size_t whylen)
{
	char top[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	struct resolve *r;
	size_t ntop, i, count = 0;
	int last = 0;
	bool have_last = false;

	if (why && whylen)
		why[0] = '\0';
	ntop = links_select(cfg, links, n, top, CONFIG_MAX_LIST);
	r = calloc(1, sizeof(*r));
	if (r)
		r->add = calloc(n ? n : 1, sizeof(*r->add));
	if (!r || !r->add) {
		/* No memory to resolve: the logical devices alone still work
		 * (the kernel's default path). */
		if (r)
			free(r->add);
		free(r);
		for (i = 0; i < ntop && i < max; i++)
			strcpy(sel[i], top[i]);
		return i;
	}
	r->cfg = cfg;
	r->links = links;
	r->n = n;
	r->why = why;
	r->whylen = whylen;
	for (i = 0; i < ntop; i++) {
		const struct link_info *l = by_name(r, top[i]);

		r->add[l - links] = true;
		r->top = l->name;
		walk(r, l, "", 0, 0);
	}
	/* A logical device that is gone keeps the lower devices it had: ppp0
	 * comes back on the same one after a reconnect. */
	for (i = 0; mem && i < mem->n; i++) {
		const struct link_info *low = by_name(r, mem->pairs[i].lower);

		if (by_name(r, mem->pairs[i].dev) || !low ||
		    matches_any(cfg->exclude, cfg->n_exclude, low->name))
			continue;
		if (!r->add[low - links])
			say(r, "%s is gone (re-created on reconnect): keeping its lower device %s\n",
			    mem->pairs[i].dev, low->name);
		r->add[low - links] = true;
		remember(r, mem->pairs[i].dev, low->name);
	}
	if (mem)
		*mem = r->out;
	/* In ifindex order, as links_select. */
	while (count < max) {
		const struct link_info *next = NULL;

		for (i = 0; i < n; i++) {
			if (!r->add[i] || (have_last && links[i].ifindex <= last))
				continue;
			if (!next || links[i].ifindex < next->ifindex)
				next = &links[i];
		}
		if (!next)
			break;
		strcpy(sel[count++], next->name);
		last = next->ifindex;
		have_last = true;
	}
	free(r->add);
	free(r);
	return count;
}

/* ---- route lookups ------------------------------------------------------ */

static int oif_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *a;
	int *oif = arg;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(struct rtmsg))
		return 0;
	mnl_attr_for_each (a, nlh, sizeof(struct rtmsg))
		if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			*oif = (int)mnl_attr_get_u32(a);
	return 0;
}

int links_route_oif(struct nl_sock *s, uint8_t family, const uint8_t *addr,
		    unsigned int timeout_ms)
{
	char req[128] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int oif = 0;

	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = RTM_GETROUTE;
	/* The ACK after the route ends the answer (nl_request waits for it). */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = nl_seq_next(s);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	rtm->rtm_dst_len = family == AF_INET ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, addr);
	if (nl_request(s, nlh, timeout_ms, oif_cb, &oif, NULL))
		return 0;
	return oif;
}
