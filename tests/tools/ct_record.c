/* ct_record: records raw ctnetlink messages (conntrack events, or the replies
 * of a dump) into a file, byte for byte, for the parser's unit tests. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

/*
 * The output is the conntrack messages exactly as the kernel sent them,
 * one after another (each nlmsg_len long, padded to 4 bytes as in a receive
 * buffer); NLMSG_DONE and errors are not written.  Deliberately independent
 * of src/ct_events.c: the recording must not depend on the code it tests.
 */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fputs("usage: ct_record events -o FILE [-n COUNT] [-t SECONDS] [-g new,update,destroy]\n"
	      "       ct_record dump -o FILE [-f unspec|inet|inet6] [-m MARK/MASK]\n"
	      "  events: write every conntrack event until COUNT messages, SECONDS, or SIGINT/SIGTERM\n"
	      "  dump:   write the entries of one IPCTNL_MSG_CT_GET dump\n"
	      "  prints one line per message written: its type, flags and length\n",
	      stderr);
	exit(1);
}

static void die(const char *what)
{
	fprintf(stderr, "ct_record: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *type_name(const struct nlmsghdr *nlh)
{
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case IPCTNL_MSG_CT_NEW:
		return "CT_NEW";
	case IPCTNL_MSG_CT_DELETE:
		return "CT_DELETE";
	}
	return "other";
}

/* Write the conntrack messages of one datagram and return how many; *done
 * when the dump ended (NLMSG_DONE).  A kernel error ends the program. */
static int save(FILE *out, const char *buf, int len, bool *done)
{
	static const char pad[4];
	const struct nlmsghdr *nlh;
	int n = 0;

	for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_DONE) {
			*done = true;
			break;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			fprintf(stderr, "ct_record: kernel error %d (%s)\n", e->error,
				strerror(-e->error));
			exit(1);
		}
		if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
			continue;
		if (fwrite(nlh, 1, nlh->nlmsg_len, out) != nlh->nlmsg_len ||
		    fwrite(pad, 1, MNL_ALIGN(nlh->nlmsg_len) - nlh->nlmsg_len, out) !=
			    MNL_ALIGN(nlh->nlmsg_len) - nlh->nlmsg_len)
			die("write");
		printf("%s flags=0x%x len=%u\n", type_name(nlh), nlh->nlmsg_flags, nlh->nlmsg_len);
		n++;
	}
	fflush(stdout);
	return n;
}

static unsigned int parse_groups(const char *s)
{
	unsigned int g = 0;

	if (strstr(s, "new"))
		g |= 1u << (NFNLGRP_CONNTRACK_NEW - 1);
	if (strstr(s, "update"))
		g |= 1u << (NFNLGRP_CONNTRACK_UPDATE - 1);
	if (strstr(s, "destroy"))
		g |= 1u << (NFNLGRP_CONNTRACK_DESTROY - 1);
	if (!g)
		usage();
	return g;
}

int main(int argc, char **argv)
{
	static char buf[65536];
	const char *file = NULL;
	unsigned int groups = 0, count = 0, seconds = 0, written = 0;
	uint32_t mark = 0, mask = 0;
	uint8_t family = AF_UNSPEC;
	struct mnl_socket *nl;
	bool dump, done = false;
	uint64_t deadline = 0;
	FILE *out;
	int c;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "events"))
		dump = false;
	else if (!strcmp(argv[1], "dump"))
		dump = true;
	else
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "o:n:t:g:f:m:")) != -1) {
		switch (c) {
		case 'o':
			file = optarg;
			break;
		case 'n':
			count = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'g':
			groups = parse_groups(optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "inet"))
				family = AF_INET;
			else if (!strcmp(optarg, "inet6"))
				family = AF_INET6;
			else if (strcmp(optarg, "unspec"))
				usage();
			break;
		case 'm': {
			char *end;

			mark = (uint32_t)strtoul(optarg, &end, 0);
			if (*end != '/')
				usage();
			mask = (uint32_t)strtoul(end + 1, &end, 0);
			if (*end)
				usage();
			break;
		}
		default:
			usage();
		}
	}
	if (!file || optind != argc)
		usage();
	if (!groups)
		groups = parse_groups("new,update,destroy");

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl)
		die("socket");
	if (mnl_socket_bind(nl, dump ? 0 : groups, MNL_SOCKET_AUTOPID) < 0)
		die("bind");
	out = fopen(file, "wb");
	if (!out)
		die(file);

	if (dump) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct nfgenmsg *nfg;

		nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		nlh->nlmsg_seq = (uint32_t)time(NULL);
		nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
		nfg->nfgen_family = family;
		nfg->version = NFNETLINK_V0;
		if (mask) {
			mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark & mask));
			mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
		}
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			die("send");
	} else {
		int big = 4 << 20;

		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (seconds)
			deadline = now_ms() + (uint64_t)seconds * 1000;
	}

	while (!stop && !done) {
		struct pollfd pfd = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
		int wait = -1;
		ssize_t n;

		if (deadline) {
			uint64_t t = now_ms();

			if (t >= deadline)
				break;
			wait = (int)(deadline - t);
		}
		if (poll(&pfd, 1, wait) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (!(pfd.revents & POLLIN))
			continue;
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		written += (unsigned int)save(out, buf, (int)n, &done);
		if (count && written >= count)
			break;
	}
	if (fclose(out))
		die("close");
	mnl_socket_close(nl);
	fprintf(stderr, "ct_record: %u messages written to %s\n", written, file);
	return 0;
}
