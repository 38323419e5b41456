/* The VM: KVM, guest memory, the port-I/O and MMIO buses, the event loop,
 * the vCPUs and the core devices (COM1 serial, i8042, test exit port, the
 * legacy PC ports Linux pokes). Devices added by others take what they need
 * from here: vm->mem, vm->pio, vm->mmio, vm->loop, vm_irq_line() and
 * vm_ioeventfd(); they never see a KVM fd.
 *
 * Life cycle: vm_new() -> boot_load(vm->mem, ...) -> vm_set_entry() ->
 * add devices -> vm_run() -> vm_free(). */
#ifndef AGENTVM_VMM_VM_H
#define AGENTVM_VMM_VM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/boot.h"
#include "vmm/bus.h"
#include "vmm/devices/virtio_mmio.h"
#include "vmm/irq.h"
#include "vmm/kvm.h"
#include "vmm/loop.h"
#include "vmm/memory.h"
#include "vmm/vcpu.h"

#define VM_MAX_VCPUS  64
#define VM_MAX_VIRTIO 16 /* virtio-mmio slots: GSIs 5..20 */

struct serial;
struct i8042;
struct debug_exit;
struct kvm_cpuid2;

struct vm_config {
	uint64_t mem_size; /* bytes, a non-zero multiple of 4 KiB */
	int has_mem_file;  /* RAM is mem_file_fd (mem_size bytes) mapped private */
	int mem_file_fd;   /* not owned */
	/* Restore: vCPU i gets exactly cpuids[i] (KVM's supported set is not
	 * read, nor are boot MSRs set); NULL: built from the supported set. */
	const struct kvm_cpuid2 *const *cpuids;
	int ncpus;	   /* 1..VM_MAX_VCPUS (and at most what KVM allows) */
	int serial_out_fd; /* COM1 output; -1 discards it. Not owned. */
	int serial_in_fd;  /* COM1 input through the loop; -1 for none. Not owned. */
};

enum vm_virtio_kind {
	VM_VIRTIO_VSOCK,
	VM_VIRTIO_RNG,
	VM_VIRTIO_BLK,
};

/* A virtio device in slot index (virtio_mmio_slot()), with what backs it on
 * the host (recorded in snapshots). */
struct vm_virtio {
	enum vm_virtio_kind kind;
	char name[16]; /* "vsock", "rng", "blk0", ... */
	uint64_t base;
	uint32_t gsi;
	struct irq_line irq;
	struct virtio_mmio *transport;
	void *dev;    /* struct vsock, struct rng or struct blk */
	char *path;   /* blk: the image; vsock: the Unix socket */
	int readonly; /* blk */
	char *id;     /* blk: GET_ID answer, or NULL */
	uint64_t cid; /* vsock */
};

struct vm {
	struct kvm *kvm;
	struct memory *mem;
	struct bus pio;
	struct bus mmio;
	struct loop *loop;
	int ncpus;
	struct vcpu *vcpus[VM_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid; /* KVM's supported CPUID */
	struct vcpu_env env;

	struct serial *serial;
	struct i8042 *i8042;
	struct debug_exit *debug_exit;

	struct vm_virtio virtio[VM_MAX_VIRTIO];
	int nvirtio;
	struct virtio_mmio_hooks hooks;
	int paused; /* vm_pause() parked every vCPU; loop thread only */

	int *fds; /* eventfds made for irq lines and ioeventfds; closed by vm_free */
	int nfds, fds_cap;

	atomic_int ended;
	int exit_code;
};

/* A guest write that an ioeventfd catches without leaving KVM. */
struct vm_ioevent {
	int mmio; /* 1: MMIO address; 0: I/O port */
	uint64_t addr;
	uint32_t len;  /* 1, 2, 4 or 8 (MMIO also 0: any length) */
	int datamatch; /* 1: only writes of value */
	uint64_t value;
};

/* Open KVM, create guest memory, the VM, the vCPUs (CPUID, MSRs set) and the
 * core devices. On failure err holds one line saying why. */
int vm_new(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
/* Stop and join any vCPU threads, then free everything; NULL-safe. */
void vm_free(struct vm *vm);

/* Set the vCPUs' entry state from what boot_load() returned. */
int vm_set_entry(struct vm *vm, const struct boot_entry *entry);
/* The guest TSC frequency in kHz. */
int vm_get_tsc_khz(struct vm *vm, uint32_t *khz);

/* An interrupt line on gsi: a new eventfd bound with KVM_IRQFD. The VM owns
 * the fd. */
int vm_irq_line(struct vm *vm, uint32_t gsi, struct irq_line *out);
/* A new eventfd (EFD_NONBLOCK) that KVM signals on the write described by
 * ev; register it with vm->loop to handle it. The VM owns the fd. */
int vm_ioeventfd(struct vm *vm, const struct vm_ioevent *ev, int *efd);

/* Add a virtio device in the next free slot (vsock, then rng, then drives,
 * is the order the command line uses). On failure err says why, or is ""
 * when the device has logged it. */
int vm_add_vsock(struct vm *vm, uint64_t cid, const char *uds, char *err, size_t errlen);
int vm_add_rng(struct vm *vm, char *err, size_t errlen);
int vm_add_blk(struct vm *vm, const char *path, int readonly, const char *id, char *err,
	       size_t errlen);
/* cmdline with a "virtio_mmio.device=" word appended per virtio device, in
 * a new string (free() it). */
int vm_virtio_cmdline(const struct vm *vm, const char *cmdline, char **out);

/* Start the vCPUs, run the event loop until the VM ends, then stop and join
 * the vCPUs. Returns the process exit code (see vcpu.h). With start_paused
 * the vCPUs park before their first instruction (vm_resume() starts them). */
int vm_run(struct vm *vm, int start_paused);
/* On the loop thread: park every vCPU outside KVM_RUN with its state
 * consistent (see vcpu_request_pause). Idempotent. Returns 0, or -ETIMEDOUT
 * (the VM is then resumed). */
int vm_pause(struct vm *vm);
/* Undo vm_pause(). Idempotent. */
void vm_resume(struct vm *vm);
/* End the VM with exit code; the first call wins. Safe from any thread. */
void vm_end(struct vm *vm, int code);

/* KVM destroys a VM synchronously when its last fd closes, and with the
 * in-kernel irqchip and PIT that takes 15-25 ms on some hosts (a grace
 * period per device it unregisters). Call after vm_run() when the process is
 * about to exit: a child takes copies of the VM's fds, and waits for *keep_fd
 * to close, which must happen only at process exit. vm_free() is then cheap
 * and the exit status is not held up; the child pays for the teardown. */
int vm_defer_teardown(struct vm *vm, int *keep_fd);

#endif
