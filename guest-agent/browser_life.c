/* A session's life: Chromium's pipes and exit, timeouts and the liveness
 * probe, death, closing and freeing. */
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
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SESS_READ_CHUNK	 (256u << 10)
#define SESS_READ_BUDGET (4u << 20) /* bytes read per wake-up, for fairness */
#define SESS_EOF_WAIT_MS \
	2000 /* after the pipe closed, for the exit status (a loaded host can take a while to reap) */

static void sess_on_res(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_cmd(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_err(struct agent *a, struct agent_watch *w, uint32_t events);
static void sess_on_pid(struct agent *a, struct agent_watch *w, uint32_t events);

/* --- I/O --------------------------------------------------------------------------------- */

static struct browser_session *sess_of(struct agent_watch *w, size_t off)
{
	return (struct browser_session *)((char *)w - off);
}

#define SESS_OF(w, member) sess_of(w, offsetof(struct browser_session, member))

void browser_session_pipe_lost(struct browser_session *s)
{
	char why[600];

	browser_session_unwatch(s, &s->proc.res_w);
	browser_session_unwatch(s, &s->proc.cmd_w);
	if (s->state != BROWSER_READY && s->state != BROWSER_STARTING)
		return;
	if (browser_proc_reap(&s->proc) == 1) {
		browser_proc_describe(&s->proc, why, sizeof(why));
		browser_session_died(s, why);
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
			browser_session_process(s);
			browser_session_pipe_lost(s);
			browser_session_leave(s);
			return;
		}
		if (browser_cdp_rx_append(&s->rx, buf, (size_t)n) < 0) {
			browser_session_died(s, "out of memory reading from chromium");
			browser_session_leave(s);
			return;
		}
		total += (size_t)n;
		browser_session_process(s);
		if (s->freed || s->state == BROWSER_DEAD || s->state == BROWSER_CLOSING)
			break;
	}
	browser_session_leave(s);
}

static void sess_on_cmd(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, proc.cmd_w);

	(void)a;
	if (events & (EPOLLERR | EPOLLHUP))
		browser_session_pipe_lost(s);
	browser_session_leave(s);
}

static void sess_on_err(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, proc.err_w);

	(void)a;
	(void)events;
	if (browser_proc_read_stderr(&s->proc) == 0)
		browser_session_unwatch(s, &s->proc.err_w);
}

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
	browser_session_unwatch(s, &s->proc.pid_w);
	if (s->state == BROWSER_READY || s->state == BROWSER_STARTING) {
		browser_proc_describe(&s->proc, why, sizeof(why));
		browser_session_died(s, why);
	}
	if (s->state == BROWSER_DEAD) {
		/* The error is kept; the profile need not be. */
		browser_proc_remove_profile(&s->proc);
	} else if (s->state == BROWSER_CLOSING) {
		browser_session_check_closed(s);
	}
	browser_session_leave(s);
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
		browser_session_cmd(s, "Page.stopLoading", NULL, 1);
	/* Is the browser itself still there? Ask it something cheap. */
	if (!s->probe_id && (p = json_object_new_object()) &&
	    browser_session_send(s, NULL, 0, "Browser.getVersion", p, 0, &s->probe_id) == 0)
		s->probe_deadline = agent_now_ms() + BROWSER_PROBE_MS;
	if (navigating)
		browser_op_fail(op, "ETIMEDOUT", "the page did not finish loading within %llu ms",
				(unsigned long long)op->req.timeout_ms);
	else
		browser_op_fail(op, "ETIMEDOUT", "no answer from the browser within %llu ms",
				(unsigned long long)op->req.timeout_ms);
}

void browser_session_run_timers(struct browser_session *s)
{
	struct agent_list *l, *next;
	uint64_t now = agent_now_ms();
	struct browser_op *op;
	char why[600];

	if (s->state == BROWSER_CLOSING) {
		browser_session_check_closed(s);
		return;
	}
	if (s->close_deadline && now >= s->close_deadline) {
		/* The pipe closed but no exit status came. */
		s->close_deadline = 0;
		if (browser_proc_reap(&s->proc) == 1)
			browser_proc_describe(&s->proc, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "chromium closed its DevTools pipe");
		browser_session_died(s, why);
		return;
	}
	if (s->probe_id && now >= s->probe_deadline) {
		s->probe_id = 0;
		browser_session_died(
			s, "chromium stopped responding (no answer to a probe within 3 s)");
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

void browser_session_on_timer(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct browser_session *s = SESS_OF(w, timer);
	uint64_t ticks;

	(void)a;
	(void)events;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	s->timer_at = 0;
	browser_session_run_timers(s);
	browser_session_leave(s);
}

/* --- lifecycle --------------------------------------------------------------------------- */

struct browser_session *browser_session_new(struct agent *a, const char *name)
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
		browser_reg.nlive--;
	}
}

/* Unlink s; its memory goes after the batch (browser_reap). */
void browser_session_free_later(struct browser_session *s)
{
	if (s->freed)
		return;
	s->freed = 1;
	browser_session_unwatch(s, &s->timer);
	if (s->proc.pid > 0 && !s->proc.reaped && s->proc.pid_w.fd >= 0) {
		/* Nobody else reaps the keeper: wait for it here, briefly. */
		struct pollfd pfd = { .fd = s->proc.pid_w.fd, .events = POLLIN };

		browser_proc_kill(&s->proc);
		if (poll(&pfd, 1, 200) <= 0 || browser_proc_reap(&s->proc) != 1)
			log_warn("browser %s: chromium's keeper %d did not exit after SIGKILL",
				 s->name, (int)s->proc.pid);
	}
	browser_proc_cleanup(s->a, &s->proc);
	sess_uncount(s);
	agent_list_del(&s->link);
	agent_list_add_tail(&browser_reg.freed, &s->dead_link);
}

void browser_session_release(struct browser_session *s)
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
	while (!agent_list_empty(&browser_reg.freed)) {
		struct browser_session *s =
			agent_list_entry(browser_reg.freed.next, struct browser_session, dead_link);

		agent_list_del(&s->dead_link);
		browser_session_release(s);
	}
}

/* Crashed sessions are kept for their error, but not too many. */
static void reg_trim_dead(void)
{
	struct agent_list *l;
	int ndead = 0;

	for (l = browser_reg.sessions.next; l != &browser_reg.sessions; l = l->next)
		if (agent_list_entry(l, struct browser_session, link)->state == BROWSER_DEAD)
			ndead++;
	for (l = browser_reg.sessions.next;
	     l != &browser_reg.sessions && ndead > BROWSER_MAX_DEAD;) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);

		l = l->next;
		if (s->state == BROWSER_DEAD && s->proc.reaped) {
			browser_session_free_later(s);
			ndead--;
		}
	}
}

void browser_session_died(struct browser_session *s, const char *reason)
{
	int starting = s->state == BROWSER_STARTING;
	char msg[600];

	if (s->state == BROWSER_DEAD || s->state == BROWSER_CLOSING || s->freed)
		return;
	sess_uncount(s);
	s->state = BROWSER_DEAD;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	log_info("browser %s: %s", s->name, reason);
	browser_proc_kill(&s->proc);
	browser_session_unwatch(s, &s->proc.cmd_w);
	browser_session_unwatch(s, &s->proc.res_w);
	browser_session_unwatch(s, &s->proc.err_w);
	if (browser_proc_reap(&s->proc) == 1)
		browser_session_unwatch(s, &s->proc.pid_w);
	s->probe_id = 0;
	s->close_deadline = 0;
	s->npending = 0;
	snprintf(msg, sizeof(msg), "the browser of session %s died: %s", s->name, reason);
	browser_session_fail_all(s, "EBROWSER", msg);
	/* One that never got ready is not kept: browser.open said why. */
	if (starting)
		browser_session_close(s, NULL);
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
	browser_session_free_later(s);
}

void browser_session_check_closed(struct browser_session *s)
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
void browser_session_close(struct browser_session *s, struct browser_op *closer)
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
	browser_session_fail_all(s, "ENOSESSION", "the session was closed");
	browser_proc_kill(&s->proc);
	browser_session_unwatch(s, &s->proc.cmd_w);
	browser_session_unwatch(s, &s->proc.res_w);
	browser_session_unwatch(s, &s->proc.err_w);
	s->npending = 0;
	s->probe_id = 0;
	s->close_deadline = agent_now_ms() + BROWSER_CLOSE_WAIT_MS;
	if (shutting_down && s->proc.pid_w.fd >= 0 && !s->proc.reaped) {
		/* No loop to come back to: wait here, briefly. */
		struct pollfd pfd = { .fd = s->proc.pid_w.fd, .events = POLLIN };

		poll(&pfd, 1, 1000);
	}
	browser_session_check_closed(s);
}

int browser_session_spawn(struct browser_session *s, const char *proxy, struct agent_error *err)
{
	struct browser_launch l = {
		.chromium = browser_reg.chromium[0] ? browser_reg.chromium : NULL,
		.proxy = proxy ? proxy : browser_reg.proxy,
		.tmpdir = browser_reg.tmpdir[0] ? browser_reg.tmpdir : NULL,
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
	browser_session_watch(s, &s->proc.pid_w, EPOLLIN);
	browser_session_watch(s, &s->proc.res_w, EPOLLIN);
	browser_session_watch(s, &s->proc.err_w, EPOLLIN);
	log_info("browser %s: chromium %d started%s%s", s->name, (int)s->proc.browser_pid,
		 l.proxy && *l.proxy ? " with proxy " : " without a proxy", l.proxy ? l.proxy : "");
	return 0;
}

void browser_shutdown(void)
{
	struct agent_list *l;

	for (l = browser_reg.sessions.next; l != &browser_reg.sessions; l = l->next) {
		struct browser_session *s = agent_list_entry(l, struct browser_session, link);
		struct pollfd pfd = { .fd = s->proc.pid_w.fd, .events = POLLIN };

		if (s->proc.pid <= 0)
			continue;
		browser_proc_kill(&s->proc);
		if (!s->proc.reaped && pfd.fd >= 0 && poll(&pfd, 1, 500) > 0)
			browser_proc_reap(&s->proc);
		browser_proc_remove_profile(&s->proc);
	}
}
