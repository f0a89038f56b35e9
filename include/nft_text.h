/* nft_text: a tier's description as the nft script --check-config and
 * --dry-run print; loading it with `nft -f` gives the tables install gives. */
#ifndef FLOWOFFLOAD_NFT_TEXT_H
#define FLOWOFFLOAD_NFT_TEXT_H

#include <stdio.h>

#include "nft_rules.h"

/* The tier's replace idiom and table, its comment from s->tier->comment. */
void nft_text_tier(FILE *f, const struct nft_tier_spec *s);

#endif
