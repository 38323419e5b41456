/* A synchronous virtio-blk driver for the synthetic guests: one request
 * at a time, polled to completion. */
#ifndef AGENTVM_GUESTS_GBLK_H
#define AGENTVM_GUESTS_GBLK_H

#include <stdbool.h>
#include <stdint.h>

#include "gvirtio.h"

#define GBLK_SECTOR	512
#define GBLK_ID_BYTES	20

#define GBLK_F_SEG_MAX	2
#define GBLK_F_RO	5
#define GBLK_F_FLUSH	9

#define GBLK_T_IN	0
#define GBLK_T_OUT	1
#define GBLK_T_FLUSH	4
#define GBLK_T_GET_ID	8

#define GBLK_S_OK	0
#define GBLK_S_IOERR	1
#define GBLK_S_UNSUPP	2
#define GBLK_S_NONE	0x100 /* no answer in time */
#define GBLK_S_BROKEN	0x101 /* the device returned a bad used entry */

#define GBLK_TIMEOUT_MS 5000

struct gblk {
	struct gvirtio_dev dev;
	struct gvirtq q;
	uint64_t capacity; /* sectors */
	bool ro;
	uint8_t *hdr;	 /* 16-byte request header */
	uint8_t *status; /* 1-byte status */
};

/* Start the device d (features RO, FLUSH, SEG_MAX), read its capacity,
 * set up its queue and set DRIVER_OK. Returns 0, or -1 (printed). */
int gblk_init(struct gblk *b, const struct gvirtio_dev *d);
/* One request: type, sector, and the data buffers (readable for OUT,
 * writable for IN and GET_ID) as nbufs pieces of bufs. Returns the status
 * byte, or GBLK_S_NONE / GBLK_S_BROKEN; *written gets the used length. */
unsigned int gblk_request(struct gblk *b, uint32_t type, uint64_t sector, void *const *bufs,
			  const uint32_t *lens, unsigned int nbufs, uint32_t *written);
/* gblk_request with one buffer. */
unsigned int gblk_io(struct gblk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len);
const char *gblk_status_name(unsigned int status);

#endif
