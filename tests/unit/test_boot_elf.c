/* boot_load() with ELF kernels: plain ELF64 test guests, PVH vmlinux, and
 * hostile images that must be refused with one clear line. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_boot_util.h"
#include "vmm/boot/boot.h"

#define CODE_ADDR 0x200000ull
#define DATA_ADDR 0x400000ull

static uint8_t img[1 << 16];
static uint8_t code[256], data[64];

static int load(struct memory *mem, const uint8_t *k, size_t n, struct boot_entry *e, char *err,
		size_t errlen)
{
	struct boot_config cfg = {
		.kernel = k, .kernel_size = n, .cmdline = "console=ttyS0", .ncpus = 2
	};

	return boot_load(mem, &cfg, e, err, errlen);
}

static void expect_fail(struct memory *mem, const uint8_t *k, size_t n, int want,
			const char *needle, const char *what)
{
	struct boot_entry e;
	char err[256] = "";
	int r = load(mem, k, n, &e, err, sizeof(err));

	if (!ok(r == want && strstr(err, needle) && !strchr(err, '\n'), "%s -> %s", what, err))
		printf("#   got %d (%s), want %d with \"%s\"\n", r, strerror(-r), want, needle);
}

/* The standard valid image: code at 2 MiB (with bss), data at 4 MiB. */
static size_t build_plain(void)
{
	struct tb_seg segs[] = {
		{ PT_LOAD, CODE_ADDR, sizeof(code), 0x3000, code, 0x1000 },
		{ PT_LOAD, DATA_ADDR, sizeof(data), sizeof(data), data, 0x1000 },
	};
	return tb_elf(img, sizeof(img), CODE_ADDR + 0x10, segs, 2);
}

static size_t build_pvh(const void *desc, uint32_t descsz, uint64_t entry_fallback)
{
	uint8_t notes[128];
	size_t nlen = tb_note(notes, "GNU", 3, "abcdefgh", 8);

	nlen += tb_note(notes + nlen, "Xen", 18, desc, descsz);
	struct tb_seg segs[] = {
		{ PT_LOAD, CODE_ADDR, sizeof(code), 0x3000, code, 0x1000 },
		{ PT_NOTE, 0, nlen, nlen, notes, 4 },
	};
	return tb_elf(img, sizeof(img), entry_fallback, segs, 2);
}

static void test_plain(void)
{
	struct memory *mem = tb_mem(32 * MiB, 0xcc);
	struct boot_entry e;
	char err[256] = "unchanged";
	size_t n = build_plain();
	int r = load(mem, img, n, &e, err, sizeof(err));

	is(r, 0, "plain ELF64 loads (%s)", err);
	is(err[0], 0, "no error text on success");
	is(e.kind, BOOT_KIND_ELF64, "kind ELF64");
	is(e.mode, BOOT_MODE_LONG64, "mode LONG64");
	is(e.rip, CODE_ADDR + 0x10, "rip = e_entry");
	is(e.rsi, BOOT_PARAMS_ADDR, "rsi = boot_params");
	is(e.cr3, BOOT_PML4_ADDR, "cr3 = PML4");
	is(e.all_cpus_enter, 1, "every vCPU enters a plain ELF");
	is(e.gdt_base, BOOT_GDT_ADDR, "gdt_base");
	is(e.gdt_limit, 31, "gdt_limit covers 4 descriptors");
	ok(!memcmp(memory_ptr(mem, CODE_ADDR, sizeof(code)), code, sizeof(code)),
	   "code segment copied to p_paddr");
	ok(!memcmp(memory_ptr(mem, DATA_ADDR, sizeof(data)), data, sizeof(data)),
	   "data segment copied to p_paddr");
	{
		const uint8_t *bss =
			memory_ptr(mem, CODE_ADDR + sizeof(code), 0x3000 - sizeof(code));
		int zero = 1;
		for (size_t i = 0; i < 0x3000 - sizeof(code); i++)
			zero &= bss[i] == 0;
		ok(zero, "p_memsz beyond p_filesz is zeroed");
		is(tb_u8(mem, CODE_ADDR + 0x3000), 0xcc, "nothing written past p_memsz");
	}
	ok(!strcmp((char *)memory_ptr(mem, BOOT_CMDLINE_ADDR, 14), "console=ttyS0"),
	   "cmdline copied with its NUL");
	is(tb_u32(mem, BOOT_PARAMS_ADDR + TB_CMD_LINE_PTR), BOOT_CMDLINE_ADDR,
	   "boot_params cmd_line_ptr");
	is(tb_u8(mem, BOOT_PARAMS_ADDR + TB_E820_ENTRIES), 3, "boot_params carries 3 e820 entries");
	is(tb_u8(mem, BOOT_PARAMS_ADDR + TB_TYPE_OF_LOADER), 0xff, "type_of_loader 0xff");
	is(tb_u16(mem, BOOT_PARAMS_ADDR + TB_BOOT_FLAG), 0xaa55, "synthetic boot flag");

	/* page tables */
	is(tb_u64(mem, BOOT_PML4_ADDR) & ~0xfffull, BOOT_PML4_ADDR + 0x1000, "PML4[0] -> PDPT");
	is(tb_u64(mem, BOOT_PML4_ADDR) & 3, 3, "PML4[0] present, writable");
	is(tb_u64(mem, BOOT_PML4_ADDR + 8), 0, "PML4[1] empty");
	for (int i = 0; i < 4; i++)
		is(tb_u64(mem, BOOT_PML4_ADDR + 0x1000 + 8 * i) & ~0xfffull,
		   BOOT_PML4_ADDR + 0x2000 + 0x1000 * i, "PDPT[%d] -> PD %d", i, i);
	is(tb_u64(mem, BOOT_PML4_ADDR + 0x1000 + 8 * 4), 0, "PDPT[4] empty");
	is(tb_u64(mem, BOOT_PML4_ADDR + 0x2000), 0x87, "PD[0][0] maps 0 with a 2 MiB page");
	is(tb_u64(mem, BOOT_PML4_ADDR + 0x2000 + 8), 0x200087, "PD[0][1] maps 2 MiB");
	is(tb_u64(mem, BOOT_PML4_ADDR + 0x5000 + 8 * 511), 0xffe00087,
	   "PD[3][511] maps the last 2 MiB below 4 GiB");

	/* GDT */
	is(tb_u64(mem, BOOT_GDT_ADDR), 0, "GDT null descriptor");
	is(tb_u64(mem, BOOT_GDT_ADDR + BOOT_SEL_CODE64), 0x00af9b000000ffffull,
	   "GDT 64-bit code (L=1) at BOOT_SEL_CODE64");
	is(tb_u64(mem, BOOT_GDT_ADDR + BOOT_SEL_CODE32), 0x00cf9b000000ffffull,
	   "GDT 32-bit code (D=1) at BOOT_SEL_CODE32");
	is(tb_u64(mem, BOOT_GDT_ADDR + BOOT_SEL_DATA), 0x00cf93000000ffffull,
	   "GDT data at BOOT_SEL_DATA");

	/* the MP table is there for ncpus = 2 */
	ok(!memcmp(memory_ptr(mem, BOOT_MPTABLE_ADDR, 4), "_MP_", 4),
	   "MP floating pointer written");

	/* no cmdline at all: an empty string */
	{
		struct boot_config cfg = { .kernel = img, .kernel_size = n, .ncpus = 1 };
		r = boot_load(mem, &cfg, &e, err, sizeof(err));
		is(r, 0, "NULL cmdline accepted");
		is(tb_u8(mem, BOOT_CMDLINE_ADDR), 0, "NULL cmdline becomes an empty string");
	}
	/* NULL err buffer */
	{
		struct boot_config cfg = { .kernel = img, .kernel_size = 10, .ncpus = 1 };
		is(boot_load(mem, &cfg, &e, NULL, 0), -ENOEXEC, "NULL err buffer is allowed");
	}
	memory_free(mem);
}

static void test_pvh(void)
{
	struct memory *mem = tb_mem(64 * MiB, 0);
	struct boot_entry e;
	char err[256];
	uint32_t entry32 = CODE_ADDR + 0x40;
	uint64_t entry64 = CODE_ADDR + 0x80;
	static uint8_t initrd[10000];
	struct boot_config cfg = { .kernel = img,
				   .initrd = initrd,
				   .initrd_size = sizeof(initrd),
				   .cmdline = "quiet",
				   .ncpus = 1 };
	int r;

	memset(initrd, 0x5a, sizeof(initrd));
	cfg.kernel_size = build_pvh(&entry32, 4, CODE_ADDR);
	r = boot_load(mem, &cfg, &e, err, sizeof(err));
	is(r, 0, "PVH ELF with a 4-byte note loads (%s)", err);
	is(e.kind, BOOT_KIND_ELF_PVH, "kind ELF_PVH");
	is(e.mode, BOOT_MODE_PVH32, "mode PVH32");
	is(e.rip, entry32, "rip = the note's entry, not e_entry");
	is(e.rbx, BOOT_PVH_INFO_ADDR, "rbx = hvm_start_info");
	is(e.all_cpus_enter, 0, "APs wait for SIPI under PVH");
	is(e.gdt_base, BOOT_GDT_ADDR, "gdt_base set for PVH too");

	is(tb_u32(mem, BOOT_PVH_INFO_ADDR), 0x336ec578, "start_info magic");
	is(tb_u32(mem, BOOT_PVH_INFO_ADDR + 4), 1, "start_info version 1");
	is(tb_u32(mem, BOOT_PVH_INFO_ADDR + 12), 1, "one module (the initrd)");
	is(tb_u64(mem, BOOT_PVH_INFO_ADDR + 24), BOOT_CMDLINE_ADDR, "cmdline_paddr");
	is(tb_u64(mem, BOOT_PVH_INFO_ADDR + 32), 0, "rsdp_paddr 0");
	{
		uint64_t mod = tb_u64(mem, BOOT_PVH_INFO_ADDR + 16);
		uint64_t paddr = tb_u64(mem, mod), size = tb_u64(mem, mod + 8);

		is(size, sizeof(initrd), "modlist[0].size = initrd size");
		is(paddr & 0xfff, 0, "initrd page-aligned");
		is(paddr, (64 * MiB - sizeof(initrd)) & ~0xfffull, "initrd as high as possible");
		ok(!memcmp(memory_ptr(mem, paddr, sizeof(initrd)), initrd, sizeof(initrd)),
		   "initrd copied");
		is(tb_u32(mem, BOOT_PARAMS_ADDR + TB_RAMDISK_IMAGE), paddr,
		   "boot_params ramdisk_image too");
	}
	{
		uint64_t mm = tb_u64(mem, BOOT_PVH_INFO_ADDR + 40);
		uint32_t nmm = tb_u32(mem, BOOT_PVH_INFO_ADDR + 48);

		is(nmm, 3, "memmap has 3 entries");
		is(tb_u64(mem, mm + 48 + 0), 0x100000, "memmap[2] starts at 1 MiB");
		is(tb_u64(mem, mm + 48 + 8), 63 * MiB, "memmap[2] runs to 64 MiB");
		is(tb_u32(mem, mm + 48 + 16), 1, "memmap[2] is RAM");
		is(tb_u32(mem, mm + 24 + 16), 2, "memmap[1] is reserved");
	}

	cfg.kernel_size = build_pvh(&entry64, 8, CODE_ADDR);
	r = boot_load(mem, &cfg, &e, err, sizeof(err));
	is(r, 0, "PVH note with an 8-byte descriptor (as Linux writes it) loads (%s)", err);
	is(e.rip, entry64, "rip from the 8-byte note");
	is(e.kind, BOOT_KIND_ELF_PVH, "still ELF_PVH");

	/* hostile notes */
	{
		uint16_t two = 1;
		uint64_t high = 0x100000000ull | CODE_ADDR;
		uint32_t outside = 0x1800000;

		cfg.kernel_size = build_pvh(&two, 2, CODE_ADDR);
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "malformed Xen PVH entry note",
			    "2-byte PVH descriptor");
		cfg.kernel_size = build_pvh(&high, 8, CODE_ADDR);
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "does not fit in 32 bits",
			    "PVH entry above 4 GiB");
		cfg.kernel_size = build_pvh(&outside, 4, CODE_ADDR);
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "outside the loaded segments",
			    "PVH entry outside every PT_LOAD");
	}
	{
		/* namesz so large the note runs past its segment */
		cfg.kernel_size = build_pvh(&entry32, 4, CODE_ADDR);
		Elf64_Phdr *ph = tb_phdr(img, 1);
		uint32_t huge = 0xfffffff0;
		memcpy(img + ph->p_offset, &huge, 4);
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "truncated ELF note",
			    "note namesz past the segment");
		cfg.kernel_size = build_pvh(&entry32, 4, CODE_ADDR);
		ph = tb_phdr(img, 1);
		memcpy(img + ph->p_offset + 4, &huge, 4);
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "truncated ELF note",
			    "note descsz past the segment");
		cfg.kernel_size = build_pvh(&entry32, 4, CODE_ADDR);
		ph = tb_phdr(img, 1);
		ph->p_filesz -= 4; /* cut into the PVH descriptor */
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "truncated ELF note",
			    "PT_NOTE cut inside the last note");
		cfg.kernel_size = build_pvh(&entry32, 4, CODE_ADDR);
		ph = tb_phdr(img, 1);
		ph->p_offset = cfg.kernel_size - 8;
		expect_fail(mem, img, cfg.kernel_size, -ENOEXEC, "past the end",
			    "PT_NOTE out of the file");
	}
	memory_free(mem);
}

static void test_hostile(void)
{
	struct memory *mem = tb_mem(32 * MiB, 0);
	size_t n;

	n = build_plain();
	expect_fail(mem, img, 40, -ENOEXEC, "truncated ELF header", "truncated ELF header");
	expect_fail(mem, img, 3, -ENOEXEC, "not an ELF or bzImage", "3-byte file");
	{
		uint8_t junk[4096] = { 'M', 'Z' };
		expect_fail(mem, junk, sizeof(junk), -ENOEXEC, "not an ELF or bzImage (bad magic)",
			    "bad magic");
	}
	expect_fail(mem, img, 0, -EINVAL, "empty", "empty kernel");

	n = build_plain();
	tb_ehdr(img)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_fail(mem, img, n, -ENOEXEC, "not ELF64", "ELFCLASS32");
	n = build_plain();
	tb_ehdr(img)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_fail(mem, img, n, -ENOEXEC, "little-endian", "big-endian");
	n = build_plain();
	tb_ehdr(img)->e_machine = EM_386;
	expect_fail(mem, img, n, -ENOEXEC, "not x86-64", "EM_386");
	n = build_plain();
	tb_ehdr(img)->e_type = ET_DYN;
	expect_fail(mem, img, n, -ENOEXEC, "not an executable", "ET_DYN");
	n = build_plain();
	tb_ehdr(img)->e_phentsize = 32;
	expect_fail(mem, img, n, -ENOEXEC, "program header size", "wrong e_phentsize");
	n = build_plain();
	tb_ehdr(img)->e_phnum = 0;
	expect_fail(mem, img, n, -ENOEXEC, "no program headers", "e_phnum 0");

	n = build_plain();
	tb_ehdr(img)->e_phoff = n - 60;
	expect_fail(mem, img, n, -ENOEXEC, "truncated ELF program header table",
		    "phdr table past the end of the file");
	n = build_plain();
	tb_ehdr(img)->e_phoff = 0xffffffffffffffc0ull;
	expect_fail(mem, img, n, -ENOEXEC, "truncated ELF program header table",
		    "phdr offset near 2^64");
	n = build_plain();
	tb_ehdr(img)->e_phnum = 0xffff;
	expect_fail(mem, img, n, -ENOEXEC, "program headers", "65535 program headers");

	n = build_plain();
	tb_phdr(img, 0)->p_offset = 0xfffffffffffffff0ull;
	expect_fail(mem, img, n, -ENOEXEC, "runs past the end", "p_offset + p_filesz overflows");
	n = build_plain();
	tb_phdr(img, 1)->p_filesz = 0x10000;
	tb_phdr(img, 1)->p_memsz = 0x10000;
	expect_fail(mem, img, n, -ENOEXEC, "runs past the end", "p_filesz past the end of file");
	n = build_plain();
	tb_phdr(img, 0)->p_memsz = 16;
	expect_fail(mem, img, n, -ENOEXEC, "larger than p_memsz", "p_filesz > p_memsz");
	n = build_plain();
	tb_phdr(img, 1)->p_memsz = 0;
	expect_fail(mem, img, n, -ENOEXEC, "larger than p_memsz", "p_filesz > p_memsz = 0");
	n = build_plain();
	tb_phdr(img, 1)->p_paddr = 0x1f00000;
	tb_phdr(img, 1)->p_memsz = 2 * MiB;
	expect_fail(mem, img, n, -ENOMEM,
		    "kernel: segment 1 needs 2 MiB at 0x1f00000 but the guest has 32 MiB",
		    "segment past the end of RAM");
	n = build_plain();
	tb_phdr(img, 1)->p_paddr = 0xfffffffffffff000ull;
	tb_phdr(img, 1)->p_memsz = 0x2000;
	expect_fail(mem, img, n, -EINVAL, "wraps around", "p_paddr + p_memsz overflows");
	n = build_plain();
	tb_phdr(img, 1)->p_paddr = 0x100000000ull;
	expect_fail(mem, img, n, -ENOMEM, "but the guest has 32 MiB", "segment above 4 GiB");
	n = build_plain();
	tb_phdr(img, 1)->p_paddr = 0x8000;
	expect_fail(mem, img, n, -EINVAL, "segment 1 at 0x8000 would overlap the boot area",
		    "segment over the boot area");
	n = build_plain();
	tb_phdr(img, 0)->p_type = PT_NULL;
	tb_phdr(img, 1)->p_type = PT_NULL;
	expect_fail(mem, img, n, -ENOEXEC, "no loadable segment", "no PT_LOAD");
	n = build_plain();
	tb_ehdr(img)->e_entry = 0x300000;
	expect_fail(mem, img, n, -ENOEXEC, "entry 0x300000 is outside the loaded segments",
		    "e_entry outside the segments");

	/* the failures above must not have touched guest memory below 1 MiB */
	is(tb_u64(mem, BOOT_GDT_ADDR + 8), 0, "a refused kernel writes no boot structures");

	/* other inputs */
	n = build_plain();
	{
		struct boot_config cfg = { .kernel = img, .kernel_size = n, .ncpus = 0 };
		struct boot_entry e;
		char err[256];

		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -EINVAL, "ncpus 0 refused: %s", err);
		cfg.ncpus = 255;
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -EINVAL, "ncpus 255 refused: %s",
		   err);
		cfg.ncpus = 254;
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), 0, "ncpus 254 accepted (%s)", err);
	}
	{
		char *long_cmd = malloc(BOOT_CMDLINE_MAX + 10);
		struct boot_config cfg = {
			.kernel = img, .kernel_size = n, .ncpus = 1, .cmdline = long_cmd
		};
		struct boot_entry e;
		char err[256];

		memset(long_cmd, 'a', BOOT_CMDLINE_MAX + 9);
		long_cmd[BOOT_CMDLINE_MAX + 9] = '\0';
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -E2BIG, "64 KiB cmdline refused: %s",
		   err);
		long_cmd[BOOT_CMDLINE_MAX] = '\0';
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -E2BIG,
		   "cmdline of exactly BOOT_CMDLINE_MAX refused");
		long_cmd[BOOT_CMDLINE_MAX - 1] = '\0';
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), 0,
		   "cmdline of BOOT_CMDLINE_MAX-1 accepted (%s)", err);
		is(tb_u8(mem, BOOT_CMDLINE_ADDR + BOOT_CMDLINE_MAX - 1), 0,
		   "long cmdline NUL-terminated");
		free(long_cmd);
	}
	{
		uint8_t *big = malloc(31 * MiB);
		struct boot_config cfg = { .kernel = img,
					   .kernel_size = n,
					   .ncpus = 1,
					   .initrd = big,
					   .initrd_size = 31 * MiB };
		struct boot_entry e;
		char err[256];

		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -ENOMEM,
		   "initrd that cannot fit above the kernel refused: %s", err);
		ok(strstr(err, "initrd: 31 MiB does not fit") != NULL,
		   "initrd error names its size");
		cfg.initrd_size =
			27 * MiB; /* kernel ends at 4 MiB + 64: 27 MiB fits, 28 does not */
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), 0, "27 MiB initrd fits (%s)", err);
		is(tb_u32(mem, BOOT_PARAMS_ADDR + TB_RAMDISK_IMAGE), 5 * MiB,
		   "27 MiB initrd ends at the top of RAM");
		cfg.initrd_size = 28 * MiB;
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -ENOMEM,
		   "28 MiB initrd would overlap the kernel");
		cfg.initrd = NULL;
		cfg.initrd_size = 4096;
		is(boot_load(mem, &cfg, &e, err, sizeof(err)), -EINVAL,
		   "initrd size without data refused: %s", err);
		free(big);
	}
	memory_free(mem);

	{
		struct memory *tiny = tb_mem(1 * MiB, 0);
		n = build_plain();
		expect_fail(tiny, img, n, -ENOMEM, "guest memory: 1 MiB is too small",
			    "1 MiB guest refused");
		memory_free(tiny);
	}
}

static void test_real_vmlinux(void)
{
	size_t n = 0;
	uint8_t *k = tb_read_kernel("vmlinux", &n);
	struct memory *mem;
	struct boot_entry e;
	char err[256];

	if (!k) {
		ok(1, "# SKIP the guest kernel's vmlinux has not been built");
		return;
	}
	mem = tb_mem(128 * MiB, 0);
	{
		struct boot_config cfg = {
			.kernel = k, .kernel_size = n, .cmdline = "console=ttyS0", .ncpus = 2
		};
		int r = boot_load(mem, &cfg, &e, err, sizeof(err));

		is(r, 0, "the real vmlinux loads (%s)", err);
		is(e.kind, BOOT_KIND_ELF_PVH, "the real vmlinux has the PVH note");
		is(e.mode, BOOT_MODE_PVH32, "and enters in 32-bit PVH mode");
		ok(e.rip >= 0x1000000 && e.rip < 0x4000000,
		   "PVH entry 0x%llx is in the kernel image", (unsigned long long)e.rip);
	}
	memory_free(mem);
	free(k);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(code); i++)
		code[i] = (uint8_t)(0x90 + i);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x11 * i + 3);
	test_plain();
	test_pvh();
	test_hostile();
	test_real_vmlinux();
	return done_testing();
}
