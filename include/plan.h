/* plan: the startup plan: which devices get the software flowtable, which
 * the hardware one (probed), from the [devices] and [hardware] config. */
#ifndef FLOWOFFLOAD_PLAN_H
#define FLOWOFFLOAD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "nft_ruleset.h"

/* Resolve devices, probe hardware offload (probe_hw), and build the plan
 * for cfg; notes, if not NULL, hears of devices left to software.  0 or a
 * negative errno with the reason in err. */
int plan_build(const struct fo_config *cfg, struct ruleset_plan *plan, bool probe_hw,
	       FILE *notes, char *err, size_t errlen);

struct link_info;
struct links_memory;
/* The same from a given list of links (the device watcher's dump); mem
 * (may be NULL) as links_resolve.  notes hears each resolved path. */
int plan_from_links(const struct fo_config *cfg, const struct link_info *links, size_t n,
		    struct links_memory *mem, struct ruleset_plan *plan, bool probe_hw,
		    FILE *notes, char *err, size_t errlen);

/* The plan as the file says, without looking at this machine's devices
 * (--check-config): names and wildcards as written, `auto` as the
 * placeholder below; notes hears how.  0, or -ENODEV for an empty list. */
#define PLAN_AUTO_PLACEHOLDER "auto"
int plan_offline(const struct fo_config *cfg, struct ruleset_plan *plan, FILE *notes);

/* Is dev in the plan's hardware tier? */
bool plan_has_hw(const struct ruleset_plan *plan, const char *dev);

/* Log a notice for each device that could be in hardware and is not. */
void plan_log_sw_only(const struct fo_config *cfg, const struct ruleset_plan *plan);

#endif
