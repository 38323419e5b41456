#include "guest-agent/agent_proxy.h"

#include "common/log.h"
#include "guest-agent/agent_spawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PROXY_ACCEPT_BURST 16
#define PROXY_ENV_MAX	   7

struct proxy_buf {
	char *data;
	size_t off, len;
};

struct agent_proxy {
	struct agent_watch lw;
	struct agent_list conns;
	struct agent_list dead;
	int nconns;
	struct sockaddr_storage up;
	unsigned up_len;
	const char *spec;
	char env_store[PROXY_ENV_MAX - 1][64];
	const char *env[PROXY_ENV_MAX];
};

struct proxy_conn {
	struct agent_watch cw; /* the program in the sandbox */
	struct agent_watch uw; /* the host's egress proxy */
	struct agent_proxy *p;
	struct agent_list link;
	struct agent_list dead_link;
	struct proxy_buf up, down;
	int connecting;
	int c_eof, u_eof, c_shut, u_shut;
	int closed;
};

static void proxy_client_event(struct agent *a, struct agent_watch *w, uint32_t events);
static void proxy_upstream_event(struct agent *a, struct agent_watch *w, uint32_t events);

int agent_proxy_parse_upstream(const char *spec, struct sockaddr_storage *sa, unsigned *salen)
{
	memset(sa, 0, sizeof(*sa));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)sa;
		size_t n = strlen(spec + 5);

		if (n == 0 || n >= sizeof(su->sun_path))
			return -EINVAL;
		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, spec + 5, n + 1);
		*salen = (unsigned)sizeof(*su);
		return 0;
	}
	if (strncmp(spec, "vsock:", 6) == 0) {
		struct sockaddr_vm *sv = (struct sockaddr_vm *)sa;
		unsigned long v;
		char *end;

		errno = 0;
		v = strtoul(spec + 6, &end, 10);
		if (errno || !spec[6] || *end || v == 0 || v > UINT_MAX)
			return -EINVAL;
		sv->svm_family = AF_VSOCK;
		sv->svm_cid = VMADDR_CID_HOST;
		sv->svm_port = (unsigned)v;
		*salen = (unsigned)sizeof(*sv);
		return 0;
	}
	return -EINVAL;
}

int agent_proxy_parse_listen(const char *spec, struct sockaddr_storage *sa, unsigned *salen)
{
	struct sockaddr_in *si = (struct sockaddr_in *)sa;
	const char *colon = strrchr(spec, ':');
	char host[INET_ADDRSTRLEN];
	unsigned long v;
	char *end;

	memset(sa, 0, sizeof(*sa));
	if (!colon || (size_t)(colon - spec) >= sizeof(host) || !colon[1])
		return -EINVAL;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	si->sin_family = AF_INET;
	si->sin_port = htons((uint16_t)v);
	if (inet_pton(AF_INET, host, &si->sin_addr) != 1)
		return -EINVAL;
	*salen = (unsigned)sizeof(*si);
	return 0;
}

/* --- one connection -------------------------------------------------------------------- */

static void proxy_conn_close(struct agent *a, struct proxy_conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	agent_watch_close(a, &c->cw);
	agent_watch_close(a, &c->uw);
	agent_list_del(&c->link);
	c->p->nconns--;
	agent_list_add_tail(&c->p->dead, &c->dead_link);
	if (c->p->lw.fd >= 0 && !c->p->lw.events)
		agent_watch_set(a, &c->p->lw, EPOLLIN);
}

static void proxy_interest(struct agent *a, struct proxy_conn *c)
{
	uint32_t ce = 0, ue = 0;

	if (c->connecting) {
		ue = EPOLLOUT;
	} else {
		if (!c->c_eof && c->up.len < AGENT_PROXY_BUF)
			ce |= EPOLLIN;
		if (c->down.len)
			ce |= EPOLLOUT;
		if (!c->u_eof && c->down.len < AGENT_PROXY_BUF)
			ue |= EPOLLIN;
		if (c->up.len)
			ue |= EPOLLOUT;
	}
	/* A side with nothing to do is not watched (level-triggered hang-ups
	 * would spin); a peer that vanished shows up as a failed write. */
	if (c->cw.fd >= 0)
		agent_watch_set(a, &c->cw, ce);
	if (c->uw.fd >= 0)
		agent_watch_set(a, &c->uw, ue);
}

/* Read from fd into b; 1 with bytes, 0 for nothing now, -1 at EOF or error. */
static int proxy_read(int fd, struct proxy_buf *b)
{
	ssize_t n;

	if (b->len == 0)
		b->off = 0;
	if (b->off && b->off + b->len == AGENT_PROXY_BUF) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->off + b->len == AGENT_PROXY_BUF)
		return 0;
	do
		n = recv(fd, b->data + b->off + b->len, AGENT_PROXY_BUF - b->off - b->len,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -1;
}

/* Write b to fd; 0, or -1 when the peer is gone. */
static int proxy_write(int fd, struct proxy_buf *b)
{
	while (b->len) {
		ssize_t n = send(fd, b->data + b->off, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		b->off += (size_t)n;
		b->len -= (size_t)n;
	}
	return 0;
}

static void proxy_progress(struct agent *a, struct proxy_conn *c)
{
	if (c->up.len && proxy_write(c->uw.fd, &c->up) < 0) {
		proxy_conn_close(a, c);
		return;
	}
	if (c->down.len && proxy_write(c->cw.fd, &c->down) < 0) {
		proxy_conn_close(a, c);
		return;
	}
	if (c->c_eof && !c->up.len && !c->u_shut) {
		shutdown(c->uw.fd, SHUT_WR);
		c->u_shut = 1;
	}
	if (c->u_eof && !c->down.len && !c->c_shut) {
		shutdown(c->cw.fd, SHUT_WR);
		c->c_shut = 1;
	}
	if (c->c_eof && c->u_eof && !c->up.len && !c->down.len) {
		proxy_conn_close(a, c);
		return;
	}
	proxy_interest(a, c);
}

/* The host's proxy cannot be reached: say so the way a proxy would. */
static void proxy_unavailable(struct agent *a, struct proxy_conn *c, int err)
{
	char body[160], msg[400];
	int bl = snprintf(body, sizeof(body),
			  "agentvm egress: the host's egress proxy is unreachable (%s)\n",
			  strerror(err));
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n"
			 "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
			 bl, body);

	log_warn("egress proxy %s: %s", c->p->spec, strerror(err));
	if (n > 0 && (size_t)n < sizeof(msg) &&
	    send(c->cw.fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("egress proxy: telling the client: %s", strerror(errno));
	proxy_conn_close(a, c);
}

static void proxy_client_event(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct proxy_conn *c = agent_list_entry(w, struct proxy_conn, cw);
	int r;

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->c_eof) {
		r = proxy_read(c->cw.fd, &c->up);
		if (r < 0)
			c->c_eof = 1;
	}
	proxy_progress(a, c);
}

static void proxy_upstream_event(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct proxy_conn *c = agent_list_entry(w, struct proxy_conn, uw);
	int r;

	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (!err && (events & (EPOLLERR | EPOLLHUP)))
			err = ECONNREFUSED;
		if (err) {
			proxy_unavailable(a, c, err);
			return;
		}
		c->connecting = 0;
		proxy_progress(a, c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->u_eof) {
		r = proxy_read(c->uw.fd, &c->down);
		if (r < 0)
			c->u_eof = 1;
	}
	proxy_progress(a, c);
}

static void proxy_accept_one(struct agent *a, struct agent_proxy *p, int fd)
{
	struct proxy_conn *c;
	int ufd;

	if (p->nconns >= AGENT_PROXY_MAX_CONNS) {
		log_warn("egress proxy: %d connections open; refusing one", p->nconns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->up.data = malloc(AGENT_PROXY_BUF)) ||
	    !(c->down.data = malloc(AGENT_PROXY_BUF))) {
		if (c) {
			free(c->up.data);
			free(c);
		}
		close(fd);
		return;
	}
	c->p = p;
	c->cw.fd = fd;
	c->cw.fn = proxy_client_event;
	c->uw.fd = -1;
	c->uw.fn = proxy_upstream_event;
	agent_list_add_tail(&p->conns, &c->link);
	p->nconns++;
	ufd = socket(p->up.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ufd < 0) {
		proxy_unavailable(a, c, errno);
		return;
	}
	c->uw.fd = ufd;
	if (connect(ufd, (struct sockaddr *)&p->up, p->up_len) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			proxy_unavailable(a, c, errno);
			return;
		}
		c->connecting = 1;
	}
	proxy_interest(a, c);
}

static void proxy_on_accept(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_proxy *p = agent_list_entry(w, struct agent_proxy, lw);

	(void)events;
	for (int i = 0; i < PROXY_ACCEPT_BURST; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			proxy_accept_one(a, p, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			/* Out of fds or memory: listen again once a connection closes. */
			log_warn("egress proxy: accept: %s; pausing", strerror(errno));
			agent_watch_set(a, &p->lw, 0);
		}
		return;
	}
}

/* --- life cycle ------------------------------------------------------------------------ */

int agent_proxy_init(struct agent *a)
{
	const char *listen_spec =
		a->opt->egress_listen ? a->opt->egress_listen : AGENT_PROXY_LISTEN_DEFAULT;
	static const char *const names[] = { "http_proxy", "https_proxy", "HTTP_PROXY",
					     "HTTPS_PROXY" };
	struct sockaddr_storage ls;
	struct agent_proxy *p;
	unsigned ls_len;
	int one = 1, fd, r;
	size_t i;

	if (!a->opt->egress)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->lw.fd = -1;
	p->lw.fn = proxy_on_accept;
	p->spec = a->opt->egress;
	agent_list_init(&p->conns);
	agent_list_init(&p->dead);
	a->proxy = p;
	if (agent_proxy_parse_upstream(a->opt->egress, &p->up, &p->up_len) < 0) {
		log_err("bad --egress \"%s\" (want unix:PATH or vsock:PORT)", a->opt->egress);
		return -EINVAL;
	}
	if (agent_proxy_parse_listen(listen_spec, &ls, &ls_len) < 0) {
		log_err("bad --egress-listen \"%s\" (want IPV4:PORT)", listen_spec);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->lw.fd = fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ls, ls_len) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		log_err("egress proxy: listening on %s: %s", listen_spec, strerror(errno));
		return r;
	}
	r = agent_watch_set(a, &p->lw, EPOLLIN);
	if (r < 0)
		return r;
	/* Programs in the sandbox find the proxy through the usual variables;
	 * an exec's own env still wins. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p->env_store[i], sizeof(p->env_store[i]), "%s=http://%s", names[i],
			 listen_spec);
		p->env[i] = p->env_store[i];
	}
	p->env[i++] = "no_proxy=";
	p->env[i++] = "NO_PROXY=";
	p->env[i] = NULL;
	agent_spawn_extra_env = p->env;
	log_info("egress proxy on %s, to the host through %s", listen_spec, a->opt->egress);
	return 0;
}

void agent_proxy_close(struct agent *a)
{
	struct agent_proxy *p = a->proxy;

	if (!p)
		return;
	agent_watch_close(a, &p->lw);
	while (!agent_list_empty(&p->conns))
		proxy_conn_close(a, agent_list_entry(p->conns.next, struct proxy_conn, link));
}

void agent_proxy_reap(struct agent *a)
{
	struct agent_proxy *p = a->proxy;

	if (!p)
		return;
	while (!agent_list_empty(&p->dead)) {
		struct proxy_conn *c = agent_list_entry(p->dead.next, struct proxy_conn, dead_link);

		agent_list_del(&c->dead_link);
		free(c->up.data);
		free(c->down.data);
		free(c);
	}
}

void agent_proxy_free(struct agent *a)
{
	if (!a->proxy)
		return;
	agent_proxy_close(a);
	agent_proxy_reap(a);
	if (agent_spawn_extra_env == a->proxy->env)
		agent_spawn_extra_env = NULL;
	free(a->proxy);
	a->proxy = NULL;
}
