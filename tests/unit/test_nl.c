/* Unit tests for the netlink layer: the message walk on cut, oversized and
 * padded messages, the extended-ACK decoder, and the receive loop's guards. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_batch.h"
#include "nl.h"

/* Aligned storage for hand-built messages. */
static uint64_t storage[1024];
#define BUF ((char *)storage)

static struct nlmsghdr *put_msg(char *at, uint16_t type, uint32_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)at;

	memset(nlh, 0, sizeof(*nlh));
	nlh->nlmsg_len = len;
	nlh->nlmsg_type = type;
	return nlh;
}

static size_t walk_count(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh;
	size_t n = 0, rem = len;

	nl_msg_for_each (nlh, buf, rem)
		n++;
	return n;
}

/* ---- the walk ---------------------------------------------------------- */

static void test_walk_whole(void **state)
{
	put_msg(BUF, 100, 20);			/* 20 -> padded to 20 */
	put_msg(BUF + 20, 101, 17);		/* 17 -> padded to 20 */
	put_msg(BUF + 40, 102, 16);
	assert_int_equal(walk_count(BUF, 56), 3);
	/* The last message without its padding still counts: the kernel
	 * pads, but the walk must not step past the datagram. */
	put_msg(BUF + 40, 102, 17);
	assert_int_equal(walk_count(BUF, 57), 3);
}

static void test_walk_truncated(void **state)
{
	put_msg(BUF, 100, 16);
	put_msg(BUF + 16, 101, 64);		/* claims more than is there */
	assert_int_equal(walk_count(BUF, 48), 1);
	/* Fewer bytes left than a header. */
	assert_int_equal(walk_count(BUF, 16 + 8), 1);
	/* A length below the header's size would loop forever. */
	put_msg(BUF, 100, 4);
	assert_int_equal(walk_count(BUF, 64), 0);
	assert_int_equal(walk_count(BUF, 0), 0);
}

static void test_walk_oversized(void **state)
{
	/* 2 GiB and more: negative as an int, which libmnl 1.0.4's
	 * mnl_nlmsg_ok() let through. */
	put_msg(BUF, 100, 0x80000000u);
	assert_int_equal(walk_count(BUF, 64), 0);
	put_msg(BUF, 100, 0xffffffffu);
	assert_int_equal(walk_count(BUF, 64), 0);
	put_msg(BUF, 100, 0xfffffffdu);
	assert_int_equal(walk_count(BUF, sizeof(storage)), 0);
}

static void test_walk_next_never_underflows(void **state)
{
	const struct nlmsghdr *nlh = put_msg(BUF, 100, 17);
	size_t rem = 17;

	nlh = nl_msg_next(nlh, &rem);
	assert_int_equal(rem, 0);
	assert_ptr_equal(nlh, BUF + 17);
	assert_false(nl_msg_ok(nlh, rem));
}

/* ---- extended ACKs ----------------------------------------------------- */

/* An NLMSG_ERROR for a request of req_len bytes; capped or carrying the
 * request, with the kernel's message and offset when given. */
static struct nlmsghdr *build_ack(int error, bool capped, uint32_t req_len, const char *text,
				  bool with_offs, uint32_t offs)
{
	struct nlmsghdr *nlh, *req;
	struct nlmsgerr *e;

	memset(storage, 0, sizeof(storage));
	nlh = mnl_nlmsg_put_header(BUF);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = 42;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = req_len;
	e->msg.nlmsg_seq = 42;
	if (capped) {
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		/* The request's body follows the embedded header. */
		req = mnl_nlmsg_put_extra_header(nlh, MNL_ALIGN(req_len) - NLMSG_HDRLEN);
		memset(req, 0xab, MNL_ALIGN(req_len) - NLMSG_HDRLEN);
	}
	if (text || with_offs)
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
	if (text)
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	if (with_offs)
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, offs);
	return nlh;
}

static void test_ack_capped(void **state)
{
	struct nl_ack ack;

	assert_int_equal(nl_ack_parse(build_ack(-ENOENT, true, 40, "No such device", true, 36),
				      &ack),
			 0);
	assert_int_equal(ack.error, -ENOENT);
	assert_int_equal(ack.seq, 42);
	assert_string_equal(ack.msg, "No such device");
	assert_true(ack.has_offset);
	assert_int_equal(ack.offset, 36);
}

static void test_ack_uncapped(void **state)
{
	struct nl_ack ack;

	assert_int_equal(nl_ack_parse(build_ack(-EINVAL, false, 52, "bad mark", false, 0), &ack),
			 0);
	assert_int_equal(ack.error, -EINVAL);
	assert_string_equal(ack.msg, "bad mark");
	assert_false(ack.has_offset);
}

static void test_ack_plain(void **state)
{
	struct nl_ack ack;

	assert_int_equal(nl_ack_parse(build_ack(0, true, 40, NULL, false, 0), &ack), 0);
	assert_int_equal(ack.error, 0);
	assert_null(ack.msg);
	/* A positive "errno" is no answer the kernel gives. */
	assert_int_equal(nl_ack_parse(build_ack(5, true, 40, NULL, false, 0), &ack), 0);
	assert_int_equal(ack.error, -EPROTO);
}

static void test_ack_lying_request_length(void **state)
{
	struct nlmsghdr *nlh;
	struct nlmsgerr *e;
	struct nl_ack ack;

	/* Uncapped, and the embedded request claims 4 GiB: the offset sum
	 * would wrap on 32-bit targets and land inside the message. */
	nlh = build_ack(-EPERM, false, 24, "x", false, 0);
	e = mnl_nlmsg_get_payload(nlh);
	e->msg.nlmsg_len = 0xfffffff0u;
	assert_int_equal(nl_ack_parse(nlh, &ack), 0);
	assert_int_equal(ack.error, -EPERM);
	assert_null(ack.msg);
	/* A request shorter than its own header. */
	e->msg.nlmsg_len = 3;
	assert_int_equal(nl_ack_parse(nlh, &ack), 0);
	assert_null(ack.msg);
}

static void test_ack_malformed(void **state)
{
	struct nlmsghdr *nlh;
	struct nl_ack ack;

	nlh = build_ack(-ENOENT, true, 40, "gone", false, 0);
	/* Too short for an nlmsgerr. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 4;
	assert_int_equal(nl_ack_parse(nlh, &ack), -EBADMSG);
	/* Not an error message. */
	nlh = build_ack(-ENOENT, true, 40, "gone", false, 0);
	nlh->nlmsg_type = NLMSG_DONE;
	assert_int_equal(nl_ack_parse(nlh, &ack), -EBADMSG);
	/* The message attribute cut short: dropped, the errno kept. */
	nlh = build_ack(-ENOENT, true, 40, "a longer kernel message", false, 0);
	nlh->nlmsg_len -= 8;
	assert_int_equal(nl_ack_parse(nlh, &ack), 0);
	assert_int_equal(ack.error, -ENOENT);
	assert_null(ack.msg);
}

static void test_done_error(void **state)
{
	struct nlmsghdr *nlh = put_msg(BUF, NLMSG_DONE, NLMSG_HDRLEN + 4);
	int e = -EBUSY;

	memcpy(BUF + NLMSG_HDRLEN, &e, sizeof(e));
	assert_int_equal(nl_done_error(nlh), -EBUSY);
	nlh->nlmsg_len = NLMSG_HDRLEN;
	assert_int_equal(nl_done_error(nlh), 0);
}

/* ---- sockets: real, unprivileged NETLINK_ROUTE ones --------------------- */

static int count_cb(const struct nlmsghdr *nlh, void *arg)
{
	int *n = arg;

	(*n)++;
	return 0;
}

/* Another process can unicast to our port id; the loop hears only the
 * kernel. */
static void test_read_drops_foreign_sender(void **state)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct nl_sock *s, *other;
	struct nlmsghdr *nlh;
	int n = 0;

	if (nl_open(&s, NETLINK_ROUTE, NULL) || nl_open(&other, NETLINK_ROUTE, NULL))
		skip();
	to.nl_pid = nl_portid(s);
	nlh = put_msg(BUF, RTM_NEWLINK, NLMSG_HDRLEN + sizeof(struct ifinfomsg));
	assert_true(sendto(nl_fd(other), nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to,
			   sizeof(to)) > 0);
	assert_int_equal(nl_wait(s, 1000), 0);
	assert_int_equal(nl_read(s, 100, count_cb, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(nl_read(s, 100, count_cb, &n, NULL), 0);
	nl_close(other);
	nl_close(s);
}

/* A datagram bigger than the buffer reaches cb as NULL, never as a cut
 * message. */
static void test_read_truncated_datagram(void **state)
{
	struct nl_opts o = { .bufsize = 64 };
	struct nl_sock *s;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int ret;

	if (nl_open(&s, NETLINK_ROUTE, &o))
		skip();
	nlh = mnl_nlmsg_put_header(BUF);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = nl_seq_next(s);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ret = nl_request(s, nlh, 1000, NULL, NULL, NULL);
	assert_int_equal(ret, -EMSGSIZE);
	nl_close(s);
}

/* A refused request: the kernel's errno and, from 4.12 on, its reason. */
static void test_request_ack(void **state)
{
	struct nl_sock *s;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nl_ack ack;
	int ret, n = 0;

	if (nl_open(&s, NETLINK_ROUTE, NULL))
		skip();
	nlh = mnl_nlmsg_put_header(BUF);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = nl_seq_next(s);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = 0x7ffffff0;
	ret = nl_request(s, nlh, 1000, count_cb, &n, &ack);
	assert_int_equal(ret, -ENODEV);
	assert_int_equal(ack.error, -ENODEV);
	assert_int_equal(ack.seq, nlh->nlmsg_seq);
	/* The loopback device is always there: one answer, then the ACK. */
	nlh->nlmsg_seq = nl_seq_next(s);
	ifi->ifi_index = 1;
	ret = nl_request(s, nlh, 1000, count_cb, &n, &ack);
	assert_int_equal(ret, 0);
	assert_int_equal(n, 1);
	nl_close(s);
}

/* The nftables batch reads its ACKs through the layer: each refusal is
 * named by its object, and what failed after it is counted.  A check-only
 * batch (no end): the kernel answers, then aborts, so nothing changes. */
static void test_nft_batch_refusals(void **state)
{
	const char *table = "flowoffload_test_nl_absent";
	struct nft_conn c = { .nl = NULL };
	struct nft_batch b;
	struct nlmsghdr *nlh;
	char err[512] = "";
	int i, ret;

	if (nft_batch_conn_open(&c))
		skip();
	assert_int_equal(nft_batch_init(&c, &b), 0);
	for (i = 0; i < 3; i++) {
		nlh = nft_batch_msg(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, "chain inet %s c%d",
				    table, i);
		assert_non_null(nlh);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, "c");
		assert_int_equal(nft_batch_commit_msg(&b), 0);
	}
	ret = nft_batch_send(&b, false, err, sizeof(err));
	nft_batch_free(&b);
	nft_batch_conn_close(&c);
	/* Without CAP_NET_ADMIN or nf_tables the batch is refused whole. */
	if (ret != -ENOENT) {
		assert_true(ret < 0);
		assert_true(strncmp(err, "nftables batch: ", 16) == 0);
		skip();
	}
	assert_true(strncmp(err, "chain inet flowoffload_test_nl_absent c0: No such file or directory",
			    67) == 0);
	assert_non_null(strstr(err, " (and 2 later messages failed)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_whole),
		cmocka_unit_test(test_walk_truncated),
		cmocka_unit_test(test_walk_oversized),
		cmocka_unit_test(test_walk_next_never_underflows),
		cmocka_unit_test(test_ack_capped),
		cmocka_unit_test(test_ack_uncapped),
		cmocka_unit_test(test_ack_plain),
		cmocka_unit_test(test_ack_lying_request_length),
		cmocka_unit_test(test_ack_malformed),
		cmocka_unit_test(test_done_error),
		cmocka_unit_test(test_read_drops_foreign_sender),
		cmocka_unit_test(test_read_truncated_datagram),
		cmocka_unit_test(test_request_ack),
		cmocka_unit_test(test_nft_batch_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
