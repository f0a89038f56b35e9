/* class_math: the arithmetic of the classes, without state: 2^x for their
 * forward decay, and the buckets and quantiles of their log-scale histograms. */
#ifndef FLOWOFFLOAD_CLASS_MATH_H
#define FLOWOFFLOAD_CLASS_MATH_H

#include <stdint.h>

/* 2^x without libm (prefix_stats decays with it too). */
double class_math_pow2(double x);

/* The bucket of v in a histogram of CLASSES_HIST_BUCKETS buckets: bucket 0
 * holds values <= 2^base, bucket i (0 < i < last) values in
 * (2^(base+i-1), 2^(base+i)], the last bucket everything above. */
unsigned int class_math_bucket(uint64_t v, unsigned int base);

/* The q-quantile of such a histogram: the upper bound of the bucket where
 * the cumulative weight reaches q, never above the largest value seen. */
uint64_t class_math_quantile(const double *hist, unsigned int base, uint64_t max_seen, double q);

#endif
