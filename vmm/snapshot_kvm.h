/* KVM's side of a snapshot: the state of each vCPU and of the VM's
 * in-kernel devices (PIC, IOAPIC, PIT, kvmclock), read into and written
 * from struct snapshot_state. Every vCPU must be parked (vm_pause) or not yet
 * started. */
#ifndef AGENTVM_VMM_SNAPSHOT_KVM_H
#define AGENTVM_VMM_SNAPSHOT_KVM_H

#include <stddef.h>

#include "vmm/kvm.h"
#include "vmm/snapshot_state.h"
#include "vmm/vcpu.h"

/* Read one vCPU: regs, sregs, xsave (or fpu), xcrs, lapic, every MSR KVM
 * can save (TSC_DEADLINE last), mp_state, events, debugregs. */
int snapshot_kvm_save_vcpu(struct kvm *kvm, struct vcpu *vcpu, struct snapshot_vcpu *out, char *err,
			   size_t errlen);
/* Write one vCPU in the order KVM needs: mp_state, regs, sregs, xsave,
 * xcrs, debugregs, lapic (after sregs), msrs (after lapic; TSC before
 * TSC_DEADLINE), events (after regs). */
int snapshot_kvm_restore_vcpu(struct kvm *kvm, struct vcpu *vcpu, const struct snapshot_vcpu *in,
			      char *err, size_t errlen);
/* The PIC master and slave, IOAPIC, PIT and kvmclock. */
int snapshot_kvm_save_vm(struct kvm *kvm, struct snapshot_state *st, char *err, size_t errlen);
/* PIT, clock, then the irqchips (as saved, but the clock continues from its
 * saved value: no real time elapsed is added). */
int snapshot_kvm_restore_vm(struct kvm *kvm, const struct snapshot_state *st, char *err,
			    size_t errlen);

/* The saved CPUID of each vCPU as KVM_SET_CPUID2 takes it (for
 * vm_config.cpuids); free with snapshot_kvm_cpuids_free(). NULL: no memory. */
struct kvm_cpuid2 **snapshot_kvm_cpuids_new(const struct snapshot_state *st);
void snapshot_kvm_cpuids_free(struct kvm_cpuid2 **cpuids, uint32_t n);

#endif
