/* agent: the daemon's state and the glue of the data flow: conntrack events
 * and dumps into flows, policy decisions into admissions, the ruleset kept. */
#ifndef FLOWOFFLOAD_AGENT_H
#define FLOWOFFLOAD_AGENT_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "nft_ruleset.h"

struct agent;

struct agent_options {
	const char *config_path;
	bool foreground;
	bool keep_ruleset;	/* --keep-ruleset: overrides the config to yes */
};

/* Resolve devices, probe hardware offload, and build the plan for cfg.
 * 0 or negative errno with the reason in err. */
int agent_plan(const struct fo_config *cfg, struct ruleset_plan *plan, bool probe_hw,
	       FILE *notes, char *err, size_t errlen);

/* Set everything up (ruleset, sockets, startup dump) and run the loop until
 * SIGTERM/SIGINT.  Returns the process exit code. */
int agent_run(const struct agent_options *opt, const struct fo_config *cfg);

#endif
