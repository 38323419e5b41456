/* What the vsock device files share: the device object and the calls
 * between the packet side (vsock.c), the connection engine (vsock_rx.c)
 * and the Unix-socket bridge (vsock_bridge.c). Everything runs under the
 * transport lock, on the loop thread unless noted. */
#ifndef AGENTVM_VMM_DEVICES_VSOCK_INTERNAL_H
#define AGENTVM_VMM_DEVICES_VSOCK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "vmm/devices/virtio_mmio.h"
#include "vmm/devices/vsock.h"
#include "vmm/devices/vsock_conn.h"
#include "vmm/devices/vsock_packet.h"

#define VSOCK_RX_Q	      0
#define VSOCK_TX_Q	      1
#define VSOCK_EVENT_Q	      2

#define VSOCK_RST_MAX	      64 /* resets owed for packets that match no connection */
#define VSOCK_MAX_CLIENTS     64 /* host clients that have not sent CONNECT yet */
#define VSOCK_TICK_MS	      250
#define VSOCK_CLIENT_TIMEOUT  5000
#define VSOCK_CONNECT_TIMEOUT 5000
#define VSOCK_FIRST_HOST_PORT 0x40000000u

/* A host process on the listening socket, before its CONNECT line. */
struct vsock_client {
	struct vsock *v;
	int fd;
	uint64_t deadline_ms;
	uint32_t len;
	char line[VSOCK_CONNECT_LINE_MAX];
	struct vsock_link link;
};

struct vsock {
	struct virtio_mmio *t;
	struct loop *loop;
	uint64_t guest_cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t connect_timeout_ms;
	int listen_fd;
	int timer_fd;
	bool timer_armed;
	bool reset_pending; /* the driver reset the device; drop everything */
	bool tx_stalled;    /* tx left unprocessed until resets can be queued */

	struct vsock_conn_table conns;
	struct vsock_link clients;
	uint32_t nclients;
	struct vsock_link pend; /* connections owing control packets */
	struct vsock_link rxw;	/* connections waiting for rx buffers */
	struct vsock_hdr rst[VSOCK_RST_MAX];
	uint32_t rst_head, rst_count;
	uint32_t next_host_port;

	struct virtq_chain txc, rxc;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* vsock.c */
/* A reply header for c (host side as source) with our credit filled in. */
void vsock_conn_hdr(const struct vsock *v, const struct vsock_conn *c, uint16_t op,
		    struct vsock_hdr *h);
/* h (built by vsock_conn_hdr) reached the guest: note the credit it carried. */
void vsock_conn_advertised(struct vsock_conn *c, const struct vsock_hdr *h);
/* Apply a pending device reset; true if one was applied (every connection is gone). */
bool vsock_check_reset(struct vsock *v);
void vsock_drop_all(struct vsock *v);
/* Queue a reset for a guest packet that matches no connection. */
void vsock_reply_rst(struct vsock *v, const struct vsock_hdr *h);

/* vsock_rx.c: the connection engine. */
/* Owe the guest the control packets in bits. */
void vsock_want(struct vsock *v, struct vsock_conn *c, uint8_t bits);
/* Close the host side and owe the guest an RST (dropped at once if the
 * guest never heard of the connection). */
void vsock_conn_reset(struct vsock *v, struct vsock_conn *c);
/* Forget c entirely, sending nothing. */
void vsock_conn_destroy(struct vsock *v, struct vsock_conn *c);
/* Move whatever can move now: buffered bytes to the host, host bytes to
 * the guest, and shut down or finish the connection when both sides are done. */
void vsock_conn_run(struct vsock *v, struct vsock_conn *c);
/* Guest payload for c: to the host socket, or buffered. */
void vsock_conn_from_guest(struct vsock *v, struct vsock_conn *c, const struct virtq_chain *ch,
			   uint32_t len);
/* Deliver owed control packets into rx buffers; then resume tx and waiting
 * connections while buffers last. */
void vsock_service(struct vsock *v);
/* The guest posted rx buffers. */
void vsock_rx_kick(struct vsock *v);
/* Process the tx queue. */
void vsock_process_tx(struct vsock *v);

/* vsock_bridge.c: the Unix-socket side. */
int vsock_bridge_open(struct vsock *v, const char *uds_path);
void vsock_bridge_close(struct vsock *v);
/* Watch c's host socket on the loop (edge-triggered). */
int vsock_bridge_watch(struct vsock *v, struct vsock_conn *c);
/* Stop watching and close c's host socket. */
void vsock_bridge_unwatch(struct vsock *v, struct vsock_conn *c);
/* A guest REQUEST to CID 2 port h->dst_port. */
void vsock_bridge_guest_connect(struct vsock *v, const struct vsock_hdr *h);
/* The host client behind a host-initiated connection was accepted by the guest. */
int vsock_bridge_send_ok(struct vsock_conn *c);
void vsock_bridge_arm_timer(struct vsock *v);
uint64_t vsock_now_ms(void);

#endif
