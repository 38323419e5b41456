/* Requests of the agent protocol (docs/PROTOCOL.md) parsed and validated into
 * C structs, and the reply/event messages built from them.
 *
 * agent_proto_parse() is pure: it reads one decoded frame and touches nothing
 * else, so the fuzzer can drive it directly. */
#ifndef AGENTVM_GUEST_AGENT_PROTO_H
#define AGENTVM_GUEST_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "guest-agent/agent_error.h"
#include "guest-agent/browser_req.h"

struct json_object;

#define AGENT_PROTOCOL_VERSION 1
#define AGENT_VERSION	       "0.1.0"

#define AGENT_ID_MAX_LEN       256
#define AGENT_PATH_MAX	       AGENT_ERROR_PATH_MAX
#define AGENT_ARGV_MAX	       4096
#define AGENT_ENV_MAX	       4096
#define AGENT_RLIMITS_MAX      16
#define AGENT_GROUPS_MAX       64
#define AGENT_OUTPUT_CAP       (16ull << 20)
#define AGENT_FS_READ_MAX      (8u << 20)
#define AGENT_FS_LIST_LIMIT    100000

enum agent_op {
	AGENT_OP_HELLO,
	AGENT_OP_EXEC,
	AGENT_OP_STDIN,
	AGENT_OP_SIGNAL,
	AGENT_OP_RESIZE,
	AGENT_OP_FS_READ,
	AGENT_OP_FS_WRITE,
	AGENT_OP_FS_STAT,
	AGENT_OP_FS_LIST,
	AGENT_OP_FS_MKDIR,
	AGENT_OP_FS_REMOVE,
	AGENT_OP_FS_RENAME,
	AGENT_OP_SHUTDOWN,
	AGENT_OP_BROWSER_OPEN,
	AGENT_OP_BROWSER_NAVIGATE,
	AGENT_OP_BROWSER_SNAPSHOT,
	AGENT_OP_BROWSER_CLICK,
	AGENT_OP_BROWSER_FILL,
	AGENT_OP_BROWSER_SELECT,
	AGENT_OP_BROWSER_PRESS,
	AGENT_OP_BROWSER_SCREENSHOT,
	AGENT_OP_BROWSER_EVALUATE,
	AGENT_OP_BROWSER_BACK,
	AGENT_OP_BROWSER_TABS,
	AGENT_OP_BROWSER_CLOSE,
	AGENT_OP_BROWSER_LIST,
};

/* True for the browser.* ops (handled by guest-agent/browser.c). */
#define AGENT_OP_IS_BROWSER(op) ((op) >= AGENT_OP_BROWSER_OPEN && (op) <= AGENT_OP_BROWSER_LIST)

struct agent_rlimit {
	int resource;
	struct rlimit lim;
};

struct agent_exec_req {
	char **argv; /* NULL-terminated; strings borrowed from the request */
	size_t argc;
	char **env; /* "K=V", NULL-terminated, each malloc'd */
	size_t nenv;
	const char *cwd; /* NULL: "/" */
	int has_uid, has_gid, has_groups;
	uid_t uid;
	gid_t gid;
	gid_t groups[AGENT_GROUPS_MAX];
	size_t ngroups;
	unsigned char *stdin_data; /* malloc'd, or NULL */
	size_t stdin_len;
	int has_stdin, stdin_stream;
	uint64_t timeout_ms;
	uint64_t output_cap;
	struct agent_rlimit rlimits[AGENT_RLIMITS_MAX];
	size_t nrlimits;
	int pty;
	unsigned short rows, cols;
};

struct agent_target_req {
	struct json_object *target; /* borrowed: the id of a running exec */
	unsigned char *data;	    /* stdin: malloc'd, or NULL */
	size_t len;
	int eof;
	int signo, group;
	unsigned short rows, cols;
};

struct agent_fs_req {
	const char *path, *to; /* borrowed; rename: path is "from" */
	uint64_t offset, length, limit;
	int has_offset, has_length;
	unsigned char *data; /* fs.write: malloc'd */
	size_t len;
	mode_t mode;
	int has_mode;
	int create, exclusive, truncate, append, parents, recursive, follow, overwrite;
	int has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

struct agent_request {
	struct json_object *id; /* borrowed from the message, or NULL if missing/invalid */
	enum agent_op op;
	const char *op_name;
	struct agent_exec_req exec;
	struct agent_target_req target;
	struct agent_fs_req fs;
	struct browser_req browser;
};

/* Parse and validate msg (a JSON object) into req. Returns 0, or -1 with err
 * filled (req->id is still set when the id itself was valid). Either way the
 * caller must agent_proto_request_clear(req); req borrows from msg, so msg must
 * outlive it. */
int agent_proto_parse(struct json_object *msg, struct agent_request *req, struct agent_error *err);
/* Release what agent_proto_parse allocated. Safe on a zeroed request. */
void agent_proto_request_clear(struct agent_request *req);

/* Member accessors for op parsers in other files, with the rules of the core
 * ops (absent or null = not given). Each returns 0, or -1 with err filled
 * (EBADREQ naming key). */
int agent_proto_get_bool(struct json_object *msg, const char *key, int def, int *out,
			 struct agent_error *err);
/* A non-negative integer <= max; *present says whether it was given. */
int agent_proto_get_uint(struct json_object *msg, const char *key, uint64_t max, uint64_t *out,
			 int *present, struct agent_error *err);
/* A string of 1..maxlen bytes without NUL; *out is NULL when absent. */
int agent_proto_get_string(struct json_object *msg, const char *key, int required, size_t maxlen,
			   const char **out, struct agent_error *err);

/* True if a and b are the same request id (same type and value). */
int agent_proto_id_equal(struct json_object *a, struct json_object *b);

/* {"id":id,"ok":true,"result":result}; takes result's reference (NULL -> {}).
 * id may be NULL (sent as null). Returns NULL on allocation failure. */
struct json_object *agent_proto_reply_ok(struct json_object *id, struct json_object *result);
/* {"id":id,"ok":false,"error":{...}} */
struct json_object *agent_proto_reply_error(struct json_object *id, const struct agent_error *err);
/* {"id":id,"event":name} for the caller to add members to. */
struct json_object *agent_proto_event(struct json_object *id, const char *name);

/* Signal number for "TERM", "SIGTERM" or "15"; -EINVAL if none. */
int agent_proto_signal_number(const char *name);
/* "KILL" for SIGKILL, or NULL for a signal without a name. */
const char *agent_proto_signal_name(int signo);

#endif
