/* shaping: the devices that shape (qdiscs over rtnetlink, followed through
 * RTNLGRP_TC and link notifications) and the shapers on one flow's path. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "ct_parse.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "nl.h"
#include "nft_ruleset.h"
#include "rt_watch.h"
#include "shaping.h"

/*
 * What the kernel's fast paths do with qdiscs (Debian 6.1, measured with
 * tests/kernel/shaping_fast_path_rates.sh, a tbf of 20 Mbit/s):
 *
 *  - The software flowtable transmits through neigh_xmit() on the route's
 *    device (FLOW_OFFLOAD_XMIT_NEIGH): every qdisc of that device and of
 *    the devices under it is passed.  Held on a veth, on a VLAN upper
 *    device (flowtable on the lower or the upper), on a bridge port, on a
 *    bridge whose flowtable hooks only the bridge.
 *  - nft_dev_path_info() switches to direct transmit on the port
 *    (FLOW_OFFLOAD_XMIT_DIRECT) when the forward path crosses a bridge and
 *    the flowtable hooks the port: a qdisc on the bridge is skipped
 *    (measured 420 Mbit/s through a 20 Mbit/s tbf on the bridge).
 *  - `flags offload` makes the transmit direct too, and a flow the NIC
 *    takes never reaches a host qdisc (455 Mbit/s on fonic).
 *  - An ingress redirect to an ifb runs before the netfilter ingress hook,
 *    and the ifb hands the packet back marked to skip classification, which
 *    skips the flowtable's hook as well: that direction takes the slow path,
 *    the ifb's shaper holds (16.7 Mbit/s of 20, 7379 packets through the
 *    forward chain).  Only the hardware tier skips it.
 */

/* Notifications come in bursts (a tc script adds several qdiscs). */
#define SETTLE_MS 100
#define EVENT_BUDGET 256
#define EVENT_BUF (64 * 1024)
#define REQ_TIMEOUT_MS 500
#define MAX_DEPTH 8

/* ---- messages (pure) ---------------------------------------------------------- */

static void copy_str(char *dst, size_t len, const struct nlattr *a)
{
	size_t n = mnl_attr_get_payload_len(a);
	const char *p = mnl_attr_get_payload(a);

	if (n && p[n - 1] == '\0')
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

int shaping_parse_link(const struct nlmsghdr *nlh, struct shaping_dev *d)
{
	const struct ifinfomsg *ifi;
	const struct nlattr *a, *b;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return 0;
	ifi = mnl_nlmsg_get_payload(nlh);
	memset(d, 0, sizeof(*d));
	d->ifindex = ifi->ifi_index;
	mnl_attr_for_each (a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
				copy_str(d->name, sizeof(d->name), a);
			break;
		case IFLA_MASTER:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				d->master = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINK:
			/* A veth names its peer here, in another namespace
			 * maybe: only stacked kinds (below) keep it. */
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				d->lower = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINKINFO:
			if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
				break;
			mnl_attr_for_each_nested (b, a) {
				char kind[16] = "";

				if (mnl_attr_get_type(b) != IFLA_INFO_KIND ||
				    mnl_attr_validate(b, MNL_TYPE_STRING) < 0)
					continue;
				copy_str(kind, sizeof(kind), b);
				d->bridge = !strcmp(kind, "bridge");
				d->ifb = !strcmp(kind, "ifb");
				if (strcmp(kind, "vlan") && strcmp(kind, "macvlan"))
					d->lower = -1;
			}
			break;
		}
	}
	/* Only a VLAN (or macvlan) says its lower device in IFLA_LINK. */
	if (d->lower < 0 || d->lower == d->ifindex)
		d->lower = 0;
	return d->ifindex > 0 && d->name[0];
}

/* cake shapes only with a bandwidth (its default is unlimited). */
static bool cake_has_rate(const struct nlattr *opts)
{
	const struct nlattr *a;

	if (!opts || mnl_attr_validate(opts, MNL_TYPE_NESTED) < 0)
		return false;
	mnl_attr_for_each_nested (a, opts)
		if (mnl_attr_get_type(a) == TCA_CAKE_BASE_RATE64 &&
		    mnl_attr_validate(a, MNL_TYPE_U64) == 0)
			return mnl_attr_get_u64(a) != 0;
	return false;
}

int shaping_parse_qdisc(const struct nlmsghdr *nlh, struct shaping_qdisc *q)
{
	const struct nlattr *a, *opts = NULL;
	const struct tcmsg *tcm;

	if (nlh->nlmsg_type != RTM_NEWQDISC || mnl_nlmsg_get_payload_len(nlh) < sizeof(*tcm))
		return 0;
	tcm = mnl_nlmsg_get_payload(nlh);
	memset(q, 0, sizeof(*q));
	q->ifindex = tcm->tcm_ifindex;
	mnl_attr_for_each (a, nlh, sizeof(*tcm)) {
		if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			copy_str(q->kind, sizeof(q->kind), a);
		else if (mnl_attr_get_type(a) == TCA_OPTIONS)
			opts = a;
	}
	if (!q->kind[0] || q->ifindex <= 0)
		return 0;
	q->root = tcm->tcm_parent == TC_H_ROOT;
	q->ingress = tcm->tcm_parent == TC_H_INGRESS &&
		     (!strcmp(q->kind, "ingress") || !strcmp(q->kind, "clsact"));
	/* Any egress qdisc that limits a rate, root or a class's child (a tbf
	 * under prio); fq_codel, fq, pfifo and the like only schedule. */
	q->shapes = !q->ingress &&
		    (!strcmp(q->kind, "tbf") || !strcmp(q->kind, "htb") ||
		     !strcmp(q->kind, "hfsc") || !strcmp(q->kind, "cbq") ||
		     (!strcmp(q->kind, "cake") && cake_has_rate(opts)));
	return 1;
}

int shaping_set_add(struct shaping_set *s, const struct shaping_dev *d)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct shaping_dev *n = realloc(s->devs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->devs = n;
		s->cap = cap;
	}
	s->devs[s->n++] = *d;
	return 0;
}

void shaping_set_clear(struct shaping_set *s)
{
	s->n = 0;
	s->ifb_shapes = false;
}

const struct shaping_dev *shaping_set_find(const struct shaping_set *s, int ifindex)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->devs[i].ifindex == ifindex)
			return &s->devs[i];
	return NULL;
}

void shaping_set_qdisc(struct shaping_set *s, const struct shaping_qdisc *q)
{
	struct shaping_dev *d = (struct shaping_dev *)shaping_set_find(s, q->ifindex);

	if (!d)
		return;
	if (q->ingress)
		d->ingress = true;
	if (q->shapes && !d->shaper[0]) {
		snprintf(d->shaper, sizeof(d->shaper), "%s", q->kind);
		if (d->ifb)
			s->ifb_shapes = true;
	}
}

bool shaping_dev_shaped(const struct shaping_set *s, const struct shaping_dev *d)
{
	if (d->ifb)
		return false;
	/* Which ifb an ingress redirect targets would take the filters'
	 * actions; an ingress qdisc while some ifb shapes is taken as one. */
	return d->shaper[0] || (d->ingress && s->ifb_shapes);
}

static void note(int *slot, int ifindex)
{
	if (!*slot)
		*slot = ifindex;
}

void shaping_path(const struct shaping_set *s, int egress,
		  bool (*sw_hooked)(const char *name, void *arg), void *arg,
		  struct shaping_verdict *v)
{
	const struct shaping_dev *d = shaping_set_find(s, egress);
	int above = 0;		/* a shaper at or above this point of the stack */
	int depth;
	size_t i;

	for (depth = 0; d && depth < MAX_DEPTH; depth++) {
		if (shaping_dev_shaped(s, d))
			note(&v->off_hw, d->ifindex);
		if (d->shaper[0] && !above)
			above = d->ifindex;
		if (d->bridge) {
			/* The forward path ends on a port: direct transmit
			 * there when the flowtable hooks it, past every
			 * qdisc above.  Which port would take a forwarding
			 * database lookup; any hooked port counts. */
			for (i = 0; i < s->n; i++) {
				const struct shaping_dev *p = &s->devs[i];

				if (p->master != d->ifindex)
					continue;
				if (shaping_dev_shaped(s, p))
					note(&v->off_hw, p->ifindex);
				if (above && sw_hooked && sw_hooked(p->name, arg))
					note(&v->off_sw, above);
			}
			return;
		}
		d = d->lower ? shaping_set_find(s, d->lower) : NULL;
	}
}

/* ---- the watcher -------------------------------------------------------------- */

struct shaping {
	struct loop *loop;
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct rt_watch rt;
	struct loop_timer *settle;
	struct shaping_set set;
	struct shaping_stats st;
};

static void schedule(struct shaping *s)
{
	if (!loop_timer_armed(s->settle))
		loop_timer_set(s->settle, SETTLE_MS, 0);
}

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct shaping_set *set = arg;
	struct shaping_dev d;

	if (!shaping_parse_link(nlh, &d))
		return 0;
	return shaping_set_add(set, &d);
}

static int qdisc_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct shaping_qdisc q;

	if (shaping_parse_qdisc(nlh, &q))
		shaping_set_qdisc(arg, &q);
	return 0;
}

static int dump(struct shaping *s, uint16_t type, size_t hdrlen, nl_msg_cb cb,
		struct shaping_set *set)
{
	char buf[64] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nl_ack ack = { 0 };
	int ret, tries;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	mnl_nlmsg_put_extra_header(nlh, hdrlen);
	for (tries = 0; tries < 3; tries++) {
		nlh->nlmsg_seq = nl_seq_next(s->rt.req);
		nl_drain(s->rt.req);
		ret = nl_request(s->rt.req, nlh, REQ_TIMEOUT_MS, cb, set, &ack);
		if (ret != -EINTR)
			return ret;
		if (type == RTM_GETLINK)
			shaping_set_clear(set);
	}
	return ret;
}

static int read_all(struct shaping *s)
{
	struct shaping_set next = { 0 };
	uint64_t shaped = 0;
	size_t i;
	int ret;

	ret = dump(s, RTM_GETLINK, sizeof(struct ifinfomsg), link_cb, &next);
	if (!ret)
		ret = dump(s, RTM_GETQDISC, sizeof(struct tcmsg), qdisc_cb, &next);
	s->st.reads++;
	if (ret) {
		s->st.failures++;
		free(next.devs);
		log_err("reading qdiscs failed: %s; shapers as last read", strerror(-ret));
		return ret;
	}
	for (i = 0; i < next.n; i++) {
		const struct shaping_dev *old;

		if (!shaping_dev_shaped(&next, &next.devs[i]))
			continue;
		shaped++;
		old = shaping_set_find(&s->set, next.devs[i].ifindex);
		if (!old || !shaping_dev_shaped(&s->set, old))
			log_info("%s shapes (%s%s): flows through it stay off the hardware tier%s",
				 next.devs[i].name,
				 next.devs[i].shaper[0] ? next.devs[i].shaper : "ingress redirect",
				 next.devs[i].shaper[0] ? " qdisc" : " to an ifb",
				 s->cfg->shaping_policy == SHAPING_IGNORE ? " (not: policy ignore)" : "");
	}
	free(s->set.devs);
	s->set = next;
	s->st.shaped_devs = shaped;
	return 0;
}

static void on_settle(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	read_all(arg);
}

static int event_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct shaping *s = arg;

	s->st.events++;
	(void)nlh;
	schedule(s);
	return 0;
}

static void on_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct shaping *s = arg;
	int ret = nl_read(s->rt.nl, EVENT_BUDGET, event_msg, s, NULL);

	(void)events;
	if (ret == -ENOBUFS) {
		schedule(s);
	} else if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
		log_err("reading qdisc notifications failed: %s; shapers are no longer followed",
			strerror(-ret));
		loop_del_fd(l, fd);
	}
}

/* The route's device toward addr: where the flow leaves toward it. */
static int route_oif(struct shaping *s, uint8_t family, const uint8_t *addr)
{
	nl_drain(s->rt.req);
	return links_route_oif(s->rt.req, family, addr, REQ_TIMEOUT_MS);
}

static bool sw_hooked(const char *name, void *arg)
{
	const struct ruleset_plan *p = arg;
	size_t i;

	for (i = 0; i < p->n_sw; i++)
		if (!strcmp(p->sw_devs[i], name))
			return true;
	return false;
}

void shaping_flow(struct shaping *s, const struct ct_info *ct, struct shaping_verdict *v)
{
	int oif;

	memset(v, 0, sizeof(*v));
	if (!s || s->cfg->shaping_policy == SHAPING_IGNORE || !s->st.shaped_devs)
		return;
	s->st.lookups++;
	/* Toward the original source: the reply leaves there; toward the
	 * reply source: the original direction leaves there. */
	oif = route_oif(s, ct->family, ct->orig.src);
	if (oif)
		shaping_path(&s->set, oif, sw_hooked, (void *)s->plan, v);
	oif = route_oif(s, ct->family, ct->reply.src);
	if (oif)
		shaping_path(&s->set, oif, sw_hooked, (void *)s->plan, v);
	if (s->cfg->shaping_policy != SHAPING_KEEP)
		v->off_sw = 0;
	if (v->off_sw)
		s->st.off_sw++;
	else if (v->off_hw)
		s->st.off_hw++;
}

int shaping_open(struct shaping **out, struct loop *l, const struct fo_config *cfg,
		 const struct ruleset_plan *plan)
{
	static const unsigned int groups[] = { RTNLGRP_TC, RTNLGRP_LINK };
	struct nl_opts o = { .bufsize = EVENT_BUF, .batch = 1, .groups = groups, .n_groups = 2 };
	struct shaping *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->cfg = cfg;
	s->plan = plan;
	ret = rt_watch_open(&s->rt, &o);
	if (ret) {
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int shaping_start(struct shaping *s)
{
	int ret = loop_add_fd(s->loop, nl_fd(s->rt.nl), EPOLLIN, on_readable, s);

	if (!ret)
		ret = loop_timer_add(s->loop, 0, 0, on_settle, s, &s->settle);
	if (ret)
		return ret;
	read_all(s);	/* a failure is logged and retried at the next event */
	return 0;
}

void shaping_close(struct shaping *s)
{
	if (!s)
		return;
	rt_watch_close(&s->rt);
	free(s->set.devs);
	free(s);
}

const struct shaping_stats *shaping_stats(const struct shaping *s)
{
	return &s->st;
}

const struct shaping_set *shaping_current(const struct shaping *s)
{
	return &s->set;
}

#define SLOTS 8
static struct {
	int ifindex;
	char name[CONFIG_IFNAMSIZ];
} slots[SLOTS];

unsigned int shaping_slot(int ifindex)
{
	char name[IF_NAMESIZE];
	unsigned int i;

	if (ifindex <= 0)
		return 0;
	for (i = 1; i < SLOTS; i++)
		if (slots[i].ifindex == ifindex)
			return i;
	for (i = 1; i < SLOTS; i++)
		if (!slots[i].ifindex) {
			if (!if_indextoname((unsigned int)ifindex, name))
				snprintf(name, sizeof(name), "if%d", ifindex);
			slots[i].ifindex = ifindex;
			snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
			return i;
		}
	return 0;
}

const char *shaping_slot_name(unsigned int slot)
{
	return slot && slot < SLOTS && slots[slot].ifindex ? slots[slot].name : "";
}
