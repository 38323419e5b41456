/* agentvmd: the controller daemon. It serves JSON-RPC 2.0 (one request per
 * line) on a Unix socket, keeps its state in SQLite under the state directory,
 * audits everything to a hash-chained log, keeps warm pools of sandboxes per
 * template, and survives its own restart (docs/CONTROLLER.md). */
#ifndef AGENTVM_HOST_DAEMON_H
#define AGENTVM_HOST_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon_config {
	const char *socket_path;  /* NULL: <runtime>/agentvmd.sock (daemon_default_socket) */
	const char *state_dir;	  /* NULL: /var/lib/agentvm (root) or ~/.local/state/agentvm */
	const char *socket_group; /* group owning the socket (mode 0660); NULL: ours */
	/* Ceilings: no sandbox gets more, and a request for more is refused. */
	uint64_t max_mem;  /* bytes */
	uint32_t max_cpus; /* thousandths of a CPU */
	uint64_t max_pids;
	uint64_t max_disk;	      /* bytes */
	int max_sandboxes;	      /* in total (pooled ones not counted) */
	int max_per_uid;	      /* per client uid */
	uint64_t max_exec_timeout_ms; /* an exec without a timeout gets this one */
	uint64_t max_output;	      /* bytes of output forwarded per exec */
	int max_clients;
	int max_ops; /* requests running at once (exec, file ops, create...) */
	/* The "default" template, made at start when absent. */
	const char *default_image;
	const char *default_isolation;
	int default_pool;     /* its warm pool size */
	bool audit_batch;     /* fdatasync the audit log every 50 ms, not per line */
	bool cleanup_on_exit; /* destroy every sandbox on a clean stop */
	/* The task queue (docs/TASKS.md): runners in all, and on one template. */
	int task_parallel;     /* 0: $AGENTVMD_TASK_PARALLEL, else 64 */
	int task_per_template; /* 0: $AGENTVMD_TASK_PER_TEMPLATE, else task_parallel */
};

/* Fill c with the defaults (documented in agentvmd --help). */
void daemon_config_defaults(struct daemon_config *c);
/* The socket clients use when none is named: $AGENTVMD_SOCKET, else
 * /run/agentvm/agentvmd.sock as root, else $XDG_RUNTIME_DIR/agentvm/agentvmd.sock
 * (or /tmp/agentvm-<uid>/agentvmd.sock). */
void daemon_default_socket(char *out, size_t len);
/* The state directory when none is named. */
void daemon_default_state_dir(char *out, size_t len);

/* Run the daemon until SIGTERM or SIGINT (then stop cleanly: running sandboxes
 * are kept for the next start unless cleanup_on_exit; the pool is emptied). Returns 0, or -errno when
 * it could not start (logged). */
int daemon_run(const struct daemon_config *cfg);

#endif
