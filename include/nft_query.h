/* nft_query: single questions to nftables about the agent's tables: does
 * an object exist, what comment does a table or chain carry. */
#ifndef FLOWOFFLOAD_NFT_QUERY_H
#define FLOWOFFLOAD_NFT_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nft_batch.h"

/* 1 the object exists, 0 it does not, or a negative errno.  type is
 * NFT_MSG_GETTABLE (name unused), GETFLOWTABLE, GETCHAIN or GETSET. */
int nft_query_exists(struct nft_conn *c, uint16_t type, const char *table, const char *name);

/* The table's comment into buf: 1 found (buf may be empty: no comment),
 * 0 no such table, or a negative errno. */
int nft_query_table_comment(struct nft_conn *c, const char *table, char *buf, size_t len);

/* The same for the chain table/chain. */
int nft_query_chain_comment(struct nft_conn *c, const char *table, const char *chain, char *buf,
			    size_t len);

/* The devices the flowtable table/name hooks now (the kernel drops a
 * device's hook when the device goes away): 1 with *n names written (at
 * most max; -E2BIG beyond), 0 no such flowtable, or a negative errno. */
int nft_query_flowtable_devices(struct nft_conn *c, const char *table, const char *name,
				char (*names)[CONFIG_IFNAMSIZ], size_t max, size_t *n);

#endif
