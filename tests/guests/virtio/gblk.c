/* The synthetic guests' virtio-blk driver: see gblk.h. */
#include "gblk.h"

#include "rt.h"

#define GBLK_MAX_BUFS 16

int gblk_init(struct gblk *b, const struct gvirtio_dev *d)
{
	b->dev = *d;
	if (gvirtio_start(&b->dev, (1ull << GBLK_F_RO) | (1ull << GBLK_F_FLUSH) |
					   (1ull << GBLK_F_SEG_MAX)) < 0)
		return -1;
	b->capacity = gvirtio_config64(&b->dev, 0);
	b->ro = b->dev.features & (1ull << GBLK_F_RO);
	if (gvirtq_init(&b->q, &b->dev, 0, 32) < 0)
		return -1;
	b->hdr = rt_alloc(16, 16);
	b->status = rt_alloc(1, 1);
	if (!b->hdr || !b->status)
		return -1;
	gvirtio_driver_ok(&b->dev);
	if (!(gvirtio_status(&b->dev) & GVIRTIO_S_DRIVER_OK)) {
		rt_printf("blk slot %u: DRIVER_OK refused (status %x)\n", b->dev.slot,
			  gvirtio_status(&b->dev));
		return -1;
	}
	return 0;
}

unsigned int gblk_request(struct gblk *b, uint32_t type, uint64_t sector, void *const *bufs,
			  const uint32_t *lens, unsigned int nbufs, uint32_t *written)
{
	struct gvirtq_buf chain[GBLK_MAX_BUFS + 2];
	uint64_t token;
	unsigned int n = 0;
	int r;

	*written = 0;
	if (nbufs > GBLK_MAX_BUFS)
		return GBLK_S_BROKEN;
	memcpy(b->hdr, &type, 4);
	memset(b->hdr + 4, 0, 4);
	memcpy(b->hdr + 8, &sector, 8);
	*b->status = 0xff;
	chain[n++] = (struct gvirtq_buf){ .addr = b->hdr, .len = 16 };
	for (unsigned int i = 0; i < nbufs; i++)
		chain[n++] = (struct gvirtq_buf){ .addr = bufs[i],
						  .len = lens[i],
						  .write = type != GBLK_T_OUT };
	chain[n++] = (struct gvirtq_buf){ .addr = b->status, .len = 1, .write = true };
	if (gvirtq_add(&b->q, chain, n, 1) < 0)
		return GBLK_S_BROKEN;
	gvirtq_kick(&b->q);
	r = gvirtq_wait(&b->q, &token, written, GBLK_TIMEOUT_MS);
	if (r == 0)
		return GBLK_S_NONE;
	if (r < 0 || token != 1)
		return GBLK_S_BROKEN;
	return *b->status;
}

unsigned int gblk_io(struct gblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	uint32_t written;

	return gblk_request(b, type, sector, &buf, &len, buf ? 1 : 0, &written);
}

const char *gblk_status_name(unsigned int status)
{
	switch (status) {
	case GBLK_S_OK:
		return "OK";
	case GBLK_S_IOERR:
		return "IOERR";
	case GBLK_S_UNSUPP:
		return "UNSUPP";
	case GBLK_S_NONE:
		return "no answer";
	case GBLK_S_BROKEN:
		return "bad used entry";
	default:
		return "unknown status";
	}
}
