/* ct_query: the conntrack query socket: filtered dumps of the conntrack
 * table, read either blocking or from the caller's event loop. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "ct_query.h"
#include "nl.h"

/* The kernel sizes a dump's skbs from the reader's buffer, up to 32 KiB:
 * a smaller buffer means more system calls per dump; a bigger one is never
 * filled. */
#define CT_RECV_BUF 32768
/* The synchronous dump gives up after this long without a datagram. */
#define CT_QUERY_TIMEOUT_MS 5000

struct ct_query {
	struct nl_sock *nl;
	/* A synchronous dump that timed out leaves the kernel's dump running
	 * on the socket (the next request would get EBUSY, or stale
	 * entries): such a socket is replaced before the next dump. */
	bool stale;
	/* An asynchronous dump that failed midway: the rest of it is read
	 * and thrown away (keeping the fd the caller registered) until its
	 * end, which frees the socket for the next dump. */
	bool draining;
	bool running;
	bool finished;
	uint64_t bad_entries;	/* entries of the last dump ct_parse refused */
	bool intr;
	int result;
	uint32_t seq;
	ct_cb on_entry;
	void *entry_arg;
	ct_query_done_cb on_done;
	void *done_arg;
};

static int query_socket(struct ct_query *q)
{
	struct nl_opts o = { .bufsize = CT_RECV_BUF, .batch = 1 };
	int err;

	if (q->nl) {
		nl_close(q->nl);
		q->nl = NULL;
	}
	err = nl_open(&q->nl, NETLINK_NETFILTER, &o);
	q->stale = false;
	q->draining = false;
	return err;
}

int ct_query_open(struct ct_query **out)
{
	struct ct_query *q;
	int err;

	if (!out)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	err = query_socket(q);
	if (err) {
		free(q);
		return err;
	}
	*out = q;
	return 0;
}

static void finish(struct ct_query *q, int err)
{
	int result = err;

	q->running = false;
	q->finished = false;
	if (!result && q->intr)
		result = -EAGAIN;
	q->on_done(result, q->done_arg);
}

static int dump_end(struct ct_query *q, int result)
{
	if (q->draining) {
		q->draining = false;
		return NL_STOP;
	}
	q->result = result;
	q->finished = true;
	return NL_STOP;
}

static int dump_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct ct_query *q = arg;
	struct nl_ack ack;
	struct ct_info ct;
	enum ct_msg type;

	if (!nlh)
		return -EMSGSIZE;
	/* Leftovers of an earlier request carry another sequence. */
	if ((!q->running && !q->draining) || nlh->nlmsg_seq != q->seq ||
	    nlh->nlmsg_pid != nl_portid(q->nl))
		return 0;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		q->intr = true;
	switch (nlh->nlmsg_type) {
	case NLMSG_DONE:
		/* The dump's own error, if any, rides in DONE. */
		return dump_end(q, nl_done_error(nlh));
	case NLMSG_ERROR:
		if (nl_ack_parse(nlh, &ack))
			return dump_end(q, -EPROTO);
		return dump_end(q, ack.error < 0 ? ack.error : -EPROTO);
	}
	if (q->draining)
		return 0;
	if (ct_parse(nlh, &ct, &type)) {
		q->bad_entries++;
		return 0;
	}
	q->on_entry(CT_MSG_DUMP, &ct, q->entry_arg);
	return 0;
}

static void build_request(struct nlmsghdr *nlh, uint32_t seq, uint8_t family, uint32_t mark,
			  uint32_t mask)
{
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	/* AF_UNSPEC: ctnetlink_filter_match() skips the family test when
	 * the requested family is 0, so both families come back. */
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mask) {
		/* The kernel keeps entries with (ct mark & mask) == value:
		 * the value must be masked or nothing ever matches.  Older
		 * kernels filter only when both attributes are present. */
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark & mask));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	}
}

static int start(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask, ct_cb on_entry,
		 void *entry_arg, ct_query_done_cb on_done, void *done_arg)
{
	char req[256] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	int err;

	if (!q || !on_entry || !on_done ||
	    (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (q->running)
		return -EBUSY;
	if (q->stale) {
		err = query_socket(q);
		if (err)
			return err;
	}
	/* Leftovers of an earlier request are thrown away here; the rest of
	 * a failed dump ends the draining when its NLMSG_DONE comes. */
	nl_read(q->nl, UINT_MAX, dump_msg, q, NULL);
	if (q->draining)
		return -EBUSY;
	nlh = mnl_nlmsg_put_header(req);
	q->seq = nl_seq_next(q->nl);
	build_request(nlh, q->seq, family, mark, mask);
	err = nl_send(q->nl, nlh, nlh->nlmsg_len);
	if (err)
		return err;
	q->running = true;
	q->finished = false;
	q->bad_entries = 0;
	q->intr = false;
	q->result = 0;
	q->on_entry = on_entry;
	q->entry_arg = entry_arg;
	q->on_done = on_done;
	q->done_arg = done_arg;
	return 0;
}

int ct_query_dump_start(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask,
			ct_cb on_entry, ct_query_done_cb on_done, void *arg)
{
	return start(q, family, mark, mask, on_entry, arg, on_done, arg);
}

int ct_query_fd(const struct ct_query *q)
{
	return nl_fd(q->nl);
}

int ct_query_busy(const struct ct_query *q)
{
	return q->running || q->draining;
}

int ct_query_on_readable(struct ct_query *q, unsigned int budget)
{
	int n;

	n = nl_read(q->nl, budget, dump_msg, q, NULL);
	if (n < 0 && q->running) {
		/* The kernel's dump may still be running: read out its rest
		 * before the next dump starts. */
		q->draining = true;
		finish(q, n);
		return n;
	}
	if (q->finished)
		finish(q, q->result);
	return n;
}

struct sync_dump {
	bool done;
	int result;
};

static void sync_done(int result, void *arg)
{
	struct sync_dump *s = arg;

	s->done = true;
	s->result = result;
}

int ct_query_dump(struct ct_query *q, uint8_t family, uint32_t mark, uint32_t mask, ct_cb cb,
		  void *arg)
{
	struct sync_dump s = { 0 };
	int err;

	/* A socket still reading out a failed dump's rest is replaced, as a
	 * timed-out one is: blocking until that rest arrives would be worse. */
	if (q && q->draining && !q->running)
		q->stale = true;
	err = start(q, family, mark, mask, cb, arg, sync_done, &s);
	if (err)
		return err;
	while (!s.done) {
		if (ct_query_on_readable(q, UINT_MAX) < 0 || s.done)
			break;
		err = nl_wait(q->nl, CT_QUERY_TIMEOUT_MS);
		if (err) {
			q->stale = true;
			finish(q, err);
		}
	}
	return s.result;
}

void ct_query_close(struct ct_query *q)
{
	if (!q)
		return;
	nl_close(q->nl);
	free(q);
}

uint64_t ct_query_bad_entries(const struct ct_query *q)
{
	return q->bad_entries;
}
