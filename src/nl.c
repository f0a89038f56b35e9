/* nl: the agent's one netlink layer: sockets opened the same way, one safe
 * message walk, one extended-ACK decoder and one non-blocking receive loop. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "nl.h"

/* The kernel never fills a dump datagram beyond 32 KiB (it sizes the skb
 * from the reader's buffer up to that). */
#define NL_DEFAULT_BUF 32768

struct nl_sock {
	struct mnl_socket *mnl;
	uint32_t portid;
	uint32_t seq;
	size_t bufsize;
	unsigned int batch;
	struct mmsghdr *mm;
	struct iovec *iov;
	struct sockaddr_nl *from;
	char *buf;		/* batch * bufsize, 8-aligned: read in place */
};

/* ---- messages ---------------------------------------------------------- */

/*
 * libmnl 1.0.4's mnl_nlmsg_ok() compares (int)nlmsg_len <= len: a length of
 * 2 GiB or more turns negative and passes, and the walk leaves the buffer;
 * on 32-bit targets size sums can wrap too.  Everything here is compared
 * as uint64_t.
 */
bool nl_msg_ok(const struct nlmsghdr *nlh, size_t rem)
{
	return (uint64_t)rem >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) &&
	       (uint64_t)nlh->nlmsg_len <= (uint64_t)rem;
}

const struct nlmsghdr *nl_msg_next(const struct nlmsghdr *nlh, size_t *rem)
{
	uint64_t step = NLMSG_ALIGN((uint64_t)nlh->nlmsg_len);

	if (step > *rem)
		step = *rem;
	*rem -= (size_t)step;
	return (const void *)((const char *)nlh + step);
}

static int ack_attr(const struct nlattr *a, void *data)
{
	struct nl_ack *ack = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			ack->msg = mnl_attr_get_str(a);
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			ack->offset = mnl_attr_get_u32(a);
			ack->has_offset = true;
		}
		break;
	}
	return MNL_CB_OK;
}

int nl_ack_parse(const struct nlmsghdr *nlh, struct nl_ack *ack)
{
	const struct nlmsgerr *e;
	uint64_t off = sizeof(*e);

	memset(ack, 0, sizeof(*ack));
	if (!nl_msg_ok(nlh, nlh->nlmsg_len) || nlh->nlmsg_type != NLMSG_ERROR ||
	    (uint64_t)nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
		return -EBADMSG;
	e = mnl_nlmsg_get_payload(nlh);
	/* A positive error is not an errno the kernel sends. */
	ack->error = e->error > 0 ? -EPROTO : e->error;
	ack->seq = nlh->nlmsg_seq;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return 0;
	/* Uncapped ACKs carry the whole request before the attributes: its
	 * length is the sender's word, so the sum is checked, not trusted. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return 0;
		off += (uint64_t)e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	off = MNL_ALIGN(off);
	if (NLMSG_HDRLEN + off > (uint64_t)nlh->nlmsg_len)
		return 0;
	/* libmnl walks attributes up to the aligned end of the message: with
	 * an unaligned length (never the kernel's: its ACKs are padded) the
	 * last attribute could end past the message (found by fuzz_ct_parse). */
	if (nlh->nlmsg_len != MNL_ALIGN(nlh->nlmsg_len))
		return 0;
	/* mnl_attr_parse stops quietly at a cut attribute: what came before
	 * it is still the kernel's word. */
	mnl_attr_parse(nlh, (unsigned int)off, ack_attr, ack);
	return 0;
}

int nl_done_error(const struct nlmsghdr *nlh)
{
	int e;

	if ((uint64_t)nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(e))
		return 0;
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	return e < 0 ? e : 0;
}

/* ---- sockets ----------------------------------------------------------- */

static int alloc_bufs(struct nl_sock *s, const struct nl_opts *o)
{
	s->bufsize = o && o->bufsize ? MNL_ALIGN(o->bufsize) : NL_DEFAULT_BUF;
	s->batch = o && o->batch ? o->batch : 1;
	if (s->batch > 1024 || s->bufsize > (64u << 20))
		return -EINVAL;
	s->mm = calloc(s->batch, sizeof(*s->mm));
	s->iov = calloc(s->batch, sizeof(*s->iov));
	s->from = calloc(s->batch, sizeof(*s->from));
	/* aligned_alloc: messages are read in place as struct nlmsghdr, which
	 * traps unaligned on strict-alignment CPUs. */
	s->buf = aligned_alloc(8, s->batch * s->bufsize);
	if (!s->mm || !s->iov || !s->from || !s->buf)
		return -ENOMEM;
	return 0;
}

static int join_groups(struct nl_sock *s, const struct nl_opts *o)
{
	int val;
	size_t i;

	if (!o || !o->n_groups)
		return 0;
	for (i = 0; i < o->n_groups; i++) {
		val = (int)o->groups[i];
		if (mnl_socket_setsockopt(s->mnl, NETLINK_ADD_MEMBERSHIP, &val, sizeof(val)) < 0)
			return -errno;
	}
	/* Off is the default; say it anyway: a lost event must surface as
	 * ENOBUFS so the caller resyncs, never pass silently. */
	val = 0;
	if (mnl_socket_setsockopt(s->mnl, NETLINK_NO_ENOBUFS, &val, sizeof(val)) < 0)
		return -errno;
	return 0;
}

int nl_open(struct nl_sock **out, int bus, const struct nl_opts *opts)
{
	struct nl_sock *s;
	int one = 1, err;

	if (!out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = alloc_bufs(s, opts);
	if (err)
		goto err_free;
	s->mnl = mnl_socket_open2(bus, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!s->mnl) {
		err = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(s->mnl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(s->mnl, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    mnl_socket_setsockopt(s->mnl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		err = -errno;
		goto err_close;
	}
	err = join_groups(s, opts);
	if (err)
		goto err_close;
	s->portid = mnl_socket_get_portid(s->mnl);
	s->seq = (uint32_t)time(NULL);
	*out = s;
	return 0;

err_close:
	mnl_socket_close(s->mnl);
	s->mnl = NULL;
err_free:
	nl_close(s);
	return err;
}

void nl_close(struct nl_sock *s)
{
	if (!s)
		return;
	if (s->mnl)
		mnl_socket_close(s->mnl);
	free(s->buf);
	free(s->from);
	free(s->iov);
	free(s->mm);
	free(s);
}

int nl_fd(const struct nl_sock *s)
{
	return mnl_socket_get_fd(s->mnl);
}

uint32_t nl_portid(const struct nl_sock *s)
{
	return s->portid;
}

struct mnl_socket *nl_mnl(struct nl_sock *s)
{
	return s->mnl;
}

uint32_t nl_seq_next(struct nl_sock *s)
{
	return ++s->seq;
}

int nl_set_rcvbuf(struct nl_sock *s, uint64_t bytes, uint64_t *granted)
{
	int fd = nl_fd(s), v = bytes > INT_MAX / 2 ? INT_MAX / 2 : (int)bytes;
	socklen_t len = sizeof(v);

	if (bytes && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
		return -errno;
	if (!granted)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
		return -errno;
	*granted = (uint64_t)v;
	return 0;
}

int nl_send(struct nl_sock *s, const void *buf, size_t len)
{
	if (mnl_socket_sendto(s->mnl, buf, len) < 0)
		return -errno;
	return 0;
}

/* ---- receiving --------------------------------------------------------- */

static int recv_batch(struct nl_sock *s, unsigned int want)
{
	unsigned int k;
	int got;

	for (k = 0; k < want; k++) {
		s->iov[k] = (struct iovec){ .iov_base = s->buf + k * s->bufsize,
					    .iov_len = s->bufsize };
		s->mm[k].msg_hdr = (struct msghdr){
			.msg_name = &s->from[k],
			.msg_namelen = sizeof(s->from[k]),
			.msg_iov = &s->iov[k],
			.msg_iovlen = 1,
		};
		s->mm[k].msg_len = 0;
	}
	do
		got = recvmmsg(nl_fd(s), s->mm, want, MSG_DONTWAIT, NULL);
	while (got < 0 && errno == EINTR);
	return got < 0 ? -errno : got;
}

/* Walk datagram k: -errno from cb, else the number of messages given. */
static int walk_datagram(struct nl_sock *s, unsigned int k, nl_msg_cb cb, void *arg,
			 bool *stopped)
{
	const struct nlmsghdr *nlh;
	size_t rem = s->mm[k].msg_len;
	int n = 0, ret;

	/* Only the kernel sends what we read: another process could
	 * unicast to our port id. */
	if (s->from[k].nl_pid != 0)
		return 0;
	if (s->mm[k].msg_hdr.msg_flags & MSG_TRUNC) {
		ret = cb(NULL, arg);
		if (ret < 0)
			return ret;
		*stopped = ret == NL_STOP;
		return 1;
	}
	nl_msg_for_each (nlh, s->buf + k * s->bufsize, rem) {
		if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_OVERRUN)
			continue;
		n++;
		ret = cb(nlh, arg);
		if (ret < 0)
			return ret;
		if (ret == NL_STOP) {
			*stopped = true;
			break;
		}
	}
	return n;
}

int nl_read(struct nl_sock *s, unsigned int budget, nl_msg_cb cb, void *arg, bool *stopped)
{
	unsigned int handled = 0;
	bool stop = false;

	if (budget > INT_MAX)
		budget = INT_MAX;
	while (handled < budget && !stop) {
		unsigned int want = budget - handled < s->batch ? budget - handled : s->batch, k;
		int got = recv_batch(s, want), n;

		if (got == -EAGAIN || got == -EWOULDBLOCK)
			break;
		/* ENOBUFS: the kernel dropped messages; the error is reported
		 * once and cleared, the queue is still readable. */
		if (got < 0)
			return got;
		for (k = 0; k < (unsigned int)got && !stop; k++) {
			n = walk_datagram(s, k, cb, arg, &stop);
			if (n < 0)
				return n;
			handled += (unsigned int)n;
		}
		if ((unsigned int)got < want)
			break;
	}
	if (stopped)
		*stopped = stop;
	return (int)(handled > INT_MAX ? INT_MAX : handled);
}

int nl_wait(struct nl_sock *s, unsigned int timeout_ms)
{
	struct pollfd p = { .fd = nl_fd(s), .events = POLLIN };
	int ret;

	do
		ret = poll(&p, 1, timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms);
	while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	return ret == 0 ? -ETIMEDOUT : 0;
}

static int discard(const struct nlmsghdr *nlh, void *arg)
{
	return 0;
}

void nl_drain(struct nl_sock *s)
{
	/* nl_read itself reads until EAGAIN. */
	nl_read(s, UINT_MAX, discard, NULL, NULL);
}

struct request {
	uint32_t seq, portid;
	nl_msg_cb cb;
	void *arg;
	struct nl_ack *ack;
	int result;
	bool intr;
};

static int request_msg(const struct nlmsghdr *nlh, void *arg)
{
	struct request *r = arg;
	struct nl_ack ack;

	/* A cut datagram, or leftovers of an earlier request. */
	if (!nlh) {
		r->result = -EMSGSIZE;
		return NL_STOP;
	}
	if (nlh->nlmsg_seq != r->seq || nlh->nlmsg_pid != r->portid)
		return 0;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		r->intr = true;
	switch (nlh->nlmsg_type) {
	case NLMSG_DONE:
		r->result = nl_done_error(nlh);
		return NL_STOP;
	case NLMSG_ERROR:
		if (nl_ack_parse(nlh, &ack))
			r->result = -EBADMSG;
		else
			r->result = ack.error;
		if (r->ack)
			*r->ack = ack;
		return NL_STOP;
	}
	return r->cb ? r->cb(nlh, r->arg) : 0;
}

int nl_request(struct nl_sock *s, const struct nlmsghdr *nlh, unsigned int timeout_ms,
	       nl_msg_cb cb, void *arg, struct nl_ack *ack)
{
	struct request r = {
		.seq = nlh->nlmsg_seq, .portid = s->portid, .cb = cb, .arg = arg, .ack = ack,
	};
	bool stopped = false;
	int ret;

	if (ack)
		memset(ack, 0, sizeof(*ack));
	ret = nl_send(s, nlh, nlh->nlmsg_len);
	if (ret)
		return ret;
	while (!stopped) {
		ret = nl_read(s, UINT_MAX, request_msg, &r, &stopped);
		if (ret < 0)
			return ret;
		if (stopped)
			break;
		ret = nl_wait(s, timeout_ms);
		if (ret)
			return ret;
	}
	if (!r.result && r.intr)
		return -EINTR;
	return r.result;
}
