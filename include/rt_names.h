/* rt_names: routing table and route protocol names as iproute2 knows them
 * (/etc/iproute2/rt_tables and its .d directory; the kernel's RTPROT_*). */
#ifndef FLOWOFFLOAD_RT_NAMES_H
#define FLOWOFFLOAD_RT_NAMES_H

#include <stdint.h>

/* A table by number (1..2^32-1) or name: main, local, default, or a line
 * "ID NAME" of rt_tables.  0 or -ENOENT. */
int rt_names_table(const char *s, uint32_t *id);

/* A protocol by number 0..255 or RTPROT_* name (bird, bgp...).  0 or
 * -ENOENT. */
int rt_names_proto(const char *s, uint8_t *proto);

/* The name of protocol p, or NULL when it has none. */
const char *rt_names_proto_str(uint8_t p);

#endif
