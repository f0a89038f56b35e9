/* heap_usage.c: bytes allocated and not yet freed.  RSS also counts what
 * the allocator keeps mapped for reuse, which under a sanitizer's
 * allocator (size-class regions, redzones, its own bookkeeping) is several
 * megabytes that no code of ours holds; a memory bound on the agent is a
 * bound on this figure too. */
#include <malloc.h>
#include <stddef.h>

#include "heap_usage.h"

/* Defined by the sanitizer runtimes (ASan, and any build linking them). */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

int64_t heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return (int64_t)__sanitizer_get_current_allocated_bytes();
#ifdef HAVE_MALLINFO2
	{
		struct mallinfo2 mi = mallinfo2();

		/* Chunks in use from the heap and the ones mmapped alone. */
		return (int64_t)(mi.uordblks + mi.hblkhd);
	}
#else
	return -1;
#endif
}
