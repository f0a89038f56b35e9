/* nft_query: asks nftables whether a table, flowtable, chain or set exists,
 * reads a table's or chain's comment and a flowtable's devices, one
 * request each. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft_query.h"

int nft_query_exists(struct nft_conn *c, uint16_t type, const char *table, const char *name)
{
	char buf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;
	int ret;

	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_ACK, c->seq++);
	switch (type) {
	case NFT_MSG_GETTABLE:
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
		break;
	case NFT_MSG_GETFLOWTABLE:
		mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_NAME, name);
		break;
	case NFT_MSG_GETCHAIN:
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
		break;
	case NFT_MSG_GETSET:
		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_SET_NAME, name);
		break;
	default:
		return -EINVAL;
	}
	/* The object itself comes first, then the ACK. */
	ret = nft_batch_request(c, nlh, NULL, NULL);
	if (ret == -ENOENT)
		return 0;
	return ret ? ret : 1;
}

struct comment_req {
	uint8_t udata_type;	/* NFTNL_UDATA_TABLE_COMMENT or _CHAIN_COMMENT */
	char *buf;
	size_t len;
	int found;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct comment_req *req = data;

	if (nftnl_udata_type(attr) == req->udata_type) {
		const char *v = nftnl_udata_get(attr);
		uint8_t len = nftnl_udata_len(attr);

		/* Only a NUL-terminated string inside its TLV counts. */
		if (len && v[len - 1] == '\0')
			snprintf(req->buf, req->len, "%s", v);
	}
	return MNL_CB_OK;
}

static int table_comment_cb(const struct nlmsghdr *m, void *arg)
{
	struct comment_req *req = arg;
	struct nftnl_table *t;
	uint32_t ulen = 0;
	const void *ud;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWTABLE)
		return 0;
	t = nftnl_table_alloc();
	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(m, t) == 0) {
		req->found = 1;
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &ulen);
		if (ud && ulen)
			nftnl_udata_parse(ud, ulen, comment_cb, req);
	}
	nftnl_table_free(t);
	return 0;
}

static int chain_comment_cb(const struct nlmsghdr *m, void *arg)
{
	struct comment_req *req = arg;
	struct nftnl_chain *c;
	uint32_t ulen = 0;
	const void *ud;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWCHAIN)
		return 0;
	c = nftnl_chain_alloc();
	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(m, c) == 0) {
		req->found = 1;
		ud = nftnl_chain_get_data(c, NFTNL_CHAIN_USERDATA, &ulen);
		if (ud && ulen)
			nftnl_udata_parse(ud, ulen, comment_cb, req);
	}
	nftnl_chain_free(c);
	return 0;
}

int nft_query_table_comment(struct nft_conn *c, const char *table, char *buf, size_t len)
{
	struct comment_req req = { NFTNL_UDATA_TABLE_COMMENT, buf, len, 0 };
	char rbuf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;
	int ret;

	buf[0] = '\0';
	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, c->seq++);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
	ret = nft_batch_request(c, nlh, table_comment_cb, &req);
	if (ret == -ENOENT)
		return 0;
	return ret ? ret : req.found;
}

int nft_query_chain_comment(struct nft_conn *c, const char *table, const char *chain, char *buf,
			    size_t len)
{
	struct comment_req req = { NFTNL_UDATA_CHAIN_COMMENT, buf, len, 0 };
	char rbuf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;
	int ret;

	buf[0] = '\0';
	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_ACK, c->seq++);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
	ret = nft_batch_request(c, nlh, chain_comment_cb, &req);
	if (ret == -ENOENT)
		return 0;
	return ret ? ret : req.found;
}

struct devices_req {
	char (*names)[CONFIG_IFNAMSIZ];
	size_t max, n;
	int found;
};

static int devices_msg_cb(const struct nlmsghdr *m, void *arg)
{
	struct devices_req *req = arg;
	struct nftnl_flowtable *ft;
	const char *const *devs;
	int ret = 0;

	if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWFLOWTABLE)
		return 0;
	ft = nftnl_flowtable_alloc();
	if (!ft)
		return -ENOMEM;
	if (nftnl_flowtable_nlmsg_parse(m, ft) == 0) {
		req->found = 1;
		devs = nftnl_flowtable_get_array(ft, NFTNL_FLOWTABLE_DEVICES);
		for (; devs && *devs && !ret; devs++) {
			if (req->n == req->max || strlen(*devs) >= CONFIG_IFNAMSIZ)
				ret = -E2BIG;
			else
				strcpy(req->names[req->n++], *devs);
		}
	}
	nftnl_flowtable_free(ft);
	return ret;
}

int nft_query_flowtable_devices(struct nft_conn *c, const char *table, const char *name,
				char (*names)[CONFIG_IFNAMSIZ], size_t max, size_t *n)
{
	struct devices_req req = { .names = names, .max = max };
	char rbuf[NFT_BATCH_RECV_BUF];
	struct nlmsghdr *nlh;
	int ret;

	*n = 0;
	nlh = nftnl_nlmsg_build_hdr(rbuf, NFT_MSG_GETFLOWTABLE, NFPROTO_INET, NLM_F_ACK, c->seq++);
	mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_NAME, name);
	ret = nft_batch_request(c, nlh, devices_msg_cb, &req);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	*n = req.n;
	return req.found;
}
