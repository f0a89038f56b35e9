/* ct_filter: a classic BPF socket filter for the conntrack event socket that
 * drops, in the kernel, the events of protocols the agent never offloads. */
#ifndef FLOWOFFLOAD_CT_FILTER_H
#define FLOWOFFLOAD_CT_FILTER_H

#include <stdbool.h>

/* Attach (or replace) the filter on the event socket fd: conntrack messages
 * whose original tuple's protocol is TCP (when tcp) or UDP (when udp) pass,
 * every other protocol is dropped before it is queued; a message the filter
 * cannot read passes.  0 or a negative errno (the socket is then unchanged). */
int ct_filter_attach(int fd, bool tcp, bool udp);

/* Remove the filter: every event passes again.  0 or a negative errno. */
int ct_filter_detach(int fd);

#endif
