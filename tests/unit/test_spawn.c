/* host/spawn.c: start-up of a child without namespaces or a cgroup (the
 * e2e tests of the jail and the container backend cover those): the verdict
 * of the set-up, the fds the program starts with, the attached hook, the
 * timeout, and a parent that dies during the set-up. */
#include "tests/unit/tap.h"

#include "host/cgroup.h"
#include "host/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* What a child_main does; the same struct is the hooks' arg. */
struct plan {
	int how;
	const char *marker; /* CHILD_NEEDS_MARKER: a file the attached hook made;
			     * CHILD_CGROUP_LATE: the cgroup's name */
	pid_t attached_pid; /* what the attached hook saw */
	int pid_pipe;	    /* the hook writes the pid there (-1: not) */
	int die_in_hook;    /* the hook kills its own process (the parent) */
	int ready_pipe;	    /* CHILD_DROP_UID_SLEEP: a byte there once the uid changed */
	int exec_fd;	    /* CHILD_EXEC_FD */
};

enum {
	CHILD_EXEC_TRUE,
	CHILD_EXEC_FD,
	CHILD_FAIL,
	CHILD_SILENT_EXIT,
	CHILD_RETURN,
	CHILD_BAD_PATH,
	CHILD_SLEEP,
	CHILD_NEEDS_MARKER,
	CHILD_EXEC_SLEEP,
	CHILD_DROP_UID_SLEEP,
	CHILD_CGROUP_LATE, /* outside the cgroup until spawn_join_cgroup */
};

/* Is this process in a cgroup whose path holds name? Syscalls only. */
static int in_cgroup(const char *name)
{
	char buf[4096];
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, name) != NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child_main(struct spawn_child *sc, void *arg)
{
	struct plan *pl = arg;
	char *true_argv[] = { "true", NULL }, *sleep_argv[] = { "sleep", "30", NULL };
	char *envp[] = { NULL };

	switch (pl->how) {
	case CHILD_EXEC_TRUE:
		spawn_cloexec_from(3);
		spawn_exec(sc, -1, "/bin/true", true_argv, envp, "/bin/true");
	case CHILD_EXEC_FD:
		spawn_exec(sc, pl->exec_fd, NULL, true_argv, envp, "true by fd");
	case CHILD_FAIL:
		spawn_fail(sc, EACCES, "mount %s", "somewhere");
	case CHILD_SILENT_EXIT:
		_exit(3);
	case CHILD_RETURN:
		return;
	case CHILD_BAD_PATH:
		spawn_exec(sc, -1, "/nonexistent/program", true_argv, envp, "/nonexistent/program");
	case CHILD_SLEEP:
		sleep_ms(5000);
		_exit(0);
	case CHILD_NEEDS_MARKER:
		if (access(pl->marker, F_OK) < 0)
			spawn_fail(sc, errno, "the attached hook did not run first");
		spawn_exec(sc, -1, "/bin/true", true_argv, envp, "/bin/true");
	case CHILD_EXEC_SLEEP:
		spawn_cloexec_from(3);
		spawn_exec(sc, -1, "/bin/sleep", sleep_argv, envp, "/bin/sleep");
	case CHILD_CGROUP_LATE:
		if (in_cgroup(pl->marker))
			spawn_fail(sc, EBUSY, "in the cgroup before joining it");
		spawn_join_cgroup(sc);
		if (!in_cgroup(pl->marker))
			spawn_fail(sc, ENOENT, "not in the cgroup after joining it");
		spawn_cloexec_from(3);
		spawn_exec(sc, -1, "/bin/sleep", sleep_argv, envp, "/bin/sleep");
	case CHILD_DROP_UID_SLEEP:
		/* A change of credentials clears the parent-death signal. */
		if (setresuid(65534, 65534, 65534) < 0)
			spawn_fail(sc, errno, "setresuid");
		if (write(pl->ready_pipe, "r", 1) != 1)
			spawn_fail(sc, errno, "ready");
		sleep_ms(1000); /* the parent is killed meanwhile */
		spawn_cloexec_from(3);
		spawn_exec(sc, -1, "/bin/sleep", sleep_argv, envp, "/bin/sleep");
	}
}

static void attached(pid_t pid, void *arg)
{
	struct plan *pl = arg;

	pl->attached_pid = pid;
	if (pl->marker) {
		int fd = open(pl->marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	if (pl->pid_pipe >= 0 && write(pl->pid_pipe, &pid, sizeof(pid)) != sizeof(pid))
		_exit(1);
	if (pl->die_in_hook)
		raise(SIGKILL);
}

static int start(struct plan *pl, int timeout_ms, int detached, pid_t *pid, int *pidfd)
{
	struct spawn_config cfg = {
		.who = "test",
		.timeout_ms = timeout_ms,
		.detached = detached,
		.child_main = child_main,
		.attached = attached,
		.arg = pl,
	};

	return spawn_start(&cfg, pid, pidfd);
}

/* The exit code of the process behind pidfd (which is then closed), or
 * 1000 + signal. */
static int reap(int pidfd)
{
	siginfo_t si = { 0 };

	if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0)
		return -errno;
	close(pidfd);
	return si.si_code == CLD_EXITED ? si.si_status : 1000 + si.si_status;
}

/* Wait up to ms for pid (our child or an orphan we reap) to end: its exit
 * code, 1000 + signal, or -ETIMEDOUT (it is then killed). */
static int wait_pid(pid_t pid, long ms)
{
	long end = now_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
		if (r < 0)
			return -errno;
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -ETIMEDOUT;
		}
		sleep_ms(10);
	}
}

static int no_children_left(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static void test_verdicts(void)
{
	struct plan pl = { .pid_pipe = -1, .ready_pipe = -1, .exec_fd = -1 };
	pid_t pid;
	int pidfd, r;

	pl.how = CHILD_EXEC_TRUE;
	r = start(&pl, 0, 0, &pid, &pidfd);
	is(r, 0, "a child that executes its program: 0");
	ok(pid > 0 && pidfd >= 0 && pl.attached_pid == pid,
	   "with its pid and a pidfd, the pid the attached hook saw");
	if (r == 0)
		is(reap(pidfd), 0, "the program ran (true exits 0)");

	pl.how = CHILD_EXEC_FD;
	pl.exec_fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
	r = start(&pl, 0, 0, &pid, &pidfd);
	is(r, 0, "executing a file open at an fd");
	if (r == 0)
		is(reap(pidfd), 0, "that program ran too");
	close(pl.exec_fd);
	pl.exec_fd = -1;

	pl.how = CHILD_FAIL;
	r = start(&pl, 0, 0, &pid, &pidfd);
	is(r, -EACCES, "the child's reason comes back as its errno");
	ok(pid == 0 && pidfd == -1, "no pid and no pidfd on failure");
	ok(no_children_left(), "the failed child is reaped");

	/* End of file on the error pipe is all the parent sees of an exec: a
	 * child that exits without a word looks like a program that exited at
	 * once, and its status comes through the pidfd. */
	pl.how = CHILD_SILENT_EXIT;
	r = start(&pl, 0, 0, &pid, &pidfd);
	is(r, 0, "a child that exits without a word before its exec counts as started");
	if (r == 0)
		is(reap(pidfd), 3, "and its exit status reaches the caller");

	pl.how = CHILD_RETURN;
	is(start(&pl, 0, 0, &pid, &pidfd), -EINVAL,
	   "a set-up that returns without executing anything fails");

	pl.how = CHILD_BAD_PATH;
	is(start(&pl, 0, 0, &pid, &pidfd), -ENOENT, "a program that is not there: -ENOENT");
	ok(no_children_left(), "nothing left behind");
}

static void test_timeout(void)
{
	struct plan pl = { .how = CHILD_SLEEP, .pid_pipe = -1, .ready_pipe = -1, .exec_fd = -1 };
	long t0 = now_ms();
	pid_t pid;
	int pidfd;

	is(start(&pl, 200, 0, &pid, &pidfd), -ETIMEDOUT, "a set-up longer than the timeout fails");
	ok(now_ms() - t0 < 2000, "after the timeout, not after the child (%ld ms)", now_ms() - t0);
	ok(no_children_left(), "the child is killed and reaped");
}

static void test_attached_first(void)
{
	char marker[] = "/tmp/test_spawn_XXXXXX";
	int fd = mkstemp(marker);
	struct plan pl = { .how = CHILD_NEEDS_MARKER,
			   .marker = marker,
			   .pid_pipe = -1,
			   .ready_pipe = -1,
			   .exec_fd = -1 };
	pid_t pid;
	int pidfd, r;

	close(fd);
	unlink(marker);
	r = start(&pl, 0, 0, &pid, &pidfd);
	is(r, 0, "the attached hook runs before the child is let go");
	if (r == 0)
		reap(pidfd);
	unlink(marker);
}

/* The program starts with 0, 1 and 2 only: neither the channels nor an fd
 * of the parent without close-on-exec come along. */
static void test_fds(void)
{
	struct plan pl = {
		.how = CHILD_EXEC_SLEEP, .pid_pipe = -1, .ready_pipe = -1, .exec_fd = -1
	};
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	char path[64], extra[256] = "";
	struct dirent *e;
	pid_t pid;
	int pidfd, n = 0;
	DIR *d;

	is(start(&pl, 0, 0, &pid, &pidfd), 0, "a child that runs sleep");
	close(leak);
	if (pidfd < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (strcmp(e->d_name, "0") && strcmp(e->d_name, "1") && strcmp(e->d_name, "2") &&
		    strlen(extra) + strlen(e->d_name) + 2 < sizeof(extra)) {
			strcat(extra, " ");
			strcat(extra, e->d_name);
		}
	}
	if (d)
		closedir(d);
	ok(d && extra[0] == '\0', "the program holds fds 0, 1, 2 only (%d fds; others:%s)", n,
	   extra);
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	reap(pidfd);
}

/* A parent (a forked process running spawn_start) killed at a point the
 * plan chooses; the test is its children's subreaper and sees what becomes
 * of the orphan. Returns its exit code (wait_pid). */
static int orphan(struct plan *pl, int detached, int wait_ready)
{
	int pids[2], ready[2] = { -1, -1 }, r;
	pid_t mid, child = 0;
	char b;

	if (pipe(pids) < 0 || (wait_ready && pipe(ready) < 0))
		return -errno;
	pl->pid_pipe = pids[1];
	pl->ready_pipe = ready[1];
	fflush(stdout);
	mid = fork();
	if (mid == 0) {
		pid_t p;
		int fd;

		close(pids[0]);
		if (ready[0] >= 0)
			close(ready[0]);
		start(pl, 5000, detached, &p, &fd);
		_exit(0);
	}
	close(pids[1]);
	if (ready[1] >= 0)
		close(ready[1]);
	if (read(pids[0], &child, sizeof(child)) != sizeof(child))
		child = 0;
	close(pids[0]);
	if (wait_ready) {
		if (read(ready[0], &b, 1) != 1)
			child = 0;
		close(ready[0]);
		kill(mid, SIGKILL);
	}
	wait_pid(mid, 5000);
	if (child <= 0)
		return -ESRCH;
	r = wait_pid(child, 3000);
	return r;
}

static void test_parent_death(void)
{
	struct plan pl = { .how = CHILD_EXEC_SLEEP, .die_in_hook = 1, .exec_fd = -1 };
	int r;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		ok(0, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return;
	}
	r = orphan(&pl, 1, 0);
	is(r, SPAWN_CHILD_FAILED,
	   "a detached child whose parent died before letting it go exits (no hang)");
	r = orphan(&pl, 0, 0);
	ok(r == 1000 + SIGKILL || r == SPAWN_CHILD_FAILED,
	   "so does one that dies with its parent (%d)", r);

	if (geteuid() != 0) {
		ok(1, "# SKIP the check before exec needs root (setresuid)");
		return;
	}
	pl = (struct plan){ .how = CHILD_DROP_UID_SLEEP, .exec_fd = -1 };
	r = orphan(&pl, 0, 1);
	is(r, SPAWN_CHILD_FAILED,
	   "a parent that dies after the child changed uid: the child does not execute");
}

/* Whether /proc/pid/cgroup names the cgroup name. */
static int pid_in_cgroup(pid_t pid, const char *name)
{
	char path[64], buf[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, name) != NULL;
}

static void test_cgroup(void)
{
	struct cgroup_limits lim = { .pids_max = 16 };
	struct cgroup *cg = NULL;
	char name[64];
	pid_t pid = 0;
	int pidfd = -1;

	snprintf(name, sizeof(name), "spawn-test-%d", (int)getpid());
	if (geteuid() != 0 || cgroup_new(name, &lim, &cg) < 0) {
		ok(1, "# SKIP joining a cgroup needs root and a pids or memory controller");
		ok(1, "# SKIP");
		ok(1, "# SKIP");
		return;
	}
	for (int late = 0; late <= 1; late++) {
		struct plan pl = { .how = late ? CHILD_CGROUP_LATE : CHILD_EXEC_SLEEP,
				   .marker = name,
				   .pid_pipe = -1,
				   .exec_fd = -1 };
		struct spawn_config cfg = { .who = "test",
					    .cg = cg,
					    .join_late = late,
					    .child_main = child_main,
					    .arg = &pl };
		int r = spawn_start(&cfg, &pid, &pidfd);

		ok(r == 0 && pid_in_cgroup(pid, name),
		   late ? "join_late: set-up outside the cgroup, the program inside"
			: "the child joins its cgroup by itself before its set-up");
		if (r == 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			reap(pidfd);
		}
	}
	cgroup_kill(cg);
	cgroup_free(cg);
	cg = NULL;
	ok(cgroup_open(name, &cg) == -ENOENT, "the cgroup is gone afterwards");
	cgroup_free(cg);
}

int main(void)
{
	/* The children's SIGCHLD must not be ignored, or they reap themselves. */
	signal(SIGCHLD, SIG_DFL);
	test_verdicts();
	test_timeout();
	test_attached_first();
	test_fds();
	test_parent_death();
	test_cgroup();
	return done_testing();
}
