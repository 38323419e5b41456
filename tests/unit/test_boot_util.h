/* Builders for the boot loader tests: guest memory, hand-made ELF and
 * bzImage images, and the real guest kernel when it has been built. */
#ifndef AGENTVM_TESTS_TEST_BOOT_UTIL_H
#define AGENTVM_TESTS_TEST_BOOT_UTIL_H

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot/boot.h"
#include "vmm/memory.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

/* Guest RAM of size bytes (a sparse memfd), filled with fill below 64 MiB so
 * tests can tell written bytes from untouched ones. Exits on failure. */
static inline struct memory *tb_mem(uint64_t size, int fill)
{
	struct memory *mem;

	if (memory_new(size, &mem) < 0) {
		printf("Bail out! cannot allocate %llu bytes of guest memory\n",
		       (unsigned long long)size);
		exit(1);
	}
	memset(mem->base, fill, size < 64 * MiB ? size : 64 * MiB);
	return mem;
}

static inline uint8_t tb_u8(const struct memory *mem, uint64_t gpa)
{
	uint8_t v = 0;
	memory_read(mem, gpa, &v, 1);
	return v;
}

static inline uint16_t tb_u16(const struct memory *mem, uint64_t gpa)
{
	uint16_t v = 0;
	memory_read(mem, gpa, &v, 2);
	return v;
}

static inline uint32_t tb_u32(const struct memory *mem, uint64_t gpa)
{
	uint32_t v = 0;
	memory_read(mem, gpa, &v, 4);
	return v;
}

static inline uint64_t tb_u64(const struct memory *mem, uint64_t gpa)
{
	uint64_t v = 0;
	memory_read(mem, gpa, &v, 8);
	return v;
}

/* One program header for tb_elf(); data (filesz bytes) may be NULL for zeros. */
struct tb_seg {
	uint32_t type;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	const void *data;
	uint64_t align;
};

/* Build an ELF64 x86-64 executable into buf: header, program headers, then
 * each segment's bytes 16-aligned. Returns its size (0 if cap is too small). */
static inline size_t tb_elf(uint8_t *buf, size_t cap, uint64_t entry, const struct tb_seg *segs,
			    int n)
{
	Elf64_Ehdr eh = { 0 };
	size_t off = sizeof(eh) + (size_t)n * sizeof(Elf64_Phdr);

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	if (off > cap)
		return 0;
	memset(buf, 0, cap);
	for (int i = 0; i < n; i++) {
		Elf64_Phdr ph = { 0 };

		off = (off + 15) & ~(size_t)15;
		if (segs[i].filesz > cap - off)
			return 0;
		ph.p_type = segs[i].type;
		ph.p_flags = PF_R | PF_W | PF_X;
		ph.p_offset = off;
		ph.p_vaddr = segs[i].paddr;
		ph.p_paddr = segs[i].paddr;
		ph.p_filesz = segs[i].filesz;
		ph.p_memsz = segs[i].memsz;
		ph.p_align = segs[i].align ? segs[i].align : 16;
		if (segs[i].data)
			memcpy(buf + off, segs[i].data, segs[i].filesz);
		memcpy(buf + sizeof(eh) + (size_t)i * sizeof(ph), &ph, sizeof(ph));
		off += segs[i].filesz;
	}
	memcpy(buf, &eh, sizeof(eh));
	return off;
}

static inline Elf64_Ehdr *tb_ehdr(uint8_t *buf)
{
	return (Elf64_Ehdr *)buf;
}

static inline Elf64_Phdr *tb_phdr(uint8_t *buf, int i)
{
	return (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr) + (size_t)i * sizeof(Elf64_Phdr));
}

/* An ELF note into out (4-byte padding); returns its size. */
static inline size_t tb_note(uint8_t *out, const char *name, uint32_t type, const void *desc,
			     uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t off = 12;

	memcpy(out, &namesz, 4);
	memcpy(out + 4, &descsz, 4);
	memcpy(out + 8, &type, 4);
	memset(out + off, 0, (namesz + 3) & ~3u);
	memcpy(out + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memset(out + off, 0, (descsz + 3) & ~3u);
	memcpy(out + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

/* Offsets of setup header fields in a bzImage (and in boot_params). */
enum {
	TB_SETUP_SECTS = 0x1f1,
	TB_BOOT_FLAG = 0x1fe,
	TB_JUMP_END = 0x201,
	TB_HEADER = 0x202,
	TB_VERSION = 0x206,
	TB_KERNEL_VERSION = 0x20e,
	TB_TYPE_OF_LOADER = 0x210,
	TB_LOADFLAGS = 0x211,
	TB_RAMDISK_IMAGE = 0x218,
	TB_RAMDISK_SIZE = 0x21c,
	TB_HEAP_END_PTR = 0x224,
	TB_CMD_LINE_PTR = 0x228,
	TB_INITRD_ADDR_MAX = 0x22c,
	TB_KERNEL_ALIGNMENT = 0x230,
	TB_RELOCATABLE = 0x234,
	TB_XLOADFLAGS = 0x236,
	TB_CMDLINE_SIZE = 0x238,
	TB_PREF_ADDRESS = 0x258,
	TB_INIT_SIZE = 0x260,
	TB_E820_ENTRIES = 0x1e8,
	TB_E820_TABLE = 0x2d0,
};

static inline void tb_put16(uint8_t *b, size_t off, uint16_t v)
{
	memcpy(b + off, &v, 2);
}

static inline void tb_put32(uint8_t *b, size_t off, uint32_t v)
{
	memcpy(b + off, &v, 4);
}

static inline void tb_put64(uint8_t *b, size_t off, uint64_t v)
{
	memcpy(b + off, &v, 8);
}

/* A bzImage with 4 setup sectors and pm_size bytes of protected-mode kernel
 * (byte i = i * 7 + 1), protocol 2.15, relocatable, pref_address 16 MiB,
 * init_size init_size. Caller frees. *size gets the file size. */
static inline uint8_t *tb_bzimage(uint64_t pm_size, uint32_t init_size, size_t *size)
{
	size_t setup = 5 * 512, n = setup + pm_size;
	uint8_t *b = calloc(1, n);

	if (!b)
		exit(1);
	b[TB_SETUP_SECTS] = 4;
	tb_put16(b, TB_BOOT_FLAG, 0xaa55);
	b[0x200] = 0xeb;
	b[TB_JUMP_END] = 0x6a; /* header ends at 0x26c */
	memcpy(b + TB_HEADER, "HdrS", 4);
	tb_put16(b, TB_VERSION, 0x020f);
	tb_put16(b, TB_KERNEL_VERSION, 0x1234);
	b[TB_LOADFLAGS] = 0x01; /* LOADED_HIGH */
	tb_put32(b, TB_INITRD_ADDR_MAX, 0x7fffffff);
	tb_put32(b, TB_KERNEL_ALIGNMENT, 0x200000);
	b[TB_RELOCATABLE] = 1;
	tb_put16(b, TB_XLOADFLAGS, 0x1); /* XLF_KERNEL_64 */
	tb_put32(b, TB_CMDLINE_SIZE, 2047);
	tb_put64(b, TB_PREF_ADDRESS, 0x1000000);
	tb_put32(b, TB_INIT_SIZE, init_size);
	for (uint64_t i = 0; i < pm_size; i++)
		b[setup + i] = (uint8_t)(i * 7 + 1);
	*size = n;
	return b;
}

/* Read the built guest kernel file name (vmlinux or bzImage) into a heap
 * buffer, or return NULL if it has not been built. */
static inline uint8_t *tb_read_kernel(const char *name, size_t *size)
{
	char dir[4096] = "", path[4200];
	const char *env = getenv("AGENTVM_KERNEL_DIR");
	uint8_t *buf = NULL;
	FILE *f;
	long n;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		f = popen("cd \"$(git rev-parse --show-toplevel 2>/dev/null || echo .)\" && "
			  "images/kernel/build.sh --dir 2>/dev/null",
			  "r");
		if (!f)
			return NULL;
		if (!fgets(dir, sizeof(dir), f))
			dir[0] = '\0';
		pclose(f);
		dir[strcspn(dir, "\n")] = '\0';
	}
	if (!dir[0])
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

#endif
