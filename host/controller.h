/* The embedded controller: what `agentvm run` uses when no daemon runs. It
 * picks a backend, starts a sandbox, waits for the agent's hello, runs
 * commands with their output streamed, and destroys the sandbox. */
#ifndef AGENTVM_HOST_CONTROLLER_H
#define AGENTVM_HOST_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "host/backend.h"

struct json_object;
struct controller_sandbox;
struct egress_policy;

struct controller_options {
	const char *isolation;	/* "auto", "microvm", "container" or "libvirt" */
	const char *name;	/* NULL: a fresh "run-<random>" */
	const char *rootfs;	/* the image's root tree */
	const char *agent_path; /* NULL: the image's /sbin/init */
	struct backend_limits limits;
	int hello_timeout_ms; /* 0: 30 s */
	int log_fd;	      /* PID 1's stdout/stderr; -1: a file in the state directory */
	/* Egress (docs/EGRESS.md): NULL means the sandbox has no way out. Else
	 * the policy is taken (freed with the sandbox, or on failure) and its
	 * proxy runs in this process; audit lines go to egress_audit (JSON
	 * lines), if set. */
	struct egress_policy *egress_policy;
	const char *egress_audit;
};

/* Resolve an isolation level to a backend. "auto" takes microvm when this host
 * can run microVM sandboxes and container otherwise (never libvirt, which is
 * only taken when named); why (one line) says which and for what reason.
 * -EINVAL for an unknown level. The named backend is not probed here. */
int controller_choose_backend(const char *isolation, const struct backend_ops **ops, char *why,
			      size_t why_len);

/* Create a sandbox with the chosen backend and wait for the agent's hello.
 * Logs the reason on failure. */
int controller_sandbox_new(const struct controller_options *o, const struct backend_ops *ops,
			   struct controller_sandbox **out);
/* The agent's hello result (borrowed). */
struct json_object *controller_sandbox_hello(struct controller_sandbox *sb);
const char *controller_sandbox_name(const struct controller_sandbox *sb);
/* Ask the agent to shut down (briefly), then destroy the sandbox. NULL-safe. */
void controller_sandbox_free(struct controller_sandbox *sb);

struct controller_exec {
	const char *const *argv; /* NULL-terminated, at least one entry */
	const char *const *env;	 /* "K=V" entries, NULL-terminated; NULL: none */
	const char *cwd;	 /* NULL: / */
	int64_t uid;		 /* -1: the agent's default (root) */
	uint64_t timeout_ms;	 /* 0: none */
	int out_fd, err_fd;	 /* where stdout and stderr are written as they arrive */
	int stdin_fd;		 /* -1: empty stdin; else streamed to the command until EOF */
	int signal_fd; /* -1, or a signalfd whose signals are forwarded to the command (the
			* third SIGINT as SIGKILL) */
};

struct controller_exec_result {
	int started;   /* the process ran (else error/error_code say why not) */
	int exit_code; /* its exit status, or -1 when a signal ended it */
	int signo;     /* that signal, else 0 */
	int timed_out; /* the timeout ended it */
	int64_t duration_ms;
	char error_code[32]; /* when it did not start: the agent's code ("ENOENT"...) */
	char error[256];
	int out_closed, err_closed; /* our stdout/stderr went away (EPIPE) */
};

/* Run one command to completion. 0 once the command has ended (or failed to
 * start: see res->started); -errno when the sandbox or connection failed. */
int controller_sandbox_exec(struct controller_sandbox *sb, const struct controller_exec *ex,
			    struct controller_exec_result *res);

/* One message the agent sent about an exec (an event or its terminal reply):
 * output goes to ex's fds, the outcome into res. Returns 1 when it was the
 * terminal message. Exposed for the tests and the fuzzer: msg is hostile. */
int controller_exec_event(struct json_object *msg, const struct controller_exec *ex,
			  struct controller_exec_result *res, const char *sbname);

#endif
