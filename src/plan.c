/* plan: the startup plan: which devices get the software flowtable, which
 * the hardware one (probed), from the [devices] and [hardware] config. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "links.h"
#include "log.h"
#include "plan.h"

/* Move the probed devices into the hardware tier; with mode = on, one that
 * cannot offload is an error. */
static int probe_devices(const struct fo_config *cfg, struct ruleset_plan *plan,
			 char sel[][CONFIG_IFNAMSIZ], size_t nsel, bool probe_hw, FILE *notes,
			 char *err, size_t errlen)
{
	struct nft_ruleset *nft = NULL;
	size_t i;
	int ret;

	if (probe_hw) {
		ret = nft_ruleset_open(&nft);
		if (ret) {
			snprintf(err, errlen, "cannot open an nftables socket: %s", strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < nsel; i++) {
		char perr[256] = "";

		if (links_is_sw_only(cfg, sel[i]))
			continue;
		ret = probe_hw ? nft_ruleset_probe_hw(nft, sel[i], perr, sizeof(perr)) : -EOPNOTSUPP;
		if (ret == 0) {
			strcpy(plan->hw_devs[plan->n_hw++], sel[i]);
			continue;
		}
		if (cfg->hw_mode == HW_MODE_ON) {
			snprintf(err, errlen,
				 "[hardware] mode = on, but %s cannot offload a flowtable (%s); set mode = auto or list %s in software-only",
				 sel[i], perr[0] ? perr : strerror(-ret), sel[i]);
			nft_ruleset_close(nft);
			return ret;
		}
		if (notes && probe_hw)
			fprintf(notes, "flowtable %s: %s lacks hardware offload (%s); using software only\n",
				NFT_TABLE_HW, sel[i], strerror(-ret));
	}
	nft_ruleset_close(nft);
	return 0;
}

int plan_from_links(const struct fo_config *cfg, const struct link_info *links, size_t n,
		    struct links_memory *mem, struct ruleset_plan *plan, bool probe_hw,
		    FILE *notes, char *err, size_t errlen)
{
	char sel[CONFIG_MAX_LIST][CONFIG_IFNAMSIZ];
	char why[4096];
	size_t nsel, i;

	memset(plan, 0, sizeof(*plan));
	nsel = links_resolve(cfg, links, n, mem, sel, CONFIG_MAX_LIST, why, sizeof(why));
	if (notes && why[0])
		fputs(why, notes);
	if (nsel == 0) {
		snprintf(err, errlen,
			 "no device to offload: [devices] devices = %s matched no %snetwork device",
			 cfg->devices_auto ? "auto" : "(list)",
			 cfg->devices_auto ? "up, forwarding, non-loopback " : "existing ");
		return -ENODEV;
	}
	for (i = 0; i < nsel; i++)
		strcpy(plan->sw_devs[plan->n_sw++], sel[i]);
	if (cfg->hw_mode == HW_MODE_OFF)
		return 0;
	return probe_devices(cfg, plan, sel, nsel, probe_hw, notes, err, errlen);
}

int plan_build(const struct fo_config *cfg, struct ruleset_plan *plan, bool probe_hw,
	       FILE *notes, char *err, size_t errlen)
{
	struct link_info *links = NULL;
	size_t n = 0;
	int ret;

	memset(plan, 0, sizeof(*plan));
	ret = links_list(&links, &n);
	if (ret) {
		snprintf(err, errlen, "cannot list network devices: %s", strerror(-ret));
		return ret;
	}
	ret = plan_from_links(cfg, links, n, NULL, plan, probe_hw, notes, err, errlen);
	free(links);
	return ret;
}

/* The device entries as written stand for the devices: a check of the
 * file must not depend on the machine it runs on (a build host, a package
 * build); `auto` becomes one placeholder name. */
int plan_offline(const struct fo_config *cfg, struct ruleset_plan *plan, FILE *notes)
{
	size_t i;

	memset(plan, 0, sizeof(*plan));
	if (cfg->devices_auto)
		strcpy(plan->sw_devs[plan->n_sw++], PLAN_AUTO_PLACEHOLDER);
	for (i = 0; !cfg->devices_auto && i < cfg->n_devices && i < CONFIG_MAX_LIST; i++)
		strcpy(plan->sw_devs[plan->n_sw++], cfg->devices[i]);
	if (notes)
		fprintf(notes, "# devices as written (%s); --dry-run resolves them on this machine\n",
			cfg->devices_auto ? "auto" : "names and wildcards");
	/* mode = on puts every device not software-only in hardware; auto
	 * decides by probing, which needs the devices themselves. */
	for (i = 0; cfg->hw_mode == HW_MODE_ON && i < plan->n_sw; i++)
		if (!links_is_sw_only(cfg, plan->sw_devs[i]))
			strcpy(plan->hw_devs[plan->n_hw++], plan->sw_devs[i]);
	if (notes && cfg->hw_mode == HW_MODE_AUTO)
		fprintf(notes, "# [hardware] mode = auto: the hardware tier is decided by probing each device at start\n");
	return plan->n_sw ? 0 : -ENODEV;
}

bool plan_has_hw(const struct ruleset_plan *plan, const char *dev)
{
	size_t j;

	for (j = 0; j < plan->n_hw; j++)
		if (strcmp(plan->hw_devs[j], dev) == 0)
			return true;
	return false;
}

void plan_log_sw_only(const struct fo_config *cfg, const struct ruleset_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->n_sw; i++)
		if (!plan_has_hw(plan, plan->sw_devs[i]) && cfg->hw_mode != HW_MODE_OFF &&
		    !links_is_sw_only(cfg, plan->sw_devs[i]))
			log_notice("flowtable %s: %s lacks hardware offload; using software only",
				   NFT_TABLE_HW, plan->sw_devs[i]);
}
