/* libFuzzer target: what Chromium sends the agent is hostile input too.
 *
 * The first byte picks what is fed the rest of the input:
 *   0  the NUL-delimited stream splitter and the message parser, with a small
 *      size limit so that oversized messages are dropped too;
 *   1  the accessibility-tree renderer (the input as JSON, the second byte
 *      scaling the size limit); its output must be valid UTF-8;
 *   2  the key-name parser of browser.press;
 *   3+ a browser session without a browser: the second byte picks a request
 *      (navigate, snapshot, click, fill, ...), queued on the session; the rest
 *      is what "Chromium" answers, fed in two pieces; then every timer expires
 *      and the session is freed. Sessions start at command id 1. */
#include "common/json_util.h"
#include "guest-agent/browser_act.h"
#include "guest-agent/browser_ax.h"
#include "guest-agent/browser_cdp.h"
#include "guest-agent/browser_session.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_stream(const uint8_t *data, size_t size)
{
	struct browser_cdp_rx rx;
	const char *text;
	size_t len, half = size / 2;
	int64_t id;
	int r;

	browser_cdp_rx_init(&rx, 4096);
	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *p = pass ? data + half : data;
		size_t n = pass ? size - half : half;

		if (browser_cdp_rx_append(&rx, p, n) < 0)
			break;
		while ((r = browser_cdp_rx_next(&rx, &text, &len, &id)) != 0) {
			struct json_object *root;
			struct browser_cdp_msg m;

			if (r != BROWSER_CDP_RX_MSG)
				continue;
			browser_cdp_peek_id(text, len);
			if (browser_cdp_parse(text, len, &root, &m) == 0) {
				if (m.kind == BROWSER_CDP_EVENT && !m.method)
					abort();
				if (m.kind == BROWSER_CDP_RESPONSE && !m.has_error && !m.result)
					abort();
				json_object_put(root);
			}
		}
	}
	browser_cdp_rx_free(&rx);
}

static void fuzz_ax(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *o;
	struct browser_ax_out out;
	size_t max = size ? (size_t)data[0] * 16 : 0;

	if (!tok)
		return;
	o = size > 1 ? json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1)) : NULL;
	json_tokener_free(tok);
	if (!o)
		return;
	if (browser_ax_render(o, max, &out) == 0) {
		if (!out.text || strlen(out.text) != out.len ||
		    !json_util_utf8_valid(out.text, out.len))
			abort();
		browser_ax_out_free(&out);
	}
	json_object_put(o);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
	char spec[80];
	struct browser_key k;
	size_t n = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;

	memcpy(spec, data, n);
	spec[n] = '\0';
	if (browser_act_parse_key(spec, &k) == 0 &&
	    (!memchr(k.key, '\0', sizeof(k.key)) || !memchr(k.text, '\0', sizeof(k.text))))
		abort();
}

static const char *const fuzz_requests[] = {
	"{\"id\":1,\"op\":\"browser.navigate\",\"session\":\"f\",\"url\":\"http://a/\"}",
	"{\"id\":1,\"op\":\"browser.navigate\",\"session\":\"f\",\"url\":\"http://a/\","
	"\"wait_until\":\"commit\"}",
	"{\"id\":1,\"op\":\"browser.snapshot\",\"session\":\"f\",\"max_chars\":200}",
	"{\"id\":1,\"op\":\"browser.click\",\"session\":\"f\",\"ref\":\"e5\"}",
	"{\"id\":1,\"op\":\"browser.click\",\"session\":\"f\",\"selector\":\"#x\"}",
	"{\"id\":1,\"op\":\"browser.fill\",\"session\":\"f\",\"ref\":\"e5\",\"value\":\"v\"}",
	"{\"id\":1,\"op\":\"browser.select\",\"session\":\"f\",\"selector\":\"s\","
	"\"values\":[\"a\",\"b\"]}",
	"{\"id\":1,\"op\":\"browser.press\",\"session\":\"f\",\"key\":\"Enter\"}",
	"{\"id\":1,\"op\":\"browser.press\",\"session\":\"f\",\"ref\":\"e5\","
	"\"key\":\"Control+Shift+a\"}",
	"{\"id\":1,\"op\":\"browser.screenshot\",\"session\":\"f\"}",
	"{\"id\":1,\"op\":\"browser.screenshot\",\"session\":\"f\",\"full_page\":true}",
	"{\"id\":1,\"op\":\"browser.evaluate\",\"session\":\"f\",\"expression\":\"1\"}",
	"{\"id\":1,\"op\":\"browser.back\",\"session\":\"f\"}",
	"{\"id\":1,\"op\":\"browser.tabs\",\"session\":\"f\"}",
	"{\"id\":1,\"op\":\"browser.close\",\"session\":\"f\"}",
};

static void fuzz_session(const uint8_t *data, size_t size)
{
	static const uint32_t refs[] = { 1, 2, 3, 5, 8, 13 };
	struct browser_session *s;
	struct json_object *req;
	size_t pick, half;

	if (size < 1)
		return;
	pick = data[0] % (sizeof(fuzz_requests) / sizeof(fuzz_requests[0]) + 1);
	data++;
	size--;
	s = browser_session_new_detached("f", 1);
	if (!s)
		return;
	browser_session_add_refs(s, refs, sizeof(refs) / sizeof(refs[0]));
	if (pick == sizeof(fuzz_requests) / sizeof(fuzz_requests[0])) {
		/* Two queued at once: navigate, then snapshot. */
		req = json_tokener_parse(fuzz_requests[0]);
		browser_session_submit(s, req);
		json_object_put(req);
		req = json_tokener_parse(fuzz_requests[2]);
	} else {
		req = json_tokener_parse(fuzz_requests[pick]);
	}
	browser_session_submit(s, req);
	json_object_put(req);
	half = size / 2;
	browser_session_feed(s, data, half);
	browser_session_feed(s, data + half, size - half);
	browser_session_expire(s);
	browser_session_free_detached(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		fuzz_stream(data + 1, size - 1);
		break;
	case 1:
		fuzz_ax(data + 1, size - 1);
		break;
	case 2:
		fuzz_key(data + 1, size - 1);
		break;
	default:
		fuzz_session(data + 1, size - 1);
		break;
	}
	return 0;
}
