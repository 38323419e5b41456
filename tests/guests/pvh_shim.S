/* pvh_shim: lets QEMU run the synthetic guests under TCG, a CPU that is
 * neither kvm_pvm nor this VMM, to check the guests' own logic (the
 * SYSCALL-delivered path of syscall_probe above all). QEMU boots this ELF
 * through its Xen PVH note (32-bit protected mode, paging off); it recreates
 * the VMM's synthetic-guest entry state (64-bit mode, identity-mapped first
 * 4 GiB, flat GDT, RDI = 0) and jumps to the guest that QEMU's generic loader
 * put at RT_KERNEL_BASE. One vCPU only: QEMU leaves the others waiting for
 * a SIPI. Linked at 1 MiB, below every guest. */
#include "layout.h"

	.section .note.pvh, "a"
	.balign	4
	.long	4				/* name size: "Xen\0" */
	.long	4				/* descriptor size */
	.long	18				/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	shim_entry32

	.text
	.code32
	.globl	shim_entry32
shim_entry32:
	cli
	lgdt	shim_gdt_ptr
	mov	$shim_pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$0x20, %eax			/* PAE */
	mov	%eax, %cr4
	mov	$0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax		/* PG, PE */
	mov	%eax, %cr0
	ljmp	$0x08, $shim_entry64

	.code64
shim_entry64:
	mov	$0x18, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%edi, %edi			/* vCPU 0 */
	xor	%esi, %esi			/* no boot_params */
	xor	%esp, %esp			/* no stack, as from the VMM */
	mov	$RT_KERNEL_BASE, %eax		/* every guest's e_entry */
	jmp	*%rax

	.data
	.balign	16
shim_gdt:
	.quad	0
	.quad	0x00af9b000000ffff		/* 0x08 64-bit code */
	.quad	0x00cf9b000000ffff		/* 0x10 32-bit code */
	.quad	0x00cf93000000ffff		/* 0x18 data */
shim_gdt_end:
	.word	0
	.word	0
	.word	0
shim_gdt_ptr:
	.word	shim_gdt_end - shim_gdt - 1
	.long	shim_gdt

/* Identity map of 0-4 GiB in 2 MiB pages, supervisor-only like the VMM's. */
	.balign	4096
shim_pml4:
	.quad	shim_pdpt + 0x3
	.fill	511, 8, 0
shim_pdpt:
	.quad	shim_pd + 0x0000 + 0x3
	.quad	shim_pd + 0x1000 + 0x3
	.quad	shim_pd + 0x2000 + 0x3
	.quad	shim_pd + 0x3000 + 0x3
	.fill	508, 8, 0
shim_pd:
	i = 0
	.rept	2048
	.quad	(i << 21) | 0x83
	i = i + 1
	.endr

	.section .note.GNU-stack, "", @progbits
