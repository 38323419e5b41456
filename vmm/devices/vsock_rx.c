/* virtio-vsock connection engine: credit, buffering, shutdown, and what
 * goes into the guest's rx buffers (control packets first, then data). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/log.h"
#include "vmm/devices/vsock_internal.h"

void vsock_want(struct vsock *v, struct vsock_conn *c, uint8_t bits)
{
	if (c->pending & VSOCK_PEND_RST)
		return; /* a reset supersedes everything else */
	c->pending |= bits;
	if (vsock_link_empty(&c->pend_link))
		vsock_link_add_tail(&v->pend, &c->pend_link);
}

void vsock_conn_destroy(struct vsock *v, struct vsock_conn *c)
{
	vsock_bridge_unwatch(v, c);
	vsock_link_del(&c->pend_link);
	vsock_link_del(&c->rxw_link);
	vsock_conn_unlink(&v->conns, c);
	vsock_conn_free(c);
}

void vsock_conn_reset(struct vsock *v, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_CLOSED)
		return;
	if (c->pending & VSOCK_PEND_REQUEST) {
		/* The guest never heard of it: nothing to reset there. */
		vsock_conn_destroy(v, c);
		return;
	}
	vsock_bridge_unwatch(v, c);
	free(c->buf);
	c->buf = NULL;
	c->buf_len = c->buf_head = 0;
	c->state = VSOCK_CONN_CLOSED;
	vsock_link_del(&c->rxw_link);
	c->pending &= VSOCK_PEND_SHUTDOWN; /* a shutdown owed still goes first */
	vsock_want(v, c, VSOCK_PEND_RST);
}

/* Tell the guest about freed space once half its window has come back. */
static void vsock_credit_check(struct vsock *v, struct vsock_conn *c)
{
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CONN_BUF / 2)
		vsock_want(v, c, VSOCK_PEND_CREDIT_UPDATE);
}

void vsock_conn_from_guest(struct vsock *v, struct vsock_conn *c, const struct virtq_chain *ch,
			   uint32_t len)
{
	size_t done = 0;
	int n;

	if (!len)
		return;
	if (len > VSOCK_CONN_BUF - c->buf_len) {
		log_debug("vsock: guest port %u overran its credit; reset", c->peer_port);
		vsock_conn_reset(v, c);
		return;
	}
	n = virtq_chain_slice(ch, false, VSOCK_HDR_SIZE, len, v->iov, VIRTQ_MAX_SEGS);
	if (!c->buf_len && c->writable) {
		struct msghdr msg = { .msg_iov = v->iov, .msg_iovlen = (size_t)n };
		ssize_t r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			log_debug("vsock: host side of port %u: %m; reset", c->local_port);
			vsock_conn_reset(v, c);
			return;
		}
		done = r > 0 ? (size_t)r : 0;
		if (done < len)
			c->writable = false;
	}
	if (done < len && vsock_conn_buf_append(c, v->iov, n, done, len - done) < 0) {
		vsock_conn_reset(v, c);
		return;
	}
	c->fwd_cnt += (uint32_t)done;
	vsock_credit_check(v, c);
}

/* Host bytes into rx buffers while the guest has credit and buffers. */
static void vsock_conn_pump(struct vsock *v, struct vsock_conn *c)
{
	const uint8_t blocked = VSOCK_PEND_RST | VSOCK_PEND_REQUEST | VSOCK_PEND_RESPONSE;
	bool sent = false;

	while (c->readable && c->fd >= 0 && !(c->local_shutdown & VSOCK_SHUTDOWN_SEND) &&
	       !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) && !(c->pending & blocked)) {
		uint32_t credit = vsock_conn_peer_credit(c);
		if (!credit) {
			if (!c->credit_requested) {
				c->credit_requested = true;
				vsock_want(v, c, VSOCK_PEND_CREDIT_REQUEST);
			}
			break;
		}
		int r = virtio_mmio_pop(v->t, VSOCK_RX_Q, &v->rxc);
		if (r <= 0) {
			if (r == 0 && vsock_link_empty(&c->rxw_link))
				vsock_link_add_tail(&v->rxw, &c->rxw_link);
			break;
		}
		if (v->rxc.wlen <= VSOCK_HDR_SIZE) {
			virtio_mmio_fail(v->t, "rx buffer of %u bytes cannot hold a packet",
					 v->rxc.wlen);
			break;
		}
		size_t max = v->rxc.wlen - VSOCK_HDR_SIZE;
		if (max > credit)
			max = credit;
		if (max > VSOCK_MAX_PAYLOAD)
			max = VSOCK_MAX_PAYLOAD;
		int n = virtq_chain_slice(&v->rxc, true, VSOCK_HDR_SIZE, max, v->iov,
					  VIRTQ_MAX_SEGS);
		ssize_t got = readv(c->fd, v->iov, n);
		if (got <= 0) {
			int err = got < 0 ? errno : 0;
			virtio_mmio_unpop(v->t, VSOCK_RX_Q);
			if (err == EINTR)
				continue;
			if (err == EAGAIN) {
				c->readable = false;
				break;
			}
			if (err) {
				log_debug("vsock: host side of port %u: %s; reset", c->local_port,
					  strerror(err));
				vsock_conn_reset(v, c);
				return;
			}
			/* End of stream from the host. */
			c->readable = false;
			c->local_shutdown |=
				VSOCK_SHUTDOWN_SEND | (c->hup ? VSOCK_SHUTDOWN_RCV : 0);
			vsock_want(v, c, VSOCK_PEND_SHUTDOWN);
			break;
		}
		struct vsock_hdr h;
		uint8_t raw[VSOCK_HDR_SIZE];
		vsock_conn_hdr(v, c, VSOCK_OP_RW, &h);
		h.len = (uint32_t)got;
		vsock_hdr_encode(&h, raw);
		virtq_chain_write(&v->rxc, 0, raw, sizeof(raw));
		virtio_mmio_push(v->t, VSOCK_RX_Q, v->rxc.head, VSOCK_HDR_SIZE + (uint32_t)got);
		vsock_conn_advertised(c, &h);
		c->tx_cnt += (uint32_t)got;
		sent = true;
	}
	if (sent)
		virtio_mmio_signal(v->t, VSOCK_RX_Q);
}

/* Both directions are over: the guest will send nothing more and every
 * byte it sent reached the host; the host will send nothing more either
 * (or the guest will not read it). */
static bool vsock_conn_done(const struct vsock_conn *c)
{
	return (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !c->buf_len &&
	       ((c->peer_shutdown & VSOCK_SHUTDOWN_RCV) ||
		(c->local_shutdown & VSOCK_SHUTDOWN_SEND));
}

void vsock_conn_run(struct vsock *v, struct vsock_conn *c)
{
	if (c->state == VSOCK_CONN_CLOSED)
		return;
	if (c->state == VSOCK_CONN_CONNECTING) {
		if (c->hup) {
			log_debug("vsock: host client left before port %u answered", c->peer_port);
			vsock_conn_reset(v, c);
		}
		return;
	}
	if (c->writable && c->buf_len) {
		ssize_t r = vsock_conn_buf_flush(c);
		if (r < 0) {
			log_debug("vsock: host side of port %u: %s; reset", c->local_port,
				  strerror((int)-r));
			vsock_conn_reset(v, c);
			return;
		}
		c->fwd_cnt += (uint32_t)r;
		if (c->buf_len)
			c->writable = false;
		vsock_credit_check(v, c);
		/* Drained: the guest may be waiting for exactly this space. */
		if (!c->buf_len && r > 0 && c->fwd_cnt != c->fwd_cnt_sent)
			vsock_want(v, c, VSOCK_PEND_CREDIT_UPDATE);
	}
	if (!c->buf_len && (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !c->shut_wr_done) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr_done = true;
	}
	vsock_conn_pump(v, c);
	if (c->state != VSOCK_CONN_ESTABLISHED)
		return;
	if (c->hup && !c->readable && (c->local_shutdown & VSOCK_SHUTDOWN_SEND) &&
	    !(c->local_shutdown & VSOCK_SHUTDOWN_RCV)) {
		/* The host closed its socket entirely: it will not read either. */
		c->local_shutdown |= VSOCK_SHUTDOWN_RCV;
		vsock_want(v, c, VSOCK_PEND_SHUTDOWN);
	}
	if (vsock_conn_done(c))
		vsock_conn_reset(v, c);
}

/* Put one header-only packet into the next rx buffer. */
static bool vsock_rx_deliver(struct vsock *v, const struct vsock_hdr *h)
{
	uint8_t raw[VSOCK_HDR_SIZE];

	if (virtio_mmio_pop(v->t, VSOCK_RX_Q, &v->rxc) <= 0)
		return false;
	if (v->rxc.wlen < VSOCK_HDR_SIZE) {
		virtio_mmio_fail(v->t, "rx buffer of %u bytes cannot hold a header", v->rxc.wlen);
		return false;
	}
	vsock_hdr_encode(h, raw);
	virtq_chain_write(&v->rxc, 0, raw, sizeof(raw));
	virtio_mmio_push(v->t, VSOCK_RX_Q, v->rxc.head, VSOCK_HDR_SIZE);
	return true;
}

static uint16_t vsock_pend_op(uint8_t bit)
{
	switch (bit) {
	case VSOCK_PEND_RST:
		return VSOCK_OP_RST;
	case VSOCK_PEND_REQUEST:
		return VSOCK_OP_REQUEST;
	case VSOCK_PEND_RESPONSE:
		return VSOCK_OP_RESPONSE;
	case VSOCK_PEND_CREDIT_UPDATE:
		return VSOCK_OP_CREDIT_UPDATE;
	case VSOCK_PEND_CREDIT_REQUEST:
		return VSOCK_OP_CREDIT_REQUEST;
	default:
		return VSOCK_OP_SHUTDOWN;
	}
}

static void vsock_flush_control(struct vsock *v)
{
	bool sent = false;

	while (v->rst_count) {
		if (!vsock_rx_deliver(v, &v->rst[v->rst_head]))
			goto out;
		v->rst_head = (v->rst_head + 1) % VSOCK_RST_MAX;
		v->rst_count--;
		sent = true;
	}
	while (!vsock_link_empty(&v->pend)) {
		struct vsock_conn *c = vsock_conn_of(v->pend.next, pend_link);
		uint8_t bit =
			c->pending & (uint8_t)-c->pending; /* lowest first: RST, REQUEST, ... */
		struct vsock_hdr h;

		if (!bit) {
			vsock_link_del(&c->pend_link);
			continue;
		}
		vsock_conn_hdr(v, c, vsock_pend_op(bit), &h);
		if (bit == VSOCK_PEND_SHUTDOWN)
			h.flags = c->local_shutdown;
		if (!vsock_rx_deliver(v, &h))
			goto out;
		sent = true;
		c->pending &= (uint8_t)~bit;
		if (bit == VSOCK_PEND_RST) {
			vsock_conn_destroy(v, c);
			continue;
		}
		vsock_conn_advertised(c, &h);
		if (!c->pending)
			vsock_link_del(&c->pend_link);
		if (bit == VSOCK_PEND_RESPONSE)
			vsock_conn_run(v, c); /* data may flow now */
	}
out:
	if (sent)
		virtio_mmio_signal(v->t, VSOCK_RX_Q);
}

void vsock_service(struct vsock *v)
{
	vsock_flush_control(v);
	while (v->tx_stalled && VSOCK_RST_MAX - v->rst_count >= 2 && virtio_mmio_running(v->t)) {
		v->tx_stalled = false;
		vsock_process_tx(v);
		vsock_flush_control(v);
	}
}

void vsock_rx_kick(struct vsock *v)
{
	struct vsock_link waiting;

	vsock_flush_control(v);
	if (vsock_link_empty(&v->rxw))
		return;
	/* Take the waiters as they are now: one that runs out of buffers again
	 * goes back on v->rxw and waits for the next kick. */
	waiting = v->rxw;
	waiting.next->prev = &waiting;
	waiting.prev->next = &waiting;
	vsock_link_init(&v->rxw);
	while (!vsock_link_empty(&waiting)) {
		struct vsock_conn *c = vsock_conn_of(waiting.next, rxw_link);
		vsock_link_del(&c->rxw_link);
		vsock_conn_run(v, c);
	}
}
