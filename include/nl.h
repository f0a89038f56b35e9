/* nl: the agent's one netlink layer: sockets opened the same way, one safe
 * message walk, one extended-ACK decoder and one non-blocking receive loop. */
#ifndef FLOWOFFLOAD_NL_H
#define FLOWOFFLOAD_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nlmsghdr;
struct mnl_socket;

/* ---- messages (pure) --------------------------------------------------- */

/* Is there a whole message at nlh within rem bytes?  Lengths are compared
 * as unsigned 64-bit values, so no length (2 GiB or more included) and no
 * offset sum can wrap, on 32-bit targets too. */
bool nl_msg_ok(const struct nlmsghdr *nlh, size_t rem);
/* The message after nlh; *rem drops by nlh's aligned length (never below
 * zero: a last message without its padding ends the walk). */
const struct nlmsghdr *nl_msg_next(const struct nlmsghdr *nlh, size_t *rem);

#define nl_msg_for_each(nlh, buf, rem)                                          \
	for ((nlh) = (const void *)(buf); nl_msg_ok((nlh), (rem));             \
	     (nlh) = nl_msg_next((nlh), &(rem)))

/* A decoded NLMSG_ERROR (an ACK when error is 0). */
struct nl_ack {
	int error;		/* 0 or the kernel's negative errno */
	uint32_t seq;		/* sequence number of the request answered */
	const char *msg;	/* NLMSGERR_ATTR_MSG, or NULL; points into the ACK */
	bool has_offset;
	uint32_t offset;	/* NLMSGERR_ATTR_OFFS: byte offset of the blamed
				 * attribute in the request */
};

/* Decode an NLMSG_ERROR message, capped (NETLINK_CAP_ACK) or carrying the
 * whole request, with or without extended-ACK attributes.  0, or -EBADMSG
 * when nlh is not a well-formed NLMSG_ERROR. */
int nl_ack_parse(const struct nlmsghdr *nlh, struct nl_ack *ack);

/* The error NLMSG_DONE carries (0 when none). */
int nl_done_error(const struct nlmsghdr *nlh);

/* ---- sockets ----------------------------------------------------------- */

struct nl_sock;

/* Receive buffer layout: batch datagrams of up to bufsize bytes each, read
 * with one recvmmsg(2) per batch. */
struct nl_opts {
	size_t bufsize;		/* largest datagram expected (0: 32 KiB) */
	unsigned int batch;	/* datagrams per system call (0: 1) */
	const unsigned int *groups;	/* multicast groups to join */
	size_t n_groups;
};

/* A non-blocking, close-on-exec socket of protocol bus, bound to a kernel
 * chosen port id, with NETLINK_EXT_ACK and NETLINK_CAP_ACK (4.12+: the
 * kernel's reason for a refusal, and ACKs that do not echo the request).
 * With groups, NETLINK_NO_ENOBUFS is cleared so a lost event surfaces as
 * ENOBUFS.  0 or a negative errno. */
int nl_open(struct nl_sock **out, int bus, const struct nl_opts *opts);
void nl_close(struct nl_sock *s);

int nl_fd(const struct nl_sock *s);
uint32_t nl_portid(const struct nl_sock *s);
/* The libmnl handle, for libnftnl's batch helpers (mnl_nlmsg_batch_*). */
struct mnl_socket *nl_mnl(struct nl_sock *s);
/* A fresh sequence number (seeded from the clock at open). */
uint32_t nl_seq_next(struct nl_sock *s);

/* SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; without
 * it SO_RCVBUF, which rmem_max caps.  *granted (if not NULL) gets the size
 * the kernel reports (it doubles the request for its bookkeeping). */
int nl_set_rcvbuf(struct nl_sock *s, uint64_t bytes, uint64_t *granted);

/* Send one datagram (a message or a batch).  0 or a negative errno. */
int nl_send(struct nl_sock *s, const void *buf, size_t len);

/* ---- receiving --------------------------------------------------------- */

/*
 * Called for each message from the kernel, or with nlh NULL for a datagram
 * that did not fit the buffer (its messages are lost).  Return 0 to go on,
 * NL_STOP to end the read after this message (the rest of the datagrams
 * read in the same batch is dropped: request sockets use batch 1), or a
 * negative errno to fail it.
 */
#define NL_STOP 1
typedef int (*nl_msg_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * The one receive loop: read until EAGAIN or budget messages (the
 * per-wakeup cap that keeps one busy socket from starving the rest).
 * Datagrams from any sender but the kernel (port id 0) are dropped, each
 * datagram is walked with nl_msg_for_each, and control messages
 * (NLMSG_NOOP, NLMSG_OVERRUN) never reach cb.  Returns the number of
 * messages given to cb, -ENOBUFS after an overrun (the socket stays
 * usable), cb's error, or another negative errno.  *stopped (if not NULL)
 * says whether cb returned NL_STOP.
 */
int nl_read(struct nl_sock *s, unsigned int budget, nl_msg_cb cb, void *arg, bool *stopped);

/* Wait up to timeout_ms for s to become readable: 0, or -ETIMEDOUT. */
int nl_wait(struct nl_sock *s, unsigned int timeout_ms);

/* Throw away whatever is queued (replies to an abandoned request). */
void nl_drain(struct nl_sock *s);

/*
 * Send the request nlh (its nlmsg_seq set) and read the answer, blocking
 * up to timeout_ms between datagrams: messages carrying its sequence number
 * go to cb (if any) until NLMSG_DONE or the ACK; others are skipped (call
 * nl_drain first to drop them unread).  Returns 0, the kernel's error
 * (decoded into *ack when not NULL; its msg is valid until the next read
 * on s), -EINTR when the kernel flagged a dump interrupted (NLM_F_DUMP_INTR:
 * a fresh dump is consistent), cb's error, or -ETIMEDOUT.
 */
int nl_request(struct nl_sock *s, const struct nlmsghdr *nlh, unsigned int timeout_ms,
	       nl_msg_cb cb, void *arg, struct nl_ack *ack);

#endif
