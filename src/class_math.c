/* class_math: the arithmetic of the classes, without state: 2^x for their
 * forward decay, and the buckets and quantiles of their log-scale histograms. */
#include <stdint.h>
#include <string.h>

#include "class_math.h"
#include "classes.h"

#define HIST_BUCKETS CLASSES_HIST_BUCKETS
#define LN2 0.693147180559945309417232121458176568

/* 2^k for an integer k, by building the double; 0 where it would be
 * subnormal (a weight below 2^-1022 flows is no weight). */
static double pow2i(int64_t k)
{
	uint64_t bits;
	double d;

	if (k > 1023)
		k = 1023;
	if (k < -1022)
		return 0.0;
	bits = (uint64_t)(k + 1023) << 52;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* 2^x without libm (nothing else in the agent needs it): 2^floor(x) times
 * the series of e^(frac(x) ln 2), which at 18 terms is exact to the last
 * bit or two of a double on [0, ln 2). */
double class_math_pow2(double x)
{
	double f, y, term = 1.0, sum = 1.0;
	int64_t k;
	int i;

	if (x > 1023.0)
		x = 1023.0;
	if (x < -1100.0)
		return 0.0;
	k = (int64_t)x;
	if ((double)k > x)
		k--;
	f = x - (double)k;
	y = f * LN2;
	for (i = 1; i <= 18; i++) {
		term *= y / i;
		sum += term;
	}
	return sum * pow2i(k);
}

unsigned int class_math_bucket(uint64_t v, unsigned int base)
{
	unsigned int log2_up;

	if (v <= (1ull << base))
		return 0;
	log2_up = 64 - (unsigned int)__builtin_clzll(v - 1); /* ceil(log2(v)), v >= 2 */
	return log2_up - base < HIST_BUCKETS ? log2_up - base : HIST_BUCKETS - 1;
}

/* The q-quantile of a histogram: the upper bound of the bucket where the
 * cumulative weight reaches q, never above the largest value seen. */
uint64_t class_math_quantile(const double *hist, unsigned int base, uint64_t max_seen, double q)
{
	double total = 0, cum = 0;
	uint64_t upper;
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		total += hist[i];
	if (!(total > 0))
		return 0;
	for (i = 0; i < HIST_BUCKETS - 1; i++) {
		cum += hist[i];
		if (cum >= q * total)
			break;
	}
	upper = i < HIST_BUCKETS - 1 ? 1ull << (base + i) : UINT64_MAX;
	return upper < max_seen ? upper : max_seen;
}
