/* config-doc: writes the documents generated from the config table: the example
 * config, or flowoffload.conf.5 with its key list regenerated (make update-docs). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_doc.h"

/*
 * A build tool, not a hidden mode of flowoffloadd: the daemon that runs
 * with CAP_NET_ADMIN carries no document writer, and this program is not
 * installed.  It links the same library, so it reads the same rows.
 */
int main(int argc, char **argv)
{
	FILE *in;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "example")) {
		ret = config_doc_example(stdout);
	} else if (argc == 3 && !strcmp(argv[1], "man")) {
		in = fopen(argv[2], "r");
		if (!in) {
			fprintf(stderr, "config-doc: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		ret = config_doc_splice(in, stdout);
		fclose(in);
		if (ret == -EINVAL)
			fprintf(stderr, "config-doc: %s lacks the lines\n%s\n%s\n", argv[2],
				CONFIG_DOC_BEGIN, CONFIG_DOC_END);
	} else {
		fputs("usage: config-doc example\n"
		      "       config-doc man FLOWOFFLOAD.CONF.5\n"
		      "Writes flowoffload.conf.example, or the man page with its key list\n"
		      "regenerated from the config table, to stdout.\n",
		      stderr);
		return 2;
	}
	if (ret || fflush(stdout)) {
		if (ret != -EINVAL)
			fprintf(stderr, "config-doc: cannot write: %s\n", strerror(ret ? -ret : errno));
		return 1;
	}
	return 0;
}
