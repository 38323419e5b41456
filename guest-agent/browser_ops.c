/* The browser.* operations that open, navigate and read pages: open,
 * navigate, back, snapshot, screenshot, evaluate, tabs; and the navigation
 * tracking shared with the element actions (browser_act.c). */
#include "guest-agent/browser_ops.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "guest-agent/agent_error.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser_ax.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_REDIRECTS_MAX 20
#define OPS_SHOT_MAX_DIM  16384

struct json_object *browser_json_str(const char *s)
{
	if (!s)
		return NULL;
	return json_util_new_string_lossy(s, strlen(s));
}

/* A CDP string member copied into a JSON string (NULL when absent). */
static struct json_object *ops_str_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_util_new_string_lossy(json_object_get_string(v),
					  (size_t)json_object_get_string_len(v));
}

static int ops_is_main_frame(struct browser_op *op, struct json_object *params)
{
	const char *f = browser_cdp_str(params, "frameId");

	return f && strcmp(f, op->s->frame_id) == 0;
}

/* Fail op when a command of the browser failed; true if so. */
int browser_ops_cdp_failed(struct browser_op *op, const struct browser_cdp_msg *m, const char *what)
{
	if (!m->has_error)
		return 0;
	browser_op_fail(op, "EBROWSER", "%s failed: %s", what, m->error_message);
	return 1;
}

/* --- navigation tracking ------------------------------------------------------------------ */

static const char *ops_wanted_lifecycle(struct browser_op *op)
{
	if (op->kind != AGENT_OP_BROWSER_NAVIGATE)
		return "load";
	switch (op->req.wait) {
	case BROWSER_WAIT_DOMCONTENTLOADED:
		return "DOMContentLoaded";
	case BROWSER_WAIT_NETWORKIDLE:
		return "networkIdle";
	case BROWSER_WAIT_COMMIT:
		return NULL;
	default:
		return "load";
	}
}

void browser_nav_watch(struct browser_op *op, int started)
{
	op->nav.phase = started ? BROWSER_NAV_STARTED : BROWSER_NAV_WATCH;
}

/* Update op->nav from a page event. Returns 1 when the navigation is over. */
static int ops_nav_event(struct browser_op *op, const struct browser_cdp_msg *m)
{
	struct browser_nav *nav = &op->nav;
	struct json_object *p = m->params;
	const char *type, *name, *loader;

	if (nav->phase == BROWSER_NAV_NONE || nav->phase == BROWSER_NAV_DONE || !p)
		return 0;
	type = browser_cdp_str(p, "type");
	if (strcmp(m->method, "Network.requestWillBeSent") == 0) {
		struct json_object *rr = browser_cdp_obj(p, "redirectResponse");

		if (!type || strcmp(type, "Document") != 0 || !ops_is_main_frame(op, p))
			return 0;
		if (nav->phase == BROWSER_NAV_WATCH)
			nav->phase = BROWSER_NAV_STARTED;
		if (rr) {
			struct json_object *hop = json_object_new_object();

			if (!nav->redirects)
				nav->redirects = json_object_new_array();
			if (hop && nav->redirects &&
			    json_object_array_length(nav->redirects) < OPS_REDIRECTS_MAX) {
				json_object_object_add(hop, "url", ops_str_member(rr, "url"));
				json_object_object_add(
					hop, "status",
					json_object_new_int((int)browser_cdp_int(rr, "status", 0)));
				json_object_array_add(nav->redirects, hop);
			} else {
				json_object_put(hop);
			}
		}
		return 0;
	}
	if (strcmp(m->method, "Network.responseReceived") == 0) {
		struct json_object *resp = browser_cdp_obj(p, "response");

		if (!type || strcmp(type, "Document") != 0 || !ops_is_main_frame(op, p))
			return 0;
		browser_cdp_copy(p, "loaderId", nav->doc_loader, sizeof(nav->doc_loader));
		nav->status = (int)browser_cdp_int(resp, "status", 0);
		return 0;
	}
	if (strcmp(m->method, "Network.loadingFailed") == 0) {
		const char *rid = browser_cdp_str(p, "requestId");

		if (type && strcmp(type, "Document") == 0 && rid && nav->loader[0] &&
		    strcmp(rid, nav->loader) == 0)
			browser_cdp_copy(p, "errorText", nav->net_error, sizeof(nav->net_error));
		return 0;
	}
	if (strcmp(m->method, "Page.frameStartedNavigating") == 0) {
		const char *kind = browser_cdp_str(p, "navigationType");

		if (!ops_is_main_frame(op, p))
			return 0;
		if (nav->phase == BROWSER_NAV_WATCH)
			nav->phase = BROWSER_NAV_STARTED;
		/* Actions learn the loader here; navigate has it from its reply. */
		if (op->kind != AGENT_OP_BROWSER_NAVIGATE && kind &&
		    strcmp(kind, "differentDocument") == 0)
			browser_cdp_copy(p, "loaderId", nav->loader, sizeof(nav->loader));
		return 0;
	}
	if (strcmp(m->method, "Page.frameRequestedNavigation") == 0 ||
	    strcmp(m->method, "Page.frameStartedLoading") == 0) {
		if (ops_is_main_frame(op, p) && nav->phase == BROWSER_NAV_WATCH)
			nav->phase = BROWSER_NAV_STARTED;
		return 0;
	}
	if (strcmp(m->method, "Page.navigatedWithinDocument") == 0) {
		if (!ops_is_main_frame(op, p))
			return 0;
		/* navigate learns from its reply whether it stayed in the document. */
		if (op->kind != AGENT_OP_BROWSER_NAVIGATE)
			return 1;
		nav->same_doc_seen = 1;
		return nav->same_doc_wait;
	}
	if (strcmp(m->method, "Page.lifecycleEvent") == 0) {
		const char *want = ops_wanted_lifecycle(op);

		name = browser_cdp_str(p, "name");
		loader = browser_cdp_str(p, "loaderId");
		if (!want || !name || strcmp(name, want) != 0 || !ops_is_main_frame(op, p))
			return 0;
		if (op->kind == AGENT_OP_BROWSER_NAVIGATE && !nav->loader[0]) {
			/* The reply to Page.navigate has not come yet: remember it. */
			if (loader)
				snprintf(nav->lifecycle_loader, sizeof(nav->lifecycle_loader), "%s",
					 loader);
			return 0;
		}
		if (nav->loader[0] && (!loader || strcmp(loader, nav->loader) != 0))
			return 0;
		return nav->phase == BROWSER_NAV_STARTED;
	}
	return 0;
}

/* The navigation is over: reply with where it ended (Page.getNavigationHistory). */
void browser_nav_finish(struct browser_op *op)
{
	op->nav.phase = BROWSER_NAV_DONE;
	browser_op_set_wake(op, 0);
	browser_cmd(op, BROWSER_TAG_HISTORY, "Page.getNavigationHistory", NULL, 1);
}

/* Add url and title of the current history entry of a getNavigationHistory
 * result to res. */
static void ops_add_current_entry(struct json_object *res, struct json_object *hist)
{
	struct json_object *entries, *e;
	int64_t idx = browser_cdp_int(hist, "currentIndex", -1);

	if (!json_object_object_get_ex(hist, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_array) || idx < 0 ||
	    (size_t)idx >= json_object_array_length(entries))
		return;
	e = json_object_array_get_idx(entries, (size_t)idx);
	json_object_object_add(res, "url", ops_str_member(e, "url"));
	json_object_object_add(res, "title", ops_str_member(e, "title"));
}

static void ops_history_reply(struct browser_op *op, const struct browser_cdp_msg *m)
{
	struct json_object *res = op->result ? op->result : json_object_new_object();
	struct browser_nav *nav = &op->nav;

	op->result = NULL;
	if (!res) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	if (!m->has_error)
		ops_add_current_entry(res, m->result);
	if (nav->doc_loader[0] && (!nav->loader[0] || strcmp(nav->doc_loader, nav->loader) == 0))
		json_object_object_add(res, "status", json_object_new_int(nav->status));
	else
		json_object_object_add(res, "status", NULL);
	if (nav->redirects) {
		json_object_object_add(res, "redirects", nav->redirects);
		nav->redirects = NULL;
	}
	if (op->kind != AGENT_OP_BROWSER_NAVIGATE && op->kind != AGENT_OP_BROWSER_BACK)
		json_object_object_add(res, "navigated", json_object_new_boolean(1));
	browser_op_done(op, res);
}

void browser_ops_event(struct browser_op *op, const struct browser_cdp_msg *m)
{
	if (ops_nav_event(op, m)) {
		browser_nav_finish(op);
		return;
	}
	if (op->k->event)
		op->k->event(op, m);
}

void browser_ops_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	if (tag == BROWSER_TAG_HISTORY) {
		ops_history_reply(op, m);
		return;
	}
	if (tag == BROWSER_TAG_IGNORE)
		return;
	op->k->reply(op, tag, m);
}

/* --- browser.open ---------------------------------------------------------------------------- */

enum { OPEN_VERSION = 1, OPEN_TARGETS, OPEN_CREATE, OPEN_ATTACH, OPEN_SETUP, OPEN_FRAMES };

static void open_start(struct browser_op *op)
{
	struct agent_error err;
	struct json_object *p;

	if (browser_session_spawn(op->s, op->req.proxy, &err) < 0) {
		browser_op_fail_err(op, &err);
		return;
	}
	if (browser_cmd(op, OPEN_VERSION, "Browser.getVersion", NULL, 0) < 0 ||
	    browser_cmd(op, OPEN_TARGETS, "Target.getTargets", NULL, 0) < 0)
		return;
	/* Downloads would only fill the disk. */
	p = json_object_new_object();
	if (p)
		json_object_object_add(p, "behavior", json_object_new_string("deny"));
	browser_cmd(op, OPEN_SETUP, "Browser.setDownloadBehavior", p, 0);
}

static void open_attach(struct browser_op *op)
{
	struct json_object *p = json_object_new_object();

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "targetId", json_object_new_string(op->s->target_id));
	json_object_object_add(p, "flatten", json_object_new_boolean(1));
	browser_cmd(op, OPEN_ATTACH, "Target.attachToTarget", p, 0);
}

static void open_setup(struct browser_op *op)
{
	struct browser_session *s = op->s;
	struct json_object *p;

	if (browser_cmd(op, OPEN_SETUP, "Page.enable", NULL, 1) < 0)
		return;
	p = json_object_new_object();
	if (p)
		json_object_object_add(p, "enabled", json_object_new_boolean(1));
	if (browser_cmd(op, OPEN_SETUP, "Page.setLifecycleEventsEnabled", p, 1) < 0 ||
	    browser_cmd(op, OPEN_SETUP, "Network.enable", NULL, 1) < 0 ||
	    browser_cmd(op, OPEN_FRAMES, "Page.getFrameTree", NULL, 1) < 0)
		return;
	p = json_object_new_object();
	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "width", json_object_new_int((int)s->width));
	json_object_object_add(p, "height", json_object_new_int((int)s->height));
	json_object_object_add(p, "deviceScaleFactor", json_object_new_int(1));
	json_object_object_add(p, "mobile", json_object_new_boolean(0));
	browser_cmd(op, OPEN_SETUP, "Emulation.setDeviceMetricsOverride", p, 1);
}

static void open_ready(struct browser_op *op)
{
	struct browser_session *s = op->s;
	struct json_object *res = json_object_new_object(), *vp = json_object_new_object();

	if (!res || !vp) {
		json_object_put(res);
		json_object_put(vp);
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	s->state = BROWSER_READY;
	json_object_object_add(res, "session", browser_json_str(s->name));
	json_object_object_add(res, "pid", json_object_new_int(s->proc.browser_pid));
	json_object_object_add(res, "browser", browser_json_str(s->product));
	json_object_object_add(vp, "width", json_object_new_int((int)s->width));
	json_object_object_add(vp, "height", json_object_new_int((int)s->height));
	json_object_object_add(res, "viewport", vp);
	json_object_object_add(res, "allow_evaluate",
			       json_object_new_boolean(browser_session_may_evaluate(s)));
	json_object_object_add(res, "detached", json_object_new_boolean(!s->owner));
	browser_op_done(op, res);
}

static void open_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct browser_session *s = op->s;
	struct json_object *v;
	size_t i, n;

	if (m->has_error && tag != OPEN_SETUP) {
		browser_op_fail(op, "EBROWSER", "setting up chromium failed: %s", m->error_message);
		return;
	}
	switch (tag) {
	case OPEN_VERSION:
		browser_cdp_copy(m->result, "product", s->product, sizeof(s->product));
		break;
	case OPEN_TARGETS:
		if (json_object_object_get_ex(m->result, "targetInfos", &v) &&
		    json_object_is_type(v, json_type_array)) {
			n = json_object_array_length(v);
			for (i = 0; i < n && !s->target_id[0]; i++) {
				struct json_object *t = json_object_array_get_idx(v, i);
				const char *type = browser_cdp_str(t, "type");

				if (type && strcmp(type, "page") == 0)
					browser_cdp_copy(t, "targetId", s->target_id,
							 sizeof(s->target_id));
			}
		}
		break;
	case OPEN_CREATE:
		browser_cdp_copy(m->result, "targetId", s->target_id, sizeof(s->target_id));
		if (!s->target_id[0]) {
			browser_op_fail(op, "EBROWSER", "chromium opened no page");
			return;
		}
		open_attach(op);
		return;
	case OPEN_ATTACH:
		browser_cdp_copy(m->result, "sessionId", s->cdp_session, sizeof(s->cdp_session));
		if (!s->cdp_session[0]) {
			browser_op_fail(op, "EBROWSER", "chromium did not attach to its page");
			return;
		}
		snprintf(s->frame_id, sizeof(s->frame_id), "%s", s->target_id);
		open_setup(op);
		return;
	case OPEN_FRAMES: {
		struct json_object *ft = browser_cdp_obj(m->result, "frameTree");

		browser_cdp_copy(browser_cdp_obj(ft, "frame"), "id", s->frame_id,
				 sizeof(s->frame_id));
		if (!s->frame_id[0])
			snprintf(s->frame_id, sizeof(s->frame_id), "%s", s->target_id);
		break;
	}
	case OPEN_SETUP:
		if (m->has_error && s->cdp_session[0]) {
			browser_op_fail(op, "EBROWSER", "setting up the page failed: %s",
					m->error_message);
			return;
		}
		break;
	default:
		break;
	}
	if (op->outstanding > 0)
		return;
	if (!s->cdp_session[0]) {
		/* Version, targets and download behaviour are in. */
		if (s->target_id[0]) {
			open_attach(op);
		} else {
			struct json_object *p = json_object_new_object();

			if (p)
				json_object_object_add(p, "url",
						       json_object_new_string("about:blank"));
			browser_cmd(op, OPEN_CREATE, "Target.createTarget", p, 0);
		}
		return;
	}
	open_ready(op);
}

/* --- browser.navigate and browser.back --------------------------------------------------------- */

enum { NAV_NAVIGATE = 1, NAV_HISTORY_FOR_BACK, NAV_GO_BACK };

static void navigate_start(struct browser_op *op)
{
	struct json_object *p = json_object_new_object();

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "url", json_object_new_string(op->req.url));
	browser_nav_watch(op, 1);
	browser_cmd(op, NAV_NAVIGATE, "Page.navigate", p, 1);
}

static void navigate_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct browser_nav *nav = &op->nav;
	struct json_object *v;
	const char *e;

	(void)tag;
	if (m->has_error) {
		browser_op_fail(op, "EINVAL", "chromium refused the URL: %s", m->error_message);
		return;
	}
	e = browser_cdp_str(m->result, "errorText");
	if (json_object_object_get_ex(m->result, "isDownload", &v) && json_object_get_boolean(v)) {
		browser_op_fail(op, "ENAVIGATE", "%.300s is a download, and downloads are refused",
				op->req.url);
		return;
	}
	if (e && *e) {
		browser_op_fail(op, "ENAVIGATE", "navigation to %.300s failed: %s", op->req.url, e);
		return;
	}
	browser_cdp_copy(m->result, "loaderId", nav->loader, sizeof(nav->loader));
	/* No loader: a navigation inside the document (a #fragment); its
	 * history entry is there once Page.navigatedWithinDocument came. */
	if (!nav->loader[0] && !nav->same_doc_seen) {
		nav->same_doc_wait = 1;
		browser_op_set_wake(op, 1000);
		return;
	}
	if (!nav->loader[0] || op->req.wait == BROWSER_WAIT_COMMIT ||
	    strcmp(nav->loader, nav->lifecycle_loader) == 0)
		browser_nav_finish(op);
}

static void navigate_wake(struct browser_op *op)
{
	/* No navigatedWithinDocument after all (the same URL again). */
	if (op->nav.same_doc_wait && op->nav.phase != BROWSER_NAV_DONE)
		browser_nav_finish(op);
}

static void back_start(struct browser_op *op)
{
	browser_cmd(op, NAV_HISTORY_FOR_BACK, "Page.getNavigationHistory", NULL, 1);
}

static void back_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *entries, *p;
	int64_t idx, entry;

	if (browser_ops_cdp_failed(op, m, "going back"))
		return;
	if (tag == NAV_GO_BACK)
		return; /* now wait for the load */
	idx = browser_cdp_int(m->result, "currentIndex", -1);
	if (!json_object_object_get_ex(m->result, "entries", &entries) ||
	    !json_object_is_type(entries, json_type_array) || idx < 1 ||
	    (size_t)idx >= json_object_array_length(entries)) {
		browser_op_fail(op, "EINVAL", "there is no previous page");
		return;
	}
	entry = browser_cdp_int(json_object_array_get_idx(entries, (size_t)idx - 1), "id", -1);
	p = json_object_new_object();
	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "entryId", json_object_new_int64(entry));
	browser_nav_watch(op, 1);
	browser_cmd(op, NAV_GO_BACK, "Page.navigateToHistoryEntry", p, 1);
}

/* --- browser.snapshot ------------------------------------------------------------------------ */

enum { SNAP_TREE = 1, SNAP_HISTORY };

static void snapshot_start(struct browser_op *op)
{
	op->result = json_object_new_object();
	if (!op->result) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	if (browser_cmd(op, SNAP_TREE, "Accessibility.getFullAXTree", NULL, 1) < 0)
		return;
	browser_cmd(op, SNAP_HISTORY, "Page.getNavigationHistory", NULL, 1);
}

static void snapshot_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct browser_ax_out ax;
	struct json_object *res;
	int r;

	if (browser_ops_cdp_failed(op, m, "reading the page"))
		return;
	if (tag == SNAP_HISTORY) {
		ops_add_current_entry(op->result, m->result);
	} else {
		r = browser_ax_render(m->result, op->req.max_chars, &ax);
		if (r < 0) {
			browser_op_fail(op, r == -ENOMEM ? "ENOMEM" : "EBROWSER",
					"cannot render the accessibility tree: %s",
					r == -ENOMEM ? "out of memory" : "malformed");
			return;
		}
		browser_session_add_refs(op->s, ax.refs, ax.nrefs);
		json_object_object_add(op->result, "snapshot",
				       json_object_new_string_len(ax.text, (int)ax.len));
		json_object_object_add(op->result, "refs", json_object_new_int((int)ax.nrefs));
		json_object_object_add(op->result, "truncated",
				       json_object_new_boolean(ax.truncated));
		browser_ax_out_free(&ax);
	}
	if (op->outstanding > 0)
		return;
	res = op->result;
	op->result = NULL;
	browser_op_done(op, res);
}

/* --- browser.screenshot ------------------------------------------------------------------------ */

enum { SHOT_METRICS = 1, SHOT_CAPTURE };

static void shot_capture(struct browser_op *op, double w, double h)
{
	struct json_object *p = json_object_new_object(), *clip;

	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "format", json_object_new_string("png"));
	if (op->req.full_page) {
		clip = json_object_new_object();
		if (!clip) {
			json_object_put(p);
			browser_op_fail(op, "ENOMEM", "out of memory");
			return;
		}
		json_object_object_add(clip, "x", json_object_new_int(0));
		json_object_object_add(clip, "y", json_object_new_int(0));
		json_object_object_add(clip, "width", json_object_new_double(w));
		json_object_object_add(clip, "height", json_object_new_double(h));
		json_object_object_add(clip, "scale", json_object_new_int(1));
		json_object_object_add(p, "clip", clip);
		json_object_object_add(p, "captureBeyondViewport", json_object_new_boolean(1));
	}
	browser_cmd(op, SHOT_CAPTURE, "Page.captureScreenshot", p, 1);
}

static void shot_start(struct browser_op *op)
{
	if (op->req.full_page)
		browser_cmd(op, SHOT_METRICS, "Page.getLayoutMetrics", NULL, 1);
	else
		shot_capture(op, 0, 0);
}

/* Width and height from the IHDR chunk at the start of a base64 PNG. */
static int shot_png_size(const char *b64, size_t len, uint32_t *w, uint32_t *h)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	unsigned char head[24];
	size_t i;

	if (len < 32 || len % 4 != 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = b64[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || (c == '=' && i >= len - 2)))
			return -EINVAL;
	}
	if (base64_decode_to(b64, 32, head) != 24 || memcmp(head, sig, 8) != 0 ||
	    memcmp(head + 12, "IHDR", 4) != 0)
		return -EINVAL;
	*w = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 | (uint32_t)head[18] << 8 |
	     head[19];
	*h = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 | (uint32_t)head[22] << 8 |
	     head[23];
	return 0;
}

static void shot_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *res, *v;
	uint32_t w = 0, h = 0;
	const char *data;
	size_t len;

	if (browser_ops_cdp_failed(op, m, "taking the screenshot"))
		return;
	if (tag == SHOT_METRICS) {
		struct json_object *cs = browser_cdp_obj(m->result, "cssContentSize");
		double cw, ch;

		if (!cs)
			cs = browser_cdp_obj(m->result, "contentSize");
		cw = browser_cdp_num(cs, "width", 0);
		ch = browser_cdp_num(cs, "height", 0);
		if (!(cw >= 1 && ch >= 1)) {
			cw = op->s->width;
			ch = op->s->height;
		}
		shot_capture(op, cw > OPS_SHOT_MAX_DIM ? OPS_SHOT_MAX_DIM : cw,
			     ch > OPS_SHOT_MAX_DIM ? OPS_SHOT_MAX_DIM : ch);
		return;
	}
	if (!json_object_object_get_ex(m->result, "data", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		browser_op_fail(op, "EBROWSER", "the browser returned no image");
		return;
	}
	data = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (shot_png_size(data, len, &w, &h) < 0) {
		browser_op_fail(op, "EBROWSER", "the browser returned something that is not a PNG");
		return;
	}
	res = json_object_new_object();
	if (!res) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(res, "format", json_object_new_string("png"));
	json_object_object_add(res, "width", json_object_new_int64(w));
	json_object_object_add(res, "height", json_object_new_int64(h));
	json_object_object_add(res, "data", json_object_get(v));
	browser_op_done(op, res);
}

/* --- browser.evaluate ------------------------------------------------------------------------ */

static void eval_start(struct browser_op *op)
{
	struct json_object *p;

	if (!browser_session_may_evaluate(op->s)) {
		browser_op_fail(op, "EPERM",
				"browser.evaluate is off: the agent needs --browser-allow-evaluate "
				"(AGENTVM_BROWSER_ALLOW_EVALUATE=1) or the session "
				"\"allow_evaluate\":true in browser.open");
		return;
	}
	p = json_object_new_object();
	if (!p) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(p, "expression", json_object_new_string(op->req.expression));
	json_object_object_add(p, "returnByValue", json_object_new_boolean(1));
	json_object_object_add(p, "awaitPromise", json_object_new_boolean(1));
	json_object_object_add(p, "userGesture", json_object_new_boolean(1));
	browser_cmd(op, 1, "Runtime.evaluate", p, 1);
}

static void eval_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *r, *ex, *res, *v;
	const char *text;

	(void)tag;
	if (browser_ops_cdp_failed(op, m, "evaluating"))
		return;
	ex = browser_cdp_obj(m->result, "exceptionDetails");
	if (ex) {
		text = browser_cdp_str(browser_cdp_obj(ex, "exception"), "description");
		if (!text)
			text = browser_cdp_str(ex, "text");
		browser_op_fail(op, "EJSEXCEPTION", "the expression threw: %.400s",
				text ? text : "an exception");
		return;
	}
	r = browser_cdp_obj(m->result, "result");
	res = json_object_new_object();
	if (!res) {
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	json_object_object_add(res, "type", ops_str_member(r, "type"));
	if (r && json_object_object_get_ex(r, "value", &v))
		json_object_object_add(res, "value", json_object_get(v));
	else
		json_object_object_add(res, "value", NULL);
	if (r && json_object_object_get_ex(r, "unserializableValue", &v))
		json_object_object_add(res, "unserializable",
				       ops_str_member(r, "unserializableValue"));
	browser_op_done(op, res);
}

/* --- browser.tabs ------------------------------------------------------------------------------- */

static void tabs_start(struct browser_op *op)
{
	browser_cmd(op, 1, "Target.getTargets", NULL, 0);
}

static void tabs_reply(struct browser_op *op, int tag, const struct browser_cdp_msg *m)
{
	struct json_object *v, *res, *arr;
	size_t i, n = 0;

	(void)tag;
	if (browser_ops_cdp_failed(op, m, "listing the tabs"))
		return;
	res = json_object_new_object();
	arr = json_object_new_array();
	if (!res || !arr) {
		json_object_put(res);
		json_object_put(arr);
		browser_op_fail(op, "ENOMEM", "out of memory");
		return;
	}
	if (json_object_object_get_ex(m->result, "targetInfos", &v) &&
	    json_object_is_type(v, json_type_array))
		n = json_object_array_length(v);
	for (i = 0; i < n && i < 1000; i++) {
		struct json_object *t = json_object_array_get_idx(v, i), *o;
		const char *type = browser_cdp_str(t, "type"),
			   *tid = browser_cdp_str(t, "targetId");

		if (!type || strcmp(type, "page") != 0 || !(o = json_object_new_object()))
			continue;
		json_object_object_add(o, "target_id", ops_str_member(t, "targetId"));
		json_object_object_add(o, "url", ops_str_member(t, "url"));
		json_object_object_add(o, "title", ops_str_member(t, "title"));
		json_object_object_add(
			o, "current",
			json_object_new_boolean(tid && strcmp(tid, op->s->target_id) == 0));
		json_object_array_add(arr, o);
	}
	json_object_object_add(res, "tabs", arr);
	browser_op_done(op, res);
}

/* --- the table ---------------------------------------------------------------------------------- */

static const struct browser_op_kind ops_open = { .start = open_start, .reply = open_reply };
static const struct browser_op_kind ops_navigate = { .start = navigate_start,
						     .reply = navigate_reply,
						     .wake = navigate_wake };
static const struct browser_op_kind ops_back = { .start = back_start, .reply = back_reply };
static const struct browser_op_kind ops_snapshot = { .start = snapshot_start,
						     .reply = snapshot_reply };
static const struct browser_op_kind ops_shot = { .start = shot_start, .reply = shot_reply };
static const struct browser_op_kind ops_eval = { .start = eval_start, .reply = eval_reply };
static const struct browser_op_kind ops_tabs = { .start = tabs_start, .reply = tabs_reply };

const struct browser_op_kind *browser_ops_kind(int kind)
{
	switch (kind) {
	case AGENT_OP_BROWSER_OPEN:
		return &ops_open;
	case AGENT_OP_BROWSER_NAVIGATE:
		return &ops_navigate;
	case AGENT_OP_BROWSER_BACK:
		return &ops_back;
	case AGENT_OP_BROWSER_SNAPSHOT:
		return &ops_snapshot;
	case AGENT_OP_BROWSER_SCREENSHOT:
		return &ops_shot;
	case AGENT_OP_BROWSER_EVALUATE:
		return &ops_eval;
	case AGENT_OP_BROWSER_TABS:
		return &ops_tabs;
	default:
		return browser_act_kind(kind);
	}
}
