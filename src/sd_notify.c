/* sd_notify: tells the service manager (systemd) when the agent is ready,
 * reloading or stopping, its status line and watchdog pings, in datagrams. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sd_notify.h"

struct sd_notify {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
};

/* The address of $NOTIFY_SOCKET: "/path" or "@abstract" (a leading NUL
 * in sun_path, the length counting only the name).  vsock: addresses of
 * VMs' managers are not for a router daemon. */
static int notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int sd_notify_open(struct sd_notify **out)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sd_notify *n;
	int ret;

	*out = NULL;
	if (!name || !*name)
		return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	ret = notify_addr(name, &n->addr, &n->addrlen);
	if (ret)
		goto err_free;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	*out = n;
	return 0;

err_free:
	free(n);
	return ret;
}

void sd_notify_close(struct sd_notify *n)
{
	if (!n)
		return;
	close(n->fd);
	free(n);
}

int sd_notify_send(struct sd_notify *n, const char *msg)
{
	size_t len = strlen(msg);
	ssize_t sent;

	if (!n)
		return 0;
	sent = sendto(n->fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
		      n->addrlen);
	if (sent < 0)
		return -errno;
	return (size_t)sent == len ? 0 : -EMSGSIZE;
}

/* KEY=1, and STATUS= when status is given; a status line ends at the
 * first newline (it would start another assignment). */
static int send_with_status(struct sd_notify *n, const char *head, const char *status)
{
	char msg[512];

	if (!n)
		return 0;
	if (status)
		snprintf(msg, sizeof(msg), "%s%sSTATUS=%.*s", head, *head ? "\n" : "",
			 (int)strcspn(status, "\n"), status);
	else
		snprintf(msg, sizeof(msg), "%s", head);
	return sd_notify_send(n, msg);
}

int sd_notify_ready(struct sd_notify *n, const char *status)
{
	return send_with_status(n, "READY=1", status);
}

int sd_notify_status(struct sd_notify *n, const char *status)
{
	return send_with_status(n, "", status);
}

int sd_notify_stopping(struct sd_notify *n)
{
	return sd_notify_send(n, "STOPPING=1");
}

int sd_notify_watchdog(struct sd_notify *n)
{
	return sd_notify_send(n, "WATCHDOG=1");
}

/* systemd (notify-reload) matches the reload to the time it sent SIGHUP:
 * CLOCK_MONOTONIC, in microseconds. */
int sd_notify_reloading(struct sd_notify *n)
{
	struct timespec ts;
	char msg[64];

	if (!n)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	return sd_notify_send(n, msg);
}

uint64_t sd_notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	if (!usec || !*usec)
		return 0;
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end || !v)
		return 0;
	return v;
}
