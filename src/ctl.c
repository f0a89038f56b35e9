/* ctl: the daemon's control socket (/run/flowoffload.sock): one command line
 * in, one reply out, then close; flowoffloadctl is the client. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_int.h"
#include "log.h"
#include "loop.h"

/*
 * Every client is a small state machine inside the event loop: its request
 * is read as it arrives, its reply leaves as the socket takes it, and nothing
 * ever waits for a client.  A client costs one bounded chunk of reply (a
 * streamed answer is produced chunk by chunk from a cursor) and is bounded
 * in time: CTL_REQUEST_MS for the whole request, CTL_IDLE_MS without taking
 * a byte of its reply, CTL_REPLY_MS for the whole reply.
 */
#define CTL_REQUEST_MS 2000
#define CTL_IDLE_MS 20000
#define CTL_REPLY_MS (10 * 60 * 1000)
#define CTL_SWEEP_MS 250
/* The longest a request waits for fresh data (ctl_call_wait) before it is
 * answered with what there is: a status dump of a million conntracks takes
 * about 0.4 s of CPU, so this is slack for a loaded router. */
#define CTL_WAIT_MS 3000
/* Eight clients at once: flowoffloadctl, a monitoring scraper and a few
 * people; more is someone holding slots. */
#define CTL_MAX_CLIENTS 8
/* Per wakeup of one client: at most this many bytes sent and chunks made,
 * so one fast reader of a million flows cannot starve the loop. */
#define CTL_SEND_BUDGET (256 * 1024)
#define CTL_CHUNK_BUDGET 8

/* ---- clients ------------------------------------------------------------------ */

static void client_free(struct ctl_call *k)
{
	conns_remove(&k->c->clients, &k->conn);
	if (k->release)
		k->release(k->state_arg);
	free(k->out);
	free(k);
}

void ctl_call_stream(struct ctl_call *call, ctl_next next, void (*release)(void *), void *state)
{
	call->next = next;
	call->release = release;
	call->state_arg = state;
	call->c->st.streamed++;
}

void ctl_call_wait(struct ctl_call *call)
{
	if (!call->resumed)
		call->wait = true;
}

bool ctl_call_resumed(const struct ctl_call *call)
{
	return call->resumed;
}

bool ctl_call_admin(const struct ctl_call *call)
{
	return call->admin;
}

uid_t ctl_call_uid(const struct ctl_call *call)
{
	return call->uid;
}

/* The next chunk of a streamed answer into k->out.  0 with k->out_len 0
 * when the stream is over. */
static int next_chunk(struct ctl_call *k)
{
	FILE *f;
	int more;

	free(k->out);
	k->out = NULL;
	k->out_len = k->out_off = 0;
	if (!k->next)
		return 0;
	f = open_memstream(&k->out, &k->out_len);
	if (!f)
		return -ENOMEM;
	more = k->next(k->state_arg, f);
	if (fclose(f))
		return -ENOMEM;
	if (more <= 0) {
		k->next = NULL;
		if (k->release)
			k->release(k->state_arg);
		k->release = NULL;
	}
	return 0;
}

/* Send what the socket takes, making chunks as the previous ones leave.
 * Returns 1 while there is more, 0 when the reply is complete, -errno. */
static int client_send(struct ctl_call *k)
{
	size_t budget = CTL_SEND_BUDGET;
	int chunks = CTL_CHUNK_BUDGET, err;

	while (budget) {
		ssize_t w;

		if (k->out_off == k->out_len) {
			if (!k->next)
				return 0;
			if (!chunks--)
				return 1;
			err = next_chunk(k);
			if (err) {
				k->c->st.reply_oom++;
				return err;
			}
			continue;
		}
		w = send(k->conn.fd, k->out + k->out_off,
			 k->out_len - k->out_off < budget ? k->out_len - k->out_off : budget,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 1;
			k->c->st.reply_errors++;
			return -errno;
		}
		k->out_off += (size_t)w;
		budget -= (size_t)w;
		k->idle_ms = loop_now_ms();
	}
	return 1;
}

static void client_write(struct ctl_call *k)
{
	int ret = client_send(k);

	if (ret <= 0) {
		/* Done: say so with an orderly close (the status byte and the
		 * text are all the client waits for). */
		if (ret == 0)
			shutdown(k->conn.fd, SHUT_WR);
		client_free(k);
	}
}

/* The request is complete: run the handler into the first chunk, status
 * byte first, and start sending. */
static void client_answer(struct ctl_call *k, int argc, char **argv)
{
	struct ctl *c = k->c;
	FILE *f;
	int err;

	f = open_memstream(&k->out, &k->out_len);
	if (!f) {
		c->st.reply_oom++;
		client_free(k);
		return;
	}
	fputc('0', f);
	if (argc == 0) {
		c->st.request_empty++;
		fputs("empty request\n", f);
		err = -EINVAL;
	} else {
		err = c->handler(k, argc, argv, f, c->arg);
		if (err == -EPERM)
			c->st.denied++;
	}
	if (fclose(f) || !k->out_len) {
		c->st.reply_oom++;
		client_free(k);
		return;
	}
	if (k->wait && !err) {
		/* Asked again by ctl_resume, or at the deadline; what the
		 * handler wrote meanwhile is dropped, and only a hangup of
		 * the client is watched. */
		k->wait = false;
		if (k->next) {
			k->next = NULL;
			if (k->release)
				k->release(k->state_arg);
			k->release = NULL;
		}
		free(k->out);
		k->out = NULL;
		k->out_len = 0;
		k->state = CLIENT_WAIT;
		k->deadline_ms = loop_now_ms() + CTL_WAIT_MS;
		c->st.waited++;
		if (loop_mod_fd(c->l, k->conn.fd, 0)) {
			c->st.reply_errors++;
			client_free(k);
		}
		return;
	}
	k->wait = false;
	/* Written last: the handler's own output cannot touch it. */
	k->out[0] = ctl_status_byte(err);
	if (err && k->next) {
		/* An error after starting a stream: nothing more. */
		k->next = NULL;
		if (k->release)
			k->release(k->state_arg);
		k->release = NULL;
	}
	k->state = CLIENT_REPLY;
	k->idle_ms = loop_now_ms();
	k->deadline_ms = k->idle_ms + CTL_REPLY_MS;
	if (loop_mod_fd(c->l, k->conn.fd, EPOLLOUT)) {
		c->st.reply_errors++;
		client_free(k);
		return;
	}
	client_write(k);
}

/* A request that cannot fit gets its error as a reply. */
static void client_refuse(struct ctl_call *k, const char *msg)
{
	struct ctl *c = k->c;
	size_t n = strlen(msg);

	k->out = malloc(n + 1);
	if (!k->out || loop_mod_fd(c->l, k->conn.fd, EPOLLOUT)) {
		c->st.reply_oom++;
		client_free(k);
		return;
	}
	k->out[0] = ctl_status_byte(-EINVAL);
	memcpy(k->out + 1, msg, n);
	k->out_len = n + 1;
	k->state = CLIENT_REPLY;
	k->idle_ms = loop_now_ms();
	k->deadline_ms = k->idle_ms + CTL_REPLY_MS;
	client_write(k);
}

static void client_read(struct ctl_call *k)
{
	char *argv[CTL_MAX_ARGS + 1];
	ssize_t r;
	int argc;

	r = recv(k->conn.fd, k->req + k->req_len, sizeof(k->req) - k->req_len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		k->c->st.request_closed++;
		client_free(k);
		return;
	}
	k->req_len += (size_t)r;
	argc = ctl_request_parse(k->req, k->req_len, argv);
	if (argc == -EAGAIN)
		return;
	if (argc < 0) {
		k->c->st.request_too_long++;
		client_refuse(k, "request too long: at most 1024 bytes and 16 arguments\n");
		return;
	}
	client_answer(k, argc, argv);
}

/* A waiting client's turn: its request (still in k->req) is handled again,
 * and this time answered. */
static void client_resume(struct ctl_call *k)
{
	char *argv[CTL_MAX_ARGS + 1];
	int argc = ctl_request_parse(k->req, k->req_len, argv);

	k->resumed = true;
	if (argc < 0) {		/* it parsed before: cannot happen */
		client_free(k);
		return;
	}
	client_answer(k, argc, argv);
}

void ctl_resume(struct ctl *c)
{
	struct conn *p, *n;

	for (p = c->clients.head; p; p = n) {
		struct ctl_call *k = (struct ctl_call *)p;

		n = p->link;
		if (k->state == CLIENT_WAIT)
			client_resume(k);
	}
}

static void on_client(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ctl_call *k = arg;

	(void)l;
	(void)fd;
	if (k->state == CLIENT_WAIT) {
		/* Only EPOLLERR or EPOLLHUP come here: the client is gone. */
		k->c->st.request_closed++;
		client_free(k);
	} else if (k->state == CLIENT_REQUEST)
		client_read(k);
	else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		client_write(k);
}

/* Deadlines: the whole request, then the reply (idle and whole). */
static void on_sweep(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ctl *c = arg;
	uint64_t now = loop_now_ms();
	struct conn *p, *n;

	(void)l;
	(void)t;
	for (p = c->clients.head; p; p = n) {
		struct ctl_call *k = (struct ctl_call *)p;

		n = p->link;
		if (k->state == CLIENT_REQUEST && now >= k->deadline_ms) {
			c->st.request_timeouts++;
			log_debug("control client uid %u: request not complete within %d ms; closed",
				  (unsigned int)k->uid, CTL_REQUEST_MS);
			client_free(k);
		} else if (k->state == CLIENT_WAIT && now >= k->deadline_ms) {
			c->st.wait_timeouts++;
			client_resume(k);
		} else if (k->state == CLIENT_REPLY && now - k->idle_ms >= CTL_IDLE_MS) {
			c->st.reply_idle_timeouts++;
			client_free(k);
		} else if (k->state == CLIENT_REPLY && now >= k->deadline_ms) {
			c->st.reply_timeouts++;
			client_free(k);
		}
	}
}

/* A client over the cap: one non-blocking try at telling it why. */
static void refuse_busy(struct ctl *c, int fd)
{
	char msg[96];
	int n;

	c->st.busy_refused++;
	n = snprintf(msg, sizeof(msg), "%cbusy: %d control clients connected already; try again\n",
		     ctl_status_byte(-EBUSY), CTL_MAX_CLIENTS);
	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control socket: cannot tell a refused client: %s", strerror(errno));
	close(fd);
}

/* One accept per wakeup: the listening socket stays readable while more
 * wait, and the loop serves everything else in between. */
static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct ctl *c = arg;
	struct ctl_call *k;
	int cfd;

	(void)events;
	cfd = conns_accept(fd);
	if (cfd < 0) {
		if (cfd != -EAGAIN)
			c->st.accept_errors++;
		return;
	}
	if (c->st.clients >= CTL_MAX_CLIENTS) {
		refuse_busy(c, cfd);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		c->st.accept_errors++;
		close(cfd);
		return;
	}
	k->c = c;
	k->conn.fd = cfd;
	k->state = CLIENT_REQUEST;
	k->deadline_ms = loop_now_ms() + CTL_REQUEST_MS;
	if (ctl_peer_identify(c, k)) {
		c->st.peercred_errors++;
		close(cfd);
		free(k);
		return;
	}
	if (loop_add_fd(l, cfd, EPOLLIN, on_client, k)) {
		c->st.accept_errors++;
		close(cfd);
		free(k);
		return;
	}
	conns_add(&c->clients, &k->conn);
	c->st.accepted++;
}

const struct ctl_stats *ctl_stats(const struct ctl *c)
{
	return &c->st;
}

/* ---- the listening socket ------------------------------------------------------ */

int ctl_open(struct ctl **out, struct loop *l, const struct ctl_options *o)
{
	struct sockaddr_un sun;
	struct ctl *c;
	int err;

	err = ctl_sockaddr(&sun, o->path);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->l = l;
	c->handler = o->handler;
	c->arg = o->arg;
	strcpy(c->path, o->path);
	err = ctl_admin_group(c, o->admin_group);
	if (!err)
		err = ctl_path_clear(o->path);
	if (err)
		goto err_free;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		err = -errno;
		goto err_free;
	}
	err = ctl_bind_path(c, &sun, o->group);
	if (err)
		goto err_unlink;
	if (listen(c->fd, 16)) {
		err = -errno;
		goto err_unlink;
	}
	err = conns_init(&c->clients, l, CTL_SWEEP_MS, on_sweep, c, &c->st.clients,
			 &c->st.max_clients);
	if (!err)
		err = loop_add_fd(l, c->fd, EPOLLIN, on_accept, c);
	if (err)
		goto err_unlink;
	*out = c;
	return 0;

err_unlink:
	ctl_unlink_ours(c);
	close(c->fd);
err_free:
	free(c);
	return err;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	while (c->clients.head)
		client_free((struct ctl_call *)c->clients.head);
	conns_stop(&c->clients);
	loop_del_fd(c->l, c->fd);
	close(c->fd);
	ctl_unlink_ours(c);
	free(c);
}
