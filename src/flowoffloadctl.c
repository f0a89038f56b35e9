/* flowoffloadctl: asks a running flowoffloadd over its control socket for
 * status, flows, stats, Prometheus metrics, or a reload; text or --json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "ctl_client.h"
#include "metrics.h"

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
	      "  prefixes finished flows per remote prefix (decayed): flows, bytes,\n"
	      "           the share that went to hardware; --limit N  the N heaviest\n"
	      "  stats    counters of events, decisions, admissions and failures\n"
	      "  metrics  the counters in the Prometheus text exposition format\n"
	      "  reload   re-read the configuration (like SIGHUP); refused if invalid;\n"
	      "           root or [agent] admin-group only, at most one per 5 s\n"
	      "  -s SOCKET  control socket (default " CONFIG_DEFAULT_SOCKET ")\n",
	      f);
}

/* One command's --json answer, parsed; NULL after saying why. */
static json_t *ask_json(const char *path, const char *cmd)
{
	char *argv[] = { (char *)cmd, (char *)"--json", NULL };
	char *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *j = NULL;
	FILE *m;
	int ret;

	m = open_memstream(&buf, &len);
	if (!m) {
		fprintf(stderr, "flowoffloadctl: %s\n", strerror(errno));
		return NULL;
	}
	ret = ctl_client_request(path, 2, argv, m);
	fclose(m);
	if (ret < 0)
		fprintf(stderr, "flowoffloadctl: cannot talk to flowoffloadd on %s: %s\n", path,
			strerror(-ret));
	else if (ret)
		fprintf(stderr, "flowoffloadctl: %s: %s", cmd, buf ? buf : "error\n");
	else if (!(j = json_loads(buf, 0, &jerr)))
		fprintf(stderr, "flowoffloadctl: %s: bad JSON from the agent: %s\n", cmd, jerr.text);
	free(buf);
	return j;
}

/* The exposition is built here from the stats and status answers: the
 * agent keeps one description of its counters (the JSON). */
static int metrics(const char *path)
{
	json_t *stats, *status = NULL;
	FILE *proc;
	int ret = 1;

	stats = ask_json(path, "stats");
	if (stats)
		status = ask_json(path, "status");
	if (!status)
		goto out;
	ret = metrics_write(stdout, stats, status) ? 1 : 0;
	/* Absent without nf_flow_table loaded: then nothing is queued. */
	proc = fopen("/proc/net/stat/nf_flowtable", "r");
	if (proc && !ret && metrics_write_flowtable(stdout, proc) == -EIO)
		ret = 1;
	if (proc)
		fclose(proc);
	if (fflush(stdout))
		ret = 1;
out:
	json_decref(stats);
	json_decref(status);
	return ret;
}

int main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_SOCKET;
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
	if (strcmp(argv[1], "metrics") == 0)
		return argc == 2 ? metrics(path) : (usage(stderr), 2);
	ret = ctl_client_request(path, argc - 1, argv + 1, stdout);
	if (ret < 0) {
		fprintf(stderr, "flowoffloadctl: cannot talk to flowoffloadd on %s: %s\n", path,
			strerror(-ret));
		return 1;
	}
	return ret;
}
