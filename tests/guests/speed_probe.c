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
#define SPEED_PIT_HZ	 1193182ull
#define SPEED_PIT_TICKS	 23864ull /* 20 ms */

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

static uint16_t speed_pit_read(void)
{
	uint16_t lo;

	rt_outb(0x43, 0x80); /* latch channel 2 */
	lo = rt_inb(0x42);
	return (uint16_t)(lo | rt_inb(0x42) << 8);
}

/* Let PIT channel 2 count down from 0xffff (mode 0) and read its counter
 * until SPEED_PIT_TICKS have passed. 0 if the PIT does not count. */
static uint64_t speed_pit_khz(void)
{
	uint64_t t0, t1;
	uint16_t c0, c;

	rt_outb(0x43, 0xb0); /* channel 2, low then high byte, mode 0 */
	rt_outb(0x42, 0xff);
	rt_outb(0x42, 0xff);
	c0 = speed_pit_read();
	t0 = rt_rdtsc();
	do {
		c = speed_pit_read();
		t1 = rt_rdtsc();
		if (t1 - t0 > 2000000000ull || c > c0)
			return 0;
	} while ((uint64_t)(c0 - c) < SPEED_PIT_TICKS);
	return (t1 - t0) * SPEED_PIT_HZ / (uint64_t)(c0 - c) / 1000;
}

static uint64_t speed_tsc_khz(const char **source)
{
	uint32_t r[4], max;
	uint64_t khz;

	rt_cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		rt_cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			*source = "cpuid15";
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
		}
	}
	if (max >= 0x16) {
		rt_cpuid(0x16, 0, r);
		if (r[0]) {
			*source = "cpuid16";
			return (uint64_t)r[0] * 1000;
		}
	}
	rt_cpuid(1, 0, r);
	if (r[2] & (1u << 31)) {
		rt_cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010 && r[0] < 0x40010000) {
			rt_cpuid(0x40000010, 0, r);
			if (r[0]) {
				*source = "hypervisor";
				return r[0];
			}
		}
	}
	khz = speed_pit_khz();
	/* Trust only plausible rates: 100 MHz to 20 GHz. */
	if (khz >= 100000 && khz <= 20000000) {
		*source = "pit";
		return khz;
	}
	return 0;
}

int guest_main(uint64_t cpu)
{
	const char *source = "";
	uint64_t c0, c3, khz;

	(void)cpu;
	c0 = rt_cpl0_call(speed_loop_cpl0, SPEED_CPL0_ITERS);
	c3 = speed_loop_cpl3(SPEED_CPL3_ITERS);
	if (!c3)
		c3 = 1;
	khz = speed_tsc_khz(&source);
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
