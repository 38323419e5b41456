#include "vmm/memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"

static void memory_layout(struct memory *mem)
{
	uint64_t low = mem->size < MEMORY_LOW_END ? mem->size : MEMORY_LOW_END;

	mem->nslots = 1;
	mem->slots[0] = (struct memory_slot){ .gpa = 0, .size = low, .hva = mem->base };
	if (mem->size > low) {
		mem->slots[1] = (struct memory_slot){ .gpa = MEMORY_HIGH_BASE,
						      .size = mem->size - low,
						      .hva = mem->base + low,
						      .file_offset = low };
		mem->nslots = 2;
	}
}

int memory_new_from(uint8_t *base, uint64_t size, int fd, struct memory **out)
{
	struct memory *mem;

	if (size == 0 || (size & 0xfff))
		return -EINVAL;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->fd = fd;
	mem->size = size;
	mem->base = base;
	memory_layout(mem);
	*out = mem;
	return 0;
}

int memory_new(uint64_t size, struct memory **out)
{
	_cleanup_close_ int fd = -1;
	uint8_t *base;
	int r;

	if (size == 0 || (size & 0xfff))
		return -EINVAL;
	fd = memfd_create("agentvm-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	r = memory_new_from(base, size, fd, out);
	if (r < 0) {
		munmap(base, size);
		return r;
	}
	(*out)->owns_base = 1;
	take_fd(&fd); /* owned by *out now */
	return 0;
}

int memory_new_private(uint64_t size, int fd, struct memory **out)
{
	uint8_t *base;
	int r;

	if (size == 0 || (size & 0xfff))
		return -EINVAL;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	r = memory_new_from(base, size, -1, out);
	if (r < 0) {
		munmap(base, size);
		return r;
	}
	(*out)->owns_base = 1;
	(*out)->private = 1;
	return 0;
}

int memory_remap_private(struct memory *mem, int fd)
{
	void *p = mmap(mem->base, mem->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	if (mem->fd >= 0) {
		close(mem->fd); /* nothing maps the memfd any more: its pages go */
		mem->fd = -1;
	}
	mem->private = 1;
	return 0;
}

void memory_free(struct memory *mem)
{
	if (!mem)
		return;
	if (mem->owns_base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
}

void *memory_ptr(const struct memory *mem, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < mem->nslots; i++) {
		const struct memory_slot *s = &mem->slots[i];
		if (gpa < s->gpa)
			continue;
		uint64_t off = gpa - s->gpa;
		if (off >= s->size || len > s->size - off)
			continue;
		return s->hva + off;
	}
	return NULL;
}

int memory_write(const struct memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int memory_read(const struct memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = memory_ptr(mem, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}
