/* Split virtqueues (virtio 1.x, section 2.7): the device side. Every address,
 * length and index the guest writes into a ring is hostile: a chain is walked
 * into host iovecs only after each piece has been checked against guest memory
 * and the queue size. The guest runs on other CPUs, so ring accesses use
 * acquire/release ordering and full fences where the spec asks for them.
 * One thread at a time per queue (the owning device's lock). */
#ifndef AGENTVM_VMM_DEVICES_VIRTQUEUE_H
#define AGENTVM_VMM_DEVICES_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/memory.h"

#define VIRTQ_MAX_SIZE		   256	/* QueueNumMax every device offers */
#define VIRTQ_INDIRECT_MAX	   1024 /* cap on the entries of one indirect table */
#define VIRTQ_MAX_SEGS		   1024 /* cap on the buffers of one chain */

#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Ring feature bits (offered by the transport). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29

/* A descriptor as it sits in guest memory (little-endian). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* The guest-visible state of one queue: plain data, enough to save and
 * restore it. */
struct virtq_state {
	uint16_t num;	     /* QueueNum */
	uint16_t ready;	     /* QueueReady */
	uint64_t desc;	     /* descriptor table GPA */
	uint64_t driver;     /* available ring GPA */
	uint64_t device;     /* used ring GPA */
	uint16_t last_avail; /* next available entry the device will take */
	uint16_t used_idx;   /* the device's copy of used->idx */
};

struct virtq {
	struct virtq_state st;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	const struct memory *mem;
	uint8_t *desc, *avail, *used; /* host views of the rings, set when ready */
	uint16_t signalled_used;      /* used_idx at the last interrupt decision */
	bool signalled_valid;
	bool pushed; /* used entries added since the last interrupt decision */
	char error[112];
};

/* One descriptor chain as host iovecs: iov[0, nr) are the device-readable
 * buffers, iov[nr, nr + nw) the device-writable ones. */
struct virtq_chain {
	uint16_t head;
	uint32_t nr, nw;
	uint32_t rlen, wlen; /* byte totals of each part */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Zero the queue and bind it to guest memory. */
void virtq_init(struct virtq *q, const struct memory *mem);
/* Back to the reset state (not ready, addresses and indices zero). */
void virtq_reset(struct virtq *q);
/* Check st.num and the three ring addresses against guest memory and
 * alignment, then mark the queue ready. Indices in st are kept (restore).
 * Returns 0, or -EINVAL with q->error set. */
int virtq_enable(struct virtq *q, bool event_idx, bool indirect);
/* Take the next available chain into *c. Returns 1, 0 when the ring is empty
 * (having published avail_event with EVENT_IDX), or -EINVAL for a hostile or
 * broken ring, with q->error set; the queue must not be used again until reset. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/* Give back the chain the last virtq_pop() returned, unused. */
void virtq_unpop(struct virtq *q);
/* Append (head, len) to the used ring and publish it. -EINVAL if head is out of range. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt for the entries pushed since the last
 * call (VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool virtq_need_interrupt(struct virtq *q);

/* Copy between a chain's readable (or writable) part, from byte off, and a
 * flat buffer. Return the number of bytes copied (short at the end). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);
/* Describe bytes [off, off+len) of the readable or writable part as up to max
 * iovecs in out. Returns the count; the range is clipped to the part. */
int virtq_chain_slice(const struct virtq_chain *c, bool writable, size_t off, size_t len,
		      struct iovec *out, int max);

#endif
