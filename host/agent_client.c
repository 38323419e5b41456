#include "host/agent_client.h"

#include "common/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct agent_client {
	int fd;
	int64_t next_id;
	struct frame_decoder *dec;
	struct frame_writer *out;
	int eof;
};

static long agent_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Milliseconds left until deadline (-1 = none), for poll. */
static int agent_client_left(long deadline)
{
	long left;

	if (deadline < 0)
		return -1;
	left = deadline - agent_client_now_ms();
	return left < 0 ? 0 : (int)(left > 1000000000L ? 1000000000L : left);
}

int agent_client_new(int fd, struct agent_client **out)
{
	struct agent_client *c;
	int fl;

	*out = NULL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_id = 1;
	c->dec = frame_decoder_new(0);
	c->out = frame_writer_new();
	if (!c->dec || !c->out) {
		agent_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void agent_client_free(struct agent_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	frame_decoder_free(c->dec);
	frame_writer_free(c->out);
	free(c);
}

int agent_client_fd(const struct agent_client *c)
{
	return c->fd;
}

int agent_client_send(struct agent_client *c, struct json_object *req, int64_t *id, int timeout_ms)
{
	long deadline = timeout_ms < 0 ? -1 : agent_client_now_ms() + timeout_ms;
	int64_t my = c->next_id++;
	int r;

	json_object_object_add(req, "id", json_object_new_int64(my));
	r = frame_writer_push(c->out, req);
	if (r < 0)
		return r;
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		r = frame_writer_flush(c->out, c->fd);
		if (r != -EAGAIN)
			break;
		r = poll(&p, 1, agent_client_left(deadline));
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
	if (r < 0)
		return r;
	if (id)
		*id = my;
	return 0;
}

int agent_client_msg_id(struct json_object *msg, int64_t *id)
{
	struct json_object *v;

	if (!json_object_object_get_ex(msg, "id", &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	errno = 0;
	*id = json_object_get_int64(v);
	return errno ? -EINVAL : 0;
}

int agent_client_recv(struct agent_client *c, int timeout_ms, struct json_object **msg)
{
	long deadline = timeout_ms < 0 ? -1 : agent_client_now_ms() + timeout_ms;

	*msg = NULL;
	for (;;) {
		struct json_object *obj = NULL;
		int r = frame_decoder_next(c->dec, &obj);

		if (r == 1) {
			/* Replies and events without an id we could have sent (such as the
			 * agent's "id":null complaints) are protocol errors for us. */
			int64_t id;
			if (agent_client_msg_id(obj, &id) < 0 || id <= 0 || id >= c->next_id) {
				json_object_put(obj);
				return -EPROTO;
			}
			*msg = obj;
			return 1;
		}
		if (r == FRAME_ETOOBIG || r == FRAME_EJSON || r == FRAME_ENOTOBJ)
			return -EPROTO;
		if (r < 0)
			return r;
		if (c->eof)
			return -ECONNRESET;

		long n = frame_decoder_read(c->dec, c->fd);
		if (n > 0)
			continue;
		if (n == 0) {
			c->eof = 1;
			continue;
		}
		if (n != -EAGAIN && n != -EINTR)
			return n == -ECONNRESET ? -ECONNRESET : (int)n;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		r = poll(&p, 1, agent_client_left(deadline));
		if (r == 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static const char *agent_client_error_member(struct json_object *msg, const char *key)
{
	struct json_object *e, *v;

	if (json_object_object_get_ex(msg, "error", &e) &&
	    json_object_is_type(e, json_type_object) && json_object_object_get_ex(e, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

const char *agent_client_error_code(struct json_object *msg)
{
	return agent_client_error_member(msg, "code");
}

const char *agent_client_error_message(struct json_object *msg)
{
	return agent_client_error_member(msg, "message");
}

int agent_client_call(struct agent_client *c, struct json_object *req, int timeout_ms,
		      struct json_object **result, char *err, size_t err_len)
{
	long deadline = timeout_ms < 0 ? -1 : agent_client_now_ms() + timeout_ms;
	int64_t id;
	int r;

	if (result)
		*result = NULL;
	if (err_len)
		err[0] = '\0';
	r = agent_client_send(c, req, &id, timeout_ms);
	if (r < 0)
		return r;
	for (;;) {
		struct json_object *msg, *ok, *res;
		int64_t mid;

		r = agent_client_recv(c, agent_client_left(deadline), &msg);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return r;
		if (agent_client_msg_id(msg, &mid) < 0 || mid != id ||
		    json_object_object_get_ex(msg, "event", NULL)) {
			json_object_put(msg);
			continue;
		}
		if (!json_object_object_get_ex(msg, "ok", &ok) ||
		    !json_object_is_type(ok, json_type_boolean)) {
			json_object_put(msg);
			return -EPROTO;
		}
		if (!json_object_get_boolean(ok)) {
			if (err_len)
				snprintf(err, err_len, "%s: %s", agent_client_error_code(msg),
					 agent_client_error_message(msg));
			json_object_put(msg);
			return -EREMOTEIO;
		}
		if (!json_object_object_get_ex(msg, "result", &res) ||
		    !json_object_is_type(res, json_type_object)) {
			json_object_put(msg);
			return -EPROTO;
		}
		if (result)
			*result = json_object_get(res);
		json_object_put(msg);
		return 0;
	}
}

int agent_client_hello(struct agent_client *c, int timeout_ms, struct json_object **result,
		       char *err, size_t err_len)
{
	struct json_object *req = json_object_new_object(), *res = NULL, *v;
	int r;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("hello"));
	json_object_object_add(req, "client", json_object_new_string("agentvm"));
	json_object_object_add(req, "protocol", json_object_new_int(AGENT_CLIENT_PROTOCOL));
	r = agent_client_call(c, req, timeout_ms, &res, err, err_len);
	json_object_put(req);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(res, "protocol", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != AGENT_CLIENT_PROTOCOL) {
		if (err_len)
			snprintf(err, err_len, "the agent speaks protocol %s, this client %d",
				 v ? json_object_get_string(v) : "(none)", AGENT_CLIENT_PROTOCOL);
		json_object_put(res);
		return -EPROTONOSUPPORT;
	}
	if (result)
		*result = res;
	else
		json_object_put(res);
	return 0;
}

static const struct {
	int signo;
	const char *name;
} agent_client_signals[] = {
	{ SIGHUP, "HUP" },   { SIGINT, "INT" },	      { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
	{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" },     { SIGBUS, "BUS" },   { SIGFPE, "FPE" },
	{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" },     { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
	{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" },     { SIGTERM, "TERM" }, { SIGSTKFLT, "STKFLT" },
	{ SIGCHLD, "CHLD" }, { SIGCONT, "CONT" },     { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" },
	{ SIGTTIN, "TTIN" }, { SIGTTOU, "TTOU" },     { SIGURG, "URG" },   { SIGXCPU, "XCPU" },
	{ SIGXFSZ, "XFSZ" }, { SIGVTALRM, "VTALRM" }, { SIGPROF, "PROF" }, { SIGWINCH, "WINCH" },
	{ SIGIO, "IO" },     { SIGPWR, "PWR" },	      { SIGSYS, "SYS" },
};

const char *agent_client_signal_name(int signo)
{
	for (size_t i = 0; i < sizeof(agent_client_signals) / sizeof(agent_client_signals[0]); i++)
		if (agent_client_signals[i].signo == signo)
			return agent_client_signals[i].name;
	return NULL;
}

int agent_client_signal_number(const char *name)
{
	if (!name)
		return 0;
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(agent_client_signals) / sizeof(agent_client_signals[0]); i++)
		if (strcmp(agent_client_signals[i].name, name) == 0)
			return agent_client_signals[i].signo;
	return 0;
}
