/* fuzz_ctl_request: libFuzzer target for the control socket's request parser
 * (ctl_request_parse) and the options of flows/classes (listing_parse). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctl.h"
#include "flows.h"
#include "listing.h"

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
	return 0;
}
