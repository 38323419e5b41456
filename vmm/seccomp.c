/* The VMM's seccomp allowlists (see seccomp.h and docs/JAIL.md). Every group
 * of allowed syscalls says what in the VMM needs it. When the VMM grows a
 * feature that needs a new syscall after the filters are installed, add it
 * here, to the narrowest role, with its reason. */
#include "vmm/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"

/* Syscalls both roles make, without argument checks. */
static const char *const seccomp_both[] = {
	/* malloc and the C library's own bookkeeping (mmap and mprotect are
	 * allowed further down, never with PROT_EXEC). A vCPU thread allocates
	 * when an exit hands work to the loop (loop_call). */
	"brk",
	"munmap",
	"mremap",
	"madvise",
	/* Mutexes and condition variables: device locks, the vCPU pause
	 * handshake, the loop's call queue. */
	"futex",
	/* Clocks, when the vDSO cannot answer. */
	"clock_gettime",
	"gettimeofday",
	/* Writes to fds opened before the filter: COM1 output, the log on
	 * stderr, eventfds that wake the loop (queue notifications without an
	 * ioeventfd, loop_call, loop_stop) and raise guest interrupts (irqfd). */
	"write",
	"writev",
	/* Return from the kick signal's handler, which knocks a vCPU out of
	 * KVM_RUN. */
	"rt_sigreturn",
	/* Thread and process exit; abort() (getpid, gettid, rt_sigprocmask and
	 * tgkill, which is limited to our own process below). */
	"exit",
	"exit_group",
	"getpid",
	"gettid",
	"rt_sigprocmask",
	"restart_syscall",
};

/* Syscalls only the loop role makes, without argument checks. */
static const char *const seccomp_loop_only[] = {
	/* The event loop. */
	"epoll_wait",
	"epoll_pwait",
	"epoll_ctl",
	/* Reading what the loop is told about: COM1 input, eventfds (ioeventfd
	 * queue kicks, wake-ups), timerfds, the signalfd, sockets. */
	"read",
	"readv",
	/* fds made while running: vsock connect timers, the deferred-teardown
	 * pipe, eventfds of devices reset by the guest. */
	"eventfd2",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"pipe2",
	"close",
	"lseek",
	"fstat",
	"newfstatat",
	/* virtio-blk requests: the loop thread does the queue work. */
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"preadv2",
	"pwritev2",
	"fdatasync",
	"fsync",
	/* Snapshots (vm.snapshot on the control socket), in the directories
	 * the jail gives the VMM: the state file, written under a temporary
	 * name and renamed; the memory file (ftruncate, pwrite, lseek with
	 * SEEK_DATA/SEEK_HOLE, pread). Reset re-maps it (mmap MAP_FIXED).
	 * The vsock and control sockets are unlinked at exit. */
	"openat",
	"ftruncate",
	"rename",
	"unlink",
	"unlinkat",
	/* vsock: the hybrid-vsock bridge to Unix sockets, and the control
	 * socket (socket() itself is limited to AF_UNIX below). */
	"accept",
	"accept4",
	"bind",
	"listen",
	"connect",
	"shutdown",
	"sendmsg",
	"recvmsg",
	"sendto",
	"recvfrom",
	"getsockopt",
	"setsockopt",
	"getsockname",
	"getpeername",
	/* virtio-rng: entropy for the guest. */
	"getrandom",
	/* Starting vCPU threads (clone is allowed below without namespace
	 * flags): the new thread's robust-futex list and rseq area, the kick
	 * signal's handler, installed when the first vCPU starts. */
	"set_robust_list",
	"rseq",
	"rt_sigaction",
	"sched_yield",
	/* Short sleeps of the C library and of bounded waits. */
	"nanosleep",
	"clock_nanosleep",
	/* The deferred-teardown child closes every fd but the VM's. */
	"close_range",
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SECCOMP_SANITIZER 1
#else
#define SECCOMP_SANITIZER 0
#endif

/* Sanitized builds only (SANITIZE=...): what their runtimes call on any
 * thread: the alternate signal stack, the calls of a report, and the leak
 * check at exit, which stops every thread from a ptrace-ing helper (clone
 * with CLONE_UNTRACED, prctl, ptrace, wait4, a listing of /proc/self/task).
 * Never in the VMM that is shipped. */
static const char *const seccomp_sanitizer[] = {
	"sigaltstack", "sched_getaffinity",
	"readlink",    "readlinkat",
	"getppid",     "sched_yield",
	"prctl",       "ptrace",
	"wait4",       "getdents64",
	"getdents",    "open",
	"openat",      "close",
	"read",	       "fstat",
	"newfstatat",  "lseek",
};

/* ioctls of a vCPU fd: running it, and its state (regs dumped on a fatal
 * exit; saved and restored while parked, for snapshots and resets). */
static const unsigned long seccomp_ioctl_vcpu[] = {
	KVM_RUN,	  KVM_GET_REGS,	    KVM_SET_REGS,	 KVM_GET_SREGS,
	KVM_SET_SREGS,	  KVM_GET_FPU,	    KVM_SET_FPU,	 KVM_GET_XSAVE,
	KVM_SET_XSAVE,
#ifdef KVM_GET_XSAVE2
	KVM_GET_XSAVE2,
#endif
	KVM_GET_XCRS,	  KVM_SET_XCRS,	    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_DEBUGREGS,	 KVM_SET_DEBUGREGS,
	KVM_GET_LAPIC,	  KVM_SET_LAPIC,    KVM_GET_MSRS,	 KVM_SET_MSRS,
	KVM_GET_CPUID2,	  KVM_GET_TSC_KHZ,  KVM_SET_TSC_KHZ,	 KVM_KVMCLOCK_CTRL,
};

/* ioctls of the VM and /dev/kvm fds, for the loop role only: interrupt
 * lines and queue notifications (added and removed as devices come and
 * go), the irqchip, PIT and clock state of snapshots, and read-only
 * queries. Never memory slots, new vCPUs or new VMs. */
static const unsigned long seccomp_ioctl_vm[] = {
	KVM_IRQFD,	     KVM_IOEVENTFD,   KVM_IRQ_LINE,	   KVM_IRQ_LINE_STATUS,
	KVM_GET_IRQCHIP,     KVM_SET_IRQCHIP, KVM_GET_PIT2,	   KVM_SET_PIT2,
	KVM_GET_CLOCK,	     KVM_SET_CLOCK,   KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST,
	KVM_GET_API_VERSION,
};

/* fcntl commands the loop uses on its own fds (non-blocking sockets,
 * close-on-exec). */
static const int seccomp_fcntl_cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC };

/* prctl options: naming the vCPU threads; no_new_privs before a filter. */
static const int seccomp_prctl_opts[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS,
					  PR_GET_NO_NEW_PRIVS };

/* clone flags that would make namespaces or trace: never needed (but a
 * sanitizer's leak check clones its helper with CLONE_UNTRACED). */
#define SECCOMP_CLONE_NS                                                               \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
	 CLONE_NEWPID | CLONE_NEWNET)
#if SECCOMP_SANITIZER
#define SECCOMP_CLONE_DENY SECCOMP_CLONE_NS
#else
#define SECCOMP_CLONE_DENY (SECCOMP_CLONE_NS | CLONE_PTRACE | CLONE_UNTRACED)
#endif

static struct {
	int prepared;
	struct seccomp_options opts;
	struct sock_fprog prog[2];
} seccomp_state;

static int seccomp_allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall of this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0) {
			log_err("seccomp: cannot allow %s: %s", names[i], strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Allow syscall nr when argument arg equals one of vals. */
static int seccomp_allow_values(scmp_filter_ctx ctx, int nr, unsigned int arg,
				const unsigned long *vals, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					 SCMP_CMP(arg, SCMP_CMP_EQ, (scmp_datum_t)vals[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

static int seccomp_allow_ints(scmp_filter_ctx ctx, int nr, unsigned int arg, const int *vals,
			      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					 SCMP_CMP(arg, SCMP_CMP_EQ, (scmp_datum_t)vals[i]));
		if (r < 0)
			return r;
	}
	return 0;
}

/* Rules both roles share: plain syscalls, mappings without PROT_EXEC (no
 * code is ever loaded after start-up), signals to our own process only. */
static int seccomp_rules_both(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_allow_names(ctx, seccomp_both, ARRAY_SIZE(seccomp_both));
	if (r == 0 && SECCOMP_SANITIZER)
		r = seccomp_allow_names(ctx, seccomp_sanitizer, ARRAY_SIZE(seccomp_sanitizer));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (r == 0)
		r = seccomp_allow_values(ctx, SCMP_SYS(ioctl), 1, seccomp_ioctl_vcpu,
					 ARRAY_SIZE(seccomp_ioctl_vcpu));
	return r;
}

static int seccomp_rules_loop(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_allow_names(ctx, seccomp_loop_only, ARRAY_SIZE(seccomp_loop_only));
	if (r == 0)
		r = seccomp_allow_values(ctx, SCMP_SYS(ioctl), 1, seccomp_ioctl_vm,
					 ARRAY_SIZE(seccomp_ioctl_vm));
	/* Unix sockets only: vsock's bridge and the control socket. The jail's
	 * network namespace has nothing but lo anyway. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (r == 0)
		r = seccomp_allow_ints(ctx, SCMP_SYS(fcntl), 1, seccomp_fcntl_cmds,
				       ARRAY_SIZE(seccomp_fcntl_cmds));
	if (r == 0)
		r = seccomp_allow_ints(ctx, SCMP_SYS(prctl), 0, seccomp_prctl_opts,
				       ARRAY_SIZE(seccomp_prctl_opts));
	/* A vCPU thread installs its own, stricter filter: plain filters only
	 * (no TSYNC, no listener). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 2,
				     SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
				     SCMP_A1(SCMP_CMP_EQ, 0));
	/* vCPU threads and the deferred-teardown child; never new namespaces. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, SECCOMP_CLONE_DENY, 0));
	/* clone3 keeps its flags in memory, out of a filter's sight: make it
	 * look absent, and the C library falls back to clone. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return r;
}

/* Export ctx as a BPF program into *out (malloc'd). */
static int seccomp_export(scmp_filter_ctx ctx, struct sock_fprog *out)
{
	_cleanup_close_ int fd = memfd_create("agentvm-seccomp", MFD_CLOEXEC);
	off_t size;
	void *buf;
	int r;

	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	buf = malloc((size_t)size);
	if (!buf)
		return -ENOMEM;
	if (pread(fd, buf, (size_t)size, 0) != size) {
		free(buf);
		return -EIO;
	}
	out->filter = buf;
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	return 0;
}

static int seccomp_compile(enum seccomp_role role, struct sock_fprog *out)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r;

	if (!ctx)
		return -ENOMEM;
	/* Other architectures' entry points (i386's int 0x80, x32) are not
	 * allowed at all. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_rules_both(ctx);
	if (r == 0 && role == SECCOMP_ROLE_LOOP)
		r = seccomp_rules_loop(ctx);
	if (r == 0)
		r = seccomp_export(ctx, out);
	seccomp_release(ctx);
	return r;
}

void seccomp_discard(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(seccomp_state.prog); i++) {
		free(seccomp_state.prog[i].filter);
		seccomp_state.prog[i].filter = NULL;
		seccomp_state.prog[i].len = 0;
	}
	seccomp_state.prepared = 0;
}

int seccomp_prepare(const struct seccomp_options *opts)
{
	static const char *const names[] = { "loop", "vcpu" };
	int r;

	seccomp_discard();
	seccomp_state.opts = *opts;
	if (opts->enabled) {
		for (int role = SECCOMP_ROLE_LOOP; role <= SECCOMP_ROLE_VCPU; role++) {
			r = seccomp_compile(role, &seccomp_state.prog[role]);
			if (r < 0) {
				log_err("seccomp: cannot compile the %s filter: %s", names[role],
					strerror(-r));
				seccomp_discard();
				return r;
			}
		}
	}
	seccomp_state.prepared = 1;
	return 0;
}

int seccomp_enabled(void)
{
	return seccomp_state.prepared && seccomp_state.opts.enabled;
}

int seccomp_filter_len(enum seccomp_role role)
{
	if ((unsigned int)role > SECCOMP_ROLE_VCPU || !seccomp_state.prog[role].filter)
		return -ENOENT;
	return seccomp_state.prog[role].len;
}

static int seccomp_install(enum seccomp_role role)
{
	const struct sock_fprog *prog = &seccomp_state.prog[role];

	if (!prog->filter)
		return -ENOENT;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}

int seccomp_install_loop(void)
{
	int r;

	if (!seccomp_enabled())
		return 0;
	r = seccomp_install(SECCOMP_ROLE_LOOP);
	if (r < 0)
		log_err("seccomp: cannot install the event loop's filter: %s", strerror(-r));
	return r;
}

int seccomp_install_vcpu(void)
{
	int r = 0, fd;

	if (seccomp_enabled()) {
		r = seccomp_install(SECCOMP_ROLE_VCPU);
		if (r < 0) {
			log_err("seccomp: cannot install a vCPU thread's filter: %s", strerror(-r));
			return r;
		}
	}
	if (seccomp_state.opts.test_forbidden_syscall) {
		/* Test hook: outside the vcpu allowlist, so this kills the process. */
		fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		log_warn("test hook: a vCPU thread called socket() and survived (seccomp %s)",
			 seccomp_enabled() ? "on" : "off");
		if (fd >= 0)
			close(fd);
	}
	return r;
}
