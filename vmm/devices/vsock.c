/* virtio-vsock: the device, its queues, and the packets the guest sends. */
#include "vmm/devices/vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/devices/vsock_internal.h"

static void vsock_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct vsock *v = dev;

	memcpy(data, (const uint8_t *)&v->guest_cid + off, len);
}

void vsock_conn_hdr(const struct vsock *v, const struct vsock_conn *c, uint16_t op,
		    struct vsock_hdr *h)
{
	*h = (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID,
				 .dst_cid = v->guest_cid,
				 .src_port = c->local_port,
				 .dst_port = c->peer_port,
				 .type = VSOCK_TYPE_STREAM,
				 .op = op,
				 .buf_alloc = VSOCK_CONN_BUF,
				 .fwd_cnt = c->fwd_cnt };
}

void vsock_conn_advertised(struct vsock_conn *c, const struct vsock_hdr *h)
{
	/* Every header sent tells the guest our fwd_cnt: no separate update needed. */
	c->fwd_cnt_sent = h->fwd_cnt;
	if (c->fwd_cnt_sent == c->fwd_cnt)
		c->pending &= (uint8_t)~VSOCK_PEND_CREDIT_UPDATE;
}

void vsock_reply_rst(struct vsock *v, const struct vsock_hdr *h)
{
	struct vsock_hdr *r;

	if (v->rst_count == VSOCK_RST_MAX)
		return; /* cannot happen: tx stalls before the ring fills */
	r = &v->rst[(v->rst_head + v->rst_count++) % VSOCK_RST_MAX];
	*r = (struct vsock_hdr){ .src_cid = h->dst_cid,
				 .dst_cid = h->src_cid,
				 .src_port = h->dst_port,
				 .dst_port = h->src_port,
				 .type = h->type,
				 .op = VSOCK_OP_RST };
}

void vsock_drop_all(struct vsock *v)
{
	for (uint32_t b = 0; b < VSOCK_CONN_BUCKETS && v->conns.count; b++)
		while (v->conns.buckets[b])
			vsock_conn_destroy(v, v->conns.buckets[b]);
	v->rst_count = 0;
	v->tx_stalled = false;
}

bool vsock_check_reset(struct vsock *v)
{
	if (!v->reset_pending)
		return false;
	v->reset_pending = false;
	vsock_drop_all(v);
	return true;
}

/* The packet's connection, with the guest's view of its window applied. */
static void vsock_handle_conn(struct vsock *v, struct vsock_conn *c, const struct vsock_hdr *h,
			      const struct virtq_chain *ch)
{
	if (c->state == VSOCK_CONN_CLOSED) {
		/* Our RST is on its way; only the guest's own RST or a new
		 * connection on the same ports matters. */
		if (h->op == VSOCK_OP_RST || h->op == VSOCK_OP_REQUEST)
			vsock_conn_destroy(v, c);
		if (h->op == VSOCK_OP_REQUEST)
			vsock_bridge_guest_connect(v, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (vsock_conn_peer_credit(c))
		c->credit_requested = false;
	switch (h->op) {
	case VSOCK_OP_RST:
		vsock_conn_destroy(v, c);
		return;
	case VSOCK_OP_RESPONSE:
		if (c->state != VSOCK_CONN_CONNECTING || vsock_bridge_send_ok(c) < 0) {
			vsock_conn_reset(v, c);
			return;
		}
		c->state = VSOCK_CONN_ESTABLISHED;
		break;
	case VSOCK_OP_SHUTDOWN:
		if (c->state != VSOCK_CONN_ESTABLISHED) {
			vsock_conn_reset(v, c);
			return;
		}
		c->peer_shutdown |= h->flags & VSOCK_SHUTDOWN_BOTH;
		break;
	case VSOCK_OP_RW:
		if (c->state != VSOCK_CONN_ESTABLISHED ||
		    (c->peer_shutdown & VSOCK_SHUTDOWN_SEND)) {
			vsock_conn_reset(v, c);
			return;
		}
		vsock_conn_from_guest(v, c, ch, h->len);
		if (c->state == VSOCK_CONN_CLOSED)
			return;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		vsock_want(v, c, VSOCK_PEND_CREDIT_UPDATE);
		break;
	default: /* a second REQUEST on a live connection */
		vsock_conn_reset(v, c);
		return;
	}
	vsock_conn_run(v, c);
}

static void vsock_handle_packet(struct vsock *v, const struct virtq_chain *ch)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr h;
	const char *why;
	struct vsock_conn *c;

	if (virtq_chain_read(ch, 0, raw, sizeof(raw)) != sizeof(raw)) {
		log_debug("vsock: tx packet shorter than a header; dropped");
		return;
	}
	vsock_hdr_decode(raw, &h);
	c = vsock_conn_find(&v->conns, h.dst_port, h.src_port);
	switch (vsock_packet_check(&h, v->guest_cid, ch->rlen - VSOCK_HDR_SIZE, &why)) {
	case VSOCK_PKT_DROP:
		log_debug("vsock: %s packet dropped: %s", vsock_op_name(h.op), why);
		return;
	case VSOCK_PKT_RST:
		log_debug("vsock: %s packet refused: %s", vsock_op_name(h.op), why);
		if (c && h.dst_cid == VSOCK_HOST_CID)
			vsock_conn_reset(v, c);
		else
			vsock_reply_rst(v, &h);
		return;
	case VSOCK_PKT_OK:
		break;
	}
	if (c)
		vsock_handle_conn(v, c, &h, ch);
	else if (h.op == VSOCK_OP_REQUEST)
		vsock_bridge_guest_connect(v, &h);
	else if (h.op != VSOCK_OP_RST)
		vsock_reply_rst(v, &h);
}

void vsock_process_tx(struct vsock *v)
{
	while (virtio_mmio_running(v->t)) {
		/* Each packet may need up to two resets queued. */
		if (VSOCK_RST_MAX - v->rst_count < 2) {
			v->tx_stalled = true;
			break;
		}
		if (virtio_mmio_pop(v->t, VSOCK_TX_Q, &v->txc) <= 0)
			break;
		vsock_handle_packet(v, &v->txc);
		virtio_mmio_push(v->t, VSOCK_TX_Q, v->txc.head, 0);
	}
	virtio_mmio_signal(v->t, VSOCK_TX_Q);
}

static void vsock_queue_notify(void *dev, uint32_t q)
{
	struct vsock *v = dev;

	vsock_check_reset(v);
	if (q == VSOCK_RX_Q)
		vsock_rx_kick(v);
	else if (q == VSOCK_TX_Q)
		vsock_process_tx(v);
	/* Event buffers are only used by vsock_transport_reset(). */
	vsock_service(v);
}

static void vsock_reset_work(void *opaque)
{
	struct vsock *v = opaque;

	virtio_mmio_lock(v->t);
	vsock_check_reset(v);
	virtio_mmio_unlock(v->t);
}

/* The driver wrote status 0 (on a vCPU thread): connections go, but their
 * sockets belong to the loop thread, so the work is handed over. */
static void vsock_device_reset(void *dev)
{
	struct vsock *v = dev;

	v->reset_pending = true;
	if (loop_call(v->loop, vsock_reset_work, v) < 0)
		log_debug("vsock: deferring the reset failed; done at the next event");
}

static const struct virtio_device_ops vsock_ops = {
	.device_id = VSOCK_DEVICE_ID,
	.num_queues = 3,
	.config_size = sizeof(uint64_t),
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_device_reset,
};

int vsock_transport_reset(struct vsock *v)
{
	uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;
	int r = -EAGAIN;

	virtio_mmio_lock(v->t);
	v->reset_pending = false;
	vsock_drop_all(v);
	if (virtio_mmio_pop(v->t, VSOCK_EVENT_Q, &v->rxc) > 0) {
		size_t n = virtq_chain_write(&v->rxc, 0, &id, sizeof(id));
		virtio_mmio_push(v->t, VSOCK_EVENT_Q, v->rxc.head, (uint32_t)n);
		virtio_mmio_signal(v->t, VSOCK_EVENT_Q);
		r = n == sizeof(id) ? 0 : -EINVAL;
	}
	virtio_mmio_unlock(v->t);
	if (r == -EAGAIN)
		log_warn("vsock: transport reset without an event buffer; the guest was not told");
	return r;
}

unsigned int vsock_connection_count(struct vsock *v)
{
	unsigned int n;

	virtio_mmio_lock(v->t);
	n = v->conns.count;
	virtio_mmio_unlock(v->t);
	return n;
}

int vsock_new(const struct virtio_mmio_env *env, const struct vsock_config *cfg, struct vsock **out)
{
	struct vsock *v;
	int r;

	if (!env->loop || !cfg->uds_path || cfg->guest_cid < 3 || cfg->guest_cid > UINT32_MAX) {
		log_err("vsock: needs an event loop, a socket path and a guest CID from 3 to "
			"2^32-1");
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->loop = env->loop;
	v->guest_cid = cfg->guest_cid;
	v->connect_timeout_ms =
		cfg->connect_timeout_ms ? cfg->connect_timeout_ms : VSOCK_CONNECT_TIMEOUT;
	v->listen_fd = v->timer_fd = -1;
	v->next_host_port = VSOCK_FIRST_HOST_PORT;
	vsock_link_init(&v->clients);
	vsock_link_init(&v->pend);
	vsock_link_init(&v->rxw);
	/* The transport last: a bus region cannot be removed again, so nothing
	 * may fail after it is added. The loop does not run yet, so no socket
	 * callback can come before the transport exists. */
	r = vsock_bridge_open(v, cfg->uds_path);
	if (r < 0)
		goto fail;
	r = virtio_mmio_new(env, &vsock_ops, v, &v->t);
	if (r < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	vsock_free(v);
	return r;
}

void vsock_free(struct vsock *v)
{
	if (!v)
		return;
	vsock_drop_all(v);
	vsock_bridge_close(v);
	virtio_mmio_free(v->t);
	free(v);
}

struct virtio_mmio *vsock_transport(struct vsock *v)
{
	return v->t;
}

void vsock_get_state(struct vsock *v, struct vsock_state *st)
{
	st->guest_cid = v->guest_cid;
}
