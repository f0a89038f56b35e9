/* ctl_client: flowoffloadctl's side of the control socket: send one
 * request, copy the reply out, return the daemon's status. */
#ifndef FLOWOFFLOAD_CTL_CLIENT_H
#define FLOWOFFLOAD_CTL_CLIENT_H

#include <stdio.h>

/* Send argv to the daemon on path, copy the reply to out.  Returns the
 * daemon's status (0 ok, 1 error) or a negative errno when it cannot be
 * reached or the reply is cut short. */
int ctl_client_request(const char *path, int argc, char **argv, FILE *out);

#endif
