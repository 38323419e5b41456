/* The guest's memory map, in the e820 format both boot_params and the PVH
 * start info carry. */
#ifndef AGENTVM_VMM_BOOT_E820_H
#define AGENTVM_VMM_BOOT_E820_H

#include <stdint.h>

#include "vmm/memory.h"

#define E820_RAM      1
#define E820_RESERVED 2

/* The most entries e820_build() ever produces. */
#define E820_MAX_BUILT 4

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct e820_entry) == 20, "e820 entry is 20 bytes");

/* Fill out[0..max) with the map of mem: RAM [0, BOOT_MPTABLE_ADDR), reserved
 * [BOOT_MPTABLE_ADDR, 1 MiB), RAM [1 MiB, end of low RAM), RAM above 4 GiB if
 * mem has a second slot. Returns the number of entries, -EINVAL if mem has no
 * RAM above 1 MiB at address 0, or -ENOSPC if max is too small. */
int e820_build(const struct memory *mem, struct e820_entry *out, int max);

#endif
