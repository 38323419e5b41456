/* Backends: what gives a sandbox its isolation. Every backend starts the same
 * agent (docs/PROTOCOL.md) as PID 1 of a fresh sandbox and hands back byte
 * streams connected to it; the rest of the controller never knows which one it
 * talks to.
 *   microvm    a KVM microVM run by agentvm-vmm (needs a host whose KVM can
 *              run guest user space: see `agentvm doctor`)
 *   container  namespaces + overlayfs + cgroups + capabilities + seccomp
 *              (host/backend_container.c, host/CONTAINER.md) */
#ifndef AGENTVM_HOST_BACKEND_H
#define AGENTVM_HOST_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Zero means the backend's default for every field. */
struct backend_limits {
	uint64_t mem_bytes;  /* memory (RAM of a VM, memory cgroup of a container) */
	uint32_t cpu_millis; /* thousandths of a CPU */
	uint64_t pids_max;   /* tasks */
	uint64_t disk_bytes; /* size of the writable layer over the image */
};

#define BACKEND_DEFAULT_MEM  (1ull << 30)
#define BACKEND_DEFAULT_CPUS 2000
#define BACKEND_DEFAULT_PIDS 1024
#define BACKEND_DEFAULT_DISK (1ull << 30)
#define BACKEND_NAME_MAX     63

struct backend_config {
	const char *name;	      /* [A-Za-z0-9_.-]{1,63}, unique among running sandboxes */
	const char *rootfs;	      /* the image's root directory tree; never written to */
	const char *agent_path;	      /* host path of the agent to run as PID 1; NULL: the
				       * image's own /sbin/init */
	const char *const *init_argv; /* replaces the agent's argv (diagnostics, tests);
				       * argv[0] is the program; NULL normally */
	struct backend_limits limits;
	int log_fd;   /* where PID 1's stdout/stderr go; -1: agent.log in the state dir */
	int detached; /* the sandbox outlives the process that made it (a daemon that
		       * may restart and adopt it); 0: it dies with its maker */
	/* Egress (docs/EGRESS.md): the host path of the sandbox's egress proxy
	 * socket. The container backend binds it at /run/agentvm/egress.sock and
	 * starts the agent with --egress. NULL: no egress. */
	const char *egress_sock;
	/* microvm only. The guest kernel (NULL: the project's guest kernel) and
	 * what to add to its command line; a kernel that is a synthetic test
	 * guest (tests/guests/) reads its parameters there. */
	const char *kernel;
	const char *cmdline;
	/* microvm only: the guest runs no agent (a synthetic test guest). It
	 * then runs where guest user space cannot (the probe's -ENOTSUP). */
	int test_guest;
	/* microvm only: where the template's golden snapshots live. If one for
	 * this exact boot (VMM, kernel, initrd, command line, memory, vCPUs)
	 * is there, the sandbox is restored from it; otherwise it boots and
	 * ops->golden may take one. NULL: always boot, never snapshot. */
	const char *snapshot_dir;
};

/* How a sandbox came to be (backend_sandbox_origin). */
enum backend_origin {
	BACKEND_BOOTED,	  /* started from scratch */
	BACKEND_RESTORED, /* restored from a golden snapshot */
};

struct backend_ops {
	const char *name;
	/* 0 when this backend can run sandboxes here; else -errno and one line in why. */
	int (*probe)(char *why, size_t len);
	/* Start a sandbox; on success *priv is its state. Logs why on failure. */
	int (*create)(const struct backend_config *cfg, void **priv);
	/* A new stream connected to the sandbox's agent. */
	int (*connect)(void *priv, int *fd);
	/* An fd that polls readable once the sandbox has stopped (or -1). */
	int (*exit_fd)(void *priv);
	/* Stop everything in the sandbox and remove its traces. */
	void (*destroy)(void *priv);
	/* Optional: the file PID 1's output goes to, while the sandbox exists. */
	const char *(*log_path)(void *priv);
	/* Optional: take over the running sandbox `name` that another process (an
	 * earlier run of a daemon) created with cfg->detached; -ESRCH if it is gone. */
	int (*adopt)(const char *name, void **priv);
	/* Optional: remove what the sandbox `name` left behind once it is gone
	 * (state directory, cgroups), killing anything still in it. */
	void (*remove_stale)(const char *name);
	/* Optional: the pid of PID 1 (or of the VMM) on the host. */
	int (*pid)(void *priv);
	/* Optional: free priv but leave the (detached) sandbox running, for a
	 * later adopt. */
	void (*release)(void *priv);
	/* Optional: after the first readiness check of a sandbox that booted
	 * for a snapshot_dir, take the golden snapshot there (the sandbox goes
	 * on running). 0 also when there is nothing to do. */
	int (*golden)(void *priv);
	/* Optional: put the sandbox back, in place, to the snapshot it was
	 * restored from or took; -ENOTSUP if it has none. */
	int (*reset)(void *priv);
	/* Optional: stop a running sandbox's CPUs (it keeps its memory and
	 * state), and start them again. */
	int (*pause)(void *priv);
	int (*resume)(void *priv);
	/* Optional: how it started (default BACKEND_BOOTED). */
	enum backend_origin (*origin)(void *priv);
	/* Optional: the host path of the socket that reaches the guest
	 * (microvm: the VMM's hybrid vsock), or NULL. */
	const char *(*guest_socket)(void *priv);
};

struct backend_sandbox;

extern const struct backend_ops backend_container_ops;
extern const struct backend_ops backend_microvm_ops;

/* The backend called name ("microvm", "container"); -ENOENT if none. */
int backend_lookup(const char *name, const struct backend_ops **out);
/* Is name a valid sandbox name? */
int backend_name_valid(const char *name);
/* Where backends keep per-sandbox state: $AGENTVM_RUN_DIR, else /run/agentvm
 * (root) or $XDG_RUNTIME_DIR/agentvm. Creates it (0700). */
int backend_state_root(char *out, size_t len);

/* Create and start a sandbox with ops. Defaults are filled in for zero limits. */
int backend_sandbox_new(const struct backend_ops *ops, const struct backend_config *cfg,
			struct backend_sandbox **out);
/* A new connection to the sandbox's agent (the caller owns the fd). */
int backend_sandbox_connect(struct backend_sandbox *sb, int *fd);
/* Pollable fd that turns readable when the sandbox has stopped, or -1. Owned by sb. */
int backend_sandbox_exit_fd(struct backend_sandbox *sb);
const char *backend_sandbox_name(const struct backend_sandbox *sb);
/* Log the last lines PID 1 wrote (to explain a failure), if the backend keeps them. */
void backend_sandbox_log_tail(struct backend_sandbox *sb, int lines);
const char *backend_sandbox_backend(const struct backend_sandbox *sb);
/* Take over a running detached sandbox (ops->adopt); -ENOTSUP if the backend
 * cannot, -ESRCH if it is gone. */
int backend_sandbox_adopt(const struct backend_ops *ops, const char *name,
			  struct backend_sandbox **out);
/* The host pid of PID 1 (or the VMM), or -1. */
int backend_sandbox_pid(struct backend_sandbox *sb);
/* The file PID 1's output goes to, or NULL. */
const char *backend_sandbox_log_path(struct backend_sandbox *sb);
/* Take the golden snapshot if the backend wants one now (ops->golden). */
int backend_sandbox_golden(struct backend_sandbox *sb);
/* Reset in place (ops->reset); -ENOTSUP when the backend cannot. */
int backend_sandbox_reset(struct backend_sandbox *sb);
/* Stop or start a sandbox's CPUs (ops->pause, ops->resume); -ENOTSUP /
 * 0 if the backend has none. */
int backend_sandbox_pause(struct backend_sandbox *sb);
int backend_sandbox_resume(struct backend_sandbox *sb);
enum backend_origin backend_sandbox_origin(struct backend_sandbox *sb);
/* The host path of the socket that reaches the guest, or NULL. */
const char *backend_sandbox_guest_socket(struct backend_sandbox *sb);
/* Free sb but leave its detached sandbox running (for a later adopt).
 * NULL-safe. */
void backend_sandbox_release(struct backend_sandbox *sb);
/* Stop and remove the sandbox, then free sb. NULL-safe. */
void backend_sandbox_free(struct backend_sandbox *sb);

#endif
