/* virtio-vsock packets (virtio 1.x 5.10.6) and the host-side handshake
 * line of the hybrid vsock ("CONNECT <port>\n"). Everything here parses
 * hostile bytes: headers from the guest, lines from host clients. */
#ifndef AGENTVM_VMM_DEVICES_VSOCK_PACKET_H
#define AGENTVM_VMM_DEVICES_VSOCK_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HOST_CID	  2
#define VSOCK_HDR_SIZE	  44
#define VSOCK_MAX_PAYLOAD 65536 /* largest RW payload accepted or sent */

#define VSOCK_TYPE_STREAM 1

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV	    1
#define VSOCK_SHUTDOWN_SEND	    2
#define VSOCK_SHUTDOWN_BOTH	    3

#define VSOCK_EVENT_TRANSPORT_RESET 0

/* A header in host order. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE]);
void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_SIZE], struct vsock_hdr *h);

/* What to do with a packet from the guest before looking up its connection. */
enum vsock_verdict {
	VSOCK_PKT_OK,	/* handle it */
	VSOCK_PKT_DROP, /* ignore it silently */
	VSOCK_PKT_RST,	/* refuse it with a reset */
};

/* Check a guest packet whose chain carries payload bytes after the header.
 * Sets *why for anything but VSOCK_PKT_OK. */
enum vsock_verdict vsock_packet_check(const struct vsock_hdr *h, uint64_t guest_cid,
				      uint32_t payload, const char **why);
const char *vsock_op_name(uint16_t op);

#define VSOCK_CONNECT_LINE_MAX 32

/* Parse one handshake line (including its '\n'; a '\r' before it is
 * allowed): "CONNECT <port>". Returns 0 and *port, or -EINVAL. */
int vsock_parse_connect(const char *line, size_t len, uint32_t *port);

#endif
