/* The VMM's control socket: JSON-RPC 2.0, one request per line, on a Unix
 * stream socket served by the event loop. Non-blocking throughout: request
 * lines are bounded (API_SERVER_LINE_MAX), so is each client's unsent output, and
 * at most API_SERVER_MAX_CLIENTS are connected at once; a client breaking a limit
 * is disconnected. Requests run one at a time on the loop thread. */
#ifndef AGENTVM_VMM_API_SERVER_H
#define AGENTVM_VMM_API_SERVER_H

#include <stddef.h>

#include "vmm/loop.h"

#define API_SERVER_LINE_MAX    (64 * 1024)
#define API_SERVER_OUT_MAX     (1024 * 1024)
#define API_SERVER_MAX_CLIENTS 32

struct json_object;

/* A method: fill *result (NULL means null) and return 0, or return a
 * JSON-RPC error code (api_rpc.h) with err saying why. params is NULL or an
 * object holding only the names in allowed, and all in required. */
struct api_server_method {
	const char *name;
	int (*fn)(void *ctx, struct json_object *params, struct json_object **result, char *err,
		  size_t errlen);
	const char *const *allowed;
	const char *const *required;
};

struct api_server;

/* Listen on path (a stale socket there is replaced; mode 0600) and serve
 * methods (a table ending with a NULL name) with ctx. With loop and path
 * NULL, nothing listens: api_server_process_line() alone (tests, fuzzing). */
int api_server_new(struct loop *loop, const char *path, const struct api_server_method *methods,
		   void *ctx, struct api_server **out);
/* Close every client and the socket, and remove its file; NULL-safe. */
void api_server_free(struct api_server *api);

/* Handle one request line (without its newline): *reply is the reply line
 * to send (free() it), or NULL for a notification. Returns 0 or -ENOMEM. */
int api_server_process_line(struct api_server *api, const char *line, size_t len, char **reply);

/* Requests served so far (counting errors). */
unsigned long long api_server_requests(const struct api_server *api);

#endif
