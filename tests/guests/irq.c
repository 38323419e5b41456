/* irq: the runtime's interrupt primitives on vCPU 0 (rt.h, "interrupts"):
 *   - rt_irq_init finds the xAPIC; rt_irq_route takes I/O APIC pin 5 and
 *     refuses one the I/O APIC does not have;
 *   - a one-shot LAPIC timer ends a wait, neither early nor very late;
 *   - an interrupt that arrives outside the wait (here: at CPL0 with
 *     interrupts on, the handler's other entry) is not lost: the next wait
 *     returns at once;
 *   - a timer that fires while CPL3 spins (interrupts off) is taken by the
 *     next wait, which returns at once.
 * Prints "irq: pending_wait_ns=N timer_late_ns=N taken_at_cpl3=K/21"
 * (medians: what a wait costs when its interrupt is already there, and how
 * long after its deadline a timer sleep ends; how many of the timers that
 * fired at CPL3 the host delivered there despite IF=0, 0 where it honours
 * IF), then "irq: ok", or "irq: FAILED ..." lines.
 * Exit 0 ok, 1 a failure, 2 no xAPIC. */
#include "rt.h"

#define IRQ_ROUNDS 21

static unsigned int irq_failures;

static void irq_check(int cond, const char *what, uint64_t v)
{
	if (cond)
		return;
	rt_printf("irq: FAILED %s (%lu)\n", what, v);
	irq_failures++;
}

static uint64_t irq_ns(uint64_t cycles)
{
	uint64_t khz = rt_tsc_khz(NULL);

	return cycles * 1000000 / (khz ? khz : 3000000);
}

static void irq_spin_us(uint64_t us)
{
	uint64_t t0 = rt_rdtsc(), n = rt_ms_to_tsc(us) / 1000;

	while (rt_rdtsc() - t0 < n)
		rt_pause();
}

static uint64_t irq_median(uint64_t *v, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

/* At CPL0: interrupts on until the handler has run (or n rounds), then
 * off again. Returns whether it ran. */
RT_KTEXT static uint64_t irq_open_window(uint64_t n)
{
	__asm__ volatile("sti" : : : "memory");
	while (!rt_irq_pending && n--)
		__asm__ volatile("pause" : : : "memory");
	__asm__ volatile("cli" : : : "memory");
	return rt_irq_pending;
}

RT_KTEXT static uint64_t irq_read_pending(uint64_t unused)
{
	(void)unused;
	return rt_irq_pending;
}

int guest_main(uint64_t cpu)
{
	uint64_t pending[IRQ_ROUNDS], late[IRQ_ROUNDS], t0, dt, waits, taken_at_cpl3 = 0;

	(void)cpu;
	if (rt_irq_init() < 0) {
		rt_puts("irq: no xAPIC\n");
		return 2;
	}
	irq_check(rt_irq_route(5) == 0, "rt_irq_route(5)", 5);
	irq_check(rt_irq_route(200) < 0, "rt_irq_route(200) refused", 200);

	/* A timer that fires while CPL3 spins waits for rt_wait_irq. */
	for (unsigned int i = 0; i < IRQ_ROUNDS; i++) {
		rt_irq_timer(20);
		irq_spin_us(300);
		/* Whether the host delivered it at CPL3 all the same (IF is
		 * clear there): either way the wait below must return. */
		taken_at_cpl3 += rt_cpl0_call(irq_read_pending, 0);
		waits = rt_irq_waits;
		t0 = rt_rdtsc();
		rt_wait_irq();
		pending[i] = irq_ns(rt_rdtsc() - t0);
		irq_check(rt_irq_waits == waits + 1, "rt_irq_waits counts the wait", rt_irq_waits);
		irq_check(pending[i] < 20000000,
			  "a wait with its interrupt pending returns at once", pending[i]);
	}

	/* A timer sleep: not before its deadline, not long after. */
	for (unsigned int i = 0; i < IRQ_ROUNDS; i++) {
		rt_irq_timer(2000);
		t0 = rt_rdtsc();
		rt_wait_irq();
		dt = irq_ns(rt_rdtsc() - t0);
		irq_check(dt >= 1900000, "a 2 ms timer does not end the wait early", dt);
		irq_check(dt < 200000000, "a 2 ms timer ends the wait", dt);
		late[i] = dt > 2000000 ? dt - 2000000 : 0;
	}

	/* An interrupt outside the wait (CPL0, interrupts on) is remembered. */
	for (unsigned int i = 0; i < 3; i++) {
		rt_irq_timer(20);
		irq_check(rt_cpl0_call(irq_open_window, 1000000) == 1,
			  "the handler runs outside the wait", i);
		rt_irq_timer(0);
		t0 = rt_rdtsc();
		rt_wait_irq();
		dt = irq_ns(rt_rdtsc() - t0);
		irq_check(dt < 20000000, "an interrupt taken outside the wait ends the next one",
			  dt);
	}

	rt_printf("irq: pending_wait_ns=%lu timer_late_ns=%lu taken_at_cpl3=%lu/%u\n",
		  irq_median(pending, IRQ_ROUNDS), irq_median(late, IRQ_ROUNDS), taken_at_cpl3,
		  IRQ_ROUNDS);
	if (irq_failures)
		return 1;
	rt_puts("irq: ok\n");
	return 0;
}
