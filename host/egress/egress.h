/* The host's egress proxy (docs/EGRESS.md): one listening Unix socket per
 * sandbox, each connection a CONNECT or an absolute-URI http:// request that
 * is checked against that sandbox's policy, resolved here, connected to the
 * exact address that was checked, relayed with byte quotas, and recorded as
 * one JSON audit line.
 *
 * It runs on a thread of its own (one epoll loop for every sandbox, DNS
 * lookups on worker threads), so a slow peer or lookup never holds up the
 * caller or another sandbox. Every function here may be called from any
 * thread. */
#ifndef AGENTVM_HOST_EGRESS_EGRESS_H
#define AGENTVM_HOST_EGRESS_EGRESS_H

#include <stdint.h>

#include "host/egress/egress_policy.h"

struct json_object;
struct egress;
struct egress_sandbox;

/* Where audit lines go. Called on the proxy's thread (or on the thread calling
 * egress_sandbox_remove() for the connections it ends), with the proxy's lock
 * held: it must not call back into the proxy. line is borrowed. */
typedef void egress_audit_fn(void *ctx, struct json_object *line);

struct egress_options {
	int resolver_threads;	/* 0: 4 */
	const char *audit_path; /* also append every line to this file; NULL: none */
};

/* Start the proxy's thread. Returns 0 or -errno. */
int egress_new(const struct egress_options *o, struct egress **out);
/* Stop the thread, end every connection (each audited) and remove every
 * sandbox's socket. NULL-safe. */
void egress_free(struct egress *e);
/* Set (or, with fn NULL, clear) the audit sink. */
void egress_set_audit_sink(struct egress *e, egress_audit_fn *fn, void *ctx);

/* Listen for sandbox name on a new Unix socket at sock_path (mode 0600; a
 * stale socket there is replaced, anything else is an error). Takes policy
 * (even on failure). Returns 0 or -errno. */
int egress_sandbox_add(struct egress *e, const char *name, const char *sock_path,
		       struct egress_policy *policy, struct egress_sandbox **out);
/* Stop listening, end the sandbox's connections (audited, end "removed") and
 * unlink its socket. sb is invalid afterwards. NULL-safe. */
void egress_sandbox_remove(struct egress *e, struct egress_sandbox *sb);

struct egress_stats {
	uint64_t bytes_up, bytes_down; /* relayed, over the sandbox's life */
	uint32_t conns_total, conns_open, conns_denied;
};
void egress_sandbox_stats(struct egress *e, struct egress_sandbox *sb, struct egress_stats *out);

/* The vsock port a microVM's agent connects to (CID 2) for egress; the VMM
 * bridges it to "<uds>_<port>" on the host. */
#define EGRESS_VSOCK_PORT 3128
/* Where the container backend puts the sandbox's egress socket. */
#define EGRESS_SANDBOX_SOCK "/run/agentvm/egress.sock"
/* Where the agent listens for programs in the sandbox. */
#define EGRESS_AGENT_PORT 3128

#endif
