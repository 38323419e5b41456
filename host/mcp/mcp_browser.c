/* The browser tools: a headless Chromium inside the sandbox, driven through
 * the agent's browser.* operations (one browser session per sandbox, opened
 * on first use). Everything the page says reaches the model wrapped as
 * untrusted web content (host/mcp/mcp_untrusted.h); navigations are checked
 * against the policy's domains before they are sent (the egress proxy checks
 * every connection again, redirects included). */
#include "host/mcp/mcp_tools.h"

#include "common/base64.h"
#include "common/json_util.h"
#include "host/mcp/mcp_policy.h"
#include "host/mcp/mcp_untrusted.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MCP_BROWSER_TIMEOUT_MS 30000
/* Past the browser's own timeout, how long the agent gets to answer. */
#define MCP_BROWSER_GRACE_MS	 15000
#define MCP_BROWSER_SNAPSHOT_MAX (256u << 10)
#define MCP_BROWSER_SESSION	 "mcp"
#define MCP_BROWSER_UNAVAILABLE	 "browser support is not available in this sandbox image"
#define MCP_HOST_MAX		 300

int mcp_browser_url_host(const char *url, char *out, size_t len, char *why, size_t why_len)
{
	static const char *const local[] = { "about:", "data:", "file:" };
	const char *p, *end, *at, *h, *he;
	size_t n;

	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			snprintf(why, why_len, "the URL contains spaces or control characters");
			return -EINVAL;
		}
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (strncasecmp(url, local[i], strlen(local[i])) == 0)
			return 0;
	if (strncasecmp(url, "http:", 5) == 0)
		p = url + 5;
	else if (strncasecmp(url, "https:", 6) == 0)
		p = url + 6;
	else {
		snprintf(why, why_len, "only http, https, about, data and file URLs can be opened");
		return -EINVAL;
	}
	while (*p == '/' || *p == '\\')
		p++;
	end = p + strcspn(p, "/\\?#");
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	h = at ? at + 1 : p;
	if (h < end && *h == '[') {
		he = memchr(h, ']', (size_t)(end - h));
		if (!he) {
			snprintf(why, why_len, "the URL's IPv6 address has no closing ']'");
			return -EINVAL;
		}
		h++;
	} else {
		he = h;
		while (he < end && *he != ':')
			he++;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= len || n >= MCP_HOST_MAX) {
		snprintf(why, why_len, "the URL has no valid host");
		return -EINVAL;
	}
	if (memchr(h, '%', n)) {
		snprintf(why, why_len, "the URL's host is percent-encoded; write it plainly");
		return -EINVAL;
	}
	memcpy(out, h, n);
	out[n] = '\0';
	return 1;
}

/* A string member of the agent's result, trying several names. */
static const char *mcp_browser_str(struct json_object *res, const char *const *names, size_t *len)
{
	struct json_object *v;

	for (; *names; names++)
		if (json_object_object_get_ex(res, *names, &v) &&
		    json_object_is_type(v, json_type_string)) {
			if (len)
				*len = (size_t)json_object_get_string_len(v);
			return json_object_get_string(v);
		}
	return NULL;
}

static const char *const mcp_browser_url_keys[] = { "url", NULL };
static const char *const mcp_browser_title_keys[] = { "title", NULL };

/* Add text that came from the page, wrapped. */
static int mcp_browser_untrusted(struct mcp_call *c, const char *kind, const char *source,
				 const char *text, size_t len)
{
	char *w;
	size_t wl;
	int r = mcp_untrusted_wrap(kind, source, text, len, &w, &wl);

	if (r < 0)
		return r;
	r = mcp_call_text(c, w, wl);
	free(w);
	return r;
}

static struct json_object *mcp_browser_req(const char *op)
{
	struct json_object *req = json_object_new_object();

	if (req)
		json_object_object_add(req, "op", json_object_new_string(op));
	return req;
}

/* The text of the result so far (malloc'd, or NULL), which is then emptied:
 * to say an agent's error in our own words. */
static char *mcp_browser_take_text(struct mcp_call *c)
{
	size_t n = json_object_array_length(c->content);
	struct json_object *t = NULL;
	char *s = NULL;

	if (n &&
	    json_object_object_get_ex(json_object_array_get_idx(c->content, n - 1), "text", &t))
		s = strdup(json_object_get_string(t));
	json_object_array_del_idx(c->content, 0, n);
	c->is_error = 0;
	return s;
}

/* Open our browser session in sb (a no-op when it is open). */
static int mcp_browser_open(struct mcp_call *c, struct mcp_sb *sb)
{
	struct json_object *req, *res = NULL;
	char code[32], *msg;
	int r;

	if (sb->browser_open)
		return 0;
	req = mcp_browser_req("browser.open");
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "session", json_object_new_string(MCP_BROWSER_SESSION));
	json_object_object_add(req, "allow_evaluate",
			       json_object_new_boolean(c->s->cfg.policy->allow_evaluate));
	r = mcp_sb_call(c, sb, req, MCP_BROWSER_TIMEOUT_MS + MCP_BROWSER_GRACE_MS, NULL, NULL, &res,
			code, sizeof(code));
	json_object_put(req);
	json_object_put(res);
	if (r == -EREMOTEIO && strcmp(code, "EEXIST") == 0) {
		/* Our session is open already (the agent kept it): use it. */
		free(mcp_browser_take_text(c));
		r = 0;
	} else if (r == -EREMOTEIO) {
		msg = mcp_browser_take_text(c);
		if (strcmp(code, "EUNKNOWNOP") == 0)
			/* An agent without the browser ops. */
			mcp_call_fail(c, MCP_BROWSER_UNAVAILABLE
				      " (its agent has no browser operations)");
		else if (strcmp(code, "ENOENT") == 0)
			mcp_call_fail(c, MCP_BROWSER_UNAVAILABLE ": %s", msg ? msg : "");
		else
			mcp_call_fail(c, "could not start the browser: %s", msg ? msg : code);
		free(msg);
	}
	if (r < 0)
		return r;
	sb->browser_open = 1;
	return 0;
}

/* The sandbox for a browser call, with our browser session open in it. */
static int mcp_browser_session(struct mcp_call *c, struct mcp_sb **out)
{
	struct mcp_sb *sb;
	int r;

	*out = NULL;
	r = mcp_sb_for_call(c, &sb);
	if (r < 0)
		return r;
	r = mcp_browser_open(c, sb);
	if (r < 0)
		return r;
	*out = sb;
	return 0;
}

/* Send a browser op on the sandbox's session. On success *res is its result. */
static int mcp_browser_op(struct mcp_call *c, struct mcp_sb *sb, struct json_object *req,
			  struct json_object **res)
{
	char code[32];
	int r;

	json_object_object_add(req, "session", json_object_new_string(MCP_BROWSER_SESSION));
	r = mcp_sb_call(c, sb, req, MCP_BROWSER_TIMEOUT_MS + MCP_BROWSER_GRACE_MS, NULL, NULL, res,
			code, sizeof(code));
	if (r == -EREMOTEIO && strcmp(code, "ENOSESSION") == 0) {
		/* The agent lost our session (closed behind our back): open a
		 * new browser and try once more. */
		free(mcp_browser_take_text(c));
		sb->browser_open = 0;
		r = mcp_browser_open(c, sb);
		if (r < 0)
			return r;
		r = mcp_sb_call(c, sb, req, MCP_BROWSER_TIMEOUT_MS + MCP_BROWSER_GRACE_MS, NULL,
				NULL, res, code, sizeof(code));
	}
	if (r == 0) {
		/* Remember where the page is, to label later results. */
		const char *url = mcp_browser_str(*res, mcp_browser_url_keys, NULL);
		if (url && strlen(url) < 8192) {
			free(sb->page_url);
			sb->page_url = strdup(url);
		}
	}
	/* A browser that died: the next call opens a new one. */
	if (r == -EREMOTEIO && (strcmp(code, "EBROWSER") == 0 || strcmp(code, "ENOSESSION") == 0))
		sb->browser_open = 0;
	return r;
}

/* Copy the element arguments (exactly one of ref and selector). */
static int mcp_browser_element(struct mcp_call *c, struct json_object *req)
{
	const char *ref = mcp_arg_str(c, "ref"), *sel = mcp_arg_str(c, "selector");

	if (!!ref == !!sel)
		return mcp_call_invalid(c, "give exactly one of 'ref' (from browser_snapshot) and "
					   "'selector' (CSS)");
	json_object_object_add(req, ref ? "ref" : "selector",
			       json_object_new_string(ref ? ref : sel));
	return 0;
}

/* What an action's result says about where the page is now (wrapped: the
 * title is the page's). */
static int mcp_browser_where(struct mcp_call *c, struct json_object *res, const char *fallback)
{
	const char *url = mcp_browser_str(res, mcp_browser_url_keys, NULL);
	size_t tl = 0;
	const char *title = mcp_browser_str(res, mcp_browser_title_keys, &tl);
	char *line = NULL;
	int r, n;

	if (!url)
		url = fallback;
	if (!title)
		return url ? mcp_call_printf(c, "page: %s", url) : 0;
	n = asprintf(&line, "title: %.*s", (int)(tl > 4096 ? 4096 : tl), title);
	if (n < 0)
		return -ENOMEM;
	r = mcp_browser_untrusted(c, "page title", url, line, (size_t)n);
	free(line);
	return r;
}

static int mcp_tool_browser_navigate(struct mcp_call *c)
{
	const char *url = mcp_arg_str(c, "url");
	struct json_object *req, *res = NULL, *v;
	char host[MCP_HOST_MAX], why[512];
	struct mcp_sb *sb;
	int r;

	r = mcp_browser_url_host(url, host, sizeof(host), why, sizeof(why));
	if (r < 0)
		return mcp_call_fail(c, "navigation blocked: %s", why), 0;
	if (r > 0 && !mcp_policy_host_allowed(c->s->cfg.policy, host, why, sizeof(why)))
		return mcp_call_fail(c, "navigation blocked by the policy: %s", why), 0;
	if (mcp_browser_session(c, &sb) < 0)
		return 0;
	req = mcp_browser_req("browser.navigate");
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "url", json_object_new_string(url));
	json_object_object_add(req, "timeout_ms", json_object_new_int(MCP_BROWSER_TIMEOUT_MS));
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	if (r < 0)
		return 0;
	if (json_object_object_get_ex(res, "status", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int(v) > 0)
		r = mcp_call_printf(c, "navigated to %s (HTTP %d)",
				    mcp_browser_str(res, mcp_browser_url_keys, NULL) ?: url,
				    json_object_get_int(v));
	else
		r = mcp_call_printf(c, "navigated to %s",
				    mcp_browser_str(res, mcp_browser_url_keys, NULL) ?: url);
	if (r == 0)
		r = mcp_browser_where(c, res, url);
	json_object_put(res);
	return r;
}

static int mcp_tool_browser_snapshot(struct mcp_call *c)
{
	static const char *const text_keys[] = { "snapshot", "text", "tree", NULL };
	struct json_object *req, *res = NULL, *v;
	const char *text, *url, *title;
	struct mcp_sb *sb;
	size_t len = 0, tlen = 0;
	char *all = NULL;
	int r, n;

	if (mcp_browser_session(c, &sb) < 0)
		return 0;
	req = mcp_browser_req("browser.snapshot");
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "max_chars", json_object_new_int(MCP_BROWSER_SNAPSHOT_MAX));
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	if (r < 0)
		return 0;
	text = mcp_browser_str(res, text_keys, &len);
	url = mcp_browser_str(res, mcp_browser_url_keys, NULL);
	title = mcp_browser_str(res, mcp_browser_title_keys, &tlen);
	if (!text) {
		json_object_put(res);
		return mcp_call_fail(c, "the agent's snapshot had no text"), 0;
	}
	if (len > MCP_BROWSER_SNAPSHOT_MAX)
		len = MCP_BROWSER_SNAPSHOT_MAX;
	if (tlen > 4096)
		tlen = 4096;
	/* Title and tree in one block: both are the page's words. */
	n = asprintf(&all, "title: %.*s\n%.*s", (int)tlen, title ? title : "", (int)len, text);
	if (n < 0) {
		json_object_put(res);
		return -ENOMEM;
	}
	r = mcp_browser_untrusted(
		c,
		"page snapshot (the title, then the accessibility tree; [ref=eN] "
		"names elements for browser_click, browser_fill and browser_press)",
		url, all, (size_t)n);
	free(all);
	if (r == 0 && json_object_object_get_ex(res, "truncated", &v) && json_object_get_boolean(v))
		r = mcp_call_printf(c, "[the snapshot was cut at %u characters]",
				    MCP_BROWSER_SNAPSHOT_MAX);
	json_object_put(res);
	return r;
}

static int mcp_browser_action(struct mcp_call *c, const char *op, const char *done)
{
	struct json_object *req, *res = NULL;
	const char *value = mcp_arg_str(c, "value"), *key = mcp_arg_str(c, "key");
	struct mcp_sb *sb;
	int r;

	req = mcp_browser_req(op);
	if (!req)
		return -ENOMEM;
	if (strcmp(op, "browser.press") != 0 || mcp_arg_str(c, "ref") ||
	    mcp_arg_str(c, "selector")) {
		r = mcp_browser_element(c, req);
		if (r < 0) {
			json_object_put(req);
			return r;
		}
	}
	if (value)
		json_object_object_add(req, "value", json_object_new_string(value));
	if (key)
		json_object_object_add(req, "key", json_object_new_string(key));
	if (mcp_browser_session(c, &sb) < 0) {
		json_object_put(req);
		return 0;
	}
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	if (r < 0)
		return 0;
	r = mcp_call_printf(c, "%s", done);
	if (r == 0)
		r = mcp_browser_where(c, res, NULL);
	json_object_put(res);
	return r;
}

static int mcp_tool_browser_click(struct mcp_call *c)
{
	return mcp_browser_action(c, "browser.click", "clicked");
}

static int mcp_tool_browser_fill(struct mcp_call *c)
{
	return mcp_browser_action(c, "browser.fill", "filled");
}

static int mcp_tool_browser_press(struct mcp_call *c)
{
	return mcp_browser_action(c, "browser.press", "pressed");
}

static int mcp_tool_browser_screenshot(struct mcp_call *c)
{
	static const char *const data_keys[] = { "data", "png", "image", NULL };
	struct json_object *req, *res = NULL;
	const char *b64;
	unsigned char *png = NULL;
	size_t len = 0, plen = 0;
	struct mcp_sb *sb;
	int r;

	if (mcp_browser_session(c, &sb) < 0)
		return 0;
	req = mcp_browser_req("browser.screenshot");
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "full_page",
			       json_object_new_boolean(mcp_arg_bool(c, "full_page", 0)));
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	if (r < 0)
		return 0;
	b64 = mcp_browser_str(res, data_keys, &len);
	/* Check the data really is a PNG before handing it to the client. */
	if (!b64 || base64_decode(b64, len, &png, &plen) < 0 || plen < 8 ||
	    memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0) {
		free(png);
		json_object_put(res);
		return mcp_call_fail(c, "the agent's screenshot was not a PNG image"), 0;
	}
	free(png);
	r = mcp_call_image(c, b64, len, "image/png");
	json_object_put(res);
	return r;
}

static int mcp_tool_browser_close(struct mcp_call *c)
{
	struct json_object *req, *res = NULL;
	struct mcp_sb *sb;
	int r;

	r = mcp_sb_for_call(c, &sb);
	if (r < 0)
		return 0;
	if (!sb->browser_open)
		return mcp_call_printf(c, "no browser is open in sandbox %s", sb->id);
	req = mcp_browser_req("browser.close");
	if (!req)
		return -ENOMEM;
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	json_object_put(res);
	sb->browser_open = 0;
	free(sb->page_url);
	sb->page_url = NULL;
	if (r < 0)
		return 0;
	return mcp_call_printf(c, "browser closed");
}

static int mcp_tool_browser_evaluate(struct mcp_call *c)
{
	struct json_object *req, *res = NULL, *v;
	const char *text, *url;
	struct mcp_sb *sb;
	int r;

	if (mcp_browser_session(c, &sb) < 0)
		return 0;
	req = mcp_browser_req("browser.evaluate");
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "expression",
			       json_object_new_string(mcp_arg_str(c, "expression")));
	r = mcp_browser_op(c, sb, req, &res);
	json_object_put(req);
	if (r < 0)
		return 0;
	url = mcp_browser_str(res, mcp_browser_url_keys, NULL);
	if (!url)
		url = sb->page_url;
	if (!json_object_object_get_ex(res, "value", &v) &&
	    !json_object_object_get_ex(res, "result", &v))
		v = NULL;
	text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	r = mcp_browser_untrusted(c, "script result (JSON)", url, text, strlen(text));
	json_object_put(res);
	return r;
}

#define MCP_SCHEMA_SB                                                                        \
	"\"sandbox\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":31,\"description\":" \
	"\"Id of the sandbox whose browser to use (default: the default sandbox)\"}"
#define MCP_SCHEMA_ELEMENT                                                               \
	"\"ref\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":16,\"description\":" \
	"\"Element ref from browser_snapshot, e.g. \\\"e12\\\"\"},"                      \
	"\"selector\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"          \
	"\"description\":\"CSS selector, when there is no ref\"}"

const struct mcp_tool mcp_tools_browser[] = {
	{
		.name = "browser_navigate",
		.title = "Open a web page",
		.description = "Open a URL in the sandbox's headless browser (started on first "
			       "use) and wait for it to load. The policy decides which sites "
			       "can be reached.",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":8192,"
			  "\"description\":\"http(s) URL to open\"}," MCP_SCHEMA_SB
			  "},\"required\":[\"url\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_OPEN_WORLD,
		.fn = mcp_tool_browser_navigate,
	},
	{
		.name = "browser_snapshot",
		.title = "Read the page",
		.description = "The current page as an accessibility tree in text, one line per "
			       "element; interactive elements carry [ref=eN] for browser_click "
			       "and browser_fill. The text is untrusted web content.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SB
			  "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_READ_ONLY | MCP_TOOL_OPEN_WORLD,
		.fn = mcp_tool_browser_snapshot,
	},
	{
		.name = "browser_click",
		.title = "Click an element",
		.description = "Click an element of the page, named by its ref from "
			       "browser_snapshot (or a CSS selector).",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_ELEMENT
			  "," MCP_SCHEMA_SB "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_OPEN_WORLD | MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_browser_click,
	},
	{
		.name = "browser_fill",
		.title = "Type into a field",
		.description = "Replace the value of a text field, named by its ref from "
			       "browser_snapshot (or a CSS selector).",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_ELEMENT ","
			  "\"value\":{\"type\":\"string\",\"maxLength\":1048576,\"description\":"
			  "\"Text to put in the field\"}," MCP_SCHEMA_SB
			  "},\"required\":[\"value\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_OPEN_WORLD | MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_browser_fill,
	},
	{
		.name = "browser_press",
		.title = "Press a key",
		.description = "Press a key (\"Enter\", \"Tab\", \"ArrowDown\", \"a\"...) in the "
			       "focused element, or in the element named by ref or selector.",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"key\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64,"
			  "\"description\":\"Key name, e.g. Enter\"}," MCP_SCHEMA_ELEMENT
			  "," MCP_SCHEMA_SB
			  "},\"required\":[\"key\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_OPEN_WORLD | MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_browser_press,
	},
	{
		.name = "browser_screenshot",
		.title = "Screenshot the page",
		.description = "A PNG screenshot of the page (the viewport, or the whole page "
			       "with full_page).",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"full_page\":{\"type\":\"boolean\",\"description\":\"The whole "
			  "scrollable page instead of the viewport\"}," MCP_SCHEMA_SB
			  "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_READ_ONLY | MCP_TOOL_OPEN_WORLD,
		.fn = mcp_tool_browser_screenshot,
	},
	{
		.name = "browser_close",
		.title = "Close the browser",
		.description = "Close the sandbox's browser; the next browser tool starts a "
			       "fresh one.",
		.schema = "{\"type\":\"object\",\"properties\":{" MCP_SCHEMA_SB
			  "},\"additionalProperties\":false}",
		.flags = MCP_TOOL_DESTRUCTIVE,
		.fn = mcp_tool_browser_close,
	},
	{
		.name = "browser_evaluate",
		.title = "Run JavaScript in the page",
		.description = "Evaluate a JavaScript expression in the page and return its "
			       "value as JSON (untrusted web content).",
		.schema = "{\"type\":\"object\",\"properties\":{"
			  "\"expression\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":"
			  "1048576,\"description\":\"JavaScript expression\"}," MCP_SCHEMA_SB
			  "},\"required\":[\"expression\"],\"additionalProperties\":false}",
		.flags = MCP_TOOL_OPEN_WORLD | MCP_TOOL_DESTRUCTIVE | MCP_TOOL_EVALUATE,
		.fn = mcp_tool_browser_evaluate,
	},
};
const size_t mcp_tools_browser_count = sizeof(mcp_tools_browser) / sizeof(mcp_tools_browser[0]);
