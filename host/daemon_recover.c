/* agentvmd's start after a stop or a crash: adopt the sandboxes of the last
 * run that are still alive, mark the lost ones failed, and remove whatever
 * no record names (state directories, cgroups). */
#include "common/log.h"
#include "host/agent_client.h"
#include "host/audit.h"
#include "host/daemon_internal.h"
#include "host/state.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECOVER_HELLO_MS 5000

/* Adopt the running instance of row r and check that its guest answers (the
 * agent's hello, or a test guest's echo). */
static int recover_adopt(struct daemon *d, const struct backend_ops *ops,
			 const struct state_sandbox *r, bool *test_guest,
			 struct backend_sandbox **out)
{
	struct state_template t;
	char err[256];
	int rc;

	*test_guest =
		state_template_get(d->st, r->template_name, &t) == 0 && !strcmp(t.guest, "test");
	rc = backend_sandbox_adopt(ops, r->backend_name, out);
	if (rc < 0)
		return rc;
	rc = sandbox_ready(*out, *test_guest, RECOVER_HELLO_MS, err, sizeof(err));
	if (rc < 0) {
		log_warn("sandbox %s: running, but its guest does not answer (%s)", r->name, err);
		backend_sandbox_free(*out);
		*out = NULL;
	}
	return rc;
}

static void recover_audit(struct daemon *d, const char *name, const char *result, const char *was)
{
	struct json_object *ex = json_object_new_object();

	json_object_object_add(ex, "result", json_object_new_string(result));
	json_object_object_add(ex, "was", json_object_new_string(was));
	audit_event(d->audit, "sandbox.recover", name, -1, 0, ex);
	json_object_put(ex);
}

static bool recover_known(struct state_sandbox *rows, size_t n, const char *backend_name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].backend_name, backend_name))
			return true;
	return false;
}

void daemon_recover(struct daemon *d)
{
	struct state_sandbox *rows = NULL;
	size_t n = 0;
	int adopted = 0, lost = 0, orphans = 0;

	if (state_sandbox_list(d->st, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct state_sandbox *r = &rows[i];
		const struct backend_ops *ops = NULL;
		struct backend_sandbox *bsb = NULL;
		bool pooled = !strcmp(r->state, "pooled");
		bool creating = !strcmp(r->state, "creating");
		bool failed = !strcmp(r->state, "failed");

		bool test_guest = false;

		backend_lookup(r->backend[0] ? r->backend : "container", &ops);
		/* A pool's paused spare cannot answer: it is simply replaced. */
		bool paused_spare = pooled && ops && ops->pause;
		if (!failed && !paused_spare && ops &&
		    recover_adopt(d, ops, r, &test_guest, &bsb) == 0 && creating) {
			/* Its creation never finished: nobody holds it. */
			backend_sandbox_free(bsb);
			bsb = NULL;
		}
		if (!bsb && !failed && ops && ops->remove_stale)
			ops->remove_stale(r->backend_name);
		if (!bsb && (pooled || creating)) {
			state_sandbox_delete(d->st, r->name);
			if (creating && r->owner_uid >= 0)
				recover_audit(d, r->name, "removed", r->state);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		struct sandbox *sb = sandbox_add_locked(d, r->name, r->backend_name);
		if (!sb) {
			pthread_mutex_unlock(&d->lock);
			if (bsb)
				backend_sandbox_free(bsb);
			continue;
		}
		snprintf(sb->template_name, sizeof(sb->template_name), "%s", r->template_name);
		sb->ops = ops;
		sb->bsb = bsb;
		sb->test_guest = test_guest;
		sb->owner_uid = r->owner_uid;
		sb->limits = r->limits;
		sb->created_ms = r->created_ms;
		sb->ttl_ms = r->ttl_ms;
		sb->idle_ttl_ms = r->idle_ttl_ms;
		sb->metadata = r->metadata;
		r->metadata = NULL;
		snprintf(sb->error, sizeof(sb->error), "%s", r->error);
		if (bsb) {
			sb->pid = backend_sandbox_pid(bsb);
			sb->state = pooled ? SB_POOLED : SB_RUNNING;
			struct state_template t;
			if (state_template_get(d->st, r->template_name, &t) == 0)
				sb->template_gen = t.created_ms;
			sandbox_watch_locked(d, sb);
		} else {
			sb->state = SB_FAILED;
			if (!failed)
				snprintf(sb->error, sizeof(sb->error),
					 "lost while agentvmd was not running");
		}
		sandbox_unref_locked(d, sb);
		pthread_mutex_unlock(&d->lock);
		sandbox_store(d, sb);
		if (!pooled && !failed) {
			recover_audit(d, r->name, bsb ? "adopted" : "lost", r->state);
			if (bsb)
				adopted++;
			else
				lost++;
		}
	}

	/* Instances in the run directory that no record names: a crash between
	 * starting one and recording it. */
	DIR *dir = opendir(d->run_dir);
	struct dirent *e;
	const struct backend_ops *ct = NULL;
	backend_lookup("container", &ct);
	while (dir && ct && (e = readdir(dir))) {
		if (!backend_name_valid(e->d_name) || recover_known(rows, n, e->d_name))
			continue;
		struct backend_sandbox *bsb;
		const struct backend_ops *ops = ct;
		char jail[800];
		struct stat st;
		/* A microVM's state directory holds its jail. */
		snprintf(jail, sizeof(jail), "%s/%s/jail", d->run_dir, e->d_name);
		if (stat(jail, &st) == 0 && S_ISDIR(st.st_mode))
			backend_lookup("microvm", &ops);
		if (backend_sandbox_adopt(ops, e->d_name, &bsb) == 0)
			backend_sandbox_free(bsb);
		else if (ops->remove_stale)
			ops->remove_stale(e->d_name);
		orphans++;
	}
	if (dir)
		closedir(dir);
	state_sandbox_list_free(rows, n);
	if (adopted || lost || orphans)
		log_info("recovered the last run: %d sandboxes adopted, %d lost, %d strays removed",
			 adopted, lost, orphans);
}
