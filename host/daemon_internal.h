/* What the parts of agentvmd share: the daemon, its clients, its sandboxes and
 * the requests in flight.
 *
 * Threads: one main thread runs an epoll loop over the listening socket, the
 * clients, each sandbox's exit fd, a wake-up eventfd and a 1 s tick (TTLs).
 * It parses requests and answers the quick ones itself. Every request that
 * may block (create, exec, file ops, reset, destroy, snapshot, template build,
 * audit reads) runs on a thread of its own (at most max_ops at once) with its
 * own connection to the sandbox's agent, so a slow sandbox, agent or client
 * only ever stalls itself. One more thread keeps the warm pools filled.
 *
 * Locks: d->lock guards the sandbox and op lists, every sandbox's state and
 * counters, and the client list; c->lock guards one client's output queue.
 * Order: d->lock before c->lock. No lock is held across a blocking call. */
#ifndef AGENTVM_HOST_DAEMON_INTERNAL_H
#define AGENTVM_HOST_DAEMON_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/backend.h"
#include "host/daemon.h"

struct json_object;
struct api_method;
struct state;
struct state_template;
struct audit_log;
struct metrics;

/* A client's output queue: stop reading its requests above HIGH; an exec
 * streaming to it waits until it drains below LOW. */
#define DAEMON_OUT_HIGH	      (8u << 20)
#define DAEMON_OUT_LOW	      (2u << 20)
#define DAEMON_CLIENT_OPS_MAX 64
#define DAEMON_THREAD_STACK   (512 * 1024)
#define DAEMON_HELLO_MS	      30000
#define DAEMON_FS_TIMEOUT_MS  60000
#define DAEMON_EXEC_GRACE_MS  10000
/* Input buffered for all clients' unfinished lines, beyond which lines over
 * 1 MiB are refused (EBUSY). */
#define DAEMON_IN_BUDGET (256u << 20)
/* Lines that are not requests, audited one by one per client; then counted. */
#define DAEMON_AUDIT_BAD_LINES 16

enum sandbox_state {
	SB_CREATING,
	SB_POOLED,
	SB_RUNNING,
	SB_RESETTING,
	SB_DESTROYING,
	SB_FAILED,
};

struct sandbox {
	struct sandbox *next;
	uint64_t serial; /* epoll token of its exit fd */
	char name[BACKEND_NAME_MAX + 1];
	char backend_name[BACKEND_NAME_MAX + 1];
	char template_name[BACKEND_NAME_MAX + 1];
	const struct backend_ops *ops;
	struct backend_sandbox *bsb; /* NULL while creating or once cleaned up */
	enum sandbox_state state;
	int64_t owner_uid;
	struct backend_limits limits;
	int64_t created_ms; /* wall clock */
	int64_t ttl_ms, idle_ttl_ms;
	int64_t last_used; /* monotonic ms */
	char *metadata;	   /* JSON text or NULL */
	char error[256];
	int busy;    /* requests using bsb right now */
	int refs;    /* threads holding a pointer (besides the list) */
	int exit_fd; /* registered in epoll while >= 0 */
	int pid;
	bool for_pool;	      /* created by the pool thread */
	bool paused;	      /* a pool's spare restored paused: sandbox_activate starts it */
	bool test_guest;      /* its guest is a synthetic test guest: no agent */
	bool listed;	      /* in d->sandboxes */
	int64_t template_gen; /* the template's created_ms when this was made */
	int64_t execs, resets;
};

struct client {
	struct client *next, *prev;
	struct daemon *d;
	int fd;
	uid_t uid;
	pid_t pid;
	int refs;    /* the loop's and each op's; freed at 0 (under d->lock) */
	bool closed; /* the socket is gone (or going): drop output, cancel ops */
	int nops;
	/* Input: main thread only. */
	char *in;
	size_t in_len, in_cap;
	bool discarding;   /* inside an oversized line: drop until '\n' */
	int64_t bad_lines; /* lines that were not requests */
	bool reading;	   /* want EPOLLIN */
	bool eof;	   /* the client shut down its side: close once its requests are done */
	uint32_t armed;	   /* events registered in epoll */
	/* Output: under lock. */
	pthread_mutex_t lock;
	pthread_cond_t drained;
	char *out;
	size_t out_off, out_len, out_cap;
	bool want_out; /* EPOLLOUT should be armed (the loop re-arms) */
};

/* A request in flight on a thread of its own. */
struct op {
	struct op *next;
	struct daemon *d;
	struct client *c;	    /* ref held; may be closed */
	struct json_object *root;   /* the request (ref) */
	struct json_object *id;	    /* borrowed from root */
	struct json_object *params; /* borrowed from root */
	bool notification;
	const struct api_method *m;
	struct sandbox *sb; /* ref held (and busy when sb_busy) */
	bool sb_busy;
	int agent_fd;	/* under d->lock: shut down to cancel; -1 none */
	bool cancelled; /* the client went away or the sandbox is going */
	const char *cancel_why;
	int64_t start_ns;
};

struct daemon {
	struct daemon_config cfg;
	char state_dir[512];
	char run_dir[512];
	char socket_path[108];
	char audit_path[600];
	char agent_path[4096]; /* the agent each sandbox runs as PID 1; "" none */
	struct state *st;
	struct audit_log *audit;
	struct metrics *metrics;
	int epfd, lfd, wakefd, sigfd;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* sandbox busy counts, pool wake-ups, ops ending */
	struct sandbox *sandboxes;
	uint64_t next_serial;
	struct client *clients;	  /* main thread adds and removes */
	struct client *graveyard; /* closed during this batch of events */
	size_t in_total;	  /* bytes of clients' input buffers (main thread) */
	int nclients;
	struct op *ops;
	int nops;
	int nthreads; /* op and helper threads alive */
	bool stopping;
	int64_t started_ms;
	pthread_t pool_thread;
	bool pool_running;
	bool pool_kicked;
	pthread_cond_t pool_cond;
	pthread_mutex_t template_lock; /* image resolution, one at a time */
};

/* --- daemon.c ----------------------------------------------------------------- */
int64_t daemon_now_ms(void);  /* monotonic */
int64_t daemon_wall_ms(void); /* since the epoch */
int64_t daemon_now_ns(void);  /* monotonic */
void daemon_wake(struct daemon *d);
/* Run fn(arg) on a new detached thread; -EAGAIN when it cannot. */
int daemon_spawn(struct daemon *d, void *(*fn)(void *), void *arg);
/* Queue one message (consumed) to c; dropped if c is closed. */
void daemon_client_send(struct client *c, struct json_object *msg);
/* Wait until c's queue is below DAEMON_OUT_LOW (or c closed). false if closed. */
bool daemon_client_wait_drained(struct client *c);
/* Wait while c's queue is above DAEMON_OUT_HIGH (a worker about to queue a
 * big reply), unless c closes or *cancelled turns true. */
void daemon_client_wait_room(struct client *c, const bool *cancelled);
void daemon_client_unref(struct client *c); /* with d->lock held */
bool daemon_caller_privileged(struct daemon *d, uid_t uid);

/* --- daemon_op.c: replies and the op life cycle -------------------------------- */
/* Was op cancelled? (Set under d->lock; read anywhere.) */
static inline bool op_cancelled(struct op *op)
{
	return __atomic_load_n(&op->cancelled, __ATOMIC_ACQUIRE);
}
void op_reply(struct op *op, struct json_object *result);
void op_error(struct op *op, int code, struct json_object *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Record that the op uses agent_fd (to cancel it); false if already cancelled. */
bool op_set_agent_fd(struct op *op, int fd);
void op_clear_agent_fd(struct op *op);
/* End the op: release its sandbox and client, free it (takes d->lock). */
void op_finish(struct op *op);
/* Cancel ops of client c, or of sandbox sb (with d->lock held). */
void ops_cancel_locked(struct daemon *d, struct client *c, struct sandbox *sb, const char *why);
/* Audit an event with the op's caller, sandbox and extra members (consumed). */
void op_audit(struct op *op, const char *type, struct json_object *extra);
/* Map -errno from the agent client to an error reply. */
void op_agent_error(struct op *op, int r, const char *what, const char *err);

/* --- sandbox.c: the registry ------------------------------------------------------ */
const char *sandbox_state_name(enum sandbox_state s);
/* A new sandbox in the list (state CREATING), with a ref for the caller. */
struct sandbox *sandbox_add_locked(struct daemon *d, const char *name, const char *backend_name);
struct sandbox *sandbox_find_locked(struct daemon *d, const char *name);
void sandbox_ref_locked(struct sandbox *sb);
void sandbox_unref_locked(struct daemon *d, struct sandbox *sb);
/* Take the sandbox for one request: 0 with busy and ref held, or an API error
 * code with a message. */
int sandbox_acquire_locked(struct daemon *d, struct sandbox *sb, uid_t uid, char *msg, size_t len);
void sandbox_release_locked(struct daemon *d, struct sandbox *sb);
/* Persist sb's row. */
int sandbox_store(struct daemon *d, struct sandbox *sb);
/* Register/unregister sb's exit fd in epoll (d->lock held). */
void sandbox_watch_locked(struct daemon *d, struct sandbox *sb);
void sandbox_unwatch_locked(struct daemon *d, struct sandbox *sb);
/* Start a backend instance of template t (its image resolved) with limits
 * lim; blocking. 0 with *bsb ready: the agent said hello (a test guest
 * echoed), and a microVM that booted has taken the template's golden
 * snapshot. A pool_spare is then paused where the backend can (*paused
 * set): sandbox_activate resumes it. */
int sandbox_start_instance(struct daemon *d, const char *backend_name,
			   const struct state_template *t, const char *isolation,
			   const struct backend_limits *lim, bool pool_spare,
			   const struct backend_ops **ops, struct backend_sandbox **bsb,
			   bool *paused, char *err, size_t errlen);
/* Is the instance's guest answering within timeout_ms? The agent's hello,
 * or for a test guest an echo on its vsock port. 0, or -errno with err set. */
int sandbox_ready(struct backend_sandbox *bsb, bool test_guest, int timeout_ms, char *err,
		  size_t errlen);
/* Resume a paused pool spare (checked before it was paused). */
int sandbox_activate(struct backend_sandbox *bsb, char *err, size_t errlen);
/* Where template name's golden snapshots are kept. */
void sandbox_snapshot_dir(struct daemon *d, const char *template_name, char *out, size_t len);
/* Destroy sb entirely (state DESTROYING set by the caller): cancel and wait
 * for its requests, free the backend, drop the row and the list entry, audit
 * it (with caller's credentials when given). Blocking. */
void sandbox_destroy(struct daemon *d, struct sandbox *sb, const char *why, struct client *caller);
/* Persist sb's row in place of the row old_name (a pool hand-off). */
int sandbox_store_replacing(struct daemon *d, struct sandbox *sb, const char *old_name);
/* Move pooled sandbox p's instance into sb (p leaves the list and loses the
 * caller's ref); returns sb's previous instance. d->lock held. */
struct backend_sandbox *sandbox_absorb_locked(struct daemon *d, struct sandbox *sb,
					      struct sandbox *p);
/* The sandbox's PID 1 died: mark it failed, audit, release its resources. */
void sandbox_failed(struct daemon *d, uint64_t serial);
/* A new random backend instance name with prefix ("sb", "p"). */
void sandbox_fresh_name(const char *prefix, char *out, size_t len);
/* JSON description (for get/list). stats: cgroup usage too. */
struct json_object *sandbox_describe_locked(struct daemon *d, struct sandbox *sb, bool stats);
/* Destroy expired sandboxes (called each second by the loop). */
void sandbox_check_ttls(struct daemon *d);

/* --- daemon_methods.c / daemon_exec.c ------------------------------------------- */
/* Handle req on the main thread or hand it to a worker. */
void daemon_dispatch(struct daemon *d, struct client *c, struct json_object *root,
		     struct json_object *id, bool notification, const struct api_method *m,
		     struct json_object *params);
void *daemon_exec_main(void *arg);
void *daemon_fs_main(void *arg);

/* --- daemon_recover.c ----------------------------------------------------------- */
/* Adopt or clean up every sandbox of an earlier run. */
void daemon_recover(struct daemon *d);

#endif
