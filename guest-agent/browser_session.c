/* The session machinery: the registry and its settings, each session's
 * queue of operations, the CDP commands in flight and their replies, the
 * events of the page, refs, timers. */
#include "guest-agent/browser_session.h"

#include "common/log.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_error.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser.h"
#include "guest-agent/browser_ops.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct browser_registry browser_reg = {
	.sessions = { &browser_reg.sessions, &browser_reg.sessions },
	.freed = { &browser_reg.freed, &browser_reg.freed },
};

/* --- configuration ------------------------------------------------------------------ */

void browser_config_load(void)
{
	const char *v;

	if (browser_reg.configured)
		return;
	browser_reg.configured = 1;
	/* Whatever way the agent ends, no browser or profile outlives it. */
	atexit(browser_shutdown);
	snprintf(browser_reg.proxy, sizeof(browser_reg.proxy), "http://127.0.0.1:3128");
	if ((v = getenv("AGENTVM_CHROMIUM")) && *v)
		snprintf(browser_reg.chromium, sizeof(browser_reg.chromium), "%s", v);
	if ((v = getenv("AGENTVM_BROWSER_PROXY")))
		snprintf(browser_reg.proxy, sizeof(browser_reg.proxy), "%s",
			 strcmp(v, "none") == 0 ? "" : v);
	if ((v = getenv("AGENTVM_BROWSER_TMPDIR")) && *v)
		snprintf(browser_reg.tmpdir, sizeof(browser_reg.tmpdir), "%s", v);
	if ((v = getenv("AGENTVM_BROWSER_ALLOW_EVALUATE")) && strcmp(v, "1") == 0)
		browser_reg.allow_evaluate = 1;
}

void browser_configure(const struct browser_config *cfg)
{
	browser_config_load();
	if (cfg->chromium)
		snprintf(browser_reg.chromium, sizeof(browser_reg.chromium), "%s", cfg->chromium);
	if (cfg->proxy)
		snprintf(browser_reg.proxy, sizeof(browser_reg.proxy), "%s",
			 strcmp(cfg->proxy, "none") == 0 ? "" : cfg->proxy);
	if (cfg->tmpdir)
		snprintf(browser_reg.tmpdir, sizeof(browser_reg.tmpdir), "%s", cfg->tmpdir);
	if (cfg->allow_evaluate)
		browser_reg.allow_evaluate = 1;
}

int browser_session_may_evaluate(const struct browser_session *s)
{
	return s->allow_evaluate || browser_reg.allow_evaluate;
}

/* --- small helpers ------------------------------------------------------------------- */

void browser_session_watch(struct browser_session *s, struct agent_watch *w, uint32_t events)
{
	if (s->a && w->fd >= 0)
		agent_watch_set(s->a, w, events);
}

void browser_session_unwatch(struct browser_session *s, struct agent_watch *w)
{
	if (s->a) {
		agent_watch_close(s->a, w);
	} else if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
}

struct browser_session *browser_session_find(const char *name)
{
	struct agent_list *l;

	for (l = browser_reg.sessions.next; l != &browser_reg.sessions; l = l->next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);

		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

struct browser_op *browser_session_head(struct browser_session *s)
{
	return agent_list_empty(&s->ops) ? NULL
					 : agent_list_entry(s->ops.next, struct browser_op, link);
}

/* --- timers ---------------------------------------------------------------------------- */

static void sess_rearm(struct browser_session *s)
{
	struct itimerspec its = { 0 };
	struct agent_list *l;
	uint64_t at = UINT64_MAX;

	if (s->freed)
		return;
	for (l = s->ops.next; l != &s->ops; l = l->next) {
		struct browser_op *op = agent_list_entry(l, struct browser_op, link);

		if (op->deadline < at)
			at = op->deadline;
		if (op->active && op->wake && op->wake < at)
			at = op->wake;
	}
	if (s->probe_id && s->probe_deadline < at)
		at = s->probe_deadline;
	if (s->state == BROWSER_CLOSING) {
		uint64_t poll_at = agent_now_ms() + BROWSER_CLOSE_POLL_MS;

		at = poll_at < s->close_deadline ? poll_at : s->close_deadline;
	}
	if (s->close_deadline && s->state != BROWSER_CLOSING && s->close_deadline < at)
		at = s->close_deadline; /* the wait for an exit status after EOF */
	if (at == s->timer_at)
		return;
	s->timer_at = at;
	if (!s->a)
		return;
	if (s->timer.fd < 0) {
		s->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (s->timer.fd < 0) {
			log_warn("browser %s: timerfd: %s", s->name, strerror(errno));
			return;
		}
		s->timer.fn = browser_session_on_timer;
		browser_session_watch(s, &s->timer, EPOLLIN);
	}
	if (at != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000L;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(s->timer.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void browser_op_set_wake(struct browser_op *op, uint64_t ms)
{
	op->wake = ms ? agent_now_ms() + ms : 0;
}

/* --- operations -------------------------------------------------------------------------- */

static void op_free(struct browser_op *op)
{
	struct browser_session *s = op->s;
	size_t i;

	for (i = 0; i < s->npending; i++)
		if (s->pending[i].op == op)
			s->pending[i].op = NULL;
	if (s->closer == op)
		s->closer = NULL;
	if (op->link.next) {
		agent_list_del(&op->link);
		s->nops--;
	}
	json_object_put(op->id);
	json_object_put(op->msg);
	json_object_put(op->result);
	json_object_put(op->dialogs);
	json_object_put(op->nav.redirects);
	browser_req_clear(&op->req);
	free(op->snapshot_text);
	free(op->scratch);
	free(op);
}

static void op_send(struct browser_op *op, struct json_object *msg)
{
	if (op->conn)
		agent_conn_send(op->conn, op->id, msg);
	else
		json_object_put(msg);
}

void browser_op_done(struct browser_op *op, struct json_object *result)
{
	if (!result)
		result = json_object_new_object();
	if (result && op->dialogs) {
		json_object_object_add(result, "dialogs", op->dialogs);
		op->dialogs = NULL;
	}
	op_send(op, agent_proto_reply_ok(op->id, result));
	op_free(op);
}

void browser_op_fail_err(struct browser_op *op, const struct agent_error *err)
{
	struct browser_session *s = op->s;
	int opening = op->kind == AGENT_OP_BROWSER_OPEN && s->state == BROWSER_STARTING;

	op_send(op, agent_proto_reply_error(op->id, err));
	op_free(op);
	/* A browser that could not be set up is not kept. */
	if (opening)
		browser_session_close(s, NULL);
}

void browser_op_fail(struct browser_op *op, const char *code, const char *fmt, ...)
{
	struct agent_error err;
	va_list ap;

	err.code = code;
	err.field = NULL;
	err.path[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	browser_op_fail_err(op, &err);
}

/* Fail every op of s (but keep); used when the session goes away. */
void browser_session_fail_all(struct browser_session *s, const char *code, const char *msg)
{
	struct browser_op *op;

	s->kicking++;
	while ((op = browser_session_head(s)))
		browser_op_fail(op, code, "%s", msg);
	s->kicking--;
}

/* Start queued ops until one is left running. */
static void sess_kick(struct browser_session *s)
{
	struct browser_op *op;

	if (s->kicking || s->freed)
		return;
	s->kicking = 1;
	while ((s->state == BROWSER_READY || s->state == BROWSER_STARTING) &&
	       (op = browser_session_head(s)) && !op->active) {
		op->active = 1;
		op->k->start(op);
	}
	s->kicking = 0;
}

/* After every entry into a session: start what can start, write what is
 * queued, set the timer. */
void browser_session_leave(struct browser_session *s)
{
	int r;

	if (s->freed)
		return;
	sess_kick(s);
	if (s->proc.cmd_w.fd >= 0 && browser_cdp_tx_pending(&s->tx) > 0) {
		r = browser_cdp_tx_flush(&s->tx, s->proc.cmd_w.fd);
		if (r == -EAGAIN) {
			browser_session_watch(s, &s->proc.cmd_w, EPOLLOUT);
		} else if (r < 0) {
			browser_session_pipe_lost(s);
		} else {
			browser_session_watch(s, &s->proc.cmd_w, 0);
		}
	} else if (!s->a) {
		/* No browser: what would have been written is dropped. */
		s->tx.off = s->tx.len = 0;
	}
	sess_rearm(s);
}

/* --- CDP commands ------------------------------------------------------------------------ */

int browser_session_send(struct browser_session *s, struct browser_op *op, int tag,
			 const char *method, struct json_object *params, int page, int64_t *idp)
{
	struct browser_pending *p;
	int64_t id;
	int r;

	if (page && !s->cdp_session[0]) {
		json_object_put(params);
		return -ENOTCONN;
	}
	if (s->npending >= BROWSER_MAX_PENDING) {
		json_object_put(params);
		return -EBUSY;
	}
	if (s->npending == s->pending_cap) {
		size_t cap = s->pending_cap ? s->pending_cap * 2 : 16;

		p = realloc(s->pending, cap * sizeof(*p));
		if (!p) {
			json_object_put(params);
			return -ENOMEM;
		}
		s->pending = p;
		s->pending_cap = cap;
	}
	id = ++s->next_id;
	r = browser_cdp_tx_command(&s->tx, id, method, params, page ? s->cdp_session : NULL);
	if (r < 0)
		return r;
	s->pending[s->npending++] = (struct browser_pending){ .id = id, .op = op, .tag = tag };
	if (idp)
		*idp = id;
	return 0;
}

int browser_cmd(struct browser_op *op, int tag, const char *method, struct json_object *params,
		int page)
{
	struct browser_session *s = op->s;
	int r;

	r = browser_session_send(s, op, tag, method, params, page, NULL);
	if (r == 0) {
		op->outstanding++;
		return 0;
	}
	if (r == -ENOTCONN)
		browser_op_fail(op, "EBROWSER", "the page of session %s is gone", s->name);
	else if (r == -EBUSY)
		browser_op_fail(op, "EBUSY", "too many commands in flight to the browser");
	else
		browser_op_fail(op, r == -E2BIG ? "ETOOBIG" : "ENOMEM",
				"cannot queue %s for the browser: %s", method, strerror(-r));
	return -1;
}

void browser_session_cmd(struct browser_session *s, const char *method, struct json_object *params,
			 int page)
{
	browser_session_send(s, NULL, 0, method, params, page, NULL);
}

/* --- refs -------------------------------------------------------------------------------- */

static int sess_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void browser_session_add_refs(struct browser_session *s, const uint32_t *ids, size_t n)
{
	size_t i, j;

	if (n == 0)
		return;
	if (s->nrefs + n > BROWSER_REFS_MAX)
		s->nrefs = 0; /* start over rather than grow without bound */
	if (s->nrefs + n > s->refs_cap) {
		size_t cap = s->refs_cap ? s->refs_cap : 256;
		uint32_t *r;

		while (cap < s->nrefs + n)
			cap *= 2;
		r = realloc(s->refs, cap * sizeof(*r));
		if (!r)
			return;
		s->refs = r;
		s->refs_cap = cap;
	}
	memcpy(s->refs + s->nrefs, ids, n * sizeof(*ids));
	s->nrefs += n;
	qsort(s->refs, s->nrefs, sizeof(*s->refs), sess_cmp_u32);
	for (i = j = 0; i < s->nrefs; i++)
		if (j == 0 || s->refs[j - 1] != s->refs[i])
			s->refs[j++] = s->refs[i];
	s->nrefs = j;
}

int browser_session_has_ref(const struct browser_session *s, uint32_t id)
{
	return s->nrefs && bsearch(&id, s->refs, s->nrefs, sizeof(id), sess_cmp_u32) != NULL;
}

/* --- messages from Chromium ---------------------------------------------------------------- */

static void sess_on_dialog(struct browser_session *s, const struct browser_cdp_msg *m)
{
	struct browser_op *op = browser_session_head(s);
	const char *type = browser_cdp_str(m->params, "type");
	const char *text = browser_cdp_str(m->params, "message");
	struct json_object *p = json_object_new_object();
	int accept = type && (strcmp(type, "alert") == 0 || strcmp(type, "beforeunload") == 0);

	/* A dialog blocks the page: answer it at once and tell the client. */
	if (p) {
		json_object_object_add(p, "accept", json_object_new_boolean(accept));
		browser_session_cmd(s, "Page.handleJavaScriptDialog", p, 1);
	}
	if (!op || !op->active)
		return;
	if (!op->dialogs)
		op->dialogs = json_object_new_array();
	if (op->dialogs && json_object_array_length(op->dialogs) < 16) {
		struct json_object *d = json_object_new_object();

		if (!d)
			return;
		json_object_object_add(d, "type", browser_json_str(type ? type : "unknown"));
		json_object_object_add(d, "message", browser_json_str(text ? text : ""));
		json_object_object_add(d, "accepted", json_object_new_boolean(accept));
		json_object_array_add(op->dialogs, d);
	}
}

static void sess_on_event(struct browser_session *s, const struct browser_cdp_msg *m)
{
	struct browser_op *op;
	const char *sid;

	if (strcmp(m->method, "Target.detachedFromTarget") == 0) {
		sid = browser_cdp_str(m->params, "sessionId");
		if (sid && strcmp(sid, s->cdp_session) == 0) {
			s->cdp_session[0] = '\0';
			if ((op = browser_session_head(s)) && op->active &&
			    op->kind != AGENT_OP_BROWSER_OPEN)
				browser_op_fail(op, "EBROWSER", "the page was closed");
		}
		return;
	}
	/* Only the page we drive. */
	if (!m->session_id || strcmp(m->session_id, s->cdp_session) != 0)
		return;
	if (strcmp(m->method, "Inspector.targetCrashed") == 0) {
		log_info("browser %s: the page crashed", s->name);
		if ((op = browser_session_head(s)) && op->active)
			browser_op_fail(op, "EBROWSER", "the page crashed (its renderer died)");
		return;
	}
	if (strcmp(m->method, "Page.javascriptDialogOpening") == 0) {
		sess_on_dialog(s, m);
		return;
	}
	if (strcmp(m->method, "Page.frameNavigated") == 0) {
		struct json_object *fr = browser_cdp_obj(m->params, "frame");

		const char *loader = browser_cdp_str(fr, "loaderId");

		if (fr && !browser_cdp_str(fr, "parentId")) {
			browser_cdp_copy(fr, "id", s->frame_id, sizeof(s->frame_id));
			/* A new document: node ids may start over in a new renderer,
			 * so the old page's refs must not name its elements. */
			if (loader && strcmp(loader, s->page_loader) != 0) {
				snprintf(s->page_loader, sizeof(s->page_loader), "%s", loader);
				s->nrefs = 0;
			}
		}
	}
	op = browser_session_head(s);
	if (!op || !op->active)
		return;
	browser_ops_event(op, m);
}

static void sess_on_response(struct browser_session *s, const struct browser_cdp_msg *m)
{
	struct browser_pending p;
	size_t i;

	if (s->probe_id && m->id == s->probe_id)
		s->probe_id = 0; /* alive */
	for (i = 0; i < s->npending; i++)
		if (s->pending[i].id == m->id)
			break;
	if (i == s->npending)
		return; /* not ours, or already answered */
	p = s->pending[i];
	s->pending[i] = s->pending[--s->npending];
	if (!p.op)
		return;
	p.op->outstanding--;
	browser_ops_reply(p.op, p.tag, m);
}

/* An oversized (or unparsable) reply to command id: fail its op. */
static void sess_on_dropped(struct browser_session *s, int64_t id, const char *why)
{
	size_t i;

	log_warn("browser %s: dropped a message from chromium: %s", s->name, why);
	for (i = 0; id >= 0 && i < s->npending; i++) {
		if (s->pending[i].id != id)
			continue;
		if (s->pending[i].op)
			browser_op_fail(s->pending[i].op, "ETOOBIG",
					"the browser's answer was too big or malformed (%s)", why);
		/* browser_op_fail cleared the entry's op; forget the entry. */
		s->pending[i] = s->pending[--s->npending];
		return;
	}
}

void browser_session_process(struct browser_session *s)
{
	const char *text;
	size_t len;
	int64_t id;
	int r;

	while (!s->freed && (s->state == BROWSER_READY || s->state == BROWSER_STARTING)) {
		struct json_object *root;
		struct browser_cdp_msg m;

		r = browser_cdp_rx_next(&s->rx, &text, &len, &id);
		if (r == 0)
			break;
		if (r == BROWSER_CDP_RX_DROPPED) {
			sess_on_dropped(s, id, "over the size limit");
			continue;
		}
		log_debug("browser %s: <- %.*s%s", s->name, len > 300 ? 300 : (int)len, text,
			  len > 300 ? "..." : "");
		if (browser_cdp_parse(text, len, &root, &m) < 0) {
			sess_on_dropped(s, browser_cdp_peek_id(text, len),
					"not a DevTools message");
			continue;
		}
		if (m.kind == BROWSER_CDP_RESPONSE)
			sess_on_response(s, &m);
		else
			sess_on_event(s, &m);
		json_object_put(root);
	}
}
