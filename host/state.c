/* The controller's state in SQLite; see state.h. */
#include "host/state.h"

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state {
	sqlite3 *db;
	pthread_mutex_t lock;
};

static const char state_schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS templates("
	" name TEXT PRIMARY KEY, image TEXT NOT NULL, rootfs TEXT NOT NULL DEFAULT '',"
	" kernel TEXT NOT NULL DEFAULT '', isolation TEXT NOT NULL,"
	" mem_bytes INTEGER NOT NULL, cpu_millis INTEGER NOT NULL, pids_max INTEGER NOT NULL,"
	" disk_bytes INTEGER NOT NULL, pool_size INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
	" cmdline TEXT NOT NULL DEFAULT '', guest TEXT NOT NULL DEFAULT 'agent');"
	"CREATE TABLE IF NOT EXISTS sandboxes("
	" name TEXT PRIMARY KEY, backend_name TEXT NOT NULL UNIQUE, template TEXT NOT NULL,"
	" backend TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER NOT NULL, owner_uid INTEGER "
	"NOT NULL,"
	" mem_bytes INTEGER NOT NULL, cpu_millis INTEGER NOT NULL, pids_max INTEGER NOT NULL,"
	" disk_bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL, ttl_ms INTEGER NOT NULL,"
	" idle_ttl_ms INTEGER NOT NULL, metadata TEXT, error TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS tasks("
	" id INTEGER PRIMARY KEY, sandbox TEXT NOT NULL, kind TEXT NOT NULL, request TEXT,"
	" result TEXT, created_ms INTEGER NOT NULL, finished_ms INTEGER);";

static int state_err(struct state *st, const char *what)
{
	log_err("state: %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

static int state_exec(struct state *st, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("state: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int state_open(const char *dir, struct state **out)
{
	char path[4096];
	struct state *st;
	sqlite3_stmt *q = NULL;
	int r, ver = 0;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/agentvmd.db", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		log_err("state: cannot open %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 5000);
	r = state_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			   "PRAGMA foreign_keys=ON;");
	if (r < 0)
		goto fail;
	r = state_exec(st, state_schema);
	if (r < 0)
		goto fail;
	if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key='schema'", -1, &q, NULL) !=
	    SQLITE_OK) {
		r = state_err(st, "schema");
		goto fail;
	}
	if (sqlite3_step(q) == SQLITE_ROW)
		ver = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (ver > STATE_SCHEMA_VER) {
		log_err("state: %s has schema %d; this agentvmd knows %d", path, ver,
			STATE_SCHEMA_VER);
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	/* Schema 1 had no templates.cmdline and templates.guest. */
	if (ver == 1)
		r = state_exec(st,
			       "ALTER TABLE templates ADD COLUMN cmdline TEXT NOT NULL DEFAULT '';"
			       "ALTER TABLE templates ADD COLUMN guest TEXT NOT NULL DEFAULT "
			       "'agent';");
	if (r < 0)
		goto fail;
	r = state_exec(st, "INSERT OR REPLACE INTO meta(key, value) VALUES('schema', 2)");
	if (r < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	state_close(st);
	return r;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void state_copy(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

/* Run sql, whose one parameter is name, for its effect: -ENOENT if it
 * changed no row. st->lock held. */
static int state_change_named_locked(struct state *st, const char *sql, const char *what,
				     const char *name)
{
	sqlite3_stmt *q;
	int r = 0;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return state_err(st, what);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		r = state_err(st, what);
	else if (sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(q);
	return r;
}

/* The first row of sql, whose one parameter is name, filled into out by
 * fill: 0, -ENOENT if there is none, or fill's error. */
static int state_get_named(struct state *st, const char *sql, const char *what, const char *name,
			   int (*fill)(sqlite3_stmt *q, void *elem), void *out)
{
	sqlite3_stmt *q;
	int r = -ENOENT;

	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
		r = state_err(st, what);
		goto out;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		r = fill(q, out);
	sqlite3_finalize(q);
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int state_template_put(struct state *st, const struct state_template *t)
{
	sqlite3_stmt *q;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db,
			       "INSERT OR REPLACE INTO templates(name, image, rootfs, kernel, "
			       "isolation, mem_bytes, cpu_millis, pids_max, disk_bytes, pool_size, "
			       "created_ms, cmdline, guest) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &q, NULL) != SQLITE_OK) {
		r = state_err(st, "template put");
		goto out;
	}
	sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, t->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, t->rootfs, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, t->kernel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, t->isolation, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, (sqlite3_int64)t->limits.mem_bytes);
	sqlite3_bind_int64(q, 7, t->limits.cpu_millis);
	sqlite3_bind_int64(q, 8, (sqlite3_int64)t->limits.pids_max);
	sqlite3_bind_int64(q, 9, (sqlite3_int64)t->limits.disk_bytes);
	sqlite3_bind_int(q, 10, t->pool_size);
	sqlite3_bind_int64(q, 11, t->created_ms);
	sqlite3_bind_text(q, 12, t->cmdline, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 13, t->guest[0] ? t->guest : "agent", -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		r = state_err(st, "template put");
	sqlite3_finalize(q);
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void state_template_row(sqlite3_stmt *q, struct state_template *t)
{
	memset(t, 0, sizeof(*t));
	state_copy(t->name, sizeof(t->name), sqlite3_column_text(q, 0));
	state_copy(t->image, sizeof(t->image), sqlite3_column_text(q, 1));
	state_copy(t->rootfs, sizeof(t->rootfs), sqlite3_column_text(q, 2));
	state_copy(t->kernel, sizeof(t->kernel), sqlite3_column_text(q, 3));
	state_copy(t->isolation, sizeof(t->isolation), sqlite3_column_text(q, 4));
	t->limits.mem_bytes = (uint64_t)sqlite3_column_int64(q, 5);
	t->limits.cpu_millis = (uint32_t)sqlite3_column_int64(q, 6);
	t->limits.pids_max = (uint64_t)sqlite3_column_int64(q, 7);
	t->limits.disk_bytes = (uint64_t)sqlite3_column_int64(q, 8);
	t->pool_size = sqlite3_column_int(q, 9);
	t->created_ms = sqlite3_column_int64(q, 10);
	state_copy(t->cmdline, sizeof(t->cmdline), sqlite3_column_text(q, 11));
	state_copy(t->guest, sizeof(t->guest), sqlite3_column_text(q, 12));
}

#define STATE_TEMPLATE_COLS                                                                     \
	"name, image, rootfs, kernel, isolation, mem_bytes, cpu_millis, pids_max, disk_bytes, " \
	"pool_size, created_ms, cmdline, guest"

static int state_template_fill(sqlite3_stmt *q, void *elem)
{
	state_template_row(q, elem);
	return 0;
}

int state_template_get(struct state *st, const char *name, struct state_template *out)
{
	return state_get_named(st, "SELECT " STATE_TEMPLATE_COLS " FROM templates WHERE name = ?",
			       "template get", name, state_template_fill, out);
}

int state_template_delete(struct state *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	int r = state_change_named_locked(st, "DELETE FROM templates WHERE name = ?",
					  "template delete", name);
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* Every row of sql (no parameters), one element of size bytes each, filled
 * by fill, in a new array (*out, *n). On failure the partial array is given
 * to free_list (how many elements were filled) and -errno returned. */
static int state_collect(struct state *st, const char *sql, const char *what, size_t size,
			 int (*fill)(sqlite3_stmt *q, void *elem),
			 void (*free_list)(void *list, size_t n), void **out, size_t *n)
{
	sqlite3_stmt *q;
	char *list = NULL;
	size_t cnt = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
		r = state_err(st, what);
		goto out;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		char *nl = realloc(list, (cnt + 1) * size);
		if (!nl) {
			r = -ENOMEM;
			break;
		}
		list = nl;
		r = fill(q, list + cnt * size);
		if (r < 0)
			break;
		cnt++;
	}
	sqlite3_finalize(q);
out:
	pthread_mutex_unlock(&st->lock);
	if (r < 0) {
		free_list(list, cnt);
		return r;
	}
	*out = list;
	*n = cnt;
	return 0;
}

static void state_template_list_free(void *list, size_t n)
{
	(void)n;
	free(list);
}

int state_template_list(struct state *st, struct state_template **out, size_t *n)
{
	return state_collect(st, "SELECT " STATE_TEMPLATE_COLS " FROM templates ORDER BY name",
			     "template list", sizeof(**out), state_template_fill,
			     state_template_list_free, (void **)out, n);
}

static int state_sandbox_put_locked(struct state *st, const struct state_sandbox *s)
{
	sqlite3_stmt *q;
	int r = 0;

	if (sqlite3_prepare_v2(
		    st->db,
		    "INSERT INTO sandboxes(name, backend_name, template, "
		    "backend, state, pid, owner_uid, mem_bytes, cpu_millis, pids_max, "
		    "disk_bytes, created_ms, ttl_ms, idle_ttl_ms, metadata, error) "
		    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE "
		    "SET backend_name = excluded.backend_name, template = "
		    "excluded.template, backend = excluded.backend, state = "
		    "excluded.state, pid = excluded.pid, owner_uid = excluded.owner_uid, "
		    "mem_bytes = excluded.mem_bytes, cpu_millis = excluded.cpu_millis, "
		    "pids_max = excluded.pids_max, disk_bytes = excluded.disk_bytes, "
		    "created_ms = excluded.created_ms, ttl_ms = excluded.ttl_ms, "
		    "idle_ttl_ms = excluded.idle_ttl_ms, metadata = excluded.metadata, "
		    "error = excluded.error",
		    -1, &q, NULL) != SQLITE_OK)
		return state_err(st, "sandbox put");
	sqlite3_bind_text(q, 1, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->backend_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, s->template_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, s->backend, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, s->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, s->pid);
	sqlite3_bind_int64(q, 7, s->owner_uid);
	sqlite3_bind_int64(q, 8, (sqlite3_int64)s->limits.mem_bytes);
	sqlite3_bind_int64(q, 9, s->limits.cpu_millis);
	sqlite3_bind_int64(q, 10, (sqlite3_int64)s->limits.pids_max);
	sqlite3_bind_int64(q, 11, (sqlite3_int64)s->limits.disk_bytes);
	sqlite3_bind_int64(q, 12, s->created_ms);
	sqlite3_bind_int64(q, 13, s->ttl_ms);
	sqlite3_bind_int64(q, 14, s->idle_ttl_ms);
	if (s->metadata)
		sqlite3_bind_text(q, 15, s->metadata, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 15);
	sqlite3_bind_text(q, 16, s->error, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_CONSTRAINT)
		r = -EEXIST;
	else if (rc != SQLITE_DONE)
		r = state_err(st, "sandbox put");
	sqlite3_finalize(q);
	return r;
}

int state_sandbox_put(struct state *st, const struct state_sandbox *s)
{
	pthread_mutex_lock(&st->lock);
	int r = state_sandbox_put_locked(st, s);
	pthread_mutex_unlock(&st->lock);
	return r;
}

static int state_sandbox_delete_locked(struct state *st, const char *name)
{
	return state_change_named_locked(st, "DELETE FROM sandboxes WHERE name = ?",
					 "sandbox delete", name);
}

int state_sandbox_delete(struct state *st, const char *name)
{
	pthread_mutex_lock(&st->lock);
	int r = state_sandbox_delete_locked(st, name);
	pthread_mutex_unlock(&st->lock);
	return r;
}

int state_sandbox_replace(struct state *st, const char *old_name, const struct state_sandbox *s)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = state_exec(st, "BEGIN IMMEDIATE");
	if (r < 0)
		goto out;
	r = state_sandbox_delete_locked(st, old_name);
	if (r == -ENOENT)
		r = 0;
	if (r == 0)
		r = state_sandbox_put_locked(st, s);
	if (r == 0)
		r = state_exec(st, "COMMIT");
	else
		state_exec(st, "ROLLBACK");
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

int state_sandbox_set_state(struct state *st, const char *name, const char *state,
			    const char *error)
{
	sqlite3_stmt *q;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db, "UPDATE sandboxes SET state = ?, error = ? WHERE name = ?",
			       -1, &q, NULL) != SQLITE_OK) {
		r = state_err(st, "sandbox state");
		goto out;
	}
	sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, error ? error : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		r = state_err(st, "sandbox state");
	else if (sqlite3_changes(st->db) == 0)
		r = -ENOENT;
	sqlite3_finalize(q);
out:
	pthread_mutex_unlock(&st->lock);
	return r;
}

#define STATE_SANDBOX_COLS                                                                      \
	"name, backend_name, template, backend, state, pid, owner_uid, mem_bytes, cpu_millis, " \
	"pids_max, disk_bytes, created_ms, ttl_ms, idle_ttl_ms, metadata, error"

static int state_sandbox_row(sqlite3_stmt *q, struct state_sandbox *s)
{
	const unsigned char *md;

	memset(s, 0, sizeof(*s));
	state_copy(s->name, sizeof(s->name), sqlite3_column_text(q, 0));
	state_copy(s->backend_name, sizeof(s->backend_name), sqlite3_column_text(q, 1));
	state_copy(s->template_name, sizeof(s->template_name), sqlite3_column_text(q, 2));
	state_copy(s->backend, sizeof(s->backend), sqlite3_column_text(q, 3));
	state_copy(s->state, sizeof(s->state), sqlite3_column_text(q, 4));
	s->pid = sqlite3_column_int(q, 5);
	s->owner_uid = sqlite3_column_int64(q, 6);
	s->limits.mem_bytes = (uint64_t)sqlite3_column_int64(q, 7);
	s->limits.cpu_millis = (uint32_t)sqlite3_column_int64(q, 8);
	s->limits.pids_max = (uint64_t)sqlite3_column_int64(q, 9);
	s->limits.disk_bytes = (uint64_t)sqlite3_column_int64(q, 10);
	s->created_ms = sqlite3_column_int64(q, 11);
	s->ttl_ms = sqlite3_column_int64(q, 12);
	s->idle_ttl_ms = sqlite3_column_int64(q, 13);
	md = sqlite3_column_text(q, 14);
	if (md) {
		s->metadata = strdup((const char *)md);
		if (!s->metadata)
			return -ENOMEM;
	}
	state_copy(s->error, sizeof(s->error), sqlite3_column_text(q, 15));
	return 0;
}

static int state_sandbox_fill(sqlite3_stmt *q, void *elem)
{
	return state_sandbox_row(q, elem);
}

int state_sandbox_get(struct state *st, const char *name, struct state_sandbox *out)
{
	return state_get_named(st, "SELECT " STATE_SANDBOX_COLS " FROM sandboxes WHERE name = ?",
			       "sandbox get", name, state_sandbox_fill, out);
}

static void state_sandbox_list_free_any(void *list, size_t n)
{
	state_sandbox_list_free(list, n);
}

int state_sandbox_list(struct state *st, struct state_sandbox **out, size_t *n)
{
	return state_collect(
		st, "SELECT " STATE_SANDBOX_COLS " FROM sandboxes ORDER BY created_ms, name",
		"sandbox list", sizeof(**out), state_sandbox_fill, state_sandbox_list_free_any,
		(void **)out, n);
}

void state_sandbox_list_free(struct state_sandbox *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].metadata);
	free(list);
}

int64_t state_counter_add(struct state *st, const char *key, int64_t delta)
{
	sqlite3_stmt *q;
	int64_t v = -1;

	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO "
			       "UPDATE SET value = value + excluded.value RETURNING value",
			       -1, &q, NULL) != SQLITE_OK) {
		state_err(st, "counter");
		goto out;
	}
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, delta);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
out:
	pthread_mutex_unlock(&st->lock);
	return v;
}
