/* ctl_int: the control socket's state, shared by its two files: the clients
 * (ctl.c) and the socket file and its peers (ctl_socket.c). */
#ifndef FLOWOFFLOAD_CTL_INT_H
#define FLOWOFFLOAD_CTL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "conns.h"
#include "ctl.h"

enum client_state { CLIENT_REQUEST, CLIENT_WAIT, CLIENT_REPLY };

struct ctl_call {
	struct conn conn;	/* first: conns' list holds it */
	struct ctl *c;
	enum client_state state;
	char req[CTL_MAX_REQUEST];
	size_t req_len;
	uint64_t deadline_ms;	/* request or whole reply */
	uint64_t idle_ms;	/* reply: last time the client took bytes */
	uid_t uid;
	bool admin;
	bool wait;		/* the handler asked to answer later */
	bool resumed;		/* this is that later answer */
	char *out;		/* the chunk being sent */
	size_t out_len, out_off;
	ctl_next next;		/* a streamed answer: more chunks */
	void (*release)(void *);
	void *state_arg;
};

struct ctl {
	struct loop *l;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;		/* the socket file we bound: only it is unlinked */
	ino_t ino;
	gid_t admin_gid;
	bool has_admin_group;
	ctl_handler handler;
	void *arg;
	struct conns clients;
	struct ctl_stats st;
};

/* ctl_socket.c.  What is on the path already: nothing, or a socket no one
 * answers on (removed); anything else is not ours to remove. */
int ctl_path_clear(const char *path);
/* Bind c->fd to sun with mode 0660 and group (NULL or "": root's), and
 * remember which file it made. */
int ctl_bind_path(struct ctl *c, const struct sockaddr_un *sun, const char *group);
/* Remove the socket file, only if it is still the one c bound. */
void ctl_unlink_ours(const struct ctl *c);
/* The admin group by name (NULL or "": none, uid 0 alone is admin). */
int ctl_admin_group(struct ctl *c, const char *name);
/* k's uid and whether it is admin, from SO_PEERCRED (and SO_PEERGROUPS). */
int ctl_peer_identify(struct ctl *c, struct ctl_call *k);

#endif
