/* The warm pool: per template, pool_size sandboxes started and past the
 * agent's hello, so that sandbox.create is a hand-off. One thread refills
 * the pools; pooled sandboxes are rows in the state database (state
 * "pooled") like any other, so a restart adopts or cleans them. */
#ifndef AGENTVM_HOST_POOL_H
#define AGENTVM_HOST_POOL_H

#include "host/backend.h"

struct daemon;
struct sandbox;

int pool_start(struct daemon *d);
/* Stop the thread (pooled sandboxes are destroyed by the caller). */
void pool_stop(struct daemon *d);
/* Wake the thread (a hand-off, a template changed). */
void pool_kick(struct daemon *d);
/* A pooled sandbox of template with exactly these limits, taken out of the
 * pool (state CREATING, a ref for the caller), or NULL. d->lock held. The
 * caller calls pool_kick() once its hand-off is done (the refill starts
 * then, or within a second). */
struct sandbox *pool_take_locked(struct daemon *d, const char *template_name,
				 const struct backend_limits *lim);
/* Refresh the agentvm_pool_ready gauge. d->lock held. */
void pool_update_gauge_locked(struct daemon *d);

#endif
