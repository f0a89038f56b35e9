/* nft_batch: the nftables socket, batches sent as one transaction, their
 * replies matched to the messages, and the kernel's extended ACK decoded. */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "nft_batch.h"

/* The batch buffer keeps room for the largest message beyond its limit,
 * because libnftnl writes a message before mnl_nlmsg_batch_next can refuse
 * it.  That is the elements of a set of CONFIG_MAX_LIST IPv6 intervals:
 * 2 * 64 + 1 elements of at most 48 bytes (nest, flags, key, user data)
 * after about 100 bytes of headers, table and set names. */
#define BATCH_MSG_MAX 8192
#define BATCH_LIMIT (NFT_BATCH_MAX_MSGS * BATCH_MSG_MAX)
#define SNDBUF_SIZE (1 << 20)
/* Under emulation (TCG) a flowtable bind can take a while; a kernel that
 * never answers must not hang the agent forever either. */
#define REPLY_TIMEOUT_MS 10000

int nft_batch_conn_open(struct nft_conn *c)
{
	int one = 1, sndbuf = SNDBUF_SIZE, ret;

	/* Non-blocking: replies are awaited with poll and a deadline. */
	c->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!c->nl)
		return -errno;
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err;
	/* Errors carry the kernel's message and the blamed attribute, and
	 * not a copy of our whole request. */
	if (mnl_socket_setsockopt(c->nl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(c->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		goto err;
	/* A batch is one datagram: it must fit the send buffer whole.  The
	 * kernel caps this at wmem_max, still far above our largest batch. */
	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_SNDBUF, &sndbuf,
		       sizeof(sndbuf)) < 0)
		goto err;
	c->seq = (uint32_t)time(NULL);
	return 0;
err:
	ret = -errno;
	mnl_socket_close(c->nl);
	c->nl = NULL;
	return ret;
}

void nft_batch_conn_close(struct nft_conn *c)
{
	if (c->nl)
		mnl_socket_close(c->nl);
	c->nl = NULL;
}

/* ---- building ----------------------------------------------------------- */

int nft_batch_init(struct nft_conn *c, struct nft_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	/* mnl_nlmsg_batch needs room for one message beyond its limit.
	 * Zeroed: libmnl leaves attribute padding as it finds it, and the
	 * batch is compared byte for byte (golden files, fingerprint). */
	b->buf = calloc(1, BATCH_LIMIT + BATCH_MSG_MAX);
	if (!b->buf)
		return -ENOMEM;
	b->b = mnl_nlmsg_batch_start(b->buf, BATCH_LIMIT);
	if (!b->b) {
		free(b->buf);
		b->buf = NULL;
		return -ENOMEM;
	}
	b->begin_seq = c->seq++;
	nftnl_batch_begin(mnl_nlmsg_batch_current(b->b), b->begin_seq);
	mnl_nlmsg_batch_next(b->b);
	return 0;
}

void nft_batch_free(struct nft_batch *b)
{
	if (b->b)
		mnl_nlmsg_batch_stop(b->b);
	free(b->buf);
	b->b = NULL;
	b->buf = NULL;
}

struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags,
			       const char *fmt, ...)
{
	struct nft_batch_msg *m;
	struct nlmsghdr *nlh;
	va_list ap;

	if (b->n == NFT_BATCH_MAX_MSGS)
		return NULL;
	m = &b->msgs[b->n];
	m->seq = b->c->seq++;
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), type, NFPROTO_INET,
				    flags | NLM_F_ACK, m->seq);
	m->nlh = nlh;
	return nlh;
}

int nft_batch_commit_msg(struct nft_batch *b)
{
	/* false: the message would pass the limit and is left out; a batch
	 * is all or nothing, so the whole operation fails. */
	if (!mnl_nlmsg_batch_next(b->b))
		return -EMSGSIZE;
	b->n++;
	return 0;
}

int nft_batch_end(struct nft_batch *b)
{
	nftnl_batch_end(mnl_nlmsg_batch_current(b->b), b->c->seq++);
	return mnl_nlmsg_batch_next(b->b) ? 0 : -EMSGSIZE;
}

static void dump_msg(FILE *f, const char *what, const struct nlmsghdr *nlh)
{
	const uint8_t *p = (const uint8_t *)nlh;
	uint32_t i;

	fprintf(f, "# %s\n", what);
	for (i = 0; i < nlh->nlmsg_len; i++)
		fprintf(f, "%s%02x%s", i % 16 ? "" : "\t", p[i],
			i % 16 == 15 || i + 1 == nlh->nlmsg_len ? "\n" : i % 4 == 3 ? " " : "");
}

void nft_batch_dump(FILE *f, const struct nft_batch *b)
{
	const struct nlmsghdr *nlh = mnl_nlmsg_batch_head(b->b);
	int len = (int)mnl_nlmsg_batch_size(b->b);
	size_t i = 0;

	dump_msg(f, "batch begin", nlh);
	for (nlh = mnl_nlmsg_next(nlh, &len); mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len))
		dump_msg(f, i < b->n ? b->msgs[i++].what : "batch end", nlh);
}

/* ---- the socket --------------------------------------------------------- */

/* Throws away replies of an earlier request that timed out, so they are
 * never mistaken for answers to this one (sequence numbers also differ). */
static void sock_drain(struct nft_conn *c)
{
	char buf[NFT_BATCH_RECV_BUF];

	while (mnl_socket_recvfrom(c->nl, buf, sizeof(buf)) > 0)
		;
}

static int sock_wait(struct nft_conn *c, struct timespec *deadline)
{
	struct pollfd p = { .fd = mnl_socket_get_fd(c->nl), .events = POLLIN };
	struct timespec now;
	long ms;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return -ETIMEDOUT;
	ret = poll(&p, 1, (int)ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	return ret == 0 ? -ETIMEDOUT : 0;
}

static void deadline_set(struct timespec *deadline)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	deadline->tv_sec += REPLY_TIMEOUT_MS / 1000;
}

/* One datagram of replies into buf: its length, or a negative errno
 * (-ETIMEDOUT past the deadline). */
static ssize_t sock_recv(struct nft_conn *c, char *buf, size_t len, struct timespec *deadline)
{
	ssize_t n;
	int ret;

	for (;;) {
		n = mnl_socket_recvfrom(c->nl, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		ret = sock_wait(c, deadline);
		if (ret)
			return ret;
	}
}

/* ---- the kernel's answers ----------------------------------------------- */

static int extack_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	if (type == NLMSGERR_ATTR_OFFS && mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	if (type <= NLMSGERR_ATTR_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

/* The attribute the kernel blamed, if it is a string in our message: for a
 * missing device that is the device's name. */
static const char *blamed_string(const struct nlmsghdr *sent, uint32_t offs)
{
	const struct nlattr *a;
	const char *s;
	size_t len, i;

	if (!sent || offs < sizeof(*sent) || offs + sizeof(*a) > sent->nlmsg_len)
		return NULL;
	a = (const struct nlattr *)((const char *)sent + offs);
	if (a->nla_len <= sizeof(*a) || offs + a->nla_len > sent->nlmsg_len)
		return NULL;
	s = (const char *)a + sizeof(*a);
	len = a->nla_len - sizeof(*a);
	if (s[len - 1] != '\0' || len == 1)
		return NULL;
	for (i = 0; i + 1 < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return NULL;
	return s;
}

/* 6.1 blames no attribute when a flowtable's device does not exist; the
 * name is what the operator needs, so find it the way the kernel did (we
 * are in the same network namespace). */
static const char *missing_device(const struct nlmsghdr *sent)
{
	const struct nlattr *a, *h, *d;

	if (!sent || (sent->nlmsg_type & 0xff) != NFT_MSG_NEWFLOWTABLE)
		return NULL;
	mnl_attr_for_each (a, sent, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_FLOWTABLE_HOOK)
			continue;
		mnl_attr_for_each_nested (h, a) {
			if (mnl_attr_get_type(h) != NFTA_FLOWTABLE_HOOK_DEVS)
				continue;
			mnl_attr_for_each_nested (d, h) {
				if (mnl_attr_get_type(d) == NFTA_DEVICE_NAME &&
				    mnl_attr_validate(d, MNL_TYPE_NUL_STRING) == 0 &&
				    !if_nametoindex(mnl_attr_get_str(d)))
					return mnl_attr_get_str(d);
			}
		}
	}
	return NULL;
}

/* "OBJECT: strerror (kernel: MSG) at "ATTR"" */
static void ack_describe(const struct nlmsghdr *ack, const char *what, const struct nlmsghdr *sent,
			 char *out, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(ack);
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { NULL };
	const char *blamed = NULL, *missing = NULL;
	size_t off = sizeof(*e);

	if (ack->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (!(ack->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (mnl_nlmsg_get_payload_len(ack) >= off)
			mnl_attr_parse(ack, (unsigned int)off, extack_cb, tb);
	}
	if (tb[NLMSGERR_ATTR_OFFS])
		blamed = blamed_string(sent, mnl_attr_get_u32(tb[NLMSGERR_ATTR_OFFS]));
	if (!blamed && e->error == -ENOENT)
		missing = missing_device(sent);
	snprintf(out, len, "%s: %s%s%s%s%s%s%s%s%s%s", what, strerror(-e->error),
		 tb[NLMSGERR_ATTR_MSG] ? " (kernel: " : "",
		 tb[NLMSGERR_ATTR_MSG] ? mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]) : "",
		 tb[NLMSGERR_ATTR_MSG] ? ")" : "", blamed ? " at \"" : "", blamed ? blamed : "",
		 blamed ? "\"" : "", missing ? " (no device \"" : "", missing ? missing : "",
		 missing ? "\")" : "");
}

/* What the replies of one batch said so far. */
struct reply_state {
	size_t pending, failed;
	uint32_t first_seq;
	int first_err;
};

/* One ACK of the batch: 1 when the kernel refused the batch as a whole
 * (no permission, no nf_tables: no other reply follows), else 0. */
static int reply_one(struct nft_batch *b, const struct nlmsghdr *nlh, struct reply_state *st,
		     char *err, size_t errlen)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct nft_batch_msg *m = NULL;
	size_t i;

	if (nlh->nlmsg_seq == b->begin_seq && e->error) {
		ack_describe(nlh, "nftables batch", NULL, err, errlen);
		st->first_err = e->error;
		return 1;
	}
	for (i = 0; i < b->n; i++)
		if (b->msgs[i].seq == nlh->nlmsg_seq)
			m = &b->msgs[i];
	if (!m || m->acked)
		return 0;
	m->acked = true;
	st->pending--;
	if (!e->error)
		return 0;
	st->failed++;
	if (m->seq < st->first_seq) {
		st->first_seq = m->seq;
		st->first_err = e->error;
		ack_describe(nlh, m->what, m->nlh, err, errlen);
	}
	return 0;
}

/* Reads replies until every message of the batch has its ACK (the kernel
 * sends them all once the whole batch is processed), or the kernel refused
 * the batch as a whole.  The first failing message decides the result. */
static int batch_replies(struct nft_batch *b, char *err, size_t errlen)
{
	struct reply_state st = { .pending = b->n, .first_seq = UINT32_MAX };
	char buf[NFT_BATCH_RECV_BUF];
	const struct nlmsghdr *nlh;
	struct timespec deadline;
	ssize_t n;
	int len;

	deadline_set(&deadline);
	while (st.pending) {
		n = sock_recv(b->c, buf, sizeof(buf), &deadline);
		if (n == -ETIMEDOUT) {
			snprintf(err, errlen, "no reply from nftables for %zu of %zu messages: %s",
				 st.pending, b->n, strerror(ETIMEDOUT));
			return -ETIMEDOUT;
		}
		if (n < 0) {
			snprintf(err, errlen, "reading the kernel's replies: %s", strerror((int)-n));
			return (int)n;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr))
				continue;
			if (reply_one(b, nlh, &st, err, errlen))
				return st.first_err;
		}
	}
	/* Later messages often fail only because of the first one (a rule
	 * whose flowtable was refused); say so without listing them. */
	if (st.failed > 1) {
		size_t used = strlen(err);

		if (used < errlen)
			snprintf(err + used, errlen - used, " (and %zu later messages failed)",
				 st.failed - 1);
	}
	return st.first_err;
}

int nft_batch_send(struct nft_batch *b, bool commit, char *err, size_t errlen)
{
	ssize_t n;
	int ret;

	if (commit && nft_batch_end(b)) {
		snprintf(err, errlen, "building the nftables batch: %s", strerror(EMSGSIZE));
		return -EMSGSIZE;
	}
	sock_drain(b->c);
	n = mnl_socket_sendto(b->c->nl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b));
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "sending the nftables batch (%zu bytes): %s",
			 mnl_nlmsg_batch_size(b->b), strerror(errno));
		return ret;
	}
	return batch_replies(b, err, errlen);
}

/* The request's answer in one datagram: 1 more to read, else the result. */
static int request_answer(const char *buf, int len, uint32_t seq,
			  int (*msg_cb)(const struct nlmsghdr *m, void *arg), void *arg)
{
	const struct nlmsghdr *m;
	int ret;

	for (m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
		if (m->nlmsg_seq != seq)
			continue;
		if (m->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

			if (mnl_nlmsg_get_payload_len(m) < sizeof(*e))
				return -EBADMSG;
			return e->error;
		}
		if (msg_cb) {
			ret = msg_cb(m, arg);
			if (ret)
				return ret;
		}
	}
	return 1;
}

int nft_batch_request(struct nft_conn *c, struct nlmsghdr *nlh, char *buf, size_t buflen,
		      int (*msg_cb)(const struct nlmsghdr *m, void *arg), void *arg)
{
	uint32_t seq = nlh->nlmsg_seq;
	struct timespec deadline;
	ssize_t n;
	int ret;

	sock_drain(c);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	deadline_set(&deadline);
	do {
		n = sock_recv(c, buf, buflen, &deadline);
		if (n < 0)
			return (int)n;
		ret = request_answer(buf, (int)n, seq, msg_cb, arg);
	} while (ret == 1);
	return ret;
}
