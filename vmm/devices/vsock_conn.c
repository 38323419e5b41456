#include "vmm/devices/vsock_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct vsock_conn *vsock_conn_new(struct vsock *v, uint32_t local_port, uint32_t peer_port, int fd)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->v = v;
	c->local_port = local_port;
	c->peer_port = peer_port;
	c->fd = fd;
	c->writable = true;
	vsock_link_init(&c->pend_link);
	vsock_link_init(&c->rxw_link);
	return c;
}

void vsock_conn_free(struct vsock_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

static uint32_t vsock_conn_hash(uint32_t local_port, uint32_t peer_port)
{
	uint32_t h = local_port * 0x9e3779b1u ^ (peer_port + 0x7f4a7c15u) * 0x85ebca6bu;

	return (h ^ (h >> 15)) % VSOCK_CONN_BUCKETS;
}

struct vsock_conn *vsock_conn_find(const struct vsock_conn_table *t, uint32_t local_port,
				   uint32_t peer_port)
{
	struct vsock_conn *c = t->buckets[vsock_conn_hash(local_port, peer_port)];

	for (; c; c = c->hnext)
		if (c->local_port == local_port && c->peer_port == peer_port)
			return c;
	return NULL;
}

void vsock_conn_insert(struct vsock_conn_table *t, struct vsock_conn *c)
{
	uint32_t b = vsock_conn_hash(c->local_port, c->peer_port);

	c->hnext = t->buckets[b];
	t->buckets[b] = c;
	t->count++;
}

void vsock_conn_unlink(struct vsock_conn_table *t, struct vsock_conn *c)
{
	struct vsock_conn **pp = &t->buckets[vsock_conn_hash(c->local_port, c->peer_port)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			c->hnext = NULL;
			t->count--;
			return;
		}
	}
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

int vsock_conn_buf_append(struct vsock_conn *c, const struct iovec *iov, int n, size_t off,
			  size_t len)
{
	if (len > VSOCK_CONN_BUF - c->buf_len)
		return -ENOBUFS;
	if (!len)
		return 0;
	if (!c->buf) {
		c->buf = malloc(VSOCK_CONN_BUF);
		if (!c->buf)
			return -ENOMEM;
	}
	for (int i = 0; i < n && len; i++) {
		const uint8_t *src = iov[i].iov_base;
		size_t seg = iov[i].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		src += off;
		seg -= off;
		off = 0;
		if (seg > len)
			seg = len;
		len -= seg;
		while (seg) {
			uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
			size_t k = VSOCK_CONN_BUF - tail < seg ? VSOCK_CONN_BUF - tail : seg;
			memcpy(c->buf + tail, src, k);
			c->buf_len += (uint32_t)k;
			src += k;
			seg -= k;
		}
	}
	return 0;
}

ssize_t vsock_conn_buf_flush(struct vsock_conn *c)
{
	ssize_t total = 0;

	while (c->buf_len) {
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 1 };
		uint32_t first = VSOCK_CONN_BUF - c->buf_head;

		if (first >= c->buf_len) {
			iov[0] = (struct iovec){ c->buf + c->buf_head, c->buf_len };
		} else {
			iov[0] = (struct iovec){ c->buf + c->buf_head, first };
			iov[1] = (struct iovec){ c->buf, c->buf_len - first };
			msg.msg_iovlen = 2;
		}
		ssize_t r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		c->buf_head = (c->buf_head + (uint32_t)r) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)r;
		total += r;
	}
	if (!c->buf_len)
		c->buf_head = 0;
	return total;
}
