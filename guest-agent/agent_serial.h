/* The serial transport: `--listen serial:PATH`, a virtio-serial port
 * (/dev/virtio-ports/org.agentvm.0 in a libvirt guest without vsock) or any
 * character device. A /dev/virtio-ports/NAME path that does not exist (a
 * guest without udev makes no such links) is looked up by NAME in sysfs.
 * The port is one connection carrying the same frames as a socket. It is
 * opened once and kept open; each time the host side connects (the port
 * stops reporting hang-up: seen at once through an edge-triggered watch of
 * the port, else at the next tick) a connection is served on it, and when
 * that connection ends the port waits for the host again. */
#ifndef AGENTVM_GUEST_AGENT_SERIAL_H
#define AGENTVM_GUEST_AGENT_SERIAL_H

#include "guest-agent/agent.h"

#define AGENT_SERIAL_PREFIX  "serial:"
#define AGENT_SERIAL_POLL_MS 100

/* Where a virtio-serial port's name links it with udev: PREFIX<name>. */
#define AGENT_SERIAL_BY_NAME "/dev/virtio-ports/"

/* Find the virtio-serial port called name without udev: the entry E of
 * <root>/sys/class/virtio-ports/ whose "name" file holds name gives
 * <root>/dev/E (e.g. /dev/vport0p1) in out. root is "" on a real system (a
 * fake tree in tests). -ENOENT if no port has that name, -EINVAL for a name
 * that is empty or holds '/', -ENAMETOOLONG if out is too small. */
int agent_serial_find_port(const char *root, const char *name, char *out, size_t len);

/* Serve the port at path (the spec without its "serial:" prefix). A port that
 * does not exist yet is retried. Returns 0 or -errno (bad path, no memory). */
int agent_serial_add(struct agent *a, const char *path);
/* Stop serving a's ports (connections already open stay with the agent). */
void agent_serial_close(struct agent *a);
/* Release a's ports. */
void agent_serial_free(struct agent *a);

#endif
