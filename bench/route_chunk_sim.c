/* route_chunk_sim: the [routes] set transactions of a table load, offline.
 * Reads the `ip -batch` files bench/route_scale generates (route add
 * blackhole ADDR/LEN table T), in their order, into the agent's prefix
 * set; every BATCH routes (one apply of the agent: what arrives within its
 * settle) it diffs the merged intervals against the last applied, as
 * routes.c does, and splits the update with routes_chunk at k intervals.
 * Prints, per family and role, the largest transaction in intervals: as
 * routes_chunk makes them now, and as the former split made them (every
 * overlapping delete and add of a set in one transaction).
 *
 * usage: bench/route_chunk_sim BATCH K FILE...   (no root, no VM)
 * e.g.   bench/route_chunk_sim 15000 2048 bench/out/route_scale/1000000/routes.*.batch */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "prefix_set.h"
#include "route_chunk.h"

struct fam_state {
	struct nft_interval *applied;
	size_t n_applied;
	size_t applies, max_old[2], max_new[2], steps[2], max_overlap;
};

/* Deletes and adds that overlap one of the other list: the former split's
 * one transaction. */
static size_t overlapping(const struct nft_interval *d, size_t nd, const struct nft_interval *a,
			  size_t na)
{
	size_t i = 0, j = 0, n = 0;
	bool di = false, aj = false;

	while (i < nd && j < na) {
		if (memcmp(d[i].hi, a[j].lo, sizeof(d[i].hi)) < 0) {
			i++;
			di = false;
		} else if (memcmp(a[j].hi, d[i].lo, sizeof(a[j].hi)) < 0) {
			j++;
			aj = false;
		} else {
			n += !di + !aj;
			di = aj = true;
			if (memcmp(d[i].hi, a[j].hi, sizeof(d[i].hi)) < 0) {
				i++;
				di = false;
			} else {
				j++;
				aj = false;
			}
		}
	}
	return n;
}

static int apply(struct prefix_set *ps, int fam, struct fam_state *f, size_t k, size_t routes)
{
	struct nft_interval *next, *del, *add, *scratch;
	struct nft_set_update u, *out;
	size_t n_next, n_del, n_add, n_steps, n_scratch, i, ov, pure_big;
	int role;

	if (pset_intervals(ps, ROUTE_NEVER, fam, &next, &n_next))
		return -1;
	if (routes_diff(f->applied, f->n_applied, next, n_next, fam ? 16 : 4, &del, &n_del, &add,
			&n_add))
		return -1;
	ov = overlapping(del, n_del, add, n_add);
	if (ov > f->max_overlap)
		f->max_overlap = ov;
	for (role = 0; role < 2; role++) {	/* 0: never (adds first), 1: only */
		bool df = role;

		u = (struct nft_set_update){ .kind = 1, .del = del, .n_del = n_del, .add = add,
					     .n_add = n_add };
		if (n_del + n_add <= k) {
			f->steps[role]++;
			if (n_del + n_add > f->max_new[role])
				f->max_new[role] = n_del + n_add;
			if (n_del + n_add > f->max_old[role])
				f->max_old[role] = n_del + n_add;
			continue;
		}
		/* The former split: pure runs in steps of k, the overlap whole. */
		pure_big = n_del + n_add - ov < k ? n_del + n_add - ov : k;
		if ((ov > pure_big ? ov : pure_big) > f->max_old[role])
			f->max_old[role] = ov > pure_big ? ov : pure_big;
		routes_chunk_size(&u, 1, &df, k, &n_steps, &n_scratch);
		out = calloc(n_steps + 1, sizeof(*out));
		scratch = calloc(n_scratch + 1, sizeof(*scratch));
		if (!out || !scratch)
			return -1;
		n_steps = routes_chunk(&u, 1, &df, k, out, scratch);
		f->steps[role] += n_steps;
		for (i = 0; i < n_steps; i++)
			if (out[i].n_del + out[i].n_add > f->max_new[role])
				f->max_new[role] = out[i].n_del + out[i].n_add;
		free(out);
		free(scratch);
	}
	if (n_del + n_add)
		f->applies++;
	if (getenv("SIM_VERBOSE"))
		printf("%zu routes IPv%d: del %zu add %zu overlapping %zu\n", routes, fam ? 6 : 4,
		       n_del, n_add, ov);
	free(f->applied);
	f->applied = next;
	f->n_applied = n_next;
	free(del);
	free(add);
	return 0;
}

int main(int argc, char **argv)
{
	struct prefix_set ps;
	struct fam_state f[2];
	size_t batch, k, routes = 0, pending = 0;
	char line[256], addr[64];
	unsigned int len, table;
	int i, fam;

	if (argc < 4) {
		fprintf(stderr, "usage: %s BATCH K FILE...\n", argv[0]);
		return 2;
	}
	batch = strtoul(argv[1], NULL, 10);
	k = strtoul(argv[2], NULL, 10);
	if (!batch || !k) {
		fprintf(stderr, "%s: BATCH and K are counts\n", argv[0]);
		return 2;
	}
	memset(f, 0, sizeof(f));
	pset_init(&ps);
	for (i = 3; i < argc; i++) {
		FILE *in = fopen(argv[i], "r");

		if (!in) {
			perror(argv[i]);
			return 1;
		}
		while (fgets(line, sizeof(line), in)) {
			struct pset_route r = { .role = ROUTE_NEVER };
			char *slash;

			if (sscanf(line, "route add blackhole %63s table %u", addr, &table) != 2)
				continue;
			slash = strchr(addr, '/');
			if (!slash)
				continue;
			*slash = 0;
			len = (unsigned int)atoi(slash + 1);
			r.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
			r.len = (uint8_t)len;
			r.table = table;
			if (inet_pton(r.family, addr, r.addr) != 1)
				continue;
			if (pset_add(&ps, &r, 1) < 0) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
			routes++;
			if (++pending == batch) {
				for (fam = 0; fam < 2; fam++)
					if (apply(&ps, fam, &f[fam], k, routes))
						return 1;
				pending = 0;
			}
		}
		fclose(in);
	}
	for (fam = 0; fam < 2; fam++)
		if (apply(&ps, fam, &f[fam], k, routes))
			return 1;
	printf("route_chunk_sim: %zu routes in applies of %zu, k %zu\n", routes, batch, k);
	printf("%6s %8s %10s %12s %12s %12s %12s %10s %10s\n", "family", "applies",
	       "intervals", "overlap max", "never old", "never now", "only old", "only now",
	       "steps n/o");
	for (fam = 0; fam < 2; fam++)
		printf("%6s %8zu %10zu %12zu %12zu %12zu %12zu %10zu %4zu/%zu\n", fam ? "IPv6" : "IPv4",
		       f[fam].applies, f[fam].n_applied, f[fam].max_overlap, f[fam].max_old[0],
		       f[fam].max_new[0], f[fam].max_old[1], f[fam].max_new[1], f[fam].steps[0],
		       f[fam].steps[1]);
	for (fam = 0; fam < 2; fam++)
		free(f[fam].applied);
	pset_free(&ps);
	return 0;
}
