/* boot_load() with bzImage kernels through the 64-bit entry: boot_params
 * contents, initrd placement, and hostile setup headers. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_boot_util.h"
#include "vmm/boot/boot.h"

#define PM_SIZE 0x3000ull
#define SETUP	(5 * 512)

static int load(struct memory *mem, const uint8_t *k, size_t n, const char *cmdline,
		const uint8_t *initrd, size_t initrd_size, struct boot_entry *e, char *err,
		size_t errlen)
{
	struct boot_config cfg = { .kernel = k,
				   .kernel_size = n,
				   .cmdline = cmdline,
				   .initrd = initrd,
				   .initrd_size = initrd_size,
				   .ncpus = 4 };

	return boot_load(mem, &cfg, e, err, errlen);
}

static void expect_fail(struct memory *mem, const uint8_t *k, size_t n, int want,
			const char *needle, const char *what)
{
	struct boot_entry e;
	char err[256] = "";
	int r = load(mem, k, n, "console=ttyS0", NULL, 0, &e, err, sizeof(err));

	if (!ok(r == want && strstr(err, needle) && !strchr(err, '\n'), "%s -> %s", what, err))
		printf("#   got %d (%s), want %d with \"%s\"\n", r, strerror(-r), want, needle);
}

static void test_valid(void)
{
	struct memory *mem = tb_mem(64 * MiB, 0xcc);
	size_t n;
	uint8_t *k = tb_bzimage(PM_SIZE, 8 * MiB, &n);
	static uint8_t initrd[5000];
	struct boot_entry e;
	char err[256];
	int r;

	memset(initrd, 0xa5, sizeof(initrd));
	r = load(mem, k, n, "console=ttyS0 quiet", initrd, sizeof(initrd), &e, err, sizeof(err));
	is(r, 0, "synthetic bzImage loads (%s)", err);
	is(e.kind, BOOT_KIND_BZIMAGE, "kind BZIMAGE");
	is(e.mode, BOOT_MODE_LONG64, "mode LONG64");
	is(e.rip, 0x100200, "rip = 64-bit entry at 0x100000 + 0x200");
	is(e.rsi, BOOT_PARAMS_ADDR, "rsi = boot_params");
	is(e.cr3, BOOT_PML4_ADDR, "cr3 = PML4");
	is(e.all_cpus_enter, 0, "APs wait for SIPI");
	is(e.gdt_base, BOOT_GDT_ADDR, "gdt_base");
	is(e.gdt_limit, 31, "gdt_limit");
	ok(!memcmp(memory_ptr(mem, 0x100000, PM_SIZE), k + SETUP, PM_SIZE),
	   "protected-mode kernel copied to 1 MiB");
	is(tb_u8(mem, 0x100000 + PM_SIZE), 0xcc, "nothing copied past it");

	const uint64_t bp = BOOT_PARAMS_ADDR;
	is(tb_u8(mem, bp + TB_SETUP_SECTS), 4, "setup header copied: setup_sects");
	is(tb_u16(mem, bp + TB_KERNEL_VERSION), 0x1234, "setup header copied: kernel_version");
	is(tb_u16(mem, bp + TB_VERSION), 0x020f, "setup header copied: version");
	is(tb_u32(mem, bp + TB_HEADER), 0x53726448, "setup header copied: HdrS");
	is(tb_u8(mem, bp + TB_TYPE_OF_LOADER), 0xff, "type_of_loader = 0xff");
	is(tb_u8(mem, bp + TB_LOADFLAGS), 0x81, "loadflags = LOADED_HIGH | CAN_USE_HEAP");
	is(tb_u16(mem, bp + TB_HEAP_END_PTR), 0xfe00, "heap_end_ptr set with CAN_USE_HEAP");
	is(tb_u32(mem, bp + TB_CMD_LINE_PTR), BOOT_CMDLINE_ADDR, "cmd_line_ptr");
	ok(!strcmp((char *)memory_ptr(mem, BOOT_CMDLINE_ADDR, 20), "console=ttyS0 quiet"),
	   "cmdline written");
	is(tb_u32(mem, bp + TB_RAMDISK_SIZE), sizeof(initrd), "ramdisk_size");
	is(tb_u32(mem, bp + TB_RAMDISK_IMAGE), (64 * MiB - sizeof(initrd)) & ~0xfffull,
	   "ramdisk_image page-aligned at the top of RAM");
	ok(!memcmp(memory_ptr(mem, tb_u32(mem, bp + TB_RAMDISK_IMAGE), sizeof(initrd)), initrd,
		   sizeof(initrd)),
	   "initrd copied");
	is(tb_u8(mem, bp + TB_E820_ENTRIES), 3, "e820_entries = 3");
	is(tb_u64(mem, bp + TB_E820_TABLE + 40), 0x100000, "e820[2] starts at 1 MiB");
	is(tb_u64(mem, bp + TB_E820_TABLE + 48), 63 * MiB, "e820[2] covers the rest of RAM");
	is(tb_u32(mem, bp + TB_E820_TABLE + 56), 1, "e820[2] is RAM");
	is(tb_u8(mem, bp + 0x1ef), 0, "sentinel stays 0");
	is(tb_u32(mem, bp + 0x26c), 0, "nothing copied past the declared header");
	ok(!memcmp(memory_ptr(mem, BOOT_MPTABLE_ADDR, 4), "_MP_", 4), "MP table written");
	is(tb_u64(mem, BOOT_PML4_ADDR + 0x2000 + 8), 0x200087, "identity page tables written");

	/* loader-owned fields are ours, whatever the image holds */
	tb_put64(k, 0x250, 0x123456); /* setup_data */
	r = load(mem, k, n, NULL, NULL, 0, &e, err, sizeof(err));
	is(r, 0, "image with a setup_data pointer loads (%s)", err);
	is(tb_u64(mem, bp + 0x250), 0, "setup_data from the image is not passed on");
	tb_put64(k, 0x250, 0);

	/* initrd_addr_max lowers the initrd */
	tb_put32(k, TB_INITRD_ADDR_MAX, 0x1ffffff);
	r = load(mem, k, n, NULL, initrd, sizeof(initrd), &e, err, sizeof(err));
	is(r, 0, "bzImage with initrd_addr_max 32 MiB - 1 loads (%s)", err);
	is(tb_u32(mem, bp + TB_RAMDISK_IMAGE), (32 * MiB - sizeof(initrd)) & ~0xfffull,
	   "initrd ends below initrd_addr_max");
	/* ...and when it leaves no room above the kernel, the initrd is refused */
	tb_put32(k, TB_INITRD_ADDR_MAX, 0x1800fff);
	r = load(mem, k, n, NULL, initrd, sizeof(initrd), &e, err, sizeof(err));
	is(r, -ENOMEM, "initrd_addr_max inside the kernel's init_size: %s", err);
	ok(strstr(err, "initrd:") && strstr(err, "kernel's end at 0x1800000"),
	   "the error names the kernel's end (pref_address + init_size)");
	tb_put32(k, TB_INITRD_ADDR_MAX, 0x7fffffff);

	/* initrd bigger than the room left */
	{
		uint8_t *big = calloc(1, 40 * MiB + 1);
		r = load(mem, k, n, NULL, big, 40 * MiB + 1, &e, err, sizeof(err));
		is(r, -ENOMEM, "40 MiB + 1 initrd in a 64 MiB guest with the kernel to 24 MiB: %s",
		   err);
		r = load(mem, k, n, NULL, big, 40 * MiB, &e, err, sizeof(err));
		is(r, 0, "40 MiB initrd fits exactly (%s)", err);
		is(tb_u32(mem, bp + TB_RAMDISK_IMAGE), 24 * MiB, "and starts at the kernel's end");
		free(big);
	}

	/* cmdline_size is the kernel's limit */
	tb_put32(k, TB_CMDLINE_SIZE, 8);
	r = load(mem, k, n, "123456789", NULL, 0, &e, err, sizeof(err));
	is(r, -E2BIG, "cmdline longer than cmdline_size refused: %s", err);
	r = load(mem, k, n, "12345678", NULL, 0, &e, err, sizeof(err));
	is(r, 0, "cmdline of exactly cmdline_size accepted (%s)", err);
	tb_put32(k, TB_CMDLINE_SIZE, 2047);

	/* setup_sects 0 means 4 */
	k[TB_SETUP_SECTS] = 0;
	r = load(mem, k, n, NULL, NULL, 0, &e, err, sizeof(err));
	is(r, 0, "setup_sects 0 is read as 4 (%s)", err);
	ok(!memcmp(memory_ptr(mem, 0x100000, PM_SIZE), k + SETUP, PM_SIZE),
	   "kernel copied from offset 5 * 512");
	k[TB_SETUP_SECTS] = 4;

	/* a non-relocatable kernel runs at pref_address */
	k[TB_RELOCATABLE] = 0;
	tb_put32(k, TB_KERNEL_ALIGNMENT, 3);
	r = load(mem, k, n, NULL, NULL, 0, &e, err, sizeof(err));
	is(r, 0, "non-relocatable kernel ignores kernel_alignment (%s)", err);
	free(k);
	memory_free(mem);
}

static void test_hostile(void)
{
	struct memory *mem = tb_mem(32 * MiB, 0);
	size_t n;
	uint8_t *k;

#define FRESH()                                       \
	do {                                          \
		free(k);                              \
		k = tb_bzimage(PM_SIZE, 8 * MiB, &n); \
	} while (0)

	k = tb_bzimage(PM_SIZE, 8 * MiB, &n);
	tb_put16(k, TB_BOOT_FLAG, 0x1234);
	expect_fail(mem, k, n, -ENOEXEC, "boot flag is 0x1234, not 0xaa55", "bad 0xAA55 flag");
	FRESH();
	memcpy(k + TB_HEADER, "HdrX", 4);
	expect_fail(mem, k, n, -ENOEXEC, "not an ELF or bzImage (bad magic)", "bad HdrS magic");
	FRESH();
	tb_put16(k, TB_VERSION, 0x0206);
	expect_fail(mem, k, n, -ENOEXEC, "boot protocol 2.06 is too old", "protocol 2.06");
	FRESH();
	tb_put16(k, TB_VERSION, 0x020b);
	expect_fail(mem, k, n, -ENOEXEC, "2.11 is too old", "protocol 2.11");
	FRESH();
	tb_put16(k, TB_XLOADFLAGS, 0x2);
	expect_fail(mem, k, n, -ENOEXEC, "no 64-bit entry (XLF_KERNEL_64 not set)",
		    "no XLF_KERNEL_64");
	FRESH();
	k[TB_LOADFLAGS] = 0;
	expect_fail(mem, k, n, -ENOEXEC, "zImage", "not LOADED_HIGH");
	FRESH();
	k[TB_SETUP_SECTS] = 200;
	expect_fail(mem, k, n, -ENOEXEC, "setup_sects (200) points past the end",
		    "setup_sects out of the file");
	FRESH();
	k[TB_SETUP_SECTS] = 28; /* (28 + 1) * 512 = the file size: no kernel at all */
	expect_fail(mem, k, n, -ENOEXEC, "setup_sects (28) points past the end",
		    "setup_sects covering the whole file");
	FRESH();
	expect_fail(mem, k, 0x250, -ENOEXEC, "truncated bzImage setup header",
		    "file cut inside the setup header");
	FRESH();
	tb_put32(k, TB_INIT_SIZE, 40 * MiB);
	expect_fail(mem, k, n, -ENOMEM,
		    "kernel: needs 40 MiB at 0x1000000 but the guest has 32 MiB",
		    "init_size bigger than memory");
	FRESH();
	tb_put64(k, TB_PREF_ADDRESS, 0xfffffffffff00000ull);
	expect_fail(mem, k, n, -EINVAL, "wraps around", "pref_address + init_size overflows");
	FRESH();
	tb_put64(k, TB_PREF_ADDRESS, 0x80000000ull);
	expect_fail(mem, k, n, -ENOMEM, "at 0x80000000 but the guest has 32 MiB",
		    "pref_address beyond RAM");
	FRESH();
	tb_put32(k, TB_KERNEL_ALIGNMENT, 0x300000);
	expect_fail(mem, k, n, -ENOEXEC, "kernel_alignment 0x300000 is not a power of two",
		    "kernel_alignment not a power of two");
	FRESH();
	tb_put32(k, TB_KERNEL_ALIGNMENT, 0);
	expect_fail(mem, k, n, -ENOEXEC, "kernel_alignment 0x0", "kernel_alignment 0");
	free(k);

	/* a protected-mode part that does not fit in RAM */
	k = tb_bzimage(32 * MiB, 8 * MiB, &n);
	expect_fail(mem, k, n, -ENOMEM, "kernel: needs 32 MiB at 0x100000 but the guest has 32 MiB",
		    "kernel bigger than memory");
	free(k);

	/* hostile header length byte: a long jump must not copy past the struct */
	{
		struct memory *m = tb_mem(64 * MiB, 0xcc);
		struct boot_entry e;
		char err[256];

		k = tb_bzimage(PM_SIZE, 8 * MiB, &n);
		k[TB_JUMP_END] = 0xff;
		memset(k + 0x26c, 0xee, 0x301 - 0x26c);
		is(load(m, k, n, NULL, NULL, 0, &e, err, sizeof(err)), 0,
		   "jump byte 0xff accepted (%s)", err);
		is(tb_u32(m, BOOT_PARAMS_ADDR + 0x290), 0,
		   "bytes past the setup header not copied");
		k[TB_JUMP_END] = 0x00; /* declares a header ending at 0x202 */
		is(load(m, k, n, NULL, NULL, 0, &e, err, sizeof(err)), 0,
		   "short declared header accepted (%s)", err);
		is(tb_u16(m, BOOT_PARAMS_ADDR + TB_VERSION), 0, "fields past 0x202 not copied");
		free(k);
		memory_free(m);
	}
	memory_free(mem);
}

static void test_real_bzimage(void)
{
	size_t n = 0;
	uint8_t *k = tb_read_kernel("bzImage", &n);
	struct memory *mem;
	struct boot_entry e;
	char err[256];
	static uint8_t initrd[4096];

	if (!k) {
		ok(1, "# SKIP the guest kernel's bzImage has not been built");
		return;
	}
	mem = tb_mem(128 * MiB, 0);
	int r = load(mem, k, n, "console=ttyS0", initrd, sizeof(initrd), &e, err, sizeof(err));
	is(r, 0, "the real bzImage loads (%s)", err);
	is(e.kind, BOOT_KIND_BZIMAGE, "as a bzImage");
	is(e.rip, 0x100200, "through its 64-bit entry");
	ok(tb_u16(mem, BOOT_PARAMS_ADDR + TB_VERSION) >= 0x020c, "protocol %x copied",
	   tb_u16(mem, BOOT_PARAMS_ADDR + TB_VERSION));
	ok(tb_u32(mem, BOOT_PARAMS_ADDR + TB_RAMDISK_IMAGE) >=
		   0x1000000 + tb_u32(mem, BOOT_PARAMS_ADDR + TB_INIT_SIZE),
	   "initrd placed above pref_address + init_size");
	memory_free(mem);
	free(k);
}

int main(void)
{
	test_valid();
	test_hostile();
	test_real_bzimage();
	return done_testing();
}
