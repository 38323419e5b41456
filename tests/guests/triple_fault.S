/* triple_fault: without the runtime. Loads an empty IDT and raises #UD at
 * CPL0: the exception, then #DF, cannot be delivered, and the CPU shuts
 * down (agentvm-vmm status 3). */
	.code64
	.text
	.globl	_start
_start:
	lidt	empty_idt
	ud2

	.balign	16
	.word	0
	.word	0
	.word	0
empty_idt:
	.word	0
	.quad	0

	.section .note.GNU-stack, "", @progbits
