/* nft_text: writes a tier's description as nft prints it in `nft list`:
 * sets, flowtable, chains, each rule from its terms. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "nft_plan.h"
#include "nft_rules.h"
#include "nft_ruleset.h"
#include "nft_terms.h"
#include "nft_text.h"

/* The prefix length when [lo, hi] is exactly one prefix, else -1. */
static int interval_prefix(const struct nft_interval *iv, uint32_t len)
{
	unsigned int bit, plen = len * 8;
	bool split = false;

	for (bit = 0; bit < len * 8; bit++) {
		uint8_t m = 0x80 >> (bit % 8);
		bool l = iv->lo[bit / 8] & m, h = iv->hi[bit / 8] & m;

		if (!split && l != h) {
			split = true;
			plen = bit;
		}
		if (split && (l || !h))
			return -1;
	}
	return (int)plen;
}

static void text_key(FILE *f, const struct nft_skip_set *s, const uint8_t *k)
{
	char buf[INET6_ADDRSTRLEN];

	if (s->key_type == NFT_TYPE_INET_SERVICE)
		fprintf(f, "%u", (unsigned int)(k[0] << 8 | k[1]));
	else
		fputs(inet_ntop(s->key_len == 4 ? AF_INET : AF_INET6, k, buf, sizeof(buf)), f);
}

/* As nft lists an element: a single key, a prefix (addresses only), or a
 * range. */
static void text_interval(FILE *f, const struct nft_skip_set *s, const struct nft_interval *iv)
{
	int plen = interval_prefix(iv, s->key_len);

	text_key(f, s, iv->lo);
	if (plen == (int)s->key_len * 8)
		return;
	if (plen >= 0 && s->key_type != NFT_TYPE_INET_SERVICE) {
		fprintf(f, "/%d", plen);
		return;
	}
	fputc('-', f);
	text_key(f, s, iv->hi);
}

static void text_set(FILE *f, const struct nft_skip_set *s)
{
	static const char *const types[] = {
		[NFT_TYPE_IPADDR] = "ipv4_addr",
		[NFT_TYPE_IP6ADDR] = "ipv6_addr",
		[NFT_TYPE_INET_SERVICE] = "inet_service",
	};
	unsigned int count = 0;
	size_t i;

	fprintf(f, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", s->name,
		types[s->key_type]);
	/* A [routes] set is filled after the install: no elements here. */
	if (s->dynamic) {
		fputs("\t}\n\n", f);
		return;
	}
	fputs("\t\telements = { ", f);
	for (i = 0; i < s->n; i++) {
		if (i)
			fputs(++count < s->per_line ? ", " : ",\n\t\t\t     ", f);
		if (count >= s->per_line)
			count = 0;
		text_interval(f, s, &s->iv[i]);
	}
	fputs(" }\n\t}\n\n", f);
}

static void text_flowtable(FILE *f, const struct nft_tier *t)
{
	size_t i;

	fputs("\tflowtable " NFT_FLOWTABLE " {\n", f);
	fputs("\t\thook ingress priority filter\n\t\tdevices = { ", f);
	/* Quoted: a device may be named like an nft keyword ("vlan", "ip6"). */
	for (i = 0; i < t->n_devs; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", t->devs[i]);
	fputs(" }\n", f);
	if (t->hw)
		fputs("\t\tflags offload\n", f);
	fputs("\t\tcounter\n\t}\n\n", f);
}

/* The rules of one chain, in the description's order. */
static void text_rules(FILE *f, const struct nft_tier_spec *s, const char *chain)
{
	const struct nft_rule_spec *r;
	size_t i, k;

	for (i = 0; i < s->n_rules; i++) {
		r = &s->rules[i];
		if (strcmp(r->chain, chain))
			continue;
		fputs("\t\t", f);
		for (k = 0; k < r->n; k++) {
			if (k)
				fputc(' ', f);
			nft_terms_text(f, &r->t[k]);
		}
		fprintf(f, " comment \"%s\"\n", r->comment);
	}
}

void nft_text_tier(FILE *f, const struct nft_tier_spec *s)
{
	const struct nft_tier *t = s->tier;
	int k;

	/* The same replace idiom install uses: loading the text twice gives
	 * the same tables, never a merge of old and new. */
	fprintf(f, "table inet %s\ndelete table inet %s\n", t->table, t->table);
	fprintf(f, "table inet %s {\n\tcomment \"%s\"\n", t->table, t->comment);
	/* In nft's listing order: sets, flowtable, chains. */
	for (k = 0; k < NFT_SKIP_KINDS; k++)
		if (s->sets[k].n || s->sets[k].dynamic)
			text_set(f, &s->sets[k]);
	text_flowtable(f, t);
	fprintf(f, "\tchain " NFT_CHAIN " {\n\t\tcomment \"%s\"\n"
		   "\t\ttype filter hook forward priority filter + 10; policy accept;\n",
		t->rules_comment);
	text_rules(f, s, NFT_CHAIN);
	fputs("\t}\n", f);
	if (nft_rules_has_chain(s, NFT_EVENTS_CHAIN)) {
		fputs("\n\tchain " NFT_EVENTS_CHAIN " {\n"
		      "\t\ttype filter hook prerouting priority mangle; policy accept;\n",
		      f);
		text_rules(f, s, NFT_EVENTS_CHAIN);
		fputs("\t}\n", f);
	}
	fputs("}\n", f);
}
