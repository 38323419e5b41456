/* Per-sandbox cgroups for memory, pids and cpu, on cgroup v1, v2 or a hybrid
 * of both (each controller is looked up where it is mounted). A sandbox's
 * cgroup is created below the cgroup the current process is in, only ever
 * holds processes the project started, and is removed when freed. */
#ifndef AGENTVM_HOST_CGROUP_H
#define AGENTVM_HOST_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Zero means "no limit" for every field. */
struct cgroup_limits {
	uint64_t mem_bytes;  /* memory (and memory+swap) ceiling */
	uint64_t pids_max;   /* number of tasks */
	uint32_t cpu_millis; /* CPU bandwidth in thousandths of a CPU (1500 = 1.5 CPUs) */
};

enum cgroup_ctrl { CGROUP_MEMORY, CGROUP_PIDS, CGROUP_CPU, CGROUP_NCTRL };

/* Where one controller lives: its hierarchy version, mount point and our own
 * cgroup in it (absolute directory). version is 0 when it is not available. */
struct cgroup_place {
	int version;
	char mount[256];
	char self_dir[512];
};

struct cgroup;

/* Names of the controllers, as the kernel spells them. */
const char *cgroup_ctrl_name(enum cgroup_ctrl c);

/* Find where controller c is mounted and which cgroup of it this process is in,
 * from /proc/self/mountinfo and /proc/self/cgroup. -ENOENT if not mounted. */
int cgroup_locate(enum cgroup_ctrl c, struct cgroup_place *out);

/* Create the sandbox's cgroup "agentvm/<name>" below our own for every
 * controller that limits asks for (controllers with a zero limit are still
 * joined when available, for accounting). Fails with -errno, logging why. */
int cgroup_new(const char *name, const struct cgroup_limits *limits, struct cgroup **out);
/* Move pid (a process the caller started) into every cgroup of cg. */
int cgroup_add_pid(struct cgroup *cg, pid_t pid);
/* Open, for each cgroup of cg, the file through which the calling thread
 * joins it by writing "0": "tasks" on cgroup v1 — moving one thread takes
 * no global lock there, while moving a process (cgroup.procs) waits for an
 * RCU grace period, 7-15 ms on a busy VM — and "cgroup.procs" on v2. The
 * fds (close-on-exec) go to fds[0..]; returns how many, or -errno. */
int cgroup_open_join(struct cgroup *cg, int fds[]);
/* In a new single-threaded child, before anything else runs in it: join the
 * cgroups opened by cgroup_open_join. System calls only. 0 or -errno. */
int cgroup_join_self(const int *fds, int n);
/* SIGKILL every process in cg (there should be none left when its sandbox is gone). */
int cgroup_kill(struct cgroup *cg);
/* Memory in use now, in bytes; -ENOENT without a memory controller. */
int cgroup_read_memory(struct cgroup *cg, uint64_t *bytes);
/* The existing cgroups "agentvm/<name>" below our own (a sandbox an earlier
 * run of the daemon made), for accounting, kill and removal. -ENOENT if none. */
int cgroup_open(const char *name, struct cgroup **out);

struct cgroup_stats {
	int64_t mem_bytes; /* memory in use; -1 unknown */
	int64_t mem_max;   /* its limit; -1 none or unknown */
	int64_t pids;	   /* tasks; -1 unknown */
	int64_t cpu_usec;  /* CPU time used by the tasks so far; -1 unknown */
	int64_t oom_kills; /* times the memory limit killed a task; -1 unknown */
};

/* Read what cg's controllers account. Fields that cannot be read are -1. */
void cgroup_read_stats(struct cgroup *cg, struct cgroup_stats *out);
/* The same for the cgroup "agentvm/<name>" below our own; -ENOENT if absent. */
int cgroup_stats_by_name(const char *name, struct cgroup_stats *out);

/* Free cg but leave its cgroups as they are (their sandbox lives on). NULL-safe. */
void cgroup_release(struct cgroup *cg);
/* Remove the directories (retrying briefly while they drain) and free cg. NULL-safe. */
void cgroup_free(struct cgroup *cg);
/* Remove the cgroups "agentvm/<name>" a sandbox whose owner died left behind,
 * killing what is still in them. 0, or -ENOENT if there were none. */
int cgroup_remove_stale(const char *name);

/* --- pure parsing helpers, exposed for the unit tests --------------------- */

/* From the text of /proc/self/cgroup, the path of our cgroup in the v1
 * hierarchy holding `ctrl`, or in the v2 hierarchy when ctrl is NULL.
 * -ENOENT if absent, -EINVAL on a malformed line, -ENAMETOOLONG if it does not fit. */
int cgroup_parse_self(const char *text, const char *ctrl, char *path, size_t len);

/* From the text of /proc/self/mountinfo, the mount point and mount root of
 * the v1 hierarchy holding `ctrl`, or of the cgroup2 mount when ctrl is NULL.
 * Octal escapes (\040) are decoded. -ENOENT if there is none. */
int cgroup_parse_mountinfo(const char *text, const char *ctrl, char *mnt, size_t mnt_len,
			   char *root, size_t root_len);

/* Directory of the cgroup `self` (as read from /proc/self/cgroup) given the
 * hierarchy's mount point and mount root. -EINVAL if self is not below root
 * or contains "..". */
int cgroup_join_dir(const char *mnt, const char *root, const char *self, char *out, size_t len);

/* Is `name` a token in the comma-separated list `list`? */
int cgroup_list_has(const char *list, const char *name);

#endif
