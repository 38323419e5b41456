/* The compact text form of a page's accessibility tree returned by
 * browser.snapshot, rendered from the result of CDP's
 * Accessibility.getFullAXTree. One line per meaningful node:
 *
 *   - heading "Sign up" [level=1]
 *   - textbox "Name" [ref=e5]: current value
 *   - button "Submit" [ref=e12]
 *   - paragraph: Please fill the form.
 *   - list:
 *     - listitem: one
 *
 * Interactive or focusable elements carry [ref=eN], N being the node's
 * backendDOMNodeId: stable for the same DOM node across snapshots. Pure, and
 * the input is hostile: cycles, dangling ids, any depth or size. */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_AX_H
#define AGENTVM_GUEST_AGENT_BROWSER_AX_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

#define BROWSER_AX_NODES_MAX 500000 /* more nodes than this: the rest is ignored */
#define BROWSER_AX_DEPTH_MAX 256    /* deeper nodes are left out */

struct browser_ax_out {
	char *text; /* NUL-terminated, valid UTF-8 */
	size_t len;
	uint32_t *refs; /* the backendDOMNodeIds given a ref, in order of appearance */
	size_t nrefs;
	int truncated; /* max_chars, the node limit or the depth limit cut it short */
};

/* Render result ({"nodes":[...]}) in at most max_chars bytes (0: no limit).
 * Returns 0 with out filled (free with browser_ax_out_free), -EBADMSG when
 * result has no nodes array, or -ENOMEM. */
int browser_ax_render(struct json_object *result, size_t max_chars, struct browser_ax_out *out);
/* NULL-safe. */
void browser_ax_out_free(struct browser_ax_out *out);

#endif
