/* virtio-vsock driven by a fake guest (rings in a heap buffer, registers
 * poked from this thread as a vCPU would) against real Unix sockets, with
 * the device's work on a real event loop in a second thread. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "common/cleanup.h"
#include "tests/unit/tap.h"
#include "tests/unit/test_virtqueue_guest.h"
#include "vmm/devices/vsock.h"
#include "vmm/devices/vsock_conn.h"
#include "vmm/devices/vsock_packet.h"

#define BASE	  0xd0000000ull
#define CID	  3
#define RXN	  64
#define TXN	  64  /* packets in flight; descriptors TXN.. hold split payloads */
#define TXQ	  128 /* tx queue size */
#define EVN	  8
#define PAYLOAD	  4096
#define BUF	  (VSOCK_HDR_SIZE + PAYLOAD)
#define GUEST_BUF (256 * 1024) /* buf_alloc the fake guest advertises */

struct pkt {
	struct vsock_hdr h;
	uint8_t data[PAYLOAD];
};

static struct {
	struct fake_guest g;
	struct fake_vq rx, tx, ev;
	uint64_t rxbufs, txbufs, evbufs;
	int irq;
	struct loop *loop;
	pthread_t th;
	struct vsock *v;
	char dir[64], path[96];
	struct pkt *q;
	unsigned int qh, qn;
	unsigned int events;
	struct {
		uint32_t port, fwd_cnt; /* bytes the guest consumed on its port */
	} fwd[64];
} G;

#define QCAP 512

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *loop_main(void *arg)
{
	loop_run(arg);
	return NULL;
}

/* --- the fake guest ------------------------------------------------------- */

static uint32_t *fwd_of(uint32_t port)
{
	for (size_t i = 0; i < ARRAY_SIZE(G.fwd); i++) {
		if (G.fwd[i].port == port || G.fwd[i].port == 0) {
			G.fwd[i].port = port;
			return &G.fwd[i].fwd_cnt;
		}
	}
	abort();
}

static void set_used_event(struct fake_vq *vq)
{
	uint16_t *ev = fg_ptr(&G.g, vq->avail + 4 + 2 * (uint64_t)vq->num);

	__atomic_store_n(ev, vq->used_seen, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void post_rx(uint16_t i)
{
	fg_desc(&G.g, G.rx.desc, i, G.rxbufs + (uint64_t)i * BUF, BUF, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&G.g, &G.rx, i);
}

static void post_ev(uint16_t i)
{
	fg_desc(&G.g, G.ev.desc, i, G.evbufs + 8 * (uint64_t)i, 4, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&G.g, &G.ev, i);
}

/* Take everything the device completed; give rx buffers back. */
static void reap(void)
{
	uint32_t id, len;
	bool reposted = false;

	do {
		while (fg_used(&G.g, &G.rx, &id, &len)) {
			uint8_t *b = fg_ptr(&G.g, G.rxbufs + (uint64_t)id * BUF);
			if (G.qn < QCAP && len >= VSOCK_HDR_SIZE) {
				struct pkt *p = &G.q[(G.qh + G.qn++) % QCAP];
				vsock_hdr_decode(b, &p->h);
				memcpy(p->data, b + VSOCK_HDR_SIZE, len - VSOCK_HDR_SIZE);
				if (p->h.op == VSOCK_OP_RW)
					*fwd_of(p->h.dst_port) += p->h.len;
			}
			post_rx((uint16_t)id);
			reposted = true;
		}
		while (fg_used(&G.g, &G.tx, &id, &len))
			;
		while (fg_used(&G.g, &G.ev, &id, &len)) {
			uint32_t ev;
			memcpy(&ev, fg_ptr(&G.g, G.evbufs + 8 * (uint64_t)id), 4);
			if (ev == VSOCK_EVENT_TRANSPORT_RESET)
				G.events++;
		}
		set_used_event(&G.rx);
		set_used_event(&G.tx);
		set_used_event(&G.ev);
	} while (fg_used_idx(&G.g, &G.rx) != G.rx.used_seen ||
		 fg_used_idx(&G.g, &G.tx) != G.tx.used_seen);
	if (reposted)
		fg_notify(&G.g, BASE, 0);
}

static void poll_guest(int ms)
{
	fg_wait_irq(G.irq, ms);
	fg_r32(&G.g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS);
	fg_w32(&G.g, BASE, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	reap();
}

/* Next packet the device sent, waiting up to ms. */
static int recv_pkt(struct pkt *out, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		if (G.qn) {
			*out = G.q[G.qh];
			G.qh = (G.qh + 1) % QCAP;
			G.qn--;
			return 1;
		}
		uint64_t t = now_ms();
		if (t >= end)
			return 0;
		poll_guest((int)(end - t));
	}
}

/* Next packet with op (others are skipped), or 0. */
static int recv_op(struct pkt *out, uint16_t op, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end)
		if (recv_pkt(out, (int)(end - now_ms()) + 1) && out->h.op == op)
			return 1;
	return 0;
}

static void send_raw(const struct vsock_hdr *h, const void *data, uint32_t len, bool split)
{
	uint16_t slot;
	uint8_t *b;

	while ((uint16_t)(G.tx.avail_idx - G.tx.used_seen) >= TXN / 2)
		poll_guest(100);
	slot = G.tx.avail_idx % TXN;
	b = fg_ptr(&G.g, G.txbufs + (uint64_t)slot * BUF);
	vsock_hdr_encode(h, b);
	if (len)
		memcpy(b + VSOCK_HDR_SIZE, data, len);
	if (split && len) {
		/* Header and payload in two descriptors, as Linux sends them. */
		uint16_t d2 = (uint16_t)(slot + TXN);
		fg_desc(&G.g, G.tx.desc, slot, G.txbufs + (uint64_t)slot * BUF, VSOCK_HDR_SIZE,
			VIRTQ_DESC_F_NEXT, d2);
		fg_desc(&G.g, G.tx.desc, d2, G.txbufs + (uint64_t)slot * BUF + VSOCK_HDR_SIZE, len,
			0, 0);
	} else {
		fg_desc(&G.g, G.tx.desc, slot, G.txbufs + (uint64_t)slot * BUF,
			VSOCK_HDR_SIZE + len, 0, 0);
	}
	fg_avail(&G.g, &G.tx, slot);
	fg_notify(&G.g, BASE, 1);
}

static void send_op(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags,
		    const void *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = CID,
			       .dst_cid = VSOCK_HOST_CID,
			       .src_port = src_port,
			       .dst_port = dst_port,
			       .len = len,
			       .type = VSOCK_TYPE_STREAM,
			       .op = op,
			       .flags = flags,
			       .buf_alloc = GUEST_BUF,
			       .fwd_cnt = *fwd_of(src_port) };

	send_raw(&h, data, len, op == VSOCK_OP_RW && len > 16);
}

static void guest_setup(void)
{
	uint64_t f = FG_FEATURES | (1ull << VIRTIO_RING_F_EVENT_IDX);

	fg_handshake(&G.g, BASE, f);
	memset(fg_ptr(&G.g, G.rx.avail), 0, 6 + 2 * RXN);
	memset(fg_ptr(&G.g, G.rx.used), 0, 6 + 8 * RXN);
	memset(fg_ptr(&G.g, G.tx.avail), 0, 6 + 2 * TXQ);
	memset(fg_ptr(&G.g, G.tx.used), 0, 6 + 8 * TXQ);
	memset(fg_ptr(&G.g, G.ev.avail), 0, 6 + 2 * EVN);
	memset(fg_ptr(&G.g, G.ev.used), 0, 6 + 8 * EVN);
	G.rx.avail_idx = G.rx.used_seen = G.tx.avail_idx = G.tx.used_seen = 0;
	G.ev.avail_idx = G.ev.used_seen = 0;
	G.qn = 0;
	fg_queue_setup(&G.g, BASE, 0, &G.rx);
	fg_queue_setup(&G.g, BASE, 1, &G.tx);
	fg_queue_setup(&G.g, BASE, 2, &G.ev);
	fg_driver_ok(&G.g, BASE);
	for (uint16_t i = 0; i < RXN; i++)
		post_rx(i);
	for (uint16_t i = 0; i < EVN; i++)
		post_ev(i);
	fg_notify(&G.g, BASE, 0);
	fg_notify(&G.g, BASE, 2);
}

/* --- the host side ---------------------------------------------------------- */

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int host_connect(uint32_t port)
{
	char line[32];
	int fd = unix_connect(G.path);
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);

	if (fd >= 0 && write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_port(uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", G.path, port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read exactly n bytes (or up to EOF) within ms; returns the count, -1 on error. */
static ssize_t read_n(int fd, void *buf, size_t n, int ms)
{
	size_t got = 0;
	uint64_t end = now_ms() + (uint64_t)ms;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		if (t >= end || poll(&p, 1, (int)(end - t)) <= 0)
			break;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0)
			return errno == ECONNRESET ? (ssize_t)got : -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int read_line(int fd, char *buf, size_t size, int ms)
{
	size_t n = 0;

	while (n + 1 < size) {
		if (read_n(fd, buf + n, 1, ms) != 1)
			break;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

/* Whether fd reaches end of stream within ms (data before it is discarded). */
static int sees_eof(int fd, int ms)
{
	char tmp[4096];
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(end - now_ms()) + 1) <= 0)
			return 0;
		ssize_t r = read(fd, tmp, sizeof(tmp));
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0)
			return 0;
	}
	return 0;
}

/* --- tests ------------------------------------------------------------------ */

struct estab {
	uint32_t host_port; /* the host side's port */
	int fd;		    /* the host socket */
};

/* Host-initiated connection to guest port gport, accepted by the guest. */
static int host_initiated(uint32_t gport, struct estab *e)
{
	struct pkt p;
	char line[32], want[32];

	e->fd = host_connect(gport);
	if (e->fd < 0 || !recv_op(&p, VSOCK_OP_REQUEST, 2000) || p.h.dst_port != gport)
		return -1;
	e->host_port = p.h.src_port;
	send_op(VSOCK_OP_RESPONSE, gport, e->host_port, 0, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", e->host_port);
	read_line(e->fd, line, sizeof(line), 2000);
	return strcmp(line, want) == 0 ? 0 : -1;
}

/* Guest-initiated connection from gport to host port hport (listening on lfd). */
static int guest_initiated(int lfd, uint32_t gport, uint32_t hport, int *afd)
{
	struct pkt p;
	struct pollfd pf = { .fd = lfd, .events = POLLIN };

	send_op(VSOCK_OP_REQUEST, gport, hport, 0, NULL, 0);
	if (!recv_pkt(&p, 2000) || p.h.op != VSOCK_OP_RESPONSE || p.h.src_port != hport ||
	    p.h.dst_port != gport)
		return -1;
	if (poll(&pf, 1, 2000) != 1)
		return -1;
	*afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return *afd >= 0 ? 0 : -1;
}

static void test_config(void)
{
	is(fg_r32(&G.g, BASE, VIRTIO_MMIO_DEVICE_ID), VSOCK_DEVICE_ID, "device id 19");
	is(fg_r32(&G.g, BASE, VIRTIO_MMIO_CONFIG), CID, "guest_cid low");
	is(fg_r32(&G.g, BASE, VIRTIO_MMIO_CONFIG + 4), 0, "guest_cid high");
}

static void test_host_initiated(void)
{
	struct pkt p;
	char line[32], want[32];
	int fd = host_connect(1024);

	ok(recv_op(&p, VSOCK_OP_REQUEST, 2000), "host CONNECT 1024: guest sees a REQUEST");
	ok(p.h.src_cid == VSOCK_HOST_CID && p.h.dst_cid == CID && p.h.dst_port == 1024 &&
		   p.h.src_port >= 0x40000000u && p.h.type == VSOCK_TYPE_STREAM &&
		   p.h.buf_alloc == VSOCK_CONN_BUF,
	   "REQUEST: 2:%u -> 3:1024, buf_alloc %u", p.h.src_port, p.h.buf_alloc);
	uint32_t hp = p.h.src_port;
	send_op(VSOCK_OP_RESPONSE, 1024, hp, 0, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", hp);
	read_line(fd, line, sizeof(line), 2000);
	ok(strcmp(line, want) == 0, "host reads \"OK %u\"", hp);

	ok(write(fd, "hello", 5) == 5, "host writes");
	ok(recv_op(&p, VSOCK_OP_RW, 2000) && p.h.len == 5 && memcmp(p.data, "hello", 5) == 0 &&
		   p.h.dst_port == 1024 && p.h.src_port == hp,
	   "guest receives RW \"hello\"");
	send_op(VSOCK_OP_RW, 1024, hp, 0, "world, in two descriptors", 25);
	char buf[32] = { 0 };
	ok(read_n(fd, buf, 25, 2000) == 25 && memcmp(buf, "world, in two descriptors", 25) == 0,
	   "host reads the guest's bytes");
	close(fd);
	ok(recv_op(&p, VSOCK_OP_SHUTDOWN, 2000) && p.h.flags == VSOCK_SHUTDOWN_BOTH,
	   "host close: guest sees SHUTDOWN(RCV|SEND)");
	send_op(VSOCK_OP_RST, 1024, hp, 0, NULL, 0);

	/* The guest refuses. */
	fd = host_connect(1025);
	ok(recv_op(&p, VSOCK_OP_REQUEST, 2000) && p.h.dst_port == 1025, "REQUEST for port 1025");
	send_op(VSOCK_OP_RST, 1025, p.h.src_port, 0, NULL, 0);
	ok(sees_eof(fd, 2000), "guest RST: host connection closed without OK");
	close(fd);

	/* Bad handshakes. */
	static const char *const bad[] = { "HELLO 1\n", "CONNECT 99999999999\n", "CONNECT\n",
					   "CONNECT 12ab\n", "CONNECT 1 2\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = unix_connect(G.path);
		ok(write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]) &&
			   sees_eof(fd, 2000),
		   "bad line %zu closed", i);
		close(fd);
	}
	fd = unix_connect(G.path);
	char junk[64];
	memset(junk, 'A', sizeof(junk));
	ok(write(fd, junk, sizeof(junk)) == sizeof(junk) && sees_eof(fd, 2000),
	   "64 bytes without a newline closed");
	close(fd);

	/* A host client that leaves before the guest answers. */
	fd = host_connect(1026);
	ok(recv_op(&p, VSOCK_OP_REQUEST, 2000) && p.h.dst_port == 1026, "REQUEST for port 1026");
	close(fd);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 1026,
	   "host client gone before RESPONSE: guest gets RST");
}

static void test_guest_initiated(int lfd)
{
	struct pkt p;
	int afd;
	char buf[16] = { 0 };

	ok(guest_initiated(lfd, 40000, 5000, &afd) == 0,
	   "guest connect to port 5000: RESPONSE, host accepts on PATH_5000");
	send_op(VSOCK_OP_RW, 40000, 5000, 0, "ping", 4);
	ok(read_n(afd, buf, 4, 2000) == 4 && memcmp(buf, "ping", 4) == 0, "host reads ping");
	ok(write(afd, "pong", 4) == 4 && recv_op(&p, VSOCK_OP_RW, 2000) && p.h.len == 4 &&
		   memcmp(p.data, "pong", 4) == 0 && p.h.dst_port == 40000,
	   "guest receives pong");

	send_op(VSOCK_OP_CREDIT_REQUEST, 40000, 5000, 0, NULL, 0);
	ok(recv_op(&p, VSOCK_OP_CREDIT_UPDATE, 2000) && p.h.buf_alloc == VSOCK_CONN_BUF &&
		   p.h.fwd_cnt == 4,
	   "CREDIT_REQUEST answered with CREDIT_UPDATE (fwd_cnt %u)", p.h.fwd_cnt);

	/* Half close from the guest, then the host closes. */
	send_op(VSOCK_OP_RW, 40000, 5000, 0, "bye", 3);
	send_op(VSOCK_OP_SHUTDOWN, 40000, 5000, VSOCK_SHUTDOWN_SEND, NULL, 0);
	memset(buf, 0, sizeof(buf));
	ok(read_n(afd, buf, 3, 2000) == 3 && memcmp(buf, "bye", 3) == 0 &&
		   read_n(afd, buf, 1, 2000) == 0,
	   "guest SHUTDOWN(SEND): host reads the rest, then end of stream");
	ok(write(afd, "reply", 5) == 5 && recv_op(&p, VSOCK_OP_RW, 2000) &&
		   memcmp(p.data, "reply", 5) == 0,
	   "the other direction still flows");
	close(afd);
	ok(recv_op(&p, VSOCK_OP_SHUTDOWN, 2000) && p.h.flags == VSOCK_SHUTDOWN_BOTH &&
		   p.h.dst_port == 40000,
	   "host closes: guest sees SHUTDOWN(RCV|SEND)");
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 40000,
	   "both directions done: the device resets the connection");

	send_op(VSOCK_OP_REQUEST, 40001, 5001, 0, NULL, 0);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.src_port == 5001 && p.h.dst_port == 40001,
	   "guest connect to a port nobody listens on: RST");
	send_op(VSOCK_OP_RW, 40002, 5000, 0, "x", 1);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 40002, "RW on no connection: RST");
	struct vsock_hdr h = { .src_cid = CID,
			       .dst_cid = 7,
			       .src_port = 40003,
			       .dst_port = 1,
			       .type = VSOCK_TYPE_STREAM,
			       .op = VSOCK_OP_REQUEST };
	send_raw(&h, NULL, 0, false);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 40003, "REQUEST to CID 7: RST");
	h = (struct vsock_hdr){ .src_cid = CID,
				.dst_cid = 2,
				.src_port = 40004,
				.dst_port = 5000,
				.type = 2,
				.op = VSOCK_OP_REQUEST };
	send_raw(&h, NULL, 0, false);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 40004, "seqpacket REQUEST: RST");
	h.type = VSOCK_TYPE_STREAM;
	h.src_cid = 9;
	h.src_port = 40005;
	send_raw(&h, NULL, 0, false);
	ok(!recv_pkt(&p, 300), "spoofed source CID: dropped without a reply");

	/* Header and payload in separate descriptors, short payload claim. */
	ok(guest_initiated(lfd, 40006, 5000, &afd) == 0, "second connection");
	h = (struct vsock_hdr){ .src_cid = CID,
				.dst_cid = 2,
				.src_port = 40006,
				.dst_port = 5000,
				.type = VSOCK_TYPE_STREAM,
				.op = VSOCK_OP_RW,
				.len = 100,
				.buf_alloc = GUEST_BUF };
	send_raw(&h, "short", 5, false);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 40006 && sees_eof(afd, 2000),
	   "RW claiming more payload than given: connection reset");
	close(afd);
}

static void test_flow_control(int lfd)
{
	static uint8_t chunk[PAYLOAD];
	struct pkt p;
	int afd, bfd;
	uint32_t sent = 0, peer_fwd = 0, peer_buf = 0;
	char buf[8] = { 0 };

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	ok(guest_initiated(lfd, 41000, 5000, &afd) == 0, "flood connection A");
	peer_buf = VSOCK_CONN_BUF;
	/* A well-behaved guest sends while it has credit; nobody reads on the host. */
	uint64_t idle_since = now_ms();
	while (now_ms() - idle_since < 500) {
		uint32_t credit = peer_buf - (sent - peer_fwd);
		if (credit >= sizeof(chunk)) {
			send_op(VSOCK_OP_RW, 41000, 5000, 0, chunk, sizeof(chunk));
			sent += sizeof(chunk);
			idle_since = now_ms();
		}
		while (recv_pkt(&p, credit >= sizeof(chunk) ? 0 : 50))
			if (p.h.dst_port == 41000 && p.h.fwd_cnt != peer_fwd) {
				peer_fwd = p.h.fwd_cnt;
				peer_buf = p.h.buf_alloc;
				idle_since = now_ms();
			}
	}
	ok(sent - peer_fwd > VSOCK_CONN_BUF - sizeof(chunk) && sent >= VSOCK_CONN_BUF,
	   "slow host reader: the guest ran out of credit (%u sent, %u forwarded)", sent, peer_fwd);

	ok(guest_initiated(lfd, 41001, 5000, &bfd) == 0, "connection B meanwhile");
	send_op(VSOCK_OP_RW, 41001, 5000, 0, "ping", 4);
	ok(read_n(bfd, buf, 4, 2000) == 4 && memcmp(buf, "ping", 4) == 0,
	   "B: host reads ping while A is stalled");
	ok(write(bfd, "pong", 4) == 4 && recv_op(&p, VSOCK_OP_RW, 2000) && p.h.dst_port == 41001,
	   "B: guest receives pong");

	/* The host drains A: credit comes back. */
	static uint8_t got[2 << 20];
	ssize_t n = read_n(afd, got, sent, 5000);
	int same = n == (ssize_t)sent;
	for (ssize_t i = 0; same && i < n; i++)
		same = got[i] == (uint8_t)(i % PAYLOAD);
	ok(same, "A: host reads all %u bytes in order", sent);
	uint32_t before = peer_fwd;
	uint64_t end = now_ms() + 3000;
	while (peer_fwd != sent && now_ms() < end)
		if (recv_pkt(&p, 100) && p.h.dst_port == 41000)
			peer_fwd = p.h.fwd_cnt;
	ok(peer_fwd == sent && peer_fwd != before, "A: CREDIT_UPDATE gives the window back (%u)",
	   peer_fwd);
	send_op(VSOCK_OP_RW, 41000, 5000, 0, "more", 4);
	ok(read_n(afd, buf, 4, 2000) == 4 && memcmp(buf, "more", 4) == 0, "A: data flows again");

	/* A guest that ignores its credit is cut off, not buffered without end. */
	int reset = 0;
	for (int i = 0; i < 512 && !reset; i++) {
		send_op(VSOCK_OP_RW, 41000, 5000, 0, chunk, sizeof(chunk));
		while (recv_pkt(&p, 0))
			if (p.h.op == VSOCK_OP_RST && p.h.dst_port == 41000)
				reset = 1;
	}
	if (!reset)
		reset = recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 41000;
	ok(reset, "A: a guest overrunning its credit gets RST");
	ok(sees_eof(afd, 5000), "A: host side closed");
	send_op(VSOCK_OP_RW, 41001, 5000, 0, "ok", 2);
	ok(read_n(bfd, buf, 2, 2000) == 2 && memcmp(buf, "ok", 2) == 0, "B: still fine");
	close(afd);
	close(bfd);
	ok(recv_op(&p, VSOCK_OP_SHUTDOWN, 2000) && p.h.dst_port == 41001, "B: host close seen");
	send_op(VSOCK_OP_RST, 41001, 5000, 0, NULL, 0);
}

static void test_shutdown_host_initiated(void)
{
	struct estab e;
	struct pkt p;

	ok(host_initiated(2000, &e) == 0, "host-initiated connection to 2000");
	shutdown(e.fd, SHUT_WR);
	ok(recv_op(&p, VSOCK_OP_SHUTDOWN, 2000) && p.h.flags == VSOCK_SHUTDOWN_SEND,
	   "host SHUT_WR: guest sees SHUTDOWN(SEND)");
	send_op(VSOCK_OP_RW, 2000, e.host_port, 0, "late", 4);
	char buf[8] = { 0 };
	ok(read_n(e.fd, buf, 4, 2000) == 4 && memcmp(buf, "late", 4) == 0,
	   "guest can still send to a half-closed host");
	send_op(VSOCK_OP_SHUTDOWN, 2000, e.host_port, VSOCK_SHUTDOWN_BOTH, NULL, 0);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 2000,
	   "guest SHUTDOWN(RCV|SEND): the device answers RST");
	ok(sees_eof(e.fd, 2000), "host sees end of stream");
	close(e.fd);
}

static void test_connect_timeout(void)
{
	struct pkt p;
	uint64_t t0 = now_ms();
	int fd = host_connect(3000);

	ok(recv_op(&p, VSOCK_OP_REQUEST, 2000) && p.h.dst_port == 3000,
	   "REQUEST to a silent guest");
	int eof = sees_eof(fd, 3000);
	uint64_t took = now_ms() - t0;
	ok(eof && took >= 500, "host connection closed after the timeout (%llu ms)",
	   (unsigned long long)took);
	ok(recv_op(&p, VSOCK_OP_RST, 2000) && p.h.dst_port == 3000, "guest told with RST");
	close(fd);
}

struct call {
	int fd;
	int r;
};

static void do_transport_reset(void *arg)
{
	struct call *c = arg;
	uint64_t one = 1;

	c->r = vsock_transport_reset(G.v);
	if (write(c->fd, &one, sizeof(one)) < 0)
		abort();
}

static void test_transport_reset(int lfd)
{
	struct estab e;
	struct call c = { .fd = eventfd(0, EFD_CLOEXEC) };
	int afd;

	ok(host_initiated(2001, &e) == 0, "host-initiated connection");
	ok(guest_initiated(lfd, 42000, 5000, &afd) == 0, "guest-initiated connection");
	is(vsock_connection_count(G.v), 2, "two connections");
	unsigned int before = G.events;
	loop_call(G.loop, do_transport_reset, &c);
	ok(fg_wait_irq(c.fd, 2000) && c.r == 0, "transport reset on the loop thread");
	poll_guest(200);
	is(G.events - before, 1, "guest receives VIRTIO_VSOCK_EVENT_TRANSPORT_RESET");
	is(vsock_connection_count(G.v), 0, "every connection dropped");
	ok(sees_eof(e.fd, 2000) && sees_eof(afd, 2000), "host sockets closed");
	close(e.fd);
	close(afd);
	close(c.fd);
	post_ev((uint16_t)((G.ev.avail_idx) % EVN));
}

static void test_device_reset(void)
{
	struct estab e;

	ok(host_initiated(2002, &e) == 0, "connection before a device reset");
	fg_w32(&G.g, BASE, VIRTIO_MMIO_STATUS, 0);
	ok(sees_eof(e.fd, 2000), "driver reset: host socket closed");
	is(vsock_connection_count(G.v), 0, "no connections left");
	close(e.fd);
	guest_setup();
	ok(host_initiated(2003, &e) == 0, "works again after re-initialisation");
	close(e.fd);
}

int main(void)
{
	struct vsock_config cfg = { .guest_cid = CID, .connect_timeout_ms = 600 };
	int lfd;

	snprintf(G.dir, sizeof(G.dir), "/tmp/agentvm-vsock-XXXXXX");
	if (!mkdtemp(G.dir) || fg_init(&G.g, 8 << 20) < 0 || loop_new(&G.loop) < 0)
		skip_all("set-up failed");
	snprintf(G.path, sizeof(G.path), "%s/v.sock", G.dir);
	G.q = calloc(QCAP, sizeof(*G.q));
	G.irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fg_vq_alloc(&G.g, &G.rx, RXN);
	fg_vq_alloc(&G.g, &G.tx, TXQ);
	fg_vq_alloc(&G.g, &G.ev, EVN);
	G.rxbufs = fg_alloc(&G.g, (uint64_t)RXN * BUF, 4096);
	G.txbufs = fg_alloc(&G.g, (uint64_t)TXN * BUF, 4096);
	G.evbufs = fg_alloc(&G.g, 8 * EVN, 8);

	struct virtio_mmio_env env = { .mem = G.g.mem,
				       .bus = &G.g.bus,
				       .loop = G.loop,
				       .base = BASE,
				       .irq = { .fd = G.irq, .gsi = 5 },
				       .name = "vsock" };
	cfg.uds_path = G.path;
	struct vsock_config bad = cfg;
	bad.guest_cid = 2;
	ok(vsock_new(&env, &bad, &G.v) == -EINVAL, "guest CID 2 refused");
	is(vsock_new(&env, &cfg, &G.v), 0, "vsock_new listening on %s", G.path);
	lfd = listen_port(5000);
	ok(lfd >= 0, "host listens on PATH_5000");
	pthread_create(&G.th, NULL, loop_main, G.loop);
	guest_setup();

	test_config();
	test_host_initiated();
	test_guest_initiated(lfd);
	test_flow_control(lfd);
	test_shutdown_host_initiated();
	test_connect_timeout();
	test_transport_reset(lfd);
	test_device_reset();
	ok(!(fg_r32(&G.g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET),
	   "the device never needed a reset");

	loop_stop(G.loop, 0);
	pthread_join(G.th, NULL);
	vsock_free(G.v);
	ok(access(G.path, F_OK) < 0, "socket file removed on free");
	loop_free(G.loop);
	close(lfd);
	char p5000[128];
	snprintf(p5000, sizeof(p5000), "%s_5000", G.path);
	unlink(p5000);
	rmdir(G.dir);
	close(G.irq);
	free(G.q);
	fg_fini(&G.g);
	return done_testing();
}
