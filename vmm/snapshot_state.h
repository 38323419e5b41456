/* The snapshot state file: everything about a VM but its memory, as a
 * flattened device tree (libfdt), so `dtc -I dtb -O dts` prints it.
 *
 *   / { format = "agentvm-snapshot"; checksum = [sha-256];
 *       vm { format-version, layout, memory-size, memory-slots, vcpu-count,
 *            tsc-khz, memory-file };
 *       vcpus { cpu@N { cpuid, regs, sregs, xsave | fpu, xcrs, lapic,
 *                       msrs, mp-state, events, debugregs } };
 *       irqchip { pic-master, pic-slave, ioapic };
 *       pit { state }; clock { state };
 *       devices { serial@3f8 {...}; vsock@d0000000 { ...; queue@0 {...} }; ... } }
 *
 * KVM structures are stored as byte strings of exactly their size (this
 * host's layout, little-endian); scalars as big-endian cells; MSRs as
 * <index data-high data-low> triplets. The checksum is the SHA-256 of the
 * whole blob with the checksum's own 32 bytes zeroed.
 *
 * This module only converts between the blob and struct snapshot_state,
 * validating every field it reads; it never touches KVM. */
#ifndef AGENTVM_VMM_SNAPSHOT_STATE_H
#define AGENTVM_VMM_SNAPSHOT_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/devices/serial.h"
#include "vmm/devices/virtio_mmio.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_LAYOUT		"x86_64-ram-below-3g-then-4g"
#define SNAPSHOT_MAX_VCPUS	64
#define SNAPSHOT_MAX_MSRS	256
#define SNAPSHOT_MAX_CPUID	256
#define SNAPSHOT_MAX_DEVICES	17 /* the serial port and 16 virtio devices */
#define SNAPSHOT_PATH_MAX	4096
#define SNAPSHOT_MAX_BLOB	(16u << 20) /* a state file is far smaller */

struct snapshot_vcpu {
	uint32_t ncpuid; /* the CPUID entries the vCPU was given */
	struct kvm_cpuid_entry2 cpuid[SNAPSHOT_MAX_CPUID];
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int has_xsave; /* xsave (struct kvm_xsave's region), else fpu */
	uint32_t xsave[1024];
	struct kvm_fpu fpu;
	int has_xcrs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[SNAPSHOT_MAX_MSRS];
	struct kvm_mp_state mp_state;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
};

enum snapshot_device_kind {
	SNAPSHOT_DEV_SERIAL,
	SNAPSHOT_DEV_VSOCK,
	SNAPSHOT_DEV_RNG,
	SNAPSHOT_DEV_BLK,
};

struct snapshot_device {
	enum snapshot_device_kind kind;
	uint64_t base; /* I/O port (serial) or MMIO address */
	uint32_t gsi;
	struct serial_state serial;	    /* serial */
	struct virtio_mmio_state transport; /* virtio devices */
	uint64_t cid;			    /* vsock */
	char path[SNAPSHOT_PATH_MAX];	    /* blk image, vsock socket */
	uint64_t capacity;		    /* blk, in 512-byte sectors */
	int readonly;			    /* blk */
	char id[24];			    /* blk GET_ID ("" for the default) */
};

struct snapshot_state {
	uint32_t version;
	uint64_t mem_size;
	uint32_t tsc_khz; /* 0: unknown */
	char memory_file[SNAPSHOT_PATH_MAX];
	uint32_t ncpus;
	struct snapshot_vcpu *vcpus; /* ncpus of them */
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int ndevices;
	struct snapshot_device devices[SNAPSHOT_MAX_DEVICES];
};

/* A zeroed state with room for ncpus vCPUs (1..SNAPSHOT_MAX_VCPUS). */
int snapshot_state_new(uint32_t ncpus, struct snapshot_state **out);
/* NULL-safe. */
void snapshot_state_free(struct snapshot_state *st);

/* Serialise st into a new blob (free() it) carrying its checksum. */
int snapshot_state_write(const struct snapshot_state *st, void **blob, size_t *len);
/* Check the blob (size, structure, checksum unless skip_checksum, version,
 * every property's size and range) and convert it. Returns 0, or -EINVAL /
 * -EBADMSG (checksum) / -EPROTONOSUPPORT (version) / -ENOMEM with err
 * naming the first problem. */
int snapshot_state_read(const void *blob, size_t len, int skip_checksum,
			struct snapshot_state **out, char *err, size_t errlen);
/* Recompute the checksum of a blob in place (tools, tests, fuzzing). Returns
 * 0, or -EINVAL if the blob has no well-formed checksum property. */
int snapshot_state_reseal(void *blob, size_t len);

/* The memory slots (gpa, size, file offset) of a guest with mem_size bytes
 * of RAM; returns how many (1 or 2). Shared with vmm/memory.c's layout. */
int snapshot_state_slots(uint64_t mem_size, uint64_t slots[2][3]);

#endif
