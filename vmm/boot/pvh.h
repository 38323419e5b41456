/* The Xen PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h):
 * struct hvm_start_info at BOOT_PVH_INFO_ADDR, followed by the module list
 * and the memory map it points to. */
#ifndef AGENTVM_VMM_BOOT_PVH_H
#define AGENTVM_VMM_BOOT_PVH_H

#include <stdint.h>

#include "vmm/boot/boot.h"
#include "vmm/boot/e820.h"
#include "vmm/memory.h"

#define PVH_START_MAGIC	  0x336ec578u
#define PVH_START_VERSION 1
#define PVH_MODLIST_ADDR  (BOOT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR	  (BOOT_PVH_INFO_ADDR + 0x80)
#define PVH_AREA_END	  BOOT_PARAMS_ADDR

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry");

/* Write hvm_start_info for the command line at cmdline_gpa, an optional
 * initrd (initrd_size 0: none) and the memory map e820[0..n). Returns 0,
 * -ENOSPC if the map does not fit before PVH_AREA_END, or -EFAULT. */
int pvh_write_start_info(const struct memory *mem, uint64_t cmdline_gpa, uint64_t initrd_gpa,
			 uint64_t initrd_size, const struct e820_entry *e820, int n);

#endif
