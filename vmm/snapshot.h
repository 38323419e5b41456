/* Snapshots of a running VM, restore into a new process, and reset in place.
 *
 * A snapshot is two files: the state (vmm/snapshot_state.h: vCPUs,
 * irqchips, PIT, clock, devices) and the memory (a sparse raw image of
 * guest RAM). Restore maps the memory file MAP_PRIVATE, so pages fault in
 * lazily and are copied on write, and VMs restored from one snapshot share
 * its page cache. Reset maps the same file again over the guest's RAM
 * (MAP_FIXED: the KVM memory slots follow the mapping) and sets the saved
 * state again, in the same process.
 *
 * All calls run on the VM's loop thread (or before vm_run). */
#ifndef AGENTVM_VMM_SNAPSHOT_H
#define AGENTVM_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/snapshot_state.h"
#include "vmm/vm.h"

struct snapshot_counters {
	uint64_t snapshots; /* taken by this process */
	uint64_t resets;    /* in place */
	uint64_t restored;  /* 1 if this process started from a snapshot */
	uint64_t last_snapshot_us, last_reset_us, last_restore_us;
	uint64_t last_memory_bytes; /* data written by the last snapshot */
};

struct snapshot;

/* The snapshot context of vm (not owned; must outlive it). */
int snapshot_new(struct vm *vm, struct snapshot **out);
/* Drop the reset target; NULL-safe. */
void snapshot_free(struct snapshot *s);

/* Read and validate a state file (see snapshot_state_read). */
int snapshot_load(const char *path, struct snapshot_state **out, char *err, size_t errlen);
/* Check that the VM's devices (serial, then its virtio devices in slot
 * order) are those of st: same kinds, addresses and interrupts, the same
 * vsock CID, drives of the same size and read-only flag. */
int snapshot_check_devices(struct vm *vm, const struct snapshot_state *st, char *err,
			   size_t errlen);
/* Set st on the VM, whose vCPUs are parked or not started, whose memory
 * already holds the snapshot's, and whose devices pass
 * snapshot_check_devices(): the PIT, clock and irqchips, every vCPU, then the
 * devices. Queues with work pending are processed afterwards on the loop. */
int snapshot_apply(struct snapshot *s, const struct snapshot_state *st, char *err, size_t errlen);
/* Make (st, mem_fd) what snapshot_reset() returns to; takes both. */
void snapshot_set_target(struct snapshot *s, struct snapshot_state *st, int mem_fd,
			 const char *state_path, const char *mem_path);
/* Note that this process was restored, taking restore_us. */
void snapshot_note_restored(struct snapshot *s, uint64_t restore_us);

/* Save the VM to state_path and mem_path (each written beside, then renamed
 * over), pausing it meanwhile; open vsock connections are closed and the
 * guest told (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). The snapshot becomes the
 * reset target. On failure nothing is left behind and the VM goes on. */
int snapshot_take(struct snapshot *s, const char *state_path, const char *mem_path, char *err,
		  size_t errlen);
/* Put the VM back to its reset target in place. -ENOENT if there is none.
 * A failure half way ends the VM (it never runs half-restored). */
int snapshot_reset(struct snapshot *s, char *err, size_t errlen);

/* Counters and the reset target's paths (NULL when there is none). */
void snapshot_get_counters(const struct snapshot *s, struct snapshot_counters *out);
const char *snapshot_target_state_path(const struct snapshot *s);
const char *snapshot_target_memory_path(const struct snapshot *s);

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t snapshot_now_us(void);

#endif
