/* route_chunk.h: splitting a [routes] set update into transactions. */
#ifndef FLOWOFFLOAD_ROUTE_CHUNK_H
#define FLOWOFFLOAD_ROUTE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

#include "nft_plan.h"
#include "nft_ruleset.h"

/* Intervals per set per transaction: nf_tables (6.1) queues a
 * notification skb per element until the commit ends while anyone listens
 * to NFNLGRP_NFTABLES, so a transaction's kernel memory grows with its
 * elements; larger updates are split. */
#define ROUTES_CHUNK 2048

/* Splits n updates into steps of at most k intervals each, one set per
 * step, into out (room for routes_chunk_steps(u, n, k)), the intervals
 * copied into scratch (room for routes_chunk_scratch(u, n)).  A set's
 * intervals that overlap none of the other direction's go in chunks, its
 * deletes before its adds where del_first[i] (an only set: never wider
 * while half applied), else its adds first (a never set); the deletes and
 * adds that overlap (the kernel refuses an interval over one the set
 * holds) go between, in one step whatever their number.  A flush rides on
 * the set's first step, its deletes dropped.  The steps written. */
size_t routes_chunk_steps(const struct nft_set_update *u, size_t n, size_t k);
size_t routes_chunk_scratch(const struct nft_set_update *u, size_t n);
size_t routes_chunk(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		    struct nft_set_update *out, struct nft_interval *scratch);

#endif
