/* The MCP server of `agentvm mcp`: JSON-RPC 2.0 messages in, replies out.
 * The handling is a function of (server state, message): all I/O with
 * sandboxes goes through a struct mcp_backend_ops, so the tests and the
 * fuzzer drive it without sandboxes.
 *
 * Protocol: the 2025-11-25 `initialize` handshake (and the earlier revisions
 * a client may ask for), plus the stateless 2026-07-28 form, in which each
 * request carries its protocol version in params._meta and `server/discover`
 * replaces the handshake. Requests are also served without any handshake. */
#ifndef AGENTVM_HOST_MCP_MCP_SERVER_H
#define AGENTVM_HOST_MCP_MCP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "host/mcp/mcp_backend.h"

struct json_object;
struct mcp_policy;
struct mcp_server;

#define MCP_SERVER_NAME	    "agentvm"
#define MCP_SERVER_VERSION  "0.1.0"
#define MCP_PROTOCOL_LEGACY "2025-11-25"
#define MCP_PROTOCOL_MODERN "2026-07-28"
/* A line longer than this is refused (the biggest file write fits). */
#define MCP_SERVER_LINE_MAX (24u << 20)

/* JSON-RPC and MCP error codes. */
#define MCP_ERR_PARSE		  (-32700)
#define MCP_ERR_INVALID_REQUEST	  (-32600)
#define MCP_ERR_METHOD_NOT_FOUND  (-32601)
#define MCP_ERR_INVALID_PARAMS	  (-32602)
#define MCP_ERR_INTERNAL	  (-32603)
#define MCP_ERR_UNSUPPORTED_PROTO (-32022)

/* Receives one audit record per tool call (borrowed: copy what you keep). */
typedef void (*mcp_server_audit_fn)(void *arg, struct json_object *record);

struct mcp_server_config {
	const struct mcp_policy *policy;   /* borrowed; must outlive the server */
	const struct mcp_backend_ops *ops; /* sandboxes */
	void *ops_ctx;
	const char *image;     /* default image (NULL: "minimal") */
	const char *isolation; /* default isolation (NULL: "auto") */
	mcp_server_audit_fn audit;
	void *audit_arg;
};

/* A server with no sandboxes yet. 0, -ENOMEM, or -EINVAL for a bad config. */
int mcp_server_new(const struct mcp_server_config *cfg, struct mcp_server **out);
/* Destroy every sandbox the session created, then free. NULL-safe. */
void mcp_server_free(struct mcp_server *s);

/* Handle one line of input (a JSON-RPC message; no newline needed). *reply is
 * NULL when nothing is to be sent (notifications, responses), else a malloc'd
 * single-line JSON text of *reply_len bytes, without the newline. Returns 0 or
 * -ENOMEM. Never fails on hostile input: that gets a JSON-RPC error reply. */
int mcp_server_handle_line(struct mcp_server *s, const char *line, size_t len, char **reply,
			   size_t *reply_len);

/* The same for an already parsed message: *reply NULL or a new reference. */
int mcp_server_handle_message(struct mcp_server *s, struct json_object *msg,
			      struct json_object **reply);

/* An error reply {"jsonrpc":"2.0","id":id,"error":{code,message}} (id may be
 * NULL: JSON null). New reference, or NULL without memory. */
struct json_object *mcp_server_error(struct json_object *id, int code, const char *message);

/* Milliseconds (CLOCK_MONOTONIC) at which the next sandbox expires, or -1. */
int64_t mcp_server_next_expiry(const struct mcp_server *s);
/* Destroy the sandboxes whose lifetime ended at now_ms (CLOCK_MONOTONIC). */
void mcp_server_expire(struct mcp_server *s, int64_t now_ms);
/* Number of live sandboxes (for tests). */
unsigned mcp_server_sandbox_count(const struct mcp_server *s);

/* The tools this server offers under its policy, as the "tools" array of
 * tools/list (borrowed). */
struct json_object *mcp_server_tools(const struct mcp_server *s);

#endif
