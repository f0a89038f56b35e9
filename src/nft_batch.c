/* nft_batch: the nftables socket, batches sent as one transaction, their
 * replies matched to the messages, and the kernel's extended ACK decoded. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
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
#include "nl.h"

/* The batch buffer keeps room for the largest message beyond its limit,
 * because libnftnl writes a message before mnl_nlmsg_batch_next can refuse
 * it.  That is the elements of a set of CONFIG_MAX_LIST IPv6 intervals:
 * 2 * 64 + 1 elements of at most 48 bytes (nest, flags, key, user data)
 * after about 100 bytes of headers, table and set names. */
#define BATCH_MSG_MAX NFT_BATCH_MSG_MAX
#define SNDBUF_SIZE (1 << 20)
/* Under emulation (TCG) a flowtable bind can take a while; a kernel that
 * never answers must not hang the agent forever either. */
#define REPLY_TIMEOUT_MS 10000

int nft_batch_conn_open(struct nft_conn *c)
{
	/* One reply per datagram: ACKs (capped) and single objects. */
	const struct nl_opts o = { .bufsize = NFT_BATCH_RECV_BUF };
	int sndbuf = SNDBUF_SIZE, ret;

	ret = nl_open(&c->nl, NETLINK_NETFILTER, &o);
	if (ret) {
		c->nl = NULL;
		return ret;
	}
	/* A batch is one datagram: it must fit the send buffer whole.  The
	 * kernel caps this at wmem_max, still far above our largest batch. */
	if (setsockopt(nl_fd(c->nl), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
		ret = -errno;
		nl_close(c->nl);
		c->nl = NULL;
		return ret;
	}
	c->seq = (uint32_t)time(NULL);
	return 0;
}

void nft_batch_conn_close(struct nft_conn *c)
{
	nl_close(c->nl);
	c->nl = NULL;
}

/* ---- building ----------------------------------------------------------- */

int nft_batch_init(struct nft_conn *c, struct nft_batch *b)
{
	return nft_batch_init_size(c, b, NFT_BATCH_MAX_MSGS);
}

int nft_batch_init_size(struct nft_conn *c, struct nft_batch *b, size_t max_msgs)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->max = max_msgs;
	b->limit = max_msgs * BATCH_MSG_MAX;
	b->msgs = calloc(max_msgs, sizeof(*b->msgs));
	/* mnl_nlmsg_batch needs room for one message beyond its limit.
	 * Zeroed: libmnl leaves attribute padding as it finds it, and the
	 * batch is compared byte for byte (golden files, fingerprint). */
	b->buf = calloc(1, b->limit + BATCH_MSG_MAX);
	if (b->msgs && b->buf)
		b->b = mnl_nlmsg_batch_start(b->buf, b->limit);
	if (!b->b) {
		free(b->buf);
		free(b->msgs);
		b->buf = NULL;
		b->msgs = NULL;
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
	free(b->msgs);
	b->b = NULL;
	b->buf = NULL;
	b->msgs = NULL;
}

struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags,
			       const char *fmt, ...)
{
	struct nft_batch_msg *m;
	struct nlmsghdr *nlh;
	va_list ap;

	if (b->n == b->max)
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
	const struct nlmsghdr *nlh;
	size_t rem = mnl_nlmsg_batch_size(b->b), i = 0;
	const char *what = "batch begin";

	nl_msg_for_each (nlh, mnl_nlmsg_batch_head(b->b), rem) {
		dump_msg(f, what, nlh);
		what = i < b->n ? b->msgs[i++].what : "batch end";
	}
}

/* ---- the socket --------------------------------------------------------- */

static void deadline_set(struct timespec *deadline)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	deadline->tv_sec += REPLY_TIMEOUT_MS / 1000;
}

/* Waits for replies until the deadline: 0, or a negative errno
 * (-ETIMEDOUT once it has passed). */
static int wait_until(struct nft_conn *c, const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return -ETIMEDOUT;
	return nl_wait(c->nl, (unsigned int)ms);
}

/* ---- the kernel's answers ----------------------------------------------- */

const char *nft_batch_blamed_string(const struct nlmsghdr *sent, uint32_t offs)
{
	const struct nlattr *a;
	const char *s;
	size_t len, i;

	/* 64-bit sums: the offset is the kernel's word and must not wrap
	 * past our message on 32-bit targets. */
	if (!sent || offs < sizeof(*sent) || (uint64_t)offs + sizeof(*a) > sent->nlmsg_len)
		return NULL;
	/* Attributes start on 4-byte boundaries: anything else is not one. */
	if (offs % NLA_ALIGNTO)
		return NULL;
	a = (const struct nlattr *)((const char *)sent + offs);
	if (a->nla_len <= sizeof(*a) || (uint64_t)offs + a->nla_len > sent->nlmsg_len)
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
static void ack_describe(const struct nl_ack *ack, const char *what, const struct nlmsghdr *sent,
			 char *out, size_t len)
{
	const char *blamed = NULL, *missing = NULL;

	if (ack->has_offset)
		blamed = nft_batch_blamed_string(sent, ack->offset);
	if (!blamed && ack->error == -ENOENT)
		missing = missing_device(sent);
	snprintf(out, len, "%s: %s%s%s%s%s%s%s%s%s%s", what, strerror(-ack->error),
		 ack->msg ? " (kernel: " : "", ack->msg ? ack->msg : "", ack->msg ? ")" : "",
		 blamed ? " at \"" : "", blamed ? blamed : "", blamed ? "\"" : "",
		 missing ? " (no device \"" : "", missing ? missing : "", missing ? "\")" : "");
}

/* What the replies of one batch said so far. */
struct reply_state {
	struct nft_batch *b;
	char *err;
	size_t errlen;
	size_t pending, failed;
	uint32_t first_seq;
	int first_err;
	bool refused;		/* the batch as a whole: no other reply follows */
};

/* One reply of the batch (nl_read's callback).  NL_STOP once every message
 * has its ACK or the kernel refused the batch as a whole (no permission,
 * no nf_tables). */
static int reply_one(const struct nlmsghdr *nlh, void *arg)
{
	struct reply_state *st = arg;
	struct nft_batch *b = st->b;
	struct nft_batch_msg *m = NULL;
	struct nl_ack ack;
	size_t i;

	/* Capped ACKs are far below the buffer; what does not fit is not
	 * an answer we can trust (libmnl's recvfrom said ENOSPC here). */
	if (!nlh)
		return -ENOSPC;
	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != nl_portid(b->c->nl) ||
	    nl_ack_parse(nlh, &ack))
		return 0;
	if (ack.seq == b->begin_seq && ack.error) {
		ack_describe(&ack, "nftables batch", NULL, st->err, st->errlen);
		st->first_err = ack.error;
		st->refused = true;
		return NL_STOP;
	}
	/* Sequence numbers are handed out in order: the index, checked. */
	i = (size_t)(ack.seq - b->msgs[0].seq);
	if (b->n && i < b->n && b->msgs[i].seq == ack.seq)
		m = &b->msgs[i];
	if (!m || m->acked)
		return 0;
	m->acked = true;
	st->pending--;
	if (ack.error) {
		st->failed++;
		if (m->seq < st->first_seq) {
			st->first_seq = m->seq;
			st->first_err = ack.error;
			ack_describe(&ack, m->what, m->nlh, st->err, st->errlen);
		}
	}
	return st->pending ? 0 : NL_STOP;
}

/* Reads replies until every message of the batch has its ACK (the kernel
 * sends them all once the whole batch is processed), or the kernel refused
 * the batch as a whole.  The first failing message decides the result. */
static int batch_replies(struct nft_batch *b, char *err, size_t errlen)
{
	struct reply_state st = {
		.b = b, .err = err, .errlen = errlen, .pending = b->n, .first_seq = UINT32_MAX,
	};
	struct timespec deadline;
	int ret;

	deadline_set(&deadline);
	while (st.pending) {
		ret = nl_read(b->c->nl, UINT_MAX, reply_one, &st, NULL);
		if (ret >= 0 && st.refused)
			return st.first_err;
		if (ret >= 0 && !st.pending)
			break;
		if (ret >= 0)
			ret = wait_until(b->c, &deadline);
		if (ret == -ETIMEDOUT) {
			snprintf(err, errlen, "no reply from nftables for %zu of %zu messages: %s",
				 st.pending, b->n, strerror(ETIMEDOUT));
			return -ETIMEDOUT;
		}
		if (ret < 0) {
			snprintf(err, errlen, "reading the kernel's replies: %s", strerror(-ret));
			return ret;
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
	int ret;

	if (commit && nft_batch_end(b)) {
		snprintf(err, errlen, "building the nftables batch: %s", strerror(EMSGSIZE));
		return -EMSGSIZE;
	}
	/* Replies of an earlier request that timed out are never mistaken
	 * for answers to this one (sequence numbers also differ). */
	nl_drain(b->c->nl);
	/* A batch is one datagram; wmem_max (about 208 KiB by default) caps
	 * SO_SNDBUF, and a bulk of set elements needs more: CAP_NET_ADMIN
	 * may force it, as nft does. */
	if (mnl_nlmsg_batch_size(b->b) > (SNDBUF_SIZE >> 3)) {
		int sz = (int)(mnl_nlmsg_batch_size(b->b) + (SNDBUF_SIZE >> 2));

		if (setsockopt(nl_fd(b->c->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			(void)setsockopt(nl_fd(b->c->nl), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	ret = nl_send(b->c->nl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b));
	if (ret) {
		snprintf(err, errlen, "sending the nftables batch (%zu bytes): %s",
			 mnl_nlmsg_batch_size(b->b), strerror(-ret));
		return ret;
	}
	return batch_replies(b, err, errlen);
}

int nft_batch_request(struct nft_conn *c, struct nlmsghdr *nlh,
		      int (*msg_cb)(const struct nlmsghdr *m, void *arg), void *arg)
{
	nl_drain(c->nl);
	return nl_request(c->nl, nlh, REPLY_TIMEOUT_MS, msg_cb, arg, NULL);
}
