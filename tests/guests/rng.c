/* rng: virtio-rng (agentvm-vmm --rng) from CPL3. Posts four requests at
 * once (16, 64, 512 bytes and 4 KiB scattered over two buffers), polls
 * them to completion and checks that bytes arrived and look random: not
 * all zero, not all equal, the two largest answers different, and many
 * distinct byte values. Prints "rng: <n> bytes in 4 requests, <k> distinct
 * byte values".
 *   exit 0: ok; 1: a failure (printed); 2: no device. */
#include "gvirtio.h"
#include "rt.h"

#define RNG_NREQ 4

static unsigned int rng_distinct(const uint8_t *p, uint32_t n)
{
	uint8_t seen[256];
	unsigned int k = 0;

	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < n; i++)
		if (!seen[p[i]]++)
			k++;
	return k;
}

int guest_main(uint64_t cpu)
{
	static const uint32_t sizes[RNG_NREQ] = { 16, 64, 512, 4096 };
	struct gvirtio_dev d;
	struct gvirtq q;
	uint8_t *buf[RNG_NREQ];
	uint32_t got[RNG_NREQ] = { 0 }, total = 0;
	unsigned int distinct = 0;

	(void)cpu;
	if (gvirtio_find(GVIRTIO_ID_RNG, 0, &d) < 0) {
		rt_puts("rng: no virtio-rng device (agentvm-vmm --rng)\n");
		return 2;
	}
	if (gvirtio_start(&d, 0) < 0 || gvirtq_init(&q, &d, 0, 8) < 0)
		return 1;
	gvirtio_driver_ok(&d);
	for (unsigned int i = 0; i < RNG_NREQ; i++) {
		struct gvirtq_buf b[2];
		unsigned int n = 1;

		buf[i] = rt_alloc(sizes[i], 64);
		if (!buf[i])
			return 1;
		b[0] = (struct gvirtq_buf){ .addr = buf[i], .len = sizes[i], .write = true };
		if (sizes[i] > 1024) { /* two pieces, to have a chain */
			b[0].len = sizes[i] / 2;
			b[1] = (struct gvirtq_buf){ .addr = buf[i] + sizes[i] / 2,
						    .len = sizes[i] / 2,
						    .write = true };
			n = 2;
		}
		if (gvirtq_add(&q, b, n, i) < 0)
			return 1;
	}
	gvirtq_kick(&q);
	for (unsigned int k = 0; k < RNG_NREQ; k++) {
		uint64_t token;
		uint32_t len;
		int r = gvirtq_wait(&q, &token, &len, 5000);

		if (r <= 0 || token >= RNG_NREQ || got[token] || len > sizes[token]) {
			rt_printf("rng: request %u: %s (status %x)\n", k,
				  r == 0 ? "no answer in 5 s" : "bad used entry",
				  gvirtio_status(&d));
			return 1;
		}
		if (!len) {
			rt_printf("rng: request %lu answered with no bytes\n", token);
			return 1;
		}
		got[token] = len;
		total += len;
	}
	for (unsigned int i = 0; i < RNG_NREQ; i++) {
		uint32_t zero = 0, same = 0;

		for (uint32_t k = 0; k < got[i]; k++) {
			zero += buf[i][k] == 0;
			same += buf[i][k] == buf[i][0];
		}
		if (got[i] >= 16 && (zero == got[i] || same == got[i])) {
			rt_printf("rng: request %u: %u bytes, all %s\n", i, got[i],
				  zero == got[i] ? "zero" : "equal");
			return 1;
		}
	}
	if (got[2] >= 16 && got[3] >= got[2] && !memcmp(buf[2], buf[3], got[2])) {
		rt_puts("rng: two requests got the same bytes\n");
		return 1;
	}
	distinct = rng_distinct(buf[3], got[3]);
	rt_printf("rng: %u bytes in %u requests, %u distinct byte values\n", total, RNG_NREQ,
		  distinct);
	/* 4 KiB of random bytes miss almost no value; 200 leaves a wide margin. */
	return got[3] >= 4096 && distinct < 200 ? 1 : 0;
}
