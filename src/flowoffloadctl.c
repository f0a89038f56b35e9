/* flowoffloadctl: asks a running flowoffloadd over its control socket for
 * status, flows, stats, or a reload; text or --json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_client.h"

static void usage(FILE *f)
{
	fputs("usage: flowoffloadctl [-s SOCKET] COMMAND [--json] [OPTIONS]\n"
	      "commands:\n"
	      "  status   configuration summary, devices and their offload capability\n"
	      "  flows    one line per tracked flow: state, tier, skip reason, counters\n"
	      "           --limit N  at most N flows\n"
	      "           --state S  waiting, admitted, offloaded, hw-offloaded, skipped\n"
	      "           --tier T   sw, hw or none\n"
	      "           --reason R as in the REASON column (mice-class, hw-refused, -)\n"
	      "           --addr A   an endpoint, either direction (IPv4 or IPv6)\n"
	      "  classes  learned service classes: flows seen, size percentiles, verdict\n"
	      "           --limit N  the N heaviest\n"
	      "  stats    counters of events, decisions, admissions and failures\n"
	      "  reload   re-read the configuration (like SIGHUP); refused if invalid;\n"
	      "           root or [agent] admin-group only, at most one per 5 s\n"
	      "  -s SOCKET  control socket (default /run/flowoffload.sock)\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *path = "/run/flowoffload.sock";
	int ret;

	if (argc >= 3 && strcmp(argv[1], "-s") == 0) {
		path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	ret = ctl_client_request(path, argc - 1, argv + 1, stdout);
	if (ret < 0) {
		fprintf(stderr, "flowoffloadctl: cannot talk to flowoffloadd on %s: %s\n", path,
			strerror(-ret));
		return 1;
	}
	return ret;
}
