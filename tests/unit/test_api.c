/* JSON-RPC request parsing and param checking for agentvmd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "host/api.h"
#include "tap.h"

/* Parse line; return the code, and the error's code in the reply (or 0). */
static int parse(const char *line, int *reply_code, struct api_request *req)
{
	struct json_object *reply = NULL, *e, *c;
	int r = api_parse(line, strlen(line), req, &reply);

	*reply_code = 0;
	if (reply && json_object_object_get_ex(reply, "error", &e) &&
	    json_object_object_get_ex(e, "code", &c))
		*reply_code = json_object_get_int(c);
	json_object_put(reply);
	return r;
}

static int code_of(const char *line)
{
	struct api_request req;
	int rc, r = parse(line, &rc, &req);
	api_request_free(&req);
	return r;
}

int main(void)
{
	struct api_request req;
	int rc;

	is(parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\",\"params\":{\"sandbox\":"
		 "\"sb-1\"}}",
		 &rc, &req),
	   0, "a good request");
	ok(req.m && !strcmp(req.m->name, "sandbox.get"), "method found");
	ok(!strcmp(api_get_str(req.params, "sandbox", ""), "sb-1"), "param read");
	ok(!req.notification && json_object_get_int(req.id) == 1, "id kept");
	api_request_free(&req);

	is(parse("{\"jsonrpc\":\"2.0\",\"method\":\"metrics\"}", &rc, &req), 0,
	   "a notification parses");
	ok(req.notification, "and is one");
	api_request_free(&req);
	is(parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"metrics\"}", &rc, &req), 0,
	   "id null");
	ok(!req.notification, "is a request, not a notification");
	api_request_free(&req);

	is(parse("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"metrics\"} \r", &rc, &req), 0,
	   "trailing blanks are fine");
	api_request_free(&req);

	is(parse("{nope", &rc, &req), API_PARSE_ERROR, "bad JSON");
	is(rc, API_PARSE_ERROR, "gets a parse error reply");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"metrics\"} x"), API_PARSE_ERROR,
	   "text after the object");
	is(code_of("[1,2]"), API_INVALID_REQUEST, "a batch is refused");
	is(code_of("42"), API_INVALID_REQUEST, "not an object");
	is(code_of("{\"id\":1,\"method\":\"metrics\"}"), API_INVALID_REQUEST, "no jsonrpc");
	is(code_of("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"metrics\"}"), API_INVALID_REQUEST,
	   "wrong jsonrpc");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"metrics\"}"), API_INVALID_REQUEST,
	   "fractional id");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"metrics\"}"), API_INVALID_REQUEST,
	   "object id");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}"), API_INVALID_REQUEST,
	   "method not a string");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"rm -rf\"}"), API_METHOD_NOT_FOUND,
	   "unknown method");
	is(parse("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}", &rc, &req), API_METHOD_NOT_FOUND,
	   "unknown method in a notification");
	is(rc, 0, "gets no reply");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"metrics\",\"params\":[1]}"),
	   API_INVALID_PARAMS, "positional params");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"metrics\",\"params\":{\"x\":1}}"),
	   API_INVALID_PARAMS, "unknown param");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\"}"), API_INVALID_PARAMS,
	   "missing required param");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\",\"params\":{"
		   "\"sandbox\":\"../etc\"}}"),
	   API_INVALID_PARAMS, "a name with a slash");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\",\"params\":{"
		   "\"sandbox\":null}}"),
	   API_INVALID_PARAMS, "null for a required param");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[]}}"),
	   API_INVALID_PARAMS, "empty argv");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\",3]}}"),
	   API_INVALID_PARAMS, "argv with a number");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\"],\"env\":{\"A=B\":\"c\"}}}"),
	   API_INVALID_PARAMS, "env name with =");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\"],\"env\":{\"A\":\"c\"},\"timeout\":1.5,"
		   "\"stdin\":\"aGk=\",\"cwd\":\"/tmp\"}}"),
	   0, "a full exec");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\"],\"timeout\":-1}}"),
	   API_INVALID_PARAMS, "negative timeout");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\"],\"stdin\":\"a=b=\"}}"),
	   API_INVALID_PARAMS, "bad base64");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.exec\",\"params\":{"
		   "\"sandbox\":\"a\",\"argv\":[\"ls\"],\"cwd\":\"tmp\"}}"),
	   API_INVALID_PARAMS, "relative cwd");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.create\",\"params\":{"
		   "\"limits\":{\"mem_bytes\":1000}}}"),
	   API_INVALID_PARAMS, "memory below 16 MiB");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.create\",\"params\":{"
		   "\"limits\":{\"cpus\":0.5,\"mem_bytes\":268435456,\"pids\":64}}}"),
	   0, "good limits");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.create\",\"params\":{"
		   "\"limits\":{\"gpus\":1}}}"),
	   API_INVALID_PARAMS, "unknown limit");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.create\",\"params\":{"
		   "\"isolation\":\"chroot\"}}"),
	   API_INVALID_PARAMS, "unknown isolation");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.read_file\",\"params\":{"
		   "\"sandbox\":\"a\",\"path\":\"/x\",\"length\":99999999}}"),
	   API_INVALID_PARAMS, "read length over 8 MiB");
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\",\"params\":{"
		   "\"sandbox\":\"a\\u0000b\"}}"),
	   API_INVALID_PARAMS, "NUL in a name");

	/* Invalid UTF-8. */
	is(code_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}"), API_PARSE_ERROR,
	   "invalid UTF-8");
	/* Deep nesting. */
	char *deep = malloc(200000);
	strcpy(deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"metrics\",\"x\":");
	size_t l = strlen(deep);
	for (int i = 0; i < 50000; i++)
		deep[l++] = '[';
	deep[l] = '\0';
	is(code_of(deep), API_PARSE_ERROR, "deep nesting is a parse error, not a crash");
	free(deep);

	struct json_object *id = json_object_new_int(9);
	struct json_object *e = api_error(id, API_NO_SANDBOX, "no sandbox \xff", NULL);
	char *line;
	size_t len;
	is(api_to_line(e, &line, &len), 0, "serialise an error");
	ok(line[len - 1] == '\n' && strstr(line, "\"name\":\"ENOSANDBOX\"") &&
		   strstr(line, "\"id\":9") && strstr(line, "-32001"),
	   "error has code, name and id: %.*s", (int)len - 1, line);
	free(line);
	json_object_put(e);
	json_object_put(id);
	ok(!strcmp(api_error_name(API_LIMIT), "ELIMIT"), "error names");
	return done_testing();
}
