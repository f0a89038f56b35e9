/* recording: one reader of tests/unit/data/ for test_ct_parse and
 * test_tracker_replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "recording.h"

#ifndef CT_DATA_DIR
#define CT_DATA_DIR "tests/unit/data"
#endif

/* Makefile.am exports FLOWOFFLOAD_SRCDIR to tests; a by-hand run of the
 * binary falls back to the path compiled in. */
char *recording_read(const char *name, int *len)
{
	const char *src = getenv("FLOWOFFLOAD_SRCDIR");
	char path[4096], *buf;
	long n;
	FILE *f;

	if (src)
		snprintf(path, sizeof(path), "%s/tests/unit/data/%s", src, name);
	else
		snprintf(path, sizeof(path), "%s/%s", CT_DATA_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (int)n;
	return buf;
}
