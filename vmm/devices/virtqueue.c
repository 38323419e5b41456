#include "vmm/devices/virtqueue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian");
_Static_assert(sizeof(struct virtq_desc) == 16, "descriptor layout");

/* Ring layout (virtio 1.x 2.7): avail = flags, idx, ring[num], used_event;
 * used = flags, idx, ring[num] of {id, len}, avail_event. */
#define AVAIL_IDX	2
#define AVAIL_RING(i)	(4 + 2 * (size_t)(i))
#define USED_IDX	2
#define USED_RING(i)	(4 + 8 * (size_t)(i))
#define AVAIL_SIZE(num) (6 + 2 * (size_t)(num))
#define USED_SIZE(num)	(6 + 8 * (size_t)(num))

static __attribute__((format(printf, 2, 3))) int virtq_fail(struct virtq *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static inline uint16_t virtq_load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline void virtq_store16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)p, v, order);
}

void virtq_init(struct virtq *q, const struct memory *mem)
{
	memset(q, 0, sizeof(*q));
	q->mem = mem;
}

void virtq_reset(struct virtq *q)
{
	virtq_init(q, q->mem);
}

int virtq_enable(struct virtq *q, bool event_idx, bool indirect)
{
	uint16_t num = q->st.num;

	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return virtq_fail(q, "queue size %u is not a power of two up to %u", num,
				  VIRTQ_MAX_SIZE);
	if ((q->st.desc & 15) || (q->st.driver & 1) || (q->st.device & 3))
		return virtq_fail(q, "misaligned rings (desc 0x%llx, driver 0x%llx, device 0x%llx)",
				  (unsigned long long)q->st.desc, (unsigned long long)q->st.driver,
				  (unsigned long long)q->st.device);
	q->desc = memory_ptr(q->mem, q->st.desc, 16 * (uint64_t)num);
	q->avail = memory_ptr(q->mem, q->st.driver, AVAIL_SIZE(num));
	q->used = memory_ptr(q->mem, q->st.device, USED_SIZE(num));
	if (!q->desc || !q->avail || !q->used) {
		q->desc = q->avail = q->used = NULL;
		return virtq_fail(q,
				  "rings outside guest memory (desc 0x%llx, driver 0x%llx, "
				  "device 0x%llx)",
				  (unsigned long long)q->st.desc, (unsigned long long)q->st.driver,
				  (unsigned long long)q->st.device);
	}
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->signalled_valid = false;
	q->pushed = false;
	q->st.ready = 1;
	return 0;
}

static int virtq_add_seg(struct virtq *q, struct virtq_chain *c, const struct virtq_desc *d,
			 uint64_t *rlen, uint64_t *wlen)
{
	void *p = NULL;

	if (d->len) {
		/* memory_ptr() rejects addr + len wrapping and ranges leaving a slot. */
		p = memory_ptr(q->mem, d->addr, d->len);
		if (!p)
			return virtq_fail(q, "buffer 0x%llx+%u outside guest memory",
					  (unsigned long long)d->addr, d->len);
	}
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		*wlen += d->len;
		if (*wlen > UINT32_MAX)
			return virtq_fail(q, "writable buffers add up to more than 4 GiB");
	} else {
		if (c->nw)
			return virtq_fail(q, "device-readable buffer after a writable one");
		*rlen += d->len;
		if (*rlen > UINT32_MAX)
			return virtq_fail(q, "readable buffers add up to more than 4 GiB");
	}
	if (!d->len)
		return 0;
	if (c->nr + c->nw >= VIRTQ_MAX_SEGS)
		return virtq_fail(q, "chain has more than %d buffers", VIRTQ_MAX_SEGS);
	c->iov[c->nr + c->nw] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (d->flags & VIRTQ_DESC_F_WRITE)
		c->nw++;
	else
		c->nr++;
	return 0;
}

/* Walk the chain starting at head. Every descriptor is copied out of guest
 * memory once and only the copy is checked and used. */
static int virtq_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	uint32_t tsize = q->st.num, idx = head, count = 0;
	uint64_t rlen = 0, wlen = 0;
	bool in_indirect = false;
	int r;

	c->head = head;
	c->nr = c->nw = 0;
	for (;;) {
		struct virtq_desc d;

		if (++count > tsize)
			return virtq_fail(q,
					  in_indirect ? "indirect chain loops or exceeds its table"
						      : "chain from head %u loops or exceeds the "
							"queue size",
					  head);
		memcpy(&d, table + 16 * (size_t)idx, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!q->indirect)
				return virtq_fail(q, "indirect descriptor without the feature");
			if (in_indirect)
				return virtq_fail(q, "nested indirect descriptor");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return virtq_fail(q, "indirect descriptor with NEXT");
			if (d.len == 0 || (d.len & 15) || d.len / 16 > VIRTQ_INDIRECT_MAX)
				return virtq_fail(q, "bad indirect table length %u", d.len);
			table = memory_ptr(q->mem, d.addr, d.len);
			if (!table)
				return virtq_fail(q,
						  "indirect table 0x%llx+%u outside guest memory",
						  (unsigned long long)d.addr, d.len);
			in_indirect = true;
			tsize = d.len / 16;
			idx = 0;
			count = 0;
			continue;
		}
		r = virtq_add_seg(q, c, &d, &rlen, &wlen);
		if (r < 0)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= tsize)
			return virtq_fail(q, "next index %u out of range (%u)", d.next, tsize);
		idx = d.next;
	}
	c->rlen = (uint32_t)rlen;
	c->wlen = (uint32_t)wlen;
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, head, pending;

	if (!q->st.ready || !q->avail)
		return 0;
	avail_idx = virtq_load16(q->avail + AVAIL_IDX);
	if (avail_idx == q->st.last_avail) {
		if (!q->event_idx)
			return 0;
		/* Ask for a kick at the next entry, then look again: the driver
		 * may have added one before it could see avail_event. */
		virtq_store16(q->used + USED_RING(q->st.num), q->st.last_avail, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = virtq_load16(q->avail + AVAIL_IDX);
		if (avail_idx == q->st.last_avail)
			return 0;
	}
	pending = (uint16_t)(avail_idx - q->st.last_avail);
	if (pending > q->st.num)
		return virtq_fail(q, "available index moved %u entries past a ring of %u", pending,
				  q->st.num);
	/* The acquire load of avail->idx orders this read after it. */
	head = virtq_load16(q->avail + AVAIL_RING(q->st.last_avail % q->st.num));
	if (head >= q->st.num)
		return virtq_fail(q, "head index %u out of range (%u)", head, q->st.num);
	if (virtq_walk(q, head, c) < 0)
		return -EINVAL;
	q->st.last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	q->st.last_avail--;
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e;

	if (!q->st.ready || !q->used || head >= q->st.num)
		return -EINVAL;
	e = q->used + USED_RING(q->st.used_idx % q->st.num);
	__atomic_store_n((uint32_t *)e, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n((uint32_t *)(e + 4), len, __ATOMIC_RELAXED);
	q->st.used_idx++;
	/* Release: the entry is visible before the index that covers it. */
	virtq_store16(q->used + USED_IDX, q->st.used_idx, __ATOMIC_RELEASE);
	q->pushed = true;
	return 0;
}

bool virtq_need_interrupt(struct virtq *q)
{
	uint16_t old, now, event;
	bool valid;

	if (!q->st.ready || !q->avail || !q->pushed)
		return false;
	q->pushed = false;
	/* Order the used->idx store before reading the driver's suppression state. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(virtq_load16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = q->signalled_used;
	valid = q->signalled_valid;
	now = q->st.used_idx;
	q->signalled_used = now;
	q->signalled_valid = true;
	if (!valid)
		return true;
	event = virtq_load16(q->avail + AVAIL_RING(q->st.num));
	/* vring_need_event(): did used->idx step past used_event? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

static const struct iovec *virtq_part(const struct virtq_chain *c, bool writable, uint32_t *n)
{
	*n = writable ? c->nw : c->nr;
	return writable ? c->iov + c->nr : c->iov;
}

static size_t virtq_copy(const struct virtq_chain *c, bool writable, size_t off, void *buf,
			 size_t len, bool to_chain)
{
	uint32_t n;
	const struct iovec *iov = virtq_part(c, writable, &n);
	size_t done = 0;

	for (uint32_t i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		size_t k = seg - off < len - done ? seg - off : len - done;
		if (to_chain)
			memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, k);
		else
			memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	return virtq_copy(c, false, off, buf, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	return virtq_copy(c, true, off, (void *)buf, len, true);
}

int virtq_chain_slice(const struct virtq_chain *c, bool writable, size_t off, size_t len,
		      struct iovec *out, int max)
{
	uint32_t n;
	const struct iovec *iov = virtq_part(c, writable, &n);
	int k = 0;

	for (uint32_t i = 0; i < n && len && k < max; i++) {
		size_t seg = iov[i].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		size_t take = seg - off < len ? seg - off : len;
		out[k++] = (struct iovec){ .iov_base = (uint8_t *)iov[i].iov_base + off,
					   .iov_len = take };
		len -= take;
		off = 0;
	}
	return k;
}
