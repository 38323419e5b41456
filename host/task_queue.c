/* The task queue: store, scheduler and runners (the methods are in
 * task_methods.c). See task_queue.h and
 * docs/TASKS.md.
 *
 * Locking: q->lock guards everything here, the database included. It is
 * never held across a call to the daemon's socket, and never taken with
 * d->lock held. */
#include "host/task_queue_internal.h"

#include "common/log.h"
#include "host/api.h"
#include "host/client.h"
#include "host/daemon_internal.h"
#include "host/task.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tq *task_queue_global;

static const char tq_schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS batches(id TEXT PRIMARY KEY, uid INTEGER NOT NULL,"
	" parallel INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS tasks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" batch TEXT NOT NULL, uid INTEGER NOT NULL, name TEXT, template TEXT NOT NULL,"
	" spec TEXT NOT NULL, state TEXT NOT NULL, retries INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0, max_retries INTEGER NOT NULL,"
	" sandbox TEXT, result TEXT, created_ms INTEGER NOT NULL, started_ms INTEGER,"
	" finished_ms INTEGER, done_seq INTEGER);"
	"CREATE INDEX IF NOT EXISTS tasks_batch ON tasks(batch, done_seq);"
	"CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);";

int64_t task_queue_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run one statement with bound args: 'i' int64_t, 't' text, 'n' NULL (a pointer
 * argument that is ignored). */
int task_queue_exec(struct tq *q, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int r;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_err("tasks.db: %s: %s", sql, sqlite3_errmsg(q->db));
		return -EIO;
	}
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i')
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else if (types[i] == 't')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
					  SQLITE_TRANSIENT);
		else {
			(void)va_arg(ap, const char *);
			sqlite3_bind_null(st, i + 1);
		}
	}
	va_end(ap);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW) {
		log_err("tasks.db: %s: %s", sql, sqlite3_errmsg(q->db));
		return -EIO;
	}
	return 0;
}

/* --- in-memory queue ---------------------------------------------------------- */

struct tq_batch *task_queue_batch_find(struct tq *q, const char *id)
{
	for (struct tq_batch *b = q->batches; b; b = b->next)
		if (!strcmp(b->id, id))
			return b;
	return NULL;
}

struct tq_batch *task_queue_batch_get(struct tq *q, const char *id, int64_t uid, int parallel)
{
	struct tq_batch *b = task_queue_batch_find(q, id);
	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->uid = uid;
	b->parallel = parallel > 0 ? parallel : 1;
	b->next = q->batches;
	q->batches = b;
	return b;
}

void task_queue_batch_maybe_free(struct tq *q, struct tq_batch *b)
{
	if (b->head || b->running)
		return;
	for (struct tq_batch **pp = &q->batches; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	if (q->rr == b)
		q->rr = NULL;
	free(b);
}

void task_queue_push(struct tq_batch *b, struct tq_item *it, bool front)
{
	if (front) {
		it->next = b->head;
		b->head = it;
		if (!b->tail)
			b->tail = it;
		return;
	}
	it->next = NULL;
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
}

static struct tq_tpl *tq_tpl_get(struct tq *q, const char *name)
{
	for (struct tq_tpl *t = q->tpls; t; t = t->next)
		if (!strcmp(t->name, name))
			return t;
	struct tq_tpl *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->next = q->tpls;
	q->tpls = t;
	return t;
}

/* The next task to run: round-robin over batches, within every bound. */
static struct tq_item *tq_pick(struct tq *q, struct tq_batch **out)
{
	int total = 0;
	for (struct tq_batch *b = q->batches; b; b = b->next)
		total += b->running;
	if (total >= q->max_parallel || !q->batches)
		return NULL;
	struct tq_batch *start = q->rr && q->rr->next ? q->rr->next : q->batches;
	struct tq_batch *b = start;
	do {
		if (b->head && b->running < b->parallel) {
			struct tq_tpl *t = tq_tpl_get(q, b->head->template_name);
			if (t && t->running < q->per_template) {
				struct tq_item *it = b->head;
				b->head = it->next;
				if (!b->head)
					b->tail = NULL;
				q->rr = b;
				*out = b;
				return it;
			}
		}
		b = b->next ? b->next : q->batches;
	} while (b != start);
	return NULL;
}

/* --- results ------------------------------------------------------------------- */

/* Record a final result (consumed) of task id. */
static void tq_finish_locked(struct tq *q, int64_t id, const char *status,
			     struct json_object *result)
{
	q->done_seq++;
	json_object_object_add(result, "status", json_object_new_string(status));
	task_queue_exec(
		q, "UPDATE tasks SET state=?, result=?, finished_ms=?, done_seq=? WHERE id=?",
		"ttiii", status, json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN),
		task_queue_wall_ms(), q->done_seq, id);
	json_object_put(result);
}

void task_queue_cancel_queued_locked(struct tq *q, struct tq_batch *b, int64_t only_id)
{
	struct tq_item **pp = &b->head;
	b->tail = NULL;
	while (*pp) {
		struct tq_item *it = *pp;
		if (only_id && it->id != only_id) {
			b->tail = it;
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "passed", json_object_new_boolean(0));
		json_object_object_add(res, "reason",
				       json_object_new_string("cancelled before it ran"));
		tq_finish_locked(q, it->id, "cancelled", res);
		free(it);
	}
}

/* --- runners -------------------------------------------------------------------- */

static void tq_runner_set_fd(void *arg, int fd)
{
	struct tq_runner *r = arg;
	pthread_mutex_lock(&r->q->lock);
	r->fd = fd;
	/* Stopping: the main loop no longer answers, so no call may wait on it. */
	if (fd >= 0 && (r->q->stopping || r->cancel))
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&r->q->lock);
}

static void tq_runner_set_sandbox(void *arg, const char *name)
{
	struct tq_runner *r = arg;
	pthread_mutex_lock(&r->q->lock);
	task_queue_exec(r->q, "UPDATE tasks SET sandbox=? WHERE id=?", "ti", name, r->task_id);
	pthread_mutex_unlock(&r->q->lock);
}

static bool tq_runner_cancelled(void *arg)
{
	struct tq_runner *r = arg;
	pthread_mutex_lock(&r->q->lock);
	bool c = r->cancel || r->q->stopping;
	pthread_mutex_unlock(&r->q->lock);
	return c;
}

static char *tq_load_spec_locked(struct tq *q, int64_t id, int *retries, int *max_retries)
{
	sqlite3_stmt *st = NULL;
	char *spec = NULL;

	if (sqlite3_prepare_v2(q->db, "SELECT spec, retries, max_retries FROM tasks WHERE id=?", -1,
			       &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		spec = strdup((const char *)sqlite3_column_text(st, 0));
		*retries = sqlite3_column_int(st, 1);
		*max_retries = sqlite3_column_int(st, 2);
	}
	sqlite3_finalize(st);
	return spec;
}

/* Destroy the sandboxes that runners of an earlier run left (adopted by the
 * daemon's recovery): they are marked with another run's id. */
static void tq_sweep_old(struct tq_runner *r)
{
	struct client_conn *c = NULL;
	struct client_error e;
	struct json_object *res = NULL;

	if (client_connect(r->ctx.socket_path, &c) < 0)
		return;
	tq_runner_set_fd(r, client_fd(c));
	if (client_call(c, "sandbox.list_all", NULL, &res, NULL, NULL, &e) == 0) {
		struct json_object *list = json_object_object_get(res, "sandboxes");
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			struct json_object *sb = json_object_array_get_idx(list, i);
			struct json_object *meta = json_object_object_get(sb, "metadata");
			const char *run =
				json_object_get_string(json_object_object_get(meta, "task_runner"));
			if (!run || !strcmp(run, r->ctx.run_id))
				continue;
			struct json_object *p = json_object_new_object(), *dres = NULL;
			json_object_object_add(p, "sandbox",
					       json_object_get(json_object_object_get(sb, "name")));
			if (client_call(c, "sandbox.destroy", p, &dres, NULL, NULL, &e) == 0)
				log_info(
					"task runner: removed %s, left by an earlier run",
					json_object_get_string(json_object_object_get(sb, "name")));
			json_object_put(dres);
		}
	}
	json_object_put(res);
	tq_runner_set_fd(r, -1);
	client_close(c);
}

static void *tq_runner_main(void *arg)
{
	struct tq_runner *r = arg;
	struct tq *q = r->q;

	if (r == &q->runners[0])
		tq_sweep_old(r);
	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		struct tq_batch *b = NULL;
		struct tq_item *it = tq_pick(q, &b);
		if (!it && r->ctx.sandbox[0]) {
			/* Keep the sandbox for a task that comes soon; then give it back,
			 * so that idle runners hold no sandboxes. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) == ETIMEDOUT &&
			    !q->stopping) {
				pthread_mutex_unlock(&q->lock);
				task_run_release(&r->ctx);
				pthread_mutex_lock(&q->lock);
			}
			continue;
		}
		if (!it) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		struct tq_tpl *tpl = tq_tpl_get(q, it->template_name);
		b->running++;
		if (tpl)
			tpl->running++;
		r->task_id = it->id;
		r->cancel = false;
		r->ctx.task_id = it->id;
		int retries = 0, max_retries = 0;
		char *text = tq_load_spec_locked(q, it->id, &retries, &max_retries);
		task_queue_exec(
			q,
			"UPDATE tasks SET state='running', attempts=attempts+1, started_ms=? "
			"WHERE id=?",
			"ii", task_queue_wall_ms(), it->id);
		pthread_mutex_unlock(&q->lock);

		struct json_object *spec = text ? json_tokener_parse(text) : NULL;
		struct json_object *result = NULL;
		enum task_outcome oc = TASK_INFRA;
		if (spec) {
			oc = task_run_one(&r->ctx, spec, &result);
		} else {
			oc = TASK_DONE;
			result = json_object_new_object();
			json_object_object_add(result, "passed", json_object_new_boolean(0));
			json_object_object_add(
				result, "reason",
				json_object_new_string("the stored spec is unreadable"));
		}
		json_object_put(spec);
		free(text);

		pthread_mutex_lock(&q->lock);
		b->running--;
		if (tpl)
			tpl->running--;
		bool cancelled = r->cancel;
		r->task_id = 0;
		r->cancel = false;
		json_object_object_add(result, "retries", json_object_new_int(retries));
		if (cancelled) {
			tq_finish_locked(q, it->id, "cancelled", result);
			free(it);
		} else if (q->stopping && oc != TASK_DONE) {
			/* A clean stop: back to the queue, not counted as a retry. */
			task_queue_exec(q, "UPDATE tasks SET state='queued' WHERE id=?", "i",
					it->id);
			json_object_put(result);
			free(it);
		} else if (oc == TASK_INFRA && retries < max_retries) {
			const char *why =
				json_object_get_string(json_object_object_get(result, "reason"));
			log_info("task %lld: infrastructure failure (%s); retry %d of %d",
				 (long long)it->id, why ? why : "?", retries + 1, max_retries);
			task_queue_exec(
				q, "UPDATE tasks SET state='queued', retries=retries+1 WHERE id=?",
				"i", it->id);
			json_object_put(result);
			task_queue_push(b, it, true);
		} else {
			const char *status = "error";
			if (oc == TASK_DONE)
				status = json_object_get_string(
					json_object_object_get(result, "status"));
			if (!task_status_valid(status))
				status = "error";
			char st[16];
			snprintf(st, sizeof(st), "%s", status);
			tq_finish_locked(q, it->id, st, result);
			free(it);
		}
		task_queue_batch_maybe_free(q, b);
		pthread_cond_broadcast(&q->cond);
		/* The result is recorded: now put the sandbox back to its template's
		 * fresh state for the next task. */
		if (!q->stopping && (oc == TASK_DONE || oc == TASK_STOPPED)) {
			pthread_mutex_unlock(&q->lock);
			task_run_reset(&r->ctx);
			pthread_mutex_lock(&q->lock);
		}
	}
	pthread_mutex_unlock(&q->lock);
	task_run_release(&r->ctx);
	return NULL;
}

/* --- start and stop ------------------------------------------------------------------ */

static int tq_env_int(const char *name, int def, int max)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 1 || v > max) {
		log_warn("%s=%s is not 1 to %d; using %d", name, s, max, def);
		return def;
	}
	return (int)v;
}

/* Tasks that were running when the daemon died: back to the queue as an
 * infrastructure failure (a retry), or failed when no retry is left. */
static void tq_recover_locked(struct tq *q)
{
	task_queue_exec(q,
			"UPDATE tasks SET state='queued', retries=retries+1 "
			"WHERE state='running' AND retries < max_retries",
			"");
	sqlite3_stmt *st = NULL;
	/* Those with no retry left end now, 256 at a time. */
	for (int n = 256; n == 256;) {
		n = 0;
		if (sqlite3_prepare_v2(
			    q->db, "SELECT id, retries FROM tasks WHERE state='running' LIMIT 256",
			    -1, &st, NULL) != SQLITE_OK)
			break;
		int64_t ids[256];
		int rs[256];
		while (n < 256 && sqlite3_step(st) == SQLITE_ROW) {
			ids[n] = sqlite3_column_int64(st, 0);
			rs[n++] = sqlite3_column_int(st, 1);
		}
		sqlite3_finalize(st);
		for (int i = 0; i < n; i++) {
			struct json_object *res = json_object_new_object();
			json_object_object_add(res, "passed", json_object_new_boolean(0));
			json_object_object_add(res, "retries", json_object_new_int(rs[i]));
			json_object_object_add(
				res, "reason",
				json_object_new_string("infrastructure: agentvmd stopped while it "
						       "ran, and no retry is left"));
			tq_finish_locked(q, ids[i], "error", res);
		}
	}
	if (sqlite3_prepare_v2(
		    q->db,
		    "SELECT t.id, t.template, t.batch, b.uid, b.parallel FROM tasks t "
		    "JOIN batches b ON b.id=t.batch WHERE t.state='queued' ORDER BY t.id",
		    -1, &st, NULL) != SQLITE_OK)
		return;
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct tq_batch *b = task_queue_batch_get(
			q, (const char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3),
			sqlite3_column_int(st, 4));
		struct tq_item *it = calloc(1, sizeof(*it));
		if (!b || !it) {
			free(it);
			break;
		}
		it->id = sqlite3_column_int64(st, 0);
		snprintf(it->template_name, sizeof(it->template_name), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		task_queue_push(b, it, false);
		n++;
	}
	sqlite3_finalize(st);
	if (n)
		log_info("%d queued tasks from an earlier run", n);
}

int task_queue_start(struct daemon *d)
{
	struct tq *q = calloc(1, sizeof(*q));
	char path[700];
	char *err = NULL;

	if (!q)
		return -ENOMEM;
	q->d = d;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->max_parallel = d->cfg.task_parallel ? d->cfg.task_parallel
					       : tq_env_int("AGENTVMD_TASK_PARALLEL", 64, 4096);
	q->per_template = d->cfg.task_per_template
				  ? d->cfg.task_per_template
				  : tq_env_int("AGENTVMD_TASK_PER_TEMPLATE", q->max_parallel, 4096);
	snprintf(path, sizeof(path), "%s/tasks.db", d->state_dir);
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(q->db, tq_schema, NULL, NULL, &err) != SQLITE_OK) {
		log_err("%s: %s", path, err ? err : sqlite3_errmsg(q->db));
		sqlite3_free(err);
		sqlite3_close(q->db);
		free(q);
		return -EIO;
	}
	sqlite3_busy_timeout(q->db, 5000);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->db, "SELECT MAX(done_seq) FROM tasks", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			q->done_seq = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_lock(&q->lock);
	tq_recover_locked(q);
	pthread_mutex_unlock(&q->lock);
	q->runners = calloc((size_t)q->max_parallel, sizeof(*q->runners));
	if (!q->runners) {
		sqlite3_close(q->db);
		free(q);
		return -ENOMEM;
	}
	task_queue_global = q;
	char run_id[48];
	snprintf(run_id, sizeof(run_id), "%d-%lld", (int)getpid(), (long long)task_queue_wall_ms());
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, DAEMON_THREAD_STACK);
	for (int i = 0; i < q->max_parallel; i++) {
		struct tq_runner *r = &q->runners[i];
		r->q = q;
		r->fd = -1;
		r->ctx.socket_path = d->socket_path;
		snprintf(r->ctx.run_id, sizeof(r->ctx.run_id), "%s", run_id);
		r->ctx.set_fd = tq_runner_set_fd;
		r->ctx.set_sandbox = tq_runner_set_sandbox;
		r->ctx.cancelled = tq_runner_cancelled;
		r->ctx.arg = r;
		if (pthread_create(&r->th, &attr, tq_runner_main, r) == 0)
			r->started = true;
		else
			log_warn("task runner %d: cannot start a thread", i);
	}
	pthread_attr_destroy(&attr);
	log_info("task queue: %d runners, at most %d per template", q->max_parallel,
		 q->per_template);
	return 0;
}

void task_queue_stop(struct daemon *d)
{
	struct tq *q = task_queue_global;

	if (!q || q->d != d)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	for (int i = 0; i < q->max_parallel; i++)
		if (q->runners[i].fd >= 0)
			shutdown(q->runners[i].fd, SHUT_RDWR);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->max_parallel; i++)
		if (q->runners[i].started)
			pthread_join(q->runners[i].th, NULL);
	task_queue_global = NULL;
	while (q->batches) {
		struct tq_batch *b = q->batches;
		q->batches = b->next;
		while (b->head) {
			struct tq_item *it = b->head;
			b->head = it->next;
			free(it);
		}
		free(b);
	}
	while (q->tpls) {
		struct tq_tpl *t = q->tpls;
		q->tpls = t->next;
		free(t);
	}
	sqlite3_close(q->db);
	free(q->runners);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}

bool task_queue_method(struct op *op)
{
	const char *name = op->m->name;

	if (strncmp(name, "task.", 5) != 0 && strcmp(name, "batch.cancel") != 0)
		return false;
	if (!task_queue_global)
		op_error(op, API_NOT_SUPPORTED, NULL, "the task queue is not running");
	else
		task_methods_dispatch(task_queue_global, op);
	op_finish(op);
	return true;
}
