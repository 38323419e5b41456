/* virtio-blk on temporary image files: pattern write and read back, the
 * read-only drive refusing writes, out-of-range sectors, GET_ID, FLUSH. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "tests/unit/test_virtqueue_guest.h"
#include "vmm/devices/blk.h"

#define BASE_RW	  0xd0000000ull
#define BASE_RO	  0xd0001000ull
#define IMG_BYTES (1 << 20)

static struct fake_guest g;
static uint64_t hdr_gpa, data_gpa, status_gpa, table_gpa;

struct drive {
	uint64_t base;
	struct fake_vq vq;
	struct blk *blk;
	int irq;
};

static int drive_new(struct drive *d, uint64_t base, const char *path, bool ro, const char *serial)
{
	struct blk_config cfg = { .path = path, .readonly = ro, .serial = serial };
	struct virtio_mmio_env env = { .mem = g.mem, .bus = &g.bus, .base = base, .name = "blk" };
	int r;

	d->base = base;
	d->irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	env.irq = (struct irq_line){ .fd = d->irq, .gsi = 5 };
	r = blk_new(&env, &cfg, &d->blk);
	if (r < 0) {
		close(d->irq);
		return r;
	}
	fg_vq_alloc(&g, &d->vq, 16);
	fg_handshake(&g, base, FG_FEATURES | (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	fg_queue_setup(&g, base, 0, &d->vq);
	fg_driver_ok(&g, base);
	return 0;
}

/* One request: header, len bytes of data at data_gpa, status. Returns the
 * status byte (or -1 if nothing came back) and the used length. */
static int request(struct drive *d, uint32_t type, uint64_t sector, uint32_t len, bool data_in,
		   uint32_t *used_len)
{
	uint32_t h[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	uint32_t id;

	memcpy(fg_ptr(&g, hdr_gpa), h, 16);
	*(uint8_t *)fg_ptr(&g, status_gpa) = 0xee;
	fg_desc(&g, d->vq.desc, 0, hdr_gpa, 16, VIRTQ_DESC_F_NEXT, len ? 1 : 2);
	fg_desc(&g, d->vq.desc, 1, data_gpa, len,
		VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
	fg_desc(&g, d->vq.desc, 2, status_gpa, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &d->vq, 0);
	fg_notify(&g, d->base, 0);
	if (!fg_used(&g, &d->vq, &id, used_len) || id != 0)
		return -1;
	return *(uint8_t *)fg_ptr(&g, status_gpa);
}

static int make_image(char *path)
{
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, IMG_BYTES) < 0)
		return -1;
	return fd;
}

int main(void)
{
	char rw_path[] = "/tmp/agentvm-blk-rw-XXXXXX", ro_path[] = "/tmp/agentvm-blk-ro-XXXXXX";
	struct drive rw, ro, extra;
	uint8_t pattern[4096], back[4096];
	uint32_t len, v;
	int rw_fd, ro_fd;

	if (fg_init(&g, 1 << 20) < 0)
		skip_all("cannot allocate guest RAM");
	rw_fd = make_image(rw_path);
	ro_fd = make_image(ro_path);
	if (rw_fd < 0 || ro_fd < 0)
		skip_all("cannot create image files");
	hdr_gpa = fg_alloc(&g, 16, 16);
	status_gpa = fg_alloc(&g, 1, 16);
	table_gpa = fg_alloc(&g, 16 * 8, 16);
	data_gpa = fg_alloc(&g, 64 << 10, 4096);

	is(drive_new(&rw, BASE_RW, rw_path, false, "serial-0123456789abcdef"), 0, "rw drive");
	is(drive_new(&ro, BASE_RO, ro_path, true, NULL), 0, "ro drive");
	is(drive_new(&extra, 0xd0002000, rw_path, false, NULL), -EWOULDBLOCK,
	   "a second writer on the same image refused");
	is(drive_new(&extra, 0xd0002000, "/nonexistent/disk.img", false, NULL), -ENOENT,
	   "missing image refused");

	/* Config and features. */
	uint64_t cap = 0;
	bus_read(&g.bus, BASE_RW + VIRTIO_MMIO_CONFIG, &cap, 8);
	is(cap, IMG_BYTES / 512, "capacity in 512-byte sectors");
	v = fg_r32(&g, BASE_RW, VIRTIO_MMIO_CONFIG + 12);
	is(v, BLK_SEG_MAX, "seg_max");
	fg_w32(&g, BASE_RW, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = fg_r32(&g, BASE_RW, VIRTIO_MMIO_DEVICE_FEATURES);
	ok((v & (1u << VIRTIO_BLK_F_FLUSH)) && !(v & (1u << VIRTIO_BLK_F_RO)), "rw: FLUSH, no RO");
	fg_w32(&g, BASE_RO, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ok(fg_r32(&g, BASE_RO, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO), "ro: RO");

	/* Pattern write and read back. */
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	memcpy(fg_ptr(&g, data_gpa), pattern, sizeof(pattern));
	is(request(&rw, VIRTIO_BLK_T_OUT, 10, 4096, false, &len), VIRTIO_BLK_S_OK,
	   "write 8 sectors");
	is(len, 1, "write: used length is the status byte");
	ok(pread(rw_fd, back, sizeof(back), 10 * 512) == sizeof(back) &&
		   memcmp(back, pattern, sizeof(back)) == 0,
	   "pattern is in the image file at sector 10");
	memset(fg_ptr(&g, data_gpa), 0, 4096);
	is(request(&rw, VIRTIO_BLK_T_IN, 10, 4096, true, &len), VIRTIO_BLK_S_OK, "read 8 sectors");
	is(len, 4097, "read: used length is data + status");
	ok(memcmp(fg_ptr(&g, data_gpa), pattern, 4096) == 0, "pattern read back");

	/* The same read through an indirect table, header split in two, data in three. */
	memset(fg_ptr(&g, data_gpa), 0, 4096);
	fg_desc(&g, table_gpa, 0, hdr_gpa, 8, VIRTQ_DESC_F_NEXT, 1);
	fg_desc(&g, table_gpa, 1, hdr_gpa + 8, 8, VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, table_gpa, 2, data_gpa, 1000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
	fg_desc(&g, table_gpa, 3, data_gpa + 1000, 3000, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
	fg_desc(&g, table_gpa, 4, data_gpa + 4000, 96, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 5);
	fg_desc(&g, table_gpa, 5, status_gpa, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_desc(&g, rw.vq.desc, 5, table_gpa, 6 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	uint32_t h[4] = { VIRTIO_BLK_T_IN, 0, 10, 0 };
	memcpy(fg_ptr(&g, hdr_gpa), h, 16);
	fg_avail(&g, &rw.vq, 5);
	fg_notify(&g, BASE_RW, 0);
	uint32_t id;
	ok(fg_used(&g, &rw.vq, &id, &len) && id == 5 && len == 4097 &&
		   *(uint8_t *)fg_ptr(&g, status_gpa) == VIRTIO_BLK_S_OK &&
		   memcmp(fg_ptr(&g, data_gpa), pattern, 4096) == 0,
	   "scattered read through an indirect table");
	ok(fg_irq_count(rw.irq) >= 1, "interrupt raised");

	/* Out of range and malformed. */
	is(request(&rw, VIRTIO_BLK_T_IN, 2047, 1024, true, &len), VIRTIO_BLK_S_IOERR,
	   "read running past the end: IOERR");
	is(len, 1, "nothing but the status written");
	is(request(&rw, VIRTIO_BLK_T_OUT, 2048, 512, false, &len), VIRTIO_BLK_S_IOERR,
	   "write at the capacity: IOERR");
	is(request(&rw, VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false, &len), VIRTIO_BLK_S_IOERR,
	   "sector 2^64-1 (offset overflow): IOERR");
	is(request(&rw, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, 512, true, &len), VIRTIO_BLK_S_IOERR,
	   "sector*512 wrapping to 0: IOERR");
	is(request(&rw, VIRTIO_BLK_T_IN, 0, 100, true, &len), VIRTIO_BLK_S_IOERR,
	   "length not a multiple of 512: IOERR");
	is(request(&rw, 99, 0, 512, true, &len), VIRTIO_BLK_S_UNSUPP, "unknown type: UNSUPP");
	is(request(&rw, VIRTIO_BLK_T_IN, 2047, 512, true, &len), VIRTIO_BLK_S_OK,
	   "last sector readable");

	/* A header shorter than 16 bytes. */
	fg_desc(&g, rw.vq.desc, 0, hdr_gpa, 8, VIRTQ_DESC_F_NEXT, 2);
	fg_desc(&g, rw.vq.desc, 2, status_gpa, 1, VIRTQ_DESC_F_WRITE, 0);
	fg_avail(&g, &rw.vq, 0);
	fg_notify(&g, BASE_RW, 0);
	ok(fg_used(&g, &rw.vq, &id, &len) &&
		   *(uint8_t *)fg_ptr(&g, status_gpa) == VIRTIO_BLK_S_IOERR,
	   "short header: IOERR");
	/* No status byte at all. */
	fg_desc(&g, rw.vq.desc, 0, hdr_gpa, 16, 0, 0);
	fg_avail(&g, &rw.vq, 0);
	fg_notify(&g, BASE_RW, 0);
	ok(fg_used(&g, &rw.vq, &id, &len) && len == 0, "no status buffer: completed empty");

	is(request(&rw, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK, "flush");
	memset(fg_ptr(&g, data_gpa), 0xaa, 32);
	is(request(&rw, VIRTIO_BLK_T_GET_ID, 0, 32, true, &len), VIRTIO_BLK_S_OK, "GET_ID");
	ok(len == 21 && memcmp(fg_ptr(&g, data_gpa), "serial-0123456789abc", 20) == 0 &&
		   *(uint8_t *)fg_ptr(&g, data_gpa + 20) == 0xaa,
	   "GET_ID: 20 serial bytes, nothing more");

	/* Read-only drive. */
	memcpy(fg_ptr(&g, data_gpa), pattern, 4096);
	is(request(&ro, VIRTIO_BLK_T_OUT, 0, 4096, false, &len), VIRTIO_BLK_S_IOERR,
	   "ro drive refuses a write with IOERR");
	ok(pread(ro_fd, back, sizeof(back), 0) == sizeof(back) && back[1] == 0 && back[100] == 0,
	   "ro image unchanged");
	is(request(&ro, VIRTIO_BLK_T_IN, 0, 4096, true, &len), VIRTIO_BLK_S_OK, "ro drive reads");
	is(request(&ro, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK, "ro flush is OK");
	is(request(&ro, VIRTIO_BLK_T_GET_ID, 0, 20, true, &len), VIRTIO_BLK_S_OK,
	   "ro GET_ID (derived serial)");
	ok(memcmp(fg_ptr(&g, data_gpa), "agentvm-", 8) == 0, "derived serial starts agentvm-");

	struct blk_state st;
	blk_get_state(ro.blk, &st);
	ok(st.capacity == 2048 && st.readonly, "state: capacity and ro");

	blk_free(rw.blk);
	blk_free(ro.blk);
	blk_free(NULL);
	close(rw.irq);
	close(ro.irq);
	close(rw_fd);
	close(ro_fd);
	unlink(rw_path);
	unlink(ro_path);
	fg_fini(&g);
	return done_testing();
}
