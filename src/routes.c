/* routes: the route watcher: a debounced apply of each role's merged
 * prefixes to the sets, and the lifecycle; the rtnetlink side (route
 * notifications, table dumps) is route_watch.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "backoff.h"
#include "log.h"
#include "loop.h"
#include "nft_plan.h"
#include "nl.h"
#include "prefix_set.h"
#include "routes.h"
#include "routes_int.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

/* A BGP session coming up is tens of thousands of route messages within
 * seconds: a large buffer, and a resync when it overruns anyway. */
#define EVENT_RCVBUF (8u << 20)
/* An apply waits settle after the last change, never more than
 * MAX_DELAY_FACTOR * settle after the first: a table that never stops
 * changing still gets applied. */
#define MAX_DELAY_FACTOR 4
#define RETRY_MAX_MS 60000

static const char *const role_names[ROUTE_ROLES] = { "prefer-hardware", "only", "never" };

static bool enabled(const struct fo_config *cfg)
{
	int i;

	for (i = 0; i < ROUTE_ROLES; i++)
		if (cfg->n_routes[i])
			return true;
	return false;
}

void routes_schedule_apply(struct routes *r)
{
	uint64_t now = loop_now_ms(), settle = r->cfg->routes_settle_ms, deadline;

	if (!r->first_change_ms)
		r->first_change_ms = now;
	if (!r->synced)
		return;		/* the first resync's end applies */
	deadline = r->first_change_ms + MAX_DELAY_FACTOR * settle;
	if (now + settle <= deadline)
		loop_timer_set(r->settle, settle, 0);
	else
		loop_timer_set(r->settle, deadline > now ? deadline - now : 1, 0);
}

/* A route of table changed: every [routes] entry of that table says so. */
void routes_changed(struct routes *r, uint32_t table)
{
	const struct fo_config *cfg = r->cfg;
	size_t i;
	int role;

	r->last_change_ms = loop_now_ms();
	for (role = 0; role < ROUTE_ROLES; role++)
		for (i = 0; i < cfg->n_routes[role]; i++)
			if (cfg->routes[role][i].table == table)
				r->table_change_ms[role][i] = r->last_change_ms;
	routes_schedule_apply(r);
}

/* ---- applying --------------------------------------------------------------- */

struct plan_role {
	struct nft_interval *next;	/* NULL with n_next 0: empty */
	size_t n_next;
	bool apply;			/* next replaces applied */
	struct nft_interval *del, *add;
};

static void count_lag(struct routes *r, uint64_t now)
{
	if (!r->first_change_ms)
		return;
	r->st.lag_last_ms = now - r->first_change_ms;
	if (r->st.lag_last_ms > r->st.lag_max_ms)
		r->st.lag_max_ms = r->st.lag_last_ms;
	r->first_change_ms = 0;
}

/* The updates as one transaction, or past ROUTES_CHUNK intervals per set
 * in chunks (routes_chunk) one transaction each; a chunk refused stops
 * the rest (the caller replaces the sets whole at the next try).  As
 * nft_ruleset_update_sets, with *chunks the transactions committed. */
static int update_chunked(struct routes *r, const struct nft_set_update *u, size_t n,
			  const bool *del_first, char *err, size_t errlen, uint64_t *chunks)
{
	struct nft_set_update *steps;
	struct nft_interval *scratch;
	size_t k = r->chunk / (r->plan->n_hw && r->chunk > 1 ? 2 : 1), n_steps, n_scratch, i, total = 0,
	       size;
	int ret = 0, sent = 0;

	for (i = 0; i < n; i++)
		total += u[i].n_add + (u[i].flush ? 0 : u[i].n_del);
	if (total <= k) {
		ret = nft_ruleset_update_sets(r->nft, r->cfg, r->plan, u, n, err, errlen);
		*chunks += ret > 0;
		if (ret > 0 && total > r->st.largest_chunk)
			r->st.largest_chunk = total;
		return ret;
	}
	routes_chunk_size(u, n, del_first, k, &n_steps, &n_scratch);
	steps = calloc(n_steps + 1, sizeof(*steps));
	scratch = calloc(n_scratch + 1, sizeof(*scratch));
	if (!steps || !scratch) {
		free(steps);
		free(scratch);
		return -ENOMEM;
	}
	n_steps = routes_chunk(u, n, del_first, k, steps, scratch);
	for (i = 0; i < n_steps; i++) {
		ret = nft_ruleset_update_sets(r->nft, r->cfg, r->plan, &steps[i], 1, err, errlen);
		if (ret < 0)
			break;
		*chunks += ret > 0;
		sent = ret > 0 ? 1 : sent;
		size = steps[i].n_add + steps[i].n_del;
		if (ret > 0 && size > r->st.largest_chunk)
			r->st.largest_chunk = size;
	}
	free(steps);
	free(scratch);
	return ret < 0 ? ret : sent;
}

/* 0, or -errno with the failure logged (when due) and counted. */
static int apply(struct routes *r)
{
	struct plan_role p[ROUTE_ROLES][2];
	struct nft_set_update u[4];
	bool del_first[4];
	char err[512] = "";
	size_t n_u = 0, count;
	int role, fam, ret = 0;
	bool full = r->full;

	memset(p, 0, sizeof(p));
	for (role = 0; role < ROUTE_ROLES && !ret; role++)
		for (fam = 0; fam < 2 && !ret; fam++) {
			struct plan_role *q = &p[role][fam];

			count = r->ps.count[role][fam];
			if (count > r->cfg->routes_max) {
				if (!r->over[role][fam])
					log_warn("[routes] %s: %zu IPv%d routes, more than max-prefixes %u; the set keeps its %zu intervals until the tables shrink or max-prefixes grows",
						 role_names[role], count, fam ? 6 : 4, r->cfg->routes_max,
						 r->n_applied[role][fam]);
				r->over[role][fam] = true;
				r->st.over_limit++;
				r->over_count[role]++;
				continue;
			}
			if (r->over[role][fam])
				log_info("[routes] %s: %zu IPv%d routes, within max-prefixes again",
					 role_names[role], count, fam ? 6 : 4);
			r->over[role][fam] = false;
			ret = pset_intervals(&r->ps, role, fam, &q->next, &q->n_next);
			if (ret)
				break;
			q->apply = true;
			/* A role without tables has no set in the ruleset. */
			if (role == ROUTE_PREFER_HW || !r->cfg->manage_ruleset ||
			    !r->cfg->n_routes[role])
				continue;
			ret = routes_diff(r->applied[role][fam], r->n_applied[role][fam], q->next,
				   q->n_next, fam ? 16 : 4, &q->del, &u[n_u].n_del, &q->add,
				   &u[n_u].n_add);
			if (ret)
				break;
			u[n_u].kind = nft_plan_routes_set(role, fam);
			/* Half applied, a set offloads no more than before or after. */
			del_first[n_u] = role == ROUTE_ONLY;
			u[n_u].flush = full;
			u[n_u].del = q->del;
			u[n_u].add = full ? q->next : q->add;
			if (full)
				u[n_u].n_add = q->n_next;
			n_u++;
		}
	if (!ret && n_u)
		ret = update_chunked(r, u, n_u, del_first, err, sizeof(err), &r->st.chunks);
	if (ret < 0) {
		r->st.failures++;
		if (backoff_next_log_due(&r->retry))
			log_err("cannot update the [routes] sets: %s (%llu failures in a row); replacing them whole at the next try",
				err[0] ? err : strerror(-ret),
				(unsigned long long)r->retry.failures + 1);
		r->full = true;
	} else {
		if (ret > 0) {
			r->st.applies++;
			r->st.full_replaces += full;
		}
		r->last_apply_ms = loop_now_ms();
		for (size_t i = 0; i < n_u; i++) {
			r->st.added += u[i].n_add;
			r->st.removed += full ? 0 : u[i].n_del;
		}
		for (role = 0; role < ROUTE_ROLES; role++)
			for (fam = 0; fam < 2; fam++) {
				struct plan_role *q = &p[role][fam];

				if (!q->apply)
					continue;
				free(r->applied[role][fam]);
				r->applied[role][fam] = q->next;
				r->n_applied[role][fam] = q->n_next;
				q->next = NULL;
			}
		r->full = false;
		ret = 0;
	}
	for (role = 0; role < ROUTE_ROLES; role++)
		for (fam = 0; fam < 2; fam++) {
			free(p[role][fam].next);
			free(p[role][fam].del);
			free(p[role][fam].add);
		}
	return ret;
}

static void on_settle(struct loop *l, struct loop_timer *t, void *arg)
{
	struct routes *r = arg;
	uint64_t now = loop_now_ms();

	(void)l;
	(void)t;
	if (!r->synced)
		return;
	if (apply(r)) {
		loop_timer_set(r->settle, backoff_failed(&r->retry), 0);
		return;
	}
	backoff_succeeded(&r->retry);
	count_lag(r, now);
}

/* ---- lifecycle ------------------------------------------------------------- */

/* The notification socket's receive buffer: EVENT_RCVBUF, or for the
 * kernel tests (tests/kernel/agent_routes_overrun.sh) the bytes in
 * FLOWOFFLOAD_TEST_ROUTES_RCVBUF, 1024..EVENT_RCVBUF: a tiny buffer makes
 * an overrun certain. */
static uint64_t event_rcvbuf(void)
{
	const char *v = getenv("FLOWOFFLOAD_TEST_ROUTES_RCVBUF");
	unsigned long long b;
	char *end;

	if (!v || !*v)
		return EVENT_RCVBUF;
	errno = 0;
	b = strtoull(v, &end, 10);
	if (errno || *end || b < 1024 || b > EVENT_RCVBUF) {
		log_warn("FLOWOFFLOAD_TEST_ROUTES_RCVBUF=%s is not 1024..%u bytes; ignored", v,
			 EVENT_RCVBUF);
		return EVENT_RCVBUF;
	}
	log_notice("route notification buffer %llu bytes (FLOWOFFLOAD_TEST_ROUTES_RCVBUF, a test knob)",
		   b);
	return b;
}

/* ROUTES_CHUNK, or for the kernel tests (agent_routes_overrun.sh) the
 * intervals in FLOWOFFLOAD_TEST_ROUTES_CHUNK, 1..ROUTES_CHUNK: a small
 * chunk makes a modest table take many transactions. */
static size_t chunk_size(void)
{
	const char *v = getenv("FLOWOFFLOAD_TEST_ROUTES_CHUNK");
	unsigned long long k;
	char *end;

	if (!v || !*v)
		return ROUTES_CHUNK;
	errno = 0;
	k = strtoull(v, &end, 10);
	if (errno || *end || k < 1 || k > ROUTES_CHUNK) {
		log_warn("FLOWOFFLOAD_TEST_ROUTES_CHUNK=%s is not 1..%u intervals; ignored", v,
			 ROUTES_CHUNK);
		return ROUTES_CHUNK;
	}
	log_notice("route set chunks of %llu intervals (FLOWOFFLOAD_TEST_ROUTES_CHUNK, a test knob)",
		   k);
	return k;
}

int routes_open(struct routes **out, struct loop *l, const struct fo_config *cfg,
		const struct ruleset_plan *plan, struct nft_ruleset *nft)
{
	static const unsigned int groups[] = { RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE };
	const struct nl_opts o = { .bufsize = 32768, .batch = 8, .groups = groups,
				   .n_groups = 2 };
	const struct nl_opts dump_o = { .bufsize = 32768, .batch = 8 };
	struct routes *r;
	int one = 1, ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct routes){ .loop = l, .cfg = cfg, .plan = plan, .nft = nft };
	pset_init(&r->ps);
	backoff_init(&r->retry, RETRY_MS, RETRY_MAX_MS);
	*out = r;
	if (!enabled(cfg))
		return 0;
	r->chunk = chunk_size();
	ret = nl_open(&r->nl, NETLINK_ROUTE, &o);
	if (!ret)
		ret = nl_set_rcvbuf(r->nl, event_rcvbuf(), NULL);
	if (!ret)
		ret = nl_open(&r->dump, NETLINK_ROUTE, &dump_o);
	if (!ret && setsockopt(nl_fd(r->dump), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one,
			       sizeof(one)) < 0)
		ret = -errno;
	if (ret) {
		routes_close(r);
		*out = NULL;
	}
	return ret;
}

int routes_start(struct routes *r)
{
	int ret;

	if (!r->nl)
		return 0;
	ret = loop_add_fd(r->loop, nl_fd(r->nl), EPOLLIN, routes_on_event, r);
	if (!ret)
		ret = loop_add_fd(r->loop, nl_fd(r->dump), EPOLLIN, routes_on_dump, r);
	if (!ret)
		ret = loop_timer_add(r->loop, 0, 0, on_settle, r, &r->settle);
	if (!ret)
		ret = loop_timer_add(r->loop, r->cfg->routes_resync_ms, r->cfg->routes_resync_ms,
				     routes_on_resync, r, &r->resync);
	if (ret)
		return ret;
	routes_start_resync(r);
	return 0;
}

void routes_close(struct routes *r)
{
	int role, fam;

	if (!r)
		return;
	nl_close(r->nl);
	nl_close(r->dump);
	pset_free(&r->ps);
	for (role = 0; role < ROUTE_ROLES; role++)
		for (fam = 0; fam < 2; fam++)
			free(r->applied[role][fam]);
	free(r);
}

void routes_tables_installed(struct routes *r)
{
	if (!r || !r->nl)
		return;
	r->full = true;
	if (r->synced)
		loop_timer_set(r->settle, 1, 0);
}

void routes_reload(struct routes *r)
{
	if (!r)
		return;
	if (!r->nl) {
		if (enabled(r->cfg))
			log_notice("[routes] tables take effect at the next start (none were followed at this one)");
		return;
	}
	r->full = true;
	/* Kept by [routes] position, which a reload may change. */
	memset(r->table_change_ms, 0, sizeof(r->table_change_ms));
	if (r->resync)
		loop_timer_set(r->resync, 1, r->cfg->routes_resync_ms);
}

unsigned int routes_roles(const struct routes *r, uint8_t family, const uint8_t *addr)
{
	int fam = pset_family_index(family), role;
	unsigned int bits = 0;

	if (!r)
		return 0;
	for (role = 0; role < ROUTE_ROLES; role++)
		if (pset_contains(r->applied[role][fam], r->n_applied[role][fam], fam, addr))
			bits |= ROUTES_BIT(role);
	return bits;
}

const struct routes_stats *routes_stats(const struct routes *r)
{
	return &r->st;
}

bool routes_enabled(const struct routes *r)
{
	return r && r->nl;
}

void routes_view(const struct routes *r, struct routes_view *v)
{
	int role, fam;

	memset(v, 0, sizeof(*v));
	if (!r)
		return;
	for (role = 0; role < ROUTE_ROLES; role++) {
		for (fam = 0; fam < 2; fam++) {
			v->routes[role][fam] = r->ps.count[role][fam];
			v->intervals[role][fam] = r->n_applied[role][fam];
			v->over[role][fam] = r->over[role][fam];
		}
		v->over_count[role] = r->over_count[role];
		for (size_t i = 0; i < r->cfg->n_routes[role] && i < CONFIG_MAX_LIST; i++) {
			for (fam = 0; fam < 2; fam++)
				v->table_routes[role][i][fam] =
					pset_table_routes(&r->ps, r->cfg->routes[role][i].table,
							  role, fam);
			v->table_change_ms[role][i] = r->table_change_ms[role][i];
		}
	}
	v->last_change_ms = r->last_change_ms;
	v->last_apply_ms = r->last_apply_ms;
	v->last_resync_ms = r->last_resync_ms;
	v->pending = r->first_change_ms != 0;
}
