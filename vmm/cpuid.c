#include "vmm/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR	 (1u << 31)
#define CPUID_1_EDX_HTT		 (1u << 28)

/* Leaf 0xB level types (ECX[15:8]). */
#define CPUID_TOPO_SMT	1u
#define CPUID_TOPO_CORE 2u

/* Bits needed to hold APIC ids 0..n-1. */
static uint32_t cpuid_id_bits(int n)
{
	uint32_t bits = 0;

	while ((1 << bits) < n)
		bits++;
	return bits;
}

static int cpuid_is_intel(const struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		/* "GenuineIntel" */
		if (e->function == 0)
			return e->ebx == 0x756e6547 && e->edx == 0x49656e69 && e->ecx == 0x6c65746e;
	}
	return 0;
}

int cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const struct cpuid_opts *opts,
		   struct kvm_cpuid2 **out)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(struct kvm_cpuid_entry2);
	uint32_t id = (uint32_t)opts->index;
	uint32_t n = opts->ncpus > 0 ? (uint32_t)opts->ncpus : 1;
	uint32_t shift = cpuid_id_bits((int)n);
	int intel = cpuid_is_intel(supported);
	struct kvm_cpuid2 *c;

	if (opts->index < 0 || opts->index >= 256 || (int)n <= opts->index)
		return -EINVAL;
	c = malloc(size);
	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 0x1:
			/* EBX: initial APIC id [31:24], logical processors per package [23:16]. */
			e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) | ((n & 0xff) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (opts->tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			else
				e->ecx &= ~CPUID_1_ECX_TSC_DEADLINE;
			if (n > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 0x4:
			/* Intel: cores per package - 1 in EAX[31:26]; no cache shared across vCPUs. */
			if (intel && (e->eax & 0x1f)) {
				e->eax &= 0x00003fffu;
				e->eax |= ((n - 1) & 0x3f) << 26;
			}
			break;
		case 0xb:
			/* x2APIC topology: one thread per core, n cores per package. */
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (CPUID_TOPO_SMT << 8) | 0;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = n;
				e->ecx = (CPUID_TOPO_CORE << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index & 0xff;
			}
			break;
		case 0x80000008:
			/* AMD: ApicIdCoreIdSize [15:12], number of cores - 1 [7:0]. */
			if (!intel)
				e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | ((n - 1) & 0xff);
			break;
		case 0x8000001e:
			/* AMD: extended APIC id, core id, one thread per core, node 0. */
			if (!intel) {
				e->eax = id;
				e->ebx = id & 0xff;
				e->ecx = 0;
			}
			break;
		default:
			break;
		}
	}
	*out = c;
	return 0;
}
