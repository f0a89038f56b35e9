/* status_json: the status answer of the control socket (and the metrics
 * file): the plan, the devices as the kernel holds them, the tiers. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ct_sync.h"
#include "devices.h"
#include "flows.h"
#include "hw_budget.h"
#include "loop.h"
#include "nft_foreign.h"
#include "plan.h"
#include "routes.h"
#include "ruleset_guard.h"
#include "shaping.h"
#include "tracker.h"

/* Other tables' flowtables on our devices (fw4's), as last read. */
static json_t *foreign_json(const struct commands_ctx *c)
{
	const struct nft_foreign *f = ruleset_guard_foreign(c->guard);
	json_t *a = json_array();
	size_t i, k;

	for (i = 0; i < f->n; i++) {
		const struct nft_foreign_ft *ft = &f->ft[i];
		char table[2 * NFT_FOREIGN_NAME];
		json_t *devs = json_array();

		for (k = 0; k < ft->n_devs; k++)
			json_array_append_new(devs, json_string(ft->devs[k]));
		snprintf(table, sizeof(table), "%s %s", nft_foreign_family_str(ft->family),
			 ft->table);
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:i, s:b, s:o}", "table", table,
						   "flowtable", ft->name, "hw", ft->hw,
						   "rules", (int)ft->rules, "offloads", ft->rules > 0,
						   "devices", devs));
	}
	return a;
}

/* Why dev is not in the hardware tier when another table holds its NIC. */
static json_t *hw_refused_json(const struct commands_ctx *c, const char *dev)
{
	const struct nft_foreign_ft *by;
	char why[256];

	if (c->cfg->hw_mode == HW_MODE_OFF)
		return json_null();
	by = nft_foreign_hw_on(ruleset_guard_foreign(c->guard), dev);
	if (!by)
		return json_null();
	snprintf(why, sizeof(why), "table %s %s flowtable %s has flags offload on %s",
		 nft_foreign_family_str(by->family), by->table, by->name, dev);
	return json_string(why);
}

static json_t *ms_ago(uint64_t then)
{
	return then ? json_integer((json_int_t)(loop_now_ms() - then)) : json_null();
}

/* Per role: the tables it follows ("100", "100:bird"), the routes followed
 * and the merged intervals its set holds, per family. */
static json_t *routes_status_json(const struct commands_ctx *c)
{
	static const char *const roles[ROUTE_ROLES] = { "prefer_hardware", "only", "never" };
	const struct fo_config *cfg = c->cfg;
	struct routes_view v;
	json_t *j, *r, *tables, *per;
	char name[32];
	size_t i;
	int role;

	routes_view(c->routes, &v);
	j = json_pack("{s:o, s:o, s:o, s:b, s:I, s:I}",
		      "last_change_ms_ago", ms_ago(v.last_change_ms),
		      "last_apply_ms_ago", ms_ago(v.last_apply_ms),
		      "last_resync_ms_ago", ms_ago(v.last_resync_ms),
		      "pending", v.pending,
		      "sync_lag_ms", (json_int_t)routes_stats(c->routes)->lag_last_ms,
		      "max_prefixes", (json_int_t)cfg->routes_max);
	for (role = 0; role < ROUTE_ROLES; role++) {
		if (!cfg->n_routes[role])
			continue;
		tables = json_array();
		per = json_object();
		for (i = 0; i < cfg->n_routes[role]; i++) {
			const struct route_table_sel *s = &cfg->routes[role][i];

			if (s->proto >= 0)
				snprintf(name, sizeof(name), "%u:%d", s->table, s->proto);
			else
				snprintf(name, sizeof(name), "%u", s->table);
			json_array_append_new(tables, json_string(name));
			/* Per table: its routes (all the role follows of that
			 * table) and when one last changed; the set sizes and
			 * the sync lag are the role's and the agent's. */
			json_object_set_new(per, name,
					    json_pack("{s:I, s:I, s:o}",
						      "ipv4_routes", (json_int_t)v.table_routes[role][i][0],
						      "ipv6_routes", (json_int_t)v.table_routes[role][i][1],
						      "last_change_ms_ago",
						      ms_ago(v.table_change_ms[role][i])));
		}
		r = json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:I, s:o}", "tables", tables,
			      "ipv4_routes", (json_int_t)v.routes[role][0],
			      "ipv6_routes", (json_int_t)v.routes[role][1],
			      "ipv4_intervals", (json_int_t)v.intervals[role][0],
			      "ipv6_intervals", (json_int_t)v.intervals[role][1],
			      "over_limit", v.over[role][0] || v.over[role][1],
			      "over_limit_count", (json_int_t)v.over_count[role],
			      "per_table", per);
		json_object_set_new(j, roles[role], r);
	}
	return j;
}

/* The devices that shape ("wan0:tbf", "lan0:ingress") and the policy. */
static json_t *shaping_status_json(const struct commands_ctx *c)
{
	static const char *const policies[] = { [SHAPING_KEEP] = "keep",
						[SHAPING_SW_ONLY] = "software-only",
						[SHAPING_IGNORE] = "ignore" };
	const struct shaping_set *s = shaping_current(c->shaping);
	json_t *devs = json_array();
	size_t i;

	for (i = 0; i < s->n; i++) {
		char buf[64];

		if (!shaping_dev_shaped(s, &s->devs[i]))
			continue;
		snprintf(buf, sizeof(buf), "%s:%s", s->devs[i].name,
			 s->devs[i].shaper[0] ? s->devs[i].shaper : "ingress");
		json_array_append_new(devs, json_string(buf));
	}
	return json_pack("{s:s, s:o}", "policy",
			 (unsigned int)c->cfg->shaping_policy < 3 ? policies[c->cfg->shaping_policy] :
								     "?",
			 "devices", devs);
}

/* The flowtables' devices as the kernel last answered (read back every
 * status-interval), not as planned. */
static json_t *kernel_devs_json(const struct commands_ctx *c, bool hw)
{
	const struct devices_kernel *k = devices_kernel(c->devs);
	const struct ruleset_plan *p = &k->devs;
	json_t *a = json_array();
	size_t i, n = hw ? p->n_hw : p->n_sw;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(hw ? p->hw_devs[i] : p->sw_devs[i]));
	return a;
}

static bool in_kernel(const struct commands_ctx *c, const char *dev)
{
	const struct ruleset_plan *p = &devices_kernel(c->devs)->devs;
	size_t i;

	for (i = 0; i < p->n_sw; i++)
		if (!strcmp(p->sw_devs[i], dev))
			return true;
	return false;
}

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

json_t *commands_status_json(const struct commands_ctx *c)
{
	const struct ruleset_plan *plan = c->plan;
	json_t *devs = json_array(), *hw, *j;
	char mask[12];
	size_t i;

	for (i = 0; i < plan->n_sw; i++) {
		bool cap = plan_has_hw(plan, plan->sw_devs[i]);

		json_array_append_new(devs, json_pack("{s:s, s:b, s:s, s:o, s:b, s:o}", "name",
						      plan->sw_devs[i], "hardware", cap, "tiers",
						      cap ? "sw,hw" : "sw", "hw_group",
						      cap ? hw_group_json(c) : json_null(),
						      "in_kernel", in_kernel(c, plan->sw_devs[i]),
						      "hw_refused", hw_refused_json(c, plan->sw_devs[i])));
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
	if (c->shaping)
		json_object_set_new(j, "shaping", shaping_status_json(c));
	json_object_set_new(j, "foreign_flowtables", foreign_json(c));
	snprintf(mask, sizeof(mask), "0x%08x", c->cfg->mark_mask);
	json_object_set_new(j, "mark_mask", json_string(mask));
	json_object_set_new(j, "kernel", json_pack("{s:o, s:o, s:I}",
						   "software", kernel_devs_json(c, false),
						   "hardware", kernel_devs_json(c, true),
						   "read_ms_ago",
						   (json_int_t)(loop_now_ms() -
								devices_kernel(c->devs)->read_ms)));
	if (c->sync) {
		uint64_t age = ct_sync_status_age_ms(c->sync);

		json_object_set_new(j, "flows_read_ms_ago",
				    age == UINT64_MAX ? json_null() : json_integer((json_int_t)age));
	}
	if (routes_enabled(c->routes))
		json_object_set_new(j, "routes", routes_status_json(c));
	return j;
}

static long long int_of(json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* Text status: the flat keys, then a table of the devices. */
void commands_print_devices(FILE *out, json_t *devs)
{
	size_t i;
	json_t *d;

	fprintf(out, "\n%-16s %-9s %-8s %-6s %9s %7s %8s %7s %14s\n", "DEVICE", "IN_KERNEL",
		"HARDWARE", "TIERS", "CAPACITY", "IN_USE", "PENDING", "FAILED", "FAILED_INSERTS");
	json_array_foreach(devs, i, d) {
		json_t *g = json_object_get(d, "hw_group");

		fprintf(out, "%-16s %-9s %-8s %-6s", json_string_value(json_object_get(d, "name")),
			json_is_true(json_object_get(d, "in_kernel")) ? "yes" : "NO",
			json_is_true(json_object_get(d, "hardware")) ? "yes" : "no",
			json_string_value(json_object_get(d, "tiers")));
		if (json_is_object(g))
			fprintf(out, " %9lld %7lld %8lld %7lld %14lld\n", int_of(g, "capacity"),
				int_of(g, "in_use"), int_of(g, "pending"), int_of(g, "failed"),
				int_of(g, "failed_insertions"));
		else
			fprintf(out, " %9s %7s %8s %7s %14s\n", "-", "-", "-", "-", "-");
	}
	json_array_foreach(devs, i, d)
		if (json_is_string(json_object_get(d, "hw_refused")))
			fprintf(out, "%s: hardware tier refused: %s\n",
				json_string_value(json_object_get(d, "name")),
				json_string_value(json_object_get(d, "hw_refused")));
}
