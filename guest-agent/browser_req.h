/* The parameters of the browser.* requests (docs/PROTOCOL.md "Browser"),
 * parsed and validated. Pure: it reads the request object and nothing else. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_REQ_H
#define AGENTVM_GUEST_AGENT_BROWSER_REQ_H

#include <stddef.h>
#include <stdint.h>

struct agent_error;
struct json_object;

#define BROWSER_SESSION_NAME_MAX 64
#define BROWSER_URL_MAX		 (1u << 20)
#define BROWSER_SELECTOR_MAX	 4096
#define BROWSER_VALUE_MAX	 (1u << 20)
#define BROWSER_EXPRESSION_MAX	 (1u << 20)
#define BROWSER_VALUES_MAX	 256
#define BROWSER_PROXY_MAX	 256
#define BROWSER_KEY_MAX		 64
#define BROWSER_VIEWPORT_MIN	 64
#define BROWSER_VIEWPORT_MAX	 8192
#define BROWSER_TIMEOUT_DEFAULT	 30000
#define BROWSER_TIMEOUT_MAX	 600000
#define BROWSER_SNAPSHOT_DEFAULT (1u << 20)
#define BROWSER_SNAPSHOT_MAX	 (8u << 20)

/* What a navigation waits for. */
enum browser_wait {
	BROWSER_WAIT_LOAD, /* the load event (default) */
	BROWSER_WAIT_DOMCONTENTLOADED,
	BROWSER_WAIT_NETWORKIDLE,
	BROWSER_WAIT_COMMIT, /* the response arrived and the document committed */
};

struct browser_req {
	const char *session; /* borrowed; NULL: browser.open picks a name */
	const char *url, *selector, *value, *key, *expression, *proxy, *target;
	size_t value_len;
	const char *ref;     /* "e<n>" as given */
	uint64_t ref_node;   /* n: the node's backendDOMNodeId */
	const char **values; /* browser.select: malloc'd array of borrowed strings */
	size_t nvalues;
	uint64_t timeout_ms;	/* never 0: the default when not given */
	uint64_t max_chars;	/* browser.snapshot */
	unsigned width, height; /* browser.open viewport; 0 = default */
	enum browser_wait wait;
	int full_page, allow_evaluate, detached;
};

/* Parse the members of the browser op `op` (an enum agent_op) from msg.
 * Returns 0, or -1 with err filled (EBADREQ with the field). The strings
 * are borrowed from msg; browser_req_clear() releases the rest. */
int browser_req_parse(struct json_object *msg, int op, struct browser_req *b,
		      struct agent_error *err);
/* Free what browser_req_parse allocated. Safe on a zeroed struct. */
void browser_req_clear(struct browser_req *b);

/* True if s (len bytes) is a valid session name: 1..64 of [A-Za-z0-9_.-]. */
int browser_req_name_valid(const char *s, size_t len);
/* Parse a ref "e<digits>" (1..2^31-1). Returns 0 or -EINVAL. */
int browser_req_parse_ref(const char *s, uint64_t *node);

#endif
