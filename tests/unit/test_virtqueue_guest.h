/* A fake virtio driver for the device unit tests: guest RAM is a heap
 * buffer, rings are built in it by hand and registers are poked through the
 * bus, exactly as a guest would. */
#ifndef AGENTVM_TESTS_UNIT_VIRTQUEUE_GUEST_H
#define AGENTVM_TESTS_UNIT_VIRTQUEUE_GUEST_H

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/bus.h"
#include "vmm/devices/virtio_mmio.h"
#include "vmm/memory.h"

struct fake_guest {
	uint8_t *ram;
	uint64_t size;
	uint64_t brk; /* bump allocator for rings and buffers */
	struct memory *mem;
	struct bus bus;
};

struct fake_vq {
	uint16_t num;
	uint64_t desc, avail, used;
	uint16_t avail_idx; /* the driver's next avail->idx */
	uint16_t used_seen; /* used entries consumed so far */
};

static inline int fg_init(struct fake_guest *g, uint64_t size)
{
	memset(g, 0, sizeof(*g));
	g->ram = aligned_alloc(4096, size);
	if (!g->ram)
		return -1;
	memset(g->ram, 0, size);
	g->size = size;
	g->brk = 0x1000;
	return memory_new_from(g->ram, size, -1, &g->mem);
}

static inline void fg_fini(struct fake_guest *g)
{
	memory_free(g->mem);
	free(g->ram);
}

static inline uint64_t fg_alloc(struct fake_guest *g, uint64_t len, uint64_t align)
{
	uint64_t a = (g->brk + align - 1) & ~(align - 1);

	g->brk = a + len;
	if (g->brk > g->size)
		abort();
	return a;
}

static inline void *fg_ptr(struct fake_guest *g, uint64_t gpa)
{
	return g->ram + gpa;
}

static inline void fg_w32(struct fake_guest *g, uint64_t base, uint64_t off, uint32_t v)
{
	bus_write(&g->bus, base + off, &v, 4);
}

static inline uint32_t fg_r32(struct fake_guest *g, uint64_t base, uint64_t off)
{
	uint32_t v = 0;

	bus_read(&g->bus, base + off, &v, 4);
	return v;
}

static inline void fg_vq_alloc(struct fake_guest *g, struct fake_vq *vq, uint16_t num)
{
	memset(vq, 0, sizeof(*vq));
	vq->num = num;
	vq->desc = fg_alloc(g, 16 * (uint64_t)num, 16);
	vq->avail = fg_alloc(g, 6 + 2 * (uint64_t)num, 2);
	vq->used = fg_alloc(g, 6 + 8 * (uint64_t)num, 4);
}

static inline void fg_desc(struct fake_guest *g, uint64_t table, uint16_t i, uint64_t addr,
			   uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = fg_ptr(g, table + 16 * (uint64_t)i);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Make head available and publish the new index. */
static inline void fg_avail(struct fake_guest *g, struct fake_vq *vq, uint16_t head)
{
	uint16_t *ring = fg_ptr(g, vq->avail + 4);

	ring[vq->avail_idx % vq->num] = head;
	vq->avail_idx++;
	__atomic_store_n((uint16_t *)fg_ptr(g, vq->avail + 2), vq->avail_idx, __ATOMIC_RELEASE);
}

static inline uint16_t fg_used_idx(struct fake_guest *g, struct fake_vq *vq)
{
	return __atomic_load_n((uint16_t *)fg_ptr(g, vq->used + 2), __ATOMIC_ACQUIRE);
}

/* Take the next used entry: 1 and (id, len), or 0 if none. */
static inline int fg_used(struct fake_guest *g, struct fake_vq *vq, uint32_t *id, uint32_t *len)
{
	uint8_t *e;

	if (fg_used_idx(g, vq) == vq->used_seen)
		return 0;
	e = fg_ptr(g, vq->used + 4 + 8 * (uint64_t)(vq->used_seen % vq->num));
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	vq->used_seen++;
	return 1;
}

/* ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns the status read back. */
static inline uint32_t fg_handshake(struct fake_guest *g, uint64_t base, uint64_t features)
{
	fg_w32(g, base, VIRTIO_MMIO_STATUS, 0);
	fg_w32(g, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	fg_w32(g, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fg_w32(g, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	fg_w32(g, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	fg_w32(g, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fg_w32(g, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	fg_w32(g, base, VIRTIO_MMIO_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return fg_r32(g, base, VIRTIO_MMIO_STATUS);
}

static inline void fg_queue_setup(struct fake_guest *g, uint64_t base, uint32_t q,
				  const struct fake_vq *vq)
{
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_SEL, q);
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_NUM, vq->num);
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc);
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vq->desc >> 32));
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)vq->avail);
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(vq->avail >> 32));
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)vq->used);
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(vq->used >> 32));
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_READY, 1);
}

static inline void fg_driver_ok(struct fake_guest *g, uint64_t base)
{
	fg_w32(g, base, VIRTIO_MMIO_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		       VIRTIO_STATUS_DRIVER_OK);
}

static inline void fg_notify(struct fake_guest *g, uint64_t base, uint32_t q)
{
	fg_w32(g, base, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Wait up to ms for the eventfd to fire; returns the count read, 0 on timeout. */
static inline uint64_t fg_wait_irq(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Drain the eventfd without waiting; returns the count. */
static inline uint64_t fg_irq_count(int fd)
{
	return fg_wait_irq(fd, 0);
}

#define FG_FEATURES (1ull << VIRTIO_F_VERSION_1)

#endif
