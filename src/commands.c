/* commands: the control socket's commands (status, flows, classes, stats,
 * reload): what each answers, in text and in JSON (--json). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "classes.h"
#include "commands.h"
#include "ct_admit.h"
#include "ct_sync.h"
#include "ctl.h"
#include "devices.h"
#include "prefix_stats.h"
#include "routes.h"
#include "flows.h"
#include "heap_usage.h"
#include "listing.h"
#include "loop.h"
#include "metrics_http.h"
#include "mice_set.h"
#include "window_apply.h"
#include "nft_foreign.h"
#include "plan.h"
#include "policy.h"
#include "privs.h"
#include "ruleset_guard.h"
#include "shaping.h"
#include "tracker.h"

#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

/* ---- stats: one section per module ------------------------------------------ */

static json_t *events_json(const struct commands_ctx *c)
{
	const struct ct_events_stats *es = ct_sync_events_stats(c->sync);
	const struct ct_sync_stats *ss = ct_sync_stats(c->sync);
	const struct tracker_stats *ts = tracker_stats(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			 "new", (json_int_t)ts->events[CT_MSG_NEW],
			 "update", (json_int_t)ts->events[CT_MSG_UPDATE],
			 "destroy", (json_int_t)ts->events[CT_MSG_DESTROY],
			 "dump_entries", (json_int_t)ts->events[CT_MSG_DUMP],
			 "parse_errors", (json_int_t)es->parse_errors,
			 "overruns", (json_int_t)ss->overruns,
			 "rcvbuf", (json_int_t)es->rcvbuf,
			 "rcvbuf_grows", (json_int_t)ss->rcvbuf_grows,
			 "read_errors", (json_int_t)es->read_errors,
			 "socket_reopens", (json_int_t)es->reopens,
			 "batched_pauses", (json_int_t)ss->event_batches,
			 "wakeups", (json_int_t)ss->event_wakeups,
			 "ignored", (json_int_t)ts->ignored,
			 "quiet_skipped", (json_int_t)ts->quiet_skipped,
			 "stale_dump_rows", (json_int_t)ts->dump_stale,
			 "gone_set_full", (json_int_t)ts->dump_gone_overflow,
			 "kernel_filter", ss->kernel_filter);
}

static json_t *decisions_json(const struct commands_ctx *c)
{
	const struct tracker_stats *ts = tracker_stats(c->trk);
	json_t *reasons = json_object();
	int i;

	for (i = 1; i < REASON_MAX; i++)
		json_object_set_new(reasons, policy_reason_str((enum policy_reason)i),
				    json_integer((json_int_t)ts->reasons[i]));
	return json_pack("{s:I, s:I, s:I, s:I, s:o}",
			 "wait", (json_int_t)ts->verdicts[VERDICT_WAIT],
			 "admit_sw", (json_int_t)ts->verdicts[VERDICT_ADMIT_SW],
			 "admit_hw", (json_int_t)ts->verdicts[VERDICT_ADMIT_HW],
			 "skip", (json_int_t)ts->verdicts[VERDICT_SKIP],
			 "reasons", reasons);
}

static json_t *admission_json(const struct commands_ctx *c)
{
	const struct ct_admit_stats *as = ct_admit_stats(c->adm);

	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
			 "marks_written", (json_int_t)as->updates,
			 "gone", (json_int_t)as->gone,
			 "errors", (json_int_t)as->errors,
			 "no_ack", (json_int_t)as->no_ack,
			 "adopted", (json_int_t)tracker_stats(c->trk)->adopted);
}

/* {state: {tier: count}}, tier "none" when there is none: the metrics'
 * flows gauge. */
static json_t *states_json(const struct flows *fl)
{
	uint64_t n[FLOW_STATE_MAX][FLOW_TIER_MAX];
	json_t *states = json_object(), *tiers;
	int s, t;

	flows_count_states(fl, n);
	for (s = 0; s < FLOW_STATE_MAX; s++) {
		tiers = json_object();
		for (t = 0; t < FLOW_TIER_MAX; t++)
			json_object_set_new(tiers,
					    t == TIER_NONE ? "none" : flows_tier_str((enum flow_tier)t),
					    json_integer((json_int_t)n[s][t]));
		json_object_set_new(states, flows_state_str((enum flow_state)s), tiers);
	}
	return states;
}

static json_t *flows_json(const struct commands_ctx *c)
{
	const struct tracker_stats *ts = tracker_stats(c->trk);
	const struct flows *fl = tracker_flows(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I, s:o}",
			 "tracked", (json_int_t)flows_count(fl),
			 "capacity", (json_int_t)flows_capacity(fl),
			 "table_full", (json_int_t)ts->table_full,
			 "returned_to_slow_path", (json_int_t)ts->returned,
			 "states", states_json(fl));
}

static json_t *offload_json(const struct commands_ctx *c)
{
	const struct tracker_stats *ts = tracker_stats(c->trk);
	const struct hw_budget *hw = tracker_budget(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "offloaded", (json_int_t)ts->offloaded,
			 "hw_offloaded", (json_int_t)ts->hw_offloaded,
			 "hw_in_use", (json_int_t)hw->in_use,
			 "hw_pending", (json_int_t)hw->pending,
			 "hw_failed_insertions", (json_int_t)hw->failed,
			 "hw_late_confirmations", (json_int_t)hw->late,
			 "hw_mark_too_late", (json_int_t)ts->hw_raced,
			 "hw_returned_to_sw", (json_int_t)ts->hw_returned_sw,
			 "hw_max_in_use", (json_int_t)hw->max_in_use,
			 "status_dump_errors", (json_int_t)ct_sync_stats(c->sync)->status_errors,
			 "status_dumps", (json_int_t)ct_sync_stats(c->sync)->status_dumps,
			 "status_skipped", (json_int_t)ct_sync_stats(c->sync)->status_skipped,
			 "status_cpu_us", (json_int_t)(ct_sync_stats(c->sync)->status_cpu_ns / 1000));
}

static json_t *resync_json(const struct commands_ctx *c)
{
	const struct ct_sync_stats *ss = ct_sync_stats(c->sync);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			 "resyncs", (json_int_t)ss->resyncs,
			 "last_cpu_us", (json_int_t)(ss->resync_cpu_ns / 1000),
			 "skipped", (json_int_t)ss->resyncs_skipped,
			 "after_overrun", (json_int_t)ss->resyncs_after_overrun,
			 "errors", (json_int_t)ss->resync_errors,
			 "bad_entries", (json_int_t)ss->resync_bad_entries);
}

static json_t *ruleset_json(const struct commands_ctx *c)
{
	const struct ruleset_guard_stats *gs = ruleset_guard_stats(c->guard);
	const struct nft_foreign *f = ruleset_guard_foreign(c->guard);
	size_t i, contested = 0;
	json_t *j;

	/* Devices kept out of the hardware tier by another table's flowtable. */
	for (i = 0; i < c->plan->n_sw && c->cfg->hw_mode != HW_MODE_OFF; i++)
		contested += nft_foreign_hw_on(f, c->plan->sw_devs[i]) != NULL;
	j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "installs", (json_int_t)gs->installs,
			 "failures", (json_int_t)gs->failures,
			 "restored", (json_int_t)gs->restored,
			 "reloads", (json_int_t)c->agent->reloads,
			 "reload_failures", (json_int_t)c->agent->reload_failures,
			 "reload_rate_limited", (json_int_t)c->agent->reload_rate_limited,
			 "foreign_deletions", (json_int_t)gs->events,
			 "checks", (json_int_t)gs->checks);
	if (j) {
		json_object_set_new(j, "foreign_offloaders",
				    json_integer((json_int_t)gs->foreign_offloaders));
		json_object_set_new(j, "foreign_warnings",
				    json_integer((json_int_t)gs->foreign_warnings));
		json_object_set_new(j, "foreign_scans", json_integer((json_int_t)gs->foreign_scans));
		json_object_set_new(j, "foreign_scan_errors",
				    json_integer((json_int_t)gs->foreign_scan_errors));
		json_object_set_new(j, "hw_contested", json_integer((json_int_t)contested));
	}
	return j;
}

static json_t *devices_json(const struct commands_ctx *c)
{
	const struct devices_stats *ds = devices_stats(c->devs);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "path_slow", (json_int_t)ds->path_slow,
			 "events", (json_int_t)ds->events,
			 "events_ignored", (json_int_t)ds->events_ignored,
			 "overruns", (json_int_t)ds->overruns,
			 "recomputes", (json_int_t)ds->recomputes,
			 "set_changes", (json_int_t)ds->set_changes,
			 "flowtable_updates", (json_int_t)ds->updates,
			 "added", (json_int_t)ds->added,
			 "removed", (json_int_t)ds->removed,
			 "readded", (json_int_t)ds->readded,
			 "repairs", (json_int_t)ds->repairs,
			 "failures", (json_int_t)ds->failures,
			 "empty_selections", (json_int_t)ds->empty);
}

static json_t *routes_stats_json(const struct commands_ctx *c)
{
	const struct routes_stats *rs = routes_stats(c->routes);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "events", (json_int_t)rs->events,
			 "events_ignored", (json_int_t)rs->events_ignored,
			 "overruns", (json_int_t)rs->overruns,
			 "resyncs", (json_int_t)rs->resyncs,
			 "resync_swept", (json_int_t)rs->resync_swept,
			 "dump_errors", (json_int_t)rs->dump_errors,
			 "set_updates", (json_int_t)rs->applies,
			 "set_chunks", (json_int_t)rs->chunks,
			 "largest_chunk", (json_int_t)rs->largest_chunk,
			 "full_replaces", (json_int_t)rs->full_replaces,
			 "intervals_added", (json_int_t)rs->added,
			 "intervals_removed", (json_int_t)rs->removed,
			 "failures", (json_int_t)rs->failures,
			 "over_limit", (json_int_t)rs->over_limit,
			 "sync_lag_ms", (json_int_t)rs->lag_last_ms,
			 "sync_lag_max_ms", (json_int_t)rs->lag_max_ms);
}

static json_t *shaping_json(const struct commands_ctx *c)
{
	const struct shaping_stats *s = shaping_stats(c->shaping);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "shaped_devices", (json_int_t)s->shaped_devs,
			 "flows_off_hardware", (json_int_t)s->off_hw,
			 "flows_off_flowtable", (json_int_t)s->off_sw,
			 "path_lookups", (json_int_t)s->lookups,
			 "events", (json_int_t)s->events,
			 "reads", (json_int_t)s->reads,
			 "read_failures", (json_int_t)s->failures);
}

static json_t *process_json(const struct commands_ctx *c)
{
	struct rusage ru;
	double cpu;

	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	return json_pack("{s:f, s:I, s:I, s:I, s:I}",
			 "cpu_seconds", cpu,
			 "max_rss_kb", (json_int_t)ru.ru_maxrss,
			 "heap_bytes", (json_int_t)heap_in_use(),
			 "uptime_ms", (json_int_t)(loop_now_ms() - c->started_ms),
			 "capabilities", (json_int_t)privs_effective());
}

static json_t *classes_json(const struct commands_ctx *c)
{
	const struct classes *cls = tracker_classes(c->trk);
	const struct classes_counters *cc = classes_counters(cls);
	const struct tracker_stats *ts = tracker_stats(c->trk);

	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "learning", cls != NULL,
			 "tracked", (json_int_t)classes_count(cls),
			 "memory_bytes", (json_int_t)classes_memory(cls),
			 "observed", (json_int_t)cc->observed,
			 "no_counters", (json_int_t)cc->no_counters,
			 "unanswered", (json_int_t)cc->unanswered,
			 "created", (json_int_t)cc->created,
			 "evicted", (json_int_t)cc->evicted,
			 "left_to_window", (json_int_t)ts->class_window_skips,
			 "learned_at_close", (json_int_t)ts->class_learned_at_close);
}

/* Above `flowoffloadctl classes`: the window in force and the model's. */
static void window_head(const struct commands_ctx *c, char *buf, size_t len)
{
	struct window_apply_view v;

	window_apply_view(c->window, &v);
	if (!v.on) {
		snprintf(buf, len, "window-from %u (configured; [classes] learn-window = no)\n",
			 c->cfg->window_from);
		return;
	}
	if (!v.best) {
		snprintf(buf, len, "window-from %u (learn-window: too few flows yet, %.0f)\n",
			 c->cfg->window_from, v.flows);
		return;
	}
	snprintf(buf, len, "window-from %u (learn-window: the model's best %u would save %.2f%% of the modelled router CPU on %.0f flows; %llu changes)\n",
		 c->cfg->window_from, v.best, v.saving_pct, v.flows, (unsigned long long)v.changes);
}

static json_t *window_json(const struct commands_ctx *c)
{
	struct window_apply_view v;

	window_apply_view(c->window, &v);
	return json_pack("{s:b, s:i, s:i, s:f, s:f, s:I, s:I}", "on", v.on,
			 "in_force", (int)c->cfg->window_from, "best", (int)v.best,
			 "saving_pct", v.saving_pct, "flows", v.flows,
			 "changes", (json_int_t)v.changes, "failures", (json_int_t)v.failures);
}

/* The kernel's mice sets: what mice_set applied, what the tracker saved. */
static json_t *mice_set_json(const struct commands_ctx *c)
{
	const struct mice_set_stats *ms = mice_set_stats(c->mice);
	const struct tracker_stats *ts = tracker_stats(c->trk);
	json_t *j = json_object();

#define MS_STAT(k) json_object_set_new(j, #k, json_integer((json_int_t)ms->k))
	MS_STAT(entries);
	MS_STAT(walks);
	MS_STAT(applies);
	MS_STAT(full_replaces);
	MS_STAT(added);
	MS_STAT(removed);
	MS_STAT(failures);
	MS_STAT(prefix_classes);
#undef MS_STAT
	json_object_set_new(j, "skipped_flows", json_integer((json_int_t)ts->class_set_skips));
	json_object_set_new(j, "marks_saved", json_integer((json_int_t)ts->class_marks_saved));
	json_object_set_new(j, "marks_written", json_integer((json_int_t)ts->class_mice_marks));
	json_object_set_new(j, "learned_untracked",
			    json_integer((json_int_t)ts->class_learned_untracked));
	return j;
}

/* The control socket's own failures (ctl.h says what each counts). */
static json_t *control_json(const struct commands_ctx *c)
{
	const struct ctl_stats *cs = c->ctl;
	json_t *j = json_object();

#define CTL_STAT(k) json_object_set_new(j, #k, json_integer((json_int_t)cs->k))
	if (!cs)
		return j;
	CTL_STAT(accepted);
	CTL_STAT(busy_refused);
	CTL_STAT(accept_errors);
	CTL_STAT(peercred_errors);
	CTL_STAT(request_timeouts);
	CTL_STAT(request_too_long);
	CTL_STAT(request_empty);
	CTL_STAT(request_closed);
	CTL_STAT(reply_idle_timeouts);
	CTL_STAT(reply_timeouts);
	CTL_STAT(reply_errors);
	CTL_STAT(reply_oom);
	CTL_STAT(denied);
	CTL_STAT(streamed);
	CTL_STAT(waited);
	CTL_STAT(wait_timeouts);
	CTL_STAT(clients);
	CTL_STAT(max_clients);
#undef CTL_STAT
	return j;
}

/* The scrape endpoint's counters (metrics_http.h says what each counts). */
static json_t *metrics_http_json(const struct metrics_http_stats *hs)
{
	json_t *j = json_object();

#define HTTP_STAT(k) json_object_set_new(j, #k, json_integer((json_int_t)hs->k))
	HTTP_STAT(scrapes);
	HTTP_STAT(not_found);
	HTTP_STAT(bad_method);
	HTTP_STAT(bad_requests);
	HTTP_STAT(request_too_long);
	HTTP_STAT(request_timeouts);
	HTTP_STAT(request_closed);
	HTTP_STAT(reply_timeouts);
	HTTP_STAT(reply_errors);
	HTTP_STAT(render_errors);
	HTTP_STAT(busy_refused);
	HTTP_STAT(accept_errors);
	HTTP_STAT(clients);
	HTTP_STAT(max_clients);
#undef HTTP_STAT
	return j;
}

static json_t *stats_json(const struct commands_ctx *c)
{
	json_t *j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "events", events_json(c),
			      "decisions", decisions_json(c),
			      "admission", admission_json(c),
			      "flows", flows_json(c),
			      "offload", offload_json(c),
			      "resync", resync_json(c),
			      "ruleset", ruleset_json(c),
			      "process", process_json(c));

	if (j) {
		json_object_set_new(j, "classes", classes_json(c));
		json_object_set_new(j, "mice_set", mice_set_json(c));
		json_object_set_new(j, "window_learn", window_json(c));
		json_object_set_new(j, "control", control_json(c));
		json_object_set_new(j, "devices", devices_json(c));
		if (c->http)
			json_object_set_new(j, "metrics_http", metrics_http_json(c->http));
		if (routes_enabled(c->routes))
			json_object_set_new(j, "routes", routes_stats_json(c));
		if (c->shaping)
			json_object_set_new(j, "shaping", shaping_json(c));
	}
	return j;
}

/* ---- text: the JSON answers flattened (the devices table: status_json.c) ---- */

/* A list of names on one line ("kernel.software lan0 wan0"). */
static void print_strings(FILE *out, const char *name, json_t *arr)
{
	size_t i;
	json_t *e;

	fprintf(out, "%-40s", name);
	json_array_foreach(arr, i, e)
		if (json_is_string(e))
			fprintf(out, " %s", json_string_value(e));
	fputc('\n', out);
}

/* One line per other table's flowtable: "inet fw4 ft offload rules=1 lan0 wan0". */
static void print_foreign(FILE *out, const char *name, json_t *arr)
{
	size_t i, k;
	json_t *e, *d;

	if (!json_array_size(arr))
		fprintf(out, "%-40s none\n", name);
	json_array_foreach(arr, i, e) {
		fprintf(out, "%-40s %s %s%s rules=%lld", name,
			json_string_value(json_object_get(e, "table")),
			json_string_value(json_object_get(e, "flowtable")),
			json_is_true(json_object_get(e, "hw")) ? " flags-offload" : "",
			(long long)json_integer_value(json_object_get(e, "rules")));
		json_array_foreach(json_object_get(e, "devices"), k, d)
			fprintf(out, " %s", json_string_value(d));
		fputc('\n', out);
	}
}

/* Text form of a two-level JSON object: "section.key value" per line. */
static void print_flat(FILE *out, json_t *obj, const char *prefix)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char name[128];

		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (json_is_object(v))
			print_flat(out, v, name);
		else if (json_is_integer(v))
			fprintf(out, "%-40s %lld\n", name, (long long)json_integer_value(v));
		else if (json_is_real(v))
			fprintf(out, "%-40s %.3f\n", name, json_real_value(v));
		else if (json_is_string(v))
			fprintf(out, "%-40s %s\n", name, json_string_value(v));
		else if (json_is_boolean(v))
			fprintf(out, "%-40s %s\n", name, json_is_true(v) ? "yes" : "no");
		else if (json_is_array(v) && strcmp(name, "foreign_flowtables") == 0)
			print_foreign(out, name, v);
		else if (json_is_array(v) && strcmp(name, "devices"))
			print_strings(out, name, v);
	}
}

/* ---- prefixes ---------------------------------------------------------------- */

/* flowoffloadctl prefixes [--json] [--limit N]: finished flows per remote
 * prefix, heaviest first, decayed to now. */
static int prefixes_cmd(const struct commands_ctx *c, int argc, char **argv, FILE *out)
{
	unsigned long limit = 50;
	struct pstat *v = NULL;
	bool json = false;
	char addr[64], *end;
	json_t *a;
	long n, i;
	int k;

	for (k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json")) {
			json = true;
		} else if (!strcmp(argv[k], "--limit") && k + 1 < argc) {
			limit = strtoul(argv[++k], &end, 10);
			if (*end || !limit || limit > 100000) {
				fprintf(out, "prefixes: --limit takes 1..100000\n");
				return -EINVAL;
			}
		} else {
			fprintf(out, "prefixes: unknown option '%s'\n", argv[k]);
			return -EINVAL;
		}
	}
	if (!c->pstats || !c->pstats->slots) {
		fprintf(out, "prefixes: the analysis is off ([routes] analysis-max = 0)\n");
		return -ENOENT;
	}
	n = pstats_top(c->pstats, loop_now_ms(), limit, &v);
	if (n < 0)
		return (int)n;
	a = json_array();
	if (!json)
		fprintf(out, "%-45s %10s %14s %8s %12s\n", "PREFIX", "FLOWS", "BYTES", "HW_SHARE",
			"FLOWS_TOTAL");
	for (i = 0; i < n; i++) {
		double share = v[i].bytes > 0 ? v[i].hw_bytes / v[i].bytes : 0;
		char pfx[80];

		inet_ntop(v[i].family, v[i].addr, addr, sizeof(addr));
		snprintf(pfx, sizeof(pfx), "%s/%u", addr, v[i].len);
		if (json)
			json_array_append_new(a, json_pack("{s:s, s:f, s:f, s:f, s:I}", "prefix", pfx,
							   "flows", v[i].flows, "bytes", v[i].bytes,
							   "hw_share", share, "flows_total",
							   (json_int_t)v[i].flows_total));
		else
			fprintf(out, "%-45s %10.1f %14.0f %7.1f%% %12llu\n", pfx, v[i].flows,
				v[i].bytes, share * 100, (unsigned long long)v[i].flows_total);
	}
	if (json) {
		json_dumpf(a, out, JSON_FLAGS);
		fputc('\n', out);
	}
	json_decref(a);
	free(v);
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

/* reload changes state: root or the admin group only (SO_PEERCRED). */
static int reload_allowed(struct ctl_call *call, const struct commands_ctx *c, FILE *out)
{
	if (ctl_call_admin(call))
		return 0;
	fprintf(out, "reload: permission denied: uid %u is not root%s%s%s; read-only commands (status, stats, flows, classes) need only the socket\n",
		(unsigned int)ctl_call_uid(call),
		c->cfg->admin_group[0] ? " nor in the admin group '" : " and no [agent] admin-group is set",
		c->cfg->admin_group, c->cfg->admin_group[0] ? "'" : "");
	return -EPERM;
}

int commands_handle(struct ctl_call *call, int argc, char **argv, FILE *out, void *arg)
{
	const struct commands_ctx *c = arg;
	bool json = false;
	const char *cmd = argv[0];
	json_t *j = NULL;
	int i;

	/* What the flows are doing, as the kernel says: when the last read is
	 * older than status-interval or 1 s (the dumps back off while nothing
	 * changes), flows waits for a new one; status starts it and answers
	 * at once with the age of what it shows (a monitor polling status
	 * must not wait behind a resync of a large table). */
	if ((strcmp(cmd, "flows") == 0 || strcmp(cmd, "status") == 0) && c->sync &&
	    !ctl_call_resumed(call) && !ct_sync_status_fresh(c->sync) &&
	    strcmp(cmd, "flows") == 0) {
		ctl_call_wait(call);
		return 0;
	}
	/* The long answers take options of their own and are streamed. */
	if (strcmp(cmd, "flows") == 0)
		return listing_flows(call, tracker_flows(c->trk), argc, argv, out);
	if (strcmp(cmd, "prefixes") == 0)
		return prefixes_cmd(c, argc, argv, out);
	if (strcmp(cmd, "classes") == 0) {
		char head[256];

		window_head(c, head, sizeof(head));
		return listing_classes(call, tracker_classes(c->trk), loop_now_ms(), argc, argv,
				       head, out);
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(out, "%s: unknown option '%s'\n", cmd, argv[i]);
			return -EINVAL;
		}
	}
	if (strcmp(cmd, "status") == 0) {
		j = commands_status_json(c);
	} else if (strcmp(cmd, "stats") == 0) {
		j = stats_json(c);
	} else if (strcmp(cmd, "reload") == 0) {
		i = reload_allowed(call, c, out);
		return i ? i : c->reload(c->reload_arg, out);
	} else {
		fprintf(out, "unknown command '%s'; commands: status flows classes prefixes stats reload\n",
			cmd);
		return -EINVAL;
	}
	if (json) {
		json_dumpf(j, out, JSON_FLAGS);
		fputc('\n', out);
	} else if (json_is_object(j)) {
		print_flat(out, j, "");
		if (json_is_array(json_object_get(j, "devices")))
			commands_print_devices(out, json_object_get(j, "devices"));
	}
	json_decref(j);
	return 0;
}

json_t *commands_stats_json(const struct commands_ctx *c)
{
	return stats_json(c);
}
