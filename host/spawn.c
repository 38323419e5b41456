/* Start-up of a child in new namespaces (see spawn.h). */
#include "host/spawn.h"

#include "common/log.h"
#include "host/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWN_STACK	  (256 * 1024)
#define SPAWN_LIFT_FD	  16
#define SPAWN_SCAN_FD_MAX 65536 /* how far spawn_cloexec_from looks without close_range */

/* The child's copy of this (on the parent's stack when clone() ran). */
struct spawn_child {
	const struct spawn_config *cfg;
	int sync_fd; /* one byte once the child is in its cgroup; a hang-up if the parent died */
	int err_fd;  /* a struct spawn_err on failure; end of file once the program runs */
	int sync_peer_fd;	  /* the parent's ends of both channels: closed at once in the */
	int err_peer_fd;	  /* child, or the hang-up above could never come */
	int cg_fds[CGROUP_NCTRL]; /* cgroup_open_join(): the child joins by itself */
	int ncg;
	int joined;
};

struct spawn_err {
	int err;
	char what[SPAWN_WHAT_MAX];
};

void spawn_fail(struct spawn_child *sc, int err, const char *fmt, ...)
{
	struct spawn_err e = { .err = err };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.what, sizeof(e.what), fmt, ap);
	va_end(ap);
	if (write(sc->err_fd, &e, sizeof(e)) < 0) {
		/* nothing more to do: the parent sees a short read */
	}
	_exit(SPAWN_CHILD_FAILED);
}

int spawn_lift(struct spawn_child *sc, int fd)
{
	int n;

	if (fd < 0)
		return -1;
	n = fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_LIFT_FD);
	if (n < 0)
		spawn_fail(sc, errno, "dup");
	return n;
}

void spawn_cloexec_from(int low)
{
	struct rlimit rl;
	int max = SPAWN_SCAN_FD_MAX;

	if (syscall(SYS_close_range, (unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	/* Older kernels: one fd at a time (EBADF for those not open). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (int fd = low; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void spawn_mount(struct spawn_child *sc, const char *src, const char *dst, const char *type,
		 unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		spawn_fail(sc, errno, "mount %s on %s", type ? type : (src ? src : "(remount)"),
			   dst);
}

void spawn_pivot_here(struct spawn_child *sc)
{
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		spawn_fail(sc, errno, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		spawn_fail(sc, errno, "detach the old root");
	if (chdir("/") < 0)
		spawn_fail(sc, errno, "chdir /");
}

void spawn_join_cgroup(struct spawn_child *sc)
{
	int r;

	if (sc->joined)
		return;
	/* As a single thread (see cgroup_open_join). */
	r = cgroup_join_self(sc->cg_fds, sc->ncg);
	if (r < 0)
		spawn_fail(sc, -r, "join its cgroup");
	for (int i = 0; i < sc->ncg; i++)
		close(sc->cg_fds[i]);
	sc->joined = 1;
}

void spawn_exec(struct spawn_child *sc, int fd, const char *path, char *const argv[],
		char *const envp[], const char *what)
{
	spawn_join_cgroup(sc);
	if (!sc->cfg->detached) {
		struct pollfd p = { .fd = sc->sync_fd, .events = POLLIN };

		/* Set again (setuid and the like clear it), then make sure the
		 * parent did not die before: it holds the other end of sync_fd
		 * open until the program runs, and sends nothing more. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			spawn_fail(sc, errno, "parent-death signal");
		if (poll(&p, 1, 0) != 0)
			_exit(SPAWN_CHILD_FAILED);
	}
	if (fd >= 0)
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
	else
		execve(path, argv, envp);
	spawn_fail(sc, errno, "execute %s", what);
}

static int spawn_child_main(void *arg)
{
	struct spawn_child *sc = arg;
	char b;
	int fd;

	/* Die with the process that made us; if it is gone already, the read
	 * below sees end of file. */
	if (!sc->cfg->detached && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(SPAWN_CHILD_FAILED);
	/* This copy of the parent's fd table holds the parent's ends too:
	 * without closing them, a parent killed now would leave this child
	 * blocked below forever, holding every fd the parent had. */
	close(sc->sync_peer_fd);
	close(sc->err_peer_fd);
	if (!sc->cfg->join_late)
		spawn_join_cgroup(sc);
	if (read(sc->sync_fd, &b, 1) != 1)
		_exit(SPAWN_CHILD_FAILED);
	/* Out of the way of the fds child_main puts at 0, 1, 2, ... */
	fd = spawn_lift(sc, sc->err_fd);
	close(sc->err_fd);
	sc->err_fd = fd;
	fd = spawn_lift(sc, sc->sync_fd);
	close(sc->sync_fd);
	sc->sync_fd = fd;
	sc->cfg->child_main(sc, sc->cfg->arg);
	spawn_fail(sc, EINVAL, "set-up ended without executing anything");
}

/* Wait (bounded) for the child's verdict: end of file on the error pipe
 * means the program was executed. */
static int spawn_await(const struct spawn_config *cfg, int err_fd)
{
	int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : SPAWN_DEFAULT_TIMEOUT_MS;
	struct pollfd p = { .fd = err_fd, .events = POLLIN };
	struct spawn_err e;
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, timeout);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		log_err("%s: waiting for the set-up: %s", cfg->who, strerror(errno));
		return r;
	}
	if (r == 0) {
		if (timeout % 1000 == 0)
			log_err("%s: set-up did not finish in %d s", cfg->who, timeout / 1000);
		else
			log_err("%s: set-up did not finish in %d ms", cfg->who, timeout);
		return -ETIMEDOUT;
	}
	do
		n = read(err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(e)) {
		log_err("%s: set-up died without a word", cfg->who);
		return -EIO;
	}
	e.what[sizeof(e.what) - 1] = '\0';
	log_err("%s: %s: %s", cfg->who, e.what, strerror(e.err));
	return e.err > 0 ? -e.err : -EIO;
}

int spawn_start(const struct spawn_config *cfg, pid_t *pid, int *pidfd)
{
	struct spawn_child sc = { .cfg = cfg };
	int sync[2] = { -1, -1 }, err[2] = { -1, -1 };
	void *stack = MAP_FAILED;
	int fd = -1, r;
	pid_t p;

	*pid = 0;
	*pidfd = -1;
	/* A socket pair, so that a write to a child that died is EPIPE, not SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		log_err("%s: channels to the child: %s", cfg->who, strerror(errno));
		goto out;
	}
	stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		r = -errno;
		log_err("%s: a stack for the child: %s", cfg->who, strerror(errno));
		goto out;
	}
	sc.sync_fd = sync[0];
	sc.sync_peer_fd = sync[1];
	sc.err_fd = err[1];
	sc.err_peer_fd = err[0];
	if (cfg->cg) {
		sc.ncg = cgroup_open_join(cfg->cg, sc.cg_fds);
		if (sc.ncg < 0) {
			r = sc.ncg;
			sc.ncg = 0;
			goto out;
		}
	}
	p = clone(spawn_child_main, (char *)stack + SPAWN_STACK,
		  cfg->ns_flags | CLONE_PIDFD | SIGCHLD, &sc, &fd);
	if (p < 0) {
		r = -errno;
		log_err("%s: clone: %s", cfg->who, strerror(errno));
		goto out;
	}
	close(sync[0]);
	close(err[1]);
	sync[0] = err[1] = -1;
	if (cfg->attached)
		cfg->attached(p, cfg->arg);
	if (send(sync[1], "g", 1, MSG_NOSIGNAL) != 1) {
		r = -errno;
		log_err("%s: the child is gone before its set-up: %s", cfg->who, strerror(errno));
		goto kill;
	}
	r = spawn_await(cfg, err[0]);
	if (r < 0)
		goto kill;
	*pid = p;
	*pidfd = fd;
	fd = -1;
	goto out;
kill:
	syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)fd, &(siginfo_t){ 0 }, WEXITED) < 0 && errno == EINTR)
		;
out:
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < sc.ncg; i++)
		close(sc.cg_fds[i]);
	if (stack != MAP_FAILED)
		munmap(stack, SPAWN_STACK);
	for (int i = 0; i < 2; i++) {
		if (sync[i] >= 0)
			close(sync[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return r;
}
