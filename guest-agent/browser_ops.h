/* The browser.* operations (browser_ops.c: pages; browser_act.c: elements)
 * and what they share: navigation tracking and reply routing. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_OPS_H
#define AGENTVM_GUEST_AGENT_BROWSER_OPS_H

#include "guest-agent/browser_session.h"

/* Tags every op kind shares (kind-specific tags are small numbers). */
#define BROWSER_TAG_HISTORY 1000 /* Page.getNavigationHistory ending a navigation */
#define BROWSER_TAG_IGNORE  1001 /* a reply nobody needs */

/* The handlers for kind (an enum agent_op), or NULL. */
const struct browser_op_kind *browser_ops_kind(int kind);
const struct browser_op_kind *browser_act_kind(int kind);

/* Route a reply / a page event to op (navigation tracking first). */
void browser_ops_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m);
void browser_ops_event(struct browser_op *op, const struct browser_cdp_msg *m);

/* Track navigations of the main frame from now on; started: one is under
 * way already (navigate, back), else an action may start one. */
void browser_nav_watch(struct browser_op *op, int started);
/* The navigation is over: reply with url, title, status (and redirects),
 * added to op->result if set. */
void browser_nav_finish(struct browser_op *op);

/* If m is an error reply, fail op ("<what> failed: ...") and return 1. */
int browser_ops_cdp_failed(struct browser_op *op, const struct browser_cdp_msg *m,
			   const char *what);

/* A copy of s as a JSON string, made valid UTF-8 (NULL for NULL). */
struct json_object *browser_json_str(const char *s);

#endif
