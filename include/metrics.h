/* metrics: the agent's counters in the Prometheus text exposition format,
 * rendered from the JSON answers of the stats and status commands. */
#ifndef FLOWOFFLOAD_METRICS_H
#define FLOWOFFLOAD_METRICS_H

#include <stdio.h>

#include <jansson.h>

/* Every family from `stats --json` (and from `status --json` when status
 * is not NULL): flowoffload_ names, base units, _total counters and
 * flowoffload_build_info.  Keys missing from the answers are left out.
 * 0 or -EIO. */
int metrics_write(FILE *out, const json_t *stats, const json_t *status);

/* The kernel's flowtable work queue counters from proc (the text of
 * /proc/net/stat/nf_flowtable: a header, then one line of hex numbers per
 * CPU), summed over CPUs.  0, -EINVAL for text it cannot read, -EIO. */
int metrics_write_flowtable(FILE *out, FILE *proc);

/* metrics_write() and, when /proc/net/stat/nf_flowtable exists,
 * metrics_write_flowtable(): the whole text, as the file and the scrape
 * endpoint serve it.  0 or -EIO. */
int metrics_write_all(FILE *out, const json_t *stats, const json_t *status);

/* dir/flowoffload.prom: metrics_write() and, when /proc/net/stat/
 * nf_flowtable exists, metrics_write_flowtable(), into a temporary file in
 * dir renamed over it, mode 0644 (node_exporter reads it as another user).
 * 0 or -errno. */
int metrics_write_file(const char *dir, const json_t *stats, const json_t *status);

#endif
