/* A virtio-mmio driver for the synthetic guests (virtio 1.x, split queues),
 * run at CPL3: device discovery by scanning the MMIO slots agentvm-vmm
 * uses, the status handshake, queue set-up with rings in guest memory
 * (rt_alloc), submitting descriptor chains and POLLING the used ring.
 * Queues start with interrupts suppressed (delivering one needs CPL0, which
 * is slow on some hosts); a driver that wants to sleep enables them around
 * rt_wait_irq() with gvirtq_irq().
 * Guest memory is identity-mapped, so a pointer is a guest-physical address.
 * One vCPU at a time per device. */
#ifndef AGENTVM_GUESTS_GVIRTIO_H
#define AGENTVM_GUESTS_GVIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#define GVIRTIO_BASE	  0xd0000000ull /* first slot, as agentvm-vmm places devices */
#define GVIRTIO_STRIDE	  0x1000
#define GVIRTIO_GSI_FIRST 5 /* slot i interrupts on GSI 5 + i */
#define GVIRTIO_MAX_SLOTS 32
/* Where QEMU's microvm machine puts its virtio-mmio transports, scanned
 * when the slots above are empty (the guests under QEMU TCG, tcg.t). */
#define GVIRTIO_QEMU_BASE   0xfeb00000ull
#define GVIRTIO_QEMU_STRIDE 0x200
#define GVIRTIO_QEMU_SLOTS  24

/* Registers (virtio 1.x, 4.2.2). */
#define GVIRTIO_MAGIC_VALUE	0x000
#define GVIRTIO_VERSION		0x004
#define GVIRTIO_DEVICE_ID	0x008
#define GVIRTIO_DEVICE_FEATURES 0x010
#define GVIRTIO_DEVICE_FEAT_SEL 0x014
#define GVIRTIO_DRIVER_FEATURES 0x020
#define GVIRTIO_DRIVER_FEAT_SEL 0x024
#define GVIRTIO_QUEUE_SEL	0x030
#define GVIRTIO_QUEUE_NUM_MAX	0x034
#define GVIRTIO_QUEUE_NUM	0x038
#define GVIRTIO_QUEUE_READY	0x044
#define GVIRTIO_QUEUE_NOTIFY	0x050
#define GVIRTIO_INTERRUPT_STAT	0x060
#define GVIRTIO_INTERRUPT_ACK	0x064
#define GVIRTIO_STATUS		0x070
#define GVIRTIO_QUEUE_DESC_LO	0x080
#define GVIRTIO_QUEUE_DESC_HI	0x084
#define GVIRTIO_QUEUE_AVAIL_LO	0x090
#define GVIRTIO_QUEUE_AVAIL_HI	0x094
#define GVIRTIO_QUEUE_USED_LO	0x0a0
#define GVIRTIO_QUEUE_USED_HI	0x0a4
#define GVIRTIO_CONFIG		0x100

#define GVIRTIO_MAGIC		0x74726976 /* "virt" */

#define GVIRTIO_S_ACKNOWLEDGE	0x01
#define GVIRTIO_S_DRIVER	0x02
#define GVIRTIO_S_DRIVER_OK	0x04
#define GVIRTIO_S_FEATURES_OK	0x08
#define GVIRTIO_S_NEEDS_RESET	0x40
#define GVIRTIO_S_FAILED	0x80

#define GVIRTIO_F_VERSION_1	32

#define GVIRTQ_DESC_F_NEXT	1
#define GVIRTQ_DESC_F_WRITE	2

/* Device ids. */
#define GVIRTIO_ID_BLK	 2
#define GVIRTIO_ID_RNG	 4
#define GVIRTIO_ID_VSOCK 19

struct gvirtio_dev {
	uint64_t base;
	unsigned int slot;
	uint32_t device_id;
	uint32_t gsi;	   /* its I/O APIC pin; 0 if unknown (QEMU's layout) */
	uint64_t features; /* negotiated by gvirtio_start */
};

struct gvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct gvirtq {
	struct gvirtio_dev *dev;
	uint16_t index, num;
	struct gvirtq_desc *desc;
	uint16_t *avail; /* flags, idx, ring[num], used_event */
	uint8_t *used;	 /* flags, idx, ring[num] of {id, len}, avail_event */
	uint16_t free_head, nfree;
	uint16_t avail_idx; /* the driver's copy of avail->idx */
	uint16_t last_used; /* next used entry to look at */
	uint16_t *chain_len;
	uint64_t *token;
};

/* One buffer of a chain: device-readable, or device-writable if write. */
struct gvirtq_buf {
	const void *addr;
	uint32_t len;
	bool write;
};

uint32_t gvirtio_read(const struct gvirtio_dev *d, uint32_t off);
void gvirtio_write(const struct gvirtio_dev *d, uint32_t off, uint32_t v);

/* Fill out[0..max) with the devices found by scanning the slots from
 * GVIRTIO_BASE until one has no "virt" magic (or, if there is none there,
 * QEMU microvm's transports); returns how many. */
unsigned int gvirtio_scan(struct gvirtio_dev *out, unsigned int max);
/* The nth (0, 1, ...) device with device_id. Returns 0, or -1 if there is none. */
int gvirtio_find(uint32_t device_id, unsigned int nth, struct gvirtio_dev *d);

/* Reset, ACKNOWLEDGE, DRIVER, then offer the device features in want that
 * it has, plus VIRTIO_F_VERSION_1, and set FEATURES_OK. Returns 0, or -1
 * (printed) if the device lacks VERSION_1 or refuses the features. */
int gvirtio_start(struct gvirtio_dev *d, uint64_t want);
/* Set DRIVER_OK. */
void gvirtio_driver_ok(struct gvirtio_dev *d);
uint32_t gvirtio_status(const struct gvirtio_dev *d);
/* Write status 0: the device forgets its queues and features. */
void gvirtio_reset(struct gvirtio_dev *d);
/* Config space at off: 32 bits, or 64 bits read as two halves. */
uint32_t gvirtio_config32(const struct gvirtio_dev *d, uint32_t off);
uint64_t gvirtio_config64(const struct gvirtio_dev *d, uint32_t off);

/* Set up queue index with num entries (a power of two, cut to the device's
 * QueueNumMax), its rings from rt_alloc, and enable it. Returns 0, or -1
 * (printed) if the queue does not exist, is already live, or the device
 * refused it. */
int gvirtq_init(struct gvirtq *q, struct gvirtio_dev *d, uint16_t index, uint16_t num);
/* Post a chain of n buffers (readable ones first) under token. Returns the
 * head descriptor index, or -1 if fewer than n descriptors are free. The
 * device hears of it at the next gvirtq_kick. */
int gvirtq_add(struct gvirtq *q, const struct gvirtq_buf *bufs, unsigned int n, uint64_t token);
/* Notify the device of the chains posted so far. */
void gvirtq_kick(struct gvirtq *q);
/* Take the next used chain: 1 with its token and the length the device
 * wrote, 0 if there is none yet, -1 if the device returned a head that was
 * not outstanding. */
int gvirtq_get(struct gvirtq *q, uint64_t *token, uint32_t *len);
/* Whether a used chain is waiting for gvirtq_get. */
bool gvirtq_pending(const struct gvirtq *q);
/* Ask the device for an interrupt when it returns a chain (on), or not
 * (off, the initial state). Turning it on is ordered before any later
 * gvirtq_pending, so "on, check, wait" misses nothing. */
void gvirtq_irq(struct gvirtq *q, bool on);
/* gvirtq_get, polling up to ms milliseconds. */
int gvirtq_wait(struct gvirtq *q, uint64_t *token, uint32_t *len, uint64_t ms);
/* Publish head on the avail ring as it is, with no bookkeeping: for tests
 * that write q->desc themselves to probe a device's defences. */
void gvirtq_post_raw(struct gvirtq *q, uint16_t head);

#endif
