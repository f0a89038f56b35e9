/* flowgen: a bounded TCP/UDP flow generator for the demo, kernel tests and
 * benchmarks; sends staged amounts of data so a test can inspect a live flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "units.h"

#define MAX_STAGES 16
#define MAX_CONNS 1024

struct opts {
	bool server;
	bool udp;
	bool wait_stdin;
	bool echo;
	bool expect_reply;
	const char *addr;
	const char *port;
	uint16_t sport;
	uint64_t seg;
	uint64_t stages[MAX_STAGES];
	int nstages;
	uint64_t timeout_ms;
	uint64_t idle_ms;
	uint64_t conns;
};

static uint64_t deadline_ms;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int remaining_ms(void)
{
	uint64_t n = now_ms();

	return n >= deadline_ms ? 0 : (int)(deadline_ms - n);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("flowgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void usage(void)
{
	fputs("usage: flowgen server -a ADDR -p PORT [-u [-e]] [-n CONNS] [-i IDLE] [-t TIMEOUT]\n"
	      "       flowgen client -a ADDR -p PORT [-u [-R]] [-P SPORT] [-S SEGSIZE] -s BYTES [-s BYTES...] [-w] [-t TIMEOUT]\n"
	      "  -u          UDP instead of TCP\n"
	      "  -s BYTES    a stage of data to send (4M, 64k...); several -s make several stages\n"
	      "  -w          after every stage print 'stage N done' and wait for a line on stdin\n"
	      "              (the last wait precedes the close, so a test can inspect the live flow)\n"
	      "  -S SEGSIZE  write size (TCP) or datagram payload (UDP, default 1400)\n"
	      "  -n CONNS    TCP server: exit after CONNS connections ended (default 1)\n"
	      "  -i IDLE     UDP server: exit after IDLE without datagrams once one arrived (default 2s)\n"
	      "  -R          UDP client: wait for the server's echo of everything sent\n"
	      "  -e          UDP server: send every datagram back (request/response traffic)\n"
	      "  -t TIMEOUT  hard bound on the run time (default 60s); exit 2 when hit\n",
	      stderr);
	exit(1);
}

static struct addrinfo *resolve(const struct opts *o, bool passive)
{
	struct addrinfo hints = { 0 }, *ai;
	int err;

	hints.ai_socktype = o->udp ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	err = getaddrinfo(o->addr, o->port, &hints, &ai);
	if (err)
		die("%s port %s: %s", o->addr, o->port, gai_strerror(err));
	return ai;
}

static const char *fmt_sa(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN], serv[8];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
							 sizeof(struct sockaddr_in),
			host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(buf, len, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", host, serv);
	else
		snprintf(buf, len, "%s:%s", host, serv);
	return buf;
}

/* Wait until fd is ready for events or the run's deadline passes. */
static void wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, remaining_ms());
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("poll: %s", strerror(errno));
	if (r == 0) {
		fputs("flowgen: timeout\n", stderr);
		exit(2);
	}
}

static void wait_line(int stage)
{
	ssize_t n;
	char c;

	printf("stage %d done\n", stage);
	fflush(stdout);
	/* One line per pause, a byte at a time: a test may write the lines
	 * for several pauses at once.  EOF counts as "go on": a test that
	 * closes its end lets us finish. */
	do {
		wait_fd(STDIN_FILENO, POLLIN);
		n = read(STDIN_FILENO, &c, 1);
		if (n < 0 && errno != EINTR)
			die("stdin: %s", strerror(errno));
	} while (n != 0 && !(n == 1 && c == '\n'));
}

static int run_client(const struct opts *o)
{
	struct addrinfo *ai = resolve(o, false);
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	char lbuf[64], rbuf[64], *buf;
	uint64_t total = 0;
	int fd, i;

	fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (o->sport) {
		struct sockaddr_storage b = { 0 };
		int one = 1;

		b.ss_family = (sa_family_t)ai->ai_family;
		if (ai->ai_family == AF_INET6)
			((struct sockaddr_in6 *)&b)->sin6_port = htons(o->sport);
		else
			((struct sockaddr_in *)&b)->sin_port = htons(o->sport);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&b, ai->ai_family == AF_INET6 ?
				sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)))
			die("bind source port %u: %s", o->sport, strerror(errno));
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect %s: %s", fmt_sa(ai->ai_addr, rbuf, sizeof(rbuf)), strerror(errno));
	getsockname(fd, (struct sockaddr *)&local, &llen);
	printf("connected %s %s -> %s\n", o->udp ? "udp" : "tcp",
	       fmt_sa((struct sockaddr *)&local, lbuf, sizeof(lbuf)),
	       fmt_sa(ai->ai_addr, rbuf, sizeof(rbuf)));
	fflush(stdout);
	freeaddrinfo(ai);

	buf = calloc(1, o->seg);
	if (!buf)
		die("out of memory");
	for (i = 0; i < o->nstages; i++) {
		uint64_t left = o->stages[i];

		while (left) {
			size_t n = left < o->seg ? left : o->seg;
			ssize_t w;

			wait_fd(fd, POLLOUT);
			w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				/* A full UDP socket queue or TCP window: wait, retry. */
				if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
					continue;
				die("send: %s", strerror(errno));
			}
			left -= (uint64_t)w;
			total += (uint64_t)w;
		}
		if (o->wait_stdin)
			wait_line(i + 1);
	}
	if (o->udp && o->expect_reply) {
		/* Request/response: wait until the echo of everything came back. */
		uint64_t back = 0;

		while (back < total) {
			ssize_t r;

			wait_fd(fd, POLLIN);
			r = recv(fd, buf, o->seg, MSG_DONTWAIT);
			if (r > 0)
				back += (uint64_t)r;
		}
		printf("received %llu bytes back\n", (unsigned long long)back);
	}
	if (!o->udp) {
		/* Half-close and wait for the server's close, so the FIN exchange
		 * completes inside our time bound. */
		shutdown(fd, SHUT_WR);
		for (;;) {
			ssize_t r;

			wait_fd(fd, POLLIN);
			r = recv(fd, buf, o->seg, 0);
			if (r <= 0)
				break;
		}
	}
	close(fd);
	free(buf);
	printf("sent %llu bytes\n", (unsigned long long)total);
	return 0;
}

static int run_tcp_server(const struct opts *o)
{
	struct addrinfo *ai = resolve(o, true);
	struct pollfd p[MAX_CONNS + 1];
	uint64_t bytes[MAX_CONNS + 1] = { 0 };
	char peer[MAX_CONNS + 1][64];
	uint64_t done = 0;
	int lfd, one = 1, n = 1, i;
	char buf[65536];

	lfd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, ai->ai_addr, ai->ai_addrlen) || listen(lfd, 128))
		die("listen %s port %s: %s", o->addr, o->port, strerror(errno));
	freeaddrinfo(ai);
	printf("listening tcp %s port %s\n", o->addr, o->port);
	fflush(stdout);
	p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };

	while (done < o->conns) {
		int r = poll(p, (nfds_t)n, remaining_ms());

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fputs("flowgen: timeout\n", stderr);
			return 2;
		}
		if ((p[0].revents & POLLIN) && n < MAX_CONNS + 1) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			int cfd = accept(lfd, (struct sockaddr *)&ss, &sl);

			if (cfd >= 0) {
				p[n] = (struct pollfd){ .fd = cfd, .events = POLLIN };
				bytes[n] = 0;
				fmt_sa((struct sockaddr *)&ss, peer[n], sizeof(peer[n]));
				n++;
			}
		}
		for (i = 1; i < n; i++) {
			ssize_t rd;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rd = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (rd > 0) {
				bytes[i] += (uint64_t)rd;
				continue;
			}
			if (rd < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			printf("conn %s received %llu bytes\n", peer[i],
			       (unsigned long long)bytes[i]);
			fflush(stdout);
			close(p[i].fd);
			p[i] = p[n - 1];
			bytes[i] = bytes[n - 1];
			memcpy(peer[i], peer[n - 1], sizeof(peer[i]));
			n--;
			i--;
			done++;
		}
	}
	close(lfd);
	return 0;
}

static int run_udp_server(const struct opts *o)
{
	struct addrinfo *ai = resolve(o, true);
	uint64_t bytes = 0, dgrams = 0, last = 0;
	char buf[65536];
	int fd;

	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen))
		die("bind udp %s port %s: %s", o->addr, o->port, strerror(errno));
	freeaddrinfo(ai);
	printf("listening udp %s port %s\n", o->addr, o->port);
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int tmo = remaining_ms(), r;

		if (dgrams) {
			uint64_t idle_end = last + o->idle_ms, n = now_ms();

			if (n >= idle_end)
				break;
			if ((uint64_t)tmo > idle_end - n)
				tmo = (int)(idle_end - n);
		}
		r = poll(&p, 1, tmo);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll: %s", strerror(errno));
		if (r == 0) {
			if (!remaining_ms()) {
				fputs("flowgen: timeout\n", stderr);
				return 2;
			}
			continue;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t rd = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);

		if (rd >= 0 && o->echo)
			sendto(fd, buf, (size_t)rd, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
		if (rd >= 0) {
			bytes += (uint64_t)rd;
			dgrams++;
			last = now_ms();
		}
	}
	printf("received %llu datagrams %llu bytes\n", (unsigned long long)dgrams,
	       (unsigned long long)bytes);
	close(fd);
	return 0;
}

static void parse_or_die(int err, const char *opt, const char *val)
{
	if (err)
		die("option %s: invalid value '%s' (%s)", opt, val, strerror(-err));
}

int main(int argc, char **argv)
{
	struct opts o = { .seg = 1400, .timeout_ms = 60000, .idle_ms = 2000, .conns = 1 };
	uint64_t v;
	int c;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "server") == 0)
		o.server = true;
	else if (strcmp(argv[1], "client") != 0)
		usage();
	argv++;
	argc--;

	while ((c = getopt(argc, argv, "a:p:uP:S:s:wt:i:n:eRh")) != -1) {
		switch (c) {
		case 'a':
			o.addr = optarg;
			break;
		case 'p':
			o.port = optarg;
			break;
		case 'u':
			o.udp = true;
			break;
		case 'P':
			parse_or_die(units_parse_uint(optarg, 1, 65535, &v), "-P", optarg);
			o.sport = (uint16_t)v;
			break;
		case 'S':
			parse_or_die(units_parse_size(optarg, &o.seg), "-S", optarg);
			if (o.seg == 0 || o.seg > 65000)
				die("option -S: %s out of range 1..65000", optarg);
			break;
		case 's':
			if (o.nstages == MAX_STAGES)
				die("at most %d stages", MAX_STAGES);
			parse_or_die(units_parse_size(optarg, &o.stages[o.nstages]), "-s", optarg);
			o.nstages++;
			break;
		case 'w':
			o.wait_stdin = true;
			break;
		case 'e':
			o.echo = true;
			break;
		case 'R':
			o.expect_reply = true;
			break;
		case 't':
			parse_or_die(units_parse_duration_ms(optarg, &o.timeout_ms), "-t", optarg);
			break;
		case 'i':
			parse_or_die(units_parse_duration_ms(optarg, &o.idle_ms), "-i", optarg);
			break;
		case 'n':
			parse_or_die(units_parse_uint(optarg, 1, MAX_CONNS, &o.conns), "-n", optarg);
			break;
		default:
			usage();
		}
	}
	if (!o.addr || !o.port || (!o.server && o.nstages == 0))
		usage();
	signal(SIGPIPE, SIG_IGN);
	deadline_ms = now_ms() + o.timeout_ms;
	if (o.server)
		return o.udp ? run_udp_server(&o) : run_tcp_server(&o);
	return run_client(&o);
}
