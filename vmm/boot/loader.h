/* Private to vmm/boot/: what a kernel loader reports back to boot_load(),
 * and the error helpers every loader shares. */
#ifndef AGENTVM_VMM_BOOT_LOADER_H
#define AGENTVM_VMM_BOOT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/boot.h"
#include "vmm/memory.h"

#define LOADER_4GIB 0x100000000ull

/* What elf_load() or bzimage_load() found and placed in guest memory. */
struct loader_image {
	enum boot_kind kind;
	uint64_t entry;	      /* first instruction (physical; identity-mapped in long mode) */
	uint64_t kernel_end;  /* first byte above all memory the kernel uses before its allocator */
	uint64_t initrd_top;  /* an initrd must end at or below this address */
	uint64_t cmdline_max; /* longest command line the kernel takes, without the NUL */
};

/* Format a one-line reason into err (NULL-safe, always terminated) and return
 * the negative errno code r unchanged, so callers can `return loader_fail(...)`. */
int loader_fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Human size into buf: "32 MiB", "16280 KiB" or "123 bytes", whichever is exact. */
const char *loader_fmt_size(uint64_t bytes, char *buf, size_t buflen);

/* End of guest RAM that starts at address 0 (slot 0); 0 if there is none. */
uint64_t loader_low_end(const struct memory *mem);

/* Check that [gpa, gpa+len) lies in the low RAM slot at or above 1 MiB.
 * On failure writes "<what>: [<part> ]needs <len> at <gpa> but the guest has
 * <ram>" (part may be "") and returns -ENOMEM, or -EINVAL if the range lies
 * below 1 MiB or wraps around. */
int loader_check_range(const struct memory *mem, uint64_t gpa, uint64_t len, const char *what,
		       const char *part, char *err, size_t errlen);

#endif
