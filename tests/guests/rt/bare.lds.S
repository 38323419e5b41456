/* Linker script of the guests that do without the runtime (first_insn):
 * one executable segment at RT_KERNEL_BASE, no notes. */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)

PHDRS
{
	text PT_LOAD FLAGS(5);
}

SECTIONS
{
	. = RT_KERNEL_BASE;
	.text : { *(.text .text.*) } :text
	/DISCARD/ : { *(.note .note.* .comment .eh_frame .eh_frame_hdr) }
}
