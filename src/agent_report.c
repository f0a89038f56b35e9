/* agent_report: what the agent tells the outside world: the service
 * manager (READY=1, STATUS=, the watchdog), the metrics file, the scrape
 * endpoint. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "agent_int.h"
#include "commands.h"
#include "flows.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_http.h"
#include "sd_notify.h"
#include "tracker.h"

/* ---- the service manager ---------------------------------------------------- */

/* Period of the STATUS= line: a walk of the flow table each time. */
#define NOTIFY_STATUS_MS 5000

/* systemctl status shows it: flows tracked and offloaded per tier. */
static void notify_status_line(struct agent *a, char *buf, size_t len)
{
	uint64_t n[FLOW_STATE_MAX][FLOW_TIER_MAX];

	flows_count_states(tracker_flows(a->trk), n);
	snprintf(buf, len,
		 "%zu flows; offloaded: %llu software, %llu hardware; admitted: %llu; hardware tier: %s",
		 flows_count(tracker_flows(a->trk)),
		 (unsigned long long)(n[FLOW_OFFLOADED][TIER_SW] + n[FLOW_OFFLOADED][TIER_HW]),
		 (unsigned long long)n[FLOW_HW_OFFLOADED][TIER_HW],
		 (unsigned long long)(n[FLOW_ADMITTED][TIER_SW] + n[FLOW_ADMITTED][TIER_HW]),
		 a->plan.n_hw ? "on" : "off");
}

void agent_notify_ready(struct agent *a)
{
	char status[256];
	int ret;

	notify_status_line(a, status, sizeof(status));
	ret = sd_notify_ready(a->notify, status);
	if (ret)
		log_warn("cannot tell the service manager we are ready: %s", strerror(-ret));
}

static void on_notify_status(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	char status[256];

	notify_status_line(a, status, sizeof(status));
	sd_notify_status(a->notify, status);
}

/* The loop itself pings: a loop that stops turning is restarted. */
static void on_notify_watchdog(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	int ret = sd_notify_watchdog(a->notify);

	if (ret)
		log_warn("watchdog ping to the service manager failed: %s", strerror(-ret));
}

/* READY=1 once the startup dump is read and the ruleset installed, then
 * the status and watchdog timers (a third of the interval, so one late
 * wakeup never costs a restart). */
int agent_notify_started(struct agent *a)
{
	uint64_t wd_ms = sd_notify_watchdog_usec() / 1000 / 3;
	int ret;

	if (!a->notify)
		return 0;
	agent_notify_ready(a);
	ret = loop_timer_add(a->loop, NOTIFY_STATUS_MS, NOTIFY_STATUS_MS, on_notify_status, a,
			     &a->notify_status);
	if (!ret && wd_ms)
		ret = loop_timer_add(a->loop, wd_ms, wd_ms, on_notify_watchdog, a,
				     &a->notify_watchdog);
	if (ret)
		log_err("service manager timers: %s", strerror(-ret));
	return ret;
}

/* ---- the metrics file ------------------------------------------------------- */

static void on_metrics(struct loop *l, struct loop_timer *t, void *arg)
{
	struct agent *a = arg;
	json_t *stats = commands_stats_json(&a->cmds), *status = commands_status_json(&a->cmds);
	int ret = stats && status ? metrics_write_file(a->cfg.metrics_dir, stats, status) : -ENOMEM;

	json_decref(stats);
	json_decref(status);
	/* A directory that is not there (or not writable under the unit's
	 * ProtectSystem) is said once, not every interval. */
	if (ret && ret != a->metrics_err)
		log_err("metrics file %s/flowoffload.prom: %s; set [agent] metrics-dir to a writable directory (under systemd: ReadWritePaths=)",
			a->cfg.metrics_dir, strerror(-ret));
	else if (!ret && a->metrics_err)
		log_notice("metrics file %s/flowoffload.prom written again", a->cfg.metrics_dir);
	a->metrics_err = ret;
}

/* ---- the scrape endpoint ------------------------------------------------------ */

/* A scrape: the same text as the file and `flowoffloadctl metrics`. */
static int render_metrics(FILE *out, void *arg)
{
	struct agent *a = arg;
	json_t *stats = commands_stats_json(&a->cmds), *status = commands_status_json(&a->cmds);
	int ret = stats && status ? metrics_write_all(out, stats, status) : -ENOMEM;

	json_decref(stats);
	json_decref(status);
	return ret;
}

/* Opened with the control socket, before the privileges go: a port below
 * 1024 needs CAP_NET_BIND_SERVICE, which the running agent no longer has. */
int agent_metrics_http_open(struct agent *a)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char why[256];
	int ret;

	if (!a->cfg.metrics_listen[0])
		return 0;
	if (metrics_http_parse_listen(a->cfg.metrics_listen, &ss, &sslen, why, sizeof(why))) {
		log_err("[agent] metrics-listen: %s", why);
		return -1;
	}
	ret = metrics_http_open(&a->http, a->loop, &ss, sslen, render_metrics, a);
	if (ret) {
		log_err("metrics listener %s: %s%s", a->cfg.metrics_listen, strerror(-ret),
			ret == -EAFNOSUPPORT || ret == -EPERM || ret == -EACCES ?
				" (under systemd: RestrictAddressFamilies= and IPAddressAllow= must allow it)" : "");
		return -1;
	}
	a->cmds.http = metrics_http_stats(a->http);
	log_info("serving metrics on http://%s/metrics", a->cfg.metrics_listen);
	return 0;
}

/* Start, re-time or stop the writer after a start or a reload; the first
 * file comes at once (1 ms), not an interval later. */
int agent_metrics_schedule(struct agent *a)
{
	uint64_t ms = a->cfg.metrics_dir[0] ? a->cfg.metrics_interval_ms : 0;

	a->metrics_err = 0;
	if (a->metrics_timer)
		return loop_timer_set(a->metrics_timer, ms ? 1 : 0, ms);
	if (!ms)
		return 0;
	return loop_timer_add(a->loop, 1, ms, on_metrics, a, &a->metrics_timer);
}
