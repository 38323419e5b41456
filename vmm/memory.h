/* Guest physical memory: one host mapping, handed to KVM as up to two slots
 * (below the 32-bit MMIO hole and above 4 GiB). It is a memfd mapped shared
 * (a fresh VM), or a snapshot's memory file mapped private (a restored VM:
 * pages fault in lazily and are copied on write). Every guest address the
 * VMM touches goes through memory_ptr(), which bounds-checks it. */
#ifndef AGENTVM_VMM_MEMORY_H
#define AGENTVM_VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* Guest RAM below this address; the rest of RAM starts at 4 GiB. */
#define MEMORY_LOW_END	 0xc0000000ull
#define MEMORY_HIGH_BASE 0x100000000ull
#define MEMORY_MAX_SLOTS 2

struct memory_slot {
	uint64_t gpa;	      /* guest physical start */
	uint64_t size;	      /* bytes */
	uint8_t *hva;	      /* host mapping of the slot */
	uint64_t file_offset; /* offset of the slot in the memory file */
};

struct memory {
	int fd;	       /* the memfd behind all slots (owned), or -1 */
	uint64_t size; /* total RAM bytes */
	uint8_t *base; /* one host mapping of the whole file; slots point into it */
	int owns_base; /* memory_free() unmaps base */
	int private;   /* base is a private mapping of a file (copy on write) */
	int nslots;
	struct memory_slot slots[MEMORY_MAX_SLOTS];
};

/* Create size bytes of anonymous guest RAM backed by a memfd. size must be a
 * non-zero multiple of 4 KiB. Returns 0 or -errno. */
int memory_new(uint64_t size, struct memory **out);
/* Lay out slots over an existing mapping (used by tests and by restore):
 * base must hold size bytes. fd may be -1. */
int memory_new_from(uint8_t *base, uint64_t size, int fd, struct memory **out);
/* Map file fd (not kept; size bytes long) privately as guest RAM. */
int memory_new_private(uint64_t size, int fd, struct memory **out);
/* Map file fd (not kept; mem->size bytes long) privately over the very same
 * addresses, so KVM's slots now see it: every page the guest wrote is
 * dropped. A memfd the memory held is closed. */
int memory_remap_private(struct memory *mem, int fd);
/* Unmap and close; NULL-safe. Does not free a base given to memory_new_from(). */
void memory_free(struct memory *mem);

/* Host pointer for [gpa, gpa+len) if the whole range lies inside one slot,
 * else NULL. len 0 is valid for any gpa inside a slot. Overflow-safe. */
void *memory_ptr(const struct memory *mem, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory; -EFAULT if out of range. */
int memory_write(const struct memory *mem, uint64_t gpa, const void *src, uint64_t len);
int memory_read(const struct memory *mem, uint64_t gpa, void *dst, uint64_t len);

#endif
