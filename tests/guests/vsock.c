/* vsock: virtio-vsock through agentvm-vmm's hybrid vsock, driven from CPL3.
 * What it does comes from the command line (agentvm-vmm --cmdline):
 *   vsock.listen=P    accept host connections on port P. Each starts with a
 *                     16-byte command (little-endian u32 op, u32 seed,
 *                     u64 bytes):
 *                       op 1 echo:   send back every byte until the host
 *                                    shuts down its side, then shut down;
 *                       op 2 sink:   read `bytes` bytes, check them against
 *                                    the pattern of seed (gpattern.h), reply
 *                                    u64 received, u64 first bad offset
 *                                    (~0 if none), shut down;
 *                       op 3 source: send `bytes` pattern bytes of seed,
 *                                    shut down;
 *                       op 4 count:  reply u64 host connections finished
 *                                    before this one, u64 boot nonce (the
 *                                    TSC when the guest started: it changes
 *                                    with every boot, and a VM reset to a
 *                                    snapshot brings the snapshot's back),
 *                                    shut down.
 *   vsock.accept=N    exit once N host connections have finished (default
 *                     0: serve until killed).
 *   vsock.connect=P   open vsock.conns (default 1) connections to host port
 *                     P at once; on connection i send vsock.bytes (default
 *                     1M) pattern bytes of seed i + 1, check that the host
 *                     echoes them back intact, shut down.
 *   vsock.refused=P   first connect to host port P, where nothing listens,
 *                     and expect a reset.
 *   vsock.timeout=MS  give up after MS milliseconds (default 25000; 0: never).
 *   vsock.idle=irq    when a pass over the device and the connections finds
 *                     nothing to do, sleep (hlt) until the device interrupts
 *                     (or the LAPIC timer, for vsock.timeout): an idle guest
 *                     costs its host no CPU. The default; falls back to poll
 *                     when there is no xAPIC or I/O APIC pin.
 *   vsock.idle=poll   spin at CPL3 instead (lowest latency, one host core).
 *   vsock.spin=US     with idle=irq, keep polling US microseconds after the
 *                     last progress before sleeping (default 0).
 * Prints one line per connection and a final "vsock: done ..." line.
 *   exit 0: everything checked out; 1: a failure (printed); 2: no device. */
#include "gpattern.h"
#include "gvsock.h"
#include "rt.h"

#define VS_OP_ECHO   1
#define VS_OP_SINK   2
#define VS_OP_SOURCE 3
#define VS_OP_COUNT  4
#define VS_CMD_SIZE  16
#define VS_CHUNK     65536

enum vs_kind { VS_HOST, VS_GUEST, VS_REFUSED };

struct vs_app {
	struct gvsock_conn *c;
	enum vs_kind kind;
	unsigned int index;
	uint8_t cmd[VS_CMD_SIZE];
	uint32_t cmd_len;
	uint32_t op, seed;
	uint64_t bytes;
	uint64_t sent, received;
	uint64_t bad_at; /* first byte that did not match, ~0 if none */
	bool shut, replied;
};

static struct gvsock vs;
static struct vs_app apps[GVSOCK_MAX_CONNS];
static uint8_t vs_buf[VS_CHUNK];
static unsigned int vs_failures, vs_host_done, vs_guest_done, vs_refused_done;
static uint64_t vs_rx_total, vs_tx_total;
static uint64_t vs_boot_nonce;

static const char *vs_op_name(uint32_t op)
{
	switch (op) {
	case VS_OP_ECHO:
		return "echo";
	case VS_OP_SINK:
		return "sink";
	case VS_OP_SOURCE:
		return "source";
	case VS_OP_COUNT:
		return "count";
	default:
		return "?";
	}
}

static struct vs_app *vs_app_new(struct gvsock_conn *c, enum vs_kind kind, unsigned int index)
{
	for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		if (apps[i].c)
			continue;
		apps[i] = (struct vs_app){ .c = c, .kind = kind, .index = index, .bad_at = ~0ull };
		return &apps[i];
	}
	return NULL;
}

static void vs_fail(struct vs_app *a, const char *why)
{
	if (a->kind == VS_HOST)
		rt_printf("vsock: host conn port=%u op=%s rx=%lu tx=%lu FAILED: %s\n",
			  a->c->peer_port, vs_op_name(a->op), a->c->rx_bytes, a->c->tx_bytes, why);
	else if (a->kind == VS_GUEST)
		rt_printf("vsock: guest conn %u port=%u sent=%lu echoed=%lu FAILED: %s\n", a->index,
			  a->c->local_port, a->sent, a->received, why);
	else
		rt_printf("vsock: port %u FAILED: %s\n", a->c->peer_port, why);
	vs_failures++;
	gvsock_release(a->c);
	a->c = NULL;
}

static void vs_finish(struct vs_app *a)
{
	vs_rx_total += a->c->rx_bytes;
	vs_tx_total += a->c->tx_bytes;
	gvsock_release(a->c);
	a->c = NULL;
}

/* Move what can move between the ring and the pattern or the peer. */
static void vs_step_host(struct vs_app *a)
{
	struct gvsock_conn *c = a->c;
	size_t n;

	if (a->cmd_len < VS_CMD_SIZE) {
		a->cmd_len +=
			(uint32_t)gvsock_recv(c, a->cmd + a->cmd_len, VS_CMD_SIZE - a->cmd_len);
		if (a->cmd_len < VS_CMD_SIZE) {
			if (c->state == GVSOCK_CLOSED || gvsock_eof(c))
				vs_fail(a, "closed before its command");
			return;
		}
		memcpy(&a->op, a->cmd, 4);
		memcpy(&a->seed, a->cmd + 4, 4);
		memcpy(&a->bytes, a->cmd + 8, 8);
		if (a->op < VS_OP_ECHO || a->op > VS_OP_COUNT) {
			vs_fail(a, "unknown command");
			return;
		}
	}
	switch (a->op) {
	case VS_OP_ECHO:
		while ((n = gvsock_readable(c)) && (n = n < VS_CHUNK ? n : VS_CHUNK) &&
		       (n = n < gvsock_send_space(c) ? n : gvsock_send_space(c))) {
			gvsock_recv(c, vs_buf, n);
			a->received += n;
			a->sent += gvsock_send(c, vs_buf, n);
		}
		if (!a->shut && gvsock_eof(c) && c->state == GVSOCK_ESTABLISHED) {
			gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND | GVSOCK_SHUTDOWN_RCV);
			a->shut = true;
		}
		break;
	case VS_OP_SINK:
		while ((n = gvsock_recv(c, vs_buf, VS_CHUNK))) {
			size_t good = gpattern_check(a->seed, a->received, vs_buf, n);

			if (good < n && a->bad_at == ~0ull)
				a->bad_at = a->received + good;
			a->received += n;
		}
		if (!a->replied && (a->received >= a->bytes || gvsock_eof(c)) &&
		    gvsock_send_space(c) >= 16) {
			uint8_t reply[16];

			memcpy(reply, &a->received, 8);
			memcpy(reply + 8, &a->bad_at, 8);
			gvsock_send(c, reply, sizeof(reply));
			gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND | GVSOCK_SHUTDOWN_RCV);
			a->replied = a->shut = true;
		}
		break;
	case VS_OP_SOURCE:
		while (gvsock_recv(c, vs_buf, VS_CHUNK))
			;
		while (a->sent < a->bytes && (n = gvsock_send_space(c))) {
			if (n > VS_CHUNK)
				n = VS_CHUNK;
			if (n > a->bytes - a->sent)
				n = (size_t)(a->bytes - a->sent);
			gpattern_fill(a->seed, a->sent, vs_buf, n);
			a->sent += gvsock_send(c, vs_buf, n);
		}
		if (!a->shut && a->sent == a->bytes && c->state == GVSOCK_ESTABLISHED) {
			gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND);
			a->shut = true;
		}
		break;
	case VS_OP_COUNT:
		while (gvsock_recv(c, vs_buf, VS_CHUNK))
			;
		if (!a->replied && gvsock_send_space(c) >= 16) {
			uint64_t done = vs_host_done;
			uint8_t reply[16];

			memcpy(reply, &done, 8);
			memcpy(reply + 8, &vs_boot_nonce, 8);
			gvsock_send(c, reply, sizeof(reply));
			gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND | GVSOCK_SHUTDOWN_RCV);
			a->replied = a->shut = true;
		}
		break;
	}
	if (c->state != GVSOCK_CLOSED)
		return;
	if (!a->shut) {
		vs_fail(a, "reset before it finished");
		return;
	}
	if (a->op == VS_OP_SINK && a->bad_at != ~0ull)
		rt_printf("vsock: host conn port=%u sink: byte %lu differs from the pattern\n",
			  c->peer_port, a->bad_at);
	rt_printf("vsock: host conn port=%u op=%s rx=%lu tx=%lu ok\n", c->peer_port,
		  vs_op_name(a->op), c->rx_bytes, c->tx_bytes);
	vs_host_done++;
	vs_finish(a);
}

static void vs_step_guest(struct vs_app *a, uint64_t bytes)
{
	struct gvsock_conn *c = a->c;
	uint64_t seed = a->index + 1;
	size_t n;

	if (c->state == GVSOCK_CONNECTING)
		return;
	if (c->refused) {
		vs_fail(a, "refused");
		return;
	}
	while (a->sent < bytes && (n = gvsock_send_space(c))) {
		if (n > VS_CHUNK)
			n = VS_CHUNK;
		if (n > bytes - a->sent)
			n = (size_t)(bytes - a->sent);
		gpattern_fill(seed, a->sent, vs_buf, n);
		a->sent += gvsock_send(c, vs_buf, n);
	}
	if (!a->shut && a->sent == bytes && c->state == GVSOCK_ESTABLISHED) {
		gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND);
		a->shut = true;
	}
	while ((n = gvsock_recv(c, vs_buf, VS_CHUNK))) {
		if (gpattern_check(seed, a->received, vs_buf, n) != n) {
			vs_fail(a, "echo differs from what was sent");
			return;
		}
		a->received += n;
	}
	if (a->received > bytes) {
		vs_fail(a, "more bytes echoed than sent");
		return;
	}
	if (!gvsock_eof(c))
		return;
	if (a->received != bytes) {
		vs_fail(a, "closed before the whole echo came back");
		return;
	}
	if (c->state != GVSOCK_CLOSED)
		return; /* wait for the peer's reset, which ends the connection */
	rt_printf("vsock: guest conn %u port=%u sent=%lu echoed=%lu ok\n", a->index, c->local_port,
		  a->sent, a->received);
	vs_guest_done++;
	vs_finish(a);
}

static void vs_step_refused(struct vs_app *a)
{
	struct gvsock_conn *c = a->c;

	if (c->state == GVSOCK_CONNECTING)
		return;
	if (c->state != GVSOCK_CLOSED || !c->refused) {
		vs_fail(a, "a connection where nothing listens was accepted");
		return;
	}
	rt_printf("vsock: port %u refused (RST)\n", c->peer_port);
	vs_refused_done++;
	gvsock_release(c);
	a->c = NULL;
}

static void vs_report(void)
{
	rt_printf("vsock: done host_conns=%u guest_conns=%u refused=%u rx=%lu tx=%lu "
		  "failures=%u bad_packets=%lu irqs=%lu\n",
		  vs_host_done, vs_guest_done, vs_refused_done, vs_rx_total, vs_tx_total,
		  vs_failures, vs.bad_packets, rt_irq_waits);
}

/* Set up interrupt-driven idling: 1, or 0 (printed) to poll instead. */
static int vs_idle_irq_setup(void)
{
	char mode[8];

	if (rt_param("vsock.idle", mode, sizeof(mode)) && strcmp(mode, "irq")) {
		if (strcmp(mode, "poll"))
			rt_printf("vsock: unknown vsock.idle=%s, polling\n", mode);
		return 0;
	}
	if (!vs.dev.gsi || rt_irq_init() < 0 || rt_irq_route(vs.dev.gsi) < 0) {
		rt_printf("vsock: no interrupt for slot %u, polling\n", vs.dev.slot);
		return 0;
	}
	return 1;
}

/* TSC cycles in microseconds (3 GHz assumed if the rate is unknown). */
static uint64_t vs_tsc_to_us(uint64_t cycles)
{
	uint64_t khz = rt_tsc_khz(NULL);

	return cycles / (khz ? khz : 3000000) * 1000;
}

int guest_main(uint64_t cpu)
{
	uint64_t listen = rt_param_u64("vsock.listen", 0);
	uint64_t accept_n = rt_param_u64("vsock.accept", 0);
	uint64_t connect = rt_param_u64("vsock.connect", 0);
	uint64_t conns = rt_param_u64("vsock.conns", 1);
	uint64_t bytes = rt_param_u64("vsock.bytes", 1 << 20);
	uint64_t refused = rt_param_u64("vsock.refused", 0);
	uint64_t timeout = rt_param_u64("vsock.timeout", 25000);
	uint64_t spin = rt_ms_to_tsc(rt_param_u64("vsock.spin", 0)) / 1000;
	uint64_t start, limit, timer_due = 0, now, last_work;
	struct gvsock_conn *c;
	int idle_irq;

	(void)cpu;
	vs_boot_nonce = rt_rdtsc();
	if (gvsock_init(&vs) < 0)
		return 2;
	rt_printf("vsock: cid=%lu\n", vs.cid);
	idle_irq = vs_idle_irq_setup();
	rt_printf("vsock: idle=%s\n", idle_irq ? "irq" : "poll");
	if (!connect)
		conns = 0;
	if (conns > GVSOCK_MAX_CONNS / 2 || listen > 0xffffffffull || connect > 0xffffffffull ||
	    refused > 0xffffffffull) {
		rt_puts("vsock: bad parameters\n");
		return 1;
	}
	if (refused) {
		c = gvsock_connect(&vs, (uint32_t)refused);
		if (!c || !vs_app_new(c, VS_REFUSED, 0))
			return 1;
	}
	for (unsigned int i = 0; i < conns; i++) {
		c = gvsock_connect(&vs, (uint32_t)connect);
		if (!c || !vs_app_new(c, VS_GUEST, i))
			return 1;
	}
	if (listen) {
		gvsock_listen(&vs, (uint32_t)listen);
		rt_printf("vsock: listening on port %lu\n", listen);
	}
	start = last_work = rt_rdtsc();
	limit = rt_ms_to_tsc(timeout);
	for (;;) {
		unsigned int work = gvsock_poll(&vs);

		while ((c = gvsock_accept(&vs))) {
			if (!vs_app_new(c, VS_HOST, 0))
				gvsock_release(c);
		}
		for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
			struct vs_app *a = &apps[i];

			if (!a->c)
				continue;
			if (a->kind == VS_HOST)
				vs_step_host(a);
			else if (a->kind == VS_GUEST)
				vs_step_guest(a, bytes);
			else
				vs_step_refused(a);
		}
		if (vs_guest_done + vs_refused_done + vs_failures >= conns + (refused ? 1 : 0) &&
		    (!listen || (accept_n && vs_host_done + vs_failures >= accept_n))) {
			bool ok = !vs_failures && !vs.bad_packets;

			vs_report();
			return ok ? 0 : 1;
		}
		now = rt_rdtsc();
		if (timeout && now - start > limit) {
			rt_printf("vsock: timeout after %lu ms\n", timeout);
			for (unsigned int i = 0; i < GVSOCK_MAX_CONNS; i++) {
				struct vs_app *a = &apps[i];

				if (a->c)
					rt_printf("vsock:   conn kind=%u port=%u/%u state=%u "
						  "sent=%lu "
						  "received=%lu readable=%lu credit_to_peer=%u\n",
						  a->kind, a->c->local_port, a->c->peer_port,
						  a->c->state, a->sent, a->received,
						  (uint64_t)gvsock_readable(a->c),
						  a->c->peer_buf_alloc -
							  (a->c->tx_cnt - a->c->peer_fwd_cnt));
			}
			vs_report();
			return 1;
		}
		if (work)
			last_work = now;
		if (!idle_irq || now - last_work < spin) {
			rt_pause();
			continue;
		}
		/* Nothing moved: sleep until the device interrupts. With a
		 * timeout, the LAPIC timer also wakes us by the deadline (it
		 * runs at most ~4 s at a time: re-armed once it has fired). */
		if (timeout && now >= timer_due) {
			uint64_t left = start + limit - now;

			rt_irq_timer(vs_tsc_to_us(left) + 1000);
			timer_due = now + (left < rt_ms_to_tsc(4000) ? left : rt_ms_to_tsc(4000));
		}
		gvsock_wait(&vs);
	}
}
