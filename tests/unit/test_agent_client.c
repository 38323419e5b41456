/* The host side of the agent protocol against a scripted peer on a socket
 * pair: replies, events of other requests, error replies, version checks,
 * hostile frames, end of stream and timeouts. */
#include "common/frame.h"
#include "host/agent_client.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int peer = -1;

/* The peer sends one frame holding json text. */
static void say(const char *json)
{
	unsigned char hdr[FRAME_HDR_LEN];
	size_t n = strlen(json);

	frame_put_header(hdr, (uint32_t)n);
	if (write(peer, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    write(peer, json, n) != (ssize_t)n)
		ok(0, "peer write");
}

/* The peer reads one frame the client sent. */
static struct json_object *hear(void)
{
	struct frame_decoder *d = frame_decoder_new(0);
	struct json_object *o = NULL;

	while (frame_decoder_next(d, &o) == 0)
		if (frame_decoder_read(d, peer) <= 0)
			break;
	frame_decoder_free(d);
	return o;
}

static struct agent_client *fresh(void)
{
	int sv[2];
	struct agent_client *c = NULL;

	if (peer >= 0)
		close(peer);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	peer = sv[1];
	if (agent_client_new(sv[0], &c) < 0)
		return NULL;
	return c;
}

int main(void)
{
	struct agent_client *c;
	struct json_object *res = NULL, *req, *msg = NULL, *v;
	char err[256];
	int64_t id;

	signal(SIGPIPE, SIG_IGN);

	/* hello, answered after an unrelated event and another request's reply */
	c = fresh();
	say("{\"id\":7,\"event\":\"stdout\",\"data\":\"\"}");
	say("{\"id\":1,\"ok\":true,\"result\":{\"agent\":\"agentvm-agent\",\"protocol\":1}}");
	is(agent_client_hello(c, 1000, &res, err, sizeof(err)), -EPROTO,
	   "a message with an id we never sent is a protocol error");
	json_object_put(res);
	agent_client_free(c);

	c = fresh();
	say("{\"id\":1,\"event\":\"progress\"}");
	say("{\"id\":1,\"ok\":true,\"result\":{\"agent\":\"agentvm-agent\",\"protocol\":1}}");
	is(agent_client_hello(c, 1000, &res, err, sizeof(err)), 0, "hello succeeds");
	ok(res && json_object_object_get_ex(res, "agent", &v) &&
		   strcmp(json_object_get_string(v), "agentvm-agent") == 0,
	   "the result comes back");
	json_object_put(res);
	req = hear();
	ok(req && json_object_object_get_ex(req, "op", &v) &&
		   strcmp(json_object_get_string(v), "hello") == 0,
	   "the peer received op hello");
	ok(req && json_object_object_get_ex(req, "id", &v) && json_object_get_int(v) == 1,
	   "with id 1");
	ok(req && json_object_object_get_ex(req, "protocol", &v) && json_object_get_int(v) == 1,
	   "and our protocol version");
	json_object_put(req);

	/* an error reply */
	say("{\"id\":2,\"ok\":false,\"error\":{\"code\":\"ENOENT\",\"message\":\"no such file\"}}");
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("fs.stat"));
	is(agent_client_call(c, req, 1000, &res, err, sizeof(err)), -EREMOTEIO, "error reply");
	ok(strstr(err, "ENOENT") && strstr(err, "no such file"), "carries code and message: %s",
	   err);
	json_object_put(req);
	json_object_put(hear());

	/* a reply whose ok is missing */
	say("{\"id\":3,\"result\":{}}");
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("x"));
	is(agent_client_call(c, req, 1000, &res, err, sizeof(err)), -EPROTO, "reply without ok");
	json_object_put(req);

	/* nothing comes: timeout */
	is(agent_client_recv(c, 50, &msg), 0, "recv times out with 0");
	agent_client_free(c);

	/* protocol mismatch */
	c = fresh();
	say("{\"id\":1,\"ok\":true,\"result\":{\"protocol\":99}}");
	is(agent_client_hello(c, 1000, NULL, err, sizeof(err)), -EPROTONOSUPPORT,
	   "another protocol version is refused");
	ok(strstr(err, "99") != NULL, "and named: %s", err);
	agent_client_free(c);

	c = fresh();
	say("{\"id\":1,\"ok\":true,\"result\":{\"protocol\":\"1\"}}");
	is(agent_client_hello(c, 1000, NULL, err, sizeof(err)), -EPROTONOSUPPORT,
	   "a protocol that is a string is refused");
	agent_client_free(c);

	/* hostile frames */
	c = fresh();
	req = json_object_new_object();
	agent_client_send(c, req, &id, 1000);
	json_object_put(req);
	say("not json");
	is(agent_client_recv(c, 1000, &msg), -EPROTO, "a frame that is not JSON");
	say("[1,2]");
	is(agent_client_recv(c, 1000, &msg), -EPROTO, "a frame that is not an object");
	say("{\"id\":null,\"ok\":false}");
	is(agent_client_recv(c, 1000, &msg), -EPROTO, "id null");
	say("{\"id\":\"1\",\"ok\":true}");
	is(agent_client_recv(c, 1000, &msg), -EPROTO, "a string id we never use");
	say("{\"id\":1,\"event\":\"stdout\"}");
	is(agent_client_recv(c, 1000, &msg), 1, "a good frame after bad ones still decodes");
	json_object_put(msg);
	{
		unsigned char hdr[4] = { 0x7f, 0xff, 0xff, 0xff };
		if (write(peer, hdr, 4) != 4)
			ok(0, "write");
		is(agent_client_recv(c, 1000, &msg), -EPROTO, "a length prefix past 16 MiB");
	}
	agent_client_free(c);

	/* end of stream, also in the middle of a frame */
	c = fresh();
	close(peer);
	peer = -1;
	is(agent_client_recv(c, 1000, &msg), -ECONNRESET, "end of stream");
	agent_client_free(c);
	c = fresh();
	if (write(peer, "\0\0\0\x10{\"id\"", 9) != 9)
		ok(0, "write");
	close(peer);
	peer = -1;
	is(agent_client_recv(c, 1000, &msg), -ECONNRESET, "end of stream inside a frame");
	req = json_object_new_object();
	ok(agent_client_send(c, req, NULL, 1000) < 0,
	   "sending to a closed peer fails (no SIGPIPE)");
	json_object_put(req);
	agent_client_free(c);
	agent_client_free(NULL);

	/* signals */
	is(agent_client_signal_number("KILL"), SIGKILL, "KILL");
	is(agent_client_signal_number("SIGTERM"), SIGTERM, "SIGTERM");
	is(agent_client_signal_number("NOPE"), 0, "unknown name");
	is(agent_client_signal_number(NULL), 0, "NULL name");
	ok(strcmp(agent_client_signal_name(SIGINT), "INT") == 0, "INT");
	ok(agent_client_signal_name(0) == NULL, "no name for 0");
	return done_testing();
}
