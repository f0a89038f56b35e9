/* ctl_socket: the control socket's wire format, its file (cleared, bound
 * with its mode and group, unlinked only while ours) and who connects. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_int.h"
#include "log.h"

/* Supplementary groups of a peer looked at for the admin group. */
#define CTL_MAX_GROUPS 64

/*
 * Wire format: the request is the arguments separated by NUL bytes, ended by
 * an empty argument (two NULs); the reply is one status byte, the character
 * '0' (ok) or '1' (error), followed by the text, ended by the daemon closing
 * the socket.
 */

char ctl_status_byte(int err)
{
	return err ? '1' : '0';
}

int ctl_request_parse(char *buf, size_t len, char **argv)
{
	size_t off = 0;
	int argc = 0;

	for (;;) {
		char *nul;

		if (off >= len)
			return len >= CTL_MAX_REQUEST ? -EMSGSIZE : -EAGAIN;
		if (buf[off] == '\0') {
			argv[argc] = NULL;
			return argc;
		}
		if (argc == CTL_MAX_ARGS)
			return -EMSGSIZE;
		nul = memchr(buf + off, '\0', len - off);
		if (!nul)
			return len >= CTL_MAX_REQUEST ? -EMSGSIZE : -EAGAIN;
		argv[argc++] = buf + off;
		off = (size_t)(nul - buf) + 1;
	}
}

int ctl_sockaddr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* ---- the socket file ------------------------------------------------------------ */

/* Someone answering on the path means another daemon owns it. */
static bool path_alive(const char *path)
{
	struct sockaddr_un sun;
	bool alive;
	int fd;

	if (ctl_sockaddr(&sun, path))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return alive;
}

/* What is on the path already: nothing, or a socket no one answers on
 * (removed); anything else is not ours to remove. */
int ctl_path_clear(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("control socket %s: the path exists and is not a socket; not removing it",
			path);
		return -EEXIST;
	}
	if (path_alive(path))
		return -EADDRINUSE;
	return unlink(path) ? -errno : 0;
}

/* Bind with mode 0660 from the umask (nothing to chmod afterwards), then
 * set the group through an O_PATH descriptor of what was checked to be a
 * socket: no symlink is followed, and nothing swapped in after the check
 * (a hard link to another file) is changed. */
int ctl_bind_path(struct ctl *c, const struct sockaddr_un *sun, const char *group)
{
	struct stat st;
	mode_t old;
	int err, fd;

	old = umask(0117);
	err = bind(c->fd, (const struct sockaddr *)sun, sizeof(*sun)) ? -errno : 0;
	umask(old);
	if (err)
		return err;
	fd = open(c->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISSOCK(st.st_mode))
		err = -EEXIST;
	if (!err) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (!err && group && group[0]) {
		struct group *g = getgrnam(group);

		if (!g) {
			log_err("control socket %s: group '%s' does not exist; fix socket-group",
				c->path, group);
			err = -ENOENT;
		} else if (fchownat(fd, "", (uid_t)-1, g->gr_gid, AT_EMPTY_PATH)) {
			err = -errno;
		}
	}
	close(fd);
	return err;
}

/* Only the socket this ctl bound: never whatever took its path since. */
void ctl_unlink_ours(const struct ctl *c)
{
	struct stat st;

	if (!lstat(c->path, &st) && S_ISSOCK(st.st_mode) && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
}

/* ---- who connects ---------------------------------------------------------------- */

int ctl_admin_group(struct ctl *c, const char *name)
{
	struct group *g;

	if (!name || !name[0])
		return 0;
	g = getgrnam(name);
	if (!g) {
		log_err("control socket: admin-group '%s' does not exist; fix [agent] admin-group",
			name);
		return -ENOENT;
	}
	c->admin_gid = g->gr_gid;
	c->has_admin_group = true;
	return 0;
}

/* Who is on the other end: uid 0, or the admin group among its groups. */
int ctl_peer_identify(struct ctl *c, struct ctl_call *k)
{
	gid_t groups[CTL_MAX_GROUPS];
	socklen_t len = sizeof(struct ucred);
	struct ucred cred;
	size_t i;

	if (getsockopt(k->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	if (len != sizeof(cred))
		return -EPROTO;
	k->uid = cred.uid;
	k->admin = cred.uid == 0 || (c->has_admin_group && cred.gid == c->admin_gid);
	if (k->admin || !c->has_admin_group)
		return 0;
	len = sizeof(groups);
	/* SO_PEERGROUPS (4.13): the supplementary groups at connect time. */
	if (getsockopt(k->conn.fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return 0;
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == c->admin_gid)
			k->admin = true;
	return 0;
}
