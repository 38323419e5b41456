/* The agent's core: one single-threaded epoll loop owning the listeners, the
 * client connections, the running execs and the SIGCHLD/SIGTERM signalfd.
 *
 * Every fd the loop watches is a struct agent_watch embedded in its owner.
 * Owners closed during an epoll batch are only unlinked then; their memory is
 * released after the batch, so later events of the same batch see fd == -1
 * and are skipped. */
#ifndef AGENTVM_GUEST_AGENT_AGENT_H
#define AGENTVM_GUEST_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct agent;
struct agent_proxy;
struct agent_watch;
struct json_object;

typedef void agent_watch_fn(struct agent *a, struct agent_watch *w, uint32_t events);

struct agent_watch {
	int fd;		 /* -1 once closed */
	uint32_t events; /* what is registered with epoll; 0 = not registered */
	agent_watch_fn *fn;
};

/* An intrusive doubly-linked list. */
struct agent_list {
	struct agent_list *prev, *next;
};

#define agent_list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void agent_list_init(struct agent_list *l)
{
	l->prev = l->next = l;
}

static inline int agent_list_empty(const struct agent_list *l)
{
	return l->next == l;
}

static inline void agent_list_add_tail(struct agent_list *l, struct agent_list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static inline void agent_list_del(struct agent_list *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/* How the agent was started (main.c fills it from the command line). */
#define AGENT_LISTEN_MAX 4

struct agent_options {
	const char *listen[AGENT_LISTEN_MAX]; /* "unix:PATH", "vsock:PORT", "fd:N" */
	size_t nlisten;
	const char *hostname; /* NULL: leave it */
	int pid1;	      /* we are PID 1: reap everything, power off on shutdown */
	int container;	      /* in a container: shutdown means exit, not reboot */
	int max_conns;
	const char *egress;	   /* "unix:PATH" or "vsock:PORT": the host's egress proxy;
				    * NULL: no proxy listener (agent_proxy.c) */
	const char *egress_listen; /* where programs find the proxy; NULL: 127.0.0.1:3128 */
};

/* Limits (docs/PROTOCOL.md "Limits"). */
#define AGENT_MAX_CONNS	       64
#define AGENT_MAX_EXECS_CONN   256
#define AGENT_MAX_EXECS	       1024
#define AGENT_OUT_HIGH	       (4u << 20)
#define AGENT_OUT_LOW	       (1u << 20)
#define AGENT_STDIN_QUEUE_MAX  (4u << 20)
#define AGENT_EXEC_LINGER_MS   250
#define AGENT_SHUTDOWN_WAIT_MS 1000

struct agent {
	int epfd;
	int sigfd;
	struct agent_watch sigw;
	const struct agent_options *opt;
	struct agent_list listeners;
	struct agent_list conns;
	struct agent_list execs;      /* every running exec, for matching reaped pids */
	struct agent_list dead_conns; /* to free after the current batch */
	struct agent_list dead_execs;
	int nconns, nexecs;
	int shutdown_requested; /* "shutdown" op or SIGTERM */
	int quit;		/* leave the loop */
	struct agent_watch shutdown_timer;
	uint64_t start_ms;
	struct agent_proxy *proxy; /* the egress proxy listener, or NULL */
};

/* Create the loop: epoll, signalfd (SIGCHLD, SIGTERM, SIGINT blocked), the
 * listeners from opt. opt must outlive the agent. Returns 0 or -errno. */
int agent_new(const struct agent_options *opt, struct agent **out);
/* Kill every exec, close everything. NULL-safe. */
void agent_free(struct agent *a);
/* Run until shutdown. Returns 0 for a clean shutdown or -errno. */
int agent_run(struct agent *a);

/* Register, change or (events == 0) remove w's epoll interest. Returns 0 or -errno. */
int agent_watch_set(struct agent *a, struct agent_watch *w, uint32_t events);
/* Remove w from epoll and close its fd. */
void agent_watch_close(struct agent *a, struct agent_watch *w);

/* Begin the shutdown sequence: stop accepting, let replies drain (at most
 * AGENT_SHUTDOWN_WAIT_MS), kill every exec, then leave the loop. */
void agent_begin_shutdown(struct agent *a);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t agent_now_ms(void);
/* Set O_NONBLOCK on fd. Returns 0 or -errno. */
int agent_set_nonblock(int fd);

/* --- listeners (agent_transport.c) --- */
/* Create the listeners named in opt (default vsock:1024 when PID 1, else an
 * error). Returns 0 or -errno. */
int agent_transport_init(struct agent *a);
/* Stop listening (shutdown): close every listener, unlinking the Unix socket
 * paths we created. Their memory stays until agent_transport_free(). */
void agent_transport_close(struct agent *a);
void agent_transport_free(struct agent *a);

#endif
