/* virtio-mmio transport, virtio 1.x only (Version register = 2). One
 * transport per device: registers, feature negotiation, the status
 * handshake, split queues, the interrupt line and queue notifications.
 *
 * Threads: register accesses arrive on vCPU threads; queue work runs on the
 * loop thread (from an ioeventfd, or from an eventfd a plain QueueNotify
 * write signals), or inline on the writing thread when the device has no
 * loop. One mutex per transport serialises both; device callbacks run with
 * it held. */
#ifndef AGENTVM_VMM_DEVICES_VIRTIO_MMIO_H
#define AGENTVM_VMM_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/devices/virtqueue.h"
#include "vmm/irq.h"
#include "vmm/loop.h"
#include "vmm/memory.h"

#define VIRTIO_MMIO_REGION_SIZE 0x200
#define VIRTIO_MMIO_BASE	0xd0000000ull /* first suggested device address */
#define VIRTIO_MMIO_STRIDE	0x1000	      /* suggested spacing: one page each */
#define VIRTIO_MMIO_GSI_FIRST	5	      /* first suggested interrupt */
#define VIRTIO_MMIO_MAX_QUEUES	4
#define VIRTIO_MMIO_VENDOR_ID	0x4d564741 /* "AGVM" */

/* Registers (virtio 1.x 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_SHM_SEL		0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC		0x74726976 /* "virt" */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER	  0x02
#define VIRTIO_STATUS_DRIVER_OK	  0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING  0x1
#define VIRTIO_MMIO_INT_CONFIG 0x2

#define VIRTIO_F_VERSION_1     32

/* What the VM object provides so that devices can have queue notifications
 * delivered by KVM without seeing the KVM fd. add_ioeventfd makes a guest
 * write of len bytes equal to datamatch at addr signal fd; both return 0 or
 * -errno. */
struct virtio_mmio_hooks {
	void *ctx;
	int (*add_ioeventfd)(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
	int (*del_ioeventfd)(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
};

/* Where a device lives: chosen by the VM object, handed to each device's _new. */
struct virtio_mmio_env {
	struct memory *mem;
	struct bus *bus;
	struct loop *loop;		       /* NULL: queue work runs inline on QueueNotify */
	const struct virtio_mmio_hooks *hooks; /* NULL: no ioeventfds */
	uint64_t base;			       /* MMIO base of the 0x200-byte region */
	struct irq_line irq;
	const char *name; /* for logs; "vsock", "blk0", ... */
};

/* What a device plugs into the transport. Callbacks run with the transport
 * lock held and must not block. */
struct virtio_device_ops {
	uint32_t device_id;
	uint64_t features; /* device-specific feature bits offered */
	uint32_t num_queues;
	uint32_t config_size;
	/* Read len bytes of config space at off (always inside config_size). */
	void (*config_read)(void *dev, uint32_t off, void *data, uint32_t len);
	/* Optional: the driver wrote config space. */
	void (*config_write)(void *dev, uint32_t off, const void *data, uint32_t len);
	/* The driver made buffers available on queue q (queue ready, DRIVER_OK, not broken). */
	void (*queue_notify)(void *dev, uint32_t q);
	/* Optional: the driver wrote status 0; called from a vCPU thread. */
	void (*reset)(void *dev);
	/* Optional: the driver set DRIVER_OK. */
	void (*driver_ok)(void *dev);
};

/* The guest-visible transport state (for snapshots). */
struct virtio_mmio_state {
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	uint64_t driver_features;
	struct virtq_state queues[VIRTIO_MMIO_MAX_QUEUES];
};

struct virtio_mmio;

/* Create the transport for ops/dev at env->base, wire queue notifications
 * (ioeventfds through env->hooks when given, eventfds on env->loop when
 * given) and, last, add its region to env->bus. Returns 0 or -errno; on
 * failure nothing stays registered. */
int virtio_mmio_new(const struct virtio_mmio_env *env, const struct virtio_device_ops *ops,
		    void *dev, struct virtio_mmio **out);
/* Undo virtio_mmio_new; NULL-safe. The bus region stays registered, so call
 * it only once no vCPU runs and the loop no longer runs. */
void virtio_mmio_free(struct virtio_mmio *t);

/* The kernel command-line snippet announcing a device:
 * "virtio_mmio.device=512@0xd0000000:5". Returns 0, or -ENOSPC if size is too small. */
int virtio_mmio_cmdline(uint64_t base, uint32_t gsi, char *buf, size_t size);
/* The suggested base and GSI for the index-th virtio device (0, 1, ...). */
void virtio_mmio_slot(unsigned int index, uint64_t *base, uint32_t *gsi);

/* Register access, as the bus dispatches it (exposed for tests and fuzzers). */
void virtio_mmio_read(void *opaque, uint64_t off, void *data, uint32_t len);
void virtio_mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len);

/* Run queue q's notification on the calling thread now (what the loop does
 * on a kick). */
void virtio_mmio_process(struct virtio_mmio *t, uint32_t q);

/* For devices, on their own threads (the loop): take the transport lock
 * around any use of the calls below that is not inside a callback. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);

/* Lock held. Pop the next chain of queue q: 1, or 0 when there is none or
 * the device may not use the queue (not DRIVER_OK, broken, not ready). A bad
 * chain marks the device broken (see virtio_mmio_fail) and returns -EIO. */
int virtio_mmio_pop(struct virtio_mmio *t, uint32_t q, struct virtq_chain *c);
/* Lock held. Return the chain last popped from q, unused. */
void virtio_mmio_unpop(struct virtio_mmio *t, uint32_t q);
/* Lock held. Complete a chain with len bytes written; no interrupt yet. */
void virtio_mmio_push(struct virtio_mmio *t, uint32_t q, uint16_t head, uint32_t len);
/* Lock held. Interrupt the driver if it wants to hear about the entries pushed on q. */
void virtio_mmio_signal(struct virtio_mmio *t, uint32_t q);
/* Lock held. The device's config changed: bump ConfigGeneration and interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* Lock held. Mark the device broken: NEEDS_RESET, a config interrupt, no more
 * queue processing until the driver resets it. Logged once per device. */
void virtio_mmio_fail(struct virtio_mmio *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Lock held. DRIVER_OK set and not broken. */
bool virtio_mmio_running(const struct virtio_mmio *t);
/* Lock held. Whether driver and device agreed on feature bit. */
bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit);
const char *virtio_mmio_name(const struct virtio_mmio *t);

/* Copy out the guest-visible state; restore it (validating every queue as
 * QueueReady would). Restore returns 0 or -EINVAL. */
void virtio_mmio_save_state(struct virtio_mmio *t, struct virtio_mmio_state *st);
int virtio_mmio_restore_state(struct virtio_mmio *t, const struct virtio_mmio_state *st);

#endif
