/* sandbox.exec (output streamed as notifications) and the file methods, each
 * on its own thread with its own connection to the sandbox's agent. */
#include "common/base64.h"
#include "common/json_util.h"
#include "common/log.h"
#include "host/agent_client.h"
#include "host/api.h"
#include "host/daemon_internal.h"
#include "host/metrics.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Collected output of a non-streamed exec that fits one reply. */
#define EXEC_COLLECT_MAX (8u << 20)

/* A connection to op's sandbox, registered for cancellation. */
static int op_connect(struct op *op, struct agent_client **out)
{
	int fd, r;

	*out = NULL;
	r = backend_sandbox_connect(op->sb->bsb, &fd);
	if (r < 0)
		return r;
	r = agent_client_new(fd, out);
	if (r < 0)
		return r;
	if (!op_set_agent_fd(op, agent_client_fd(*out))) {
		agent_client_free(*out);
		*out = NULL;
		return -ECANCELED;
	}
	return 0;
}

static void op_disconnect(struct op *op, struct agent_client *ac)
{
	if (!ac)
		return;
	op_clear_agent_fd(op);
	agent_client_free(ac);
}

/* Did the sandbox's PID 1 exit? Waits up to ms for the exit fd. */
static bool op_sandbox_died(struct op *op, int ms)
{
	int fd = op->sb->bsb ? backend_sandbox_exit_fd(op->sb->bsb) : -1;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd < 0)
		return false;
	return poll(&p, 1, ms) > 0;
}

struct collect {
	char *data;
	size_t len;
	bool truncated;
};

static void collect_add(struct collect *c, const char *b64, size_t n)
{
	unsigned char *raw;
	size_t len;

	if (base64_decode(b64, n, &raw, &len) < 0)
		return;
	if (c->len + len > EXEC_COLLECT_MAX) {
		len = EXEC_COLLECT_MAX - c->len;
		c->truncated = true;
	}
	char *nd = realloc(c->data, c->len + len + 1);
	if (nd) {
		memcpy(nd + c->len, raw, len);
		c->data = nd;
		c->len += len;
	}
	free(raw);
}

static struct json_object *exec_request(struct op *op, uint64_t timeout_ms, uint64_t cap)
{
	struct json_object *req = json_object_new_object(), *v;

	json_object_object_add(req, "op", json_object_new_string("exec"));
	json_object_object_add(req, "argv", json_object_get(api_get(op->params, "argv")));
	if ((v = api_get(op->params, "env")))
		json_object_object_add(req, "env", json_object_get(v));
	if ((v = api_get(op->params, "cwd")))
		json_object_object_add(req, "cwd", json_object_get(v));
	if ((v = api_get(op->params, "uid")))
		json_object_object_add(req, "uid", json_object_get(v));
	if ((v = api_get(op->params, "stdin")))
		json_object_object_add(req, "stdin", json_object_get(v));
	json_object_object_add(req, "timeout_ms", json_object_new_int64((int64_t)timeout_ms));
	json_object_object_add(req, "output_cap", json_object_new_int64((int64_t)cap));
	return req;
}

/* The argv for the audit, shortened when huge. */
static struct json_object *exec_audit_argv(struct json_object *argv)
{
	struct json_object *a = json_object_new_array();
	size_t n = json_object_array_length(argv), total = 0;

	for (size_t i = 0; i < n && i < 256; i++) {
		struct json_object *e = json_object_array_get_idx(argv, i);
		size_t l = (size_t)json_object_get_string_len(e);
		if (total + l > 16384) {
			json_object_array_add(a, json_object_new_string("..."));
			break;
		}
		total += l;
		json_object_array_add(a, json_object_get(e));
	}
	if (n > 256)
		json_object_array_add(a, json_object_new_string("..."));
	return a;
}

void *daemon_exec_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;
	struct agent_client *ac = NULL;
	struct json_object *req = NULL, *final = NULL;
	struct collect out = { 0 }, err = { 0 };
	bool stream = api_get_bool(op->params, "stream", true);
	const char *outcome = "error";
	int64_t exec_id = 0;
	int r;

	double timeout_s = api_get_num(op->params, "timeout", 0);
	uint64_t timeout_ms = timeout_s > 0 ? (uint64_t)(timeout_s * 1000 + 0.5) : 0;
	if (timeout_ms && d->cfg.max_exec_timeout_ms && timeout_ms > d->cfg.max_exec_timeout_ms) {
		op_error(
			op, API_LIMIT, NULL,
			"timeout %.3f s is above this daemon's ceiling (--max-exec-timeout %.0f s)",
			timeout_s, d->cfg.max_exec_timeout_ms / 1000.0);
		goto out;
	}
	if (!timeout_ms)
		timeout_ms = d->cfg.max_exec_timeout_ms;
	uint64_t cap = (uint64_t)api_get_int(op->params, "output_cap", (int64_t)d->cfg.max_output);
	if (d->cfg.max_output && cap > d->cfg.max_output) {
		op_error(op, API_LIMIT, NULL,
			 "output_cap %llu is above this daemon's ceiling (--max-output %llu)",
			 (unsigned long long)cap, (unsigned long long)d->cfg.max_output);
		goto out;
	}

	r = op_connect(op, &ac);
	if (r < 0) {
		op_agent_error(op, r, "exec", NULL);
		goto out;
	}
	req = exec_request(op, timeout_ms, cap);
	r = agent_client_send(ac, req, &exec_id, 10000);
	if (r < 0) {
		op_agent_error(op, r, "exec", NULL);
		goto out;
	}
	int64_t deadline =
		timeout_ms ? daemon_now_ms() + (int64_t)timeout_ms + DAEMON_EXEC_GRACE_MS : -1;
	for (;;) {
		struct json_object *msg = NULL, *ev;
		int64_t id;

		if (stream && !daemon_client_wait_drained(op->c)) {
			r = -ECANCELED;
			break;
		}
		if (op_cancelled(op)) {
			r = -ECANCELED;
			break;
		}
		r = agent_client_recv(ac, 500, &msg);
		if (r == 0) {
			if (deadline >= 0 && daemon_now_ms() > deadline) {
				r = -ETIMEDOUT;
				break;
			}
			continue;
		}
		if (r < 0)
			break;
		if (agent_client_msg_id(msg, &id) < 0 || id != exec_id) {
			json_object_put(msg);
			continue;
		}
		if (!json_object_object_get_ex(msg, "event", &ev)) {
			final = msg; /* an error reply: it did not start */
			break;
		}
		const char *name = json_object_get_string(ev);
		if (name && (!strcmp(name, "stdout") || !strcmp(name, "stderr"))) {
			struct json_object *data;
			if (json_object_object_get_ex(msg, "data", &data) &&
			    json_object_is_type(data, json_type_string)) {
				if (stream) {
					struct json_object *p = json_object_new_object();
					json_object_object_add(p, "request",
							       op->id ? json_object_get(op->id)
								      : NULL);
					json_object_object_add(p, "stream",
							       json_object_new_string(name));
					json_object_object_add(p, "data", json_object_get(data));
					if (!op->notification)
						daemon_client_send(
							op->c,
							api_notification("sandbox.exec.output", p));
					else
						json_object_put(p);
				} else {
					collect_add(name[3] == 'o' ? &out : &err,
						    json_object_get_string(data),
						    (size_t)json_object_get_string_len(data));
				}
			}
			json_object_put(msg);
			continue;
		}
		if (name && !strcmp(name, "exit")) {
			final = msg;
			break;
		}
		json_object_put(msg);
	}
	op_disconnect(op, ac);
	ac = NULL;

	struct json_object *ax = json_object_new_object();
	json_object_object_add(ax, "argv", exec_audit_argv(api_get(op->params, "argv")));
	double dur_ms = (daemon_now_ns() - op->start_ns) / 1e6;

	if (final) {
		struct json_object *ev;
		if (!json_object_object_get_ex(final, "event", &ev)) {
			/* The agent refused to start it. */
			const char *code = agent_client_error_code(final);
			const char *m = agent_client_error_message(final);
			struct json_object *data = json_object_new_object();
			json_object_object_add(data, "agent_code", json_object_new_string(code));
			json_object_object_add(ax, "error", json_object_new_string(code));
			op_audit(op, "exec", ax);
			ax = NULL;
			op_error(op, API_AGENT, data, "%s: %s", code,
				 m[0] ? m : "the command did not start");
			outcome = "not_started";
		} else {
			struct json_object *res = json_object_new_object(), *v;
			static const char *const keys[] = { "exit_code",    "signal",
							    "timed_out",    "duration_ms",
							    "output_bytes", "dropped_bytes" };
			for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
				if (json_object_object_get_ex(final, keys[i], &v)) {
					json_object_object_add(res, keys[i], json_object_get(v));
					json_object_object_add(ax, keys[i], json_object_get(v));
				}
			}
			if (!stream) {
				json_util_add_base64(res, "stdout", out.data ? out.data : "",
						     out.len);
				json_util_add_base64(res, "stderr", err.data ? err.data : "",
						     err.len);
				if (out.truncated || err.truncated)
					json_object_object_add(res, "truncated",
							       json_object_new_boolean(1));
			}
			json_object_object_add(res, "wall_ms", json_object_new_double(dur_ms));
			op_audit(op, "exec", ax);
			ax = NULL;
			struct json_object *ec, *sg, *to;
			if (json_object_object_get_ex(final, "timed_out", &to) &&
			    json_object_get_boolean(to))
				outcome = "timeout";
			else if (json_object_object_get_ex(final, "signal", &sg) &&
				 json_object_is_type(sg, json_type_string))
				outcome = "signal";
			else if (json_object_object_get_ex(final, "exit_code", &ec) &&
				 json_object_get_int(ec) == 0)
				outcome = "ok";
			else
				outcome = "nonzero";
			pthread_mutex_lock(&d->lock);
			op->sb->execs++;
			pthread_mutex_unlock(&d->lock);
			daemon_client_wait_room(op->c, &op->cancelled);
			op_reply(op, res);
		}
	} else {
		const char *why;
		int code = API_SANDBOX_FAILED;
		if (r == -ECANCELED || op_cancelled(op)) {
			why = op->cancel_why ? op->cancel_why : "the client went away";
			code = API_BUSY;
			outcome = "cancelled";
		} else if (r == -ETIMEDOUT) {
			why = "the agent did not end the command after its timeout";
			code = API_TIMEOUT;
		} else if (op_sandbox_died(op, 500)) {
			why = "the sandbox stopped while the command ran (its PID 1 exited)";
		} else if (r == -EPROTO) {
			why = "the agent sent a malformed message";
		} else {
			why = "the connection to the sandbox's agent was lost";
		}
		json_object_object_add(ax, "error", json_object_new_string(why));
		json_object_object_add(ax, "duration_ms", json_object_new_double(dur_ms));
		op_audit(op, "exec", ax);
		ax = NULL;
		op_error(op, code, NULL, "exec: %s", why);
	}
	metrics_count(d->metrics, "agentvm_execs_total", outcome, 1);
	metrics_observe(d->metrics, "agentvm_exec_seconds", NULL, dur_ms / 1000);
	json_object_put(ax);
out:
	op_disconnect(op, ac);
	json_object_put(req);
	json_object_put(final);
	free(out.data);
	free(err.data);
	op_finish(op);
	return NULL;
}

void *daemon_fs_main(void *arg)
{
	struct op *op = arg;
	const char *name = op->m->name;
	struct agent_client *ac = NULL;
	struct json_object *req = json_object_new_object(), *res = NULL, *v;
	const char *path = api_get_str(op->params, "path", "/");
	const char *type;
	char err[512] = "";
	int r;

	if (!strcmp(name, "sandbox.read_file")) {
		type = "fs.read";
		json_object_object_add(req, "op", json_object_new_string("fs.read"));
		if ((v = api_get(op->params, "offset")))
			json_object_object_add(req, "offset", json_object_get(v));
		if ((v = api_get(op->params, "length")))
			json_object_object_add(req, "length", json_object_get(v));
	} else if (!strcmp(name, "sandbox.write_file")) {
		type = "fs.write";
		json_object_object_add(req, "op", json_object_new_string("fs.write"));
		json_object_object_add(req, "data", json_object_get(api_get(op->params, "data")));
		static const char *const opt[] = { "mode", "append", "offset", "parents" };
		for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
			if ((v = api_get(op->params, opt[i])))
				json_object_object_add(req, opt[i], json_object_get(v));
	} else if (!strcmp(name, "sandbox.list")) {
		type = "fs.list";
		json_object_object_add(req, "op", json_object_new_string("fs.list"));
		if ((v = api_get(op->params, "limit")))
			json_object_object_add(req, "limit", json_object_get(v));
	} else {
		type = "fs.stat";
		json_object_object_add(req, "op", json_object_new_string("fs.stat"));
		json_object_object_add(req, "follow", json_object_new_boolean(1));
	}
	json_object_object_add(req, "path", json_object_new_string(path));

	r = op_connect(op, &ac);
	if (r == 0)
		r = agent_client_call(ac, req, DAEMON_FS_TIMEOUT_MS, &res, err, sizeof(err));
	op_disconnect(op, ac);

	struct json_object *ax = json_object_new_object();
	json_object_object_add(ax, "path", json_object_new_string(path));
	if (r == 0 && !strcmp(type, "fs.read") && json_object_object_get_ex(res, "length", &v))
		json_object_object_add(ax, "size", json_object_get(v));
	if (r == 0 && !strcmp(type, "fs.write") && json_object_object_get_ex(res, "written", &v))
		json_object_object_add(ax, "size", json_object_get(v));
	if (r < 0)
		json_object_object_add(ax, "error",
				       json_object_new_string(err[0] ? err : strerror(-r)));
	op_audit(op, type, ax);
	if (r < 0) {
		op_agent_error(op, r, type, err);
	} else {
		/* A client that does not read gets no more than one big reply queued. */
		daemon_client_wait_room(op->c, &op->cancelled);
		op_reply(op, json_object_get(res));
	}
	json_object_put(res);
	json_object_put(req);
	op_finish(op);
	return NULL;
}
