/* heap_usage.h: the bytes the agent's allocator has handed out and not
 * taken back -- what it holds, apart from what the allocator keeps mapped. */
#ifndef FLOWOFFLOAD_HEAP_USAGE_H
#define FLOWOFFLOAD_HEAP_USAGE_H

#include <stdint.h>

/* Bytes in use, or -1 where the C library cannot say (no mallinfo2). */
int64_t heap_in_use(void);

#endif
