/* A guest-side virtio-vsock stack for the synthetic guests: stream
 * connections to and from the host (CID 2) with credit-based flow control,
 * driven by polling (gvsock_poll) on one vCPU. Everything is non-blocking:
 * the caller loops, calling gvsock_poll and then its own per-connection
 * logic.
 *
 * Each connection has a receive ring of GVSOCK_BUF bytes, advertised to the
 * device as buf_alloc; payloads are copied into it, so rx buffers go back
 * to the device at once. Sends are copied into one of GVSOCK_TX_SLOTS
 * packet buffers, never beyond the peer's credit. */
#ifndef AGENTVM_GUESTS_GVSOCK_H
#define AGENTVM_GUESTS_GVSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gvirtio.h"

#define GVSOCK_HOST_CID		 2
#define GVSOCK_HDR_SIZE		 44
#define GVSOCK_MAX_CONNS	 32
#define GVSOCK_BUF		 (256 * 1024) /* receive ring per connection */
#define GVSOCK_RX_BUFS		 96
#define GVSOCK_RX_PAYLOAD	 65536 /* payload room of one rx buffer */
#define GVSOCK_TX_SLOTS		 64
#define GVSOCK_TX_PAYLOAD	 65536 /* payload bytes per packet we send, at most */
#define GVSOCK_RST_MAX		 32    /* resets owed for packets of unknown connections */

#define GVSOCK_OP_REQUEST	 1
#define GVSOCK_OP_RESPONSE	 2
#define GVSOCK_OP_RST		 3
#define GVSOCK_OP_SHUTDOWN	 4
#define GVSOCK_OP_RW		 5
#define GVSOCK_OP_CREDIT_UPDATE	 6
#define GVSOCK_OP_CREDIT_REQUEST 7

#define GVSOCK_SHUTDOWN_RCV	 1
#define GVSOCK_SHUTDOWN_SEND	 2

/* A header in host order (the wire is little-endian, 44 bytes, packed). */
struct gvsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum gvsock_state {
	GVSOCK_FREE,
	GVSOCK_CONNECTING,  /* our REQUEST is out (or owed) */
	GVSOCK_ESTABLISHED, /* data may flow */
	GVSOCK_CLOSED,	    /* reset by either side: release it */
};

struct gvsock;

struct gvsock_conn {
	struct gvsock *vs;
	enum gvsock_state state;
	bool host_initiated;
	bool accepted;	     /* handed out by gvsock_accept */
	bool refused;	     /* reset while connecting */
	bool violated;	     /* the device broke the protocol (credit, state) */
	uint32_t local_port; /* the guest's port */
	uint32_t peer_port;  /* the host's */

	/* To the peer: its window. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	bool credit_requested;
	/* From the peer: our ring and what we told it. */
	uint8_t *ring;
	uint32_t head, len;
	uint32_t fwd_cnt, fwd_cnt_sent;

	uint32_t peer_shutdown;	 /* GVSOCK_SHUTDOWN_* the peer sent */
	uint32_t local_shutdown; /* GVSOCK_SHUTDOWN_* we sent or owe */
	uint8_t pending;	 /* control packets owed (GVSOCK_PEND_*) */
	uint64_t rx_bytes, tx_bytes;
	void *user;
};

struct gvsock {
	struct gvirtio_dev dev;
	struct gvirtq rx, tx, ev;
	uint64_t cid;
	uint8_t *rxbufs;
	uint8_t *txbufs;
	uint16_t tx_free[GVSOCK_TX_SLOTS];
	unsigned int ntx_free;
	bool kick_rx, kick_tx;
	uint32_t listen_port; /* 0: not listening */
	uint32_t next_port;
	struct gvsock_conn conns[GVSOCK_MAX_CONNS];
	struct gvsock_hdr rst[GVSOCK_RST_MAX];
	unsigned int rst_head, rst_count;
	uint64_t resets_dropped; /* resets owed but not sent: the ring was full */
	uint64_t bad_packets;	 /* malformed packets from the device */
	uint64_t transport_resets;
};

/* Find the vsock device, set up its three queues, post the rx and event
 * buffers and set DRIVER_OK. Returns 0, or -1 (printed). */
int gvsock_init(struct gvsock *vs);
/* Do the device's work: take back sent packets, dispatch received ones,
 * repost buffers, send owed control packets, notify the device. Returns
 * how much happened (chains taken back plus notifications); 0: nothing. */
unsigned int gvsock_poll(struct gvsock *vs);
/* Sleep until the device may have news: enable its interrupts (rx, events,
 * and tx when packet buffers run short), and unless a chain is already
 * back or the stack owes the device a notification, rt_wait_irq(). Call
 * after a gvsock_poll that returned 0 (and the caller's own work on the
 * connections); needs rt_irq_init() and rt_irq_route(vs->dev.gsi). */
void gvsock_wait(struct gvsock *vs);

/* Accept host connections to port (one port; 0 stops). */
void gvsock_listen(struct gvsock *vs, uint32_t port);
/* The next host connection accepted (already answered), or NULL. */
struct gvsock_conn *gvsock_accept(struct gvsock *vs);
/* Open a connection to the host's port. NULL if every slot is taken.
 * The state says what became of it: ESTABLISHED, or CLOSED with refused. */
struct gvsock_conn *gvsock_connect(struct gvsock *vs, uint32_t port);

/* Bytes gvsock_send would take now (credit and packet buffers). With no
 * credit left, asks the peer for a credit update once. */
size_t gvsock_send_space(struct gvsock_conn *c);
/* Queue up to len bytes; returns how many were taken. */
size_t gvsock_send(struct gvsock_conn *c, const void *buf, size_t len);
/* Bytes waiting in the receive ring. */
size_t gvsock_readable(const struct gvsock_conn *c);
/* Take up to len bytes from the receive ring; returns how many. */
size_t gvsock_recv(struct gvsock_conn *c, void *buf, size_t len);
/* The peer will send nothing more and everything it sent was read. */
bool gvsock_eof(const struct gvsock_conn *c);
/* Tell the peer we are done sending (and, with GVSOCK_SHUTDOWN_RCV, reading). */
void gvsock_shutdown(struct gvsock_conn *c, uint32_t flags);
/* Reset the connection if it is not closed yet, and free its slot. */
void gvsock_release(struct gvsock_conn *c);

#endif
