/* loop: the agent's one event loop: epoll over non-blocking fds, timers on
 * timerfds and signals read from a signalfd, all dispatched as callbacks. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

enum handler_kind { H_FD, H_TIMER, H_SIGNAL };

struct handler {
	enum handler_kind kind;
	int fd;
	void *arg;
	union {
		loop_fd_cb fd_cb;
		loop_timer_cb timer_cb;
		loop_signal_cb signal_cb;
	};
	struct handler *next;	/* the loop's list, for cleanup */
	bool dead;		/* removed while the loop may still hold it */
};

struct loop_timer {
	struct handler h;
	struct loop *l;
	bool armed;
	bool periodic;
};

struct loop {
	int epfd;
	bool stop;
	struct handler *handlers;
	struct handler *dead;	/* freed after the current dispatch round */
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int loop_create(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = -errno;

		free(l);
		return err;
	}
	*out = l;
	return 0;
}

static void free_handler(struct handler *h)
{
	if (h->kind != H_FD)
		close(h->fd);
	if (h->kind == H_TIMER)
		free((struct loop_timer *)h);
	else
		free(h);
}

void loop_destroy(struct loop *l)
{
	struct handler *h, *n;

	if (!l)
		return;
	for (h = l->handlers; h; h = n) {
		n = h->next;
		free_handler(h);
	}
	for (h = l->dead; h; h = n) {
		n = h->next;
		free_handler(h);
	}
	close(l->epfd);
	free(l);
}

static int watch(struct loop *l, struct handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, h->fd, &ev))
		return -errno;
	h->next = l->handlers;
	l->handlers = h;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct handler *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	h->kind = H_FD;
	h->fd = fd;
	h->fd_cb = cb;
	h->arg = arg;
	err = watch(l, h, events);
	if (err)
		free(h);
	return err;
}

int loop_del_fd(struct loop *l, int fd)
{
	struct handler **pp, *h;

	for (pp = &l->handlers; (h = *pp); pp = &h->next) {
		if (h->kind != H_FD || h->fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		*pp = h->next;
		/* epoll_wait may have returned this handler in the batch being
		 * dispatched: keep the memory until the round ends. */
		h->dead = true;
		h->next = l->dead;
		l->dead = h;
		return 0;
	}
	return -ENOENT;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct handler *h;

	for (h = l->handlers; h; h = h->next) {
		struct epoll_event ev = { .events = events, .data.ptr = h };

		if (h->kind != H_FD || h->fd != fd)
			continue;
		return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
	}
	return -ENOENT;
}

int loop_timer_set(struct loop_timer *t, uint64_t first_ms, uint64_t interval_ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(first_ms / 1000),
			      .tv_nsec = (long)(first_ms % 1000) * 1000000 },
		.it_interval = { .tv_sec = (time_t)(interval_ms / 1000),
				 .tv_nsec = (long)(interval_ms % 1000) * 1000000 },
	};

	if (timerfd_settime(t->h.fd, 0, &its, NULL))
		return -errno;
	t->armed = first_ms != 0;
	t->periodic = interval_ms != 0;
	return 0;
}

int loop_timer_armed(const struct loop_timer *t)
{
	return t->armed;
}

int loop_timer_add(struct loop *l, uint64_t first_ms, uint64_t interval_ms, loop_timer_cb cb,
		   void *arg, struct loop_timer **out)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->h.kind = H_TIMER;
	t->h.timer_cb = cb;
	t->h.arg = arg;
	t->l = l;
	t->h.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->h.fd < 0) {
		err = -errno;
		free(t);
		return err;
	}
	err = loop_timer_set(t, first_ms, interval_ms);
	if (!err)
		err = watch(l, &t->h, EPOLLIN);
	if (err) {
		close(t->h.fd);
		free(t);
		return err;
	}
	if (out)
		*out = t;
	return 0;
}

int loop_signals(struct loop *l, const int *sigs, int n, loop_signal_cb cb, void *arg)
{
	struct handler *h;
	sigset_t set;
	int i, err;

	sigemptyset(&set);
	for (i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->kind = H_SIGNAL;
	h->signal_cb = cb;
	h->arg = arg;
	h->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (h->fd < 0) {
		err = -errno;
		free(h);
		return err;
	}
	err = watch(l, h, EPOLLIN);
	if (err) {
		close(h->fd);
		free(h);
	}
	return err;
}

static void dispatch(struct loop *l, struct handler *h, uint32_t events)
{
	if (h->dead)
		return;
	switch (h->kind) {
	case H_FD:
		h->fd_cb(l, h->fd, events, h->arg);
		break;
	case H_TIMER: {
		struct loop_timer *t = (struct loop_timer *)h;
		uint64_t expirations;

		if (read(h->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
			break;
		if (!t->periodic)
			t->armed = false;
		h->timer_cb(l, t, h->arg);
		break;
	}
	case H_SIGNAL: {
		struct signalfd_siginfo si;

		while (read(h->fd, &si, sizeof(si)) == sizeof(si))
			h->signal_cb(l, (int)si.ssi_signo, h->arg);
		break;
	}
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	l->stop = false;
	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, 32, -1), i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n && !l->stop; i++)
			dispatch(l, evs[i].data.ptr, evs[i].events);
		while (l->dead) {
			struct handler *h = l->dead;

			l->dead = h->next;
			free(h);
		}
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
