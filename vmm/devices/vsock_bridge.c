/* virtio-vsock, host side: the listening Unix socket and its CONNECT
 * handshake, guest connections bridged to "<path>_<port>", and the
 * host sockets of every connection on the event loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/devices/vsock_internal.h"

#define vsock_client_of(l) \
	((struct vsock_client *)((char *)(l) - __builtin_offsetof(struct vsock_client, link)))

uint64_t vsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void vsock_on_conn(void *opaque, int fd, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct vsock *v = c->v;

	(void)fd;
	virtio_mmio_lock(v->t);
	if (!vsock_check_reset(v)) { /* a reset took c with everything else */
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->readable = true;
		if (events & (EPOLLHUP | EPOLLERR))
			c->hup = c->writable = true;
		if (events & EPOLLOUT)
			c->writable = true;
		vsock_conn_run(v, c);
		vsock_service(v);
	}
	virtio_mmio_unlock(v->t);
}

int vsock_bridge_watch(struct vsock *v, struct vsock_conn *c)
{
	return loop_add(v->loop, c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, vsock_on_conn,
			c);
}

void vsock_bridge_unwatch(struct vsock *v, struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	loop_remove(v->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

int vsock_bridge_send_ok(struct vsock_conn *c)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
	ssize_t r = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

	return r == n ? 0 : -EIO;
}

void vsock_bridge_arm_timer(struct vsock *v)
{
	struct itimerspec its = { .it_interval = { 0, VSOCK_TICK_MS * 1000000L },
				  .it_value = { 0, VSOCK_TICK_MS * 1000000L } };

	if (v->timer_armed)
		return;
	if (timerfd_settime(v->timer_fd, 0, &its, NULL) == 0)
		v->timer_armed = true;
}

void vsock_bridge_guest_connect(struct vsock *v, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd, n;

	if (v->conns.count >= VSOCK_MAX_CONNS) {
		log_debug("vsock: %u connections already; guest connect to port %u refused",
			  v->conns.count, h->dst_port);
		vsock_reply_rst(v, h);
		return;
	}
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, h->dst_port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("vsock: guest connect to port %u (%s): %m", h->dst_port, sa.sun_path);
		if (fd >= 0)
			close(fd);
		vsock_reply_rst(v, h);
		return;
	}
	c = vsock_conn_new(v, h->dst_port, h->src_port, fd);
	if (!c || vsock_bridge_watch(v, c) < 0) {
		if (c)
			vsock_conn_free(c);
		else
			close(fd);
		vsock_reply_rst(v, h);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	vsock_conn_insert(&v->conns, c);
	vsock_want(v, c, VSOCK_PEND_RESPONSE);
}

static void vsock_client_free(struct vsock *v, struct vsock_client *cl, bool close_fd)
{
	vsock_link_del(&cl->link);
	v->nclients--;
	loop_remove(v->loop, cl->fd);
	if (close_fd)
		close(cl->fd);
	free(cl);
}

/* The client asked for guest port: send the guest a REQUEST. */
static void vsock_host_connect(struct vsock *v, struct vsock_client *cl, uint32_t port)
{
	struct vsock_conn *c;
	uint32_t local;
	int fd = cl->fd;

	if (v->conns.count >= VSOCK_MAX_CONNS) {
		log_debug("vsock: %u connections already; host connect refused", v->conns.count);
		vsock_client_free(v, cl, true);
		return;
	}
	/* At most VSOCK_MAX_CONNS ports are taken, so a free one is near. */
	do {
		local = v->next_host_port++;
		if (v->next_host_port == 0)
			v->next_host_port = VSOCK_FIRST_HOST_PORT;
	} while (vsock_conn_find(&v->conns, local, port));
	vsock_client_free(v, cl, false);
	c = vsock_conn_new(v, local, port, fd);
	if (!c || vsock_bridge_watch(v, c) < 0) {
		if (c)
			vsock_conn_free(c);
		else
			close(fd);
		return;
	}
	c->state = VSOCK_CONN_CONNECTING;
	c->host_initiated = true;
	c->deadline_ms = vsock_now_ms() + v->connect_timeout_ms;
	vsock_conn_insert(&v->conns, c);
	vsock_want(v, c, VSOCK_PEND_REQUEST);
	vsock_bridge_arm_timer(v);
}

/* Read the handshake a byte at a time so nothing after the newline is
 * taken from the stream. */
static void vsock_client_read(struct vsock *v, struct vsock_client *cl)
{
	uint32_t port;

	for (;;) {
		char ch;
		ssize_t r = recv(cl->fd, &ch, 1, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			vsock_client_free(v, cl, true);
			return;
		}
		cl->line[cl->len++] = ch;
		if (ch == '\n')
			break;
		if (cl->len == sizeof(cl->line)) {
			log_debug("vsock: host client sent no CONNECT line; closed");
			vsock_client_free(v, cl, true);
			return;
		}
	}
	if (vsock_parse_connect(cl->line, cl->len, &port) < 0) {
		log_debug("vsock: host client sent a bad CONNECT line; closed");
		vsock_client_free(v, cl, true);
		return;
	}
	vsock_host_connect(v, cl, port);
}

static void vsock_on_client(void *opaque, int fd, uint32_t events)
{
	struct vsock_client *cl = opaque;
	struct vsock *v = cl->v;

	(void)fd;
	(void)events;
	virtio_mmio_lock(v->t);
	vsock_check_reset(v); /* clients are not connections: they stay */
	vsock_client_read(v, cl);
	vsock_service(v);
	virtio_mmio_unlock(v->t);
}

static void vsock_on_listen(void *opaque, int fd, uint32_t events)
{
	struct vsock *v = opaque;

	(void)events;
	virtio_mmio_lock(v->t);
	vsock_check_reset(v);
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_client *cl;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("vsock: accept on %s: %m", v->uds_path);
			break;
		}
		cl = v->nclients < VSOCK_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
		if (!cl) {
			close(cfd);
			continue;
		}
		cl->v = v;
		cl->fd = cfd;
		cl->deadline_ms = vsock_now_ms() + VSOCK_CLIENT_TIMEOUT;
		if (loop_add(v->loop, cfd, EPOLLIN, vsock_on_client, cl) < 0) {
			close(cfd);
			free(cl);
			continue;
		}
		vsock_link_add_tail(&v->clients, &cl->link);
		v->nclients++;
		vsock_bridge_arm_timer(v);
	}
	virtio_mmio_unlock(v->t);
}

/* Give up on host clients that never sent their line and on host-initiated
 * connections the guest never answered. */
static void vsock_on_timer(void *opaque, int fd, uint32_t events)
{
	struct vsock *v = opaque;
	struct itimerspec off = { 0 };
	uint64_t now = vsock_now_ms(), ticks;
	bool busy = false;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("vsock: timer: %m");
	virtio_mmio_lock(v->t);
	vsock_check_reset(v);
	for (struct vsock_link *l = v->clients.next, *next; l != &v->clients; l = next) {
		struct vsock_client *cl = vsock_client_of(l);
		next = l->next;
		if (now >= cl->deadline_ms)
			vsock_client_free(v, cl, true);
		else
			busy = true;
	}
	for (uint32_t b = 0; b < VSOCK_CONN_BUCKETS; b++) {
		for (struct vsock_conn *c = v->conns.buckets[b], *next; c; c = next) {
			next = c->hnext;
			if (c->state != VSOCK_CONN_CONNECTING)
				continue;
			if (now >= c->deadline_ms) {
				log_debug("vsock: guest did not answer a connect to port %u",
					  c->peer_port);
				vsock_conn_reset(v, c);
			} else {
				busy = true;
			}
		}
	}
	if (!busy && timerfd_settime(v->timer_fd, 0, &off, NULL) == 0)
		v->timer_armed = false;
	vsock_service(v);
	virtio_mmio_unlock(v->t);
}

int vsock_bridge_open(struct vsock *v, const char *uds_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	/* Leave room for the "_<port>" of guest-initiated connections. */
	if (strlen(uds_path) + 11 >= sizeof(sa.sun_path)) {
		log_err("vsock: socket path %s is too long", uds_path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds_path);
	if (lstat(uds_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("vsock: %s exists and is not a socket", uds_path);
			return -EEXIST;
		}
		unlink(uds_path); /* stale, from an earlier run */
	}
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0 || bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(v->listen_fd, 64) < 0) {
		r = -errno;
		log_err("vsock: listen on %s: %m", uds_path);
		return r;
	}
	snprintf(v->uds_path, sizeof(v->uds_path), "%s", uds_path); /* ours to remove now */
	r = loop_add(v->loop, v->listen_fd, EPOLLIN, vsock_on_listen, v);
	if (r < 0)
		return r;
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (v->timer_fd < 0)
		return -errno;
	return loop_add(v->loop, v->timer_fd, EPOLLIN, vsock_on_timer, v);
}

void vsock_bridge_close(struct vsock *v)
{
	while (!vsock_link_empty(&v->clients))
		vsock_client_free(v, vsock_client_of(v->clients.next), true);
	if (v->listen_fd >= 0) {
		loop_remove(v->loop, v->listen_fd);
		close(v->listen_fd);
		if (v->uds_path[0])
			unlink(v->uds_path);
		v->listen_fd = -1;
	}
	if (v->timer_fd >= 0) {
		loop_remove(v->loop, v->timer_fd);
		close(v->timer_fd);
		v->timer_fd = -1;
	}
}
