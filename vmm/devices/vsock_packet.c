#include "vmm/devices/vsock_packet.h"

#include <errno.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "vsock headers are little-endian");

/* Wire layout offsets. */
#define OFF_SRC_CID   0
#define OFF_DST_CID   8
#define OFF_SRC_PORT  16
#define OFF_DST_PORT  20
#define OFF_LEN	      24
#define OFF_TYPE      28
#define OFF_OP	      30
#define OFF_FLAGS     32
#define OFF_BUF_ALLOC 36
#define OFF_FWD_CNT   40

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_SIZE])
{
	memcpy(out + OFF_SRC_CID, &h->src_cid, 8);
	memcpy(out + OFF_DST_CID, &h->dst_cid, 8);
	memcpy(out + OFF_SRC_PORT, &h->src_port, 4);
	memcpy(out + OFF_DST_PORT, &h->dst_port, 4);
	memcpy(out + OFF_LEN, &h->len, 4);
	memcpy(out + OFF_TYPE, &h->type, 2);
	memcpy(out + OFF_OP, &h->op, 2);
	memcpy(out + OFF_FLAGS, &h->flags, 4);
	memcpy(out + OFF_BUF_ALLOC, &h->buf_alloc, 4);
	memcpy(out + OFF_FWD_CNT, &h->fwd_cnt, 4);
}

void vsock_hdr_decode(const uint8_t in[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
	memcpy(&h->src_cid, in + OFF_SRC_CID, 8);
	memcpy(&h->dst_cid, in + OFF_DST_CID, 8);
	memcpy(&h->src_port, in + OFF_SRC_PORT, 4);
	memcpy(&h->dst_port, in + OFF_DST_PORT, 4);
	memcpy(&h->len, in + OFF_LEN, 4);
	memcpy(&h->type, in + OFF_TYPE, 2);
	memcpy(&h->op, in + OFF_OP, 2);
	memcpy(&h->flags, in + OFF_FLAGS, 4);
	memcpy(&h->buf_alloc, in + OFF_BUF_ALLOC, 4);
	memcpy(&h->fwd_cnt, in + OFF_FWD_CNT, 4);
}

enum vsock_verdict vsock_packet_check(const struct vsock_hdr *h, uint64_t guest_cid,
				      uint32_t payload, const char **why)
{
	/* Never answer a reset with a reset, whatever else is wrong with it. */
	enum vsock_verdict refuse = h->op == VSOCK_OP_RST ? VSOCK_PKT_DROP : VSOCK_PKT_RST;

	if (h->src_cid != guest_cid) {
		*why = "source CID is not the guest's";
		return VSOCK_PKT_DROP;
	}
	if (h->dst_cid != VSOCK_HOST_CID) {
		*why = "destination CID is not the host";
		return refuse;
	}
	if (h->type != VSOCK_TYPE_STREAM) {
		*why = "socket type is not stream";
		return refuse;
	}
	if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST) {
		*why = "unknown operation";
		return refuse;
	}
	if (h->op == VSOCK_OP_RW) {
		if (h->len > VSOCK_MAX_PAYLOAD) {
			*why = "payload longer than 64 KiB";
			return refuse;
		}
		if (h->len > payload) {
			*why = "payload length beyond the buffers given";
			return refuse;
		}
	}
	*why = NULL;
	return VSOCK_PKT_OK;
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = { "INVALID",	      "REQUEST",       "RESPONSE",
					     "RST",	      "SHUTDOWN",      "RW",
					     "CREDIT_UPDATE", "CREDIT_REQUEST" };

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}

int vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t v = 0;
	size_t i = sizeof(verb) - 1, digits = 0;

	if (len < i + 2 || len > VSOCK_CONNECT_LINE_MAX || memcmp(line, verb, i) != 0 ||
	    line[len - 1] != '\n')
		return -EINVAL;
	len--;
	if (line[len - 1] == '\r')
		len--;
	for (; i < len; i++, digits++) {
		if (line[i] < '0' || line[i] > '9' || digits == 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	if (digits == 0 || v > UINT32_MAX)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}
