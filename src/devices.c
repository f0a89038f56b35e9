/* devices: the device watcher: rtnetlink link and forwarding notifications,
 * a debounced recompute of the selection, and in-place flowtable updates. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <net/if.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "backoff.h"
#include "ct_parse.h"
#include "devices.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "nl.h"
#include "plan.h"
#include "rt_watch.h"
#include "ruleset_guard.h"

/*
 * A device coming or going is a burst of notifications within a few
 * milliseconds (created, renamed by udev, up, carrier, forwarding); a
 * PPPoE reconnect deletes ppp0 and creates it again.  The selection is
 * recomputed SETTLE_MS after the last one, so a burst is one transaction,
 * but never later than MAX_DELAY_MS after the first: a link that keeps
 * flapping still gets its set applied, and a re-created device is back in
 * its flowtable well within a second of coming up (the dump, the probes
 * and the batch take tens of milliseconds).
 */
#define SETTLE_MS 200
#define MAX_DELAY_MS 500
/* A recompute or transaction that failed is tried again this much later,
 * twice as long after each further failure, up to RETRY_MAX_MS; its 1st,
 * 2nd, 4th... failure in a row is logged. */
#define RETRY_MS 1000
#define RETRY_MAX_MS 60000
/* Notifications handled per wakeup; a link message is about 1.5 KiB. */
#define EVENT_BUDGET 64
#define EVENT_BUF 16384

struct devices {
	struct loop *loop;
	const struct fo_config *cfg;
	struct ruleset_plan *plan;
	struct nft_ruleset *nft;
	struct ruleset_guard *guard;
	void (*changed)(void *arg);
	void *arg;
	struct rt_watch rt;		/* req: route lookups of devices_path_fast */
	struct loop_timer *settle;	/* the debounced recompute */
	struct loop_timer *verify;	/* the periodic read-back */
	uint64_t first_event_ms;	/* first event of the pending burst, 0: none */
	struct link_info *links;	/* the last dump, to tell noise from change */
	size_t n_links;
	struct devices_kernel kernel;
	struct links_memory mem;	/* lower devices of logical ones that went */
	char why[2048];			/* the last resolution's paths, logged on change */
	struct backoff retry;		/* failed recomputes and updates */
	bool quiet;			/* this attempt's failure goes unlogged */
	struct devices_stats st;
};

static void schedule(struct devices *d)
{
	uint64_t now = loop_now_ms(), deadline;

	if (!d->first_event_ms)
		d->first_event_ms = now;
	deadline = d->first_event_ms + MAX_DELAY_MS;
	if (now + SETTLE_MS <= deadline)
		loop_timer_set(d->settle, SETTLE_MS, 0);
	else
		loop_timer_set(d->settle, deadline > now ? deadline - now : 1, 0);
}

static const struct link_info *cached(const struct devices *d, int ifindex)
{
	size_t i;

	for (i = 0; i < d->n_links; i++)
		if (d->links[i].ifindex == ifindex)
			return &d->links[i];
	return NULL;
}

/* Does the message change what links_select reads?  Wireless drivers send
 * RTM_NEWLINK for every scan and association: those change nothing. */
static bool relevant(const struct devices *d, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi;
	const struct link_info *old;
	struct link_info l;

	switch (nlh->nlmsg_type) {
	case RTM_NEWNETCONF:
	case RTM_DELNETCONF:
		return true;	/* forwarding switched on or off somewhere */
	case RTM_DELLINK:
		if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
			return false;
		ifi = mnl_nlmsg_get_payload(nlh);
		return cached(d, ifi->ifi_index) != NULL;
	case RTM_NEWLINK:
		if (!links_parse(nlh, &l))
			return false;
		old = cached(d, l.ifindex);
		/* A port joining a bridge, a VLAN's lower: the paths change. */
		return !old || strcmp(old->name, l.name) || old->up != l.up ||
		       old->loopback != l.loopback || old->master != l.master ||
		       old->lower != l.lower || old->kind != l.kind;
	default:
		return false;
	}
}

static int event_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct devices *d = arg;

	if (!nlh) {		/* a datagram cut by the buffer: lost */
		d->st.overruns++;
		schedule(d);
		return 0;
	}
	d->st.events++;
	if (relevant(d, nlh))
		schedule(d);
	else
		d->st.events_ignored++;
	return 0;
}

static void on_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct devices *d = arg;
	int ret = nl_read(d->rt.nl, EVENT_BUDGET, event_msg, d, NULL);

	(void)events;
	if (ret == -ENOBUFS) {
		d->st.overruns++;
		log_warn("link notifications lost (receive buffer overrun); recomputing the devices");
		schedule(d);
	} else if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
		/* It would fail at every wakeup: the read-back timer stays. */
		log_err("reading link notifications failed: %s; devices are now only checked every %llu ms",
			strerror(-ret), (unsigned long long)d->cfg->status_interval_ms);
		loop_del_fd(l, fd);
	}
}

/* ---- reconciling ---------------------------------------------------------- */

static bool in_list(const char (*devs)[CONFIG_IFNAMSIZ], size_t n, const char *dev)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(devs[i], dev))
			return true;
	return false;
}

static bool same_set(const char (*a)[CONFIG_IFNAMSIZ], size_t na,
		     const char (*b)[CONFIG_IFNAMSIZ], size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (!in_list(b, nb, a[i]))
			return false;
	return true;
}

static bool plans_equal(const struct ruleset_plan *a, const struct ruleset_plan *b)
{
	return same_set(a->sw_devs, a->n_sw, b->sw_devs, b->n_sw) &&
	       same_set(a->hw_devs, a->n_hw, b->hw_devs, b->n_hw);
}

static void devs_str(const char (*devs)[CONFIG_IFNAMSIZ], size_t n, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", devs[i]);
}

/* Planned devices (still wanted) the kernel's flowtable lacks: dropped by
 * the kernel with their device (nft_flowtable_event, 6.1), or by someone. */
static void count_missing(struct devices *d, const struct ruleset_plan *want, bool after_event)
{
	const struct ruleset_plan *k = &d->kernel.devs;
	size_t i;

	for (i = 0; i < d->plan->n_sw; i++) {
		const char *dev = d->plan->sw_devs[i];

		if (in_list(k->sw_devs, k->n_sw, dev) || !in_list(want->sw_devs, want->n_sw, dev))
			continue;
		if (after_event) {
			d->st.readded++;
			log_info("flowtable inet %s: %s came back (re-created); adding it again",
				 NFT_TABLE_SW, dev);
		} else {
			d->st.repairs++;
			log_warn("flowtable inet %s: planned device %s is missing in the kernel (removed by another program?); adding it again",
				 NFT_TABLE_SW, dev);
		}
	}
}

static int read_kernel(struct devices *d)
{
	int ret = nft_ruleset_read_devices(d->nft, &d->kernel.devs);

	d->kernel.present = ret;
	d->kernel.read_ms = loop_now_ms();
	return ret < 0 ? ret : 0;
}

/* Bring the kernel's flowtables to want; 0 or -errno (logged). */
static int apply(struct devices *d, const struct ruleset_plan *want, bool after_event)
{
	char err[512] = "", sw[256], hw[256];
	int ret;

	if (!d->cfg->manage_ruleset)
		return 0;
	ret = read_kernel(d);
	if (ret) {
		if (!d->quiet)
			log_err("cannot read the flowtables' devices: %s", strerror(-ret));
		return ret;
	}
	if (!(d->kernel.present & NFT_RULESET_SW)) {
		/* Our table is gone: the guard restores it with the plan. */
		ruleset_guard_recheck(d->guard);
		return 0;
	}
	count_missing(d, want, after_event);
	ret = nft_ruleset_update_devices(d->nft, d->cfg, &d->kernel.devs, d->kernel.present, want,
					 err, sizeof(err));
	if (ret == -ENOENT) {
		ruleset_guard_recheck(d->guard);
		return 0;
	}
	if (ret < 0) {
		if (!d->quiet)
			log_err("cannot update the flowtables' devices: %s (%llu failures in a row)",
				err[0] ? err : strerror(-ret),
				(unsigned long long)d->retry.failures + 1);
		return ret;
	}
	if (ret > 0) {
		d->st.updates++;
		devs_str(want->sw_devs, want->n_sw, sw, sizeof(sw));
		devs_str(want->hw_devs, want->n_hw, hw, sizeof(hw));
		log_info("flowtables updated in place (%d device change(s)): software { %s }, hardware { %s }",
			 ret, sw, hw);
		read_kernel(d);
	}
	return 0;
}

static void count_delta(struct devices *d, const struct ruleset_plan *want)
{
	size_t i;

	for (i = 0; i < want->n_sw; i++)
		if (!in_list(d->plan->sw_devs, d->plan->n_sw, want->sw_devs[i]))
			d->st.added++;
	for (i = 0; i < d->plan->n_sw; i++)
		if (!in_list(want->sw_devs, want->n_sw, d->plan->sw_devs[i]))
			d->st.removed++;
}

/* A fresh dump and selection; 0, 1 when it matched nothing, or -errno. */
static int recompute(struct devices *d, struct ruleset_plan *want)
{
	char err[512] = "";
	FILE *notes;
	int ret;

	free(d->links);
	d->links = NULL;
	d->n_links = 0;
	ret = links_list(&d->links, &d->n_links);
	if (ret) {
		if (!d->quiet)
			log_err("cannot list network devices: %s", strerror(-ret));
		return ret;
	}
	d->st.recomputes++;
	notes = fmemopen(d->why, sizeof(d->why), "w");
	ret = plan_from_links(d->cfg, d->links, d->n_links, &d->mem, want, d->cfg->manage_ruleset,
			      notes, err, sizeof(err));
	if (notes)
		fclose(notes);
	else
		d->why[0] = '\0';
	d->why[sizeof(d->why) - 1] = '\0';	/* fmemopen leaves a full buffer open */
	if (ret == -ENODEV) {
		/* An empty flowtable offloads nothing either, and keeping the
		 * last set lets the devices in it come back as they were. */
		if (d->st.empty++ == 0 || d->plan->n_sw)
			log_warn("%s; keeping the flowtables' devices as they are", err);
		return 1;
	}
	if (ret && !d->quiet)
		log_err("devices: %s; keeping the flowtables' devices as they are", err);
	return ret;
}

/* How the devices were resolved, one log line per path. */
static void log_why(const struct devices *d)
{
	const char *p = d->why, *nl;

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		log_info("devices: %.*s", (int)(nl - p), p);
		p = *nl ? nl + 1 : nl;
	}
}

static void on_settle(struct loop *l, struct loop_timer *t, void *arg)
{
	struct devices *d = arg;
	bool after_event = d->first_event_ms != 0;
	struct ruleset_plan want;
	int ret;

	(void)l;
	(void)t;
	d->first_event_ms = 0;
	d->quiet = !backoff_next_log_due(&d->retry);
	ret = recompute(d, &want);
	if (ret == 1) {
		backoff_succeeded(&d->retry);
		return;
	}
	if (!ret)
		ret = apply(d, &want, after_event);
	if (ret) {
		d->st.failures++;
		loop_timer_set(d->settle, backoff_failed(&d->retry), 0);
		return;
	}
	backoff_succeeded(&d->retry);
	if (d->st.recomputes == 1)
		log_why(d);	/* the paths at start */
	if (plans_equal(&want, d->plan))
		return;
	d->st.set_changes++;
	count_delta(d, &want);
	if (d->st.recomputes > 1)
		log_why(d);
	*d->plan = want;
	if (d->changed)
		d->changed(d->arg);
}

/* The periodic read-back: the truth for status, and a repair when a
 * planned device is missing with no link event to explain it. */
static void on_verify(struct loop *l, struct loop_timer *t, void *arg)
{
	struct devices *d = arg;
	const struct ruleset_plan *k = &d->kernel.devs;

	(void)l;
	(void)t;
	if (!d->cfg->manage_ruleset || loop_timer_armed(d->settle))
		return;
	if (read_kernel(d) || !(d->kernel.present & NFT_RULESET_SW))
		return;
	if (plans_equal(k, d->plan) &&
	    !!(d->kernel.present & NFT_RULESET_HW) == (d->plan->n_hw > 0))
		return;
	/* Something differs: the full path, with the reason counted there. */
	loop_timer_set(d->settle, 1, 0);
}

/* ---- a flow's path ---------------------------------------------------------- */

/* The kernel answers a route lookup at once; this bounds the impossible
 * (the loop waits meanwhile). */
#define ROUTE_TIMEOUT_MS 100

static bool dev_hooked(struct devices *d, int ifindex, bool hw)
{
	const struct ruleset_plan *k = &d->kernel.devs;
	char name[IF_NAMESIZE] = "";
	const struct link_info *l = cached(d, ifindex);

	if (l)
		snprintf(name, sizeof(name), "%s", l->name);
	else if (!if_indextoname((unsigned int)ifindex, name))
		return false;
	return hw ? in_list(k->hw_devs, k->n_hw, name) : in_list(k->sw_devs, k->n_sw, name);
}

/*
 * The kernel hooks the flowtable on devices, and `flow add` does not look
 * at them: a flow whose packets enter on a device outside the flowtable is
 * [OFFLOAD] in conntrack while those packets take the slow path (a device
 * excluded, or re-created and not yet back).  nft_flow_route takes a
 * direction's ingress device from the route back toward its source; the
 * same lookups, from here.  Without a read-back (manage-ruleset = no) the
 * kernel's word stands.
 */
bool devices_path_fast(struct devices *d, const struct ct_info *ct, bool hw)
{
	int in_orig, in_reply;

	if (!d || !d->cfg->manage_ruleset || d->kernel.present <= 0)
		return true;
	in_orig = links_route_oif(d->rt.req, ct->family, ct->orig.src, ROUTE_TIMEOUT_MS);
	in_reply = links_route_oif(d->rt.req, ct->family, ct->reply.src, ROUTE_TIMEOUT_MS);
	if (!in_orig || !in_reply)
		return true;	/* no answer is no evidence */
	if (dev_hooked(d, in_orig, hw) && dev_hooked(d, in_reply, hw))
		return true;
	d->st.path_slow++;
	return false;
}

/* ---- lifecycle ------------------------------------------------------------- */

int devices_open(struct devices **out, struct loop *l, const struct fo_config *cfg,
		 struct ruleset_plan *plan, struct nft_ruleset *nft, struct ruleset_guard *guard,
		 void (*changed)(void *arg), void *arg)
{
	static const unsigned int groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_NETCONF,
					       RTNLGRP_IPV6_NETCONF };
	struct nl_opts o = { .bufsize = EVENT_BUF, .batch = 1, .groups = groups, .n_groups = 3 };
	struct devices *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct devices){ .loop = l, .cfg = cfg, .plan = plan, .nft = nft, .guard = guard,
			       .changed = changed, .arg = arg };
	backoff_init(&d->retry, RETRY_MS, RETRY_MAX_MS);
	ret = rt_watch_open(&d->rt, &o);
	if (ret) {
		free(d);
		return ret;
	}
	*out = d;
	return 0;
}

int devices_start(struct devices *d)
{
	uint64_t every = d->cfg->status_interval_ms;
	int ret;

	ret = loop_add_fd(d->loop, nl_fd(d->rt.nl), EPOLLIN, on_readable, d);
	if (!ret)
		ret = loop_timer_add(d->loop, 0, 0, on_settle, d, &d->settle);
	if (!ret)
		ret = loop_timer_add(d->loop, every, every, on_verify, d, &d->verify);
	if (ret)
		return ret;
	/* The first pass: a kept table's devices (the fingerprint leaves
	 * them out) and anything that changed since the plan was made. */
	on_settle(d->loop, d->settle, d);
	return 0;
}

void devices_close(struct devices *d)
{
	if (!d)
		return;
	rt_watch_close(&d->rt);
	free(d->links);
	free(d);
}

const struct devices_stats *devices_stats(const struct devices *d)
{
	return &d->st;
}

const struct devices_kernel *devices_kernel(const struct devices *d)
{
	return &d->kernel;
}
