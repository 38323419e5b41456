/* The MP table: parsed back byte by byte, as a guest kernel would, for 1, 2,
 * 64 and 254 vCPUs. */
#include <errno.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_boot_util.h"
#include "vmm/boot/mptable.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static void check(int ncpus)
{
	struct memory *mem = tb_mem(16 * MiB, 0xcc);
	const uint8_t *mpf, *mpc, *p, *end;
	int cpus = 0, bsp = 0, ids_ok = 1, buses = 0, ioapics = 0, ioints = 0, isa_ok = 1;
	int lints = 0, extint = 0, nmi = 0, entries = 0, bad_type = 0;
	uint32_t irq_seen = 0;
	uint16_t len, count;
	uint32_t phys;

	is(mptable_write(mem, ncpus), 0, "%d vCPUs: table written", ncpus);
	mpf = memory_ptr(mem, BOOT_MPTABLE_ADDR, 16);
	ok(!memcmp(mpf, "_MP_", 4), "%d: floating pointer signature", ncpus);
	is(sum(mpf, 16), 0, "%d: floating pointer checksum", ncpus);
	is(mpf[8], 1, "%d: floating pointer length 1 (16 bytes)", ncpus);
	is(mpf[9], 4, "%d: spec revision 1.4", ncpus);
	is(mpf[11], 0, "%d: feature byte 1 = 0 (a configuration table is present)", ncpus);
	memcpy(&phys, mpf + 4, 4);
	is(phys, BOOT_MPTABLE_ADDR + 16, "%d: physptr right after the floating pointer", ncpus);

	mpc = memory_ptr(mem, phys, 44);
	ok(!memcmp(mpc, "PCMP", 4), "%d: configuration table signature", ncpus);
	memcpy(&len, mpc + 4, 2);
	memcpy(&count, mpc + 34, 2);
	is(mpc[6], 4, "%d: table spec revision 1.4", ncpus);
	is(16 + len, mptable_size(ncpus), "%d: mptable_size() matches the table", ncpus);
	ok(phys + len <= 0x100000, "%d: table ends below 1 MiB (at 0x%x)", ncpus, phys + len);
	mpc = memory_ptr(mem, phys, len);
	is(sum(mpc, len), 0, "%d: configuration table checksum", ncpus);
	{
		uint32_t lapic;
		memcpy(&lapic, mpc + 36, 4);
		is(lapic, 0xfee00000, "%d: local APIC address", ncpus);
	}
	is(tb_u8(mem, phys + len), 0xcc, "%d: nothing written past the table", ncpus);

	p = mpc + 44;
	end = mpc + len;
	while (p < end) {
		entries++;
		switch (p[0]) {
		case 0: /* processor */
			ids_ok &= p[1] == cpus && (p[3] & 1);
			if (p[3] & 2) {
				bsp++;
				ids_ok &= p[1] == 0;
			}
			cpus++;
			p += 20;
			break;
		case 1:
			buses++;
			isa_ok &= p[1] == 0 && !memcmp(p + 2, "ISA   ", 6);
			p += 8;
			break;
		case 2: {
			uint32_t addr;
			memcpy(&addr, p + 4, 4);
			ioapics++;
			ok(p[1] == ncpus && (p[3] & 1) && addr == 0xfec00000,
			   "%d: IOAPIC id %u, enabled, at 0x%x", ncpus, p[1], addr);
			p += 8;
			break;
		}
		case 3: {
			uint16_t flags;
			memcpy(&flags, p + 2, 2);
			ioints++;
			if (p[1] != 0 || flags != 5 || p[4] != 0 || p[5] != p[7] || p[6] != ncpus)
				isa_ok = 0;
			if (p[5] < 32)
				irq_seen |= 1u << p[5];
			p += 8;
			break;
		}
		case 4:
			lints++;
			if (p[1] == 3 && p[7] == 0 && p[6] == 0xff)
				extint++;
			if (p[1] == 1 && p[7] == 1 && p[6] == 0xff)
				nmi++;
			p += 8;
			break;
		default:
			bad_type++;
			p = end;
		}
	}
	is(bad_type, 0, "%d: only known entry types", ncpus);
	ok(p == end, "%d: entries fill the table exactly", ncpus);
	is(entries, count, "%d: entry count matches", ncpus);
	is(cpus, ncpus, "%d: one processor entry per vCPU", ncpus);
	ok(ids_ok, "%d: LAPIC ids 0..n-1, all enabled", ncpus);
	is(bsp, 1, "%d: exactly one BSP, id 0", ncpus);
	is(buses, 1, "%d: one ISA bus", ncpus);
	is(ioapics, 1, "%d: one IOAPIC", ncpus);
	is(ioints, 24, "%d: 24 I/O interrupt entries", ncpus);
	ok(isa_ok, "%d: ISA bus 0; each IRQ edge/high to the IOAPIC pin of its number", ncpus);
	is(irq_seen, 0xffffff, "%d: IRQs 0..23 each routed", ncpus);
	is(lints, 2, "%d: two local interrupt entries", ncpus);
	ok(extint == 1 && nmi == 1, "%d: ExtINT on LINT0 and NMI on LINT1 of every LAPIC", ncpus);
	memory_free(mem);
}

int main(void)
{
	struct memory *mem = tb_mem(2 * MiB, 0);

	check(1);
	check(2);
	check(64);
	check(254);
	is(mptable_write(mem, 0), -EINVAL, "0 vCPUs refused");
	is(mptable_write(mem, 255), -EINVAL, "255 vCPUs refused");
	is(mptable_write(mem, -1), -EINVAL, "negative vCPUs refused");
	memory_free(mem);
	return done_testing();
}
