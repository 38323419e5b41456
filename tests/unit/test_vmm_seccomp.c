/* The VMM's seccomp allowlists (vmm/seccomp.c): each case runs in a forked
 * child that installs a filter and makes calls; the parent checks how the
 * child ended (exit 0, or killed by SIGSYS). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "vmm/seccomp.h"

#define KILLED_BY_SIGSYS (-SIGSYS)

/* Sanitized builds let their runtimes open, read and ptrace (vmm/seccomp.c);
 * there the cases use calls no build allows. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* Run fn in a child; its exit code, or -signal if a signal ended it. */
static int run_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1000;
	if (pid == 0)
		_exit(fn());
	if (waitpid(pid, &status, 0) != pid)
		return -1001;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int loop(void)
{
	return seccomp_install_loop() == 0 ? 0 : 90;
}

static int vcpu(void)
{
	return seccomp_install_vcpu() == 0 ? 0 : 91;
}

/* A field of /proc/self/status, as a number; -1 if absent. */
static long status_field(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static int case_loop_status(void)
{
	if (loop())
		return 90;
	if (status_field("Seccomp") != 2)
		return 1;
	if (status_field("NoNewPrivs") != 1)
		return 2;
	return 0;
}

static void *thread_noop(void *arg)
{
	return arg;
}

/* What the loop thread does at run time works under its filter. */
static int case_loop_allowed(void)
{
	char buf[8] = "x";
	int p[2], fd, s;
	void *big, *small;
	pthread_t t;
	pid_t pid;

	if (loop())
		return 90;
	if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], buf, 1) != 1 || read(p[0], buf, 1) != 1)
		return 1;
	small = malloc(100);
	big = malloc(64 << 20); /* mmap'd by malloc */
	if (!small || !big)
		return 2;
	memset(big, 1, 1 << 20);
	free(big);
	free(small);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return 3;
	close(s);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 4;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return 5;
	/* A KVM ioctl on the wrong fd passes the filter and fails in the kernel. */
	if (ioctl(fd, KVM_RUN, 0) == 0 || errno != ENOTTY)
		return 6;
	close(fd);
	if (pthread_create(&t, NULL, thread_noop, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 7;
	/* The deferred-teardown child: fork, close_range, read, _exit. */
	pid = fork();
	if (pid < 0)
		return 8;
	if (pid == 0) {
		close_range(3, ~0u, 0);
		_exit(0);
	}
	/* (The VMM never waits for that child: it outlives the VMM.) */
	if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return 10;
	return 0;
}

static int case_loop_inet(void)
{
	if (loop())
		return 90;
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	return 0;
}

static int case_loop_exec_mapping(void)
{
	if (loop())
		return 90;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static int case_loop_mprotect_exec(void)
{
	void *p;

	if (loop())
		return 90;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	return 0;
}

static int case_loop_bad_ioctl(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (loop())
		return 90;
	syscall(SYS_ioctl, fd, KVM_CREATE_VCPU, 0); /* not at run time */
	return 0;
}

static int case_loop_set_memory(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (loop())
		return 90;
	syscall(SYS_ioctl, fd, KVM_SET_USER_MEMORY_REGION, 0);
	return 0;
}

static int case_loop_execve(void)
{
	char *argv[] = { "true", NULL }, *envp[] = { NULL };

	if (loop())
		return 90;
	syscall(SYS_execve, "/bin/true", argv, envp);
	return 0;
}

static int case_loop_clone_ns(void)
{
	long r;

	if (loop())
		return 90;
	r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	return 0;
}

static int case_loop_clone3(void)
{
	long r;

	if (loop())
		return 90;
	r = syscall(SYS_clone3, NULL, 0);
	return r < 0 && errno == ENOSYS ? 0 : 1;
}

static int case_loop_ptrace(void)
{
	if (loop())
		return 90;
	if (SANITIZED)
		syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 0);
	else
		syscall(SYS_ptrace, 0, 0, 0, 0);
	return 0;
}

static int case_loop_tgkill_other(void)
{
	if (loop())
		return 90;
	syscall(SYS_tgkill, 1, 1, 0); /* another process, signal 0 */
	return 0;
}

/* What a vCPU thread does at run time works under its filter. */
static int case_vcpu_allowed(void)
{
	int p[2], fd;
	void *m;

	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (vcpu())
		return 91;
	if (write(p[1], "x", 1) != 1)
		return 2;
	m = malloc(1 << 20);
	if (!m)
		return 3;
	free(m);
	if (ioctl(fd, KVM_RUN, 0) == 0 || errno != ENOTTY)
		return 4;
	return 0;
}

static int case_vcpu_socket(void)
{
	if (vcpu())
		return 91;
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	return 0;
}

static int case_vcpu_open(void)
{
	if (vcpu())
		return 91;
	if (SANITIZED)
		syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent/x", 0700);
	else
		syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	return 0;
}

static int case_vcpu_read(void)
{
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	if (vcpu())
		return 91;
	if (SANITIZED)
		syscall(SYS_recvfrom, p[0], &c, 1, 0, NULL, NULL);
	else
		syscall(SYS_read, p[0], &c, 1);
	return 0;
}

static int case_vcpu_vm_ioctl(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (vcpu())
		return 91;
	syscall(SYS_ioctl, fd, KVM_IRQFD, 0);
	return 0;
}

static void *thread_vcpu_open(void *arg)
{
	(void)arg;
	if (seccomp_install_vcpu() < 0)
		return NULL;
	if (SANITIZED)
		syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent/x", 0700);
	else
		syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	return NULL;
}

/* The layout of the VMM: the main thread under the loop filter starts a
 * thread that adds the vcpu filter; that thread's forbidden call ends the
 * whole process, not just the thread. */
static int case_stacked_kills_process(void)
{
	pthread_t t;

	if (loop())
		return 90;
	if (pthread_create(&t, NULL, thread_vcpu_open, NULL) != 0)
		return 1;
	pthread_join(t, NULL);
	return 0;
}

static int case_test_hook(void)
{
	struct seccomp_options o = { .enabled = 1, .test_forbidden_syscall = 1 };

	if (seccomp_prepare(&o) < 0)
		return 1;
	if (loop())
		return 90;
	seccomp_install_vcpu();
	return 0;
}

static int case_disabled(void)
{
	struct seccomp_options o = { .enabled = 0, .test_forbidden_syscall = 1 };

	if (seccomp_prepare(&o) < 0)
		return 1;
	if (seccomp_enabled())
		return 2;
	if (seccomp_install_loop() < 0 || seccomp_install_vcpu() < 0)
		return 3;
	if (status_field("Seccomp") != 0)
		return 4;
	return 0;
}

int main(void)
{
	struct seccomp_options on = { .enabled = 1 };
	int loop_len, vcpu_len;

	is(seccomp_filter_len(SECCOMP_ROLE_LOOP), -ENOENT, "no filter before seccomp_prepare");
	is(seccomp_install_loop(), 0, "installing before seccomp_prepare does nothing");
	is(seccomp_prepare(&on), 0, "both filters compile");
	ok(seccomp_enabled(), "filtering is on");
	loop_len = seccomp_filter_len(SECCOMP_ROLE_LOOP);
	vcpu_len = seccomp_filter_len(SECCOMP_ROLE_VCPU);
	ok(loop_len > 0 && vcpu_len > 0 && vcpu_len < loop_len,
	   "the vcpu filter (%d insns) is smaller than the loop filter (%d insns)", vcpu_len,
	   loop_len);

	is(run_child(case_loop_status), 0, "loop filter: Seccomp 2 and NoNewPrivs 1");
	is(run_child(case_loop_allowed), 0,
	   "loop filter: pipes, malloc, AF_UNIX sockets, open, fcntl, KVM ioctls, threads, fork, "
	   "getrandom");
	is(run_child(case_loop_inet), KILLED_BY_SIGSYS, "loop filter: an AF_INET socket kills");
	is(run_child(case_loop_exec_mapping), KILLED_BY_SIGSYS,
	   "loop filter: an executable mapping kills");
	is(run_child(case_loop_mprotect_exec), KILLED_BY_SIGSYS,
	   "loop filter: making memory executable kills");
	is(run_child(case_loop_bad_ioctl), KILLED_BY_SIGSYS,
	   "loop filter: KVM_CREATE_VCPU kills (not a run-time ioctl)");
	is(run_child(case_loop_set_memory), KILLED_BY_SIGSYS,
	   "loop filter: KVM_SET_USER_MEMORY_REGION kills");
	is(run_child(case_loop_execve), KILLED_BY_SIGSYS, "loop filter: execve kills");
	is(run_child(case_loop_clone_ns), KILLED_BY_SIGSYS,
	   "loop filter: clone with CLONE_NEWUSER kills");
	is(run_child(case_loop_clone3), 0, "loop filter: clone3 fails with ENOSYS");
	is(run_child(case_loop_ptrace), KILLED_BY_SIGSYS,
	   "loop filter: ptrace (process_vm_readv when sanitized) kills");
	is(run_child(case_loop_tgkill_other), KILLED_BY_SIGSYS,
	   "loop filter: tgkill of another process kills");

	is(run_child(case_vcpu_allowed), 0, "vcpu filter: eventfd-style writes, malloc, KVM_RUN");
	is(run_child(case_vcpu_socket), KILLED_BY_SIGSYS, "vcpu filter: socket kills");
	is(run_child(case_vcpu_open), KILLED_BY_SIGSYS,
	   "vcpu filter: open (mkdir when sanitized) kills");
	is(run_child(case_vcpu_read), KILLED_BY_SIGSYS,
	   "vcpu filter: read (recvfrom when sanitized) kills");
	is(run_child(case_vcpu_vm_ioctl), KILLED_BY_SIGSYS, "vcpu filter: KVM_IRQFD kills");
	is(run_child(case_stacked_kills_process), KILLED_BY_SIGSYS,
	   "a vCPU-role thread under both filters: its forbidden call kills the whole process");
	is(run_child(case_test_hook), KILLED_BY_SIGSYS,
	   "the test hook (--test-forbidden-syscall) kills the process");
	is(run_child(case_disabled), 0, "disabled: nothing installed, the test hook survives");

	seccomp_discard();
	seccomp_discard();
	is(seccomp_filter_len(SECCOMP_ROLE_VCPU), -ENOENT, "discarded");
	return done_testing();
}
