/* The container sandbox's seccomp filter: a deny-list on top of the
 * capability drop (sandbox_caps.h). Each denied syscall is listed with the
 * reason in sandbox_seccomp.c. */
#ifndef AGENTVM_HOST_SANDBOX_SECCOMP_H
#define AGENTVM_HOST_SANDBOX_SECCOMP_H

struct sock_fprog;

/* Compile the filter into a BPF program (allocated; free it with
 * sandbox_seccomp_prog_free). Done before the sandbox's PID 1 is cloned, so
 * the child never allocates. Returns 0 or -errno. */
int sandbox_seccomp_compile(struct sock_fprog *out);
/* NULL-safe; frees the instructions of p. */
void sandbox_seccomp_prog_free(struct sock_fprog *p);

/* Set no_new_privs and install prog on the calling thread, for it and every
 * process it will start. Denied calls fail with EPERM (clone3 with ENOSYS, so
 * that C libraries fall back to clone, whose flags can be checked). Makes no
 * allocation and does not log: meant for the sandbox's PID 1 just before it
 * executes the agent. Returns 0 or -errno. */
int sandbox_seccomp_apply(const struct sock_fprog *prog);

/* The number of denied syscall names known to this build (for doctor). */
int sandbox_seccomp_count(void);

#endif
