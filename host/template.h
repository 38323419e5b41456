/* Templates: what a sandbox is made from (an image, an isolation level and
 * limits) and how many of it the warm pool keeps ready. Stored in the state
 * database; the image is resolved to a root tree (and built when it is a
 * named image not built yet) the first time it is needed. */
#ifndef AGENTVM_HOST_TEMPLATE_H
#define AGENTVM_HOST_TEMPLATE_H

#include <stddef.h>

#include "host/backend.h"
#include "host/state.h"

struct daemon;

/* Find the agent every sandbox runs as PID 1 (next to agentvmd). */
void template_find_agent(struct daemon *d);
/* Make the "default" template from the daemon's configuration when absent. */
int template_ensure_default(struct daemon *d);
/* The template name with its image resolved to a root tree (blocking: may
 * build the image). 0, or an API error code with a message in msg. */
int template_resolve(struct daemon *d, const char *name, struct state_template *out, char *msg,
		     size_t len);
/* t's limits with the backend defaults filled in and clamped to the ceilings. */
void template_limits(struct daemon *d, const struct state_template *t, struct backend_limits *out);
/* The template.build request (an op) on its own thread. */
void *template_build_main(void *op);
/* Remove template name's golden snapshots (host/microvm_api.h). */
void template_forget_snapshots(struct daemon *d, const char *name);
/* The template.list result. */
struct json_object *template_list_json(struct daemon *d);

#endif
