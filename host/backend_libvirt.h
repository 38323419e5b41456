/* The libvirt backend: sandboxes as transient KVM domains on a fleet of
 * libvirt hosts (qemu:///system here, qemu+ssh://host/system across a fleet).
 * A fleet holds one connection per host of a host list (host/libvirt_sched.h),
 * watches each with keepalive and a close callback (a lost host is marked
 * down; its domains' exit fds fire; other hosts are untouched), and places
 * each domain with the scheduler. Save and restore to a file on the domain's
 * host serve as snapshot and reset. docs/SCALING.md has the fleet picture.
 *
 * Configuration of the backend's default fleet (backend_libvirt_ops):
 *   AGENTVM_LIBVIRT_HOSTS   host list file; unset: one host,
 *   AGENTVM_LIBVIRT_URI     (default qemu:///system) sized from this machine
 *   AGENTVM_LIBVIRT_KERNEL  the guest kernel; default: the bzImage of the pci
 *                           variant (images/kernel/build-variant.sh pci --dir)
 *   AGENTVM_LIBVIRT_VIRT_TYPE kvm (default) or qemu (TCG) for the one-host
 *                           fleet; a host list says it per host ("virt_type")
 *   AGENTVM_LIBVIRT_CMDLINE extra kernel command line
 *   AGENTVM_LIBVIRT_SAVE_DIR where a sandbox's snapshot is saved on its host,
 *                           for sandboxes with snapshots (default
 *                           /var/lib/libvirt/qemu/save)
 *   AGENTVM_LIBVIRT_CONSOLE_DIR where each domain's serial console is written,
 *                           as <dir>/agentvm-<name>.console (default: none)
 *   AGENTVM_LIBVIRT_RUN_AS  QEMU's user:group, e.g. +0:+0 where /dev/kvm is
 *                           root's alone (no udev rule giving it to "kvm")
 * QEMU runs as libvirt's user: the kernel and image must be readable by it. */
#ifndef AGENTVM_HOST_BACKEND_LIBVIRT_H
#define AGENTVM_HOST_BACKEND_LIBVIRT_H

#include <stddef.h>
#include <stdint.h>

struct backend_ops;
struct libvirt_sched;
struct libvirt_fleet;
struct libvirt_domain;

#define LIBVIRT_DOMAIN_PREFIX	 "agentvm-"
#define LIBVIRT_AGENT_VSOCK_PORT 1024

/* The backend "libvirt" (host/backend_libvirt_ops.c). */
extern const struct backend_ops backend_libvirt_ops;

/* Is libvirt's C library built in? (0 when built without libvirt-dev.) */
int libvirt_available(void);

/* Open a connection to every host of s (the fleet takes s). A host that
 * cannot be reached is marked down, not an error; -EHOSTDOWN if none can. */
int libvirt_fleet_open(struct libvirt_sched *s, struct libvirt_fleet **out);
/* Close every connection. Domains still alive must be freed first. NULL-safe. */
void libvirt_fleet_free(struct libvirt_fleet *f);
struct libvirt_sched *libvirt_fleet_sched(struct libvirt_fleet *f);
/* Destroy the domain of sandbox name (agentvm-<name>) on every up host of f,
 * one this process does not hold (left by a run that crashed). 0 if one was
 * found, -ESRCH if none. */
int libvirt_fleet_remove_domain(struct libvirt_fleet *f, const char *name);

struct libvirt_domain_config {
	const char *name;    /* sandbox name; the domain is agentvm-<name> */
	const char *kernel;  /* guest kernel on the host */
	const char *initrd;  /* optional */
	const char *cmdline; /* optional */
	const char *disk;    /* optional read-only image */
	const char *console; /* optional serial console file */
	uint64_t mem_bytes;  /* guest RAM */
	uint32_t cpu_millis; /* total CPU */
	const char *run_as;  /* optional QEMU user:group (host/libvirt_xml.h) */
};

/* Place, build the XML (host/libvirt_xml.h) and start a transient domain.
 * -ENOSPC/-EHOSTDOWN from the scheduler, -EIO if libvirt refused (logged). */
int libvirt_domain_start(struct libvirt_fleet *f, const struct libvirt_domain_config *cfg,
			 struct libvirt_domain **out);
/* Destroy the domain (if running), give back its capacity, free d. NULL-safe. */
void libvirt_domain_free(struct libvirt_domain *d);

struct libvirt_domain_info {
	int state;	      /* virDomainState: 1 running, 3 paused, 5 shutoff */
	unsigned vcpus;	      /* vCPUs */
	uint64_t mem_bytes;   /* current guest memory */
	uint64_t cpu_time_ns; /* CPU used */
};
/* virDomainGetInfo. -ESRCH if the domain is gone, -EHOSTDOWN if its host is. */
int libvirt_domain_info(struct libvirt_domain *d, struct libvirt_domain_info *out);
/* The live domain XML (caller frees). */
int libvirt_domain_xml(struct libvirt_domain *d, char **out);
/* The index of the domain's host in the fleet's scheduler. */
size_t libvirt_domain_host(const struct libvirt_domain *d);
const char *libvirt_domain_name(const struct libvirt_domain *d);
/* Save the running domain's whole state to path (on its host); the domain
 * stops. The snapshot of a sandbox. */
int libvirt_domain_save(struct libvirt_domain *d, const char *path);
/* Start the domain again from a file written by save (the reset). A running
 * domain is destroyed first. */
int libvirt_domain_restore(struct libvirt_domain *d, const char *path);
/* Stop the running domain's vCPUs (virDomainSuspend), and run them again. */
int libvirt_domain_suspend(struct libvirt_domain *d);
int libvirt_domain_resume(struct libvirt_domain *d);
/* Destroy the domain now (it can be restored later). */
int libvirt_domain_stop(struct libvirt_domain *d);
/* Is the domain's host this machine (its sockets and files are ours)? */
int libvirt_domain_is_local(const struct libvirt_domain *d);
/* A new stream to the agent: the virtio-serial channel's host socket (one
 * client at a time), or vsock port 1024 of the domain's CID. -EREMOTE for a
 * domain on another machine. */
int libvirt_domain_connect(struct libvirt_domain *d, int *fd);
/* Readable once the domain stopped or its host was lost. Owned by d. */
int libvirt_domain_exit_fd(struct libvirt_domain *d);
/* The host socket of the agent channel ("" for vsock). */
const char *libvirt_domain_channel(const struct libvirt_domain *d);

/* Can uri be reached? 0, or -errno with one line (libvirt's version or the
 * reason) in why. */
int libvirt_probe_uri(const char *uri, char *why, size_t len);

/* The kernel command line for a sandbox booting an image (root on the
 * read-only erofs disk) whose /sbin/init is the agent, listening on the
 * virtio-serial port by name (LIBVIRT_XML_GUEST_PORT) and on vsock; extra is appended
 * before init's arguments (may be NULL). */
int libvirt_cmdline(const char *extra, char *out, size_t len);

#endif
