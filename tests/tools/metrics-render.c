/* metrics-render: prints the exposition of recorded stats and status answers
 * (and an nf_flowtable proc file), for metrics_promtool.test. */
#include <stdio.h>

#include <jansson.h>

#include "metrics.h"

int main(int argc, char **argv)
{
	json_error_t e;
	json_t *stats, *status;
	FILE *proc;
	int ret;

	if (argc != 4) {
		fputs("usage: metrics-render STATS.json STATUS.json NF_FLOWTABLE\n", stderr);
		return 2;
	}
	stats = json_load_file(argv[1], 0, &e);
	status = json_load_file(argv[2], 0, &e);
	proc = fopen(argv[3], "r");
	if (!stats || !status || !proc) {
		fputs("metrics-render: cannot read the inputs\n", stderr);
		return 1;
	}
	ret = metrics_write(stdout, stats, status) || metrics_write_flowtable(stdout, proc);
	fclose(proc);
	json_decref(stats);
	json_decref(status);
	return ret;
}
