/* The jail every agentvm-vmm runs in (docs/JAIL.md), as Firecracker's jailer
 * does it: new mount, pid, ipc, uts and net namespaces; pivot_root into a
 * read-only tmpfs holding only /dev/kvm, /dev/null, the files the caller
 * binds in (kernel, images, memory file) and /run, the one writable
 * directory, which the host sees as <dir>/run (the VMM's sockets); an
 * unprivileged uid and gid of its own; no capabilities at all, bounding set
 * included; no_new_privs; rlimits; its own cgroup (memory, cpu, pids). The
 * VMM then installs its own seccomp filters (vmm/seccomp.h) before the
 * guest's first instruction.
 *
 * The VMM binary must be statically linked (agentvm-vmm-static): the jail
 * holds no libraries. It is executed from an fd opened on the host, so no
 * path inside the jail leads to it. */
#ifndef AGENTVM_HOST_JAIL_H
#define AGENTVM_HOST_JAIL_H

#include <stdint.h>
#include <sys/types.h>

#include "host/cgroup.h"

#define JAIL_MAX_BINDS	    16
#define JAIL_UID_BASE	    10000 /* default first uid (and gid) handed out */
#define JAIL_UID_COUNT	    10000 /* default size of the range */
#define JAIL_UID_LOCK_DIR   "/run/agentvm-jail-uids"
#define JAIL_DEFAULT_NOFILE 2048

/* A host file or directory bound into the jail at path (absolute, one or
 * more plain components, not under /dev, /run or /sys). A read-only one
 * must be readable by "other" or the jail's gid; a writable one is handed
 * to the jail's uid and gid (chown), so it must belong to this VM alone. */
struct jail_bind {
	const char *host;
	const char *path;
	int writable;
};

struct jail_config {
	const char *name;     /* [A-Za-z0-9_.-]{1,63}: log lines, the cgroup agentvm/<name> */
	const char *vmm_path; /* host path of a statically linked agentvm-vmm */
	/* The VMM's arguments after argv[0], NULL-terminated; paths in them are
	 * paths inside the jail (/kernel, /run/vsock.sock, ...). */
	const char *const *args;
	/* Host directory for this jail, created here (its parent must exist),
	 * removed by jail_free(): root/ (the jail's root, a private mount) and
	 * run/ (the jail's /run, owned by its uid). */
	const char *dir;
	struct jail_bind binds[JAIL_MAX_BINDS];
	int nbinds;
	/* 0: the first free uid from uid_base (default JAIL_UID_BASE) on, with
	 * gid = uid, held until jail_free() and by the VMM itself (its fd 3,
	 * the lock file read-only) until it exits. */
	uid_t uid;
	gid_t gid;
	uid_t uid_base;
	unsigned int uid_count;
	struct cgroup_limits limits; /* zero fields: no limit */
	uint64_t nofile;	     /* RLIMIT_NOFILE; 0: JAIL_DEFAULT_NOFILE */
	uint64_t fsize;		     /* RLIMIT_FSIZE in bytes; 0: unlimited */
	uint64_t nproc;		     /* RLIMIT_NPROC; 0: limits.pids_max, or 256 */
	/* 0: the VMM dies with the thread that started it (parent-death
	 * signal); 1: it outlives it (a daemon whose request threads come and
	 * go, and which cleans up after a crash itself). */
	int detached;
	/* The VMM's stdin, stdout (COM1 with --serial stdout) and stderr;
	 * -1: /dev/null. Not owned. */
	int stdin_fd, stdout_fd, stderr_fd;
};

struct jail;

/* Build the jail and start the VMM in it. Returns once the VMM has been
 * executed (0, *out set) or set-up failed (-errno, logged with the name). */
int jail_spawn_vmm(const struct jail_config *cfg, struct jail **out);
/* The VMM's pid (in our pid namespace); it is PID 1 of its own. */
pid_t jail_pid(const struct jail *j);
/* A pidfd of the VMM: readable once it has exited. Owned by j. */
int jail_pidfd(const struct jail *j);
uid_t jail_uid(const struct jail *j);
/* The host directory the jail sees as /run. */
const char *jail_run_dir(const struct jail *j);
/* How many processes the OOM killer of the jail's memory cgroup has killed
 * (call before jail_free()). -ENOENT without a memory controller. */
int jail_oom_kills(const struct jail *j, uint64_t *n);
/* Wait for the VMM to exit; *status as waitpid() reports it. Once only. */
int jail_wait(struct jail *j, int *status);
/* Kill the VMM if it still runs, reap it, remove its cgroup and directory,
 * release its uid. NULL-safe. */
void jail_free(struct jail *j);

/* When the VMM started (clock ticks since boot, from /proc), to recognise
 * it later (jail_adopt); 0 if it is gone. */
unsigned long long jail_vmm_start_time(const struct jail *j);
/* Take over the jail in dir (named name) that an earlier run of the caller
 * made and whose VMM still runs as pid, started at start_time, as uid: a
 * pidfd, its cgroup, and the duty to remove it all in jail_free(). The
 * uid's lock stays with the VMM. -ESRCH if that process is gone. */
int jail_adopt(const char *dir, const char *name, pid_t pid, unsigned long long start_time,
	       uid_t uid, struct jail **out);
/* Free j but leave its VMM running (for a later jail_adopt). NULL-safe. */
void jail_release(struct jail *j);

/* Remove what a jail whose owner died left in dir (the sockets in run/,
 * root/, dir itself) and its cgroup agentvm/<name>, killing what is still
 * in it. For jails that are gone: a live one's files are its VMM's. */
void jail_remove_stale(const char *dir, const char *name);

/* --- helpers, exposed for the unit tests -------------------------------- */

/* Is path acceptable inside the jail (see struct jail_bind)? */
int jail_path_ok(const char *path);
/* Is the ELF file at fd statically linked (no PT_INTERP)? 1, 0, or -errno
 * (-ENOEXEC: not a 64-bit ELF file). */
int jail_elf_is_static(int fd);

#endif
