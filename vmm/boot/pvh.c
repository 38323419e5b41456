#include "vmm/boot/pvh.h"

#include <errno.h>
#include <string.h>

#include "vmm/boot/boot.h"

_Static_assert(PVH_MODLIST_ADDR >= BOOT_PVH_INFO_ADDR + sizeof(struct hvm_start_info),
	       "modlist after start info");
_Static_assert(PVH_MEMMAP_ADDR >= PVH_MODLIST_ADDR + sizeof(struct hvm_modlist_entry),
	       "memmap after modlist");

int pvh_write_start_info(const struct memory *mem, uint64_t cmdline_gpa, uint64_t initrd_gpa,
			 uint64_t initrd_size, const struct e820_entry *e820, int n)
{
	struct hvm_start_info si = {
		.magic = PVH_START_MAGIC,
		.version = PVH_START_VERSION,
		.cmdline_paddr = cmdline_gpa,
		.memmap_paddr = PVH_MEMMAP_ADDR,
		.memmap_entries = (uint32_t)n,
	};
	int r;

	if (n < 0 ||
	    (uint64_t)n * sizeof(struct hvm_memmap_table_entry) > PVH_AREA_END - PVH_MEMMAP_ADDR)
		return -ENOSPC;
	for (int i = 0; i < n; i++) {
		struct hvm_memmap_table_entry e = {
			.addr = e820[i].addr,
			.size = e820[i].size,
			.type = e820[i].type,
		};
		r = memory_write(mem, PVH_MEMMAP_ADDR + i * sizeof(e), &e, sizeof(e));
		if (r < 0)
			return r;
	}
	if (initrd_size) {
		struct hvm_modlist_entry mod = { .paddr = initrd_gpa, .size = initrd_size };

		r = memory_write(mem, PVH_MODLIST_ADDR, &mod, sizeof(mod));
		if (r < 0)
			return r;
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
	}
	return memory_write(mem, BOOT_PVH_INFO_ADDR, &si, sizeof(si));
}
