/* privs: the daemon's capabilities: check at startup that it has what it
 * needs, and drop everything else once its sockets are open. */
#ifndef FLOWOFFLOAD_PRIVS_H
#define FLOWOFFLOAD_PRIVS_H

#include <stddef.h>
#include <stdint.h>

/* Is capability cap (CAP_*) in this process's effective set?  1 yes, 0 no,
 * or a negative errno. */
int privs_has(int cap);

/* Keep only the capabilities whose bits are set in keep (1 << CAP_*) in the
 * effective and permitted sets, clear the inheritable and ambient sets,
 * shrink the bounding set to keep when allowed (CAP_SETPCAP), and set
 * no_new_privs.  The uid stays.  0, or a negative errno and err says which
 * step failed. */
int privs_drop(uint64_t keep, char *err, size_t errlen);

/* The process's effective set as a bit mask (what /proc/PID/status shows
 * as CapEff), or 0 when it cannot be read. */
uint64_t privs_effective(void);

#endif
