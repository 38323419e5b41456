/* The libvirt domain XML of one sandbox: a transient KVM domain (or a QEMU
 * TCG one, for testing on hosts whose KVM cannot run guest user space) that
 * boots our guest kernel directly (the "pci" variant, images/kernel/
 * build-variant.sh), with the image as a read-only virtio disk, CPU
 * and memory quotas (cputune, memtune), no network interface, and the agent
 * channel (vhost-vsock, or a virtio-serial port backed by a host Unix socket).
 * Pure string building: no libvirt calls, so it is unit-tested anywhere. */
#ifndef AGENTVM_HOST_LIBVIRT_XML_H
#define AGENTVM_HOST_LIBVIRT_XML_H

#include <stddef.h>
#include <stdint.h>

/* The virtio-serial port of the agent channel: its name, and the path the
 * agent is given. udev links a named port as /dev/virtio-ports/<name>; in a
 * guest without udev the agent finds the port whose
 * /sys/class/virtio-ports/<node>/name holds the name and opens /dev/<node>
 * (guest-agent/agent_serial.h), so nothing depends on device numbering. The
 * XML still pins the virtio-serial controller to PCI slot 3 and the disk to
 * slot 4, which keeps the guest's device order stable: the controller is
 * virtio0 and the channel its port 1, /dev/vport0p1 (LIBVIRT_XML_PINNED_PORT). */
#define LIBVIRT_XML_CHANNEL	"org.agentvm.0"
#define LIBVIRT_XML_GUEST_PORT	"/dev/virtio-ports/" LIBVIRT_XML_CHANNEL
#define LIBVIRT_XML_PINNED_PORT "/dev/vport0p1"
#define LIBVIRT_XML_SERIAL_SLOT 3
#define LIBVIRT_XML_DISK_SLOT	4
/* What QEMU needs beyond guest RAM, added to memtune's hard_limit. */
#define LIBVIRT_XML_MEM_OVERHEAD (256ull << 20)
#define LIBVIRT_XML_CPU_PERIOD	 100000u

enum libvirt_xml_channel { LIBVIRT_XML_SERIAL, LIBVIRT_XML_VSOCK };

struct libvirt_xml_config {
	const char *name;     /* domain name; escaped, never trusted */
	const char *kernel;   /* host path of vmlinux/bzImage */
	const char *initrd;   /* optional */
	const char *cmdline;  /* optional kernel command line */
	const char *disk;     /* optional read-only image (rootfs.erofs) */
	const char *console;  /* optional file for the serial console */
	const char *machine;  /* QEMU machine type; NULL: "pc" */
	const char *emulator; /* optional QEMU binary */
	/* "kvm" (NULL: the default; the host's CPU passed through) or "qemu"
	 * (QEMU's TCG: everything emulated, QEMU's default CPU model). */
	const char *virt_type;
	enum libvirt_xml_channel channel;
	const char *channel_path; /* LIBVIRT_XML_SERIAL: host socket QEMU binds;
				   * NULL: libvirt picks one under its state dir */
	uint64_t mem_bytes;	  /* guest RAM, > 0 */
	uint32_t cpu_millis;	  /* total CPU; vCPUs = ceil(cpu_millis/1000) */
	/* Leave memtune out: the caller sets the hard limit on the live domain.
	 * libvirt 9 also raises QEMU's RLIMIT_MEMLOCK to an XML hard_limit,
	 * which a host without CAP_SYS_RESOURCE refuses. */
	int memtune_live;
	/* QEMU's user:group ("+0:+0") instead of libvirt's default, with no
	 * relabelling; for hosts whose /dev/kvm only root may open. NULL: default. */
	const char *run_as;
};

/* memtune's hard_limit for mem_bytes of guest RAM, in KiB. */
uint64_t libvirt_xml_hard_limit_kib(uint64_t mem_bytes);

/* The number of vCPUs cpu_millis asks for (at least 1). */
unsigned libvirt_xml_vcpus(uint32_t cpu_millis);

/* Append s to buf (size len, at offset *pos) with & < > ' " escaped. Returns 0,
 * -ENOSPC if it does not fit, or -EINVAL for control characters other than
 * tab (libvirt rejects them, and a path or name holding one is an error). */
int libvirt_xml_escape(char *buf, size_t len, size_t *pos, const char *s);

/* Is t a domain type the XML supports ("kvm", "qemu"; NULL counts as kvm)? */
int libvirt_xml_virt_type_valid(const char *t);

/* Build the domain XML into a new string (*out, caller frees). -EINVAL for a
 * missing name/kernel, zero memory, a control character or an unknown
 * virt_type; -ENOSPC past 64 KiB. */
int libvirt_xml_domain(const struct libvirt_xml_config *cfg, char **out);

#endif
