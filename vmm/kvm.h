/* The KVM system and VM file descriptors: API and capability checks, memory
 * slots, the in-kernel irqchip and PIT, irqfd and ioeventfd registration.
 * Only the vm and vcpu modules use this; devices never see a KVM fd. */
#ifndef AGENTVM_VMM_KVM_H
#define AGENTVM_VMM_KVM_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

struct kvm_cpuid2;

/* Addresses KVM needs for its own use (VMX real-mode TSS and identity
 * page), in the 32-bit hole below the LAPIC. */
#define KVM_TSS_ADDR	      0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

struct kvm {
	int sys_fd;	      /* /dev/kvm */
	int vm_fd;	      /* the VM */
	size_t run_size;      /* bytes to mmap for each vCPU's struct kvm_run */
	int max_vcpus;	      /* KVM_CAP_MAX_VCPUS (or KVM_CAP_NR_VCPUS) */
	int has_tsc_deadline; /* KVM_CAP_TSC_DEADLINE_TIMER */
	int has_tsc_khz;      /* KVM_CAP_GET_TSC_KHZ */
	int has_xsave;	      /* KVM_CAP_XSAVE */
	int has_xcrs;	      /* KVM_CAP_XCRS */
	size_t xsave_size;    /* bytes KVM_GET/SET_XSAVE move (KVM_CAP_XSAVE2, at least 4096) */
};

/* Open /dev/kvm, check KVM_GET_API_VERSION == 12 and every capability the
 * VMM needs, and create a VM. On failure err names what is missing. */
int kvm_new(struct kvm **out, char *err, size_t errlen);
/* Close the VM and /dev/kvm; NULL-safe. */
void kvm_free(struct kvm *kvm);

/* Register mem's slots, then the TSS and identity-map addresses, the
 * in-kernel irqchip and the PIT, in that order (slots registered before the
 * irqchip cost far less). Call once. */
int kvm_setup(struct kvm *kvm, const struct memory *mem, char *err, size_t errlen);

/* Inject an edge on gsi each time eventfd efd is signalled (KVM_IRQFD). */
int kvm_irqfd(struct kvm *kvm, int efd, uint32_t gsi);
/* Signal eventfd efd, with no exit to user space, when the guest writes len
 * bytes at addr (mmio: an MMIO address, else an I/O port). With datamatch,
 * only writes of value count. */
int kvm_ioeventfd(struct kvm *kvm, int efd, int mmio, uint64_t addr, uint32_t len, int datamatch,
		  uint64_t value);

/* Undo a kvm_ioeventfd() registration made with the same arguments. */
int kvm_ioeventfd_del(struct kvm *kvm, int efd, int mmio, uint64_t addr, uint32_t len,
		      int datamatch, uint64_t value);

/* KVM_GET_SUPPORTED_CPUID into a new buffer (free() it). */
int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out);

#endif
