/* agent: the daemon's lifecycle: open every module of the data flow in
 * order, run the loop, reload the config on SIGHUP, stop and clean up. */
#ifndef FLOWOFFLOAD_AGENT_H
#define FLOWOFFLOAD_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct agent_options {
	const char *config_path;
	bool foreground;
	bool keep_ruleset;	/* --keep-ruleset: overrides the config to yes */
	const char *user;	/* -u USER[:GROUP]: overrides [agent] user and group */
	const char *group;	/* NULL or empty: the user's primary group */
};

/* The lifecycle's own counters (flowoffloadctl stats, section ruleset). */
struct agent_stats {
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t reload_rate_limited;	/* control-socket reloads refused: too soon */
};

/* Set everything up (ruleset, sockets, startup dump) and run the loop until
 * SIGTERM/SIGINT.  Returns the process exit code. */
int agent_run(const struct agent_options *opt, const struct fo_config *cfg);

#endif
