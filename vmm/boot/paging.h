/* Identity page tables for the 64-bit entries: the first 4 GiB mapped with
 * 2 MiB pages at BOOT_PML4_ADDR (PML4, PDPT, then four PDs). */
#ifndef AGENTVM_VMM_BOOT_PAGING_H
#define AGENTVM_VMM_BOOT_PAGING_H

#include <stdint.h>

#include "vmm/boot/boot.h"
#include "vmm/memory.h"

#define PAGING_PDPT_ADDR (BOOT_PML4_ADDR + 0x1000)
#define PAGING_PD_ADDR	 (BOOT_PML4_ADDR + 0x2000) /* four consecutive pages */
#define PAGING_NPD	 4
#define PAGING_END	 (PAGING_PD_ADDR + PAGING_NPD * 0x1000)

#define PAGING_P	 0x001ull
#define PAGING_RW	 0x002ull
#define PAGING_US	 0x004ull /* user-accessible, so test guests may drop to CPL3 */
#define PAGING_PS	 0x080ull /* 2 MiB page */

/* Write the identity map. Returns 0 or -EFAULT. */
int paging_write_identity(const struct memory *mem);

#endif
