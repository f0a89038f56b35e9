/* privs: the daemon's identity and capabilities: check at startup that it
 * has what it needs, switch to its own user, and drop everything else. */
#ifndef FLOWOFFLOAD_PRIVS_H
#define FLOWOFFLOAD_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Is capability cap (CAP_*) in this process's effective set?  1 yes, 0 no,
 * or a negative errno. */
int privs_has(int cap);

/* The user the daemon runs as ([agent] user and group, or -u). */
struct privs_user {
	bool set;		/* false: stay who we are */
	uid_t uid;
	gid_t gid;
	char name[64];		/* as configured, for messages */
};

/* Resolve user (a name in the password database, else a decimal uid) and
 * group (likewise; empty: the user's primary group, or for a bare uid the
 * same number).  An empty user leaves out->set false.  0, or -ENOENT with
 * the reason in err. */
int privs_user_lookup(const char *user, const char *group, struct privs_user *out, char *err,
		      size_t errlen);

/* Shrink the bounding set to keep when allowed (CAP_SETPCAP); when user is
 * set and any of our uids or gids differs from it, become it (no
 * supplementary groups; capabilities kept across the change); then keep
 * only the capabilities whose bits are set in keep (1 << CAP_*) in the
 * effective and permitted sets, clear the inheritable and ambient sets and
 * set no_new_privs.  keep must be in the permitted set.  0, or a negative
 * errno and err says which step failed. */
int privs_drop(uint64_t keep, const struct privs_user *user, char *err, size_t errlen);

/* The process's effective set as a bit mask (what /proc/PID/status shows
 * as CapEff), or 0 when it cannot be read. */
uint64_t privs_effective(void);

#endif
