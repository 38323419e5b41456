/* Linker script of pvh_shim: everything from 1 MiB, its PVH note kept. */
OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(shim_entry32)

PHDRS
{
	text PT_LOAD FLAGS(5);
	data PT_LOAD FLAGS(6);
	note PT_NOTE;
}

SECTIONS
{
	. = 0x100000;
	.text : { *(.text .text.*) } :text
	.note.pvh : { KEEP(*(.note.pvh)) } :text :note
	.data : ALIGN(4096) { *(.data .data.*) } :data
	/DISCARD/ : { *(.note.GNU-stack .comment .eh_frame) }
}
