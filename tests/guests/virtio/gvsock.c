/* The synthetic guests' vsock stack: see gvsock.h. */
#include "gvsock.h"

#include "rt.h"

#define GVSOCK_TYPE_STREAM	  1
#define GVSOCK_EVENT_BUFS	  4
#define GVSOCK_EVENT_SIZE	  8
#define GVSOCK_EV_TRANSPORT_RESET 0
#define GVSOCK_FIRST_PORT	  49152
#define GVSOCK_TX_RESERVE	  4 /* packet buffers data may not take: for control packets */
#define GVSOCK_RX_STRIDE	  ((GVSOCK_HDR_SIZE + GVSOCK_RX_PAYLOAD + 63) & ~63)
#define GVSOCK_TX_STRIDE	  ((GVSOCK_HDR_SIZE + GVSOCK_TX_PAYLOAD + 63) & ~63)

/* Control packets a connection owes the peer, sent lowest bit first. */
#define GVSOCK_PEND_REQUEST	   0x01
#define GVSOCK_PEND_RESPONSE	   0x02
#define GVSOCK_PEND_CREDIT_UPDATE  0x04
#define GVSOCK_PEND_CREDIT_REQUEST 0x08
#define GVSOCK_PEND_SHUTDOWN	   0x10

_Static_assert(sizeof(struct gvsock_hdr) == GVSOCK_HDR_SIZE, "vsock header is 44 bytes");

static uint8_t *gvsock_event_bufs;

static int gvsock_post_rx(struct gvsock *vs, unsigned int i)
{
	struct gvirtq_buf b = { .addr = vs->rxbufs + (size_t)i * GVSOCK_RX_STRIDE,
				.len = GVSOCK_HDR_SIZE + GVSOCK_RX_PAYLOAD,
				.write = true };

	vs->kick_rx = true;
	return gvirtq_add(&vs->rx, &b, 1, i) < 0 ? -1 : 0;
}

static int gvsock_post_event(struct gvsock *vs, unsigned int i)
{
	struct gvirtq_buf b = { .addr = gvsock_event_bufs + (size_t)i * GVSOCK_EVENT_SIZE,
				.len = GVSOCK_EVENT_SIZE,
				.write = true };

	return gvirtq_add(&vs->ev, &b, 1, i) < 0 ? -1 : 0;
}

int gvsock_init(struct gvsock *vs)
{
	memset(vs, 0, sizeof(*vs));
	if (gvirtio_find(GVIRTIO_ID_VSOCK, 0, &vs->dev) < 0) {
		rt_puts("vsock: no virtio-vsock device (agentvm-vmm --vsock)\n");
		return -1;
	}
	if (gvirtio_start(&vs->dev, 0) < 0)
		return -1;
	vs->cid = gvirtio_config64(&vs->dev, 0);
	if (gvirtq_init(&vs->rx, &vs->dev, 0, 128) < 0 ||
	    gvirtq_init(&vs->tx, &vs->dev, 1, 128) < 0 || gvirtq_init(&vs->ev, &vs->dev, 2, 8) < 0)
		return -1;
	vs->rxbufs = rt_alloc((size_t)GVSOCK_RX_BUFS * GVSOCK_RX_STRIDE, 4096);
	vs->txbufs = rt_alloc((size_t)GVSOCK_TX_SLOTS * GVSOCK_TX_STRIDE, 4096);
	gvsock_event_bufs = rt_alloc(GVSOCK_EVENT_BUFS * GVSOCK_EVENT_SIZE, 64);
	if (!vs->rxbufs || !vs->txbufs || !gvsock_event_bufs) {
		rt_puts("vsock: out of guest memory for buffers\n");
		return -1;
	}
	for (unsigned int i = 0; i < GVSOCK_TX_SLOTS; i++)
		vs->tx_free[vs->ntx_free++] = (uint16_t)i;
	for (unsigned int i = 0; i < GVSOCK_RX_BUFS; i++)
		if (gvsock_post_rx(vs, i) < 0)
			return -1;
	for (unsigned int i = 0; i < GVSOCK_EVENT_BUFS; i++)
		if (gvsock_post_event(vs, i) < 0)
			return -1;
	vs->next_port = GVSOCK_FIRST_PORT;
	gvirtio_driver_ok(&vs->dev);
	if (!(gvirtio_status(&vs->dev) & GVIRTIO_S_DRIVER_OK)) {
		rt_printf("vsock: device refused DRIVER_OK (status %x)\n",
			  gvirtio_status(&vs->dev));
		return -1;
	}
	gvirtq_kick(&vs->ev);
	gvirtq_kick(&vs->rx);
	vs->kick_rx = false;
	return 0;
}

/* ---- sending ------------------------------------------------------------- */
static bool gvsock_send_packet(struct gvsock *vs, const struct gvsock_hdr *h, const void *data,
			       uint32_t len)
{
	struct gvirtq_buf b;
	uint8_t *p;
	uint16_t slot;

	if (!vs->ntx_free)
		return false;
	slot = vs->tx_free[--vs->ntx_free];
	p = vs->txbufs + (size_t)slot * GVSOCK_TX_STRIDE;
	memcpy(p, h, GVSOCK_HDR_SIZE);
	if (len)
		memcpy(p + GVSOCK_HDR_SIZE, data, len);
	b = (struct gvirtq_buf){ .addr = p, .len = GVSOCK_HDR_SIZE + len };
	if (gvirtq_add(&vs->tx, &b, 1, slot) < 0) {
		vs->tx_free[vs->ntx_free++] = slot;
		return false;
	}
	vs->kick_tx = true;
	return true;
}

/* A header from c with our window; telling the peer fwd_cnt settles any
 * credit update owed. */
static void gvsock_conn_hdr(struct gvsock_conn *c, uint16_t op, struct gvsock_hdr *h)
{
	*h = (struct gvsock_hdr){ .src_cid = c->vs->cid,
				  .dst_cid = GVSOCK_HOST_CID,
				  .src_port = c->local_port,
				  .dst_port = c->peer_port,
				  .type = GVSOCK_TYPE_STREAM,
				  .op = op,
				  .buf_alloc = GVSOCK_BUF,
				  .fwd_cnt = c->fwd_cnt };
	c->fwd_cnt_sent = c->fwd_cnt;
	c->pending &= (uint8_t)~GVSOCK_PEND_CREDIT_UPDATE;
}

static void gvsock_owe_rst(struct gvsock *vs, const struct gvsock_hdr *h)
{
	if (vs->rst_count == GVSOCK_RST_MAX) {
		vs->resets_dropped++;
		return;
	}
	vs->rst[(vs->rst_head + vs->rst_count++) % GVSOCK_RST_MAX] = *h;
}

/* Close c at once and owe the peer a reset. */
static void gvsock_conn_reset(struct gvsock_conn *c)
{
	struct gvsock_hdr h;

	if (c->state == GVSOCK_CLOSED || c->state == GVSOCK_FREE)
		return;
	gvsock_conn_hdr(c, GVSOCK_OP_RST, &h);
	gvsock_owe_rst(c->vs, &h);
	c->state = GVSOCK_CLOSED;
	c->pending = 0;
}

static uint16_t gvsock_pend_op(uint8_t bit)
{
	switch (bit) {
	case GVSOCK_PEND_REQUEST:
		return GVSOCK_OP_REQUEST;
	case GVSOCK_PEND_RESPONSE:
		return GVSOCK_OP_RESPONSE;
	case GVSOCK_PEND_CREDIT_UPDATE:
		return GVSOCK_OP_CREDIT_UPDATE;
	case GVSOCK_PEND_CREDIT_REQUEST:
		return GVSOCK_OP_CREDIT_REQUEST;
	default:
		return GVSOCK_OP_SHUTDOWN;
	}
}

static void gvsock_flush_control(struct gvsock *vs)
{
	while (vs->rst_count) {
		if (!gvsock_send_packet(vs, &vs->rst[vs->rst_head], NULL, 0))
			return;
		vs->rst_head = (vs->rst_head + 1) % GVSOCK_RST_MAX;
		vs->rst_count--;
	}
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		struct gvsock_conn *c = &vs->conns[i];

		while (c->pending && c->state != GVSOCK_FREE && c->state != GVSOCK_CLOSED) {
			uint8_t bit = c->pending & (uint8_t)-c->pending;
			struct gvsock_hdr h;

			if (!vs->ntx_free)
				return;
			gvsock_conn_hdr(c, gvsock_pend_op(bit), &h);
			if (bit == GVSOCK_PEND_SHUTDOWN)
				h.flags = c->local_shutdown;
			if (!gvsock_send_packet(vs, &h, NULL, 0))
				return;
			c->pending &= (uint8_t)~bit;
		}
	}
}

/* ---- receiving ----------------------------------------------------------- */
static struct gvsock_conn *gvsock_find(struct gvsock *vs, uint32_t local, uint32_t peer)
{
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		struct gvsock_conn *c = &vs->conns[i];

		if (c->state != GVSOCK_FREE && c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

static struct gvsock_conn *gvsock_new_conn(struct gvsock *vs, uint32_t local, uint32_t peer)
{
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		struct gvsock_conn *c = &vs->conns[i];
		uint8_t *ring = c->ring;

		if (c->state != GVSOCK_FREE)
			continue;
		if (!ring && !(ring = rt_alloc(GVSOCK_BUF, 4096)))
			return NULL;
		*c = (struct gvsock_conn){
			.vs = vs, .ring = ring, .local_port = local, .peer_port = peer
		};
		return c;
	}
	return NULL;
}

static void gvsock_ring_put(struct gvsock_conn *c, const uint8_t *p, uint32_t n)
{
	uint32_t tail = (c->head + c->len) % GVSOCK_BUF;
	uint32_t first = n < GVSOCK_BUF - tail ? n : GVSOCK_BUF - tail;

	memcpy(c->ring + tail, p, first);
	memcpy(c->ring, p + first, n - first);
	c->len += n;
}

/* A REQUEST for a connection we do not have. */
static void gvsock_incoming(struct gvsock *vs, const struct gvsock_hdr *h)
{
	struct gvsock_conn *c = NULL;
	struct gvsock_hdr r;

	if (vs->listen_port && h->dst_port == vs->listen_port)
		c = gvsock_new_conn(vs, h->dst_port, h->src_port);
	if (!c) {
		r = (struct gvsock_hdr){ .src_cid = vs->cid,
					 .dst_cid = GVSOCK_HOST_CID,
					 .src_port = h->dst_port,
					 .dst_port = h->src_port,
					 .type = GVSOCK_TYPE_STREAM,
					 .op = GVSOCK_OP_RST };
		gvsock_owe_rst(vs, &r);
		return;
	}
	c->state = GVSOCK_ESTABLISHED;
	c->host_initiated = true;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = GVSOCK_PEND_RESPONSE;
}

static void gvsock_violation(struct gvsock_conn *c)
{
	c->violated = true;
	gvsock_conn_reset(c);
}

static void gvsock_dispatch(struct gvsock *vs, const uint8_t *buf, uint32_t used)
{
	struct gvsock_hdr h;
	struct gvsock_conn *c;

	if (used < GVSOCK_HDR_SIZE || used > GVSOCK_HDR_SIZE + GVSOCK_RX_PAYLOAD) {
		vs->bad_packets++;
		return;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.dst_cid != vs->cid || h.src_cid != GVSOCK_HOST_CID || h.type != GVSOCK_TYPE_STREAM ||
	    (h.op == GVSOCK_OP_RW && h.len > used - GVSOCK_HDR_SIZE)) {
		vs->bad_packets++;
		return;
	}
	c = gvsock_find(vs, h.dst_port, h.src_port);
	if (!c) {
		if (h.op == GVSOCK_OP_REQUEST) {
			gvsock_incoming(vs, &h);
		} else if (h.op != GVSOCK_OP_RST) {
			struct gvsock_hdr r = { .src_cid = vs->cid,
						.dst_cid = GVSOCK_HOST_CID,
						.src_port = h.dst_port,
						.dst_port = h.src_port,
						.type = GVSOCK_TYPE_STREAM,
						.op = GVSOCK_OP_RST };
			gvsock_owe_rst(vs, &r);
		}
		return;
	}
	if (c->state == GVSOCK_CLOSED)
		return;
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	if (c->tx_cnt - c->peer_fwd_cnt < c->peer_buf_alloc)
		c->credit_requested = false;
	switch (h.op) {
	case GVSOCK_OP_RST:
		c->refused = c->state == GVSOCK_CONNECTING;
		c->state = GVSOCK_CLOSED;
		c->pending = 0;
		break;
	case GVSOCK_OP_RESPONSE:
		if (c->state != GVSOCK_CONNECTING) {
			gvsock_violation(c);
			break;
		}
		c->state = GVSOCK_ESTABLISHED;
		break;
	case GVSOCK_OP_SHUTDOWN:
		c->peer_shutdown |= h.flags & (GVSOCK_SHUTDOWN_RCV | GVSOCK_SHUTDOWN_SEND);
		break;
	case GVSOCK_OP_RW:
		if (c->state != GVSOCK_ESTABLISHED || (c->peer_shutdown & GVSOCK_SHUTDOWN_SEND) ||
		    h.len > GVSOCK_BUF - c->len) {
			gvsock_violation(c);
			break;
		}
		gvsock_ring_put(c, buf + GVSOCK_HDR_SIZE, h.len);
		c->rx_bytes += h.len;
		break;
	case GVSOCK_OP_CREDIT_UPDATE:
		break;
	case GVSOCK_OP_CREDIT_REQUEST:
		c->pending |= GVSOCK_PEND_CREDIT_UPDATE;
		break;
	default: /* REQUEST on a live connection, or an unknown op */
		gvsock_violation(c);
		break;
	}
}

/* The device dropped every connection (around snapshots). */
static void gvsock_transport_reset(struct gvsock *vs)
{
	vs->transport_resets++;
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		struct gvsock_conn *c = &vs->conns[i];

		if (c->state == GVSOCK_CONNECTING)
			c->refused = true;
		if (c->state != GVSOCK_FREE)
			c->state = GVSOCK_CLOSED;
		c->pending = 0;
	}
	vs->rst_count = 0;
}

unsigned int gvsock_poll(struct gvsock *vs)
{
	unsigned int work = 0;
	uint64_t tok;
	uint32_t len;
	int r;

	while ((r = gvirtq_get(&vs->tx, &tok, &len)) > 0) {
		work++;
		if (tok < GVSOCK_TX_SLOTS && vs->ntx_free < GVSOCK_TX_SLOTS)
			vs->tx_free[vs->ntx_free++] = (uint16_t)tok;
	}
	if (r < 0)
		vs->bad_packets++;
	/* Events first: the device queues a transport reset before any
	 * packet of the connections that follow it (a restored or reset VM
	 * is asked for new connections at once). */
	while (gvirtq_get(&vs->ev, &tok, &len) > 0) {
		uint32_t id;

		work++;
		memcpy(&id, gvsock_event_bufs + tok * GVSOCK_EVENT_SIZE, 4);
		if (len >= 4 && id == GVSOCK_EV_TRANSPORT_RESET)
			gvsock_transport_reset(vs);
		gvsock_post_event(vs, (unsigned int)tok);
		gvirtq_kick(&vs->ev);
	}
	while ((r = gvirtq_get(&vs->rx, &tok, &len)) > 0) {
		work++;
		gvsock_dispatch(vs, vs->rxbufs + (size_t)tok * GVSOCK_RX_STRIDE, len);
		gvsock_post_rx(vs, (unsigned int)tok);
	}
	if (r < 0)
		vs->bad_packets++;
	gvsock_flush_control(vs);
	if (vs->kick_rx) {
		vs->kick_rx = false;
		gvirtq_kick(&vs->rx);
		work++;
	}
	if (vs->kick_tx) {
		vs->kick_tx = false;
		gvirtq_kick(&vs->tx);
		work++;
	}
	return work;
}

/* Whether gvsock_poll would notify the device now: packets queued, or
 * control packets owed that a free packet buffer could carry. */
static bool gvsock_owes(const struct gvsock *vs)
{
	if (vs->kick_rx || vs->kick_tx)
		return true;
	if (!vs->ntx_free)
		return false;
	if (vs->rst_count)
		return true;
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		const struct gvsock_conn *c = &vs->conns[i];

		if (c->pending && c->state != GVSOCK_FREE && c->state != GVSOCK_CLOSED)
			return true;
	}
	return false;
}

void gvsock_wait(struct gvsock *vs)
{
	/* Sent packets come back soon after each kick: waking for them only
	 * pays when packet buffers run short. */
	bool tx = vs->ntx_free < GVSOCK_TX_SLOTS / 2;

	gvirtq_irq(&vs->rx, true);
	gvirtq_irq(&vs->ev, true);
	gvirtq_irq(&vs->tx, tx);
	if (!gvirtq_pending(&vs->rx) && !gvirtq_pending(&vs->ev) &&
	    !(tx && gvirtq_pending(&vs->tx)) && !gvsock_owes(vs))
		rt_wait_irq();
	gvirtq_irq(&vs->rx, false);
	gvirtq_irq(&vs->ev, false);
	gvirtq_irq(&vs->tx, false);
}

/* ---- connections --------------------------------------------------------- */
void gvsock_listen(struct gvsock *vs, uint32_t port)
{
	vs->listen_port = port;
}

struct gvsock_conn *gvsock_accept(struct gvsock *vs)
{
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		struct gvsock_conn *c = &vs->conns[i];

		if (c->state != GVSOCK_FREE && c->host_initiated && !c->accepted &&
		    !(c->pending & GVSOCK_PEND_RESPONSE)) {
			c->accepted = true;
			return c;
		}
	}
	return NULL;
}

struct gvsock_conn *gvsock_connect(struct gvsock *vs, uint32_t port)
{
	struct gvsock_conn *c;
	uint32_t local;

	do {
		local = vs->next_port++;
		if (vs->next_port == 0)
			vs->next_port = GVSOCK_FIRST_PORT;
	} while (gvsock_find(vs, local, port));
	c = gvsock_new_conn(vs, local, port);
	if (!c)
		return NULL;
	c->state = GVSOCK_CONNECTING;
	c->pending = GVSOCK_PEND_REQUEST;
	return c;
}

size_t gvsock_send_space(struct gvsock_conn *c)
{
	uint32_t inflight = c->tx_cnt - c->peer_fwd_cnt, credit;
	size_t slots;

	if (c->state != GVSOCK_ESTABLISHED || (c->local_shutdown & GVSOCK_SHUTDOWN_SEND))
		return 0;
	credit = inflight < c->peer_buf_alloc ? c->peer_buf_alloc - inflight : 0;
	if (!credit && !c->credit_requested) {
		c->credit_requested = true;
		c->pending |= GVSOCK_PEND_CREDIT_REQUEST;
	}
	slots = c->vs->ntx_free > GVSOCK_TX_RESERVE ? c->vs->ntx_free - GVSOCK_TX_RESERVE : 0;
	return credit < slots * GVSOCK_TX_PAYLOAD ? credit : slots * GVSOCK_TX_PAYLOAD;
}

size_t gvsock_send(struct gvsock_conn *c, const void *buf, size_t len)
{
	size_t space = gvsock_send_space(c), done = 0;

	if (len > space)
		len = space;
	while (done < len) {
		uint32_t n =
			len - done < GVSOCK_TX_PAYLOAD ? (uint32_t)(len - done) : GVSOCK_TX_PAYLOAD;
		struct gvsock_hdr h;

		gvsock_conn_hdr(c, GVSOCK_OP_RW, &h);
		h.len = n;
		if (!gvsock_send_packet(c->vs, &h, (const uint8_t *)buf + done, n))
			break;
		c->tx_cnt += n;
		c->tx_bytes += n;
		done += n;
	}
	return done;
}

size_t gvsock_readable(const struct gvsock_conn *c)
{
	return c->len;
}

size_t gvsock_recv(struct gvsock_conn *c, void *buf, size_t len)
{
	uint32_t n = len < c->len ? (uint32_t)len : c->len;
	uint32_t first = n < GVSOCK_BUF - c->head ? n : GVSOCK_BUF - c->head;

	memcpy(buf, c->ring + c->head, first);
	memcpy((uint8_t *)buf + first, c->ring, n - first);
	c->head = (c->head + n) % GVSOCK_BUF;
	c->len -= n;
	c->fwd_cnt += n;
	if (c->state == GVSOCK_ESTABLISHED && c->fwd_cnt - c->fwd_cnt_sent >= GVSOCK_BUF / 4)
		c->pending |= GVSOCK_PEND_CREDIT_UPDATE;
	return n;
}

bool gvsock_eof(const struct gvsock_conn *c)
{
	return !c->len && (c->state == GVSOCK_CLOSED || (c->peer_shutdown & GVSOCK_SHUTDOWN_SEND));
}

void gvsock_shutdown(struct gvsock_conn *c, uint32_t flags)
{
	flags &= GVSOCK_SHUTDOWN_RCV | GVSOCK_SHUTDOWN_SEND;
	if (c->state != GVSOCK_ESTABLISHED || (c->local_shutdown | flags) == c->local_shutdown)
		return;
	c->local_shutdown |= flags;
	c->pending |= GVSOCK_PEND_SHUTDOWN;
}

void gvsock_release(struct gvsock_conn *c)
{
	gvsock_conn_reset(c);
	c->state = GVSOCK_FREE;
	c->pending = 0;
}
