/* ctlslow: hostile control-socket clients for the kernel tests: a slow-loris
 * writer (one request byte per second) and a reader taking one byte a second. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(sun.sun_path)) {
		perror("ctlslow: socket");
		exit(1);
	}
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "ctlslow: connect %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Has the daemon closed this connection?  (A readable socket giving 0
 * bytes, or an error.) */
static int closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Send "status\0\0" one byte a second for secs seconds, reconnecting each
 * time the daemon closes the connection; report how often it did. */
static int loris(const char *path, double secs)
{
	static const char req[] = "status\0";
	double end = now_s() + secs;
	int fd = connect_to(path), cut = 0, conns = 1;
	size_t i = 0;

	while (now_s() < end) {
		if (closed_by_peer(fd) ||
		    send(fd, &req[i % (sizeof(req) - 1)], 1, MSG_NOSIGNAL) != 1) {
			close(fd);
			cut++;
			fd = connect_to(path);
			conns++;
			i = 0;
			continue;
		}
		i++;
		sleep(1);
	}
	close(fd);
	printf("loris: %d connections, %d closed by the daemon, %zu bytes on the last\n", conns,
	       cut, i);
	return 0;
}

/* Ask for argv[0..] and take the reply one byte a second for secs seconds. */
static int reader(const char *path, double secs, int argc, char **argv)
{
	char req[1024], c, first[64];
	double end = now_s() + secs;
	size_t len = 0, got = 0;
	int fd, i;

	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (len + n + 1 > sizeof(req))
			return 2;
		memcpy(req + len, argv[i], n);
		len += n;
	}
	req[len++] = '\0';
	fd = connect_to(path);
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		perror("ctlslow: send");
		return 1;
	}
	while (now_s() < end) {
		ssize_t r = recv(fd, &c, 1, 0);

		if (r <= 0)
			break;
		if (got < sizeof(first) - 1)
			first[got] = c;
		got++;
		if (got == 2) {
			/* The status byte and the first byte of the answer. */
			printf("reader: started: status '%c', then '%c'\n", first[0], first[1]);
			fflush(stdout);
		}
		sleep(1);
	}
	close(fd);
	printf("reader: took %zu bytes in %.0f s\n", got, secs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "loris"))
		return loris(argv[2], atof(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "reader"))
		return reader(argv[2], atof(argv[3]), argc - 4, argv + 4);
	fputs("usage: ctlslow loris SOCKET SECONDS\n"
	      "       ctlslow reader SOCKET SECONDS COMMAND [ARGS...]\n",
	      stderr);
	return 2;
}
