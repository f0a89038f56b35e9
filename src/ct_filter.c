/* ct_filter: a classic BPF socket filter on the conntrack event socket: only
 * events of the protocols the config offloads reach the agent's queue. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "ct_filter.h"

/*
 * Why in the kernel: an event the socket filter drops never counts against
 * the receive buffer (netlink runs sk_filter before queueing a multicast
 * copy), so ICMP floods and protocols the flowtable cannot carry neither
 * cost a wakeup nor push the agent into an overrun.
 *
 * How: the kernel's netlink attribute helpers for classic BPF, as
 * libnetfilter_conntrack's nfct_filter uses them.  SKF_AD_NLATTR finds the
 * attribute of type X among those starting at offset A; SKF_AD_NLATTR_NEST
 * finds type X inside the nest at offset A.  Both leave its offset in A, or
 * 0 when there is none.  Each event skb holds one message, so the walk from
 * the first attribute runs over that message only.
 *
 * A message the filter cannot read (no original tuple, a non-linear skb:
 * the helpers then say 0) is accepted: the agent's parser decides, and an
 * event is never lost to the filter's own limits.
 */

#define ATTRS_OFFSET (NLMSG_HDRLEN + sizeof(struct nfgenmsg))
#define ACCEPT 0xffffffffu
#define DROP 0u
#define NO_PROTO 0x100u

int ct_filter_attach(int fd, bool tcp, bool udp)
{
	/* The jumps count instructions to DROP (14) and ACCEPT (15); keep
	 * them in step with the list.  A disabled protocol compares with
	 * NO_PROTO, which a byte never equals. */
	struct sock_filter code[] = {
		/* 0: A = offset of CTA_TUPLE_ORIG among the message's attributes */
		BPF_STMT(BPF_LD | BPF_IMM, ATTRS_OFFSET),
		BPF_STMT(BPF_LDX | BPF_IMM, CTA_TUPLE_ORIG),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (__u32)(SKF_AD_OFF + SKF_AD_NLATTR)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 11, 0),
		/* 4: A = offset of CTA_TUPLE_PROTO inside it */
		BPF_STMT(BPF_LDX | BPF_IMM, CTA_TUPLE_PROTO),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (__u32)(SKF_AD_OFF + SKF_AD_NLATTR_NEST)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 8, 0),
		/* 7: A = offset of CTA_PROTO_NUM inside that */
		BPF_STMT(BPF_LDX | BPF_IMM, CTA_PROTO_NUM),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (__u32)(SKF_AD_OFF + SKF_AD_NLATTR_NEST)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),
		/* 10: A = the protocol number, the attribute's payload byte */
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_IND, sizeof(struct nlattr)),
		/* 12: the protocols that pass */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, tcp ? IPPROTO_TCP : NO_PROTO, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, udp ? IPPROTO_UDP : NO_PROTO, 1, 0),
		/* 14 */
		BPF_STMT(BPF_RET | BPF_K, DROP),
		/* 15 */
		BPF_STMT(BPF_RET | BPF_K, ACCEPT),
	};
	struct sock_fprog prog = {
		.len = sizeof(code) / sizeof(code[0]),
		.filter = code,
	};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

int ct_filter_detach(int fd)
{
	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}
