/* What the MCP server needs from sandboxes, as an ops table: the real one
 * (mcp_sandbox_ops, host/mcp/mcp_sandbox.c) starts sandboxes through the
 * backends and talks the agent protocol (docs/PROTOCOL.md); tests and the
 * fuzzer plug in fakes, so the protocol handling runs without a sandbox. */
#ifndef AGENTVM_HOST_MCP_MCP_BACKEND_H
#define AGENTVM_HOST_MCP_MCP_BACKEND_H

#include <stddef.h>

#include "host/backend.h"

struct json_object;

struct mcp_sandbox_spec {
	const char *image;     /* an image name ("minimal") or a directory */
	const char *isolation; /* "auto", "microvm" or "container" */
	struct backend_limits limits;
};

/* Called with each non-terminal message of a request (exec output events). */
typedef void (*mcp_backend_event_fn)(void *arg, struct json_object *msg);

struct mcp_backend_ops {
	/* Start a sandbox and wait for its agent's hello. 0 with *sb, or -errno
	 * with one line in err. */
	int (*create)(void *ctx, const struct mcp_sandbox_spec *spec, void **sb, char *err,
		      size_t len);
	/* Shut the sandbox down and free it. NULL-safe. */
	void (*destroy)(void *ctx, void *sb);
	/* The agent's hello result (borrowed; "capabilities" says what it can do). */
	struct json_object *(*hello)(void *sb);
	/* Send req (an agent request; the backend sets its "id") and wait at most
	 * timeout_ms for the terminal message, passing the events before it to
	 * on_event. 0 with the terminal message in *reply (new reference, an
	 * error reply included); -ETIMEDOUT; -ECONNRESET when the sandbox
	 * stopped or the connection broke; -EINTR when the session is ending;
	 * other -errno. err gets one line for every failure. */
	int (*request)(void *ctx, void *sb, struct json_object *req, int timeout_ms,
		       mcp_backend_event_fn on_event, void *arg, struct json_object **reply,
		       char *err, size_t len);
};

/* The real sandboxes. ctx is a struct mcp_sandbox_ctx. */
extern const struct mcp_backend_ops mcp_sandbox_ops;

struct mcp_policy;
struct audit_log;

struct mcp_sandbox_ctx {
	int cancel_fd; /* -1, or an fd that turns readable when the session must end */
	int log_fd;    /* where PID 1 of each sandbox logs; -1: a file in its state dir */
	/* Each sandbox gets an egress proxy with these rules (mcp_policy_to_egress);
	 * NULL: no egress, the sandbox reaches no network. */
	const struct mcp_policy *policy;
	struct audit_log *audit; /* egress connections are audited here; NULL: not */
};

#endif
