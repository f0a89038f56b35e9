/* ctl: the daemon's control socket (/run/flowoffload.sock): one command line
 * in, one reply out, then close; flowoffloadctl is the client. */
#ifndef FLOWOFFLOAD_CTL_H
#define FLOWOFFLOAD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct loop;
struct ctl;
struct ctl_call;
struct sockaddr_un;

/* The socket's address for path (both ends use it): 0, or -ENAMETOOLONG. */
int ctl_sockaddr(struct sockaddr_un *sun, const char *path);

/* Bounds of a request: its bytes (NUL-separated arguments ended by an
 * empty one) and its arguments. */
#define CTL_MAX_REQUEST 1024
#define CTL_MAX_ARGS 16

/* Handle one request: argv as sent by the client (argv[0] is the command),
 * the reply's beginning written to out.  Returns 0, or a negative errno
 * after writing an error message to out.  call says who asks, and lets a
 * long answer continue from a cursor (ctl_call_stream). */
typedef int (*ctl_handler)(struct ctl_call *call, int argc, char **argv, FILE *out, void *arg);

/* The next piece of a streamed answer, written to out: at most a bounded
 * chunk.  > 0: more to come; 0: done; < 0: stop (the reply ends there). */
typedef int (*ctl_next)(void *state, FILE *out);

/* Continue the answer with next(state, out) each time the client has taken
 * what was written so far; release(state) when the client is gone or the
 * stream is done.  Called from the handler, once. */
void ctl_call_stream(struct ctl_call *call, ctl_next next, void (*release)(void *), void *state);

/* May the client change state (reload)?  uid 0, or a member of the admin
 * group (primary or supplementary group, as SO_PEERCRED/SO_PEERGROUPS say). */
/* Answer later: a handler that needs fresh data calls this and returns 0
 * (what it wrote is dropped); the same request is handled again when the
 * owner calls ctl_resume(), or after 3 s at the latest, and then
 * ctl_call_resumed() is true (ctl_call_wait does nothing then).  The
 * client's reply deadlines start from that second answer. */
void ctl_call_wait(struct ctl_call *call);
bool ctl_call_resumed(const struct ctl_call *call);
void ctl_resume(struct ctl *c);

bool ctl_call_admin(const struct ctl_call *call);
uid_t ctl_call_uid(const struct ctl_call *call);

/* Every way a client can fail, counted (flowoffloadctl stats, "control"). */
struct ctl_stats {
	uint64_t accepted;		/* clients served (not refused as busy) */
	uint64_t busy_refused;		/* over the cap of concurrent clients */
	uint64_t accept_errors;		/* accept4 failed (EMFILE...), or no memory for it */
	uint64_t peercred_errors;	/* no SO_PEERCRED: refused */
	uint64_t request_timeouts;	/* the whole request not in within its deadline */
	uint64_t request_too_long;	/* more than CTL_MAX_REQUEST bytes or CTL_MAX_ARGS */
	uint64_t request_empty;		/* no command */
	uint64_t request_closed;	/* the client left before ending its request */
	uint64_t reply_idle_timeouts;	/* the client took nothing for the idle time */
	uint64_t reply_timeouts;	/* the whole reply not taken within its deadline */
	uint64_t reply_errors;		/* send failed: the client went away */
	uint64_t reply_oom;		/* no memory for a chunk: the reply cut short */
	uint64_t denied;		/* a state-changing command from a non-admin */
	uint64_t streamed;		/* replies produced from a cursor */
	uint64_t waited;		/* requests that waited for fresh data (ctl_call_wait) */
	uint64_t wait_timeouts;		/* of those, answered with what there was after 3 s */
	uint64_t clients;		/* connected now */
	uint64_t max_clients;		/* highest "clients" seen */
};

struct ctl_options {
	const char *path;		/* the socket */
	const char *group;		/* its group; NULL or "": root's */
	const char *admin_group;	/* may change state; NULL or "": uid 0 only */
	ctl_handler handler;
	void *arg;
};

/* Listen on path (mode 0660, group if non-empty).  Refuses with -EADDRINUSE
 * when another process answers on path (a second agent); a stale socket
 * is replaced, anything else on the path (a file, a symlink) is refused
 * with -EEXIST. */
int ctl_open(struct ctl **out, struct loop *l, const struct ctl_options *o);
void ctl_close(struct ctl *c);
const struct ctl_stats *ctl_stats(const struct ctl *c);

/* The wire format, shared by both sides (and the unit and fuzz tests). */

/* Split a request of len bytes in buf: 0..CTL_MAX_ARGS arguments into argv
 * (pointers into buf), ended by an empty argument.  Returns argc, -EAGAIN
 * when the terminating empty argument has not arrived yet (more bytes may
 * make it complete), -EMSGSIZE when it can never fit the bounds. */
int ctl_request_parse(char *buf, size_t len, char **argv);

/* The reply's first byte: the single character '0' (ok) or '1' (error),
 * whatever the byte order of the machine. */
char ctl_status_byte(int err);

#endif
