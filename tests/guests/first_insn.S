/* first_insn: the cold-start benchmark guest. Without the runtime: the
 * first instructions of every vCPU write 0 to the test-exit port, so
 * agentvm-vmm exits with status 16 as soon as the guest runs at all.
 * (OUT takes its data from AL, which the entry state does not define, so
 * one XOR comes first.) */
	.code64
	.text
	.globl	_start
_start:
	xor	%eax, %eax
	out	%al, $0xf4
1:	cli
	hlt
	jmp	1b

	.section .note.GNU-stack, "", @progbits
