/* The controller's JSON-RPC 2.0 surface (docs/CONTROLLER.md): parsing one
 * request line, checking its params against the method's schema, error codes,
 * and building replies and notifications. Pure functions with no daemon state,
 * so the fuzzer can drive them. Everything a client sends is hostile. */
#ifndef AGENTVM_HOST_API_H
#define AGENTVM_HOST_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* A request line (without its '\n') is at most this long. */
#define API_REQUEST_MAX (16u << 20)

/* Error codes: JSON-RPC's own, then the controller's. Each has a stable name
 * (api_error_name) that replies carry in error.data.name. */
enum api_error {
	API_PARSE_ERROR = -32700,
	API_INVALID_REQUEST = -32600,
	API_METHOD_NOT_FOUND = -32601,
	API_INVALID_PARAMS = -32602,
	API_INTERNAL = -32603,
	API_NO_SANDBOX = -32001,  /* no such sandbox (or not yours) */
	API_NO_TEMPLATE = -32002, /* no such template */
	API_LIMIT = -32003,	  /* a limit above the daemon's ceiling */
	API_QUOTA = -32004,	  /* too many sandboxes (per uid or in total) */
	API_BUSY = -32005,	  /* the sandbox is being reset/destroyed, or too many requests */
	API_SANDBOX_FAILED = -32006, /* the sandbox died or is failed */
	API_AGENT = -32007,	     /* the agent refused the operation (data.agent_code) */
	API_TIMEOUT = -32008,	     /* the operation ran out of time */
	API_EXISTS = -32009,	     /* the name is taken */
	API_DENIED = -32010,	     /* the caller may not do this */
	API_BACKEND = -32011,	     /* the backend could not start a sandbox */
	API_TOO_BIG = -32012,	     /* the request or a result is over a size limit */
	API_SHUTDOWN = -32013,	     /* the daemon is stopping */
	API_NOT_SUPPORTED = -32014,  /* not possible with this backend or host */
};

/* "EPARSE", "ENOSANDBOX", ... for a code above; "EUNKNOWN" otherwise. */
const char *api_error_name(int code);

enum api_type {
	API_T_STR,     /* string of 1..max bytes, valid UTF-8, no NUL */
	API_T_NAME,    /* [A-Za-z0-9_.-]{1,63}, not starting with '.' or '-' */
	API_T_PATH,    /* absolute path, 1..4095 bytes, no NUL */
	API_T_INT,     /* integer in [min, max] */
	API_T_NUM,     /* number (int or double) in [min, max] */
	API_T_BOOL,    /* true or false */
	API_T_OBJ,     /* object whose JSON text is at most max bytes */
	API_T_STRS,    /* array of 1..max strings (each at most 128 KiB) */
	API_T_ENV,     /* object of at most max string members "KEY": "VALUE" */
	API_T_B64,     /* canonical base64 string of at most max bytes of text */
	API_T_LIMITS,  /* {"mem_bytes","cpus","pids","disk_bytes"} */
	API_T_ISOLATE, /* "auto", "container" or "microvm" */
};

struct api_param {
	const char *name;
	enum api_type type;
	bool required;
	double min, max; /* API_T_INT / API_T_NUM: range; others: max size */
};

#define API_MAX_PARAMS 16

struct api_method {
	const char *name;
	bool mutating; /* changes state (audited as such) */
	struct api_param params[API_MAX_PARAMS];
};

/* The method called name, or NULL. */
const struct api_method *api_method_find(const char *name);
/* Every method, terminated by one with a NULL name. */
extern const struct api_method api_methods[];

struct api_request {
	struct json_object *root;   /* the parsed request (owned) */
	struct json_object *id;	    /* borrowed from root; NULL when absent or null */
	bool notification;	    /* no "id" member: run it, send no reply */
	const char *method;	    /* borrowed from root */
	struct json_object *params; /* borrowed: an object (an empty one if absent) */
	const struct api_method *m;
};

/* Parse and check one request line. 0: *req is filled (free with
 * api_request_free). Otherwise the error code (< 0), with *reply a complete
 * JSON-RPC error response to send (NULL when the line was a notification that
 * deserves no answer) and *req left empty. */
int api_parse(const char *line, size_t len, struct api_request *req, struct json_object **reply);
void api_request_free(struct api_request *req);

/* Check params against m's schema: unknown members, missing required ones,
 * types, ranges and sizes. 0, or API_INVALID_PARAMS with a message in err. */
int api_validate(const struct api_method *m, struct json_object *params, char *err, size_t errlen);

/* Typed getters for checked params: the value, or def when absent or null. */
const char *api_get_str(struct json_object *params, const char *name, const char *def);
int64_t api_get_int(struct json_object *params, const char *name, int64_t def);
double api_get_num(struct json_object *params, const char *name, double def);
bool api_get_bool(struct json_object *params, const char *name, bool def);
/* Borrowed member, or NULL when absent or null. */
struct json_object *api_get(struct json_object *params, const char *name);

/* Replies and notifications as new objects. id may be NULL (sent as null);
 * it is not consumed. data may be NULL; it is consumed. */
struct json_object *api_result(struct json_object *id, struct json_object *result);
struct json_object *api_error(struct json_object *id, int code, const char *message,
			      struct json_object *data);
struct json_object *api_notification(const char *method, struct json_object *params);

/* Serialise msg as one line with its '\n' into a new buffer. 0 or -ENOMEM. */
int api_to_line(struct json_object *msg, char **out, size_t *len);

#endif
