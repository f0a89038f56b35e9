/* instance: one agent per control socket: an flock on a file beside the
 * socket (made in its directory, which is created if missing). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "instance.h"
#include "log.h"

/*
 * One agent per control socket.  The socket alone cannot be the lock: two
 * agents started at once both find no one answering, and the second's
 * unlink and bind would take the path from the first.  An flock on a file
 * beside it settles the race; the file stays after exit (removing it would
 * reopen the race for a starting agent that already opened it).
 */
/* The pid in the lock file of the agent that holds it.  The holder writes
 * it just after taking the lock: an agent started at the same moment may
 * read the file before that (empty, or a dead predecessor's pid), so it
 * waits up to half a second for a live pid (seen in a VM run of
 * reliability_ruleset_restored: the loser named no pid). */
static void holder_pid(int fd, char *pid, size_t len)
{
	ssize_t n;
	int tries;

	for (tries = 0; tries < 50; tries++) {
		n = pread(fd, pid, len - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (pid[0] && kill((pid_t)atoi(pid), 0) == 0)
			return;
		usleep(10 * 1000);
	}
}

/* The socket's directory: systemd's RuntimeDirectory makes it for the
 * service; an agent started by hand makes it (root-owned, 0755). */
static int make_socket_dir(const char *socket_path)
{
	char dir[sizeof(((struct fo_config *)0)->socket_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", socket_path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST) {
		int err = -errno;

		log_err("socket directory %s: %s; not starting", dir, strerror(errno));
		return err;
	}
	return 0;
}

/* The lock file is opened without following a symlink, and must be a
 * regular file of ours: a FIFO would block the open, a device or someone
 * else's file is not what we mean to write our pid into. */
static int lock_open(const char *path)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0) {
		err = -errno;
		log_err("lock file %s: %s; not starting", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		log_err("lock file %s: not a regular file; not starting (remove it)", path);
	} else if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
		err = -EPERM;
		log_err("lock file %s: owned by uid %u or writable by others; not starting (remove it)",
			path, (unsigned int)st.st_uid);
	} else {
		return fd;
	}
	close(fd);
	return err;
}

int instance_lock(const char *socket_path)
{
	char path[sizeof(((struct fo_config *)0)->socket_path) + 8], pid[24] = "";
	int fd, ret;

	ret = make_socket_dir(socket_path);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "%s.lock", socket_path);
	fd = lock_open(path);
	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

		if (err == -EADDRINUSE) {
			holder_pid(fd, pid, sizeof(pid));
			log_err("another flowoffloadd (pid %s) holds %s and answers on %s; not starting (nothing was changed)",
				pid[0] ? pid : "unknown", path, socket_path);
		} else {
			log_err("lock file %s: %s; not starting", path, strerror(-err));
		}
		close(fd);
		return err;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("lock file %s: cannot record our pid: %s", path, strerror(errno));
	return fd;
}
