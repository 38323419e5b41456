#include "vmm/boot/paging.h"

#include <errno.h>
#include <string.h>

_Static_assert(PAGING_END <= BOOT_CMDLINE_ADDR, "page tables below the command line");

int paging_write_identity(const struct memory *mem)
{
	uint64_t *pml4 = memory_ptr(mem, BOOT_PML4_ADDR, PAGING_END - BOOT_PML4_ADDR);
	uint64_t *pdpt, *pd;
	const uint64_t flags = PAGING_P | PAGING_RW | PAGING_US;

	if (!pml4)
		return -EFAULT;
	pdpt = pml4 + 512;
	pd = pdpt + 512;
	memset(pml4, 0, PAGING_END - BOOT_PML4_ADDR);
	pml4[0] = PAGING_PDPT_ADDR | flags;
	for (int i = 0; i < PAGING_NPD; i++) {
		pdpt[i] = (PAGING_PD_ADDR + i * 0x1000ull) | flags;
		for (int j = 0; j < 512; j++)
			pd[i * 512 + j] = ((uint64_t)(i * 512 + j) << 21) | flags | PAGING_PS;
	}
	return 0;
}
