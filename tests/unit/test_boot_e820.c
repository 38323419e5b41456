/* The guest memory map: e820_build() for small, 3 GiB and two-slot guests,
 * and the same map as boot_load() hands it over in boot_params and PVH. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_boot_util.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/loader.h"

static void expect_entry(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type,
			 const char *what)
{
	ok(e->addr == addr && e->size == size && e->type == type, "%s: [0x%llx, +0x%llx) type %u",
	   what, (unsigned long long)e->addr, (unsigned long long)e->size, e->type);
}

static void expect_low(const struct e820_entry *t, uint64_t low_end, const char *what)
{
	expect_entry(&t[0], 0, 0x9fc00, E820_RAM, what);
	expect_entry(&t[1], 0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED, what);
	expect_entry(&t[2], 0x100000, low_end - 0x100000, E820_RAM, what);
}

static void test_build(void)
{
	struct e820_entry t[8];
	struct memory *mem;
	int n;

	mem = tb_mem(32 * MiB, 0);
	n = e820_build(mem, t, 8);
	is(n, 3, "32 MiB: three entries");
	expect_low(t, 32 * MiB, "32 MiB");
	is(e820_build(mem, t, 2), -ENOSPC, "a table too small for the map is refused");
	memory_free(mem);

	mem = tb_mem(3 * GiB, 0);
	n = e820_build(mem, t, 8);
	is(n, 3, "3 GiB exactly: still one slot, three entries");
	expect_low(t, 0xc0000000, "3 GiB");
	memory_free(mem);

	mem = tb_mem(3 * GiB + 4096, 0);
	n = e820_build(mem, t, 8);
	is(n, 4, "3 GiB + 4 KiB: a second slot, four entries");
	expect_low(t, 0xc0000000, "3 GiB + 4 KiB");
	expect_entry(&t[3], 0x100000000ull, 4096, E820_RAM, "3 GiB + 4 KiB high");
	memory_free(mem);

	mem = tb_mem(5 * GiB, 0);
	n = e820_build(mem, t, 8);
	is(n, 4, "5 GiB: four entries");
	expect_low(t, 0xc0000000, "5 GiB");
	expect_entry(&t[3], 0x100000000ull, 2 * GiB, E820_RAM, "5 GiB high");
	{
		uint64_t ram = 0;
		for (int i = 0; i < n; i++)
			if (t[i].type == E820_RAM)
				ram += t[i].size;
		is(ram, 5 * GiB - (0x100000 - 0x9fc00), "RAM entries add up to the guest's memory");
	}
	memory_free(mem);

	mem = tb_mem(1 * MiB, 0);
	is(e820_build(mem, t, 8), -EINVAL, "1 MiB guest: no RAM above 1 MiB");
	memory_free(mem);
	mem = tb_mem(1 * MiB + 4096, 0);
	is(e820_build(mem, t, 8), 3, "1 MiB + 4 KiB guest: the smallest map");
	expect_entry(&t[2], 0x100000, 4096, E820_RAM, "1 MiB + 4 KiB");
	memory_free(mem);
}

static void test_handover(void)
{
	/* A PVH ELF loaded into a two-slot guest: boot_params and the PVH memmap
	 * both carry the 4-entry map, and the initrd stays below the hole. */
	static uint8_t img[4096], code[64];
	static uint8_t initrd[8192];
	uint8_t notes[64];
	uint32_t entry = 0x200000;
	size_t nlen = tb_note(notes, "Xen", 18, &entry, 4);
	struct tb_seg segs[] = {
		{ PT_LOAD, 0x200000, sizeof(code), sizeof(code), code, 16 },
		{ PT_NOTE, 0, nlen, nlen, notes, 4 },
	};
	size_t n = tb_elf(img, sizeof(img), 0x200000, segs, 2);
	struct memory *mem = tb_mem(4 * GiB, 0);
	struct boot_config cfg = { .kernel = img,
				   .kernel_size = n,
				   .initrd = initrd,
				   .initrd_size = sizeof(initrd),
				   .ncpus = 1 };
	struct boot_entry e;
	char err[256];

	is(boot_load(mem, &cfg, &e, err, sizeof(err)), 0, "PVH ELF into 4 GiB loads (%s)", err);
	is(tb_u8(mem, BOOT_PARAMS_ADDR + TB_E820_ENTRIES), 4, "boot_params: 4 e820 entries");
	is(tb_u64(mem, BOOT_PARAMS_ADDR + TB_E820_TABLE + 3 * 20), 0x100000000ull,
	   "boot_params: e820[3] at 4 GiB");
	is(tb_u64(mem, BOOT_PARAMS_ADDR + TB_E820_TABLE + 3 * 20 + 8), 1 * GiB,
	   "boot_params: e820[3] is 1 GiB");
	is(tb_u32(mem, BOOT_PVH_INFO_ADDR + 48), 4, "PVH: 4 memmap entries");
	{
		uint64_t mm = tb_u64(mem, BOOT_PVH_INFO_ADDR + 40);
		is(tb_u64(mem, mm + 3 * 24), 0x100000000ull, "PVH: memmap[3] at 4 GiB");
		is(tb_u64(mem, mm + 3 * 24 + 8), 1 * GiB, "PVH: memmap[3] is 1 GiB");
		is(tb_u32(mem, mm + 3 * 24 + 16), 1, "PVH: memmap[3] is RAM");
		is(tb_u32(mem, mm + 3 * 24 + 20), 0, "PVH: reserved field zero");
		is(tb_u64(mem, mm + 1 * 24), 0x9fc00, "PVH: memmap[1] is the EBDA");
		is(tb_u32(mem, mm + 1 * 24 + 16), 2, "PVH: memmap[1] reserved");
	}
	{
		uint64_t mod = tb_u64(mem, BOOT_PVH_INFO_ADDR + 16);
		is(tb_u64(mem, mod), 0xc0000000ull - sizeof(initrd),
		   "initrd at the top of low RAM, below the 32-bit hole");
	}
	memory_free(mem);
}

static void test_sizes(void)
{
	char b[32];

	ok(!strcmp(loader_fmt_size(32 * MiB, b, sizeof(b)), "32 MiB"), "fmt 32 MiB");
	ok(!strcmp(loader_fmt_size(3 * GiB, b, sizeof(b)), "3 GiB"), "fmt 3 GiB");
	ok(!strcmp(loader_fmt_size(0xfe6000, b, sizeof(b)), "16280 KiB"), "fmt 16280 KiB");
	ok(!strcmp(loader_fmt_size(1000, b, sizeof(b)), "1000 bytes"), "fmt 1000 bytes");
	ok(!strcmp(loader_fmt_size(0, b, sizeof(b)), "0 bytes"), "fmt 0 bytes");
}

int main(void)
{
	test_build();
	test_handover();
	test_sizes();
	return done_testing();
}
