/* What host/task_queue.c (store, scheduler, runners) and host/task_methods.c
 * (the task.* methods) share. Locking: q->lock guards everything here, the
 * database included; it is never held across a call to the daemon's socket,
 * and never taken with d->lock held. */
#ifndef AGENTVM_HOST_TASK_QUEUE_INTERNAL_H
#define AGENTVM_HOST_TASK_QUEUE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/task_queue.h"

struct tq_item {
	struct tq_item *next;
	int64_t id;
	char template_name[64];
};

struct tq_batch {
	struct tq_batch *next;
	char id[64];
	int64_t uid;
	int parallel;
	int running;
	struct tq_item *head, *tail;
};

struct tq_tpl {
	struct tq_tpl *next;
	char name[64];
	int running;
};

struct tq;

struct tq_runner {
	struct tq *q;
	pthread_t th;
	bool started;
	int fd;		 /* the runner's connection (shut down to cancel) */
	int64_t task_id; /* 0 idle */
	bool cancel;
	struct task_runner_ctx ctx;
};

struct tq {
	struct daemon *d;
	sqlite3 *db;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tq_batch *batches;
	struct tq_batch *rr; /* the batch served last */
	struct tq_tpl *tpls;
	int max_parallel, per_template;
	struct tq_runner *runners;
	bool stopping;
	int64_t done_seq;
};

/* The one queue of this process (NULL when not running). */
extern struct tq *task_queue_global;

int64_t task_queue_wall_ms(void);
/* Run one statement with bound args: 'i' int64_t, 't' text, 'n' NULL (a
 * pointer argument that is ignored). 0 or -EIO (logged). */
int task_queue_exec(struct tq *q, const char *sql, const char *types, ...);
struct tq_batch *task_queue_batch_find(struct tq *q, const char *id);
/* The batch id, made when absent; NULL on allocation failure. */
struct tq_batch *task_queue_batch_get(struct tq *q, const char *id, int64_t uid, int parallel);
/* Forget b when it has nothing queued or running. */
void task_queue_batch_maybe_free(struct tq *q, struct tq_batch *b);
void task_queue_push(struct tq_batch *b, struct tq_item *it, bool front);
/* End b's queued tasks (only only_id when not 0) as cancelled. */
void task_queue_cancel_queued_locked(struct tq *q, struct tq_batch *b, int64_t only_id);
/* task_methods.c: reply to a task method and finish op. */
void task_methods_dispatch(struct tq *q, struct op *op);

#endif
