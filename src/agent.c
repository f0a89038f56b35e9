/* agent: the daemon's lifecycle: open every module of the data flow in
 * order, run the loop, reload the config on SIGHUP, stop and clean up. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>

#include "agent.h"
#include "agent_int.h"
#include "commands.h"
#include "config.h"
#include "ct_admit.h"
#include "ct_sync.h"
#include "ctl.h"
#include "devices.h"
#include "prefix_stats.h"
#include "routes.h"
#include "flows.h"
#include "instance.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mice_set.h"
#include "window_apply.h"
#include "metrics_http.h"
#include "nft_foreign.h"
#include "nft_ruleset.h"
#include "plan.h"
#include "privs.h"
#include "ruleset_guard.h"
#include "sd_notify.h"
#include "shaping.h"
#include "tracker.h"

/* The only capability the running daemon keeps: nftables transactions,
 * conntrack mark updates, event group membership and SO_RCVBUFFORCE all
 * check CAP_NET_ADMIN, at the time of each request. */
#define KEPT_CAPS (1ULL << CAP_NET_ADMIN)

/* A reload re-plans and may probe every device for hardware offload (up to
 * 10 s each) inside the loop: over the socket, at most one per interval. */
#define RELOAD_MIN_INTERVAL_MS 5000

/* The tracker's mark writer: the admission socket. */
static int set_mark(void *arg, const struct ct_info *ct, uint32_t value, uint32_t mask,
		    char *err, size_t errlen)
{
	struct agent *a = arg;

	return ct_admit_set_mark(a->adm, ct, value, mask, err, errlen);
}

/* A status dump ended: control requests that waited for it are answered. */
static void flows_read(void *arg)
{
	struct agent *a = arg;

	if (a->ctl)
		ctl_resume(a->ctl);
}

/* The device watcher changed the plan in place: what a reload compares
 * against is the ruleset as it now stands. */
static void devices_changed(void *arg)
{
	struct agent *a = arg;
	char *text = NULL;

	if (nft_ruleset_render(&a->cfg, &a->plan, &text) == 0) {
		free(a->rendered);
		a->rendered = text;
	}
	/* The hardware table may have come (or gone) with the devices. */
	routes_tables_installed(a->routes);
	mice_set_tables_installed(a->mice);
}

/* The tracker's path check: the device watcher's read-back and routes. */
static bool path_fast(void *arg, const struct ct_info *ct, bool hw)
{
	struct agent *a = arg;

	return devices_path_fast(a->devs, ct, hw);
}

/* The tracker's [routes] roles: any of the four addresses counts, as in
 * the ruleset's set lookups (under NAT the reply tuple holds the real
 * server or client). */
static unsigned int route_roles(void *arg, const struct ct_info *ct)
{
	struct agent *a = arg;

	return routes_roles(a->routes, ct->family, ct->orig.src) |
	       routes_roles(a->routes, ct->family, ct->orig.dst) |
	       routes_roles(a->routes, ct->family, ct->reply.src) |
	       routes_roles(a->routes, ct->family, ct->reply.dst);
}

/* flowoffloadctl prefixes: the remote end is the reply's source (the
 * real server under DNAT). */
static void flow_finished(void *arg, const struct ct_info *ct, bool hw)
{
	struct agent *a = arg;

	if (a->pstats.slots)
		pstats_observe(&a->pstats, ct->family, ct->reply.src, ct->bytes[0] + ct->bytes[1], hw,
			       loop_now_ms());
}

/* Our tables were installed anew: their [routes] and mice sets are empty. */
static void tables_installed(void *arg)
{
	struct agent *a = arg;

	routes_tables_installed(a->routes);
	mice_set_tables_installed(a->mice);
}

/* [classes] learn-window: the ruleset with window-from w, one transaction
 * (the reinstall a reload of that key would make). */
static int window_change(void *arg, uint32_t w, char *err, size_t errlen)
{
	struct agent *a = arg;
	uint32_t old = a->cfg.window_from;
	char *text = NULL;
	int ret;

	if (!a->cfg.manage_ruleset) {
		snprintf(err, errlen, "[agent] manage-ruleset = no: the window is not ours");
		return -EPERM;
	}
	a->cfg.window_from = w;
	ret = nft_ruleset_render(&a->cfg, &a->plan, &text);
	if (ret)
		snprintf(err, errlen, "cannot render the ruleset: %s", strerror(-ret));
	else
		ret = ruleset_guard_install(a->guard, &a->cfg, &a->plan, err, errlen);
	if (ret) {
		a->cfg.window_from = old;
		free(text);
		return ret;
	}
	free(a->rendered);
	a->rendered = text;
	return 0;
}

/* The tracker's mice classes: skipped by the kernel's set, no mark. */
static bool mice_in_set(void *arg, const struct ct_info *ct)
{
	struct agent *a = arg;

	return mice_set_contains(a->mice, ct);
}

/* The tracker's shaper check: the qdisc watcher and routes. */
static void flow_shaped(void *arg, const struct ct_info *ct, int *off_hw, int *off_sw)
{
	struct agent *a = arg;
	struct shaping_verdict v;

	shaping_flow(a->shaping, ct, &v);
	*off_hw = v.off_hw;
	*off_sw = v.off_sw;
}

/* manage-ruleset = no: the operator's ruleset does the offloading and the
 * agent only tracks, reports and marks.  It cannot know which devices of
 * that ruleset offload to hardware, so it keeps no hardware tier. */
static int external_ruleset(struct fo_config *cfg)
{
	if (!cfg->manage_ruleset)
		cfg->hw_mode = HW_MODE_OFF;
	return 0;
}

/* ---- other programs' flowtables --------------------------------------------- */

/* Devices whose NIC another table's `flags offload` flowtable binds stay
 * in software here: each flowtable binds the driver's flow block and adds
 * its own entries, and the NIC's one table would serve two masters. */
static void uncontest(struct agent *a, struct ruleset_plan *plan, bool log)
{
	const struct nft_foreign *f = a->guard ? ruleset_guard_foreign(a->guard) : NULL;
	const struct nft_foreign_ft *by;
	size_t i;

	if (!f)
		return;
	for (i = 0; log && i < plan->n_hw; i++) {
		by = nft_foreign_hw_on(f, plan->hw_devs[i]);
		if (by)
			log_warn("hardware tier: %s refused, table %s %s flowtable %s offloads it to hardware already; software only",
				 plan->hw_devs[i], nft_foreign_family_str(by->family), by->table,
				 by->name);
	}
	a->hw_contested = nft_foreign_drop_hw(plan, f);
}

/* The other flowtables changed: re-plan the hardware tier when a device of
 * ours is now contested, or one left out before may be free. */
static void foreign_changed(void *arg, const struct nft_foreign *f)
{
	struct agent *a = arg;
	struct ruleset_plan plan;
	char err[512] = "", *text = NULL;
	bool contested = false;
	size_t i;
	int ret;

	if (!a->cfg.manage_ruleset || a->cfg.hw_mode == HW_MODE_OFF)
		return;
	for (i = 0; i < a->plan.n_hw && !contested; i++)
		contested = nft_foreign_hw_on(f, a->plan.hw_devs[i]) != NULL;
	if (!contested && !a->hw_contested)
		return;
	ret = plan_build(&a->cfg, &plan, true, NULL, err, sizeof(err));
	if (!ret) {
		uncontest(a, &plan, true);
		ret = nft_ruleset_render(&a->cfg, &plan, &text);
		if (ret)
			snprintf(err, sizeof(err), "cannot render the ruleset: %s", strerror(-ret));
	}
	if (!ret && strcmp(text, a->rendered) != 0)
		ret = ruleset_guard_install(a->guard, &a->cfg, &plan, err, sizeof(err));
	if (ret) {
		free(text);
		log_err("re-planning the hardware tier after another table's flowtable changed: %s",
			err[0] ? err : strerror(-ret));
		return;
	}
	if (strcmp(text, a->rendered) != 0)
		log_notice("hardware tier re-planned: %zu device(s) in hardware, %zu left to another table's flowtable",
			   plan.n_hw, a->hw_contested);
	a->plan = plan;
	free(a->rendered);
	a->rendered = text;
}

/* ---- reload ---------------------------------------------------------------- */

/* Load, check, plan, render and (if it changed) install the new config;
 * 0 or -errno with the reason in err. */
static int reload_prepare(struct agent *a, struct fo_config *cfg, struct ruleset_plan *plan,
			  char **text, char *err, size_t errlen)
{
	int ret;

	ret = config_load(a->config_path, cfg, err, errlen);
	if (!ret && cfg->manage_ruleset != a->cfg.manage_ruleset) {
		snprintf(err, errlen, "[agent] manage-ruleset changes only at a restart");
		ret = -EINVAL;
	}
	if (!ret && cfg->events_window != a->cfg.events_window) {
		snprintf(err, errlen, "[agent] events changes only at a restart");
		ret = -EINVAL;
	}
	if (!ret)
		ret = external_ruleset(cfg);
	if (!ret)
		ret = plan_build(cfg, plan, cfg->manage_ruleset, NULL, err, errlen);
	if (!ret) {
		uncontest(a, plan, false);
		ret = nft_ruleset_render(cfg, plan, text);
		if (ret)
			snprintf(err, errlen, "cannot render the ruleset: %s", strerror(-ret));
	}
	if (!ret && cfg->manage_ruleset && (!a->rendered || strcmp(*text, a->rendered) != 0))
		ret = ruleset_guard_install(a->guard, cfg, plan, err, errlen);
	return ret;
}

/* What changes for the running modules, told before the agent takes cfg. */
static void reload_tell(struct agent *a, const struct fo_config *cfg)
{
	tracker_reconfigure(a->trk, cfg);
	if (cfg->mark_mask != a->cfg.mark_mask)
		log_warn("mark-mask changed from 0x%08x to 0x%08x: flows admitted before keep the old bits",
			 a->cfg.mark_mask, cfg->mark_mask);
	if (cfg->proto_tcp != a->cfg.proto_tcp || cfg->proto_udp != a->cfg.proto_udp)
		ct_sync_attach_filter(a->sync, cfg);
	if (cfg->event_buffer != a->cfg.event_buffer || cfg->max_flows != a->cfg.max_flows ||
	    cfg->udp_require_reply != a->cfg.udp_require_reply ||
	    strcmp(cfg->socket_path, a->cfg.socket_path) ||
	    strcmp(cfg->socket_group, a->cfg.socket_group) ||
	    strcmp(cfg->admin_group, a->cfg.admin_group) ||
	    strcmp(cfg->run_user, a->cfg.run_user) || strcmp(cfg->run_group, a->cfg.run_group) ||
	    strcmp(cfg->metrics_listen, a->cfg.metrics_listen))
		log_notice("event-buffer, max-flows, udp-require-reply's event subscription, socket, socket-group, admin-group, user, group and metrics-listen take effect at the next start");
}

/* Control-socket reloads (out set) are rate-limited; SIGHUP, root's, not. */
static int reload_too_soon(struct agent *a, FILE *out)
{
	uint64_t now = loop_now_ms();

	if (!out)
		return 0;
	if (a->ctl_reload_ms && now - a->ctl_reload_ms < RELOAD_MIN_INTERVAL_MS) {
		a->st.reload_rate_limited++;
		fprintf(out, "reload refused: the last one was %llu ms ago and reloads over the socket are limited to one per %d s; try again in %llu ms\n",
			(unsigned long long)(now - a->ctl_reload_ms), RELOAD_MIN_INTERVAL_MS / 1000,
			(unsigned long long)(RELOAD_MIN_INTERVAL_MS - (now - a->ctl_reload_ms)));
		return -EBUSY;
	}
	a->ctl_reload_ms = now;
	return 0;
}

static int reload(void *arg, FILE *out)
{
	struct agent *a = arg;
	struct ruleset_plan plan;
	struct fo_config cfg;
	char err[512], *text = NULL;
	int ret;

	ret = reload_too_soon(a, out);
	if (ret)
		return ret;
	sd_notify_reloading(a->notify);
	ret = reload_prepare(a, &cfg, &plan, &text, err, sizeof(err));
	if (ret) {
		agent_notify_ready(a);
		a->st.reload_failures++;
		free(text);
		log_err("reload refused, the running configuration stays: %s", err);
		if (out)
			fprintf(out, "reload refused, the running configuration stays: %s\n", err);
		return ret;
	}
	reload_tell(a, &cfg);
	a->cfg = cfg;
	a->plan = plan;
	free(a->rendered);
	a->rendered = text;
	ct_sync_reconfigure(a->sync);
	routes_reload(a->routes);
	mice_set_reload(a->mice);
	window_apply_reload(a->window);
	if (agent_metrics_schedule(a))
		log_err("cannot schedule the metrics file");
	a->st.reloads++;
	agent_notify_ready(a);
	log_info("configuration %s reloaded", a->config_path);
	if (out)
		fprintf(out, "reloaded %s\n", a->config_path);
	return 0;
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct agent *a = arg;

	if (signo == SIGHUP) {
		reload(a, NULL);
		return;
	}
	log_info("signal %d: shutting down", signo);
	loop_stop(l);
}

/* ---- start and stop ---------------------------------------------------------- */

static struct agent *agent_new(const struct agent_options *opt, const struct fo_config *cfg)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = *cfg;
	if (!a->cfg.manage_ruleset && a->cfg.hw_mode != HW_MODE_OFF)
		log_notice("manage-ruleset = no: the operator's ruleset offloads; no hardware tier");
	external_ruleset(&a->cfg);
	a->config_path = opt->config_path;
	a->foreground = opt->foreground;
	a->keep_ruleset_opt = opt->keep_ruleset;
	a->user_opt = opt->user;
	a->group_opt = opt->group;
	a->started_ms = loop_now_ms();
	a->exit_code = 1;
	a->lock_fd = -1;
	a->cmds = (struct commands_ctx){
		.cfg = &a->cfg,
		.config_path = a->config_path,
		.plan = &a->plan,
		.agent = &a->st,
		.started_ms = a->started_ms,
		.reload = reload,
		.reload_arg = a,
	};
	return a;
}

/* The loop, the lock and the control socket: a second agent stops here,
 * before it has touched anything.  0, or -1 after logging why. */
static int open_front(struct agent *a)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	int ret;

	ret = loop_create(&a->loop);
	if (!ret)
		ret = loop_signals(a->loop, sigs, 3, on_signal, a);
	if (ret)
		return -1;
	a->lock_fd = instance_lock(a->cfg.socket_path);
	if (a->lock_fd < 0)
		return -1;
	/* Before the capabilities go; a bad $NOTIFY_SOCKET is the manager's
	 * problem (it times out), not a reason to leave the router unserved. */
	ret = sd_notify_open(&a->notify);
	if (ret)
		log_err("NOTIFY_SOCKET: %s; the service manager will not hear from us",
			strerror(-ret));
	ret = ctl_open(&a->ctl, a->loop, &(struct ctl_options){
				.path = a->cfg.socket_path,
				.group = a->cfg.socket_group,
				.admin_group = a->cfg.admin_group,
				.handler = commands_handle,
				.arg = &a->cmds,
			});
	if (ret == -EADDRINUSE) {
		log_err("another flowoffloadd answers on %s; not starting (nothing was changed)",
			a->cfg.socket_path);
		return -1;
	}
	if (ret) {
		log_err("control socket %s: %s", a->cfg.socket_path, strerror(-ret));
		return -1;
	}
	a->cmds.ctl = ctl_stats(a->ctl);
	return agent_metrics_http_open(a);
}

/* The user to become, from -u or the config; resolved before anything is
 * touched, so a typo stops the start with nothing changed. */
static int lookup_user(struct agent *a)
{
	const char *user = a->user_opt ? a->user_opt : a->cfg.run_user;
	const char *group = a->user_opt ? a->group_opt : a->cfg.run_group;
	char err[512] = "";

	if (privs_user_lookup(user, group, &a->user, err, sizeof(err))) {
		log_err("%s; not starting (nothing was changed)", err);
		return -1;
	}
	return 0;
}

/*
 * Root (uid 0 and every capability) is needed only up to here: the lock
 * file and the control socket are made in root-owned directories (/run),
 * the socket is given its group (chown), and the config is read.  All
 * that follows (the hardware probe, the ruleset install, the conntrack
 * sockets, the startup dump, repairs and reloads) is netlink, which the
 * kernel checks against CAP_NET_ADMIN at each request and at joining an
 * event group, not against the uid.  So the switch to the configured user
 * and the drop to CAP_NET_ADMIN come first: no reply from the kernel is
 * ever parsed by a process with more.  The lock file goes to the user,
 * who may be started directly next time (systemd User=).
 */
static int drop_privileges(struct agent *a)
{
	char err[512] = "";
	int ret;

	if (a->user.set && geteuid() == 0 && a->lock_fd >= 0 &&
	    fchown(a->lock_fd, a->user.uid, a->user.gid))
		log_warn("lock file %s.lock: giving it to user %s: %s", a->cfg.socket_path,
			 a->user.name, strerror(errno));
	ret = privs_drop(KEPT_CAPS, &a->user, err, sizeof(err));
	if (ret) {
		log_err("cannot drop privileges: %s; not running with more than needed%s", err,
			a->user.set && geteuid() != 0 ?
				" (start it as root, or as that user with CAP_NET_ADMIN)" : "");
		return -1;
	}
	log_info("running as uid %u gid %u%s, capabilities: CAP_NET_ADMIN only (CapEff %016llx), no new privileges",
		 (unsigned int)getuid(), (unsigned int)getgid(),
		 a->user.set ? "" : " (no [agent] user set)",
		 (unsigned long long)privs_effective());
	return 0;
}

/* Plan, tracker, ruleset, conntrack sockets and the startup dump, in the
 * order of the data flow.  0; -errno for "startup failed"; 1 when the
 * reason is logged already. */
static int open_data_flow(struct agent *a)
{
	static const struct tracker_ops ops_tmpl = { set_mark,	    NULL,	 path_fast,
						       route_roles, flow_finished, flow_shaped,
						       mice_in_set };
	struct tracker_ops ops = ops_tmpl;
	char err[512] = "";
	int ret;

	ret = plan_build(&a->cfg, &a->plan, a->cfg.manage_ruleset, NULL, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		return 1;
	}
	plan_log_sw_only(&a->cfg, &a->plan);
	ops.arg = a;
	ret = tracker_create(&a->trk, &a->cfg, &a->plan, &ops);
	if (!ret)
		ret = nft_ruleset_open(&a->nft);
	/* Before the install: its hook tells the sets are new. */
	if (!ret)
		ret = mice_set_open(&a->mice, a->loop, &a->cfg, &a->plan, a->nft, a->trk);
	if (!ret)
		ret = window_apply_open(&a->window, a->loop, &a->cfg, a->trk, window_change, a);
	/* Listening before the install: a flush right after it is seen. */
	if (!ret)
		ret = ruleset_guard_open(&a->guard, a->loop, a->nft, &a->cfg, &a->plan);
	if (ret)
		return ret;
	ruleset_guard_on_install(a->guard, tables_installed, a);
	if (a->cfg.manage_ruleset) {
		ret = ruleset_guard_scan_foreign(a->guard);
		if (ret)
			log_warn("cannot read other tables' flowtables: %s; will retry",
				 strerror(-ret));
		uncontest(a, &a->plan, true);
		ruleset_guard_on_foreign(a->guard, foreign_changed, a);
	}
	ret = nft_ruleset_render(&a->cfg, &a->plan, &a->rendered);
	if (ret)
		return ret;
	if (ruleset_guard_startup(a->guard))
		return 1;
	if (a->cfg.analysis_max &&
	    pstats_init(&a->pstats, a->cfg.analysis_max, (uint8_t)a->cfg.analysis_len4,
			(uint8_t)a->cfg.analysis_len6, a->cfg.classes_half_life_ms)) {
		log_err("cannot allocate the prefix analysis (%u prefixes)", a->cfg.analysis_max);
		return 1;
	}
	/* Following routes before the first dump: nothing between is lost. */
	ret = routes_open(&a->routes, a->loop, &a->cfg, &a->plan, a->nft);
	if (ret) {
		log_err("cannot open the route notification sockets: %s", strerror(-ret));
		return 1;
	}
	/* Listening to links before the startup dump: nothing between is lost. */
	ret = devices_open(&a->devs, a->loop, &a->cfg, &a->plan, a->nft, a->guard, devices_changed,
			   a);
	if (!ret)
		ret = shaping_open(&a->shaping, a->loop, &a->cfg, &a->plan);
	if (!ret)
		ret = ct_admit_open(&a->adm);
	if (!ret)
		ret = ct_sync_open(&a->sync, a->loop, &a->cfg, &a->plan, a->trk, a->guard);
	if (ret)
		return ret;
	ct_sync_on_fresh(a->sync, flows_read, a);
	a->cmds.trk = a->trk;
	a->cmds.sync = a->sync;
	a->cmds.adm = a->adm;
	a->cmds.guard = a->guard;
	a->cmds.devs = a->devs;
	a->cmds.routes = a->routes;
	a->cmds.mice = a->mice;
	a->cmds.window = a->window;
	a->cmds.pstats = &a->pstats;
	a->cmds.shaping = a->shaping;
	/* Shapers first: the startup dump's flows are decided with them. */
	ret = shaping_start(a->shaping);
	if (!ret)
		ret = ct_sync_start(a->sync);
	if (!ret)
		ret = ruleset_guard_start(a->guard);
	if (!ret)
		ret = devices_start(a->devs);
	if (!ret)
		ret = routes_start(a->routes);
	if (!ret)
		ret = mice_set_start(a->mice);
	if (!ret)
		ret = window_apply_start(a->window);
	return ret;
}

/* After the loop: remove our tables unless told to keep them. */
static void stop(struct agent *a)
{
	char err[512] = "";

	if (!a->cfg.manage_ruleset) {
		/* nothing of ours in nftables */
	} else if (!a->cfg.keep_ruleset && !a->keep_ruleset_opt) {
		if (nft_ruleset_remove(a->nft, err, sizeof(err))) {
			log_err("cannot remove the agent's tables: %s", err);
			a->exit_code = 1;
		}
	} else {
		log_info("leaving the agent's tables in place (keep-ruleset)");
	}
}

static int agent_free(struct agent *a)
{
	int code = a->exit_code;

	sd_notify_close(a->notify);
	metrics_http_close(a->http);
	ctl_close(a->ctl);
	devices_close(a->devs);
	routes_close(a->routes);
	mice_set_close(a->mice);
	window_apply_close(a->window);
	pstats_free(&a->pstats);
	shaping_close(a->shaping);
	ruleset_guard_close(a->guard);
	ct_sync_close(a->sync);
	ct_admit_close(a->adm);
	nft_ruleset_close(a->nft);
	tracker_destroy(a->trk);
	loop_destroy(a->loop);
	free(a->rendered);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a);
	return code;
}

int agent_run(const struct agent_options *opt, const struct fo_config *cfg)
{
	struct agent *a;
	int ret;

	a = agent_new(opt, cfg);
	if (!a)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (lookup_user(a) || open_front(a) || drop_privileges(a))
		return agent_free(a);
	ret = open_data_flow(a);
	if (ret < 0)
		log_err("startup failed: %s", strerror(-ret));
	if (ret)
		return agent_free(a);

	log_info("running: %zu device(s) in software, %zu in hardware; window packets %u..%u; %zu flows from the startup dump",
		 a->plan.n_sw, a->plan.n_hw, a->cfg.window_from, a->cfg.window_until,
		 flows_count(tracker_flows(a->trk)));
	if (agent_notify_started(a) || agent_metrics_schedule(a))
		return agent_free(a);
	ret = loop_run(a->loop);
	a->exit_code = ret ? 1 : 0;
	sd_notify_stopping(a->notify);
	stop(a);
	return agent_free(a);
}
