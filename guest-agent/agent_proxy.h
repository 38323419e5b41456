/* The sandbox's HTTP proxy: a TCP listener (127.0.0.1:3128) whose every
 * connection becomes a new stream to the host's egress proxy (vsock CID 2 in
 * a microVM, a Unix socket in a container), bytes relayed both ways untouched
 * through bounded buffers on the agent's epoll loop. The host decides; the
 * agent only carries. Execs get http_proxy and friends pointing here. */
#ifndef AGENTVM_GUEST_AGENT_PROXY_H
#define AGENTVM_GUEST_AGENT_PROXY_H

#include "guest-agent/agent.h"

#define AGENT_PROXY_LISTEN_DEFAULT "127.0.0.1:3128"
#define AGENT_PROXY_MAX_CONNS	   512
#define AGENT_PROXY_BUF		   (64 * 1024)

/* Start listening when a->opt->egress is set (else do nothing) and set the
 * exec environment defaults. Returns 0 or -errno (bad address, bind failed). */
int agent_proxy_init(struct agent *a);
/* Stop listening and drop every proxied connection (shutdown). */
void agent_proxy_close(struct agent *a);
/* Free the connections closed during the last epoll batch. */
void agent_proxy_reap(struct agent *a);
/* Close and free everything. NULL-safe on a->proxy. */
void agent_proxy_free(struct agent *a);

/* Parse "unix:PATH" or "vsock:PORT" (the upstream) into a sockaddr for
 * connect(); returns 0 or -EINVAL. */
struct sockaddr_storage;
int agent_proxy_parse_upstream(const char *spec, struct sockaddr_storage *sa, unsigned *salen);
/* Parse "IPV4:PORT" (the listener). Returns 0 or -EINVAL. */
int agent_proxy_parse_listen(const char *spec, struct sockaddr_storage *sa, unsigned *salen);

#endif
