/* flowstorm: a bounded new-flow generator for conntrack event storms: one UDP
 * datagram or one short TCP connection per flow, at a set rate; and its sink. */
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

#define MAX_PARALLEL 1024
#define SINK_MAX_CONNS 1024
#define PAYLOAD "flowstorm\n"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct opts {
	bool sink;
	bool udp;
	const char *dst;
	const char *src;
	uint16_t dport_lo, dport_hi;
	uint16_t sport_lo, sport_hi;
	uint64_t flows;
	uint64_t rate;		/* flows per second, 0: as fast as possible */
	unsigned int parallel;
	unsigned int packets;	/* UDP datagrams per flow */
	uint64_t timeout_ms;
};

static uint64_t start_ms, deadline_ms;
static volatile sig_atomic_t stop;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
	return now_us() / 1000;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("flowstorm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void usage(void)
{
	fputs("usage: flowstorm -a DST -p PORT[-PORT] [-u|-t] -n FLOWS [-r RATE] [-s SRCADDR]\n"
	      "                 [-S SPORT-SPORT] [-P PARALLEL] [-T TIMEOUT]\n"
	      "       flowstorm --sink -a ADDR -p PORT [-u|-t] [-n FLOWS] [-T TIMEOUT]\n"
	      "Creates FLOWS new conntrack entries through the router and exits.\n"
	      "  -a DST       destination (or, with --sink, listening) address, IPv4 or IPv6\n"
	      "  -p PORT      destination port, or a range LO-HI cycled through after each\n"
	      "               pass over the source ports (more distinct flows than ports)\n"
	      "  -u           UDP (default): one datagram per flow, from its own socket bound\n"
	      "               to the next source port, closed right after sending; a port is\n"
	      "               reused only after every port of the range had its turn\n"
	      "  -t           TCP: one short connection per flow (connect, send 10 bytes,\n"
	      "               close) to a listener (flowgen server -n, or flowstorm --sink -t)\n"
	      "  -n FLOWS     flows to create (k and M suffixes); with --sink: exit after\n"
	      "               FLOWS connections or datagrams (default: only at the timeout)\n"
	      "  -r RATE      new flows per second, 0 (default): as fast as it can\n"
	      "  -s SRCADDR   source address to bind (default: the route's)\n"
	      "  -S LO-HI     UDP source ports (default 1024-65535); TCP uses ephemeral ports\n"
	      "  -P PARALLEL  TCP connections in flight at once (default 32, at most 1024);\n"
	      "               UDP sockets opened per batch before they are all closed (default 1)\n"
	      "  -T TIMEOUT   hard bound on the run time (default 60s); exit 2 when hit\n"
	      "  -k PACKETS   UDP: datagrams per flow (default 1), sent from the flow's socket\n"
	      "  --sink       accept TCP connections (or receive datagrams) and discard them;\n"
	      "               prints 'listening' when ready, and its counts at the end\n"
	      "Prints the flows created, the time taken and the rate achieved:\n"
	      "  flowstorm: udp flows=20000 errors=0 seconds=3.210 rate=6230/s\n",
	      stderr);
	exit(1);
}

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

static int remaining_ms(void)
{
	uint64_t n = now_ms();

	return n >= deadline_ms ? 0 : (int)(deadline_ms - n);
}

static void parse_range(const char *s, uint16_t *lo, uint16_t *hi, const char *what)
{
	const char *dash = strchr(s, '-');
	char buf[16];
	uint64_t a, b;

	if (!dash) {
		if (units_parse_uint(s, 1, 65535, &a))
			die("%s: '%s' is not a port 1..65535", what, s);
		*lo = *hi = (uint16_t)a;
		return;
	}
	if ((size_t)(dash - s) >= sizeof(buf))
		die("%s: '%s' is not a port range", what, s);
	memcpy(buf, s, (size_t)(dash - s));
	buf[dash - s] = '\0';
	if (units_parse_uint(buf, 1, 65535, &a) || units_parse_uint(dash + 1, 1, 65535, &b) || a > b)
		die("%s: '%s' is not a port range LO-HI within 1..65535", what, s);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
}

static void resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *ai;
	int err;

	err = getaddrinfo(addr, NULL, &hints, &ai);
	if (err)
		die("address %s: %s", addr, gai_strerror(err));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Waits until flow number `made` may start: the rate is kept over the
 * whole run, so a slow stretch is made up for afterwards. */
static void pace(const struct opts *o, uint64_t made, uint64_t t0_us)
{
	uint64_t due, now;

	if (!o->rate)
		return;
	due = t0_us + made * 1000000 / o->rate;
	now = now_us();
	if (due > now) {
		struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000),
				       .tv_nsec = (long)((due - now) % 1000000) * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void report(const struct opts *o, uint64_t made, uint64_t errors, uint64_t t0_us)
{
	double s = (double)(now_us() - t0_us) / 1e6;

	printf("flowstorm: %s flows=%llu errors=%llu seconds=%.3f rate=%.0f/s\n",
	       o->udp ? "udp" : "tcp", (unsigned long long)made, (unsigned long long)errors, s,
	       s > 0 ? (double)made / s : 0.0);
	fflush(stdout);
}

/* Flow i's ports: the source port runs fastest, then the destination. */
static void flow_ports(const struct opts *o, uint64_t i, uint16_t *sport, uint16_t *dport)
{
	uint64_t ns = (uint64_t)o->sport_hi - o->sport_lo + 1;
	uint64_t nd = (uint64_t)o->dport_hi - o->dport_lo + 1;

	*sport = (uint16_t)(o->sport_lo + i % ns);
	*dport = (uint16_t)(o->dport_lo + (i / ns) % nd);
}

static int run_udp(const struct opts *o)
{
	struct sockaddr_storage dst, src;
	socklen_t dlen, slen = 0;
	uint64_t made = 0, errors = 0, t0 = now_us();
	int fds[MAX_PARALLEL];
	uint16_t dports[MAX_PARALLEL];
	unsigned int i, n;

	resolve(o->dst, &dst, &dlen);
	if (o->src)
		resolve(o->src, &src, &slen);
	else {
		memset(&src, 0, sizeof(src));
		src.ss_family = dst.ss_family;
		slen = dlen;
	}
	if (src.ss_family != dst.ss_family)
		die("source %s and destination %s are of different families", o->src, o->dst);
	if ((uint64_t)(o->sport_hi - o->sport_lo + 1) * (o->dport_hi - o->dport_lo + 1) < o->flows)
		fprintf(stderr, "flowstorm: warning: %llu flows from %u source ports to %u ports reuse tuples\n",
			(unsigned long long)o->flows, o->sport_hi - o->sport_lo + 1,
			o->dport_hi - o->dport_lo + 1);

	while (made < o->flows && !stop) {
		if (!remaining_ms()) {
			report(o, made, errors, t0);
			fputs("flowstorm: timeout\n", stderr);
			return 2;
		}
		n = o->parallel;
		if (n > o->flows - made)
			n = (unsigned int)(o->flows - made);
		for (i = 0; i < n; i++) {
			uint16_t sport, dport;
			int one = 1;

			pace(o, made + i, t0);
			flow_ports(o, made + i, &sport, &dport);
			fds[i] = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fds[i] < 0)
				die("socket: %s", strerror(errno));
			/* The previous holder of this port is closed; the
			 * option only spares a failure on a busy system. */
			setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			set_port(&src, sport);
			set_port(&dst, dport);
			dports[i] = dport;
			if (bind(fds[i], (struct sockaddr *)&src, slen) ||
			    sendto(fds[i], PAYLOAD, sizeof(PAYLOAD) - 1, MSG_DONTWAIT,
				   (struct sockaddr *)&dst, dlen) < 0) {
				errors++;
				close(fds[i]);
				fds[i] = -1;
			}
		}
		/* -k: the flows' further datagrams, a round over the batch each. */
		for (unsigned int k = 1; k < o->packets; k++)
			for (i = 0; i < n; i++)
				if (fds[i] >= 0) {
					set_port(&dst, dports[i]);
					(void)sendto(fds[i], PAYLOAD, sizeof(PAYLOAD) - 1, 0,
						     (struct sockaddr *)&dst, dlen);
				}
		for (i = 0; i < n; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		made += n;
	}
	report(o, made - errors, errors, t0);
	return 0;
}

struct conn {
	int fd;
	bool sent;
};

static int tcp_start(const struct opts *o, const struct sockaddr_storage *dst, socklen_t dlen,
		     const struct sockaddr_storage *src, socklen_t slen)
{
	int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (o->src) {
		/* Port chosen at connect time, per destination: binding port 0
		 * would reserve a port per socket and run out sooner. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)src, slen))
			die("bind %s: %s", o->src, strerror(errno));
	}
	if (connect(fd, (const struct sockaddr *)dst, dlen) && errno != EINPROGRESS) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int run_tcp(const struct opts *o)
{
	struct sockaddr_storage dst, src;
	socklen_t dlen, slen = 0;
	struct pollfd pfd[MAX_PARALLEL];
	struct conn c[MAX_PARALLEL];
	uint64_t started = 0, made = 0, errors = 0, t0 = now_us();
	unsigned int active = 0, i;

	resolve(o->dst, &dst, &dlen);
	if (o->src)
		resolve(o->src, &src, &slen);
	for (;;) {
		int r, wait;

		/* Top up the connections in flight, at the rate asked. */
		while (active < o->parallel && started < o->flows && !stop) {
			uint16_t sport, dport;
			int fd;

			if (o->rate && t0 + started * 1000000 / o->rate > now_us())
				break;
			flow_ports(o, started, &sport, &dport);
			set_port(&dst, dport);
			started++;
			fd = tcp_start(o, &dst, dlen, &src, slen);
			if (fd < 0) {
				errors++;
				continue;
			}
			c[active] = (struct conn){ .fd = fd };
			active++;
		}
		if (!active && (started == o->flows || stop))
			break;
		if (!remaining_ms()) {
			report(o, made, errors, t0);
			fputs("flowstorm: timeout\n", stderr);
			return 2;
		}
		for (i = 0; i < active; i++)
			pfd[i] = (struct pollfd){ .fd = c[i].fd, .events = POLLOUT };
		wait = remaining_ms();
		if (o->rate && started < o->flows && active < o->parallel) {
			uint64_t due = t0 + started * 1000000 / o->rate, n = now_us();
			int ms = due > n ? (int)((due - n + 999) / 1000) : 0;

			if (ms < wait)
				wait = ms;
		}
		r = poll(pfd, active, wait);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (i = active; r > 0 && i-- > 0;) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (!pfd[i].revents)
				continue;
			getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (!err && send(c[i].fd, PAYLOAD, sizeof(PAYLOAD) - 1, MSG_NOSIGNAL) > 0)
				made++;
			else
				errors++;
			/* A plain close: the FIN ends the flow as a short
			 * connection does (the client keeps TIME_WAIT). */
			close(c[i].fd);
			c[i] = c[--active];
		}
	}
	report(o, made, errors, t0);
	return 0;
}

static int run_sink(const struct opts *o)
{
	struct sockaddr_storage a;
	socklen_t alen;
	struct pollfd pfd[SINK_MAX_CONNS + 1];
	uint64_t flows = 0, bytes = 0;
	unsigned int n = 1, i;
	char buf[65536];
	int fd, one = 1;

	resolve(o->dst, &a, &alen);
	set_port(&a, o->dport_lo);
	fd = socket(a.ss_family, (o->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (o->udp) {
		int rcv = 4 << 20;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	}
	if (bind(fd, (struct sockaddr *)&a, alen))
		die("bind %s port %u: %s", o->dst, o->dport_lo, strerror(errno));
	if (!o->udp && listen(fd, 4096))
		die("listen: %s", strerror(errno));
	printf("listening %s %s port %u\n", o->udp ? "udp" : "tcp", o->dst, o->dport_lo);
	fflush(stdout);
	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (!stop && (!o->flows || flows < o->flows) && remaining_ms()) {
		int r = poll(pfd, n, remaining_ms());

		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		if (pfd[0].revents) {
			for (;;) {
				if (o->udp) {
					ssize_t got = recv(fd, buf, sizeof(buf), 0);

					if (got < 0)
						break;
					flows++;
					bytes += (uint64_t)got;
					continue;
				}
				if (n == SINK_MAX_CONNS + 1)
					break;
				r = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (r < 0)
					break;
				pfd[n++] = (struct pollfd){ .fd = r, .events = POLLIN };
			}
		}
		for (i = n; i-- > 1;) {
			ssize_t got;

			if (!pfd[i].revents)
				continue;
			got = recv(pfd[i].fd, buf, sizeof(buf), 0);
			if (got > 0) {
				bytes += (uint64_t)got;
				continue;
			}
			if (got < 0 && errno == EAGAIN)
				continue;
			close(pfd[i].fd);
			pfd[i] = pfd[--n];
			flows++;
		}
	}
	printf("sink: %s %s=%llu bytes=%llu\n", o->udp ? "udp" : "tcp",
	       o->udp ? "datagrams" : "connections", (unsigned long long)flows,
	       (unsigned long long)bytes);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_SINK = 256 };
	static const struct option longopts[] = {
		{ "sink", no_argument, NULL, OPT_SINK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .packets = 1, .udp = true, .sport_lo = 1024, .sport_hi = 65535, .timeout_ms = 60000 };
	bool parallel_set = false, proto_set = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "a:p:utn:r:s:S:P:T:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SINK:
			o.sink = true;
			break;
		case 'a':
			o.dst = optarg;
			break;
		case 'p':
			parse_range(optarg, &o.dport_lo, &o.dport_hi, "-p");
			break;
		case 'u':
		case 't':
			if (proto_set && o.udp != (c == 'u'))
				die("-u and -t exclude each other");
			o.udp = c == 'u';
			proto_set = true;
			break;
		case 'n':
			if (units_parse_size(optarg, &o.flows) || o.flows > 100000000)
				die("-n: '%s' is not a count up to 100M", optarg);
			break;
		case 'r':
			if (units_parse_size(optarg, &o.rate))
				die("-r: '%s' is not a rate", optarg);
			break;
		case 's':
			o.src = optarg;
			break;
		case 'S':
			parse_range(optarg, &o.sport_lo, &o.sport_hi, "-S");
			break;
		case 'P':
			if (units_parse_uint(optarg, 1, MAX_PARALLEL, &v))
				die("-P: '%s' is not 1..%d", optarg, MAX_PARALLEL);
			o.parallel = (unsigned int)v;
			parallel_set = true;
			break;
		case 'T':
			if (units_parse_duration_ms(optarg, &o.timeout_ms) || !o.timeout_ms)
				die("-T: '%s' is not a duration", optarg);
			break;
		case 'k':
			if (units_parse_uint(optarg, 1, 1000, &v))
				die("-k: '%s' is not 1..1000", optarg);
			o.packets = (unsigned int)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !o.dst || !o.dport_lo)
		usage();
	if (!o.sink && !o.flows)
		die("-n FLOWS is required");
	if (o.sink && o.dport_lo != o.dport_hi)
		die("--sink listens on one port");
	if (!parallel_set)
		o.parallel = o.udp ? 1 : 32;
	start_ms = now_ms();
	deadline_ms = start_ms + o.timeout_ms;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (o.sink)
		return run_sink(&o);
	return o.udp ? run_udp(&o) : run_tcp(&o);
}
