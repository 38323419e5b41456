/* One client connection: frames in, requests dispatched, replies and events
 * out through a bounded queue with back-pressure. */
#ifndef AGENTVM_GUEST_AGENT_CONN_H
#define AGENTVM_GUEST_AGENT_CONN_H

#include "guest-agent/agent.h"

struct frame_decoder;
struct frame_writer;
struct json_object;

struct agent_conn {
	struct agent_watch w;
	struct agent *a;
	struct agent_list link;	     /* in a->conns */
	struct agent_list dead_link; /* in a->dead_conns once closed */
	struct frame_decoder *dec;
	struct frame_writer *out;
	struct agent_list execs; /* running execs started here */
	int nexecs;
	unsigned long serial; /* for log lines */
	int congested;	      /* backlog above high water: reading paused */
	int rd_eof;	      /* the client will send nothing more */
	int closing;	      /* close once the backlog is written */
	int doomed;	      /* close at the end of this batch */
	int closed;
	int processing; /* inside conn_process() */
};

/* Take ownership of a connected socket. Returns 0 or -errno (fd closed). */
int agent_conn_new(struct agent *a, int fd);
/* Close now: kill its execs, unlink it; memory is freed after the batch. */
void agent_conn_close(struct agent_conn *c);
/* Close every connection marked doomed, then free the dead ones. */
void agent_conn_reap(struct agent *a);

/* Queue msg (takes its reference; NULL means out of memory). A message too big
 * for a frame is replaced by an ETOOBIG error for id. Never closes c
 * synchronously: on a write error c is doomed and later sends are dropped.
 * Returns 0 or -errno. */
int agent_conn_send(struct agent_conn *c, struct json_object *id, struct json_object *msg);

/* One of c's execs finished and was unlinked: close c if it was only waiting
 * for its execs. */
void agent_conn_exec_done(struct agent_conn *c);

/* True if nothing is left to write on any connection. */
int agent_conn_all_flushed(struct agent *a);

#endif
