/* listing: the long answers of the control socket (flows, classes), streamed
 * chunk by chunk from a cursor, with --limit and the flows filters. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "classes.h"
#include "ctl.h"
#include "flows.h"
#include "listing.h"
#include "window_learn.h"
#include "policy.h"
#include "shaping.h"

/*
 * A chunk is at most FLOWS_PER_CHUNK lines (about 400 bytes each in JSON),
 * and looks at no more than SCAN_PER_CHUNK storage entries, so a filter
 * that matches little cannot turn one chunk into a walk of the whole table.
 * The daemon holds one chunk per client, never the answer.
 */
#define FLOWS_PER_CHUNK 256
#define SCAN_PER_CHUNK 8192
#define CLASSES_PER_CHUNK 64

static const char *proto_str(uint8_t p, char *buf, size_t len)
{
	if (p == IPPROTO_TCP)
		return "tcp";
	if (p == IPPROTO_UDP)
		return "udp";
	snprintf(buf, len, "%u", p);
	return buf;
}

static const char *addr_str(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static const char *family_str(uint8_t family)
{
	return family == AF_INET6 ? "ipv6" : "ipv4";
}

/* ---- options ------------------------------------------------------------------- */

static int name_index(const char *v, const char *(*str)(int), int max)
{
	int i;

	for (i = 0; i < max; i++)
		if (!strcmp(v, str(i)))
			return i;
	return -1;
}

static const char *state_name(int i)
{
	return flows_state_str((enum flow_state)i);
}

static const char *tier_name(int i)
{
	return i == TIER_NONE ? "none" : flows_tier_str((enum flow_tier)i);
}

static int parse_limit(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!v || *v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n == 0)
		return -EINVAL;
	*out = n;
	return 0;
}

static int parse_addr(const char *v, struct listing_filter *f)
{
	if (v && inet_pton(AF_INET, v, f->addr) == 1)
		f->family = AF_INET;
	else if (v && inet_pton(AF_INET6, v, f->addr) == 1)
		f->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

/* One option with its value; 0, or -EINVAL after saying why. */
static int parse_one(const char *opt, const char *v, struct listing_filter *f, FILE *err)
{
	if (!strcmp(opt, "--limit")) {
		if (!parse_limit(v, &f->limit))
			return 0;
		fprintf(err, "--limit needs a whole number of at least 1\n");
	} else if (!strcmp(opt, "--state")) {
		f->state = v ? name_index(v, state_name, FLOW_STATE_MAX) : -1;
		if (f->state >= 0)
			return 0;
		fprintf(err, "--state: waiting, admitted, offloaded, hw-offloaded or skipped\n");
	} else if (!strcmp(opt, "--tier")) {
		f->tier = v ? name_index(v, tier_name, TIER_HW + 1) : -1;
		if (f->tier >= 0)
			return 0;
		fprintf(err, "--tier: sw, hw or none\n");
	} else if (!strcmp(opt, "--reason")) {
		if (v && strlen(v) < sizeof(f->reason)) {
			strcpy(f->reason, v);
			return 0;
		}
		fprintf(err, "--reason: a reason as in the REASON column (mice-class, hw-refused, -)\n");
	} else if (!strcmp(opt, "--addr")) {
		if (!parse_addr(v, f))
			return 0;
		fprintf(err, "--addr: an IPv4 or IPv6 address\n");
	}
	return -EINVAL;
}

int listing_parse(int argc, char **argv, bool classes, struct listing_filter *f, FILE *err)
{
	int i;

	memset(f, 0, sizeof(*f));
	f->state = f->tier = -1;
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--json")) {
			f->json = true;
			continue;
		}
		if (!strcmp(o, "--limit") ||
		    (!classes && (!strcmp(o, "--state") || !strcmp(o, "--tier") ||
				  !strcmp(o, "--reason") || !strcmp(o, "--addr")))) {
			if (parse_one(o, i + 1 < argc ? argv[i + 1] : NULL, f, err))
				return -EINVAL;
			i++;
			continue;
		}
		fprintf(err, "%s: unknown option '%s'; options: --json --limit N%s\n", argv[0], o,
			classes ? "" : " --state S --tier T --reason R --addr A");
		return -EINVAL;
	}
	return 0;
}

/* ---- flows ------------------------------------------------------------------- */

/* Why the flow is where it is: the skip or wait reason, or for a
 * hardware-tier flow the driver refused, hw-refused. */
static const char *flow_reason(const struct flow *f)
{
	if (f->hw_failed)
		return "hw-refused";
	return policy_reason_str(f->skip_reason);
}

static bool has_addr(const struct listing_filter *f, const struct ct_info *c)
{
	size_t n = f->family == AF_INET ? 4 : 16;

	return c->family == f->family &&
	       (!memcmp(c->orig.src, f->addr, n) || !memcmp(c->orig.dst, f->addr, n) ||
		!memcmp(c->reply.src, f->addr, n) || !memcmp(c->reply.dst, f->addr, n));
}

bool listing_match(const struct listing_filter *f, const struct flow *fl)
{
	if (f->state >= 0 && fl->state != f->state)
		return false;
	if (f->tier >= 0 && fl->tier != f->tier)
		return false;
	if (f->reason[0]) {
		const char *r = fl->skip_reason || fl->hw_failed ? flow_reason(fl) : "-";

		if (strcmp(r, f->reason))
			return false;
	}
	return !f->family || has_addr(f, &fl->ct);
}

/* The shaper's device of a flow kept off a tier for it ("" for others). */
static const char *shaped_dev(const struct flow *f)
{
	if (f->skip_reason != REASON_SHAPED && f->skip_reason != REASON_SHAPED_HW)
		return "";
	return shaping_slot_name(f->shaped_slot);
}

static void flow_line(FILE *out, const struct flow *f, bool json, bool first)
{
	const char *dev = shaped_dev(f);
	char reason[40];
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN],
		rd[INET6_ADDRSTRLEN], pb[8];
	const struct ct_info *c = &f->ct;
	uint64_t pk = c->packets[0] + c->packets[1], by = c->bytes[0] + c->bytes[1];

	addr_str(c->family, c->orig.src, s, sizeof(s));
	addr_str(c->family, c->orig.dst, d, sizeof(d));
	if (json) {
		/* Written directly rather than built with jansson: every string
		 * here is an address, a number or one of our fixed names,
		 * nothing to escape. */
		fprintf(out,
			"%s\n  {\"id\": %u, \"family\": \"%s\", \"proto\": \"%s\", \"src\": \"%s\", \"sport\": %u, \"dst\": \"%s\", \"dport\": %u, \"reply_src\": \"%s\", \"reply_sport\": %u, \"reply_dst\": \"%s\", \"reply_dport\": %u, \"state\": \"%s\", \"tier\": \"%s\", \"reason\": \"%s\", \"shaped_dev\": \"%s\", \"packets\": %llu, \"bytes\": %llu, \"avgpkt\": %llu, \"mark\": %u}",
			first ? "" : ",", c->id, family_str(c->family),
			proto_str(c->proto, pb, sizeof(pb)), s, c->orig.sport, d, c->orig.dport,
			addr_str(c->family, c->reply.src, rs, sizeof(rs)), c->reply.sport,
			addr_str(c->family, c->reply.dst, rd, sizeof(rd)), c->reply.dport,
			flows_state_str(f->state), flows_tier_str(f->tier),
			flow_reason(f), dev, (unsigned long long)pk,
			(unsigned long long)by, (unsigned long long)(pk ? by / pk : 0), c->mark);
		return;
	}
	/* "shaped:wan0": the reason and the shaper's device. */
	snprintf(reason, sizeof(reason), "%s%s%s",
		 f->skip_reason || f->hw_failed ? flow_reason(f) : "-",
		 dev[0] ? ":" : "", dev);
	fprintf(out, "%-10u %-4s %-4s %s:%u -> %s:%u  %-12s %-3s %-14s %10llu %14llu %6llu\n",
		c->id, family_str(c->family), proto_str(c->proto, pb, sizeof(pb)),
		s, c->orig.sport, d, c->orig.dport, flows_state_str(f->state),
		f->tier ? flows_tier_str(f->tier) : "-", reason,
		(unsigned long long)pk, (unsigned long long)by,
		(unsigned long long)(pk ? by / pk : 0));
}

struct flows_cursor {
	struct flows *t;
	struct listing_filter f;
	uint32_t pos;		/* storage number: see flows_next() */
	uint64_t shown;
};

/* One chunk: the next matching flows, then, at the end, the closing
 * bracket that keeps the streamed JSON one valid array. */
static int flows_chunk(void *arg, FILE *out)
{
	struct flows_cursor *k = arg;
	int lines = FLOWS_PER_CHUNK, scanned = SCAN_PER_CHUNK;
	struct flow *fl;

	while (lines && scanned-- && (!k->f.limit || k->shown < k->f.limit)) {
		fl = flows_next(k->t, &k->pos);
		if (!fl)
			break;
		if (!listing_match(&k->f, fl))
			continue;
		flow_line(out, fl, k->f.json, k->shown == 0);
		k->shown++;
		lines--;
	}
	if ((!k->f.limit || k->shown < k->f.limit) && !flows_cursor_done(k->t, k->pos))
		return 1;
	if (k->f.json)
		fputs(k->shown ? "\n]\n" : "]\n", out);
	return 0;
}

int listing_flows(struct ctl_call *call, struct flows *t, int argc, char **argv, FILE *out)
{
	struct flows_cursor *k = calloc(1, sizeof(*k));

	if (!k) {
		fputs("out of memory\n", out);
		return -ENOMEM;
	}
	if (listing_parse(argc, argv, false, &k->f, out)) {
		free(k);
		return -EINVAL;
	}
	k->t = t;
	if (k->f.json)
		fputc('[', out);
	else
		fprintf(out, "%-10s %-4s %-4s %-46s %-12s %-3s %-14s %10s %14s %6s\n", "ID", "FAM",
			"PROT", "FLOW", "STATE", "TIER", "REASON", "PACKETS", "BYTES", "AVGPKT");
	ctl_call_stream(call, flows_chunk, free, k);
	return 0;
}

/* ---- classes ------------------------------------------------------------------ */

/*
 * Classes are ranked heaviest first, which needs them all at once: the
 * cursor walks a snapshot of the statistics (bounded by [classes]
 * max-classes, or --limit; about 150 bytes a class), and only the text is
 * produced chunk by chunk.
 */
struct classes_cursor {
	struct class_stats *cs;
	size_t n, next;
	bool json;
};

/* The window-from the cost model prefers for this class's flows alone
 * (window_learn.c), for a flow of up to 1000 packets; 0: no flows. */
static uint32_t class_window(const struct class_stats *cs)
{
	const struct window_costs costs = WINDOW_COSTS_MEASURED;
	struct window_bucket b[CLASSES_HIST_BUCKETS];
	size_t n = classes_window_buckets(cs->packets_hist, cs->packets_max, b);
	uint64_t hi = cs->packets_max + 1;

	return window_learn_best(b, n, &costs, 3, hi < 3 ? 3 : hi > 1000 ? 1000 : (uint32_t)hi,
				 NULL);
}

static json_t *class_json(const struct class_stats *cs, const char *proto, const char *server)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:f, s:I, s:f, s:i, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:i, s:s}",
			 "family", family_str(cs->family),
			 "proto", proto, "port", (int)cs->port, "server", server,
			 "weight", cs->weight, "flows", (json_int_t)cs->flows_total,
			 "mice_share", cs->mice_share,
			 "clients", (int)cs->clients, "counted_weight", cs->counted_weight,
			 "packets", "p50", (json_int_t)cs->packets_p50,
			 "p90", (json_int_t)cs->packets_p90,
			 "p99", (json_int_t)cs->packets_p99,
			 "bytes", "p50", (json_int_t)cs->bytes_p50,
			 "p90", (json_int_t)cs->bytes_p90,
			 "p99", (json_int_t)cs->bytes_p99,
			 "duration_ms", "p50", (json_int_t)cs->duration_ms_p50,
			 "p90", (json_int_t)cs->duration_ms_p90,
			 "window", (int)class_window(cs),
			 "verdict", classes_verdict_str(cs->verdict));
}

static void print_class(FILE *out, const struct class_stats *cs, const char *proto,
			const char *server)
{
	char pk[32], by[48], du[32];

	snprintf(pk, sizeof(pk), "%llu/%llu/%llu", (unsigned long long)cs->packets_p50,
		 (unsigned long long)cs->packets_p90, (unsigned long long)cs->packets_p99);
	snprintf(by, sizeof(by), "%llu/%llu/%llu", (unsigned long long)cs->bytes_p50,
		 (unsigned long long)cs->bytes_p90, (unsigned long long)cs->bytes_p99);
	snprintf(du, sizeof(du), "%llu/%llu", (unsigned long long)cs->duration_ms_p50,
		 (unsigned long long)cs->duration_ms_p90);
	fprintf(out, "%-4s %-5s %-5u %-24s %9.1f %9llu %6.1f %20s %26s %16s %6u %s\n",
		family_str(cs->family), proto, cs->port, server, cs->weight,
		(unsigned long long)cs->flows_total, 100.0 * cs->mice_share, pk, by, du,
		class_window(cs), classes_verdict_str(cs->verdict));
}

static void class_out(FILE *out, const struct class_stats *cs, bool json, bool first)
{
	char server[INET6_ADDRSTRLEN + 4] = "*", pbuf[8], *text;
	const char *pb = proto_str(cs->proto, pbuf, sizeof(pbuf));
	json_t *j;

	if (cs->prefix_len) {
		addr_str(cs->family, cs->server, server, sizeof(server));
		snprintf(server + strlen(server), sizeof(server) - strlen(server), "/%u",
			 cs->prefix_len);
	}
	if (!json) {
		print_class(out, cs, pb, server);
		return;
	}
	j = class_json(cs, pb, server);
	text = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;
	fprintf(out, "%s\n  %s", first ? "" : ",", text ? text : "null");
	free(text);
	json_decref(j);
}

static int classes_chunk(void *arg, FILE *out)
{
	struct classes_cursor *k = arg;
	size_t end = k->next + CLASSES_PER_CHUNK < k->n ? k->next + CLASSES_PER_CHUNK : k->n;

	for (; k->next < end; k->next++)
		class_out(out, &k->cs[k->next], k->json, k->next == 0);
	if (k->next < k->n)
		return 1;
	if (k->json)
		fputs(k->n ? "\n]\n" : "]\n", out);
	return 0;
}

static void classes_release(void *arg)
{
	struct classes_cursor *k = arg;

	free(k->cs);
	free(k);
}

int listing_classes(struct ctl_call *call, struct classes *cls, uint64_t now_ms, int argc,
		    char **argv, const char *head, FILE *out)
{
	struct listing_filter f;
	struct classes_cursor *k;
	size_t n;

	if (listing_parse(argc, argv, true, &f, out))
		return -EINVAL;
	if (!cls) {
		fputs(f.json ? "[]\n" : "class learning is off ([classes] learn = no)\n", out);
		return 0;
	}
	n = classes_count(cls);
	if (f.limit && f.limit < n)
		n = (size_t)f.limit;
	k = calloc(1, sizeof(*k));
	if (k)
		k->cs = calloc(n ? n : 1, sizeof(*k->cs));
	if (!k || !k->cs) {
		free(k);
		fputs("out of memory\n", out);
		return -ENOMEM;
	}
	k->n = classes_snapshot(cls, k->cs, n, now_ms);
	k->json = f.json;
	if (f.json) {
		fputc('[', out);
	} else {
		if (head)
			fputs(head, out);
		fprintf(out, "%-4s %-5s %-5s %-24s %9s %9s %6s %20s %26s %16s %6s %s\n", "FAM",
			"PROTO", "PORT", "SERVER", "WEIGHT", "FLOWS", "MICE%", "PACKETS p50/p90/p99",
			"BYTES p50/p90/p99", "MS p50/p90", "WINDOW", "VERDICT");
	}
	ctl_call_stream(call, classes_chunk, classes_release, k);
	return 0;
}
