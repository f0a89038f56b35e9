/* privs: the daemon's identity and capabilities, through the raw capget/capset
 * and prctl system calls (no libcap): the startup check, the switch to a
 * dedicated user and the drop to CAP_NET_ADMIN alone. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "privs.h"

/*
 * Version 3 of the interface: two 32-bit words per set, capabilities 0..63.
 * glibc has no wrapper for capget/capset; libcap would be the only reason
 * to depend on another library, for four system calls.
 */

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	memset(d, 0, 2 * sizeof(*d));
	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static uint64_t set_of(uint32_t lo, uint32_t hi)
{
	return (uint64_t)hi << 32 | lo;
}

uint64_t privs_effective(void)
{
	struct __user_cap_data_struct d[2];

	if (caps_get(d))
		return 0;
	return set_of(d[0].effective, d[1].effective);
}

int privs_has(int cap)
{
	struct __user_cap_data_struct d[2];
	int ret;

	if (cap < 0 || cap > 63)
		return -EINVAL;
	ret = caps_get(d);
	if (ret)
		return ret;
	return (set_of(d[0].effective, d[1].effective) >> cap) & 1;
}

/* ---- the user ---------------------------------------------------------------- */

/* A decimal id that fits uid_t/gid_t (and is not (uid_t)-1), or -1. */
static long long number_of(const char *s)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v >= UINT32_MAX)
			return -1;
	}
	return (long long)v;
}

int privs_user_lookup(const char *user, const char *group, struct privs_user *out, char *err,
		      size_t errlen)
{
	const struct passwd *pw;
	const struct group *gr;
	long long id;

	memset(out, 0, sizeof(*out));
	if (!user || !*user)
		return 0;
	/* The password database first: a user may be named by digits. */
	pw = getpwnam(user);
	id = number_of(user);
	if (!pw && id < 0) {
		snprintf(err, errlen, "user '%s' does not exist; create it or fix [agent] user",
			 user);
		return -ENOENT;
	}
	out->uid = pw ? pw->pw_uid : (uid_t)id;
	if (group && *group) {
		gr = getgrnam(group);
		id = number_of(group);
		if (!gr && id < 0) {
			snprintf(err, errlen,
				 "group '%s' does not exist; create it or fix [agent] group",
				 group);
			return -ENOENT;
		}
		out->gid = gr ? gr->gr_gid : (gid_t)id;
	} else if (pw) {
		out->gid = pw->pw_gid;
	} else {
		/* A bare uid has no primary group: the same number, as
		 * systemd's DynamicUser and most container images do. */
		out->gid = (gid_t)id;
	}
	out->set = true;
	snprintf(out->name, sizeof(out->name), "%s", user);
	return 0;
}

/* ---- the drop ---------------------------------------------------------------- */

/* The bounding set limits what any later execve could regain; only
 * CAP_SETPCAP may shrink it, so it goes first, while we have it.  The
 * kernel's last capability is where PR_CAPBSET_READ starts saying EINVAL. */
static int shrink_bounding(uint64_t effective, uint64_t keep, char *err, size_t errlen)
{
	int cap, ret;

	if (!((effective >> CAP_SETPCAP) & 1))
		return 0;
	for (cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break;
		if ((keep >> cap) & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			ret = -errno;
			snprintf(err, errlen, "dropping capability %d from the bounding set: %s",
				 cap, strerror(errno));
			return ret;
		}
	}
	return 0;
}

/*
 * Become u: no supplementary groups (the agent needs none: its sockets
 * are open, its config is read by its primary group or by all), the gid,
 * then the uid, all three ids of each so nothing can switch back.
 * PR_SET_KEEPCAPS keeps the permitted set across the uid change (the
 * kernel clears it when the last uid 0 goes); the effective set is cleared
 * all the same and raised again by the caller's capset.
 */
static int switch_user(const struct privs_user *u, char *err, size_t errlen)
{
	const char *step;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		step = "PR_SET_KEEPCAPS";
		goto fail;
	}
	if (setgroups(0, NULL)) {
		step = "setgroups (clearing the supplementary groups)";
		goto fail;
	}
	if (setresgid(u->gid, u->gid, u->gid)) {
		step = "setresgid";
		goto fail;
	}
	if (setresuid(u->uid, u->uid, u->uid)) {
		step = "setresuid";
		goto fail;
	}
	/* Back to the default: an execve would clear it anyway. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		step = "clearing PR_SET_KEEPCAPS";
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "switching to user %s (uid %u, gid %u): %s: %s", u->name,
		 (unsigned int)u->uid, (unsigned int)u->gid, step, strerror(errno));
	return errno ? -errno : -EPERM;
}

/* After a switch: every id is the user's, no group is left, and the way
 * back to uid 0 is closed. */
static int check_user(const struct privs_user *u, char *err, size_t errlen)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg)) {
		snprintf(err, errlen, "getresuid/getresgid: %s", strerror(errno));
		return -errno;
	}
	if (r != u->uid || e != u->uid || s != u->uid || rg != u->gid || eg != u->gid ||
	    sg != u->gid || getgroups(0, NULL) != 0) {
		snprintf(err, errlen,
			 "after the switch the ids are uid %u/%u/%u gid %u/%u/%u, wanted %u/%u",
			 (unsigned int)r, (unsigned int)e, (unsigned int)s, (unsigned int)rg,
			 (unsigned int)eg, (unsigned int)sg, (unsigned int)u->uid,
			 (unsigned int)u->gid);
		return -EPERM;
	}
	if (u->uid != 0 && setresuid(0, 0, 0) == 0) {
		snprintf(err, errlen, "uid 0 could be regained after the switch");
		return -EPERM;
	}
	return 0;
}

/* Should the process switch to u?  Yes when any of its ids differs. */
static bool needs_switch(const struct privs_user *u)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (!u || !u->set)
		return false;
	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg))
		return true;
	return r != u->uid || e != u->uid || s != u->uid || rg != u->gid || eg != u->gid ||
	       sg != u->gid;
}

static int set_caps(uint64_t keep, char *err, size_t errlen)
{
	struct __user_cap_data_struct d[2];
	uint64_t left;
	int ret;

	/* Ambient capabilities would survive an execve; EINVAL on kernels
	 * before 4.3, which have none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		ret = -errno;
		snprintf(err, errlen, "clearing the ambient capabilities: %s", strerror(errno));
		return ret;
	}
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	ret = caps_set(d);
	if (ret) {
		snprintf(err, errlen, "capset: %s", strerror(-ret));
		return ret;
	}
	/* No execve may ever grant more: not setuid binaries, not file
	 * capabilities, not uid 0's rule that an exec refills the sets. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return ret;
	}
	ret = caps_get(d);
	if (ret) {
		snprintf(err, errlen, "capget after the drop: %s", strerror(-ret));
		return ret;
	}
	left = set_of(d[0].effective, d[1].effective) | set_of(d[0].permitted, d[1].permitted);
	if (left != keep) {
		snprintf(err, errlen, "capabilities left 0x%016llx, wanted 0x%016llx",
			 (unsigned long long)left, (unsigned long long)keep);
		return -EPERM;
	}
	return 0;
}

int privs_drop(uint64_t keep, const struct privs_user *user, char *err, size_t errlen)
{
	struct __user_cap_data_struct d[2];
	uint64_t have;
	int ret;

	ret = caps_get(d);
	if (ret) {
		snprintf(err, errlen, "capget: %s", strerror(-ret));
		return ret;
	}
	have = set_of(d[0].permitted, d[1].permitted);
	if ((keep & have) != keep) {
		snprintf(err, errlen,
			 "capabilities 0x%016llx are needed, the permitted set has 0x%016llx",
			 (unsigned long long)keep, (unsigned long long)have);
		return -EPERM;
	}
	ret = shrink_bounding(set_of(d[0].effective, d[1].effective), keep, err, errlen);
	if (ret)
		return ret;
	if (needs_switch(user)) {
		ret = switch_user(user, err, errlen);
		if (!ret)
			ret = check_user(user, err, errlen);
		if (ret)
			return ret;
	}
	return set_caps(keep, err, errlen);
}
