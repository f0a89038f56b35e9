/* ruleset_tool: drives nft_ruleset from the command line for the kernel
 * tests: install, remove, probe, render and check the agent's tables. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nft_ruleset.h"
#include "units.h"

/* Exit codes the kernel tests rely on. */
#define EXIT_ABSENT 1 /* present: the tables are not there */
#define EXIT_USAGE 2
#define EXIT_NO_HW 3 /* probe: the device lacks hardware offload */

static void usage(FILE *f)
{
	fputs("usage: ruleset_tool COMMAND [OPTIONS]\n"
	      "  install --sw DEVS [--hw DEVS]  replace the agent's tables in one transaction\n"
	      "  render  --sw DEVS [--hw DEVS]  print the ruleset as an nft script\n"
	      "  batch   --sw DEVS [--hw DEVS]  hex-dump the install batch, message by message\n"
	      "  present --sw DEVS [--hw DEVS]  exit 0 when the tables are there, 1 when not\n"
	      "  remove                         delete the agent's tables\n"
	      "  probe DEV                      exit 0 when DEV accepts `flags offload`,\n"
	      "                                 3 when it lacks hardware offload\n"
	      "options (defaults from config_defaults):\n"
	      "  --from N  --until M  --mask HEX  --proto tcp,udp|tcp|udp  --ack-only yes|no\n"
	      "  --udp-require-reply yes|no  --min-avgpkt BYTES  --small-from P  --events-window\n"
	      "  --skip-ports PORTS        e.g. 53,5060-5061\n"
	      "  --skip-prefixes PREFIXES  e.g. 198.18.5.0/24,2001:db8:5::/48\n"
	      "DEVS is a comma-separated list of device names.\n",
	      f);
}

static int parse_devs(const char *arg, char (*devs)[CONFIG_IFNAMSIZ], size_t *n)
{
	char buf[CONFIG_MAX_LIST * CONFIG_IFNAMSIZ], *tok, *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, arg);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == CONFIG_MAX_LIST || strlen(tok) >= CONFIG_IFNAMSIZ)
			return -E2BIG;
		strcpy(devs[(*n)++], tok);
	}
	return 0;
}

static int parse_yes_no(const char *arg, bool *out)
{
	if (strcmp(arg, "yes") && strcmp(arg, "no"))
		return -EINVAL;
	*out = !strcmp(arg, "yes");
	return 0;
}

/* "53,5060-5061": the [skip] ports of the config file, without its
 * diagnostics; overlaps are left for nft_ruleset to merge. */
static int parse_ports(const char *arg, struct fo_config *cfg)
{
	char buf[1024], *tok, *save = NULL, *dash;
	uint64_t lo, hi;

	if (strlen(arg) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, arg);
	cfg->n_skip_ports = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		if (units_parse_uint(tok, 1, 65535, &lo))
			return -EINVAL;
		hi = lo;
		if (dash && units_parse_uint(dash + 1, 1, 65535, &hi))
			return -EINVAL;
		if (lo > hi || cfg->n_skip_ports == CONFIG_MAX_LIST)
			return -EINVAL;
		cfg->skip_ports[cfg->n_skip_ports].lo = (uint16_t)lo;
		cfg->skip_ports[cfg->n_skip_ports].hi = (uint16_t)hi;
		cfg->n_skip_ports++;
	}
	return 0;
}

/* "198.18.5.0/24,2001:db8:5::/48"; host bits must be zero, as the
 * config file demands. */
static int parse_prefixes(const char *arg, struct fo_config *cfg)
{
	char buf[4096], *tok, *save = NULL, *slash;
	struct prefix *p;
	unsigned int bits, bit;
	uint64_t len;

	if (strlen(arg) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, arg);
	cfg->n_skip_prefixes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->n_skip_prefixes == CONFIG_MAX_LIST)
			return -E2BIG;
		p = &cfg->skip_prefixes[cfg->n_skip_prefixes++];
		memset(p, 0, sizeof(*p));
		slash = strchr(tok, '/');
		if (slash)
			*slash = '\0';
		p->family = strchr(tok, ':') ? AF_INET6 : AF_INET;
		bits = p->family == AF_INET ? 32 : 128;
		if (inet_pton(p->family, tok, p->addr) != 1)
			return -EINVAL;
		len = bits;
		if (slash && units_parse_uint(slash + 1, 0, bits, &len))
			return -EINVAL;
		p->len = (uint8_t)len;
		for (bit = p->len; bit < bits; bit++)
			if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
				return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct fo_config *cfg, struct ruleset_plan *plan)
{
	static const struct option opts[] = {
		{ "sw", required_argument, NULL, 's' },
		{ "hw", required_argument, NULL, 'h' },
		{ "from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' },
		{ "mask", required_argument, NULL, 'm' },
		{ "proto", required_argument, NULL, 'p' },
		{ "ack-only", required_argument, NULL, 'a' },
		{ "udp-require-reply", required_argument, NULL, 'r' },
		{ "skip-ports", required_argument, NULL, 'P' },
		{ "skip-prefixes", required_argument, NULL, 'X' },
		{ "min-avgpkt", required_argument, NULL, 'A' },
		{ "small-from", required_argument, NULL, 'S' },
		{ "events-window", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_devs(optarg, plan->sw_devs, &plan->n_sw))
				return -EINVAL;
			break;
		case 'h':
			if (parse_devs(optarg, plan->hw_devs, &plan->n_hw))
				return -EINVAL;
			break;
		case 'f':
		case 'u':
		case 'A':
		case 'S':
			if (units_parse_uint(optarg, 0, UINT32_MAX, &v))
				return -EINVAL;
			*(c == 'f' ? &cfg->window_from :
			  c == 'u' ? &cfg->window_until :
			  c == 'A' ? &cfg->min_avgpkt : &cfg->small_window_from) = (uint32_t)v;
			break;
		case 'm':
			errno = 0;
			v = strtoul(optarg, &end, 16);
			if (errno || *end || end == optarg || v > UINT32_MAX)
				return -EINVAL;
			cfg->mark_mask = (uint32_t)v;
			break;
		case 'p':
			cfg->proto_tcp = strstr(optarg, "tcp") != NULL;
			cfg->proto_udp = strstr(optarg, "udp") != NULL;
			break;
		case 'a':
			if (parse_yes_no(optarg, &cfg->tcp_ack_only))
				return -EINVAL;
			break;
		case 'r':
			if (parse_yes_no(optarg, &cfg->udp_require_reply))
				return -EINVAL;
			break;
		case 'E':
			cfg->events_window = true;
			break;
		case 'P':
			if (parse_ports(optarg, cfg))
				return -EINVAL;
			break;
		case 'X':
			if (parse_prefixes(optarg, cfg))
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

static int run(const char *cmd, int argc, char **argv, struct fo_config *cfg,
	       struct ruleset_plan *plan)
{
	struct nft_ruleset *r = NULL;
	char err[512] = "", *text = NULL;
	int ret;

	if (!strcmp(cmd, "render") || !strcmp(cmd, "batch")) {
		ret = cmd[0] == 'r' ? nft_ruleset_render(cfg, plan, &text)
				    : nft_ruleset_dump_batch(cfg, plan, &text);
		if (ret) {
			fprintf(stderr, "ruleset_tool: %s: %s\n", cmd, strerror(-ret));
			return 1;
		}
		fputs(text, stdout);
		free(text);
		return 0;
	}

	ret = nft_ruleset_open(&r);
	if (ret) {
		fprintf(stderr, "ruleset_tool: cannot open an nftables socket: %s\n",
			strerror(-ret));
		return 1;
	}
	if (!strcmp(cmd, "install")) {
		ret = nft_ruleset_install(r, cfg, plan, err, sizeof(err));
	} else if (!strcmp(cmd, "remove")) {
		ret = nft_ruleset_remove(r, err, sizeof(err));
	} else if (!strcmp(cmd, "present")) {
		ret = nft_ruleset_present(r, plan);
		if (ret >= 0) {
			printf("%s\n", ret ? "present" : "absent");
			nft_ruleset_close(r);
			return ret ? 0 : EXIT_ABSENT;
		}
	} else {
		if (optind + 1 != argc) {
			usage(stderr);
			nft_ruleset_close(r);
			return EXIT_USAGE;
		}
		ret = nft_ruleset_probe_hw(r, argv[optind], err, sizeof(err));
		if (ret == 0)
			printf("%s: hardware offload supported\n", argv[optind]);
		else if (ret == -EOPNOTSUPP)
			printf("%s: no hardware offload: %s\n", argv[optind], err);
		nft_ruleset_close(r);
		if (ret == 0 || ret == -EOPNOTSUPP)
			return ret ? EXIT_NO_HW : 0;
		fprintf(stderr, "ruleset_tool: probe %s: %s\n", argv[optind],
			err[0] ? err : strerror(-ret));
		return 1;
	}
	nft_ruleset_close(r);
	if (ret) {
		fprintf(stderr, "ruleset_tool: %s: %s\n", cmd, err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const cmds[] = { "install", "remove", "probe", "render", "present",
					    "batch" };
	struct ruleset_plan plan;
	struct fo_config cfg;
	const char *cmd;
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cmd = argv[1];
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i]))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		usage(stderr);
		return EXIT_USAGE;
	}
	config_defaults(&cfg);
	memset(&plan, 0, sizeof(plan));
	if (parse_opts(argc - 1, argv + 1, &cfg, &plan)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	optind++; /* getopt saw argv + 1: make optind index argv */
	return run(cmd, argc, argv, &cfg, &plan);
}
