/* window_apply: [classes] learn-window: every minute, the window-from the
 * cost model prefers for the classes' flows, applied rarely (hysteresis). */
#ifndef FLOWOFFLOAD_WINDOW_APPLY_H
#define FLOWOFFLOAD_WINDOW_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct loop;
struct tracker;
struct window_apply;

/* What `flowoffloadctl classes` and status show. */
struct window_apply_view {
	bool on;			/* [classes] learn-window */
	uint32_t in_force;		/* the ruleset's window-from now */
	uint32_t best;			/* the model's best at the last look; 0: none yet */
	double saving_pct;		/* of in_force's modelled cost, at best */
	double flows;			/* decayed flows the distribution holds */
	uint64_t changes, failures;
	uint64_t last_change_ms;	/* loop_now_ms(); 0: never */
};

/* change(arg, w, err, errlen): install the ruleset with window-from w in
 * one transaction; 0 or -errno with err set.  cfg is the agent's. */
int window_apply_open(struct window_apply **out, struct loop *l, const struct fo_config *cfg,
		      const struct tracker *trk,
		      int (*change)(void *arg, uint32_t w, char *err, size_t errlen), void *arg);
int window_apply_start(struct window_apply *w);
void window_apply_close(struct window_apply *w);
/* The config was reloaded: its window-from is the start again. */
void window_apply_reload(struct window_apply *w);
void window_apply_view(const struct window_apply *w, struct window_apply_view *v);

#endif
