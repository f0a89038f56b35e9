/* test_ctl: the control socket's wire format (the status byte is one
 * character on every byte order), request parsing, deadlines, cap, streams. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "loop.h"

struct fixture {
	char dir[64];
	char path[96];
	struct loop *l;
	struct ctl *c;
	int streamed;		/* lines left for the "lines" command */
	int waits;		/* calls of the "wait" command's handler */
};

static void on_stop(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(l);
}

/* Run the loop for about ms milliseconds. */
static void run_for(struct fixture *fx, uint64_t ms)
{
	struct loop_timer *t;

	assert_int_equal(loop_timer_add(fx->l, ms, 0, on_stop, NULL, &t), 0);
	assert_int_equal(loop_run(fx->l), 0);
}

static int lines_next(void *state, FILE *out)
{
	struct fixture *fx = state;
	int i;

	for (i = 0; i < 100 && fx->streamed > 0; i++, fx->streamed--)
		fprintf(out, "line %d\n", fx->streamed);
	return fx->streamed > 0;
}

static int handler(struct ctl_call *call, int argc, char **argv, FILE *out, void *arg)
{
	struct fixture *fx = arg;

	if (!strcmp(argv[0], "ok")) {
		fprintf(out, "fine %d\n", argc);
		return 0;
	}
	if (!strcmp(argv[0], "lines")) {
		fx->streamed = 5000;
		ctl_call_stream(call, lines_next, NULL, fx);
		return 0;
	}
	if (!strcmp(argv[0], "wait")) {
		/* Needs fresh data: answered only when asked again. */
		fx->waits++;
		if (!ctl_call_resumed(call)) {
			fputs("stale\n", out);	/* dropped */
			ctl_call_wait(call);
			return 0;
		}
		fprintf(out, "fresh %s\n", argc > 1 ? argv[1] : "");
		return 0;
	}
	if (!strcmp(argv[0], "admin"))
		return ctl_call_admin(call) ? 0 : -EPERM;
	fputs("no\n", out);
	return -EINVAL;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_ctl.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->dir);
	assert_int_equal(loop_create(&fx->l), 0);
	assert_int_equal(ctl_open(&fx->c, fx->l, &(struct ctl_options){
			.path = fx->path, .handler = handler, .arg = fx }), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	ctl_close(fx->c);
	loop_destroy(fx->l);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int client(const struct fixture *fx)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, fx->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Everything the daemon sends until it closes, running the loop meanwhile. */
static size_t reply(struct fixture *fx, int fd, char *buf, size_t cap)
{
	size_t len = 0;
	int rounds;

	for (rounds = 0; rounds < 200; rounds++) {
		ssize_t r;

		run_for(fx, 5);
		while ((r = recv(fd, buf + len, cap - len, MSG_DONTWAIT)) > 0)
			len += (size_t)r;
		if (r == 0)
			break;
	}
	assert_true(rounds < 200);
	close(fd);
	return len;
}

/* Bytes the daemon sent so far on fd (without waiting for its close). */
static size_t peek(struct fixture *fx, int fd, char *buf, size_t cap, uint64_t ms)
{
	ssize_t r;

	run_for(fx, ms);
	r = recv(fd, buf, cap, MSG_DONTWAIT);
	return r > 0 ? (size_t)r : 0;
}

/* A handler that waits for fresh data answers nothing until ctl_resume,
 * then answers the same request (arguments kept), once; at the wait
 * deadline it is answered anyway, and counted. */
static void test_wait_resume(void **state)
{
	struct fixture *fx = *state;
	char buf[256];
	size_t n;
	int fd, other;

	fd = client(fx);
	assert_int_equal(send(fd, "wait\0x7\0\0", 9, 0), 9);
	assert_int_equal(peek(fx, fd, buf, sizeof(buf), 100), 0);
	assert_int_equal(fx->waits, 1);
	/* Others are served meanwhile. */
	other = client(fx);
	assert_int_equal(send(other, "ok\0\0", 4, 0), 4);
	n = reply(fx, other, buf, sizeof(buf));
	assert_memory_equal(buf, "0fine 1\n", n);
	ctl_resume(fx->c);
	n = reply(fx, fd, buf, sizeof(buf));
	assert_int_equal(n, 1 + strlen("fresh x7\n"));
	assert_memory_equal(buf, "0fresh x7\n", n);
	assert_int_equal(fx->waits, 2);
	assert_int_equal(ctl_stats(fx->c)->waited, 1);
	assert_int_equal(ctl_stats(fx->c)->wait_timeouts, 0);
	assert_int_equal(ctl_stats(fx->c)->clients, 0);

	/* Nobody resumes it: answered at the deadline (3 s). */
	fd = client(fx);
	assert_int_equal(send(fd, "wait\0\0", 6, 0), 6);
	assert_int_equal(peek(fx, fd, buf, sizeof(buf), 2500), 0);
	n = peek(fx, fd, buf, sizeof(buf), 1000);
	assert_int_equal(n, 1 + strlen("fresh \n"));
	assert_memory_equal(buf, "0fresh \n", n);
	close(fd);
	assert_int_equal(ctl_stats(fx->c)->wait_timeouts, 1);

	/* A waiting client that hangs up is freed. */
	fd = client(fx);
	assert_int_equal(send(fd, "wait\0\0", 6, 0), 6);
	run_for(fx, 20);
	close(fd);
	run_for(fx, 20);
	assert_int_equal(ctl_stats(fx->c)->clients, 0);
}

static void test_status_byte(void **state)
{
	(void)state;
	/* One byte, the characters themselves: an int's first byte would be
	 * '0' only on a little-endian machine. */
	assert_int_equal(sizeof(ctl_status_byte(0)), 1);
	assert_int_equal(ctl_status_byte(0), '0');
	assert_int_equal(ctl_status_byte(-EINVAL), '1');
	assert_int_equal(ctl_status_byte(-EPERM), '1');
}

static void test_wire_status(void **state)
{
	struct fixture *fx = *state;
	char buf[256];
	size_t n;
	int fd;

	fd = client(fx);
	assert_int_equal(send(fd, "ok\0a\0\0", 6, 0), 6);
	n = reply(fx, fd, buf, sizeof(buf));
	assert_int_equal(n, 1 + strlen("fine 2\n"));
	assert_memory_equal(buf, "0fine 2\n", n);

	fd = client(fx);
	assert_int_equal(send(fd, "bad\0\0", 5, 0), 5);
	n = reply(fx, fd, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "1no\n", 4);
}

static void test_parse(void **state)
{
	char *argv[CTL_MAX_ARGS + 1], buf[CTL_MAX_REQUEST + 64];
	size_t i;

	(void)state;
	memcpy(buf, "flows\0--json\0\0", 14);
	assert_int_equal(ctl_request_parse(buf, 14, argv), 2);
	assert_string_equal(argv[0], "flows");
	assert_string_equal(argv[1], "--json");
	assert_null(argv[2]);
	/* Each prefix is incomplete. */
	for (i = 0; i < 14; i++)
		assert_int_equal(ctl_request_parse(buf, i, argv), -EAGAIN);
	assert_int_equal(ctl_request_parse(buf, 1, argv), -EAGAIN);
	memcpy(buf, "\0", 1);
	assert_int_equal(ctl_request_parse(buf, 1, argv), 0);
	/* Seventeen arguments never fit. */
	for (i = 0; i < 17; i++)
		memcpy(buf + 2 * i, "a\0", 2);
	assert_int_equal(ctl_request_parse(buf, 34, argv), -EMSGSIZE);
	/* A full buffer without the end never will. */
	memset(buf, 'x', CTL_MAX_REQUEST);
	assert_int_equal(ctl_request_parse(buf, CTL_MAX_REQUEST, argv), -EMSGSIZE);
}

/* A client sending one byte and nothing more is closed at the request
 * deadline, counted, and costs the others nothing. */
static void test_request_deadline(void **state)
{
	struct fixture *fx = *state;
	char buf[64];
	int slow, fd;

	slow = client(fx);
	assert_int_equal(send(slow, "s", 1, 0), 1);
	run_for(fx, 50);
	fd = client(fx);
	assert_int_equal(send(fd, "ok\0\0", 4, 0), 4);
	assert_int_equal(reply(fx, fd, buf, sizeof(buf)), 8);
	assert_int_equal(ctl_stats(fx->c)->request_timeouts, 0);
	run_for(fx, 2400);
	assert_int_equal(ctl_stats(fx->c)->request_timeouts, 1);
	assert_int_equal(recv(slow, buf, sizeof(buf), MSG_DONTWAIT), 0);
	assert_int_equal(ctl_stats(fx->c)->clients, 0);
	close(slow);
}

static void test_cap(void **state)
{
	struct fixture *fx = *state;
	int fds[9], i;
	char buf[128];
	size_t n;

	for (i = 0; i < 9; i++) {
		fds[i] = client(fx);
		run_for(fx, 5);
	}
	assert_int_equal(ctl_stats(fx->c)->clients, 8);
	assert_int_equal(ctl_stats(fx->c)->busy_refused, 1);
	n = reply(fx, fds[8], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "1busy: 8 control clients connected already; try again\n");
	for (i = 0; i < 8; i++)
		close(fds[i]);
	run_for(fx, 20);
	assert_int_equal(ctl_stats(fx->c)->clients, 0);
	assert_int_equal(ctl_stats(fx->c)->request_closed, 8);
}

static void test_stream(void **state)
{
	struct fixture *fx = *state;
	size_t cap = 1 << 20, n;
	char *buf = malloc(cap), *p;
	int fd, lines = 0;

	assert_non_null(buf);
	fd = client(fx);
	assert_int_equal(send(fd, "lines\0\0", 7, 0), 7);
	n = reply(fx, fd, buf, cap);
	assert_true(n > 1);
	assert_int_equal(buf[0], '0');
	for (p = buf + 1; p < buf + n; p = (char *)memchr(p, '\n', (size_t)(buf + n - p)) + 1)
		lines++;
	assert_int_equal(lines, 5000);
	assert_memory_equal(buf + n - 7, "line 1\n", 7);
	assert_int_equal(ctl_stats(fx->c)->streamed, 1);
	free(buf);
}

static void test_uid_zero_is_admin(void **state)
{
	struct fixture *fx = *state;
	char buf[16];
	int fd;

	fd = client(fx);
	assert_int_equal(send(fd, "admin\0\0", 7, 0), 7);
	assert_int_equal(reply(fx, fd, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], getuid() == 0 ? '0' : '1');
}

/* Only a socket is removed from the path: a file there stops ctl_open. */
static void test_path_not_socket(void **state)
{
	struct fixture *fx = *state;
	char path[128];
	struct ctl *c;
	int fd;

	snprintf(path, sizeof(path), "%s/file", fx->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ctl_open(&c, fx->l, &(struct ctl_options){
			.path = path, .handler = handler, .arg = fx }), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	/* A second daemon on a live socket is refused and leaves it. */
	assert_int_equal(ctl_open(&c, fx->l, &(struct ctl_options){
			.path = fx->path, .handler = handler, .arg = fx }), -EADDRINUSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_byte),
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_wire_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_zero_is_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_not_socket, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
