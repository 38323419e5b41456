/* Starting a process in new namespaces and its own cgroup, as the VMM's jail
 * (host/jail.c) and the container backend (host/backend_container.c) do:
 *
 *   parent: open the files through which a thread joins the cgroup, then
 *           clone(namespace flags, CLONE_PIDFD)
 *   child:  join the cgroup by itself, as a single thread (cheap on cgroup
 *           v1, where moving a whole process costs an RCU grace period)
 *   parent: let it go (one byte on a socket pair, the sync channel)
 *   child:  set itself up (child_main), then execute its program
 *   parent: end of file on the error pipe (close-on-exec) means the program
 *           runs; a struct with errno and one line means set-up failed. (A
 *           child that exits without a word looks like a program that exited
 *           at once: its status comes through the pidfd.)
 *
 * The child holds neither of the parent's ends of the two channels, so it
 * sees a hang-up when the parent dies: before it is let go it then exits,
 * and, unless detached, again just before the exec. It runs on a copy of the
 * parent's memory while other threads of the parent may hold malloc's
 * locks: child_main and everything it calls must not allocate (syscalls and
 * the spawn_* calls below only). */
#ifndef AGENTVM_HOST_SPAWN_H
#define AGENTVM_HOST_SPAWN_H

#include <sys/types.h>

#define SPAWN_CHILD_FAILED	 125   /* exit status of a child whose set-up failed */
#define SPAWN_DEFAULT_TIMEOUT_MS 10000 /* for the set-up, from "go" to the exec */
#define SPAWN_WHAT_MAX		 240   /* bytes of a child's reason, NUL included */

struct cgroup;
struct spawn_child; /* the child's side of the channels; only the child sees one */

struct spawn_config {
	const char *who;   /* the prefix of every log line: "jail vm1", "sandbox s1" */
	int ns_flags;	   /* CLONE_NEW* flags for clone(); 0: none */
	struct cgroup *cg; /* joined by the child before child_main runs (or, with
			    * join_late, when it calls spawn_join_cgroup, at the
			    * latest in spawn_exec); NULL: the caller's */
	int join_late;	   /* set-up runs outside cg's limits (a CPU quota of a
			    * tenth of a core must not slow the jail's mounts) */
	int detached;	   /* 0: the child dies with the parent (PR_SET_PDEATHSIG) */
	int timeout_ms;	   /* for the set-up; 0: SPAWN_DEFAULT_TIMEOUT_MS */
	/* In the child, in cg, once let go: sets up and ends in spawn_exec() or
	 * spawn_fail(). Returning counts as a failure. */
	void (*child_main)(struct spawn_child *sc, void *arg);
	/* In the parent, once the child exists and before it is let go; may
	 * be NULL. */
	void (*attached)(pid_t pid, void *arg);
	void *arg; /* for both */
};

/* Start the child and wait until it has executed its program: 0 with *pid
 * and *pidfd (the caller's to close and reap) set, or -errno logged once
 * with who (the child's own reason when it gave one: "who: what: strerror"),
 * the child then killed and reaped and *pid, *pidfd left 0 and -1. */
int spawn_start(const struct spawn_config *cfg, pid_t *pid, int *pidfd);

/* --- in the child only ---------------------------------------------------- */

/* Report "what: strerror(err)" to the parent and exit SPAWN_CHILD_FAILED. */
__attribute__((noreturn, format(printf, 3, 4))) void spawn_fail(struct spawn_child *sc, int err,
								const char *fmt, ...);
/* fd again at a fresh number >= 16, close-on-exec (the original stays open);
 * -1 stays -1. Set-up fails if it cannot. */
int spawn_lift(struct spawn_child *sc, int fd);
/* Mark every fd from low up close-on-exec: the program starts with the fds
 * below low only. */
void spawn_cloexec_from(int low);
/* mount(2), or set-up fails with "mount <type or src> on <dst>". */
void spawn_mount(struct spawn_child *sc, const char *src, const char *dst, const char *type,
		 unsigned long flags, const char *data);
/* Make the current directory the root (pivot_root), detach the old root
 * and go to the new /. Needs a mount namespace of the child's own. */
void spawn_pivot_here(struct spawn_child *sc);
/* Join the cgroup of spawn_config.cg now (once; spawn_exec does it if
 * nobody did). Needs the privileges to write the cgroup's files. */
void spawn_join_cgroup(struct spawn_child *sc);
/* Execute the program: the file open at fd (>= 0) or else path, with argv
 * and envp. Unless detached, first re-arm the parent-death signal (a change
 * of credentials clears it) and exit if the parent has died meanwhile. On
 * failure: spawn_fail "execute <what>". */
__attribute__((noreturn)) void spawn_exec(struct spawn_child *sc, int fd, const char *path,
					  char *const argv[], char *const envp[], const char *what);

#endif
