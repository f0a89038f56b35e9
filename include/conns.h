/* conns: the connections a listening socket in the loop accepted (control
 * socket, scrape endpoint): the list, its counters and its sweep timer. */
#ifndef FLOWOFFLOAD_CONNS_H
#define FLOWOFFLOAD_CONNS_H

#include <stdint.h>

#include "loop.h"

/* The first member of each client's own state: the owner's iterations
 * cast a struct conn * back to the client. */
struct conn {
	int fd;
	struct conn *link;
};

struct conns {
	struct loop *l;
	struct conn *head;
	struct loop_timer *sweep;	/* every sweep_ms while any is open */
	uint64_t sweep_ms;
	uint64_t *open, *open_max;	/* the owner's counters: open now, most at once */
};

/* An empty list whose sweep timer runs on_sweep(arg) while it is not empty.
 * 0 or a negative errno. */
int conns_init(struct conns *cs, struct loop *l, uint64_t sweep_ms, loop_timer_cb on_sweep,
	       void *arg, uint64_t *open, uint64_t *open_max);

/* One connection waiting on listen_fd, non-blocking and close-on-exec: its
 * fd; -EAGAIN when none is (or it left first), another -errno (EMFILE...)
 * for the owner to count. */
int conns_accept(int listen_fd);

/* k (k->fd already watched by the loop) joins the list. */
void conns_add(struct conns *cs, struct conn *k);
/* k leaves the list and the loop, and its fd is closed. */
void conns_remove(struct conns *cs, struct conn *k);
/* No more sweeps (the owner closes). */
void conns_stop(struct conns *cs);

#endif
