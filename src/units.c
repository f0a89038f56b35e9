/* units: parse the sizes, counts and durations operators write in configs
 * and on command lines; shared by the agent and the test tools. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

/* strtoull accepts leading whitespace, a sign and "0x": an operator who
 * writes "-1" or " 5" made a mistake we must report, not reinterpret. */
static int parse_digits(const char *s, uint64_t *val, const char **end)
{
	unsigned long long v;
	char *e;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*val = v;
	*end = e;
	return 0;
}

static int mul_checked(uint64_t v, uint64_t m, uint64_t *out)
{
	if (m && v > UINT64_MAX / m)
		return -ERANGE;
	*out = v * m;
	return 0;
}

int units_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v, m = 1;
	int err;

	err = parse_digits(s, &v, &end);
	if (err)
		return err;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		m = 1ULL << 10;
		end++;
		break;
	case 'm':
	case 'M':
		m = 1ULL << 20;
		end++;
		break;
	case 'g':
	case 'G':
		m = 1ULL << 30;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0')
		return -EINVAL;
	return mul_checked(v, m, out);
}

int units_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int err;

	err = parse_digits(s, &v, &end);
	if (err)
		return err;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int units_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	const char *end;
	uint64_t v, m;
	int err;

	err = parse_digits(s, &v, &end);
	if (err)
		return err;
	if (*end == '\0' || strcmp(end, "s") == 0)
		m = 1000;
	else if (strcmp(end, "ms") == 0)
		m = 1;
	else if (strcmp(end, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		m = 3600 * 1000;
	else
		return -EINVAL;
	return mul_checked(v, m, out_ms);
}
