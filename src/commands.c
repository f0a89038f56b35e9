/* commands: the control socket's commands (status, flows, classes, stats,
 * reload): what each answers, in text and in JSON (--json). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "classes.h"
#include "commands.h"
#include "ct_admit.h"
#include "ct_sync.h"
#include "flows.h"
#include "loop.h"
#include "plan.h"
#include "policy.h"
#include "privs.h"
#include "ruleset_guard.h"
#include "tracker.h"

#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER)

static const char *proto_str(uint8_t p, char *buf, size_t len)
{
	if (p == IPPROTO_TCP)
		return "tcp";
	if (p == IPPROTO_UDP)
		return "udp";
	snprintf(buf, len, "%u", p);
	return buf;
}

static const char *addr_str(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static const char *family_str(uint8_t family)
{
	return family == AF_INET6 ? "ipv6" : "ipv4";
}

/* ---- flows ------------------------------------------------------------------- */

struct flows_out {
	FILE *out;
	bool json;
	size_t n;
};

/* Why the flow is where it is: the skip or wait reason, or for a
 * hardware-tier flow the driver refused, hw-refused. */
static const char *flow_reason(const struct flow *f)
{
	if (f->hw_failed)
		return "hw-refused";
	return policy_reason_str(f->skip_reason);
}

static void flow_out_cb(struct flow *f, void *arg)
{
	struct flows_out *o = arg;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN],
		rd[INET6_ADDRSTRLEN], pb[8];
	const struct ct_info *c = &f->ct;
	uint64_t pk = c->packets[0] + c->packets[1], by = c->bytes[0] + c->bytes[1];

	addr_str(c->family, c->orig.src, s, sizeof(s));
	addr_str(c->family, c->orig.dst, d, sizeof(d));
	if (o->json) {
		/* Written directly rather than built with jansson: a table of
		 * a million flows would otherwise become a million objects in
		 * memory before the first byte goes out.  Every string here is
		 * an address, a number or one of our fixed names: nothing to
		 * escape. */
		fprintf(o->out,
			"%s\n  {\"id\": %u, \"family\": \"%s\", \"proto\": \"%s\", \"src\": \"%s\", \"sport\": %u, \"dst\": \"%s\", \"dport\": %u, \"reply_src\": \"%s\", \"reply_sport\": %u, \"reply_dst\": \"%s\", \"reply_dport\": %u, \"state\": \"%s\", \"tier\": \"%s\", \"reason\": \"%s\", \"packets\": %llu, \"bytes\": %llu, \"avgpkt\": %llu, \"mark\": %u}",
			o->n++ ? "," : "", c->id, family_str(c->family),
			proto_str(c->proto, pb, sizeof(pb)), s, c->orig.sport, d, c->orig.dport,
			addr_str(c->family, c->reply.src, rs, sizeof(rs)), c->reply.sport,
			addr_str(c->family, c->reply.dst, rd, sizeof(rd)), c->reply.dport,
			flows_state_str(f->state), flows_tier_str(f->tier),
			flow_reason(f), (unsigned long long)pk,
			(unsigned long long)by, (unsigned long long)(pk ? by / pk : 0), c->mark);
		return;
	}
	fprintf(o->out, "%-10u %-4s %-4s %s:%u -> %s:%u  %-12s %-3s %-14s %10llu %14llu %6llu\n",
		c->id, family_str(c->family), proto_str(c->proto, pb, sizeof(pb)),
		s, c->orig.sport, d, c->orig.dport, flows_state_str(f->state),
		f->tier ? flows_tier_str(f->tier) : "-",
		f->skip_reason || f->hw_failed ? flow_reason(f) : "-",
		(unsigned long long)pk, (unsigned long long)by,
		(unsigned long long)(pk ? by / pk : 0));
}

static int flows_answer(const struct commands_ctx *c, FILE *out, bool json)
{
	struct flows_out o = { .out = out, .json = json };

	if (!json)
		fprintf(out, "%-10s %-4s %-4s %-46s %-12s %-3s %-14s %10s %14s %6s\n", "ID", "FAM",
			"PROT", "FLOW", "STATE", "TIER", "REASON", "PACKETS", "BYTES", "AVGPKT");
	else
		fputc('[', out);
	flows_foreach(tracker_flows(c->trk), flow_out_cb, &o);
	if (json)
		fputs(o.n ? "\n]\n" : "]\n", out);
	return 0;
}

/* ---- stats: one section per module ------------------------------------------ */

static json_t *events_json(const struct commands_ctx *c)
{
	const struct ct_events_stats *es = ct_sync_events_stats(c->sync);
	const struct ct_sync_stats *ss = ct_sync_stats(c->sync);
	const struct tracker_stats *ts = tracker_stats(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			 "new", (json_int_t)ts->events[CT_MSG_NEW],
			 "update", (json_int_t)ts->events[CT_MSG_UPDATE],
			 "destroy", (json_int_t)ts->events[CT_MSG_DESTROY],
			 "dump_entries", (json_int_t)ts->events[CT_MSG_DUMP],
			 "parse_errors", (json_int_t)es->parse_errors,
			 "overruns", (json_int_t)ss->overruns,
			 "rcvbuf", (json_int_t)es->rcvbuf,
			 "rcvbuf_grows", (json_int_t)ss->rcvbuf_grows,
			 "batched_pauses", (json_int_t)ss->event_batches,
			 "ignored", (json_int_t)ts->ignored,
			 "quiet_skipped", (json_int_t)ts->quiet_skipped,
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

	return json_pack("{s:I, s:I, s:I, s:I}",
			 "marks_written", (json_int_t)as->updates,
			 "gone", (json_int_t)as->gone,
			 "errors", (json_int_t)as->errors,
			 "adopted", (json_int_t)tracker_stats(c->trk)->adopted);
}

static json_t *flows_json(const struct commands_ctx *c)
{
	const struct tracker_stats *ts = tracker_stats(c->trk);
	const struct flows *fl = tracker_flows(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I}",
			 "tracked", (json_int_t)flows_count(fl),
			 "capacity", (json_int_t)flows_capacity(fl),
			 "table_full", (json_int_t)ts->table_full,
			 "returned_to_slow_path", (json_int_t)ts->returned);
}

static json_t *offload_json(const struct commands_ctx *c)
{
	const struct tracker_stats *ts = tracker_stats(c->trk);
	const struct hw_budget *hw = tracker_budget(c->trk);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "offloaded", (json_int_t)ts->offloaded,
			 "hw_offloaded", (json_int_t)ts->hw_offloaded,
			 "hw_in_use", (json_int_t)hw->in_use,
			 "hw_pending", (json_int_t)hw->pending,
			 "hw_failed_insertions", (json_int_t)hw->failed,
			 "hw_late_confirmations", (json_int_t)hw->late,
			 "hw_mark_too_late", (json_int_t)ts->hw_raced,
			 "hw_returned_to_sw", (json_int_t)ts->hw_returned_sw,
			 "hw_max_in_use", (json_int_t)hw->max_in_use,
			 "status_dump_errors", (json_int_t)ct_sync_stats(c->sync)->status_errors);
}

static json_t *resync_json(const struct commands_ctx *c)
{
	const struct ct_sync_stats *ss = ct_sync_stats(c->sync);

	return json_pack("{s:I, s:I, s:I}",
			 "resyncs", (json_int_t)ss->resyncs,
			 "after_overrun", (json_int_t)ss->resyncs_after_overrun,
			 "errors", (json_int_t)ss->resync_errors);
}

static json_t *ruleset_json(const struct commands_ctx *c)
{
	const struct ruleset_guard_stats *gs = ruleset_guard_stats(c->guard);

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "installs", (json_int_t)gs->installs,
			 "failures", (json_int_t)gs->failures,
			 "restored", (json_int_t)gs->restored,
			 "reloads", (json_int_t)c->agent->reloads,
			 "reload_failures", (json_int_t)c->agent->reload_failures,
			 "foreign_deletions", (json_int_t)gs->events,
			 "checks", (json_int_t)gs->checks);
}

static json_t *process_json(const struct commands_ctx *c)
{
	struct rusage ru;
	double cpu;

	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
	return json_pack("{s:f, s:I, s:I, s:I}",
			 "cpu_seconds", cpu,
			 "max_rss_kb", (json_int_t)ru.ru_maxrss,
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

	if (j)
		json_object_set_new(j, "classes", classes_json(c));
	return j;
}

/* ---- status ------------------------------------------------------------------ */

/* The hardware budget is one NIC table shared by every device of the
 * hardware flowtable (one chip, as on the routers we target): each such
 * device shows the same group figures. */
static json_t *hw_group_json(const struct commands_ctx *c)
{
	const struct hw_budget *hw = tracker_budget(c->trk);

	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:i}",
			 "capacity", (int)c->cfg->hw_capacity,
			 "watermark", (int)c->cfg->hw_watermark,
			 "in_use", (int)hw->in_use,
			 "pending", (int)hw->pending,
			 "failed", (int)hw->failed_now,
			 "failed_insertions", (json_int_t)hw->failed,
			 "late_confirmations", (json_int_t)hw->late,
			 "max_in_use", (int)hw->max_in_use);
}

static const char *hw_mode_str(enum hw_mode m)
{
	return m == HW_MODE_ON ? "on" : m == HW_MODE_AUTO ? "auto" : "off";
}

static json_t *status_json(const struct commands_ctx *c)
{
	const struct ruleset_plan *plan = c->plan;
	json_t *devs = json_array(), *hw, *j;
	char mask[12];
	size_t i;

	for (i = 0; i < plan->n_sw; i++) {
		bool cap = plan_has_hw(plan, plan->sw_devs[i]);

		json_array_append_new(devs, json_pack("{s:s, s:b, s:s, s:o}", "name",
						      plan->sw_devs[i], "hardware", cap, "tiers",
						      cap ? "sw,hw" : "sw", "hw_group",
						      cap ? hw_group_json(c) : json_null()));
	}
	hw = hw_group_json(c);
	json_object_set_new(hw, "available", json_boolean(plan->n_hw > 0));
	j = json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b, s:b, s:s, s:o, s:o, s:I}",
		      "version", PACKAGE_VERSION,
		      "config", c->config_path,
		      "window_from", (int)c->cfg->window_from,
		      "window_until", (int)c->cfg->window_until,
		      "min_avgpkt", (int)c->cfg->min_avgpkt,
		      "tcp", c->cfg->proto_tcp, "udp", c->cfg->proto_udp,
		      "tcp_ack_only", c->cfg->tcp_ack_only,
		      "hardware_mode", hw_mode_str(c->cfg->hw_mode),
		      "devices", devs,
		      "hardware", hw,
		      "flows_tracked", (json_int_t)flows_count(tracker_flows(c->trk)));
	snprintf(mask, sizeof(mask), "0x%08x", c->cfg->mark_mask);
	json_object_set_new(j, "mark_mask", json_string(mask));
	return j;
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
	}
}

static long long int_of(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* Text status: the flat keys, then a table of the devices. */
static void print_devices(FILE *out, json_t *devs)
{
	size_t i;
	json_t *d;

	fprintf(out, "\n%-16s %-8s %-6s %9s %7s %8s %7s %14s\n", "DEVICE", "HARDWARE", "TIERS",
		"CAPACITY", "IN_USE", "PENDING", "FAILED", "FAILED_INSERTS");
	json_array_foreach(devs, i, d) {
		json_t *g = json_object_get(d, "hw_group");

		fprintf(out, "%-16s %-8s %-6s", json_string_value(json_object_get(d, "name")),
			json_is_true(json_object_get(d, "hardware")) ? "yes" : "no",
			json_string_value(json_object_get(d, "tiers")));
		if (json_is_object(g))
			fprintf(out, " %9lld %7lld %8lld %7lld %14lld\n", int_of(g, "capacity"),
				int_of(g, "in_use"), int_of(g, "pending"), int_of(g, "failed"),
				int_of(g, "failed_insertions"));
		else
			fprintf(out, " %9s %7s %8s %7s %14s\n", "-", "-", "-", "-", "-");
	}
}

/* ---- classes ------------------------------------------------------------------ */

static json_t *class_json(const struct class_stats *cs, const char *proto, const char *server)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:f, s:I, s:f, s:i, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:s}",
			 "family", family_str(cs->family),
			 "proto", proto, "port", (int)cs->port, "server", server,
			 "weight", cs->weight, "flows", (json_int_t)cs->flows_total,
			 "mice_share", cs->mice_share,
			 "clients", (int)cs->clients, "counted_weight", cs->counted_weight,
			 "packets", "p50", (json_int_t)cs->packets_p50,
			 "p90", (json_int_t)cs->packets_p90,
			 "p99", (json_int_t)cs->packets_p99,
			 "bytes", "p50", (json_int_t)cs->bytes_p50,
			 "p90", (json_int_t)cs->bytes_p90,
			 "p99", (json_int_t)cs->bytes_p99,
			 "duration_ms", "p50", (json_int_t)cs->duration_ms_p50,
			 "p90", (json_int_t)cs->duration_ms_p90,
			 "verdict", classes_verdict_str(cs->verdict));
}

static void print_class(FILE *out, const struct class_stats *cs, const char *proto,
			const char *server)
{
	char pk[32], by[48], du[32];

	snprintf(pk, sizeof(pk), "%llu/%llu/%llu", (unsigned long long)cs->packets_p50,
		 (unsigned long long)cs->packets_p90, (unsigned long long)cs->packets_p99);
	snprintf(by, sizeof(by), "%llu/%llu/%llu", (unsigned long long)cs->bytes_p50,
		 (unsigned long long)cs->bytes_p90, (unsigned long long)cs->bytes_p99);
	snprintf(du, sizeof(du), "%llu/%llu", (unsigned long long)cs->duration_ms_p50,
		 (unsigned long long)cs->duration_ms_p90);
	fprintf(out, "%-4s %-5s %-5u %-24s %9.1f %9llu %6.1f %20s %26s %16s %s\n",
		family_str(cs->family), proto, cs->port, server, cs->weight,
		(unsigned long long)cs->flows_total, 100.0 * cs->mice_share, pk, by, du,
		classes_verdict_str(cs->verdict));
}

/* flowoffloadctl classes: what was learned, heaviest class first. */
static int classes_answer(const struct commands_ctx *c, FILE *out, bool json)
{
	struct classes *cls = tracker_classes(c->trk);
	size_t n = classes_count(cls), i;
	struct class_stats *cs;
	json_t *arr;

	if (!cls) {
		if (json)
			fputs("[]\n", out);
		else
			fputs("class learning is off ([classes] learn = no)\n", out);
		return 0;
	}
	cs = calloc(n ? n : 1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	n = classes_snapshot(cls, cs, n, loop_now_ms());
	arr = json ? json_array() : NULL;
	if (!json)
		fprintf(out, "%-4s %-5s %-5s %-24s %9s %9s %6s %20s %26s %16s %s\n", "FAM", "PROTO",
			"PORT", "SERVER", "WEIGHT", "FLOWS", "MICE%", "PACKETS p50/p90/p99",
			"BYTES p50/p90/p99", "MS p50/p90", "VERDICT");
	for (i = 0; i < n; i++) {
		char server[INET6_ADDRSTRLEN + 4] = "*", pbuf[8];
		const char *pb = proto_str(cs[i].proto, pbuf, sizeof(pbuf));

		if (cs[i].prefix_len) {
			addr_str(cs[i].family, cs[i].server, server, sizeof(server));
			snprintf(server + strlen(server), sizeof(server) - strlen(server), "/%u",
				 cs[i].prefix_len);
		}
		if (json)
			json_array_append_new(arr, class_json(&cs[i], pb, server));
		else
			print_class(out, &cs[i], pb, server);
	}
	if (json) {
		json_dumpf(arr, out, JSON_FLAGS);
		fputc('\n', out);
		json_decref(arr);
	}
	free(cs);
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

int commands_handle(int argc, char **argv, FILE *out, void *arg)
{
	const struct commands_ctx *c = arg;
	bool json = false;
	const char *cmd = argv[0];
	json_t *j = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(out, "%s: unknown option '%s'\n", cmd, argv[i]);
			return -EINVAL;
		}
	}
	if (strcmp(cmd, "status") == 0) {
		j = status_json(c);
	} else if (strcmp(cmd, "stats") == 0) {
		j = stats_json(c);
	} else if (strcmp(cmd, "flows") == 0) {
		return flows_answer(c, out, json);
	} else if (strcmp(cmd, "classes") == 0) {
		return classes_answer(c, out, json);
	} else if (strcmp(cmd, "reload") == 0) {
		return c->reload(c->reload_arg, out);
	} else {
		fprintf(out, "unknown command '%s'; commands: status flows classes stats reload\n",
			cmd);
		return -EINVAL;
	}
	if (json) {
		json_dumpf(j, out, JSON_FLAGS);
		fputc('\n', out);
	} else if (json_is_object(j)) {
		print_flat(out, j, "");
		if (json_is_array(json_object_get(j, "devices")))
			print_devices(out, json_object_get(j, "devices"));
	}
	json_decref(j);
	return 0;
}
