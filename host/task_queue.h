/* agentvmd's task queue (docs/TASKS.md): task.submit, task.get, task.list,
 * task.cancel and batch.cancel; a fixed set of runner threads that take tasks
 * round-robin between batches, bounded overall, per template and per batch;
 * every task and result is kept in <state-dir>/tasks.db (SQLite, WAL) so a
 * restart loses none and runs none twice. One queue per process. */
#ifndef AGENTVM_HOST_TASK_QUEUE_H
#define AGENTVM_HOST_TASK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct op;
struct json_object;
struct client_conn;
struct client_error;

/* Open the store, re-queue what an earlier run left running (counted as an
 * infrastructure retry), and start the runners; after the socket listens.
 * Runners: $AGENTVMD_TASK_PARALLEL (default 64) in all, at most
 * $AGENTVMD_TASK_PER_TEMPLATE (default the same) on one template. */
int task_queue_start(struct daemon *d);
/* Stop the runners (tasks they had go back to the queue, not counted as
 * retries) and close the store. Safe when never started. */
void task_queue_stop(struct daemon *d);
/* Handle op if it is a task method (replies and finishes it); false if not. */
bool task_queue_method(struct op *op);

/* --- task_run.c: one task in a sandbox, through the daemon's own socket --- */

enum task_outcome {
	TASK_DONE,    /* *result is final: passed or failed (the task's own doing) */
	TASK_INFRA,   /* the sandbox, the agent or the host failed: retry if allowed */
	TASK_STOPPED, /* cancelled, or the daemon is stopping */
};

/* What a runner keeps between tasks: its connection and its sandbox. */
struct task_runner_ctx {
	const char *socket_path;
	char run_id[48]; /* this daemon run's mark on its runners' sandboxes */
	struct client_conn *conn;
	char sandbox[64]; /* "" none */
	char key[512];	  /* template and limits the sandbox was made with */
	int64_t task_id;
	/* Called with the connection's fd (or -1) so that a cancel can shut it down. */
	void (*set_fd)(void *arg, int fd);
	/* Called once the task has its sandbox (recorded for task.get). */
	void (*set_sandbox)(void *arg, const char *name);
	bool (*cancelled)(void *arg);
	void *arg;
};

/* Run spec (canonical, task.h) once. *result gets the result object (status,
 * steps, exit codes, artefacts, duration, sandbox, reason). */
enum task_outcome task_run_one(struct task_runner_ctx *r, struct json_object *spec,
			       struct json_object **result);
/* After a task: reset the runner's sandbox (or destroy it when that fails). */
void task_run_reset(struct task_runner_ctx *r);
/* Destroy the runner's sandbox and close its connection. */
void task_run_release(struct task_runner_ctx *r);

#endif
