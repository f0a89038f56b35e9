/* recording: reads a file of recorded ctnetlink messages (tests/unit/data/)
 * for the unit tests that replay them. */
#ifndef FLOWOFFLOAD_TEST_RECORDING_H
#define FLOWOFFLOAD_TEST_RECORDING_H

/* The whole file NAME of tests/unit/data, in a malloc'd buffer; its length
 * in *len.  A missing or empty file fails the calling test. */
char *recording_read(const char *name, int *len);

#endif
