/* nft_build: turns a tier's description into libnftnl objects and batch
 * messages (table, flowtable, chains, interval sets, rules). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "config.h"
#include "nft_build.h"
#include "nft_plan.h"
#include "nft_ruleset.h"
#include "nft_terms.h"

/* nft's `priority filter` is 0 at the ingress hook and in inet chains. */
#define FLOWTABLE_PRIO NF_IP_PRI_FILTER
#define CHAIN_PRIO (NF_IP_PRI_FILTER + 10)
#define EVENTS_CHAIN_PRIO NF_IP_PRI_MANGLE
/* nft's enum byteorder, in the set's NFTNL_UDATA_SET_KEYBYTEORDER. */
#define NFT_BYTEORDER_BIG_ENDIAN 2
#define SETELEM_MSG_MAX (256 + (2 * CONFIG_MAX_LIST + 1) * 48)
_Static_assert(SETELEM_MSG_MAX <= 8192, "a set's elements may overrun the batch buffer");

/* A user data TLV list holding one attribute: comments, key byte order
 * and interval flags are all kept this way, for nft's listing. */
static struct nftnl_udata_buf *udata_one(uint8_t type, const char *str, uint32_t u32)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);

	if (!ud)
		return NULL;
	if (str ? nftnl_udata_put_strz(ud, type, str) : nftnl_udata_put_u32(ud, type, u32))
		return ud;
	nftnl_udata_buf_free(ud);
	return NULL;
}

/* ---- the messages ------------------------------------------------------- */

static int table_msg(struct nft_batch *b, uint16_t type, const char *table, const char *comment)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0)
		goto out;
	if (comment && comment[0]) {
		ud = udata_one(NFTNL_UDATA_TABLE_COMMENT, comment, 0);
		if (!ud || nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
						nftnl_udata_buf_len(ud)) < 0)
			goto out;
	}
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, "%stable inet %s",
			    type == NFT_MSG_DELTABLE ? "delete " : "", table);
	if (!nlh)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, t);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_udata_buf_free(ud);
	nftnl_table_free(t);
	return ret;
}

int nft_build_table_drop(struct nft_batch *b, const char *table)
{
	int ret = table_msg(b, NFT_MSG_NEWTABLE, table, NULL);

	return ret ? ret : table_msg(b, NFT_MSG_DELTABLE, table, NULL);
}

/* NEWFLOWTABLE creates the flowtable or, on an existing one, adds the
 * devices it lacks (nft_flowtable_update, 6.1: the hook and priority must
 * be the same, the offload flag too); DELFLOWTABLE with devices removes
 * only those hooks (nft_delflowtable_hook: ENOENT for a device it lacks).
 * Flows through the devices that stay keep their entries either way. */
static int flowtable_msg(struct nft_batch *b, uint16_t type, const char *update_what,
			 const char *table, const char (*devs)[CONFIG_IFNAMSIZ], size_t n,
			 uint32_t flags)
{
	const char *names[CONFIG_MAX_LIST + 1];
	struct nftnl_flowtable *ft;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	size_t i;

	if (n > CONFIG_MAX_LIST)
		return -ENOMEM;
	ft = nftnl_flowtable_alloc();
	if (!ft)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		names[i] = devs[i];
	names[n] = NULL;
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FAMILY, NFPROTO_INET);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_s32(ft, NFTNL_FLOWTABLE_PRIO, FLOWTABLE_PRIO);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_FLAGS, flags);
	if (nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_TABLE, table) < 0 ||
	    nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_NAME, NFT_FLOWTABLE) < 0 ||
	    nftnl_flowtable_set_array(ft, NFTNL_FLOWTABLE_DEVICES, names) < 0)
		goto out;
	ret = -EMSGSIZE;
	/* An error names the device when it is the only one (extended ACKs
	 * of 6.1 do not blame a device of the list). */
	nlh = nft_batch_msg(b, type, type == NFT_MSG_NEWFLOWTABLE ? NLM_F_CREATE : 0,
			    "%sflowtable inet %s " NFT_FLOWTABLE "%s%s", update_what, table,
			    update_what[0] && n == 1 ? " device " : "",
			    update_what[0] && n == 1 ? devs[0] : "");
	if (!nlh)
		goto out;
	nftnl_flowtable_nlmsg_build_payload(nlh, ft);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_flowtable_free(ft);
	return ret;
}

static int chain_msg(struct nft_batch *b, const char *table, const char *name, uint32_t hook,
		     int32_t prio, const char *comment)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter") < 0)
		goto out;
	if (comment && comment[0]) {
		ud = udata_one(NFTNL_UDATA_CHAIN_COMMENT, comment, 0);
		if (!ud || nftnl_chain_set_data(c, NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud),
						nftnl_udata_buf_len(ud)) < 0)
			goto out;
	}
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain inet %s %s", table, name);
	if (!nlh)
		goto out;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_udata_buf_free(ud);
	nftnl_chain_free(c);
	return ret;
}

/* Deletes a chain with its rules (6.1 nf_tables_delchain deletes the rules
 * of the chain in the same transaction unless NLM_F_NONREC). */
static int chain_del_msg(struct nft_batch *b, const char *table, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0)
		goto out;
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, NFT_MSG_DELCHAIN, 0, "delete chain inet %s %s", table, name);
	if (!nlh)
		goto out;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_chain_free(c);
	return ret;
}

struct nftnl_rule *nft_build_rule(const char *table, const struct nft_rule_spec *spec,
				  const uint32_t *set_ids)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_udata_buf *ud;
	size_t i;
	int ret = 0;

	if (!r)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, spec->chain) < 0)
		goto err;
	for (i = 0; i < spec->n && !ret; i++)
		ret = nft_terms_expr(r, &spec->t[i], set_ids);
	ud = ret ? NULL : udata_one(NFTNL_UDATA_RULE_COMMENT, spec->comment, 0);
	if (!ud)
		goto err;
	ret = nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				  nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	if (ret == 0)
		return r;
err:
	nftnl_rule_free(r);
	return NULL;
}

static int rule_msg(struct nft_batch *b, const char *table, const struct nft_rule_spec *spec,
		    const uint32_t *set_ids)
{
	struct nftnl_rule *rule = nft_build_rule(table, spec, set_ids);
	struct nlmsghdr *nlh;

	if (!rule)
		return -ENOMEM;
	nlh = nft_batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "rule inet %s %s (%s)",
			    table, spec->chain, spec->comment);
	if (!nlh) {
		nftnl_rule_free(rule);
		return -EMSGSIZE;
	}
	nftnl_rule_nlmsg_build_payload(nlh, rule);
	nftnl_rule_free(rule);
	return nft_batch_commit_msg(b);
}

/* ---- interval sets ------------------------------------------------------ */

static struct nftnl_set *set_new(const char *table, const struct nft_skip_set *s, uint32_t id)
{
	struct nftnl_set *set = nftnl_set_alloc();
	struct nftnl_udata_buf *ud;
	bool ok;

	if (!set)
		return NULL;
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(set, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, s->key_type);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, s->key_len);
	nftnl_set_set_u32(set, NFTNL_SET_ID, id);
	/* The key's byte order, which nft keeps in the set's user data for
	 * its own listing: the same bytes as nft sends. */
	ud = udata_one(NFTNL_UDATA_SET_KEYBYTEORDER, NULL, NFT_BYTEORDER_BIG_ENDIAN);
	ok = ud && nftnl_set_set_data(set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				      nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	if (!ok || nftnl_set_set_str(set, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(set, NFTNL_SET_NAME, s->name) < 0) {
		nftnl_set_free(set);
		return NULL;
	}
	return set;
}

/* One element of an interval set; the set owns it at once. */
static bool set_elem_add(struct nftnl_set *set, const uint8_t *key, uint32_t len, bool end,
			 bool to_max)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nftnl_udata_buf *ud;
	bool ok;

	if (!e)
		return false;
	nftnl_set_elem_add(set, e);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len) < 0)
		return false;
	if (!to_max)
		return true;
	/* Only for nft: an interval running to the largest key has no end
	 * element, and this flag tells `nft list` it is not a lone key. */
	ud = udata_one(NFTNL_UDATA_SET_ELEM_FLAGS, NULL, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
	ok = ud && nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
				      nftnl_udata_buf_len(ud)) == 0;
	nftnl_udata_buf_free(ud);
	return ok;
}

static bool key_is_zero(const uint8_t *k, uint32_t len)
{
	while (len--)
		if (k[len])
			return false;
	return true;
}

/* The kernel's interval sets hold starts and ends (end = last + 1, flagged
 * INTERVAL_END); nft also opens with an end at key 0 unless the first
 * interval starts there, and gives an interval running to the largest key
 * no end.  The same elements as nft keeps render == install true to the
 * byte (`nft --debug=netlink list` shows them). */
static bool set_elems_add(struct nftnl_set *set, const struct nft_skip_set *s)
{
	uint8_t end[NFT_KEY_MAX];
	bool to_max;
	size_t i;

	if (s->n && !key_is_zero(s->iv[0].lo, s->key_len)) {
		memset(end, 0, sizeof(end));
		if (!set_elem_add(set, end, s->key_len, true, false))
			return false;
	}
	for (i = 0; i < s->n; i++) {
		memcpy(end, s->iv[i].hi, s->key_len);
		to_max = !nft_plan_key_inc(end, s->key_len);
		if (!set_elem_add(set, s->iv[i].lo, s->key_len, false, to_max) ||
		    (!to_max && !set_elem_add(set, end, s->key_len, true, false)))
			return false;
	}
	return true;
}

/* The set and, in a second message, its elements. */
static int set_msgs(struct nft_batch *b, const char *table, const struct nft_skip_set *s,
		    uint32_t id)
{
	struct nftnl_set *set = set_new(table, s, id);
	struct nlmsghdr *nlh;
	int ret = -EMSGSIZE;

	if (!set)
		return -ENOMEM;
	nlh = nft_batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE, "set inet %s %s", table, s->name);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, set);
	ret = nft_batch_commit_msg(b);
	if (ret)
		goto out;
	if (s->dynamic)
		goto out;	/* routes.c fills it */
	ret = -ENOMEM;
	if (!set_elems_add(set, s))
		goto out;
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "elements of set inet %s %s",
			    table, s->name);
	if (!nlh)
		goto out;
	nftnl_set_elems_nlmsg_build_payload(nlh, set);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_set_free(set);
	return ret;
}

/* ---- [routes] sets, changed in place ------------------------------------- */

/* Intervals per element message: two elements each of at most about 48
 * bytes (an IPv6 key with its nest and flags), well inside a message. */
#define ROUTE_IV_PER_MSG 64

static int route_elems_msg(struct nft_batch *b, const char *table, const struct nft_skip_set *s,
			   bool del, const struct nft_interval *iv, size_t n)
{
	struct nftnl_set *set;
	struct nlmsghdr *nlh;
	uint8_t end[NFT_KEY_MAX];
	bool to_max;
	size_t i;
	int ret = -ENOMEM;

	set = nftnl_set_alloc();
	if (!set)
		return -ENOMEM;
	if (nftnl_set_set_str(set, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(set, NFTNL_SET_NAME, s->name) < 0)
		goto out;
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	/* No leading end at key 0 (nft writes one for its own listing; the
	 * kernel's lookup needs none), so only the intervals' own elements. */
	for (i = 0; i < n; i++) {
		memcpy(end, iv[i].hi, s->key_len);
		to_max = !nft_plan_key_inc(end, s->key_len);
		if (!set_elem_add(set, iv[i].lo, s->key_len, false, to_max) ||
		    (!to_max && !set_elem_add(set, end, s->key_len, true, false)))
			goto out;
	}
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
			    del ? 0 : NLM_F_CREATE, "%s %zu intervals of set inet %s %s",
			    del ? (n ? "delete" : "flush") : "add", n, table, s->name);
	if (!nlh)
		goto out;
	nftnl_set_elems_nlmsg_build_payload(nlh, set);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_set_free(set);
	return ret;
}

size_t nft_build_set_update_msgs(size_t n_del, size_t n_add)
{
	return 1 + (n_del + ROUTE_IV_PER_MSG - 1) / ROUTE_IV_PER_MSG +
	       (n_add + ROUTE_IV_PER_MSG - 1) / ROUTE_IV_PER_MSG;
}

int nft_build_set_update(struct nft_batch *b, const char *table, const struct nft_skip_set *s,
			 bool flush, const struct nft_interval *del, size_t n_del,
			 const struct nft_interval *add, size_t n_add)
{
	size_t i, k;
	int ret = 0;

	/* A DELSETELEM without elements flushes the set (nf_tables_delsetelem). */
	if (flush)
		ret = route_elems_msg(b, table, s, true, NULL, 0);
	for (i = 0; !flush && i < n_del && !ret; i += k) {
		k = n_del - i < ROUTE_IV_PER_MSG ? n_del - i : ROUTE_IV_PER_MSG;
		ret = route_elems_msg(b, table, s, true, del + i, k);
	}
	for (i = 0; i < n_add && !ret; i += k) {
		k = n_add - i < ROUTE_IV_PER_MSG ? n_add - i : ROUTE_IV_PER_MSG;
		ret = route_elems_msg(b, table, s, false, add + i, k);
	}
	return ret;
}

/* ---- a tier ------------------------------------------------------------- */

static uint32_t flowtable_flags(bool hw)
{
	return NFT_FLOWTABLE_COUNTER | (hw ? NFT_FLOWTABLE_HW_OFFLOAD : 0);
}

int nft_build_flowtable_devices(struct nft_batch *b, const char *table, bool hw, bool add,
				const char (*devs)[CONFIG_IFNAMSIZ], size_t n)
{
	if (!n)
		return 0;
	return flowtable_msg(b, add ? NFT_MSG_NEWFLOWTABLE : NFT_MSG_DELFLOWTABLE,
			     add ? "devices into " : "devices out of ", table, devs, n,
			     flowtable_flags(hw));
}

/* The flowtable; with_devs false leaves its devices out (the fingerprint). */
static int tier_flowtable(struct nft_batch *b, const struct nft_tier *t, bool with_devs)
{
	return flowtable_msg(b, NFT_MSG_NEWFLOWTABLE, "", t->table, t->devs,
			     with_devs ? t->n_devs : 0, flowtable_flags(t->hw));
}

/* The chains (the forward chain carrying chain_comment), sets and rules:
 * everything a reload may replace while the flowtable stays. */
static int tier_rules(struct nft_batch *b, const struct nft_tier_spec *s, const char *chain_comment)
{
	const struct nft_tier *t = s->tier;
	uint32_t ids[NFT_SKIP_KINDS] = { 0 };
	size_t i;
	int k, ret;

	ret = chain_msg(b, t->table, NFT_CHAIN, NF_INET_FORWARD, CHAIN_PRIO, chain_comment);
	if (!ret && nft_rules_has_chain(s, NFT_EVENTS_CHAIN))
		ret = chain_msg(b, t->table, NFT_EVENTS_CHAIN, NF_INET_PRE_ROUTING,
				EVENTS_CHAIN_PRIO, NULL);
	for (k = 0; k < NFT_SKIP_KINDS && !ret; k++) {
		if (!s->sets[k].n && !s->sets[k].dynamic)
			continue;
		ids[k] = ++b->set_id;
		ret = set_msgs(b, t->table, &s->sets[k], ids[k]);
	}
	for (i = 0; i < s->n_rules && !ret; i++)
		ret = rule_msg(b, t->table, &s->rules[i], ids);
	return ret;
}

int nft_build_tier(struct nft_batch *b, const struct nft_tier_spec *s)
{
	int ret = nft_build_table_drop(b, s->tier->table);

	if (!ret)
		ret = table_msg(b, NFT_MSG_NEWTABLE, s->tier->table, s->tier->comment);
	if (!ret)
		ret = tier_flowtable(b, s->tier, true);
	return ret ? ret : tier_rules(b, s, s->tier->rules_comment);
}

static int set_del_msg(struct nft_batch *b, const char *table, const char *name)
{
	struct nftnl_set *set = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!set)
		return -ENOMEM;
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (nftnl_set_set_str(set, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(set, NFTNL_SET_NAME, name) < 0)
		goto out;
	ret = -EMSGSIZE;
	nlh = nft_batch_msg(b, NFT_MSG_DELSET, 0, "delete set inet %s %s", table, name);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, set);
	ret = nft_batch_commit_msg(b);
out:
	nftnl_set_free(set);
	return ret;
}

/*
 * The table and its flowtable stay (same handles, and the flowtable keeps
 * its entries: only deleting a flowtable flushes them); the chains with
 * their rules go first, which releases the sets the rules looked up, so
 * the sets can go next (6.1 refuses to delete a set still in use, EBUSY);
 * then everything is added again as s describes.  All in the caller's
 * one batch: the kernel applies all of it or none.
 */
int nft_build_tier_rules(struct nft_batch *b, const struct nft_tier_spec *s,
			 const struct nft_tier_present *p)
{
	const char *table = s->tier->table;
	int k, ret = 0;

	if (p->chain)
		ret = chain_del_msg(b, table, NFT_CHAIN);
	if (!ret && p->events_chain)
		ret = chain_del_msg(b, table, NFT_EVENTS_CHAIN);
	for (k = 0; k < NFT_SKIP_KINDS && !ret; k++)
		if (p->sets[k])
			ret = set_del_msg(b, table, s->sets[k].name);
	return ret ? ret : tier_rules(b, s, s->tier->rules_comment);
}

int nft_build_probe(struct nft_batch *b, const char *table, const char *dev)
{
	char devs[1][CONFIG_IFNAMSIZ];
	int ret;

	if (strlen(dev) >= CONFIG_IFNAMSIZ)
		return -EINVAL;
	strcpy(devs[0], dev);
	ret = table_msg(b, NFT_MSG_NEWTABLE, table, NULL);
	return ret ? ret : flowtable_msg(b, NFT_MSG_NEWFLOWTABLE, "", table, devs, 1,
					 NFT_FLOWTABLE_HW_OFFLOAD);
}

/* ---- the fingerprints --------------------------------------------------- */

/* FNV-1a, 64 bits: a fingerprint, not a defence against anyone. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The hash of a batch's messages from the first on.  Sequence numbers and
 * port ids are left out: they differ between batches, not between tables;
 * nothing we send carries a handle. */
static uint64_t batch_hash(const struct nft_batch *b, size_t first)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const struct nlmsghdr *nlh;
	size_t i;

	for (i = first; i < b->n; i++) {
		nlh = b->msgs[i].nlh;
		h = fnv1a(h, &nlh->nlmsg_len, sizeof(nlh->nlmsg_len));
		h = fnv1a(h, &nlh->nlmsg_type, sizeof(nlh->nlmsg_type));
		h = fnv1a(h, &nlh->nlmsg_flags, sizeof(nlh->nlmsg_flags));
		h = fnv1a(h, mnl_nlmsg_get_payload(nlh), mnl_nlmsg_get_payload_len(nlh));
	}
	return h;
}

/*
 * Two fingerprints, taken of the messages the kernel receives (so a change
 * to the bytecode changes them even when the text stays the same), let a
 * restarted or reloaded agent keep what is already right: replacing a
 * flowtable evicts every flow in it, and flows past the window's end would
 * never come back.
 *
 * The table's comment covers the table and its flowtable without devices:
 * what, when it changes, means the table is replaced whole.  6.1 cannot
 * rewrite it in place (nf_tables_updtable reads only the flags), so it
 * covers nothing a reload replaces in place.  The devices are left out:
 * they follow the links in place (devices.c), and install compares them
 * with the kernel's answer instead.
 *
 * The forward chain's comment covers the chains (without that comment),
 * sets, elements and rules: what, when it changes, a reload replaces
 * while the table and flowtable stay.  The chain is created again with
 * every such change, so its comment is always new with it.
 */
int nft_build_fingerprint(const struct nft_tier_spec *s, char *table_comment,
			  char *rules_comment, size_t len)
{
	struct nft_conn scratch = { .nl = NULL, .seq = 0 };
	struct nft_batch b;
	uint64_t ht = 0, hr = 0;
	size_t first = 0;
	int ret;

	ret = nft_batch_init(&scratch, &b);
	if (ret)
		return ret;
	first = b.n;
	ret = table_msg(&b, NFT_MSG_NEWTABLE, s->tier->table, NULL);
	if (!ret)
		ret = tier_flowtable(&b, s->tier, false);
	if (!ret) {
		ht = batch_hash(&b, first);
		first = b.n;
		ret = tier_rules(&b, s, NULL);
	}
	if (!ret)
		hr = batch_hash(&b, first);
	nft_batch_free(&b);
	if (ret)
		return ret;
	snprintf(table_comment, len, "flowoffload %016llx", (unsigned long long)ht);
	snprintf(rules_comment, len, "flowoffload rules %016llx", (unsigned long long)hr);
	return 0;
}
