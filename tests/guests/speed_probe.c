/* speed_probe: how fast does guest code run at CPL0 and at CPL3?
 * Times the same two-instruction loop at both levels with the TSC and prints
 *   tsc_khz=<k> source=<cpuid15|cpuid16|hypervisor|pit>   (if the rate is known)
 *   cpl0_ns_per_iter=<x> cpl3_ns_per_iter=<y>              (if the rate is known)
 *   cpl0_cycles=<a> cpl3_cycles=<b> ratio=<a/b>            (always; per iteration)
 * A hardware-KVM host gives a ratio near 1; kvm_pvm, which emulates CPL0
 * instruction by instruction, gives 1000 or more. Exit 0. */
#include "rt.h"

#define SPEED_CPL0_ITERS 100000ull
#define SPEED_CPL3_ITERS 10000000ull

/* uint64_t speed_loop_*(uint64_t iters): TSC cycles spent in the loop. */
#define SPEED_LOOP(name, fence)                        \
	".globl " name "\n" name ":\n" fence "rdtsc\n" \
	"	shl $32, %rdx\n"                             \
	"	or %rdx, %rax\n"                             \
	"	mov %rax, %r8\n"                             \
	"	mov %rdi, %rcx\n"                            \
	"1:	dec %rcx\n"                                \
	"	jnz 1b\n" fence "rdtsc\n"              \
	"	shl $32, %rdx\n"                             \
	"	or %rdx, %rax\n"                             \
	"	sub %r8, %rax\n"                             \
	"	ret\n"

uint64_t speed_loop_cpl0(uint64_t iters);
uint64_t speed_loop_cpl3(uint64_t iters);

/* The CPL0 copy avoids lfence: emulated CPL0 runs one instruction at a time. */
__asm__(".section .ktext.guest, \"ax\"\n" SPEED_LOOP(
	"speed_loop_cpl0", "") ".previous\n"
			       ".text\n" SPEED_LOOP("speed_loop_cpl3", "lfence\n") ".previous\n");

int guest_main(uint64_t cpu)
{
	const char *source = "";
	uint64_t c0, c3, khz;

	(void)cpu;
	c0 = rt_cpl0_call(speed_loop_cpl0, SPEED_CPL0_ITERS);
	c3 = speed_loop_cpl3(SPEED_CPL3_ITERS);
	if (!c3)
		c3 = 1;
	khz = rt_tsc_khz(&source);
	if (khz) {
		rt_printf("tsc_khz=%lu source=%s\n", khz, source);
		rt_puts("cpl0_ns_per_iter=");
		rt_print_ratio(c0 * 1000000, khz * SPEED_CPL0_ITERS);
		rt_puts(" cpl3_ns_per_iter=");
		rt_print_ratio(c3 * 1000000, khz * SPEED_CPL3_ITERS);
		rt_puts("\n");
	}
	rt_puts("cpl0_cycles=");
	rt_print_ratio(c0, SPEED_CPL0_ITERS);
	rt_puts(" cpl3_cycles=");
	rt_print_ratio(c3, SPEED_CPL3_ITERS);
	rt_puts(" ratio=");
	rt_print_ratio(c0 * (SPEED_CPL3_ITERS / SPEED_CPL0_ITERS), c3);
	rt_puts("\n");
	return 0;
}
