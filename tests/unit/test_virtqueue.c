/* The split-virtqueue parser against hand-built rings, good and hostile. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/cleanup.h"
#include "tests/unit/tap.h"
#include "tests/unit/test_virtqueue_guest.h"
#include "vmm/devices/virtqueue.h"

#define NUM 8

static struct fake_guest g;
static struct fake_vq fvq;
static struct virtq q;
static struct virtq_chain chain;
static uint64_t bufs; /* 64 KiB of data buffers */

/* Fresh rings and a freshly enabled queue. */
static void setup(bool event_idx, bool indirect)
{
	memset(fg_ptr(&g, fvq.desc), 0, 16 * NUM);
	memset(fg_ptr(&g, fvq.avail), 0, 6 + 2 * NUM);
	memset(fg_ptr(&g, fvq.used), 0, 6 + 8 * NUM);
	fvq.avail_idx = fvq.used_seen = 0;
	virtq_init(&q, g.mem);
	q.st.num = NUM;
	q.st.desc = fvq.desc;
	q.st.driver = fvq.avail;
	q.st.device = fvq.used;
	if (virtq_enable(&q, event_idx, indirect) < 0)
		abort();
}

/* Pop expecting a rejection whose message contains want. */
static void expect_bad(const char *what, const char *want)
{
	int r = virtq_pop(&q, &chain);

	ok(r == -EINVAL && strstr(q.error, want), "rejects %s (%d: %s)", what, r, q.error);
}

static void test_enable(void)
{
	struct virtq v;
	static const uint16_t bad_num[] = { 0, 3, 12, 512 };

	for (size_t i = 0; i < ARRAY_SIZE(bad_num); i++) {
		virtq_init(&v, g.mem);
		v.st = (struct virtq_state){
			.num = bad_num[i], .desc = fvq.desc, .driver = fvq.avail, .device = fvq.used
		};
		is(virtq_enable(&v, false, false), -EINVAL, "queue size %u refused", bad_num[i]);
	}
	virtq_init(&v, g.mem);
	v.st = (struct virtq_state){
		.num = NUM, .desc = fvq.desc + 8, .driver = fvq.avail, .device = fvq.used
	};
	is(virtq_enable(&v, false, false), -EINVAL, "misaligned descriptor table refused");
	v.st = (struct virtq_state){
		.num = NUM, .desc = fvq.desc, .driver = fvq.avail, .device = fvq.used + 2
	};
	is(virtq_enable(&v, false, false), -EINVAL, "misaligned used ring refused");
	v.st = (struct virtq_state){
		.num = NUM, .desc = g.size - 64, .driver = fvq.avail, .device = fvq.used
	};
	is(virtq_enable(&v, false, false), -EINVAL, "descriptor table past the end of RAM refused");
	v.st = (struct virtq_state){
		.num = NUM, .desc = fvq.desc, .driver = fvq.avail, .device = 0xfffffffffffffff0ull
	};
	is(virtq_enable(&v, false, false), -EINVAL, "used ring at a wrapping address refused");
	ok(!v.st.ready, "refused queue is not ready");
	is(virtq_pop(&v, &chain), 0, "a queue that is not ready gives nothing");
}

static void test_direct(void)
{
	setup(false, false);
	is(virtq_pop(&q, &chain), 0, "empty ring gives nothing");

	fg_desc(&g, fvq.desc, 3, bufs, 100, VIRTQ_DESC_F_NEXT, 5);
	fg_desc(&g, fvq.desc, 5, bufs + 100, 0, VIRTQ_DESC_F_NEXT, 6); /* empty: skipped */
	fg_desc(&g, fvq.desc, 6, bufs + 200, 50, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, fvq.desc, 1, bufs + 1000, 300, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, fvq.desc, 2, bufs + 2000, 10, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &fvq, 3);
	is(virtq_pop(&q, &chain), 1, "direct chain popped");
	is(chain.head, 3, "head");
	is(chain.nr, 2, "two readable buffers (the empty one skipped)");
	is(chain.nw, 2, "two writable buffers");
	is(chain.rlen, 150, "readable bytes");
	is(chain.wlen, 310, "writable bytes");
	ok(chain.iov[0].iov_base == fg_ptr(&g, bufs) &&
		   chain.iov[3].iov_base == fg_ptr(&g, bufs + 2000),
	   "iovecs point at the guest buffers");

	/* Copy helpers across segment boundaries. */
	memset(fg_ptr(&g, bufs), 'a', 100);
	memset(fg_ptr(&g, bufs + 200), 'b', 50);
	char tmp[40];
	is(virtq_chain_read(&chain, 90, tmp, sizeof(tmp)), 40, "read across buffers");
	ok(tmp[9] == 'a' && tmp[10] == 'b', "read joins the buffers");
	is(virtq_chain_read(&chain, 140, tmp, sizeof(tmp)), 10, "read is short at the end");
	memset(tmp, 'z', sizeof(tmp));
	is(virtq_chain_write(&chain, 295, tmp, 10), 10, "write across writable buffers");
	ok(*(char *)fg_ptr(&g, bufs + 1299) == 'z' && *(char *)fg_ptr(&g, bufs + 2004) == 'z' &&
		   *(char *)fg_ptr(&g, bufs + 2005) == 0,
	   "write lands in both buffers");
	struct iovec sl[4];
	is(virtq_chain_slice(&chain, true, 299, 100, sl, 4), 2, "slice spans two buffers");
	is(sl[0].iov_len + sl[1].iov_len, 11, "slice clipped to the writable part");

	is(virtq_push(&q, chain.head, 42), 0, "push");
	uint32_t id, len;
	ok(fg_used(&g, &fvq, &id, &len) && id == 3 && len == 42, "used ring carries (3, 42)");
	is(virtq_push(&q, NUM, 1), -EINVAL, "push of an out-of-range head refused");
	is(virtq_pop(&q, &chain), 0, "ring empty again");

	/* Unpop gives the same chain back. */
	fg_desc(&g, fvq.desc, 0, bufs, 8, 0, 0);
	fg_avail(&g, &fvq, 0);
	is(virtq_pop(&q, &chain), 1, "pop");
	virtq_unpop(&q);
	ok(virtq_pop(&q, &chain) == 1 && chain.head == 0, "unpop then pop returns it again");
}

static void test_wrap(void)
{
	uint32_t id, len, seen = 0;

	/* Indices that wrap past 65535, and a used ring that wraps many times. */
	setup(false, false);
	q.st.last_avail = q.st.used_idx = 65530;
	fvq.avail_idx = fvq.used_seen = 65530;
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_WRITE, 0);
	int good = 1;
	for (int i = 0; i < 40; i++) {
		fg_avail(&g, &fvq, 0);
		good &= virtq_pop(&q, &chain) == 1 && virtq_push(&q, 0, (uint32_t)i) == 0;
		if (fg_used(&g, &fvq, &id, &len) && len == (uint32_t)i)
			seen++;
	}
	ok(good && seen == 40, "40 chains through a ring of 8 across the index wrap");
}

static void test_indirect(void)
{
	uint64_t table = fg_alloc(&g, 16 * 16, 16);

	setup(false, true);
	fg_desc(&g, table, 0, bufs, 16, VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, table, 2, bufs + 100, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, table, 1, bufs + 1000, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_desc(&g, fvq.desc, 4, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 4);
	is(virtq_pop(&q, &chain), 1, "indirect chain popped");
	ok(chain.head == 4 && chain.nr == 1 && chain.nw == 2 && chain.rlen == 16 &&
		   chain.wlen == 513,
	   "indirect chain: 1 readable, 2 writable (mixed)");

	/* Direct descriptors followed by an indirect table. */
	fg_desc(&g, fvq.desc, 0, bufs + 5000, 16, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, fvq.desc, 1, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fg_desc(&g, table, 0, bufs, 16, VIRTQ_DESC_F_WRITE, 0); /* writable now */
	fg_avail(&g, &fvq, 0);
	is(virtq_pop(&q, &chain), 1, "direct then indirect popped");
	ok(chain.nr == 1 && chain.nw == 1 && chain.rlen == 16 && chain.wlen == 16,
	   "direct prefix + indirect table joined");

	/* A table of many entries (more than the queue size is fine inside it). */
	for (uint16_t i = 0; i < 16; i++)
		fg_desc(&g, table, i, bufs + 64 * (uint64_t)i, 64,
			VIRTQ_DESC_F_WRITE | (i < 15 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	fg_desc(&g, fvq.desc, 2, table, 16 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 2);
	ok(virtq_pop(&q, &chain) == 1 && chain.nw == 16 && chain.wlen == 1024,
	   "indirect table of 16 in a queue of 8");
}

static void test_hostile(void)
{
	uint64_t table = fg_alloc(&g, 16 * 8, 16);

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, fvq.desc, 1, bufs, 8, VIRTQ_DESC_F_NEXT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a loop in a chain", "loops");

	setup(false, true);
	for (uint16_t i = 0; i < NUM; i++)
		fg_desc(&g, fvq.desc, i, bufs, 8, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % NUM));
	fg_avail(&g, &fvq, 5);
	expect_bad("a chain longer than the queue", "exceeds the queue size");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_NEXT, NUM);
	fg_avail(&g, &fvq, 0);
	expect_bad("a next index past the table", "out of range");

	setup(false, true);
	fg_avail(&g, &fvq, NUM + 3);
	expect_bad("a head index past the table", "head index");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, bufs, 8, 0, 0);
	*(uint16_t *)fg_ptr(&g, fvq.avail + 2) = NUM + 1;
	expect_bad("an available index that runs past the ring", "moved");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, g.size - 10, 100, 0, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a buffer running off the end of RAM", "outside guest memory");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, 0x40000000, 16, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a buffer outside RAM", "outside guest memory");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, UINT64_MAX - 10, 100, 0, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a buffer whose end wraps", "outside guest memory");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, fvq.desc, 1, bufs + 8, 8, 0, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a readable buffer after a writable one (write to a readable buffer)",
		   "readable buffer after");

	setup(false, false);
	fg_desc(&g, fvq.desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("indirect without the feature", "without the feature");

	setup(false, true);
	fg_desc(&g, table, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_desc(&g, fvq.desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a nested indirect table", "nested");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	fg_avail(&g, &fvq, 0);
	expect_bad("an indirect descriptor with NEXT", "with NEXT");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, table, 40, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("an indirect table whose length is not a multiple of 16", "length");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, table, 16 * (VIRTQ_INDIRECT_MAX + 1), VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("an indirect table longer than the cap", "length");

	setup(false, true);
	fg_desc(&g, fvq.desc, 0, g.size - 32, 64, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("an indirect table outside RAM", "outside guest memory");

	setup(false, true);
	fg_desc(&g, table, 0, bufs, 8, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, table, 1, bufs, 8, VIRTQ_DESC_F_NEXT, 0);
	fg_desc(&g, fvq.desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a loop inside an indirect table", "indirect chain loops");

	setup(false, true);
	fg_desc(&g, table, 0, bufs, 8, VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, fvq.desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fg_avail(&g, &fvq, 0);
	expect_bad("a next index past an indirect table", "out of range");
}

/* Buffers that are each valid but add up to more than 4 GiB need more RAM
 * than a heap buffer: map 3 GiB that is never touched. */
static void test_length_overflow(void)
{
	const uint64_t size = 3ull << 30;
	uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct memory *mem;
	struct virtq v;
	uint8_t *d;

	if (ram == MAP_FAILED || memory_new_from(ram, size, -1, &mem) < 0) {
		ok(0, "map 3 GiB for the overflow test");
		return;
	}
	virtq_init(&v, mem);
	v.st = (struct virtq_state){ .num = 4, .desc = 0x1000, .driver = 0x2000, .device = 0x3000 };
	is(virtq_enable(&v, false, false), 0, "queue in 3 GiB of RAM");
	for (int w = 0; w < 2; w++) {
		uint16_t flags = VIRTQ_DESC_F_NEXT | (w ? VIRTQ_DESC_F_WRITE : 0);
		uint64_t addr = 0x10000000;
		uint32_t len = 0xa0000000; /* 2.5 GiB, inside RAM */
		for (int i = 0; i < 2; i++) {
			d = ram + 0x1000 + 16 * i;
			memcpy(d, &addr, 8);
			memcpy(d + 8, &len, 4);
			uint16_t f = i ? (uint16_t)(flags & ~VIRTQ_DESC_F_NEXT) : flags;
			uint16_t next = 1;
			memcpy(d + 12, &f, 2);
			memcpy(d + 14, &next, 2);
		}
		*(uint16_t *)(ram + 0x2004) = 0;
		*(uint16_t *)(ram + 0x2002) = 1;
		v.st.last_avail = 0;
		int r = virtq_pop(&v, &chain);
		ok(r == -EINVAL && strstr(v.error, "4 GiB"),
		   "rejects %s buffers adding up past 4 GiB", w ? "writable" : "readable");
	}
	memory_free(mem);
	munmap(ram, size);
}

static void test_interrupts(void)
{
	uint16_t *used_event = fg_ptr(&g, fvq.avail + 4 + 2 * NUM);
	uint16_t *avail_event = fg_ptr(&g, fvq.used + 4 + 8 * NUM);
	uint16_t *avail_flags = fg_ptr(&g, fvq.avail);
	int n = 0;

	/* Without EVENT_IDX: the NO_INTERRUPT flag. */
	setup(false, false);
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_WRITE, 0);
	ok(!virtq_need_interrupt(&q), "no interrupt when nothing was used");
	fg_avail(&g, &fvq, 0);
	virtq_pop(&q, &chain);
	virtq_push(&q, 0, 8);
	ok(virtq_need_interrupt(&q), "interrupt after a used entry");
	*avail_flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	fg_avail(&g, &fvq, 0);
	virtq_pop(&q, &chain);
	virtq_push(&q, 0, 8);
	ok(!virtq_need_interrupt(&q), "NO_INTERRUPT suppresses it");

	/* With EVENT_IDX: used_event decides, avail_event is published. */
	setup(true, false);
	fg_desc(&g, fvq.desc, 0, bufs, 8, VIRTQ_DESC_F_WRITE, 0);
	*used_event = 5;
	for (int i = 0; i < 8; i++) {
		fg_avail(&g, &fvq, 0);
		virtq_pop(&q, &chain);
		virtq_push(&q, 0, 8);
		if (virtq_need_interrupt(&q))
			n |= 1 << i;
	}
	is(n, (1 << 0) | (1 << 5), "EVENT_IDX: interrupts only for the first entry and used_event");
	is(virtq_pop(&q, &chain), 0, "ring drained");
	is(*avail_event, 8, "avail_event published as the next entry wanted");

	/* Entries that arrive while avail_event is published are still seen. */
	fg_avail(&g, &fvq, 0);
	is(virtq_pop(&q, &chain), 1, "entry after avail_event picked up");
}

int main(void)
{
	if (fg_init(&g, 1 << 20) < 0)
		skip_all("cannot allocate guest RAM");
	fg_vq_alloc(&g, &fvq, NUM);
	bufs = fg_alloc(&g, 64 << 10, 4096);

	test_enable();
	test_direct();
	test_wrap();
	test_indirect();
	test_hostile();
	test_length_overflow();
	test_interrupts();

	fg_fini(&g);
	return done_testing();
}
