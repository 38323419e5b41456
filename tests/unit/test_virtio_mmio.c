/* The virtio-mmio transport: registers, feature negotiation, queue set-up,
 * reset, NEEDS_RESET after a bad chain, and the loop/ioeventfd paths. Driven
 * through the bus with virtio-rng as the device. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/cleanup.h"
#include "tests/unit/tap.h"
#include "tests/unit/test_virtqueue_guest.h"
#include "vmm/devices/rng.h"

#define BASE1 0xd0000000ull
#define BASE2 0xd0001000ull
#define BASE3 0xd0002000ull

static struct fake_guest g;
static uint64_t bufs;

struct dev {
	uint64_t base;
	int irq;
	struct rng *rng;
	struct fake_vq vq;
};

static int dev_new(struct dev *d, uint64_t base, uint32_t gsi, struct loop *loop,
		   const struct virtio_mmio_hooks *hooks)
{
	struct virtio_mmio_env env = { .mem = g.mem,
				       .bus = &g.bus,
				       .loop = loop,
				       .hooks = hooks,
				       .base = base,
				       .name = "rng" };

	d->base = base;
	d->irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	env.irq = (struct irq_line){ .fd = d->irq, .gsi = gsi };
	fg_vq_alloc(&g, &d->vq, 16);
	return rng_new(&env, &d->rng);
}

static void dev_free(struct dev *d)
{
	rng_free(d->rng);
	close(d->irq);
}

static void dev_start(struct dev *d)
{
	fg_handshake(&g, d->base, FG_FEATURES);
	memset(fg_ptr(&g, d->vq.avail), 0, 6 + 2 * 16);
	memset(fg_ptr(&g, d->vq.used), 0, 6 + 8 * 16);
	d->vq.avail_idx = d->vq.used_seen = 0;
	fg_queue_setup(&g, d->base, 0, &d->vq);
	fg_driver_ok(&g, d->base);
}

/* Post one 64-byte writable buffer at slot; returns 1 if it came back with 64 bytes. */
static int dev_request(struct dev *d, uint16_t slot, int wait_ms)
{
	uint32_t id, len;
	uint64_t buf = bufs + 64 * (uint64_t)slot;

	memset(fg_ptr(&g, buf), 0, 64);
	fg_desc(&g, d->vq.desc, slot, buf, 64, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &d->vq, slot);
	fg_notify(&g, d->base, 0);
	if (wait_ms)
		fg_wait_irq(d->irq, wait_ms);
	if (!fg_used(&g, &d->vq, &id, &len))
		return 0;
	uint8_t zero[64] = { 0 };
	return id == slot && len == 64 && memcmp(fg_ptr(&g, buf), zero, 64) != 0;
}

static void test_registers(struct dev *d)
{
	uint8_t b = 0x55;

	is(fg_r32(&g, d->base, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC, "magic");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_VERSION), 2, "version 2 (modern only)");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_DEVICE_ID), RNG_DEVICE_ID, "device id");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_VENDOR), VIRTIO_MMIO_VENDOR_ID, "vendor id");
	fg_w32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES) & 1, 1, "VERSION_1 offered");
	fg_w32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES) >> 28, 3,
	   "INDIRECT_DESC and EVENT_IDX offered");
	fg_w32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_DEVICE_FEATURES), 0, "feature word 7 is zero");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_SEL, 0);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE, "QueueNumMax");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_SEL, 1);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_NUM_MAX), 0, "no queue 1");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff, "no shared memory");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS), 0, "status starts at 0");
	bus_write(&g.bus, d->base + VIRTIO_MMIO_STATUS, &b, 1);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS), 0, "byte-wide register write ignored");
	uint16_t h = 0xffff;
	bus_read(&g.bus, d->base + VIRTIO_MMIO_MAGIC_VALUE, &h, 2);
	is(h, 0, "halfword register read gives zero");
	uint32_t c = 0xffffffff;
	bus_read(&g.bus, d->base + VIRTIO_MMIO_CONFIG, &c, 4);
	is(c, 0, "config space beyond its size reads zero");
}

static void test_negotiation(struct dev *d)
{
	uint32_t st = fg_handshake(&g, d->base, 0);

	ok(!(st & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK refused without VERSION_1 (0x%x)", st);
	st = fg_handshake(&g, d->base, FG_FEATURES | (1ull << 40));
	ok(!(st & VIRTIO_STATUS_FEATURES_OK), "FEATURES_OK refused for an unoffered feature");
	fg_w32(&g, d->base, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	ok(!(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK),
	   "DRIVER_OK refused without FEATURES_OK");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_SEL, 0);
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_READY, 1);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_READY), 0,
	   "queue cannot be enabled before FEATURES_OK");
	st = fg_handshake(&g, d->base, FG_FEATURES | (1ull << VIRTIO_RING_F_EVENT_IDX));
	ok(st & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK accepted with VERSION_1");
	fg_w32(&g, d->base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fg_w32(&g, d->base, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	ok(virtio_mmio_has_feature(rng_transport(d->rng), VIRTIO_RING_F_EVENT_IDX),
	   "features frozen after FEATURES_OK");
	fg_w32(&g, d->base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS), st, "driver cannot clear status bits");
}

static void test_queue_and_requests(struct dev *d)
{
	dev_start(d);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS), 0xf, "ACK|DRIVER|FEATURES_OK|DRIVER_OK");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_SEL, 0);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_READY), 1, "queue ready");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x12340);
	struct virtio_mmio_state st;
	virtio_mmio_save_state(rng_transport(d->rng), &st);
	is(st.queues[0].desc, d->vq.desc, "queue addresses frozen while ready");

	ok(dev_request(d, 0, 0), "random bytes arrive (inline notify)");
	ok(fg_irq_count(d->irq) >= 1, "interrupt raised");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING,
	   "InterruptStatus: used buffer");
	fg_w32(&g, d->base, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_INTERRUPT_STATUS), 0, "InterruptACK clears it");
	fg_notify(&g, d->base, 7);
	ok(1, "notify of a queue that does not exist is ignored");
}

static void test_broken(struct dev *d, struct dev *other)
{
	uint32_t gen = fg_r32(&g, d->base, VIRTIO_MMIO_CONFIG_GENERATION);
	uint32_t id, len;

	fg_irq_count(d->irq);
	/* A looping chain. */
	fg_desc(&g, d->vq.desc, 1, bufs, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, d->vq.desc, 2, bufs, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fg_avail(&g, &d->vq, 1);
	fg_notify(&g, d->base, 0);
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
	   "bad chain sets DEVICE_NEEDS_RESET");
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
	   "config-change interrupt status");
	ok(fg_irq_count(d->irq) >= 1, "interrupt raised for it");
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_CONFIG_GENERATION) != gen, "config generation bumped");
	ok(!fg_used(&g, &d->vq, &id, &len), "bad chain not completed");
	ok(!dev_request(d, 3, 0), "a broken device processes nothing more");
	fg_w32(&g, d->base, VIRTIO_MMIO_STATUS, fg_r32(&g, d->base, VIRTIO_MMIO_STATUS));
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
	   "NEEDS_RESET stays until reset");

	ok(dev_request(other, 0, 0), "the other device is unaffected");

	fg_w32(&g, d->base, VIRTIO_MMIO_STATUS, 0);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS), 0, "reset: status 0");
	fg_w32(&g, d->base, VIRTIO_MMIO_QUEUE_SEL, 0);
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_READY), 0, "reset: queue not ready");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_INTERRUPT_STATUS), 0, "reset: no interrupt pending");
	struct virtio_mmio_state st;
	virtio_mmio_save_state(rng_transport(d->rng), &st);
	ok(st.queues[0].desc == 0 && st.queues[0].last_avail == 0 && st.driver_features == 0,
	   "reset: queue addresses, indices and features cleared");
	dev_start(d);
	ok(dev_request(d, 4, 0), "device works again after reset");
}

static void test_bad_queue_setup(struct dev *d)
{
	struct fake_vq bad = d->vq;

	fg_handshake(&g, d->base, FG_FEATURES);
	bad.num = 12;
	fg_queue_setup(&g, d->base, 0, &bad);
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
	   "queue size 12 marks the device broken");
	fg_w32(&g, d->base, VIRTIO_MMIO_STATUS, 0);
	fg_handshake(&g, d->base, FG_FEATURES);
	bad.num = 16;
	bad.used = g.size + 0x1000;
	fg_queue_setup(&g, d->base, 0, &bad);
	ok(fg_r32(&g, d->base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
	   "used ring outside RAM marks the device broken");
	is(fg_r32(&g, d->base, VIRTIO_MMIO_QUEUE_READY), 0, "and the queue stays disabled");
	dev_start(d);
	ok(dev_request(d, 5, 0), "works after reset");
}

static void test_state(struct dev *from, struct dev *to)
{
	struct virtio_mmio_state st;

	virtio_mmio_save_state(rng_transport(from->rng), &st);
	is(virtio_mmio_restore_state(rng_transport(to->rng), &st), 0,
	   "state restored into another device");
	to->vq = from->vq; /* same rings */
	ok(dev_request(to, 6, 0), "restored device continues the same ring");
	st.queues[0].num = 3;
	is(virtio_mmio_restore_state(rng_transport(to->rng), &st), -EINVAL,
	   "inconsistent state refused");
	is(fg_r32(&g, to->base, VIRTIO_MMIO_STATUS), 0, "and leaves the device reset");
}

struct hooks_seen {
	uint64_t addr;
	uint32_t len;
	uint64_t datamatch;
	int fd;
	int adds, dels;
};

static int hook_add(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct hooks_seen *h = ctx;

	*h = (struct hooks_seen){ addr, len, datamatch, fd, h->adds + 1, h->dels };
	return 0;
}

static int hook_del(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct hooks_seen *h = ctx;

	(void)addr;
	(void)len;
	(void)datamatch;
	(void)fd;
	h->dels++;
	return 0;
}

static void *loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void test_loop_paths(void)
{
	struct loop *loop;
	struct hooks_seen seen = { 0 };
	struct virtio_mmio_hooks hooks = { .ctx = &seen,
					   .add_ioeventfd = hook_add,
					   .del_ioeventfd = hook_del };
	struct dev d;
	pthread_t th;
	uint64_t one = 1;

	if (loop_new(&loop) < 0 || dev_new(&d, BASE3, 7, loop, &hooks) < 0) {
		ok(0, "device on a loop");
		return;
	}
	ok(seen.adds == 1 && seen.addr == BASE3 + VIRTIO_MMIO_QUEUE_NOTIFY && seen.len == 4 &&
		   seen.datamatch == 0 && seen.fd >= 0,
	   "ioeventfd requested for QueueNotify, datamatch = queue 0");
	pthread_create(&th, NULL, loop_thread, loop);
	dev_start(&d);
	ok(dev_request(&d, 8, 2000), "plain QueueNotify write is handed to the loop thread");
	fg_desc(&g, d.vq.desc, 9, bufs + 9 * 64, 64, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &d.vq, 9);
	ssize_t w = write(seen.fd, &one, sizeof(one)); /* what KVM does on the guest's write */
	(void)w;
	fg_wait_irq(d.irq, 2000);
	uint32_t id, len;
	ok(fg_used(&g, &d.vq, &id, &len) && id == 9 && len == 64, "ioeventfd kick processed");
	loop_stop(loop, 0);
	pthread_join(th, NULL);
	dev_free(&d);
	is(seen.dels, 1, "ioeventfd removed on free");
	loop_free(loop);
}

int main(void)
{
	struct dev d1, d2, d3;
	char buf[80];
	uint64_t base;
	uint32_t gsi;

	if (fg_init(&g, 1 << 20) < 0)
		skip_all("cannot allocate guest RAM");
	bufs = fg_alloc(&g, 64 * 64, 64);
	if (dev_new(&d1, BASE1, 5, NULL, NULL) < 0 || dev_new(&d2, BASE2, 6, NULL, NULL) < 0)
		skip_all("cannot create devices");

	is(dev_new(&d3, BASE1 + 0x100, 9, NULL, NULL), -EEXIST, "overlapping device refused");
	close(d3.irq);

	test_registers(&d1);
	test_negotiation(&d1);
	test_queue_and_requests(&d1);
	dev_start(&d2);
	test_broken(&d1, &d2);
	test_bad_queue_setup(&d1);
	test_state(&d1, &d2);
	test_loop_paths();

	virtio_mmio_slot(2, &base, &gsi);
	ok(base == 0xd0002000ull && gsi == 7, "slot 2 suggests 0xd0002000, GSI 7");
	is(virtio_mmio_cmdline(base, gsi, buf, sizeof(buf)), 0, "cmdline snippet");
	ok(strcmp(buf, "virtio_mmio.device=512@0xd0002000:7") == 0, "cmdline: %s", buf);
	is(virtio_mmio_cmdline(base, gsi, buf, 10), -ENOSPC, "cmdline: short buffer refused");

	dev_free(&d1);
	dev_free(&d2);
	rng_free(NULL);
	fg_fini(&g);
	return done_testing();
}
