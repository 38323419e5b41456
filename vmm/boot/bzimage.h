/* Linux bzImage kernels entered through their 64-bit entry point (boot
 * protocol 2.12 or later with XLF_KERNEL_64); real mode is never run. */
#ifndef AGENTVM_VMM_BOOT_BZIMAGE_H
#define AGENTVM_VMM_BOOT_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/bootparam.h"
#include "vmm/boot/loader.h"
#include "vmm/memory.h"

#define BZIMAGE_LOAD_ADDR   0x100000ull /* protected-mode kernel */
#define BZIMAGE_ENTRY64_OFF 0x200ull	/* 64-bit entry, from the load address */
#define BZIMAGE_MIN_VERSION 0x020c	/* xloadflags and the 64-bit entry */
#define BZIMAGE_HEAP_END    0xfe00	/* heap_end_ptr given with CAN_USE_HEAP */

/* True if buf carries the "HdrS" setup header signature at 0x202. */
int bzimage_is_bzimage(const uint8_t *buf, size_t size);

/* Validate the bzImage buf, copy its protected-mode part to
 * BZIMAGE_LOAD_ADDR, and copy its setup header into bp->hdr (the rest of
 * *bp is left as the caller set it). Fills *img. Returns 0 or -errno. */
int bzimage_load(struct memory *mem, const uint8_t *buf, size_t size, struct boot_params *bp,
		 struct loader_image *img, char *err, size_t errlen);

#endif
