/* ct_query: the conntrack query socket: filtered dumps of the conntrack
 * table, read either blocking or from the caller's event loop. */
#ifndef FLOWOFFLOAD_CT_QUERY_H
#define FLOWOFFLOAD_CT_QUERY_H

#include <stdint.h>

#include "ct_parse.h"

struct ct_query;

int ct_query_open(struct ct_query **out);
/* Dump the conntrack table (family AF_UNSPEC for both), only entries whose
 * mark & mask == mark & mask when mask is non-zero; blocking, bounded by a
 * timeout between datagrams.  cb gets CT_MSG_DUMP for each entry.  0,
 * (entries that cannot be parsed are skipped: ct_query_bad_entries),
 * -EAGAIN (the kernel flagged the dump interrupted), -EBUSY (an
 * asynchronous dump is running), or another negative errno. */
int ct_query_dump(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask, ct_cb cb,
		  void *arg);
void ct_query_close(struct ct_query *q);

/*
 * The same dump, read from the caller's event loop so that events keep
 * flowing during a dump of a million entries: register ct_query_fd() for
 * EPOLLIN and call ct_query_on_readable() when it fires.  on_entry gets each
 * entry; on_done gets the dump's result (as ct_query_dump() returns it)
 * once, after which another dump may start.  -EBUSY while a dump runs.
 * The fd stays the same across asynchronous dumps; only a synchronous
 * ct_query_dump() that failed midway replaces the socket (and its fd).
 */
typedef void (*ct_query_done_cb)(int result, void *arg);

int ct_query_dump_start(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask,
			ct_cb on_entry, ct_query_done_cb on_done, void *arg);
int ct_query_fd(const struct ct_query *q);
/* Read up to budget messages of the running dump.  The number read, or a
 * negative errno (the dump then ended: on_done was called with it). */
int ct_query_on_readable(struct ct_query *q, unsigned int budget);
/* Entries of the last (or running) dump that could not be parsed: skipped
 * and counted, the dump goes on; a reconciliation sweep after such a dump
 * would drop flows it could not see, so the caller decides. */
uint64_t ct_query_bad_entries(const struct ct_query *q);
/* Is a dump (synchronous or not) running? */
int ct_query_busy(const struct ct_query *q);

#endif
