/* ct_parse_speed: CPU per conntrack event, ct_parse (libmnl attribute walk
 * into struct ct_info) against libnetfilter_conntrack's parser, same run. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ct_events.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *load(const char *path, int *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f) {
		fprintf(stderr, "ct_parse_speed: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*len = (int)n;
	return buf;
}

/* What the agent needs from an event, through libnetfilter_conntrack: the
 * baseline a plain listener pays (an nf_conntrack per message). */
static uint64_t nfct_round(const char *buf, int len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	uint64_t sink = 0;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		struct nf_conntrack *ct = nfct_new();

		if (!ct)
			exit(1);
		if (nfct_nlmsg_parse(nlh, ct) >= 0)
			sink += nfct_get_attr_u32(ct, ATTR_ID) + nfct_get_attr_u16(ct, ATTR_PORT_DST) +
				nfct_get_attr_u32(ct, ATTR_MARK) + nfct_get_attr_u32(ct, ATTR_STATUS) +
				nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS);
		nfct_destroy(ct);
	}
	return sink;
}

static uint64_t ct_parse_round(const char *buf, int len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	uint64_t sink = 0;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		struct ct_info ct;
		enum ct_msg type;

		if (ct_parse(nlh, &ct, &type) == 0)
			sink += ct.id + ct.orig.dport + ct.mark + ct.status + ct.packets[0];
	}
	return sink;
}

static int count(const char *buf, int len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int n = 0;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
		n++;
	return n;
}

int main(int argc, char **argv)
{
	const char *src = getenv("FLOWOFFLOAD_SRCDIR");
	int rounds = argc > 1 ? atoi(argv[1]) : 200000, len, msgs, i, rep;
	double best_base = 1e9, best_ours = 1e9;
	volatile uint64_t sink = 0;
	char path[4096], *buf;

	snprintf(path, sizeof(path), "%s/tests/unit/data/events.bin", src ? src : ".");
	buf = load(path, &len);
	msgs = count(buf, len);
	/* Interleaved repetitions, best of each: the machine is noisy, and
	 * both sides see the same noise. */
	for (rep = 0; rep < 5; rep++) {
		double t0 = now_s(), t1, t2;

		for (i = 0; i < rounds / 5; i++)
			sink += nfct_round(buf, len);
		t1 = now_s();
		for (i = 0; i < rounds / 5; i++)
			sink += ct_parse_round(buf, len);
		t2 = now_s();
		if (t1 - t0 < best_base)
			best_base = t1 - t0;
		if (t2 - t1 < best_ours)
			best_ours = t2 - t1;
	}
	{
		double per = (double)(rounds / 5) * msgs;

		printf("ct_parse_speed: %d recorded events x %d rounds per repetition, best of 5\n",
		       msgs, rounds / 5);
		printf("  baseline nfct_nlmsg_parse (+nfct_new/destroy): %8.1f ns/event\n",
		       best_base / per * 1e9);
		printf("  ct_parse (libmnl walk into ct_info):           %8.1f ns/event\n",
		       best_ours / per * 1e9);
		printf("  ratio ct_parse / baseline:                      %8.3f\n",
		       best_ours / best_base);
	}
	return sink == 42 ? 1 : 0;
}
