/* agent_int: the agent's state, shared by the files of the daemon's
 * lifecycle (agent.c) and of what it reports outside (agent_report.c). */
#ifndef FLOWOFFLOAD_AGENT_INT_H
#define FLOWOFFLOAD_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "commands.h"
#include "config.h"
#include "nft_ruleset.h"
#include "prefix_stats.h"
#include "privs.h"

struct ct_admit;
struct ct_sync;
struct ctl;
struct devices;
struct loop;
struct loop_timer;
struct metrics_http;
struct mice_set;
struct routes;
struct ruleset_guard;
struct sd_notify;
struct shaping;
struct tracker;
struct window_apply;

struct agent {
	struct fo_config cfg;
	const char *config_path;
	bool foreground;
	bool keep_ruleset_opt;
	struct ruleset_plan plan;
	char *rendered;

	struct loop *loop;
	struct tracker *trk;
	struct ct_admit *adm;
	struct nft_ruleset *nft;
	struct ruleset_guard *guard;
	struct ct_sync *sync;
	struct devices *devs;
	struct routes *routes;		/* [routes] */
	struct mice_set *mice;		/* the learned mice classes' sets */
	struct window_apply *window;	/* [classes] learn-window */
	struct prefix_stats pstats;	/* flowoffloadctl prefixes */
	struct shaping *shaping;
	struct ctl *ctl;
	struct commands_ctx cmds;
	int lock_fd;
	struct sd_notify *notify;	/* NULL unless a service manager listens */
	struct loop_timer *notify_status, *notify_watchdog;
	struct loop_timer *metrics_timer;	/* [agent] metrics-dir */
	int metrics_err;			/* last write's error, logged once */
	struct metrics_http *http;		/* [agent] metrics-listen */
	const char *user_opt, *group_opt; /* -u USER[:GROUP], over the config */
	struct privs_user user;

	size_t hw_contested;	/* hardware devices left to another flowtable */

	uint64_t started_ms;
	uint64_t ctl_reload_ms;	/* the last reload asked over the socket; 0: none */
	int exit_code;
	struct agent_stats st;
};

/* agent_report.c.  READY=1 with the STATUS= line (after the start and each
 * reload). */
void agent_notify_ready(struct agent *a);
/* READY=1, then the status and watchdog timers; 0 without a manager. */
int agent_notify_started(struct agent *a);
/* [agent] metrics-listen: opened before the privileges go; 0 or -1 after
 * logging why. */
int agent_metrics_http_open(struct agent *a);
/* [agent] metrics-dir: start, re-time or stop the writer. */
int agent_metrics_schedule(struct agent *a);

#endif
