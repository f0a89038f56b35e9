/* fuzz_ctl_request: libFuzzer target for what the agent's listeners parse:
 * control requests (ctl_request_parse, listing_parse), and the scrape
 * endpoint's request heads and listen addresses (metrics_http.c). */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl.h"
#include "flows.h"
#include "listing.h"
#include "metrics_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	return 0;
}

static void check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_ctl_request: %s\n", what);
	abort();
}

/* What a parsed request promises the handlers: 0..CTL_MAX_ARGS non-empty,
 * NUL-terminated arguments inside the buffer, argv[argc] NULL. */
static void check_args(const char *buf, size_t len, int argc, char **argv)
{
	int i;

	check(argc >= 0 && argc <= CTL_MAX_ARGS, "argc out of range");
	check(argv[argc] == NULL, "argv not NULL-terminated");
	for (i = 0; i < argc; i++) {
		size_t n;

		check(argv[i] >= buf && argv[i] < buf + len, "argument outside the request");
		n = strnlen(argv[i], (size_t)(buf + len - argv[i]));
		check(n > 0, "an empty argument");
		check(argv[i] + n < buf + len, "an argument without its NUL");
	}
}

/* The daemon reads a request in pieces: feeding it byte by byte must give
 * the same answer as all at once, at the first length that completes it. */
static void check_incremental(const char *buf, size_t len, int whole)
{
	char *argv[CTL_MAX_ARGS + 1];
	size_t i;
	int r = -EAGAIN;

	for (i = 1; i <= len && r == -EAGAIN; i++)
		r = ctl_request_parse((char *)buf, i, argv);
	check(r == whole, "byte by byte differs from all at once");
}

static void check_options(int argc, char **argv)
{
	struct listing_filter f;
	int r;

	if (argc == 0)
		return;
	if (strcmp(argv[0], "flows") && strcmp(argv[0], "classes"))
		return;
	r = listing_parse(argc, argv, argv[0][0] == 'c', &f, devnull);
	check(r == 0 || r == -EINVAL, "listing_parse returned something else");
	if (r)
		return;
	check(f.state >= -1 && f.state < FLOW_STATE_MAX, "state out of range");
	check(f.tier >= -1 && f.tier <= TIER_HW, "tier out of range");
	check(memchr(f.reason, '\0', sizeof(f.reason)) != NULL, "reason unterminated");
	check(f.family == 0 || f.family == AF_INET || f.family == AF_INET6, "family");
}

/* The scrape endpoint's promises: a complete head lies within the bytes
 * given and the bound, its status is one the server answers, HEAD only for a
 * request whose method is HEAD; fed in pieces it completes at the same length with the same answer. */
static void check_http(const char *buf, size_t len)
{
	struct metrics_http_request whole = { 0 }, part = { 0 };
	int r = metrics_http_parse_request(buf, len, &whole), p = -EAGAIN;
	size_t i;

	check(r > 0 || r == -EAGAIN || r == -EMSGSIZE, "http: unexpected error");
	check(r != -EAGAIN || len < METRICS_HTTP_MAX_REQUEST, "http: incomplete yet full");
	check(r != -EMSGSIZE || len >= METRICS_HTTP_MAX_REQUEST, "http: too long before the bound");
	if (r > 0) {
		check((size_t)r <= len && r <= METRICS_HTTP_MAX_REQUEST, "http: head past the bytes");
		check(whole.status == 200 || whole.status == 400 || whole.status == 404 ||
			      whole.status == 405 || whole.status == 505, "http: status");
		check(!whole.head || memmem(buf, (size_t)r, "HEAD ", 5),
		      "http: HEAD without HEAD");
	}
	/* Byte by byte is quadratic: small inputs in full, larger ones at the
	 * lengths around the head's end. */
	if (len > 512) {
		if (r > 0) {
			check(metrics_http_parse_request(buf, (size_t)r - 1, &part) == -EAGAIN,
			      "http: complete before its end");
			i = (size_t)r;
		} else {
			i = len < METRICS_HTTP_MAX_REQUEST ? len : METRICS_HTTP_MAX_REQUEST;
		}
		p = metrics_http_parse_request(buf, i, &part);
	} else {
		for (i = 1; i <= len && p == -EAGAIN; i++)
			p = metrics_http_parse_request(buf, i, &part);
	}
	if (r == -EAGAIN) {
		check(p == -EAGAIN, "http: a prefix completes what the whole does not");
		return;
	}
	check(p == r, "http: byte by byte differs from all at once");
	if (r > 0)
		check(part.status == whole.status && part.head == whole.head, "http: answers differ");
}

/* A listen address accepted is one the kernel can bind: a family, a port. */
static void check_listen(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	char s[80], why[256];
	socklen_t sl = 0;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (metrics_http_parse_listen(s, &ss, &sl, why, sizeof(why))) {
		check(memchr(why, '\0', sizeof(why)) && why[0], "listen: no reason");
		return;
	}
	check((ss.ss_family == AF_INET && sl == sizeof(struct sockaddr_in)) ||
		      (ss.ss_family == AF_INET6 && sl == sizeof(struct sockaddr_in6)),
	      "listen: family");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[CTL_MAX_ARGS + 1], *buf;
	size_t len = size < CTL_MAX_REQUEST ? size : CTL_MAX_REQUEST;
	int argc;

	/* Exactly the bytes the daemon would hold: ASan sees any read past. */
	buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	memcpy(buf, data, len);
	argc = ctl_request_parse(buf, len, argv);
	check(argc >= 0 || argc == -EAGAIN || argc == -EMSGSIZE, "unexpected error");
	check(argc != -EAGAIN || len < CTL_MAX_REQUEST, "incomplete yet full");
	if (argc >= 0)
		check_args(buf, len, argc, argv);
	check_incremental(buf, len, argc);
	argc = ctl_request_parse(buf, len, argv);
	if (argc >= 0)
		check_options(argc, argv);
	free(buf);
	/* The same bytes as an HTTP head, in a buffer of exactly their size. */
	len = size < METRICS_HTTP_MAX_REQUEST + 64 ? size : METRICS_HTTP_MAX_REQUEST + 64;
	buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	memcpy(buf, data, len);
	check_http(buf, len);
	free(buf);
	check_listen(data, size);
	return 0;
}
