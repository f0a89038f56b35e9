/* test_metrics_http: the scrape endpoint's request parser and listen
 * addresses, and the server on a real loopback socket: answers, deadline, cap. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "metrics_http.h"

/* ---- the parser --------------------------------------------------------------- */

static int parse(const char *s, struct metrics_http_request *req)
{
	return metrics_http_parse_request(s, strlen(s), req);
}

static void expect(const char *s, int status, bool head)
{
	struct metrics_http_request req;

	assert_int_equal(parse(s, &req), (int)strlen(s));
	assert_int_equal(req.status, status);
	assert_int_equal(req.head, head);
}

static void test_parse_answers(void **state)
{
	(void)state;
	/* What Prometheus 2.42 sends, abridged. */
	expect("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9811\r\nUser-Agent: Prometheus/2.42.0\r\n"
	       "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
	       "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 1\r\n\r\n", 200, false);
	expect("GET /metrics HTTP/1.0\r\n\r\n", 200, false);
	expect("GET /metrics HTTP/1.0\n\n", 200, false);
	expect("\r\nGET /metrics HTTP/1.1\r\n\r\n", 200, false);
	expect("GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, false);
	expect("HEAD /metrics HTTP/1.1\r\n\r\n", 200, true);
	expect("GET / HTTP/1.1\r\n\r\n", 404, false);
	expect("GET /metricsx HTTP/1.1\r\n\r\n", 404, false);
	expect("GET http://h/metrics HTTP/1.1\r\n\r\n", 404, false);
	expect("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, false);
	expect("get /metrics HTTP/1.1\r\n\r\n", 405, false);
	expect("DELETE /other HTTP/1.1\r\n\r\n", 404, false);
	expect("GET /metrics HTTP/2.0\r\n\r\n", 505, false);
	expect("GET /metrics HTTP/1.2\r\n\r\n", 505, false);
	expect("GET /metrics\r\n\r\n", 400, false);
	expect("GET  /metrics HTTP/1.1\r\n\r\n", 400, false);
	expect("GET /metrics HTTP/1.1 \r\n\r\n", 400, false);
	expect("GET /met rics HTTP/1.1\r\n\r\n", 400, false);
	expect("GET /metrics HTTPS/1.1\r\n\r\n", 400, false);
	expect("G(T /metrics HTTP/1.1\r\n\r\n", 400, false);
	expect("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400, false);
	expect("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", 400, false);
	expect("GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, false);
	expect("HEAD /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400, true);
	expect("HEAD /other HTTP/1.1\r\n\r\n", 404, true);
	expect("GET /metr\x7f HTTP/1.1\r\n\r\n", 400, false);
}

static void test_parse_incomplete(void **state)
{
	const char *s = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct metrics_http_request req;
	char buf[METRICS_HTTP_MAX_REQUEST + 16];
	size_t i, n = strlen(s);

	(void)state;
	/* Every prefix waits; the whole head answers; bytes after it (a body,
	 * a pipelined request) are not part of it. */
	for (i = 0; i < n; i++)
		assert_int_equal(metrics_http_parse_request(s, i, &req), -EAGAIN);
	memcpy(buf, s, n);
	memcpy(buf + n, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(metrics_http_parse_request(buf, n + 18, &req), (int)n);
	assert_int_equal(req.status, 200);
	/* A head that fills the buffer without its end never fits. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "GET /metrics HTTP/1.1\r\nX: ", 26);
	assert_int_equal(metrics_http_parse_request(buf, METRICS_HTTP_MAX_REQUEST - 1, &req),
			 -EAGAIN);
	assert_int_equal(metrics_http_parse_request(buf, METRICS_HTTP_MAX_REQUEST, &req),
			 -EMSGSIZE);
	assert_int_equal(metrics_http_parse_request(buf, sizeof(buf), &req), -EMSGSIZE);
	/* Its end just past the bound counts as not fitting either. */
	memcpy(buf + METRICS_HTTP_MAX_REQUEST - 2, "\r\n\r\n", 4);
	assert_int_equal(metrics_http_parse_request(buf, sizeof(buf), &req), -EMSGSIZE);
	/* A NUL inside a head is a bad request, not a shorter string. */
	memcpy(buf, "GET /metrics HTTP/1.1\r\nX: \0\r\n\r\n", 31);
	assert_int_equal(metrics_http_parse_request(buf, 31, &req), 31);
	assert_int_equal(req.status, 400);
}

static void listen_ok(const char *s, int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[256] = "", text[INET6_ADDRSTRLEN];

	assert_int_equal(metrics_http_parse_listen(s, &ss, &len, why, sizeof(why)), 0);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		assert_int_equal(len, sizeof(*a));
		assert_int_equal(ntohs(a->sin_port), port);
		inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		assert_int_equal(len, sizeof(*a));
		assert_int_equal(ntohs(a->sin6_port), port);
		inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
	}
	assert_string_equal(text, addr);
}

static void listen_bad(const char *s, const char *why_part)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[256] = "";

	assert_int_equal(metrics_http_parse_listen(s, &ss, &len, why, sizeof(why)), -EINVAL);
	if (!strstr(why, why_part))
		fail_msg("\"%s\": \"%s\" lacks \"%s\"", s, why, why_part);
}

static void test_listen(void **state)
{
	(void)state;
	listen_ok("127.0.0.1:9811", AF_INET, "127.0.0.1", 9811);
	listen_ok("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	listen_ok("[::1]:9811", AF_INET6, "::1", 9811);
	listen_ok("[::]:65535", AF_INET6, "::", 65535);
	listen_ok("[2001:db8::1]:80", AF_INET6, "2001:db8::1", 80);
	listen_bad("127.0.0.1", "has no port");
	listen_bad("127.0.0.1:", "is not a port");
	listen_bad("127.0.0.1:0", "is not a port");
	listen_bad("127.0.0.1:65536", "is not a port");
	listen_bad("127.0.0.1:+80", "is not a port");
	listen_bad("127.0.0.1:080000", "is not a port");
	listen_bad("localhost:9811", "names are not looked up");
	listen_bad(":9811", "no IPv4 address");
	listen_bad("::1:9811", "[ADDRESS]:PORT");
	listen_bad("[::1]9811", "[ADDRESS]:PORT");
	listen_bad("[::1", "[ADDRESS]:PORT");
	listen_bad("[127.0.0.1]:80", "is not an IPv6 address");
	listen_bad("[::1]:http", "is not a port");
}

/* ---- the server ------------------------------------------------------------- */

struct fixture {
	struct loop *l;
	struct metrics_http *h;
	struct sockaddr_in addr;
	int renders;
};

static int render(FILE *out, void *arg)
{
	struct fixture *fx = arg;

	fx->renders++;
	fputs("# TYPE flowoffload_x gauge\nflowoffload_x 1\n", out);
	return 0;
}

static void on_stop(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(l);
}

static void run_for(struct fixture *fx, uint64_t ms)
{
	assert_int_equal(loop_timer_add(fx->l, ms, 0, on_stop, NULL, NULL), 0);
	assert_int_equal(loop_run(fx->l), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	socklen_t len = sizeof(fx->addr);
	int probe;

	assert_non_null(fx);
	/* A free port: bound, read back and released (the listener binds it
	 * again with SO_REUSEADDR a moment later). */
	probe = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(probe >= 0);
	fx->addr.sin_family = AF_INET;
	fx->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(probe, (struct sockaddr *)&fx->addr, sizeof(fx->addr)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&fx->addr, &len), 0);
	close(probe);
	assert_int_equal(loop_create(&fx->l), 0);
	assert_int_equal(metrics_http_open(&fx->h, fx->l, (struct sockaddr_storage *)&fx->addr,
					   sizeof(fx->addr), render, fx), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	metrics_http_close(fx->h);
	loop_destroy(fx->l);
	free(fx);
	return 0;
}

static int client(struct fixture *fx)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	/* Loopback: the handshake completes in the kernel, the loop accepts
	 * when it runs. */
	if (connect(fd, (struct sockaddr *)&fx->addr, sizeof(fx->addr)))
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

/* Everything the server sends until it closes, running the loop meanwhile. */
static size_t reply(struct fixture *fx, int fd, char *buf, size_t cap)
{
	size_t len = 0;
	int rounds;

	for (rounds = 0; rounds < 400; rounds++) {
		ssize_t r;

		run_for(fx, 5);
		while ((r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT)) > 0)
			len += (size_t)r;
		/* The end, or a reset after it (a head the server did not
		 * read to its end): what came before it is still read. */
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
	}
	assert_true(rounds < 400);
	close(fd);
	buf[len] = '\0';
	return len;
}

static size_t ask(struct fixture *fx, const char *req, char *buf, size_t cap)
{
	int fd = client(fx);

	run_for(fx, 5);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	return reply(fx, fd, buf, cap);
}

static void test_serve(void **state)
{
	static const char body[] = "# TYPE flowoffload_x gauge\nflowoffload_x 1\n";
	struct fixture *fx = *state;
	const struct metrics_http_stats *st = metrics_http_stats(fx->h);
	char buf[4096], want[512];

	ask(fx, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof(buf));
	snprintf(want, sizeof(want),
		 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
	assert_string_equal(buf, want);
	assert_int_equal(fx->renders, 1);

	ask(fx, "HEAD /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "Content-Length: 43\r\n"));
	assert_null(strstr(buf, "flowoffload_x"));

	ask(fx, "POST /metrics HTTP/1.1\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(buf, "Allow: GET, HEAD\r\n"));
	ask(fx, "GET /debug HTTP/1.1\r\n\r\n", buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24));
	ask(fx, "GET /metrics SPDY\r\n\r\n", buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26));
	/* Only the 200s rendered anything. */
	assert_int_equal(fx->renders, 2);
	assert_int_equal(st->scrapes, 2);
	assert_int_equal(st->bad_method, 1);
	assert_int_equal(st->not_found, 1);
	assert_int_equal(st->bad_requests, 1);
	assert_int_equal(st->clients, 0);
}

/* A head that never ends within the bound gets 431 and nothing more. */
static void test_too_long(void **state)
{
	struct fixture *fx = *state;
	char big[METRICS_HTTP_MAX_REQUEST + 100], buf[512];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	ask(fx, big, buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 431 ", 13));
	assert_int_equal(metrics_http_stats(fx->h)->request_too_long, 1);
	assert_int_equal(fx->renders, 0);
}

/* Eight silent clients hold every slot: the ninth is told 503 at once,
 * the silent ones are closed at the request deadline (5 s), and a scrape
 * after that is served. */
static void test_cap_and_deadline(void **state)
{
	struct fixture *fx = *state;
	const struct metrics_http_stats *st = metrics_http_stats(fx->h);
	int silent[8], i, fd;
	char buf[4096];

	for (i = 0; i < 8; i++)
		silent[i] = client(fx);
	run_for(fx, 50);
	assert_int_equal(st->clients, 8);
	fd = client(fx);
	reply(fx, fd, buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 503 ", 13));
	assert_int_equal(st->busy_refused, 1);
	run_for(fx, 5400);
	assert_int_equal(st->clients, 0);
	assert_int_equal(st->request_timeouts, 8);
	for (i = 0; i < 8; i++) {
		assert_int_equal(recv(silent[i], buf, sizeof(buf), MSG_DONTWAIT), 0);
		close(silent[i]);
	}
	ask(fx, "GET /metrics HTTP/1.1\r\n\r\n", buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
}

/* A client sending its head one byte per loop round is answered once the
 * head is complete, and the loop's other work goes on meanwhile. */
static void test_trickle(void **state)
{
	struct fixture *fx = *state;
	const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
	char buf[4096];
	size_t i;
	int fd = client(fx);

	for (i = 0; i < strlen(req); i++) {
		run_for(fx, 2);
		assert_int_equal(send(fd, req + i, 1, 0), 1);
	}
	reply(fx, fd, buf, sizeof(buf));
	assert_true(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_answers),
		cmocka_unit_test(test_parse_incomplete),
		cmocka_unit_test(test_listen),
		cmocka_unit_test_setup_teardown(test_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_and_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trickle, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
