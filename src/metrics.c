/* metrics: renders the stats and status JSON as Prometheus text exposition
 * (one HELP and TYPE per family, labels for states, tiers and reasons). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"

enum kind { GAUGE, COUNTER };

/* One number of the JSON as one sample: section.key, scaled to base units. */
struct plain {
	const char *section, *key;
	const char *name;	/* after flowoffload_; counters end in _total */
	enum kind kind;
	double scale;
	const char *help;
};

static const struct plain stats_plain[] = {
	{ "events", "parse_errors", "event_parse_errors_total", COUNTER, 1,
	  "Conntrack event messages that could not be parsed." },
	{ "events", "wakeups", "event_wakeups_total", COUNTER, 1,
	  "Reads of the event socket (each a wake-up of the loop)." },
	{ "events", "overruns", "event_overruns_total", COUNTER, 1,
	  "Conntrack event socket overruns (ENOBUFS): events lost, a resync follows." },
	{ "events", "rcvbuf", "event_receive_buffer_bytes", GAUGE, 1,
	  "Receive buffer of the conntrack event socket." },
	{ "events", "rcvbuf_grows", "event_receive_buffer_grows_total", COUNTER, 1,
	  "Times the event receive buffer was doubled after an overrun." },
	{ "events", "ignored", "events_ignored_total", COUNTER, 1,
	  "Conntrack events of protocols the agent never offloads." },
	{ "events", "quiet_skipped", "events_quiet_skipped_total", COUNTER, 1,
	  "Dumped conntracks below the window left untracked (events = window)." },
	{ "events", "stale_dump_rows", "events_stale_dump_rows_total", COUNTER, 1,
	  "Dump rows older than the events: resync rows of conntracks whose DESTROY was "
	  "read first, status rows of flows not tracked." },
	{ "events", "gone_set_full", "events_gone_set_full_total", COUNTER, 1,
	  "Resyncs during which more conntracks ended than the agent keeps (786,432): "
	  "a stale row of those past it may bring a finished flow back until the next sweep." },
	{ "admission", "marks_written", "admission_marks_written_total", COUNTER, 1,
	  "Conntrack mark updates written by the agent." },
	{ "admission", "gone", "admission_marks_gone_total", COUNTER, 1,
	  "Mark updates for conntracks that had already ended." },
	{ "admission", "errors", "admission_mark_errors_total", COUNTER, 1,
	  "Mark updates the kernel refused." },
	{ "admission", "adopted", "admission_adopted_total", COUNTER, 1,
	  "Flows found already carrying the agent's admission mark." },
	{ "flows", "tracked", "flows_tracked", GAUGE, 1, "Conntrack entries the agent tracks." },
	{ "flows", "capacity", "flows_capacity", GAUGE, 1, "Flows the agent can track (max-flows)." },
	{ "flows", "table_full", "flow_table_full_total", COUNTER, 1,
	  "Flows not tracked because the flow table was full." },
	{ "flows", "returned_to_slow_path", "flows_returned_to_slow_path_total", COUNTER, 1,
	  "Offloaded flows seen back on the slow path." },
	{ "offload", "hw_in_use", "hardware_entries_in_use", GAUGE, 1,
	  "Hardware budget: flows confirmed in the NIC's table." },
	{ "offload", "hw_pending", "hardware_entries_pending", GAUGE, 1,
	  "Hardware budget: flows admitted to hardware, not yet confirmed." },
	{ "offload", "hw_max_in_use", "hardware_entries_max_in_use", GAUGE, 1,
	  "Hardware budget: the most entries in use at once." },
	{ "offload", "hw_failed_insertions", "hardware_failed_insertions_total", COUNTER, 1,
	  "Hardware flows not confirmed within confirm-timeout (refused by the driver)." },
	{ "offload", "hw_late_confirmations", "hardware_late_confirmations_total", COUNTER, 1,
	  "Hardware flows confirmed after being counted as failed." },
	{ "offload", "hw_mark_too_late", "hardware_marks_too_late_total", COUNTER, 1,
	  "Hardware marks that landed after the software rule took the flow." },
	{ "offload", "hw_returned_to_sw", "hardware_returned_to_software_total", COUNTER, 1,
	  "Hardware flows that came back past the window and went to software." },
	{ "offload", "status_dump_errors", "status_dump_errors_total", COUNTER, 1,
	  "Failed conntrack status dumps." },
	{ "offload", "status_dumps", "status_dumps_total", COUNTER, 1,
	  "Conntrack status dumps (each walks the kernel's whole table)." },
	{ "offload", "status_skipped", "status_dumps_skipped_total", COUNTER, 1,
	  "Status dumps left out while the last ones found nothing new." },
	{ "offload", "status_cpu_us", "status_dump_cpu_seconds_total", COUNTER, 0.000001,
	  "CPU time the agent spent in status dumps." },
	{ "resync", "resyncs", "resyncs_total", COUNTER, 1,
	  "Full conntrack dumps reconciled with the flow table." },
	{ "resync", "after_overrun", "resyncs_after_overrun_total", COUNTER, 1,
	  "Resyncs scheduled by an event overrun." },
	{ "resync", "errors", "resync_errors_total", COUNTER, 1, "Resyncs that failed." },
	{ "resync", "skipped", "resyncs_skipped_total", COUNTER, 1,
	  "Periodic resyncs left out while the events were complete." },
	{ "resync", "last_cpu_us", "resync_last_cpu_seconds", GAUGE, 0.000001,
	  "CPU time of the last resync." },
	{ "ruleset", "installs", "ruleset_installs_total", COUNTER, 1,
	  "nftables transactions that installed the agent's tables." },
	{ "ruleset", "failures", "ruleset_install_failures_total", COUNTER, 1,
	  "Ruleset installs the kernel refused." },
	{ "ruleset", "restored", "ruleset_reinstalls_total", COUNTER, 1,
	  "Reinstalls after the agent's tables were removed by someone else." },
	{ "ruleset", "foreign_deletions", "ruleset_foreign_deletions_total", COUNTER, 1,
	  "nftables events that removed part of the agent's tables." },
	{ "ruleset", "checks", "ruleset_checks_total", COUNTER, 1,
	  "Checks that the agent's tables are in the kernel." },
	{ "ruleset", "foreign_offloaders", "foreign_offloading_flowtables", GAUGE, 1,
	  "Other tables' flowtables on the agent's devices that rules add flows to (fw4's ft)." },
	{ "ruleset", "foreign_warnings", "foreign_offload_warnings_total", COUNTER, 1,
	  "Warnings that another table offloads flows on the agent's devices." },
	{ "ruleset", "hw_contested", "hardware_devices_refused", GAUGE, 1,
	  "Devices kept out of the hardware tier: another table's flowtable offloads them to hardware." },
	{ "ruleset", "reloads", "config_reloads_total", COUNTER, 1,
	  "Configuration reloads taken." },
	{ "ruleset", "reload_failures", "config_reload_failures_total", COUNTER, 1,
	  "Configuration reloads refused (the running configuration stayed)." },
	{ "shaping", "shaped_devices", "shaped_devices", GAUGE, 1,
	  "Devices with a shaping qdisc or an ingress redirect to a shaping ifb." },
	{ "shaping", "flows_off_hardware", "flows_shaped_off_hardware_total", COUNTER, 1,
	  "Flows kept off the hardware tier for a shaper on their path." },
	{ "shaping", "flows_off_flowtable", "flows_shaped_off_flowtable_total", COUNTER, 1,
	  "Flows kept off the flowtable for a shaper its fast path would skip." },
	{ "classes", "tracked", "classes_tracked", GAUGE, 1, "Service classes being learned." },
	{ "classes", "memory_bytes", "classes_memory_bytes", GAUGE, 1,
	  "Memory of the class table." },
	{ "classes", "observed", "class_observations_total", COUNTER, 1,
	  "Finished flows learned into a class." },
	{ "classes", "evicted", "classes_evicted_total", COUNTER, 1,
	  "Classes evicted to make room." },
	{ "mice_set", "entries", "mice_set_ports", GAUGE, 1,
	  "Server ports of learned mice classes in the kernel's mice sets." },
	{ "mice_set", "skipped_flows", "mice_set_skipped_flows_total", COUNTER, 1,
	  "Flows of a mice class the kernel's set skips, with no mark written." },
	{ "mice_set", "marks_saved", "mice_set_marks_saved_total", COUNTER, 1,
	  "Skip mark writes the mice set saved (classes whose flows reach the window)." },
	{ "mice_set", "failures", "mice_set_failures_total", COUNTER, 1,
	  "Mice set transactions the kernel refused." },
	{ "window_learn", "changes", "window_learned_changes_total", COUNTER, 1,
	  "Times the learned window-from was installed." },
	{ "process", "cpu_seconds", "process_cpu_seconds_total", COUNTER, 1,
	  "User and system CPU time of the agent." },
	{ "process", "max_rss_kb", "process_max_resident_memory_bytes", GAUGE, 1024,
	  "Peak resident memory of the agent." },
	{ "process", "heap_bytes", "process_heap_bytes", GAUGE, 1,
	  "Bytes the agent holds from its allocator (-1: the C library cannot say)." },
	{ "process", "uptime_ms", "uptime_seconds", GAUGE, 0.001,
	  "Time since the agent started." },
	{ NULL, NULL, NULL, GAUGE, 0, NULL },
};

static const struct plain status_plain[] = {
	{ "", "window_from", "window_from_packets", GAUGE, 1,
	  "Packet number on which a flow is offloaded (window-from)." },
	{ "", "window_until", "window_until_packets", GAUGE, 1,
	  "Packet number after which a flow is never offloaded (window-until)." },
	{ "hardware", "capacity", "hardware_capacity_entries", GAUGE, 1,
	  "Hardware budget: entries of the NIC's table ([hardware] capacity)." },
	{ "hardware", "watermark", "hardware_watermark_ratio", GAUGE, 0.01,
	  "Hardware budget: share of capacity the agent fills." },
	{ "hardware", "available", "hardware_available", GAUGE, 1,
	  "1 when a device accepts a hardware flowtable." },
	{ NULL, NULL, NULL, GAUGE, 0, NULL },
};

static int head(FILE *out, const char *name, enum kind kind, const char *help)
{
	if (fprintf(out, "# HELP flowoffload_%s %s\n# TYPE flowoffload_%s %s\n", name, help,
		    name, kind == COUNTER ? "counter" : "gauge") < 0)
		return -EIO;
	return 0;
}

/* Numbers are JSON integers, reals or booleans; anything else is absent. */
static bool number_of(const json_t *v, double *out)
{
	if (json_is_integer(v))
		*out = (double)json_integer_value(v);
	else if (json_is_real(v))
		*out = json_real_value(v);
	else if (json_is_boolean(v))
		*out = json_is_true(v) ? 1 : 0;
	else
		return false;
	return true;
}

static int sample(FILE *out, const char *name, const char *labels, double v)
{
	return fprintf(out, "flowoffload_%s%s %.15g\n", name, labels, v) < 0 ? -EIO : 0;
}

static int write_plain(FILE *out, const json_t *root, const struct plain *rows)
{
	const struct plain *p;
	const json_t *sec;
	double v;

	for (p = rows; p->name; p++) {
		sec = *p->section ? json_object_get(root, p->section) : root;
		if (!number_of(json_object_get(sec, p->key), &v))
			continue;
		if (head(out, p->name, p->kind, p->help) || sample(out, p->name, "", v * p->scale))
			return -EIO;
	}
	return 0;
}

/* Label values come from the agent's own words (states, reasons), but
 * escape them anyway: the format allows \\, \" and \n only. */
static void label_value(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			buf[o++] = '\\';
		buf[o++] = *s == '\n' ? 'n' : *s;
	}
	buf[o] = '\0';
}

/* A family with one label over the members of an object: {label: number}. */
static int write_by(FILE *out, const json_t *obj, const char *name, enum kind kind,
		    const char *label, const char *help)
{
	char labels[160], val[96];
	const char *k;
	json_t *v;
	double d;

	if (!json_is_object(obj))
		return 0;
	if (head(out, name, kind, help))
		return -EIO;
	json_object_foreach((json_t *)obj, k, v) {
		if (!number_of(v, &d))
			continue;
		label_value(val, sizeof(val), k);
		snprintf(labels, sizeof(labels), "{%s=\"%s\"}", label, val);
		if (sample(out, name, labels, d))
			return -EIO;
	}
	return 0;
}

/* flows{state, tier}: {state: {tier: count}}. */
static int write_states(FILE *out, const json_t *states)
{
	char labels[160], st[48], tr[48];
	const char *s, *t;
	json_t *tiers, *v;
	double d;

	if (!json_is_object(states))
		return 0;
	if (head(out, "flows", GAUGE, "Tracked flows by state and tier."))
		return -EIO;
	json_object_foreach((json_t *)states, s, tiers) {
		json_object_foreach(tiers, t, v) {
			if (!number_of(v, &d))
				continue;
			label_value(st, sizeof(st), s);
			label_value(tr, sizeof(tr), t);
			snprintf(labels, sizeof(labels), "{state=\"%s\",tier=\"%s\"}", st, tr);
			if (sample(out, "flows", labels, d))
				return -EIO;
		}
	}
	return 0;
}

static int write_labelled(FILE *out, const json_t *stats)
{
	const json_t *ev = json_object_get(stats, "events");
	const json_t *dec = json_object_get(stats, "decisions");
	const json_t *off = json_object_get(stats, "offload");
	json_t *events = json_object(), *verdicts = json_object(), *tiers = json_object();
	int ret;

	/* Renamed on the way: label values say what they count. */
	json_object_set(events, "new", json_object_get(ev, "new"));
	json_object_set(events, "update", json_object_get(ev, "update"));
	json_object_set(events, "destroy", json_object_get(ev, "destroy"));
	json_object_set(events, "dump_entry", json_object_get(ev, "dump_entries"));
	json_object_set(verdicts, "wait", json_object_get(dec, "wait"));
	json_object_set(verdicts, "admit_sw", json_object_get(dec, "admit_sw"));
	json_object_set(verdicts, "admit_hw", json_object_get(dec, "admit_hw"));
	json_object_set(verdicts, "skip", json_object_get(dec, "skip"));
	json_object_set(tiers, "sw", json_object_get(off, "offloaded"));
	json_object_set(tiers, "hw", json_object_get(off, "hw_offloaded"));

	ret = write_states(out, json_object_get(json_object_get(stats, "flows"), "states"));
	if (!ret)
		ret = write_by(out, events, "conntrack_messages_total", COUNTER, "type",
			       "Conntrack events and dump entries read, by type.");
	if (!ret)
		ret = write_by(out, verdicts, "decisions_total", COUNTER, "verdict",
			       "Policy decisions: wait, admit to a tier, or skip.");
	if (!ret)
		ret = write_by(out, json_object_get(dec, "reasons"), "decision_reasons_total",
			       COUNTER, "reason",
			       "Decisions by the reason they give (skips, and admissions that name one).");
	if (!ret)
		ret = write_by(out, tiers, "offloaded_total", COUNTER, "tier",
			       "Flows seen entering the flowtable, by tier.");
	json_decref(events);
	json_decref(verdicts);
	json_decref(tiers);
	return ret;
}

int metrics_write(FILE *out, const json_t *stats, const json_t *status)
{
	const char *version = json_string_value(json_object_get(status, "version"));
	char v[64];
	int ret;

	label_value(v, sizeof(v), version ? version : PACKAGE_VERSION);
	if (head(out, "build_info", GAUGE, "Always 1; the agent's version as a label.") ||
	    fprintf(out, "flowoffload_build_info{version=\"%s\"} 1\n", v) < 0)
		return -EIO;
	ret = write_labelled(out, stats);
	if (!ret)
		ret = write_plain(out, stats, stats_plain);
	if (!ret && status)
		ret = write_plain(out, status, status_plain);
	return ret;
}

/*
 * /proc/net/stat/nf_flowtable (nf_flow_table_procfs.c): per CPU, the
 * offload work items queued and not yet run ("%8d", incremented on one
 * CPU and decremented on another, so a CPU's own figure may be negative;
 * the sum is the queue).  A queue that keeps growing is a driver that does
 * not keep up.
 */
#define FT_COLS 8

int metrics_write_flowtable(FILE *out, FILE *proc)
{
	char line[256], names[FT_COLS][32], labels[64];
	long long sum[FT_COLS] = { 0 };
	int n = 0, i, off, used;

	if (!fgets(line, sizeof(line), proc))
		return -EINVAL;
	for (off = 0; n < FT_COLS && sscanf(line + off, "%31s%n", names[n], &used) == 1; n++)
		off += used;
	if (!n)
		return -EINVAL;
	while (fgets(line, sizeof(line), proc)) {
		for (i = 0, off = 0; i < n; i++) {
			long long v;

			if (sscanf(line + off, "%lld%n", &v, &used) != 1)
				return -EINVAL;
			sum[i] += v;
			off += used;
		}
	}
	if (head(out, "kernel_flowtable_work_queued", GAUGE,
		 "Flowtable offload work items queued in the kernel, not yet run, by operation "
		 "(/proc/net/stat/nf_flowtable)."))
		return -EIO;
	for (i = 0; i < n; i++) {
		char op[40];

		label_value(op, sizeof(op), strncmp(names[i], "wq_", 3) ? names[i] : names[i] + 3);
		snprintf(labels, sizeof(labels), "{op=\"%s\"}", op);
		if (sample(out, "kernel_flowtable_work_queued", labels, (double)sum[i]))
			return -EIO;
	}
	return 0;
}

int metrics_write_all(FILE *f, const json_t *stats, const json_t *status)
{
	FILE *proc;
	int ret;

	ret = metrics_write(f, stats, status);
	proc = fopen("/proc/net/stat/nf_flowtable", "r");
	if (proc) {
		if (!ret && metrics_write_flowtable(f, proc) == -EIO)
			ret = -EIO;
		fclose(proc);
	}
	return ret;
}

int metrics_write_file(const char *dir, const json_t *stats, const json_t *status)
{
	char path[512], tmp[520];
	FILE *f;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/flowoffload.prom", dir);
	/* node_exporter reads *.prom only: the temporary name is never read. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644)) {
		ret = -errno;
		close(fd);
		goto err_unlink;
	}
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		goto err_unlink;
	}
	ret = metrics_write_all(f, stats, status);
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (!ret)
		return 0;
err_unlink:
	unlink(tmp);
	return ret;
}
