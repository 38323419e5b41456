/* The VMM's seccomp allowlists, one per thread role (docs/JAIL.md):
 *   loop  the main thread: event loop, control API, the devices' queue work,
 *         snapshots, exit and the deferred-teardown child;
 *   vcpu  a vCPU thread: KVM_RUN and the port-I/O and MMIO exits it handles.
 * Anything else kills the whole process with SIGSYS. Each allowed group of
 * syscalls carries its reason in seccomp.c; ioctls are allowed by request
 * number.
 *
 * Filters stack: a thread inherits the filters of the thread that created it.
 * The main thread installs the loop filter before it starts the vCPU threads,
 * so each vCPU thread runs under the loop filter and its own, the stricter
 * answer winning; the vcpu list is a subset of the loop list.
 *
 * Use: seccomp_prepare() once on the main thread, before any filter is
 * installed; seccomp_install_loop() on the main thread before vm_run();
 * seccomp_install_vcpu() on each vCPU thread before its first KVM_RUN. */
#ifndef AGENTVM_VMM_SECCOMP_H
#define AGENTVM_VMM_SECCOMP_H

struct seccomp_options {
	int enabled; /* 0: the install calls do nothing (--seccomp off) */
	/* Test hook (--test-forbidden-syscall): right after installing its
	 * filter, a vCPU thread calls socket(), outside its allowlist, so that a
	 * test can see the VMM killed by SIGSYS. */
	int test_forbidden_syscall;
};

enum seccomp_role { SECCOMP_ROLE_LOOP, SECCOMP_ROLE_VCPU };

/* Compile both filters into BPF and remember opts. Allocates; makes no
 * syscall that the filters forbid later. Returns 0 or -errno, logging why. */
int seccomp_prepare(const struct seccomp_options *opts);
/* Set no_new_privs and install the loop filter on the calling thread.
 * 0 (also when disabled) or -errno, logging why. */
int seccomp_install_loop(void);
/* Install the vcpu filter on the calling thread (no allocation), then run
 * the test hook if armed. 0 (also when disabled) or -errno, logging why. */
int seccomp_install_vcpu(void);
/* Is filtering on (seccomp_prepare() succeeded with enabled set)? */
int seccomp_enabled(void);
/* The number of BPF instructions of a role's compiled filter, or -ENOENT
 * before seccomp_prepare(). */
int seccomp_filter_len(enum seccomp_role role);
/* Free the compiled filters; installed filters stay. Safe to call twice. */
void seccomp_discard(void);

#endif
