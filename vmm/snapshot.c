#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "vmm/devices/blk.h"
#include "vmm/devices/serial.h"
#include "vmm/devices/vsock.h"
#include "vmm/snapshot_kvm.h"
#include "vmm/snapshot_memory.h"

struct snapshot {
	struct vm *vm;
	/* The reset target. */
	struct snapshot_state *target;
	int target_fd; /* its memory file */
	char *target_state_path, *target_mem_path;
	int mapped_fd;		 /* the file guest RAM is privately mapped from, or -1 */
	int mapped_fd_is_target; /* mapped_fd is a copy of target_fd */
	struct snapshot_counters counters;
};

uint64_t snapshot_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int snapshot_new(struct vm *vm, struct snapshot **out)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->target_fd = -1;
	s->mapped_fd = -1;
	*out = s;
	return 0;
}

static void snapshot_drop_target(struct snapshot *s)
{
	snapshot_state_free(s->target);
	s->target = NULL;
	if (s->target_fd >= 0)
		close(s->target_fd);
	s->target_fd = -1;
	free(s->target_state_path);
	free(s->target_mem_path);
	s->target_state_path = s->target_mem_path = NULL;
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	snapshot_drop_target(s);
	if (s->mapped_fd >= 0)
		close(s->mapped_fd);
	free(s);
}

/* Guest RAM is now a private mapping of fd (kept as a copy). */
static void snapshot_set_mapped(struct snapshot *s, int fd)
{
	if (s->mapped_fd >= 0)
		close(s->mapped_fd);
	s->mapped_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void snapshot_set_target(struct snapshot *s, struct snapshot_state *st, int mem_fd,
			 const char *state_path, const char *mem_path)
{
	snapshot_drop_target(s);
	s->mapped_fd_is_target = 0;
	if (s->vm->mem->private && s->mapped_fd < 0) {
		snapshot_set_mapped(s, mem_fd); /* restored from this file */
		s->mapped_fd_is_target = 1;
	}
	s->target = st;
	s->target_fd = mem_fd;
	s->target_state_path = state_path ? strdup(state_path) : NULL;
	s->target_mem_path = mem_path ? strdup(mem_path) : NULL;
}

void snapshot_note_restored(struct snapshot *s, uint64_t restore_us)
{
	s->counters.restored = 1;
	s->counters.last_restore_us = restore_us;
}

void snapshot_get_counters(const struct snapshot *s, struct snapshot_counters *out)
{
	*out = s->counters;
}

const char *snapshot_target_state_path(const struct snapshot *s)
{
	return s->target ? s->target_state_path : NULL;
}

const char *snapshot_target_memory_path(const struct snapshot *s)
{
	return s->target ? s->target_mem_path : NULL;
}

int snapshot_load(const char *path, struct snapshot_state **out, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *blob = NULL;
	char why[200];
	struct stat st;
	size_t got = 0;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "state file '%s': %s", path, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > SNAPSHOT_MAX_BLOB) {
		snprintf(err, errlen, "state file '%s': %s", path,
			 !S_ISREG(st.st_mode) ? "not a regular file"
			 : st.st_size <= 0    ? "file is empty"
					      : "too large to be a state file");
		return -EINVAL;
	}
	blob = malloc((size_t)st.st_size);
	if (!blob) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, blob + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "state file '%s': %s", path,
				 n < 0 ? strerror(errno) : "shorter than its size");
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	r = snapshot_state_read(blob, got, 0, out, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "state file '%s': %s", path, why);
	return r;
}

static enum snapshot_device_kind snapshot_kind_of(enum vm_virtio_kind k)
{
	switch (k) {
	case VM_VIRTIO_VSOCK:
		return SNAPSHOT_DEV_VSOCK;
	case VM_VIRTIO_RNG:
		return SNAPSHOT_DEV_RNG;
	case VM_VIRTIO_BLK:
	default:
		return SNAPSHOT_DEV_BLK;
	}
}

static const char *snapshot_kind_name(enum snapshot_device_kind k)
{
	switch (k) {
	case SNAPSHOT_DEV_SERIAL:
		return "serial";
	case SNAPSHOT_DEV_VSOCK:
		return "vsock";
	case SNAPSHOT_DEV_RNG:
		return "rng";
	case SNAPSHOT_DEV_BLK:
		return "blk";
	}
	return "?";
}

int snapshot_check_devices(struct vm *vm, const struct snapshot_state *st, char *err, size_t errlen)
{
	const struct snapshot_device *d = st->devices;

	if (st->ndevices < 1 || d[0].kind != SNAPSHOT_DEV_SERIAL || d[0].base != SERIAL_COM1_BASE) {
		snprintf(err, errlen, "the snapshot has no COM1 serial port state");
		return -EINVAL;
	}
	if (st->ndevices - 1 != vm->nvirtio) {
		snprintf(err, errlen, "the snapshot has %d virtio devices, this VM %d",
			 st->ndevices - 1, vm->nvirtio);
		return -EINVAL;
	}
	for (int i = 0; i < vm->nvirtio; i++) {
		const struct vm_virtio *v = &vm->virtio[i];
		const struct snapshot_device *sd = &d[i + 1];
		if (sd->kind != snapshot_kind_of(v->kind) || sd->base != v->base ||
		    sd->gsi != v->gsi) {
			snprintf(err, errlen,
				 "virtio slot %d: the snapshot has %s at 0x%llx (GSI %u), this VM "
				 "%s at 0x%llx (GSI %u)",
				 i, snapshot_kind_name(sd->kind), (unsigned long long)sd->base,
				 sd->gsi, v->name, (unsigned long long)v->base, v->gsi);
			return -EINVAL;
		}
		if (v->kind == VM_VIRTIO_VSOCK && sd->cid != v->cid) {
			snprintf(err, errlen, "vsock: the snapshot's guest CID is %llu, not %llu",
				 (unsigned long long)sd->cid, (unsigned long long)v->cid);
			return -EINVAL;
		}
		if (v->kind == VM_VIRTIO_BLK) {
			struct blk_state bs;
			blk_get_state(v->dev, &bs);
			if (bs.capacity != sd->capacity || (int)bs.readonly != sd->readonly) {
				snprintf(err, errlen,
					 "%s (%s): %llu sectors%s, the snapshot's drive had %llu%s",
					 v->name, v->path, (unsigned long long)bs.capacity,
					 bs.readonly ? " read-only" : "",
					 (unsigned long long)sd->capacity,
					 sd->readonly ? " read-only" : "");
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* The guest may have queued work whose notification was still in flight,
 * and interrupts raised while the state was saved may not have reached the
 * irqchip yet: look at every queue again, and raise every line with a
 * pending status. Runs on the loop thread. */
static void snapshot_kick_devices(void *opaque)
{
	struct vm *vm = opaque;

	for (int i = 0; i < vm->nvirtio; i++) {
		struct virtio_mmio_state ts;
		for (uint32_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
			virtio_mmio_process(vm->virtio[i].transport, q);
		virtio_mmio_save_state(vm->virtio[i].transport, &ts);
		if (ts.interrupt_status)
			irq_line_trigger(&vm->virtio[i].irq);
	}
}

int snapshot_apply(struct snapshot *s, const struct snapshot_state *st, char *err, size_t errlen)
{
	struct vm *vm = s->vm;
	int r;

	if (st->ncpus != (uint32_t)vm->ncpus || st->mem_size != vm->mem->size) {
		snprintf(err, errlen,
			 "the snapshot is of %u vCPUs and %llu MiB, this VM %d and %llu", st->ncpus,
			 (unsigned long long)(st->mem_size >> 20), vm->ncpus,
			 (unsigned long long)(vm->mem->size >> 20));
		return -EINVAL;
	}
	r = snapshot_check_devices(vm, st, err, errlen);
	if (r < 0)
		return r;
	r = snapshot_kvm_restore_vm(vm->kvm, st, err, errlen);
	for (int i = 0; r == 0 && i < vm->ncpus; i++) {
		char why[160];
		r = snapshot_kvm_restore_vcpu(vm->kvm, vm->vcpus[i], &st->vcpus[i], why,
					      sizeof(why));
		if (r < 0)
			snprintf(err, errlen, "vcpu%d: %s", i, why);
	}
	if (r < 0)
		return r;
	r = serial_restore_state(vm->serial, &st->devices[0].serial);
	if (r < 0) {
		snprintf(err, errlen, "serial: saved state is not valid");
		return r;
	}
	for (int i = 0; i < vm->nvirtio; i++) {
		r = virtio_mmio_restore_state(vm->virtio[i].transport,
					      &st->devices[i + 1].transport);
		if (r < 0) {
			snprintf(err, errlen, "%s: saved transport state is not valid",
				 vm->virtio[i].name);
			return r;
		}
	}
	if (vm->nvirtio && loop_call(vm->loop, snapshot_kick_devices, vm) < 0)
		log_warn("cannot queue the device kick after a restore");
	return 0;
}

/* Read every device's state into st. */
static void snapshot_save_devices(struct vm *vm, struct snapshot_state *st)
{
	struct snapshot_device *d = &st->devices[0];

	*d = (struct snapshot_device){ .kind = SNAPSHOT_DEV_SERIAL,
				       .base = SERIAL_COM1_BASE,
				       .gsi = SERIAL_COM1_IRQ };
	serial_save_state(vm->serial, &d->serial);
	for (int i = 0; i < vm->nvirtio; i++) {
		const struct vm_virtio *v = &vm->virtio[i];
		d = &st->devices[i + 1];
		memset(d, 0, sizeof(*d));
		d->kind = snapshot_kind_of(v->kind);
		d->base = v->base;
		d->gsi = v->gsi;
		virtio_mmio_save_state(v->transport, &d->transport);
		if (v->path)
			snprintf(d->path, sizeof(d->path), "%s", v->path);
		if (v->kind == VM_VIRTIO_VSOCK) {
			d->cid = v->cid;
		} else if (v->kind == VM_VIRTIO_BLK) {
			struct blk_state bs;
			blk_get_state(v->dev, &bs);
			d->capacity = bs.capacity;
			d->readonly = bs.readonly;
			if (v->id)
				snprintf(d->id, sizeof(d->id), "%s", v->id);
		}
	}
	st->ndevices = vm->nvirtio + 1;
}

/* An absolute form of path (free() it). */
static char *snapshot_absolute(const char *path)
{
	char cwd[SNAPSHOT_PATH_MAX];
	char *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* Write blob to path through a temporary file beside it. */
static int snapshot_write_file(const char *tmp, const void *blob, size_t len)
{
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const uint8_t *p = blob;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return close(take_fd(&fd)) < 0 ? -errno : 0;
}

/* Capture and write both files; the VM is paused. */
static int snapshot_take_paused(struct snapshot *s, const char *state_path, const char *mem_path,
				struct snapshot_state **out_st, int *out_fd, char *err,
				size_t errlen)
{
	struct vm *vm = s->vm;
	struct snapshot_state *st = NULL;
	_cleanup_free_ char *mem_abs = NULL, *mem_tmp = NULL, *state_tmp = NULL;
	_cleanup_free_ void *blob = NULL;
	_cleanup_close_ int mfd = -1;
	size_t blob_len = 0;
	uint32_t khz = 0;
	uint64_t written = 0;
	int r;

	mem_abs = snapshot_absolute(mem_path);
	if (!mem_abs || asprintf(&mem_tmp, "%s.tmp.%d", mem_path, getpid()) < 0 ||
	    asprintf(&state_tmp, "%s.tmp.%d", state_path, getpid()) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strlen(mem_abs) >= SNAPSHOT_PATH_MAX) {
		snprintf(err, errlen, "memory path too long");
		return -ENAMETOOLONG;
	}
	r = snapshot_state_new((uint32_t)vm->ncpus, &st);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	/* Open connections cannot survive: close them and tell the guest. */
	for (int i = 0; i < vm->nvirtio; i++)
		if (vm->virtio[i].kind == VM_VIRTIO_VSOCK)
			vsock_transport_reset(vm->virtio[i].dev);
	snapshot_save_devices(vm, st);
	r = snapshot_kvm_save_vm(vm->kvm, st, err, errlen);
	for (int i = 0; r == 0 && i < vm->ncpus; i++) {
		char why[160];
		r = snapshot_kvm_save_vcpu(vm->kvm, vm->vcpus[i], &st->vcpus[i], why, sizeof(why));
		if (r < 0)
			snprintf(err, errlen, "vcpu%d: %s", i, why);
	}
	if (r < 0)
		goto fail;
	st->mem_size = vm->mem->size;
	if (vm_get_tsc_khz(vm, &khz) == 0)
		st->tsc_khz = khz;
	snprintf(st->memory_file, sizeof(st->memory_file), "%s", mem_abs);

	mfd = open(mem_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (mfd < 0) {
		r = -errno;
		snprintf(err, errlen, "memory file '%s': %s", mem_tmp, strerror(errno));
		goto fail;
	}
	r = snapshot_memory_write(vm->mem, s->mapped_fd, mfd, &written);
	if (r < 0) {
		snprintf(err, errlen, "writing memory file '%s': %s", mem_tmp, strerror(-r));
		goto fail_tmp;
	}
	r = snapshot_state_write(st, &blob, &blob_len);
	if (r < 0) {
		snprintf(err, errlen, "encoding the state: %s", strerror(-r));
		goto fail_tmp;
	}
	r = snapshot_write_file(state_tmp, blob, blob_len);
	if (r < 0) {
		snprintf(err, errlen, "writing state file '%s': %s", state_tmp, strerror(-r));
		unlink(state_tmp);
		goto fail_tmp;
	}
	if (rename(mem_tmp, mem_path) < 0 || rename(state_tmp, state_path) < 0) {
		r = -errno;
		snprintf(err, errlen, "renaming the snapshot files into place: %s",
			 strerror(errno));
		unlink(state_tmp);
		unlink(mem_path);
		goto fail_tmp;
	}
	s->counters.last_memory_bytes = written;
	*out_st = st;
	*out_fd = take_fd(&mfd);
	return 0;
fail_tmp:
	unlink(mem_tmp);
fail:
	snapshot_state_free(st);
	return r;
}

int snapshot_take(struct snapshot *s, const char *state_path, const char *mem_path, char *err,
		  size_t errlen)
{
	struct vm *vm = s->vm;
	struct snapshot_state *st = NULL;
	uint64_t t0 = snapshot_now_us();
	int was_paused = vm->paused, fd = -1, r;

	r = vm_pause(vm);
	if (r < 0) {
		snprintf(err, errlen, "cannot pause the vCPUs: %s", strerror(-r));
		return r;
	}
	r = snapshot_take_paused(s, state_path, mem_path, &st, &fd, err, errlen);
	if (!was_paused)
		vm_resume(vm);
	if (r < 0) {
		log_err("snapshot failed: %s", err);
		return r;
	}
	snapshot_set_target(s, st, fd, state_path, mem_path);
	s->counters.snapshots++;
	s->counters.last_snapshot_us = snapshot_now_us() - t0;
	log_info("snapshot taken: %s, %s (%llu MiB of data) in %llu ms", state_path, mem_path,
		 (unsigned long long)(s->counters.last_memory_bytes >> 20),
		 (unsigned long long)(s->counters.last_snapshot_us / 1000));
	return 0;
}

int snapshot_reset(struct snapshot *s, char *err, size_t errlen)
{
	struct vm *vm = s->vm;
	uint64_t t0 = snapshot_now_us(), t_pause, t_map, t_apply;
	int was_paused = vm->paused, r;

	if (!s->target) {
		snprintf(err, errlen,
			 "no snapshot to reset to: this VM was not restored and has "
			 "taken none");
		return -ENOENT;
	}
	r = vm_pause(vm);
	if (r < 0) {
		snprintf(err, errlen, "cannot pause the vCPUs: %s", strerror(-r));
		return r;
	}
	t_pause = snapshot_now_us();
	r = memory_remap_private(vm->mem, s->target_fd);
	if (r < 0) {
		snprintf(err, errlen, "mapping the memory file again: %s", strerror(-r));
		if (!was_paused)
			vm_resume(vm);
		return r;
	}
	if (s->mapped_fd < 0 || !s->mapped_fd_is_target) {
		snapshot_set_mapped(s, s->target_fd);
		s->mapped_fd_is_target = 1;
	}
	t_map = snapshot_now_us();
	r = snapshot_apply(s, s->target, err, errlen);
	if (r < 0) {
		/* Memory is the snapshot's, the rest may not be: never run that. */
		log_err("reset failed half way, stopping the VM: %s", err);
		vm_end(vm, VCPU_EXIT_ERROR);
		return r;
	}
	t_apply = snapshot_now_us();
	if (!was_paused)
		vm_resume(vm);
	s->counters.resets++;
	s->counters.last_reset_us = snapshot_now_us() - t0;
	log_debug("reset: vCPUs paused in %llu us, memory mapped in %llu us, state set in %llu "
		  "us, %llu us in all",
		  (unsigned long long)(t_pause - t0), (unsigned long long)(t_map - t_pause),
		  (unsigned long long)(t_apply - t_map),
		  (unsigned long long)s->counters.last_reset_us);
	return 0;
}
