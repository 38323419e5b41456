/* The browser.* requests as they arrive from a connection: sessions opened,
 * found, closed; operations queued; connections going away. And sessions
 * without a browser, for tests and the fuzzer. */
#include "guest-agent/browser.h"

#include "common/log.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_error.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser_ops.h"
#include "guest-agent/browser_session.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- requests ------------------------------------------------------------------------------ */

static void reply_error(struct agent_conn *c, struct json_object *id, const char *code,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct agent_conn *c, struct json_object *id, const char *code,
			const char *fmt, ...)
{
	struct agent_error err;
	va_list ap;

	err.code = code;
	err.field = NULL;
	err.path[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	if (c)
		agent_conn_send(c, id, agent_proto_reply_error(id, &err));
}

static struct browser_op *op_new(struct browser_session *s, struct agent_conn *c,
				 struct json_object *msg, const struct agent_request *req)
{
	struct browser_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->s = s;
	op->conn = c;
	op->kind = (int)req->op;
	op->op_name = req->op_name;
	op->k = browser_ops_kind(op->kind);
	op->msg = json_object_get(msg);
	op->id = json_object_get(req->id);
	op->req = req->browser;
	op->req.values = NULL;
	if (req->browser.nvalues) {
		op->req.values = calloc(req->browser.nvalues, sizeof(*op->req.values));
		if (!op->req.values) {
			json_object_put(op->msg);
			json_object_put(op->id);
			free(op);
			return NULL;
		}
		memcpy(op->req.values, req->browser.values,
		       req->browser.nvalues * sizeof(*op->req.values));
	}
	op->deadline = agent_now_ms() + op->req.timeout_ms;
	agent_list_add_tail(&s->ops, &op->link);
	s->nops++;
	return op;
}

static const char *sess_state_name(const struct browser_session *s)
{
	switch (s->state) {
	case BROWSER_STARTING:
		return "starting";
	case BROWSER_READY:
		return "ready";
	case BROWSER_DEAD:
		return "crashed";
	default:
		return "closing";
	}
}

static struct json_object *reg_list(void)
{
	struct json_object *res = json_object_new_object(), *arr = json_object_new_array();
	struct agent_list *l;

	if (!res || !arr) {
		json_object_put(res);
		json_object_put(arr);
		return NULL;
	}
	for (l = browser_reg.sessions.next; l != &browser_reg.sessions; l = l->next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "session", browser_json_str(s->name));
		json_object_object_add(o, "state", json_object_new_string(sess_state_name(s)));
		if (s->proc.pid > 0)
			json_object_object_add(o, "pid", json_object_new_int(s->proc.browser_pid));
		json_object_object_add(o, "detached", json_object_new_boolean(!s->owner));
		json_object_object_add(o, "allow_evaluate",
				       json_object_new_boolean(browser_session_may_evaluate(s)));
		json_object_object_add(o, "queued", json_object_new_int(s->nops));
		json_object_object_add(
			o, "age_ms",
			json_object_new_int64((int64_t)(agent_now_ms() - s->opened_ms)));
		if (s->reason[0])
			json_object_object_add(o, "reason", browser_json_str(s->reason));
		json_object_array_add(arr, o);
	}
	json_object_object_add(res, "sessions", arr);
	return res;
}

static void browser_open(struct agent *a, struct agent_conn *c, struct json_object *msg,
			 const struct agent_request *req)
{
	const struct browser_req *b = &req->browser;
	struct browser_session *s;
	struct browser_op *op;
	char name[BROWSER_SESSION_NAME_MAX + 1];

	if (b->session) {
		snprintf(name, sizeof(name), "%s", b->session);
	} else {
		do
			snprintf(name, sizeof(name), "b%lu", ++browser_reg.serial);
		while (browser_session_find(name));
	}
	s = browser_session_find(name);
	if (s && s->state == BROWSER_DEAD) {
		/* Reopening a crashed session replaces it. */
		browser_session_free_later(s);
	} else if (s) {
		reply_error(c, req->id, "EEXIST", "session %s is already open", name);
		return;
	}
	if (browser_reg.nlive >= BROWSER_MAX_SESSIONS) {
		reply_error(c, req->id, "EBUSY", "%d browser sessions are open already; close one",
			    browser_reg.nlive);
		return;
	}
	s = browser_session_new(a, name);
	if (!s) {
		reply_error(c, req->id, "ENOMEM", "out of memory");
		return;
	}
	s->owner = b->detached ? NULL : c;
	s->allow_evaluate = b->allow_evaluate;
	s->width = b->width ? b->width : 1280;
	s->height = b->height ? b->height : 720;
	s->state = BROWSER_STARTING;
	agent_list_add_tail(&browser_reg.sessions, &s->link);
	browser_reg.nlive++;
	s->counted = 1;
	op = op_new(s, c, msg, req);
	if (!op) {
		reply_error(c, req->id, "ENOMEM", "out of memory");
		browser_session_close(s, NULL);
		return;
	}
	browser_session_leave(s);
}

void browser_handle(struct agent *a, struct agent_conn *c, struct json_object *msg,
		    const struct agent_request *req)
{
	struct browser_session *s;
	struct browser_op *op;

	browser_config_load();
	browser_reg.a = a;
	if (req->op == AGENT_OP_BROWSER_LIST) {
		struct json_object *res = reg_list();

		agent_conn_send(c, req->id, agent_proto_reply_ok(req->id, res));
		return;
	}
	if (req->op == AGENT_OP_BROWSER_OPEN) {
		browser_open(a, c, msg, req);
		return;
	}
	s = browser_session_find(req->browser.session);
	if (!s || s->state == BROWSER_CLOSING) {
		reply_error(c, req->id, "ENOSESSION", "no browser session %s",
			    req->browser.session);
		return;
	}
	if (req->op == AGENT_OP_BROWSER_CLOSE) {
		op = op_new(s, c, msg, req);
		if (!op) {
			reply_error(c, req->id, "ENOMEM", "out of memory");
			return;
		}
		/* Not queued behind the others: close now. */
		agent_list_del(&op->link);
		s->nops--;
		browser_session_close(s, op);
		browser_session_leave(s);
		return;
	}
	if (s->state == BROWSER_DEAD) {
		reply_error(c, req->id, "EBROWSER", "the browser of session %s died: %s", s->name,
			    s->reason);
		return;
	}
	if (s->nops >= BROWSER_MAX_OPS) {
		reply_error(c, req->id, "EBUSY", "%d requests are queued on session %s already",
			    s->nops, s->name);
		return;
	}
	op = op_new(s, c, msg, req);
	if (!op) {
		reply_error(c, req->id, "ENOMEM", "out of memory");
		return;
	}
	browser_session_leave(s);
}

void browser_conn_closed(struct agent_conn *c)
{
	struct agent_list *l, *next;
	int shutting_down =
		browser_reg.a && (browser_reg.a->quit || browser_reg.a->shutdown_requested);

	for (l = browser_reg.sessions.next; l != &browser_reg.sessions; l = next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);
		struct agent_list *o;

		next = l->next;
		for (o = s->ops.next; o != &s->ops; o = o->next) {
			struct browser_op *op = agent_list_entry(o, struct browser_op, link);

			if (op->conn == c)
				op->conn = NULL;
		}
		if (s->closer && s->closer->conn == c)
			s->closer->conn = NULL;
		if (s->owner == c || shutting_down) {
			s->owner = NULL;
			browser_session_close(s, NULL);
			browser_session_leave(s);
		}
	}
}

/* --- sessions without a browser (tests, fuzzing) ---------------------------------------------- */

struct browser_session *browser_session_new_detached(const char *name, int allow_evaluate)
{
	struct browser_session *s = browser_session_new(NULL, name);

	if (!s)
		return NULL;
	s->state = BROWSER_READY;
	s->allow_evaluate = allow_evaluate;
	s->width = 1280;
	s->height = 720;
	snprintf(s->target_id, sizeof(s->target_id), "T1");
	snprintf(s->cdp_session, sizeof(s->cdp_session), "S1");
	snprintf(s->frame_id, sizeof(s->frame_id), "T1");
	agent_list_init(&s->link);
	return s;
}

int browser_session_submit(struct browser_session *s, struct json_object *msg)
{
	struct agent_request req;
	struct agent_error err;
	struct browser_op *op;
	int r = -1;

	if (agent_proto_parse(msg, &req, &err) < 0 || !AGENT_OP_IS_BROWSER(req.op) ||
	    req.op == AGENT_OP_BROWSER_LIST || req.op == AGENT_OP_BROWSER_OPEN)
		goto out;
	if (s->state != BROWSER_READY || s->nops >= BROWSER_MAX_OPS)
		goto out;
	op = op_new(s, NULL, msg, &req);
	if (!op)
		goto out;
	if (req.op == AGENT_OP_BROWSER_CLOSE) {
		agent_list_del(&op->link);
		s->nops--;
		browser_session_close(s, op);
	}
	browser_session_leave(s);
	r = 0;
out:
	agent_proto_request_clear(&req);
	return r;
}

void browser_session_feed(struct browser_session *s, const void *data, size_t len)
{
	if (s->freed || browser_cdp_rx_append(&s->rx, data, len) < 0)
		return;
	browser_session_process(s);
	browser_session_leave(s);
}

void browser_session_expire(struct browser_session *s)
{
	struct agent_list *l;

	if (s->freed)
		return;
	for (l = s->ops.next; l != &s->ops; l = l->next) {
		struct browser_op *op = agent_list_entry(l, struct browser_op, link);

		op->deadline = 0;
		if (op->wake)
			op->wake = 1;
	}
	if (s->probe_id)
		s->probe_deadline = 0;
	browser_session_run_timers(s);
	browser_session_leave(s);
}

int64_t browser_session_next_id(const struct browser_session *s)
{
	return s->next_id + 1;
}

void browser_session_free_detached(struct browser_session *s)
{
	if (!s)
		return;
	if (!s->freed) {
		s->kicking = 1; /* nothing new starts */
		browser_session_fail_all(s, "ENOSESSION", "the session was closed");
		s->freed = 1;
		browser_proc_cleanup(NULL, &s->proc);
		browser_session_unwatch(s, &s->timer);
	} else {
		agent_list_del(&s->dead_link);
	}
	browser_session_release(s);
}
