/* loop: the agent's one event loop: epoll over non-blocking fds, timers on
 * timerfds and signals read from a signalfd, all dispatched as callbacks. */
#ifndef FLOWOFFLOAD_LOOP_H
#define FLOWOFFLOAD_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, struct loop_timer *t, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);

int loop_create(struct loop **out);
void loop_destroy(struct loop *l);

/* Watch fd for events (EPOLLIN...); the loop does not own fd. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_del_fd(struct loop *l, int fd);
/* Change the events watched on fd (EPOLLIN to EPOLLOUT...). */
int loop_mod_fd(struct loop *l, int fd, uint32_t events);

/* A timer firing first after first_ms, then every interval_ms (0: once).
 * first_ms 0 disarms it. */
int loop_timer_add(struct loop *l, uint64_t first_ms, uint64_t interval_ms, loop_timer_cb cb,
		   void *arg, struct loop_timer **out);
int loop_timer_set(struct loop_timer *t, uint64_t first_ms, uint64_t interval_ms);
/* Is the timer armed (a one-shot that has not fired yet, or periodic)? */
int loop_timer_armed(const struct loop_timer *t);

/* Block the signals and deliver them through a signalfd to cb. */
int loop_signals(struct loop *l, const int *sigs, int n, loop_signal_cb cb, void *arg);

/* Run until loop_stop(); returns 0 or a negative errno from epoll. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t loop_now_ms(void);

#endif
