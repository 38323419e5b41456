/* The Intel MultiProcessor Specification 1.4 table: a floating pointer at
 * BOOT_MPTABLE_ADDR followed by the configuration table describing the
 * vCPUs, the ISA bus, the IOAPIC and the interrupt routing. */
#ifndef AGENTVM_VMM_BOOT_MPTABLE_H
#define AGENTVM_VMM_BOOT_MPTABLE_H

#include <stdint.h>

#include "vmm/memory.h"

#define MPTABLE_MAX_CPUS    254 /* APIC ids 0..253; the IOAPIC takes ncpus; 255 is broadcast */
#define MPTABLE_IOAPIC_ADDR 0xfec00000u
#define MPTABLE_LAPIC_ADDR  0xfee00000u
#define MPTABLE_IRQS	    24 /* IOAPIC pins given an I/O interrupt entry: ISA 0..15, then 16..23 */

/* Bytes the floating pointer and the table take for ncpus vCPUs. */
uint64_t mptable_size(int ncpus);

/* Write the floating pointer and table for ncpus (1..MPTABLE_MAX_CPUS) at
 * BOOT_MPTABLE_ADDR. Returns 0, -EINVAL for a bad ncpus, or -EFAULT if the
 * table does not fit in guest memory. */
int mptable_write(const struct memory *mem, int ncpus);

#endif
