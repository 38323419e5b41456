/* Loading a guest into memory, and the CPU state it must start with.
 * The loaders are pure functions over struct memory: they parse hostile
 * kernel and initrd bytes, bounds-check everything, and never touch KVM.
 *
 * Guest physical layout below 1 MiB (see docs/ARCHITECTURE.md):
 *   BOOT_GDT_ADDR      GDT for the 64-bit and PVH entries
 *   BOOT_PVH_INFO_ADDR hvm_start_info + its memory map (PVH)
 *   BOOT_PARAMS_ADDR   struct boot_params, the "zero page" (64-bit entry)
 *   BOOT_PML4_ADDR..   identity page tables for the first 4 GiB (64-bit entry)
 *   BOOT_CMDLINE_ADDR  the kernel command line
 *   BOOT_MPTABLE_ADDR  the MP floating pointer and table (in the EBDA)
 */
#ifndef AGENTVM_VMM_BOOT_H
#define AGENTVM_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

#define BOOT_GDT_ADDR	   0x0500ull
#define BOOT_PVH_INFO_ADDR 0x6000ull
#define BOOT_PARAMS_ADDR   0x7000ull
#define BOOT_PML4_ADDR	   0x9000ull /* PML4, PDPT, then 4 PDs: 0x9000-0xefff */
#define BOOT_CMDLINE_ADDR  0x20000ull
#define BOOT_CMDLINE_MAX   0x10000ull
#define BOOT_MPTABLE_ADDR  0x9fc00ull
#define BOOT_EBDA_END	   0xa0000ull
#define BOOT_HIMEM_START   0x100000ull

/* The GDT selectors both entries load. */
#define BOOT_SEL_CODE64 0x08
#define BOOT_SEL_CODE32 0x10
#define BOOT_SEL_DATA	0x18

enum boot_mode {
	BOOT_MODE_PVH32,  /* 32-bit protected mode, paging off, RBX = hvm_start_info */
	BOOT_MODE_LONG64, /* 64-bit long mode, identity paging (CR3), RSI = boot_params */
};

enum boot_kind {
	BOOT_KIND_ELF_PVH, /* ELF vmlinux with the Xen PVH note */
	BOOT_KIND_ELF64,   /* plain ELF64 (synthetic guests): every vCPU enters */
	BOOT_KIND_BZIMAGE, /* Linux bzImage through its 64-bit entry */
};

struct boot_config {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_size;
	const char *cmdline; /* may be NULL */
	int ncpus;	     /* for the MP table */
};

struct boot_entry {
	enum boot_kind kind;
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi; /* BOOT_MODE_LONG64: boot_params address */
	uint64_t rbx; /* BOOT_MODE_PVH32: hvm_start_info address */
	uint64_t cr3; /* BOOT_MODE_LONG64: page table root */
	uint64_t gdt_base;
	uint16_t gdt_limit;
	int all_cpus_enter; /* every vCPU starts at rip (RDI = vCPU index); else APs wait for SIPI */
};

/* Load cfg's kernel (ELF or bzImage, found by its magic) and initrd into mem,
 * write the command line, e820/memory map, boot_params or hvm_start_info, the
 * MP table, page tables and GDT, and describe the entry in *entry.
 * Returns 0, or -errno with a one-line reason in err. */
int boot_load(struct memory *mem, const struct boot_config *cfg, struct boot_entry *entry,
	      char *err, size_t errlen);

#endif
