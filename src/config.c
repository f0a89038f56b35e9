/* config: read /etc/flowoffload/flowoffload.conf (INI, libinih) into struct fo_config and
 * validate every key; each error is one line naming file:line, key and allowed. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ini.h>

#include "config.h"
#include "config_table.h"
#include "config_value.h"

#define SECTIONS_ALLOWED "[devices] [offload] [hardware] [skip] [routes] [classes] [agent]"

/* What a key's value says is wrong fits in what fail_at() prints of it. */
#define WHY_MAX 512

struct parse_state {
	const char *path;
	FILE *f;
	char *line;			/* getline(3) buffer */
	size_t linecap;
	int lineno;			/* the line inih is working on */
	int read_err;			/* errno of a failed read */
	bool inih_prev_name;		/* inih's idea of "a key was set in this section" */
	bool cont;			/* this line continues the previous key */
	const struct config_key *cur;	/* the key the last key line set */
	int key_line[CONFIG_KEY_MAX];	/* where each key was set; 0: not set */
	int err_line;			/* first error found; 0: none */
	int err;
	char msg[1024];
	struct fo_config cfg;
};

/* The defaults are parsed from the rows' text by the same code as the file,
 * so the example's key lines and the defaults cannot disagree.  The text is
 * constant and test_config pins every default, so a failure is a build
 * defect, not something a running agent can meet or work around. */
void config_defaults(struct fo_config *cfg)
{
	const struct config_key *k;
	char why[WHY_MAX];

	memset(cfg, 0, sizeof(*cfg));
	for (k = config_keys; k < config_keys + CONFIG_KEY_MAX; k++) {
		config_value_begin(cfg, k);
		if (config_value_parse(cfg, k, k->def, why, sizeof(why)) ||
		    config_value_finish(cfg, k, why, sizeof(why))) {
			fprintf(stderr, "flowoffload: built-in default [%s] %s = %s: %s\n",
				k->section, k->name, k->def, why);
			abort();
		}
	}
}

/* Errors are found in file order, except the checks that need the whole
 * key or file; keeping the lowest line number reports what an operator
 * reading from the top meets first. */
__attribute__((format(printf, 3, 4)))
static int record(struct parse_state *st, int line, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	if (st->err_line && st->err_line <= line)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	st->err_line = line;
	st->err = -EINVAL;
	snprintf(st->msg, sizeof(st->msg), "%s:%d: %s", st->path, line, what);
	return -EINVAL;
}

__attribute__((format(printf, 5, 6)))
static int fail_at(struct parse_state *st, int line, const struct config_key *k,
		   const char *allowed, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return record(st, line, "[%s] %s: %s; allowed: %s", k->section, k->name, what,
		      allowed ? allowed : k->allowed);
}

/* The value's error (what is wrong) at the current line. */
static int parse_value(struct parse_state *st, const struct config_key *k, const char *value)
{
	char why[WHY_MAX];

	if (!config_value_parse(&st->cfg, k, value, why, sizeof(why)))
		return 0;
	return fail_at(st, st->lineno, k, NULL, "%s", why);
}

static int key_index(const struct config_key *k)
{
	return (int)(k - config_keys);
}

/* A list may continue on indented lines, so emptiness is known only when
 * the next key (or the end of the file) comes. */
static int finish_key(struct parse_state *st)
{
	const struct config_key *k = st->cur;
	char why[WHY_MAX];

	if (!k)
		return 0;
	st->cur = NULL;
	if (!config_value_finish(&st->cfg, k, why, sizeof(why)))
		return 0;
	return fail_at(st, st->key_line[key_index(k)], k, NULL, "%s", why);
}

static int check_window(struct parse_state *st)
{
	const struct fo_config *c = &st->cfg;
	int lf = st->key_line[CONFIG_KEY_WINDOW_FROM], lu = st->key_line[CONFIG_KEY_WINDOW_UNTIL];
	char where[32];

	if (c->window_until >= c->window_from) {
		int ls = st->key_line[CONFIG_KEY_SMALL_WINDOW_FROM];

		if (!c->small_window_from ||
		    (c->small_window_from >= c->window_from &&
		     c->small_window_from <= c->window_until))
			return 0;
		return fail_at(st, ls, &config_keys[CONFIG_KEY_SMALL_WINDOW_FROM], NULL,
			       "%u is outside the window %u..%u", c->small_window_from,
			       c->window_from, c->window_until);
	}
	/* Blame the key the operator wrote last: the other one was already
	 * in place (or is the default) when it was written. */
	if (lu > lf) {
		if (lf)
			snprintf(where, sizeof(where), "line %d", lf);
		else
			snprintf(where, sizeof(where), "the default");
		return fail_at(st, lu, &config_keys[CONFIG_KEY_WINDOW_UNTIL], NULL,
			       "%u is below window-from %u (%s)", c->window_until, c->window_from,
			       where);
	}
	if (lu)
		snprintf(where, sizeof(where), "line %d", lu);
	else
		snprintf(where, sizeof(where), "the default");
	return fail_at(st, lf, &config_keys[CONFIG_KEY_WINDOW_FROM], NULL,
		       "%u is above window-until %u (%s)", c->window_from, c->window_until, where);
}

static int check_events(struct parse_state *st)
{
	if (!st->cfg.events_window || st->cfg.hw_mode == HW_MODE_OFF)
		return 0;
	return fail_at(st, st->key_line[CONFIG_KEY_EVENTS], &config_keys[CONFIG_KEY_EVENTS], NULL,
		       "window hears of a flow only at packet N, too late for the hardware tier; "
		       "set [hardware] mode = off");
}

/* A table's routes play one role: "only" and "never" on one prefix
 * contradict each other, and a preferred prefix that is never offloaded
 * is a mistake the operator should hear about. */
static int check_routes(struct parse_state *st)
{
	static const char *const names[] = { "prefer-hardware", "only", "never" };
	const struct fo_config *c = &st->cfg;
	const struct route_table_sel *a, *b;
	size_t i, j;
	int r, q;

	for (r = 1; r < ROUTE_ROLES; r++)
		for (i = 0; i < c->n_routes[r]; i++)
			for (q = 0; q < r; q++)
				for (j = 0; j < c->n_routes[q]; j++) {
					a = &c->routes[r][i];
					b = &c->routes[q][j];
					if (a->table != b->table ||
					    (a->proto != b->proto && a->proto >= 0 && b->proto >= 0))
						continue;
					return fail_at(st, st->key_line[CONFIG_KEY_ROUTES_PREFER_HW + r],
						       &config_keys[CONFIG_KEY_ROUTES_PREFER_HW + r],
						       NULL, "table %u is already followed by %s",
						       a->table, names[q]);
				}
	return 0;
}

/* A group alone would be a half-done switch: the uid would stay 0. */
static int check_user(struct parse_state *st)
{
	if (!st->cfg.run_group[0] || st->cfg.run_user[0])
		return 0;
	return fail_at(st, st->key_line[CONFIG_KEY_GROUP], &config_keys[CONFIG_KEY_GROUP], NULL,
		       "a group without [agent] user; set user too, or leave group empty");
}

static int unknown_key(struct parse_state *st, const char *section, const char *name)
{
	char allowed[256];

	config_table_key_names(section, allowed, sizeof(allowed));
	return record(st, st->lineno, "[%s] %s: unknown key; allowed: %s", section, name, allowed);
}

/* inih takes '#' as a comment only at the start of a line: after a value
 * it is part of the value, and "devices = eth0 # uplink" would quietly add
 * two devices named "#" and "uplink". */
static int check_comment(struct parse_state *st, const struct config_key *k, const char *value)
{
	const char *p;

	for (p = strchr(value, '#'); p; p = strchr(p + 1, '#'))
		if (p == value || isspace((unsigned char)p[-1]))
			return fail_at(st, st->lineno, k,
				       "'#' comments on lines of their own, \" ;\" after a value",
				       "\"%s\" holds a '#' comment", value);
	return 0;
}

static int handle_key(struct parse_state *st, const char *section, const char *name,
		      const char *value)
{
	const struct config_key *k;
	int err;

	if (st->cont) {
		k = st->cur;
		if (!k)
			return 0;
		/* An indented key or section line is a continuation to inih;
		 * say so rather than report it as a bad list entry. */
		if (!config_value_is_list(k) || strpbrk(value, "=["))
			return fail_at(st, st->lineno, k,
				       "keys and [sections] at the start of a line; only lists "
				       "continue on indented lines",
				       "the indented line \"%s\" continues its value", value);
		err = check_comment(st, k, value);
		return err ? err : parse_value(st, k, value);
	}
	err = finish_key(st);
	if (err)
		return err;
	if (!*section)
		return record(st, st->lineno, "%s: outside any section; allowed: a section line first: "
			      SECTIONS_ALLOWED, name);
	if (!config_table_known_section(section, strlen(section)))
		return record(st, st->lineno, "[%s]: unknown section; allowed: " SECTIONS_ALLOWED,
			      section);
	k = config_table_find(section, name);
	if (!k)
		return unknown_key(st, section, name);
	if (st->key_line[key_index(k)])
		return fail_at(st, st->lineno, k, "each key once",
			       "repeated (first set on line %d)", st->key_line[key_index(k)]);
	st->key_line[key_index(k)] = st->lineno;
	st->cur = k;
	config_value_begin(&st->cfg, k);
	err = check_comment(st, k, value);
	if (err)
		return err;
	return parse_value(st, k, value);
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	if (st->err_line)
		return 0;
	return handle_key(st, section, name, value ? value : "") == 0;
}

/* inih's own scan (ini.c, find_chars_or_comment): an inline ';' comment
 * starts only after a blank. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* inih tells the handler nothing but section, name and value, so the
 * reader looks at each line the way ini.c will: an indented line after a
 * key in the same section continues that key's value (ini_allow_multiline,
 * on in Debian's build), and a section with no keys reaches no handler,
 * so its name is checked here. */
static void classify_line(struct parse_state *st, const char *line)
{
	const char *s = line, *e;

	if (st->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	st->cont = false;
	if (!*s || *s == ';' || *s == '#')
		return;
	if (st->inih_prev_name && s > line) {
		st->cont = true;
		return;
	}
	if (*s == '[') {
		st->inih_prev_name = false;
		e = find_chars_or_comment(s + 1, "]");
		if (*e == ']' && !config_table_known_section(s + 1, (size_t)(e - s - 1)))
			record(st, st->lineno, "[%.*s]: unknown section; allowed: " SECTIONS_ALLOWED,
			       (int)(e - s - 1), s + 1);
		return;
	}
	e = find_chars_or_comment(s, "=:");
	if (*e == '=' || *e == ':')
		st->inih_prev_name = e > s;
}

/* One physical line per call, so inih's line count and ours agree.  Lines
 * inih would split are refused instead of being parsed in pieces; reading
 * stops at the first error, which is the one reported. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	ssize_t len;

	if (st->err_line || num < 2)
		return NULL;
	errno = 0;
	len = getline(&st->line, &st->linecap, st->f);
	if (len < 0) {
		if (ferror(st->f) || errno == ENOMEM)
			st->read_err = errno ? errno : EIO;
		return NULL;
	}
	st->lineno++;
	if (len && st->line[len - 1] == '\n')
		st->line[--len] = '\0';
	if (len && st->line[len - 1] == '\r')
		st->line[--len] = '\0';
	if (len > num - 1) {
		record(st, st->lineno,
		       "line too long (%zd characters); allowed: at most %d characters per line, "
		       "lists continue on indented lines",
		       len, num - 1);
		return NULL;
	}
	memcpy(str, st->line, (size_t)len + 1);
	classify_line(st, str);
	return str;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

int config_load(const char *path, struct fo_config *cfg, char *err, size_t errlen)
{
	struct parse_state *st;
	int ret, line;

	/* struct fo_config is several kilobytes: keep it off the stack. */
	st = calloc(1, sizeof(*st));
	if (!st) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	config_defaults(&st->cfg);
	st->path = path;
	st->f = fopen(path, "re");
	if (!st->f) {
		ret = -errno;
		snprintf(st->msg, sizeof(st->msg), "%s: %s", path, strerror(errno));
		goto out;
	}
	line = ini_parse_stream(read_line, st, ini_handler_cb, st);
	fclose(st->f);
	free(st->line);
	if (st->read_err) {
		ret = -st->read_err;
		snprintf(st->msg, sizeof(st->msg), "%s: %s", path, strerror(st->read_err));
		goto out;
	}
	if (line == -2) {
		ret = -ENOMEM;
		snprintf(st->msg, sizeof(st->msg), "%s: out of memory", path);
		goto out;
	}
	if (line > 0)
		record(st, line, "syntax error; expected key = value or [section]");
	/* The checks across keys wait for the whole file: the keys may come
	 * in any order. */
	if (!st->err_line && !finish_key(st) && !check_window(st) && !check_events(st) &&
	    !check_routes(st))
		check_user(st);
	if (st->err_line) {
		ret = st->err;
		goto out;
	}
	*cfg = st->cfg;
	ret = 0;
out:
	if (ret)
		set_err(err, errlen, st->msg);
	free(st);
	return ret;
}

bool config_prefix_contains(const struct prefix *p, uint8_t family, const uint8_t *addr)
{
	unsigned int bits, full, rem;
	uint8_t m;

	if (!p || !addr || p->family != family)
		return false;
	if (family == AF_INET)
		bits = 32;
	else if (family == AF_INET6)
		bits = 128;
	else
		return false;
	if (p->len > bits)
		return false;
	full = p->len / 8;
	rem = p->len % 8;
	if (memcmp(p->addr, addr, full))
		return false;
	if (!rem)
		return true;
	m = (uint8_t)(0xff << (8 - rem));
	return ((p->addr[full] ^ addr[full]) & m) == 0;
}
