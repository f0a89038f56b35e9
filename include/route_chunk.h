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

/* old and new sorted, disjoint (keys of bytes bytes): the intervals only
 * in old into *del, only in new into *add (allocated, freed by the
 * caller even on failure); 0 or -ENOMEM. */
int routes_diff(const struct nft_interval *old, size_t n_old, const struct nft_interval *new,
		size_t n_new, unsigned int bytes, struct nft_interval **del, size_t *n_del,
		struct nft_interval **add, size_t *n_add);

/* Splits n updates into steps, one set per step, each of at most k
 * intervals (at most max(k, 3) where deletes and adds overlap): into out,
 * the intervals copied into scratch; routes_chunk_size says the room each
 * takes.  A set's intervals that overlap none of the other direction's go
 * in runs, its deletes before its adds where del_first[i] (an only set:
 * never wider while half applied), else its adds first (a never set:
 * never narrower).  Between them, the deletes and adds that overlap (the
 * kernel refuses an interval over one the set holds): a component (a
 * chain of overlapping ones) whole in one step, several packed together;
 * one larger than k in steps: only, its deletes then its adds; never,
 * through a cover interval over the component (see route_chunk.c).  A
 * flush rides on the set's first step, its deletes dropped.  The steps
 * written. */
void routes_chunk_size(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		       size_t *steps, size_t *scratch);
size_t routes_chunk(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		    struct nft_set_update *out, struct nft_interval *scratch);

#endif
