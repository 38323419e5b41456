#include "vmm/boot/gdt.h"

#include "vmm/boot/boot.h"

_Static_assert(BOOT_SEL_CODE64 == 1 * 8 && BOOT_SEL_CODE32 == 2 * 8 && BOOT_SEL_DATA == 3 * 8,
	       "selectors match the GDT layout");
_Static_assert(BOOT_GDT_ADDR + GDT_ENTRIES * 8 <= BOOT_PVH_INFO_ADDR, "GDT below the PVH info");

int gdt_write(const struct memory *mem)
{
	const uint64_t gdt[GDT_ENTRIES] = {
		[0] = 0,
		[BOOT_SEL_CODE64 / 8] = GDT_CODE64,
		[BOOT_SEL_CODE32 / 8] = GDT_CODE32,
		[BOOT_SEL_DATA / 8] = GDT_DATA,
	};

	return memory_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}
