/* The synthetic guests' virtio-mmio driver: see gvirtio.h. */
#include "gvirtio.h"

#include "rt.h"

/* Ring layout: avail = flags, idx, ring[num], used_event (16-bit words);
 * used = flags, idx, then ring[num] of {u32 id, u32 len} from byte 4. */
#define GVIRTQ_AVAIL_IDX	    1
#define GVIRTQ_USED_IDX		    2
#define GVIRTQ_USED_RING	    4
#define GVIRTQ_AVAIL_F_NO_INTERRUPT 1

uint32_t gvirtio_read(const struct gvirtio_dev *d, uint32_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(d->base + off);
}

void gvirtio_write(const struct gvirtio_dev *d, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(d->base + off) = v;
}

unsigned int gvirtio_scan(struct gvirtio_dev *out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < GVIRTIO_MAX_SLOTS && n < max; i++) {
		struct gvirtio_dev d = { .base = GVIRTIO_BASE + (uint64_t)i * GVIRTIO_STRIDE,
					 .slot = i,
					 .gsi = GVIRTIO_GSI_FIRST + i };

		if (gvirtio_read(&d, GVIRTIO_MAGIC_VALUE) != GVIRTIO_MAGIC)
			break;
		d.device_id = gvirtio_read(&d, GVIRTIO_DEVICE_ID);
		out[n++] = d;
	}
	if (n)
		return n;
	/* QEMU's microvm layout (tests/guests/tcg.t): every slot has the
	 * magic, unused ones read device id 0. */
	for (unsigned int i = 0; i < GVIRTIO_QEMU_SLOTS && n < max; i++) {
		struct gvirtio_dev d = {
			.base = GVIRTIO_QEMU_BASE + (uint64_t)i * GVIRTIO_QEMU_STRIDE, .slot = i
		};

		if (gvirtio_read(&d, GVIRTIO_MAGIC_VALUE) != GVIRTIO_MAGIC)
			break;
		d.device_id = gvirtio_read(&d, GVIRTIO_DEVICE_ID);
		if (d.device_id)
			out[n++] = d;
	}
	return n;
}

int gvirtio_find(uint32_t device_id, unsigned int nth, struct gvirtio_dev *d)
{
	struct gvirtio_dev all[GVIRTIO_MAX_SLOTS];
	unsigned int n = gvirtio_scan(all, GVIRTIO_MAX_SLOTS);

	for (unsigned int i = 0; i < n; i++) {
		if (all[i].device_id != device_id)
			continue;
		if (nth-- == 0) {
			*d = all[i];
			return 0;
		}
	}
	return -1;
}

uint32_t gvirtio_status(const struct gvirtio_dev *d)
{
	return gvirtio_read(d, GVIRTIO_STATUS);
}

void gvirtio_reset(struct gvirtio_dev *d)
{
	gvirtio_write(d, GVIRTIO_STATUS, 0);
	d->features = 0;
}

int gvirtio_start(struct gvirtio_dev *d, uint64_t want)
{
	uint64_t have;
	uint32_t version = gvirtio_read(d, GVIRTIO_VERSION);

	if (version != 2) {
		rt_printf("virtio slot %u: version %u, not 2 (virtio 1.x)\n", d->slot, version);
		return -1;
	}
	gvirtio_reset(d);
	gvirtio_write(d, GVIRTIO_STATUS, GVIRTIO_S_ACKNOWLEDGE);
	gvirtio_write(d, GVIRTIO_STATUS, GVIRTIO_S_ACKNOWLEDGE | GVIRTIO_S_DRIVER);
	gvirtio_write(d, GVIRTIO_DEVICE_FEAT_SEL, 0);
	have = gvirtio_read(d, GVIRTIO_DEVICE_FEATURES);
	gvirtio_write(d, GVIRTIO_DEVICE_FEAT_SEL, 1);
	have |= (uint64_t)gvirtio_read(d, GVIRTIO_DEVICE_FEATURES) << 32;
	if (!(have & (1ull << GVIRTIO_F_VERSION_1))) {
		rt_printf("virtio slot %u: no VIRTIO_F_VERSION_1 (features %lx)\n", d->slot, have);
		return -1;
	}
	d->features = have & (want | (1ull << GVIRTIO_F_VERSION_1));
	gvirtio_write(d, GVIRTIO_DRIVER_FEAT_SEL, 0);
	gvirtio_write(d, GVIRTIO_DRIVER_FEATURES, (uint32_t)d->features);
	gvirtio_write(d, GVIRTIO_DRIVER_FEAT_SEL, 1);
	gvirtio_write(d, GVIRTIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	gvirtio_write(d, GVIRTIO_STATUS,
		      GVIRTIO_S_ACKNOWLEDGE | GVIRTIO_S_DRIVER | GVIRTIO_S_FEATURES_OK);
	if (!(gvirtio_status(d) & GVIRTIO_S_FEATURES_OK)) {
		rt_printf("virtio slot %u: features %lx refused\n", d->slot, d->features);
		gvirtio_write(d, GVIRTIO_STATUS, gvirtio_status(d) | GVIRTIO_S_FAILED);
		return -1;
	}
	return 0;
}

void gvirtio_driver_ok(struct gvirtio_dev *d)
{
	gvirtio_write(d, GVIRTIO_STATUS, gvirtio_status(d) | GVIRTIO_S_DRIVER_OK);
}

uint32_t gvirtio_config32(const struct gvirtio_dev *d, uint32_t off)
{
	return gvirtio_read(d, GVIRTIO_CONFIG + off);
}

uint64_t gvirtio_config64(const struct gvirtio_dev *d, uint32_t off)
{
	return gvirtio_config32(d, off) | (uint64_t)gvirtio_config32(d, off + 4) << 32;
}

int gvirtq_init(struct gvirtq *q, struct gvirtio_dev *d, uint16_t index, uint16_t num)
{
	uint32_t max;
	uint64_t a;
	uint8_t *mem;

	gvirtio_write(d, GVIRTIO_QUEUE_SEL, index);
	max = gvirtio_read(d, GVIRTIO_QUEUE_NUM_MAX);
	if (!max || gvirtio_read(d, GVIRTIO_QUEUE_READY)) {
		rt_printf("virtio slot %u: queue %u %s\n", d->slot, index,
			  max ? "is already live" : "does not exist");
		return -1;
	}
	while (num > max)
		num >>= 1;
	/* desc (16 * num), avail (6 + 2 * num) and used (6 + 8 * num), each
	 * page-aligned, in one zeroed block. */
	mem = rt_alloc(3 * 4096 + 16 * (size_t)num + 8 * (size_t)num + 64, 4096);
	q->chain_len = rt_alloc(2 * (size_t)num, 8);
	q->token = rt_alloc(8 * (size_t)num, 8);
	if (!mem || !q->chain_len || !q->token) {
		rt_printf("virtio slot %u: no memory for queue %u\n", d->slot, index);
		return -1;
	}
	q->dev = d;
	q->index = index;
	q->num = num;
	q->desc = (struct gvirtq_desc *)mem;
	a = ((uint64_t)mem + 16 * (uint64_t)num + 4095) & ~4095ull;
	q->avail = (uint16_t *)a;
	a = (a + 6 + 2 * (uint64_t)num + 4095) & ~4095ull;
	q->used = (uint8_t *)a;
	for (uint16_t i = 0; i < num; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	/* We poll: no interrupts until gvirtq_irq (they need CPL0, and
	 * kicking a vCPU out of the guest costs an exit). */
	q->avail[0] = GVIRTQ_AVAIL_F_NO_INTERRUPT;
	q->free_head = 0;
	q->nfree = num;
	q->avail_idx = 0;
	q->last_used = 0;
	gvirtio_write(d, GVIRTIO_QUEUE_NUM, num);
	gvirtio_write(d, GVIRTIO_QUEUE_DESC_LO, (uint32_t)(uint64_t)q->desc);
	gvirtio_write(d, GVIRTIO_QUEUE_DESC_HI, (uint32_t)((uint64_t)q->desc >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_AVAIL_LO, (uint32_t)(uint64_t)q->avail);
	gvirtio_write(d, GVIRTIO_QUEUE_AVAIL_HI, (uint32_t)((uint64_t)q->avail >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_USED_LO, (uint32_t)(uint64_t)q->used);
	gvirtio_write(d, GVIRTIO_QUEUE_USED_HI, (uint32_t)((uint64_t)q->used >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_READY, 1);
	if (gvirtio_read(d, GVIRTIO_QUEUE_READY) != 1) {
		rt_printf("virtio slot %u: queue %u not enabled (status %x)\n", d->slot, index,
			  gvirtio_status(d));
		return -1;
	}
	return 0;
}

int gvirtq_add(struct gvirtq *q, const struct gvirtq_buf *bufs, unsigned int n, uint64_t token)
{
	uint16_t head = q->free_head, i = head, last = head;

	if (!n || n > q->nfree)
		return -1;
	for (unsigned int k = 0; k < n; k++) {
		struct gvirtq_desc *d = &q->desc[i];

		d->addr = (uint64_t)bufs[k].addr;
		d->len = bufs[k].len;
		d->flags = (uint16_t)((bufs[k].write ? GVIRTQ_DESC_F_WRITE : 0) |
				      (k + 1 < n ? GVIRTQ_DESC_F_NEXT : 0));
		last = i;
		i = d->next;
	}
	q->free_head = q->desc[last].next;
	q->nfree = (uint16_t)(q->nfree - n);
	q->chain_len[head] = (uint16_t)n;
	q->token[head] = token;
	gvirtq_post_raw(q, head);
	return head;
}

void gvirtq_post_raw(struct gvirtq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % q->num] = head;
	q->avail_idx++;
	/* Release: the descriptors and the ring entry before the index. */
	__atomic_store_n(&q->avail[GVIRTQ_AVAIL_IDX], q->avail_idx, __ATOMIC_RELEASE);
}

void gvirtq_kick(struct gvirtq *q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	gvirtio_write(q->dev, GVIRTIO_QUEUE_NOTIFY, q->index);
}

int gvirtq_get(struct gvirtq *q, uint64_t *token, uint32_t *len)
{
	uint16_t idx = __atomic_load_n((uint16_t *)(q->used + GVIRTQ_USED_IDX), __ATOMIC_ACQUIRE);
	const uint8_t *e;
	uint32_t id;
	uint16_t i, n;

	if (idx == q->last_used)
		return 0;
	e = q->used + GVIRTQ_USED_RING + 8 * (size_t)(q->last_used % q->num);
	memcpy(&id, e, 4);
	memcpy(len, e + 4, 4);
	if (id >= q->num || !q->chain_len[id])
		return -1;
	q->last_used++;
	*token = q->token[id];
	/* Back on the free list: the chain's descriptors, in order. */
	n = q->chain_len[id];
	q->chain_len[id] = 0;
	q->nfree = (uint16_t)(q->nfree + n);
	for (i = (uint16_t)id; --n; i = q->desc[i].next)
		;
	q->desc[i].next = q->free_head;
	q->free_head = (uint16_t)id;
	return 1;
}

bool gvirtq_pending(const struct gvirtq *q)
{
	return __atomic_load_n((uint16_t *)(q->used + GVIRTQ_USED_IDX), __ATOMIC_ACQUIRE) !=
	       q->last_used;
}

void gvirtq_irq(struct gvirtq *q, bool on)
{
	__atomic_store_n(&q->avail[0], on ? 0 : GVIRTQ_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
	/* The device stores used->idx, then reads the flags; we store the
	 * flags, then read used->idx: one of us sees the other. */
	if (on)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int gvirtq_wait(struct gvirtq *q, uint64_t *token, uint32_t *len, uint64_t ms)
{
	uint64_t start = rt_rdtsc(), limit = rt_ms_to_tsc(ms);
	int r;

	while (!(r = gvirtq_get(q, token, len))) {
		if (rt_rdtsc() - start > limit)
			return 0;
		rt_pause();
	}
	return r;
}
