/* route_watch: the rtnetlink side of routes.c: route notifications and
 * table dumps read in the loop into the followed routes (prefix_set). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "log.h"
#include "loop.h"
#include "nl.h"
#include "prefix_set.h"
#include "routes.h"
#include "routes_int.h"

#define EVENT_BUDGET 512
#define DUMP_BUDGET 2048
/* An overrun or a failed dump: one resync this much later. */
#define RESYNC_SOON_MS 100

/* The role a route of table and protocol plays, or -1. */
static int role_of(const struct fo_config *cfg, uint32_t table, uint8_t proto)
{
	const struct route_table_sel *s;
	size_t i;
	int r;

	for (r = 0; r < ROUTE_ROLES; r++)
		for (i = 0; i < cfg->n_routes[r]; i++) {
			s = &cfg->routes[r][i];
			if (s->table == table && (s->proto < 0 || s->proto == proto))
				return r;
		}
	return -1;
}

/* ---- route messages --------------------------------------------------------- */

/* A route message into its key; false for what no table holds as a prefix
 * (cloned IPv6 cache entries, local/broadcast/multicast types). */
static bool parse_route(const struct nlmsghdr *nlh, struct pset_route *out, uint8_t *proto)
{
	const struct rtmsg *rtm;
	const struct nlattr *a;
	unsigned int bytes, i;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return false;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return false;
	if (rtm->rtm_flags & RTM_F_CLONED)
		return false;
	switch (rtm->rtm_type) {
	case RTN_UNICAST:
	case RTN_BLACKHOLE:
	case RTN_UNREACHABLE:
	case RTN_PROHIBIT:
		break;
	default:
		return false;
	}
	bytes = rtm->rtm_family == AF_INET ? 4 : 16;
	if (rtm->rtm_dst_len > bytes * 8)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = rtm->rtm_family;
	out->len = rtm->rtm_dst_len;
	out->tos = rtm->rtm_tos;
	out->table = rtm->rtm_table;
	*proto = rtm->rtm_protocol;
	mnl_attr_for_each (a, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:	/* ids past 255: rtm_table says RT_TABLE_COMPAT */
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				out->table = mnl_attr_get_u32(a);
			break;
		case RTA_PRIORITY:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				out->priority = mnl_attr_get_u32(a);
			break;
		case RTA_DST:
			if (mnl_attr_get_payload_len(a) != bytes)
				return false;
			memcpy(out->addr, mnl_attr_get_payload(a), bytes);
			break;
		}
	}
	/* The kernel keeps host bits zero; be sure, the intervals rely on it. */
	for (i = out->len; i < bytes * 8; i++)
		out->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return true;
}

/* One route message, from a notification or a dump. */
static int route_msg(struct routes *r, const struct nlmsghdr *nlh, bool dump)
{
	struct pset_route rt;
	uint8_t proto;
	int role, ret;

	if (nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE)
		return 0;
	if (!dump)
		r->st.events++;
	if (!parse_route(nlh, &rt, &proto)) {
		r->st.events_ignored += !dump;
		return 0;
	}
	role = role_of(r->cfg, rt.table, proto);
	if (nlh->nlmsg_type == RTM_DELROUTE || role < 0) {
		/* A route replaced by one of another protocol leaves too. */
		if (pset_del(&r->ps, &rt))
			routes_changed(r, rt.table);
		else
			r->st.events_ignored += !dump;
		return 0;
	}
	rt.role = (uint8_t)role;
	ret = pset_add(&r->ps, &rt, r->gen);
	if (ret < 0)
		return ret;
	if (ret)
		routes_changed(r, rt.table);
	return 0;
}

static int event_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct routes *r = arg;

	if (!nlh) {	/* a datagram cut by the buffer: lost */
		r->st.overruns++;
		loop_timer_set(r->resync, RESYNC_SOON_MS, r->cfg->routes_resync_ms);
		return 0;
	}
	return route_msg(r, nlh, false);
}

void routes_on_event(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct routes *r = arg;
	int ret = nl_read(r->nl, EVENT_BUDGET, event_msg, r, NULL);

	(void)events;
	if (ret == -ENOBUFS) {
		if (r->st.overruns++ == 0 || backoff_log_due(&r->retry))
			log_warn("route notifications lost (receive buffer overrun); dumping the followed tables again");
		loop_timer_set(r->resync, RESYNC_SOON_MS, r->cfg->routes_resync_ms);
	} else if (ret == -ENOMEM) {
		log_err("out of memory following routes; dumping the tables again later");
		loop_timer_set(r->resync, RETRY_MS, r->cfg->routes_resync_ms);
	} else if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
		log_err("reading route notifications failed: %s; the tables are now only dumped every %llu ms",
			strerror(-ret), (unsigned long long)r->cfg->routes_resync_ms);
		loop_del_fd(l, fd);
	}
}

/* ---- dumps ------------------------------------------------------------------ */

static void add_dump(struct routes *r, uint8_t family, uint32_t table)
{
	size_t i;

	for (i = 0; i < r->n_dumps; i++)
		if (r->dump_family[i] == family && r->dump_table[i] == table)
			return;
	if (r->n_dumps < MAX_DUMPS) {
		r->dump_family[r->n_dumps] = family;
		r->dump_table[r->n_dumps++] = table;
	}
}

/* One dump of one table and family; the kernel filters by table (strict
 * checking, 4.20+), so a full main table costs nothing here. */
static int send_dump(struct routes *r)
{
	char buf[128] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	uint32_t table = r->dump_table[r->dump_next];
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = r->dump_seq = nl_seq_next(r->dump);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = r->dump_family[r->dump_next];
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	return nl_send(r->dump, nlh, nlh->nlmsg_len);
}

void routes_start_resync(struct routes *r)
{
	const struct route_table_sel *s;
	size_t i;
	int role, ret;

	if (r->dumping) {
		r->again = true;
		return;
	}
	r->n_dumps = 0;
	r->dump_next = 0;
	for (role = 0; role < ROUTE_ROLES; role++)
		for (i = 0; i < r->cfg->n_routes[role]; i++) {
			s = &r->cfg->routes[role][i];
			add_dump(r, AF_INET, s->table);
			add_dump(r, AF_INET6, s->table);
		}
	r->gen++;
	r->again = false;
	if (!r->n_dumps) {
		/* No table left (a reload): everything goes. */
		if (pset_sweep(&r->ps, r->gen)) {
			r->last_change_ms = loop_now_ms();
			routes_schedule_apply(r);
		}
		r->synced = true;
		return;
	}
	nl_drain(r->dump);
	ret = send_dump(r);
	if (ret) {
		r->st.dump_errors++;
		log_err("cannot dump routing table %u: %s", r->dump_table[0], strerror(-ret));
		loop_timer_set(r->resync, RETRY_MS, r->cfg->routes_resync_ms);
		return;
	}
	r->dumping = true;
}

static void resync_done(struct routes *r)
{
	size_t swept = pset_sweep(&r->ps, r->gen);

	r->dumping = false;
	r->st.resyncs++;
	r->st.resync_swept += swept;
	r->last_resync_ms = loop_now_ms();
	if (!r->synced) {
		r->synced = true;
		r->full = true;
	}
	if (swept)
		r->last_change_ms = r->last_resync_ms;
	/* Compare with what is applied whatever the dump found: the dump is
	 * the safety net for changes the notifications did not tell. */
	routes_schedule_apply(r);
	if (r->again)
		routes_start_resync(r);
}

static void dump_failed(struct routes *r, int err)
{
	r->dumping = false;
	r->st.dump_errors++;
	if (backoff_log_due(&r->retry) || r->st.dump_errors == 1)
		log_warn("dump of routing table %u (%s) failed: %s; trying again",
			 r->dump_table[r->dump_next],
			 r->dump_family[r->dump_next] == AF_INET ? "IPv4" : "IPv6", strerror(-err));
	loop_timer_set(r->resync, err == -EINTR ? RESYNC_SOON_MS : RETRY_MS,
		       r->cfg->routes_resync_ms);
}

static int dump_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct routes *r = arg;
	struct nl_ack ack;
	int err;

	if (!nlh)
		return -ENOBUFS;
	if (nlh->nlmsg_seq != r->dump_seq)
		return 0;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		return -EINTR;	/* the table changed during the dump: again */
	switch (nlh->nlmsg_type) {
	case NLMSG_ERROR:
		if (nl_ack_parse(nlh, &ack))
			return -EBADMSG;
		err = ack.error;
		break;
	case NLMSG_DONE:
		err = nl_done_error(nlh);
		break;
	default:
		return route_msg(r, nlh, true);
	}
	/* A table nothing was ever put in does not exist yet: empty. */
	if (err && err != -ENOENT)
		return err;
	if (++r->dump_next < r->n_dumps) {
		err = send_dump(r);
		return err ? err : 0;
	}
	return NL_STOP;
}

void routes_on_dump(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct routes *r = arg;
	bool stopped = false;
	int ret;

	(void)l;
	(void)fd;
	(void)events;
	if (!r->dumping) {
		nl_drain(r->dump);
		return;
	}
	ret = nl_read(r->dump, DUMP_BUDGET, dump_msg, r, &stopped);
	if (stopped) {
		resync_done(r);
		return;
	}
	if (ret < 0 && ret != -EAGAIN && ret != -EINTR)
		dump_failed(r, ret);
	else if (ret == -EINTR)
		dump_failed(r, -EINTR);
}

void routes_on_resync(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	routes_start_resync(arg);
}
