/* The container backend: the agent as PID 1 of new mount, pid, net, ipc, uts
 * and cgroup namespaces, on an overlay of the read-only image with a
 * size-limited tmpfs on top, in its own cgroups, with a small capability set,
 * no_new_privs and a seccomp deny-list. host/CONTAINER.md describes what the
 * agent finds inside and why each wall is there. */
#include "host/backend.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/cgroup.h"
#include "host/egress/egress.h"
#include "host/sandbox_caps.h"
#include "host/sandbox_seccomp.h"
#include "host/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The fd on which the agent finds its listening socket (--listen-fd). */
#define CONTAINER_LISTEN_FD	3
#define CONTAINER_HOSTNAME	"agentvm"
#define CONTAINER_SETUP_TIMEOUT 30000 /* ms */

struct container {
	char name[BACKEND_NAME_MAX + 1];
	char dir[200];	/* state directory on the host */
	char sock[230]; /* the agent's listening socket, bound in dir */
	char log[230];	/* PID 1's output, unless the caller gave its own fd */
	pid_t pid;
	int pidfd;
	struct cgroup *cg;
};

/* What the cloned child needs; it is a copy-on-write copy of the parent and
 * must not allocate (the parent may have other threads holding malloc locks). */
struct container_child {
	const struct backend_config *cfg;
	const struct sock_fprog *prog;
	struct container *c;	/* the parent's (the child reads c->dir only) */
	struct spawn_child *sc; /* set in the child: where its set-up errors go */
	int listen_fd;
	int agent_fd;
	int log_fd;
};

/* A directory to mount on. An image could hold a symlink there, which the
 * mount would follow out of the new root: refuse anything but a directory. */
static void container_mkdir(struct container_child *a, const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		spawn_fail(a->sc, errno, "mkdir %s", path);
	if (lstat(path, &st) < 0)
		spawn_fail(a->sc, errno, "lstat %s", path);
	if (!S_ISDIR(st.st_mode))
		spawn_fail(a->sc, ENOTDIR, "the image's /%s is not a directory", path);
}

/* A read-only view of a path under /proc, when it exists. */
static void container_proc_ro(struct container_child *a, const char *path)
{
	if (access(path, F_OK) < 0)
		return;
	spawn_mount(a->sc, path, path, NULL, MS_BIND | MS_REC, NULL);
	spawn_mount(a->sc, NULL, path, NULL,
		    MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Hide a file (behind /dev/null) or a directory (behind an empty read-only tmpfs). */
static void container_mask(struct container_child *a, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode))
		spawn_mount(a->sc, "tmpfs", path, "tmpfs",
			    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555");
	else
		spawn_mount(a->sc, "dev/null", path, NULL, MS_BIND, NULL);
}

/* /dev: a small tmpfs with the harmless character devices bound from the host,
 * a private devpts instance and a /dev/shm. No devtmpfs: it would show every
 * host device. */
static void container_setup_dev(struct container_child *a)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "pts/ptmx", "dev/ptmx" },	     { "/proc/self/fd", "dev/fd" },
		{ "/proc/self/fd/0", "dev/stdin" },  { "/proc/self/fd/1", "dev/stdout" },
		{ "/proc/self/fd/2", "dev/stderr" },
	};
	char src[64], dst[64], opts[64];

	container_mkdir(a, "dev", 0755);
	spawn_mount(a->sc, "tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=512k");
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		int fd;
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		snprintf(dst, sizeof(dst), "dev/%s", nodes[i]);
		fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			spawn_fail(a->sc, errno, "create %s", dst);
		close(fd);
		spawn_mount(a->sc, src, dst, NULL, MS_BIND, NULL);
	}
	container_mkdir(a, "dev/pts", 0755);
	spawn_mount(a->sc, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		    "newinstance,ptmxmode=0666,mode=0620");
	container_mkdir(a, "dev/shm", 01777);
	snprintf(opts, sizeof(opts), "mode=1777,size=%llu",
		 (unsigned long long)(a->cfg->limits.mem_bytes / 2));
	spawn_mount(a->sc, "shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts);
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			spawn_fail(a->sc, errno, "symlink %s", links[i][1]);
}

/* /proc of the new pid namespace, with the host-wide knobs made read-only or
 * hidden: root in the sandbox is uid 0 of the host, and file modes alone guard
 * /proc/sys and /proc/sysrq-trigger. */
static void container_setup_proc_sys(struct container_child *a)
{
	static const char *const ro[] = { "proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus",
					  "proc/fs" };
	static const char *const masked[] = { "proc/kcore",	  "proc/keys",	 "proc/timer_list",
					      "proc/sched_debug", "proc/kmsg",	 "proc/acpi",
					      "proc/scsi",	  "proc/driver", "sys/firmware" };

	container_mkdir(a, "proc", 0555);
	spawn_mount(a->sc, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	container_mkdir(a, "sys", 0555);
	spawn_mount(a->sc, "sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    NULL);
	for (size_t i = 0; i < ARRAY_SIZE(ro); i++)
		container_proc_ro(a, ro[i]);
	for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
		container_mask(a, masked[i]);
}

/* Egress: the host's socket for this sandbox, bound where the agent looks
 * for it (EGRESS_SANDBOX_SOCK). Called in the new root, before pivot_root. */
static void container_setup_egress(struct container_child *a)
{
	const char *dst = EGRESS_SANDBOX_SOCK + 1; /* relative to the new root */
	int fd;

	container_mkdir(a, "run", 0755);
	container_mkdir(a, "run/agentvm", 0755);
	fd = open(dst, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		spawn_fail(a->sc, errno, "create %s", dst);
	close(fd);
	spawn_mount(a->sc, a->cfg->egress_sock, dst, NULL, MS_BIND, NULL);
}

static void container_lo_up(struct container_child *a)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		spawn_fail(a->sc, errno, "socket for lo");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		spawn_fail(a->sc, errno, "get lo flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		spawn_fail(a->sc, errno, "bring lo up");
	close(s);
}

static void container_setup_fds(struct container_child *a)
{
	int listen_fd = spawn_lift(a->sc, a->listen_fd);
	int log_fd = spawn_lift(a->sc, a->log_fd);
	int null_fd;

	a->agent_fd = spawn_lift(a->sc, a->agent_fd);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0)
		spawn_fail(a->sc, errno, "open /dev/null");
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 ||
	    dup2(listen_fd, CONTAINER_LISTEN_FD) < 0)
		spawn_fail(a->sc, errno, "dup2");
	/* Everything else closes on exec (the error pipe and the agent's fd included). */
	spawn_cloexec_from(CONTAINER_LISTEN_FD + 1);
}

/* In the child, in the sandbox's cgroups and new namespaces (spawn.h). */
static void container_child_main(struct spawn_child *sc, void *arg)
{
	struct container_child *a = arg;
	const struct backend_config *cfg = a->cfg;
	char path[256], opts[128];
	char fdstr[16];
	char *const env[] = { "container=agentvm",
			      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			      getenv("AGENTVM_DEBUG") ? "AGENTVM_DEBUG=1" : NULL, NULL };
	const char *default_argv[] = { "agentvm-agent",
				       "--listen-fd",
				       fdstr,
				       cfg->egress_sock ? "--egress" : NULL,
				       "unix:" EGRESS_SANDBOX_SOCK,
				       NULL };
	const char *const *argv = cfg->init_argv ? cfg->init_argv : default_argv;
	int r;

	a->sc = sc;
	/* Now in the sandbox's cgroups: make them the root of its cgroup namespace. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		spawn_fail(a->sc, errno, "unshare the cgroup namespace");
	spawn_mount(a->sc, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

	/* The writable layer: a tmpfs visible only in this mount namespace. */
	if ((size_t)snprintf(path, sizeof(path), "%s/fs", a->c->dir) >= sizeof(path))
		spawn_fail(a->sc, ENAMETOOLONG, "state directory");
	snprintf(opts, sizeof(opts), "size=%llu,mode=0755",
		 (unsigned long long)cfg->limits.disk_bytes);
	spawn_mount(a->sc, "agentvm", path, "tmpfs", MS_NOSUID | MS_NODEV, opts);
	if (chdir(path) < 0)
		spawn_fail(a->sc, errno, "chdir %s", path);
	container_mkdir(a, "upper", 0755);
	container_mkdir(a, "work", 0700);
	container_mkdir(a, "lower", 0755);
	container_mkdir(a, "root", 0755);
	/* A read-only bind of the image keeps odd characters of its path out of
	 * the overlay's option string. */
	spawn_mount(a->sc, cfg->rootfs, "lower", NULL, MS_BIND, NULL);
	spawn_mount(a->sc, NULL, "lower", NULL,
		    MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
	spawn_mount(a->sc, "overlay", "root", "overlay", MS_NOSUID | MS_NODEV,
		    "lowerdir=lower,upperdir=upper,workdir=work");
	if (chdir("root") < 0)
		spawn_fail(a->sc, errno, "chdir root");
	container_setup_dev(a);
	container_setup_proc_sys(a);
	container_mkdir(a, "tmp", 01777);
	if (cfg->egress_sock)
		container_setup_egress(a);

	spawn_pivot_here(a->sc);

	if (sethostname(CONTAINER_HOSTNAME, strlen(CONTAINER_HOSTNAME)) < 0)
		spawn_fail(a->sc, errno, "sethostname");
	container_lo_up(a);
	if (setsid() < 0)
		spawn_fail(a->sc, errno, "setsid");
	container_setup_fds(a);
	snprintf(fdstr, sizeof(fdstr), "%d", CONTAINER_LISTEN_FD);

	r = sandbox_caps_drop();
	if (r < 0)
		spawn_fail(a->sc, -r, "drop capabilities");
	r = sandbox_seccomp_apply(a->prog);
	if (r < 0)
		spawn_fail(a->sc, -r, "install the seccomp filter");
	spawn_exec(sc, a->agent_fd >= 0 && !cfg->init_argv ? a->agent_fd : -1,
		   cfg->init_argv ? argv[0] : "/sbin/init", (char *const *)argv, env,
		   cfg->init_argv ? argv[0] : (cfg->agent_path ? cfg->agent_path : "/sbin/init"));
}

static int container_listen(struct container *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(c->sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, c->sock, strlen(c->sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(c->sock);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(c->sock, 0600) < 0 ||
	    listen(fd, 64) < 0)
		return -errno;
	return take_fd(&fd);
}

/* A sealed in-memory copy of the agent, so that PID 1's /proc/1/exe leads to
 * no file of the host (a sandbox could otherwise open the host's binary
 * through it). */
static int container_agent_memfd(const char *path)
{
	_cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int mfd = -1;
	struct stat st;
	off_t off = 0;

	if (in < 0 || fstat(in, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	mfd = memfd_create("agentvm-agent", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	while (off < st.st_size) {
		ssize_t n = sendfile(mfd, in, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	if (fchmod(mfd, 0555) < 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return -errno;
	return take_fd(&mfd);
}

static void container_reap(struct container *c, int kill_it)
{
	siginfo_t si;

	if (c->pidfd < 0)
		return;
	if (kill_it)
		syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	memset(&si, 0, sizeof(si));
	int w;
	while ((w = waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED)) < 0 && errno == EINTR)
		;
	if (w < 0 && errno == ECHILD) {
		/* Adopted: not our child; its pidfd turns readable once it is gone. */
		struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
		while (poll(&p, 1, 2000) < 0 && errno == EINTR)
			;
	}
	close(c->pidfd);
	c->pidfd = -1;
}

/* The start time of pid (field 22 of /proc/<pid>/stat), or 0 if it is gone
 * (a zombie counts as gone: nothing of it runs). */
static unsigned long long container_starttime(pid_t pid)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	unsigned long long t = 0;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* After ") " come fields 3, 4, ...; the start time is field 22. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &t);
	return t;
}

/* Record PID 1 (and its start time, against pid reuse) for container_gc. */
static void container_write_pid(struct container *c)
{
	char path[300], tmp[310];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pid", c->dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d %llu\n", (int)c->pid, container_starttime(c->pid));
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

/* Remove the traces of the sandbox whose state is in dir. */
static void container_remove_state(const char *dir)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/agent.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pid", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fs", dir);
	rmdir(path);
	rmdir(dir);
}

/* Sandboxes whose PID 1 is gone without its owner cleaning up (the owner was
 * SIGKILLed): remove their state directories and cgroups. Only directories
 * with our "pid" file are touched. */
static void container_gc(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char dir[512], path[600];
		unsigned long long start = 0;
		int pid = 0;
		FILE *f;

		if (!backend_name_valid(e->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		snprintf(path, sizeof(path), "%s/pid", dir);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%d %llu", &pid, &start) != 2)
			pid = 0;
		fclose(f);
		if (pid <= 0)
			continue;
		if (start && container_starttime(pid) == start)
			continue;
		if (!start && (kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		log_info("sandbox %s: removing what a dead run left behind", e->d_name);
		cgroup_remove_stale(e->d_name);
		container_remove_state(dir);
	}
	if (d)
		closedir(d);
}

static void container_destroy(void *priv)
{
	struct container *c = priv;

	if (!c)
		return;
	container_reap(c, 1);
	if (c->cg) {
		cgroup_kill(c->cg);
		cgroup_free(c->cg);
	}
	if (c->dir[0]) {
		container_remove_state(c->dir);
		if (access(c->dir, F_OK) == 0)
			log_warn("sandbox %s: cannot remove %s", c->name, c->dir);
	}
	free(c);
}

/* In the parent, once PID 1 is in the sandbox's cgroups and before it runs. */
static void container_attached(pid_t pid, void *arg)
{
	struct container_child *a = arg;

	a->c->pid = pid;
	container_write_pid(a->c);
}

static int container_create(const struct backend_config *cfg, void **priv)
{
	struct container *c;
	struct container_child a = { .cfg = cfg };
	struct sock_fprog prog = { 0 };
	struct cgroup_limits lim = { .mem_bytes = cfg->limits.mem_bytes,
				     .pids_max = cfg->limits.pids_max,
				     .cpu_millis = cfg->limits.cpu_millis };
	_cleanup_close_ int listen_fd = -1, agent_fd = -1, log_fd = -1;
	struct spawn_config sp = {
		.ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
		.detached = cfg->detached,
		.timeout_ms = CONTAINER_SETUP_TIMEOUT,
		.child_main = container_child_main,
		.attached = container_attached,
		.arg = &a,
	};
	char root[128], path[256], who[BACKEND_NAME_MAX + 16];
	struct stat st, root_st;
	int r;

	*priv = NULL;
	if (stat("/", &root_st) < 0)
		return -errno;
	if (!cfg->rootfs || stat(cfg->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("sandbox %s: the image root %s is not a directory", cfg->name,
			cfg->rootfs ? cfg->rootfs : "(none)");
		return -ENOTDIR;
	}
	if (st.st_ino == root_st.st_ino && st.st_dev == root_st.st_dev) {
		log_err("sandbox %s: refusing the host's own root directory as an image",
			cfg->name);
		return -EINVAL;
	}
	if (geteuid() != 0) {
		log_err("sandbox %s: the container backend needs root (namespaces, mounts, "
			"cgroups)",
			cfg->name);
		return -EPERM;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pidfd = -1;
	snprintf(c->name, sizeof(c->name), "%s", cfg->name);
	r = backend_state_root(root, sizeof(root));
	if (r < 0)
		goto fail;
	container_gc(root);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", root, cfg->name);
	if (mkdir(c->dir, 0700) < 0) {
		r = -errno;
		log_err("sandbox %s: %s: %s", cfg->name, c->dir,
			r == -EEXIST ? "a sandbox of that name exists" : strerror(errno));
		c->dir[0] = '\0';
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/fs", c->dir);
	if (mkdir(path, 0700) < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(c->sock, sizeof(c->sock), "%s/agent.sock", c->dir);
	listen_fd = container_listen(c);
	if (listen_fd < 0) {
		r = listen_fd;
		log_err("sandbox %s: listening socket %s: %s", cfg->name, c->sock, strerror(-r));
		goto fail;
	}
	if (cfg->agent_path && !cfg->init_argv) {
		agent_fd = container_agent_memfd(cfg->agent_path);
		if (agent_fd < 0) {
			r = agent_fd;
			log_err("sandbox %s: agent %s: %s", cfg->name, cfg->agent_path,
				strerror(-r));
			goto fail;
		}
	}
	if (cfg->log_fd >= 0) {
		log_fd = fcntl(cfg->log_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		snprintf(c->log, sizeof(c->log), "%s/agent.log", c->dir);
		log_fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (log_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = cgroup_new(cfg->name, &lim, &c->cg);
	if (r < 0)
		goto fail;
	r = sandbox_seccomp_compile(&prog);
	if (r < 0) {
		log_err("sandbox %s: compiling the seccomp filter: %s", cfg->name, strerror(-r));
		goto fail;
	}
	a.prog = &prog;
	a.c = c;
	a.listen_fd = listen_fd;
	a.agent_fd = agent_fd;
	a.log_fd = log_fd;
	snprintf(who, sizeof(who), "sandbox %s", c->name);
	sp.who = who;
	sp.cg = c->cg;
	r = spawn_start(&sp, &c->pid, &c->pidfd);
	if (r < 0)
		goto fail;
	log_debug("sandbox %s: agent started as pid %d (state in %s)", c->name, (int)c->pid,
		  c->dir);
	*priv = c;
	r = 0;
	c = NULL;
fail:
	sandbox_seccomp_prog_free(&prog);
	container_destroy(c);
	return r;
}

static int container_connect(void *priv, int *out)
{
	struct container *c = priv;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, c->sock, strlen(c->sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		log_err("sandbox %s: connect to the agent: %s", c->name, strerror(errno));
		return r;
	}
	*out = take_fd(&fd);
	return 0;
}

static const char *container_log_path(void *priv)
{
	struct container *c = priv;

	return c->log[0] ? c->log : NULL;
}

static int container_exit_fd(void *priv)
{
	return ((struct container *)priv)->pidfd;
}

/* The pid file of the sandbox in dir: 0 and PID 1 if it still runs. */
static int container_live_pid(const char *dir, pid_t *pid)
{
	char path[600];
	unsigned long long start = 0;
	int p = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pid", dir);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	n = fscanf(f, "%d %llu", &p, &start);
	fclose(f);
	if (n != 2 || p <= 0 || !start || container_starttime(p) != start)
		return -ESRCH;
	*pid = p;
	return 0;
}

static int container_adopt(const char *name, void **priv)
{
	struct container *c;
	char root[128];
	pid_t pid;
	int r;

	*priv = NULL;
	r = backend_state_root(root, sizeof(root));
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pidfd = -1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", root, name);
	snprintf(c->sock, sizeof(c->sock), "%s/agent.sock", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/agent.log", c->dir);
	if (access(c->log, F_OK) < 0)
		c->log[0] = '\0';
	r = container_live_pid(c->dir, &pid);
	if (r == 0) {
		pid_t again = 0;
		c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		/* Checked again once held: the pid cannot be reused under a pidfd. */
		if (c->pidfd < 0)
			r = -errno;
		else if (container_live_pid(c->dir, &again) < 0 || again != pid)
			r = -ESRCH;
	}
	if (r < 0) {
		if (c->pidfd >= 0)
			close(c->pidfd);
		free(c);
		return r;
	}
	c->pid = pid;
	if (cgroup_open(name, &c->cg) < 0)
		c->cg = NULL;
	*priv = c;
	return 0;
}

static void container_remove_stale(const char *name)
{
	char root[128], dir[256];
	pid_t pid;

	if (!backend_name_valid(name) || backend_state_root(root, sizeof(root)) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	if (container_live_pid(dir, &pid) == 0)
		kill(pid, SIGKILL);
	cgroup_remove_stale(name);
	container_remove_state(dir);
}

static void container_release(void *priv)
{
	struct container *c = priv;

	if (!c)
		return;
	if (c->pidfd >= 0)
		close(c->pidfd);
	cgroup_release(c->cg);
	free(c);
}

static int container_pid(void *priv)
{
	return (int)((struct container *)priv)->pid;
}

static int container_probe(char *why, size_t len)
{
	struct cgroup_place pl;

	if (geteuid() != 0) {
		snprintf(why, len, "needs root (namespaces, overlayfs, cgroups)");
		return -EPERM;
	}
	for (int c = 0; c < CGROUP_NCTRL; c++) {
		if (cgroup_locate(c, &pl) < 0) {
			snprintf(why, len, "the %s cgroup controller is not available",
				 cgroup_ctrl_name(c));
			return -ENOTSUP;
		}
	}
	snprintf(why, len, "namespaces, overlayfs, cgroups, seccomp (%d denied syscalls)",
		 sandbox_seccomp_count());
	return 0;
}

const struct backend_ops backend_container_ops = {
	.name = "container",
	.probe = container_probe,
	.create = container_create,
	.connect = container_connect,
	.exit_fd = container_exit_fd,
	.destroy = container_destroy,
	.log_path = container_log_path,
	.adopt = container_adopt,
	.remove_stale = container_remove_stale,
	.pid = container_pid,
	.release = container_release,
};
