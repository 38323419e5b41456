#include "guest-agent/browser_session.h"

#include "common/log.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_error.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser.h"
#include "guest-agent/browser_ops.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define SESS_READ_CHUNK	 (256u << 10)
#define SESS_READ_BUDGET (4u << 20) /* bytes read per wake-up, for fairness */
#define SESS_EOF_WAIT_MS 500	    /* after the pipe closed, for the exit status */
#define SESS_CLOSE_POLL	 20

struct browser_registry {
	struct agent *a;
	struct agent_list sessions; /* every session not yet freed */
	struct agent_list freed;    /* to release after the epoll batch */
	int nlive;
	unsigned long serial;
	int configured;
	char chromium[PATH_MAX];
	char proxy[BROWSER_PROXY_MAX + 1];
	char tmpdir[PATH_MAX];
	int allow_evaluate;
};

static struct browser_registry reg = {
	.sessions = { &reg.sessions, &reg.sessions },
	.freed = { &reg.freed, &reg.freed },
};

static void sess_on_timer(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_res(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_cmd(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_err(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_pid(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_died(struct browser_session *s, const char *reason);
static void sess_close(struct browser_session *s, struct browser_op *closer);

/* --- configuration ------------------------------------------------------------------ */

static void reg_load_config(void)
{
	const char *v;

	if (reg.configured)
		return;
	reg.configured = 1;
	snprintf(reg.proxy, sizeof(reg.proxy), "http://127.0.0.1:3128");
	if ((v = getenv("AGENTVM_CHROMIUM")) && *v)
		snprintf(reg.chromium, sizeof(reg.chromium), "%s", v);
	if ((v = getenv("AGENTVM_BROWSER_PROXY")))
		snprintf(reg.proxy, sizeof(reg.proxy), "%s", strcmp(v, "none") == 0 ? "" : v);
	if ((v = getenv("AGENTVM_BROWSER_TMPDIR")) && *v)
		snprintf(reg.tmpdir, sizeof(reg.tmpdir), "%s", v);
	if ((v = getenv("AGENTVM_BROWSER_ALLOW_EVALUATE")) && strcmp(v, "1") == 0)
		reg.allow_evaluate = 1;
}

void browser_configure(const struct browser_config *cfg)
{
	reg_load_config();
	if (cfg->chromium)
		snprintf(reg.chromium, sizeof(reg.chromium), "%s", cfg->chromium);
	if (cfg->proxy)
		snprintf(reg.proxy, sizeof(reg.proxy), "%s",
			 strcmp(cfg->proxy, "none") == 0 ? "" : cfg->proxy);
	if (cfg->tmpdir)
		snprintf(reg.tmpdir, sizeof(reg.tmpdir), "%s", cfg->tmpdir);
	if (cfg->allow_evaluate)
		reg.allow_evaluate = 1;
}

int browser_session_may_evaluate(const struct browser_session *s)
{
	return s->allow_evaluate || reg.allow_evaluate;
}

/* --- small helpers ------------------------------------------------------------------- */

static void sess_watch(struct browser_session *s, struct agent_watch *w, uint32_t events)
{
	if (s->a && w->fd >= 0)
		agent_watch_set(s->a, w, events);
}

static void sess_close_watch(struct browser_session *s, struct agent_watch *w)
{
	if (s->a) {
		agent_watch_close(s->a, w);
	} else if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
}

static struct browser_session *reg_find(const char *name)
{
	struct agent_list *l;

	for (l = reg.sessions.next; l != &reg.sessions; l = l->next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);

		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

static struct browser_op *sess_head(struct browser_session *s)
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
		uint64_t poll_at = agent_now_ms() + SESS_CLOSE_POLL;

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
		s->timer.fn = sess_on_timer;
		sess_watch(s, &s->timer, EPOLLIN);
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
		sess_close(s, NULL);
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
static void sess_fail_all(struct browser_session *s, const char *code, const char *msg)
{
	struct browser_op *op;

	s->kicking++;
	while ((op = sess_head(s)))
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
	while ((s->state == BROWSER_READY || s->state == BROWSER_STARTING) && (op = sess_head(s)) &&
	       !op->active) {
		op->active = 1;
		op->k->start(op);
	}
	s->kicking = 0;
}

/* After every entry into a session: start what can start, write what is
 * queued, set the timer. */
static void sess_leave(struct browser_session *s)
{
	int r;

	if (s->freed)
		return;
	sess_kick(s);
	if (s->proc.cmd_w.fd >= 0 && browser_cdp_tx_pending(&s->tx) > 0) {
		r = browser_cdp_tx_flush(&s->tx, s->proc.cmd_w.fd);
		if (r == -EAGAIN) {
			sess_watch(s, &s->proc.cmd_w, EPOLLOUT);
		} else if (r < 0) {
			sess_died(s, "chromium stopped reading its DevTools pipe");
			return;
		} else {
			sess_watch(s, &s->proc.cmd_w, 0);
		}
	} else if (!s->a) {
		/* No browser: what would have been written is dropped. */
		s->tx.off = s->tx.len = 0;
	}
	sess_rearm(s);
}

/* --- CDP commands ------------------------------------------------------------------------ */

static int sess_send(struct browser_session *s, struct browser_op *op, int tag, const char *method,
		     struct json_object *params, int page, int64_t *idp)
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

	r = sess_send(s, op, tag, method, params, page, NULL);
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

/* Fire and forget, on behalf of the session itself. */
static void sess_cmd(struct browser_session *s, const char *method, struct json_object *params,
		     int page)
{
	sess_send(s, NULL, 0, method, params, page, NULL);
}

void browser_session_cmd(struct browser_session *s, const char *method, struct json_object *params,
			 int page)
{
	sess_cmd(s, method, params, page);
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
	struct browser_op *op = sess_head(s);
	const char *type = browser_cdp_str(m->params, "type");
	const char *text = browser_cdp_str(m->params, "message");
	struct json_object *p = json_object_new_object();
	int accept = type && (strcmp(type, "alert") == 0 || strcmp(type, "beforeunload") == 0);

	/* A dialog blocks the page: answer it at once and tell the client. */
	if (p) {
		json_object_object_add(p, "accept", json_object_new_boolean(accept));
		sess_cmd(s, "Page.handleJavaScriptDialog", p, 1);
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
			if ((op = sess_head(s)) && op->active && op->kind != AGENT_OP_BROWSER_OPEN)
				browser_op_fail(op, "EBROWSER", "the page was closed");
		}
		return;
	}
	/* Only the page we drive. */
	if (!m->session_id || strcmp(m->session_id, s->cdp_session) != 0)
		return;
	if (strcmp(m->method, "Inspector.targetCrashed") == 0) {
		log_info("browser %s: the page crashed", s->name);
		if ((op = sess_head(s)) && op->active)
			browser_op_fail(op, "EBROWSER", "the page crashed (its renderer died)");
		return;
	}
	if (strcmp(m->method, "Page.javascriptDialogOpening") == 0) {
		sess_on_dialog(s, m);
		return;
	}
	if (strcmp(m->method, "Page.frameNavigated") == 0) {
		struct json_object *fr = browser_cdp_obj(m->params, "frame");

		if (fr && !browser_cdp_str(fr, "parentId"))
			browser_cdp_copy(fr, "id", s->frame_id, sizeof(s->frame_id));
	}
	op = sess_head(s);
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

static void sess_process(struct browser_session *s)
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

/* --- I/O --------------------------------------------------------------------------------- */

static struct browser_session *sess_of(struct agent_watch *w, size_t off)
{
	return (struct browser_session *)((char *)w - off);
}

#define SESS_OF(w, member) sess_of(w, offsetof(struct browser_session, member))

static void sess_pipe_eof(struct browser_session *s)
{
	char why[600];

	sess_close_watch(s, &s->proc.res_w);
	if (browser_proc_reap(&s->proc) == 1) {
		browser_proc_describe(&s->proc, why, sizeof(why));
		sess_died(s, why);
		return;
	}
	/* The exit status usually follows at once: wait a little for it. */
	s->close_deadline = agent_now_ms() + SESS_EOF_WAIT_MS;
}

static void sess_on_res(struct agent *a, struct agent_watch *w, uint32_t events)
{
	static char buf[SESS_READ_CHUNK];
	struct browser_session *s = SESS_OF(w, proc.res_w);
	size_t total = 0;
	ssize_t n;

	(void)a;
	(void)events;
	while (total < SESS_READ_BUDGET) {
		n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			sess_process(s);
			sess_pipe_eof(s);
			sess_leave(s);
			return;
		}
		if (browser_cdp_rx_append(&s->rx, buf, (size_t)n) < 0) {
			sess_died(s, "out of memory reading from chromium");
			sess_leave(s);
			return;
		}
		total += (size_t)n;
		sess_process(s);
		if (s->freed || s->state == BROWSER_DEAD || s->state == BROWSER_CLOSING)
			break;
	}
	sess_leave(s);
}

static void sess_on_cmd(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, proc.cmd_w);

	(void)a;
	if (events & (EPOLLERR | EPOLLHUP)) {
		sess_died(s, "chromium closed its DevTools pipe");
		return;
	}
	sess_leave(s);
}

static void sess_on_err(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, proc.err_w);

	(void)a;
	(void)events;
	if (browser_proc_read_stderr(&s->proc) == 0)
		sess_close_watch(s, &s->proc.err_w);
}

static void sess_check_closed(struct browser_session *s);

static void sess_on_pid(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, proc.pid_w);
	char why[600];

	(void)a;
	(void)events;
	if (browser_proc_reap(&s->proc) == 0)
		return;
	/* Keep what it said last. */
	browser_proc_read_stderr(&s->proc);
	sess_close_watch(s, &s->proc.pid_w);
	if (s->state == BROWSER_READY || s->state == BROWSER_STARTING) {
		browser_proc_describe(&s->proc, why, sizeof(why));
		sess_died(s, why);
	}
	if (s->state == BROWSER_DEAD) {
		/* The error is kept; the profile need not be. */
		browser_proc_remove_profile(&s->proc);
	} else if (s->state == BROWSER_CLOSING) {
		sess_check_closed(s);
	}
	sess_leave(s);
}

static void sess_timeout_op(struct browser_session *s, struct browser_op *op)
{
	struct json_object *p;
	int navigating = op->kind == AGENT_OP_BROWSER_NAVIGATE ||
			 op->kind == AGENT_OP_BROWSER_BACK || op->nav.phase == BROWSER_NAV_STARTED;

	if (!op->active) {
		browser_op_fail(op, "ETIMEDOUT",
				"%s timed out after %llu ms waiting behind another request on "
				"session %s",
				op->op_name, (unsigned long long)op->req.timeout_ms, s->name);
		return;
	}
	if (navigating && s->cdp_session[0])
		sess_cmd(s, "Page.stopLoading", NULL, 1);
	/* Is the browser itself still there? Ask it something cheap. */
	if (!s->probe_id && (p = json_object_new_object()) &&
	    sess_send(s, NULL, 0, "Browser.getVersion", p, 0, &s->probe_id) == 0)
		s->probe_deadline = agent_now_ms() + BROWSER_PROBE_MS;
	if (navigating)
		browser_op_fail(op, "ETIMEDOUT", "the page did not finish loading within %llu ms",
				(unsigned long long)op->req.timeout_ms);
	else
		browser_op_fail(op, "ETIMEDOUT", "no answer from the browser within %llu ms",
				(unsigned long long)op->req.timeout_ms);
}

static void sess_expire(struct browser_session *s)
{
	struct agent_list *l, *next;
	uint64_t now = agent_now_ms();
	struct browser_op *op;
	char why[600];

	if (s->state == BROWSER_CLOSING) {
		sess_check_closed(s);
		return;
	}
	if (s->close_deadline && now >= s->close_deadline) {
		/* The pipe closed but no exit status came. */
		s->close_deadline = 0;
		if (browser_proc_reap(&s->proc) == 1)
			browser_proc_describe(&s->proc, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "chromium closed its DevTools pipe");
		sess_died(s, why);
		return;
	}
	if (s->probe_id && now >= s->probe_deadline) {
		s->probe_id = 0;
		sess_died(s, "chromium stopped responding (no answer to a probe within 3 s)");
		return;
	}
	s->kicking++;
	for (l = s->ops.next; l != &s->ops; l = next) {
		next = l->next;
		op = agent_list_entry(l, struct browser_op, link);
		if (now >= op->deadline) {
			sess_timeout_op(s, op);
			if (s->state != BROWSER_READY && s->state != BROWSER_STARTING)
				break;
			continue;
		}
		if (op->active && op->wake && now >= op->wake) {
			op->wake = 0;
			if (op->k->wake)
				op->k->wake(op);
		}
	}
	s->kicking--;
}

static void sess_on_timer(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, timer);
	uint64_t ticks;

	(void)a;
	(void)events;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	s->timer_at = 0;
	sess_expire(s);
	sess_leave(s);
}

/* --- lifecycle --------------------------------------------------------------------------- */

static struct browser_session *sess_new(struct agent *a, const char *name)
{
	struct browser_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->a = a;
	snprintf(s->name, sizeof(s->name), "%s", name);
	agent_list_init(&s->ops);
	browser_proc_init(&s->proc);
	browser_cdp_rx_init(&s->rx, 0);
	s->timer.fd = -1;
	s->opened_ms = agent_now_ms();
	s->proc.pid_w.fn = sess_on_pid;
	s->proc.cmd_w.fn = sess_on_cmd;
	s->proc.res_w.fn = sess_on_res;
	s->proc.err_w.fn = sess_on_err;
	return s;
}

/* A live session stops counting against BROWSER_MAX_SESSIONS. */
static void sess_uncount(struct browser_session *s)
{
	if (s->counted) {
		s->counted = 0;
		reg.nlive--;
	}
}

/* Unlink s; its memory goes after the batch (browser_reap). */
static void sess_free_later(struct browser_session *s)
{
	if (s->freed)
		return;
	s->freed = 1;
	sess_close_watch(s, &s->timer);
	if (s->proc.pid > 0 && !s->proc.reaped)
		log_warn("browser %s: chromium %d did not exit after SIGKILL", s->name,
			 (int)s->proc.pid);
	browser_proc_cleanup(s->a, &s->proc);
	sess_uncount(s);
	agent_list_del(&s->link);
	agent_list_add_tail(&reg.freed, &s->dead_link);
}

static void sess_release(struct browser_session *s)
{
	browser_cdp_rx_free(&s->rx);
	browser_cdp_tx_free(&s->tx);
	free(s->pending);
	free(s->refs);
	free(s);
}

void browser_reap(struct agent *a)
{
	(void)a;
	while (!agent_list_empty(&reg.freed)) {
		struct browser_session *s =
			agent_list_entry(reg.freed.next, struct browser_session, dead_link);

		agent_list_del(&s->dead_link);
		sess_release(s);
	}
}

/* Crashed sessions are kept for their error, but not too many. */
static void reg_trim_dead(void)
{
	struct agent_list *l;
	int ndead = 0;

	for (l = reg.sessions.next; l != &reg.sessions; l = l->next)
		if (agent_list_entry(l, struct browser_session, link)->state == BROWSER_DEAD)
			ndead++;
	for (l = reg.sessions.next; l != &reg.sessions && ndead > BROWSER_MAX_DEAD;) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);

		l = l->next;
		if (s->state == BROWSER_DEAD && s->proc.reaped) {
			sess_free_later(s);
			ndead--;
		}
	}
}

static void sess_died(struct browser_session *s, const char *reason)
{
	char msg[600];

	if (s->state == BROWSER_DEAD || s->state == BROWSER_CLOSING || s->freed)
		return;
	sess_uncount(s);
	s->state = BROWSER_DEAD;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	log_info("browser %s: %s", s->name, reason);
	browser_proc_kill(&s->proc);
	sess_close_watch(s, &s->proc.cmd_w);
	sess_close_watch(s, &s->proc.res_w);
	sess_close_watch(s, &s->proc.err_w);
	if (browser_proc_reap(&s->proc) == 1)
		sess_close_watch(s, &s->proc.pid_w);
	s->probe_id = 0;
	s->close_deadline = 0;
	s->npending = 0;
	snprintf(msg, sizeof(msg), "the browser of session %s died: %s", s->name, reason);
	sess_fail_all(s, "EBROWSER", msg);
	reg_trim_dead();
}

static void sess_finish_close(struct browser_session *s)
{
	struct browser_op *closer = s->closer;
	struct json_object *res;

	if (closer) {
		s->closer = NULL;
		res = json_object_new_object();
		if (res) {
			json_object_object_add(res, "session", browser_json_str(s->name));
			if (s->reason[0])
				json_object_object_add(res, "crashed", browser_json_str(s->reason));
		}
		browser_op_done(closer, res);
	}
	sess_free_later(s);
}

static void sess_check_closed(struct browser_session *s)
{
	if (s->freed)
		return;
	if (s->proc.pid <= 0 || agent_now_ms() >= s->close_deadline ||
	    (browser_proc_reap(&s->proc) == 1 && browser_proc_count_alive(&s->proc) == 0)) {
		sess_finish_close(s);
		return;
	}
	browser_proc_kill(&s->proc);
}

/* Kill s and free it once its processes are gone; closer (may be NULL) gets
 * the reply then. */
static void sess_close(struct browser_session *s, struct browser_op *closer)
{
	int shutting_down = s->a && (s->a->quit || s->a->shutdown_requested);

	if (s->freed)
		return;
	if (s->state == BROWSER_CLOSING) {
		/* Already going: answer this one now. */
		if (closer)
			browser_op_done(closer, NULL);
		return;
	}
	sess_uncount(s);
	s->state = BROWSER_CLOSING;
	s->closer = closer;
	sess_fail_all(s, "ENOSESSION", "the session was closed");
	browser_proc_kill(&s->proc);
	sess_close_watch(s, &s->proc.cmd_w);
	sess_close_watch(s, &s->proc.res_w);
	sess_close_watch(s, &s->proc.err_w);
	s->npending = 0;
	s->probe_id = 0;
	s->close_deadline = agent_now_ms() + BROWSER_CLOSE_WAIT_MS;
	if (shutting_down && s->proc.pid_w.fd >= 0 && !s->proc.reaped) {
		/* No loop to come back to: wait here, briefly. */
		struct pollfd pfd = { .fd = s->proc.pid_w.fd, .events = POLLIN };

		poll(&pfd, 1, 1000);
	}
	sess_check_closed(s);
}

void browser_session_kill(struct browser_session *s, const char *reason)
{
	sess_died(s, reason);
}

int browser_session_spawn(struct browser_session *s, const char *proxy, struct agent_error *err)
{
	struct browser_launch l = {
		.chromium = reg.chromium[0] ? reg.chromium : NULL,
		.proxy = proxy ? proxy : reg.proxy,
		.tmpdir = reg.tmpdir[0] ? reg.tmpdir : NULL,
		.width = s->width,
		.height = s->height,
	};

	if (!s->a) {
		agent_error_set(err, "EBROWSER", NULL, "no browser in a detached test session");
		return -1;
	}
	if (browser_proc_start(&l, &s->proc, err) < 0)
		return -1;
	s->proc.pid_w.fn = sess_on_pid;
	s->proc.cmd_w.fn = sess_on_cmd;
	s->proc.res_w.fn = sess_on_res;
	s->proc.err_w.fn = sess_on_err;
	sess_watch(s, &s->proc.pid_w, EPOLLIN);
	sess_watch(s, &s->proc.res_w, EPOLLIN);
	sess_watch(s, &s->proc.err_w, EPOLLIN);
	log_info("browser %s: chromium %d started%s%s", s->name, (int)s->proc.pid,
		 l.proxy && *l.proxy ? " with proxy " : " without a proxy", l.proxy ? l.proxy : "");
	return 0;
}

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
	for (l = reg.sessions.next; l != &reg.sessions; l = l->next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "session", browser_json_str(s->name));
		json_object_object_add(o, "state", json_object_new_string(sess_state_name(s)));
		if (s->proc.pid > 0)
			json_object_object_add(o, "pid", json_object_new_int(s->proc.pid));
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
			snprintf(name, sizeof(name), "b%lu", ++reg.serial);
		while (reg_find(name));
	}
	s = reg_find(name);
	if (s && s->state == BROWSER_DEAD) {
		/* Reopening a crashed session replaces it. */
		sess_free_later(s);
	} else if (s) {
		reply_error(c, req->id, "EEXIST", "session %s is already open", name);
		return;
	}
	if (reg.nlive >= BROWSER_MAX_SESSIONS) {
		reply_error(c, req->id, "EBUSY", "%d browser sessions are open already; close one",
			    reg.nlive);
		return;
	}
	s = sess_new(a, name);
	if (!s) {
		reply_error(c, req->id, "ENOMEM", "out of memory");
		return;
	}
	s->owner = b->detached ? NULL : c;
	s->allow_evaluate = b->allow_evaluate;
	s->width = b->width ? b->width : 1280;
	s->height = b->height ? b->height : 720;
	s->state = BROWSER_STARTING;
	agent_list_add_tail(&reg.sessions, &s->link);
	reg.nlive++;
	s->counted = 1;
	op = op_new(s, c, msg, req);
	if (!op) {
		reply_error(c, req->id, "ENOMEM", "out of memory");
		sess_close(s, NULL);
		return;
	}
	sess_leave(s);
}

void browser_handle(struct agent *a, struct agent_conn *c, struct json_object *msg,
		    const struct agent_request *req)
{
	struct browser_session *s;
	struct browser_op *op;

	reg_load_config();
	reg.a = a;
	if (req->op == AGENT_OP_BROWSER_LIST) {
		struct json_object *res = reg_list();

		agent_conn_send(c, req->id, agent_proto_reply_ok(req->id, res));
		return;
	}
	if (req->op == AGENT_OP_BROWSER_OPEN) {
		browser_open(a, c, msg, req);
		return;
	}
	s = reg_find(req->browser.session);
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
		sess_close(s, op);
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
	sess_leave(s);
}

void browser_conn_closed(struct agent_conn *c)
{
	struct agent_list *l, *next;
	int shutting_down = reg.a && (reg.a->quit || reg.a->shutdown_requested);

	for (l = reg.sessions.next; l != &reg.sessions; l = next) {
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
			sess_close(s, NULL);
			sess_leave(s);
		}
	}
}

/* --- sessions without a browser (tests, fuzzing) ---------------------------------------------- */

struct browser_session *browser_session_new_detached(const char *name, int allow_evaluate)
{
	struct browser_session *s = sess_new(NULL, name);

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
		sess_close(s, op);
	}
	sess_leave(s);
	r = 0;
out:
	agent_proto_request_clear(&req);
	return r;
}

void browser_session_feed(struct browser_session *s, const void *data, size_t len)
{
	if (s->freed || browser_cdp_rx_append(&s->rx, data, len) < 0)
		return;
	sess_process(s);
	sess_leave(s);
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
	sess_expire(s);
	sess_leave(s);
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
		sess_fail_all(s, "ENOSESSION", "the session was closed");
		s->freed = 1;
		browser_proc_cleanup(NULL, &s->proc);
		sess_close_watch(s, &s->timer);
	} else {
		agent_list_del(&s->dead_link);
	}
	sess_release(s);
}
