/* devices: follows the router's links (rtnetlink notifications) and keeps
 * the flowtables' devices equal to the config's selection, in place. */
#ifndef FLOWOFFLOAD_DEVICES_H
#define FLOWOFFLOAD_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "nft_ruleset.h"

struct loop;
struct devices;
struct ruleset_guard;

struct devices_stats {
	uint64_t events;	/* link and forwarding notifications read */
	uint64_t events_ignored; /* changing nothing the selection reads */
	uint64_t overruns;	/* ENOBUFS: events lost, a full recompute follows */
	uint64_t recomputes;	/* selections recomputed */
	uint64_t set_changes;	/* ... that changed the device set */
	uint64_t updates;	/* flowtable transactions sent */
	uint64_t added;		/* devices put into a flowtable */
	uint64_t removed;	/* devices taken out of one */
	uint64_t readded;	/* planned devices the kernel had dropped after a
				 * link event (deleted and re-created) */
	uint64_t repairs;	/* planned devices missing in the kernel with no
				 * link event to explain it (someone removed it) */
	uint64_t failures;	/* recomputes or transactions that failed */
	uint64_t empty;		/* selections matching nothing (previous set kept) */
	uint64_t path_slow;	/* checks of an [OFFLOAD] flow that found it
				 * entering on a device the flowtable does not
				 * hook (not reported offloaded; asked again at
				 * each dump until its path is fast) */
};

/* What the kernel's flowtables hooked at the last read-back. */
struct devices_kernel {
	int present;		/* NFT_RULESET_SW | NFT_RULESET_HW, or -errno */
	uint64_t read_ms;	/* loop_now_ms() of the read, 0: never */
	struct ruleset_plan devs;
};

/* plan is the agent's, updated in place when the selection changes;
 * changed(arg) is told afterwards.  cfg is read at each use.  Opens the
 * notification socket at once (before the startup dump: nothing between
 * is missed). */
int devices_open(struct devices **out, struct loop *l, const struct fo_config *cfg,
		 struct ruleset_plan *plan, struct nft_ruleset *nft, struct ruleset_guard *guard,
		 void (*changed)(void *arg), void *arg);
/* Watch the socket, reconcile the kernel with the plan now, and read the
 * flowtables back every status-interval. */
int devices_start(struct devices *d);
void devices_close(struct devices *d);

/* Can the flow's packets take the fast path: are the devices both of its
 * directions enter on hooked by the (hw: hardware) flowtable, as last read
 * back?  Two route lookups; true when they cannot tell. */
struct ct_info;
bool devices_path_fast(struct devices *d, const struct ct_info *ct, bool hw);

const struct devices_stats *devices_stats(const struct devices *d);
const struct devices_kernel *devices_kernel(const struct devices *d);

#endif
