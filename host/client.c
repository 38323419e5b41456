/* The CLI's client for agentvmd; see client.h. */
#include "host/client.h"

#include "host/daemon.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_LINE_MAX (64u << 20)

struct client_conn {
	int fd;
	volatile sig_atomic_t *interrupt;
	int64_t next_id;
	char *buf;
	size_t len, cap;
};

void client_socket_path(char *out, size_t len)
{
	daemon_default_socket(out, len);
}

int client_connect(const char *path, struct client_conn **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char def[108];
	struct client_conn *c;
	int fd;

	*out = NULL;
	if (!path) {
		client_socket_path(def, sizeof(def));
		path = def;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_id = 1;
	*out = c;
	return 0;
}

void client_close(struct client_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

int client_fd(struct client_conn *c)
{
	return c->fd;
}

void client_set_interrupt(struct client_conn *c, volatile sig_atomic_t *flag)
{
	c->interrupt = flag;
}

static int client_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next line from the daemon, parsed: 1 with *msg, or -errno. */
static int client_next(struct client_conn *c, struct json_object **msg)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			struct json_tokener *tok = json_tokener_new();
			*msg = tok ? json_tokener_parse_ex(tok, c->buf, (int)n) : NULL;
			json_tokener_free(tok);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			if (!*msg || !json_object_is_type(*msg, json_type_object)) {
				json_object_put(*msg);
				*msg = NULL;
				return -EPROTO;
			}
			return 1;
		}
		if (c->cap - c->len < 65536) {
			if (c->cap > CLIENT_LINE_MAX)
				return -E2BIG;
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *nb = realloc(c->buf, cap);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR) {
			if (c->interrupt && *c->interrupt)
				return -EINTR;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

static void client_fill_error(struct json_object *e, struct client_error *err)
{
	struct json_object *v, *data;

	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	err->code = -32603;
	if (json_object_object_get_ex(e, "code", &v))
		err->code = json_object_get_int(v);
	if (json_object_object_get_ex(e, "message", &v))
		snprintf(err->message, sizeof(err->message), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(e, "data", &data) &&
	    json_object_is_type(data, json_type_object)) {
		if (json_object_object_get_ex(data, "name", &v))
			snprintf(err->name, sizeof(err->name), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(data, "agent_code", &v))
			snprintf(err->agent_code, sizeof(err->agent_code), "%s",
				 json_object_get_string(v));
	}
}

int client_call(struct client_conn *c, const char *method, struct json_object *params,
		struct json_object **result, client_notify_fn notify, void *arg,
		struct client_error *err)
{
	struct json_object *req = json_object_new_object();
	int64_t id = c->next_id++;
	int r;

	if (result)
		*result = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	if (!req) {
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "id", json_object_new_int64(id));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	size_t n;
	const char *s = json_object_to_json_string_length(
		req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *line = malloc(n + 1);
	if (!line) {
		json_object_put(req);
		return -ENOMEM;
	}
	memcpy(line, s, n);
	line[n] = '\n';
	r = client_write_all(c->fd, line, n + 1);
	free(line);
	json_object_put(req);
	if (r < 0)
		return r == -EPIPE ? -ECONNRESET : r;
	for (;;) {
		struct json_object *msg = NULL, *v;
		r = client_next(c, &msg);
		if (r < 0)
			return r;
		if (json_object_object_get_ex(msg, "method", &v)) {
			struct json_object *p = NULL;
			json_object_object_get_ex(msg, "params", &p);
			if (notify)
				notify(json_object_get_string(v), p, arg);
			json_object_put(msg);
			continue;
		}
		if (!json_object_object_get_ex(msg, "id", &v) ||
		    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != id) {
			/* An error about a line we sent (id null), or a stray reply. */
			if (json_object_object_get_ex(msg, "error", &v) &&
			    json_object_object_get_ex(msg, "id", NULL)) {
				client_fill_error(v, err);
				json_object_put(msg);
				return -EREMOTEIO;
			}
			json_object_put(msg);
			continue;
		}
		if (json_object_object_get_ex(msg, "error", &v)) {
			client_fill_error(v, err);
			json_object_put(msg);
			return -EREMOTEIO;
		}
		if (json_object_object_get_ex(msg, "result", &v) && result)
			*result = json_object_get(v);
		json_object_put(msg);
		return 0;
	}
}
