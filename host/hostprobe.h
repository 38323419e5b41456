/* Probes of what this host can isolate with: KVM and whether its guests'
 * user space can run (the synthetic SYSCALL and speed probes run in
 * agentvm-vmm), namespaces, seccomp, overlayfs. Used by `agentvm doctor` and
 * by `--isolation auto`. */
#ifndef AGENTVM_HOST_HOSTPROBE_H
#define AGENTVM_HOST_HOSTPROBE_H

#include <stddef.h>

enum hostprobe_status { HOSTPROBE_OK, HOSTPROBE_WARN, HOSTPROBE_FAIL, HOSTPROBE_SKIP };

/* A check's outcome: a status and a one-line detail. */
struct hostprobe_result {
	enum hostprobe_status status;
	char detail[320];
};

const char *hostprobe_status_name(enum hostprobe_status s);

/* /dev/kvm: openable, API 12, and the capabilities a microVM needs. */
void hostprobe_kvm(struct hostprobe_result *out);

/* Can a guest's user space make system calls here? Runs
 * `vmm --kernel guest --serial file:...` with the syscall_probe guest.
 * OK: yes; FAIL: no (this host's KVM does not deliver SYSCALL from CPL3);
 * SKIP: could not tell (program missing, timeout...). */
void hostprobe_guest_syscall(const char *vmm, const char *guest, struct hostprobe_result *out);

/* CPL0 versus CPL3 speed of guest code (speed_probe guest). *ratio is the
 * CPL0/CPL3 cost ratio, or 0 when unknown. WARN above 50x. */
void hostprobe_guest_speed(const char *vmm, const char *guest, double *ratio,
			   struct hostprobe_result *out);

/* The namespaces a container sandbox uses, each tried in a child process.
 * OK when all of mount, pid, net, ipc, uts and cgroup work (user is reported). */
void hostprobe_namespaces(struct hostprobe_result *out);

/* seccomp filters can be installed (tried in a child). */
void hostprobe_seccomp(struct hostprobe_result *out);

/* overlayfs is known to the kernel. */
void hostprobe_overlay(struct hostprobe_result *out);

/* Run argv (argv[0] an absolute path) with stdin from /dev/null and stdout
 * captured (at most len-1 bytes; stderr discarded unless keep_stderr), killing
 * it after timeout_ms. Returns its wait status, or -errno; -ETIMEDOUT if killed. */
int hostprobe_run(const char *const *argv, char *out, size_t len, int timeout_ms, int keep_stderr);

#endif
