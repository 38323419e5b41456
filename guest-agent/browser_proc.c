#include "guest-agent/browser_proc.h"

#include "common/log.h"
#include "guest-agent/agent_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PROC_ARGV_MAX 40

void browser_proc_init(struct browser_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid_w.fd = p->cmd_w.fd = p->res_w.fd = p->err_w.fd = -1;
	p->status_fd = -1;
}

int browser_proc_find_chromium(char *out, size_t outlen)
{
	static const char *const cands[] = { "/usr/lib/chromium/chromium", "/usr/bin/chromium",
					     "/usr/bin/chromium-browser" };
	const char *env = getenv("AGENTVM_CHROMIUM");
	size_t i;

	if (env && *env) {
		if (access(env, X_OK) < 0)
			return -errno;
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0) {
			snprintf(out, outlen, "%s", cands[i]);
			return 0;
		}
	return -ENOENT;
}

/* --- the keeper and the browser ------------------------------------------------------ */

/* The agent starts a keeper: a raw clone with no exit signal, which never
 * execs, so the agent's waitpid(-1) reaper leaves it alone (the kernel
 * resets the exit signal to SIGCHLD at execve, so Chromium itself cannot be
 * such a child). The keeper leads a new session and process group, starts
 * Chromium in it, reports Chromium's pid and, once it ends, its wait status
 * on the status pipe, and exits. Both die with their parent
 * (PR_SET_PDEATHSIG). Only async-signal-safe calls happen in them. */
struct proc_child {
	const char *path;
	char **argv, **envp;
	const char *profile;
	int cmd_rd, res_wr, out_wr, errpipe, status_wr;
	pid_t keeper;
};

/* Report errno to the parent and die. */
static void __attribute__((noreturn)) proc_child_fail(int fd, int stage)
{
	int rep[2] = { stage, errno };
	ssize_t n __attribute__((unused));

	n = write(fd, rep, sizeof(rep));
	_exit(127);
}

static int proc_lift(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

static void __attribute__((noreturn)) proc_browser(const struct proc_child *c)
{
	int in, cmd, res, out, ep = c->errpipe;

	/* Die with the keeper (and so with the agent). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != c->keeper)
		proc_child_fail(ep, 2);
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ep = proc_lift(ep);
	cmd = proc_lift(c->cmd_rd);
	res = proc_lift(c->res_wr);
	out = proc_lift(c->out_wr);
	if (in < 0 || ep < 0 || cmd < 0 || res < 0 || out < 0)
		proc_child_fail(c->errpipe, 3);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(cmd, 3) < 0 ||
	    dup2(res, 4) < 0)
		proc_child_fail(ep, 3);
	if (ep > 5)
		close_range(5, (unsigned)ep - 1, 0);
	close_range((unsigned)ep + 1, ~0u, 0);
	if (chdir(c->profile) < 0)
		proc_child_fail(ep, 4);
	umask(077);
	execve(c->path, c->argv, c->envp);
	proc_child_fail(ep, 5);
}

static void __attribute__((noreturn)) proc_keeper(const struct proc_child *c)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	struct proc_child bc = *c;
	struct clone_args args;
	sigset_t none;
	int s, st = 0;
	ssize_t n __attribute__((unused));
	long pid;

	if (setsid() < 0)
		proc_child_fail(c->errpipe, 1);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		proc_child_fail(c->errpipe, 2);
	/* Default dispositions and no blocked signals, for Chromium too. */
	for (s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	bc.keeper = (pid_t)syscall(SYS_getpid);
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	/* A seccomp filter may hide clone3 (the container sandbox does, since
	 * a filter cannot read its flags); clone does the same here. */
	if (pid < 0 && errno == ENOSYS)
		pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
	if (pid < 0)
		proc_child_fail(c->errpipe, 6);
	if (pid == 0)
		proc_browser(&bc);
	/* Keep the status pipe only: the parent sees end of file on the
	 * others once Chromium has exec'd. */
	n = write(c->status_wr, &(int){ (int)pid }, sizeof(int));
	if (c->status_wr > 0)
		close_range(0, (unsigned)c->status_wr - 1, 0);
	close_range((unsigned)c->status_wr + 1, ~0u, 0);
	while (waitpid((pid_t)pid, &st, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	n = write(c->status_wr, &st, sizeof(st));
	_exit(0);
}

/* --- the parent ----------------------------------------------------------------------- */

/* Start the keeper of c with CLONE_PIDFD and no exit signal. */
static pid_t proc_clone(const struct proc_child *c, int *pidfd)
{
	struct clone_args args;
	long r;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = 0;
	r = syscall(SYS_clone3, &args, sizeof(args));
	if (r < 0 && errno == ENOSYS) {
		/* No clone3 (hidden by a seccomp filter, or an old kernel): clone
		 * takes CLONE_PIDFD too (Linux 5.2), returning the pidfd through
		 * its parent_tid argument. x86-64 order: flags, stack, parent_tid,
		 * child_tid, tls; a NULL stack means the child runs on a copy of
		 * ours, as after fork. */
		r = syscall(SYS_clone, (unsigned long)CLONE_PIDFD, 0UL, pidfd, 0UL, 0UL);
	}
	if (r < 0)
		return -errno;
	if (r == 0)
		proc_keeper(c);
	return (pid_t)r;
}

static void proc_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int proc_make_profile(const struct browser_launch *l, struct browser_proc *p)
{
	const char *tmp = l->tmpdir;

	if (!tmp || !*tmp)
		tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(p->profile, sizeof(p->profile), "%s/agentvm-browser.XXXXXX", tmp) >=
	    (int)sizeof(p->profile))
		return -ENAMETOOLONG;
	if (!mkdtemp(p->profile)) {
		p->profile[0] = '\0';
		return -errno;
	}
	return 0;
}

int browser_proc_start(const struct browser_launch *l, struct browser_proc *p,
		       struct agent_error *err)
{
	char path[PATH_MAX], arg_profile[PATH_MAX + 32], arg_proxy[300], arg_size[64];
	char env_home[PATH_MAX + 8], env_cfg[PATH_MAX + 32], env_cache[PATH_MAX + 32];
	char *argv[PROC_ARGV_MAX], *envp[8];
	int cmd[2] = { -1, -1 }, res[2] = { -1, -1 }, out[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int st[2] = { -1, -1 };
	struct proc_child c;
	int rep[2], r, n = 0, bpid = 0;
	ssize_t got;
	pid_t pid;

	browser_proc_init(p);
	if (l->chromium && *l->chromium)
		snprintf(path, sizeof(path), "%s", l->chromium);
	else if (browser_proc_find_chromium(path, sizeof(path)) < 0) {
		agent_error_set(err, "ENOENT", NULL,
				"chromium is not installed (looked for $AGENTVM_CHROMIUM, "
				"/usr/lib/chromium/chromium, /usr/bin/chromium)");
		return -1;
	}
	if (access(path, X_OK) < 0) {
		agent_error_errno(err, errno, path, "chromium %s", path);
		return -1;
	}
	r = proc_make_profile(l, p);
	if (r < 0) {
		agent_error_errno(err, r, NULL, "creating the browser profile directory");
		return -1;
	}
	snprintf(arg_profile, sizeof(arg_profile), "--user-data-dir=%s", p->profile);
	snprintf(arg_size, sizeof(arg_size), "--window-size=%u,%u", l->width ? l->width : 1280,
		 l->height ? l->height : 720);
	argv[n++] = path;
	argv[n++] = "--headless";
	argv[n++] = "--no-sandbox";
	argv[n++] = "--disable-gpu";
	argv[n++] = "--no-first-run";
	argv[n++] = "--no-default-browser-check";
	argv[n++] = "--disable-background-networking";
	argv[n++] = "--disable-component-update";
	argv[n++] = "--disable-sync";
	argv[n++] = "--disable-dev-shm-usage";
	argv[n++] = "--disable-extensions";
	argv[n++] = "--disable-default-apps";
	argv[n++] = "--disable-breakpad";
	argv[n++] = "--disable-domain-reliability";
	argv[n++] = "--disable-client-side-phishing-detection";
	argv[n++] = "--disable-back-forward-cache";
	argv[n++] = "--disable-component-extensions-with-background-pages";
	argv[n++] = "--disable-hang-monitor";
	/* WebRTC may not send UDP around the proxy. */
	argv[n++] = "--force-webrtc-ip-handling-policy=disable_non_proxied_udp";
	argv[n++] = "--disable-prompt-on-repost";
	/* Less background traffic (it would only be refused by the egress
	 * policy). Chromium still asks update.googleapis.com and
	 * accounts.google.com now and then. */
	argv[n++] = "--disable-features=Translate,MediaRouter,OptimizationHints,"
		    "DialMediaRouteProvider,AutofillServerCommunication,"
		    "NetworkTimeServiceQuerying";
	argv[n++] = "--metrics-recording-only";
	argv[n++] = "--password-store=basic";
	argv[n++] = "--use-mock-keychain";
	argv[n++] = "--mute-audio";
	argv[n++] = "--hide-scrollbars";
	argv[n++] = "--remote-debugging-pipe";
	argv[n++] = arg_profile;
	argv[n++] = arg_size;
	if (l->proxy && *l->proxy) {
		snprintf(arg_proxy, sizeof(arg_proxy), "--proxy-server=%s", l->proxy);
		argv[n++] = arg_proxy;
		/* Loopback too: the guest reaches nothing but through the proxy. */
		argv[n++] = "--proxy-bypass-list=<-loopback>";
	}
	argv[n++] = "about:blank";
	argv[n] = NULL;

	snprintf(env_home, sizeof(env_home), "HOME=%s", p->profile);
	snprintf(env_cfg, sizeof(env_cfg), "XDG_CONFIG_HOME=%s/.config", p->profile);
	snprintf(env_cache, sizeof(env_cache), "XDG_CACHE_HOME=%s/.cache", p->profile);
	envp[0] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	envp[1] = env_home;
	envp[2] = env_cfg;
	envp[3] = env_cache;
	envp[4] = "LANG=C.UTF-8";
	envp[5] = NULL;

	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0) {
		agent_error_errno(err, errno, NULL, "pipe");
		goto fail;
	}
	c = (struct proc_child){ .path = path,
				 .argv = argv,
				 .envp = envp,
				 .profile = p->profile,
				 .cmd_rd = cmd[0],
				 .res_wr = res[1],
				 .out_wr = out[1],
				 .errpipe = ep[1],
				 .status_wr = st[1] };
	pid = proc_clone(&c, &p->pid_w.fd);
	if (pid < 0) {
		agent_error_errno(err, pid, NULL, "starting chromium");
		goto fail;
	}
	p->pid = pid;
	proc_close(&ep[1]);
	proc_close(&st[1]);
	proc_close(&cmd[0]);
	proc_close(&res[1]);
	proc_close(&out[1]);
	/* Chromium either execs (end of file) or one of the two reports why not. */
	do {
		got = read(ep[0], rep, sizeof(rep));
	} while (got < 0 && errno == EINTR);
	proc_close(&ep[0]);
	if (got == (ssize_t)sizeof(rep)) {
		agent_error_errno(err, rep[1], path, "starting chromium %s (stage %d)", path,
				  rep[0]);
		goto fail;
	}
	do {
		got = read(st[0], &bpid, sizeof(bpid));
	} while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(bpid) || bpid <= 0) {
		agent_error_set(err, "EBROWSER", NULL, "chromium's keeper process died at start");
		goto fail;
	}
	p->browser_pid = bpid;
	p->status_fd = st[0];
	p->cmd_w.fd = cmd[1];
	p->res_w.fd = res[0];
	p->err_w.fd = out[0];
	fcntl(p->status_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->cmd_w.fd, F_SETFL, O_NONBLOCK);
	fcntl(p->res_w.fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_w.fd, F_SETFL, O_NONBLOCK);
	log_debug("browser: chromium %d started by keeper %d (profile %s)", (int)bpid, (int)pid,
		  p->profile);
	return 0;
fail:
	proc_close(&cmd[0]);
	proc_close(&cmd[1]);
	proc_close(&res[0]);
	proc_close(&res[1]);
	proc_close(&out[0]);
	proc_close(&out[1]);
	proc_close(&ep[0]);
	proc_close(&ep[1]);
	proc_close(&st[0]);
	proc_close(&st[1]);
	if (p->pid > 0) {
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		/* Killed before it could do anything: it goes at once. */
		waitid(P_PIDFD, (id_t)p->pid_w.fd, &(siginfo_t){ 0 }, WEXITED | __WALL);
	}
	p->pid = 0;
	browser_proc_cleanup(NULL, p);
	return -1;
}

/* --- killing and reaping ---------------------------------------------------------------- */

/* Session id and state of /proc/PID/stat, or -1. */
static pid_t proc_session_of(const char *pid, char *state)
{
	char path[64], buf[512], *rp;
	int fd, sid = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid pgrp session ..."; comm may hold anything. */
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %c %*d %*d %d", state, &sid) != 2)
		return -1;
	return (pid_t)sid;
}

/* True if /proc/PID/cmdline mentions the profile directory. */
static int proc_mentions_profile(const char *pid, const char *profile)
{
	char path[64], buf[8192];
	size_t plen = strlen(profile);
	ssize_t n, i;
	int fd;

	if (plen == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return memmem(buf, (size_t)n, profile, plen) != NULL;
}

/* Visit every live process of p's session; with sig, send it. Returns the count. */
static int proc_scan(const struct browser_proc *p, int sig)
{
	struct dirent *de;
	int count = 0;
	DIR *d;

	if (p->pid <= 0)
		return 0;
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char state = '?';
		pid_t sid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		sid = proc_session_of(de->d_name, &state);
		if (sid < 0 || state == 'Z' || state == 'X')
			continue;
		if (sid != p->pid && !proc_mentions_profile(de->d_name, p->profile))
			continue;
		count++;
		if (sig)
			kill((pid_t)atoi(de->d_name), sig);
	}
	closedir(d);
	return count;
}

void browser_proc_kill(struct browser_proc *p)
{
	if (p->pid <= 0)
		return;
	/* The group first (the common case), then stragglers. */
	kill(-p->pid, SIGKILL);
	if (!p->reaped)
		kill(p->pid, SIGKILL);
	if (p->browser_pid > 0)
		kill(p->browser_pid, SIGKILL);
	proc_scan(p, SIGKILL);
}

int browser_proc_count_alive(const struct browser_proc *p)
{
	return proc_scan(p, 0);
}

int browser_proc_reap(struct browser_proc *p)
{
	siginfo_t si;
	ssize_t got;
	int st;

	if (p->reaped)
		return 1;
	if (p->pid_w.fd < 0)
		return -EBADF;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)p->pid_w.fd, &si, WEXITED | WNOHANG | __WALL) < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	p->reaped = 1;
	/* Chromium has exited (its keeper waited for it): what it wrote last
	 * is in the pipe now, so that a description made at once has it. */
	browser_proc_read_stderr(p);
	/* How Chromium ended, as its keeper saw it; if the keeper was killed
	 * first, how the keeper ended. */
	do {
		got = p->status_fd >= 0 ? read(p->status_fd, &st, sizeof(st)) : -1;
	} while (got < 0 && errno == EINTR);
	if (got == (ssize_t)sizeof(st) && WIFEXITED(st)) {
		p->status_code = CLD_EXITED;
		p->status = WEXITSTATUS(st);
	} else if (got == (ssize_t)sizeof(st) && WIFSIGNALED(st)) {
		p->status_code = CLD_KILLED;
		p->status = WTERMSIG(st);
	} else {
		p->status_code = si.si_code;
		p->status = si.si_status;
	}
	return 1;
}

int browser_proc_read_stderr(struct browser_proc *p)
{
	char buf[4096];
	ssize_t n;
	size_t keep;

	for (;;) {
		if (p->err_w.fd < 0)
			return 0;
		n = read(p->err_w.fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n <= 0)
			return 0;
		/* Keep the tail. */
		if ((size_t)n >= sizeof(p->err_tail)) {
			memcpy(p->err_tail, buf + n - sizeof(p->err_tail), sizeof(p->err_tail));
			p->err_len = sizeof(p->err_tail);
			continue;
		}
		keep = sizeof(p->err_tail) - (size_t)n;
		if (p->err_len > keep) {
			memmove(p->err_tail, p->err_tail + p->err_len - keep, keep);
			p->err_len = keep;
		}
		memcpy(p->err_tail + p->err_len, buf, (size_t)n);
		p->err_len += (size_t)n;
	}
}

void browser_proc_describe(const struct browser_proc *p, char *buf, size_t len)
{
	const char *line = NULL, *sig;
	char tail[256] = "";
	size_t end = p->err_len, start, i, n = 0;
	int off;

	if (!p->reaped)
		off = snprintf(buf, len, "chromium is not running");
	else if (p->status_code == CLD_EXITED)
		off = snprintf(buf, len, "chromium exited with status %d", p->status);
	else if ((sig = sigabbrev_np(p->status)))
		off = snprintf(buf, len, "chromium was killed by signal %s", sig);
	else
		off = snprintf(buf, len, "chromium was killed by signal %d", p->status);
	/* The last non-empty line of stderr, made printable. */
	while (end > 0 && (p->err_tail[end - 1] == '\n' || p->err_tail[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && p->err_tail[start - 1] != '\n')
		start--;
	if (end > start)
		line = p->err_tail + start;
	if (line) {
		for (i = 0; i < end - start && n < sizeof(tail) - 1; i++) {
			unsigned char c = (unsigned char)line[i];

			tail[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
		}
		tail[n] = '\0';
		if (off >= 0 && (size_t)off < len)
			snprintf(buf + off, len - (size_t)off, " (%s)", tail);
	}
}

/* Remove dir and everything in it without following symlinks. */
static void proc_rmtree_at(int dfd, const char *name, int depth)
{
	struct dirent *de;
	int fd;
	DIR *d;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	if (depth > 64)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			proc_rmtree_at(dirfd(d), de->d_name, depth + 1);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static void proc_close_watch(struct agent *a, struct agent_watch *w)
{
	if (a)
		agent_watch_close(a, w);
	else
		proc_close(&w->fd);
}

void browser_proc_cleanup(struct agent *a, struct browser_proc *p)
{
	proc_close_watch(a, &p->cmd_w);
	proc_close_watch(a, &p->res_w);
	proc_close_watch(a, &p->err_w);
	proc_close_watch(a, &p->pid_w);
	proc_close(&p->status_fd);
	/* A process of the browser that was being born while the others were
	 * killed may still write into the profile: kill again and retry, for
	 * at most about 200 ms. */
	for (int i = 0; i < 20 && browser_proc_remove_profile(p) < 0; i++) {
		proc_scan(p, SIGKILL);
		usleep(10000);
	}
	if (browser_proc_remove_profile(p) < 0)
		log_warn("browser: could not remove the profile %s", p->profile);
	p->profile[0] = '\0';
}

int browser_proc_remove_profile(struct browser_proc *p)
{
	if (!p->profile[0])
		return 0;
	proc_rmtree_at(AT_FDCWD, p->profile, 0);
	if (access(p->profile, F_OK) == 0)
		return -ENOTEMPTY;
	p->profile[0] = '\0';
	return 0;
}
