/* ruleset_guard: keeps the agent's nftables tables in the kernel: installs
 * them, hears other programs delete them (monitor), checks and restores. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "backoff.h"
#include "log.h"
#include "loop.h"
#include "nft_foreign.h"
#include "nft_monitor.h"
#include "ruleset_guard.h"

/* nftables events handled per wakeup. */
#define NFT_EVENT_BUDGET 256
/* After a deletion in our tables, check (and restore) this much later: one
 * transaction's events arrive together, and a firewall reload may be a few
 * transactions in a row; the check then happens once. */
#define RULESET_CHECK_DELAY_MS 100
/* Something that deletes our tables again each time they are back (a
 * firewall manager that removes tables it does not know) must not make us
 * reinstall in a tight loop: after RESTORE_BURST restores within
 * RESTORE_BURST_MS, restores wait RESTORE_BACKOFF_MS. */
#define RESTORE_BURST 5
#define RESTORE_BURST_MS 10000
#define RESTORE_BACKOFF_MS 5000
/* A check or restore that could not finish is tried again this much later,
 * twice as long after each further failure, up to RETRY_MAX_MS. */
#define RETRY_MS 1000
#define RETRY_MAX_MS 60000

struct ruleset_guard {
	const struct fo_config *cfg;
	const struct ruleset_plan *plan;
	struct loop *loop;
	struct nft_ruleset *nft;
	struct nft_monitor *mon;	/* NULL: polled from the guard's timer */
	struct loop_timer *check;
	struct loop_timer *poll;	/* every status-interval */
	bool edited;			/* rules or sets of ours deleted by others */
	uint64_t event_ms;		/* first deletion the pending check is for */
	uint64_t restore_ms[RESTORE_BURST]; /* the last restores, a ring */
	unsigned int restore_next;
	struct backoff retry;		/* checks and restores that failed */
	struct ruleset_guard_stats st;
	void (*installed)(void *arg);
	void *installed_arg;
	/* Other programs' flowtables on our devices, read again whenever the
	 * ruleset's generation moved (one small request per status-interval
	 * otherwise, from the guard's own timer: the status dumps back off to
	 * 16 intervals while nothing moves, and a firewall that starts
	 * offloading must be heard within an interval or two). */
	struct nft_foreign foreign;
	uint32_t gen;
	bool gen_known;
	ruleset_guard_foreign_cb foreign_cb;
	void *foreign_arg;
};

void ruleset_guard_on_install(struct ruleset_guard *g, void (*cb)(void *arg), void *arg)
{
	g->installed = cb;
	g->installed_arg = arg;
}

static int install(struct ruleset_guard *g, const char *why, bool log)
{
	char err[512] = "";
	int ret;

	ret = nft_ruleset_install(g->nft, g->cfg, g->plan, err, sizeof(err));
	if (ret) {
		g->st.failures++;
		if (log)
			log_err("cannot install the ruleset (%s): %s", why, err[0] ? err : strerror(-ret));
		return ret;
	}
	g->st.installs++;
	if (g->installed)
		g->installed(g->installed_arg);
	return 0;
}

int ruleset_guard_install(struct ruleset_guard *g, const struct fo_config *cfg,
			  const struct ruleset_plan *plan, char *err, size_t errlen)
{
	int ret = nft_ruleset_install(g->nft, cfg, plan, err, errlen);

	if (!ret && nft_ruleset_kept(g->nft))
		log_notice("ruleset changed in place: %u table(s) and flowtable(s) kept with their offloaded flows, chains, sets and rules replaced",
			   nft_ruleset_kept(g->nft));
	else if (!ret)
		log_notice("ruleset installed whole: its tables and flowtables are new (flows offloaded before go back to the slow path)");
	if (!ret)
		g->st.installs++;
	if (!ret && g->installed)
		g->installed(g->installed_arg);
	return ret;
}

static uint64_t check_delay(const struct ruleset_guard *g, uint64_t now)
{
	/* The oldest of the last RESTORE_BURST restores. */
	uint64_t oldest = g->restore_ms[g->restore_next];

	if (oldest && now - oldest < RESTORE_BURST_MS)
		return RESTORE_BACKOFF_MS;
	return RULESET_CHECK_DELAY_MS;
}

static void on_nft_event(enum nft_monitor_object what, const char *table, uint32_t portid,
			 void *arg)
{
	struct ruleset_guard *g = arg;
	uint64_t now, delay;

	if (what != NFT_MON_UNKNOWN) {
		/* Our own installs replace our tables: not an attack. */
		if (portid == nft_ruleset_portid(g->nft))
			return;
		if (strcmp(table, NFT_TABLE_SW) != 0 && strcmp(table, NFT_TABLE_HW) != 0)
			return;
		g->st.events++;
		log_debug("nftables: %s deleted in table inet %s by netlink port %u",
			  nft_monitor_object_str(what), table, portid);
	}
	/* A rule or set deleted from a table that stays is an edit the
	 * presence check cannot see: it calls for a reinstall too. */
	if (what == NFT_MON_RULE || what == NFT_MON_SET || what == NFT_MON_OBJECT)
		g->edited = true;
	if (loop_timer_armed(g->check))
		return;
	now = loop_now_ms();
	delay = check_delay(g, now);
	if (delay != RULESET_CHECK_DELAY_MS)
		log_warn("the agent's tables were restored %d times within %d s and are being deleted again; next check in %llu ms",
			 RESTORE_BURST, RESTORE_BURST_MS / 1000, (unsigned long long)delay);
	g->event_ms = now;
	loop_timer_set(g->check, delay, 0);
}

static void on_nft_monitor(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ruleset_guard *g = arg;
	int ret = nft_monitor_read(g->mon, NFT_EVENT_BUDGET, on_nft_event, g);

	if (ret == -ENOBUFS) {
		log_warn("nftables events lost (receive buffer overrun); checking the agent's tables");
	} else if (ret < 0 && ret != -EAGAIN && ret != -EINTR) {
		/* It would fail again at every wakeup: poll instead, as
		 * without a monitor. */
		log_err("reading nftables events failed: %s; checking the agent's tables every %llu ms instead",
			strerror(-ret), (unsigned long long)g->cfg->status_interval_ms);
		loop_del_fd(l, fd);
		nft_monitor_close(g->mon);
		g->mon = NULL;
		ruleset_guard_recheck(g);
	}
}

/* The check did not finish: what it was for stays pending, and is tried
 * again after a delay that doubles with each failure in a row. */
static void retry_later(struct ruleset_guard *g, uint64_t since, bool edited)
{
	g->event_ms = since;
	g->edited = edited;
	loop_timer_set(g->check, backoff_failed(&g->retry), 0);
}

static void on_check(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ruleset_guard *g = arg;
	uint64_t since = g->event_ms;
	bool edited = g->edited;
	int ret;

	g->event_ms = 0;
	g->edited = false;
	if (since)
		g->st.checks++;
	ret = nft_ruleset_present(g->nft, g->plan);
	if (ret < 0) {
		if (backoff_next_log_due(&g->retry))
			log_warn("cannot check the agent's nftables tables: %s (%llu in a row); will retry",
				 strerror(-ret), (unsigned long long)g->retry.failures + 1);
		retry_later(g, since, edited);
		return;
	}
	if (ret == 1 && !edited) {
		backoff_succeeded(&g->retry);
		return;
	}
	if (install(g, "restore", backoff_next_log_due(&g->retry))) {
		retry_later(g, since, edited);
		return;
	}
	backoff_succeeded(&g->retry);
	g->st.restored++;
	g->restore_ms[g->restore_next] = loop_now_ms();
	g->restore_next = (g->restore_next + 1) % RESTORE_BURST;
	if (since)
		log_warn("the agent's nftables tables were %s by another program (a firewall reload, nft flush ruleset?); restored %llu ms after the first deletion",
			 ret == 0 ? "removed" : "edited",
			 (unsigned long long)(loop_now_ms() - since));
	else
		log_warn("the agent's nftables tables were gone (a firewall reload, nft flush ruleset?); restored");
}

static void devs_str(const struct nft_foreign_ft *f, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < f->n_devs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", f->devs[i]);
}

static bool same_ft(const struct nft_foreign_ft *a, const struct nft_foreign_ft *b)
{
	return a->family == b->family && !strcmp(a->table, b->table) && !strcmp(a->name, b->name);
}

static const struct nft_foreign_ft *find_ft(const struct nft_foreign *f,
					    const struct nft_foreign_ft *x)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (same_ft(&f->ft[i], x))
			return &f->ft[i];
	return NULL;
}

/* Say what changed between the last findings and these, and what to do. */
static void log_foreign(struct ruleset_guard *g, const struct nft_foreign *now)
{
	const struct nft_foreign *was = &g->foreign;
	char devs[256];
	size_t i;

	for (i = 0; i < now->n; i++) {
		const struct nft_foreign_ft *f = &now->ft[i], *old = find_ft(was, f);
		const char *fam = nft_foreign_family_str(f->family);

		/* Said already: a reload that recreates it the same (fw4
		 * does on every reload) is not news. */
		if (old && old->rules == f->rules && old->hw == f->hw && old->n_devs == f->n_devs)
			continue;
		devs_str(f, devs, sizeof(devs));
		if (f->rules) {
			g->st.foreign_warnings++;
			log_warn("table %s %s offloads flows itself: flowtable %s%s hooks %s (devices of ours) and %u rule(s) add flows to it (`flow add @%s`; OpenWrt fw4 puts it first in its forward chain), so flows it takes bypass the agent's window, classes, skips and hardware budget; turn off that firewall's offloading (OpenWrt: uci set firewall.@defaults[0].flow_offloading=0; uci commit firewall; fw4 reload) to let the agent decide, or set [agent] manage-ruleset = no to leave offloading to it",
				 fam, f->table, f->name, f->hw ? " (flags offload)" : "", devs,
				 f->rules, f->name);
		} else {
			log_notice("table %s %s has flowtable %s%s on %s (devices of ours) but no rule adds flows to it",
				   fam, f->table, f->name, f->hw ? " (flags offload)" : "", devs);
		}
		if (f->hw)
			log_warn("table %s %s flowtable %s has flags offload on %s: the agent keeps those devices out of its hardware tier (both would bind the NIC's flow table); turn off that firewall's hardware offloading (OpenWrt: flow_offloading_hw=0) to give the agent the hardware tier",
				 fam, f->table, f->name, devs);
	}
	for (i = 0; i < was->n; i++)
		if (!find_ft(now, &was->ft[i]))
			log_notice("table %s %s flowtable %s is gone from the agent's devices",
				   nft_foreign_family_str(was->ft[i].family), was->ft[i].table,
				   was->ft[i].name);
	if (now->truncated && !was->truncated)
		log_warn("more than %d other flowtables on the agent's devices; only the first %d are reported",
			 NFT_FOREIGN_MAX, NFT_FOREIGN_MAX);
}

int ruleset_guard_scan_foreign(struct ruleset_guard *g)
{
	struct nft_conn *c = nft_ruleset_conn(g->nft);
	struct nft_foreign now;
	uint32_t gen = 0;
	size_t i;
	int ret;

	ret = nft_foreign_gen(c, &gen);
	if (ret)
		return ret;
	if (g->gen_known && gen == g->gen)
		return 0;
	g->st.foreign_scans++;
	ret = nft_foreign_scan(c, g->plan, &now);
	if (ret) {
		/* -EINTR: changed under the dump; the next poll asks again. */
		g->gen_known = false;
		return ret;
	}
	g->gen = gen;
	g->gen_known = true;
	if (nft_foreign_equal(&now, &g->foreign))
		return 0;
	log_foreign(g, &now);
	g->foreign = now;
	g->st.foreign_offloaders = 0;
	for (i = 0; i < now.n; i++)
		g->st.foreign_offloaders += now.ft[i].rules ? 1 : 0;
	if (g->foreign_cb)
		g->foreign_cb(g->foreign_arg, &g->foreign);
	return 0;
}

void ruleset_guard_on_foreign(struct ruleset_guard *g, ruleset_guard_foreign_cb cb, void *arg)
{
	g->foreign_cb = cb;
	g->foreign_arg = arg;
}

const struct nft_foreign *ruleset_guard_foreign(const struct ruleset_guard *g)
{
	return &g->foreign;
}

/* Every status-interval (re-armed from the configuration at each tick, so
 * a reload's new interval applies): without the monitor, check our tables;
 * with manage-ruleset, look for other programs' flowtables. */
static void on_poll(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ruleset_guard *g = arg;
	int ret;

	loop_timer_set(t, g->cfg->status_interval_ms, 0);

	if (!g->mon)
		ruleset_guard_recheck(g);
	/* manage-ruleset = no: the other ruleset is the one meant to offload. */
	if (!g->cfg->manage_ruleset)
		return;
	ret = ruleset_guard_scan_foreign(g);
	if (ret && ret != -EINTR) {
		g->st.foreign_scan_errors++;
		log_debug("reading other tables' flowtables: %s", strerror(-ret));
	}
}

void ruleset_guard_recheck(struct ruleset_guard *g)
{
	/* A check that finds our tables complete costs three small requests. */
	if (g->cfg->manage_ruleset && !loop_timer_armed(g->check))
		loop_timer_set(g->check, 1, 0);
}

int ruleset_guard_open(struct ruleset_guard **out, struct loop *l, struct nft_ruleset *nft,
		       const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	struct ruleset_guard *g;
	int ret;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = cfg;
	g->plan = plan;
	g->loop = l;
	g->nft = nft;
	backoff_init(&g->retry, RETRY_MS, RETRY_MAX_MS);
	ret = cfg->manage_ruleset ? nft_monitor_open(&g->mon) : 0;
	if (ret) {
		log_warn("cannot listen to nftables events (%s); checking the agent's tables every %llu ms instead",
			 strerror(-ret), (unsigned long long)cfg->status_interval_ms);
		g->mon = NULL;
	}
	*out = g;
	return 0;
}

int ruleset_guard_startup(struct ruleset_guard *g)
{
	/* A restarted agent finds its tables in place: replacing them would
	 * evict every offloaded flow, and those past the window's end would
	 * never return to the fast path. */
	if (!g->cfg->manage_ruleset) {
		log_info("manage-ruleset = no: leaving nftables to the operator's ruleset");
		return 0;
	}
	if (nft_ruleset_installed(g->nft, g->cfg, g->plan) == 1) {
		log_info("the ruleset in the kernel is already the one to install; keeping it");
		return 0;
	}
	return install(g, "startup", true);
}

int ruleset_guard_start(struct ruleset_guard *g)
{
	int ret = 0;

	if (g->mon)
		ret = loop_add_fd(g->loop, nft_monitor_fd(g->mon), EPOLLIN, on_nft_monitor, g);
	if (!ret)
		ret = loop_timer_add(g->loop, 0, 0, on_check, g, &g->check);
	if (!ret)
		ret = loop_timer_add(g->loop, g->cfg->status_interval_ms, 0, on_poll, g, &g->poll);
	return ret;
}

void ruleset_guard_close(struct ruleset_guard *g)
{
	if (!g)
		return;
	nft_monitor_close(g->mon);
	free(g);
}

const struct ruleset_guard_stats *ruleset_guard_stats(const struct ruleset_guard *g)
{
	return &g->st;
}
