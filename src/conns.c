/* conns: the connections a listening socket in the loop accepted (control
 * socket, scrape endpoint): the list, its counters and its sweep timer. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conns.h"
#include "loop.h"

/* The deadlines only need looking at while someone is connected. */
static void sweep_arm(struct conns *cs)
{
	bool any = cs->head != NULL;

	if (any != (bool)loop_timer_armed(cs->sweep))
		loop_timer_set(cs->sweep, any ? cs->sweep_ms : 0, any ? cs->sweep_ms : 0);
}

int conns_init(struct conns *cs, struct loop *l, uint64_t sweep_ms, loop_timer_cb on_sweep,
	       void *arg, uint64_t *open, uint64_t *open_max)
{
	cs->l = l;
	cs->head = NULL;
	cs->sweep_ms = sweep_ms;
	cs->open = open;
	cs->open_max = open_max;
	return loop_timer_add(l, 0, 0, on_sweep, arg, &cs->sweep);
}

int conns_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd >= 0)
		return fd;
	if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
		return -EAGAIN;
	return -errno;
}

void conns_add(struct conns *cs, struct conn *k)
{
	k->link = cs->head;
	cs->head = k;
	if (++*cs->open > *cs->open_max)
		*cs->open_max = *cs->open;
	sweep_arm(cs);
}

void conns_remove(struct conns *cs, struct conn *k)
{
	struct conn **pp;

	for (pp = &cs->head; *pp; pp = &(*pp)->link) {
		if (*pp == k) {
			*pp = k->link;
			break;
		}
	}
	loop_del_fd(cs->l, k->fd);
	close(k->fd);
	(*cs->open)--;
	sweep_arm(cs);
}

void conns_stop(struct conns *cs)
{
	loop_timer_set(cs->sweep, 0, 0);
}
