/* Browser sessions for the browser.* ops (docs/PROTOCOL.md "Browser"): each
 * session is one headless Chromium driven over the DevTools protocol from the
 * agent's epoll loop, never blocking it. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_H
#define AGENTVM_GUEST_AGENT_BROWSER_H

struct agent;
struct agent_conn;
struct agent_request;
struct json_object;

/* Agent-wide settings (main.c's flags). NULL or 0 members keep the current
 * value, which starts from the environment: AGENTVM_CHROMIUM,
 * AGENTVM_BROWSER_PROXY (default http://127.0.0.1:3128; "none" for no
 * proxy), AGENTVM_BROWSER_TMPDIR, AGENTVM_BROWSER_ALLOW_EVALUATE=1. */
struct browser_config {
	const char *chromium; /* the program */
	const char *proxy;    /* --proxy-server for every session without its own */
	const char *tmpdir;   /* where profile directories go */
	int allow_evaluate;   /* 1: browser.evaluate allowed in every session */
};
void browser_configure(const struct browser_config *cfg);

/* Start browser request req (parsed from msg, which the request keeps a
 * reference to) for connection c. The reply goes to c now or later. */
void browser_handle(struct agent *a, struct agent_conn *c, struct json_object *msg,
		    const struct agent_request *req);

/* c is closing: its pending browser requests lose their reply, and the
 * sessions it opened (unless detached) are closed. */
void browser_conn_closed(struct agent_conn *c);

/* Kill every browser and remove its profile, waiting briefly for each to go
 * (the agent is ending; also registered with atexit). */
void browser_shutdown(void);

/* Free the sessions finished during this epoll batch (their watches may
 * still be named by events of the batch until then). */
void browser_reap(struct agent *a);

#endif
