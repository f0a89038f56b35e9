/* privs: capabilities through the raw capget/capset and prctl system calls
 * (no libcap): the startup check and the drop after the sockets are open. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
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

int privs_drop(uint64_t keep, char *err, size_t errlen)
{
	struct __user_cap_data_struct d[2];
	uint64_t have, left;
	int cap, ret;

	ret = caps_get(d);
	if (ret) {
		snprintf(err, errlen, "capget: %s", strerror(-ret));
		return ret;
	}
	have = set_of(d[0].permitted, d[1].permitted);
	keep &= have;

	/* The bounding set limits what any later execve could regain; only
	 * CAP_SETPCAP may shrink it, so it goes first.  The kernel's last
	 * capability is where PR_CAPBSET_READ starts saying EINVAL. */
	if ((set_of(d[0].effective, d[1].effective) >> CAP_SETPCAP) & 1) {
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
	}
	/* Ambient capabilities would survive an execve; EINVAL on kernels
	 * before 4.3, which have none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		ret = -errno;
		snprintf(err, errlen, "clearing the ambient capabilities: %s", strerror(errno));
		return ret;
	}

	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	d[0].inheritable = d[1].inheritable = 0;
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
