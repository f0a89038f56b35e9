/* nfct_catch: the plainest libnetfilter_conntrack event listener, the baseline
 * bench/conn_rate sets beside the agent: counts events and ENOBUFS overruns. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "units.h"

struct counts {
	unsigned long long events, created, updated, destroyed, other, enobufs, errors;
};

static volatile sig_atomic_t stop, snap;
static int verbose;

static void on_signal(int signo)
{
	if (signo == SIGUSR1)
		snap = 1;
	else
		stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What every listener pays at least: libnetfilter_conntrack has parsed the
 * message into an nf_conntrack before it calls us. */
static int on_event(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct counts *c = arg;

	c->events++;
	if (verbose) {
		char buf[1024];

		nfct_snprintf(buf, sizeof(buf), ct, type, NFCT_O_DEFAULT,
			      NFCT_OF_SHOW_LAYER3 | NFCT_OF_ID);
		puts(buf);
	}
	switch (type) {
	case NFCT_T_NEW:
		c->created++;
		break;
	case NFCT_T_UPDATE:
		c->updated++;
		break;
	case NFCT_T_DESTROY:
		c->destroyed++;
		break;
	default:
		c->other++;
		break;
	}
	/* While events keep coming nfct_catch never returns on its own. */
	return stop || snap ? NFCT_CB_STOP : NFCT_CB_CONTINUE;
}

static void usage(void)
{
	fputs("usage: nfct_catch [-b BYTES] [-T TIMEOUT] [-g GROUPS] [-v]\n"
	      "Listens to conntrack NEW, UPDATE and DESTROY events of the current network\n"
	      "namespace through libnetfilter_conntrack (nfct_catch) and counts them.\n"
	      "  -b BYTES    receive buffer (k, M suffixes); default: the kernel's\n"
	      "  -T TIMEOUT  hard bound on the run time (default 600s)\n"
	      "  -g GROUPS   groups to join, letters n(ew) u(pdate) d(estroy); default nud\n"
	      "  -v          print every event (nfct_snprintf) on stdout\n"
	      "SIGUSR1 prints the counts so far ('nfct_catch: snapshot events=N ...').\n"
	      "Prints 'listening' when subscribed; on SIGTERM, SIGINT or the timeout:\n"
	      "  nfct_catch: events=N new=N update=N destroy=N enobufs=N rcvbuf=BYTES seconds=S\n",
	      stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	struct counts c = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct timeval tick = { .tv_sec = 0, .tv_usec = 200000 };
	struct nfct_handle *h;
	uint64_t rcvbuf = 0, timeout_ms = 600000;
	socklen_t len;
	double t0, deadline;
	int opt, fd, size;
	unsigned int groups = NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
			      NF_NETLINK_CONNTRACK_DESTROY;
	const char *g;

	while ((opt = getopt(argc, argv, "b:T:g:vh")) != -1) {
		switch (opt) {
		case 'v':
			verbose = 1;
			break;
		case 'g':
			groups = 0;
			for (g = optarg; *g; g++) {
				if (*g == 'n')
					groups |= NF_NETLINK_CONNTRACK_NEW;
				else if (*g == 'u')
					groups |= NF_NETLINK_CONNTRACK_UPDATE;
				else if (*g == 'd')
					groups |= NF_NETLINK_CONNTRACK_DESTROY;
				else
					usage();
			}
			if (!groups)
				usage();
			break;
		case 'b':
			if (units_parse_size(optarg, &rcvbuf) || rcvbuf < 4096 ||
			    rcvbuf > (1ULL << 30)) {
				fprintf(stderr, "nfct_catch: -b: '%s' is not 4k..1G bytes\n",
					optarg);
				return 1;
			}
			break;
		case 'T':
			if (units_parse_duration_ms(optarg, &timeout_ms) || !timeout_ms) {
				fprintf(stderr, "nfct_catch: -T: '%s' is not a duration\n", optarg);
				return 1;
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/* No SA_RESTART: a signal ends the wait in recv at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	h = nfct_open(CONNTRACK, groups);
	if (!h) {
		fprintf(stderr, "nfct_catch: nfct_open: %s\n", strerror(errno));
		return 1;
	}
	fd = nfct_fd(h);
	if (rcvbuf) {
		size = (int)rcvbuf;
		/* FORCE goes past net.core.rmem_max (needs CAP_NET_ADMIN). */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size))) {
			fprintf(stderr, "nfct_catch: receive buffer %d: %s\n", size,
				strerror(errno));
			nfct_close(h);
			return 1;
		}
	}
	len = sizeof(size);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len))
		size = -1;
	/* A signal that lands just before recv blocks would otherwise wait for
	 * the next event: wake up every 200 ms to look at the flag. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick))) {
		fprintf(stderr, "nfct_catch: SO_RCVTIMEO: %s\n", strerror(errno));
		nfct_close(h);
		return 1;
	}
	nfct_callback_register(h, NFCT_T_ALL, on_event, &c);

	printf("listening\n");
	fflush(stdout);
	t0 = now_s();
	deadline = t0 + (double)timeout_ms / 1000.0;
	while (!stop && now_s() < deadline) {
		if (snap) {
			/* SIGUSR1: the counts so far, and go on. */
			snap = 0;
			printf("nfct_catch: snapshot events=%llu new=%llu update=%llu destroy=%llu enobufs=%llu\n",
			       c.events, c.created, c.updated, c.destroyed, c.enobufs);
			fflush(stdout);
		}
		if (nfct_catch(h) >= 0)
			continue;
		if (errno == ENOBUFS)
			c.enobufs++;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c.errors++;
			fprintf(stderr, "nfct_catch: %s\n", strerror(errno));
			break;
		}
	}
	nfct_close(h);
	fflush(stdout);
	printf("nfct_catch: events=%llu new=%llu update=%llu destroy=%llu enobufs=%llu rcvbuf=%d seconds=%.3f\n",
	       c.events, c.created, c.updated, c.destroyed, c.enobufs, size, now_s() - t0);
	return c.errors ? 1 : 0;
}
