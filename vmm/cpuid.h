/* The CPUID a vCPU sees: KVM's supported set, with this vCPU's APIC id, the
 * VM's topology (one thread per core, ncpus cores in one package) and the
 * hypervisor bit. Pure functions over struct kvm_cpuid2; no ioctls. */
#ifndef AGENTVM_VMM_CPUID_H
#define AGENTVM_VMM_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;

struct cpuid_opts {
	int index;	  /* vCPU index, also its APIC id */
	int ncpus;	  /* vCPUs in the VM */
	int tsc_deadline; /* advertise the TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER) */
};

/* A new copy of supported (free() it) adjusted for the vCPU in opts. */
int cpuid_for_vcpu(const struct kvm_cpuid2 *supported, const struct cpuid_opts *opts,
		   struct kvm_cpuid2 **out);

#endif
