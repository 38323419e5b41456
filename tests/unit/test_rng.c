/* virtio-rng: random bytes arrive in the guest's writable buffers. */
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_virtqueue_guest.h"
#include "vmm/devices/rng.h"

#define BASE 0xd0000000ull

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	struct fake_guest g;
	struct fake_vq vq;
	struct rng *rng;
	uint32_t id, len;
	int irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fg_init(&g, 1 << 20) < 0)
		skip_all("cannot allocate guest RAM");
	struct virtio_mmio_env env = { .mem = g.mem,
				       .bus = &g.bus,
				       .base = BASE,
				       .irq = { .fd = irq, .gsi = 5 },
				       .name = "rng" };
	is(rng_new(&env, &rng), 0, "rng_new");
	is(fg_r32(&g, BASE, VIRTIO_MMIO_DEVICE_ID), RNG_DEVICE_ID, "device id 4");
	fg_vq_alloc(&g, &vq, 8);
	ok(fg_handshake(&g, BASE, FG_FEATURES) & VIRTIO_STATUS_FEATURES_OK, "features accepted");
	fg_queue_setup(&g, BASE, 0, &vq);
	fg_driver_ok(&g, BASE);

	uint64_t a = fg_alloc(&g, 256, 16), b = fg_alloc(&g, 256, 16);
	fg_desc(&g, vq.desc, 0, a, 256, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &vq, 0);
	fg_notify(&g, BASE, 0);
	ok(fg_used(&g, &vq, &id, &len) && id == 0 && len == 256, "one buffer filled (256 bytes)");
	ok(!all_zero(fg_ptr(&g, a), 256), "bytes arrived");
	ok(fg_irq_count(irq) >= 1, "interrupt raised");

	uint8_t before[256];
	memcpy(before, fg_ptr(&g, a), 256);
	fg_desc(&g, vq.desc, 1, a, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, vq.desc, 2, b, 156, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &vq, 1);
	fg_notify(&g, BASE, 0);
	ok(fg_used(&g, &vq, &id, &len) && id == 1 && len == 256, "two-buffer chain filled");
	ok(memcmp(before, fg_ptr(&g, a), 100) != 0 && !all_zero(fg_ptr(&g, b), 156),
	   "fresh bytes in both buffers");

	uint64_t big = fg_alloc(&g, 2 * RNG_MAX_PER_CHAIN, 4096);
	fg_desc(&g, vq.desc, 3, big, 2 * RNG_MAX_PER_CHAIN, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &vq, 3);
	fg_notify(&g, BASE, 0);
	ok(fg_used(&g, &vq, &id, &len) && len == RNG_MAX_PER_CHAIN,
	   "a huge buffer gets at most %d bytes", RNG_MAX_PER_CHAIN);
	ok(all_zero(fg_ptr(&g, big + RNG_MAX_PER_CHAIN), RNG_MAX_PER_CHAIN),
	   "nothing written past the reported length");

	fg_desc(&g, vq.desc, 4, a, 64, 0, 0);
	fg_avail(&g, &vq, 4);
	fg_notify(&g, BASE, 0);
	ok(fg_used(&g, &vq, &id, &len) && id == 4 && len == 0, "a read-only buffer gets 0 bytes");

	rng_free(rng);
	close(irq);
	fg_fini(&g);
	return done_testing();
}
