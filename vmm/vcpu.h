/* One virtual CPU: its KVM fd and kvm_run page, its CPUID, MSRs and entry
 * registers, and the thread that runs KVM_RUN and dispatches exits to the
 * buses. The VM ends (env->end) on power-off, triple fault or an error. */
#ifndef AGENTVM_VMM_VCPU_H
#define AGENTVM_VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/boot/boot.h"
#include "vmm/bus.h"
#include "vmm/kvm.h"

/* Process exit codes of agentvm-vmm; a vCPU ends the VM with one of them. */
enum vcpu_exit_code {
	VCPU_EXIT_POWEROFF = 0,	    /* guest powered off or rebooted */
	VCPU_EXIT_ERROR = 1,	    /* set-up failure or host error */
	VCPU_EXIT_USAGE = 2,	    /* bad command line */
	VCPU_EXIT_TRIPLE_FAULT = 3, /* KVM_EXIT_SHUTDOWN */
	VCPU_EXIT_INTERNAL = 4,	    /* KVM internal error, failed entry, unexpected exit */
	VCPU_EXIT_DEBUG_BASE = 16,  /* + (byte & 63) written to the test exit port */
};

/* What a vCPU thread needs from its VM. */
struct vcpu_env {
	const struct bus *pio;
	const struct bus *mmio;
	/* End the VM with a process exit code; called from vCPU threads. */
	void (*end)(void *opaque, int code);
	void *opaque;
};

struct vcpu {
	int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	const struct vcpu_env *env;
	pthread_t thread;
	int started;
	atomic_int stop;

	/* Pausing (see vcpu_request_pause): guarded by lock, signalled on cond. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int pause_req;
	int parked; /* the thread is parked with its state consistent */
	int exited; /* the thread has left its loop */
};

/* Create vCPU index (also its APIC id) and map its kvm_run page. */
int vcpu_new(struct kvm *kvm, int index, const struct vcpu_env *env, struct vcpu **out);
/* Unmap and close; the thread must have been joined. NULL-safe. */
void vcpu_free(struct vcpu *vcpu);

/* KVM_SET_CPUID2 from KVM's supported set, adjusted for this vCPU of ncpus. */
int vcpu_set_cpuid(struct vcpu *vcpu, struct kvm *kvm, const struct kvm_cpuid2 *supported,
		   int ncpus);
/* KVM_SET_CPUID2 with exactly cpuid (a snapshot's). */
int vcpu_set_cpuid_as(struct vcpu *vcpu, const struct kvm_cpuid2 *cpuid);
/* The MSRs Linux expects at boot: SYSENTER_*, STAR/LSTAR/CSTAR/SFMASK,
 * KERNEL_GS_BASE, TSC, MISC_ENABLE (fast strings), MTRR default type WB. */
int vcpu_set_msrs(struct vcpu *vcpu);
/* Registers and segments for entry (never real mode). With
 * entry->all_cpus_enter every vCPU starts at entry->rip with RDI = index;
 * otherwise only vCPU 0 is touched and the others wait for INIT/SIPI. */
int vcpu_set_entry(struct vcpu *vcpu, const struct boot_entry *entry);
/* The guest TSC frequency in kHz (KVM_GET_TSC_KHZ). */
int vcpu_get_tsc_khz(struct vcpu *vcpu, uint32_t *khz);

/* Start the thread running the vCPU (small stack, signals blocked but the kick). */
int vcpu_start(struct vcpu *vcpu);
/* Make the thread leave KVM_RUN and stop; safe to call more than once. */
void vcpu_kick(struct vcpu *vcpu);
/* Wait for a started thread to end. */
void vcpu_join(struct vcpu *vcpu);

/* Ask the thread to park outside KVM_RUN: it completes any pending I/O
 * exit first (KVM_RUN with immediate_exit), so that the state KVM reports
 * is consistent. Before vcpu_start() the thread starts parked. */
void vcpu_request_pause(struct vcpu *vcpu);
/* Wait until the thread is parked (or has ended, or never started), up to
 * timeout_ms. Returns 0 or -ETIMEDOUT. */
int vcpu_wait_parked(struct vcpu *vcpu, int timeout_ms);
/* Let a parked (or parking) thread run the guest again. */
void vcpu_resume(struct vcpu *vcpu);

/* Print RIP, RSP, RFLAGS, all GPRs, control registers, EFER, CS/SS to f. */
void vcpu_dump(struct vcpu *vcpu, FILE *f);

#endif
