/* instance: one agent per control socket, settled by an flock on the file
 * SOCKET.lock beside it. */
#ifndef FLOWOFFLOAD_INSTANCE_H
#define FLOWOFFLOAD_INSTANCE_H

/*
 * Make the socket's directory if missing, open SOCKET.lock (a regular file
 * of ours, no symlink followed), take its flock and write our pid into it.
 * The lock's fd (kept open for the agent's life), or a negative errno after
 * logging why: -EADDRINUSE when another agent holds it (its pid named).
 */
int instance_lock(const char *socket_path);

#endif
