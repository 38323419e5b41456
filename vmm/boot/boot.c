#include "vmm/boot/boot.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "vmm/boot/bootparam.h"
#include "vmm/boot/bzimage.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/elf.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/loader.h"
#include "vmm/boot/mptable.h"
#include "vmm/boot/paging.h"
#include "vmm/boot/pvh.h"

#define BOOT_PAGE 0x1000ull

_Static_assert(BOOT_PARAMS_ADDR + sizeof(struct boot_params) <= BOOT_PML4_ADDR,
	       "boot_params below the page tables");
_Static_assert(BOOT_CMDLINE_ADDR + BOOT_CMDLINE_MAX <= BOOT_MPTABLE_ADDR,
	       "command line below the MP table");

/* Validate and copy the command line; *len gets its length without the NUL. */
static int boot_write_cmdline(const struct memory *mem, const char *cmdline,
			      const struct loader_image *img, size_t *len, char *err, size_t errlen)
{
	size_t n = cmdline ? strnlen(cmdline, BOOT_CMDLINE_MAX) : 0;

	if (n >= BOOT_CMDLINE_MAX)
		return loader_fail(err, errlen, -E2BIG,
				   "cmdline: longer than the %llu bytes the VMM allows",
				   BOOT_CMDLINE_MAX - 1);
	if (n > img->cmdline_max)
		return loader_fail(err, errlen, -E2BIG,
				   "cmdline: %zu bytes but the kernel accepts at most %" PRIu64, n,
				   img->cmdline_max);
	if (memory_write(mem, BOOT_CMDLINE_ADDR, cmdline ? cmdline : "", n) < 0 ||
	    memory_write(mem, BOOT_CMDLINE_ADDR + n, "", 1) < 0)
		return loader_fail(err, errlen, -EFAULT, "cmdline: outside guest memory");
	*len = n;
	return 0;
}

/* Place the initrd page-aligned as high as possible below the lowest of the
 * end of low RAM, the kernel's limit and 4 GiB, and above the kernel. */
static int boot_write_initrd(const struct memory *mem, const struct boot_config *cfg,
			     const struct loader_image *img, uint64_t *gpa, char *err,
			     size_t errlen)
{
	uint64_t top = loader_low_end(mem), floor, addr, size = cfg->initrd_size;
	char s1[32];

	*gpa = 0;
	if (!size)
		return 0;
	if (!cfg->initrd)
		return loader_fail(err, errlen, -EINVAL, "initrd: size %" PRIu64 " but no data",
				   size);
	if (img->initrd_top < top)
		top = img->initrd_top;
	if (top > LOADER_4GIB)
		top = LOADER_4GIB;
	top &= ~(BOOT_PAGE - 1);
	floor = img->kernel_end;
	if (floor > UINT64_MAX - (BOOT_PAGE - 1))
		floor = UINT64_MAX - (BOOT_PAGE - 1);
	floor = (floor + BOOT_PAGE - 1) & ~(BOOT_PAGE - 1);
	if (size > top || ((top - size) & ~(BOOT_PAGE - 1)) < floor)
		return loader_fail(err, errlen, -ENOMEM,
				   "initrd: %s does not fit between the kernel's end at 0x%" PRIx64
				   " and 0x%" PRIx64,
				   loader_fmt_size(size, s1, sizeof(s1)), floor, top);
	addr = (top - size) & ~(BOOT_PAGE - 1);
	if (memory_write(mem, addr, cfg->initrd, size) < 0)
		return loader_fail(err, errlen, -EFAULT, "initrd: outside guest memory");
	*gpa = addr;
	return 0;
}

/* Everything but the setup header, which bzimage_load() copies from the image. */
static void boot_fill_params(struct boot_params *bp, const struct loader_image *img,
			     uint64_t initrd_gpa, uint64_t initrd_size,
			     const struct e820_entry *e820, int n)
{
	struct boot_setup_header *h = &bp->hdr;

	if (img->kind != BOOT_KIND_BZIMAGE) {
		/* A plain ELF has no header of its own: describe what a kernel
		 * reading this zero page would look for. */
		h->boot_flag = BOOTPARAM_BOOT_FLAG;
		h->header = BOOTPARAM_HDRS_MAGIC;
		h->version = BZIMAGE_MIN_VERSION;
		h->loadflags = BOOTPARAM_LOADED_HIGH;
		h->cmdline_size = (uint32_t)img->cmdline_max;
	}
	h->type_of_loader = BOOTPARAM_LOADER_UNDEF;
	h->setup_data = 0; /* we pass no setup_data list, whatever the image says */
	h->hardware_subarch = 0;
	h->hardware_subarch_data = 0;
	h->loadflags |= BOOTPARAM_CAN_USE_HEAP;
	h->heap_end_ptr = BZIMAGE_HEAP_END;
	h->cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	h->ramdisk_image = (uint32_t)initrd_gpa;
	h->ramdisk_size = (uint32_t)initrd_size;
	bp->e820_entries = (uint8_t)n;
	memcpy(bp->e820_table, e820, (size_t)n * sizeof(*e820));
}

static int boot_load_kernel(struct memory *mem, const struct boot_config *cfg,
			    struct boot_params *bp, struct loader_image *img, char *err,
			    size_t errlen)
{
	if (!cfg->kernel || !cfg->kernel_size)
		return loader_fail(err, errlen, -EINVAL, "kernel: empty image");
	if (elf_is_elf(cfg->kernel, cfg->kernel_size))
		return elf_load(mem, cfg->kernel, cfg->kernel_size, img, err, errlen);
	if (bzimage_is_bzimage(cfg->kernel, cfg->kernel_size))
		return bzimage_load(mem, cfg->kernel, cfg->kernel_size, bp, img, err, errlen);
	return loader_fail(err, errlen, -ENOEXEC, "kernel: not an ELF or bzImage (bad magic)");
}

int boot_load(struct memory *mem, const struct boot_config *cfg, struct boot_entry *entry,
	      char *err, size_t errlen)
{
	struct boot_params bp;
	struct loader_image img = { 0 };
	struct e820_entry e820[E820_MAX_BUILT];
	uint64_t initrd_gpa;
	size_t cmdline_len;
	char s1[32];
	int n, r;

	if (err && errlen)
		err[0] = '\0';
	if (!mem || !cfg || !entry)
		return loader_fail(err, errlen, -EINVAL, "boot: missing argument");
	if (cfg->ncpus < 1 || cfg->ncpus > MPTABLE_MAX_CPUS)
		return loader_fail(err, errlen, -EINVAL, "ncpus: %d is out of range (1..%d)",
				   cfg->ncpus, MPTABLE_MAX_CPUS);
	if (loader_low_end(mem) <= BOOT_HIMEM_START)
		return loader_fail(err, errlen, -ENOMEM,
				   "guest memory: %s is too small (more than 1 MiB is needed)",
				   loader_fmt_size(loader_low_end(mem), s1, sizeof(s1)));

	memset(&bp, 0, sizeof(bp));
	r = boot_load_kernel(mem, cfg, &bp, &img, err, errlen);
	if (r < 0)
		return r;
	r = boot_write_cmdline(mem, cfg->cmdline, &img, &cmdline_len, err, errlen);
	if (r < 0)
		return r;
	r = boot_write_initrd(mem, cfg, &img, &initrd_gpa, err, errlen);
	if (r < 0)
		return r;

	n = e820_build(mem, e820, E820_MAX_BUILT);
	if (n < 0)
		return loader_fail(err, errlen, n, "guest memory: cannot build the e820 map");
	boot_fill_params(&bp, &img, initrd_gpa, initrd_gpa ? cfg->initrd_size : 0, e820, n);
	if (memory_write(mem, BOOT_PARAMS_ADDR, &bp, sizeof(bp)) < 0)
		return loader_fail(err, errlen, -EFAULT, "boot: cannot write boot_params");
	if (img.kind == BOOT_KIND_ELF_PVH) {
		r = pvh_write_start_info(mem, BOOT_CMDLINE_ADDR, initrd_gpa,
					 initrd_gpa ? cfg->initrd_size : 0, e820, n);
		if (r < 0)
			return loader_fail(err, errlen, r, "boot: cannot write the PVH start info");
	}
	r = mptable_write(mem, cfg->ncpus);
	if (r < 0)
		return loader_fail(err, errlen, r, "boot: cannot write the MP table for %d vCPUs",
				   cfg->ncpus);
	r = paging_write_identity(mem);
	if (r < 0)
		return loader_fail(err, errlen, r, "boot: cannot write the page tables");
	r = gdt_write(mem);
	if (r < 0)
		return loader_fail(err, errlen, r, "boot: cannot write the GDT");

	*entry = (struct boot_entry){
		.kind = img.kind,
		.rip = img.entry,
		.gdt_base = BOOT_GDT_ADDR,
		.gdt_limit = GDT_LIMIT,
	};
	if (img.kind == BOOT_KIND_ELF_PVH) {
		entry->mode = BOOT_MODE_PVH32;
		entry->rbx = BOOT_PVH_INFO_ADDR;
	} else {
		entry->mode = BOOT_MODE_LONG64;
		entry->rsi = BOOT_PARAMS_ADDR;
		entry->cr3 = BOOT_PML4_ADDR;
		entry->all_cpus_enter = img.kind == BOOT_KIND_ELF64;
	}
	return 0;
}
