/* config_doc: renders the config table (config_table.c) as the example config
 * and as the mdoc key list of flowoffload.conf(5); tools/config-doc runs it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_doc.h"
#include "config_table.h"

#define WIDTH 76

/* The example's head: the file format, which no one key owns. */
static const char example_head[] =
	"# flowoffload.conf.example: every key of flowoffload.conf, set to its\n"
	"# default, with what it allows and why the default is what it is.\n"
	"# Generated from src/config_table.c by tools/config-doc: edit the table,\n"
	"# then run `make update-docs`.\n"
	"#\n"
	"# Format: INI.  \"key = value\" lines under [section] lines; a line starting\n"
	"# with '#' or ';' is a comment, and so is anything after \" ;\" on a line\n"
	"# (a '#' after a value is refused: it would be read as part of the value).\n"
	"# A key may appear once.  List values are separated by blanks or commas and\n"
	"# may continue on indented lines below the key:\n"
	"#\n"
	"#     prefixes = 198.18.0.0/15\n"
	"#                2001:db8::/32\n"
	"#\n"
	"# Lines are at most 199 characters.  Unknown sections and keys are errors:\n"
	"# a typo never silently leaves a default in place.\n";

/* The next word of *p and the blanks before it (two after a sentence). */
static size_t next_word(const char **p, size_t *gap)
{
	const char *s = *p;

	*gap = strspn(s, " ");
	s += *gap;
	*p = s;
	return strcspn(s, " ");
}

/* text as "# " comment lines of at most WIDTH columns. */
static int comment(FILE *f, const char *text)
{
	const char *p = text;
	size_t col = 0, gap, n;

	while ((n = next_word(&p, &gap)) > 0) {
		if (col && col + gap + n > WIDTH) {
			if (fputc('\n', f) == EOF)
				return -EIO;
			col = 0;
		}
		if (fprintf(f, "%s%.*s", col ? (gap > 1 ? "  " : " ") : "# ", (int)n, p) < 0)
			return -EIO;
		col += (col ? (gap > 1 ? 2 : 1) : 2) + n;
		p += n;
	}
	return fputc('\n', f) == EOF ? -EIO : 0;
}

int config_doc_example(FILE *f)
{
	const char *section = "";
	size_t i;
	int ret;

	if (fputs(example_head, f) == EOF)
		return -EIO;
	for (i = 0; i < CONFIG_KEY_MAX; i++) {
		const struct config_key *k = &config_keys[i];
		const char *intro;

		if (strcmp(k->section, section)) {
			section = k->section;
			if (fprintf(f, "\n[%s]\n", section) < 0)
				return -EIO;
			intro = config_table_section_help(section);
			if (intro && (comment(f, intro) || fputc('\n', f) == EOF))
				return -EIO;
		} else if (fputc('\n', f) == EOF) {
			return -EIO;
		}
		ret = comment(f, k->help ? k->help : "");
		if (ret)
			return ret;
		if (fprintf(f, "%s =%s%s\n", k->name, *k->def ? " " : "", k->def) < 0)
			return -EIO;
	}
	return 0;
}

/* One line of mdoc text: a leading '.' or '\'' would be a request, and a
 * backslash an escape. */
static int mdoc_text(FILE *f, const char *s, size_t n)
{
	size_t i;

	if (n && (s[0] == '.' || s[0] == '\'') && fputs("\\&", f) == EOF)
		return -EIO;
	for (i = 0; i < n; i++)
		if ((s[i] == '\\' ? fputs("\\e", f) : fputc(s[i], f)) == EOF)
			return -EIO;
	return fputc('\n', f) == EOF ? -EIO : 0;
}

/* A sentence as mdoc text lines of at most WIDTH bytes, broken at blanks. */
static int mdoc_sentence(FILE *f, const char *s, size_t n, size_t first)
{
	size_t cut;
	int ret;

	while (n + first > WIDTH) {
		cut = WIDTH - first;
		while (cut > 0 && s[cut] != ' ')
			cut--;
		if (!cut)
			break;
		ret = mdoc_text(f, s, cut);
		if (ret)
			return ret;
		s += cut + 1;
		n -= cut + 1;
		first = 0;
	}
	return mdoc_text(f, s, n);
}

/* Prose as mdoc: each sentence (ended by two blanks) starts a line.  first
 * is the width already taken on the first line. */
static int mdoc_prose(FILE *f, const char *text, size_t first)
{
	const char *p = text, *end;
	int ret;

	while (*p) {
		end = strstr(p, "  ");
		if (!end)
			end = p + strlen(p);
		ret = mdoc_sentence(f, p, (size_t)(end - p), first);
		if (ret)
			return ret;
		p = end + strspn(end, " ");
		first = 0;
	}
	return 0;
}

static int mdoc_key(FILE *f, const struct config_key *k)
{
	char allowed[512];

	if (fprintf(f, ".It Ic %s\n", k->name) < 0 || mdoc_prose(f, k->help ? k->help : "", 0))
		return -EIO;
	snprintf(allowed, sizeof(allowed), "Allowed: %s.", k->allowed);
	if (fputs(".Pp\n", f) == EOF || mdoc_prose(f, allowed, 0))
		return -EIO;
	if (!*k->def)
		return fputs("Default: empty.\n", f) == EOF ? -EIO : 0;
	return fprintf(f, "Default:\n.Ql \"%s\" .\n", k->def) < 0 ? -EIO : 0;
}

int config_doc_mdoc(FILE *f)
{
	const char *section = "", *intro;
	size_t i;

	for (i = 0; i < CONFIG_KEY_MAX; i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(k->section, section)) {
			if (*section && fputs(".El\n", f) == EOF)
				return -EIO;
			section = k->section;
			if (fprintf(f, ".Ss [%s] section\n", section) < 0)
				return -EIO;
			intro = config_table_section_help(section);
			if (intro && mdoc_prose(f, intro, 0))
				return -EIO;
			if (fputs(".Bl -tag -width Ds\n", f) == EOF)
				return -EIO;
		}
		if (mdoc_key(f, k))
			return -EIO;
	}
	return fputs(".El\n", f) == EOF ? -EIO : 0;
}

int config_doc_splice(FILE *in, FILE *out)
{
	char line[1024];
	bool inside = false, begun = false, ended = false;

	while (fgets(line, sizeof(line), in)) {
		size_t n = strcspn(line, "\n");

		if (!inside && !strncmp(line, CONFIG_DOC_BEGIN, n) && n == strlen(CONFIG_DOC_BEGIN)) {
			if (fputs(line, out) == EOF || config_doc_mdoc(out))
				return -EIO;
			inside = begun = true;
			continue;
		}
		if (inside && !strncmp(line, CONFIG_DOC_END, n) && n == strlen(CONFIG_DOC_END)) {
			inside = false;
			ended = true;
		}
		if (!inside && fputs(line, out) == EOF)
			return -EIO;
	}
	if (ferror(in))
		return -EIO;
	return begun && ended ? 0 : -EINVAL;
}
