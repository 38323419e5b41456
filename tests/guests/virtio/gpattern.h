/* A reproducible byte stream that the guests and the host-side test
 * programs both generate, so that either end can check what the other
 * sent without keeping a copy. Byte off of stream seed is byte (off & 7) of
 * gpattern_word(seed, off >> 3). Header-only; freestanding. */
#ifndef AGENTVM_GUESTS_GPATTERN_H
#define AGENTVM_GUESTS_GPATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 of the (seed, k) pair. */
static inline uint64_t gpattern_word(uint64_t seed, uint64_t k)
{
	uint64_t z = seed * 0xd1342543de82ef95ull + (k + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint8_t gpattern_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(gpattern_word(seed, off >> 3) >> (8 * (off & 7)));
}

/* Bytes [off, off + len) of stream seed into buf. */
static inline void gpattern_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		buf[i] = gpattern_byte(seed, off + i);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = gpattern_word(seed, (off + i) >> 3);

		__builtin_memcpy(buf + i, &w, 8);
	}
	for (; i < len; i++)
		buf[i] = gpattern_byte(seed, off + i);
}

/* How many leading bytes of buf match bytes [off, off + len) of stream
 * seed: len if all do. */
static inline size_t gpattern_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t len)
{
	size_t i = 0;

	for (; i < len && ((off + i) & 7); i++)
		if (buf[i] != gpattern_byte(seed, off + i))
			return i;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = gpattern_word(seed, (off + i) >> 3), b;

		__builtin_memcpy(&b, buf + i, 8);
		if (w != b)
			break;
	}
	for (; i < len; i++)
		if (buf[i] != gpattern_byte(seed, off + i))
			return i;
	return len;
}

#endif
