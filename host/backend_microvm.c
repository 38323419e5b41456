/* The microvm backend: each sandbox is an agentvm-vmm in the jail
 * (host/jail.h, docs/JAIL.md) booting the guest kernel with the image's
 * initramfs, whose PID 1 is the agent, listening on vsock port 1024; the
 * host reaches it through the VMM's hybrid-vsock socket in the jail's /run.
 * Its sandboxes need a host whose KVM runs guest user space: the probe says
 * whether this one does (the syscall_probe test guest in agentvm-vmm).
 *
 * Egress (docs/EGRESS.md): the sandbox's egress proxy socket is linked into
 * the jail's /run as vsock.sock_3128, where the VMM's hybrid vsock takes the
 * guest's connections to CID 2 port 3128, and the kernel command line gets
 * agentvm.egress=vsock:3128, which the agent reads as PID 1.
 *
 * Golden snapshots (host/microvm_api.h): given a snapshot_dir, a sandbox is
 * restored from the snapshot of its exact boot when there is one (the
 * memory file mapped copy-on-write, so every VM of a template shares its
 * pages until it writes them); otherwise it boots, and golden() takes that
 * snapshot once the controller has seen the agent answer. Every VMM serves
 * its control API on the jail's /run/api.sock: reset() is vm.reset, back to
 * the snapshot in place; pause() and resume() stop and start a pool's
 * spares.
 *
 * Environment:
 *   AGENTVM_KERNEL             the guest kernel (default: vmlinux in the
 *                              directory images/kernel/build.sh --dir names)
 *   AGENTVM_MICROVM_FORCE=1    start microVMs even where the probe says guest
 *                              user space cannot run (to test the set-up: the
 *                              agent then never answers)
 *   AGENTVM_MICROVM_CONNECT_MS how long connect waits for the agent (30000) */
#include "host/backend.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/egress/egress.h"
#include "host/hostprobe.h"
#include "host/jail.h"
#include "host/microvm_api.h"
#include "host/libexec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MICROVM_AGENT_PORT     1024
#define MICROVM_GUEST_CID      3
#define MICROVM_CONNECT_MS     30000
#define MICROVM_CMDLINE	       "console=ttyS0 reboot=k panic=1 quiet"
#define MICROVM_OVERHEAD_BYTES (64ull << 20)	 /* the VMM's own memory, beyond the guest's */
#define MICROVM_EXTRA_TASKS    8		 /* main thread, teardown child, kernel workers */
#define MICROVM_EGRESS_PORT    EGRESS_VSOCK_PORT /* the guest's vsock port to the egress proxy */
#define MICROVM_API_SOCK       "api.sock"	 /* in the jail's /run */
#define MICROVM_API_MS	       10000		 /* pause, resume, reset */
#define MICROVM_SNAPSHOT_MS    120000		 /* writing a golden snapshot */

struct microvm {
	char name[BACKEND_NAME_MAX + 1];
	char dir[256];	    /* state directory */
	char jail_dir[280]; /* the jail's directory, inside dir */
	char sock[320];	    /* the VMM's hybrid-vsock socket, on the host */
	char console[280];  /* COM1 and the VMM's stderr */
	struct jail *jail;
	enum backend_origin origin;
	int golden_taken;	   /* this VM took its golden snapshot (reset can go back) */
	char golden[PATH_MAX];	   /* the snapshot directory of this boot, or "" */
	char golden_tmp[PATH_MAX]; /* where this VM writes it (booted for one), or "" */
};

/* What the probe depends on: this boot of the host, and the VMM and probe
 * guest binaries. */
static void microvm_probe_key(const char *vmm, const char *guest, char *key, size_t len)
{
	char boot[64] = "";
	struct stat a, b;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
		boot[strcspn(boot, "\n")] = '\0';
	}
	if (stat(vmm, &a) < 0)
		memset(&a, 0, sizeof(a));
	if (stat(guest, &b) < 0)
		memset(&b, 0, sizeof(b));
	snprintf(key, len, "%s %lld.%ld %lld %lld.%ld %lld", boot, (long long)a.st_mtim.tv_sec,
		 a.st_mtim.tv_nsec, (long long)a.st_size, (long long)b.st_mtim.tv_sec,
		 b.st_mtim.tv_nsec, (long long)b.st_size);
}

/* The SYSCALL probe runs a VMM (~15 ms here); its answer holds until the host
 * reboots or the binaries change, so it is kept in the state directory. */
static void microvm_guest_syscall(const char *vmm, const char *guest, struct hostprobe_result *out)
{
	char root[256], path[300], key[256], line[sizeof(out->detail) + 16];
	int status;
	FILE *f;

	microvm_probe_key(vmm, guest, key, sizeof(key));
	if (backend_state_root(root, sizeof(root)) < 0)
		root[0] = '\0';
	snprintf(path, sizeof(path), "%s/.guest-syscall-probe", root);
	f = root[0] ? fopen(path, "re") : NULL;
	if (f) {
		int hit = fgets(line, sizeof(line), f) && (line[strcspn(line, "\n")] = '\0', 1) &&
			  strcmp(line, key) == 0 && fscanf(f, "%d ", &status) == 1 &&
			  (status == HOSTPROBE_OK || status == HOSTPROBE_FAIL) &&
			  fgets(out->detail, sizeof(out->detail), f);
		fclose(f);
		if (hit) {
			out->detail[strcspn(out->detail, "\n")] = '\0';
			out->status = status;
			return;
		}
	}
	hostprobe_guest_syscall(vmm, guest, out);
	if (!root[0] || (out->status != HOSTPROBE_OK && out->status != HOSTPROBE_FAIL))
		return;
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%s\n%d %s\n", key, (int)out->status, out->detail);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

/* What this host can do, measured once per process; reason says why not. */
static int microvm_verdict(const char **reason_out)
{
	static int done, verdict;
	static char reason[sizeof(((struct hostprobe_result *)0)->detail) + 64];
	struct hostprobe_result kvm, sys;
	char vmm[PATH_MAX], guest[PATH_MAX];

	if (!done) {
		hostprobe_kvm(&kvm);
		if (kvm.status != HOSTPROBE_OK) {
			verdict = -ENODEV;
			snprintf(reason, sizeof(reason), "no usable KVM: %s", kvm.detail);
		} else if (geteuid() != 0) {
			verdict = -EPERM;
			snprintf(reason, sizeof(reason),
				 "needs root (the VMM's jail: namespaces, a uid of its own, "
				 "cgroups)");
		} else if (libexec_path("agentvm-vmm-static", vmm, sizeof(vmm)) < 0) {
			verdict = -ENOENT;
			snprintf(reason, sizeof(reason), "%.300s is missing (make all)", vmm);
		} else {
			libexec_path("agentvm-vmm", vmm, sizeof(vmm));
			libexec_path("guests/syscall_probe.elf", guest, sizeof(guest));
			microvm_guest_syscall(vmm, guest, &sys);
			if (sys.status == HOSTPROBE_OK) {
				verdict = 0;
				snprintf(reason, sizeof(reason),
					 "guest user space runs here; each VMM is jailed "
					 "(docs/JAIL.md)");
			} else if (sys.status == HOSTPROBE_FAIL) {
				verdict = -ENOTSUP;
				snprintf(reason, sizeof(reason), "%s", sys.detail);
			} else {
				verdict = -EAGAIN;
				snprintf(reason, sizeof(reason),
					 "cannot tell whether guest user space runs here: %s",
					 sys.detail);
			}
		}
		done = 1;
	}
	*reason_out = reason;
	return verdict;
}

/* AGENTVM_MICROVM_FORCE=1: go on where only guest user space is missing. */
static int microvm_forced(int verdict)
{
	const char *force = getenv("AGENTVM_MICROVM_FORCE");

	return verdict == -ENOTSUP && force && strcmp(force, "1") == 0;
}

static int microvm_probe(char *why, size_t len)
{
	const char *reason;
	int verdict = microvm_verdict(&reason);

	if (microvm_forced(verdict)) {
		snprintf(why, len, "%s; started anyway (AGENTVM_MICROVM_FORCE=1)", reason);
		return 0;
	}
	snprintf(why, len, "%s", reason);
	return verdict;
}

static int microvm_kernel(char *out, size_t len)
{
	const char *env = getenv("AGENTVM_KERNEL");
	char dir[PATH_MAX];

	if (env && *env) {
		snprintf(out, len, "%s", env);
	} else {
		static const char *const args[] = { "--dir", NULL };

		/* What images/kernel/build.sh --dir prints, building nothing. */
		if (libexec_images_query("kernel/build.sh", args, dir, sizeof(dir)) < 0) {
			log_err("microvm: cannot tell where the guest kernel is (images/kernel/"
				"build.sh --dir failed; set AGENTVM_KERNEL)");
			return -ENOENT;
		}
		if ((size_t)snprintf(out, len, "%s/vmlinux", dir) >= len)
			return -ENAMETOOLONG;
	}
	if (access(out, R_OK) < 0) {
		log_err("microvm: guest kernel %s: %s (make kernel)", out, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static void microvm_forget_record(const char *dir)
{
	char path[300];

	if (!dir[0])
		return;
	snprintf(path, sizeof(path), "%s/vm", dir);
	unlink(path);
}

static void microvm_destroy(void *priv)
{
	struct microvm *m = priv;

	if (!m)
		return;
	jail_free(m->jail);
	microvm_golden_discard(m->golden_tmp);
	microvm_forget_record(m->dir);
	if (m->console[0])
		unlink(m->console);
	if (m->dir[0] && rmdir(m->dir) < 0 && errno != ENOENT)
		log_warn("sandbox %s: cannot remove %s: %s", m->name, m->dir, strerror(errno));
	free(m);
}

/* The egress proxy's socket, linked where the VMM connects the guest's
 * vsock connections to CID 2 port MICROVM_EGRESS_PORT: <uds>_<port> in the
 * jail's /run, handed to the jail's uid (the VMM runs as it). A hard link
 * reaches the same listening socket; it goes with the run directory. */
static int microvm_link_egress(struct microvm *m, const char *egress_sock)
{
	char path[PATH_MAX];
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/vsock.sock_%u", jail_run_dir(m->jail),
			     MICROVM_EGRESS_PORT) >= sizeof(path))
		return -ENAMETOOLONG;
	if (link(egress_sock, path) < 0) {
		r = -errno;
		log_err("sandbox %s: cannot carry egress into the microVM: link %s to %s: %s%s",
			m->name, egress_sock, path, strerror(errno),
			errno == EXDEV ? " (they must be on one file system)" : "");
		return r;
	}
	if (lchown(path, jail_uid(m->jail), (gid_t)-1) < 0 || chmod(path, 0600) < 0) {
		r = -errno;
		log_err("sandbox %s: egress: handing %s to the jail's uid: %s", m->name, path,
			strerror(errno));
		return r;
	}
	return 0;
}

static long microvm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The kernel and initrd a sandbox boots: cfg's, or the project's kernel and
 * the image's initramfs (beside its root tree, images/minimal/build.sh). A
 * test guest needs no initrd (initrd ""). */
static int microvm_boot_files(const struct backend_config *cfg, char *kernel, size_t klen,
			      char *initrd, size_t ilen)
{
	char *slash;
	int r;

	if (cfg->kernel && *cfg->kernel) {
		if ((size_t)snprintf(kernel, klen, "%s", cfg->kernel) >= klen)
			return -ENAMETOOLONG;
		if (access(kernel, R_OK) < 0) {
			r = -errno;
			log_err("sandbox %s: kernel %s: %s", cfg->name, kernel, strerror(errno));
			return r;
		}
	} else {
		r = microvm_kernel(kernel, klen);
		if (r < 0)
			return r;
	}
	initrd[0] = '\0';
	if (cfg->test_guest)
		return 0;
	snprintf(initrd, ilen, "%s", cfg->rootfs ? cfg->rootfs : "");
	slash = strrchr(initrd, '/');
	if (!slash || (size_t)(slash - initrd) + sizeof("/initramfs.cpio") > ilen ||
	    (strcpy(slash, "/initramfs.cpio"), access(initrd, R_OK) < 0)) {
		log_err("sandbox %s: the image has no initramfs.cpio beside %s, which a microVM "
			"boots",
			cfg->name, cfg->rootfs ? cfg->rootfs : "(none)");
		return -ENOENT;
	}
	return 0;
}

/* Where this boot's golden snapshot is (m->golden) and whether to restore
 * from it; otherwise where this VM will write it (m->golden_tmp). */
static int microvm_golden_plan(struct microvm *m, const struct backend_config *cfg, const char *vmm,
			       const char *kernel, const char *initrd, const char *cmdline,
			       unsigned int ncpus)
{
	char key[17];
	int r;

	r = microvm_golden_key(vmm, kernel, initrd, cmdline,
			       (unsigned long long)(cfg->limits.mem_bytes >> 20), ncpus, key);
	if (r < 0)
		return r;
	if ((size_t)snprintf(m->golden, sizeof(m->golden), "%s/%s", cfg->snapshot_dir, key) >=
		    sizeof(m->golden) ||
	    (size_t)snprintf(m->golden_tmp, sizeof(m->golden_tmp), "%s/.%s.%s", cfg->snapshot_dir,
			     key, cfg->name) >= sizeof(m->golden_tmp))
		return -ENAMETOOLONG;
	if (microvm_golden_exists(m->golden)) {
		m->origin = BACKEND_RESTORED;
		m->golden_tmp[0] = '\0';
		return 0;
	}
	m->origin = BACKEND_BOOTED;
	r = microvm_golden_prepare(m->golden_tmp);
	if (r < 0) {
		log_err("sandbox %s: cannot make %s: %s", cfg->name, m->golden_tmp, strerror(-r));
		m->golden_tmp[0] = '\0';
	}
	return r;
}

/* What a later run of the daemon needs to adopt this VM (microvm_adopt):
 * <dir>/vm holds "<pid> <start time> <uid> <origin> <golden taken> <golden>". */
static void microvm_write_record(const struct microvm *m)
{
	char path[300], tmp[310];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm", m->dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d %llu %u %d %d %s\n", (int)jail_pid(m->jail), jail_vmm_start_time(m->jail),
		(unsigned)jail_uid(m->jail), (int)m->origin, m->golden_taken,
		m->golden[0] ? m->golden : "-");
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

static int microvm_create(const struct backend_config *cfg, void **priv)
{
	char root[128], kernel[PATH_MAX], initrd[PATH_MAX], vmm[PATH_MAX];
	char mem[32], cpus[16], vsock[64], cmdline[1024];
	const char *args[32];
	struct jail_config jc = { .stdin_fd = -1 };
	_cleanup_close_ int log_fd = -1;
	struct microvm *m = NULL;
	unsigned int ncpus;
	const char *why;
	int r, n = 0;

	*priv = NULL;
	r = microvm_verdict(&why);
	if (r == -ENOTSUP && cfg->test_guest) {
		/* A synthetic guest runs no guest user space of the SYSCALL kind. */
		r = 0;
	} else if (r < 0 && !microvm_forced(r)) {
		log_err("sandbox %s: microvm isolation is not possible: %s (see 'agentvm doctor'; "
			"use --isolation container)",
			cfg->name, why);
		return r;
	} else if (r < 0) {
		log_warn("sandbox %s: %s; starting the microVM anyway (AGENTVM_MICROVM_FORCE=1): "
			 "its agent will not answer",
			 cfg->name, why);
	}
	if (cfg->init_argv) {
		log_err("sandbox %s: the microvm backend runs the image's own init", cfg->name);
		return -ENOTSUP;
	}
	r = microvm_boot_files(cfg, kernel, sizeof(kernel), initrd, sizeof(initrd));
	if (r < 0)
		return r;
	if (libexec_path("agentvm-vmm-static", vmm, sizeof(vmm)) < 0) {
		log_err("sandbox %s: %s is missing (make all)", cfg->name, vmm);
		return -ENOENT;
	}
	r = backend_state_root(root, sizeof(root));
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", cfg->name);
	snprintf(m->dir, sizeof(m->dir), "%s/%s", root, cfg->name);
	if (mkdir(m->dir, 0700) < 0) {
		r = -errno;
		log_err("sandbox %s: %s: %s", cfg->name, m->dir,
			errno == EEXIST ? "a sandbox of that name exists" : strerror(errno));
		m->dir[0] = '\0';
		goto fail;
	}
	snprintf(m->jail_dir, sizeof(m->jail_dir), "%s/jail", m->dir);
	snprintf(m->sock, sizeof(m->sock), "%s/run/vsock.sock", m->jail_dir);
	if (cfg->log_fd >= 0) {
		log_fd = fcntl(cfg->log_fd, F_DUPFD_CLOEXEC, 3);
	} else {
		snprintf(m->console, sizeof(m->console), "%s/console.log", m->dir);
		log_fd = open(m->console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (log_fd < 0) {
		r = -errno;
		goto fail;
	}

	/* vCPUs: the CPU limit rounded up; the cgroup holds the VMM to the limit. */
	ncpus = (cfg->limits.cpu_millis + 999) / 1000;
	if (ncpus < 1)
		ncpus = 1;
	if (ncpus > 64)
		ncpus = 64;
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(cfg->limits.mem_bytes >> 20));
	snprintf(cpus, sizeof(cpus), "%u", ncpus);
	snprintf(vsock, sizeof(vsock), "cid=%u,uds=/run/vsock.sock", MICROVM_GUEST_CID);
	n = snprintf(cmdline, sizeof(cmdline), "%s", MICROVM_CMDLINE);
	if (cfg->egress_sock)
		n += snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, " agentvm.egress=vsock:%u",
			      MICROVM_EGRESS_PORT);
	if (cfg->cmdline && *cfg->cmdline &&
	    (size_t)snprintf(cmdline + n, sizeof(cmdline) - (size_t)n, " %s", cfg->cmdline) >=
		    sizeof(cmdline) - (size_t)n) {
		log_err("sandbox %s: the kernel command line is too long", cfg->name);
		r = -E2BIG;
		goto fail;
	}
	n = 0;
	m->origin = BACKEND_BOOTED;
	if (cfg->snapshot_dir) {
		r = microvm_golden_plan(m, cfg, vmm, kernel, initrd, cmdline, ncpus);
		if (r < 0)
			goto fail;
	}
	args[n++] = "--name";
	args[n++] = cfg->name;
	if (m->origin == BACKEND_RESTORED) {
		args[n++] = "--restore";
		args[n++] = MICROVM_SNAPSHOT_STATE;
		args[n++] = "--restore-memory";
		args[n++] = MICROVM_SNAPSHOT_MEMORY;
		jc.binds[jc.nbinds++] =
			(struct jail_bind){ .host = m->golden, .path = MICROVM_SNAPSHOT_DIR };
	} else {
		args[n++] = "--kernel";
		args[n++] = "/kernel";
		if (initrd[0]) {
			args[n++] = "--initrd";
			args[n++] = "/initrd";
		}
		args[n++] = "--cmdline";
		args[n++] = cmdline;
		args[n++] = "--mem";
		args[n++] = mem;
		args[n++] = "--cpus";
		args[n++] = cpus;
		args[n++] = "--rng";
		jc.binds[jc.nbinds++] = (struct jail_bind){ .host = kernel, .path = "/kernel" };
		if (initrd[0])
			jc.binds[jc.nbinds++] =
				(struct jail_bind){ .host = initrd, .path = "/initrd" };
		if (m->golden_tmp[0])
			jc.binds[jc.nbinds++] = (struct jail_bind){ .host = m->golden_tmp,
								    .path = MICROVM_SNAPSHOT_DIR,
								    .writable = 1 };
	}
	args[n++] = "--vsock";
	args[n++] = vsock;
	args[n++] = "--api";
	args[n++] = "/run/" MICROVM_API_SOCK;
	args[n] = NULL;
	jc.name = cfg->name;
	jc.vmm_path = vmm;
	jc.args = args;
	jc.dir = m->jail_dir;
	/* The guest's RAM, and what the VMM needs around it. */
	jc.limits.mem_bytes =
		cfg->limits.mem_bytes + MICROVM_OVERHEAD_BYTES + cfg->limits.mem_bytes / 16;
	jc.limits.cpu_millis = cfg->limits.cpu_millis;
	jc.limits.pids_max = ncpus + MICROVM_EXTRA_TASKS;
	jc.stdout_fd = log_fd;
	jc.stderr_fd = log_fd;
	jc.detached = cfg->detached;
	long t0 = microvm_now_ms();
	r = jail_spawn_vmm(&jc, &m->jail);
	if (r < 0)
		goto fail;
	if (cfg->egress_sock) {
		r = microvm_link_egress(m, cfg->egress_sock);
		if (r < 0)
			goto fail;
	}
	microvm_write_record(m);
	log_debug("sandbox %s: agentvm-vmm is pid %d in its jail %s (%s; jail set up in %ld ms)",
		  m->name, (int)jail_pid(m->jail), m->jail_dir,
		  m->origin == BACKEND_RESTORED ? "restored" : "booting", microvm_now_ms() - t0);
	*priv = m;
	return 0;
fail:
	microvm_destroy(m);
	return r;
}

/* Log the last lines of the console (COM1 and the VMM's stderr). */
static void microvm_console_tail(const struct microvm *m, int lines)
{
	char buf[2048], *p;
	_cleanup_close_ int fd = m->console[0] ? open(m->console, O_RDONLY | O_CLOEXEC) : -1;
	off_t size;
	ssize_t n;
	int k = 0;

	if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) <= 0)
		return;
	n = pread(fd, buf, sizeof(buf) - 1,
		  size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && ++k == lines)
			break;
	for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n"))
		log_err("sandbox %s:   | %s", m->name, line);
}

/* One attempt: connect to the VMM's socket, ask for the agent's port, read
 * "OK <hostport>\n" byte by byte (what follows belongs to the agent).
 * -ECONNRESET while nothing listens in the guest yet. */
static int microvm_try_connect(struct microvm *m, long deadline, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int dir = -1;
	char req[32], line[64];
	size_t len = 0;
	int n;

	if (fd < 0)
		return -errno;
	if (strlen(m->sock) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, m->sock, strlen(m->sock) + 1);
	} else {
		/* Too long for sun_path: through the directory's fd. */
		char run[sizeof(m->sock)];
		snprintf(run, sizeof(run), "%s", m->sock);
		*strrchr(run, '/') = '\0';
		dir = open(run, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dir < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/vsock.sock", dir);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	n = snprintf(req, sizeof(req), "CONNECT %u\n", MICROVM_AGENT_PORT);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno;
	while (len < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - microvm_now_ms();
		ssize_t got;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		got = recv(fd, line + len, 1, 0);
		if (got <= 0)
			return got < 0 ? -errno : -ECONNRESET;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	if (strncmp(line, "OK ", 3) != 0)
		return -ECONNREFUSED;
	*out = take_fd(&fd);
	return 0;
}

/* The agent, through hybrid vsock; retried while the guest boots. */
static int microvm_connect(void *priv, int *out)
{
	struct microvm *m = priv;
	const char *env = getenv("AGENTVM_MICROVM_CONNECT_MS");
	long wait_ms = env && atol(env) > 0 ? atol(env) : MICROVM_CONNECT_MS;
	long deadline = microvm_now_ms() + wait_ms;
	int r, delay_ms = 1;

	for (;;) {
		struct pollfd p = { .fd = jail_pidfd(m->jail), .events = POLLIN };

		r = microvm_try_connect(m, deadline, out);
		if (r == 0)
			return 0;
		if (poll(&p, 1, 0) > 0) {
			int status = 0;
			jail_wait(m->jail, &status);
			log_err("sandbox %s: the VMM stopped (%s %d) before the agent answered%s",
				m->name, WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				m->console[0] ? "; the end of its console:" : "");
			microvm_console_tail(m, 8);
			return -ECHILD;
		}
		if (microvm_now_ms() >= deadline) {
			log_err("sandbox %s: the agent did not answer on vsock port %d within %ld "
				"ms "
				"(%s)",
				m->name, MICROVM_AGENT_PORT, wait_ms, strerror(-r));
			return -ETIMEDOUT;
		}
		/* A restored guest listens again within a millisecond or two; a
		 * booting one takes longer. */
		usleep((useconds_t)delay_ms * 1000);
		delay_ms = delay_ms < 20 ? delay_ms * 2 : 20;
	}
}

/* A sandbox whose maker died: its VMM died too (parent-death signal). */
static void microvm_remove_stale(const char *name)
{
	char root[128], dir[256], path[300];

	if (!backend_name_valid(name) || backend_state_root(root, sizeof(root)) < 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	snprintf(path, sizeof(path), "%s/jail", dir);
	jail_remove_stale(path, name);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	unlink(path);
	microvm_forget_record(dir);
	rmdir(dir);
}

/* A VM an earlier run of the daemon started (detached) and that still runs. */
static int microvm_adopt(const char *name, void **priv)
{
	char root[128], path[300], golden[PATH_MAX];
	unsigned long long start = 0;
	unsigned int uid = 0;
	int pid = 0, origin = 0, taken = 0, r;
	struct microvm *m;
	FILE *f;

	*priv = NULL;
	if (!backend_name_valid(name) || backend_state_root(root, sizeof(root)) < 0)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->dir, sizeof(m->dir), "%s/%s", root, name);
	snprintf(m->jail_dir, sizeof(m->jail_dir), "%s/jail", m->dir);
	snprintf(m->sock, sizeof(m->sock), "%s/run/vsock.sock", m->jail_dir);
	snprintf(path, sizeof(path), "%s/vm", m->dir);
	f = fopen(path, "re");
	r = f && fscanf(f, "%d %llu %u %d %d %4095s", &pid, &start, &uid, &origin, &taken,
			golden) == 6
		    ? 0
		    : -ESRCH;
	if (f)
		fclose(f);
	if (r == 0 && (origin != BACKEND_BOOTED && origin != BACKEND_RESTORED))
		r = -ESRCH;
	if (r == 0)
		r = jail_adopt(m->jail_dir, name, pid, start, uid, &m->jail);
	if (r < 0) {
		free(m);
		return r;
	}
	m->origin = (enum backend_origin)origin;
	m->golden_taken = taken;
	if (strcmp(golden, "-") != 0)
		snprintf(m->golden, sizeof(m->golden), "%s", golden);
	snprintf(m->console, sizeof(m->console), "%s/console.log", m->dir);
	if (access(m->console, F_OK) < 0)
		m->console[0] = '\0';
	*priv = m;
	return 0;
}

/* Leave the VM running for a later adopt. */
static void microvm_release(void *priv)
{
	struct microvm *m = priv;

	if (!m)
		return;
	jail_release(m->jail);
	free(m);
}

static int microvm_exit_fd(void *priv)
{
	return jail_pidfd(((struct microvm *)priv)->jail);
}

static const char *microvm_log_path(void *priv)
{
	struct microvm *m = priv;

	return m->console[0] ? m->console : NULL;
}

static int microvm_pid(void *priv)
{
	return (int)jail_pid(((struct microvm *)priv)->jail);
}

static int microvm_api(struct microvm *m, const char *method, const char *params, int ms)
{
	char err[512];
	int r = microvm_api_call(jail_run_dir(m->jail), MICROVM_API_SOCK, method, params, ms, err,
				 sizeof(err));

	if (r < 0)
		log_err("sandbox %s: %s", m->name, err);
	return r;
}

static int microvm_golden(void *priv)
{
	struct microvm *m = priv;
	int r;

	if (m->origin != BACKEND_BOOTED || !m->golden_tmp[0] || m->golden_taken)
		return 0;
	r = microvm_api(m, "vm.snapshot",
			"{\"state\":\"" MICROVM_SNAPSHOT_STATE
			"\",\"memory\":\"" MICROVM_SNAPSHOT_MEMORY "\"}",
			MICROVM_SNAPSHOT_MS);
	if (r == 0)
		r = microvm_golden_publish(m->golden_tmp, m->golden);
	if (r < 0) {
		log_err("sandbox %s: no golden snapshot was taken (%s); the next sandbox boots "
			"again",
			m->name, strerror(-r));
		return r;
	}
	m->golden_taken = 1;
	microvm_write_record(m);
	log_info("sandbox %s: golden snapshot in %s", m->name, m->golden);
	return 0;
}

static int microvm_reset(void *priv)
{
	struct microvm *m = priv;

	if (m->origin == BACKEND_BOOTED && !m->golden_taken)
		return -ENOTSUP;
	return microvm_api(m, "vm.reset", NULL, MICROVM_API_MS);
}

static int microvm_pause(void *priv)
{
	return microvm_api(priv, "vm.pause", NULL, MICROVM_API_MS);
}

static int microvm_resume(void *priv)
{
	return microvm_api(priv, "vm.resume", NULL, MICROVM_API_MS);
}

static enum backend_origin microvm_origin(void *priv)
{
	return ((struct microvm *)priv)->origin;
}

static const char *microvm_guest_socket(void *priv)
{
	return ((struct microvm *)priv)->sock;
}

const struct backend_ops backend_microvm_ops = {
	.name = "microvm",
	.probe = microvm_probe,
	.create = microvm_create,
	.connect = microvm_connect,
	.exit_fd = microvm_exit_fd,
	.destroy = microvm_destroy,
	.log_path = microvm_log_path,
	.pid = microvm_pid,
	.remove_stale = microvm_remove_stale,
	.adopt = microvm_adopt,
	.release = microvm_release,
	.golden = microvm_golden,
	.reset = microvm_reset,
	.pause = microvm_pause,
	.resume = microvm_resume,
	.origin = microvm_origin,
	.guest_socket = microvm_guest_socket,
};
