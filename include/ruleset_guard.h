/* ruleset_guard: keeps the agent's nftables tables in the kernel: installs
 * them, hears other programs delete them (monitor), checks and restores. */
#ifndef FLOWOFFLOAD_RULESET_GUARD_H
#define FLOWOFFLOAD_RULESET_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_ruleset.h"

struct loop;
struct ruleset_guard;

struct ruleset_guard_stats {
	uint64_t installs;
	uint64_t failures;
	uint64_t restored;	/* reinstalled after someone removed it */
	uint64_t events;	/* deletions in our tables by other programs */
	uint64_t checks;	/* checks those events triggered */
	uint64_t foreign_offloaders;	/* other tables offloading on our devices, now */
	uint64_t foreign_warnings;	/* warnings about them */
	uint64_t foreign_scans;		/* reads of other tables' flowtables */
	uint64_t foreign_scan_errors;
};

struct nft_foreign;
/* Told when the other programs' flowtables on our devices change. */
typedef void (*ruleset_guard_foreign_cb)(void *arg, const struct nft_foreign *f);

/* cfg and plan are the agent's, read at each use.  With manage-ruleset the
 * nftables monitor is opened now, before the first install, so that a
 * flush right after it is seen; without it, the guard's timer polls every
 * status-interval. */
int ruleset_guard_open(struct ruleset_guard **out, struct loop *l, struct nft_ruleset *nft,
		       const struct fo_config *cfg, const struct ruleset_plan *plan);
void ruleset_guard_close(struct ruleset_guard *g);

/* Keep the tables a previous agent left if they are the ones to install,
 * otherwise install; 0 or -errno (logged). */
int ruleset_guard_startup(struct ruleset_guard *g);
/* Watch the monitor and arm the check timer and the status-interval poll
 * (our tables when there is no monitor; other programs' flowtables). */
int ruleset_guard_start(struct ruleset_guard *g);

/* Install cfg and plan (a reload); counted when it succeeds, the error in
 * err otherwise. */
int ruleset_guard_install(struct ruleset_guard *g, const struct fo_config *cfg,
			  const struct ruleset_plan *plan, char *err, size_t errlen);

/* Check the tables soon (the periodic resync: the monitor's safety net). */
void ruleset_guard_recheck(struct ruleset_guard *g);

/* cb(arg) after every install that succeeded (startup, restore, reload). */
void ruleset_guard_on_install(struct ruleset_guard *g, void (*cb)(void *arg), void *arg);
/* Read other programs' flowtables on the plan's devices if the ruleset
 * changed since the last read (the guard's poll does this every status-interval),
 * warn about new ones and tell the callback.  0 or a negative errno. */
int ruleset_guard_scan_foreign(struct ruleset_guard *g);
void ruleset_guard_on_foreign(struct ruleset_guard *g, ruleset_guard_foreign_cb cb, void *arg);
/* The last findings. */
const struct nft_foreign *ruleset_guard_foreign(const struct ruleset_guard *g);

const struct ruleset_guard_stats *ruleset_guard_stats(const struct ruleset_guard *g);

#endif
