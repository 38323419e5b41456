/* snapshot_guest: a guest whose whole state can be checked from outside,
 * for the snapshot, restore and reset tests. It runs at CPL3 and never
 * stops by itself:
 *   - vCPU 0 iterates x = x * LCG_A + LCG_C from x = snap.seed (default 1),
 *     keeping x and the iteration count in registers, and between batches
 *     of 4096 iterations polls COM1 for a one-byte command;
 *   - every other vCPU does the same from seed + its index, publishing its
 *     count and x in memory (a sequence lock);
 *   - snap.mib MiB (default 8) of memory hold a pattern made from seed.
 * Commands (one byte on COM1), each answered with one line:
 *   c  "lcg cpu=0 iter=N x=X" and the same line for every other vCPU
 *   i  count += 1 (kept in memory and in a register): "count=N reg=N"
 *   s  "sum=S count=N": a checksum of the pattern memory
 *   w  rewrite the pattern from seed + count + 1: "wrote"
 *   d  write one byte in each page of snap.dirty_mib MiB (default 1): "dirtied"
 *   p  "serial scr=.. lcr=.. ier=.." (the guest set SCR to 0xa5 at start)
 *   b  blk (first drive): write sector count+1 with a pattern of count,
 *      read it and sector 0 back: "blk write=OK read=OK sector0=..."
 *   x  exit (status 16)
 * With snap.churn=1, vCPU 0 also writes to the next page of the snap.dirty_mib
 * region after every batch, so that memory keeps being dirtied.
 * At start it prints "snap: ready cpus=N mib=M". With snap.vsock=P it also
 * serves vsock port P (echo), printing "vsock: transport reset N" when the
 * device resets the transport, and with a drive it writes "agentvm-snapshot"
 * at sector 0 at start. */
#include "gblk.h"
#include "gvsock.h"
#include "rt.h"

#define LCG_A	 6364136223846793005ull
#define LCG_C	 1442695040888963407ull
#define BATCH	 4096

#define COM1_LSR (RT_PORT_SERIAL + 5)

struct ap_state {
	volatile uint64_t seq; /* odd while being written */
	volatile uint64_t iter, x;
	uint8_t pad[40];
};

static struct ap_state ap[RT_MAX_CPUS];
static volatile uint32_t ap_started;
static volatile uint32_t ap_go; /* seed is set: the other vCPUs may start */
static uint64_t seed;
static uint8_t *pattern;
static uint64_t pattern_bytes;
static volatile uint64_t count;
static uint8_t *dirty;
static uint64_t dirty_bytes;

static struct gvsock vs;
static int have_vsock;
static uint64_t vs_resets_seen;
static struct gvsock_conn *vs_conns[GVSOCK_MAX_CONNS];
static uint8_t vs_buf[4096];

static struct gblk blk;
static int have_blk;
static uint8_t *blk_buf;

static uint64_t mix(uint64_t v)
{
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

static void pattern_fill(uint64_t s)
{
	uint64_t *w = (uint64_t *)pattern;

	for (uint64_t i = 0; i < pattern_bytes / 8; i++)
		w[i] = mix(s + i);
}

static uint64_t pattern_sum(void)
{
	const uint64_t *w = (const uint64_t *)pattern;
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < pattern_bytes / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ull;
	return h;
}

void guest_ap_main(uint64_t cpu)
{
	struct ap_state *a = &ap[cpu];
	uint64_t x, iter = 0;

	while (!__atomic_load_n(&ap_go, __ATOMIC_ACQUIRE))
		rt_pause();
	x = seed + cpu;
	__atomic_fetch_add(&ap_started, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		for (int k = 0; k < BATCH; k++)
			x = x * LCG_A + LCG_C;
		iter += BATCH;
		a->seq++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		a->iter = iter;
		a->x = x;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		a->seq++;
	}
}

static void report_aps(uint32_t ncpus)
{
	for (uint32_t c = 1; c < ncpus && c < RT_MAX_CPUS; c++) {
		uint64_t s, iter, x;
		do {
			s = ap[c].seq;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			iter = ap[c].iter;
			x = ap[c].x;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		} while ((s & 1) || s != ap[c].seq);
		rt_printf("lcg cpu=%u iter=%lu x=%lx\n", c, iter, x);
	}
}

static void do_blk(void)
{
	uint64_t n = count;
	unsigned int w, r0, r1;
	uint64_t *p = (uint64_t *)blk_buf;

	if (!have_blk) {
		rt_puts("blk none\n");
		return;
	}
	for (int i = 0; i < GBLK_SECTOR / 8; i++)
		p[i] = mix(n * 1000 + (uint64_t)i);
	w = gblk_io(&blk, GBLK_T_OUT, n + 1, blk_buf, GBLK_SECTOR);
	memset(blk_buf, 0, GBLK_SECTOR);
	r1 = gblk_io(&blk, GBLK_T_IN, n + 1, blk_buf, GBLK_SECTOR);
	if (r1 == GBLK_S_OK)
		for (int i = 0; i < GBLK_SECTOR / 8; i++)
			if (p[i] != mix(n * 1000 + (uint64_t)i))
				r1 = GBLK_S_IOERR;
	r0 = gblk_io(&blk, GBLK_T_IN, 0, blk_buf, GBLK_SECTOR);
	blk_buf[16] = 0;
	rt_printf("blk write=%s read=%s sector0=%s\n", gblk_status_name(w), gblk_status_name(r1),
		  r0 == GBLK_S_OK ? (const char *)blk_buf : gblk_status_name(r0));
}

static void vsock_work(void)
{
	struct gvsock_conn *c;

	gvsock_poll(&vs);
	if (vs.transport_resets != vs_resets_seen) {
		/* Every connection is CLOSED now; the loop below releases them. */
		vs_resets_seen = vs.transport_resets;
		rt_printf("vsock: transport reset %lu\n", vs_resets_seen);
	}
	while ((c = gvsock_accept(&vs))) {
		for (int i = 0; i < GVSOCK_MAX_CONNS; i++) {
			if (!vs_conns[i]) {
				vs_conns[i] = c;
				break;
			}
		}
	}
	for (int i = 0; i < GVSOCK_MAX_CONNS; i++) {
		size_t n;
		c = vs_conns[i];
		if (!c)
			continue;
		if (c->state == GVSOCK_CLOSED) {
			gvsock_release(c);
			vs_conns[i] = NULL;
			continue;
		}
		while ((n = gvsock_readable(c)) && gvsock_send_space(c)) {
			size_t room = gvsock_send_space(c);
			n = n < sizeof(vs_buf) ? n : sizeof(vs_buf);
			n = n < room ? n : room;
			gvsock_recv(c, vs_buf, n);
			gvsock_send(c, vs_buf, n);
		}
		if (gvsock_eof(c) && c->state == GVSOCK_ESTABLISHED &&
		    !(c->local_shutdown & GVSOCK_SHUTDOWN_SEND))
			gvsock_shutdown(c, GVSOCK_SHUTDOWN_SEND | GVSOCK_SHUTDOWN_RCV);
	}
	gvsock_poll(&vs);
}

int guest_main(uint64_t cpu)
{
	uint64_t x, iter = 0, reg_count = 0, ncpus = rt_param_u64("snap.cpus", 1);
	uint64_t mib = rt_param_u64("snap.mib", 8), vport = rt_param_u64("snap.vsock", 0);
	uint64_t churn = rt_param_u64("snap.churn", 0), churn_at = 0;
	struct gvirtio_dev d;

	(void)cpu;
	seed = rt_param_u64("snap.seed", 1);
	__atomic_store_n(&ap_go, 1, __ATOMIC_RELEASE);
	dirty_bytes = rt_param_u64("snap.dirty_mib", 1) << 20;
	pattern_bytes = mib << 20;
	pattern = rt_alloc(pattern_bytes ? pattern_bytes : 8, 4096);
	dirty = rt_alloc(dirty_bytes ? dirty_bytes : 4096, 4096);
	if (!pattern || !dirty) {
		rt_puts("snap: out of memory\n");
		return 2;
	}
	pattern_fill(seed);
	rt_outb(RT_PORT_SERIAL + 7, 0xa5); /* SCR: survives snapshots */
	if (vport) {
		if (gvsock_init(&vs) < 0)
			return 2;
		gvsock_listen(&vs, (uint32_t)vport);
		have_vsock = 1;
	}
	if (gvirtio_find(GVIRTIO_ID_BLK, 0, &d) == 0) {
		if (gblk_init(&blk, &d) < 0)
			return 2;
		blk_buf = rt_alloc(GBLK_SECTOR, 4096);
		memset(blk_buf, 0, GBLK_SECTOR);
		memcpy(blk_buf, "agentvm-snapshot", 16);
		if (!blk.ro && gblk_io(&blk, GBLK_T_OUT, 0, blk_buf, GBLK_SECTOR) != GBLK_S_OK)
			return 1;
		have_blk = 1;
	}
	while (ap_started < ncpus - 1)
		rt_pause();
	rt_printf("snap: ready cpus=%lu mib=%lu\n", ncpus, mib);
	x = seed;
	for (;;) {
		for (int k = 0; k < BATCH; k++)
			x = x * LCG_A + LCG_C;
		iter += BATCH;
		if (churn) {
			dirty[churn_at] = (uint8_t)iter;
			churn_at = churn_at + 4096 < dirty_bytes ? churn_at + 4096 : 0;
		}
		if (have_vsock)
			vsock_work();
		if (!(rt_inb(COM1_LSR) & 1))
			continue;
		switch (rt_inb(RT_PORT_SERIAL)) {
		case 'c':
			rt_printf("lcg cpu=0 iter=%lu x=%lx\n", iter, x);
			report_aps((uint32_t)ncpus);
			break;
		case 'i':
			count++;
			reg_count++;
			rt_printf("count=%lu reg=%lu\n", count, reg_count);
			break;
		case 's':
			rt_printf("sum=%lx count=%lu\n", pattern_sum(), count);
			break;
		case 'w':
			pattern_fill(seed + count + 1);
			rt_puts("wrote\n");
			break;
		case 'd':
			for (uint64_t o = 0; o < dirty_bytes; o += 4096)
				dirty[o] = (uint8_t)(count + 1);
			rt_puts("dirtied\n");
			break;
		case 'p':
			rt_printf("serial scr=%x lcr=%x ier=%x\n", rt_inb(RT_PORT_SERIAL + 7),
				  rt_inb(RT_PORT_SERIAL + 3), rt_inb(RT_PORT_SERIAL + 1));
			break;
		case 'b':
			do_blk();
			break;
		case 'x':
			return 0;
		default:
			break;
		}
	}
}
