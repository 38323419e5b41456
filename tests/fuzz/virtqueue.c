/* libFuzzer target: hostile split virtqueues.
 *
 * Mode 0 (first byte bit 7 clear): the input becomes a 64 KiB guest RAM
 * image holding a queue packed at its start (available ring, used ring,
 * descriptor table), and chains are popped, every byte of every buffer
 * touched and used entries pushed.
 * Mode 1: the same RAM image behind virtio-rng and virtio-blk, with a
 * register program from the input poking both transports (status, features,
 * queue set-up and notifications in any order).
 *
 * Every iovec must point inside guest RAM; anything else traps. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/bus.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/rng.h"
#include "vmm/devices/virtio_mmio.h"
#include "vmm/devices/virtqueue.h"

#define RAM_SIZE (64 * 1024)
#define RNG_BASE 0xd0000000ull
#define BLK_BASE 0xd0001000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct memory *mem;
static struct virtq_chain chain;
static struct bus bus;
static struct rng *rng;
static struct blk *blk;

static void check_iov(const struct virtq_chain *c)
{
	for (uint32_t i = 0; i < c->nr + c->nw; i++) {
		const uint8_t *b = c->iov[i].iov_base;
		if (b < ram || c->iov[i].iov_len > RAM_SIZE ||
		    b + c->iov[i].iov_len > ram + RAM_SIZE)
			__builtin_trap();
	}
}

static void setup(void)
{
	char path[64];
	int fd;

	log_set_level(LOG_ERR);
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram || memory_new_from(ram, RAM_SIZE, -1, &mem) < 0)
		abort();
	struct virtio_mmio_env env = { .mem = mem, .bus = &bus, .base = RNG_BASE, .name = "rng" };
	env.irq = (struct irq_line){ .fd = -1, .gsi = 5 };
	if (rng_new(&env, &rng) < 0)
		abort();
	/* A 64 KiB disk image in memory. */
	fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 64 * 1024) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct blk_config cfg = { .path = path, .serial = "fuzz" };
	env.base = BLK_BASE;
	env.name = "blk";
	if (blk_new(&env, &cfg, &blk) < 0)
		abort();
}

static void fuzz_queue(const uint8_t *data, size_t size)
{
	struct virtq q;
	uint8_t ctl = data[0];
	uint16_t start;
	int r;

	memcpy(&start, data + 1, 2);
	virtq_init(&q, mem);
	q.st.num = (uint16_t)(1u << (ctl & 7)) << ((ctl >> 3) & 1); /* 1..256 */
	q.st.driver = 0;
	q.st.device = (6 + 2 * (uint64_t)q.st.num + 3) & ~3ull;
	q.st.desc = (q.st.device + 6 + 8 * (uint64_t)q.st.num + 15) & ~15ull;
	q.st.last_avail = q.st.used_idx = start;
	if (virtq_enable(&q, ctl & 0x10, ctl & 0x20) < 0)
		return;
	for (int i = 0; i < 2 * VIRTQ_MAX_SIZE + 4; i++) {
		r = virtq_pop(&q, &chain);
		if (r <= 0)
			break;
		check_iov(&chain);
		uint8_t sum = 0, tmp[64];
		for (uint32_t k = 0; k < chain.nr; k++)
			for (size_t j = 0; j < chain.iov[k].iov_len; j++)
				sum ^= ((const uint8_t *)chain.iov[k].iov_base)[j];
		for (uint32_t k = chain.nr; k < chain.nr + chain.nw; k++)
			memset(chain.iov[k].iov_base, sum, chain.iov[k].iov_len);
		virtq_chain_read(&chain, (size_t)sum * 3, tmp, sizeof(tmp));
		virtq_chain_write(&chain, (size_t)sum * 5, tmp, sizeof(tmp));
		struct iovec sl[8];
		virtq_chain_slice(&chain, sum & 1, sum, 1000, sl, 8);
		if (i & 1)
			virtq_unpop(&q);
		else if (virtq_push(&q, chain.head, chain.wlen) < 0)
			__builtin_trap();
		virtq_need_interrupt(&q);
	}
}

/* Records of 5 bytes: [target][value le32]. target bit 7: blk (else rng);
 * bit 6: read; bits 0-5: register offset / 4. */
static size_t fuzz_program(const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (; n + 5 <= len; n += 5) {
		uint64_t base = (p[n] & 0x80) ? BLK_BASE : RNG_BASE;
		uint64_t off = (uint64_t)(p[n] & 0x3f) * 4;
		uint32_t v;
		memcpy(&v, p + n + 1, 4);
		if (p[n] & 0x40) {
			uint64_t out;
			bus_read(&bus, base + off + (v & 0x100 ? VIRTIO_MMIO_CONFIG : 0), &out,
				 1u << (v & 3));
		} else
			bus_write(&bus, base + off, &v, 4);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 3)
		return 0;
	memset(ram, 0, RAM_SIZE);
	if (!(data[0] & 0x80)) {
		size_t n = size - 3 < RAM_SIZE ? size - 3 : RAM_SIZE;
		memcpy(ram, data + 3, n);
		fuzz_queue(data, size);
		return 0;
	}
	/* Transport mode: program length in data[1] records. */
	size_t plen = (size_t)data[1] * 5;
	if (plen > size - 2)
		plen = size - 2;
	size_t n = size - 2 - plen < RAM_SIZE ? size - 2 - plen : RAM_SIZE;
	memcpy(ram, data + 2 + plen, n);
	fuzz_program(data + 2, plen);
	/* Leave both devices reset for the next input. */
	uint32_t zero = 0;
	bus_write(&bus, RNG_BASE + VIRTIO_MMIO_STATUS, &zero, 4);
	bus_write(&bus, BLK_BASE + VIRTIO_MMIO_STATUS, &zero, 4);
	return 0;
}
