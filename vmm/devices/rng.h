/* virtio-rng (device id 4): one request queue whose writable buffers are
 * filled with bytes from getrandom(). */
#ifndef AGENTVM_VMM_DEVICES_RNG_H
#define AGENTVM_VMM_DEVICES_RNG_H

#include "vmm/devices/virtio_mmio.h"

#define RNG_DEVICE_ID	  4
#define RNG_MAX_PER_CHAIN 65536 /* bytes given per request, at most */

struct rng;

/* Create the device and its transport at env->base. Returns 0 or -errno. */
int rng_new(const struct virtio_mmio_env *env, struct rng **out);
/* NULL-safe; see virtio_mmio_free() for when it may be called. */
void rng_free(struct rng *rng);
struct virtio_mmio *rng_transport(struct rng *rng);

#endif
