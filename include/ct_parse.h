/* ct_parse: the parser for ctnetlink conntrack messages (events and dump
 * entries) into struct ct_info, without allocating. */
#ifndef FLOWOFFLOAD_CT_PARSE_H
#define FLOWOFFLOAD_CT_PARSE_H

#include "flows.h"

struct nlmsghdr;

enum ct_msg {
	CT_MSG_NEW = 0,
	CT_MSG_UPDATE,
	CT_MSG_DESTROY,
	CT_MSG_DUMP,	/* an entry of a dump reply */
};

typedef void (*ct_cb)(enum ct_msg type, const struct ct_info *ct, void *arg);

/* Parse one ctnetlink message (IPCTNL_MSG_CT_NEW or _DELETE) into ct.
 * Unknown attributes are ignored.  0, or -EINVAL when the message is not a
 * conntrack message or lacks the original tuple. */
int ct_parse(const struct nlmsghdr *nlh, struct ct_info *ct, enum ct_msg *type);

#endif
