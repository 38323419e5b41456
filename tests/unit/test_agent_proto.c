/* The agent's request parser and validator, and the exec environment/PATH
 * helpers: pure functions, tested without running anything. */
#include "common/cleanup.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/agent_spawn.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

/* Parse text; returns 0/-1 like agent_proto_parse. The caller clears req
 * and puts *msg. */
static int test_parse(const char *text, struct json_object **msg, struct agent_request *req,
		      struct agent_error *err)
{
	*msg = json_tokener_parse(text);
	if (!*msg) {
		memset(req, 0, sizeof(*req));
		return -2;
	}
	return agent_proto_parse(*msg, req, err);
}

/* Expect a failure with code and (if non-NULL) field. */
static void test_bad(const char *text, const char *code, const char *field)
{
	struct json_object *msg;
	struct agent_request req;
	struct agent_error err = { 0 };
	int r = test_parse(text, &msg, &req, &err);

	ok(r == -1 && err.code && strcmp(err.code, code) == 0 &&
		   (!field || (err.field && strcmp(err.field, field) == 0)),
	   "rejected with %s%s%s: %s", code, field ? " on " : "", field ? field : "", text);
	if (r == -1 && err.code && strcmp(err.code, code) != 0)
		printf("#   got %s (%s)\n", err.code, err.message);
	agent_proto_request_clear(&req);
	json_object_put(msg);
}

static void test_exec_full(void)
{
	const char *text =
		"{\"id\":\"x1\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\",\"echo\"],"
		"\"env\":{\"A\":\"1\",\"PATH\":\"/opt/bin\"},\"cwd\":\"/tmp\",\"uid\":1000,"
		"\"groups\":[4,5],\"stdin\":\"aGk=\",\"timeout_ms\":1500,\"output_cap\":10,"
		"\"rlimits\":{\"nofile\":64,\"as\":\"unlimited\",\"cpu\":{\"soft\":1,\"hard\":2}},"
		"\"pty\":{\"rows\":30,\"cols\":100}}";
	struct json_object *msg;
	struct agent_request req;
	struct agent_error err;
	const struct agent_exec_req *x = &req.exec;
	char **env;
	int r;

	r = test_parse(text, &msg, &req, &err);
	is(r, 0, "full exec request parses");
	is(req.op, AGENT_OP_EXEC, "op exec");
	ok(strcmp(json_object_get_string(req.id), "x1") == 0, "string id kept");
	ok(x->argc == 3 && strcmp(x->argv[2], "echo") == 0 && x->argv[3] == NULL, "argv");
	ok(x->nenv == 2 && strcmp(x->env[0], "A=1") == 0, "env object -> K=V");
	ok(x->cwd && strcmp(x->cwd, "/tmp") == 0, "cwd");
	ok(x->has_uid && x->uid == 1000 && !x->has_gid, "uid without gid");
	ok(x->has_groups && x->ngroups == 2 && x->groups[1] == 5, "groups");
	ok(x->has_stdin && x->stdin_len == 2 && memcmp(x->stdin_data, "hi", 2) == 0, "stdin");
	ok(x->timeout_ms == 1500 && x->output_cap == 10, "timeout and output cap");
	ok(x->nrlimits == 3, "three rlimits");
	ok(x->pty && x->rows == 30 && x->cols == 100, "pty size");

	env = agent_spawn_build_env(x);
	ok(env != NULL, "environment built");
	if (env) {
		int has_path = 0, has_home = 0, has_term = 0, has_a = 0, n = 0;

		for (; env[n]; n++) {
			has_path += strcmp(env[n], "PATH=/opt/bin") == 0;
			has_home += strcmp(env[n], "HOME=/") == 0;
			has_term += strncmp(env[n], "TERM=", 5) == 0;
			has_a += strcmp(env[n], "A=1") == 0;
			if (strncmp(env[n], "PATH=", 5) == 0 &&
			    strcmp(env[n], "PATH=/opt/bin") != 0)
				has_path = -100;
		}
		ok(has_path == 1, "PATH from the request replaces the default");
		ok(has_home == 1 && has_term == 1 && has_a == 1,
		   "HOME=/ for uid 1000, TERM for pty");
		free(env);
	}
	agent_proto_request_clear(&req);
	json_object_put(msg);
}

static void test_defaults(void)
{
	struct json_object *msg;
	struct agent_request req;
	struct agent_error err;
	char path[PATH_MAX];
	char **env;

	is(test_parse("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"env\":[\"X=1\",\"X=2\"]}",
		      &msg, &req, &err),
	   0, "minimal exec");
	ok(req.exec.output_cap == AGENT_OUTPUT_CAP && req.exec.timeout_ms == 0 && !req.exec.pty,
	   "defaults: 16 MiB cap, no timeout, no pty");
	env = agent_spawn_build_env(&req.exec);
	if (env) {
		int n, x2 = 0, x1 = 0, home = 0;

		for (n = 0; env[n]; n++) {
			x1 += strcmp(env[n], "X=1") == 0;
			x2 += strcmp(env[n], "X=2") == 0;
			home += strcmp(env[n], "HOME=/root") == 0;
		}
		ok(x1 == 0 && x2 == 1, "env array: the later duplicate wins");
		ok(home == 1, "HOME=/root for root");
		is(agent_spawn_resolve("sh", env, path, sizeof(path)), 0, "sh found in PATH");
		ok(path[0] == '/' && strstr(path, "/sh"), "resolved to %s", path);
		is(agent_spawn_resolve("no-such-program-xyz", env, path, sizeof(path)), -ENOENT,
		   "unknown program: -ENOENT");
		is(agent_spawn_resolve("./rel", env, path, sizeof(path)), 0,
		   "a path is taken as is");
		ok(strcmp(path, "./rel") == 0, "unchanged");
		free(env);
	}
	agent_proto_request_clear(&req);
	json_object_put(msg);

	{
		char *empty_path[] = { "PATH=/nonexistent-dir", NULL };

		is(agent_spawn_resolve("sh", empty_path, path, sizeof(path)), -ENOENT,
		   "lookup uses the request's PATH");
	}
}

static void test_ops(void)
{
	static const char *good[] = {
		"{\"id\":1,\"op\":\"hello\"}",
		"{\"id\":2,\"op\":\"shutdown\"}",
		"{\"id\":3,\"op\":\"stdin\",\"target\":\"a\",\"data\":\"\",\"eof\":true}",
		"{\"id\":4,\"op\":\"signal\",\"target\":7,\"signal\":\"SIGTERM\"}",
		"{\"id\":5,\"op\":\"signal\",\"target\":7,\"signal\":9,\"group\":false}",
		"{\"id\":6,\"op\":\"resize\",\"target\":7,\"rows\":1,\"cols\":65535}",
		"{\"id\":7,\"op\":\"fs.read\",\"path\":\"/a\",\"offset\":5}",
		"{\"id\":8,\"op\":\"fs.write\",\"path\":\"/a\",\"data\":\"YQ==\",\"append\":true}",
		"{\"id\":9,\"op\":\"fs.stat\",\"path\":\"/\"}",
		"{\"id\":10,\"op\":\"fs.list\",\"path\":\"/\",\"limit\":0}",
		"{\"id\":11,\"op\":\"fs.mkdir\",\"path\":\"/a\",\"parents\":true}",
		"{\"id\":12,\"op\":\"fs.remove\",\"path\":\"/a\",\"recursive\":true}",
		"{\"id\":13,\"op\":\"fs.rename\",\"from\":\"/a\",\"to\":\"/b\"}",
		"{\"id\":-9007199254740992,\"op\":\"hello\",\"extra\":{}}",
	};
	struct json_object *msg;
	struct agent_request req;
	struct agent_error err;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		int r = test_parse(good[i], &msg, &req, &err);

		ok(r == 0, "accepted: %s", good[i]);
		if (r)
			printf("#   %s: %s\n", err.code, err.message);
		if (i == 4)
			ok(req.target.signo == SIGKILL && !req.target.group,
			   "signal 9, group false");
		if (i == 7)
			ok(req.fs.append && !req.fs.truncate && req.fs.create &&
				   req.fs.mode == 0644,
			   "fs.write append: no truncate, create, 0644");
		agent_proto_request_clear(&req);
		json_object_put(msg);
	}
}

static void test_rejects(void)
{
	test_bad("[]", "EBADREQ", NULL);
	test_bad("{\"op\":\"hello\"}", "EBADREQ", "id");
	test_bad("{\"id\":null,\"op\":\"hello\"}", "EBADREQ", "id");
	test_bad("{\"id\":true,\"op\":\"hello\"}", "EBADREQ", "id");
	test_bad("{\"id\":\"\",\"op\":\"hello\"}", "EBADREQ", "id");
	test_bad("{\"id\":9007199254740993,\"op\":\"hello\"}", "EBADREQ", "id");
	test_bad("{\"id\":1}", "EBADREQ", "op");
	test_bad("{\"id\":1,\"op\":7}", "EBADREQ", "op");
	test_bad("{\"id\":1,\"op\":\"Hello\"}", "EUNKNOWNOP", "op");
	test_bad("{\"id\":1,\"op\":\"exec\"}", "EBADREQ", "argv");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":\"ls\"}", "EBADREQ", "argv");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"\"]}", "EBADREQ", "argv");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"a\\u0000b\"]}", "EBADREQ", "argv");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\",3]}", "EBADREQ", "argv");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"env\":[\"NOEQ\"]}", "EBADREQ",
		 "env");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"env\":[\"=x\"]}", "EBADREQ", "env");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"env\":{\"A\":1}}", "EBADREQ",
		 "env");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"cwd\":\"tmp\"}", "EBADREQ", "cwd");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"uid\":-1}", "EBADREQ", "uid");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"uid\":4294967295}", "EBADREQ",
		 "uid");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"stdin\":\"!!\"}", "EBADREQ",
		 "stdin");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"timeout_ms\":1.5}", "EBADREQ",
		 "timeout_ms");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"rlimits\":{\"cpu\":{\"soft\":2,"
		 "\"hard\":1}}}",
		 "EBADREQ", "rlimits");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"rlimits\":{\"cpu\":-1}}", "EBADREQ",
		 "rlimits");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"pty\":{\"rows\":0}}", "EBADREQ",
		 "pty");
	test_bad("{\"id\":1,\"op\":\"exec\",\"argv\":[\"ls\"],\"pty\":\"yes\"}", "EBADREQ", "pty");
	test_bad("{\"id\":1,\"op\":\"stdin\"}", "EBADREQ", "target");
	test_bad("{\"id\":1,\"op\":\"stdin\",\"target\":[1]}", "EBADREQ", "target");
	test_bad("{\"id\":1,\"op\":\"signal\",\"target\":1,\"signal\":\"SIGNOPE\"}", "EBADREQ",
		 "signal");
	test_bad("{\"id\":1,\"op\":\"signal\",\"target\":1,\"signal\":0}", "EBADREQ", "signal");
	test_bad("{\"id\":1,\"op\":\"signal\",\"target\":1,\"signal\":65}", "EBADREQ", "signal");
	test_bad("{\"id\":1,\"op\":\"resize\",\"target\":1,\"rows\":10}", "EBADREQ", "cols");
	test_bad("{\"id\":1,\"op\":\"resize\",\"target\":1,\"rows\":10,\"cols\":70000}", "EBADREQ",
		 "cols");
	test_bad("{\"id\":1,\"op\":\"fs.read\",\"path\":\"\"}", "EBADREQ", "path");
	test_bad("{\"id\":1,\"op\":\"fs.read\",\"path\":\"/a\\u0000b\"}", "EBADREQ", "path");
	test_bad("{\"id\":1,\"op\":\"fs.read\",\"path\":\"/a\",\"length\":-1}", "EBADREQ",
		 "length");
	test_bad("{\"id\":1,\"op\":\"fs.write\",\"path\":\"/a\"}", "EBADREQ", "data");
	test_bad("{\"id\":1,\"op\":\"fs.write\",\"path\":\"/a\",\"data\":\"\",\"mode\":4096}",
		 "EBADREQ", "mode");
	test_bad("{\"id\":1,\"op\":\"fs.write\",\"path\":\"/a\",\"data\":\"\",\"append\":true,"
		 "\"offset\":1}",
		 "EBADREQ", "offset");
	test_bad("{\"id\":1,\"op\":\"fs.stat\",\"path\":\"/a\",\"follow\":1}", "EBADREQ", "follow");
	test_bad("{\"id\":1,\"op\":\"fs.list\",\"path\":\"/a\",\"limit\":100001}", "EBADREQ",
		 "limit");
	test_bad("{\"id\":1,\"op\":\"fs.rename\",\"from\":\"/a\"}", "EBADREQ", "to");
}

static void test_helpers(void)
{
	struct json_object *a = json_object_new_int(5), *b = json_object_new_int(5);
	struct json_object *s = json_object_new_string("5"), *s2 = json_object_new_string("5");
	struct json_object *reply;
	struct agent_error err;

	ok(agent_proto_id_equal(a, b) && agent_proto_id_equal(s, s2), "equal ids");
	ok(!agent_proto_id_equal(a, s) && !agent_proto_id_equal(a, NULL), "5 is not \"5\"");
	is(agent_proto_signal_number("TERM"), SIGTERM, "TERM");
	is(agent_proto_signal_number("SIGKILL"), SIGKILL, "SIGKILL");
	is(agent_proto_signal_number("10"), 10, "\"10\"");
	is(agent_proto_signal_number("KIL"), -EINVAL, "KIL is no signal");
	is(agent_proto_signal_number("0"), -EINVAL, "0 is no signal");
	ok(strcmp(agent_proto_signal_name(SIGKILL), "KILL") == 0, "name of SIGKILL");
	ok(strcmp(agent_error_errno_name(ENOENT), "ENOENT") == 0 &&
		   strcmp(agent_error_errno_name(-EISDIR), "EISDIR") == 0,
	   "errno names");
	ok(strcmp(agent_error_errno_name(100000), "EIO") == 0, "unknown errno: EIO");

	agent_error_errno(&err, ENOENT, "/x", "open %s", "/x");
	reply = agent_proto_reply_error(a, &err);
	ok(strcmp(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE),
		  "{\"id\":5,\"ok\":false,\"error\":{\"code\":\"ENOENT\",\"message\":\"open /x: No "
		  "such file or directory\",\"path\":\"/x\"}}") == 0,
	   "error reply shape");
	json_object_put(reply);
	reply = agent_proto_reply_ok(NULL, NULL);
	ok(strcmp(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
		  "{\"id\":null,\"ok\":true,\"result\":{}}") == 0,
	   "ok reply with null id and empty result");
	json_object_put(reply);
	json_object_put(a);
	json_object_put(b);
	json_object_put(s);
	json_object_put(s2);
}

int main(void)
{
	test_exec_full();
	test_defaults();
	test_ops();
	test_rejects();
	test_helpers();
	return done_testing();
}
