/* Requests in flight (ops): replies, errors, cancellation, auditing. */
#include "common/log.h"
#include "host/api.h"
#include "host/audit.h"
#include "host/daemon_internal.h"
#include "host/metrics.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void op_reply(struct op *op, struct json_object *result)
{
	if (op->notification) {
		json_object_put(result);
		return;
	}
	daemon_client_send(op->c, api_result(op->id, result));
}

void op_error(struct op *op, int code, struct json_object *data, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	metrics_count(op->d->metrics, "agentvm_api_errors_total", api_error_name(code), 1);
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "method", json_object_new_string(op->m->name));
	json_object_object_add(ex, "code", json_object_new_int(code));
	json_object_object_add(ex, "error", json_object_new_string(api_error_name(code)));
	json_object_object_add(ex, "message", json_object_new_string(msg));
	op_audit(op, "api.error", ex);
	if (op->notification) {
		json_object_put(data);
		return;
	}
	daemon_client_send(op->c, api_error(op->id, code, msg, data));
}

void op_audit(struct op *op, const char *type, struct json_object *extra)
{
	audit_event(op->d->audit, type, op->sb ? op->sb->name : NULL, op->c->uid, op->c->pid,
		    extra);
	json_object_put(extra);
}

bool op_set_agent_fd(struct op *op, int fd)
{
	bool ok;

	pthread_mutex_lock(&op->d->lock);
	ok = !op->cancelled;
	if (ok)
		op->agent_fd = fd;
	pthread_mutex_unlock(&op->d->lock);
	return ok;
}

void op_clear_agent_fd(struct op *op)
{
	pthread_mutex_lock(&op->d->lock);
	op->agent_fd = -1;
	pthread_mutex_unlock(&op->d->lock);
}

void ops_cancel_locked(struct daemon *d, struct client *c, struct sandbox *sb, const char *why)
{
	for (struct op *op = d->ops; op; op = op->next) {
		if ((c && op->c != c) || (sb && op->sb != sb) || op->cancelled)
			continue;
		op->cancel_why = why;
		__atomic_store_n(&op->cancelled, true, __ATOMIC_RELEASE);
		if (op->agent_fd >= 0)
			shutdown(op->agent_fd, SHUT_RDWR);
	}
}

void op_finish(struct op *op)
{
	struct daemon *d = op->d;

	pthread_mutex_lock(&d->lock);
	for (struct op **p = &d->ops; *p; p = &(*p)->next) {
		if (*p == op) {
			*p = op->next;
			break;
		}
	}
	d->nops--;
	op->c->nops--;
	if (op->sb) {
		if (op->sb_busy)
			sandbox_release_locked(d, op->sb);
		else
			sandbox_unref_locked(d, op->sb);
	}
	daemon_client_unref(op->c);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	json_object_put(op->root);
	free(op);
	daemon_wake(d);
}

void op_agent_error(struct op *op, int r, const char *what, const char *err)
{
	if (op_cancelled(op)) {
		op_error(op, API_BUSY, NULL, "%s: cancelled: %s", what,
			 op->cancel_why ? op->cancel_why : "the request was cancelled");
		return;
	}
	switch (r) {
	case -EREMOTEIO: {
		char code[32] = "EIO";
		const char *colon = err ? strchr(err, ':') : NULL;
		if (colon && colon - err < (long)sizeof(code)) {
			memcpy(code, err, (size_t)(colon - err));
			code[colon - err] = '\0';
		}
		struct json_object *data = json_object_new_object();
		json_object_object_add(data, "agent_code", json_object_new_string(code));
		op_error(op, API_AGENT, data, "%s: %s", what, err ? err : "error");
		return;
	}
	case -ETIMEDOUT:
		op_error(op, API_TIMEOUT, NULL, "%s: the agent did not answer in time", what);
		return;
	case -ECONNRESET:
	case -EPIPE:
	case -ECONNREFUSED:
	case -ENOENT:
		op_error(op, API_SANDBOX_FAILED, NULL, "%s: the sandbox's agent went away", what);
		return;
	case -EPROTO:
		op_error(op, API_SANDBOX_FAILED, NULL, "%s: the agent sent a malformed message",
			 what);
		return;
	case -E2BIG:
		op_error(op, API_TOO_BIG, NULL, "%s: too big for one message", what);
		return;
	}
	op_error(op, API_INTERNAL, NULL, "%s: %s", what, strerror(-r));
}
