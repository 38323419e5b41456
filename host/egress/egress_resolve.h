/* Name resolution off the proxy's event loop: a few worker threads run
 * getaddrinfo(3) and hand finished jobs back through an eventfd. A worker
 * stuck in a slow lookup never holds up the loop, and a resolver freed while
 * lookups are still running lets them finish on their own and drops them. */
#ifndef AGENTVM_HOST_EGRESS_RESOLVE_H
#define AGENTVM_HOST_EGRESS_RESOLVE_H

#include <stddef.h>

#include "host/egress/egress_policy.h"

#define EGRESS_RESOLVE_QUEUE_MAX 256

struct egress_resolver;

struct egress_resolve_job {
	char name[EGRESS_HOST_MAX + 1];		    /* in: a normalised name */
	int err;				    /* out: 0, or -errno (-ENOENT: no such name) */
	char errtext[96];			    /* out: gai_strerror() of a failure */
	struct egress_addr addrs[EGRESS_ADDRS_MAX]; /* out: distinct addresses, in order */
	size_t naddrs;
	void *owner;   /* the caller's; never touched by the workers */
	int cancelled; /* the caller's: set it and forget the job; it is freed when done */
	struct egress_resolve_job *next;
};

/* Start nthreads (1..16) workers. Returns 0 or -errno. */
int egress_resolver_new(int nthreads, struct egress_resolver **out);
/* Pollable: readable when finished jobs wait in egress_resolver_done(). */
int egress_resolver_fd(struct egress_resolver *r);
/* Queue job (malloc'd; the resolver owns it until egress_resolver_done returns
 * it). -EBUSY when EGRESS_RESOLVE_QUEUE_MAX jobs already wait. */
int egress_resolver_submit(struct egress_resolver *r, struct egress_resolve_job *job);
/* One finished job (the caller owns it again), or NULL. Cancelled jobs are
 * freed here and never returned. */
struct egress_resolve_job *egress_resolver_done(struct egress_resolver *r);
/* Stop: queued jobs are dropped; lookups in progress finish in the background
 * and are freed by their worker. NULL-safe. */
void egress_resolver_free(struct egress_resolver *r);

/* The blocking lookup a worker does (exposed for tests). */
void egress_resolve_run(struct egress_resolve_job *job);

#endif
