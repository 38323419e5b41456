/* Runtime of the synthetic test guests: freestanding, no libc.
 *
 * A guest defines guest_main(), which vCPU 0 runs at CPL3; its return value
 * is written to the test-exit port (agentvm-vmm exits with 16 + (v & 63)).
 * Other vCPUs park at CPL0 unless the guest also defines guest_ap_main(),
 * which they then run at CPL3 before parking. CPL3 may use in/out on every
 * port (IOPL 3, and an all-zero I/O bitmap for hosts that ignore IOPL). */
#ifndef AGENTVM_GUESTS_RT_H
#define AGENTVM_GUESTS_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* Defined by the guest. */
int guest_main(uint64_t cpu);
/* Optional, defined by the guest (weak references). */
void guest_ap_main(uint64_t cpu);
/* LSTAR target; must live in .ktext. Defaults to a stub that fails. */
void guest_syscall_entry(void);

/* What rt_isr_common saves: the GPRs, then vector, error code and the CPU's
 * interrupt frame. */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* Called at CPL0 for an exception or unexpected interrupt, before the
 * runtime's own report. Return an exit code (0..63) to print nothing and exit
 * with it, or -1 for the default report and RT_EXIT_EXCEPTION. Must live in
 * .ktext (use RT_KTEXT). */
int guest_exception(const struct rt_frame *f);

/* Place a function in the CPL0 part / a constant in its data. */
#define RT_KTEXT __attribute__((section(".ktext.guest"), noinline))
#define RT_KDATA __attribute__((section(".kdata.guest")))

/* ---- CPL0 helpers (rt_kernel.c) ---- */
/* Print s on COM1 from CPL0; s must be readable at CPL0. */
void rt_kputs(const char *s);
/* Write v to the test-exit port from CPL0, then hlt forever. */
__attribute__((noreturn)) void rt_kexit(int v);

/* ---- CPL3 helpers (rt.c) ---- */
static inline void rt_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t rt_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rt_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void rt_pause(void)
{
	__asm__ volatile("pause" : : : "memory");
}

static inline void rt_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

/* Write v to the test-exit port; never returns (parks if the VMM goes on). */
__attribute__((noreturn)) void rt_exit(int v);
/* Stop this vCPU for good (hlt at CPL0, reached through RT_UD_PARK). */
__attribute__((noreturn)) void rt_park(void);
/* Run fn(arg) at CPL0 (through RT_UD_CALL) and return its result.
 * fn must live in .ktext (RT_KTEXT). */
uint64_t rt_cpl0_call(uint64_t (*fn)(uint64_t), uint64_t arg);

/* ---- interrupts (rt.c, start.S; vCPU 0) ----
 * CPL3 runs with interrupts off; rt_wait_irq() lets them in for one hlt at
 * CPL0. Every routed source raises RT_IRQ_VECTOR. Check for work, then
 * wait: an interrupt that came after the check ends the wait at once. */
/* Software-enable this vCPU's xAPIC (spurious vector RT_SPURIOUS_VECTOR,
 * LINT0/LINT1/timer/error masked) and mask the 8259 PICs. 0, or -1 if no
 * xAPIC answers at RT_LAPIC_BASE. */
int rt_irq_init(void);
/* Route I/O APIC pin gsi to RT_IRQ_VECTOR on this vCPU (fixed, edge, active
 * high, unmasked). 0, or -1 if the I/O APIC has no such pin. */
int rt_irq_route(uint32_t gsi);
/* Arm the LAPIC timer to raise RT_IRQ_VECTOR once, after about us
 * microseconds (cut to ~4 s; 0 disarms it). After rt_irq_init. */
void rt_irq_timer(uint64_t us);
/* Return once an interrupt has come since the previous call (at once if one
 * already has): hlt at CPL0 with interrupts on, then EOI. After
 * rt_irq_init. (start.S) */
void rt_wait_irq(void);
/* How many times rt_wait_irq returned. */
extern uint64_t rt_irq_waits;
/* Set by the RT_IRQ_VECTOR handler, cleared by rt_wait_irq: an interrupt
 * came that no wait has consumed yet. In the CPL0 part: readable at CPL0. */
extern volatile uint8_t rt_irq_pending;

/* Serial output on COM1. rt_printf knows %s %c %d %u %x %p and the l/ll
 * length modifiers, nothing else (no widths). */
void rt_putc(char c);
void rt_puts(const char *s);
__attribute__((format(printf, 1, 2))) void rt_printf(const char *fmt, ...);
/* Print num/den with two decimals (den > 0), rounded to nearest. */
void rt_print_ratio(uint64_t num, uint64_t den);

/* ---- boot information, memory and time (rt.c; vCPU 0 only) ---- */
/* The boot_params page the VMM passed in RSI, or 0 (under pvh_shim). */
extern uint64_t rt_boot_params;
/* The command line (agentvm-vmm --cmdline), "" if there is none. */
const char *rt_cmdline(void);
/* Copy the value of the first "key=value" word of the command line into
 * out (NUL-terminated, cut to size - 1 bytes). Returns 1 if the key is
 * there, 0 if not (out is then ""). */
int rt_param(const char *key, char *out, size_t size);
/* The value of key as a decimal (or 0x hexadecimal) number, with an
 * optional K, M or G suffix (powers of 1024); def if absent or not a number. */
uint64_t rt_param_u64(const char *key, uint64_t def);
/* size bytes of zeroed memory, aligned to align (a power of two), carved
 * from the RAM above the guest image (e820 from boot_params; 0-4 GiB only;
 * up to 64 MiB without boot_params).
 * NULL once it runs out. Never freed. Guest virtual = guest physical. */
void *rt_alloc(size_t size, size_t align);
/* The TSC rate in kHz from CPUID (leaf 0x15, 0x16 or the hypervisor leaf
 * 0x40000010), else measured against the PIT; 0 if unknown. *source names
 * where it came from: cpuid15, cpuid16, hypervisor or pit. */
uint64_t rt_tsc_khz(const char **source);
/* TSC cycles in ms milliseconds (3 GHz assumed if the rate is unknown). */
uint64_t rt_ms_to_tsc(uint64_t ms);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
