#include "host/hostprobe.h"

#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *hostprobe_status_name(enum hostprobe_status s)
{
	switch (s) {
	case HOSTPROBE_OK:
		return "ok";
	case HOSTPROBE_WARN:
		return "warn";
	case HOSTPROBE_FAIL:
		return "fail";
	case HOSTPROBE_SKIP:
		return "skip";
	}
	return "?";
}

static void hostprobe_set(struct hostprobe_result *out, enum hostprobe_status s, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));

static void hostprobe_set(struct hostprobe_result *out, enum hostprobe_status s, const char *fmt,
			  ...)
{
	va_list ap;

	out->status = s;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

void hostprobe_kvm(struct hostprobe_result *out)
{
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{ KVM_CAP_USER_MEMORY, "user_memory" },
		{ KVM_CAP_IRQCHIP, "irqchip" },
		{ KVM_CAP_PIT2, "pit2" },
		{ KVM_CAP_IOEVENTFD, "ioeventfd" },
		{ KVM_CAP_IRQFD, "irqfd" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" },
		{ KVM_CAP_SET_TSS_ADDR, "set_tss_addr" },
		{ KVM_CAP_EXT_CPUID, "ext_cpuid" },
	};
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	char missing[160] = "";
	int api, pvm;

	if (fd < 0) {
		hostprobe_set(out, HOSTPROBE_FAIL, "/dev/kvm: %s", strerror(errno));
		return;
	}
	api = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		hostprobe_set(out, HOSTPROBE_FAIL, "KVM API version %d (want %d)", api,
			      KVM_API_VERSION);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) > 0)
			continue;
		size_t l = strlen(missing);
		snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? "," : "", need[i].name);
	}
	pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	if (missing[0]) {
		hostprobe_set(out, HOSTPROBE_FAIL, "API %d, missing capabilities: %s%s", api,
			      missing, pvm ? " (kvm_pvm)" : "");
		return;
	}
	hostprobe_set(out, HOSTPROBE_OK,
		      "API %d, irqchip, pit2, ioeventfd, irqfd, immediate_exit; vcpus max %d%s",
		      api, ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS),
		      pvm ? "; module kvm_pvm (paravirtual nested KVM)" : "");
}

static long hostprobe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int hostprobe_run(const char *const *argv, char *out, size_t len, int timeout_ms, int keep_stderr)
{
	int p[2], status = 0, timed_out = 0;
	size_t got = 0;
	long deadline = hostprobe_now_ms() + timeout_ms;
	pid_t pid;

	if (len)
		out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(keep_stderr ? p[1] : null, 2);
		setpgid(0, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		long left = deadline - hostprobe_now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (!pfd.revents)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len && got < len - 1) {
			size_t take = (size_t)n < len - 1 - got ? (size_t)n : len - 1 - got;
			memcpy(out + got, buf, take);
			got += take;
			out[got] = '\0';
		}
	}
	close(p[0]);
	/* The output closed: the program is exiting (or has handed its stdout on). */
	for (;;) {
		pid_t w = waitpid(pid, &status, timed_out ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (w == 0) {
			if (hostprobe_now_ms() >= deadline) {
				timed_out = 1;
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
			} else {
				struct timespec ts = { 0, 5 * 1000 * 1000 };
				nanosleep(&ts, NULL);
			}
		}
	}
	return timed_out ? -ETIMEDOUT : status;
}

/* The first line of s, trimmed, for a detail column. */
static const char *hostprobe_first_line(char *s)
{
	char *nl;

	while (*s == ' ' || *s == '\n')
		s++;
	nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	return s;
}

/* Run a test guest; its serial output ends up in serial (NUL-terminated). */
static int hostprobe_guest(const char *vmm, const char *guest, char *serial, size_t slen, char *err,
			   size_t elen, int timeout_ms)
{
	char path[] = "/tmp/agentvm-probe-XXXXXX";
	char opt[64];
	int fd = mkstemp(path), st;
	ssize_t n;

	if (fd < 0)
		return -errno;
	snprintf(opt, sizeof(opt), "file:%s", path);
	const char *argv[] = { vmm, "--kernel", guest, "--serial", opt, NULL };
	st = hostprobe_run(argv, err, elen, timeout_ms, 1);
	n = pread(fd, serial, slen - 1, 0);
	serial[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return st;
}

void hostprobe_guest_syscall(const char *vmm, const char *guest, struct hostprobe_result *out)
{
	char serial[1024], err[1024];
	int st;

	if (!vmm || access(vmm, X_OK) < 0) {
		hostprobe_set(out, HOSTPROBE_SKIP, "agentvm-vmm not found (%s)", vmm ? vmm : "?");
		return;
	}
	if (!guest || access(guest, R_OK) < 0) {
		hostprobe_set(out, HOSTPROBE_SKIP, "probe guest not built (%s; make guests)",
			      guest ? guest : "?");
		return;
	}
	st = hostprobe_guest(vmm, guest, serial, sizeof(serial), err, sizeof(err), 20000);
	if (st == -ETIMEDOUT) {
		hostprobe_set(out, HOSTPROBE_SKIP, "the probe did not finish in 20 s");
		return;
	}
	if (st < 0) {
		hostprobe_set(out, HOSTPROBE_SKIP, "cannot run %s: %s", vmm, strerror(-st));
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 16) {
		hostprobe_set(out, HOSTPROBE_OK,
			      "SYSCALL from guest CPL3 reaches the guest kernel: guest user space "
			      "runs");
		return;
	}
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 18 || WEXITSTATUS(st) == 3)) {
		hostprobe_set(out, HOSTPROBE_FAIL,
			      "a Linux guest's user space cannot run on this KVM: SYSCALL from "
			      "guest CPL3 is not delivered to the guest kernel (probe status %d)",
			      WEXITSTATUS(st));
		return;
	}
	hostprobe_set(out, HOSTPROBE_SKIP, "unexpected probe result (%s %d): %s",
		      WIFEXITED(st) ? "status" : "signal",
		      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), hostprobe_first_line(err));
}

void hostprobe_guest_speed(const char *vmm, const char *guest, double *ratio,
			   struct hostprobe_result *out)
{
	char serial[2048], err[1024];
	const char *p;
	int st;

	*ratio = 0;
	if (!vmm || access(vmm, X_OK) < 0 || !guest || access(guest, R_OK) < 0) {
		hostprobe_set(out, HOSTPROBE_SKIP,
			      "agentvm-vmm or the speed_probe guest is missing");
		return;
	}
	st = hostprobe_guest(vmm, guest, serial, sizeof(serial), err, sizeof(err), 60000);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 16) {
		hostprobe_set(out, HOSTPROBE_SKIP, "the speed probe failed (%s)",
			      st == -ETIMEDOUT ? "timeout"
			      : st < 0	       ? strerror(-st)
					       : hostprobe_first_line(err));
		return;
	}
	p = strstr(serial, "ratio=");
	if (!p || sscanf(p, "ratio=%lf", ratio) != 1) {
		hostprobe_set(out, HOSTPROBE_SKIP, "no ratio in the probe's output");
		return;
	}
	const char *c0 = strstr(serial, "cpl0_ns_per_iter=");
	double ns0 = 0, ns3 = 0;
	if (c0)
		sscanf(c0, "cpl0_ns_per_iter=%lf cpl3_ns_per_iter=%lf", &ns0, &ns3);
	if (ns0 > 0)
		hostprobe_set(out, *ratio > 50 ? HOSTPROBE_WARN : HOSTPROBE_OK,
			      "guest kernel code runs %.0fx slower than user code (%.1f vs %.2f ns "
			      "per loop)%s",
			      *ratio, ns0, ns3, *ratio > 50 ? ": CPL0 is emulated" : "");
	else
		hostprobe_set(out, *ratio > 50 ? HOSTPROBE_WARN : HOSTPROBE_OK,
			      "guest kernel code runs %.0fx slower than user code%s", *ratio,
			      *ratio > 50 ? ": CPL0 is emulated" : "");
}

/* 0 if unshare(flag) works in a child process, else the errno. */
static int hostprobe_try_unshare(int flag)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(unshare(flag) < 0 ? (errno & 0xff) : 0);
	if (waitpid(pid, &st, 0) < 0)
		return errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
}

void hostprobe_namespaces(struct hostprobe_result *out)
{
	static const struct {
		int flag;
		const char *name;
		int needed;
	} ns[] = {
		{ CLONE_NEWNS, "mount", 1 },  { CLONE_NEWPID, "pid", 1 },
		{ CLONE_NEWNET, "net", 1 },   { CLONE_NEWIPC, "ipc", 1 },
		{ CLONE_NEWUTS, "uts", 1 },   { CLONE_NEWCGROUP, "cgroup", 1 },
		{ CLONE_NEWUSER, "user", 0 },
	};
	char ok[128] = "", bad[160] = "";
	int fail = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		int e = hostprobe_try_unshare(ns[i].flag);
		char *dst = e ? bad : ok;
		size_t cap = e ? sizeof(bad) : sizeof(ok), l = strlen(dst);
		if (e)
			snprintf(dst + l, cap - l, "%s%s (%s)", l ? ", " : "", ns[i].name,
				 strerror(e));
		else
			snprintf(dst + l, cap - l, "%s%s", l ? " " : "", ns[i].name);
		if (e && ns[i].needed)
			fail = 1;
	}
	if (fail)
		hostprobe_set(out, HOSTPROBE_FAIL, "unavailable: %s; working: %s", bad,
			      ok[0] ? ok : "none");
	else if (bad[0])
		hostprobe_set(out, HOSTPROBE_WARN, "%s; unavailable: %s", ok, bad);
	else
		hostprobe_set(out, HOSTPROBE_OK, "%s", ok);
}

void hostprobe_seccomp(struct hostprobe_result *out)
{
	const struct scmp_version *v = seccomp_version();
	int st;
	pid_t pid = fork();

	if (pid < 0) {
		hostprobe_set(out, HOSTPROBE_SKIP, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(acct), 0) < 0 ||
		    seccomp_load(ctx) < 0)
			_exit(1);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		hostprobe_set(out, HOSTPROBE_OK, "filters load (libseccomp %u.%u.%u, API %u)",
			      v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0,
			      seccomp_api_get());
	else
		hostprobe_set(out, HOSTPROBE_FAIL, "a seccomp filter could not be installed");
}

void hostprobe_overlay(struct hostprobe_result *out)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/filesystems", "re");
	char line[128];

	if (!f) {
		hostprobe_set(out, HOSTPROBE_SKIP, "/proc/filesystems: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\toverlay\n")) {
			hostprobe_set(out, HOSTPROBE_OK, "overlay is available");
			return;
		}
	}
	hostprobe_set(out, HOSTPROBE_FAIL, "the kernel has no overlay filesystem");
}
