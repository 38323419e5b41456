/* virtio-blk (device id 2) backed by a raw image file. Requests are served
 * synchronously with preadv/pwritev on the thread that runs the queue. The
 * device enforces read-only itself: writes to a read-only drive fail with
 * VIRTIO_BLK_S_IOERR whatever the driver negotiated. */
#ifndef AGENTVM_VMM_DEVICES_BLK_H
#define AGENTVM_VMM_DEVICES_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/virtio_mmio.h"

#define BLK_DEVICE_ID 2
#define BLK_SECTOR    512
#define BLK_ID_BYTES  20

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO	     5
#define VIRTIO_BLK_F_FLUSH   9

/* Request types and status values. */
#define VIRTIO_BLK_T_IN	    0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define BLK_SEG_MAX	    126 /* data buffers per request announced in config */

struct blk_config {
	const char *path; /* raw image: a regular file or a block device */
	bool readonly;
	const char *serial; /* GET_ID answer (up to 20 bytes); NULL: derived from the file */
};

/* Guest-visible device state beyond the transport (for snapshots). */
struct blk_state {
	uint64_t capacity; /* in 512-byte sectors */
	bool readonly;
};

struct blk;

/* Open cfg->path and create the device and its transport at env->base.
 * Returns 0 or -errno (logged). */
int blk_new(const struct virtio_mmio_env *env, const struct blk_config *cfg, struct blk **out);
/* NULL-safe; closes the image. See virtio_mmio_free() for when it may be called. */
void blk_free(struct blk *blk);
struct virtio_mmio *blk_transport(struct blk *blk);
void blk_get_state(const struct blk *blk, struct blk_state *st);

#endif
