/* fuzz_nl_readers: libFuzzer target for the agent's other netlink readers:
 * nftables monitor events, link dumps, ACKs (mark writes, batches) and the
 * attribute an extended ACK blames in a message we sent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "links.h"
#include "nft_batch.h"
#include "nft_monitor.h"
#include "nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_nl_readers: %s\n", what);
	abort();
}

static int inside(const char *p, size_t n, const void *start, size_t len)
{
	return p >= (const char *)start && p + n <= (const char *)start + len;
}

/* One message from the kernel, as each reader sees it. */
static void read_one(const struct nlmsghdr *nlh, const void *buf, size_t size)
{
	enum nft_monitor_object what;
	const char *table, *blamed;
	struct link_info l;
	struct nl_ack ack;

	if (nft_monitor_parse(nlh, &what, &table) && table)
		check(what != NFT_MON_UNKNOWN && inside(table, strlen(table) + 1, buf, size),
		      "monitor: a table name outside the message");
	if (links_parse(nlh, &l))
		check(l.name[0] && strlen(l.name) < sizeof(l.name), "links: a bad name");
	if (nlh->nlmsg_type == NLMSG_ERROR && !nl_ack_parse(nlh, &ack)) {
		check(ack.error <= 0, "ack: a positive error");
		if (ack.msg)
			check(inside(ack.msg, strlen(ack.msg) + 1, nlh, nlh->nlmsg_len),
			      "ack: its message outside the ACK");
		/* The same message standing in for the request it blames. */
		if (ack.has_offset) {
			blamed = nft_batch_blamed_string(nlh, ack.offset);
			if (blamed)
				check(inside(blamed, strlen(blamed) + 1, nlh, nlh->nlmsg_len),
				      "batch: the blamed string outside the request");
		}
	}
	if (nlh->nlmsg_type == NLMSG_DONE)
		check(nl_done_error(nlh) <= 0, "done: a positive error");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nlmsghdr *nlh;
	const char *blamed;
	uint32_t offs;
	void *buf; /* malloc'd: aligned as the reader's buffer */
	size_t len;

	if (size > 1 << 20)
		return 0;
	/* Exactly the input's size: ASan flags a read past the datagram. */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);

	/* The input as a datagram, walked the way nl_read() walks it. */
	len = size;
	nl_msg_for_each (nlh, buf, len)
		read_one(nlh, buf, size);

	/* The input as a request we sent, blamed at an offset taken from its
	 * last four bytes (any value: the kernel's word is not trusted). */
	if (size >= sizeof(struct nlmsghdr) + 4) {
		struct nlmsghdr *sent = buf;

		memcpy(&offs, (const char *)data + size - 4, 4);
		sent->nlmsg_len = (uint32_t)(size - 4);
		blamed = nft_batch_blamed_string(sent, offs);
		if (blamed)
			check(inside(blamed, strlen(blamed) + 1, sent, size - 4),
			      "batch: the blamed string outside the request");
	}
	free(buf);
	return 0;
}
