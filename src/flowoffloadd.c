/* flowoffloadd: the offload agent's command line: validate the config, print
 * the ruleset it would install, or run the agent in the foreground or as a daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>

#include "agent.h"
#include "config.h"
#include "log.h"
#include "nft_ruleset.h"
#include "plan.h"
#include "privs.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flowoffloadd [-c FILE] [-f] [-v] [-u USER[:GROUP]] [--keep-ruleset]\n"
		"       flowoffloadd [-c FILE] --check-config | --dry-run\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -f, --foreground    stay in the foreground and log to stderr\n"
		"  -v, --verbose       log debug messages\n"
		"  -u, --user USER[:GROUP]  switch to this user (and group) once the control\n"
		"                      socket is open, before touching the ruleset or\n"
		"                      conntrack (overrides [agent] user and group)\n"
		"      --keep-ruleset  leave the agent's nftables tables in place on exit\n"
		"      --check-config  validate the configuration and print the ruleset it gives,\n"
		"                      devices as written (on any machine: nothing is resolved)\n"
		"      --dry-run       resolve devices, probe hardware offload, print the\n"
		"                      ruleset that would be installed; change nothing\n"
		"Needs CAP_NET_ADMIN (root, or a service manager's ambient capability); once\n"
		"its control socket is open it keeps that capability alone, with no_new_privs.\n",
		CONFIG_DEFAULT_PATH);
}

/* --check-config needs neither the kernel nor this machine's devices:
 * they stay as written (configs are checked on build hosts); --dry-run
 * resolves them here and probes hardware offload. */
static int print_ruleset(const struct fo_config *cfg, bool probe)
{
	struct ruleset_plan plan;
	char err[512] = "", *text = NULL;
	int ret;

	if (probe)
		ret = plan_build(cfg, &plan, probe, stderr, err, sizeof(err));
	else
		ret = plan_offline(cfg, &plan, stderr);
	if (ret) {
		if (!err[0])
			snprintf(err, sizeof(err), "[devices] lists no device");
		fprintf(stderr, "flowoffloadd: %s\n", err);
		return 1;
	}
	ret = nft_ruleset_render(cfg, &plan, &text);
	if (ret) {
		fprintf(stderr, "flowoffloadd: cannot render the ruleset: %s\n", strerror(-ret));
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

struct cmdline {
	struct agent_options opt;
	bool check, dry, verbose;
};

/* The command line into *cl: -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct cmdline *cl)
{
	enum { OPT_KEEP = 256, OPT_CHECK, OPT_DRY };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "user", required_argument, NULL, 'u' },
		{ "keep-ruleset", no_argument, NULL, OPT_KEEP },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *colon;
	int c;

	while ((c = getopt_long(argc, argv, "c:fvu:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cl->opt.config_path = optarg;
			break;
		case 'f':
			cl->opt.foreground = true;
			break;
		case 'v':
			cl->verbose = true;
			break;
		case 'u':
			/* USER[:GROUP]: split in place, argv is ours. */
			colon = strchr(optarg, ':');
			if (colon) {
				*colon = '\0';
				cl->opt.group = colon + 1;
			}
			cl->opt.user = optarg;
			if (!*cl->opt.user) {
				fprintf(stderr, "flowoffloadd: -u needs a user name or uid\n");
				return 2;
			}
			break;
		case OPT_KEEP:
			cl->opt.keep_ruleset = true;
			break;
		case OPT_CHECK:
			cl->check = true;
			break;
		case OPT_DRY:
			cl->dry = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cmdline cl = { .opt = { .config_path = CONFIG_DEFAULT_PATH } };
	struct fo_config cfg;
	char err[512];
	int ret;

	ret = parse_args(argc, argv, &cl);
	if (ret >= 0)
		return ret;
	ret = config_load(cl.opt.config_path, &cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "flowoffloadd: %s\n", err);
		return 1;
	}
	if (cl.check || cl.dry)
		return print_ruleset(&cfg, cl.dry);

	/* What the kernel checks is the capability, not the uid: root in a
	 * container without it fails the same way, and a service manager
	 * may hand it to another user (AmbientCapabilities=CAP_NET_ADMIN). */
	ret = privs_has(CAP_NET_ADMIN);
	if (ret != 1) {
		if (ret < 0)
			fprintf(stderr, "flowoffloadd: cannot read the capability sets: %s\n",
				strerror(-ret));
		else
			fprintf(stderr, "flowoffloadd: needs CAP_NET_ADMIN (missing from the effective set)\n");
		return 1;
	}
	log_init("flowoffloadd", cl.opt.foreground, cl.verbose ? LOG_DEBUG : LOG_INFO);
	if (!cl.opt.foreground && daemon(0, 0)) {
		fprintf(stderr, "flowoffloadd: cannot daemonize: %s\n", strerror(errno));
		return 1;
	}
	return agent_run(&cl.opt, &cfg);
}
