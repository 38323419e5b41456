/* Fuzz boot_load() with the input as an ELF kernel over 16 MiB of guest RAM. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/boot.h"
#include "vmm/memory.h"

#define FUZZ_RAM (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	static struct memory *mem;
	static const uint8_t initrd[4096] = { 0x30, 0x37, 0x30, 0x37 };
	struct boot_config cfg = {
		.kernel = data,
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = size & 1 ? sizeof(initrd) : 0,
		.cmdline = "console=ttyS0 panic=-1",
		.ncpus = 1 + (int)(size % 8),
	};
	struct boot_entry entry;
	char err[256];

	if (!mem) {
		ram = calloc(1, FUZZ_RAM);
		if (!ram || memory_new_from(ram, FUZZ_RAM, -1, &mem) < 0)
			abort();
	}
	if (boot_load(mem, &cfg, &entry, err, sizeof(err)) < 0) {
		if (!err[0] || memchr(err, '\n', strlen(err)))
			abort(); /* every failure carries exactly one line */
		return 0;
	}
	if (entry.kind == BOOT_KIND_BZIMAGE)
		abort(); /* an ELF magic never dispatches to the bzImage loader */
	if (!memory_ptr(mem, entry.rip, 1))
		abort(); /* the entry point lies in guest RAM */
	return 0;
}
