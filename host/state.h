/* The controller's durable state: an SQLite database (WAL mode) in the state
 * directory holding templates and sandboxes, so that a restart or a crash of
 * agentvmd loses nothing. All functions are thread-safe (one connection
 * behind a mutex). */
#ifndef AGENTVM_HOST_STATE_H
#define AGENTVM_HOST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "host/backend.h"

struct state;

#define STATE_NAME_MAX	 64
#define STATE_PATH_MAX	 1024
#define STATE_SCHEMA_VER 2

struct state_template {
	char name[STATE_NAME_MAX];
	char image[STATE_PATH_MAX];   /* an image name ("minimal") or a root directory */
	char rootfs[STATE_PATH_MAX];  /* where the image was found; "" until resolved */
	char kernel[STATE_PATH_MAX];  /* the guest kernel (microvm); "" for the default */
	char cmdline[STATE_PATH_MAX]; /* added to the kernel command line (microvm) */
	char guest[16];		      /* "agent", or "test" (a synthetic guest, no agent) */
	char isolation[16];	      /* "auto", "container" or "microvm" */
	struct backend_limits limits;
	int pool_size; /* ready sandboxes kept warm */
	int64_t created_ms;
};

struct state_sandbox {
	char name[STATE_NAME_MAX];	   /* what clients call it */
	char backend_name[STATE_NAME_MAX]; /* the backend instance's name */
	char template_name[STATE_NAME_MAX];
	char backend[16]; /* "container", "microvm" */
	char state[16];	  /* "creating", "pooled", "running", "resetting", "failed" */
	int pid;	  /* PID 1 or the VMM on the host; 0 unknown */
	int64_t owner_uid;
	struct backend_limits limits;
	int64_t created_ms;  /* wall clock, ms since the epoch */
	int64_t ttl_ms;	     /* lifetime; 0 none */
	int64_t idle_ttl_ms; /* idle time before it is destroyed; 0 none */
	char *metadata;	     /* JSON object text (malloc'd, may be NULL) */
	char error[256];
};

/* Open (creating) <dir>/agentvmd.db. Fails if the schema is newer than ours. */
int state_open(const char *dir, struct state **out);
void state_close(struct state *st);

/* Insert or replace the template t->name. */
int state_template_put(struct state *st, const struct state_template *t);
/* -ENOENT if there is none. */
int state_template_get(struct state *st, const char *name, struct state_template *out);
int state_template_delete(struct state *st, const char *name);
/* Every template, by name, in a new array (free()). */
int state_template_list(struct state *st, struct state_template **out, size_t *n);

/* Insert or replace the sandbox s->name. */
int state_sandbox_put(struct state *st, const struct state_sandbox *s);
/* Set the state (and error text, NULL to clear) of sandbox name. -ENOENT. */
int state_sandbox_set_state(struct state *st, const char *name, const char *state,
			    const char *error);
/* In one transaction: remove old_name and store s (a pool hand-off). */
int state_sandbox_replace(struct state *st, const char *old_name, const struct state_sandbox *s);
int state_sandbox_delete(struct state *st, const char *name);
/* -ENOENT if there is none; out->metadata is malloc'd. */
int state_sandbox_get(struct state *st, const char *name, struct state_sandbox *out);
/* Every sandbox in a new array; free with state_sandbox_list_free. */
int state_sandbox_list(struct state *st, struct state_sandbox **out, size_t *n);
void state_sandbox_list_free(struct state_sandbox *list, size_t n);

/* A counter kept across restarts (resets_total, ...): add delta, return the new value. */
int64_t state_counter_add(struct state *st, const char *key, int64_t delta);

#endif
