/* Fuzz the MCP server's message handling: the input is lines of JSON-RPC
 * from a hostile client, with lines starting "A " being what a hostile agent
 * answers to the next request the server sends (a fake backend stands in
 * for sandboxes). The first byte picks the policy and whether the agent
 * offers a browser. Every reply must be one line of JSON, a JSON-RPC 2.0
 * object, and the session must end with every sandbox destroyed. */
#include <json-c/json.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "host/mcp/mcp_policy.h"
#include "host/mcp/mcp_server.h"
#include "tests/unit/test_mcp_fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake_ctx fuzz_fake;

/* Records must serialise to JSON: no NaN or Infinity anywhere. */
static void fuzz_check_finite(struct json_object *o, int depth)
{
	if (depth > 64)
		abort();
	if (json_object_is_type(o, json_type_double) && !isfinite(json_object_get_double(o)))
		abort();
	if (json_object_is_type(o, json_type_array))
		for (size_t i = 0; i < json_object_array_length(o); i++)
			fuzz_check_finite(json_object_array_get_idx(o, i), depth + 1);
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			(void)k;
			fuzz_check_finite(v, depth + 1);
		}
	}
}

static void fuzz_audit(void *arg, struct json_object *rec)
{
	(void)arg;
	fuzz_check_finite(rec, 0);
}

static void fuzz_check_reply(const char *reply, size_t len)
{
	struct json_object *o, *v;

	if (memchr(reply, '\n', len))
		abort();
	o = json_tokener_parse(reply);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "jsonrpc", &v) ||
	    strcmp(json_object_get_string(v), "2.0") != 0 ||
	    !json_object_object_get_ex(o, "id", NULL) ||
	    (json_object_object_get_ex(o, "result", NULL) ==
	     json_object_object_get_ex(o, "error", NULL)))
		abort();
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pol_eval[] = "{\"allowed_domains\":[\"example.com\",\"127.0.0.1\"],"
				       "\"browser\":{\"evaluate\":true},\"limits\":{"
				       "\"output_cap_bytes\":1024,\"max_sandboxes\":2}}";
	struct mcp_server_config cfg = { .ops = &fake_ops,
					 .ops_ctx = &fuzz_fake,
					 .audit = fuzz_audit };
	struct mcp_policy *p = NULL;
	struct mcp_server *s = NULL;
	const char *in = (const char *)data, *end = in + size;
	char err[256];

	if (size < 1 || size > (1u << 20))
		return 0;
	log_set_level(LOG_ERR);
	memset(&fuzz_fake, 0, sizeof(fuzz_fake));
	fuzz_fake.browser = data[0] & 1;
	if (data[0] & 2)
		mcp_policy_parse(pol_eval, sizeof(pol_eval) - 1, &p, err, sizeof(err));
	else
		mcp_policy_new_default(&p);
	if (!p)
		abort();
	cfg.policy = p;
	if (mcp_server_new(&cfg, &s) < 0)
		abort();
	in++;
	while (in < end) {
		const char *nl = memchr(in, '\n', (size_t)(end - in));
		size_t len = nl ? (size_t)(nl - in) : (size_t)(end - in);

		if (len >= 2 && in[0] == 'A' && in[1] == ' ') {
			struct json_tokener *tok = json_tokener_new();
			struct json_object *o = json_tokener_parse_ex(tok, in + 2, (int)(len - 2));
			json_tokener_free(tok);
			if (o && json_object_is_type(o, json_type_object))
				fake_queue_reply(&fuzz_fake, o);
			else
				json_object_put(o);
		} else if (len == 1 && in[0] == 'X') {
			mcp_server_expire(s, INT64_MAX);
		} else {
			char *reply = NULL;
			size_t rlen = 0;
			if (mcp_server_handle_line(s, in, len, &reply, &rlen) < 0)
				abort();
			if (reply)
				fuzz_check_reply(reply, rlen);
			free(reply);
		}
		in += len + (nl ? 1 : 0);
	}
	mcp_server_free(s);
	if (fuzz_fake.live != 0)
		abort();
	fake_ctx_clear(&fuzz_fake);
	mcp_policy_free(p);
	return 0;
}
