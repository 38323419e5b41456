/* Running processes for the "exec" op and the ops that act on them (stdin,
 * signal, resize): pipes or a pty streamed as events, timeouts that kill the
 * whole process group, output caps and back-pressure. */
#ifndef AGENTVM_GUEST_AGENT_EXEC_H
#define AGENTVM_GUEST_AGENT_EXEC_H

#include <sys/types.h>

struct agent;
struct agent_conn;
struct agent_error;
struct agent_exec;
struct agent_request;

/* Start req (an exec) for connection c. On success the "started" event is
 * queued and 0 returned; the exit event follows later. On failure returns -1
 * with err filled (the caller sends the error reply). */
int agent_exec_start(struct agent *a, struct agent_conn *c, const struct agent_request *req,
		     struct agent_error *err);

/* The stdin, signal and resize ops on a running exec of c. Return 0 (the
 * caller replies {}) or -1 with err filled. */
int agent_exec_stdin(struct agent_conn *c, const struct agent_request *req,
		     struct agent_error *err);
int agent_exec_signal(struct agent_conn *c, const struct agent_request *req,
		      struct agent_error *err);
int agent_exec_resize(struct agent_conn *c, const struct agent_request *req,
		      struct agent_error *err);

/* A child was reaped with wait status st. Returns 1 if it was an exec's. */
int agent_exec_reaped(struct agent *a, pid_t pid, int status);

/* Stop (paused = 1) or resume reading the output of every exec of c. */
void agent_exec_pause_conn(struct agent_conn *c, int paused);

/* Kill (SIGKILL to the group) and forget every exec of c, sending nothing:
 * the connection is going away. */
void agent_exec_abandon_conn(struct agent_conn *c);
/* SIGKILL every running exec's process group (shutdown). */
void agent_exec_kill_all(struct agent *a);

/* Free every exec on a's dead list. */
void agent_exec_reap_dead(struct agent *a);

#endif
