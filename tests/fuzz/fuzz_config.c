/* fuzz_config: libFuzzer target for config_load(): every input is a config
 * file; it must load or be refused with one line naming the file, never crash. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "config_table.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* config_load() takes a path, so the input goes into a memfd that is opened
 * again by its /proc path: no file system writes, one fd per process. */
static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("flowoffload.conf", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void check(int cond, const char *what, const char *err)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_config: %s (err: \"%s\")\n", what, err);
	abort();
}

static int contiguous_mask(uint32_t m)
{
	if (!m || !(m & (m - 1)))
		return 0;
	m >>= __builtin_ctz(m);
	return !(m & (m + 1));
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Every number a loaded config holds is inside its table row's range. */
static void check_ranges(const struct fo_config *c)
{
	const struct config_key *k;
	uint32_t v32;
	uint64_t v;

	for (k = config_keys; k < config_keys + CONFIG_KEY_MAX; k++) {
		if (k->type != CONFIG_UINT && k->type != CONFIG_SIZE &&
		    k->type != CONFIG_PERCENT && k->type != CONFIG_DURATION)
			continue;
		if (k->size == sizeof(v)) {
			memcpy(&v, (const char *)c + k->off, sizeof(v));
		} else {
			memcpy(&v32, (const char *)c + k->off, sizeof(v32));
			v = v32;
		}
		check(v >= k->min && v <= k->max, k->name, "out of its row's range");
	}
}

/* What a loaded config promises the rest of the agent. */
static void check_config(const struct fo_config *c)
{
	size_t i;

	check(c->window_from >= 1 && c->window_from <= c->window_until &&
		      c->window_until <= 1000000,
	      "window out of range", "");
	check(c->proto_tcp || c->proto_udp, "no protocol", "");
	check(contiguous_mask(c->mark_mask), "mark-mask not 2+ contiguous bits", "");
	check(c->hw_mode == HW_MODE_OFF || c->hw_mode == HW_MODE_AUTO || c->hw_mode == HW_MODE_ON,
	      "hardware mode", "");
	check(c->hw_capacity >= 1 && c->hw_capacity <= 16777216, "capacity", "");
	check(c->hw_watermark >= 1 && c->hw_watermark <= 100, "watermark", "");
	check(c->n_devices <= CONFIG_MAX_LIST && c->n_sw_only <= CONFIG_MAX_LIST &&
		      c->n_exclude <= CONFIG_MAX_LIST && c->n_skip_ports <= CONFIG_MAX_LIST &&
		      c->n_skip_prefixes <= CONFIG_MAX_LIST,
	      "list longer than CONFIG_MAX_LIST", "");
	check(c->devices_auto ? c->n_devices == 0 : c->n_devices > 0, "devices", "");
	for (i = 0; i < c->n_devices; i++)
		check(terminated(c->devices[i], CONFIG_IFNAMSIZ) && c->devices[i][0], "device name",
		      "");
	for (i = 0; i < c->n_sw_only; i++)
		check(terminated(c->sw_only[i], CONFIG_IFNAMSIZ) && c->sw_only[i][0],
		      "software-only name", "");
	for (i = 0; i < c->n_exclude; i++)
		check(terminated(c->exclude[i], CONFIG_IFNAMSIZ) && c->exclude[i][0],
		      "exclude name", "");
	for (i = 0; i < c->n_skip_ports; i++)
		check(c->skip_ports[i].lo >= 1 && c->skip_ports[i].lo <= c->skip_ports[i].hi,
		      "port range", "");
	for (i = 0; i < c->n_skip_prefixes; i++) {
		const struct prefix *p = &c->skip_prefixes[i];

		check((p->family == AF_INET && p->len <= 32) ||
			      (p->family == AF_INET6 && p->len <= 128),
		      "prefix", "");
		/* A prefix contains its own network address. */
		check(config_prefix_contains(p, p->family, p->addr), "prefix contains itself", "");
	}
	check(c->max_flows >= 1 && c->max_flows <= 100000000, "max-flows", "");
	check(c->status_interval_ms >= 100 && c->status_interval_ms <= 3600 * 1000,
	      "status-interval", "");
	check(c->resync_interval_ms >= 1000 && c->resync_interval_ms <= 24 * 3600 * 1000,
	      "resync-interval", "");
	check(c->event_buffer >= 64 << 10 && c->event_buffer <= 1 << 30, "event-buffer", "");
	check(terminated(c->socket_path, sizeof(c->socket_path)) && c->socket_path[0] == '/',
	      "socket path", "");
	check(terminated(c->socket_group, sizeof(c->socket_group)), "socket group", "");
	check(!c->small_window_from || (c->small_window_from >= c->window_from &&
					 c->small_window_from <= c->window_until),
	      "small-packet-window-from outside the window", "");
	check(!c->events_window || c->hw_mode == HW_MODE_OFF, "events = window with hardware",
	      "");
	check_ranges(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fo_config *cfg, *before;
	char err[1024];
	size_t plen = strlen(path);
	int ret;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_config: writing the memfd");
		abort();
	}
	/* Heap copies, so ASan sees any write past the struct; the pattern
	 * shows whether a refused file left cfg untouched. */
	cfg = malloc(sizeof(*cfg));
	before = malloc(sizeof(*before));
	if (!cfg || !before)
		abort();
	memset(cfg, 0xa5, sizeof(*cfg));
	memcpy(before, cfg, sizeof(*cfg));
	memset(err, 0x5a, sizeof(err));
	err[sizeof(err) - 1] = '\0';

	ret = config_load(path, cfg, err, sizeof(err));
	if (ret == 0) {
		check_config(cfg);
	} else {
		check(ret < 0, "config_load returned a positive value", err);
		check(!memcmp(cfg, before, sizeof(*cfg)), "a refused config changed cfg", err);
		/* "FILE:LINE: ..." or "FILE: strerror": one line, named. */
		check(!strncmp(err, path, plen) && err[plen] == ':',
		      "the error does not start with \"FILE:\"", err);
		check(!strchr(err, '\n'), "the error is more than one line", err);
		check(strlen(err) > plen + 2, "the error says nothing", err);
	}
	free(before);
	free(cfg);
	return 0;
}
