/* units: parse the sizes, counts and durations operators write in configs
 * and on command lines ("4M", "64k", "1500ms", "30s"). */
#ifndef FLOWOFFLOAD_UNITS_H
#define FLOWOFFLOAD_UNITS_H

#include <stdint.h>

/* "4096", "64k", "4M", "1G" (binary multiples: k = 1024).  Returns 0 or
 * -EINVAL (not a number, unknown suffix, trailing junk) or -ERANGE. */
int units_parse_size(const char *s, uint64_t *out);

/* A plain unsigned decimal in [min, max]: -EINVAL or -ERANGE otherwise. */
int units_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "250ms", "30s", "5m", "1h"; a bare number means seconds.  Result in
 * milliseconds.  Returns 0, -EINVAL or -ERANGE. */
int units_parse_duration_ms(const char *s, uint64_t *out_ms);

#endif
