/* hash: the bit mixer the agent's hash tables (flows, classes, their
 * clients) apply before masking a hash to pick a slot. */
#ifndef FLOWOFFLOAD_HASH_H
#define FLOWOFFLOAD_HASH_H

#include <stdint.h>

/* The 32-bit finalizer of MurmurHash3: each input bit flips each output
 * bit with probability about 1/2, so ids whose low bits are constant (old
 * kernels' conntrack ids were addresses) and FNV's weak low bits still
 * spread over the slots. */
static inline uint32_t hash_mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

#endif
