/* sd_notify: the service manager's notification protocol (READY, RELOADING,
 * STATUS, WATCHDOG) written straight to $NOTIFY_SOCKET, without libsystemd. */
#ifndef FLOWOFFLOAD_SD_NOTIFY_H
#define FLOWOFFLOAD_SD_NOTIFY_H

#include <stdint.h>

struct sd_notify;

/* Read $NOTIFY_SOCKET (a path, or an abstract name starting with '@') and
 * open a datagram socket to it.  Unset: 0 with *out NULL, and every call
 * below does nothing.  -EINVAL for a name that is no AF_UNIX address. */
int sd_notify_open(struct sd_notify **out);
void sd_notify_close(struct sd_notify *n);

/* One datagram of "KEY=value" lines, as is.  0 or -errno (-EAGAIN when the
 * manager's queue is full: the socket never blocks the loop). */
int sd_notify_send(struct sd_notify *n, const char *msg);

/* READY=1 with STATUS=status (or none when NULL). */
int sd_notify_ready(struct sd_notify *n, const char *status);
/* RELOADING=1 and MONOTONIC_USEC= (what Type=notify-reload wants), then
 * the caller reloads and sends READY=1. */
int sd_notify_reloading(struct sd_notify *n);
int sd_notify_status(struct sd_notify *n, const char *status);
int sd_notify_stopping(struct sd_notify *n);
int sd_notify_watchdog(struct sd_notify *n);

/* The watchdog interval the manager asked for, in microseconds: 0 when
 * $WATCHDOG_USEC is unset or invalid, or $WATCHDOG_PID names another
 * process. */
uint64_t sd_notify_watchdog_usec(void);

#endif
