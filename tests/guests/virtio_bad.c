/* virtio_bad: a guest that attacks its own virtio devices, to show that a
 * hostile driver breaks only the device it attacks. Needs a writable
 * --drive and --rng. For each attack on a victim device it checks that
 *   - the victim sets NEEDS_RESET (0x40) in its Status and completes nothing
 *     more,
 *   - the other device keeps working (the VMM kept running),
 *   - after a reset (Status 0) and a fresh set-up the victim works again.
 * Prints one line per attack and "virtio_bad: <n> attacks contained".
 *   exit 0: all contained; 1: a failure (printed); 2: a device is missing. */
#include "gblk.h"
#include "gvirtio.h"
#include "rt.h"

#define BAD_WAIT_MS   2000
#define BAD_FAR_ADDR  0x0000100000000000ull /* 16 TiB: beyond any test guest's memory */
#define VIRTQ_F_INDIR 4

static struct gblk blk;
static struct gvirtio_dev rng_dev;
static struct gvirtq rng_q;
static uint8_t *rng_buf, *scratch;

static int bad_rng_setup(void)
{
	gvirtio_reset(&rng_dev);
	if (gvirtio_start(&rng_dev, 0) < 0 || gvirtq_init(&rng_q, &rng_dev, 0, 16) < 0)
		return -1;
	gvirtio_driver_ok(&rng_dev);
	return 0;
}

static int bad_rng_works(void)
{
	struct gvirtq_buf b = { .addr = rng_buf, .len = 32, .write = true };
	uint64_t token;
	uint32_t len;

	if (gvirtq_add(&rng_q, &b, 1, 7) < 0)
		return 0;
	gvirtq_kick(&rng_q);
	return gvirtq_wait(&rng_q, &token, &len, BAD_WAIT_MS) == 1 && token == 7 && len > 0;
}

static int bad_blk_setup(void)
{
	struct gvirtio_dev d = blk.dev;

	gvirtio_reset(&d);
	return gblk_init(&blk, &d);
}

static int bad_blk_works(void)
{
	return gblk_io(&blk, GBLK_T_IN, 0, scratch, GBLK_SECTOR) == GBLK_S_OK;
}

struct bad_dev {
	const char *name;
	struct gvirtio_dev *dev;
	struct gvirtq *q;
	int (*setup)(void);
	int (*works)(void);
};

static struct bad_dev bad_blk = { "blk", &blk.dev, &blk.q, bad_blk_setup, bad_blk_works };
static struct bad_dev bad_rng = { "rng", &rng_dev, &rng_q, bad_rng_setup, bad_rng_works };

/* ---- the attacks: each leaves something hostile for the device to find ---- */
static void bad_post(struct gvirtq *q, uint16_t head)
{
	gvirtq_post_raw(q, head);
	gvirtq_kick(q);
}

static void bad_loop(struct bad_dev *v)
{
	struct gvirtq_desc *d = v->q->desc;

	/* Both writable, so that only the cycle is wrong with the chain. */
	d[0] = (struct gvirtq_desc){ (uint64_t)scratch, 16,
				     GVIRTQ_DESC_F_NEXT | GVIRTQ_DESC_F_WRITE, 1 };
	d[1] = (struct gvirtq_desc){ (uint64_t)scratch + 16, 16,
				     GVIRTQ_DESC_F_NEXT | GVIRTQ_DESC_F_WRITE, 0 };
	bad_post(v->q, 0);
}

static void bad_far_address(struct bad_dev *v)
{
	v->q->desc[0] = (struct gvirtq_desc){ BAD_FAR_ADDR, 512, GVIRTQ_DESC_F_WRITE, 0 };
	bad_post(v->q, 0);
}

static void bad_wrapping_buffer(struct bad_dev *v)
{
	v->q->desc[0] =
		(struct gvirtq_desc){ 0xfffffffffffff000ull, 0x2000, GVIRTQ_DESC_F_WRITE, 0 };
	bad_post(v->q, 0);
}

static void bad_next_out_of_range(struct bad_dev *v)
{
	v->q->desc[0] = (struct gvirtq_desc){ (uint64_t)scratch, 16, GVIRTQ_DESC_F_NEXT,
					      (uint16_t)(v->q->num + 5) };
	bad_post(v->q, 0);
}

static void bad_head_out_of_range(struct bad_dev *v)
{
	bad_post(v->q, (uint16_t)(v->q->num + 3));
}

static void bad_avail_jump(struct bad_dev *v)
{
	v->q->avail_idx = (uint16_t)(v->q->avail_idx + 1000);
	__atomic_store_n(&v->q->avail[1], v->q->avail_idx, __ATOMIC_RELEASE);
	gvirtq_kick(v->q);
}

static void bad_indirect(struct bad_dev *v)
{
	/* VIRTIO_RING_F_INDIRECT_DESC was not negotiated. */
	v->q->desc[0] = (struct gvirtq_desc){ (uint64_t)scratch, 64, VIRTQ_F_INDIR, 0 };
	bad_post(v->q, 0);
}

/* Reset the device and enable queue 0 with its rings outside guest memory. */
static void bad_rings_outside(struct bad_dev *v)
{
	struct gvirtio_dev *d = v->dev;

	gvirtio_reset(d);
	if (gvirtio_start(d, 0) < 0)
		return;
	gvirtio_write(d, GVIRTIO_QUEUE_SEL, 0);
	gvirtio_write(d, GVIRTIO_QUEUE_NUM, 16);
	gvirtio_write(d, GVIRTIO_QUEUE_DESC_LO, 0);
	gvirtio_write(d, GVIRTIO_QUEUE_DESC_HI, (uint32_t)(BAD_FAR_ADDR >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_AVAIL_LO, 0x1000);
	gvirtio_write(d, GVIRTIO_QUEUE_AVAIL_HI, (uint32_t)(BAD_FAR_ADDR >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_USED_LO, 0x2000);
	gvirtio_write(d, GVIRTIO_QUEUE_USED_HI, (uint32_t)(BAD_FAR_ADDR >> 32));
	gvirtio_write(d, GVIRTIO_QUEUE_READY, 1);
}

struct bad_attack {
	const char *name;
	void (*run)(struct bad_dev *v);
	bool queue_live; /* the victim's queue is set up and used before the attack */
};

static const struct bad_attack bad_attacks[] = {
	{ "descriptor loop", bad_loop, true },
	{ "buffer outside guest memory", bad_far_address, true },
	{ "buffer wrapping the address space", bad_wrapping_buffer, true },
	{ "next index out of range", bad_next_out_of_range, true },
	{ "head index out of range", bad_head_out_of_range, true },
	{ "available index 1000 ahead", bad_avail_jump, true },
	{ "indirect descriptor not negotiated", bad_indirect, true },
	{ "rings outside guest memory", bad_rings_outside, false },
};

static bool bad_wait_needs_reset(struct bad_dev *v)
{
	uint64_t start = rt_rdtsc(), limit = rt_ms_to_tsc(BAD_WAIT_MS);

	while (rt_rdtsc() - start < limit) {
		if (gvirtio_status(v->dev) & GVIRTIO_S_NEEDS_RESET)
			return true;
		for (int i = 0; i < 1000; i++)
			rt_pause();
	}
	return false;
}

static int bad_one(const struct bad_attack *a, struct bad_dev *v, struct bad_dev *other)
{
	uint16_t used_before;

	if (!v->works()) {
		rt_printf("virtio_bad: %s does not work before the attack\n", v->name);
		return 1;
	}
	used_before = *(volatile uint16_t *)(v->q->used + 2);
	a->run(v);
	if (!bad_wait_needs_reset(v)) {
		rt_printf("virtio_bad: %s on %s: no NEEDS_RESET within %u ms (status %x)\n",
			  a->name, v->name, BAD_WAIT_MS, gvirtio_status(v->dev));
		return 1;
	}
	if (a->queue_live) {
		if (*(volatile uint16_t *)(v->q->used + 2) != used_before) {
			rt_printf("virtio_bad: %s on %s: the device completed the bad chain\n",
				  a->name, v->name);
			return 1;
		}
		/* Broken means broken: a good request now gets no answer. */
		if (v == &bad_rng) {
			struct gvirtq_buf b = { .addr = rng_buf, .len = 8, .write = true };
			uint64_t t;
			uint32_t l;

			if (gvirtq_add(v->q, &b, 1, 9) >= 0) {
				gvirtq_kick(v->q);
				if (gvirtq_wait(v->q, &t, &l, 100) != 0) {
					rt_printf("virtio_bad: %s on rng: a broken device still "
						  "answers\n",
						  a->name);
					return 1;
				}
			}
		}
	}
	if (!other->works()) {
		rt_printf("virtio_bad: %s on %s: %s stopped working too\n", a->name, v->name,
			  other->name);
		return 1;
	}
	if (v->setup() < 0 || !v->works()) {
		rt_printf("virtio_bad: %s on %s: it does not work after a reset\n", a->name,
			  v->name);
		return 1;
	}
	rt_printf("virtio_bad: %s on %s: NEEDS_RESET, %s still works, %s works again after "
		  "a reset\n",
		  a->name, v->name, other->name, v->name);
	return 0;
}

int guest_main(uint64_t cpu)
{
	struct gvirtio_dev d;
	unsigned int n = 0;

	(void)cpu;
	if (gvirtio_find(GVIRTIO_ID_BLK, 0, &d) < 0 ||
	    gvirtio_find(GVIRTIO_ID_RNG, 0, &rng_dev) < 0) {
		rt_puts("virtio_bad: needs a virtio-blk (--drive) and a virtio-rng (--rng)\n");
		return 2;
	}
	scratch = rt_alloc(4096, 4096);
	rng_buf = rt_alloc(64, 64);
	if (!scratch || !rng_buf || gblk_init(&blk, &d) < 0 || bad_rng_setup() < 0)
		return 1;
	if (blk.ro) {
		rt_puts("virtio_bad: the drive must be writable\n");
		return 2;
	}
	for (unsigned int i = 0; i < sizeof(bad_attacks) / sizeof(bad_attacks[0]); i++) {
		if (bad_one(&bad_attacks[i], &bad_blk, &bad_rng))
			return 1;
		n++;
	}
	/* And the other way round. */
	for (unsigned int i = 0; i < 2; i++) {
		if (bad_one(&bad_attacks[i], &bad_rng, &bad_blk))
			return 1;
		n++;
	}
	rt_printf("virtio_bad: %u attacks contained\n", n);
	return 0;
}
