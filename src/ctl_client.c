/* ctl_client: flowoffloadctl's side of the control socket: send one
 * request, copy the reply out, return the daemon's status. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_client.h"

/* The client may wait on a daemon busy with a resync or a reload (a
 * hardware probe takes up to 10 s): a generous bound per wait. */
#define CTL_CLIENT_TIMEOUT_MS 30000

static int io_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, CTL_CLIENT_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	return r < 0 ? -errno : 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w;
		int err = io_wait(fd, POLLOUT);

		if (err)
			return err;
		w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Copy the reply to out; the first byte is the status. */
static int read_reply(int fd, FILE *out, char *status)
{
	char buf[65536];
	bool first = true;
	int err;

	for (;;) {
		ssize_t r;

		err = io_wait(fd, POLLIN);
		if (err)
			return err;
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return first ? -EPROTO : 0;
		if (first) {
			*status = buf[0];
			fwrite(buf + 1, 1, (size_t)r - 1, out);
			first = false;
		} else {
			fwrite(buf, 1, (size_t)r, out);
		}
	}
}

int ctl_client_request(const char *path, int argc, char **argv, FILE *out)
{
	char req[CTL_MAX_REQUEST], status = 0;
	struct sockaddr_un sun;
	size_t len = 0;
	int fd, i, err;

	err = ctl_sockaddr(&sun, path);
	if (err)
		return err;
	if (argc > CTL_MAX_ARGS)
		return -E2BIG;
	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (n == 1 || len + n + 1 > CTL_MAX_REQUEST)
			return -EINVAL;
		memcpy(req + len, argv[i], n);
		len += n;
	}
	req[len++] = '\0';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = -errno;
		close(fd);
		return err;
	}
	err = write_all(fd, req, len);
	if (!err)
		err = read_reply(fd, out, &status);
	close(fd);
	if (err)
		return err;
	return status == ctl_status_byte(0) ? 0 : 1;
}
