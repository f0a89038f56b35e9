/* window_learn: modelled router CPU of a packet window over a flow-size
 * distribution, in closed form per bucket, and the window that minimises it. */
#include "window_learn.h"

/*
 * Per flow of p packets under window-from w:
 *   p <  w: p slow-path packets (the flow ends before the window);
 *   p >= w: w slow-path packets, an entry, p - w fast-path packets.
 * A bucket spreads its weight evenly over the integers lo..hi, so its cost
 * is two arithmetic series: the part below w and the part from w on.
 * Exact for any bucket width, which matters: the class histograms
 * (classes.c) double in width, and their top bucket runs to millions.
 */

/* Sum of the integers a..b (a <= b), as a double. */
static double series(uint64_t a, uint64_t b)
{
	return ((double)a + (double)b) * (double)(b - a + 1) / 2.0;
}

static double bucket_cost(const struct window_bucket *k, const struct window_costs *c, uint32_t w)
{
	uint64_t lo = k->lo ? k->lo : 1, hi = k->hi < lo ? lo : k->hi;
	double n = (double)(hi - lo + 1), sum = 0;

	if (!(k->weight > 0))
		return 0;
	if (lo < w) {
		uint64_t top = hi < w - 1 ? hi : w - 1;

		sum += series(lo, top) * c->slow_us;
	}
	if (hi >= w) {
		uint64_t from = lo > w ? lo : w;
		double m = (double)(hi - from + 1);

		sum += m * (w * c->slow_us + c->entry_us) +
		       (series(from, hi) - m * w) * c->fast_us;
	}
	return sum * k->weight / n;
}

double window_learn_cost(const struct window_bucket *b, size_t n, const struct window_costs *c,
			 uint32_t w)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += bucket_cost(&b[i], c, w);
	return sum;
}

uint32_t window_learn_best(const struct window_bucket *b, size_t n, const struct window_costs *c,
			   uint32_t lo, uint32_t hi, double *cost)
{
	double best = 0, x, total = 0;
	uint32_t w, arg = 0;
	size_t i;

	for (i = 0; i < n; i++)
		total += b[i].weight > 0 ? b[i].weight : 0;
	if (!(total > 0) || lo > hi || !lo)
		return 0;
	for (w = lo;; w++) {
		x = window_learn_cost(b, n, c, w);
		if (!arg || x < best) {
			best = x;
			arg = w;
		}
		if (w == hi)
			break;
	}
	if (cost)
		*cost = best;
	return arg;
}

uint32_t window_learn_decide(const struct window_bucket *b, size_t n,
			     const struct window_costs *c, uint32_t cur, uint32_t lo, uint32_t hi,
			     double min_gain_pct)
{
	double best_cost = 0, cur_cost;
	uint32_t best = window_learn_best(b, n, c, lo, hi, &best_cost);

	if (!best || best == cur)
		return cur;
	cur_cost = window_learn_cost(b, n, c, cur);
	if (!(cur_cost > 0) || (cur_cost - best_cost) * 100.0 < min_gain_pct * cur_cost)
		return cur;
	return best;
}
