/* ctl: the daemon's control socket (/run/flowoffload.sock): one command line
 * in, one reply out, then close; flowoffloadctl is the client. */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "loop.h"

#define CTL_MAX_REQUEST 1024
#define CTL_MAX_ARGS 16
#define CTL_IO_TIMEOUT_MS 2000

/* Wire format: the request is the arguments separated by NUL bytes, ended by
 * an empty argument (two NULs); the reply is one status byte ('0' ok, '1'
 * error) followed by the text, ended by the daemon closing the socket. */

struct ctl {
	struct loop *l;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_handler handler;
	void *arg;
};

static int fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* Bounded blocking I/O on a client socket: the loop waits at most
 * CTL_IO_TIMEOUT_MS for a slow or stuck client. */
static int io_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, CTL_IO_TIMEOUT_MS);
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

static void serve(struct ctl *c, int fd)
{
	char req[CTL_MAX_REQUEST + 2], *argv[CTL_MAX_ARGS + 1], *reply = NULL;
	size_t len = 0, rlen = 0;
	int argc = 0, err, status;
	FILE *out;
	char *p;

	/* Read until the terminating empty argument. */
	while (len < 2 || req[len - 1] != '\0' || req[len - 2] != '\0') {
		ssize_t r;

		if (len == CTL_MAX_REQUEST || io_wait(fd, POLLIN))
			return;
		r = recv(fd, req + len, CTL_MAX_REQUEST - len, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return;
		len += (size_t)r;
	}
	for (p = req; *p && argc < CTL_MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	out = open_memstream(&reply, &rlen);
	if (!out)
		return;
	if (argc == 0) {
		fputs("empty request\n", out);
		err = -EINVAL;
	} else {
		err = c->handler(argc, argv, out, c->arg);
	}
	fclose(out);
	status = err ? '1' : '0';
	if (write_all(fd, (const char *)&status, 1) == 0)
		write_all(fd, reply, rlen);
	free(reply);
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ctl *c = arg;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0)
			return;
		serve(c, cfd);
		close(cfd);
	}
}

/* Someone answering on the path means another daemon owns it. */
static bool path_alive(const char *path)
{
	struct sockaddr_un sun;
	bool alive;
	int fd;

	if (fill_addr(&sun, path))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return alive;
}

int ctl_open(struct ctl **out, struct loop *l, const char *path, const char *group,
	     ctl_handler handler, void *arg)
{
	struct sockaddr_un sun;
	struct ctl *c;
	mode_t old;
	int err;

	err = fill_addr(&sun, path);
	if (err)
		return err;
	if (path_alive(path))
		return -EADDRINUSE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->l = l;
	c->handler = handler;
	c->arg = arg;
	strcpy(c->path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		err = -errno;
		goto err_free;
	}
	unlink(path);
	old = umask(0117);
	err = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (err)
		goto err_close;
	if (group && group[0]) {
		struct group *g = getgrnam(group);

		if (!g) {
			err = -ENOENT;
			log_err("control socket %s: group '%s' does not exist; fix socket-group",
				path, group);
			goto err_unlink;
		}
		if (chown(path, (uid_t)-1, g->gr_gid)) {
			err = -errno;
			goto err_unlink;
		}
	}
	if (chmod(path, 0660) || listen(c->fd, 16)) {
		err = -errno;
		goto err_unlink;
	}
	err = loop_add_fd(l, c->fd, EPOLLIN, on_accept, c);
	if (err)
		goto err_unlink;
	*out = c;
	return 0;

err_unlink:
	unlink(path);
err_close:
	close(c->fd);
err_free:
	free(c);
	return err;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	loop_del_fd(c->l, c->fd);
	close(c->fd);
	unlink(c->path);
	free(c);
}

int ctl_request(const char *path, int argc, char **argv, FILE *out)
{
	char req[CTL_MAX_REQUEST + 2], buf[65536], status = 0;
	struct sockaddr_un sun;
	size_t len = 0;
	bool first = true;
	int fd, i, err;

	err = fill_addr(&sun, path);
	if (err)
		return err;
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
	while (!err) {
		ssize_t r;

		err = io_wait(fd, POLLIN);
		if (err)
			break;
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		if (first) {
			status = buf[0];
			fwrite(buf + 1, 1, (size_t)r - 1, out);
			first = false;
		} else {
			fwrite(buf, 1, (size_t)r, out);
		}
	}
	close(fd);
	if (err)
		return err;
	if (first)
		return -EPROTO;
	return status == '0' ? 0 : 1;
}
