/* Unit tests for sd_notify.c: the datagrams a bound AF_UNIX socket receives
 * (path and abstract names), and the environment it reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "sd_notify.h"

/* A manager's end: a datagram socket bound to name ("/path" or "@abstract"). */
static int manager_socket(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, strlen(name));
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void expect_prefix(int fd, const char *want)
{
	char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_memory_equal(buf, want, strlen(want));
}

static void exchange(const char *name)
{
	struct sd_notify *n;
	int fd = manager_socket(name);

	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(sd_notify_open(&n), 0);
	assert_non_null(n);
	assert_int_equal(sd_notify_ready(n, "3 flows: 1 in software, 2 in hardware"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=3 flows: 1 in software, 2 in hardware");
	assert_int_equal(sd_notify_reloading(n), 0);
	expect_prefix(fd, "RELOADING=1\nMONOTONIC_USEC=");
	assert_int_equal(sd_notify_ready(n, NULL), 0);
	expect_datagram(fd, "READY=1");
	/* A status line must not smuggle in a second assignment. */
	assert_int_equal(sd_notify_status(n, "ok\nREADY=1"), 0);
	expect_datagram(fd, "STATUS=ok");
	assert_int_equal(sd_notify_watchdog(n), 0);
	expect_datagram(fd, "WATCHDOG=1");
	assert_int_equal(sd_notify_stopping(n), 0);
	expect_datagram(fd, "STOPPING=1");
	sd_notify_close(n);
	close(fd);
}

static void test_path_socket(void **state)
{
	char dir[] = "/tmp/sd_notify.XXXXXX", path[64];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	exchange(path);
	unlink(path);
	rmdir(dir);
}

static void test_abstract_socket(void **state)
{
	char name[64];

	snprintf(name, sizeof(name), "@flowoffload-test-%d", (int)getpid());
	exchange(name);
}

/* Not under a service manager: nothing opens and every call is a no-op. */
static void test_unset(void **state)
{
	struct sd_notify *n = (struct sd_notify *)1;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify_open(&n), 0);
	assert_null(n);
	assert_int_equal(sd_notify_ready(n, "x"), 0);
	assert_int_equal(sd_notify_reloading(n), 0);
	assert_int_equal(sd_notify_watchdog(n), 0);
	sd_notify_close(n);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "relative", "@", "vsock:2:1234", NULL };
	struct sd_notify *n;
	size_t i;

	for (i = 0; bad[i]; i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		assert_int_equal(sd_notify_open(&n), -EINVAL);
		assert_null(n);
	}
	/* Nobody listening: the error comes back, nothing blocks. */
	setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
	assert_int_equal(sd_notify_open(&n), 0);
	assert_int_equal(sd_notify_ready(n, NULL), -ENOENT);
	sd_notify_close(n);
}

static void test_watchdog_env(void **state)
{
	char pid[24];

	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(sd_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(sd_notify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(sd_notify_watchdog_usec(), 30000000);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(sd_notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(sd_notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(sd_notify_watchdog_usec(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_unset),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_watchdog_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
