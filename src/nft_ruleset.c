/* nft_ruleset: the agent's tables as one operation each -- install, remove,
 * probe, check -- over the plan, the description and the transport. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>

#include "config.h"
#include "nft_batch.h"
#include "nft_build.h"
#include "nft_plan.h"
#include "nft_query.h"
#include "nft_rules.h"
#include "nft_ruleset.h"
#include "nft_text.h"
#include "nl.h"

#define NFT_TABLE_PROBE "flowoffload_probe"

struct nft_ruleset {
	struct nft_conn c;
	unsigned int kept;	/* tiers the last install replaced in place */
};

/* The tiers of a plan, each described and fingerprinted. */
struct tiers {
	size_t n;
	struct nft_tier t[2];
	struct nft_tier_spec s[2];
};

/* 0 with *out filled (free it), or a negative errno. */
static int tiers_describe(const struct fo_config *cfg, const struct ruleset_plan *plan,
			  struct tiers **out)
{
	struct tiers *ts;
	size_t i;
	int ret;

	ret = nft_plan_check(cfg, plan);
	if (ret)
		return ret;
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->n = nft_plan_tiers(cfg, plan, ts->t);
	for (i = 0; i < ts->n && !ret; i++) {
		nft_rules_describe(cfg, &ts->t[i], &ts->s[i]);
		ret = nft_build_fingerprint(&ts->s[i], ts->t[i].comment, ts->t[i].rules_comment,
					    sizeof(ts->t[i].comment));
	}
	if (ret) {
		free(ts);
		return ret;
	}
	*out = ts;
	return 0;
}

/* The text of every tier, or with batch the install batch's dump. */
static int describe_to_text(const struct fo_config *cfg, const struct ruleset_plan *plan,
			    bool batch, char **out)
{
	struct nft_conn scratch = { .nl = NULL, .seq = 0 };
	struct nft_batch b = { .b = NULL };
	struct tiers *ts;
	size_t i, len;
	FILE *f;
	int ret;

	ret = tiers_describe(cfg, plan, &ts);
	if (ret)
		return ret;
	ret = batch ? nft_batch_init(&scratch, &b) : 0;
	for (i = 0; batch && i < ts->n && !ret; i++)
		ret = nft_build_tier(&b, &ts->s[i]);
	if (!ret && batch)
		ret = nft_batch_end(&b);
	*out = NULL;
	f = ret ? NULL : open_memstream(out, &len);
	if (!ret && !f)
		ret = -ENOMEM;
	for (i = 0; f && !batch && i < ts->n; i++)
		nft_text_tier(f, &ts->s[i]);
	if (f && batch)
		nft_batch_dump(f, &b);
	if (f && (ferror(f) | fclose(f))) {
		free(*out);
		*out = NULL;
		ret = -ENOMEM;
	}
	nft_batch_free(&b);
	free(ts);
	return ret;
}

int nft_ruleset_render(const struct fo_config *cfg, const struct ruleset_plan *plan, char **out)
{
	return describe_to_text(cfg, plan, false, out);
}

int nft_ruleset_dump_batch(const struct fo_config *cfg, const struct ruleset_plan *plan,
			   char **out)
{
	return describe_to_text(cfg, plan, true, out);
}

int nft_ruleset_open(struct nft_ruleset **out)
{
	struct nft_ruleset *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = nft_batch_conn_open(&r->c);
	if (ret) {
		free(r);
		return ret;
	}
	*out = r;
	return 0;
}

int nft_ruleset_update_sets(struct nft_ruleset *r, const struct fo_config *cfg,
			    const struct ruleset_plan *plan, const struct nft_set_update *u,
			    size_t n, char *err, size_t errlen)
{
	const char *tables[2] = { NFT_TABLE_SW, NFT_TABLE_HW };
	struct nft_skip_set shapes[NFT_SKIP_KINDS];
	size_t n_tables = plan->n_hw ? 2 : 1, msgs = 0, i, t;
	struct nft_batch b;
	int ret;

	for (i = 0; i < n; i++)
		if (u[i].flush || u[i].n_del || u[i].n_add)
			msgs += n_tables * nft_build_set_update_msgs(u[i].n_del, u[i].n_add);
	if (!msgs)
		return 0;
	nft_plan_skip_sets(cfg, shapes);
	ret = nft_batch_init_size(&r->c, &b, msgs);
	if (ret)
		return ret;
	for (t = 0; t < n_tables && !ret; t++)
		for (i = 0; i < n && !ret; i++)
			if (u[i].flush || u[i].n_del || u[i].n_add)
				ret = nft_build_set_update(&b, tables[t], &shapes[u[i].kind],
							   u[i].flush, u[i].del, u[i].n_del,
							   u[i].add, u[i].n_add);
	if (ret)
		snprintf(err, errlen, "building the set update: %s", strerror(-ret));
	else
		ret = nft_batch_send(&b, true, err, errlen);
	nft_batch_free(&b);
	return ret ? ret : (int)(msgs > INT32_MAX ? INT32_MAX : msgs);
}

struct nft_conn *nft_ruleset_conn(struct nft_ruleset *r)
{
	return &r->c;
}

uint32_t nft_ruleset_portid(const struct nft_ruleset *r)
{
	return nl_portid(r->c.nl);
}

void nft_ruleset_close(struct nft_ruleset *r)
{
	if (!r)
		return;
	nft_batch_conn_close(&r->c);
	free(r);
}

static int table_exists(struct nft_ruleset *r, const char *table, char *err, size_t errlen)
{
	int ret = nft_query_exists(&r->c, NFT_MSG_GETTABLE, table, NULL);

	if (ret < 0)
		snprintf(err, errlen, "table inet %s: cannot ask whether it exists: %s", table,
			 strerror(-ret));
	return ret;
}

/* Sends a batch built by build(r, b, arg), committed or (probe) not. */
static int batch_run(struct nft_ruleset *r, bool commit,
		     int (*build)(struct nft_batch *b, const void *arg), const void *arg,
		     char *err, size_t errlen)
{
	struct nft_batch b;
	int ret;

	ret = nft_batch_init(&r->c, &b);
	if (!ret)
		ret = build(&b, arg);
	if (ret)
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
	else
		ret = nft_batch_send(&b, commit, err, errlen);
	nft_batch_free(&b);
	return ret;
}

struct install_arg {
	const struct tiers *ts;
	bool hw_stale;
	bool keep[2];			/* the tier's table and flowtable stay */
	struct nft_tier_present present[2];
};

static int install_build(struct nft_batch *b, const void *arg)
{
	const struct install_arg *a = arg;
	size_t i;
	int ret = 0;

	for (i = 0; i < a->ts->n && !ret; i++)
		ret = a->keep[i] ? nft_build_tier_rules(b, &a->ts->s[i], &a->present[i])
				 : nft_build_tier(b, &a->ts->s[i]);
	if (!ret && a->hw_stale)
		ret = nft_build_table_drop(b, NFT_TABLE_HW);
	return ret;
}

static bool has_dev(const char (*devs)[CONFIG_IFNAMSIZ], size_t n, const char *dev);

/* The flowtable is the one the tier describes: the table's fingerprint
 * (table and flowtable: name, hook, priority, flags) and the devices, as
 * a set.  1 with p filled, 0 not (the table is replaced whole), or a
 * negative errno. */
static int tier_keepable(struct nft_ruleset *r, const struct nft_tier_spec *s,
			 struct nft_tier_present *p)
{
	const struct nft_tier *t = s->tier;
	char comment[64], devs[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	size_t n = 0, i;
	int k, ret;

	ret = nft_query_table_comment(&r->c, t->table, comment, sizeof(comment));
	if (ret <= 0 || strcmp(comment, t->comment))
		return ret < 0 ? ret : 0;
	ret = nft_query_flowtable_devices(&r->c, t->table, NFT_FLOWTABLE, devs, CONFIG_MAX_LIST,
					  &n);
	if (ret <= 0 || n != t->n_devs)
		return ret < 0 && ret != -E2BIG ? ret : 0;
	for (i = 0; i < t->n_devs; i++)
		if (!has_dev((const char(*)[CONFIG_IFNAMSIZ])devs, n, t->devs[i]))
			return 0;
	memset(p, 0, sizeof(*p));
	ret = nft_query_exists(&r->c, NFT_MSG_GETCHAIN, t->table, NFT_CHAIN);
	p->chain = ret == 1;
	if (ret >= 0)
		ret = nft_query_exists(&r->c, NFT_MSG_GETCHAIN, t->table, NFT_EVENTS_CHAIN);
	p->events_chain = ret == 1;
	for (k = 0; k < NFT_SKIP_KINDS && ret >= 0; k++) {
		ret = nft_query_exists(&r->c, NFT_MSG_GETSET, t->table, s->sets[k].name);
		p->sets[k] = ret == 1;
	}
	return ret < 0 ? ret : 1;
}

int nft_ruleset_install(struct nft_ruleset *r, const struct fo_config *cfg,
			const struct ruleset_plan *plan, char *err, size_t errlen)
{
	struct install_arg a = { .ts = NULL };
	struct tiers *ts;
	size_t i;
	int ret;

	err[0] = '\0';
	r->kept = 0;
	ret = nft_plan_check(cfg, plan);
	if (ret) {
		snprintf(err, errlen, "invalid ruleset plan or configuration");
		return ret;
	}
	/* A leftover hardware table would keep offloading to the NIC. */
	if (!plan->n_hw) {
		ret = table_exists(r, NFT_TABLE_HW, err, errlen);
		if (ret < 0)
			return ret;
		a.hw_stale = ret;
	}
	ret = tiers_describe(cfg, plan, &ts);
	if (ret) {
		snprintf(err, errlen, "building the nftables batch: %s", strerror(-ret));
		return ret;
	}
	a.ts = ts;
	/* Asked before the batch: a table changed by another program in
	 * between makes the batch fail whole (the guard's check retries). */
	for (i = 0; i < ts->n && !ret; i++) {
		ret = tier_keepable(r, &ts->s[i], &a.present[i]);
		if (ret < 0)
			snprintf(err, errlen, "table inet %s: cannot read what it holds: %s",
				 ts->t[i].table, strerror(-ret));
		a.keep[i] = ret == 1;
		ret = ret < 0 ? ret : 0;
	}
	if (!ret)
		ret = batch_run(r, true, install_build, &a, err, errlen);
	for (i = 0; i < ts->n && !ret; i++)
		r->kept += a.keep[i];
	free(ts);
	return ret;
}

unsigned int nft_ruleset_kept(const struct nft_ruleset *r)
{
	return r->kept;
}

static const char *const our_tables[] = { NFT_TABLE_SW, NFT_TABLE_HW };

/* Add-then-delete: a table someone removed since we asked does not fail
 * the batch. */
static int remove_build(struct nft_batch *b, const void *arg)
{
	const bool *present = arg;
	size_t i;
	int ret = 0;

	for (i = 0; i < 2 && !ret; i++)
		if (present[i])
			ret = nft_build_table_drop(b, our_tables[i]);
	return ret;
}

int nft_ruleset_remove(struct nft_ruleset *r, char *err, size_t errlen)
{
	bool present[2];
	size_t i, n = 0;
	int ret;

	err[0] = '\0';
	for (i = 0; i < 2; i++) {
		ret = table_exists(r, our_tables[i], err, errlen);
		if (ret < 0)
			return ret;
		present[i] = ret;
		n += ret;
	}
	if (!n)
		return 0;
	return batch_run(r, true, remove_build, present, err, errlen);
}

static int probe_build(struct nft_batch *b, const void *arg)
{
	return nft_build_probe(b, NFT_TABLE_PROBE, arg);
}

int nft_ruleset_probe_hw(struct nft_ruleset *r, const char *dev, char *err, size_t errlen)
{
	err[0] = '\0';
	if (!dev || !dev[0] || strlen(dev) >= CONFIG_IFNAMSIZ)
		return -EINVAL;
	return batch_run(r, false, probe_build, dev, err, errlen);
}

int nft_ruleset_present(struct nft_ruleset *r, const struct ruleset_plan *plan)
{
	size_t i, n = plan && plan->n_hw ? 2 : 1;
	int ret;

	/* The table alone is not enough: `nft delete chain` or `delete
	 * flowtable` leave it standing but stop the offload. */
	for (i = 0; i < n; i++) {
		ret = nft_query_exists(&r->c, NFT_MSG_GETTABLE, our_tables[i], NULL);
		if (ret == 1)
			ret = nft_query_exists(&r->c, NFT_MSG_GETFLOWTABLE, our_tables[i],
					       NFT_FLOWTABLE);
		if (ret == 1)
			ret = nft_query_exists(&r->c, NFT_MSG_GETCHAIN, our_tables[i], NFT_CHAIN);
		if (ret != 1)
			return ret;
	}
	return 1;
}

/* Do the tables and their forward chains in the kernel carry the
 * fingerprints of ts? */
static int comments_match(struct nft_ruleset *r, const struct tiers *ts)
{
	char comment[64];
	size_t i;
	int ret;

	for (i = 0; i < ts->n; i++) {
		ret = nft_query_table_comment(&r->c, ts->t[i].table, comment, sizeof(comment));
		if (ret <= 0)
			return ret;
		if (strcmp(comment, ts->t[i].comment) != 0)
			return 0;
		ret = nft_query_chain_comment(&r->c, ts->t[i].table, NFT_CHAIN, comment,
					      sizeof(comment));
		if (ret <= 0)
			return ret;
		if (strcmp(comment, ts->t[i].rules_comment) != 0)
			return 0;
	}
	return 1;
}

int nft_ruleset_installed(struct nft_ruleset *r, const struct fo_config *cfg,
			  const struct ruleset_plan *plan)
{
	char comment[64];
	struct tiers *ts;
	int ret;

	ret = tiers_describe(cfg, plan, &ts);
	if (ret)
		return ret == -ENOMEM ? ret : -EINVAL;
	ret = comments_match(r, ts);
	free(ts);
	if (ret != 1)
		return ret;
	ret = nft_ruleset_present(r, plan);
	if (ret != 1)
		return ret;
	/* A hardware table the plan no longer has would keep offloading. */
	if (!plan->n_hw) {
		ret = nft_query_table_comment(&r->c, NFT_TABLE_HW, comment, sizeof(comment));
		if (ret < 0)
			return ret;
		if (ret)
			return 0;
	}
	return 1;
}

/* ---- devices in place --------------------------------------------------- */

int nft_ruleset_read_devices(struct nft_ruleset *r, struct ruleset_plan *kernel)
{
	int ret, present = 0;

	memset(kernel, 0, sizeof(*kernel));
	ret = nft_query_flowtable_devices(&r->c, NFT_TABLE_SW, NFT_FLOWTABLE, kernel->sw_devs,
					  CONFIG_MAX_LIST, &kernel->n_sw);
	if (ret < 0)
		return ret;
	present |= ret ? NFT_RULESET_SW : 0;
	ret = nft_query_flowtable_devices(&r->c, NFT_TABLE_HW, NFT_FLOWTABLE, kernel->hw_devs,
					  CONFIG_MAX_LIST, &kernel->n_hw);
	if (ret < 0)
		return ret;
	return present | (ret ? NFT_RULESET_HW : 0);
}

static bool has_dev(const char (*devs)[CONFIG_IFNAMSIZ], size_t n, const char *dev)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(devs[i], dev))
			return true;
	return false;
}

/* The names of a that b lacks. */
static size_t devs_minus(const char (*a)[CONFIG_IFNAMSIZ], size_t na,
			 const char (*b)[CONFIG_IFNAMSIZ], size_t nb, char (*out)[CONFIG_IFNAMSIZ])
{
	size_t i, n = 0;

	for (i = 0; i < na; i++)
		if (!has_dev(b, nb, a[i]))
			strcpy(out[n++], a[i]);
	return n;
}

struct update_arg {
	const struct ruleset_plan *kernel, *want;
	int present;
	const struct tiers *ts;
	size_t changes;
};

static int tier_delta(struct nft_batch *b, struct update_arg *u, const char *table, bool hw,
		      const char (*have)[CONFIG_IFNAMSIZ], size_t n_have,
		      const char (*want)[CONFIG_IFNAMSIZ], size_t n_want)
{
	char diff[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	size_t n;
	int ret;

	n = devs_minus(have, n_have, want, n_want, diff);
	ret = nft_build_flowtable_devices(b, table, hw, false, (const char(*)[CONFIG_IFNAMSIZ])diff,
					  n);
	u->changes += n;
	if (ret)
		return ret;
	n = devs_minus(want, n_want, have, n_have, diff);
	u->changes += n;
	return nft_build_flowtable_devices(b, table, hw, true, (const char(*)[CONFIG_IFNAMSIZ])diff,
					   n);
}

static int update_build(struct nft_batch *b, const void *arg)
{
	struct update_arg *u = (struct update_arg *)arg;
	const struct ruleset_plan *k = u->kernel, *w = u->want;
	int ret;

	ret = tier_delta(b, u, NFT_TABLE_SW, false, k->sw_devs, k->n_sw, w->sw_devs, w->n_sw);
	if (ret)
		return ret;
	if (w->n_hw && (u->present & NFT_RULESET_HW))
		return tier_delta(b, u, NFT_TABLE_HW, true, k->hw_devs, k->n_hw, w->hw_devs,
				  w->n_hw);
	if (w->n_hw) {
		/* The first device of the hardware tier: its table, whole. */
		u->changes += w->n_hw;
		return nft_build_tier(b, &u->ts->s[1]);
	}
	if (u->present & NFT_RULESET_HW) {
		u->changes += k->n_hw;
		return nft_build_table_drop(b, NFT_TABLE_HW);
	}
	return 0;
}

int nft_ruleset_update_devices(struct nft_ruleset *r, const struct fo_config *cfg,
			       const struct ruleset_plan *kernel, int present,
			       const struct ruleset_plan *want, char *err, size_t errlen)
{
	struct update_arg u = { .kernel = kernel, .want = want, .present = present };
	struct nft_conn scratch = { .nl = NULL, .seq = 0 };
	struct tiers *ts;
	struct nft_batch b;
	int ret;

	err[0] = '\0';
	if (!(present & NFT_RULESET_SW))
		return -ENOENT;
	ret = tiers_describe(cfg, want, &ts);
	if (ret) {
		snprintf(err, errlen, "invalid ruleset plan or configuration");
		return ret;
	}
	u.ts = ts;
	/* Built once aside to learn whether anything changes at all. */
	ret = nft_batch_init(&scratch, &b);
	if (!ret)
		ret = update_build(&b, &u);
	nft_batch_free(&b);
	if (!ret && u.changes) {
		u.changes = 0;
		ret = batch_run(r, true, update_build, &u, err, errlen);
	}
	free(ts);
	return ret ? ret : (int)u.changes;
}
