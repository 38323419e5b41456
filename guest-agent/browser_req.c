#include "guest-agent/browser_req.h"

#include "guest-agent/agent_error.h"
#include "guest-agent/agent_proto.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int req_bad(struct agent_error *err, const char *field, const char *what)
{
	agent_error_set(err, "EBADREQ", field, "\"%s\" %s", field, what);
	return -1;
}

static struct json_object *req_member(struct json_object *msg, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(msg, key, &v))
		return NULL;
	return v;
}

int browser_req_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > BROWSER_SESSION_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

int browser_req_parse_ref(const char *s, uint64_t *node)
{
	uint64_t v = 0;
	size_t i;

	if (!s || s[0] != 'e' || !s[1])
		return -EINVAL;
	for (i = 1; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i > 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0 || v > 0x7fffffff || (s[1] == '0'))
		return -EINVAL;
	*node = v;
	return 0;
}

/* A string member that may be empty (but holds no NUL), up to maxlen bytes. */
static int req_get_text(struct json_object *msg, const char *key, int required, size_t maxlen,
			const char **out, size_t *len, struct agent_error *err)
{
	struct json_object *v = req_member(msg, key);
	size_t n;

	*out = NULL;
	if (!v)
		return required ? req_bad(err, key, "is required") : 0;
	if (!json_object_is_type(v, json_type_string))
		return req_bad(err, key, "must be a string");
	n = (size_t)json_object_get_string_len(v);
	if (n > maxlen)
		return req_bad(err, key, "is too long");
	*out = json_object_get_string(v);
	if (memchr(*out, '\0', n))
		return req_bad(err, key, "must not contain NUL");
	if (len)
		*len = n;
	return 0;
}

/* Control characters have no place in a URL or a proxy address. */
static int req_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* The schemes a navigation may use. "javascript:" would run code in the
 * page without browser.evaluate's permission; chrome: and devtools: reach
 * the browser's own pages. */
static int req_url_allowed(const char *url)
{
	static const char *const schemes[] = { "http:", "https:", "about:", "data:", "file:" };
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
			return 1;
	return 0;
}

/* scheme://host:port with a scheme Chromium takes for --proxy-server. */
static int req_proxy_valid(const char *p)
{
	static const char *const schemes[] = { "http://", "https://", "socks4://", "socks5://" };
	const char *host = NULL, *colon;
	char *end;
	long port;
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(p, schemes[i], strlen(schemes[i])) == 0)
			host = p + strlen(schemes[i]);
	if (!host || !*host)
		return 0;
	if (*host == '[') {
		colon = strchr(host, ']');
		if (!colon || colon[1] != ':')
			return 0;
		for (p = host + 1; p < colon; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return 0;
		colon++;
	} else {
		colon = strchr(host, ':');
		if (!colon || colon == host)
			return 0;
		for (p = host; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
				return 0;
	}
	if (!isdigit((unsigned char)colon[1]))
		return 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !errno && !*end && port >= 1 && port <= 65535;
}

static int req_parse_session(struct json_object *msg, int required, struct browser_req *b,
			     struct agent_error *err)
{
	const char *s;
	size_t len = 0;

	if (req_get_text(msg, "session", required, BROWSER_SESSION_NAME_MAX + 1, &s, &len, err) < 0)
		return -1;
	if (s && !browser_req_name_valid(s, len))
		return req_bad(err, "session", "must be 1..64 characters of A-Z a-z 0-9 _ . -");
	b->session = s;
	return 0;
}

/* ref or selector: exactly one when required, at most one otherwise. */
static int req_parse_element(struct json_object *msg, int required, struct browser_req *b,
			     struct agent_error *err)
{
	if (agent_proto_get_string(msg, "ref", 0, 16, &b->ref, err) < 0)
		return -1;
	if (b->ref && browser_req_parse_ref(b->ref, &b->ref_node) < 0)
		return req_bad(err, "ref", "must be a ref from browser.snapshot (\"e12\")");
	if (agent_proto_get_string(msg, "selector", 0, BROWSER_SELECTOR_MAX, &b->selector, err) < 0)
		return -1;
	if (b->ref && b->selector)
		return req_bad(err, "selector", "cannot be combined with \"ref\"");
	if (required && !b->ref && !b->selector)
		return req_bad(err, "ref", "or \"selector\" is required");
	return 0;
}

static int req_parse_open(struct json_object *msg, struct browser_req *b, struct agent_error *err)
{
	struct json_object *vp = req_member(msg, "viewport");
	uint64_t w = 0, h = 0;
	int pw = 0, ph = 0;

	if (vp) {
		if (!json_object_is_type(vp, json_type_object))
			return req_bad(err, "viewport", "must be an object {width, height}");
		if (agent_proto_get_uint(vp, "width", BROWSER_VIEWPORT_MAX, &w, &pw, err) < 0 ||
		    agent_proto_get_uint(vp, "height", BROWSER_VIEWPORT_MAX, &h, &ph, err) < 0)
			return -1;
		if (!pw || !ph || w < BROWSER_VIEWPORT_MIN || h < BROWSER_VIEWPORT_MIN)
			return req_bad(err, "viewport", "needs width and height of 64..8192");
		b->width = (unsigned)w;
		b->height = (unsigned)h;
	}
	if (agent_proto_get_string(msg, "proxy", 0, BROWSER_PROXY_MAX, &b->proxy, err) < 0)
		return -1;
	if (b->proxy && !req_proxy_valid(b->proxy))
		return req_bad(err, "proxy", "must be http://HOST:PORT (or https, socks4, socks5)");
	if (agent_proto_get_bool(msg, "allow_evaluate", 0, &b->allow_evaluate, err) < 0 ||
	    agent_proto_get_bool(msg, "detached", 0, &b->detached, err) < 0)
		return -1;
	return 0;
}

static int req_parse_wait(struct json_object *msg, struct browser_req *b, struct agent_error *err)
{
	static const struct {
		const char *name;
		enum browser_wait wait;
	} waits[] = {
		{ "load", BROWSER_WAIT_LOAD },
		{ "domcontentloaded", BROWSER_WAIT_DOMCONTENTLOADED },
		{ "networkidle", BROWSER_WAIT_NETWORKIDLE },
		{ "commit", BROWSER_WAIT_COMMIT },
	};
	const char *w;
	size_t i;

	if (agent_proto_get_string(msg, "wait_until", 0, 32, &w, err) < 0)
		return -1;
	b->wait = BROWSER_WAIT_LOAD;
	if (!w)
		return 0;
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		if (strcmp(w, waits[i].name) == 0) {
			b->wait = waits[i].wait;
			return 0;
		}
	return req_bad(err, "wait_until", "must be load, domcontentloaded, networkidle or commit");
}

static int req_parse_values(struct json_object *msg, struct browser_req *b, struct agent_error *err)
{
	struct json_object *v = req_member(msg, "values");
	size_t n, i;

	if (!v)
		return req_bad(err, "values", "is required");
	if (json_object_is_type(v, json_type_string)) {
		n = 1;
	} else if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		if (n > BROWSER_VALUES_MAX)
			return req_bad(err, "values", "has too many entries");
	} else {
		return req_bad(err, "values", "must be a string or an array of strings");
	}
	b->values = calloc(n ? n : 1, sizeof(*b->values));
	if (!b->values) {
		agent_error_set(err, "ENOMEM", "values", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_is_type(v, json_type_array)
						? json_object_array_get_idx(v, i)
						: v;
		size_t len;

		if (!json_object_is_type(e, json_type_string))
			return req_bad(err, "values", "must be a string or an array of strings");
		len = (size_t)json_object_get_string_len(e);
		if (len > BROWSER_SELECTOR_MAX)
			return req_bad(err, "values", "holds a string that is too long");
		if (memchr(json_object_get_string(e), '\0', len))
			return req_bad(err, "values", "must not contain NUL");
		b->values[i] = json_object_get_string(e);
	}
	b->nvalues = n;
	return 0;
}

int browser_req_parse(struct json_object *msg, int op, struct browser_req *b,
		      struct agent_error *err)
{
	uint64_t u = 0;
	int present = 0;

	memset(b, 0, sizeof(*b));
	b->timeout_ms = BROWSER_TIMEOUT_DEFAULT;
	if (agent_proto_get_uint(msg, "timeout_ms", BROWSER_TIMEOUT_MAX, &u, &present, err) < 0)
		return -1;
	if (present && u > 0)
		b->timeout_ms = u;
	if (op == AGENT_OP_BROWSER_LIST)
		return 0;
	if (req_parse_session(msg, op != AGENT_OP_BROWSER_OPEN, b, err) < 0)
		return -1;
	switch (op) {
	case AGENT_OP_BROWSER_OPEN:
		return req_parse_open(msg, b, err);
	case AGENT_OP_BROWSER_NAVIGATE:
		if (req_get_text(msg, "url", 1, BROWSER_URL_MAX, &b->url, NULL, err) < 0)
			return -1;
		if (!b->url[0] || req_has_ctl(b->url))
			return req_bad(err, "url",
				       "must be a non-empty URL without control characters");
		if (!req_url_allowed(b->url))
			return req_bad(err, "url",
				       "must be an http, https, about, data or file URL");
		return req_parse_wait(msg, b, err);
	case AGENT_OP_BROWSER_SNAPSHOT:
		if (agent_proto_get_uint(msg, "max_chars", BROWSER_SNAPSHOT_MAX, &u, &present,
					 err) < 0)
			return -1;
		b->max_chars = present && u > 0 ? u : BROWSER_SNAPSHOT_DEFAULT;
		return 0;
	case AGENT_OP_BROWSER_CLICK:
		return req_parse_element(msg, 1, b, err);
	case AGENT_OP_BROWSER_FILL:
		if (req_parse_element(msg, 1, b, err) < 0)
			return -1;
		return req_get_text(msg, "value", 1, BROWSER_VALUE_MAX, &b->value, &b->value_len,
				    err);
	case AGENT_OP_BROWSER_SELECT:
		if (req_parse_element(msg, 1, b, err) < 0)
			return -1;
		return req_parse_values(msg, b, err);
	case AGENT_OP_BROWSER_PRESS:
		if (req_parse_element(msg, 0, b, err) < 0)
			return -1;
		return agent_proto_get_string(msg, "key", 1, BROWSER_KEY_MAX, &b->key, err);
	case AGENT_OP_BROWSER_SCREENSHOT:
		return agent_proto_get_bool(msg, "full_page", 0, &b->full_page, err);
	case AGENT_OP_BROWSER_EVALUATE:
		if (req_get_text(msg, "expression", 1, BROWSER_EXPRESSION_MAX, &b->expression, NULL,
				 err) < 0)
			return -1;
		if (!b->expression[0])
			return req_bad(err, "expression", "must not be empty");
		return 0;
	default:
		return 0;
	}
}

void browser_req_clear(struct browser_req *b)
{
	free(b->values);
	b->values = NULL;
	b->nvalues = 0;
}
