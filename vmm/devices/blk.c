#include "vmm/devices/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"

#define BLK_CONFIG_SIZE 64 /* struct virtio_blk_config; unset fields read as zero */
#define BLK_HDR_SIZE	16

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk {
	struct virtio_mmio *t;
	int fd;
	bool ro;
	uint64_t capacity; /* sectors */
	char serial[BLK_ID_BYTES];
	uint8_t config[BLK_CONFIG_SIZE];
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

static void blk_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct blk *blk = dev;

	memcpy(data, blk->config + off, len);
}

/* Whether [sector, sector + len bytes) lies inside the disk. */
static bool blk_range_ok(const struct blk *blk, uint64_t sector, uint64_t len)
{
	if (len % BLK_SECTOR || sector > blk->capacity)
		return false;
	return len / BLK_SECTOR <= blk->capacity - sector;
}

/* Transfer all of iov[0, n) at off; a read past the end of the file gives zeros. */
static int blk_io(int fd, struct iovec *iov, int n, uint64_t off, bool write)
{
	while (n > 0) {
		ssize_t r =
			write ? pwritev(fd, iov, n, (off_t)off) : preadv(fd, iov, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0) {
			if (write)
				return -EIO;
			for (int i = 0; i < n; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			return 0;
		}
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Serve one request; returns the status byte and the data bytes written to the guest. */
static uint8_t blk_serve(struct blk *blk, const struct virtq_chain *c, uint32_t *written)
{
	struct blk_req_hdr h;
	uint32_t data_w = c->wlen - 1, len;
	int n;

	*written = 0;
	if (virtq_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
		return VIRTIO_BLK_S_IOERR;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (!blk_range_ok(blk, h.sector, data_w))
			return VIRTIO_BLK_S_IOERR;
		n = virtq_chain_slice(c, true, 0, data_w, blk->iov, VIRTQ_MAX_SEGS);
		if (blk_io(blk->fd, blk->iov, n, h.sector * BLK_SECTOR, false) < 0)
			return VIRTIO_BLK_S_IOERR;
		*written = data_w;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		len = c->rlen - BLK_HDR_SIZE;
		if (blk->ro || !blk_range_ok(blk, h.sector, len))
			return VIRTIO_BLK_S_IOERR;
		n = virtq_chain_slice(c, false, BLK_HDR_SIZE, len, blk->iov, VIRTQ_MAX_SEGS);
		if (blk_io(blk->fd, blk->iov, n, h.sector * BLK_SECTOR, true) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (!blk->ro && fdatasync(blk->fd) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		len = data_w < BLK_ID_BYTES ? data_w : BLK_ID_BYTES;
		*written = (uint32_t)virtq_chain_write(c, 0, blk->serial, len);
		return VIRTIO_BLK_S_OK;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void blk_queue_notify(void *dev, uint32_t q)
{
	struct blk *blk = dev;
	struct virtq_chain *c = &blk->chain;

	while (virtio_mmio_pop(blk->t, q, c) > 0) {
		uint32_t written = 0;
		if (c->wlen == 0) {
			/* Nowhere to put a status: complete it empty. */
			virtio_mmio_push(blk->t, q, c->head, 0);
			continue;
		}
		uint8_t status = blk_serve(blk, c, &written);
		virtq_chain_write(c, c->wlen - 1, &status, 1);
		virtio_mmio_push(blk->t, q, c->head, written + 1);
	}
	virtio_mmio_signal(blk->t, q);
}

static const struct virtio_device_ops blk_ops_rw = {
	.device_id = BLK_DEVICE_ID,
	.features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_FLUSH),
	.num_queues = 1,
	.config_size = BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

static const struct virtio_device_ops blk_ops_ro = {
	.device_id = BLK_DEVICE_ID,
	.features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_FLUSH) |
		    (1ull << VIRTIO_BLK_F_RO),
	.num_queues = 1,
	.config_size = BLK_CONFIG_SIZE,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
};

static int blk_open(struct blk *blk, const struct blk_config *cfg)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t size;

	fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
	} else {
		return -EINVAL;
	}
	/* Two writers on one image corrupt it: take the image exclusively
	 * when writable, shared when read-only. */
	if (flock(fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return -errno;
	blk->capacity = size / BLK_SECTOR;
	if (cfg->serial)
		memcpy(blk->serial, cfg->serial, strnlen(cfg->serial, sizeof(blk->serial)));
	else
		snprintf(blk->serial, sizeof(blk->serial), "agentvm-%" PRIx64, (uint64_t)st.st_ino);
	blk->fd = take_fd(&fd);
	return 0;
}

int blk_new(const struct virtio_mmio_env *env, const struct blk_config *cfg, struct blk **out)
{
	struct blk *blk;
	uint32_t seg_max = BLK_SEG_MAX;
	int r;

	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->fd = -1;
	blk->ro = cfg->readonly;
	r = blk_open(blk, cfg);
	if (r < 0) {
		log_err("drive %s: %s", cfg->path,
			r == -EWOULDBLOCK ? "image is in use by another VM" : strerror(-r));
		goto fail;
	}
	memcpy(blk->config, &blk->capacity, sizeof(blk->capacity));
	memcpy(blk->config + 12, &seg_max, sizeof(seg_max));
	r = virtio_mmio_new(env, cfg->readonly ? &blk_ops_ro : &blk_ops_rw, blk, &blk->t);
	if (r < 0)
		goto fail;
	*out = blk;
	return 0;
fail:
	blk_free(blk);
	return r;
}

void blk_free(struct blk *blk)
{
	if (!blk)
		return;
	virtio_mmio_free(blk->t);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk);
}

struct virtio_mmio *blk_transport(struct blk *blk)
{
	return blk->t;
}

void blk_get_state(const struct blk *blk, struct blk_state *st)
{
	st->capacity = blk->capacity;
	st->readonly = blk->ro;
}
