/* fuzz_ct_parse: libFuzzer target for ct_parse(): every input is one netlink
 * message and also a datagram of several, walked the way ct_events_read() does. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "ct_events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_ct_parse: %s\n", what);
	abort();
}

/* ct_parse() either refuses the message, or fills ct with what a conntrack
 * entry can hold. */
static void parse_one(const struct nlmsghdr *nlh)
{
	enum ct_msg type = (enum ct_msg)(CT_MSG_DUMP + 1); /* not a type: must be set */
	struct ct_info ct;
	int ret;

	ret = ct_parse(nlh, &ct, &type);
	if (ret) {
		check(ret == -EINVAL, "ct_parse returned something other than 0 or -EINVAL");
		return;
	}
	check(type == CT_MSG_NEW || type == CT_MSG_UPDATE || type == CT_MSG_DESTROY ||
		      type == CT_MSG_DUMP,
	      "type out of range");
	check(ct.family == AF_INET || ct.family == AF_INET6, "family neither IPv4 nor IPv6");
	if (ct.family == AF_INET) {
		static const uint8_t zero[12];

		/* IPv4 addresses fill 4 bytes, the rest stays zero. */
		check(!memcmp(ct.orig.src + 4, zero, 12) && !memcmp(ct.orig.dst + 4, zero, 12) &&
			      !memcmp(ct.reply.src + 4, zero, 12) &&
			      !memcmp(ct.reply.dst + 4, zero, 12),
		      "IPv4 tuple with bytes past the address");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nlmsghdr *nlh;
	struct nlmsghdr *one;
	void *buf; /* malloc'd: aligned as the reader's buffer */
	int len;

	if (size > 1 << 20)
		return 0;
	/* A heap copy of exactly the input's size: ASan flags a read past
	 * the datagram, as it would be past the reader's buffer. */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);

	/* 1. The input as one message, its length field made to match, the
	 *    way mnl_nlmsg_ok() would have vouched for it. */
	if (size >= sizeof(struct nlmsghdr)) {
		one = buf;
		one->nlmsg_len = (uint32_t)size;
		parse_one(one);
		memcpy(buf, data, size);
	}

	/* 2. The input as a datagram of several messages, with the lengths
	 *    it carries: the loop of ct_events_read() and dump_msgs(), with
	 *    their nlmsg_ok() (mnl_nlmsg_ok() alone lets a length of 2 GiB
	 *    or more through). */
	len = (int)size;
	for (nlh = buf; mnl_nlmsg_ok(nlh, len) && nlh->nlmsg_len <= (uint32_t)len;
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		parse_one(nlh);
	}
	free(buf);
	return 0;
}
