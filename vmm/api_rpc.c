#include "vmm/api_rpc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_util.h"

static int api_rpc_fail(char *err, size_t errlen, int code, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return code;
}

int api_rpc_parse(const char *line, size_t len, struct api_rpc_request *req, char *err,
		  size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root, *v;
	const char *method;
	size_t mlen;

	memset(req, 0, sizeof(*req));
	if (len == 0 || memchr(line, '\0', len))
		return api_rpc_fail(err, errlen, API_RPC_PARSE_ERROR,
				    len ? "parse error: NUL byte in the request"
					: "parse error: empty request");
	if (!json_util_utf8_valid(line, len))
		return api_rpc_fail(err, errlen, API_RPC_PARSE_ERROR,
				    "parse error: the request is not valid UTF-8");
	if (len > (size_t)INT32_MAX)
		return api_rpc_fail(err, errlen, API_RPC_PARSE_ERROR, "parse error: too long");
	tok = json_tokener_new_ex(API_RPC_MAX_DEPTH);
	if (!tok)
		return api_rpc_fail(err, errlen, API_RPC_INTERNAL_ERROR, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, line, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		char msg[160];
		if (root && e == json_tokener_success)
			snprintf(msg, sizeof(msg), "parse error: text after the JSON value");
		else
			snprintf(msg, sizeof(msg), "parse error: %s",
				 e == json_tokener_continue ? "incomplete JSON"
							    : json_tokener_error_desc(e));
		json_object_put(root);
		json_tokener_free(tok);
		return api_rpc_fail(err, errlen, API_RPC_PARSE_ERROR, msg);
	}
	json_tokener_free(tok);
	req->root = root;
	if (!json_object_is_type(root, json_type_object))
		return api_rpc_fail(err, errlen, API_RPC_INVALID_REQUEST,
				    json_object_is_type(root, json_type_array)
					    ? "invalid request: batches are not supported"
					    : "invalid request: not a JSON object");
	/* The id first, so that every later error can echo it. */
	if (json_object_object_get_ex(root, "id", &v)) {
		enum json_type t = json_object_get_type(v);
		if (t != json_type_string && t != json_type_int && t != json_type_null)
			return api_rpc_fail(err, errlen, API_RPC_INVALID_REQUEST,
					    "invalid request: id must be a string, an integer or "
					    "null");
		req->id = v;
		req->has_id = 1;
	}
	json_object_object_foreach(root, key, val)
	{
		(void)val;
		if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "id") &&
		    strcmp(key, "params")) {
			char msg[160];
			snprintf(msg, sizeof(msg), "invalid request: unknown member \"%.64s\"",
				 key);
			return api_rpc_fail(err, errlen, API_RPC_INVALID_REQUEST, msg);
		}
	}
	if (!json_object_object_get_ex(root, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0"))
		return api_rpc_fail(err, errlen, API_RPC_INVALID_REQUEST,
				    "invalid request: \"jsonrpc\" must be \"2.0\"");
	if (!json_object_object_get_ex(root, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		return api_rpc_fail(err, errlen, API_RPC_INVALID_REQUEST,
				    "invalid request: \"method\" must be a string");
	method = json_object_get_string(v);
	mlen = (size_t)json_object_get_string_len(v);
	if (mlen == 0 || mlen >= sizeof(req->method) || strlen(method) != mlen)
		return api_rpc_fail(err, errlen, API_RPC_METHOD_NOT_FOUND,
				    "method not found: the name is empty or too long");
	memcpy(req->method, method, mlen + 1);
	if (json_object_object_get_ex(root, "params", &v)) {
		if (!json_object_is_type(v, json_type_object))
			return api_rpc_fail(err, errlen, API_RPC_INVALID_PARAMS,
					    "invalid params: \"params\" must be an object");
		req->params = v;
	}
	return 0;
}

void api_rpc_request_free(struct api_rpc_request *req)
{
	json_object_put(req->root);
	memset(req, 0, sizeof(*req));
}

static int api_rpc_listed(const char *key, const char *const *names)
{
	for (; names && *names; names++)
		if (strcmp(key, *names) == 0)
			return 1;
	return 0;
}

int api_rpc_check_params(struct json_object *params, const char *const *allowed,
			 const char *const *required, char *err, size_t errlen)
{
	if (params) {
		json_object_object_foreach(params, key, val)
		{
			(void)val;
			if (!api_rpc_listed(key, allowed)) {
				snprintf(err, errlen, "invalid params: unknown parameter \"%.64s\"",
					 key);
				return API_RPC_INVALID_PARAMS;
			}
		}
	}
	for (; required && *required; required++) {
		if (!params || !json_object_object_get_ex(params, *required, NULL)) {
			snprintf(err, errlen, "invalid params: \"%s\" is required", *required);
			return API_RPC_INVALID_PARAMS;
		}
	}
	return 0;
}

const char *api_rpc_get_path(struct json_object *params, const char *key, size_t max, char *err,
			     size_t errlen)
{
	struct json_object *v;
	const char *s;
	size_t n;

	if (!params || !json_object_object_get_ex(params, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "invalid params: \"%s\" must be a string (a file path)", key);
		return NULL;
	}
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > max || strlen(s) != n) {
		snprintf(err, errlen,
			 "invalid params: \"%s\" must be a non-empty path of at most "
			 "%zu bytes",
			 key, max);
		return NULL;
	}
	return s;
}

static char *api_rpc_line(struct json_object *reply)
{
	const char *s = json_object_to_json_string_ext(
		reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out = NULL;

	if (s && asprintf(&out, "%s\n", s) < 0)
		out = NULL;
	json_object_put(reply);
	return out;
}

char *api_rpc_result(struct json_object *id, struct json_object *result)
{
	struct json_object *r = json_object_new_object();

	if (!r) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(r, "id", id ? json_object_get(id) : NULL);
	json_object_object_add(r, "result", result);
	return api_rpc_line(r);
}

char *api_rpc_error(struct json_object *id, int code, const char *message)
{
	struct json_object *r = json_object_new_object(), *e = json_object_new_object();

	if (!r || !e) {
		json_object_put(r);
		json_object_put(e);
		return NULL;
	}
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_util_new_string_lossy(message, strlen(message)));
	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(r, "id", id ? json_object_get(id) : NULL);
	json_object_object_add(r, "error", e);
	return api_rpc_line(r);
}
