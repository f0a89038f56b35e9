/* Unit tests for metrics.c: the exposition rendered from recorded stats and
 * status answers (tests/unit/metrics/), sample by sample. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "metrics.h"

static char *render(bool with_status)
{
	json_error_t e;
	json_t *stats = json_load_file(METRICS_DIR "/stats.json", 0, &e);
	json_t *status = json_load_file(METRICS_DIR "/status.json", 0, &e);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(stats);
	assert_non_null(status);
	assert_int_equal(metrics_write(m, stats, with_status ? status : NULL), 0);
	fclose(m);
	json_decref(stats);
	json_decref(status);
	return buf;
}

/* The line "name value" is in the text, exactly. */
static void has(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s\n%s", line, text);
}

static void test_samples(void **state)
{
	char *t = render(true);

	has(t, "flowoffload_build_info{version=\"0.1.0\"} 1");
	has(t, "flowoffload_flows{state=\"offloaded\",tier=\"sw\"} 40");
	has(t, "flowoffload_flows{state=\"hw-offloaded\",tier=\"hw\"} 30");
	has(t, "flowoffload_flows{state=\"skipped\",tier=\"none\"} 15");
	has(t, "flowoffload_decisions_total{verdict=\"admit_hw\"} 64");
	has(t, "flowoffload_decision_reasons_total{reason=\"mice-class\"} 30");
	has(t, "flowoffload_conntrack_messages_total{type=\"dump_entry\"} 5400");
	has(t, "flowoffload_offloaded_total{tier=\"hw\"} 60");
	has(t, "flowoffload_event_overruns_total 2");
	has(t, "flowoffload_resyncs_after_overrun_total 2");
	has(t, "flowoffload_ruleset_reinstalls_total 1");
	has(t, "flowoffload_hardware_entries_in_use 30");
	has(t, "flowoffload_hardware_capacity_entries 64");
	has(t, "flowoffload_hardware_watermark_ratio 0.9");
	has(t, "flowoffload_process_cpu_seconds_total 1.25");
	has(t, "flowoffload_process_max_resident_memory_bytes 10485760");
	has(t, "flowoffload_uptime_seconds 120.5");
	has(t, "# TYPE flowoffload_event_overruns_total counter");
	has(t, "# TYPE flowoffload_flows gauge");
	free(t);
}

/* Without the status answer its families are left out, nothing else. */
static void test_without_status(void **state)
{
	char *t = render(false);

	assert_null(strstr(t, "hardware_capacity_entries"));
	has(t, "flowoffload_flows_tracked 100");
	free(t);
}

/* Every family has HELP and TYPE once, before its first sample (the
 * recorded answers carry every section the agent reports). */
static void test_families_once(void **state)
{
	char *t = render(true), *line, *save = NULL, seen[128][96];
	size_t n = 0, i;

	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96];

		if (sscanf(line, "# TYPE %95s", name) != 1)
			continue;
		for (i = 0; i < n; i++)
			assert_string_not_equal(seen[i], name);
		assert_true(n < 128);
		snprintf(seen[n++], sizeof(seen[0]), "%s", name);
	}
	assert_true(n > 30);
	free(t);
}

static void test_flowtable_proc(void **state)
{
	FILE *proc = fopen(METRICS_DIR "/nf_flowtable", "r"), *m;
	char *buf = NULL;
	size_t len = 0;

	assert_non_null(proc);
	m = open_memstream(&buf, &len);
	assert_int_equal(metrics_write_flowtable(m, proc), 0);
	fclose(m);
	fclose(proc);
	has(buf, "flowoffload_kernel_flowtable_work_queued{op=\"add\"} 1");
	has(buf, "flowoffload_kernel_flowtable_work_queued{op=\"stats\"} 4");
	free(buf);

	proc = fmemopen((char *)"wq_add wq_del\nnot numbers\n", 26, "r");
	m = open_memstream(&buf, &len);
	assert_int_equal(metrics_write_flowtable(m, proc), -EINVAL);
	fclose(m);
	fclose(proc);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_without_status),
		cmocka_unit_test(test_families_once),
		cmocka_unit_test(test_flowtable_proc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
