/* flows_memory: the agent's memory per tracked flow at 100k and 1M flows
 * (RSS growth of the flow table), against the 160 bytes/flow target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "flows.h"

#define TARGET_BYTES_PER_FLOW 160

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double measure(size_t n)
{
	struct flows *t;
	long before, after;
	size_t i;

	before = rss_kb();
	if (flows_create(&t, n))
		exit(1);
	for (i = 0; i < n; i++) {
		struct ct_info ct;
		struct flow *f;
		bool created;

		memset(&ct, 0, sizeof(ct));
		ct.id = (uint32_t)(i * 2654435761u) | 1;
		ct.family = AF_INET;
		ct.proto = IPPROTO_UDP;
		memcpy(ct.orig.src, &i, 4);
		ct.orig.sport = (uint16_t)i;
		ct.orig.dport = 53;
		if (flows_upsert(t, &ct, 0, &f, &created) || !created) {
			fprintf(stderr, "flows_memory: insert %zu failed\n", i);
			exit(1);
		}
	}
	after = rss_kb();
	flows_destroy(t);
	return (double)(after - before) * 1024.0 / (double)n;
}

int main(void)
{
	double b100k = measure(100000), b1m = measure(1000000);

	printf("flows_memory: sizeof(struct flow) = %zu bytes\n", sizeof(struct flow));
	printf("  100k flows: %6.1f bytes/flow (RSS growth)\n", b100k);
	printf("  1M flows:   %6.1f bytes/flow (RSS growth); target %d, ratio %.3f\n", b1m,
	       TARGET_BYTES_PER_FLOW, b1m / TARGET_BYTES_PER_FLOW);
	return 0;
}
