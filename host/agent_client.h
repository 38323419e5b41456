/* The host side of the agent protocol (docs/PROTOCOL.md): frames over one
 * stream connection, request ids, and waiting for replies and events. Blocking
 * with timeouts; one thread uses a client at a time. Everything the agent
 * sends is treated as hostile: a malformed message is an error, never a crash. */
#ifndef AGENTVM_HOST_AGENT_CLIENT_H
#define AGENTVM_HOST_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct agent_client;

/* The protocol version this client speaks. */
#define AGENT_CLIENT_PROTOCOL 1

/* Wrap a connected stream; the client owns fd from then on (even on failure). */
int agent_client_new(int fd, struct agent_client **out);
/* Close the connection and free. NULL-safe. */
void agent_client_free(struct agent_client *c);
/* The connection's fd (for poll: readable means agent_client_recv has work). */
int agent_client_fd(const struct agent_client *c);

/* Set req's "id" to a fresh integer (returned in *id) and send it, waiting at
 * most timeout_ms for the connection to take it. -EPIPE if the agent is gone. */
int agent_client_send(struct agent_client *c, struct json_object *req, int64_t *id, int timeout_ms);
/* The next message from the agent: 1 and a new reference in *msg, 0 if nothing
 * came within timeout_ms (-1: wait forever), -ECONNRESET at end of stream,
 * -EPROTO for a frame that is not a JSON object or has no valid "id". */
int agent_client_recv(struct agent_client *c, int timeout_ms, struct json_object **msg);

/* The id of msg as an integer; -EINVAL if it is absent or not one of ours. */
int agent_client_msg_id(struct json_object *msg, int64_t *id);
/* For a terminal error reply: its code and message (never NULL; "" if absent). */
const char *agent_client_error_code(struct json_object *msg);
const char *agent_client_error_message(struct json_object *msg);

/* Send req and wait for its terminal reply, skipping events of other
 * requests. 0 with the "result" object in *result (new reference), -EREMOTEIO
 * for an error reply (its code and message in err), -ETIMEDOUT, or -errno. */
int agent_client_call(struct agent_client *c, struct json_object *req, int timeout_ms,
		      struct json_object **result, char *err, size_t err_len);

/* hello: check the protocol version; *result (may be NULL) gets the result. */
int agent_client_hello(struct agent_client *c, int timeout_ms, struct json_object **result,
		       char *err, size_t err_len);

/* Signal numbers and the names the protocol uses ("KILL", "TERM"...); NULL or
 * 0 when unknown. */
const char *agent_client_signal_name(int signo);
int agent_client_signal_number(const char *name);

#endif
