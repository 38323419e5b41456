/* The libvirt fleet's host list and scheduler. The list is JSON:
 *   [{"uri": "qemu+ssh://kvm1/system", "capacity": {"vcpus": 32, "mem": "128G"}}, ...]
 * (mem: bytes, or a string with a K/M/G/T binary suffix; an optional
 * "virt_type": "kvm" (default) or "qemu", QEMU's TCG, for test hosts whose
 * KVM cannot run guest user space). Sandboxes are
 * placed on the up host with the most room left; a host that libvirt loses is
 * marked down and gets nothing new, and the other hosts are untouched.
 * Thread-safe: the down mark comes from libvirt's event thread. */
#ifndef AGENTVM_HOST_LIBVIRT_SCHED_H
#define AGENTVM_HOST_LIBVIRT_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define LIBVIRT_SCHED_MAX_HOSTS 4096
#define LIBVIRT_SCHED_URI_MAX	511

struct libvirt_sched;

/* One host as the scheduler sees it (a copy; see libvirt_sched_host). */
struct libvirt_sched_host {
	char uri[LIBVIRT_SCHED_URI_MAX + 1];
	uint32_t cap_vcpus, used_vcpus;
	uint64_t cap_mem, used_mem;
	unsigned sandboxes;
	int down;
	char virt_type[8]; /* the domains' type: "kvm" or "qemu" */
};

/* Parse a host list (len bytes of JSON). -EINVAL with one line in err (may
 * be NULL) for anything malformed: not an array, no hosts, a bad uri,
 * capacity or virt_type, a duplicate uri. */
int libvirt_sched_parse(const char *json, size_t len, struct libvirt_sched **out, char *err,
			size_t errlen);
/* The same, from a file (at most 1 MiB). */
int libvirt_sched_load(const char *path, struct libvirt_sched **out, char *err, size_t errlen);
/* NULL-safe. */
void libvirt_sched_free(struct libvirt_sched *s);

size_t libvirt_sched_count(const struct libvirt_sched *s);
/* A snapshot of host i; -ERANGE if there is none. */
int libvirt_sched_host(struct libvirt_sched *s, size_t i, struct libvirt_sched_host *out);

/* Reserve vcpus and mem on the best up host; its index in *host. -ENOSPC when
 * no up host has room, -EHOSTDOWN when every host is down. */
int libvirt_sched_place(struct libvirt_sched *s, uint32_t vcpus, uint64_t mem, size_t *host);
/* Give back what place reserved on host (even if it went down since). */
void libvirt_sched_release(struct libvirt_sched *s, size_t host, uint32_t vcpus, uint64_t mem);
/* Mark host down (libvirt lost it) or up again. Returns the previous state
 * (1 down, 0 up) or -ERANGE. */
int libvirt_sched_set_down(struct libvirt_sched *s, size_t host, int down);

/* "128G" / "512M" / "1048576" -> bytes. -EINVAL on junk or overflow. */
int libvirt_sched_parse_size(const char *s, uint64_t *out);

#endif
