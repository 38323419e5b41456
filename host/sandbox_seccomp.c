#include "host/sandbox_seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Denied outright (EPERM). Most would fail anyway for lack of a capability;
 * the filter is the second wall, and it covers the calls that need none. */
static const char *const sandbox_seccomp_deny[] = {
	/* Replace or extend the host kernel. */
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"create_module",
	/* Change the mount tree. The backend mounts everything the sandbox needs
	 * (proc, sys, dev, devpts, shm, tmp) before the agent starts, so nothing
	 * inside ever needs to mount; this also rules out devtmpfs (host devices),
	 * block devices and new superblocks of any kind. */
	"mount",
	"umount2",
	"pivot_root",
	"move_mount",
	"open_tree",
	"fsopen",
	"fsconfig",
	"fsmount",
	"fspick",
	"mount_setattr",
	/* Join other namespaces (setns), or make new ones: a new user namespace
	 * gives every capability inside it and reopens mount and friends. clone's
	 * flags are checked below; unshare is refused whatever its flags. */
	"setns",
	"unshare",
	/* Inspect or change other processes' memory. The pid namespace already
	 * hides host processes; this keeps even sandbox processes apart. */
	"ptrace",
	"process_vm_readv",
	"process_vm_writev",
	/* Kernel keyrings are not namespaced: keys are shared with the host. */
	"keyctl",
	"add_key",
	"request_key",
	/* Large kernel attack surfaces not needed by commands. */
	"bpf",
	"perf_event_open",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	/* userfaultfd stretches kernel race windows at will. */
	"userfaultfd",
	/* File handles bypass the mount tree (the classic chroot escape). */
	"open_by_handle_at",
	"name_to_handle_at",
	/* Host-wide state. */
	"swapon",
	"swapoff",
	"acct",
	"quotactl",
	"quotactl_fd",
	"settimeofday",
	"clock_settime",
	"clock_adjtime",
	"sethostname" /* the uts namespace is fixed at start */,
	"setdomainname",
	"vhangup",
	"uselib",
	"nfsservctl",
	"lookup_dcookie",
	/* The kernel log tells about the host (and is not namespaced). */
	"syslog",
	/* Raw port I/O. */
	"iopl",
	"ioperm",
	/* The agent, as PID 1 of a container, exits instead of powering off
	 * (docs/PROTOCOL.md, shutdown); in a pid namespace reboot could only end
	 * the sandbox, but nothing needs it. */
	"reboot",
};

/* Namespace flags refused in clone(2)'s flags (the first argument on x86). */
static const unsigned long sandbox_seccomp_clone_ns[] = {
	CLONE_NEWNS,  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
	CLONE_NEWIPC, CLONE_NEWUTS,  CLONE_NEWCGROUP, CLONE_NEWTIME,
};

int sandbox_seccomp_count(void)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(sandbox_seccomp_deny) / sizeof(sandbox_seccomp_deny[0]); i++)
		if (seccomp_syscall_resolve_name(sandbox_seccomp_deny[i]) != __NR_SCMP_ERROR)
			n++;
	return n;
}

static int sandbox_seccomp_build(scmp_filter_ctx ctx)
{
	int r, nr;

	/* 32-bit (int 0x80) and x32 entry points get the same rules instead of
	 * being a way around them. */
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
		if (r < 0 && r != -EEXIST)
			return r;
		r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	for (size_t i = 0; i < sizeof(sandbox_seccomp_deny) / sizeof(sandbox_seccomp_deny[0]);
	     i++) {
		nr = seccomp_syscall_resolve_name(sandbox_seccomp_deny[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			return r;
	}
	/* clone3 passes its flags in memory, which a filter cannot read: make it
	 * look absent so that the C library uses clone. Programs that call it
	 * directly must fall back the same way (the agent's browser launcher
	 * does: guest-agent/browser_proc.c); Chromium itself runs with
	 * --no-sandbox, so it needs none of the namespace flags refused below. */
	nr = seccomp_syscall_resolve_name("clone3");
	if (nr != __NR_SCMP_ERROR) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0;
	     i < sizeof(sandbox_seccomp_clone_ns) / sizeof(sandbox_seccomp_clone_ns[0]); i++) {
		unsigned long f = sandbox_seccomp_clone_ns[i];
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (r < 0)
			return r;
	}
	return 0;
}

int sandbox_seccomp_compile(struct sock_fprog *out)
{
	scmp_filter_ctx ctx;
	int fd, r;
	off_t size;

	out->filter = NULL;
	out->len = 0;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	r = sandbox_seccomp_build(ctx);
	if (r < 0)
		goto out_ctx;
	fd = memfd_create("seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out_ctx;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		goto out_fd;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = -EINVAL;
		goto out_fd;
	}
	out->filter = malloc((size_t)size);
	if (!out->filter) {
		r = -ENOMEM;
		goto out_fd;
	}
	if (pread(fd, out->filter, (size_t)size, 0) != size) {
		r = -EIO;
		free(out->filter);
		out->filter = NULL;
		goto out_fd;
	}
	out->len = (unsigned short)(size / sizeof(struct sock_filter));
	r = 0;
out_fd:
	close(fd);
out_ctx:
	seccomp_release(ctx);
	return r;
}

void sandbox_seccomp_prog_free(struct sock_fprog *p)
{
	if (!p)
		return;
	free(p->filter);
	p->filter = NULL;
	p->len = 0;
}

int sandbox_seccomp_apply(const struct sock_fprog *prog)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
		return -errno;
	return 0;
}
