/* config_doc: the config table rendered as documents: the example config and
 * the key list of flowoffload.conf(5), both generated, never edited by hand. */
#ifndef FLOWOFFLOAD_CONFIG_DOC_H
#define FLOWOFFLOAD_CONFIG_DOC_H

#include <stdio.h>

/* The lines around the generated part of flowoffload.conf.5. */
#define CONFIG_DOC_BEGIN ".\\\" BEGIN KEYS: generated from src/config_table.c (make update-docs)"
#define CONFIG_DOC_END ".\\\" END KEYS"

/* flowoffload.conf.example: every key at its default, below its help as
 * comments, wrapped to 76 columns.  0 or -EIO. */
int config_doc_example(FILE *f);

/* The mdoc of every section and key (.Ss, .Bl -tag), with help, what is
 * allowed and the default.  0 or -EIO. */
int config_doc_mdoc(FILE *f);

/* Copy the man page in to out with the lines between CONFIG_DOC_BEGIN and
 * CONFIG_DOC_END replaced by config_doc_mdoc().  0, -EINVAL when a marker
 * is missing, -EIO. */
int config_doc_splice(FILE *in, FILE *out);

#endif
