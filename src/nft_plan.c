/* nft_plan: validates the config and plan for the ruleset, splits it into
 * tiers and turns the skip lists into sorted, merged interval sets. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "ct_admit.h"
#include "nft_plan.h"

static bool devs_valid(const char (*devs)[CONFIG_IFNAMSIZ], size_t n)
{
	size_t i, k;

	if (n > CONFIG_MAX_LIST)
		return false;
	for (i = 0; i < n; i++) {
		if (!devs[i][0] || strnlen(devs[i], CONFIG_IFNAMSIZ) == CONFIG_IFNAMSIZ)
			return false;
		/* The kernel refuses a device twice in one flowtable (EEXIST). */
		for (k = 0; k < i; k++)
			if (!strcmp(devs[i], devs[k]))
				return false;
	}
	return true;
}

static int skip_check(const struct fo_config *cfg)
{
	size_t i;

	if (cfg->n_skip_ports > CONFIG_MAX_LIST || cfg->n_skip_prefixes > CONFIG_MAX_LIST)
		return -EINVAL;
	for (i = 0; i < cfg->n_skip_ports; i++)
		if (cfg->skip_ports[i].lo > cfg->skip_ports[i].hi)
			return -EINVAL;
	for (i = 0; i < cfg->n_skip_prefixes; i++) {
		const struct prefix *p = &cfg->skip_prefixes[i];

		if ((p->family != AF_INET || p->len > 32) && (p->family != AF_INET6 || p->len > 128))
			return -EINVAL;
	}
	return 0;
}

int nft_plan_check(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	if (!cfg || !plan)
		return -EINVAL;
	if (!cfg->mark_mask || (!cfg->proto_tcp && !cfg->proto_udp) ||
	    cfg->window_from > cfg->window_until)
		return -EINVAL;
	if (plan->n_sw == 0 || !devs_valid(plan->sw_devs, plan->n_sw) ||
	    !devs_valid(plan->hw_devs, plan->n_hw) || skip_check(cfg))
		return -EINVAL;
	/* The software rule tests the bit HW and SKIP share; a mask too
	 * narrow to hold it would test a bit that is not ours. */
	if (!ct_admit_value(cfg->mark_mask, ADMIT_HW))
		return -EINVAL;
	return 0;
}

size_t nft_plan_tiers(const struct fo_config *cfg, const struct ruleset_plan *plan,
		      struct nft_tier t[2])
{
	/* Software: every flow the agent has not sent to hardware or marked
	 * skip, admitted or not yet seen: a late mark write under load must
	 * not delay the offload past the window's start.  HW (2) and SKIP
	 * (3) are the values with the field's second bit set. */
	t[0] = (struct nft_tier){
		.table = NFT_TABLE_SW,
		.devs = plan->sw_devs,
		.n_devs = plan->n_sw,
		.mark_and = ct_admit_value(cfg->mark_mask, ADMIT_HW) &
			    ct_admit_value(cfg->mark_mask, ADMIT_SKIP),
		.mark_eq = 0,
	};
	if (!plan->n_hw)
		return 1;
	/* Hardware: only the flows the agent admitted within the NIC's budget. */
	t[1] = (struct nft_tier){
		.table = NFT_TABLE_HW,
		.devs = plan->hw_devs,
		.n_devs = plan->n_hw,
		.hw = true,
		.mark_and = cfg->mark_mask,
		.mark_eq = ct_admit_value(cfg->mark_mask, ADMIT_HW),
	};
	return 2;
}

bool nft_plan_key_inc(uint8_t *k, uint32_t len)
{
	while (len--)
		if (++k[len])
			return true;
	return false;
}

static void sort_by_lo(struct nft_skip_set *s)
{
	struct nft_interval tmp;
	size_t i, j;

	for (i = 1; i < s->n; i++) {
		tmp = s->iv[i];
		for (j = i; j > 0 && memcmp(s->iv[j - 1].lo, tmp.lo, s->key_len) > 0; j--)
			s->iv[j] = s->iv[j - 1];
		s->iv[j] = tmp;
	}
}

/* Sorted, with overlapping and adjacent intervals merged: nft refuses
 * overlapping elements in a set without auto-merge ("conflicting
 * intervals"), and merging the adjacent ones too gives one form however
 * the operator split a range, so the fingerprint does not depend on it. */
static void skip_set_normalise(struct nft_skip_set *s)
{
	uint8_t next[NFT_KEY_MAX];
	size_t i, n = 0;

	sort_by_lo(s);
	for (i = 0; i < s->n; i++) {
		struct nft_interval *last = n ? &s->iv[n - 1] : NULL;

		if (last) {
			memcpy(next, last->hi, s->key_len);
			if (!nft_plan_key_inc(next, s->key_len) ||
			    memcmp(s->iv[i].lo, next, s->key_len) <= 0) {
				if (memcmp(s->iv[i].hi, last->hi, s->key_len) > 0)
					memcpy(last->hi, s->iv[i].hi, s->key_len);
				continue;
			}
		}
		s->iv[n++] = s->iv[i];
	}
	s->n = n;
}

static void skip_ports_fill(const struct fo_config *cfg, struct nft_skip_set *s)
{
	struct nft_interval *iv;
	size_t i;

	for (i = 0; i < cfg->n_skip_ports; i++) {
		iv = &s->iv[s->n++];
		iv->lo[0] = cfg->skip_ports[i].lo >> 8;
		iv->lo[1] = cfg->skip_ports[i].lo & 0xff;
		iv->hi[0] = cfg->skip_ports[i].hi >> 8;
		iv->hi[1] = cfg->skip_ports[i].hi & 0xff;
	}
}

static void skip_prefixes_fill(const struct fo_config *cfg, uint8_t family,
			       struct nft_skip_set *s)
{
	struct nft_interval *iv;
	unsigned int bit;
	size_t i;

	for (i = 0; i < cfg->n_skip_prefixes; i++) {
		const struct prefix *p = &cfg->skip_prefixes[i];

		if (p->family != family)
			continue;
		iv = &s->iv[s->n++];
		memcpy(iv->lo, p->addr, s->key_len);
		memcpy(iv->hi, p->addr, s->key_len);
		for (bit = p->len; bit < s->key_len * 8; bit++) {
			iv->lo[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
			iv->hi[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		}
	}
}

void nft_plan_skip_sets(const struct fo_config *cfg, struct nft_skip_set sets[NFT_SKIP_KINDS])
{
	/* per_line: how many elements of each type nft lists on one line. */
	static const struct {
		const char *name;
		uint32_t key_type, key_len;
		unsigned int per_line;
	} shapes[NFT_SKIP_KINDS] = {
		[NFT_SKIP_PORTS] = { "skip_ports", NFT_TYPE_INET_SERVICE, 2, 5 },
		[NFT_SKIP_4] = { "skip4", NFT_TYPE_IPADDR, 4, 2 },
		[NFT_SKIP_6] = { "skip6", NFT_TYPE_IP6ADDR, 16, 1 },
		[NFT_ROUTES_ONLY4] = { "routes_only4", NFT_TYPE_IPADDR, 4, 2 },
		[NFT_ROUTES_ONLY6] = { "routes_only6", NFT_TYPE_IP6ADDR, 16, 1 },
		[NFT_ROUTES_NEVER4] = { "routes_never4", NFT_TYPE_IPADDR, 4, 2 },
		[NFT_ROUTES_NEVER6] = { "routes_never6", NFT_TYPE_IP6ADDR, 16, 1 },
		[NFT_MICE_TCP4] = { "mice_tcp4", NFT_TYPE_INET_SERVICE, 2, 5 },
		[NFT_MICE_UDP4] = { "mice_udp4", NFT_TYPE_INET_SERVICE, 2, 5 },
		[NFT_MICE_TCP6] = { "mice_tcp6", NFT_TYPE_INET_SERVICE, 2, 5 },
		[NFT_MICE_UDP6] = { "mice_udp6", NFT_TYPE_INET_SERVICE, 2, 5 },
	};
	struct nft_skip_set *s;
	int k;

	for (k = 0; k < NFT_SKIP_KINDS; k++) {
		s = &sets[k];
		s->name = shapes[k].name;
		s->key_type = shapes[k].key_type;
		s->key_len = shapes[k].key_len;
		s->per_line = shapes[k].per_line;
		s->n = 0;
		s->dynamic = false;
		if (k >= NFT_MICE_TCP4) {
			/* A protocol the agent does not offload has no rule
			 * to skip, and a class table without mice (mice-packets
			 * 0) no class to put in the set. */
			s->dynamic = cfg->classes_learn && cfg->classes_mice_packets &&
				     ((k - NFT_MICE_TCP4) % 2 ? cfg->proto_udp : cfg->proto_tcp);
			continue;
		}
		if (k >= NFT_ROUTES_ONLY4) {
			s->dynamic = cfg->n_routes[k < NFT_ROUTES_NEVER4 ? ROUTE_ONLY : ROUTE_NEVER] > 0;
			continue;
		}
		if (k == NFT_SKIP_PORTS)
			skip_ports_fill(cfg, s);
		else
			skip_prefixes_fill(cfg, k == NFT_SKIP_4 ? AF_INET : AF_INET6, s);
		skip_set_normalise(s);
	}
}

int nft_plan_routes_set(int role, int fam)
{
	return (role == ROUTE_ONLY ? NFT_ROUTES_ONLY4 : NFT_ROUTES_NEVER4) + fam;
}

int nft_plan_mice_set(uint8_t family, uint8_t proto)
{
	int k;

	if (proto == IPPROTO_TCP)
		k = NFT_MICE_TCP4;
	else if (proto == IPPROTO_UDP)
		k = NFT_MICE_UDP4;
	else
		return -1;
	if (family == AF_INET6)
		return k + 2;
	return family == AF_INET ? k : -1;
}

bool nft_plan_events_quiet(const struct fo_config *cfg, const struct nft_tier *t)
{
	return cfg->events_window && !t->hw;
}

/* small-packet-window-from, or for 0 (auto) packet 64 -- past any
 * request/response exchange, 1.3 s of a 50 packet/s voice stream --
 * moved into the window. */
uint32_t nft_plan_small_from(const struct fo_config *cfg)
{
	uint32_t v = cfg->small_window_from ? cfg->small_window_from : 64;

	if (v < cfg->window_from)
		v = cfg->window_from;
	if (v > cfg->window_until)
		v = cfg->window_until;
	return v;
}
