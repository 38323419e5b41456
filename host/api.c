/* JSON-RPC 2.0 request parsing and checking; see api.h. */
#include "host/api.h"

#include "common/json_util.h"
#include "host/backend.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KiB 1024.0
#define MiB (1024.0 * 1024.0)
#define SBX                                       \
	{                                         \
		"sandbox", API_T_NAME, true, 0, 0 \
	}

const struct api_method api_methods[] = {
	{ "sandbox.create",
	  true,
	  { { "template", API_T_NAME, false, 0, 0 },
	    { "name", API_T_NAME, false, 0, 0 },
	    { "isolation", API_T_ISOLATE, false, 0, 0 },
	    { "limits", API_T_LIMITS, false, 0, 0 },
	    { "metadata", API_T_OBJ, false, 0, 64 * KiB },
	    { "ttl", API_T_NUM, false, 0, 365 * 86400.0 },
	    { "idle_ttl", API_T_NUM, false, 0, 365 * 86400.0 } } },
	{ "sandbox.exec",
	  true,
	  { SBX,
	    { "argv", API_T_STRS, true, 0, 4096 },
	    { "env", API_T_ENV, false, 0, 4096 },
	    { "cwd", API_T_PATH, false, 0, 0 },
	    { "uid", API_T_INT, false, 0, 4294967294.0 },
	    { "stdin", API_T_B64, false, 0, 12 * MiB },
	    { "timeout", API_T_NUM, false, 0, 86400.0 * 7 },
	    { "output_cap", API_T_INT, false, 0, 1024 * MiB },
	    { "stream", API_T_BOOL, false, 0, 0 } } },
	{ "sandbox.read_file",
	  false,
	  { SBX,
	    { "path", API_T_PATH, true, 0, 0 },
	    { "offset", API_T_INT, false, 0, 9007199254740991.0 },
	    { "length", API_T_INT, false, 0, 8 * MiB } } },
	{ "sandbox.write_file",
	  true,
	  { SBX,
	    { "path", API_T_PATH, true, 0, 0 },
	    { "data", API_T_B64, true, 0, 12 * MiB },
	    { "mode", API_T_INT, false, 0, 07777 },
	    { "append", API_T_BOOL, false, 0, 0 },
	    { "offset", API_T_INT, false, 0, 9007199254740991.0 },
	    { "parents", API_T_BOOL, false, 0, 0 } } },
	{ "sandbox.list",
	  false,
	  { SBX, { "path", API_T_PATH, true, 0, 0 }, { "limit", API_T_INT, false, 1, 100000 } } },
	{ "sandbox.stat", false, { SBX, { "path", API_T_PATH, true, 0, 0 } } },
	{ "sandbox.reset", true, { SBX } },
	{ "sandbox.snapshot", true, { SBX, { "template", API_T_NAME, true, 0, 0 } } },
	{ "sandbox.destroy", true, { SBX } },
	{ "sandbox.get", false, { SBX } },
	{ "sandbox.list_all",
	  false,
	  { { "all", API_T_BOOL, false, 0, 0 }, { "stats", API_T_BOOL, false, 0, 0 } } },
	{ "sandbox.logs",
	  false,
	  { SBX, { "agent", API_T_BOOL, false, 0, 0 }, { "tail", API_T_INT, false, 1, 10000 } } },
	{ "template.build",
	  true,
	  { { "name", API_T_NAME, true, 0, 0 },
	    { "image", API_T_STR, false, 0, 1000 },
	    { "kernel", API_T_PATH, false, 0, 0 },
	    { "cmdline", API_T_STR, false, 0, 900 },
	    { "guest", API_T_STR, false, 0, 15 },
	    { "isolation", API_T_ISOLATE, false, 0, 0 },
	    { "limits", API_T_LIMITS, false, 0, 0 },
	    { "pool", API_T_INT, false, 0, 256 } } },
	{ "template.list", false, { { 0 } } },
	{ "template.delete", true, { { "name", API_T_NAME, true, 0, 0 } } },
	{ "audit.tail",
	  false,
	  { { "n", API_T_INT, false, 1, 10000 },
	    { "sandbox", API_T_NAME, false, 0, 0 },
	    { "type", API_T_STR, false, 0, 64 } } },
	{ "audit.verify", false, { { 0 } } },
	{ "metrics", false, { { 0 } } },
	{ "daemon.info", false, { { 0 } } },
	{ "task.submit",
	  true,
	  { { "tasks", API_T_STRS, true, 0, 100000 },
	    { "batch", API_T_NAME, false, 0, 0 },
	    { "parallel", API_T_INT, false, 1, 4096 } } },
	{ "task.get", false, { { "id", API_T_INT, true, 1, 9007199254740991.0 } } },
	{ "task.list",
	  false,
	  { { "batch", API_T_NAME, false, 0, 0 },
	    { "after", API_T_INT, false, 0, 9007199254740991.0 },
	    { "limit", API_T_INT, false, 1, 10000 },
	    { "all", API_T_BOOL, false, 0, 0 } } },
	{ "task.cancel", true, { { "id", API_T_INT, true, 1, 9007199254740991.0 } } },
	{ "batch.cancel", true, { { "batch", API_T_NAME, true, 0, 0 } } },
	{ NULL, false, { { 0 } } },
};

const char *api_error_name(int code)
{
	switch (code) {
	case API_PARSE_ERROR:
		return "EPARSE";
	case API_INVALID_REQUEST:
		return "EINVALIDREQ";
	case API_METHOD_NOT_FOUND:
		return "ENOMETHOD";
	case API_INVALID_PARAMS:
		return "EPARAMS";
	case API_INTERNAL:
		return "EINTERNAL";
	case API_NO_SANDBOX:
		return "ENOSANDBOX";
	case API_NO_TEMPLATE:
		return "ENOTEMPLATE";
	case API_LIMIT:
		return "ELIMIT";
	case API_QUOTA:
		return "EQUOTA";
	case API_BUSY:
		return "EBUSY";
	case API_SANDBOX_FAILED:
		return "ESANDBOX";
	case API_AGENT:
		return "EAGENT";
	case API_TIMEOUT:
		return "ETIMEOUT";
	case API_EXISTS:
		return "EEXISTS";
	case API_DENIED:
		return "EDENIED";
	case API_BACKEND:
		return "EBACKEND";
	case API_TOO_BIG:
		return "ETOOBIG";
	case API_SHUTDOWN:
		return "ESHUTDOWN";
	case API_NOT_SUPPORTED:
		return "ENOTSUP";
	}
	return "EUNKNOWN";
}

const struct api_method *api_method_find(const char *name)
{
	for (const struct api_method *m = api_methods; m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

struct json_object *api_result(struct json_object *id, struct json_object *result)
{
	struct json_object *o = json_object_new_object();

	if (!o) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", id ? json_object_get(id) : NULL);
	json_object_object_add(o, "result", result ? result : json_object_new_object());
	return o;
}

struct json_object *api_error(struct json_object *id, int code, const char *message,
			      struct json_object *data)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	if (!o || !e) {
		json_object_put(o);
		json_object_put(e);
		json_object_put(data);
		return NULL;
	}
	if (!data)
		data = json_object_new_object();
	if (json_object_is_type(data, json_type_object))
		json_object_object_add(data, "name", json_object_new_string(api_error_name(code)));
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_util_new_string_lossy(message, strlen(message)));
	json_object_object_add(e, "data", data);
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", id ? json_object_get(id) : NULL);
	json_object_object_add(o, "error", e);
	return o;
}

struct json_object *api_notification(const char *method, struct json_object *params)
{
	struct json_object *o = json_object_new_object();

	if (!o) {
		json_object_put(params);
		return NULL;
	}
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "params", params ? params : json_object_new_object());
	return o;
}

int api_to_line(struct json_object *msg, char **out, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *buf;

	if (!s)
		return -ENOMEM;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s, n);
	buf[n] = '\n';
	*out = buf;
	*len = n + 1;
	return 0;
}

void api_request_free(struct api_request *req)
{
	if (!req)
		return;
	json_object_put(req->root);
	memset(req, 0, sizeof(*req));
}

/* A valid JSON-RPC id: a string, an integer or null (numbers with fractions
 * are discouraged by the spec and refused here). */
static bool api_id_ok(struct json_object *id)
{
	if (!id)
		return true;
	if (json_object_is_type(id, json_type_int))
		return true;
	return json_object_is_type(id, json_type_string) && json_object_get_string_len(id) <= 256;
}

int api_parse(const char *line, size_t len, struct api_request *req, struct json_object **reply)
{
	struct json_tokener *tok;
	struct json_object *root, *v, *id = NULL;
	char err[300];
	int code;

	memset(req, 0, sizeof(*req));
	*reply = NULL;
	if (len > API_REQUEST_MAX) {
		*reply = api_error(NULL, API_TOO_BIG, "request too long (at most 16 MiB a line)",
				   NULL);
		return API_TOO_BIG;
	}
	if (!json_util_utf8_valid(line, len) || memchr(line, '\0', len)) {
		*reply = api_error(NULL, API_PARSE_ERROR, "request is not valid UTF-8 text", NULL);
		return API_PARSE_ERROR;
	}
	tok = json_tokener_new_ex(64);
	if (!tok) {
		*reply = api_error(NULL, API_INTERNAL, "out of memory", NULL);
		return API_INTERNAL;
	}
	root = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = (size_t)json_tokener_get_parse_end(tok);
	if (!root && jerr == json_tokener_continue) {
		/* A bare number at the end of the text needs a delimiter to end. */
		root = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
		used = len;
	}
	json_tokener_free(tok);
	if (!root || jerr != json_tokener_success) {
		json_object_put(root);
		snprintf(err, sizeof(err), "request is not valid JSON: %s",
			 jerr == json_tokener_continue ? "unexpected end"
						       : json_tokener_error_desc(jerr));
		*reply = api_error(NULL, API_PARSE_ERROR, err, NULL);
		return API_PARSE_ERROR;
	}
	for (size_t i = used; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			json_object_put(root);
			*reply =
				api_error(NULL, API_PARSE_ERROR,
					  "request is not valid JSON: text after the object", NULL);
			return API_PARSE_ERROR;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		const char *what = json_object_is_type(root, json_type_array)
					   ? "batch requests are not supported"
					   : "a request must be a JSON object";
		json_object_put(root);
		*reply = api_error(NULL, API_INVALID_REQUEST, what, NULL);
		return API_INVALID_REQUEST;
	}
	bool has_id = json_object_object_get_ex(root, "id", &id);
	if (has_id && !api_id_ok(id)) {
		code = API_INVALID_REQUEST;
		snprintf(err, sizeof(err), "id must be an integer, a string or null");
		id = NULL;
		goto bad;
	}
	if (!json_object_object_get_ex(root, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0")) {
		code = API_INVALID_REQUEST;
		snprintf(err, sizeof(err), "jsonrpc must be \"2.0\"");
		goto bad;
	}
	if (!json_object_object_get_ex(root, "method", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		code = API_INVALID_REQUEST;
		snprintf(err, sizeof(err), "method must be a string");
		goto bad;
	}
	req->method = json_object_get_string(v);
	req->m = api_method_find(req->method);
	if (!req->m) {
		code = API_METHOD_NOT_FOUND;
		snprintf(err, sizeof(err), "no method '%.64s'", req->method);
		goto bad;
	}
	if (json_object_object_get_ex(root, "params", &v) && v) {
		if (!json_object_is_type(v, json_type_object)) {
			code = API_INVALID_PARAMS;
			snprintf(err, sizeof(err), "params must be an object (by name)");
			goto bad;
		}
		req->params = v;
	} else {
		req->params = json_object_new_object();
		if (!req->params) {
			code = API_INTERNAL;
			snprintf(err, sizeof(err), "out of memory");
			goto bad;
		}
		json_object_object_add(root, "params", req->params);
	}
	code = api_validate(req->m, req->params, err, sizeof(err));
	if (code < 0)
		goto bad;
	req->root = root;
	req->id = has_id ? id : NULL;
	/* A request without "id" is a notification: it runs, but gets no reply. */
	req->notification = !has_id;
	return 0;
bad:
	/* Notifications get no reply, even errors (JSON-RPC 2.0, section 4.1). */
	if (has_id || code == API_INVALID_REQUEST)
		*reply = api_error(id, code, err, NULL);
	json_object_put(root);
	memset(req, 0, sizeof(*req));
	return code;
}

static bool api_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > BACKEND_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool api_b64_ok(const char *s, size_t n)
{
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool pad = c == '=' && (i >= n - 2) && (i == n - 1 || s[n - 1] == '=');
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || pad))
			return false;
	}
	return true;
}

static bool api_num(struct json_object *v, double *out)
{
	if (json_object_is_type(v, json_type_int)) {
		*out = (double)json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_double)) {
		*out = json_object_get_double(v);
		return isfinite(*out);
	}
	return false;
}

static int api_check_limits(struct json_object *v, const char *name, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		double min, max;
		bool integer;
	} keys[] = {
		{ "mem_bytes", 16 * MiB, 1024.0 * 1024 * MiB, true },
		{ "cpus", 0.001, 1024, false },
		{ "pids", 8, 4194304, true },
		{ "disk_bytes", 1 * MiB, 1024.0 * 1024 * MiB, true },
	};

	if (!json_object_is_type(v, json_type_object)) {
		snprintf(err, errlen, "%s must be an object", name);
		return API_INVALID_PARAMS;
	}
	json_object_object_foreach(v, key, val)
	{
		size_t i;
		double d;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i].key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(err, errlen,
				 "%s: unknown member '%.64s' (mem_bytes, cpus, pids, disk_bytes)",
				 name, key);
			return API_INVALID_PARAMS;
		}
		if (!val)
			continue;
		if (!api_num(val, &d) ||
		    (keys[i].integer && !json_object_is_type(val, json_type_int))) {
			snprintf(err, errlen, "%s.%s must be a%s number", name, key,
				 keys[i].integer ? "n integer" : "");
			return API_INVALID_PARAMS;
		}
		if (d < keys[i].min || d > keys[i].max) {
			snprintf(err, errlen, "%s.%s must be between %.15g and %.15g", name, key,
				 keys[i].min, keys[i].max);
			return API_INVALID_PARAMS;
		}
	}
	return 0;
}

static int api_check(const struct api_param *p, struct json_object *v, char *err, size_t errlen)
{
	const char *s;
	size_t n;
	double d;

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		return API_INVALID_PARAMS;          \
	} while (0)

	switch (p->type) {
	case API_T_STR:
	case API_T_NAME:
	case API_T_PATH:
	case API_T_ISOLATE:
	case API_T_B64:
		if (!json_object_is_type(v, json_type_string))
			FAIL("%s must be a string", p->name);
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (memchr(s, '\0', n))
			FAIL("%s must not hold NUL bytes", p->name);
		if (p->type == API_T_STR && (n == 0 || n > (size_t)p->max))
			FAIL("%s must be 1 to %.0f bytes", p->name, p->max);
		if (p->type == API_T_NAME && !api_name_ok(s, n))
			FAIL("%s must be 1-%d of A-Z a-z 0-9 _ . - (not starting with . or -)",
			     p->name, BACKEND_NAME_MAX);
		if (p->type == API_T_PATH && (n == 0 || n > 4095 || s[0] != '/'))
			FAIL("%s must be an absolute path of at most 4095 bytes", p->name);
		if (p->type == API_T_ISOLATE && strcmp(s, "auto") && strcmp(s, "container") &&
		    strcmp(s, "microvm") && strcmp(s, "libvirt"))
			FAIL("%s must be auto, container, microvm or libvirt", p->name);
		if (p->type == API_T_B64 && (n > (size_t)p->max || !api_b64_ok(s, n)))
			FAIL("%s must be canonical base64 of at most %.0f bytes", p->name, p->max);
		return 0;
	case API_T_INT:
		if (!json_object_is_type(v, json_type_int))
			FAIL("%s must be an integer", p->name);
		d = (double)json_object_get_int64(v);
		if (d < p->min || d > p->max)
			FAIL("%s must be between %.0f and %.0f", p->name, p->min, p->max);
		return 0;
	case API_T_NUM:
		if (!api_num(v, &d))
			FAIL("%s must be a number", p->name);
		if (d < p->min || d > p->max)
			FAIL("%s must be between %.15g and %.15g", p->name, p->min, p->max);
		return 0;
	case API_T_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			FAIL("%s must be true or false", p->name);
		return 0;
	case API_T_OBJ:
		if (!json_object_is_type(v, json_type_object))
			FAIL("%s must be an object", p->name);
		if (strlen(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)) >
		    (size_t)p->max)
			FAIL("%s must be at most %.0f bytes of JSON", p->name, p->max);
		return 0;
	case API_T_STRS: {
		if (!json_object_is_type(v, json_type_array))
			FAIL("%s must be an array of strings", p->name);
		n = json_object_array_length(v);
		if (n == 0 || n > (size_t)p->max)
			FAIL("%s must hold 1 to %.0f strings", p->name, p->max);
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			if (!json_object_is_type(e, json_type_string))
				FAIL("%s[%zu] must be a string", p->name, i);
			if (json_object_get_string_len(e) > 128 * 1024)
				FAIL("%s[%zu] is longer than 128 KiB", p->name, i);
			if (memchr(json_object_get_string(e), '\0',
				   (size_t)json_object_get_string_len(e)))
				FAIL("%s[%zu] must not hold NUL bytes", p->name, i);
		}
		if (json_object_get_string_len(json_object_array_get_idx(v, 0)) == 0)
			FAIL("%s[0] must not be empty", p->name);
		return 0;
	}
	case API_T_ENV: {
		size_t cnt = 0;
		if (!json_object_is_type(v, json_type_object))
			FAIL("%s must be an object of strings", p->name);
		json_object_object_foreach(v, key, val)
		{
			if (++cnt > (size_t)p->max)
				FAIL("%s has more than %.0f members", p->name, p->max);
			if (!key[0] || strchr(key, '=') || strlen(key) > 4096)
				FAIL("%s: '%.64s' is not a variable name", p->name, key);
			if (!json_object_is_type(val, json_type_string) ||
			    json_object_get_string_len(val) > 128 * 1024 ||
			    memchr(json_object_get_string(val), '\0',
				   (size_t)json_object_get_string_len(val)))
				FAIL("%s.%.64s must be a string of at most 128 KiB", p->name, key);
		}
		return 0;
	}
	case API_T_LIMITS:
		return api_check_limits(v, p->name, err, errlen);
	}
#undef FAIL
	snprintf(err, errlen, "%s: unknown type", p->name);
	return API_INTERNAL;
}

int api_validate(const struct api_method *m, struct json_object *params, char *err, size_t errlen)
{
	if (!json_object_is_type(params, json_type_object)) {
		snprintf(err, errlen, "params must be an object");
		return API_INVALID_PARAMS;
	}
	json_object_object_foreach(params, key, val)
	{
		const struct api_param *p = NULL;
		for (int i = 0; i < API_MAX_PARAMS && m->params[i].name; i++)
			if (strcmp(m->params[i].name, key) == 0)
				p = &m->params[i];
		if (!p) {
			snprintf(err, errlen, "%s takes no parameter '%.64s'", m->name, key);
			return API_INVALID_PARAMS;
		}
		if (!val) {
			if (p->required) {
				snprintf(err, errlen, "%s must not be null", key);
				return API_INVALID_PARAMS;
			}
			continue;
		}
		int r = api_check(p, val, err, errlen);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < API_MAX_PARAMS && m->params[i].name; i++) {
		if (m->params[i].required &&
		    !json_object_object_get_ex(params, m->params[i].name, NULL)) {
			snprintf(err, errlen, "%s needs the parameter '%s'", m->name,
				 m->params[i].name);
			return API_INVALID_PARAMS;
		}
	}
	return 0;
}

struct json_object *api_get(struct json_object *params, const char *name)
{
	struct json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v))
		return NULL;
	return v;
}

const char *api_get_str(struct json_object *params, const char *name, const char *def)
{
	struct json_object *v = api_get(params, name);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

int64_t api_get_int(struct json_object *params, const char *name, int64_t def)
{
	struct json_object *v = api_get(params, name);

	return json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : def;
}

double api_get_num(struct json_object *params, const char *name, double def)
{
	struct json_object *v = api_get(params, name);
	double d;

	return v && api_num(v, &d) ? d : def;
}

bool api_get_bool(struct json_object *params, const char *name, bool def)
{
	struct json_object *v = api_get(params, name);

	return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : def;
}
