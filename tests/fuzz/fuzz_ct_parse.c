/* fuzz_ct_parse: libFuzzer target for ct_parse() and the netlink layer: every
 * input is one message and also a datagram walked the way nl_read() walks it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "ct_events.h"
#include "nl.h"

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
	struct nl_ack ack;
	void *buf; /* malloc'd: aligned as the reader's buffer */
	size_t len;

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
	 *    it carries, walked by the netlink layer (whose 64-bit bounds
	 *    stop a length of 2 GiB or more); error messages go through the
	 *    extended-ACK decoder, whose pointer must stay inside. */
	len = size;
	nl_msg_for_each (nlh, buf, len) {
		if (nlh->nlmsg_type == NLMSG_ERROR && !nl_ack_parse(nlh, &ack) && ack.msg)
			check(ack.msg > (const char *)nlh &&
				      ack.msg + strlen(ack.msg) < (const char *)nlh + nlh->nlmsg_len,
			      "extended-ACK message outside its ACK");
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		parse_one(nlh);
	}
	free(buf);
	return 0;
}
