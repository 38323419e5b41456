/* vsock packet codec, guest packet checks, the CONNECT line parser and the
 * connection table. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "tests/unit/tap.h"
#include "vmm/devices/vsock_conn.h"
#include "vmm/devices/vsock_packet.h"

static void test_codec(void)
{
	struct vsock_hdr h = { .src_cid = 3,
			       .dst_cid = 2,
			       .src_port = 0x11223344,
			       .dst_port = 1024,
			       .len = 5,
			       .type = 1,
			       .op = VSOCK_OP_RW,
			       .flags = 3,
			       .buf_alloc = 262144,
			       .fwd_cnt = 77 },
			 back;
	uint8_t raw[VSOCK_HDR_SIZE];
	static const uint8_t want_start[] = {
		3, 0, 0, 0, 0,	  0,	0,    0,    2,	  0,	0, 0,
		0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0x00, 0x04, 0, 0
	};

	vsock_hdr_encode(&h, raw);
	ok(memcmp(raw, want_start, sizeof(want_start)) == 0, "little-endian wire layout");
	ok(raw[28] == 1 && raw[30] == VSOCK_OP_RW && raw[36] == 0 && raw[38] == 4 && raw[40] == 77,
	   "type, op, buf_alloc, fwd_cnt at their offsets");
	vsock_hdr_decode(raw, &back);
	ok(memcmp(&h, &back, sizeof(h)) == 0, "decode(encode(h)) == h");
}

static void test_check(void)
{
	struct vsock_hdr h = {
		.src_cid = 3, .dst_cid = 2, .type = 1, .op = VSOCK_OP_RW, .len = 10
	};
	const char *why;

	is(vsock_packet_check(&h, 3, 10, &why), VSOCK_PKT_OK, "good RW");
	is(vsock_packet_check(&h, 3, 9, &why), VSOCK_PKT_RST, "RW longer than its buffers: RST");
	h.len = VSOCK_MAX_PAYLOAD + 1;
	is(vsock_packet_check(&h, 3, UINT32_MAX, &why), VSOCK_PKT_RST, "RW over 64 KiB: RST");
	h.len = 0;
	h.src_cid = 4;
	is(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_DROP, "spoofed source: dropped");
	h.src_cid = 3;
	h.dst_cid = 1;
	is(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RST, "not for the host: RST");
	h.op = VSOCK_OP_RST;
	is(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_DROP,
	   "a bad RST is dropped, not answered");
	h.dst_cid = 2;
	h.op = 8;
	is(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RST, "unknown op: RST");
	h.op = VSOCK_OP_REQUEST;
	h.type = 2;
	is(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RST, "seqpacket: RST");
	ok(strcmp(vsock_op_name(VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST") == 0 &&
		   strcmp(vsock_op_name(99), "unknown") == 0,
	   "op names");
}

static void test_connect_line(void)
{
	static const char *const bad[] = {
		"CONNECT \n",	"CONNECT 4294967296\n", "connect 1\n",		 "CONNECT 1",
		"CONNECT -1\n", "CONNECT 1 \n",		"CONNECT 00000000001\n", "CONNECT 1\r\r\n",
		"OK 1\n"
	};
	uint32_t port = 0;

	ok(vsock_parse_connect("CONNECT 1024\n", 13, &port) == 0 && port == 1024, "CONNECT 1024");
	ok(vsock_parse_connect("CONNECT 52\r\n", 12, &port) == 0 && port == 52, "CRLF accepted");
	ok(vsock_parse_connect("CONNECT 4294967295\n", 19, &port) == 0 && port == UINT32_MAX,
	   "largest port");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		is(vsock_parse_connect(bad[i], strlen(bad[i]), &port), -EINVAL, "refused: %.*s",
		   (int)strcspn(bad[i], "\r\n"), bad[i]);
}

static void test_table(void)
{
	struct vsock_conn_table t = { 0 };
	struct vsock_conn *c[600];
	int good = 1;

	for (uint32_t i = 0; i < 600; i++) {
		c[i] = vsock_conn_new(NULL, 1024 + i % 7, 40000 + i, -1);
		vsock_conn_insert(&t, c[i]);
	}
	is(t.count, 600, "600 connections in the table");
	for (uint32_t i = 0; i < 600; i++)
		good &= vsock_conn_find(&t, 1024 + i % 7, 40000 + i) == c[i];
	ok(good, "each found by (local port, peer port)");
	ok(!vsock_conn_find(&t, 1025, 40000), "no false match");
	for (uint32_t i = 0; i < 600; i += 2)
		vsock_conn_unlink(&t, c[i]);
	good = t.count == 300;
	for (uint32_t i = 0; i < 600; i++)
		good &= (vsock_conn_find(&t, 1024 + i % 7, 40000 + i) != NULL) == (i & 1);
	ok(good, "half removed, the rest still found");
	for (uint32_t i = 0; i < 600; i++) {
		if (i & 1)
			vsock_conn_unlink(&t, c[i]);
		vsock_conn_free(c[i]);
	}
	is(t.count, 0, "table empty");
	vsock_conn_free(NULL);
}

static void test_buffer(void)
{
	int sv[2];
	struct vsock_conn *c;
	static uint8_t big[VSOCK_CONN_BUF + 1], out[VSOCK_CONN_BUF];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		ok(0, "socketpair");
		return;
	}
	c = vsock_conn_new(NULL, 1, 2, sv[0]);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	struct iovec iov[2] = { { big, 100 }, { big + 100, sizeof(big) - 100 } };
	is(vsock_conn_buf_append(c, iov, 2, 0, sizeof(big)), -ENOBUFS,
	   "more than the window refused");
	is(vsock_conn_buf_append(c, iov, 2, 50, 1000), 0, "append from an offset across iovecs");
	ssize_t r = vsock_conn_buf_flush(c);
	ok(r == 1000 && read(sv[1], out, 1000) == 1000 && memcmp(out, big + 50, 1000) == 0,
	   "flushed in order");
	/* Fill, drain part, wrap around the ring. */
	is(vsock_conn_buf_append(c, iov, 2, 0, VSOCK_CONN_BUF), 0, "a full window buffered");
	is(vsock_conn_buf_append(c, iov, 2, 0, 1), -ENOBUFS, "not one byte more");
	size_t total = 0;
	int same = 1, wrapped = 0;
	for (;;) {
		r = vsock_conn_buf_flush(c);
		ssize_t n = recv(sv[1], out, sizeof(out), MSG_DONTWAIT);
		if (r < 0 || (n <= 0 && !c->buf_len))
			break;
		if (n > 0) {
			same &= memcmp(out, big + total, (size_t)n) == 0;
			total += (size_t)n;
		}
		if (total >= 1000 && !wrapped) {
			/* Room again at the front: the next byte wraps around the ring. */
			vsock_conn_buf_append(c, iov, 2, VSOCK_CONN_BUF, 1);
			wrapped = 1;
		}
	}
	ok(same && total >= VSOCK_CONN_BUF, "everything came out in order (%zu bytes)", total);
	close(sv[1]);
	is(vsock_conn_buf_append(c, iov, 2, 0, 10), 0, "append after the reader left");
	ok(vsock_conn_buf_flush(c) == -EPIPE, "flush to a closed peer: -EPIPE, no SIGPIPE");
	vsock_conn_free(c);
}

int main(void)
{
	test_codec();
	test_check();
	test_connect_line();
	test_table();
	test_buffer();
	return done_testing();
}
