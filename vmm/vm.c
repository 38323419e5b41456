#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/debug_exit.h"
#include "vmm/devices/i8042.h"
#include "vmm/devices/rng.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/vsock.h"

/* How long vm_pause() waits for a vCPU to park. */
#define VM_PAUSE_TIMEOUT_MS 5000

/* Legacy PC ports Linux touches that need no device: reads of "zero" ports
 * return 0 (the CMOS/RTC reads as all zeros), reads of "absent" ports return
 * all ones (no UART at COM2-COM4); writes vanish. None of them is logged. */
static void vm_zero_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void vm_absent_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, len);
}

static void vm_ignore_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
}

static const struct bus_ops vm_zero_ops = { .read = vm_zero_read, .write = vm_ignore_write };
static const struct bus_ops vm_absent_ops = { .read = vm_absent_read, .write = vm_ignore_write };

static const struct {
	uint16_t port, len;
	const struct bus_ops *ops;
	const char *name;
} vm_legacy_ports[] = {
	{ 0x70, 2, &vm_zero_ops, "cmos" },     /* RTC/CMOS index and data */
	{ 0x80, 1, &vm_zero_ops, "post" },     /* POST code, Linux's I/O delay */
	{ 0x87, 1, &vm_zero_ops, "dma-page" }, /* DMA page register */
	{ 0xed, 1, &vm_zero_ops, "io-delay" }, /* the other I/O delay port */
	{ 0x2e8, 8, &vm_absent_ops, "com4" },  { 0x2f8, 8, &vm_absent_ops, "com2" },
	{ 0x3e8, 8, &vm_absent_ops, "com3" },
};

static void vm_env_end(void *opaque, int code)
{
	vm_end(opaque, code);
}

static void vm_reset(void *opaque)
{
	log_debug("guest pulsed the i8042 reset line");
	vm_end(opaque, VCPU_EXIT_POWEROFF);
}

void vm_end(struct vm *vm, int code)
{
	int expected = 0;

	if (!atomic_compare_exchange_strong(&vm->ended, &expected, 1))
		return;
	vm->exit_code = code;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			atomic_store(&vm->vcpus[i]->stop, 1);
	loop_stop(vm->loop, code);
}

static int vm_track_fd(struct vm *vm, int fd)
{
	if (vm->nfds == vm->fds_cap) {
		int cap = vm->fds_cap ? vm->fds_cap * 2 : 8;
		int *fds = realloc(vm->fds, (size_t)cap * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		vm->fds = fds;
		vm->fds_cap = cap;
	}
	vm->fds[vm->nfds++] = fd;
	return 0;
}

int vm_irq_line(struct vm *vm, uint32_t gsi, struct irq_line *out)
{
	_cleanup_close_ int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	if (fd < 0)
		return -errno;
	r = kvm_irqfd(vm->kvm, fd, gsi);
	if (r < 0)
		return r;
	r = vm_track_fd(vm, fd);
	if (r < 0)
		return r;
	out->fd = take_fd(&fd);
	out->gsi = gsi;
	return 0;
}

int vm_ioeventfd(struct vm *vm, const struct vm_ioevent *ev, int *efd)
{
	_cleanup_close_ int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	if (fd < 0)
		return -errno;
	r = kvm_ioeventfd(vm->kvm, fd, ev->mmio, ev->addr, ev->len, ev->datamatch, ev->value);
	if (r < 0)
		return r;
	r = vm_track_fd(vm, fd);
	if (r < 0)
		return r;
	*efd = take_fd(&fd);
	return 0;
}

/* The virtio transports' queue notifications, as KVM ioeventfds. */
static int vm_hook_add_ioeventfd(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct vm *vm = ctx;

	return kvm_ioeventfd(vm->kvm, fd, 1, addr, len, 1, datamatch);
}

static int vm_hook_del_ioeventfd(void *ctx, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct vm *vm = ctx;

	return kvm_ioeventfd_del(vm->kvm, fd, 1, addr, len, 1, datamatch);
}

/* The next slot, its interrupt line and environment, for a device called name. */
static int vm_virtio_slot(struct vm *vm, enum vm_virtio_kind kind, const char *name,
			  struct virtio_mmio_env *env, char *err, size_t errlen)
{
	struct vm_virtio *d;
	int r;

	if (vm->nvirtio == VM_MAX_VIRTIO) {
		snprintf(err, errlen, "%s: at most %d virtio devices", name, VM_MAX_VIRTIO);
		return -ENOSPC;
	}
	d = &vm->virtio[vm->nvirtio];
	*d = (struct vm_virtio){ .kind = kind };
	snprintf(d->name, sizeof(d->name), "%s", name);
	virtio_mmio_slot((unsigned int)vm->nvirtio, &d->base, &d->gsi);
	*env = (struct virtio_mmio_env){
		.mem = vm->mem,
		.bus = &vm->mmio,
		.loop = vm->loop,
		.hooks = &vm->hooks,
		.base = d->base,
		.name = d->name,
	};
	r = vm_irq_line(vm, d->gsi, &env->irq);
	if (r < 0)
		snprintf(err, errlen, "%s: KVM_IRQFD for GSI %u: %s", name, d->gsi, strerror(-r));
	d->irq = env->irq;
	return r;
}

int vm_add_vsock(struct vm *vm, uint64_t cid, const char *uds, char *err, size_t errlen)
{
	struct vsock_config cfg = { .guest_cid = cid, .uds_path = uds };
	struct virtio_mmio_env env;
	struct vm_virtio *d = &vm->virtio[vm->nvirtio];
	struct vsock *v;
	int r;

	r = vm_virtio_slot(vm, VM_VIRTIO_VSOCK, "vsock", &env, err, errlen);
	if (r < 0)
		return r;
	d->path = strdup(uds);
	if (!d->path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = vsock_new(&env, &cfg, &v);
	if (r < 0) {
		err[0] = '\0'; /* vsock_new logged why */
		free(d->path);
		return r;
	}
	d->dev = v;
	d->transport = vsock_transport(v);
	d->cid = cid;
	vm->nvirtio++;
	return 0;
}

int vm_add_rng(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_mmio_env env;
	struct vm_virtio *d = &vm->virtio[vm->nvirtio];
	struct rng *rng;
	int r;

	r = vm_virtio_slot(vm, VM_VIRTIO_RNG, "rng", &env, err, errlen);
	if (r < 0)
		return r;
	r = rng_new(&env, &rng);
	if (r < 0) {
		snprintf(err, errlen, "rng: %s", strerror(-r));
		return r;
	}
	d->dev = rng;
	d->transport = rng_transport(rng);
	vm->nvirtio++;
	return 0;
}

int vm_add_blk(struct vm *vm, const char *path, int readonly, const char *id, char *err,
	       size_t errlen)
{
	struct blk_config cfg = { .path = path, .readonly = readonly, .serial = id };
	struct virtio_mmio_env env;
	struct vm_virtio *d = &vm->virtio[vm->nvirtio];
	char name[16];
	struct blk *blk;
	int nblk = 0, r;

	for (int i = 0; i < vm->nvirtio; i++)
		nblk += vm->virtio[i].kind == VM_VIRTIO_BLK;
	snprintf(name, sizeof(name), "blk%d", nblk);
	r = vm_virtio_slot(vm, VM_VIRTIO_BLK, name, &env, err, errlen);
	if (r < 0)
		return r;
	d->path = strdup(path);
	d->id = id ? strdup(id) : NULL;
	if (!d->path || (id && !d->id)) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	r = blk_new(&env, &cfg, &blk);
	if (r < 0) {
		err[0] = '\0'; /* blk_new logged why */
		goto fail;
	}
	d->dev = blk;
	d->transport = blk_transport(blk);
	d->readonly = readonly;
	vm->nvirtio++;
	return 0;
fail:
	free(d->path);
	free(d->id);
	return r;
}

int vm_virtio_cmdline(const struct vm *vm, const char *cmdline, char **out)
{
	size_t cap = strlen(cmdline) + 1 + (size_t)vm->nvirtio * 64, len;
	char *s = malloc(cap);

	if (!s)
		return -ENOMEM;
	len = (size_t)snprintf(s, cap, "%s", cmdline);
	for (int i = 0; i < vm->nvirtio; i++) {
		char word[64];
		int r = virtio_mmio_cmdline(vm->virtio[i].base, vm->virtio[i].gsi, word,
					    sizeof(word));
		if (r < 0) {
			free(s);
			return r;
		}
		len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? " " : "", word);
	}
	*out = s;
	return 0;
}

static void vm_free_virtio(struct vm *vm)
{
	for (int i = vm->nvirtio - 1; i >= 0; i--) {
		struct vm_virtio *d = &vm->virtio[i];
		switch (d->kind) {
		case VM_VIRTIO_VSOCK:
			vsock_free(d->dev);
			break;
		case VM_VIRTIO_RNG:
			rng_free(d->dev);
			break;
		case VM_VIRTIO_BLK:
			blk_free(d->dev);
			break;
		}
		free(d->path);
		free(d->id);
	}
	vm->nvirtio = 0;
}

static int vm_add_devices(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct irq_line com1;
	int r;

	r = vm_irq_line(vm, SERIAL_COM1_IRQ, &com1);
	if (r < 0) {
		snprintf(err, errlen, "KVM_IRQFD for the serial port: %s", strerror(-r));
		return r;
	}
	r = serial_new(cfg->serial_out_fd, &com1, &vm->serial);
	if (r < 0)
		goto nomem;
	r = i8042_new(vm_reset, vm, &vm->i8042);
	if (r < 0)
		goto nomem;
	r = debug_exit_new(vm_env_end, vm, &vm->debug_exit);
	if (r < 0)
		goto nomem;
	if ((r = bus_add(&vm->pio, SERIAL_COM1_BASE, SERIAL_PORT_LEN, &serial_bus_ops, vm->serial,
			 "serial")) < 0 ||
	    (r = bus_add(&vm->pio, I8042_BASE, I8042_PORT_LEN, &i8042_bus_ops, vm->i8042,
			 "i8042")) < 0 ||
	    (r = bus_add(&vm->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_PORT_LEN, &debug_exit_bus_ops,
			 vm->debug_exit, "debug-exit")) < 0) {
		snprintf(err, errlen, "cannot map the core devices: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vm_legacy_ports); i++) {
		r = bus_add(&vm->pio, vm_legacy_ports[i].port, vm_legacy_ports[i].len,
			    vm_legacy_ports[i].ops, NULL, vm_legacy_ports[i].name);
		if (r < 0) {
			snprintf(err, errlen, "cannot map port 0x%x: %s", vm_legacy_ports[i].port,
				 strerror(-r));
			return r;
		}
	}
	if (cfg->serial_in_fd >= 0) {
		r = serial_attach_input(vm->serial, vm->loop, cfg->serial_in_fd);
		if (r < 0) /* not pollable (a regular file, /dev/null): no input */
			log_debug("serial input from fd %d not used: %s", cfg->serial_in_fd,
				  strerror(-r));
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return r;
}

/* vCPUs with the CPUID a snapshot recorded; its state sets their MSRs. */
static int vm_add_vcpus_as(struct vm *vm, const struct kvm_cpuid2 *const *cpuids, char *err,
			   size_t errlen)
{
	for (int i = 0; i < vm->ncpus; i++) {
		const char *what = "KVM_CREATE_VCPU";
		int r = vcpu_new(vm->kvm, i, &vm->env, &vm->vcpus[i]);
		if (r == 0) {
			what = "KVM_SET_CPUID2";
			r = vcpu_set_cpuid_as(vm->vcpus[i], cpuids[i]);
		}
		if (r < 0) {
			snprintf(err, errlen, "vcpu%d: %s: %s", i, what, strerror(-r));
			return r;
		}
	}
	return 0;
}

static int vm_add_vcpus(struct vm *vm, char *err, size_t errlen)
{
	int r;

	r = kvm_get_supported_cpuid(vm->kvm, &vm->cpuid);
	if (r < 0) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		return r;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		const char *what = "KVM_CREATE_VCPU";
		r = vcpu_new(vm->kvm, i, &vm->env, &vm->vcpus[i]);
		if (r == 0) {
			what = "KVM_SET_CPUID2";
			r = vcpu_set_cpuid(vm->vcpus[i], vm->kvm, vm->cpuid, vm->ncpus);
		}
		if (r == 0) {
			what = "KVM_SET_MSRS";
			r = vcpu_set_msrs(vm->vcpus[i]);
		}
		if (r < 0) {
			snprintf(err, errlen, "vcpu%d: %s: %s", i, what, strerror(-r));
			return r;
		}
	}
	return 0;
}

int vm_new(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	int r;

	if (cfg->ncpus < 1 || cfg->ncpus > VM_MAX_VCPUS) {
		snprintf(err, errlen, "%d vCPUs is out of range (1..%d)", cfg->ncpus, VM_MAX_VCPUS);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->env = (struct vcpu_env){
		.pio = &vm->pio, .mmio = &vm->mmio, .end = vm_env_end, .opaque = vm
	};
	vm->hooks = (struct virtio_mmio_hooks){ .ctx = vm,
						.add_ioeventfd = vm_hook_add_ioeventfd,
						.del_ioeventfd = vm_hook_del_ioeventfd };
	r = loop_new(&vm->loop);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the event loop: %s", strerror(-r));
		goto fail;
	}
	r = kvm_new(&vm->kvm, err, errlen);
	if (r < 0)
		goto fail;
	if (cfg->ncpus > vm->kvm->max_vcpus) {
		snprintf(err, errlen, "%d vCPUs asked for, host KVM allows at most %d", cfg->ncpus,
			 vm->kvm->max_vcpus);
		r = -EINVAL;
		goto fail;
	}
	vm->ncpus = cfg->ncpus;
	if (cfg->has_mem_file)
		r = memory_new_private(cfg->mem_size, cfg->mem_file_fd, &vm->mem);
	else
		r = memory_new(cfg->mem_size, &vm->mem);
	if (r < 0) {
		snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
			 (unsigned long long)(cfg->mem_size >> 20), strerror(-r));
		goto fail;
	}
	r = kvm_setup(vm->kvm, vm->mem, err, errlen);
	if (r < 0)
		goto fail;
	if (cfg->cpuids)
		r = vm_add_vcpus_as(vm, cfg->cpuids, err, errlen);
	else
		r = vm_add_vcpus(vm, err, errlen);
	if (r < 0)
		goto fail;
	r = vm_add_devices(vm, cfg, err, errlen);
	if (r < 0)
		goto fail;
	*out = vm;
	return 0;
fail:
	vm_free(vm);
	return r;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
	vm_free_virtio(vm);
	serial_free(vm->serial);
	i8042_free(vm->i8042);
	debug_exit_free(vm->debug_exit);
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_free(vm->vcpus[i]);
	for (int i = 0; i < vm->nfds; i++)
		close(vm->fds[i]);
	free(vm->fds);
	free(vm->cpuid);
	kvm_free(vm->kvm);
	memory_free(vm->mem);
	loop_free(vm->loop);
	free(vm);
}

int vm_set_entry(struct vm *vm, const struct boot_entry *entry)
{
	for (int i = 0; i < vm->ncpus; i++) {
		int r = vcpu_set_entry(vm->vcpus[i], entry);
		if (r < 0) {
			log_err("vcpu%d: cannot set the entry registers: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

int vm_get_tsc_khz(struct vm *vm, uint32_t *khz)
{
	if (!vm->kvm->has_tsc_khz)
		return -ENOTSUP;
	return vcpu_get_tsc_khz(vm->vcpus[0], khz);
}

int vm_pause(struct vm *vm)
{
	if (vm->paused)
		return 0;
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_request_pause(vm->vcpus[i]);
	for (int i = 0; i < vm->ncpus; i++) {
		int r = vcpu_wait_parked(vm->vcpus[i], VM_PAUSE_TIMEOUT_MS);
		if (r < 0) {
			log_err("vcpu%d did not stop within %d ms; VM left running", i,
				VM_PAUSE_TIMEOUT_MS);
			for (int j = 0; j < vm->ncpus; j++)
				vcpu_resume(vm->vcpus[j]);
			return r;
		}
	}
	vm->paused = 1;
	return 0;
}

void vm_resume(struct vm *vm)
{
	if (!vm->paused)
		return;
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_resume(vm->vcpus[i]);
	vm->paused = 0;
}

int vm_run(struct vm *vm, int start_paused)
{
	int code;

	if (start_paused) {
		for (int i = 0; i < vm->ncpus; i++)
			vcpu_request_pause(vm->vcpus[i]);
		vm->paused = 1;
	}
	for (int i = 0; i < vm->ncpus; i++) {
		int r = vcpu_start(vm->vcpus[i]);
		if (r < 0) {
			log_err("vcpu%d: cannot start its thread: %s", i, strerror(-r));
			vm_end(vm, VCPU_EXIT_ERROR);
			break;
		}
	}
	code = loop_run(vm->loop);
	if (code < 0) {
		log_err("event loop failed: %s", strerror(-code));
		code = VCPU_EXIT_ERROR;
	}
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_kick(vm->vcpus[i]);
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_join(vm->vcpus[i]);
	return code;
}

static int vm_cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* In the child: close every fd but those in keep (sorted), so it holds
 * nothing else open (a pipe on stdout, say) while it waits. */
static void vm_close_all_but(const int *keep, int n)
{
	unsigned int from = 0;

	for (int i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	close_range(from, ~0u, 0);
}

int vm_defer_teardown(struct vm *vm, int *keep_fd)
{
	int keep[VM_MAX_VCPUS + 2], n = 0;
	int p[2];
	pid_t pid;

	keep[n++] = vm->kvm->vm_fd;
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			keep[n++] = vm->vcpus[i]->fd;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	keep[n++] = p[0];
	qsort(keep, (size_t)n, sizeof(keep[0]), vm_cmp_int);
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		char c;
		vm_close_all_but(keep, n);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	*keep_fd = p[1];
	return 0;
}
