/* The CLI's client for agentvmd: one connection to its socket, JSON-RPC 2.0
 * calls with streamed notifications handed to a callback. Blocking. */
#ifndef AGENTVM_HOST_CLIENT_H
#define AGENTVM_HOST_CLIENT_H

#include <signal.h>
#include <stddef.h>

struct json_object;
struct client_conn;

/* The socket to use: $AGENTVMD_SOCKET, else the daemon's default. */
void client_socket_path(char *out, size_t len);

/* Connect to the daemon at path (NULL: client_socket_path). -ENOENT or
 * -ECONNREFUSED when no daemon answers there. */
int client_connect(const char *path, struct client_conn **out);
void client_close(struct client_conn *c);

/* Called for each notification that arrives during a call; params borrowed. */
typedef void (*client_notify_fn)(const char *method, struct json_object *params, void *arg);

struct client_error {
	int code;	     /* the JSON-RPC error code (api.h) */
	char name[32];	     /* its stable name ("ENOSANDBOX") */
	char message[1024];  /* for people */
	char agent_code[32]; /* EAGENT: the agent's errno name ("ENOENT"), else "" */
};

/* Call method with params (consumed; NULL for none). 0 with a new reference
 * to the result in *result (may be NULL), -EREMOTEIO with *err filled for an
 * error reply, -ECONNRESET if the daemon went away, or -errno. */
int client_call(struct client_conn *c, const char *method, struct json_object *params,
		struct json_object **result, client_notify_fn notify, void *arg,
		struct client_error *err);

/* The fd of the connection (to wait on it alongside other fds). */
int client_fd(struct client_conn *c);

/* A call waiting for the daemon returns -EINTR when a signal handler (installed
 * without SA_RESTART) has set *flag. */
void client_set_interrupt(struct client_conn *c, volatile sig_atomic_t *flag);

#endif
