/* shaping: which devices shape (root qdiscs, ingress redirects to ifb), read
 * over rtnetlink and kept current, and what that means for one flow's path. */
#ifndef FLOWOFFLOAD_SHAPING_H
#define FLOWOFFLOAD_SHAPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct nlmsghdr;
struct loop;
struct ct_info;
struct ruleset_plan;

/* One device as the path walk needs it. */
struct shaping_dev {
	int ifindex;
	char name[CONFIG_IFNAMSIZ];
	int master;		/* IFLA_MASTER: the bridge of a port; 0: none */
	int lower;		/* IFLA_LINK of a stacked device (VLAN); 0: none */
	bool bridge;		/* IFLA_INFO_KIND "bridge" */
	bool ifb;		/* IFLA_INFO_KIND "ifb" */
	bool ingress;		/* has an ingress or clsact qdisc */
	char shaper[16];	/* kind of a root qdisc that shapes; "": none */
};

/* One RTM_NEWQDISC, classified. */
struct shaping_qdisc {
	int ifindex;
	char kind[16];
	bool root;		/* parent TC_H_ROOT */
	bool ingress;		/* an ingress or clsact qdisc */
	bool shapes;		/* a rate limit: tbf, htb, hfsc, cbq, cake with a bandwidth */
};

/* A snapshot of the namespace's devices and qdiscs. */
struct shaping_set {
	struct shaping_dev *devs;
	size_t n, cap;
	bool ifb_shapes;	/* some ifb device has a shaping root qdisc */
};

/* What a flow's path means: ifindexes of shaped devices, 0 for none. */
struct shaping_verdict {
	int off_hw;		/* a shaper the hardware tier would skip (any) */
	int off_sw;		/* a shaper the software fast path would skip */
};

/* Pure: an RTM_NEWLINK into *d (qdisc fields cleared): 1, or 0 when the
 * message is not a usable link. */
int shaping_parse_link(const struct nlmsghdr *nlh, struct shaping_dev *d);
/* Pure: an RTM_NEWQDISC into *q: 1, or 0 when it is not a qdisc message. */
int shaping_parse_qdisc(const struct nlmsghdr *nlh, struct shaping_qdisc *q);
/* Pure: fold a classified qdisc into the set (its device must be there). */
void shaping_set_qdisc(struct shaping_set *s, const struct shaping_qdisc *q);
int shaping_set_add(struct shaping_set *s, const struct shaping_dev *d);
void shaping_set_clear(struct shaping_set *s);
const struct shaping_dev *shaping_set_find(const struct shaping_set *s, int ifindex);
/* Pure: is the device a shaper on a flow's path (its root qdisc shapes,
 * or it redirects its ingress while an ifb shapes)? */
bool shaping_dev_shaped(const struct shaping_set *s, const struct shaping_dev *d);

/*
 * Pure: the shapers on the path out of device egress (the route's device)
 * and the devices under it (VLAN lower devices, a bridge's ports), merged
 * into *v.  sw_hooked(name, arg) says whether the software flowtable hooks
 * a device: the fast path then transmits on a bridge's port directly.
 */
void shaping_path(const struct shaping_set *s, int egress,
		  bool (*sw_hooked)(const char *name, void *arg), void *arg,
		  struct shaping_verdict *v);

/* ---- the watcher -------------------------------------------------------------- */

struct shaping;

struct shaping_stats {
	uint64_t events;	/* qdisc and link notifications read */
	uint64_t reads;		/* device and qdisc dumps read */
	uint64_t failures;	/* dumps that failed (the previous set is kept) */
	uint64_t shaped_devs;	/* devices that shape, at the last read */
	uint64_t lookups;	/* flows whose path was looked up */
	uint64_t off_hw;	/* flows kept off the hardware tier */
	uint64_t off_sw;	/* flows kept off the flowtable */
};

/* cfg and plan are the agent's, read at each use. */
int shaping_open(struct shaping **out, struct loop *l, const struct fo_config *cfg,
		 const struct ruleset_plan *plan);
/* Read the devices and qdiscs now, then follow notifications. */
int shaping_start(struct shaping *s);
void shaping_close(struct shaping *s);

/* The flow's verdict: both directions' egress devices (route lookups, only
 * while some device shapes and the policy is not ignore). */
void shaping_flow(struct shaping *s, const struct ct_info *ct, struct shaping_verdict *v);
const struct shaping_stats *shaping_stats(const struct shaping *s);
/* The devices and qdiscs as last read. */
const struct shaping_set *shaping_current(const struct shaping *s);

/* A flow records its shaper's device in 3 bits: slots 1..7 name the first
 * seven shaped devices the agent met (by ifindex, the name as then), 0 is
 * any other.  Process-wide: flows of every table share them. */
unsigned int shaping_slot(int ifindex);
const char *shaping_slot_name(unsigned int slot);

#endif
