/* The task methods: task.submit, task.get, task.list, task.cancel and
 * batch.cancel (docs/TASKS.md). They run on the daemon's main thread: each is a
 * few SQLite statements under q->lock. */
#include "host/task_queue_internal.h"

#include "host/api.h"
#include "host/daemon_internal.h"
#include "host/task.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

static bool task_methods_may_see(struct op *op, int64_t uid)
{
	return (int64_t)op->c->uid == uid || daemon_caller_privileged(op->d, op->c->uid);
}

static struct json_object *task_methods_row_json(sqlite3_stmt *st, bool with_result)
{
	/* Columns: id, batch, name, state, retries, attempts, sandbox, created_ms,
	 * started_ms, finished_ms, result, done_seq, uid */
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(sqlite3_column_int64(st, 0)));
	json_object_object_add(o, "batch",
			       json_object_new_string((const char *)sqlite3_column_text(st, 1)));
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		json_object_object_add(
			o, "name",
			json_object_new_string((const char *)sqlite3_column_text(st, 2)));
	json_object_object_add(o, "state",
			       json_object_new_string((const char *)sqlite3_column_text(st, 3)));
	json_object_object_add(o, "retries", json_object_new_int(sqlite3_column_int(st, 4)));
	json_object_object_add(o, "attempts", json_object_new_int(sqlite3_column_int(st, 5)));
	if (sqlite3_column_type(st, 6) != SQLITE_NULL)
		json_object_object_add(
			o, "sandbox",
			json_object_new_string((const char *)sqlite3_column_text(st, 6)));
	json_object_object_add(o, "created_ms", json_object_new_int64(sqlite3_column_int64(st, 7)));
	if (sqlite3_column_type(st, 8) != SQLITE_NULL)
		json_object_object_add(o, "started_ms",
				       json_object_new_int64(sqlite3_column_int64(st, 8)));
	if (sqlite3_column_type(st, 9) != SQLITE_NULL)
		json_object_object_add(o, "finished_ms",
				       json_object_new_int64(sqlite3_column_int64(st, 9)));
	if (with_result && sqlite3_column_type(st, 10) != SQLITE_NULL) {
		struct json_object *res =
			json_tokener_parse((const char *)sqlite3_column_text(st, 10));
		if (res)
			json_object_object_add(o, "result", res);
	}
	if (sqlite3_column_type(st, 11) != SQLITE_NULL)
		json_object_object_add(o, "done_seq",
				       json_object_new_int64(sqlite3_column_int64(st, 11)));
	return o;
}

#define TASK_METHODS_COLS                                                              \
	"id, batch, name, state, retries, attempts, sandbox, created_ms, started_ms, " \
	"finished_ms, result, done_seq, uid"

static void task_methods_submit(struct tq *q, struct op *op)
{
	struct json_object *tasks = api_get(op->params, "tasks");
	const char *batch = api_get_str(op->params, "batch", NULL);
	int parallel = (int)api_get_int(op->params, "parallel", q->max_parallel);
	size_t n = json_object_array_length(tasks);
	struct json_object **specs = calloc(n, sizeof(*specs));
	char bid[64], err[512];

	if (!specs) {
		op_error(op, API_INTERNAL, NULL, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(tasks, i);
		if (task_spec_parse(json_object_get_string(t),
				    (size_t)json_object_get_string_len(t), &specs[i], err,
				    sizeof(err)) < 0) {
			op_error(op, API_INVALID_PARAMS, NULL, "tasks[%zu]: %s", i, err);
			goto out;
		}
	}
	if (batch) {
		snprintf(bid, sizeof(bid), "%s", batch);
	} else {
		uint8_t rnd[6];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		snprintf(bid, sizeof(bid), "b-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			 rnd[3], rnd[4], rnd[5]);
	}
	pthread_mutex_lock(&q->lock);
	sqlite3_stmt *st = NULL;
	int64_t owner = -1;
	if (sqlite3_prepare_v2(q->db, "SELECT uid FROM batches WHERE id=?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, bid, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			owner = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (owner >= 0 && owner != (int64_t)op->c->uid) {
		pthread_mutex_unlock(&q->lock);
		op_error(op, API_EXISTS, NULL, "batch '%s' belongs to another user", bid);
		goto out;
	}
	struct tq_batch *b = task_queue_batch_get(q, bid, op->c->uid, parallel);
	if (!b) {
		pthread_mutex_unlock(&q->lock);
		op_error(op, API_INTERNAL, NULL, "out of memory");
		goto out;
	}
	b->parallel = parallel;
	int64_t now = task_queue_wall_ms();
	task_queue_exec(q, "BEGIN", "");
	int rc = task_queue_exec(
		q, "INSERT OR REPLACE INTO batches(id, uid, parallel, created_ms) VALUES(?,?,?,?)",
		"tiii", bid, (int64_t)op->c->uid, (int64_t)parallel, now);
	struct json_object *ids = json_object_new_array();
	struct tq_item *first = NULL, **link = &first;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct json_object *name = json_object_object_get(specs[i], "name");
		const char *tpl =
			json_object_get_string(json_object_object_get(specs[i], "template"));
		int64_t maxr = json_object_get_int64(json_object_object_get(
			json_object_object_get(specs[i], "retry"), "max_retries"));
		rc = task_queue_exec(
			q,
			"INSERT INTO tasks(batch, uid, name, template, spec, state, max_retries,"
			" created_ms) VALUES(?,?,?,?,?,'queued',?,?)",
			name ? "titttii" : "tinttii", bid, (int64_t)op->c->uid,
			name ? json_object_get_string(name) : NULL, tpl,
			json_object_to_json_string_ext(specs[i], JSON_C_TO_STRING_PLAIN), maxr,
			now);
		struct tq_item *it = calloc(1, sizeof(*it));
		if (rc == 0 && !it)
			rc = -ENOMEM;
		if (rc < 0) {
			free(it);
			break;
		}
		it->id = sqlite3_last_insert_rowid(q->db);
		snprintf(it->template_name, sizeof(it->template_name), "%s", tpl);
		*link = it;
		link = &it->next;
		json_object_array_add(ids, json_object_new_int64(it->id));
	}
	if (rc < 0) {
		task_queue_exec(q, "ROLLBACK", "");
		while (first) {
			struct tq_item *it = first;
			first = it->next;
			free(it);
		}
		task_queue_batch_maybe_free(q, b);
		pthread_mutex_unlock(&q->lock);
		json_object_put(ids);
		op_error(op, API_INTERNAL, NULL, "the task store failed (see agentvmd's log)");
		goto out;
	}
	task_queue_exec(q, "COMMIT", "");
	while (first) {
		struct tq_item *it = first;
		first = it->next;
		task_queue_push(b, it, false);
	}
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "batch", json_object_new_string(bid));
	json_object_object_add(res, "ids", ids);
	json_object_object_add(res, "parallel", json_object_new_int(parallel));
	op_reply(op, res);
out:
	for (size_t i = 0; i < n; i++)
		json_object_put(specs[i]);
	free(specs);
}

static void task_methods_get(struct tq *q, struct op *op)
{
	int64_t id = api_get_int(op->params, "id", 0);
	sqlite3_stmt *st = NULL;
	struct json_object *o = NULL;
	int64_t uid = -1;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db, "SELECT " TASK_METHODS_COLS ", spec FROM tasks WHERE id=?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			uid = sqlite3_column_int64(st, 12);
			o = task_methods_row_json(st, true);
			struct json_object *spec =
				json_tokener_parse((const char *)sqlite3_column_text(st, 13));
			if (spec)
				json_object_object_add(o, "spec", spec);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&q->lock);
	if (!o || !task_methods_may_see(op, uid)) {
		json_object_put(o);
		op_error(op, API_INVALID_PARAMS, NULL, "no task %lld", (long long)id);
		return;
	}
	op_reply(op, o);
}

static void task_methods_list(struct tq *q, struct op *op)
{
	const char *batch = api_get_str(op->params, "batch", NULL);
	int64_t after = api_get_int(op->params, "after", 0);
	int64_t limit = api_get_int(op->params, "limit", 1000);
	bool all = api_get_bool(op->params, "all", false);
	sqlite3_stmt *st = NULL;
	struct json_object *res = json_object_new_object();

	pthread_mutex_lock(&q->lock);
	if (!batch) {
		struct json_object *list = json_object_new_array();
		if (sqlite3_prepare_v2(
			    q->db,
			    "SELECT b.id, b.uid, b.parallel, b.created_ms, t.state, "
			    "COUNT(t.id) FROM batches b LEFT JOIN tasks t ON t.batch=b.id "
			    "GROUP BY b.id, t.state ORDER BY b.created_ms, b.id",
			    -1, &st, NULL) == SQLITE_OK) {
			struct json_object *cur = NULL;
			const char *cur_id = "";
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *id = (const char *)sqlite3_column_text(st, 0);
				if (!task_methods_may_see(op, sqlite3_column_int64(st, 1)))
					continue;
				if (!cur || strcmp(cur_id, id)) {
					cur = json_object_new_object();
					json_object_object_add(cur, "batch",
							       json_object_new_string(id));
					json_object_object_add(
						cur, "parallel",
						json_object_new_int(sqlite3_column_int(st, 2)));
					json_object_object_add(
						cur, "created_ms",
						json_object_new_int64(sqlite3_column_int64(st, 3)));
					json_object_object_add(cur, "counts",
							       json_object_new_object());
					json_object_array_add(list, cur);
					cur_id = json_object_get_string(
						json_object_object_get(cur, "batch"));
				}
				if (sqlite3_column_type(st, 4) != SQLITE_NULL)
					json_object_object_add(
						json_object_object_get(cur, "counts"),
						(const char *)sqlite3_column_text(st, 4),
						json_object_new_int64(sqlite3_column_int64(st, 5)));
			}
			sqlite3_finalize(st);
		}
		json_object_object_add(res, "batches", list);
		pthread_mutex_unlock(&q->lock);
		op_reply(op, res);
		return;
	}
	int64_t owner = -1;
	if (sqlite3_prepare_v2(q->db, "SELECT uid FROM batches WHERE id=?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			owner = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (owner < 0 || !task_methods_may_see(op, owner)) {
		pthread_mutex_unlock(&q->lock);
		json_object_put(res);
		op_error(op, API_INVALID_PARAMS, NULL, "no batch '%s'", batch);
		return;
	}
	struct json_object *counts = json_object_new_object();
	static const char *states[] = { "queued", "running", "passed",
					"failed", "error",   "cancelled" };
	for (size_t i = 0; i < 6; i++)
		json_object_object_add(counts, states[i], json_object_new_int64(0));
	int64_t total = 0;
	if (sqlite3_prepare_v2(q->db,
			       "SELECT state, COUNT(*) FROM tasks WHERE batch=? GROUP BY state", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_object_object_add(counts, (const char *)sqlite3_column_text(st, 0),
					       json_object_new_int64(sqlite3_column_int64(st, 1)));
			total += sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	json_object_object_add(counts, "total", json_object_new_int64(total));
	struct json_object *list = json_object_new_array();
	int64_t cursor = after;
	const char *sql = all ? "SELECT " TASK_METHODS_COLS
				" FROM tasks WHERE batch=? AND id>? ORDER BY id LIMIT ?"
			      : "SELECT " TASK_METHODS_COLS
				" FROM tasks WHERE batch=? AND done_seq>? "
				"ORDER BY done_seq LIMIT ?";
	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, batch, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, after);
		sqlite3_bind_int64(st, 3, limit);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_object_array_add(list, task_methods_row_json(st, !all));
			cursor = sqlite3_column_int64(st, all ? 0 : 11);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&q->lock);
	json_object_object_add(res, "batch", json_object_new_string(batch));
	json_object_object_add(res, "counts", counts);
	json_object_object_add(res, "tasks", list);
	json_object_object_add(res, "cursor", json_object_new_int64(cursor));
	op_reply(op, res);
}

/* Cancel task id (0: every task of batch). */
static void task_methods_cancel(struct tq *q, struct op *op, int64_t id, const char *batch)
{
	sqlite3_stmt *st = NULL;
	int64_t owner = -1;
	char bid[64] = "";

	pthread_mutex_lock(&q->lock);
	if (id) {
		if (sqlite3_prepare_v2(q->db, "SELECT uid, batch FROM tasks WHERE id=?", -1, &st,
				       NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) == SQLITE_ROW) {
				owner = sqlite3_column_int64(st, 0);
				snprintf(bid, sizeof(bid), "%s",
					 (const char *)sqlite3_column_text(st, 1));
			}
			sqlite3_finalize(st);
		}
	} else {
		snprintf(bid, sizeof(bid), "%s", batch);
		if (sqlite3_prepare_v2(q->db, "SELECT uid FROM batches WHERE id=?", -1, &st,
				       NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, bid, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW)
				owner = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	if (owner < 0 || !task_methods_may_see(op, owner)) {
		pthread_mutex_unlock(&q->lock);
		if (id)
			op_error(op, API_INVALID_PARAMS, NULL, "no task %lld", (long long)id);
		else
			op_error(op, API_INVALID_PARAMS, NULL, "no batch '%s'", bid);
		return;
	}
	int running = 0;
	struct tq_batch *b = task_queue_batch_find(q, bid);
	if (b) {
		task_queue_exec(q, "BEGIN", "");
		task_queue_cancel_queued_locked(q, b, id);
		task_queue_exec(q, "COMMIT", "");
	}
	for (int i = 0; i < q->max_parallel; i++) {
		struct tq_runner *r = &q->runners[i];
		if (!r->task_id)
			continue;
		bool hit = id ? r->task_id == id : false;
		if (!id) {
			if (sqlite3_prepare_v2(q->db, "SELECT batch FROM tasks WHERE id=?", -1, &st,
					       NULL) == SQLITE_OK) {
				sqlite3_bind_int64(st, 1, r->task_id);
				hit = sqlite3_step(st) == SQLITE_ROW &&
				      !strcmp((const char *)sqlite3_column_text(st, 0), bid);
				sqlite3_finalize(st);
			}
		}
		if (hit) {
			r->cancel = true;
			running++;
			if (r->fd >= 0)
				shutdown(r->fd, SHUT_RDWR);
		}
	}
	if (b)
		task_queue_batch_maybe_free(q, b);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "batch", json_object_new_string(bid));
	json_object_object_add(res, "cancelling_running", json_object_new_int(running));
	op_reply(op, res);
}

void task_methods_dispatch(struct tq *q, struct op *op)
{
	const char *name = op->m->name;

	if (!strcmp(name, "task.submit"))
		task_methods_submit(q, op);
	else if (!strcmp(name, "task.get"))
		task_methods_get(q, op);
	else if (!strcmp(name, "task.list"))
		task_methods_list(q, op);
	else if (!strcmp(name, "task.cancel"))
		task_methods_cancel(q, op, api_get_int(op->params, "id", 0), NULL);
	else if (!strcmp(name, "batch.cancel"))
		task_methods_cancel(q, op, 0, api_get_str(op->params, "batch", ""));
	else
		op_error(op, API_METHOD_NOT_FOUND, NULL, "no method '%s'", name);
}
