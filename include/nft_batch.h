/* nft_batch: the nftables transport: one socket, batches (begin, messages
 * with NLM_F_ACK, end), every reply drained, errors mapped to objects. */
#ifndef FLOWOFFLOAD_NFT_BATCH_H
#define FLOWOFFLOAD_NFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libmnl/libmnl.h>

/* The largest batch holds 54 messages (the hardware table's 25: table,
 * delete, table, flowtable, chain, three sets with their elements, two
 * skip-port, eight skip-prefix, two offload and two small-packet rules;
 * the software table's 29 with its two readmit and two hw-return rules)
 * besides begin and end. */
/* [routes] adds up to four sets and ten rules to each table. */
#define NFT_BATCH_MAX_MSGS 96

struct nl_sock;

/* A NETLINK_NETFILTER socket and the sequence numbers it hands out. */
struct nft_conn {
	struct nl_sock *nl;	/* NULL: build only, never sent */
	uint32_t seq;
};

struct nft_batch_msg {
	uint32_t seq;
	char what[96];
	const struct nlmsghdr *nlh; /* inside the batch buffer, for extack offsets */
	bool acked;
};

struct nft_batch {
	struct nft_conn *c;
	char *buf;
	struct mnl_nlmsg_batch *b;
	uint32_t begin_seq;
	uint32_t set_id;	/* the last set id given out in this batch */
	size_t n, max;
	size_t limit;		/* bytes the batch may take */
	struct nft_batch_msg *msgs;
};

int nft_batch_conn_open(struct nft_conn *c);
void nft_batch_conn_close(struct nft_conn *c);

int nft_batch_init(struct nft_conn *c, struct nft_batch *b);
/* A batch of up to max_msgs messages of at most NFT_BATCH_MSG_MAX bytes
 * each (set elements in bulk: routes.c). */
#define NFT_BATCH_MSG_MAX 8192
int nft_batch_init_size(struct nft_conn *c, struct nft_batch *b, size_t max_msgs);
void nft_batch_free(struct nft_batch *b);

/* Starts the next message, named for error reports; the caller fills the
 * payload and calls nft_batch_commit_msg.  NULL when the batch is full. */
struct nlmsghdr *nft_batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags,
			       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int nft_batch_commit_msg(struct nft_batch *b);

/* Appends the batch end (0 or -EMSGSIZE). */
int nft_batch_end(struct nft_batch *b);

/* Sends the batch and reads every reply.  commit false leaves out the
 * end: the kernel answers every message, then aborts (as `nft --check`).
 * 0, or the first failing message's error with err naming it. */
int nft_batch_send(struct nft_batch *b, bool commit, char *err, size_t errlen);

/* The messages from begin to end, hex, each under its object's name. */
void nft_batch_dump(FILE *f, const struct nft_batch *b);

/* One request, one answer (nl_request): messages with the request's
 * sequence number go to msg_cb (if any) until the ACK; returns the ACK's
 * error (0, -ENOENT), msg_cb's, or a negative errno when the socket fails
 * or no reply comes in time. */
int nft_batch_request(struct nft_conn *c, struct nlmsghdr *nlh,
		      int (*msg_cb)(const struct nlmsghdr *m, void *arg), void *arg);

/* Replies are ACKs and single objects, each far below a page: the
 * socket's receive buffer, and room enough to build a request. */
#define NFT_BATCH_RECV_BUF 16384

/* Pure: the attribute an extended ACK blames (byte offset offs into the
 * message we sent), if it is a printable string of that message: for a
 * missing device, the device's name.  NULL otherwise. */
const char *nft_batch_blamed_string(const struct nlmsghdr *sent, uint32_t offs);

#endif
