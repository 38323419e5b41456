/* Listening sockets: Unix (path or inherited fd) and vsock. A listener that
 * fails (a vsock transport reset after a snapshot restore, or running out of
 * fds) is paused and retried with backoff instead of ending the agent. */
#include "guest-agent/agent.h"

#include "common/frame.h"
#include "common/log.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#define TRANSPORT_BACKOFF_MIN_MS 50
#define TRANSPORT_BACKOFF_MAX_MS 2000
#define TRANSPORT_ACCEPT_BURST	 16
#define TRANSPORT_VSOCK_PORT	 1024

enum transport_kind { TRANSPORT_UNIX, TRANSPORT_VSOCK, TRANSPORT_FD };

struct agent_listener {
	struct agent_watch w;
	struct agent_watch retry;
	struct agent_list link;
	enum transport_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned port;
	int backoff_ms;
	int created; /* we bound path and should unlink it */
	int closed;
	const char *spec;
};

static void transport_on_accept(struct agent *a, struct agent_watch *w, uint32_t events);
static void transport_on_retry(struct agent *a, struct agent_watch *w, uint32_t events);

static int transport_parse(struct agent_listener *l, const char *spec)
{
	char *end;
	unsigned long v;

	l->spec = spec;
	if (strncmp(spec, "unix:", 5) == 0) {
		if (strlen(spec + 5) == 0 || strlen(spec + 5) >= sizeof(l->path))
			return -ENAMETOOLONG;
		l->kind = TRANSPORT_UNIX;
		strcpy(l->path, spec + 5);
		return 0;
	}
	if (strncmp(spec, "vsock:", 6) == 0 || strncmp(spec, "fd:", 3) == 0) {
		const char *num = strchr(spec, ':') + 1;

		errno = 0;
		v = strtoul(num, &end, 10);
		if (errno || !*num || *end || v > UINT_MAX)
			return -EINVAL;
		if (spec[0] == 'v') {
			l->kind = TRANSPORT_VSOCK;
			l->port = (unsigned)v;
		} else {
			if (v > INT_MAX)
				return -EINVAL;
			l->kind = TRANSPORT_FD;
			l->w.fd = (int)v;
		}
		return 0;
	}
	return -EINVAL;
}

/* Create, bind and listen; or adopt the inherited fd. */
static int transport_open(struct agent_listener *l)
{
	int fd, r;

	if (l->kind == TRANSPORT_FD) {
		int acc = 0;
		socklen_t len = sizeof(acc);

		if (getsockopt(l->w.fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
			return -errno;
		if (!acc)
			return -EINVAL;
		r = agent_set_nonblock(l->w.fd);
		if (r == 0 && fcntl(l->w.fd, F_SETFD, FD_CLOEXEC) < 0)
			r = -errno;
		return r;
	}
	if (l->kind == TRANSPORT_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct stat st;

		memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
		/* A stale socket from an earlier run; never remove anything else. */
		if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(l->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			goto fail;
		l->created = 1;
	} else {
		struct sockaddr_vm sv = {
			.svm_family = AF_VSOCK,
			.svm_cid = VMADDR_CID_ANY,
			.svm_port = l->port,
		};

		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&sv, sizeof(sv)) < 0)
			goto fail;
	}
	if (listen(fd, 128) < 0)
		goto fail;
	l->w.fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

static void transport_schedule_retry(struct agent *a, struct agent_listener *l)
{
	struct itimerspec its = { 0 };

	if (l->closed)
		return;
	if (l->retry.fd < 0) {
		l->retry.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		l->retry.fn = transport_on_retry;
		if (l->retry.fd < 0 || agent_watch_set(a, &l->retry, EPOLLIN) < 0) {
			log_err("listener %s: cannot arm a retry timer", l->spec);
			return;
		}
	}
	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : TRANSPORT_BACKOFF_MIN_MS;
	if (l->backoff_ms > TRANSPORT_BACKOFF_MAX_MS)
		l->backoff_ms = TRANSPORT_BACKOFF_MAX_MS;
	its.it_value.tv_sec = l->backoff_ms / 1000;
	its.it_value.tv_nsec = (long)(l->backoff_ms % 1000) * 1000000L;
	timerfd_settime(l->retry.fd, 0, &its, NULL);
}

/* The socket is broken: drop it (unless inherited) and try again later. */
static void transport_relisten(struct agent *a, struct agent_listener *l, int err)
{
	log_warn("listener %s: %s; listening again", l->spec, strerror(err));
	if (l->kind == TRANSPORT_FD)
		agent_watch_set(a, &l->w, 0);
	else
		agent_watch_close(a, &l->w);
	transport_schedule_retry(a, l);
}

static void transport_on_retry(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_listener *l = agent_list_entry(w, struct agent_listener, retry);
	uint64_t ticks;
	int r;

	(void)events;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (l->closed)
		return;
	if (l->w.fd < 0) {
		r = transport_open(l);
		if (r < 0) {
			log_debug("listener %s: %s", l->spec, strerror(-r));
			transport_schedule_retry(a, l);
			return;
		}
		log_info("listener %s: listening again", l->spec);
	}
	if (agent_watch_set(a, &l->w, EPOLLIN) < 0)
		transport_schedule_retry(a, l);
}

/* Turn away a client when the connection limit is reached. */
static void transport_refuse(int fd)
{
	static const char msg[] = "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"EBUSY\","
				  "\"message\":\"too many connections\"}}";
	unsigned char buf[FRAME_HDR_LEN + sizeof(msg)];

	frame_put_header(buf, sizeof(msg) - 1);
	memcpy(buf + FRAME_HDR_LEN, msg, sizeof(msg) - 1);
	if (send(fd, buf, FRAME_HDR_LEN + sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("refusing a connection: %s", strerror(errno));
	close(fd);
}

static void transport_on_accept(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_listener *l = agent_list_entry(w, struct agent_listener, w);
	int i, fd, max = a->opt->max_conns > 0 ? a->opt->max_conns : AGENT_MAX_CONNS;

	if (events & (EPOLLERR | EPOLLHUP)) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		transport_relisten(a, l, err ? err : EPIPE);
		return;
	}
	for (i = 0; i < TRANSPORT_ACCEPT_BURST; i++) {
		fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			l->backoff_ms = 0;
			if (a->nconns >= max) {
				log_warn("connection limit (%d) reached; refusing a client", max);
				transport_refuse(fd);
			} else if (agent_conn_new(a, fd) < 0) {
				log_warn("cannot set up a connection");
			}
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case ECONNRESET:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Out of resources: stop accepting for a moment. */
			log_warn("listener %s: accept: %s; pausing", l->spec, strerror(errno));
			agent_watch_set(a, &l->w, 0);
			transport_schedule_retry(a, l);
			return;
		default:
			transport_relisten(a, l, errno);
			return;
		}
	}
}

int agent_transport_init(struct agent *a)
{
	const struct agent_options *opt = a->opt;
	static const char *const defaults[] = { "vsock:1024" };
	const char *const *specs = opt->listen;
	size_t n = opt->nlisten, i;
	int r;

	if (n == 0) {
		if (!opt->pid1) {
			log_err("nothing to listen on: give --listen or --listen-fd");
			return -EINVAL;
		}
		specs = defaults;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		struct agent_listener *l;

		if (strncmp(specs[i], AGENT_SERIAL_PREFIX, strlen(AGENT_SERIAL_PREFIX)) == 0) {
			r = agent_serial_add(a, specs[i] + strlen(AGENT_SERIAL_PREFIX));
			if (r < 0) {
				log_err("bad serial port \"%s\": %s", specs[i], strerror(-r));
				return r;
			}
			continue;
		}
		l = calloc(1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		l->w.fd = -1;
		l->retry.fd = -1;
		l->w.fn = transport_on_accept;
		agent_list_add_tail(&a->listeners, &l->link);
		r = transport_parse(l, specs[i]);
		if (r < 0) {
			log_err("bad listen address \"%s\" (want unix:PATH, vsock:PORT, fd:N or "
				"serial:PATH)",
				specs[i]);
			l->w.fd = -1;
			return r;
		}
		r = transport_open(l);
		if (r < 0) {
			/* vsock may appear late (driver probe) or be mid-reset: keep trying. */
			if (l->kind == TRANSPORT_VSOCK) {
				log_warn("listener %s: %s; will retry", l->spec, strerror(-r));
				transport_schedule_retry(a, l);
				continue;
			}
			log_err("listener %s: %s", l->spec, strerror(-r));
			if (l->kind == TRANSPORT_FD)
				l->w.fd = -1;
			return r;
		}
		r = agent_watch_set(a, &l->w, EPOLLIN);
		if (r < 0)
			return r;
		log_info("listening on %s", l->spec);
	}
	return 0;
}

void agent_transport_close(struct agent *a)
{
	struct agent_list *it;

	agent_serial_close(a);
	for (it = a->listeners.next; it != &a->listeners; it = it->next) {
		struct agent_listener *l = agent_list_entry(it, struct agent_listener, link);

		if (l->closed)
			continue;
		l->closed = 1;
		agent_watch_close(a, &l->w);
		agent_watch_close(a, &l->retry);
		if (l->created && l->kind == TRANSPORT_UNIX)
			unlink(l->path);
	}
}

void agent_transport_free(struct agent *a)
{
	agent_transport_close(a);
	agent_serial_free(a);
	while (!agent_list_empty(&a->listeners)) {
		struct agent_listener *l =
			agent_list_entry(a->listeners.next, struct agent_listener, link);

		agent_list_del(&l->link);
		free(l);
	}
}
