/* Inside the browser module: sessions (one Chromium each), their queue of
 * operations, the CDP commands in flight, and the interface between the
 * session machinery (browser_session.c) and the operations (browser_ops.c,
 * browser_act.c).
 *
 * Operations on one session run one at a time, in arrival order. An
 * operation sends CDP commands tagged with a small number; each reply comes
 * back to its reply handler with that tag, every event of the page to its
 * event handler. It ends with browser_op_done() or browser_op_fail(), after
 * which it is freed: handlers return at once. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_SESSION_H
#define AGENTVM_GUEST_AGENT_BROWSER_SESSION_H

#include "guest-agent/agent.h"
#include "guest-agent/browser_cdp.h"
#include "guest-agent/browser_proc.h"
#include "guest-agent/browser_req.h"

#include <stddef.h>
#include <stdint.h>

struct agent_conn;
struct agent_error;
struct browser_op;

#define BROWSER_MAX_SESSIONS  8	   /* live browsers at once */
#define BROWSER_MAX_DEAD      16   /* crashed sessions remembered for their error */
#define BROWSER_MAX_OPS	      32   /* requests queued on one session */
#define BROWSER_MAX_PENDING   256  /* CDP commands in flight on one session */
#define BROWSER_PROBE_MS      3000 /* a browser silent this long after a timeout is hung */
#define BROWSER_CLOSE_WAIT_MS 2000 /* for the processes to go after SIGKILL */
#define BROWSER_CLOSE_POLL_MS 20   /* how often to look while closing */
#define BROWSER_NAV_GRACE_MS  200  /* after a click or key: time for a navigation to start */
#define BROWSER_REFS_MAX      (1u << 20)
#define BROWSER_ID_MAX	      128 /* CDP target, session, frame and loader ids */

enum browser_state {
	BROWSER_STARTING, /* browser.open in progress */
	BROWSER_READY,
	BROWSER_DEAD,	 /* crashed or hung: ops fail with EBROWSER until closed */
	BROWSER_CLOSING, /* killed; waiting for the processes to go */
};

struct browser_pending {
	int64_t id;
	struct browser_op *op; /* NULL: nobody waits for the reply */
	int tag;
};

struct browser_session {
	struct agent_list link;	     /* in the registry's sessions */
	struct agent_list dead_link; /* in the registry's free list */
	struct agent *a;	     /* NULL for a session without a process (tests) */
	char name[BROWSER_SESSION_NAME_MAX + 1];
	struct agent_conn *owner; /* closes with it; NULL when detached */
	enum browser_state state;
	char reason[512]; /* why it died */
	struct browser_proc proc;
	struct browser_cdp_rx rx;
	struct browser_cdp_tx tx;
	int64_t next_id;
	struct browser_pending *pending;
	size_t npending, pending_cap;
	char target_id[BROWSER_ID_MAX], cdp_session[BROWSER_ID_MAX], frame_id[BROWSER_ID_MAX];
	char product[128];
	struct agent_list ops; /* the head is the running one once started */
	int nops;
	int kicking;
	struct agent_watch timer;
	uint64_t timer_at;
	int allow_evaluate;
	unsigned width, height;
	char page_loader[BROWSER_ID_MAX]; /* the main frame's document; refs belong to it */
	uint32_t *refs;			  /* sorted backendDOMNodeIds handed out as refs */
	size_t nrefs, refs_cap;
	int64_t probe_id; /* a liveness probe in flight, or 0 */
	uint64_t probe_deadline;
	struct browser_op *closer; /* browser.close waiting for the processes */
	uint64_t close_deadline;
	uint64_t opened_ms;
	int counted; /* in reg.nlive */
	int freed;
};

/* Per-kind handlers of an operation. */
struct browser_op_kind {
	void (*start)(struct browser_op *op);
	void (*reply)(struct browser_op *op, int tag, const struct browser_cdp_msg *m);
	void (*event)(struct browser_op *op, const struct browser_cdp_msg *m);
	void (*wake)(struct browser_op *op); /* op->wake passed */
};

/* What a navigation (or an action that may cause one) has seen so far. */
struct browser_nav {
	int phase; /* BROWSER_NAV_* */
	char loader[BROWSER_ID_MAX];
	char doc_loader[BROWSER_ID_MAX]; /* of the last main-frame document response */
	int status;			 /* its HTTP status, 0 if none */
	char net_error[128];
	int same_doc_seen; /* navigate: the main frame moved inside its document */
	int same_doc_wait; /* navigate: the reply said so; waiting for that event */
	/* navigate: the loader the awaited lifecycle event came for, before the
	 * reply to Page.navigate named ours */
	char lifecycle_loader[BROWSER_ID_MAX];
	struct json_object *redirects; /* [{url, status}] */
};

enum {
	BROWSER_NAV_NONE,
	BROWSER_NAV_WATCH,   /* an action happened: a navigation may start */
	BROWSER_NAV_STARTED, /* one started: wait for its load */
	BROWSER_NAV_DONE,
};

struct browser_op {
	struct agent_list link; /* in s->ops */
	struct browser_session *s;
	struct agent_conn *conn; /* NULL: the reply is dropped */
	struct json_object *id, *msg;
	int kind; /* enum agent_op */
	const char *op_name;
	const struct browser_op_kind *k;
	struct browser_req req; /* strings borrowed from msg; values copied */
	uint64_t deadline, wake;
	int active, outstanding, step;
	struct browser_nav nav;
	char object_id[256]; /* the resolved element */
	double x, y;
	int used_mouse;
	struct json_object *result; /* being built */
	struct json_object *dialogs;
	char *snapshot_text;
	void *scratch; /* per-kind state */
};

/* The agent-wide state of the browser module. */
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

extern struct browser_registry browser_reg;

/* --- provided by browser_session.c to the operations --- */

/* Send a CDP command for op (NULL: fire and forget) with tag; page: on the
 * page's flat session rather than the browser. Takes params' reference.
 * Returns 0, or -1 after failing op (which is then freed). */
int browser_cmd(struct browser_op *op, int tag, const char *method, struct json_object *params,
		int page);
/* Reply with result (reference taken; NULL: {}) / with an error, free op and
 * start the session's next one. */
void browser_op_done(struct browser_op *op, struct json_object *result);
void browser_op_fail(struct browser_op *op, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void browser_op_fail_err(struct browser_op *op, const struct agent_error *err);
/* Call op's wake handler after ms (0: cancel). */
void browser_op_set_wake(struct browser_op *op, uint64_t ms);
/* Remember refs handed out by a snapshot; is id one of them? */
void browser_session_add_refs(struct browser_session *s, const uint32_t *ids, size_t n);
int browser_session_has_ref(const struct browser_session *s, uint32_t id);
/* Is browser.evaluate allowed in s? */
int browser_session_may_evaluate(const struct browser_session *s);
/* Start the Chromium of s (browser.open); proxy NULL: the agent's default.
 * Returns 0, or -1 with err filled. */
int browser_session_spawn(struct browser_session *s, const char *proxy, struct agent_error *err);

/* --- the session machinery, shared by browser.c, browser_session.c and
 * browser_life.c --- */

/* Read the settings from the environment once. */
void browser_config_load(void);
/* The session named name (not freed), or NULL. */
struct browser_session *browser_session_find(const char *name);
/* The first op of s (running once active), or NULL. */
struct browser_op *browser_session_head(struct browser_session *s);
/* Register w's interest (nothing without an agent). */
void browser_session_watch(struct browser_session *s, struct agent_watch *w, uint32_t events);
/* Close w's fd (through the agent's epoll when there is one). */
void browser_session_unwatch(struct browser_session *s, struct agent_watch *w);
/* Queue a command; op may be NULL. *idp (may be NULL) gets its id. Returns
 * 0, -ENOTCONN (no page), -EBUSY, -E2BIG or -ENOMEM; params' reference is
 * taken either way. */
int browser_session_send(struct browser_session *s, struct browser_op *op, int tag,
			 const char *method, struct json_object *params, int page, int64_t *idp);
/* Handle what is buffered from Chromium. */
void browser_session_process(struct browser_session *s);
/* Fail every queued op of s with code and msg. */
void browser_session_fail_all(struct browser_session *s, const char *code, const char *msg);
/* After every entry into s: start ops, write commands, set the timer. */
void browser_session_leave(struct browser_session *s);
/* The session timer fired / is due: timeouts, wakes, the probe, closing. */
void browser_session_on_timer(struct agent *a, struct agent_watch *w, uint32_t events);
void browser_session_run_timers(struct browser_session *s);
/* A new session (a NULL for one without a process). */
struct browser_session *browser_session_new(struct agent *a, const char *name);
/* The browser died: kill what is left, fail every op with EBROWSER, keep
 * the reason for later requests. */
void browser_session_died(struct browser_session *s, const char *reason);
/* A pipe to Chromium broke: the browser is dying. It dies with the exit
 * status when that comes within a moment, or with a generic reason. */
void browser_session_pipe_lost(struct browser_session *s);
/* Kill s and free it once its processes are gone; closer (may be NULL)
 * gets the reply then. */
void browser_session_close(struct browser_session *s, struct browser_op *closer);
/* Is s gone after a close? Finish it then. */
void browser_session_check_closed(struct browser_session *s);
/* Unlink s; its memory is released after the epoll batch. */
void browser_session_free_later(struct browser_session *s);
/* Release the memory of s (unlinked, fds closed). */
void browser_session_release(struct browser_session *s);

/* Send a command on behalf of s alone: its reply is ignored. */
void browser_session_cmd(struct browser_session *s, const char *method, struct json_object *params,
			 int page);

/* --- for tests and the fuzzer: sessions without a process --- */

/* A READY session with no browser behind it: commands are queued and
 * discarded, browser_session_feed() plays Chromium's part. */
struct browser_session *browser_session_new_detached(const char *name, int allow_evaluate);
/* Queue request msg (a JSON request object) on s; the reply is dropped.
 * Returns 0, or -1 if msg is not a valid browser request for a session. */
int browser_session_submit(struct browser_session *s, struct json_object *msg);
/* Process bytes as if Chromium had written them to the pipe. */
void browser_session_feed(struct browser_session *s, const void *data, size_t len);
/* Run expired timers as if time had passed. */
void browser_session_expire(struct browser_session *s);
/* The id the next command will get. */
int64_t browser_session_next_id(const struct browser_session *s);
void browser_session_free_detached(struct browser_session *s);

#endif
