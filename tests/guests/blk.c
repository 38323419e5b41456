/* blk: every virtio-blk drive agentvm-vmm offers (--drive), from CPL3.
 * For each drive: print its capacity, read-only flag and GET_ID answer;
 * then, on blk.sectors (default 256) sectors from sector 0:
 *   writable drive:  write the pattern of seed blk.seed (default 1; byte
 *                    offsets on the disk, gpattern.h), FLUSH, read it back
 *                    (once whole, once scattered over 8 buffers) and
 *                    compare; a read past the end must fail with IOERR;
 *   read-only drive: the sectors must hold the pattern of seed blk.roseed
 *                    (default 2); a write must fail (IOERR or UNSUPP) and a
 *                    FLUSH succeed.
 *   exit 0: all as expected; 1: a failure (printed); 2: no drive. */
#include "gblk.h"
#include "gpattern.h"
#include "rt.h"

#define BLK_CHUNK_SECTORS 128 /* 64 KiB per request */
#define BLK_SCATTER	  8

static int blk_fail(unsigned int i, const char *what, unsigned int status)
{
	rt_printf("blk%u: %s: %s\n", i, what, gblk_status_name(status));
	return 1;
}

/* Check sectors [0, n) hold pattern seed; whole-chunk reads. */
static int blk_check(struct gblk *b, unsigned int i, uint8_t *buf, uint64_t n, uint64_t seed)
{
	for (uint64_t s = 0; s < n; s += BLK_CHUNK_SECTORS) {
		uint64_t k = n - s < BLK_CHUNK_SECTORS ? n - s : BLK_CHUNK_SECTORS;
		uint32_t len = (uint32_t)(k * GBLK_SECTOR);
		unsigned int st = gblk_io(b, GBLK_T_IN, s, buf, len);
		size_t good;

		if (st != GBLK_S_OK)
			return blk_fail(i, "read", st);
		good = gpattern_check(seed, s * GBLK_SECTOR, buf, len);
		if (good != len) {
			rt_printf("blk%u: byte %lu differs from the pattern\n", i,
				  s * GBLK_SECTOR + good);
			return 1;
		}
	}
	return 0;
}

static int blk_writable(struct gblk *b, unsigned int i, uint8_t *buf, uint64_t n, uint64_t seed)
{
	void *bufs[BLK_SCATTER];
	uint32_t lens[BLK_SCATTER], written;
	unsigned int st;

	for (uint64_t s = 0; s < n; s += BLK_CHUNK_SECTORS) {
		uint64_t k = n - s < BLK_CHUNK_SECTORS ? n - s : BLK_CHUNK_SECTORS;

		gpattern_fill(seed, s * GBLK_SECTOR, buf, k * GBLK_SECTOR);
		st = gblk_io(b, GBLK_T_OUT, s, buf, (uint32_t)(k * GBLK_SECTOR));
		if (st != GBLK_S_OK)
			return blk_fail(i, "write", st);
	}
	st = gblk_io(b, GBLK_T_FLUSH, 0, NULL, 0);
	if (st != GBLK_S_OK)
		return blk_fail(i, "flush", st);
	memset(buf, 0, BLK_CHUNK_SECTORS * GBLK_SECTOR);
	if (blk_check(b, i, buf, n, seed))
		return 1;
	/* The first sectors again, one per buffer of a scattered chain. */
	memset(buf, 0, BLK_SCATTER * GBLK_SECTOR);
	for (unsigned int k = 0; k < BLK_SCATTER; k++) {
		bufs[k] = buf + (BLK_SCATTER - 1 - k) * GBLK_SECTOR; /* reversed in memory */
		lens[k] = GBLK_SECTOR;
	}
	st = gblk_request(b, GBLK_T_IN, 0, bufs, lens, BLK_SCATTER, &written);
	if (st != GBLK_S_OK)
		return blk_fail(i, "scattered read", st);
	for (unsigned int k = 0; k < BLK_SCATTER && n >= BLK_SCATTER; k++) {
		if (gpattern_check(seed, k * GBLK_SECTOR, bufs[k], GBLK_SECTOR) != GBLK_SECTOR) {
			rt_printf("blk%u: scattered read: sector %u differs\n", i, k);
			return 1;
		}
	}
	rt_printf("blk%u: wrote, flushed and read back %lu sectors ok\n", i, n);
	st = gblk_io(b, GBLK_T_IN, b->capacity - 1, buf, 2 * GBLK_SECTOR);
	if (st != GBLK_S_IOERR)
		return blk_fail(i, "read past the end (want IOERR)", st);
	rt_printf("blk%u: read past the end: IOERR\n", i);
	return 0;
}

static int blk_readonly(struct gblk *b, unsigned int i, uint8_t *buf, uint64_t n, uint64_t seed)
{
	unsigned int st;

	if (blk_check(b, i, buf, n, seed))
		return 1;
	rt_printf("blk%u: read %lu sectors of the expected pattern\n", i, n);
	memset(buf, 0x5a, GBLK_SECTOR);
	st = gblk_io(b, GBLK_T_OUT, 0, buf, GBLK_SECTOR);
	if (st != GBLK_S_IOERR && st != GBLK_S_UNSUPP)
		return blk_fail(i, "write to a read-only drive (want IOERR or UNSUPP)", st);
	rt_printf("blk%u: write refused: %s\n", i, gblk_status_name(st));
	st = gblk_io(b, GBLK_T_FLUSH, 0, NULL, 0);
	if (st != GBLK_S_OK)
		return blk_fail(i, "flush of a read-only drive", st);
	if (blk_check(b, i, buf, 1, seed))
		return 1;
	return 0;
}

int guest_main(uint64_t cpu)
{
	uint64_t sectors = rt_param_u64("blk.sectors", 256);
	uint64_t seed = rt_param_u64("blk.seed", 1), roseed = rt_param_u64("blk.roseed", 2);
	struct gvirtio_dev d;
	uint8_t *buf = rt_alloc(BLK_CHUNK_SECTORS * GBLK_SECTOR, 4096);
	unsigned int i;

	(void)cpu;
	if (!buf)
		return 1;
	for (i = 0; gvirtio_find(GVIRTIO_ID_BLK, i, &d) == 0; i++) {
		struct gblk b;
		char id[GBLK_ID_BYTES + 1];
		uint64_t n;
		unsigned int st;

		if (gblk_init(&b, &d) < 0)
			return 1;
		memset(id, 0, sizeof(id));
		st = gblk_io(&b, GBLK_T_GET_ID, 0, id, GBLK_ID_BYTES);
		if (st != GBLK_S_OK)
			return blk_fail(i, "GET_ID", st);
		rt_printf("blk%u: slot=%u capacity=%lu ro=%u id=%s\n", i, d.slot, b.capacity,
			  b.ro ? 1 : 0, id);
		n = sectors < b.capacity ? sectors : b.capacity;
		if (!n) {
			rt_printf("blk%u: empty drive\n", i);
			return 1;
		}
		if (b.ro ? blk_readonly(&b, i, buf, n, roseed) : blk_writable(&b, i, buf, n, seed))
			return 1;
	}
	if (!i) {
		rt_puts("blk: no virtio-blk device (agentvm-vmm --drive)\n");
		return 2;
	}
	rt_printf("blk: %u drive(s) ok\n", i);
	return 0;
}
