/* Fuzz boot_load() with the input as a bzImage over 16 MiB of guest RAM. The
 * boot flag and "HdrS" are stamped in unless the first byte is odd, so most
 * inputs get past the magic checks into the header validation. */
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
	static const uint8_t initrd[8192] = { 0x1f, 0x8b };
	struct boot_config cfg = {
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = size & 2 ? sizeof(initrd) : 0,
		.cmdline = size & 4 ? "console=ttyS0 reboot=t" : NULL,
		.ncpus = 1 + (int)(size % 4),
	};
	struct boot_entry entry;
	char err[256];
	uint8_t *k;
	int r;

	if (!mem) {
		ram = calloc(1, FUZZ_RAM);
		if (!ram || memory_new_from(ram, FUZZ_RAM, -1, &mem) < 0)
			abort();
	}
	k = malloc(size ? size : 1);
	if (!k)
		abort();
	memcpy(k, data, size);
	if (size >= 0x206 && !(k[0] & 1)) {
		k[0x1fe] = 0x55;
		k[0x1ff] = 0xaa;
		memcpy(k + 0x202, "HdrS", 4);
	}
	cfg.kernel = k;
	r = boot_load(mem, &cfg, &entry, err, sizeof(err));
	if (r < 0 && (!err[0] || memchr(err, '\n', strlen(err))))
		abort(); /* every failure carries exactly one line */
	if (r == 0 && entry.kind == BOOT_KIND_BZIMAGE && entry.rip != 0x100200)
		abort();
	free(k);
	return 0;
}
