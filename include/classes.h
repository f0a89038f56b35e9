/* classes: learned service classes (protocol, server port, optionally the
 * server prefix): decayed size and duration distributions of finished flows. */
#ifndef FLOWOFFLOAD_CLASSES_H
#define FLOWOFFLOAD_CLASSES_H

#include <stddef.h>
#include <stdint.h>

#include "flows.h"
#include "window_learn.h"

struct classes_params {
	uint32_t max_classes;	/* hard bound on classes tracked (memory bound), 1..CLASSES_MAX */
	uint32_t half_life_ms;	/* exponential decay half-life of the weights, >= 1 */
	uint32_t min_flows;	/* decayed weight needed before any verdict */
	uint32_t mice_packets;	/* a finished flow with fewer packets (both directions)
				 * is a mouse; 0: no flow is, no class is ever MICE */
	uint32_t mice_share_pct; /* MICE when >= this % of the weight is mice, 1..100 */
	uint8_t prefix4, prefix6; /* server prefix length in the key; 0 = port only */
	uint32_t hash_seed;	/* seeds the index hash; the agent passes a random
				 * value so traffic cannot aim at one probe run */
	uint32_t min_clients;	/* distinct clients a verdict needs, and no client
				 * counts for more than 1/min_clients of a class;
				 * 0..CLASS_CLIENTS_MAX, 0 and 1: no such rule */
};

#define CLASSES_MAX (1u << 20)

/* What is known of a flow's service class.  classes_verdict() answers
 * learning, mixed or mice; the agent adds off (learning switched off, the
 * zero value) and short (a mice class whose flows end before the window)
 * when it hands the verdict to policy. */
enum class_verdict {
	CLASS_OFF = 0,
	CLASS_LEARNING,		/* counted weight below min_flows, fewer than
				 * min_clients clients, or an unknown class */
	CLASS_MIXED,
	CLASS_MICE,
	CLASS_SHORT,
};

/* Every function below but classes_create accepts c == NULL (learning
 * switched off) and answers as an empty table would. */
struct classes;

/* Allocates everything the table will ever use: memory is constant after
 * this.  0, -EINVAL for a parameter out of range, -ENOMEM. */
int classes_create(struct classes **out, const struct classes_params *p);
void classes_destroy(struct classes *c);

/* Fold a finished flow (a DESTROY with counters: ct->packets[2],
 * ct->bytes[2]) into its class, creating the class, when the table is full
 * by evicting the class of smallest decayed weight.  Ignored (and counted)
 * when the event has no counters, the flow never saw a reply, or it is not
 * TCP or UDP over IPv4 or IPv6.  now_ms should not go backwards; an older
 * time counts as the latest one seen.  Never allocates. */
void classes_observe(struct classes *c, const struct ct_info *ct, uint64_t duration_ms,
		     uint64_t now_ms);

/* The verdict for the class of a NEW conntrack: lookup only, never
 * allocates or changes the table; CLASS_LEARNING for an unknown class. */
enum class_verdict classes_verdict(struct classes *c, const struct ct_info *ct, uint64_t now_ms);

#define CLASSES_HIST_BUCKETS 24

/* Percentiles are the upper bound of the histogram bucket holding them
 * (buckets double in width), capped at the largest value ever observed. */
struct class_stats {
	uint8_t family, proto, prefix_len;
	uint8_t server[16];	/* masked to prefix_len, network order; zero when 0 */
	uint16_t port;		/* server port (original destination), host order */
	double weight;		/* decayed flow count at now_ms */
	double mice_share;	/* share of the weight that is mice, 0..1 */
	double counted_weight;	/* weight with each client capped (the verdict's) */
	unsigned int clients;	/* distinct clients tracked (at most 8) */
	uint64_t flows_total;	/* flows observed since the class was created */
	uint64_t packets_p50, packets_p90, packets_p99;
	uint64_t bytes_p50, bytes_p90, bytes_p99;
	uint64_t duration_ms_p50, duration_ms_p90;
	enum class_verdict verdict;
	uint64_t last_ms;	/* last observation */
	double packets_hist[CLASSES_HIST_BUCKETS]; /* relative weights (classes_window_buckets) */
	uint64_t packets_max;	/* the largest flow seen, in packets */
};

/* Up to max classes, heaviest first (ties in key order).  Returns how many
 * were written.  Never allocates, changes no statistics. */
size_t classes_snapshot(struct classes *c, struct class_stats *out, size_t max, uint64_t now_ms);

/* The class of ct (e.g. a NEW conntrack), for a class-specific threshold.
 * 0, or -ENOENT when it has none.  Lookup only. */
int classes_get(struct classes *c, const struct ct_info *ct, uint64_t now_ms,
		struct class_stats *out);

/* Each class whose verdict at now_ms is mice, in table order, with its
 * key and its packets p90 (as class_stats has them).  Lookup only, never
 * allocates.  Returns how many were visited. */
size_t classes_foreach_mice(struct classes *c, uint64_t now_ms,
			    void (*cb)(const struct class_stats *s, void *arg), void *arg);

/* A packet histogram (class_stats' packets_hist and packets_max) as the
 * window model's buckets: packets 1, 2, 3..4, 5..8, ... up to packets_max.
 * Returns how many were written (at most CLASSES_HIST_BUCKETS). */
size_t classes_window_buckets(const double *hist, uint64_t packets_max,
			      struct window_bucket out[CLASSES_HIST_BUCKETS]);

/* The packet histogram of every class not mice at now_ms, summed: the
 * flows the offload rules see (the mice set keeps the others out).
 * Weights in decayed flows; returns how many buckets were written. */
size_t classes_window_dist(struct classes *c, uint64_t now_ms,
			   struct window_bucket out[CLASSES_HIST_BUCKETS]);

struct classes_counters {
	uint64_t observed;	/* flows folded into a class */
	uint64_t no_counters;	/* ignored: no CTA_COUNTERS (nf_conntrack_acct off?) */
	uint64_t unanswered;	/* ignored: the flow never saw a reply */
	uint64_t unsupported;	/* ignored: not TCP/UDP over IPv4/IPv6 */
	uint64_t created;	/* classes started */
	uint64_t evicted;	/* classes dropped to make room (table full) */
};

const struct classes_counters *classes_counters(const struct classes *c);
size_t classes_count(const struct classes *c);
size_t classes_memory(const struct classes *c); /* bytes allocated, constant after create */
const char *classes_verdict_str(enum class_verdict v); /* "learning", "mixed", "mice" */

#endif
