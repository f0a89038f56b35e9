/* nft_terms: each term of a rule description as nft text and as libnftnl
 * expressions, written side by side so that one cannot change alone. */
#ifndef FLOWOFFLOAD_NFT_TERMS_H
#define FLOWOFFLOAD_NFT_TERMS_H

#include <stdint.h>
#include <stdio.h>

#include <libnftnl/rule.h>

#include "nft_rules.h"

void nft_terms_text(FILE *f, const struct nft_term *t);

/* Appends the term's expressions to r; set_ids maps a lookup's skip set
 * kind to its id in the batch.  0 or -ENOMEM (r owns what was added). */
int nft_terms_expr(struct nftnl_rule *r, const struct nft_term *t, const uint32_t *set_ids);

#endif
