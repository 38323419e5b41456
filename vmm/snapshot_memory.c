#include "vmm/snapshot_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

#define SNAPSHOT_PAGE	   4096ull
#define SNAPSHOT_WRITE_MAX (1ull << 20) /* bytes per pwrite */
#define PAGEMAP_PRESENT	   (1ull << 63)
#define PAGEMAP_SWAPPED	   (1ull << 62)

static void snapshot_memory_mark(uint8_t *map, uint64_t first, uint64_t count)
{
	for (uint64_t p = first; p < first + count; p++)
		map[p >> 3] |= (uint8_t)(1u << (p & 7));
}

static int snapshot_memory_marked(const uint8_t *map, uint64_t p)
{
	return map[p >> 3] & (1u << (p & 7));
}

/* Mark the pages of fd's data extents (SEEK_DATA/SEEK_HOLE); -errno if the
 * file system cannot say. */
static int snapshot_memory_extents(int fd, uint64_t size, uint8_t *map)
{
	off_t pos = 0;

	while ((uint64_t)pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		uint64_t first = (uint64_t)data / SNAPSHOT_PAGE;
		uint64_t end = ((uint64_t)hole + SNAPSHOT_PAGE - 1) / SNAPSHOT_PAGE;
		if (end > first)
			snapshot_memory_mark(map, first, end - first);
		pos = hole;
	}
	return 0;
}

/* Mark the pages of [base, base + size) that are present or swapped in
 * this process (private copies the guest wrote, or shared pages it read). */
static int snapshot_memory_resident(const uint8_t *base, uint64_t size, uint8_t *map)
{
	_cleanup_close_ int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t npages = size / SNAPSHOT_PAGE, done = 0;
	uint64_t buf[4096];

	if (fd < 0)
		return -errno;
	while (done < npages) {
		uint64_t want = npages - done < 4096 ? npages - done : 4096;
		off_t off = (off_t)(((uintptr_t)base / SNAPSHOT_PAGE + done) * 8);
		ssize_t n = pread(fd, buf, want * 8, off);
		if (n <= 0 || n % 8)
			return n < 0 ? -errno : -EIO;
		for (uint64_t i = 0; i < (uint64_t)n / 8; i++)
			if (buf[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
				snapshot_memory_mark(map, done + i, 1);
		done += (uint64_t)n / 8;
	}
	return 0;
}

static int snapshot_memory_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < SNAPSHOT_PAGE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		       w[i + 7];
	return acc == 0;
}

static int snapshot_memory_flush(int fd, const uint8_t *base, uint64_t start, uint64_t len)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, base + start, len, (off_t)start);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		start += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int snapshot_memory_write(const struct memory *mem, int backing_fd, int out_fd, uint64_t *written)
{
	uint64_t npages = mem->size / SNAPSHOT_PAGE, run_start = 0, run_len = 0, total = 0;
	_cleanup_free_ uint8_t *map = NULL;
	int r, all = 0;

	if (ftruncate(out_fd, (off_t)mem->size) < 0)
		return -errno;
	map = calloc((npages + 7) / 8, 1);
	if (!map)
		return -ENOMEM;
	/* Pages that can hold data: those in the memfd or the file behind the
	 * private mapping, and those this process has (private copies). */
	if (mem->fd >= 0 && snapshot_memory_extents(mem->fd, mem->size, map) < 0)
		all = 1;
	if (backing_fd >= 0 && snapshot_memory_extents(backing_fd, mem->size, map) < 0)
		all = 1;
	if (snapshot_memory_resident(mem->base, mem->size, map) < 0)
		all = 1;
	for (uint64_t p = 0; p < npages; p++) {
		uint64_t off = p * SNAPSHOT_PAGE;
		int data = (all || snapshot_memory_marked(map, p)) &&
			   !snapshot_memory_zero(mem->base + off);
		if (data && run_len && run_start + run_len == off && run_len < SNAPSHOT_WRITE_MAX) {
			run_len += SNAPSHOT_PAGE;
			continue;
		}
		if (run_len) {
			r = snapshot_memory_flush(out_fd, mem->base, run_start, run_len);
			if (r < 0)
				return r;
			total += run_len;
			run_len = 0;
		}
		if (data) {
			run_start = off;
			run_len = SNAPSHOT_PAGE;
		}
	}
	if (run_len) {
		r = snapshot_memory_flush(out_fd, mem->base, run_start, run_len);
		if (r < 0)
			return r;
		total += run_len;
	}
	*written = total;
	return 0;
}

int snapshot_memory_open(const char *path, uint64_t size, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "memory file '%s': %s", path, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "memory file '%s': not a regular file", path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != size) {
		snprintf(err, errlen,
			 "memory file '%s' has %llu bytes, the snapshot's guest has %llu (wrong "
			 "file?)",
			 path, (unsigned long long)st.st_size, (unsigned long long)size);
		return -EINVAL;
	}
	return take_fd(&fd);
}
