/* virtio-vsock (device id 19) emulated in the VMM, with Firecracker's
 * hybrid vsock on the host side:
 * - the VMM listens on the Unix socket uds_path; a host process connects,
 *   writes "CONNECT <port>\n", and reads "OK <hostport>\n" once the guest
 *   accepts (or sees the socket closed if the guest refuses or times out);
 * - a guest connection to CID 2 port P is bridged to the Unix socket
 *   "<uds_path>_<P>"; if nothing listens there the guest gets a reset.
 * Stream sockets only, with credit-based flow control: a slow host reader
 * stalls only its own connection (the guest runs out of credit), and every
 * per-connection buffer is bounded.
 *
 * All host-side work runs on the loop thread (env->loop is required). */
#ifndef AGENTVM_VMM_DEVICES_VSOCK_H
#define AGENTVM_VMM_DEVICES_VSOCK_H

#include <stdint.h>

#include "vmm/devices/virtio_mmio.h"

#define VSOCK_DEVICE_ID 19

struct vsock_config {
	uint64_t guest_cid;	     /* >= 3 */
	const char *uds_path;	     /* where host processes connect */
	uint32_t connect_timeout_ms; /* host-initiated connect; 0: 5000 */
};

/* Guest-visible device state beyond the transport (for snapshots). */
struct vsock_state {
	uint64_t guest_cid;
};

struct vsock;

/* Create the device and its transport at env->base and start listening
 * on cfg->uds_path (a stale socket file there is replaced). Call before
 * env->loop runs or on its thread. Returns 0 or -errno (logged). */
int vsock_new(const struct virtio_mmio_env *env, const struct vsock_config *cfg,
	      struct vsock **out);
/* Close every connection and the listening socket (removing its file);
 * NULL-safe. Call on the loop thread or once the loop no longer runs, and
 * see virtio_mmio_free(). */
void vsock_free(struct vsock *v);
struct virtio_mmio *vsock_transport(struct vsock *v);
void vsock_get_state(struct vsock *v, struct vsock_state *st);

/* On the loop thread: drop every connection (host sockets are closed) and
 * post VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue, so the guest
 * drops its side too (used around snapshots). Returns 0, or -EAGAIN if the
 * guest had no event buffer posted (connections are dropped anyway). */
int vsock_transport_reset(struct vsock *v);

/* Number of live connections (including ones owing the guest a reset). */
unsigned int vsock_connection_count(struct vsock *v);

#endif
