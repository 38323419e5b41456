/* The GDT both entries start with: null, 64-bit code, 32-bit code, data,
 * matching BOOT_SEL_* in boot.h. */
#ifndef AGENTVM_VMM_BOOT_GDT_H
#define AGENTVM_VMM_BOOT_GDT_H

#include <stdint.h>

#include "vmm/memory.h"

#define GDT_CODE64  0x00af9b000000ffffull /* present, DPL0, exec/read, accessed, L, G */
#define GDT_CODE32  0x00cf9b000000ffffull /* present, DPL0, exec/read, accessed, D/B, G */
#define GDT_DATA    0x00cf93000000ffffull /* present, DPL0, read/write, accessed, D/B, G */
#define GDT_ENTRIES 4
#define GDT_LIMIT   (GDT_ENTRIES * 8 - 1)

/* Write the GDT at BOOT_GDT_ADDR. Returns 0 or -EFAULT. */
int gdt_write(const struct memory *mem);

#endif
