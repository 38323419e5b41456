/* One task in a sandbox: the runner is a client of the daemon's own socket,
 * so a task goes through the same checks, quotas, pool and audit as any
 * other request. See task_queue.h and docs/TASKS.md. */
#include "host/task_queue.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "common/log.h"
#include "host/api.h"
#include "host/client.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t task_run_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int task_run_conn(struct task_runner_ctx *r)
{
	if (r->conn)
		return 0;
	int rc = client_connect(r->socket_path, &r->conn);
	if (rc < 0) {
		r->conn = NULL;
		return rc;
	}
	r->set_fd(r->arg, client_fd(r->conn));
	return 0;
}

static void task_run_drop_conn(struct task_runner_ctx *r)
{
	if (!r->conn)
		return;
	r->set_fd(r->arg, -1);
	client_close(r->conn);
	r->conn = NULL;
}

/* One call; a connection failure drops the connection (the next call makes
 * a new one). */
static int task_run_call(struct task_runner_ctx *r, const char *method, struct json_object *params,
			 struct json_object **res, struct client_error *e)
{
	memset(e, 0, sizeof(*e));
	*res = NULL;
	int rc = task_run_conn(r);
	if (rc < 0) {
		json_object_put(params);
		snprintf(e->message, sizeof(e->message), "cannot reach agentvmd: %s",
			 strerror(-rc));
		return rc;
	}
	rc = client_call(r->conn, method, params, res, NULL, NULL, e);
	if (rc < 0 && rc != -EREMOTEIO) {
		if (!e->message[0])
			snprintf(e->message, sizeof(e->message), "%s: %s", method, strerror(-rc));
		task_run_drop_conn(r);
	}
	return rc;
}

/* Is this error the infrastructure's (retry) rather than the task's? */
static bool task_run_infra(int rc, const struct client_error *e)
{
	if (rc != -EREMOTEIO)
		return true;
	switch (e->code) {
	case API_SANDBOX_FAILED:
	case API_BACKEND:
	case API_TIMEOUT:
	case API_INTERNAL:
	case API_QUOTA:
	case API_BUSY:
	case API_NO_SANDBOX:
	case API_SHUTDOWN:
		return true;
	}
	return false;
}

void task_run_release(struct task_runner_ctx *r)
{
	if (r->sandbox[0]) {
		struct json_object *p = json_object_new_object(), *res = NULL;
		struct client_error e;
		json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
		task_run_call(r, "sandbox.destroy", p, &res, &e);
		json_object_put(res);
		r->sandbox[0] = '\0';
		r->key[0] = '\0';
	}
	task_run_drop_conn(r);
}

void task_run_reset(struct task_runner_ctx *r)
{
	if (!r->sandbox[0])
		return;
	struct json_object *p = json_object_new_object(), *res = NULL;
	struct client_error e;
	json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
	int rc = task_run_call(r, "sandbox.reset", p, &res, &e);
	json_object_put(res);
	if (rc < 0) {
		log_warn("task runner: reset of %s failed (%s); making a new sandbox", r->sandbox,
			 e.message);
		task_run_release(r);
	}
}

/* The sandbox for spec: the runner's own when template and limits match. */
static int task_run_sandbox(struct task_runner_ctx *r, struct json_object *spec,
			    struct client_error *e)
{
	const char *tpl = json_object_get_string(json_object_object_get(spec, "template"));
	struct json_object *lim = json_object_object_get(spec, "limits");
	char key[512];

	snprintf(key, sizeof(key), "%s %s", tpl,
		 json_object_to_json_string_ext(lim, JSON_C_TO_STRING_PLAIN));
	if (r->sandbox[0] && strcmp(key, r->key) != 0)
		task_run_release(r);
	if (r->sandbox[0])
		return 0;
	struct json_object *p = json_object_new_object(), *res = NULL;
	json_object_object_add(p, "template", json_object_new_string(tpl));
	if (json_object_object_length(lim) > 0)
		json_object_object_add(p, "limits", json_object_get(lim));
	/* A runner's sandbox outlives nothing: an hour unused and it goes. */
	json_object_object_add(p, "idle_ttl", json_object_new_int(3600));
	struct json_object *meta = json_object_new_object();
	json_object_object_add(meta, "task_runner", json_object_new_string(r->run_id));
	json_object_object_add(p, "metadata", meta);
	int rc = task_run_call(r, "sandbox.create", p, &res, e);
	if (rc < 0)
		return rc;
	const char *name = json_object_get_string(json_object_object_get(res, "name"));
	snprintf(r->sandbox, sizeof(r->sandbox), "%s", name ? name : "");
	snprintf(r->key, sizeof(r->key), "%s", key);
	json_object_put(res);
	return r->sandbox[0] ? 0 : -EPROTO;
}

static void task_run_add_text(struct json_object *step, const char *key, struct json_object *res)
{
	const char *b64 = json_object_get_string(json_object_object_get(res, key));
	unsigned char *raw = NULL;
	size_t n = 0;

	if (b64 && base64_decode(b64, strlen(b64), &raw, &n) == 0) {
		json_object_object_add(step, key, json_util_new_string_lossy((char *)raw, n));
		free(raw);
	} else {
		json_object_object_add(step, key, json_object_new_string(""));
	}
}

/* Run one command; 0 with *step filled, or the call's error. */
static int task_run_exec(struct task_runner_ctx *r, const char *phase, struct json_object *argv,
			 double timeout_s, int64_t cap, struct json_object **step,
			 struct client_error *e)
{
	struct json_object *p = json_object_new_object(), *res = NULL;

	json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
	json_object_object_add(p, "argv", json_object_get(argv));
	json_object_object_add(p, "timeout", json_object_new_double(timeout_s));
	json_object_object_add(p, "output_cap", json_object_new_int64(cap * 2));
	json_object_object_add(p, "stream", json_object_new_boolean(0));
	int rc = task_run_call(r, "sandbox.exec", p, &res, e);
	if (rc < 0)
		return rc;
	struct json_object *s = json_object_new_object();
	json_object_object_add(s, "phase", json_object_new_string(phase));
	json_object_object_add(s, "argv", json_object_get(argv));
	static const char *keep[] = { "exit_code", "signal", "timed_out", "duration_ms",
				      "dropped_bytes" };
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		struct json_object *v = NULL;
		if (json_object_object_get_ex(res, keep[i], &v))
			json_object_object_add(s, keep[i], json_object_get(v));
	}
	task_run_add_text(s, "stdout", res);
	task_run_add_text(s, "stderr", res);
	json_object_put(res);
	*step = s;
	return 0;
}

static bool task_run_step_ok(struct json_object *step)
{
	struct json_object *code = json_object_object_get(step, "exit_code");
	return code && json_object_is_type(code, json_type_int) && json_object_get_int(code) == 0 &&
	       !json_object_get_boolean(json_object_object_get(step, "timed_out"));
}

/* Is the sandbox still alive? (A command killed with it looks like a failure.) */
static bool task_run_sandbox_alive(struct task_runner_ctx *r)
{
	struct json_object *p = json_object_new_object(), *res = NULL;
	struct client_error e;
	json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
	if (task_run_call(r, "sandbox.get", p, &res, &e) < 0)
		return false;
	const char *st = json_object_get_string(json_object_object_get(res, "state"));
	bool alive = st && !strcmp(st, "running");
	json_object_put(res);
	return alive;
}

static void task_run_artefacts(struct task_runner_ctx *r, struct json_object *spec,
			       struct json_object *out)
{
	struct json_object *list = json_object_object_get(spec, "artefacts");
	int64_t cap = json_object_get_int64(json_object_object_get(spec, "artefact_cap"));
	struct json_object *arts = json_object_new_array();

	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *path = json_object_get_string(json_object_array_get_idx(list, i));
		struct json_object *p = json_object_new_object(), *res = NULL;
		struct json_object *a = json_object_new_object();
		struct client_error e;
		json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
		json_object_object_add(p, "path", json_object_new_string(path));
		json_object_object_add(p, "length", json_object_new_int64(cap));
		json_object_object_add(a, "path", json_object_new_string(path));
		if (task_run_call(r, "sandbox.read_file", p, &res, &e) < 0) {
			json_object_object_add(
				a, "error",
				json_object_new_string(e.agent_code[0] ? e.agent_code : e.message));
		} else {
			struct json_object *size = json_object_object_get(res, "size");
			struct json_object *data = json_object_object_get(res, "data");
			int64_t n = json_object_get_int64(size);
			json_object_object_add(a, "size", json_object_new_int64(n));
			json_object_object_add(a, "data",
					       data ? json_object_get(data)
						    : json_object_new_string(""));
			json_object_object_add(a, "truncated", json_object_new_boolean(n > cap));
		}
		json_object_put(res);
		json_object_array_add(arts, a);
	}
	json_object_object_add(out, "artefacts", arts);
}

enum task_outcome task_run_one(struct task_runner_ctx *r, struct json_object *spec,
			       struct json_object **result)
{
	struct json_object *out = json_object_new_object();
	struct json_object *steps = json_object_new_array();
	struct client_error e;
	int64_t t0 = task_run_now_ms();
	double timeout = json_object_get_double(json_object_object_get(spec, "timeout"));
	int64_t deadline = t0 + (int64_t)(timeout * 1000);
	int64_t cap = json_object_get_int64(json_object_object_get(spec, "output_cap"));
	enum task_outcome oc = TASK_DONE;
	const char *status = "passed", *reason = NULL;
	char why[1200] = "";
	int rc;

	json_object_object_add(out, "steps", steps);
	rc = task_run_sandbox(r, spec, &e);
	if (rc < 0) {
		snprintf(why, sizeof(why), "sandbox.create: %s%s%s", e.name, e.name[0] ? ": " : "",
			 e.message);
		if (task_run_infra(rc, &e))
			oc = TASK_INFRA;
		status = "failed";
		goto out;
	}
	r->set_sandbox(r->arg, r->sandbox);
	json_object_object_add(out, "sandbox", json_object_new_string(r->sandbox));

	struct json_object *setup = json_object_object_get(spec, "setup");
	struct json_object *files = json_object_object_get(setup, "files");
	for (size_t i = 0; i < json_object_array_length(files); i++) {
		struct json_object *f = json_object_array_get_idx(files, i);
		struct json_object *p = json_object_new_object(), *res = NULL;
		json_object_object_add(p, "sandbox", json_object_new_string(r->sandbox));
		json_object_object_add(p, "path",
				       json_object_get(json_object_object_get(f, "path")));
		json_object_object_add(p, "data",
				       json_object_get(json_object_object_get(f, "data")));
		json_object_object_add(p, "mode",
				       json_object_get(json_object_object_get(f, "mode")));
		json_object_object_add(p, "parents", json_object_new_boolean(1));
		rc = task_run_call(r, "sandbox.write_file", p, &res, &e);
		json_object_put(res);
		if (rc < 0) {
			snprintf(why, sizeof(why), "setup: writing %s: %s %s",
				 json_object_get_string(json_object_object_get(f, "path")),
				 e.agent_code[0] ? e.agent_code : e.name, e.message);
			if (task_run_infra(rc, &e))
				oc = TASK_INFRA;
			status = "failed";
			goto out;
		}
	}

	static const char *phases[] = { "setup", "commands", "validate" };
	bool commands_ok = true, validate_ok = true;
	struct json_object *codes = json_object_new_object();
	json_object_object_add(out, "exit_codes", codes);
	for (size_t ph = 0; ph < 3; ph++) {
		struct json_object *list = ph == 0 ? json_object_object_get(setup, "commands")
						   : json_object_object_get(spec, phases[ph]);
		struct json_object *pcodes = json_object_new_array();
		json_object_object_add(codes, phases[ph], pcodes);
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			struct json_object *step = NULL;
			if (r->cancelled(r->arg)) {
				oc = TASK_STOPPED;
				status = "cancelled";
				goto out;
			}
			int64_t left = deadline - task_run_now_ms();
			if (left <= 0) {
				status = "failed";
				reason = "timeout";
				goto out;
			}
			rc = task_run_exec(r, phases[ph], json_object_array_get_idx(list, i),
					   (double)left / 1000.0, cap, &step, &e);
			if (rc < 0) {
				snprintf(why, sizeof(why), "%s[%zu]: %s %s", phases[ph], i, e.name,
					 e.message);
				status = "failed";
				if (r->cancelled(r->arg)) {
					oc = TASK_STOPPED;
					status = "cancelled";
				} else if (task_run_infra(rc, &e)) {
					oc = TASK_INFRA;
				}
				goto out;
			}
			json_object_array_add(steps, step);
			struct json_object *code = json_object_object_get(step, "exit_code");
			json_object_array_add(pcodes, json_object_get(code));
			bool good = task_run_step_ok(step);
			if (json_object_get_boolean(json_object_object_get(step, "timed_out"))) {
				status = "failed";
				reason = "timeout";
				goto out;
			}
			if (ph == 0 && !good) {
				status = "failed";
				snprintf(why, sizeof(why), "setup command %zu failed", i);
				goto out;
			}
			if (ph == 1 && !good)
				commands_ok = false;
			if (ph == 2 && !good)
				validate_ok = false;
		}
	}
	bool has_validate = json_object_array_length(json_object_object_get(spec, "validate")) > 0;
	if (has_validate ? !validate_ok : !commands_ok) {
		status = "failed";
		reason = has_validate ? "validation failed" : "a command failed";
	}
	task_run_artefacts(r, spec, out);
out:
	if (strcmp(status, "passed") != 0 && r->cancelled(r->arg)) {
		oc = TASK_STOPPED;
		status = "cancelled";
		snprintf(why, sizeof(why), "cancelled while it ran");
	}
	/* A failure because the sandbox died under the task is the infrastructure's. */
	if (oc == TASK_DONE && strcmp(status, "passed") != 0 && r->sandbox[0] &&
	    !task_run_sandbox_alive(r)) {
		oc = TASK_INFRA;
		snprintf(why, sizeof(why), "the sandbox died during the task");
	}
	if (oc == TASK_INFRA && r->sandbox[0])
		task_run_release(r);
	json_object_object_add(out, "status", json_object_new_string(status));
	json_object_object_add(out, "passed", json_object_new_boolean(!strcmp(status, "passed")));
	if (why[0] || reason)
		json_object_object_add(out, "reason",
				       json_object_new_string(why[0] ? why : reason));
	json_object_object_add(out, "duration_ms", json_object_new_int64(task_run_now_ms() - t0));
	*result = out;
	return oc;
}
