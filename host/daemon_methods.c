/* agentvmd's methods: dispatch, and the sandbox, template, audit and metrics
 * methods (exec and file operations are in daemon_exec.c). */
#include "common/json_util.h"
#include "common/log.h"
#include "host/api.h"
#include "host/audit.h"
#include "host/daemon_internal.h"
#include "host/task_queue.h"
#include "host/metrics.h"
#include "host/pool.h"
#include "host/state.h"
#include "host/template.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define AGENTVMD_VERSION "0.1.0"

static struct op *op_new(struct daemon *d, struct client *c, struct json_object *root,
			 struct json_object *id, bool notification, const struct api_method *m,
			 struct json_object *params)
{
	struct op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->d = d;
	op->c = c;
	op->root = root;
	op->id = id;
	op->notification = notification;
	op->m = m;
	op->params = params;
	op->agent_fd = -1;
	op->start_ns = daemon_now_ns();
	pthread_mutex_lock(&d->lock);
	c->refs++;
	c->nops++;
	d->nops++;
	op->next = d->ops;
	d->ops = op;
	pthread_mutex_unlock(&d->lock);
	return op;
}

/* Hand op to a thread; on failure answer EBUSY and finish it. */
static void op_spawn(struct op *op, void *(*fn)(void *))
{
	if (daemon_spawn(op->d, fn, op) < 0) {
		op_error(op, API_BUSY, NULL, "cannot start a thread for the request; try again");
		op_finish(op);
	}
}

static int op_take_sandbox(struct op *op, bool busy);

/* op_take_sandbox for a request its agent serves: busy, and refused for a
 * sandbox whose guest is a synthetic test guest. */
static int op_take_agent(struct op *op)
{
	if (op_take_sandbox(op, true) < 0)
		return -1;
	if (!op->sb->test_guest)
		return 0;
	op_error(op, API_NOT_SUPPORTED, NULL,
		 "sandbox %s runs a synthetic test guest (template %s has guest \"test\"): it "
		 "has no agent to run commands or move files",
		 op->sb->name, op->sb->template_name);
	return -1; /* op_finish() releases the sandbox */
}

/* Find the sandbox named by params.sandbox for op, with a ref (and busy when
 * busy is true). 0, or an error was sent (the op is still to be finished). */
static int op_take_sandbox(struct op *op, bool busy)
{
	struct daemon *d = op->d;
	char msg[300];
	int code = 0;
	const char *name = api_get_str(op->params, "sandbox", "");

	pthread_mutex_lock(&d->lock);
	struct sandbox *sb = sandbox_find_locked(d, name);
	if (busy) {
		code = sandbox_acquire_locked(d, sb, op->c->uid, msg, sizeof(msg));
		if (code == 0) {
			op->sb = sb;
			op->sb_busy = true;
		}
	} else if (!sb ||
		   (!daemon_caller_privileged(d, op->c->uid) && sb->owner_uid != op->c->uid)) {
		code = API_NO_SANDBOX;
		snprintf(msg, sizeof(msg), "no such sandbox");
	} else {
		sandbox_ref_locked(sb);
		op->sb = sb;
	}
	pthread_mutex_unlock(&d->lock);
	if (code) {
		if (code == API_NO_SANDBOX)
			op_error(op, code, NULL, "no sandbox '%s'", name);
		else
			op_error(op, code, NULL, "%s", msg);
		return -1;
	}
	return 0;
}

/* --- sandbox.create ---------------------------------------------------------------- */

struct create_job {
	struct op *op;
	char isolation[16];
	struct backend_limits lim;
	bool activate;			     /* op->sb is a paused pool spare to start */
	char old_name[BACKEND_NAME_MAX + 1]; /* its row's name in the pool */
};

static void create_finish_ok(struct op *op, bool pooled, const char *old_name)
{
	struct daemon *d = op->d;
	struct sandbox *sb = op->sb;
	double secs = (daemon_now_ns() - op->start_ns) / 1e9;

	if (old_name && *old_name)
		sandbox_store_replacing(d, sb, old_name);
	else
		sandbox_store(d, sb);
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "template", json_object_new_string(sb->template_name));
	json_object_object_add(ex, "backend", json_object_new_string(sb->ops ? sb->ops->name : ""));
	json_object_object_add(ex, "pooled", json_object_new_boolean(pooled));
	json_object_object_add(ex, "mem_bytes",
			       json_object_new_int64((int64_t)sb->limits.mem_bytes));
	json_object_object_add(ex, "cpus", json_object_new_double(sb->limits.cpu_millis / 1000.0));
	json_object_object_add(ex, "duration_ms", json_object_new_double(secs * 1000));
	op_audit(op, "sandbox.create", ex);
	metrics_observe(d->metrics, "agentvm_sandbox_create_seconds", pooled ? "pool" : "cold",
			secs);
	metrics_count(d->metrics, "agentvm_sandboxes_created_total", pooled ? "pool" : "cold", 1);
	pthread_mutex_lock(&d->lock);
	struct json_object *res = sandbox_describe_locked(d, sb, false);
	pthread_mutex_unlock(&d->lock);
	json_object_object_add(res, "pooled", json_object_new_boolean(pooled));
	json_object_object_add(res, "create_ms", json_object_new_double(secs * 1000));
	op_reply(op, res);
}

/* Start the paused pool spare op->sb now handed to the caller; on failure
 * drop its instance (the caller then starts a new one). */
static bool create_activate(struct op *op)
{
	struct daemon *d = op->d;
	struct sandbox *sb = op->sb;
	struct backend_sandbox *bsb;
	char e[300];

	if (sandbox_activate(sb->bsb, e, sizeof(e)) == 0) {
		pthread_mutex_lock(&d->lock);
		sb->paused = false;
		pthread_mutex_unlock(&d->lock);
		return true;
	}
	log_warn("sandbox %s: the pool's spare %s did not start (%s); starting another", sb->name,
		 sb->backend_name, e);
	metrics_count(d->metrics, "agentvm_sandbox_failures_total", NULL, 1);
	pthread_mutex_lock(&d->lock);
	sandbox_unwatch_locked(d, sb);
	bsb = sb->bsb;
	sb->bsb = NULL;
	sb->paused = false;
	sandbox_fresh_name("sb", sb->backend_name, sizeof(sb->backend_name));
	pthread_mutex_unlock(&d->lock);
	backend_sandbox_free(bsb);
	return false;
}

static void *create_main(void *arg)
{
	struct create_job *j = arg;
	struct op *op = j->op;
	struct daemon *d = op->d;
	struct sandbox *sb = op->sb;
	struct state_template t;
	const struct backend_ops *ops;
	struct backend_sandbox *bsb;
	bool paused;
	char msg[600];
	int code;

	if (j->activate && create_activate(op)) {
		pthread_mutex_lock(&d->lock);
		sb->state = SB_RUNNING;
		sb->last_used = daemon_now_ms();
		pthread_mutex_unlock(&d->lock);
		log_info("sandbox %s created (%s, template %s, from the pool)", sb->name,
			 sb->ops->name, sb->template_name);
		create_finish_ok(op, true, j->old_name);
		goto out;
	}
	code = template_resolve(d, sb->template_name, &t, msg, sizeof(msg));
	if (code == 0 && sandbox_start_instance(d, sb->backend_name, &t, j->isolation, &j->lim,
						false, &ops, &bsb, &paused, msg, sizeof(msg)) < 0)
		code = API_BACKEND;
	pthread_mutex_lock(&d->lock);
	if (code == 0 && (op->cancelled || d->stopping)) {
		/* Nobody will use it: the client went or the daemon stops. */
		sb->ops = ops;
		sb->bsb = bsb;
		code = API_BUSY;
		snprintf(msg, sizeof(msg), "cancelled: %s",
			 op->cancel_why ? op->cancel_why : "the daemon is stopping");
	}
	if (code) {
		sb->state = SB_DESTROYING;
		pthread_mutex_unlock(&d->lock);
		if (code == API_BACKEND)
			metrics_count(d->metrics, "agentvm_sandbox_failures_total", NULL, 1);
		op_error(op, code, NULL, "%s", msg);
		sandbox_destroy(d, sb, "failed", NULL);
		if (j->old_name[0])
			state_sandbox_delete(d->st, j->old_name);
		goto out;
	}
	sb->ops = ops;
	sb->bsb = bsb;
	sb->pid = backend_sandbox_pid(bsb);
	sb->state = SB_RUNNING;
	sb->last_used = daemon_now_ms();
	sandbox_watch_locked(d, sb);
	pthread_mutex_unlock(&d->lock);
	log_info("sandbox %s created (%s, template %s)", sb->name, ops->name, sb->template_name);
	create_finish_ok(op, false, j->old_name);
out:
	if (j->activate)
		pool_kick(d);
	free(j);
	op_finish(op);
	return NULL;
}

static const char *limit_kind_over(struct daemon *d, struct json_object *lim,
				   struct backend_limits *l, char *msg, size_t len)
{
	const struct daemon_config *c = &d->cfg;

	if (!lim)
		return NULL;
	if (api_get(lim, "mem_bytes")) {
		l->mem_bytes = (uint64_t)api_get_int(lim, "mem_bytes", 0);
		if (c->max_mem && l->mem_bytes > c->max_mem) {
			snprintf(msg, len,
				 "limits.mem_bytes %llu is above this daemon's ceiling (--max-mem "
				 "%llu)",
				 (unsigned long long)l->mem_bytes, (unsigned long long)c->max_mem);
			return "mem";
		}
	}
	if (api_get(lim, "cpus")) {
		l->cpu_millis = (uint32_t)(api_get_num(lim, "cpus", 0) * 1000 + 0.5);
		if (!l->cpu_millis)
			l->cpu_millis = 1;
		if (c->max_cpus && l->cpu_millis > c->max_cpus) {
			snprintf(
				msg, len,
				"limits.cpus %.3f is above this daemon's ceiling (--max-cpus %.3f)",
				l->cpu_millis / 1000.0, c->max_cpus / 1000.0);
			return "cpus";
		}
	}
	if (api_get(lim, "pids")) {
		l->pids_max = (uint64_t)api_get_int(lim, "pids", 0);
		if (c->max_pids && l->pids_max > c->max_pids) {
			snprintf(
				msg, len,
				"limits.pids %llu is above this daemon's ceiling (--max-pids %llu)",
				(unsigned long long)l->pids_max, (unsigned long long)c->max_pids);
			return "pids";
		}
	}
	if (api_get(lim, "disk_bytes")) {
		l->disk_bytes = (uint64_t)api_get_int(lim, "disk_bytes", 0);
		if (c->max_disk && l->disk_bytes > c->max_disk) {
			snprintf(msg, len,
				 "limits.disk_bytes %llu is above this daemon's ceiling "
				 "(--max-disk %llu)",
				 (unsigned long long)l->disk_bytes,
				 (unsigned long long)c->max_disk);
			return "disk";
		}
	}
	return NULL;
}

static void quota_hit(struct op *op, const char *kind)
{
	struct json_object *ex = json_object_new_object();

	json_object_object_add(ex, "kind", json_object_new_string(kind));
	op_audit(op, "quota", ex);
	metrics_count(op->d->metrics, "agentvm_quota_hits_total", kind, 1);
}

static void method_create(struct op *op)
{
	struct daemon *d = op->d;
	struct state_template t;
	struct backend_limits lim;
	char msg[400], name[BACKEND_NAME_MAX + 1], bname[BACKEND_NAME_MAX + 1];
	const char *tname = api_get_str(op->params, "template", "default");
	const char *iso = api_get_str(op->params, "isolation", NULL);
	const char *kind;

	if (state_template_get(d->st, tname, &t) < 0) {
		op_error(op, API_NO_TEMPLATE, NULL, "no template '%s' (see template.list)", tname);
		goto done;
	}
	template_limits(d, &t, &lim);
	struct backend_limits tl = lim;
	kind = limit_kind_over(d, api_get(op->params, "limits"), &lim, msg, sizeof(msg));
	if (kind) {
		quota_hit(op, kind);
		op_error(op, API_LIMIT, NULL, "%s", msg);
		goto done;
	}
	bool want_pool = (!iso || !strcmp(iso, t.isolation)) && !memcmp(&tl, &lim, sizeof(lim));
	sandbox_fresh_name("sb", bname, sizeof(bname));
	snprintf(name, sizeof(name), "%s", api_get_str(op->params, "name", bname));
	struct json_object *md = api_get(op->params, "metadata");
	char *metadata =
		md ? strdup(json_object_to_json_string_ext(md, JSON_C_TO_STRING_PLAIN)) : NULL;
	int64_t ttl = (int64_t)(api_get_num(op->params, "ttl", 0) * 1000);
	int64_t idle = (int64_t)(api_get_num(op->params, "idle_ttl", 0) * 1000);

	pthread_mutex_lock(&d->lock);
	int mine = 0, total = 0;
	bool taken = false;
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if (!strcmp(sb->name, name))
			taken = true;
		if (sb->for_pool || sb->state == SB_POOLED || sb->state == SB_FAILED ||
		    sb->state == SB_DESTROYING)
			continue;
		total++;
		if (sb->owner_uid == (int64_t)op->c->uid)
			mine++;
	}
	if (taken) {
		pthread_mutex_unlock(&d->lock);
		free(metadata);
		op_error(op, API_EXISTS, NULL, "a sandbox named '%s' exists", name);
		goto done;
	}
	if ((d->cfg.max_per_uid && mine >= d->cfg.max_per_uid) ||
	    (d->cfg.max_sandboxes && total >= d->cfg.max_sandboxes)) {
		bool per_uid = d->cfg.max_per_uid && mine >= d->cfg.max_per_uid;
		pthread_mutex_unlock(&d->lock);
		free(metadata);
		quota_hit(op, per_uid ? "per_uid" : "total");
		if (per_uid)
			op_error(op, API_QUOTA, NULL,
				 "uid %u has %d sandboxes, the most this daemon allows "
				 "(--max-sandboxes-per-uid)",
				 (unsigned)op->c->uid, mine);
		else
			op_error(
				op, API_QUOTA, NULL,
				"%d sandboxes exist, the most this daemon allows (--max-sandboxes)",
				total);
		goto done;
	}
	struct sandbox *sb = want_pool ? pool_take_locked(d, tname, &lim) : NULL;
	bool pooled = sb != NULL;
	char old_name[BACKEND_NAME_MAX + 1] = "";
	if (sb) {
		snprintf(old_name, sizeof(old_name), "%s", sb->name);
		snprintf(sb->name, sizeof(sb->name), "%s", name);
	} else {
		sb = sandbox_add_locked(d, name, bname);
		if (!sb) {
			pthread_mutex_unlock(&d->lock);
			free(metadata);
			op_error(op, API_INTERNAL, NULL, "out of memory");
			goto done;
		}
		snprintf(sb->template_name, sizeof(sb->template_name), "%s", tname);
		sb->limits = lim;
		sb->template_gen = t.created_ms;
		sb->test_guest = !strcmp(t.guest, "test");
	}
	bool activate = pooled && sb->paused;
	sb->owner_uid = op->c->uid;
	sb->ttl_ms = ttl;
	sb->idle_ttl_ms = idle;
	sb->metadata = metadata;
	sb->created_ms = daemon_wall_ms();
	sb->last_used = daemon_now_ms();
	op->sb = sb; /* the ref from the pool or the list */
	if (pooled && !activate)
		sb->state = SB_RUNNING;
	pthread_mutex_unlock(&d->lock);

	if (pooled && !activate) {
		create_finish_ok(op, true, old_name);
		pool_kick(d);
		goto done;
	}
	if (!pooled)
		sandbox_store(d, sb);
	struct create_job *j = calloc(1, sizeof(*j));
	if (!j) {
		op_error(op, API_INTERNAL, NULL, "out of memory");
		goto fail_reserved;
	}
	j->op = op;
	snprintf(j->isolation, sizeof(j->isolation), "%s", iso ? iso : t.isolation);
	j->lim = lim;
	j->activate = activate;
	if (pooled)
		snprintf(j->old_name, sizeof(j->old_name), "%s", old_name);
	if (daemon_spawn(d, create_main, j) < 0) {
		free(j);
		op_error(op, API_BUSY, NULL, "cannot start a thread for the request; try again");
		goto fail_reserved;
	}
	return;
fail_reserved:
	pthread_mutex_lock(&d->lock);
	sb->state = SB_DESTROYING;
	pthread_mutex_unlock(&d->lock);
	sandbox_destroy(d, sb, "failed", NULL);
	if (pooled)
		state_sandbox_delete(d->st, old_name);
done:
	op_finish(op);
}

/* --- sandbox.destroy / reset / snapshot ------------------------------------------- */

static void *destroy_main(void *arg)
{
	struct op *op = arg;

	sandbox_destroy(op->d, op->sb, "client", op->c);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(op->sb->name));
	json_object_object_add(res, "destroyed", json_object_new_boolean(1));
	op_reply(op, res);
	op_finish(op);
	return NULL;
}

static void method_destroy(struct op *op)
{
	struct daemon *d = op->d;

	if (op_take_sandbox(op, false) < 0)
		goto done;
	pthread_mutex_lock(&d->lock);
	enum sandbox_state s = op->sb->state;
	if (s == SB_DESTROYING || s == SB_CREATING || s == SB_RESETTING) {
		pthread_mutex_unlock(&d->lock);
		op_error(op, API_BUSY, NULL, "sandbox %s is %s", op->sb->name,
			 s == SB_DESTROYING ? "already being destroyed"
			 : s == SB_CREATING ? "still being created"
					    : "being reset");
		goto done;
	}
	op->sb->state = SB_DESTROYING;
	pthread_mutex_unlock(&d->lock);
	op_spawn(op, destroy_main);
	return;
done:
	op_finish(op);
}

/* Put sb's own instance back to its snapshot in place (a microVM's
 * vm.reset) and check that it answers; false if it cannot. */
static bool reset_in_place(struct daemon *d, struct sandbox *sb, struct backend_sandbox *bsb)
{
	char e[300];
	int64_t t0 = daemon_now_ns();
	int r;

	r = backend_sandbox_reset(bsb);
	if (r == -ENOTSUP)
		return false;
	if (r == 0)
		r = sandbox_ready(bsb, sb->test_guest, DAEMON_HELLO_MS, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "%s", strerror(-r));
	if (r < 0)
		log_warn("sandbox %s: reset in place failed (%s); replacing its instance", sb->name,
			 e);
	else
		metrics_observe(d->metrics, "agentvm_restore_seconds", "reset",
				(daemon_now_ns() - t0) / 1e9);
	return r == 0;
}

static void *reset_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;
	struct sandbox *sb = op->sb, *p = NULL;
	struct backend_sandbox *old, *bsb = NULL;
	const struct backend_ops *ops = NULL;
	struct state_template t;
	char msg[600], bname[BACKEND_NAME_MAX + 1], pool_name[BACKEND_NAME_MAX + 1] = "";
	bool in_place = false, paused = false;
	const char *how;
	int code = 0;

	pthread_mutex_lock(&d->lock);
	ops_cancel_locked(d, NULL, sb, "the sandbox is being reset");
	while (sb->busy > 0)
		pthread_cond_wait(&d->cond, &d->lock);
	old = sb->bsb;
	pthread_mutex_unlock(&d->lock);
	if (old && reset_in_place(d, sb, old)) {
		in_place = true;
		old = NULL;
		goto done;
	}
	pthread_mutex_lock(&d->lock);
	sandbox_unwatch_locked(d, sb);
	sb->bsb = NULL;
	p = pool_take_locked(d, sb->template_name, &sb->limits);
	if (p) {
		snprintf(pool_name, sizeof(pool_name), "%s", p->name);
		paused = p->paused;
		struct backend_sandbox *none = sandbox_absorb_locked(d, sb, p);
		(void)none; /* sb->bsb was taken above */
	}
	pthread_mutex_unlock(&d->lock);
	if (p) {
		state_sandbox_delete(d->st, pool_name);
		if (paused && !create_activate(op))
			p = NULL; /* start one below */
	}
	if (!p) {
		code = template_resolve(d, sb->template_name, &t, msg, sizeof(msg));
		sandbox_fresh_name("sb", bname, sizeof(bname));
		if (code == 0 && sandbox_start_instance(d, bname, &t, NULL, &sb->limits, false,
							&ops, &bsb, &paused, msg, sizeof(msg)) < 0)
			code = API_BACKEND;
		pthread_mutex_lock(&d->lock);
		if (code == 0) {
			sb->bsb = bsb;
			sb->ops = ops;
			sb->pid = backend_sandbox_pid(bsb);
			snprintf(sb->backend_name, sizeof(sb->backend_name), "%s", bname);
		}
		pthread_mutex_unlock(&d->lock);
	}
done:
	how = in_place ? "in_place" : p ? "pool" : "new";
	double secs = (daemon_now_ns() - op->start_ns) / 1e9;
	pthread_mutex_lock(&d->lock);
	if (code == 0) {
		sb->state = SB_RUNNING;
		sb->error[0] = '\0';
		sb->resets++;
		sb->last_used = daemon_now_ms();
		sandbox_watch_locked(d, sb);
	} else {
		sb->state = SB_FAILED;
		snprintf(sb->error, sizeof(sb->error), "reset failed: %.200s", msg);
	}
	pthread_mutex_unlock(&d->lock);
	sandbox_store(d, sb);
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "pooled", json_object_new_boolean(p != NULL));
	json_object_object_add(ex, "how", json_object_new_string(how));
	json_object_object_add(ex, "duration_ms", json_object_new_double(secs * 1000));
	json_object_object_add(ex, "ok", json_object_new_boolean(code == 0));
	op_audit(op, "reset", ex);
	if (code == 0) {
		metrics_count(d->metrics, "agentvm_resets_total", NULL, 1);
		metrics_observe(d->metrics, "agentvm_sandbox_reset_seconds", NULL, secs);
		state_counter_add(d->st, "resets_total", 1);
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "name", json_object_new_string(sb->name));
		json_object_object_add(res, "pooled", json_object_new_boolean(p != NULL));
		json_object_object_add(res, "how", json_object_new_string(how));
		json_object_object_add(res, "reset_ms", json_object_new_double(secs * 1000));
		op_reply(op, res);
	} else {
		op_error(op, API_BACKEND, NULL, "%s", msg);
	}
	/* The old instance goes after the answer: it is no longer anyone's. */
	backend_sandbox_free(old);
	if (pool_name[0])
		pool_kick(d);
	op_finish(op);
	return NULL;
}

static void method_reset(struct op *op)
{
	struct daemon *d = op->d;

	if (op_take_sandbox(op, false) < 0)
		goto done;
	pthread_mutex_lock(&d->lock);
	enum sandbox_state s = op->sb->state;
	if (s != SB_RUNNING && s != SB_FAILED) {
		pthread_mutex_unlock(&d->lock);
		op_error(op, API_BUSY, NULL, "sandbox %s is %s", op->sb->name,
			 sandbox_state_name(s));
		goto done;
	}
	op->sb->state = SB_RESETTING;
	pthread_mutex_unlock(&d->lock);
	op_spawn(op, reset_main);
	return;
done:
	op_finish(op);
}

/* Copy the sandbox's root tree (as its PID 1 sees it) into dest with cp -a
 * staying on its file system (so /proc, /sys and /dev are left out). */
static int snapshot_copy(int pid, const char *dest, char *msg, size_t len)
{
	char src[64];
	pid_t child;
	int st;
	posix_spawn_file_actions_t fa;

	snprintf(src, sizeof(src), "/proc/%d/root/.", pid);
	const char *argv[] = { "cp", "-a", "--one-file-system", "--reflink=auto", src, dest, NULL };
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int r = posix_spawnp(&child, "cp", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		snprintf(msg, len, "cannot run cp: %s", strerror(r));
		return -r;
	}
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(msg, len, "copying the sandbox's files failed (cp exited %d)",
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -EIO;
	}
	return 0;
}

static void *snapshot_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;
	struct sandbox *sb = op->sb;
	const char *tname = api_get_str(op->params, "template", "");
	struct state_template t, src;
	char dir[600], dest[STATE_PATH_MAX - 1], tmp[STATE_PATH_MAX], msg[512] = "";

	if (!sb->ops || strcmp(sb->ops->name, "container") != 0 || sb->pid <= 0) {
		op_error(op, API_NOT_SUPPORTED, NULL,
			 "snapshots of %s sandboxes are not supported by this daemon",
			 sb->ops ? sb->ops->name : "these");
		goto out;
	}
	if (state_template_get(d->st, tname, &t) == 0) {
		op_error(op, API_EXISTS, NULL, "a template named '%s' exists", tname);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%.500s/templates", d->state_dir);
	mkdir(dir, 0700);
	snprintf(dest, sizeof(dest), "%.500s/templates/%s", d->state_dir, tname);
	snprintf(tmp, sizeof(tmp), "%.500s/templates/.%s.tmp", d->state_dir, tname);
	if (access(dest, F_OK) == 0) {
		op_error(op, API_EXISTS, NULL, "%s exists", dest);
		goto out;
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
		op_error(op, API_INTERNAL, NULL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	int64_t t0 = daemon_now_ns();
	if (snapshot_copy(sb->pid, tmp, msg, sizeof(msg)) < 0 || rename(tmp, dest) < 0) {
		char cmd[STATE_PATH_MAX];
		snprintf(cmd, sizeof(cmd), "%s", tmp);
		op_error(op, API_INTERNAL, NULL, "snapshot of %s: %s", sb->name,
			 msg[0] ? msg : strerror(errno));
		/* Leave no half copy behind. */
		const char *rm[] = { "rm", "-rf", "--one-file-system", cmd, NULL };
		pid_t child;
		if (posix_spawnp(&child, "rm", NULL, NULL, (char *const *)rm, environ) == 0)
			waitpid(child, NULL, 0);
		goto out;
	}
	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", tname);
	snprintf(t.image, sizeof(t.image), "%s", dest);
	snprintf(t.rootfs, sizeof(t.rootfs), "%s", dest);
	snprintf(t.isolation, sizeof(t.isolation), "%s",
		 state_template_get(d->st, sb->template_name, &src) == 0 ? src.isolation : "auto");
	t.limits = sb->limits;
	t.created_ms = daemon_wall_ms();
	state_template_put(d->st, &t);
	double ms = (daemon_now_ns() - t0) / 1e6;
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "template", json_object_new_string(tname));
	json_object_object_add(ex, "duration_ms", json_object_new_double(ms));
	op_audit(op, "sandbox.snapshot", ex);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "template", json_object_new_string(tname));
	json_object_object_add(res, "rootfs", json_object_new_string(dest));
	json_object_object_add(res, "snapshot_ms", json_object_new_double(ms));
	op_reply(op, res);
out:
	op_finish(op);
	return NULL;
}

/* --- logs, audit ------------------------------------------------------------------ */

static void *logs_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;
	int tail = (int)api_get_int(op->params, "tail", 100);

	if (api_get_bool(op->params, "agent", false)) {
		const char *path = op->sb->bsb ? backend_sandbox_log_path(op->sb->bsb) : NULL;
		char *buf = NULL;
		size_t n = 0;
		if (path) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			struct stat st;
			if (fd >= 0 && fstat(fd, &st) == 0) {
				off_t want = st.st_size > 65536 ? 65536 : st.st_size;
				buf = malloc((size_t)want + 1);
				if (buf) {
					ssize_t got =
						pread(fd, buf, (size_t)want, st.st_size - want);
					n = got > 0 ? (size_t)got : 0;
				}
			}
			if (fd >= 0)
				close(fd);
		}
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "agent_log",
				       json_util_new_string_lossy(buf ? buf : "", n));
		free(buf);
		op_reply(op, res);
		goto out;
	}
	struct json_object *all = NULL;
	int r = audit_tail(d->audit_path, 10000, &all);
	if (r < 0) {
		op_error(op, API_INTERNAL, NULL, "reading the audit log: %s", strerror(-r));
		goto out;
	}
	struct json_object *events = json_object_new_array();
	size_t n = json_object_array_length(all);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(all, i), *v;
		if (json_object_object_get_ex(e, "sandbox", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), op->sb->name))
			json_object_array_add(events, json_object_get(e));
	}
	json_object_put(all);
	size_t m = json_object_array_length(events);
	if (m > (size_t)tail)
		json_object_array_del_idx(events, 0, m - (size_t)tail);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "events", events);
	op_reply(op, res);
out:
	op_finish(op);
	return NULL;
}

static void *audit_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;

	if (!strcmp(op->m->name, "audit.verify")) {
		long bad = 0, lines = 0;
		char err[512];
		audit_sync(d->audit);
		int r = audit_verify(d->audit_path, &bad, &lines, err, sizeof(err));
		if (r < 0 && r != -EBADMSG) {
			op_error(op, API_INTERNAL, NULL, "%s", err);
			goto out;
		}
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "ok", json_object_new_boolean(r == 0));
		json_object_object_add(res, "path", json_object_new_string(d->audit_path));
		json_object_object_add(res, "lines", json_object_new_int64(lines));
		if (r < 0) {
			json_object_object_add(res, "first_bad_line", json_object_new_int64(bad));
			json_object_object_add(res, "error", json_object_new_string(err));
		}
		op_reply(op, res);
		goto out;
	}
	int n = (int)api_get_int(op->params, "n", 50);
	const char *sbf = api_get_str(op->params, "sandbox", NULL);
	const char *tf = api_get_str(op->params, "type", NULL);
	struct json_object *all = NULL;
	int r = audit_tail(d->audit_path, sbf || tf ? 10000 : n, &all);
	if (r < 0) {
		op_error(op, API_INTERNAL, NULL, "reading the audit log: %s", strerror(-r));
		goto out;
	}
	if (sbf || tf) {
		struct json_object *keep = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(all); i++) {
			struct json_object *e = json_object_array_get_idx(all, i), *v;
			if (sbf && !(json_object_object_get_ex(e, "sandbox", &v) &&
				     json_object_is_type(v, json_type_string) &&
				     !strcmp(json_object_get_string(v), sbf)))
				continue;
			if (tf && !(json_object_object_get_ex(e, "type", &v) &&
				    json_object_is_type(v, json_type_string) &&
				    !strcmp(json_object_get_string(v), tf)))
				continue;
			json_object_array_add(keep, json_object_get(e));
		}
		json_object_put(all);
		all = keep;
		size_t m = json_object_array_length(all);
		if (m > (size_t)n)
			json_object_array_del_idx(all, 0, m - (size_t)n);
	}
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "events", all);
	daemon_client_wait_room(op->c, &op->cancelled);
	op_reply(op, res);
out:
	op_finish(op);
	return NULL;
}

/* --- quick methods on the main thread -------------------------------------------- */

static void method_get(struct op *op)
{
	struct daemon *d = op->d;

	if (op_take_sandbox(op, false) == 0) {
		pthread_mutex_lock(&d->lock);
		struct json_object *res = sandbox_describe_locked(d, op->sb, true);
		pthread_mutex_unlock(&d->lock);
		op_reply(op, res);
	}
	op_finish(op);
}

static void method_list_all(struct op *op)
{
	struct daemon *d = op->d;
	bool priv = daemon_caller_privileged(d, op->c->uid);
	bool all = priv && api_get_bool(op->params, "all", true);
	bool stats = api_get_bool(op->params, "stats", false);
	struct json_object *arr = json_object_new_array();

	pthread_mutex_lock(&d->lock);
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if (sb->for_pool || sb->state == SB_POOLED)
			continue;
		if (!all && sb->owner_uid != (int64_t)op->c->uid)
			continue;
		json_object_array_add(arr, sandbox_describe_locked(d, sb, stats));
	}
	pthread_mutex_unlock(&d->lock);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "sandboxes", arr);
	op_reply(op, res);
	op_finish(op);
}

static void method_metrics(struct op *op)
{
	struct daemon *d = op->d;

	sandbox_check_ttls(d); /* refreshes the gauges too */
	char *text = metrics_render(d->metrics);
	struct json_object *res = json_object_new_object();
	json_object_object_add(res, "content_type",
			       json_object_new_string("text/plain; version=0.0.4"));
	json_object_object_add(res, "text", json_object_new_string(text ? text : ""));
	free(text);
	op_reply(op, res);
	op_finish(op);
}

static void method_info(struct op *op)
{
	struct daemon *d = op->d;
	struct json_object *res = json_object_new_object(), *c = json_object_new_object();

	json_object_object_add(res, "version", json_object_new_string(AGENTVMD_VERSION));
	json_object_object_add(res, "pid", json_object_new_int(getpid()));
	json_object_object_add(res, "uptime",
			       json_object_new_double((daemon_wall_ms() - d->started_ms) / 1000.0));
	json_object_object_add(res, "socket", json_object_new_string(d->socket_path));
	json_object_object_add(res, "state_dir", json_object_new_string(d->state_dir));
	json_object_object_add(res, "audit_log", json_object_new_string(d->audit_path));
	json_object_object_add(res, "agent", json_object_new_string(d->agent_path));
	json_object_object_add(c, "mem_bytes", json_object_new_int64((int64_t)d->cfg.max_mem));
	json_object_object_add(c, "cpus", json_object_new_double(d->cfg.max_cpus / 1000.0));
	json_object_object_add(c, "pids", json_object_new_int64((int64_t)d->cfg.max_pids));
	json_object_object_add(c, "disk_bytes", json_object_new_int64((int64_t)d->cfg.max_disk));
	json_object_object_add(c, "sandboxes", json_object_new_int(d->cfg.max_sandboxes));
	json_object_object_add(c, "sandboxes_per_uid", json_object_new_int(d->cfg.max_per_uid));
	json_object_object_add(c, "exec_timeout",
			       json_object_new_double(d->cfg.max_exec_timeout_ms / 1000.0));
	json_object_object_add(c, "output_bytes",
			       json_object_new_int64((int64_t)d->cfg.max_output));
	json_object_object_add(res, "ceilings", c);
	json_object_object_add(res, "caller_uid", json_object_new_int64(op->c->uid));
	op_reply(op, res);
	op_finish(op);
}

static void method_template_delete(struct op *op)
{
	const char *name = api_get_str(op->params, "name", "");

	if (state_template_delete(op->d->st, name) < 0) {
		op_error(op, API_NO_TEMPLATE, NULL, "no template '%s'", name);
	} else {
		struct json_object *ex = json_object_new_object();
		json_object_object_add(ex, "template", json_object_new_string(name));
		op_audit(op, "template.delete", ex);
		template_forget_snapshots(op->d, name);
		pool_kick(op->d);
		op_reply(op, NULL);
	}
	op_finish(op);
}

/* --- dispatch ---------------------------------------------------------------------- */

void daemon_dispatch(struct daemon *d, struct client *c, struct json_object *root,
		     struct json_object *id, bool notification, const struct api_method *m,
		     struct json_object *params)
{
	struct op *op = op_new(d, c, root, id, notification, m, params);
	const char *name = m->name;

	if (!op) {
		json_object_put(root);
		return;
	}
	pthread_mutex_lock(&d->lock);
	bool stopping = d->stopping;
	bool too_many = c->nops > DAEMON_CLIENT_OPS_MAX || d->nops > d->cfg.max_ops;
	pthread_mutex_unlock(&d->lock);
	if (stopping) {
		op_error(op, API_SHUTDOWN, NULL, "the daemon is stopping");
		op_finish(op);
		return;
	}
	if (too_many) {
		op_error(op, API_BUSY, NULL,
			 "too many requests in flight (%d per client, %d in all); try again",
			 DAEMON_CLIENT_OPS_MAX, d->cfg.max_ops);
		op_finish(op);
		return;
	}
	if (!strcmp(name, "sandbox.create")) {
		method_create(op);
	} else if (!strcmp(name, "sandbox.exec")) {
		if (op_take_agent(op) == 0)
			op_spawn(op, daemon_exec_main);
		else
			op_finish(op);
	} else if (!strcmp(name, "sandbox.read_file") || !strcmp(name, "sandbox.write_file") ||
		   !strcmp(name, "sandbox.list") || !strcmp(name, "sandbox.stat")) {
		if (op_take_agent(op) == 0)
			op_spawn(op, daemon_fs_main);
		else
			op_finish(op);
	} else if (!strcmp(name, "sandbox.reset")) {
		method_reset(op);
	} else if (!strcmp(name, "sandbox.snapshot")) {
		if (op_take_agent(op) == 0)
			op_spawn(op, snapshot_main);
		else
			op_finish(op);
	} else if (!strcmp(name, "sandbox.destroy")) {
		method_destroy(op);
	} else if (!strcmp(name, "sandbox.get")) {
		method_get(op);
	} else if (!strcmp(name, "sandbox.list_all")) {
		method_list_all(op);
	} else if (!strcmp(name, "sandbox.logs")) {
		if (op_take_sandbox(op, api_get_bool(params, "agent", false)) == 0)
			op_spawn(op, logs_main);
		else
			op_finish(op);
	} else if (!strcmp(name, "template.list")) {
		struct json_object *res = json_object_new_object();
		json_object_object_add(res, "templates", template_list_json(d));
		op_reply(op, res);
		op_finish(op);
	} else if (!strcmp(name, "template.build") || !strcmp(name, "template.delete") ||
		   !strncmp(name, "audit.", 6)) {
		if (!daemon_caller_privileged(d, c->uid)) {
			op_error(op, API_DENIED, NULL, "%s is for root or the daemon's own user",
				 name);
			op_finish(op);
		} else if (!strcmp(name, "template.build")) {
			op_spawn(op, template_build_main);
		} else if (!strcmp(name, "template.delete")) {
			method_template_delete(op);
		} else {
			op_spawn(op, audit_main);
		}
	} else if (!strcmp(name, "metrics")) {
		method_metrics(op);
	} else if (!strcmp(name, "daemon.info")) {
		method_info(op);
	} else if (task_queue_method(op)) {
		/* task.* and batch.cancel: host/task_queue.c */
	} else {
		op_error(op, API_METHOD_NOT_FOUND, NULL, "no method '%s'", name);
		op_finish(op);
	}
}
