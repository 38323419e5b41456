/* The VMM's jail (see jail.h and docs/JAIL.md). The parent prepares
 * everything that allocates; the cloned child only makes syscalls, since
 * the parent may have other threads holding malloc's locks. */
#include "host/jail.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/spawn.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define JAIL_HOSTNAME	   "agentvm-vmm"
#define JAIL_PVM_MARKER	   "/sys/module/kvm_pvm" /* agentvm-vmm looks for it */
#define JAIL_SETUP_TIMEOUT 10000		 /* ms */
#define JAIL_DEFAULT_NPROC 256
#define JAIL_MAX_ARGS	   256
#define JAIL_ROOT_TMPFS	   "size=256k,nr_inodes=512,mode=0755"
#define JAIL_DEV_TMPFS	   "size=16k,nr_inodes=16,mode=0755"

struct jail {
	char name[64];
	char dir[PATH_MAX];
	char root[PATH_MAX + 8];
	char run[PATH_MAX + 8];
	int made_dir, made_root, made_run;
	pid_t pid;
	int pidfd;
	int reaped;
	uid_t uid;
	gid_t gid;
	int uid_lock_fd;
	struct cgroup *cg;
};

/* What the child needs, prepared by the parent. */
struct jail_child {
	const struct jail_config *cfg;
	const struct jail *j;
	char *const *argv;
	char *const *envp;
	struct spawn_child *sc; /* set in the child: where its set-up errors go */
	int vmm_fd;
	int pvm;			      /* the host has JAIL_PVM_MARKER */
	unsigned char is_dir[JAIL_MAX_BINDS]; /* what each bind's host side is */
};

static void jail_mkdir(struct jail_child *a, const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		spawn_fail(a->sc, errno, "mkdir %s", path);
}

/* Create rel (relative to the jail root, directories on the way) as a
 * mount point: a directory, or an empty file. */
static void jail_mount_point(struct jail_child *a, const char *rel, int is_dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(rel);
	int fd;

	if (n >= sizeof(buf))
		spawn_fail(a->sc, ENAMETOOLONG, "%s", rel);
	memcpy(buf, rel, n + 1);
	for (char *p = buf; (p = strchr(p, '/')); p++) {
		*p = '\0';
		jail_mkdir(a, buf);
		*p = '/';
	}
	if (is_dir) {
		jail_mkdir(a, buf);
		return;
	}
	fd = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		spawn_fail(a->sc, errno, "create %s", buf);
	close(fd);
}

/* Bind src on dst, read-only unless writable; never devices, setuid or exec. */
static void jail_bind_mount(struct jail_child *a, const char *src, const char *dst, int writable)
{
	spawn_mount(a->sc, src, dst, NULL, MS_BIND, NULL);
	spawn_mount(a->sc, NULL, dst, NULL,
		    MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC |
			    (writable ? 0 : MS_RDONLY),
		    NULL);
}

/* /dev: its own small tmpfs (the root is nodev) holding /dev/kvm, owned by
 * the jail's uid, and /dev/null; read-only once made. */
static void jail_setup_dev(struct jail_child *a)
{
	jail_mkdir(a, "dev");
	spawn_mount(a->sc, "agentvm-jail-dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
		    JAIL_DEV_TMPFS);
	if (mknod("dev/kvm", S_IFCHR | 0600, makedev(10, 232)) < 0)
		spawn_fail(a->sc, errno, "mknod /dev/kvm");
	if (chown("dev/kvm", a->j->uid, a->j->gid) < 0)
		spawn_fail(a->sc, errno, "chown /dev/kvm");
	if (mknod("dev/null", S_IFCHR | 0666, makedev(1, 3)) < 0 || chmod("dev/null", 0666) < 0)
		spawn_fail(a->sc, errno, "mknod /dev/null");
	spawn_mount(a->sc, NULL, "dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
}

static void jail_setup_root(struct jail_child *a)
{
	const struct jail_config *cfg = a->cfg;

	/* Nothing we mount propagates back to the host. */
	spawn_mount(a->sc, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	spawn_mount(a->sc, "agentvm-jail", a->j->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		    JAIL_ROOT_TMPFS);
	if (chdir(a->j->root) < 0)
		spawn_fail(a->sc, errno, "chdir %s", a->j->root);
	jail_setup_dev(a);
	jail_mkdir(a, "run");
	jail_bind_mount(a, a->j->run, "run", 1);
	for (int i = 0; i < cfg->nbinds; i++) {
		const char *rel = cfg->binds[i].path + 1;
		jail_mount_point(a, rel, a->is_dir[i]);
		jail_bind_mount(a, cfg->binds[i].host, rel, cfg->binds[i].writable);
	}
	/* agentvm-vmm adapts a Linux guest's command line when this exists. */
	if (a->pvm)
		jail_mount_point(a, JAIL_PVM_MARKER + 1, 1);
	spawn_mount(a->sc, NULL, ".", NULL,
		    MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	spawn_pivot_here(a->sc);
}

static void jail_setup_fds(struct jail_child *a)
{
	const struct jail_config *cfg = a->cfg;
	int fds[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd };
	int null_fd = -1;

	int lock_fd = spawn_lift(a->sc, a->j->uid_lock_fd);

	a->vmm_fd = spawn_lift(a->sc, a->vmm_fd);
	for (int i = 0; i < 3; i++)
		fds[i] = spawn_lift(a->sc, fds[i]);
	for (int i = 0; i < 3; i++) {
		if (fds[i] < 0) {
			if (null_fd < 0)
				null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (null_fd < 0)
				spawn_fail(a->sc, errno, "open /dev/null");
			fds[i] = null_fd;
		}
		if (dup2(fds[i], i) < 0)
			spawn_fail(a->sc, errno, "dup2");
	}
	/* Everything else closes on exec: the VMM starts with 0, 1 and 2, and
	 * 3, the uid's lock (read-only, the same open file as ours): the uid
	 * stays taken while the VMM lives, even if the daemon is killed. */
	spawn_cloexec_from(3);
	if (lock_fd >= 0 && dup2(lock_fd, 3) < 0)
		spawn_fail(a->sc, errno, "dup2 the uid lock");
}

static void jail_setrlimit(struct jail_child *a, int res, uint64_t v, const char *what)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v };

	if (setrlimit(res, &rl) < 0)
		spawn_fail(a->sc, errno, "setrlimit %s", what);
}

static void jail_setup_rlimits(struct jail_child *a)
{
	const struct jail_config *cfg = a->cfg;
	uint64_t nproc =
		cfg->nproc ? cfg->nproc
			   : (cfg->limits.pids_max ? cfg->limits.pids_max : JAIL_DEFAULT_NPROC);

	jail_setrlimit(a, RLIMIT_NOFILE, cfg->nofile ? cfg->nofile : JAIL_DEFAULT_NOFILE, "nofile");
	if (cfg->fsize)
		jail_setrlimit(a, RLIMIT_FSIZE, cfg->fsize, "fsize");
	jail_setrlimit(a, RLIMIT_NPROC, nproc, "nproc");
	/* A core dump would hold guest memory. */
	jail_setrlimit(a, RLIMIT_CORE, 0, "core");
}

/* The jail's uid and gid, no supplementary groups, and no capability in any
 * set: bounding, ambient, permitted, effective, inheritable. Raw system calls:
 * glibc's wrappers would apply the change to every thread it believes the
 * process has, and a child cloned from a many-threaded daemon inherits that
 * list (and possibly its lock, held by another thread at the clone). */
static void jail_drop_privileges(struct jail_child *a)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (syscall(SYS_setgroups, 0, NULL) < 0)
		spawn_fail(a->sc, errno, "setgroups");
	if (syscall(SYS_setresgid, a->j->gid, a->j->gid, a->j->gid) < 0)
		spawn_fail(a->sc, errno, "setresgid %u", (unsigned)a->j->gid);
	/* The running kernel may know more capabilities than our headers. */
	for (int c = 0; c < 64; c++) {
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL && c > 0)
				break;
			spawn_fail(a->sc, errno, "drop capability %d from the bounding set", c);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		spawn_fail(a->sc, errno, "clear the ambient capabilities");
	if (syscall(SYS_setresuid, a->j->uid, a->j->uid, a->j->uid) < 0)
		spawn_fail(a->sc, errno, "setresuid %u", (unsigned)a->j->uid);
	if (syscall(SYS_capset, &hdr, data) < 0)
		spawn_fail(a->sc, errno, "capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		spawn_fail(a->sc, errno, "no_new_privs");
}

/* In the child, in the jail's cgroup and namespaces (spawn.h). */
static void jail_child_main(struct spawn_child *sc, void *arg)
{
	struct jail_child *a = arg;

	a->sc = sc;
	umask(022); /* for the directories of the jail's root */
	jail_setup_root(a);
	if (sethostname(JAIL_HOSTNAME, strlen(JAIL_HOSTNAME)) < 0)
		spawn_fail(a->sc, errno, "sethostname");
	if (setsid() < 0)
		spawn_fail(a->sc, errno, "setsid");
	jail_setup_fds(a);
	umask(077); /* what the VMM creates in /run is its own */
	jail_setup_rlimits(a);
	/* The set-up above ran outside the VM's limits; the VMM runs inside. */
	spawn_join_cgroup(sc);
	jail_drop_privileges(a);
	/* The change of credentials cleared the parent-death signal: spawn_exec
	 * sets it again and checks that the parent still lives. */
	spawn_exec(sc, a->vmm_fd, NULL, a->argv, a->envp, a->cfg->vmm_path);
}

int jail_path_ok(const char *path)
{
	static const char *const reserved[] = { "dev", "run", "sys", "proc" };
	size_t n = path ? strlen(path) : 0;
	const char *p;

	if (n < 2 || n > 200 || path[0] != '/' || path[n - 1] == '/')
		return 0;
	for (p = path + 1; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		for (size_t i = 0; i < len; i++) {
			char c = p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
			      c == '+'))
				return 0;
		}
		if (p == path + 1)
			for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
				if (len == strlen(reserved[i]) && memcmp(p, reserved[i], len) == 0)
					return 0;
		p += len;
		if (*p == '/')
			p++;
	}
	return 1;
}

int jail_elf_is_static(int fd)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
		return -ENOEXEC;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 512)
		return -ENOEXEC;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		off_t off = (off_t)eh.e_phoff + (off_t)i * (off_t)sizeof(ph);
		if (eh.e_phoff > (uint64_t)INT64_MAX / 2 ||
		    pread(fd, &ph, sizeof(ph), off) != (ssize_t)sizeof(ph))
			return -ENOEXEC;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1;
}

static int jail_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 63 || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Is uid an account of the host (in its user database)? */
static int jail_uid_is_account(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	return getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res;
}

/* The first uid of the range that no other jail holds (a lock file in
 * JAIL_UID_LOCK_DIR, flock'ed while the jail lives) and no account uses. */
static int jail_pick_uid(const struct jail_config *cfg, struct jail *j)
{
	uid_t base = cfg->uid_base ? cfg->uid_base : JAIL_UID_BASE;
	unsigned int count = cfg->uid_count ? cfg->uid_count : JAIL_UID_COUNT;
	char path[128];

	if (cfg->uid) {
		j->uid = cfg->uid;
		j->gid = cfg->gid ? cfg->gid : (gid_t)cfg->uid;
		return 0;
	}
	if (mkdir(JAIL_UID_LOCK_DIR, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		log_err("jail %s: %s: %s", j->name, JAIL_UID_LOCK_DIR, strerror(errno));
		return r;
	}
	for (unsigned int i = 0; i < count; i++) {
		uid_t uid = base + i;
		int fd;

		if (uid == 0 || uid == (uid_t)-1)
			continue;
		snprintf(path, sizeof(path), "%s/%u", JAIL_UID_LOCK_DIR, (unsigned)uid);
		/* Read-only: the VMM inherits this lock (jail_setup_fds). */
		fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			continue;
		/* The lock first: the user database (NSS) is asked only about
		 * the one free uid, not about every jail's. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !jail_uid_is_account(uid)) {
			j->uid = uid;
			j->gid = (gid_t)uid;
			j->uid_lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	log_err("jail %s: every uid from %u to %u is taken", j->name, (unsigned)base,
		(unsigned)(base + count - 1));
	return -EAGAIN;
}

/* Check the configuration; fills is_dir for the binds. Logs why not. */
static int jail_check(const struct jail_config *cfg, unsigned char *is_dir)
{
	const char *name = cfg->name;
	struct stat st;

	if (!jail_name_ok(name)) {
		log_err("jail: '%s' is not a valid name", name ? name : "(null)");
		return -EINVAL;
	}
	if (!cfg->vmm_path || cfg->vmm_path[0] != '/' || !cfg->dir || cfg->dir[0] != '/' ||
	    strlen(cfg->dir) > PATH_MAX - 16 || !cfg->args) {
		log_err("jail %s: needs an absolute VMM path, an absolute directory and arguments",
			name);
		return -EINVAL;
	}
	if (cfg->nbinds < 0 || cfg->nbinds > JAIL_MAX_BINDS) {
		log_err("jail %s: at most %d files can be bound in", name, JAIL_MAX_BINDS);
		return -E2BIG;
	}
	for (int i = 0; i < cfg->nbinds; i++) {
		const struct jail_bind *b = &cfg->binds[i];

		if (!jail_path_ok(b->path)) {
			log_err("jail %s: '%s' cannot be a path in the jail", name,
				b->path ? b->path : "(null)");
			return -EINVAL;
		}
		for (int k = 0; k < i; k++) {
			size_t n = strlen(cfg->binds[k].path);
			if (strncmp(cfg->binds[k].path, b->path, n) == 0 &&
			    (b->path[n] == '\0' || b->path[n] == '/')) {
				log_err("jail %s: %s is bound in twice, or inside %s", name,
					b->path, cfg->binds[k].path);
				return -EINVAL;
			}
		}
		if (!b->host || b->host[0] != '/' || stat(b->host, &st) < 0) {
			int r = b->host && b->host[0] == '/' ? -errno : -EINVAL;
			log_err("jail %s: %s: %s", name, b->host ? b->host : "(null)",
				strerror(-r));
			return r;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			log_err("jail %s: %s is neither a file nor a directory", name, b->host);
			return -EINVAL;
		}
		is_dir[i] = S_ISDIR(st.st_mode);
		if (!b->writable &&
		    (!(st.st_mode & S_IROTH) || (is_dir[i] && !(st.st_mode & S_IXOTH)))) {
			log_err("jail %s: %s (mode %04o) is not readable by others, so not by "
				"the jail's uid",
				name, b->host, (unsigned)(st.st_mode & 07777));
			return -EACCES;
		}
	}
	if (geteuid() != 0) {
		log_err("jail %s: needs root (namespaces, mounts, cgroups, a uid of its own)",
			name);
		return -EPERM;
	}
	return 0;
}

/* Open the VMM and make sure the jail can run it. */
static int jail_open_vmm(const struct jail_config *cfg)
{
	_cleanup_close_ int fd = open(cfg->vmm_path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) {
		r = -errno;
		log_err("jail %s: %s: %s", cfg->name, cfg->vmm_path, strerror(errno));
		return r;
	}
	r = jail_elf_is_static(fd);
	if (r <= 0) {
		log_err("jail %s: %s: %s", cfg->name, cfg->vmm_path,
			r == 0 ? "dynamically linked; the jail holds no libraries (use "
				 "agentvm-vmm-static)"
			       : "not a 64-bit ELF program");
		return r == 0 ? -ENOEXEC : r;
	}
	return take_fd(&fd);
}

static int jail_make_dirs(const struct jail_config *cfg, struct jail *j)
{
	snprintf(j->dir, sizeof(j->dir), "%s", cfg->dir);
	snprintf(j->root, sizeof(j->root), "%s/root", cfg->dir);
	snprintf(j->run, sizeof(j->run), "%s/run", cfg->dir);
	if (mkdir(j->dir, 0700) < 0) {
		int r = -errno;
		log_err("jail %s: %s: %s", j->name, j->dir,
			errno == EEXIST ? "exists already" : strerror(errno));
		return r;
	}
	j->made_dir = 1;
	if (mkdir(j->root, 0755) < 0)
		goto fail;
	j->made_root = 1;
	if (mkdir(j->run, 0700) < 0)
		goto fail;
	j->made_run = 1;
	return 0;
fail:
	log_err("jail %s: mkdir in %s: %s", j->name, j->dir, strerror(errno));
	return -errno;
}

/* Hand the run directory and the writable binds to the jail's uid. */
static int jail_give_files(const struct jail_config *cfg, struct jail *j)
{
	if (chown(j->run, j->uid, j->gid) < 0) {
		int r = -errno;
		log_err("jail %s: chown %s: %s", j->name, j->run, strerror(errno));
		return r;
	}
	for (int i = 0; i < cfg->nbinds; i++) {
		if (!cfg->binds[i].writable)
			continue;
		if (chown(cfg->binds[i].host, j->uid, j->gid) < 0) {
			int r = -errno;
			log_err("jail %s: chown %s: %s", j->name, cfg->binds[i].host,
				strerror(errno));
			return r;
		}
	}
	return 0;
}

int jail_spawn_vmm(const struct jail_config *cfg, struct jail **out)
{
	const char *debug = getenv("AGENTVM_DEBUG");
	char *envp[] = { "PATH=/", debug && *debug && strcmp(debug, "0") ? "AGENTVM_DEBUG=1" : NULL,
			 NULL };
	char *argv[JAIL_MAX_ARGS + 2];
	struct jail_child a = { .cfg = cfg, .argv = argv, .envp = envp };
	struct spawn_config sp = {
		.ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
		.timeout_ms = JAIL_SETUP_TIMEOUT,
		.detached = cfg->detached,
		.join_late = 1,
		.child_main = jail_child_main,
		.arg = &a,
	};
	_cleanup_close_ int vmm_fd = -1;
	char who[80];
	struct jail *j;
	int nargs = 0, r;

	*out = NULL;
	r = jail_check(cfg, a.is_dir);
	if (r < 0)
		return r;
	argv[nargs++] = "agentvm-vmm";
	for (const char *const *p = cfg->args; *p; p++) {
		if (nargs > JAIL_MAX_ARGS) {
			log_err("jail %s: more than %d VMM arguments", cfg->name, JAIL_MAX_ARGS);
			return -E2BIG;
		}
		argv[nargs++] = (char *)*p;
	}
	argv[nargs] = NULL;
	vmm_fd = jail_open_vmm(cfg);
	if (vmm_fd < 0)
		return vmm_fd;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->pidfd = j->uid_lock_fd = -1;
	snprintf(j->name, sizeof(j->name), "%s", cfg->name);
	r = jail_make_dirs(cfg, j);
	if (r < 0)
		goto fail;
	r = jail_pick_uid(cfg, j);
	if (r < 0)
		goto fail;
	r = jail_give_files(cfg, j);
	if (r < 0)
		goto fail;
	r = cgroup_new(cfg->name, &cfg->limits, &j->cg);
	if (r < 0)
		goto fail;
	a.j = j;
	a.vmm_fd = vmm_fd;
	a.pvm = access(JAIL_PVM_MARKER, F_OK) == 0;
	snprintf(who, sizeof(who), "jail %s", j->name);
	sp.who = who;
	sp.cg = j->cg;
	r = spawn_start(&sp, &j->pid, &j->pidfd);
	if (r < 0)
		goto fail;
	log_debug("jail %s: agentvm-vmm is pid %d, uid %u, in %s", j->name, (int)j->pid,
		  (unsigned)j->uid, j->dir);
	*out = j;
	j = NULL;
	r = 0;
fail:
	jail_free(j);
	return r;
}

pid_t jail_pid(const struct jail *j)
{
	return j->pid;
}

int jail_pidfd(const struct jail *j)
{
	return j->pidfd;
}

uid_t jail_uid(const struct jail *j)
{
	return j->uid;
}

const char *jail_run_dir(const struct jail *j)
{
	return j->run;
}

int jail_wait(struct jail *j, int *status)
{
	siginfo_t si;

	if (j->pidfd < 0 || j->reaped)
		return -ECHILD;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, (id_t)j->pidfd, &si, WEXITED) < 0) {
		if (errno == ECHILD) {
			/* An adopted VMM is not our child: its pidfd turns
			 * readable when it ends, its status is its parent's. */
			struct pollfd p = { .fd = j->pidfd, .events = POLLIN };
			while (poll(&p, 1, -1) < 0 && errno == EINTR)
				;
			j->reaped = 1;
			*status = 0;
			return 0;
		}
		if (errno != EINTR)
			return -errno;
	}
	j->reaped = 1;
	if (si.si_code == CLD_EXITED)
		*status = (si.si_status & 0xff) << 8;
	else
		*status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
	return 0;
}

int jail_oom_kills(const struct jail *j, uint64_t *n)
{
	struct cgroup_place pl;
	char path[PATH_MAX], line[128];
	unsigned long long v;
	FILE *f;
	int r = cgroup_locate(CGROUP_MEMORY, &pl);

	if (r < 0)
		return r;
	/* cgroup_new() made it as agentvm/<name> below our own. */
	if ((size_t)snprintf(path, sizeof(path), "%s/agentvm/%s/%s", pl.self_dir, j->name,
			     pl.version == 1 ? "memory.oom_control" : "memory.events") >=
	    sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "oom_kill %llu", &v) == 1) {
			*n = v;
			r = 0;
		}
	fclose(f);
	return r;
}

/* Remove the entries of run (the VMM's sockets and files), then run. */
static int jail_clean_run_dir(const char *run)
{
	DIR *d = opendir(run);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno == EISDIR)
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	if (d)
		closedir(d);
	return rmdir(run) < 0 ? -errno : 0;
}

static void jail_clean_run(struct jail *j)
{
	int r = jail_clean_run_dir(j->run);

	if (r < 0)
		log_warn("jail %s: cannot remove %s: %s", j->name, j->run, strerror(-r));
}

/* When pid started, in clock ticks since boot (field 22 of its stat); 0 if
 * it is gone. */
static unsigned long long jail_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &t);
	return t;
}

unsigned long long jail_vmm_start_time(const struct jail *j)
{
	return jail_start_time(j->pid);
}

int jail_adopt(const char *dir, const char *name, pid_t pid, unsigned long long start_time,
	       uid_t uid, struct jail **out)
{
	struct jail *j;
	struct stat st;
	char path[64];
	int fd;

	*out = NULL;
	if (!jail_name_ok(name) || !dir || dir[0] != '/' || strlen(dir) > PATH_MAX - 8 || pid <= 0)
		return -EINVAL;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* The same process (not a reuse of its pid), still the jail's uid. */
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (jail_start_time(pid) != start_time || stat(path, &st) < 0 || st.st_uid != uid) {
		close(fd);
		return -ESRCH;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	snprintf(j->root, sizeof(j->root), "%s/root", dir);
	snprintf(j->run, sizeof(j->run), "%s/run", dir);
	j->made_dir = j->made_root = j->made_run = 1;
	j->pid = pid;
	j->pidfd = fd;
	j->uid = uid;
	j->gid = (gid_t)uid;
	j->uid_lock_fd = -1; /* the VMM holds it (jail_setup_fds) */
	if (cgroup_open(name, &j->cg) < 0)
		j->cg = NULL;
	*out = j;
	return 0;
}

void jail_release(struct jail *j)
{
	if (!j)
		return;
	if (j->pidfd >= 0)
		close(j->pidfd);
	cgroup_release(j->cg);
	if (j->uid_lock_fd >= 0)
		close(j->uid_lock_fd);
	free(j);
}

void jail_remove_stale(const char *dir, const char *name)
{
	char path[PATH_MAX + 8];

	if (jail_name_ok(name))
		cgroup_remove_stale(name);
	if (!dir || dir[0] != '/' || strlen(dir) > PATH_MAX - 8)
		return;
	snprintf(path, sizeof(path), "%s/run", dir);
	jail_clean_run_dir(path);
	snprintf(path, sizeof(path), "%s/root", dir);
	rmdir(path);
	rmdir(dir);
}

void jail_free(struct jail *j)
{
	int status;

	if (!j)
		return;
	if (j->pidfd >= 0) {
		if (!j->reaped) {
			syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
			jail_wait(j, &status);
		}
		close(j->pidfd);
	}
	if (j->cg) {
		cgroup_kill(j->cg);
		cgroup_free(j->cg);
	}
	if (j->made_run)
		jail_clean_run(j);
	if (j->made_root && rmdir(j->root) < 0)
		log_warn("jail %s: cannot remove %s: %s", j->name, j->root, strerror(errno));
	if (j->made_dir && rmdir(j->dir) < 0)
		log_warn("jail %s: cannot remove %s: %s", j->name, j->dir, strerror(errno));
	/* The lock file stays: removing it would race with the next locker. */
	if (j->uid_lock_fd >= 0)
		close(j->uid_lock_fd);
	free(j);
}
