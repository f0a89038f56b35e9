/* nft_foreign: finds other programs' flowtables on the agent's devices (a
 * distribution firewall's, such as OpenWrt fw4's) and the rules feeding them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>

#include "nft_foreign.h"

static int gen_cb(const struct nlmsghdr *m, void *arg)
{
	uint32_t *gen = arg;
	const struct nlattr *a;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWGEN)
		return 0;
	mnl_attr_for_each (a, m, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			*gen = ntohl(mnl_attr_get_u32(a));
	return 0;
}

int nft_foreign_gen(struct nft_conn *c, uint32_t *gen)
{
	char buf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC, NLM_F_ACK, c->seq++);
	return nft_batch_request(c, nlh, gen_cb, gen);
}

static bool ours(uint32_t family, const char *table)
{
	return family == NFPROTO_INET &&
	       (strcmp(table, NFT_TABLE_SW) == 0 || strcmp(table, NFT_TABLE_HW) == 0);
}

static bool plan_has(const struct ruleset_plan *p, const char *dev)
{
	size_t i;

	for (i = 0; i < p->n_sw; i++)
		if (strcmp(p->sw_devs[i], dev) == 0)
			return true;
	for (i = 0; i < p->n_hw; i++)
		if (strcmp(p->hw_devs[i], dev) == 0)
			return true;
	return false;
}

struct scan {
	const struct ruleset_plan *plan;
	struct nft_foreign *out;
	struct nft_foreign_ft *ft;	/* the flowtable whose rules are read */
};

static int flowtable_cb(const struct nlmsghdr *m, void *arg);
static int rule_cb(const struct nlmsghdr *m, void *arg);

int nft_foreign_add_flowtable(struct nft_foreign *f, const struct ruleset_plan *plan,
			      const struct nlmsghdr *m)
{
	struct scan s = { .plan = plan, .out = f };

	return flowtable_cb(m, &s);
}

int nft_foreign_count_rule(struct nft_foreign_ft *ft, const struct nlmsghdr *m)
{
	struct scan s = { .ft = ft };

	return rule_cb(m, &s);
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, NFT_FOREIGN_NAME, "%s", src ? src : "?");
}

static int flowtable_cb(const struct nlmsghdr *m, void *arg)
{
	struct scan *s = arg;
	struct nft_foreign_ft f = { .n_devs = 0 };
	struct nftnl_flowtable *ft;
	const char *const *devs;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWFLOWTABLE)
		return 0;
	ft = nftnl_flowtable_alloc();
	if (!ft)
		return -ENOMEM;
	if (nftnl_flowtable_nlmsg_parse(m, ft) < 0)
		goto out;
	f.family = nftnl_flowtable_get_u32(ft, NFTNL_FLOWTABLE_FAMILY);
	copy_name(f.table, nftnl_flowtable_get_str(ft, NFTNL_FLOWTABLE_TABLE));
	copy_name(f.name, nftnl_flowtable_get_str(ft, NFTNL_FLOWTABLE_NAME));
	if (ours(f.family, f.table))
		goto out;
	if (nftnl_flowtable_is_set(ft, NFTNL_FLOWTABLE_FLAGS))
		f.hw = nftnl_flowtable_get_u32(ft, NFTNL_FLOWTABLE_FLAGS) & NFT_FLOWTABLE_HW_OFFLOAD;
	devs = nftnl_flowtable_get_array(ft, NFTNL_FLOWTABLE_DEVICES);
	for (; devs && *devs && f.n_devs < CONFIG_MAX_LIST; devs++)
		if (plan_has(s->plan, *devs))
			snprintf(f.devs[f.n_devs++], CONFIG_IFNAMSIZ, "%s", *devs);
	if (!f.n_devs)
		goto out;
	if (s->out->n == NFT_FOREIGN_MAX)
		s->out->truncated = true;
	else
		s->out->ft[s->out->n++] = f;
out:
	nftnl_flowtable_free(ft);
	return 0;
}

static int expr_cb(struct nftnl_expr *e, void *arg)
{
	struct scan *s = arg;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME), *ft;

	if (!name || strcmp(name, "flow_offload") != 0)
		return 0;
	ft = nftnl_expr_get_str(e, NFTNL_EXPR_FLOW_TABLE_NAME);
	if (ft && strcmp(ft, s->ft->name) == 0)
		s->ft->rules++;
	return 0;
}

static int rule_cb(const struct nlmsghdr *m, void *arg)
{
	struct nftnl_rule *r;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWRULE)
		return 0;
	r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(m, r) == 0)
		nftnl_expr_foreach(r, expr_cb, arg);
	nftnl_rule_free(r);
	return 0;
}

int nft_foreign_scan(struct nft_conn *c, const struct ruleset_plan *plan, struct nft_foreign *out)
{
	struct scan s = { .plan = plan, .out = out };
	char buf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETFLOWTABLE, NFPROTO_UNSPEC, NLM_F_DUMP,
				    c->seq++);
	ret = nft_batch_request(c, nlh, flowtable_cb, &s);
	/* `flow add` is accepted only in chains reached from the forward
	 * hook (nft_flow_offload_validate), so any rule of the table that
	 * names the flowtable feeds it from forward: no chain walk needed. */
	for (i = 0; i < out->n && !ret; i++) {
		s.ft = &out->ft[i];
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)s.ft->family,
					    NLM_F_DUMP, c->seq++);
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, s.ft->table);
		ret = nft_batch_request(c, nlh, rule_cb, &s);
		/* The table went between the two dumps: no rules. */
		if (ret == -ENOENT)
			ret = 0;
	}
	return ret;
}

size_t nft_foreign_drop_hw(struct ruleset_plan *plan, const struct nft_foreign *f)
{
	size_t i, n = 0, dropped = 0;

	for (i = 0; i < plan->n_hw; i++) {
		if (nft_foreign_hw_on(f, plan->hw_devs[i])) {
			dropped++;
			continue;
		}
		if (n != i)
			memcpy(plan->hw_devs[n], plan->hw_devs[i], CONFIG_IFNAMSIZ);
		n++;
	}
	plan->n_hw = n;
	return dropped;
}

const struct nft_foreign_ft *nft_foreign_hw_on(const struct nft_foreign *f, const char *dev)
{
	size_t i, j;

	for (i = 0; i < f->n; i++)
		for (j = 0; f->ft[i].hw && j < f->ft[i].n_devs; j++)
			if (strcmp(f->ft[i].devs[j], dev) == 0)
				return &f->ft[i];
	return NULL;
}

bool nft_foreign_equal(const struct nft_foreign *a, const struct nft_foreign *b)
{
	size_t i, j;

	if (a->n != b->n || a->truncated != b->truncated)
		return false;
	for (i = 0; i < a->n; i++) {
		const struct nft_foreign_ft *x = &a->ft[i], *y = &b->ft[i];

		if (x->family != y->family || strcmp(x->table, y->table) ||
		    strcmp(x->name, y->name) || x->hw != y->hw || x->rules != y->rules ||
		    x->n_devs != y->n_devs)
			return false;
		for (j = 0; j < x->n_devs; j++)
			if (strcmp(x->devs[j], y->devs[j]))
				return false;
	}
	return true;
}

const char *nft_foreign_family_str(uint32_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_NETDEV:
		return "netdev";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_ARP:
		return "arp";
	}
	return "?";
}
