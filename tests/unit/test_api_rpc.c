/* The VMM's control socket: JSON-RPC 2.0 parsing and validation (every
 * malformed request gets the right error code and changes nothing), replies
 * echoing ids, notifications, and the socket server itself: several
 * requests in one write, a request split across writes, a line over the
 * limit, many clients, a client that vanishes. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap.h"
#include "vmm/api_rpc.h"
#include "vmm/api_server.h"
#include "vmm/loop.h"

static int calls;

static int m_echo(void *ctx, struct json_object *params, struct json_object **result, char *err,
		  size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	calls++;
	*result = params ? json_object_get(params) : json_object_new_object();
	return 0;
}

static int m_fail(void *ctx, struct json_object *params, struct json_object **result, char *err,
		  size_t errlen)
{
	(void)ctx;
	(void)params;
	(void)result;
	calls++;
	snprintf(err, errlen, "no snapshot to reset to");
	return API_RPC_NO_SNAPSHOT;
}

static const char *const echo_allowed[] = { "state", "memory", NULL };
static const char *const echo_required[] = { "state", NULL };
static const char *const none[] = { NULL };

static const struct api_server_method methods[] = {
	{ "t.echo", m_echo, echo_allowed, echo_required },
	{ "t.fail", m_fail, none, NULL },
	{ "t.none", m_echo, none, NULL },
	{ NULL, NULL, NULL, NULL },
};

/* Run one line through the server; return the reply's error code (0 for a
 * result, 1 for no reply) and keep the reply in *out (json_object_put it). */
static int run(struct api_server *a, const char *line, struct json_object **out)
{
	char *reply = NULL;
	struct json_object *r, *e, *c;
	int code = 1;

	*out = NULL;
	if (api_server_process_line(a, line, strlen(line), &reply) < 0)
		return -1;
	if (!reply)
		return 1;
	r = json_tokener_parse(reply);
	free(reply);
	if (!r)
		return -2;
	if (json_object_object_get_ex(r, "error", &e) && json_object_object_get_ex(e, "code", &c))
		code = json_object_get_int(c);
	else if (json_object_object_get_ex(r, "result", NULL))
		code = 0;
	*out = r;
	return code;
}

static const char *reply_id(struct json_object *r)
{
	struct json_object *id;

	if (!r || !json_object_object_get_ex(r, "id", &id))
		return "(absent)";
	return id ? json_object_to_json_string(id) : "null";
}

static void expect(struct api_server *a, const char *line, int code, const char *id,
		   const char *desc)
{
	struct json_object *r;
	int before = calls, got = run(a, line, &r);
	int ran = calls != before;

	if (!ok(got == code && !strcmp(reply_id(r), id) && (code > -32600 || code == 1 || !ran),
		"%s: %d", desc, code))
		printf("#   got %d id %s (method ran: %d) for %s\n", got, reply_id(r), ran, line);
	json_object_put(r);
}

static void test_parse(void)
{
	struct api_server *a = NULL;
	struct json_object *r;
	char deep[200] = "";
	char big[300];

	is(api_server_new(NULL, NULL, methods, NULL, &a), 0, "a server without a socket");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"t.none\"}", 0, "7", "a request");
	expect(a,
	       "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"t.echo\",\"params\":{\"state\":"
	       "\"x\"}}",
	       0, "\"abc\"", "a string id and params");
	expect(a, "{\"jsonrpc\":\"2.0\",\"method\":\"t.none\"}", 1, "(absent)",
	       "a notification gets no reply");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"t.none\"}", 0, "null",
	       "a null id");

	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", API_RPC_PARSE_ERROR, "null",
	       "incomplete JSON");
	expect(a, "not json at all", API_RPC_PARSE_ERROR, "null", "not JSON");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"t.none\"} trailing",
	       API_RPC_PARSE_ERROR, "null", "text after the object");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"t.\xff\"}", API_RPC_PARSE_ERROR,
	       "null", "invalid UTF-8");
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	expect(a, deep, API_RPC_PARSE_ERROR, "null", "nesting deeper than the limit");
	{
		char *reply = NULL;
		api_server_process_line(a, "{\"a\":\0}", 7, &reply);
		ok(reply && strstr(reply, "-32700") && strstr(reply, "NUL"), "a NUL byte: %s",
		   reply ? reply : "(none)");
		free(reply);
	}

	expect(a, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"t.none\"}]", API_RPC_INVALID_REQUEST,
	       "null", "a batch");
	expect(a, "42", API_RPC_PARSE_ERROR, "null", "a bare number (incomplete to the tokenizer)");
	expect(a, "\"str\"", API_RPC_INVALID_REQUEST, "null", "a string");
	expect(a, "{\"id\":1,\"method\":\"t.none\"}", API_RPC_INVALID_REQUEST, "1",
	       "no jsonrpc member");
	expect(a, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"t.none\"}", API_RPC_INVALID_REQUEST,
	       "1", "jsonrpc 1.0");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1}", API_RPC_INVALID_REQUEST, "1", "no method");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", API_RPC_INVALID_REQUEST, "1",
	       "a numeric method");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"t.none\"}", API_RPC_INVALID_REQUEST,
	       "null", "a fractional id");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"t.none\"}", API_RPC_INVALID_REQUEST,
	       "null", "an object id");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"t.none\",\"extra\":1}",
	       API_RPC_INVALID_REQUEST, "1", "an unknown member");
	snprintf(big, sizeof(big), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%0100d\"}", 0);
	expect(a, big, API_RPC_METHOD_NOT_FOUND, "1", "a 100-byte method name");

	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"vm.nothing\"}",
	       API_RPC_METHOD_NOT_FOUND, "2", "an unknown method");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"t.echo\",\"params\":[1]}",
	       API_RPC_INVALID_PARAMS, "3", "positional params");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"t.echo\",\"params\":{}}",
	       API_RPC_INVALID_PARAMS, "4", "a required param missing");
	expect(a,
	       "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"t.echo\",\"params\":{\"state\":1,\"x\":"
	       "2}}",
	       API_RPC_INVALID_PARAMS, "5", "an unknown param");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"t.none\",\"params\":{\"a\":1}}",
	       API_RPC_INVALID_PARAMS, "6", "params to a method taking none");
	expect(a, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"t.fail\"}", API_RPC_NO_SNAPSHOT, "8",
	       "an application error");
	expect(a, "{\"jsonrpc\":\"2.0\",\"method\":\"t.fail\"}", 1, "(absent)",
	       "a notification is not answered, even when it fails");
	expect(a, "{\"jsonrpc\":\"2.0\",\"method\":\"t.nothing\"}", 1, "(absent)",
	       "nor when its method does not exist");

	run(a, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"t.fail\"}", &r);
	{
		struct json_object *e, *m;
		ok(json_object_object_get_ex(r, "error", &e) &&
			   json_object_object_get_ex(e, "message", &m) &&
			   !strcmp(json_object_get_string(m), "no snapshot to reset to"),
		   "the error carries the method's message");
	}
	json_object_put(r);
	ok(api_server_requests(a) > 25, "requests are counted (%llu)", api_server_requests(a));
	api_server_free(a);
}

static void test_get_path(void)
{
	struct json_object *p =
		json_tokener_parse("{\"a\":\"/x\",\"b\":\"\",\"c\":3,\"d\":\"x\\u0000y\"}");
	char err[200];

	ok(api_rpc_get_path(p, "a", 100, err, sizeof(err)) != NULL, "a path param");
	ok(!api_rpc_get_path(p, "b", 100, err, sizeof(err)) && strstr(err, "non-empty"),
	   "an empty path is refused");
	ok(!api_rpc_get_path(p, "c", 100, err, sizeof(err)) && strstr(err, "must be a string"),
	   "a number is refused");
	ok(!api_rpc_get_path(p, "d", 100, err, sizeof(err)), "a path with a NUL is refused");
	ok(!api_rpc_get_path(p, "a", 1, err, sizeof(err)), "a path over the limit is refused");
	ok(!api_rpc_get_path(p, "zz", 100, err, sizeof(err)), "a missing path is refused");
	json_object_put(p);
}

/* ---- the socket ----------------------------------------------------------- */

struct srv {
	struct loop *loop;
	struct api_server *api;
	char path[108];
	pthread_t thread;
};

static void *srv_thread(void *arg)
{
	struct srv *s = arg;

	loop_run(s->loop);
	return NULL;
}

static int client(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read until n newlines or EOF; returns the bytes read. */
static size_t read_lines(int fd, char *buf, size_t cap, int n)
{
	size_t len = 0;

	while (len + 1 < cap) {
		int lines = 0;
		for (size_t i = 0; i < len; i++)
			lines += buf[i] == '\n';
		if (lines >= n)
			break;
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return len;
}

static void test_socket(void)
{
	struct srv s = { 0 };
	char buf[8192], *big;
	int fd, fds[40], n = 0;
	const char *two = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"t.none\"}\n"
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"t.none\"}\r\n\n";

	snprintf(s.path, sizeof(s.path), "/tmp/test_api_rpc.%d.sock", getpid());
	if (loop_new(&s.loop) < 0 || api_server_new(s.loop, s.path, methods, NULL, &s.api) < 0) {
		ok(0, "serve on a socket");
		return;
	}
	ok(access(s.path, F_OK) == 0, "the socket exists");
	pthread_create(&s.thread, NULL, srv_thread, &s);

	fd = client(s.path);
	ok(fd >= 0, "a client connects");
	write(fd, two, strlen(two));
	read_lines(fd, buf, sizeof(buf), 2);
	ok(strstr(buf, "\"id\":1") && strstr(buf, "\"id\":2"),
	   "two requests in one write get two replies (a blank line ignored)");
	write(fd, "{\"jsonrpc\":\"2.0\",", 17);
	usleep(20000);
	write(fd, "\"id\":3,\"method\":\"t.none\"}\n", 26);
	read_lines(fd, buf, sizeof(buf), 1);
	ok(strstr(buf, "\"id\":3") != NULL, "a request split across writes");

	big = malloc(API_SERVER_LINE_MAX + 100);
	memset(big, 'x', API_SERVER_LINE_MAX + 99);
	big[API_SERVER_LINE_MAX + 99] = '\n';
	write(fd, big, API_SERVER_LINE_MAX + 100);
	read_lines(fd, buf, sizeof(buf), 1);
	ok(strstr(buf, "-32600") && strstr(buf, "longer than"),
	   "a line over the limit is answered with an error");
	ok(read(fd, buf, sizeof(buf)) <= 0, "and the client is disconnected");
	free(big);
	close(fd);

	for (n = 0; n < 40; n++) {
		fds[n] = client(s.path);
		if (fds[n] < 0)
			break;
	}
	usleep(50000);
	{
		int served = 0, refused = 0;
		for (int i = 0; i < n; i++) {
			const char *req = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"t.none\"}\n";
			ssize_t w = send(fds[i], req, strlen(req), MSG_NOSIGNAL);
			if (w > 0 && read_lines(fds[i], buf, sizeof(buf), 1) > 0 &&
			    strstr(buf, "\"id\":4"))
				served++;
			else
				refused++;
		}
		ok(served == API_SERVER_MAX_CLIENTS && refused == n - served,
		   "%d clients at once: %d served, the rest refused", n, served);
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	usleep(50000);
	fd = client(s.path);
	write(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"t.none\"}\n", 43);
	read_lines(fd, buf, sizeof(buf), 1);
	ok(strstr(buf, "\"id\":5") != NULL, "clients that left free their places");
	close(fd);

	loop_stop(s.loop, 0);
	pthread_join(s.thread, NULL);
	api_server_free(s.api);
	ok(access(s.path, F_OK) != 0, "the socket file is removed");
	loop_free(s.loop);
}

int main(void)
{
	test_parse();
	test_get_path();
	test_socket();
	return done_testing();
}
