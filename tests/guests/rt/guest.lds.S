/* Linker script of the synthetic guests (run through cpp). The CPL0 part
 * (start.S, rt_kernel.c, .ktext.* sections of a guest) fills the
 * supervisor-only 2 MiB page at RT_KERNEL_BASE; everything else is CPL3 code
 * and data from RT_USER_BASE. No notes are kept: without a Xen PVH note the
 * VMM starts every vCPU at e_entry in 64-bit mode. */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)

PHDRS
{
	ktext PT_LOAD FLAGS(5);
	kdata PT_LOAD FLAGS(6);
	text PT_LOAD FLAGS(5);
	data PT_LOAD FLAGS(6);
}

SECTIONS
{
	. = RT_KERNEL_BASE;
	.ktext : {
		KEEP(*(.ktext.entry))
		*(.ktext .ktext.*)
		*rt_kernel.o(.text .text.*)
	} :ktext
	.kdata : ALIGN(4096) {
		*(.kdata .kdata.*)
		*rt_kernel.o(.rodata .rodata.* .data .data.*)
	} :kdata
	.kbss (NOLOAD) : ALIGN(4096) {
		*(.kbss .kbss.*)
		*rt_kernel.o(.bss .bss.* COMMON)
	} :kdata
	rt_kernel_end = .;

	. = RT_USER_BASE;
	.text : {
		*(.text.rt_start)
		*(.text .text.*)
	} :text
	.rodata : { *(.rodata .rodata.*) } :text
	.data : ALIGN(4096) { *(.data .data.*) } :data
	.bss (NOLOAD) : ALIGN(4096) { *(.bss .bss.* COMMON) } :data
	rt_user_end = .;

	/DISCARD/ : { *(.note .note.* .comment .eh_frame .eh_frame_hdr .interp .dynamic) }
}

/* Gate and descriptor templates for vector 0 and vCPU 0; start.S adds the
 * stride to the low 16 address bits, so the stubs and TSSs must not cross a
 * 64 KiB boundary (they are 4 KiB-aligned and at most 4 KiB long). */
RT_IDT_GATE0 = (rt_isr_stubs & 0xffff) | (RT_SEL_KCODE << 16) | (0x8e << 40) |
	       (((rt_isr_stubs >> 16) & 0xffff) << 48);
RT_TSS_DESC0 = ((rt_tss & 0xffff) << 16) | (((rt_tss >> 16) & 0xff) << 32) |
	       (0x89 << 40) | (((rt_tss >> 24) & 0xff) << 56);

ASSERT(rt_kernel_end <= RT_KERNEL_BASE + 0x200000, "CPL0 part overflows its 2 MiB page")
ASSERT(rt_isr_stubs < 0x100000000, "interrupt stubs must lie below 4 GiB")
ASSERT(rt_tss < 0x100000000, "TSSs must lie below 4 GiB")
ASSERT(RT_NVECTORS * RT_ISR_STRIDE <= 4096, "stubs must fit in one 4 KiB page")
ASSERT(RT_MAX_CPUS * RT_TSS_STRIDE <= 4096, "TSSs must fit in one 4 KiB page")
