/* The MCP tools: their table (name, description, input schema, handler) and
 * what the handlers share: the sandboxes of the session, the result being
 * built, and calls to the agent. Internal to host/mcp/. */
#ifndef AGENTVM_HOST_MCP_MCP_TOOLS_H
#define AGENTVM_HOST_MCP_MCP_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "host/mcp/mcp_backend.h"
#include "host/mcp/mcp_server.h"

struct json_object;

#define MCP_SB_ID_MAX	       32
#define MCP_DEFAULT_SANDBOX_ID "default"

/* One sandbox of the session. */
struct mcp_sb {
	char id[MCP_SB_ID_MAX];
	void *h; /* the backend's handle; NULL once it stopped */
	char *image, *isolation;
	struct backend_limits limits;
	int64_t lifetime_ms; /* 0: until destroyed */
	int64_t expires_ms;  /* CLOCK_MONOTONIC; 0: never */
	char *dead_reason;   /* why h went away, when it did */
	int browser_open;    /* our browser session is open in it */
	char *page_url;	     /* the browser's page as last reported (untrusted) */
	struct mcp_sb *next;
};

struct mcp_server {
	struct mcp_server_config cfg;
	struct json_object *tools; /* tools/list "tools" under the policy */
	struct mcp_sb *sandboxes;
	unsigned nsandboxes;
	unsigned next_id;
	int initialized;
	char client_name[64];
};

/* One tools/call being answered. */
struct mcp_call {
	struct mcp_server *s;
	const struct mcp_tool *tool;
	struct json_object *args;	/* validated against the tool's schema */
	struct json_object *content;	/* the result's "content" array */
	struct json_object *structured; /* "structuredContent", or NULL */
	int is_error;
	char invalid[512];	     /* set (and -EINVAL returned) for invalid arguments */
	char sandbox[MCP_SB_ID_MAX]; /* the sandbox used, for the audit */
};

#define MCP_TOOL_READ_ONLY   0x1
#define MCP_TOOL_DESTRUCTIVE 0x2
#define MCP_TOOL_OPEN_WORLD  0x4
#define MCP_TOOL_EVALUATE    0x8 /* offered only when the policy allows evaluate */

struct mcp_tool {
	const char *name;
	const char *title;
	const char *description;
	const char *schema; /* JSON text of the inputSchema */
	unsigned flags;
	/* 0 when a result was built (is_error may be set); -EINVAL with
	 * c->invalid for arguments the schema cannot express; -ENOMEM. */
	int (*fn)(struct mcp_call *c);
};

extern const struct mcp_tool mcp_tools_sandbox[];
extern const size_t mcp_tools_sandbox_count;
extern const struct mcp_tool mcp_tools_browser[];
extern const size_t mcp_tools_browser_count;

/* The file tools (host/mcp/mcp_files.c). */
int mcp_tool_sandbox_read_file(struct mcp_call *c);
int mcp_tool_sandbox_write_file(struct mcp_call *c);
int mcp_tool_sandbox_list_files(struct mcp_call *c);

/* Find an offered tool by name (NULL if none or not offered). */
const struct mcp_tool *mcp_tools_find(const struct mcp_server *s, const char *name);
/* Build the tools/list array for the policy. */
int mcp_tools_build_list(struct mcp_server *s, struct json_object **out);

/* Result building. Text is made valid UTF-8. */
int mcp_call_text(struct mcp_call *c, const char *text, size_t len);
int mcp_call_printf(struct mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add a text item and mark the result as an error. */
int mcp_call_fail(struct mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Image content from base64 data (copied). */
int mcp_call_image(struct mcp_call *c, const char *b64, size_t len, const char *mime);
/* Invalid arguments: -EINVAL with the message kept for the -32602 error. */
int mcp_call_invalid(struct mcp_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Argument helpers (after schema validation the types are right). */
const char *mcp_arg_str(struct mcp_call *c, const char *key);
int mcp_arg_int(struct mcp_call *c, const char *key, int64_t *out); /* 1 if present */
int mcp_arg_bool(struct mcp_call *c, const char *key, int def);

/* The sandbox a call names in its "sandbox" argument, or the default one
 * (created on first use). 0 with *sb; else a failed result was built (or
 * -EINVAL for an unknown id) and the error is returned. */
int mcp_sb_for_call(struct mcp_call *c, struct mcp_sb **sb);
/* Send an agent request to sb. 0 with a successful reply's "result" (new
 * reference) in *result; otherwise a failed result naming what went wrong
 * was built (the agent's error, a stopped sandbox, a timeout) and the error
 * is returned: -EREMOTEIO for an error reply (its code in code if non-NULL). */
int mcp_sb_call(struct mcp_call *c, struct mcp_sb *sb, struct json_object *req, int timeout_ms,
		mcp_backend_event_fn on_event, void *arg, struct json_object **result, char *code,
		size_t code_len);
/* Start (or restart) sb's sandbox. 0, or -errno with the reason in err. */
int mcp_sb_start(struct mcp_server *s, struct mcp_sb *sb, char *err, size_t len);
/* A new sandbox, started and added to the session (id NULL: the next "sbN";
 * lifetime_ms 0: no expiry). 0, or -errno with the reason in err (-EUSERS
 * when the policy's max_sandboxes are alive). */
int mcp_sb_new(struct mcp_server *s, const char *id, const char *image, const char *isolation,
	       const struct backend_limits *limits, int64_t lifetime_ms, struct mcp_sb **out,
	       char *err, size_t len);
/* Remove sb from the session and destroy its sandbox. */
void mcp_sb_remove(struct mcp_server *s, struct mcp_sb *sb);
/* Destroy every sandbox (end of session). */
void mcp_sb_destroy_all(struct mcp_server *s);

int64_t mcp_now_ms(void);

/* The host of an http(s) URL, the way a browser reads it: scheme
 * case-insensitive, any run of '/' or '\' after "scheme:", userinfo dropped,
 * the port dropped, IPv6 brackets removed. 1 with the host in out for
 * http(s), 0 for the other schemes a navigation may use (about:, data:,
 * file:), -EINVAL with the reason in why for anything else. */
int mcp_browser_url_host(const char *url, char *out, size_t len, char *why, size_t why_len);

#endif
