/* config_value: turns the text of one key into its field of struct
 * fo_config by the key's type in config_table; knows no files or lines. */
#ifndef FLOWOFFLOAD_CONFIG_VALUE_H
#define FLOWOFFLOAD_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_table.h"

/* Entries of a list key may continue on indented lines. */
bool config_value_is_list(const struct config_key *k);

/* A key given in the file replaces its default: a list starts empty. */
void config_value_begin(struct fo_config *cfg, const struct config_key *k);

/* Parses value (of a list: the entries of one line) into cfg.  Returns 0,
 * or -EINVAL and what is wrong in why ("\"0\" is out of range"). */
int config_value_parse(struct fo_config *cfg, const struct config_key *k, const char *value,
		       char *why, size_t whylen);

/* Once a list has all its lines: -EINVAL and why if it must not be empty
 * and is, else 0. */
int config_value_finish(const struct fo_config *cfg, const struct config_key *k, char *why,
			size_t whylen);

#endif
