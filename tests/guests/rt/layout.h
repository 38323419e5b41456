/* Constants shared by the synthetic-guest runtime's assembly, C and linker
 * script. Plain #defines only: this header is included from all three. */
#ifndef AGENTVM_GUESTS_LAYOUT_H
#define AGENTVM_GUESTS_LAYOUT_H

#define RT_STR_(x)	#x
#define RT_STR(x)	RT_STR_(x)

#define RT_MAX_CPUS	32
#define RT_KSTACK_SHIFT 13 /* 8 KiB per vCPU at CPL0 (TSS.RSP0) */
#define RT_USTACK_SHIFT 14 /* 16 KiB per vCPU at CPL3 */
#define RT_KSTACK_SIZE	(1 << RT_KSTACK_SHIFT)
#define RT_USTACK_SIZE	(1 << RT_USTACK_SHIFT)
#define RT_TSS_STRIDE	128 /* one 104-byte TSS per vCPU, 128 bytes apart */
#define RT_ISR_STRIDE	16  /* one interrupt stub per vector, 16 bytes apart */
#define RT_NVECTORS	256

/* Selectors of the runtime's own GDT. STAR wants user data right below
 * user code, both 8 and 16 bytes above the STAR[63:48] base (0x10). */
#define RT_SEL_KCODE 0x08
#define RT_SEL_KDATA 0x10
#define RT_SEL_UDATA 0x18
#define RT_SEL_UCODE 0x20
#define RT_SEL_TSS0  0x28 /* vCPU i's TSS descriptor is at RT_SEL_TSS0 + 16 * i */

/* CPL3 asks CPL0 for a service with "ud2; .byte <op>": the #UD handler
 * recognises the pair. (kvm_pvm turns "int n" at CPL3 into #UD, so software
 * interrupts cannot be used; exceptions are delivered everywhere.) */
#define RT_UD_PARK 0x01 /* park this vCPU: hlt forever at CPL0 */
#define RT_UD_CALL 0x02 /* RAX = fn(RDI) run at CPL0, then resume after the op byte */
/* A third one has no op byte: the ud2 at rt_wait_ud2 (in rt_wait_irq),
 * which the #UD entry recognises by its address alone. */

/* Interrupts (rt_irq_*): every source the runtime routes (I/O APIC pins,
 * the LAPIC timer) uses one vector; the LAPIC's spurious vector just
 * returns. The xAPIC and the I/O APIC sit at their default addresses,
 * inside the user-accessible identity map. */
#define RT_IRQ_VECTOR	   0x40
#define RT_SPURIOUS_VECTOR 0xff
#define RT_LAPIC_BASE	   0xfee00000
#define RT_LAPIC_EOI	   (RT_LAPIC_BASE + 0xb0)
#define RT_IOAPIC_BASE	   0xfec00000

/* Test-exit codes (written to port 0xf4) the runtime itself uses. */
#define RT_EXIT_EXCEPTION 0x3e /* unexpected exception: status 16 + 62 = 78 */
#define RT_EXIT_TOO_MANY  0x3d /* vCPU index >= RT_MAX_CPUS */

#define RT_PORT_EXIT	  0xf4
#define RT_PORT_SERIAL	  0x3f8

/* Where the guest is linked: the CPL0 part lives alone in the 2 MiB page at
 * RT_KERNEL_BASE (supervisor-only), the CPL3 part from RT_USER_BASE. */
#define RT_KERNEL_BASE 0x200000
#define RT_USER_BASE   0x400000

#endif
