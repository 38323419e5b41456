/* libFuzzer target: hostile virtio-vsock traffic.
 *
 * A fresh vsock device per input, driven by a fake guest whose tx packets
 * (headers and payloads) come from the input, interleaved with host-side
 * actions on real Unix sockets (accept, write, shut down, close) and runs
 * of the connection engine. The event loop is never run: queue work is
 * processed inline and host readiness is simulated. Lines for the host
 * handshake parser are fuzzed too (first byte 0xff). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/bus.h"
#include "vmm/devices/virtio_mmio.h"
#include "vmm/devices/vsock.h"
#include "vmm/devices/vsock_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (1 << 20)
#define BASE	 0xd0000000ull
#define CID	 3
#define RXN	 16
#define TXN	 64
#define EVN	 4
#define RXBUF	 (VSOCK_HDR_SIZE + 4096)
#define TXAREA	 (256 * 1024)
#define MAXACC	 8

struct ring {
	uint16_t num;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen;
};

static struct {
	uint8_t *ram;
	struct memory *mem;
	struct bus bus;
	char dir[64], path[108];
	int lfd;
	struct ring rx, tx, ev;
	uint64_t rxbufs, evbufs, txarea;
	uint32_t tx_off;
	uint16_t tx_desc;
	int acc[MAXACC];
	int nacc;
} F;

static void ring_init(struct ring *r, uint16_t num, uint64_t at)
{
	*r = (struct ring){ .num = num, .desc = at, .avail = at + 16 * num };
	r->used = (r->avail + 6 + 2 * num + 3) & ~3ull;
}

static void desc(struct ring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		 uint16_t next)
{
	uint8_t *d = F.ram + r->desc + 16 * (uint64_t)i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void avail(struct ring *r, uint16_t head)
{
	uint16_t *ring = (uint16_t *)(F.ram + r->avail + 4);

	ring[r->avail_idx % r->num] = head;
	r->avail_idx++;
	__atomic_store_n((uint16_t *)(F.ram + r->avail + 2), r->avail_idx, __ATOMIC_RELEASE);
}

static void w32(uint64_t off, uint32_t v)
{
	bus_write(&F.bus, BASE + off, &v, 4);
}

static void queue(uint32_t q, const struct ring *r)
{
	w32(VIRTIO_MMIO_QUEUE_SEL, q);
	w32(VIRTIO_MMIO_QUEUE_NUM, r->num);
	w32(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)r->desc);
	w32(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)r->avail);
	w32(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)r->used);
	w32(VIRTIO_MMIO_QUEUE_READY, 1);
}

static void setup_once(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	log_set_level(LOG_ERR);
	F.ram = aligned_alloc(4096, RAM_SIZE);
	snprintf(F.dir, sizeof(F.dir), "/tmp/agentvm-fuzz-vsock-XXXXXX");
	if (!F.ram || !mkdtemp(F.dir) || memory_new_from(F.ram, RAM_SIZE, -1, &F.mem) < 0)
		abort();
	snprintf(F.path, sizeof(F.path), "%s/v", F.dir);
	/* Guest connections to port 5000 reach a real listener. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_5000", F.path);
	F.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (F.lfd < 0 || bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(F.lfd, 128) < 0)
		abort();
}

static void guest_init(void)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		     (1ull << VIRTIO_RING_F_INDIRECT_DESC);

	memset(F.ram, 0, 0x10000);
	ring_init(&F.rx, RXN, 0x0000);
	ring_init(&F.tx, TXN, 0x1000);
	ring_init(&F.ev, EVN, 0x3000);
	F.rxbufs = 0x10000;
	F.evbufs = 0x8000;
	F.txarea = 0x40000;
	F.tx_off = 0;
	F.tx_desc = 0;
	w32(VIRTIO_MMIO_STATUS, 0);
	w32(VIRTIO_MMIO_STATUS, 1);
	w32(VIRTIO_MMIO_STATUS, 3);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	w32(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	w32(VIRTIO_MMIO_STATUS, 0xb);
	queue(0, &F.rx);
	queue(1, &F.tx);
	queue(2, &F.ev);
	w32(VIRTIO_MMIO_STATUS, 0xf);
	for (uint16_t i = 0; i < RXN; i++) {
		desc(&F.rx, i, F.rxbufs + (uint64_t)i * RXBUF, RXBUF, VIRTQ_DESC_F_WRITE, 0);
		avail(&F.rx, i);
	}
	for (uint16_t i = 0; i < EVN; i++) {
		desc(&F.ev, i, F.evbufs + 4 * (uint64_t)i, 4, VIRTQ_DESC_F_WRITE, 0);
		avail(&F.ev, i);
	}
}

/* Give every used rx buffer back and let the device refill it. */
static void rx_recycle(struct vsock *v)
{
	uint16_t used = __atomic_load_n((uint16_t *)(F.ram + F.rx.used + 2), __ATOMIC_ACQUIRE);

	while (F.rx.used_seen != used) {
		uint32_t id;
		memcpy(&id, F.ram + F.rx.used + 4 + 8 * (uint64_t)(F.rx.used_seen % RXN), 4);
		F.rx.used_seen++;
		avail(&F.rx, (uint16_t)(id % RXN));
	}
	virtio_mmio_process(vsock_transport(v), VSOCK_RX_Q);
}

static void tx_kick(struct vsock *v)
{
	virtio_mmio_process(vsock_transport(v), VSOCK_TX_Q);
	rx_recycle(v);
}

/* One packet: [ctl][44-byte header][le16 payload length][payload]. */
static size_t guest_packet(struct vsock *v, uint8_t ctl, const uint8_t *p, size_t n)
{
	struct vsock_hdr h;
	uint16_t plen;

	if (n < VSOCK_HDR_SIZE + 2)
		return n;
	vsock_hdr_decode(p, &h);
	memcpy(&plen, p + VSOCK_HDR_SIZE, 2);
	p += VSOCK_HDR_SIZE + 2;
	n -= VSOCK_HDR_SIZE + 2;
	if (plen > n)
		plen = (uint16_t)n;
	if (ctl & 1) {
		h.src_cid = CID;
		h.dst_cid = VSOCK_HOST_CID;
		h.type = VSOCK_TYPE_STREAM;
		h.op = (uint16_t)(h.op % 8);
	}
	if (ctl & 2) {
		h.dst_port = 5000 + (h.dst_port & 1);
		h.src_port = 40000 + (h.src_port & 3);
	}
	if (ctl & 4)
		h.len = plen;
	if ((uint16_t)(F.tx.avail_idx - F.tx.used_seen) >= TXN / 4 || F.tx_desc + 2 > TXN)
		tx_kick(v);
	if (F.tx_off + VSOCK_HDR_SIZE + plen > TXAREA || F.tx_desc + 2 > TXN) {
		F.tx_off = 0;
		F.tx_desc = 0;
	}
	uint64_t at = F.txarea + F.tx_off;
	vsock_hdr_encode(&h, F.ram + at);
	memcpy(F.ram + at + VSOCK_HDR_SIZE, p, plen);
	uint16_t d = F.tx_desc;
	if ((ctl & 8) && plen) {
		desc(&F.tx, d, at, VSOCK_HDR_SIZE, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
		desc(&F.tx, (uint16_t)(d + 1), at + VSOCK_HDR_SIZE, plen, 0, 0);
		F.tx_desc += 2;
	} else {
		desc(&F.tx, d, at, VSOCK_HDR_SIZE + plen, 0, 0);
		F.tx_desc += 1;
	}
	F.tx_off += VSOCK_HDR_SIZE + plen;
	avail(&F.tx, d);
	/* The device completes tx in order; track it for the kick threshold. */
	F.tx.used_seen = __atomic_load_n((uint16_t *)(F.ram + F.tx.used + 2), __ATOMIC_ACQUIRE);
	if (ctl & 16)
		tx_kick(v);
	return VSOCK_HDR_SIZE + 2 + plen;
}

/* Let the connection engine see every host socket as ready. */
static void host_pump(struct vsock *v, bool hup)
{
	struct virtio_mmio *t = vsock_transport(v);

	virtio_mmio_lock(t);
	for (uint32_t b = 0; b < VSOCK_CONN_BUCKETS && v->conns.count; b++) {
		for (struct vsock_conn *c = v->conns.buckets[b], *next; c; c = next) {
			next = c->hnext;
			c->readable = c->writable = true;
			if (hup)
				c->hup = true;
			vsock_conn_run(v, c);
		}
	}
	vsock_service(v);
	virtio_mmio_unlock(t);
	rx_recycle(v);
}

static size_t host_action(struct vsock *v, uint8_t ctl, const uint8_t *p, size_t n)
{
	static const char pattern[512] = "host bytes";
	int fd;

	switch ((ctl >> 5) & 3) {
	case 0:
		while (F.nacc < MAXACC &&
		       (fd = accept4(F.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			F.acc[F.nacc++] = fd;
		return 0;
	case 1:
		if (n < 2 || !F.nacc)
			return n < 2 ? n : 2;
		if (send(F.acc[p[0] % F.nacc], pattern, (size_t)p[1] * 2,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			errno = 0;
		return 2;
	case 2: {
		if (n < 1 || !F.nacc)
			return n < 1 ? n : 1;
		int i = p[0] % F.nacc;
		if (p[0] & 0x80) {
			shutdown(F.acc[i], SHUT_WR);
		} else {
			close(F.acc[i]);
			F.nacc--;
			F.acc[i] = F.acc[F.nacc];
		}
		return 1;
	}
	default:
		host_pump(v, ctl & 1);
		return 0;
	}
}

static void fuzz_traffic(const uint8_t *data, size_t size)
{
	struct virtio_mmio_env env = { .mem = F.mem, .bus = &F.bus, .base = BASE, .name = "vsock" };
	struct vsock_config cfg = { .guest_cid = CID, .uds_path = F.path };
	struct loop *loop;
	struct vsock *v;

	memset(&F.bus, 0, sizeof(F.bus));
	env.irq = (struct irq_line){ .fd = -1, .gsi = 5 };
	if (loop_new(&loop) < 0)
		abort();
	env.loop = loop;
	if (vsock_new(&env, &cfg, &v) < 0)
		abort();
	guest_init();
	rx_recycle(v);
	while (size) {
		uint8_t ctl = *data++;
		size_t used;
		size--;
		if (ctl & 0x80)
			used = host_action(v, ctl, data, size);
		else
			used = guest_packet(v, ctl, data, size);
		data += used;
		size -= used;
	}
	tx_kick(v);
	host_pump(v, false);
	tx_kick(v);
	vsock_transport_reset(v);

	vsock_free(v);
	loop_free(loop);
	while (F.nacc)
		close(F.acc[--F.nacc]);
	int fd;
	while ((fd = accept4(F.lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint32_t port;

	if (!ready) {
		setup_once();
		ready = 1;
	}
	if (size && data[0] == 0xff) {
		vsock_parse_connect((const char *)data + 1, size - 1, &port);
		return 0;
	}
	fuzz_traffic(data, size);
	return 0;
}
