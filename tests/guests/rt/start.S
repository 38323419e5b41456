/* CPL0 start-up of the synthetic guests, and everything the CPU reads at
 * CPL0: GDT, TSSs, IDT and interrupt stubs, page tables, kernel stacks.
 *
 * Every vCPU enters _start in 64-bit mode at CPL0 with RDI = its index.
 * CPL0 is emulated one instruction at a time on some hosts (~1 us each), so
 * all tables are built by the assembler and the linker script, and the
 * per-vCPU path below is ~35 instructions before it drops to CPL3. */
#include "layout.h"

/* I/O map base and TSS limit of vCPU i (see rt_tss below). */
#define RT_TSS_IOMAP(i) (RT_MAX_CPUS * RT_TSS_STRIDE - (i) * RT_TSS_STRIDE)
#define RT_TSS_LIMIT(i) (RT_TSS_IOMAP(i) + 8192)

	.code64

/* ---- entry ---------------------------------------------------------------- */
	.section .ktext.entry, "ax"
	.globl _start
_start:
	cmp	$RT_MAX_CPUS, %rdi
	jae	.Ltoo_many
	lgdt	rt_gdt_ptr
	lidt	rt_idt_ptr
	mov	$RT_SEL_KDATA, %eax
	mov	%eax, %ss
	mov	%eax, %ds
	mov	%eax, %es
	mov	$rt_pml4, %eax
	mov	%rax, %cr3
	mov	%rdi, %rsp
	shl	$RT_KSTACK_SHIFT, %rsp
	add	$rt_kstacks + RT_KSTACK_SIZE, %rsp
	mov	%edi, %eax
	shl	$4, %eax
	add	$RT_SEL_TSS0, %eax
	ltr	%ax

	/* SYSCALL: EFER.SCE, STAR, LSTAR, SFMASK (TF IF DF NT AC). */
	mov	$0xc0000080, %ecx
	rdmsr
	or	$1, %eax
	wrmsr
	mov	$0xc0000081, %ecx
	xor	%eax, %eax
	mov	$((RT_SEL_KDATA << 16) | RT_SEL_KCODE), %edx
	wrmsr
	mov	$guest_syscall_entry, %eax
	test	%eax, %eax
	jnz	1f
	mov	$rt_syscall_default, %eax
1:	mov	$0xc0000082, %ecx
	xor	%edx, %edx
	wrmsr
	mov	$0xc0000084, %ecx
	mov	$0x44700, %eax
	wrmsr

	/* vCPUs other than 0 only run CPL3 code if the guest has an AP main. */
	test	%rdi, %rdi
	jz	3f
	mov	$guest_ap_main, %eax
	test	%eax, %eax
	jz	rt_park_cpl0
3:
	/* iretq to rt_user_start at CPL3 with IOPL 3, interrupts off. */
	push	$(RT_SEL_UDATA | 3)
	mov	%rdi, %rax
	shl	$RT_USTACK_SHIFT, %rax
	add	$rt_ustacks + RT_USTACK_SIZE, %rax
	push	%rax
	push	$0x3002
	push	$(RT_SEL_UCODE | 3)
	push	$rt_user_start
	iretq

.Ltoo_many:
	mov	$RT_EXIT_TOO_MANY, %al
	out	%al, $RT_PORT_EXIT
	/* fall through */
	.globl rt_park_cpl0
rt_park_cpl0:
	cli
1:	hlt
	jmp	1b

	.weak	guest_syscall_entry
	.weak	guest_ap_main

/* ---- interrupt stubs: one per vector, RT_ISR_STRIDE bytes apart -------------
 * The IDT gates are computed by the linker script from rt_isr_stubs, so the
 * stubs must sit at exactly rt_isr_stubs + vector * RT_ISR_STRIDE. */
	.section .ktext.isr, "ax"
	.balign	4096
	.globl	rt_isr_stubs
rt_isr_stubs:
	vec = 0
	.rept	RT_NVECTORS
	.org	rt_isr_stubs + vec * RT_ISR_STRIDE, 0xcc
	.if	vec == 6
	jmp	rt_ud_entry			/* #UD: the CPL3 -> CPL0 calls */
	.elseif	vec == RT_IRQ_VECTOR
	movb	$1, rt_irq_pending		/* see rt_ud_entry; CPL3 EOIs */
	iretq
	.elseif	vec == RT_SPURIOUS_VECTOR
	iretq					/* spurious: no EOI */
	.else
	.if	vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushq	$0				/* no CPU error code: push a zero */
	.endif
	pushq	$vec
	jmp	rt_isr_common
	.endif
	vec = vec + 1
	.endr
	.org	rt_isr_stubs + RT_NVECTORS * RT_ISR_STRIDE, 0xcc

	.section .ktext, "ax"
/* Stack: vector, error code, then the CPU's frame. Save every GPR, giving
 * rt_trap() a struct rt_frame (rt.h); it returns to continue. */
rt_isr_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	cld
	call	rt_trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp
	iretq

/* #UD. The ud2 at rt_wait_ud2 (rt_wait_irq) is served right here, in a
 * handful of instructions: CPL0 is emulated one instruction at a time on
 * some hosts. Return at once if an interrupt came since the last wait,
 * else "sti; hlt" until one does. Interrupts are off from the gate to the
 * sti (and at CPL3), and sti holds them off until after the hlt, so one
 * that arrives after the check still ends the hlt: no wake-up is lost.
 * The RT_IRQ_VECTOR stub only sets rt_irq_pending; rt_wait_irq EOIs at
 * CPL3. Any other #UD goes to rt_trap like every exception. */
rt_ud_entry:
	cmpq	$rt_wait_ud2, (%rsp)
	jne	2f
	addq	$2, (%rsp)			/* resume after the ud2 */
	cmpb	$0, rt_irq_pending
	jne	1f
	sti
	hlt
1:	movb	$0, rt_irq_pending
	iretq					/* to CPL3, interrupts off again */
2:	pushq	$0
	pushq	$6
	jmp	rt_isr_common

/* LSTAR when the guest sets none: a SYSCALL that reaches CPL0 is a bug. */
rt_syscall_default:
	mov	$RT_EXIT_EXCEPTION, %al
	out	%al, $RT_PORT_EXIT
	jmp	rt_park_cpl0

/* ---- descriptor tables ---------------------------------------------------- */
	.section .kdata, "aw"
/* Set by the RT_IRQ_VECTOR stub, cleared by the wait in rt_ud_entry. */
	.globl	rt_irq_pending
rt_irq_pending:
	.byte	0
	.balign	16
rt_gdt:
	.quad	0
	.quad	0x00af9b000000ffff		/* 0x08 kernel code, 64-bit */
	.quad	0x00cf93000000ffff		/* 0x10 kernel data */
	.quad	0x00cff3000000ffff		/* 0x18 user data (DPL 3) */
	.quad	0x00affb000000ffff		/* 0x20 user code, 64-bit (DPL 3) */
	/* 0x28 + 16 * i: TSS of vCPU i: base rt_tss + i * RT_TSS_STRIDE, limit
	 * up to the end of the shared I/O bitmap. RT_TSS_DESC0 (base only) comes
	 * from guest.lds.S. */
	i = 0
	.rept	RT_MAX_CPUS
	.quad	RT_TSS_DESC0 + ((i * RT_TSS_STRIDE) << 16) + RT_TSS_LIMIT(i)
	.quad	0
	i = i + 1
	.endr
rt_gdt_end:
	.balign	16
	.word	0
	.word	0
	.word	0
rt_gdt_ptr:
	.word	rt_gdt_end - rt_gdt - 1
	.quad	rt_gdt

	.balign	16
	.word	0
	.word	0
	.word	0
rt_idt_ptr:
	.word	RT_NVECTORS * 16 - 1
	.quad	rt_idt

/* IDT: interrupt gates (IF cleared, DPL 0) on selector 0x08; RT_IDT_GATE0
 * comes from guest.lds.S. */
	.balign	4096
rt_idt:
	vec = 0
	.rept	RT_NVECTORS
	.quad	RT_IDT_GATE0 + vec * RT_ISR_STRIDE
	.quad	0
	vec = vec + 1
	.endr

/* One TSS per vCPU, RT_TSS_STRIDE bytes apart: RSP0 = top of its kernel
 * stack, and an I/O map base pointing every TSS at the one shared bitmap
 * that follows the array. The bitmap allows every port: some hosts (kvm_pvm)
 * ignore RFLAGS.IOPL for CPL3 but honour the bitmap. */
	.balign	4096
	.globl	rt_tss
rt_tss:
	i = 0
	.rept	RT_MAX_CPUS
	.long	0
	.quad	rt_kstacks + (i + 1) * RT_KSTACK_SIZE	/* RSP0 */
	.fill	11, 8, 0			/* RSP1, RSP2, reserved, IST1-7, reserved */
	.word	0
	.word	RT_TSS_IOMAP(i)			/* I/O map base, relative to this TSS */
	.fill	RT_TSS_STRIDE - 104, 1, 0
	i = i + 1
	.endr
rt_iomap:
	.fill	8192, 1, 0			/* one bit per port: 0 = allowed */
	.byte	0xff				/* the terminator the CPU may read */

/* Page tables: identity map of 0-4 GiB in 2 MiB pages, user-accessible
 * except the page holding this CPL0 part (RT_KERNEL_BASE). */
	.balign	4096
rt_pml4:
	.quad	rt_pdpt + 0x7
	.fill	511, 8, 0
rt_pdpt:
	.quad	rt_pd + 0x0000 + 0x7
	.quad	rt_pd + 0x1000 + 0x7
	.quad	rt_pd + 0x2000 + 0x7
	.quad	rt_pd + 0x3000 + 0x7
	.fill	508, 8, 0
rt_pd:
	i = 0
	.rept	2048
	.if	i == (RT_KERNEL_BASE >> 21)
	.quad	(i << 21) | 0x83		/* present, writable, 2 MiB, supervisor */
	.else
	.quad	(i << 21) | 0x87		/* present, writable, 2 MiB, user */
	.endif
	i = i + 1
	.endr

	.section .kbss, "aw", @nobits
	.balign	4096
rt_kstacks:
	.skip	RT_MAX_CPUS * RT_KSTACK_SIZE

/* ---- CPL3 side ------------------------------------------------------------ */
	.section .text.rt_start, "ax"
/* RDI = vCPU index, RSI = the VMM's boot_params (both kept through iretq),
 * RSP = this vCPU's user stack. */
rt_user_start:
	test	%rdi, %rdi
	jnz	1f
	mov	%rsi, rt_boot_params(%rip)
	call	guest_main
	mov	%eax, %edi
	call	rt_exit
1:	call	guest_ap_main
	call	rt_park

/* void rt_wait_irq(void): the ud2 is the request (see rt_ud_entry); back
 * here, end the interrupt at the xAPIC (an MMIO write CPL3 may do, cheaper
 * than at CPL0) and count the wait. */
	.text
	.globl	rt_wait_irq
rt_wait_irq:
rt_wait_ud2:
	ud2
	mov	$RT_LAPIC_EOI, %eax
	movl	$0, (%rax)
	incq	rt_irq_waits(%rip)
	ret

	.bss
	.balign	4096
rt_ustacks:
	.skip	RT_MAX_CPUS * RT_USTACK_SIZE

	.section .note.GNU-stack, "", @progbits
