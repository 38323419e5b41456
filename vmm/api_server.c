#include "vmm/api_server.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "vmm/api_rpc.h"

struct api_server_client {
	struct api_server *api;
	int fd;
	char *in; /* API_SERVER_LINE_MAX + 1 bytes */
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	int dead;
	struct api_server_client *next;
};

struct api_server {
	struct loop *loop;
	int listen_fd;
	char *path;
	const struct api_server_method *methods;
	void *ctx;
	struct api_server_client *clients;
	int nclients;
	unsigned long long requests;
};

unsigned long long api_server_requests(const struct api_server *api)
{
	return api->requests;
}

int api_server_process_line(struct api_server *api, const char *line, size_t len, char **reply)
{
	struct api_rpc_request req;
	struct json_object *result = NULL;
	const struct api_server_method *m;
	char err[512] = "";
	int code;

	api->requests++;
	*reply = NULL;
	code = api_rpc_parse(line, len, &req, err, sizeof(err));
	if (code == 0) {
		int valid = 0;
		for (m = api->methods; m->name; m++)
			if (strcmp(m->name, req.method) == 0)
				break;
		if (!m->name) {
			snprintf(err, sizeof(err), "method not found: \"%s\"", req.method);
			code = API_RPC_METHOD_NOT_FOUND;
		} else {
			code = api_rpc_check_params(req.params, m->allowed, m->required, err,
						    sizeof(err));
			valid = code == 0;
			if (valid)
				code = m->fn(api->ctx, req.params, &result, err, sizeof(err));
		}
		/* A notification (no id) is never answered, whatever came of it
		 * (JSON-RPC 2.0, section 4.1). */
		if (!req.has_id &&
		    (valid || code == API_RPC_METHOD_NOT_FOUND || code == API_RPC_INVALID_PARAMS)) {
			json_object_put(result);
			api_rpc_request_free(&req);
			return 0;
		}
	}
	if (code == 0) {
		*reply = api_rpc_result(req.id, result);
	} else {
		json_object_put(result);
		*reply = api_rpc_error(req.id, code, *err ? err : "error");
	}
	api_rpc_request_free(&req);
	return *reply ? 0 : -ENOMEM;
}

static void api_server_client_close(struct api_server_client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->api->loop)
		loop_remove(c->api->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

/* Free closed clients (never from inside their own callback). */
static void api_server_reap(struct api_server *api)
{
	struct api_server_client **pp = &api->clients;

	while (*pp) {
		struct api_server_client *c = *pp;
		if (c->dead) {
			*pp = c->next;
			free(c->in);
			free(c->out);
			free(c);
			api->nclients--;
		} else {
			pp = &c->next;
		}
	}
}

static void api_server_client_flush(struct api_server_client *c)
{
	if (c->dead)
		return;
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			api_server_client_close(c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	loop_modify(c->api->loop, c->fd, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

static int api_server_client_queue(struct api_server_client *c, const char *s)
{
	size_t n = strlen(s);

	if (c->out_len + n > API_SERVER_OUT_MAX) {
		log_debug("api: a client does not read its replies; disconnected");
		api_server_client_close(c);
		return -ENOBUFS;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p) {
			api_server_client_close(c);
			return -ENOMEM;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

/* Serve every complete line in the input buffer. */
static void api_server_client_lines(struct api_server_client *c)
{
	size_t start = 0;

	while (!c->dead) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		size_t len;
		char *reply = NULL;
		if (!nl)
			break;
		len = (size_t)(nl - (c->in + start));
		if (len && c->in[start + len - 1] == '\r')
			len--;
		if (len > 0) { /* blank lines are ignored */
			if (api_server_process_line(c->api, c->in + start, len, &reply) < 0) {
				api_server_client_close(c);
				return;
			}
			if (reply && api_server_client_queue(c, reply) < 0) {
				free(reply);
				return;
			}
			free(reply);
			api_server_client_flush(c);
		}
		start = (size_t)(nl - c->in) + 1;
	}
	if (c->dead)
		return;
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
}

static void api_server_on_client(void *opaque, int fd, uint32_t events)
{
	struct api_server_client *c = opaque;

	if (c->dead)
		return;
	if (events & EPOLLOUT)
		api_server_client_flush(c);
	if (c->dead || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(fd, c->in + c->in_len, API_SERVER_LINE_MAX + 1 - c->in_len,
				 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* Answer what came before the end, then close. */
			api_server_client_lines(c);
			if (!c->dead && c->out_len)
				api_server_client_flush(c);
			api_server_client_close(c);
			break;
		}
		c->in_len += (size_t)n;
		api_server_client_lines(c);
		if (c->dead)
			break;
		if (c->in_len > API_SERVER_LINE_MAX) {
			char *reply =
				api_rpc_error(NULL, API_RPC_INVALID_REQUEST,
					      "invalid request: line longer than 65536 bytes");
			if (reply) {
				send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
				free(reply);
			}
			log_debug("api: request line too long; client disconnected");
			api_server_client_close(c);
			break;
		}
	}
	/* A closed client is freed on the next accept or by api_server_free(). */
}

static void api_server_on_listen(void *opaque, int fd, uint32_t events)
{
	struct api_server *api = opaque;
	struct api_server_client *c;
	int cfd;

	(void)events;
	api_server_reap(api);
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	if (api->nclients >= API_SERVER_MAX_CLIENTS) {
		log_debug("api: %d clients connected already; refusing one",
			  API_SERVER_MAX_CLIENTS);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(API_SERVER_LINE_MAX + 1);
	if (!c || !c->in || loop_add(api->loop, cfd, EPOLLIN, api_server_on_client, c) < 0) {
		if (c)
			free(c->in);
		free(c);
		close(cfd);
		return;
	}
	c->api = api;
	c->fd = cfd;
	c->next = api->clients;
	api->clients = c;
	api->nclients++;
}

static int api_server_listen(struct api_server *api, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("--api '%s': path too long for a Unix socket", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket from an earlier run */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		log_err("--api '%s': %s", path, strerror(errno));
		return r;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		int r = -errno;
		log_err("--api '%s': %s", path, strerror(errno));
		unlink(path);
		return r;
	}
	api->listen_fd = take_fd(&fd);
	return 0;
}

int api_server_new(struct loop *loop, const char *path, const struct api_server_method *methods,
		   void *ctx, struct api_server **out)
{
	struct api_server *api = calloc(1, sizeof(*api));
	int r;

	if (!api)
		return -ENOMEM;
	api->loop = loop;
	api->methods = methods;
	api->ctx = ctx;
	api->listen_fd = -1;
	if (path) {
		api->path = strdup(path);
		if (!api->path) {
			free(api);
			return -ENOMEM;
		}
		r = api_server_listen(api, path);
		if (r == 0) {
			r = loop_add(loop, api->listen_fd, EPOLLIN, api_server_on_listen, api);
			if (r < 0)
				log_err("--api: cannot watch the socket: %s", strerror(-r));
		}
		if (r < 0) {
			api_server_free(api);
			return r;
		}
	}
	*out = api;
	return 0;
}

void api_server_free(struct api_server *api)
{
	if (!api)
		return;
	for (struct api_server_client *c = api->clients; c; c = c->next)
		api_server_client_close(c);
	api_server_reap(api);
	if (api->listen_fd >= 0) {
		loop_remove(api->loop, api->listen_fd);
		close(api->listen_fd);
		unlink(api->path);
	}
	free(api->path);
	free(api);
}
