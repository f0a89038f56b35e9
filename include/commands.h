/* commands: the control socket's commands (status, flows, classes, stats,
 * reload): what each answers, in text and in JSON (--json). */
#ifndef FLOWOFFLOAD_COMMANDS_H
#define FLOWOFFLOAD_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "agent.h"
#include "config.h"
#include "nft_ruleset.h"

struct ct_admit;
struct ct_sync;
struct ctl_call;
struct ctl_stats;
struct devices;
struct metrics_http_stats;
struct mice_set;
struct window_apply;
struct routes;
struct prefix_stats;
struct ruleset_guard;
struct tracker;

/* Where the answers come from: the agent's modules, read at each command. */
struct commands_ctx {
	const struct fo_config *cfg;
	const char *config_path;
	const struct ruleset_plan *plan;
	struct tracker *trk;
	struct ct_sync *sync;		/* also asked for fresh flow states */
	const struct ct_admit *adm;
	const struct ruleset_guard *guard;
	const struct devices *devs;
	const struct routes *routes;	/* [routes]; NULL or idle without tables */
	const struct mice_set *mice;	/* the mice classes' sets */
	const struct window_apply *window; /* [classes] learn-window */
	const struct prefix_stats *pstats;	/* slots NULL: analysis off */
	const struct shaping *shaping;
	const struct agent_stats *agent;
	uint64_t started_ms;
	const struct ctl_stats *ctl;	/* the control socket's counters */
	const struct metrics_http_stats *http;	/* the scrape endpoint's; NULL: none */
	/* reload: the agent's; writes its outcome to out, 0 or -errno. */
	int (*reload)(void *arg, FILE *out);
	void *reload_arg;
};

/* The stats and status answers as JSON (the caller owns them), for
 * writers outside the control socket (the metrics file). */
json_t *commands_stats_json(const struct commands_ctx *c);
json_t *commands_status_json(const struct commands_ctx *c);
/* The text status's table of the devices (status_json.c). */
void commands_print_devices(FILE *out, json_t *devs);

/* A ctl_handler: arg is a struct commands_ctx. */
int commands_handle(struct ctl_call *call, int argc, char **argv, FILE *out, void *arg);

#endif
