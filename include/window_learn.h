/* window_learn: the window-from that minimises the modelled router CPU for
 * a packet-count distribution of finished flows (pure: no I/O, no clock). */
#ifndef FLOWOFFLOAD_WINDOW_LEARN_H
#define FLOWOFFLOAD_WINDOW_LEARN_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds of router CPU (README, "Mice, and what an entry costs":
 * bench/cost_model, Debian 6.1 under TCG, medians). */
struct window_costs {
	double slow_us;		/* a slow-path packet: 32.2 */
	double fast_us;		/* a fast-path packet: 11.3 */
	double entry_us;	/* a software entry (add, GC, teardown): below what
				 * the bench resolves, "at most a few slow-path
				 * packets": 3 of them */
};

#define WINDOW_COSTS_MEASURED { 32.2, 11.3, 3 * 32.2 }

/* A distribution of flow sizes in packets: weight[i] flows with between
 * lo[i] and hi[i] packets (inclusive), spread evenly. */
struct window_bucket {
	uint64_t lo, hi;
	double weight;
};

/* The modelled cost of window-from w for the distribution: a flow of p
 * packets pays min(p, w) slow-path packets, and if p >= w an entry and
 * p - w fast-path packets. */
double window_learn_cost(const struct window_bucket *b, size_t n, const struct window_costs *c,
			 uint32_t w);

/* The w in [lo, hi] of least cost (the smallest of equal ones); 0 when
 * the distribution is empty.  *cost gets its cost. */
uint32_t window_learn_best(const struct window_bucket *b, size_t n, const struct window_costs *c,
			   uint32_t lo, uint32_t hi, double *cost);

/* Hysteresis: move from cur to best only if the model saves at least
 * min_gain_pct of cur's cost (a change reinstalls the ruleset, which
 * sends every offloaded flow back through the slow path once). */
uint32_t window_learn_decide(const struct window_bucket *b, size_t n,
			     const struct window_costs *c, uint32_t cur, uint32_t lo, uint32_t hi,
			     double min_gain_pct);

#endif
