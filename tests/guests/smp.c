/* smp: every vCPU checks in; vCPU 0 reads the number of processors from the
 * VMM's MP table and waits (bounded) for all of them.
 *   exit 0: "cpus=N" printed, all N vCPUs checked in
 *   exit 1: timeout, some vCPU never arrived
 *   exit 2: no valid MP table, or it disagrees with the vCPUs that ran */
#include "rt.h"

#define SMP_TIMEOUT_CYCLES 20000000000ull /* several seconds at any TSC rate */

static volatile uint32_t smp_arrived;
static volatile uint8_t smp_flag[RT_MAX_CPUS];

static int smp_sum(const uint8_t *p, uint32_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The MP floating pointer lives on a 16-byte boundary in the EBDA. */
static const uint8_t *smp_find_mpf(void)
{
	const uint8_t *p;

	for (p = (const uint8_t *)0x9fc00; p + 16 <= (const uint8_t *)0xa0000; p += 16)
		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && !smp_sum(p, 16))
			return p;
	return NULL;
}

/* Count enabled processor entries; -1 with a message if the table is bad. */
static int smp_count_cpus(uint32_t *bsp_count)
{
	const uint8_t *mpf = smp_find_mpf(), *ct, *e, *end;
	uint32_t addr, len, i, n = 0;
	uint16_t entries;

	*bsp_count = 0;
	if (!mpf) {
		rt_puts("smp: no MP floating pointer in 0x9fc00-0xa0000\n");
		return -1;
	}
	memcpy(&addr, mpf + 4, 4);
	if (addr < 0x1000 || addr > 0xa0000 - 44) {
		rt_printf("smp: MP config table address %x out of range\n", addr);
		return -1;
	}
	ct = (const uint8_t *)(uintptr_t)addr;
	memcpy(&len, ct + 4, 2);
	len &= 0xffff;
	memcpy(&entries, ct + 34, 2);
	if (memcmp(ct, "PCMP", 4) || len < 44 || addr + len > 0xa0000 || smp_sum(ct, len)) {
		rt_printf("smp: bad MP config table at %x\n", addr);
		return -1;
	}
	e = ct + 44;
	end = ct + len;
	for (i = 0; i < entries; i++) {
		uint32_t size = e < end && *e == 0 ? 20 : 8;

		if (e >= end || e + size > end || *e > 4) {
			rt_printf("smp: bad MP entry %u\n", i);
			return -1;
		}
		if (*e == 0 && (e[3] & 1)) {
			n++;
			if (e[3] & 2)
				*bsp_count += 1;
		}
		e += size;
	}
	return (int)n;
}

void guest_ap_main(uint64_t cpu)
{
	smp_flag[cpu] = 1;
	__atomic_fetch_add(&smp_arrived, 1, __ATOMIC_SEQ_CST);
}

int guest_main(uint64_t cpu)
{
	uint32_t bsp, arrived, i;
	uint64_t start;
	int n;

	smp_flag[cpu] = 1;
	n = smp_count_cpus(&bsp);
	if (n < 0)
		return 2;
	if (n < 1 || n > RT_MAX_CPUS || bsp != 1) {
		rt_printf("smp: MP table lists %d processors, %u marked BSP\n", n, bsp);
		return 2;
	}
	start = rt_rdtsc();
	while ((arrived = __atomic_load_n(&smp_arrived, __ATOMIC_SEQ_CST)) < (uint32_t)n - 1) {
		if (rt_rdtsc() - start > SMP_TIMEOUT_CYCLES) {
			rt_printf("smp: timeout: %u of %d vCPUs checked in:", arrived + 1, n);
			for (i = 0; i < RT_MAX_CPUS; i++)
				if (smp_flag[i])
					rt_printf(" %u", i);
			rt_puts("\n");
			return 1;
		}
		rt_pause();
	}
	for (i = 0; i < RT_MAX_CPUS; i++) {
		if (!smp_flag[i] != (i >= (uint32_t)n)) {
			rt_printf("smp: vCPU %u %s\n", i,
				  smp_flag[i] ? "ran beyond the MP table" : "missing");
			return 2;
		}
	}
	rt_printf("cpus=%d\n", n);
	return 0;
}
