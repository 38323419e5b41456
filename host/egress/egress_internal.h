/* What egress_proxy.c (the loop, sandboxes, audit) and egress_conn.c (one
 * connection's life) share. Not for use outside host/egress/. */
#ifndef AGENTVM_HOST_EGRESS_INTERNAL_H
#define AGENTVM_HOST_EGRESS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/un.h>

#include "host/egress/egress.h"
#include "host/egress/egress_http.h"
#include "host/egress/egress_resolve.h"

#define EGRESS_BUF_SIZE	    (64 * 1024)
#define EGRESS_LINGER_MS    2000 /* after an error reply, wait this long for the client's EOF */
#define EGRESS_TICK_MS	    200
#define EGRESS_TARGET_AUDIT 1024 /* bytes of the request target kept for the audit */
#define EGRESS_HEAD_BUF	    (EGRESS_HTTP_HEAD_MAX + 4096)

struct egress_watch;
typedef void egress_watch_fn(struct egress *e, struct egress_watch *w, uint32_t events);

struct egress_watch {
	int fd;		 /* -1 once closed */
	uint32_t events; /* registered with epoll; 0 = not */
	egress_watch_fn *fn;
};

struct egress_link {
	struct egress_link *prev, *next;
};

#define egress_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void egress_link_init(struct egress_link *l)
{
	l->prev = l->next = l;
}

static inline void egress_link_add(struct egress_link *head, struct egress_link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void egress_link_del(struct egress_link *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

struct egress_buf {
	char *data;
	size_t off, len; /* the bytes waiting are data[off..off+len) */
};

struct egress_sandbox {
	struct egress *e;
	struct egress_watch lw; /* the listening socket */
	struct egress_link link;
	struct egress_link conns;
	char name[64];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct egress_policy *policy;
	struct egress_stats stats;
	int removed;
	int paused; /* accept failed for want of resources: listening resumes next tick */
};

enum egress_state {
	EGRESS_ST_HEAD,	   /* reading the request head */
	EGRESS_ST_RESOLVE, /* waiting for a lookup */
	EGRESS_ST_CONNECT, /* connecting upstream */
	EGRESS_ST_RELAY,   /* bytes both ways */
	EGRESS_ST_REPLY,   /* writing our own response, then lingering for EOF */
};

struct egress_conn {
	struct egress_watch cw; /* the sandbox's side */
	struct egress_watch uw; /* the destination */
	struct egress *e;
	struct egress_sandbox *sb;
	struct egress_link link;      /* in sb->conns */
	struct egress_link dead_link; /* in e->dead once closed */
	uint64_t id;
	enum egress_state state;
	char *head; /* the request head as read, and any bytes after it */
	size_t head_len;
	struct egress_request req; /* points into head */
	int have_req;
	char target[EGRESS_TARGET_AUDIT + 1];
	struct egress_buf up, down;
	int c_eof, u_eof;   /* read end of file from the client / upstream */
	int c_shut, u_shut; /* we shut down writing to them */
	struct egress_addr addrs[EGRESS_ADDRS_MAX];
	size_t naddrs, next_addr;
	int have_ip;
	struct egress_addr ip;
	struct egress_resolve_job *job;
	uint64_t start_ms, deadline_ms, last_io_ms;
	uint64_t bytes_up, bytes_down;
	int status;	     /* the status of a response the proxy itself sent */
	int upstream_status; /* of a relayed absolute-URI request */
	int allowed;	     /* the policy let it through */
	enum egress_deny deny;
	char why[320];		 /* human reason for the verdict */
	const char *stop_reason; /* a side stopped early (quota, upstream error) */
	const char *end;	 /* how it ended */
	size_t drained;		 /* bytes read and dropped after our reply */
	int closed;
};

struct egress {
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;
	int epfd;
	struct egress_watch wake; /* eventfd: stop */
	struct egress_watch resw; /* the resolver's eventfd */
	struct egress_resolver *resolver;
	struct egress_link sandboxes;
	struct egress_link dead; /* closed connections, freed after the batch */
	struct egress_link dead_sandboxes;
	uint64_t next_id;
	int stop;
	egress_audit_fn *audit_fn;
	void *audit_ctx;
	int audit_fd;
};

/* egress_proxy.c */
uint64_t egress_now_ms(void);
int egress_watch_set(struct egress *e, struct egress_watch *w, uint32_t events);
void egress_watch_close(struct egress *e, struct egress_watch *w);
/* Emit c's audit line. */
void egress_audit_conn(struct egress *e, struct egress_conn *c);

/* egress_conn.c */
/* Take a freshly accepted connection of sb. */
void egress_conn_accept(struct egress_sandbox *sb, int fd);
/* End c now (audited with end unless it has one already); freed after the batch. */
void egress_conn_close(struct egress_conn *c, const char *end);
/* A lookup c asked for finished. */
void egress_conn_resolved(struct egress_conn *c, struct egress_resolve_job *job);
/* Check c's deadlines. */
void egress_conn_tick(struct egress_conn *c, uint64_t now);
void egress_conn_free(struct egress_conn *c);

#endif
