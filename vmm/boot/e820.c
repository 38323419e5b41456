#include "vmm/boot/e820.h"

#include <errno.h>

#include "vmm/boot/boot.h"

static int e820_add(struct e820_entry *out, int max, int *n, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (*n >= max)
		return -ENOSPC;
	out[*n] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	(*n)++;
	return 0;
}

int e820_build(const struct memory *mem, struct e820_entry *out, int max)
{
	int n = 0, r;

	if (mem->nslots < 1 || mem->slots[0].gpa != 0 || mem->slots[0].size <= BOOT_HIMEM_START)
		return -EINVAL;
	r = e820_add(out, max, &n, 0, BOOT_MPTABLE_ADDR, E820_RAM);
	if (!r)
		r = e820_add(out, max, &n, BOOT_MPTABLE_ADDR, BOOT_HIMEM_START - BOOT_MPTABLE_ADDR,
			     E820_RESERVED);
	if (!r)
		r = e820_add(out, max, &n, BOOT_HIMEM_START, mem->slots[0].size - BOOT_HIMEM_START,
			     E820_RAM);
	for (int i = 1; !r && i < mem->nslots; i++)
		if (mem->slots[i].size)
			r = e820_add(out, max, &n, mem->slots[i].gpa, mem->slots[i].size, E820_RAM);
	return r ? r : n;
}
