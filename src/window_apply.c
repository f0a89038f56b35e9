/* window_apply: asks the cost model (window_learn.c) for the window-from of
 * least modelled CPU on the classes' flows, and changes it rarely. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"
#include "log.h"
#include "loop.h"
#include "tracker.h"
#include "window_apply.h"
#include "window_learn.h"

/*
 * The distribution is that of the classes that are not mice (the mice set
 * keeps the others from the offload rules), summed: one window for the
 * one offload rule per protocol.  A change reinstalls the ruleset (one
 * transaction), which sends every offloaded flow through the slow path
 * once more (the readmit rule takes it back), so it is made only when the
 * model saves MIN_GAIN_PCT and at most once per [classes] window-hold.
 * The lower bound 3: a TCP flow is established at its third packet.
 */
#define LOOK_MS 60000
#define MIN_GAIN_PCT 2.0
#define WINDOW_MIN 3
#define MIN_FLOWS_FACTOR 5	/* times [classes] min-flows before any choice */

struct window_apply {
	struct loop *loop;
	const struct fo_config *cfg;
	const struct tracker *trk;
	int (*change)(void *arg, uint32_t w, char *err, size_t errlen);
	void *arg;
	struct loop_timer *timer;
	uint64_t held_since_ms;	/* start, reload or the last change */
	struct window_apply_view v;
};

static void look(struct window_apply *w, uint64_t now)
{
	const struct window_costs costs = WINDOW_COSTS_MEASURED;
	struct window_bucket b[CLASSES_HIST_BUCKETS];
	uint32_t cur = w->cfg->window_from, hi = w->cfg->window_until, best, next;
	double best_cost = 0, cur_cost, flows = 0;
	char err[512] = "";
	size_t n, i;
	int ret;

	w->v.on = w->cfg->classes_learn_window;
	w->v.in_force = cur;
	if (!w->v.on)
		return;
	n = classes_window_dist(tracker_classes(w->trk), now, b);
	for (i = 0; i < n; i++)
		flows += b[i].weight;
	w->v.flows = flows;
	if (flows < (double)w->cfg->classes_min_flows * MIN_FLOWS_FACTOR || hi < WINDOW_MIN)
		return;
	best = window_learn_best(b, n, &costs, WINDOW_MIN, hi, &best_cost);
	cur_cost = window_learn_cost(b, n, &costs, cur);
	w->v.best = best;
	w->v.saving_pct = cur_cost > 0 ? 100.0 * (cur_cost - best_cost) / cur_cost : 0;
	if (now - w->held_since_ms < w->cfg->classes_window_hold_ms)
		return;
	next = window_learn_decide(b, n, &costs, cur, WINDOW_MIN, hi, MIN_GAIN_PCT);
	if (next == cur)
		return;
	ret = w->change(w->arg, next, err, sizeof(err));
	if (ret) {
		w->v.failures++;
		log_err("learned window-from %u (from %u, modelled %.1f%% less router CPU): cannot install it: %s",
			next, cur, w->v.saving_pct, err[0] ? err : strerror(-ret));
		w->held_since_ms = now;	/* try again after a hold */
		return;
	}
	log_notice("window-from %u -> %u: the cost model saves %.1f%% of the modelled router CPU on %.0f recent flows",
		   cur, next, w->v.saving_pct, flows);
	w->v.changes++;
	w->v.last_change_ms = now;
	w->v.in_force = next;
	w->held_since_ms = now;
}

static void on_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	look(arg, loop_now_ms());
}

int window_apply_open(struct window_apply **out, struct loop *l, const struct fo_config *cfg,
		      const struct tracker *trk,
		      int (*change)(void *arg, uint32_t w, char *err, size_t errlen), void *arg)
{
	struct window_apply *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	*w = (struct window_apply){ .loop = l, .cfg = cfg, .trk = trk, .change = change,
				    .arg = arg, .held_since_ms = loop_now_ms() };
	w->v.on = cfg->classes_learn_window;
	w->v.in_force = cfg->window_from;
	*out = w;
	return 0;
}

int window_apply_start(struct window_apply *w)
{
	if (!w)
		return 0;
	return loop_timer_add(w->loop, LOOK_MS, LOOK_MS, on_timer, w, &w->timer);
}

void window_apply_close(struct window_apply *w)
{
	free(w);
}

void window_apply_reload(struct window_apply *w)
{
	if (!w)
		return;
	w->held_since_ms = loop_now_ms();
	w->v.on = w->cfg->classes_learn_window;
	w->v.in_force = w->cfg->window_from;
	w->v.best = 0;
}

void window_apply_view(const struct window_apply *w, struct window_apply_view *v)
{
	memset(v, 0, sizeof(*v));
	if (w)
		*v = w->v;
}
