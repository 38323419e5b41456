#include "vmm/devices/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

struct rng {
	struct virtio_mmio *t;
	struct virtq_chain chain;
};

/* Fill iov with random bytes; returns how many were written. */
static size_t rng_fill(const struct iovec *iov, int n, size_t budget)
{
	size_t done = 0;

	for (int i = 0; i < n && done < budget; i++) {
		size_t want = iov[i].iov_len < budget - done ? iov[i].iov_len : budget - done;
		size_t got = 0;
		while (got < want) {
			ssize_t r = getrandom((char *)iov[i].iov_base + got, want - got, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return done + got;
			}
			got += (size_t)r;
		}
		done += got;
	}
	return done;
}

static void rng_queue_notify(void *dev, uint32_t q)
{
	struct rng *rng = dev;
	struct virtq_chain *c = &rng->chain;

	while (virtio_mmio_pop(rng->t, q, c) > 0) {
		size_t n = rng_fill(c->iov + c->nr, (int)c->nw, RNG_MAX_PER_CHAIN);
		virtio_mmio_push(rng->t, q, c->head, (uint32_t)n);
	}
	virtio_mmio_signal(rng->t, q);
}

static const struct virtio_device_ops rng_ops = {
	.device_id = RNG_DEVICE_ID,
	.num_queues = 1,
	.config_size = 0, /* no config space */
	.queue_notify = rng_queue_notify,
};

int rng_new(const struct virtio_mmio_env *env, struct rng **out)
{
	struct rng *rng = calloc(1, sizeof(*rng));
	int r;

	if (!rng)
		return -ENOMEM;
	r = virtio_mmio_new(env, &rng_ops, rng, &rng->t);
	if (r < 0) {
		free(rng);
		return r;
	}
	*out = rng;
	return 0;
}

void rng_free(struct rng *rng)
{
	if (!rng)
		return;
	virtio_mmio_free(rng->t);
	free(rng);
}

struct virtio_mmio *rng_transport(struct rng *rng)
{
	return rng->t;
}
