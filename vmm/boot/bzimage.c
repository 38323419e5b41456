#include "vmm/boot/bzimage.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define BZIMAGE_SECTOR	  512u
#define BZIMAGE_HDR_END	  (BOOTPARAM_HDR_OFFSET + sizeof(struct boot_setup_header))
#define BZIMAGE_JUMP_END  0x201 /* byte 0x201 + 0x202 = end of the header the image declares */
#define BZIMAGE_MAX_ALIGN (1u << 30)

int bzimage_is_bzimage(const uint8_t *buf, size_t size)
{
	uint32_t magic;

	if (size < 0x206)
		return 0;
	memcpy(&magic, buf + 0x202, 4);
	return magic == BOOTPARAM_HDRS_MAGIC;
}

/* Where the kernel runs once its 64-bit entry relocates itself
 * (arch/x86/boot/compressed/head_64.S): the load address rounded up to
 * kernel_alignment if it is relocatable, and never below pref_address. */
static int bzimage_runtime_start(const struct boot_setup_header *h, uint64_t *out, char *err,
				 size_t errlen)
{
	uint64_t start = BZIMAGE_LOAD_ADDR;

	if (h->relocatable_kernel) {
		uint32_t a = h->kernel_alignment;

		if (a == 0 || (a & (a - 1)) || a > BZIMAGE_MAX_ALIGN)
			return loader_fail(
				err, errlen, -ENOEXEC,
				"kernel: bzImage kernel_alignment 0x%x is not a power of "
				"two up to 1 GiB",
				a);
		start = (start + a - 1) & ~(uint64_t)(a - 1);
	}
	if (h->pref_address > start)
		start = h->pref_address;
	*out = start;
	return 0;
}

int bzimage_load(struct memory *mem, const uint8_t *buf, size_t size, struct boot_params *bp,
		 struct loader_image *img, char *err, size_t errlen)
{
	struct boot_setup_header h;
	uint64_t setup_size, pm_size, start = 0, end;
	size_t hdr_end;
	int r;

	if (size < BZIMAGE_HDR_END)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: truncated bzImage setup header (%zu bytes)", size);
	memcpy(&h, buf + BOOTPARAM_HDR_OFFSET, sizeof(h));
	if (h.boot_flag != BOOTPARAM_BOOT_FLAG)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: bzImage boot flag is 0x%04x, not 0xaa55", h.boot_flag);
	if (h.header != BOOTPARAM_HDRS_MAGIC)
		return loader_fail(err, errlen, -ENOEXEC, "kernel: bzImage has no HdrS signature");
	if (h.version < BZIMAGE_MIN_VERSION)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: bzImage boot protocol %u.%02u is too old (the 64-bit "
				   "entry needs 2.12)",
				   h.version >> 8, h.version & 0xff);
	if (!(h.loadflags & BOOTPARAM_LOADED_HIGH))
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: zImage (not loaded high) is not supported");
	if (!(h.xloadflags & BOOTPARAM_XLF_KERNEL_64))
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: bzImage has no 64-bit entry (XLF_KERNEL_64 not set)");

	setup_size = ((uint64_t)(h.setup_sects ? h.setup_sects : 4) + 1) * BZIMAGE_SECTOR;
	if (setup_size >= size)
		return loader_fail(err, errlen, -ENOEXEC,
				   "kernel: bzImage setup_sects (%u) points past the end of the "
				   "%zu-byte file",
				   h.setup_sects, size);
	pm_size = size - setup_size;
	r = loader_check_range(mem, BZIMAGE_LOAD_ADDR, pm_size, "kernel", "", err, errlen);
	if (r < 0)
		return r;
	r = bzimage_runtime_start(&h, &start, err, errlen);
	if (r < 0)
		return r;
	r = loader_check_range(mem, start, h.init_size, "kernel", "", err, errlen);
	if (r < 0)
		return r;
	end = start + h.init_size;
	if (end < BZIMAGE_LOAD_ADDR + pm_size)
		end = BZIMAGE_LOAD_ADDR + pm_size;

	memcpy(memory_ptr(mem, BZIMAGE_LOAD_ADDR, pm_size), buf + setup_size, pm_size);

	/* The header the image declares ends at 0x202 + byte 0x201; copy that
	 * much, never past our struct nor the setup code. */
	hdr_end = 0x202 + (size_t)buf[BZIMAGE_JUMP_END];
	if (hdr_end > BZIMAGE_HDR_END)
		hdr_end = BZIMAGE_HDR_END;
	memcpy((uint8_t *)bp + BOOTPARAM_HDR_OFFSET, buf + BOOTPARAM_HDR_OFFSET,
	       hdr_end - BOOTPARAM_HDR_OFFSET);

	img->kind = BOOT_KIND_BZIMAGE;
	img->entry = BZIMAGE_LOAD_ADDR + BZIMAGE_ENTRY64_OFF;
	img->kernel_end = end;
	img->initrd_top = (uint64_t)h.initrd_addr_max + 1;
	img->cmdline_max = h.cmdline_size;
	return 0;
}
