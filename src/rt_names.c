/* rt_names: routing table ids from iproute2's rt_tables files and route
 * protocol numbers from the kernel's RTPROT_* names. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>

#include "rt_names.h"
#include "units.h"

static const struct {
	const char *name;
	uint8_t proto;
} protos[] = {
	{ "redirect", RTPROT_REDIRECT }, { "kernel", RTPROT_KERNEL }, { "boot", RTPROT_BOOT },
	{ "static", RTPROT_STATIC }, { "ra", RTPROT_RA }, { "mrt", RTPROT_MRT },
	{ "zebra", RTPROT_ZEBRA }, { "bird", RTPROT_BIRD }, { "dnrouted", RTPROT_DNROUTED },
	{ "xorp", RTPROT_XORP }, { "ntk", RTPROT_NTK }, { "dhcp", RTPROT_DHCP },
	{ "mrouted", RTPROT_MROUTED }, { "keepalived", 18 }, { "babel", RTPROT_BABEL },
	{ "openr", 99 }, { "bgp", 186 }, { "isis", 187 }, { "ospf", 188 }, { "rip", 189 },
	{ "eigrp", 192 },
};

int rt_names_proto(const char *s, uint8_t *proto)
{
	uint64_t v;
	size_t i;

	if (!units_parse_uint(s, 0, 255, &v)) {
		*proto = (uint8_t)v;
		return 0;
	}
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(protos[i].name, s)) {
			*proto = protos[i].proto;
			return 0;
		}
	return -ENOENT;
}

const char *rt_names_proto_str(uint8_t p)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == p)
			return protos[i].name;
	return NULL;
}

/* "ID NAME" lines; '#' starts a comment.  0 found, -ENOENT not. */
static int table_in_file(const char *path, const char *name, uint32_t *id)
{
	char line[256], word[128];
	unsigned long long v;
	FILE *f = fopen(path, "re");
	int ret = -ENOENT;

	if (!f)
		return -ENOENT;
	while (ret && fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#');

		if (hash)
			*hash = '\0';
		if (sscanf(line, "%llu %127s", &v, word) == 2 && v > 0 && v <= UINT32_MAX &&
		    !strcmp(word, name)) {
			*id = (uint32_t)v;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static int table_in_dir(const char *dir, const char *name, uint32_t *id)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);
	int ret = -ENOENT;
	size_t len;

	if (!d)
		return -ENOENT;
	while (ret && (e = readdir(d))) {
		len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".conf"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ret = table_in_file(path, name, id);
	}
	closedir(d);
	return ret;
}

int rt_names_table(const char *s, uint32_t *id)
{
	static const struct {
		const char *name;
		uint32_t id;
	} builtin[] = { { "default", RT_TABLE_DEFAULT }, { "main", RT_TABLE_MAIN },
			{ "local", RT_TABLE_LOCAL } };
	uint64_t v;
	size_t i;

	if (!units_parse_uint(s, 1, UINT32_MAX, &v)) {
		*id = (uint32_t)v;
		return 0;
	}
	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strcmp(builtin[i].name, s)) {
			*id = builtin[i].id;
			return 0;
		}
	/* iproute2 6.x ships its defaults under /usr/share, the admin's
	 * under /etc; either may name the table. */
	if (!table_in_file("/etc/iproute2/rt_tables", s, id) ||
	    !table_in_dir("/etc/iproute2/rt_tables.d", s, id) ||
	    !table_in_file("/usr/share/iproute2/rt_tables", s, id) ||
	    !table_in_dir("/usr/share/iproute2/rt_tables.d", s, id))
		return 0;
	return -ENOENT;
}
