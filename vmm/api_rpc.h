/* JSON-RPC 2.0 for the VMM's control socket: parsing one request line into
 * a validated request, and building reply lines. Pure functions over json-c;
 * every byte of a line is hostile. */
#ifndef AGENTVM_VMM_API_RPC_H
#define AGENTVM_VMM_API_RPC_H

#include <stddef.h>

struct json_object;

/* JSON-RPC 2.0 error codes, and the VMM's own (-32000 and below). */
#define API_RPC_PARSE_ERROR	 -32700
#define API_RPC_INVALID_REQUEST	 -32600
#define API_RPC_METHOD_NOT_FOUND -32601
#define API_RPC_INVALID_PARAMS	 -32602
#define API_RPC_INTERNAL_ERROR	 -32603
#define API_RPC_FAILED		 -32000 /* the operation was tried and failed */
#define API_RPC_NO_SNAPSHOT	 -32001 /* vm.reset with nothing to reset to */
#define API_RPC_BAD_STATE	 -32002 /* not possible in the VM's current state */

#define API_RPC_MAX_DEPTH	 16
#define API_RPC_METHOD_MAX	 64

struct api_rpc_request {
	struct json_object *root; /* the whole request (owned) */
	struct json_object *id;	  /* borrowed from root; NULL for a notification */
	int has_id;		  /* an "id" member was present (it may be null) */
	char method[API_RPC_METHOD_MAX];
	struct json_object *params; /* borrowed from root: an object, or NULL if absent */
};

/* Parse and validate one line (without its newline): a single JSON object
 * with "jsonrpc": "2.0", a string "method", an optional "id" (string,
 * integer or null) and optional object "params", nothing else. Returns 0,
 * or a JSON-RPC error code with err saying why; even then req->id is the
 * request's id when one could be read (for the error reply). Free req with
 * api_rpc_request_free() either way. */
int api_rpc_parse(const char *line, size_t len, struct api_rpc_request *req, char *err,
		  size_t errlen);
void api_rpc_request_free(struct api_rpc_request *req);

/* Check that params (may be NULL) has only the members named in allowed
 * (NULL-terminated) and every one in required. Returns 0 or
 * API_RPC_INVALID_PARAMS with err naming the member. */
int api_rpc_check_params(struct json_object *params, const char *const *allowed,
			 const char *const *required, char *err, size_t errlen);
/* A string member of params that is non-empty, at most max bytes, with no
 * NUL; NULL (and err set) otherwise. */
const char *api_rpc_get_path(struct json_object *params, const char *key, size_t max, char *err,
			     size_t errlen);

/* Reply lines, newline-terminated (free() them). id may be NULL (null).
 * api_rpc_result takes ownership of result (NULL: null). */
char *api_rpc_result(struct json_object *id, struct json_object *result);
char *api_rpc_error(struct json_object *id, int code, const char *message);

#endif
