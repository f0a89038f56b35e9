/* route_chunk.c: a [routes] set update split into transactions of at most
 * k intervals, ordered so a set half applied is never wider than its role
 * allows (see route_chunk.h).  Pure: no I/O, unit-tested in
 * test_prefix_set. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "route_chunk.h"

static size_t ceil_div(size_t a, size_t k)
{
	return (a + k - 1) / k;
}

size_t routes_chunk_steps(const struct nft_set_update *u, size_t n, size_t k)
{
	size_t steps = 0, i;

	for (i = 0; i < n; i++) {
		size_t s = ceil_div(u[i].n_add, k) + (u[i].flush ? 0 : ceil_div(u[i].n_del, k) + 1);

		steps += s ? s : u[i].flush;
	}
	return steps;
}

size_t routes_chunk_scratch(const struct nft_set_update *u, size_t n)
{
	size_t total = 0, i;

	for (i = 0; i < n; i++)
		total += u[i].flush ? 0 : u[i].n_del + u[i].n_add;
	return total;
}

/* Steps of one run of intervals (del or add) of one set, at most k each;
 * the first may carry a flush. */
static size_t chunk_run(int kind, bool del, const struct nft_interval *iv, size_t total,
			bool flush, size_t k, struct nft_set_update *out)
{
	size_t i, m, steps = 0;

	for (i = 0; i < total || (flush && !steps); i += m, steps++) {
		m = total - i < k ? total - i : k;
		memset(&out[steps], 0, sizeof(out[steps]));
		out[steps].kind = kind;
		out[steps].flush = flush && !steps;
		/* A flush alone has no intervals (iv may be NULL). */
		if (del) {
			out[steps].del = m ? iv + i : NULL;
			out[steps].n_del = m;
		} else {
			out[steps].add = m ? iv + i : NULL;
			out[steps].n_add = m;
		}
	}
	return steps;
}

static bool iv_before(const struct nft_interval *a, const struct nft_interval *b)
{
	return memcmp(a->hi, b->lo, sizeof(a->hi)) < 0;
}

/* Splits a's and b's sorted intervals into those that overlap none of the
 * other list's (first, in order) and those that do (after): *n_pure_a/b. */
static void split_overlaps(const struct nft_interval *a, size_t na, const struct nft_interval *b,
			   size_t nb, struct nft_interval *out_a, struct nft_interval *out_b,
			   size_t *n_pure_a, size_t *n_pure_b)
{
	size_t i = 0, j = 0, pa = 0, pb = 0, ma = na, mb = nb;
	bool *ova = calloc(na + nb + 1, sizeof(bool)), *ovb;

	if (!ova) {
		/* No room to tell them apart: every interval in the atomic step. */
		memcpy(out_a, a, na * sizeof(*a));
		memcpy(out_b, b, nb * sizeof(*b));
		*n_pure_a = *n_pure_b = 0;
		return;
	}
	ovb = ova + na;
	while (i < na && j < nb) {
		if (iv_before(&a[i], &b[j])) {
			i++;
		} else if (iv_before(&b[j], &a[i])) {
			j++;
		} else {
			ova[i] = ovb[j] = true;
			if (memcmp(a[i].hi, b[j].hi, sizeof(a[i].hi)) < 0)
				i++;
			else
				j++;
		}
	}
	for (i = 0, ma = 0; i < na; i++)
		ma += ova[i];
	for (j = 0, mb = 0; j < nb; j++)
		mb += ovb[j];
	*n_pure_a = na - ma;
	*n_pure_b = nb - mb;
	for (i = 0, ma = na - ma; i < na; i++)
		out_a[ova[i] ? ma++ : pa++] = a[i];
	for (j = 0, mb = nb - mb; j < nb; j++)
		out_b[ovb[j] ? mb++ : pb++] = b[j];
	free(ova);
}

size_t routes_chunk(const struct nft_set_update *u, size_t n, const bool *del_first, size_t k,
		    struct nft_set_update *out, struct nft_interval *scratch)
{
	size_t steps = 0, i, pd, pa;

	for (i = 0; i < n; i++) {
		struct nft_interval *d = scratch, *a = scratch + u[i].n_del;
		struct nft_set_update *mixed;

		if (u[i].flush) {
			/* What the set held goes at once; the new set follows. */
			steps += chunk_run(u[i].kind, false, u[i].add, u[i].n_add, true, k,
					   out + steps);
			continue;
		}
		scratch += u[i].n_del + u[i].n_add;
		/* The kernel refuses an interval over one the set holds, so an
		 * added interval that overlaps a deleted one goes in the same
		 * transaction, after it: the mixed step, whole. */
		split_overlaps(u[i].del, u[i].n_del, u[i].add, u[i].n_add, d, a, &pd, &pa);
		if (del_first[i])
			steps += chunk_run(u[i].kind, true, d, pd, false, k, out + steps);
		else
			steps += chunk_run(u[i].kind, false, a, pa, false, k, out + steps);
		mixed = &out[steps];
		memset(mixed, 0, sizeof(*mixed));
		mixed->kind = u[i].kind;
		mixed->del = d + pd;
		mixed->n_del = u[i].n_del - pd;
		mixed->add = a + pa;
		mixed->n_add = u[i].n_add - pa;
		steps += mixed->n_del || mixed->n_add;
		if (del_first[i])
			steps += chunk_run(u[i].kind, false, a, pa, false, k, out + steps);
		else
			steps += chunk_run(u[i].kind, true, d, pd, false, k, out + steps);
	}
	return steps;
}
