/* ctl: the daemon's control socket (/run/flowoffload.sock): one command line
 * in, one reply out, then close; flowoffloadctl is the client. */
#ifndef FLOWOFFLOAD_CTL_H
#define FLOWOFFLOAD_CTL_H

#include <stdbool.h>
#include <stdio.h>

struct loop;
struct ctl;

/* Handle one request: argv as sent by the client (argv[0] is the command),
 * the reply written to out.  Returns 0, or a negative errno after writing
 * an error message to out. */
typedef int (*ctl_handler)(int argc, char **argv, FILE *out, void *arg);

/* Listen on path (mode 0660, group if non-empty).  Refuses with -EADDRINUSE
 * when another process answers on path (a second agent); a stale socket
 * file is replaced. */
int ctl_open(struct ctl **out, struct loop *l, const char *path, const char *group,
	     ctl_handler handler, void *arg);
void ctl_close(struct ctl *c);

/* Client side: send argv, copy the reply to out.  Returns the daemon's
 * status (0 ok, 1 error) or a negative errno when it cannot be reached. */
int ctl_request(const char *path, int argc, char **argv, FILE *out);

#endif
