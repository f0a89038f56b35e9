/* listing: the long answers of the control socket (flows, classes), streamed
 * chunk by chunk from a cursor, with --limit and the flows filters. */
#ifndef FLOWOFFLOAD_LISTING_H
#define FLOWOFFLOAD_LISTING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct classes;
struct ctl_call;
struct flow;
struct flows;

/* What `flows` shows: every field optional (0 / false / -1: any). */
struct listing_filter {
	bool json;
	uint64_t limit;		/* 0: no limit */
	int state;		/* enum flow_state, or -1 */
	int tier;		/* enum flow_tier, or -1 */
	char reason[24];	/* as in the REASON column; "" any, "-" none */
	uint8_t family;		/* AF_INET, AF_INET6, or 0: any address */
	uint8_t addr[16];	/* an endpoint, either direction */
};

/* Parse the options of `flows` (argv[0] is the command) or of `classes`
 * (only --json and --limit).  0, or -EINVAL with the reason written to err. */
int listing_parse(int argc, char **argv, bool classes, struct listing_filter *f, FILE *err);

/* Does f select the flow? */
bool listing_match(const struct listing_filter *f, const struct flow *fl);

/* Answer `flows` / `classes`: the header into out, the rest streamed. */
int listing_flows(struct ctl_call *call, struct flows *t, int argc, char **argv, FILE *out);
/* head: a text line (or NULL) above the table, not in --json. */
int listing_classes(struct ctl_call *call, struct classes *cls, uint64_t now_ms, int argc,
		    char **argv, const char *head, FILE *out);

#endif
