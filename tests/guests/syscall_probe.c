/* syscall_probe: can guest user space make system calls on this host?
 * CPL3 executes SYSCALL with LSTAR pointing at CPL0 code in the
 * supervisor-only page.
 *   exit 0 (status 16): SYSCALL reached CPL0: guest user space can run.
 *   exit 2 (status 18): the CPU jumped to LSTAR but stayed at CPL3 and
 *                       faulted there (kvm_pvm): it cannot.
 *   status 3 (triple fault): the same, when not even the fault could be
 *                       handled.
 *   exit 3: SYSCALL returned to CPL3, which no correct CPU does here. */
#include "rt.h"

static const char probe_msg_yes[] RT_KDATA = "syscall_probe: delivered (SYSCALL reached CPL0)\n";
static const char probe_msg_no[] RT_KDATA =
	"syscall_probe: not delivered (fault at CPL3 on the LSTAR address)\n";

void probe_reached(void);

/* SYSCALL keeps the user RSP: switch to this vCPU's kernel stack first. */
__asm__(".if " RT_STR(
	RT_TSS_STRIDE) " != 128\n.error \"the shift below assumes RT_TSS_STRIDE 128\"\n.endif\n"
		       ".section .ktext.guest, \"ax\"\n"
		       ".globl guest_syscall_entry\n"
		       "guest_syscall_entry:\n"
		       "	str %ax\n"
		       "	movzwl %ax, %eax\n"
		       "	sub $" RT_STR(
			       RT_SEL_TSS0) ", %eax\n"
					    "	shl $3, %eax\n" /* (tr - TSS0) / 16 * RT_TSS_STRIDE */
					    "	mov rt_tss + 4(%rax), %rsp\n"
					    "	call probe_reached\n"
					    "	.previous\n");

RT_KTEXT void probe_reached(void)
{
	rt_kputs(probe_msg_yes);
	rt_kexit(0);
}

RT_KTEXT int guest_exception(const struct rt_frame *f)
{
	if ((f->cs & 3) == 3 && f->rip == (uint64_t)guest_syscall_entry) {
		rt_kputs(probe_msg_no);
		return 2;
	}
	return -1;
}

int guest_main(uint64_t cpu)
{
	(void)cpu;
	rt_puts("syscall_probe: SYSCALL from CPL3\n");
	__asm__ volatile("syscall" : : : "rcx", "r11", "memory");
	rt_puts("syscall_probe: SYSCALL returned to CPL3\n");
	return 3;
}
