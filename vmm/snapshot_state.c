#include "vmm/snapshot_state.h"

#include <errno.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices/virtqueue.h"
#include "vmm/memory.h"
#include "vmm/snapshot_sha256.h"

#define SNAPSHOT_FORMAT_NAME "agentvm-snapshot"
#define SNAPSHOT_CHECKSUM    "checksum"

static const char *const snapshot_kind_names[] = {
	[SNAPSHOT_DEV_SERIAL] = "serial",
	[SNAPSHOT_DEV_VSOCK] = "vsock",
	[SNAPSHOT_DEV_RNG] = "rng",
	[SNAPSHOT_DEV_BLK] = "blk",
};

int snapshot_state_slots(uint64_t mem_size, uint64_t slots[2][3])
{
	uint64_t low = mem_size < MEMORY_LOW_END ? mem_size : MEMORY_LOW_END;

	slots[0][0] = 0;
	slots[0][1] = low;
	slots[0][2] = 0;
	if (mem_size == low)
		return 1;
	slots[1][0] = MEMORY_HIGH_BASE;
	slots[1][1] = mem_size - low;
	slots[1][2] = low;
	return 2;
}

int snapshot_state_new(uint32_t ncpus, struct snapshot_state **out)
{
	struct snapshot_state *st;

	if (ncpus < 1 || ncpus > SNAPSHOT_MAX_VCPUS)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->vcpus = calloc(ncpus, sizeof(*st->vcpus));
	if (!st->vcpus) {
		free(st);
		return -ENOMEM;
	}
	st->ncpus = ncpus;
	st->version = SNAPSHOT_FORMAT_VERSION;
	*out = st;
	return 0;
}

void snapshot_state_free(struct snapshot_state *st)
{
	if (!st)
		return;
	free(st->vcpus);
	free(st);
}

/* ---- writing ------------------------------------------------------------ */

/* fdt_* calls in sequence; the first failure sticks in w->r. */
struct snapshot_writer {
	void *fdt;
	int r;
};

static void snapshot_w_begin(struct snapshot_writer *w, const char *name)
{
	if (w->r == 0)
		w->r = fdt_begin_node(w->fdt, name);
}

static void snapshot_w_end(struct snapshot_writer *w)
{
	if (w->r == 0)
		w->r = fdt_end_node(w->fdt);
}

static void snapshot_w_bytes(struct snapshot_writer *w, const char *name, const void *p, size_t n)
{
	if (w->r == 0)
		w->r = fdt_property(w->fdt, name, p, (int)n);
}

static void snapshot_w_u32(struct snapshot_writer *w, const char *name, uint32_t v)
{
	if (w->r == 0)
		w->r = fdt_property_u32(w->fdt, name, v);
}

static void snapshot_w_u64(struct snapshot_writer *w, const char *name, uint64_t v)
{
	if (w->r == 0)
		w->r = fdt_property_u64(w->fdt, name, v);
}

static void snapshot_w_str(struct snapshot_writer *w, const char *name, const char *s)
{
	if (w->r == 0)
		w->r = fdt_property_string(w->fdt, name, s);
}

static void snapshot_w_vcpu(struct snapshot_writer *w, uint32_t index,
			    const struct snapshot_vcpu *c)
{
	fdt32_t cells[SNAPSHOT_MAX_MSRS * 3];
	char name[32];
	uint32_t n = c->nmsrs < SNAPSHOT_MAX_MSRS ? c->nmsrs : SNAPSHOT_MAX_MSRS;

	snprintf(name, sizeof(name), "cpu@%u", index);
	snapshot_w_begin(w, name);
	snapshot_w_u32(w, "reg", index);
	snapshot_w_bytes(w, "cpuid", c->cpuid,
			 (size_t)(c->ncpuid < SNAPSHOT_MAX_CPUID ? c->ncpuid : SNAPSHOT_MAX_CPUID) *
				 sizeof(c->cpuid[0]));
	snapshot_w_bytes(w, "regs", &c->regs, sizeof(c->regs));
	snapshot_w_bytes(w, "sregs", &c->sregs, sizeof(c->sregs));
	if (c->has_xsave)
		snapshot_w_bytes(w, "xsave", c->xsave, sizeof(c->xsave));
	else
		snapshot_w_bytes(w, "fpu", &c->fpu, sizeof(c->fpu));
	if (c->has_xcrs)
		snapshot_w_bytes(w, "xcrs", &c->xcrs, sizeof(c->xcrs));
	snapshot_w_bytes(w, "lapic", &c->lapic, sizeof(c->lapic));
	for (uint32_t i = 0; i < n; i++) {
		cells[3 * i] = cpu_to_fdt32(c->msrs[i].index);
		cells[3 * i + 1] = cpu_to_fdt32((uint32_t)(c->msrs[i].data >> 32));
		cells[3 * i + 2] = cpu_to_fdt32((uint32_t)c->msrs[i].data);
	}
	snapshot_w_bytes(w, "msrs", cells, (size_t)n * 3 * sizeof(cells[0]));
	snapshot_w_bytes(w, "mp-state", &c->mp_state, sizeof(c->mp_state));
	snapshot_w_bytes(w, "events", &c->events, sizeof(c->events));
	snapshot_w_bytes(w, "debugregs", &c->debugregs, sizeof(c->debugregs));
	snapshot_w_end(w);
}

static void snapshot_w_transport(struct snapshot_writer *w, const struct virtio_mmio_state *t)
{
	snapshot_w_u32(w, "device-status", t->status);
	snapshot_w_u64(w, "driver-features", t->driver_features);
	snapshot_w_u32(w, "device-features-sel", t->device_features_sel);
	snapshot_w_u32(w, "driver-features-sel", t->driver_features_sel);
	snapshot_w_u32(w, "queue-sel", t->queue_sel);
	snapshot_w_u32(w, "interrupt-status", t->interrupt_status);
	snapshot_w_u32(w, "config-generation", t->config_generation);
	snapshot_w_u32(w, "#address-cells", 1);
	snapshot_w_u32(w, "#size-cells", 0);
	for (uint32_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		const struct virtq_state *v = &t->queues[q];
		char name[16];
		if (!v->num && !v->ready && !v->desc && !v->driver && !v->device &&
		    !v->last_avail && !v->used_idx)
			continue;
		snprintf(name, sizeof(name), "queue@%u", q);
		snapshot_w_begin(w, name);
		snapshot_w_u32(w, "reg", q);
		snapshot_w_u32(w, "num", v->num);
		snapshot_w_u32(w, "ready", v->ready);
		snapshot_w_u64(w, "desc", v->desc);
		snapshot_w_u64(w, "driver", v->driver);
		snapshot_w_u64(w, "device", v->device);
		snapshot_w_u32(w, "last-avail", v->last_avail);
		snapshot_w_u32(w, "used-idx", v->used_idx);
		snapshot_w_end(w);
	}
}

static void snapshot_w_device(struct snapshot_writer *w, const struct snapshot_device *d)
{
	char name[48];

	if ((unsigned int)d->kind >= sizeof(snapshot_kind_names) / sizeof(snapshot_kind_names[0])) {
		w->r = -FDT_ERR_BADVALUE;
		return;
	}
	snprintf(name, sizeof(name), "%s@%llx", snapshot_kind_names[d->kind],
		 (unsigned long long)d->base);
	snapshot_w_begin(w, name);
	snapshot_w_u64(w, "reg", d->base);
	snapshot_w_str(w, "kind", snapshot_kind_names[d->kind]);
	snapshot_w_u32(w, "gsi", d->gsi);
	switch (d->kind) {
	case SNAPSHOT_DEV_SERIAL:
		snapshot_w_u32(w, "ier", d->serial.ier);
		snapshot_w_u32(w, "lcr", d->serial.lcr);
		snapshot_w_u32(w, "mcr", d->serial.mcr);
		snapshot_w_u32(w, "scr", d->serial.scr);
		snapshot_w_u32(w, "divisor", (uint32_t)d->serial.dlm << 8 | d->serial.dll);
		snapshot_w_u32(w, "fifo-enabled", d->serial.fifo_enabled);
		snapshot_w_u32(w, "overrun", d->serial.overrun);
		snapshot_w_u32(w, "thre-pending", d->serial.thre_pending);
		snapshot_w_u32(w, "irq-level", d->serial.level);
		snapshot_w_bytes(w, "rx-fifo", d->serial.rx, d->serial.rx_count);
		break;
	case SNAPSHOT_DEV_VSOCK:
		snapshot_w_u64(w, "guest-cid", d->cid);
		snapshot_w_str(w, "uds", d->path);
		snapshot_w_transport(w, &d->transport);
		break;
	case SNAPSHOT_DEV_RNG:
		snapshot_w_transport(w, &d->transport);
		break;
	case SNAPSHOT_DEV_BLK:
		snapshot_w_str(w, "path", d->path);
		snapshot_w_u32(w, "read-only", (uint32_t)d->readonly);
		snapshot_w_u64(w, "capacity", d->capacity);
		snapshot_w_str(w, "id", d->id);
		snapshot_w_transport(w, &d->transport);
		break;
	}
	snapshot_w_end(w);
}

static int snapshot_state_build(const struct snapshot_state *st, void *buf, size_t size)
{
	static const uint8_t zero[SNAPSHOT_SHA256_SIZE];
	struct snapshot_writer w = { .fdt = buf };
	uint64_t slots[2][3];
	fdt64_t slot_cells[6];
	int nslots = snapshot_state_slots(st->mem_size, slots);

	w.r = fdt_create(buf, (int)size);
	if (w.r == 0)
		w.r = fdt_finish_reservemap(buf);
	snapshot_w_begin(&w, "");
	snapshot_w_str(&w, "format", SNAPSHOT_FORMAT_NAME);
	snapshot_w_str(&w, "checksum-algorithm", "sha256");
	snapshot_w_bytes(&w, SNAPSHOT_CHECKSUM, zero, sizeof(zero));

	snapshot_w_begin(&w, "vm");
	snapshot_w_u32(&w, "format-version", st->version);
	snapshot_w_str(&w, "layout", SNAPSHOT_LAYOUT);
	snapshot_w_u64(&w, "memory-size", st->mem_size);
	for (int i = 0; i < nslots; i++)
		for (int j = 0; j < 3; j++)
			slot_cells[3 * i + j] = cpu_to_fdt64(slots[i][j]);
	snapshot_w_bytes(&w, "memory-slots", slot_cells, (size_t)nslots * 3 * sizeof(fdt64_t));
	snapshot_w_u32(&w, "vcpu-count", st->ncpus);
	snapshot_w_u32(&w, "tsc-khz", st->tsc_khz);
	snapshot_w_str(&w, "memory-file", st->memory_file);
	snapshot_w_end(&w);

	snapshot_w_begin(&w, "vcpus");
	snapshot_w_u32(&w, "#address-cells", 1);
	snapshot_w_u32(&w, "#size-cells", 0);
	for (uint32_t i = 0; i < st->ncpus; i++)
		snapshot_w_vcpu(&w, i, &st->vcpus[i]);
	snapshot_w_end(&w);

	snapshot_w_begin(&w, "irqchip");
	snapshot_w_bytes(&w, "pic-master", &st->pic_master, sizeof(st->pic_master));
	snapshot_w_bytes(&w, "pic-slave", &st->pic_slave, sizeof(st->pic_slave));
	snapshot_w_bytes(&w, "ioapic", &st->ioapic, sizeof(st->ioapic));
	snapshot_w_end(&w);
	snapshot_w_begin(&w, "pit");
	snapshot_w_bytes(&w, "state", &st->pit, sizeof(st->pit));
	snapshot_w_end(&w);
	snapshot_w_begin(&w, "clock");
	snapshot_w_bytes(&w, "state", &st->clock, sizeof(st->clock));
	snapshot_w_end(&w);

	snapshot_w_begin(&w, "devices");
	snapshot_w_u32(&w, "#address-cells", 2);
	snapshot_w_u32(&w, "#size-cells", 0);
	for (int i = 0; i < st->ndevices && i < SNAPSHOT_MAX_DEVICES; i++)
		snapshot_w_device(&w, &st->devices[i]);
	snapshot_w_end(&w);

	snapshot_w_end(&w);
	if (w.r == 0)
		w.r = fdt_finish(buf);
	return w.r;
}

int snapshot_state_write(const struct snapshot_state *st, void **blob, size_t *len)
{
	size_t size = 64 * 1024 + (size_t)st->ncpus * (sizeof(struct snapshot_vcpu) + 1024);
	void *buf;
	int r;

	if (st->ncpus < 1 || st->ncpus > SNAPSHOT_MAX_VCPUS || st->ndevices < 0 ||
	    st->ndevices > SNAPSHOT_MAX_DEVICES)
		return -EINVAL;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	r = snapshot_state_build(st, buf, size);
	if (r < 0) {
		free(buf);
		return r == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
	}
	*len = fdt_totalsize(buf);
	r = snapshot_state_reseal(buf, *len);
	if (r < 0) {
		free(buf);
		return r;
	}
	*blob = buf;
	return 0;
}

/* ---- checksum ----------------------------------------------------------- */

/* The checksum property's value inside blob, or NULL. */
static uint8_t *snapshot_checksum_slot(void *blob)
{
	int len = 0;
	void *p = fdt_getprop_w(blob, 0, SNAPSHOT_CHECKSUM, &len);

	return p && len == SNAPSHOT_SHA256_SIZE ? p : NULL;
}

static void snapshot_checksum_compute(const uint8_t *blob, size_t len, size_t slot_off,
				      uint8_t out[SNAPSHOT_SHA256_SIZE])
{
	static const uint8_t zero[SNAPSHOT_SHA256_SIZE];
	struct snapshot_sha256 c;

	snapshot_sha256_init(&c);
	snapshot_sha256_update(&c, blob, slot_off);
	snapshot_sha256_update(&c, zero, sizeof(zero));
	snapshot_sha256_update(&c, blob + slot_off + SNAPSHOT_SHA256_SIZE,
			       len - slot_off - SNAPSHOT_SHA256_SIZE);
	snapshot_sha256_final(&c, out);
}

int snapshot_state_reseal(void *blob, size_t len)
{
	uint8_t *slot;

	if (len < sizeof(struct fdt_header) || fdt_check_header(blob) != 0 ||
	    fdt_totalsize(blob) != len)
		return -EINVAL;
	slot = snapshot_checksum_slot(blob);
	if (!slot)
		return -EINVAL;
	snapshot_checksum_compute(blob, len, (size_t)(slot - (uint8_t *)blob), slot);
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct snapshot_reader {
	const void *fdt;
	char *err;
	size_t errlen;
	int r;
};

static int snapshot_fail(struct snapshot_reader *rd, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int snapshot_fail(struct snapshot_reader *rd, int r, const char *fmt, ...)
{
	va_list ap;

	if (rd->r == 0) {
		va_start(ap, fmt);
		vsnprintf(rd->err, rd->errlen, fmt, ap);
		va_end(ap);
		rd->r = r;
	}
	return rd->r;
}

static int snapshot_node(struct snapshot_reader *rd, int parent, const char *name)
{
	int off = fdt_subnode_offset(rd->fdt, parent, name);

	if (off < 0)
		snapshot_fail(rd, -EINVAL, "no /%s node", name);
	return off;
}

/* A property of exactly size bytes copied to out (optional: absent is 0). */
static int snapshot_r_bytes(struct snapshot_reader *rd, int node, const char *what,
			    const char *name, void *out, size_t size, int optional)
{
	int len = 0;
	const void *p;

	if (rd->r)
		return 0;
	p = fdt_getprop(rd->fdt, node, name, &len);
	if (!p) {
		if (!optional)
			snapshot_fail(rd, -EINVAL, "%s: property %s is missing", what, name);
		return 0;
	}
	if ((size_t)len != size) {
		snapshot_fail(rd, -EINVAL, "%s: property %s has %d bytes, expected %zu", what, name,
			      len, size);
		return 0;
	}
	memcpy(out, p, size);
	return 1;
}

static uint32_t snapshot_r_u32(struct snapshot_reader *rd, int node, const char *what,
			       const char *name, uint32_t max)
{
	fdt32_t v = 0;
	uint32_t x;

	if (!snapshot_r_bytes(rd, node, what, name, &v, sizeof(v), 0))
		return 0;
	x = fdt32_to_cpu(v);
	if (x > max) {
		snapshot_fail(rd, -EINVAL, "%s: %s = %u is out of range (at most %u)", what, name,
			      x, max);
		return 0;
	}
	return x;
}

static uint64_t snapshot_r_u64(struct snapshot_reader *rd, int node, const char *what,
			       const char *name)
{
	fdt64_t v = 0;

	if (!snapshot_r_bytes(rd, node, what, name, &v, sizeof(v), 0))
		return 0;
	return fdt64_to_cpu(v);
}

/* A NUL-terminated string property that fits out (size bytes). */
static void snapshot_r_str(struct snapshot_reader *rd, int node, const char *what, const char *name,
			   char *out, size_t size)
{
	int len = 0;
	const char *p;

	if (rd->r)
		return;
	p = fdt_getprop(rd->fdt, node, name, &len);
	if (!p) {
		snapshot_fail(rd, -EINVAL, "%s: property %s is missing", what, name);
		return;
	}
	if (len < 1 || p[len - 1] != '\0' || strlen(p) != (size_t)len - 1) {
		snapshot_fail(rd, -EINVAL, "%s: property %s is not a string", what, name);
		return;
	}
	if ((size_t)len > size) {
		snapshot_fail(rd, -EINVAL, "%s: property %s is too long (%d bytes)", what, name,
			      len - 1);
		return;
	}
	memcpy(out, p, (size_t)len);
}

static void snapshot_r_vcpu(struct snapshot_reader *rd, int node, uint32_t index,
			    struct snapshot_vcpu *c)
{
	char what[32];
	int len = 0;
	const fdt32_t *cells;

	snprintf(what, sizeof(what), "cpu@%u", index);
	cells = fdt_getprop(rd->fdt, node, "cpuid", &len);
	if (!cells || len <= 0 || len % (int)sizeof(c->cpuid[0]) ||
	    (size_t)len / sizeof(c->cpuid[0]) > SNAPSHOT_MAX_CPUID) {
		snapshot_fail(rd, -EINVAL, "%s: cpuid is missing or not 1 to %d entries", what,
			      SNAPSHOT_MAX_CPUID);
		return;
	}
	c->ncpuid = (uint32_t)((size_t)len / sizeof(c->cpuid[0]));
	memcpy(c->cpuid, cells, (size_t)len);
	snapshot_r_bytes(rd, node, what, "regs", &c->regs, sizeof(c->regs), 0);
	snapshot_r_bytes(rd, node, what, "sregs", &c->sregs, sizeof(c->sregs), 0);
	c->has_xsave = snapshot_r_bytes(rd, node, what, "xsave", c->xsave, sizeof(c->xsave), 1);
	if (!c->has_xsave)
		snapshot_r_bytes(rd, node, what, "fpu", &c->fpu, sizeof(c->fpu), 0);
	c->has_xcrs = snapshot_r_bytes(rd, node, what, "xcrs", &c->xcrs, sizeof(c->xcrs), 1);
	if (c->has_xcrs && c->xcrs.nr_xcrs > KVM_MAX_XCRS)
		snapshot_fail(rd, -EINVAL, "%s: xcrs holds %u registers (at most %d)", what,
			      c->xcrs.nr_xcrs, KVM_MAX_XCRS);
	snapshot_r_bytes(rd, node, what, "lapic", &c->lapic, sizeof(c->lapic), 0);
	snapshot_r_bytes(rd, node, what, "mp-state", &c->mp_state, sizeof(c->mp_state), 0);
	snapshot_r_bytes(rd, node, what, "events", &c->events, sizeof(c->events), 0);
	snapshot_r_bytes(rd, node, what, "debugregs", &c->debugregs, sizeof(c->debugregs), 0);
	if (rd->r)
		return;
	if (c->mp_state.mp_state > KVM_MP_STATE_AP_RESET_HOLD) {
		snapshot_fail(rd, -EINVAL, "%s: mp-state %u is not a KVM state", what,
			      c->mp_state.mp_state);
		return;
	}
	cells = fdt_getprop(rd->fdt, node, "msrs", &len);
	if (!cells) {
		snapshot_fail(rd, -EINVAL, "%s: property msrs is missing", what);
		return;
	}
	if (len % 12 || (size_t)len / 12 > SNAPSHOT_MAX_MSRS) {
		snapshot_fail(rd, -EINVAL,
			      "%s: msrs has %d bytes: not up to %d <index hi lo> triplets", what,
			      len, SNAPSHOT_MAX_MSRS);
		return;
	}
	c->nmsrs = (uint32_t)len / 12;
	for (uint32_t i = 0; i < c->nmsrs; i++) {
		fdt32_t t[3];
		memcpy(t, (const uint8_t *)cells + 12 * i, sizeof(t));
		c->msrs[i] = (struct kvm_msr_entry){
			.index = fdt32_to_cpu(t[0]),
			.data = (uint64_t)fdt32_to_cpu(t[1]) << 32 | fdt32_to_cpu(t[2]),
		};
	}
}

/* Whether [gpa, gpa + len) lies inside guest RAM of mem_size bytes. */
static int snapshot_ram_range(uint64_t mem_size, uint64_t gpa, uint64_t len)
{
	uint64_t slots[2][3];
	int n = snapshot_state_slots(mem_size, slots);

	for (int i = 0; i < n; i++)
		if (gpa >= slots[i][0] && gpa - slots[i][0] < slots[i][1] &&
		    len <= slots[i][1] - (gpa - slots[i][0]))
			return 1;
	return 0;
}

static void snapshot_r_transport(struct snapshot_reader *rd, int node, const char *what,
				 uint64_t mem_size, struct virtio_mmio_state *t)
{
	int sub;

	t->status = snapshot_r_u32(rd, node, what, "device-status", 0xff);
	t->driver_features = snapshot_r_u64(rd, node, what, "driver-features");
	t->device_features_sel = snapshot_r_u32(rd, node, what, "device-features-sel", UINT32_MAX);
	t->driver_features_sel = snapshot_r_u32(rd, node, what, "driver-features-sel", UINT32_MAX);
	t->queue_sel = snapshot_r_u32(rd, node, what, "queue-sel", UINT32_MAX);
	t->interrupt_status = snapshot_r_u32(rd, node, what, "interrupt-status", 3);
	t->config_generation = snapshot_r_u32(rd, node, what, "config-generation", UINT32_MAX);
	fdt_for_each_subnode(sub, rd->fdt, node)
	{
		uint32_t q;
		struct virtq_state *v;
		char qwhat[64];

		if (rd->r)
			return;
		q = snapshot_r_u32(rd, sub, what, "reg", VIRTIO_MMIO_MAX_QUEUES - 1);
		if (rd->r)
			return;
		snprintf(qwhat, sizeof(qwhat), "%s queue %u", what, q);
		v = &t->queues[q];
		if (v->num || v->desc) {
			snapshot_fail(rd, -EINVAL, "%s: given twice", qwhat);
			return;
		}
		v->num = (uint16_t)snapshot_r_u32(rd, sub, qwhat, "num", VIRTQ_MAX_SIZE);
		v->ready = (uint16_t)snapshot_r_u32(rd, sub, qwhat, "ready", 1);
		v->desc = snapshot_r_u64(rd, sub, qwhat, "desc");
		v->driver = snapshot_r_u64(rd, sub, qwhat, "driver");
		v->device = snapshot_r_u64(rd, sub, qwhat, "device");
		v->last_avail = (uint16_t)snapshot_r_u32(rd, sub, qwhat, "last-avail", UINT16_MAX);
		v->used_idx = (uint16_t)snapshot_r_u32(rd, sub, qwhat, "used-idx", UINT16_MAX);
		if (rd->r || !v->ready)
			continue;
		/* What QueueReady would check, so that a restore cannot fail half way. */
		if (!v->num || (v->num & (v->num - 1)) ||
		    !snapshot_ram_range(mem_size, v->desc, 16ull * v->num) ||
		    !snapshot_ram_range(mem_size, v->driver, 6 + 2ull * v->num) ||
		    !snapshot_ram_range(mem_size, v->device, 6 + 8ull * v->num) || (v->desc & 15) ||
		    (v->driver & 1) || (v->device & 3))
			snapshot_fail(rd, -EINVAL, "%s: ring size or addresses are not valid",
				      qwhat);
	}
}

static void snapshot_r_device(struct snapshot_reader *rd, int node, uint64_t mem_size,
			      struct snapshot_device *d)
{
	char kind[16] = "", what[64];
	const char *nodename = fdt_get_name(rd->fdt, node, NULL);
	int len = 0, k;
	const void *rx;

	snprintf(what, sizeof(what), "device %s", nodename ? nodename : "?");
	snapshot_r_str(rd, node, what, "kind", kind, sizeof(kind));
	if (rd->r)
		return;
	for (k = 0; k < (int)(sizeof(snapshot_kind_names) / sizeof(snapshot_kind_names[0])); k++)
		if (strcmp(kind, snapshot_kind_names[k]) == 0)
			break;
	if (k == (int)(sizeof(snapshot_kind_names) / sizeof(snapshot_kind_names[0]))) {
		snapshot_fail(rd, -EINVAL, "%s: unknown kind '%s'", what, kind);
		return;
	}
	d->kind = (enum snapshot_device_kind)k;
	d->base = snapshot_r_u64(rd, node, what, "reg");
	d->gsi = snapshot_r_u32(rd, node, what, "gsi", 23);
	switch (d->kind) {
	case SNAPSHOT_DEV_SERIAL:
		d->serial.ier = (uint8_t)snapshot_r_u32(rd, node, what, "ier", 0x0f);
		d->serial.lcr = (uint8_t)snapshot_r_u32(rd, node, what, "lcr", 0xff);
		d->serial.mcr = (uint8_t)snapshot_r_u32(rd, node, what, "mcr", 0x1f);
		d->serial.scr = (uint8_t)snapshot_r_u32(rd, node, what, "scr", 0xff);
		uint32_t div = snapshot_r_u32(rd, node, what, "divisor", 0xffff);
		d->serial.dll = (uint8_t)div;
		d->serial.dlm = (uint8_t)(div >> 8);
		d->serial.fifo_enabled = (uint8_t)snapshot_r_u32(rd, node, what, "fifo-enabled", 1);
		d->serial.overrun = (uint8_t)snapshot_r_u32(rd, node, what, "overrun", 1);
		d->serial.thre_pending = (uint8_t)snapshot_r_u32(rd, node, what, "thre-pending", 1);
		d->serial.level = (uint8_t)snapshot_r_u32(rd, node, what, "irq-level", 1);
		if (rd->r)
			return;
		rx = fdt_getprop(rd->fdt, node, "rx-fifo", &len);
		if (!rx || len < 0 || len > SERIAL_RX_FIFO) {
			snapshot_fail(rd, -EINVAL, "%s: rx-fifo is missing or longer than %d bytes",
				      what, SERIAL_RX_FIFO);
			return;
		}
		memcpy(d->serial.rx, rx, (size_t)len);
		d->serial.rx_count = (uint8_t)len;
		break;
	case SNAPSHOT_DEV_VSOCK:
		d->cid = snapshot_r_u64(rd, node, what, "guest-cid");
		if (rd->r == 0 && (d->cid < 3 || d->cid > 0xfffffffeull))
			snapshot_fail(rd, -EINVAL, "%s: guest-cid %llu is not valid", what,
				      (unsigned long long)d->cid);
		snapshot_r_str(rd, node, what, "uds", d->path, sizeof(d->path));
		snapshot_r_transport(rd, node, what, mem_size, &d->transport);
		break;
	case SNAPSHOT_DEV_RNG:
		snapshot_r_transport(rd, node, what, mem_size, &d->transport);
		break;
	case SNAPSHOT_DEV_BLK:
		snapshot_r_str(rd, node, what, "path", d->path, sizeof(d->path));
		d->readonly = (int)snapshot_r_u32(rd, node, what, "read-only", 1);
		d->capacity = snapshot_r_u64(rd, node, what, "capacity");
		snapshot_r_str(rd, node, what, "id", d->id, sizeof(d->id));
		if (rd->r == 0 && strlen(d->id) > 20)
			snapshot_fail(rd, -EINVAL, "%s: id is longer than 20 bytes", what);
		snapshot_r_transport(rd, node, what, mem_size, &d->transport);
		break;
	}
}

static int snapshot_check_blob(struct snapshot_reader *rd, const void *blob, size_t len,
			       int skip_checksum)
{
	uint8_t want[SNAPSHOT_SHA256_SIZE];
	const uint8_t *slot;
	int plen = 0;

	if (len < sizeof(struct fdt_header) || fdt_magic(blob) != FDT_MAGIC)
		return snapshot_fail(rd, -EINVAL,
				     "not a snapshot state file (no device-tree "
				     "header)");
	if (fdt_totalsize(blob) != len)
		return snapshot_fail(rd, -EINVAL,
				     "truncated or padded: the header says %u bytes, the file "
				     "has %zu",
				     fdt_totalsize(blob), len);
	if (fdt_check_header(blob) != 0 || fdt_check_full(blob, len) != 0)
		return snapshot_fail(rd, -EINVAL, "corrupted: the device tree is malformed");
	slot = fdt_getprop(blob, 0, SNAPSHOT_CHECKSUM, &plen);
	if (!slot || plen != SNAPSHOT_SHA256_SIZE)
		return snapshot_fail(rd, -EINVAL, "corrupted: no 32-byte checksum property");
	if (skip_checksum)
		return 0;
	snapshot_checksum_compute(blob, len, (size_t)(slot - (const uint8_t *)blob), want);
	if (memcmp(want, slot, sizeof(want)) != 0)
		return snapshot_fail(rd, -EBADMSG, "checksum mismatch: the file is corrupted");
	return 0;
}

/* The format name, version and vCPU count: enough to allocate the state. */
static void snapshot_r_header(struct snapshot_reader *rd, uint32_t *ncpus)
{
	char format[32] = "";
	uint32_t version;
	int vm;

	snapshot_r_str(rd, 0, "root", "format", format, sizeof(format));
	if (rd->r == 0 && strcmp(format, SNAPSHOT_FORMAT_NAME) != 0)
		snapshot_fail(rd, -EINVAL, "format is '%s', not " SNAPSHOT_FORMAT_NAME, format);
	vm = snapshot_node(rd, 0, "vm");
	if (rd->r)
		return;
	version = snapshot_r_u32(rd, vm, "/vm", "format-version", UINT32_MAX);
	if (rd->r == 0 && version != SNAPSHOT_FORMAT_VERSION) {
		snapshot_fail(rd, -EPROTONOSUPPORT,
			      "format version %u is not supported (this VMM reads version %d)",
			      version, SNAPSHOT_FORMAT_VERSION);
		return;
	}
	*ncpus = snapshot_r_u32(rd, vm, "/vm", "vcpu-count", SNAPSHOT_MAX_VCPUS);
	if (rd->r == 0 && *ncpus == 0)
		snapshot_fail(rd, -EINVAL, "/vm: vcpu-count is 0");
}

static void snapshot_r_vm(struct snapshot_reader *rd, struct snapshot_state *st)
{
	uint64_t slots[2][3];
	fdt64_t cells[6];
	char layout[64] = "";
	int vm, n, len = 0;
	const void *p;

	vm = snapshot_node(rd, 0, "vm");
	if (rd->r)
		return;
	snapshot_r_str(rd, vm, "/vm", "layout", layout, sizeof(layout));
	if (rd->r == 0 && strcmp(layout, SNAPSHOT_LAYOUT) != 0)
		snapshot_fail(rd, -EINVAL, "memory layout '%s' is not " SNAPSHOT_LAYOUT, layout);
	st->mem_size = snapshot_r_u64(rd, vm, "/vm", "memory-size");
	if (rd->r == 0 &&
	    (st->mem_size == 0 || (st->mem_size & 0xfff) || st->mem_size > (1ull << 40)))
		snapshot_fail(rd, -EINVAL,
			      "/vm: memory-size %llu is not a multiple of 4 KiB up to 1 TiB",
			      (unsigned long long)st->mem_size);
	if (rd->r)
		return;
	n = snapshot_state_slots(st->mem_size, slots);
	p = fdt_getprop(rd->fdt, vm, "memory-slots", &len);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 3; j++)
			cells[3 * i + j] = cpu_to_fdt64(slots[i][j]);
	if (!p || (size_t)len != (size_t)n * 3 * sizeof(fdt64_t) || memcmp(p, cells, (size_t)len))
		snapshot_fail(rd, -EINVAL,
			      "/vm: memory-slots do not match the layout for %llu bytes",
			      (unsigned long long)st->mem_size);
	st->tsc_khz = snapshot_r_u32(rd, vm, "/vm", "tsc-khz", UINT32_MAX);
	snapshot_r_str(rd, vm, "/vm", "memory-file", st->memory_file, sizeof(st->memory_file));
}

static void snapshot_r_rest(struct snapshot_reader *rd, struct snapshot_state *st)
{
	int vcpus, node, n = 0;

	vcpus = snapshot_node(rd, 0, "vcpus");
	if (rd->r)
		return;
	fdt_for_each_subnode(node, rd->fdt, vcpus)
	{
		uint32_t index = snapshot_r_u32(rd, node, "/vcpus", "reg", st->ncpus - 1);
		if (rd->r)
			return;
		if (index != (uint32_t)n) {
			snapshot_fail(rd, -EINVAL, "/vcpus: cpu@%u where cpu@%d was expected",
				      index, n);
			return;
		}
		snapshot_r_vcpu(rd, node, index, &st->vcpus[index]);
		n++;
	}
	if (rd->r == 0 && (uint32_t)n != st->ncpus)
		snapshot_fail(rd, -EINVAL, "/vcpus has %d vCPUs, /vm says %u", n, st->ncpus);

	node = snapshot_node(rd, 0, "irqchip");
	snapshot_r_bytes(rd, node, "/irqchip", "pic-master", &st->pic_master,
			 sizeof(st->pic_master), 0);
	snapshot_r_bytes(rd, node, "/irqchip", "pic-slave", &st->pic_slave, sizeof(st->pic_slave),
			 0);
	snapshot_r_bytes(rd, node, "/irqchip", "ioapic", &st->ioapic, sizeof(st->ioapic), 0);
	if (rd->r == 0 && (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
			   st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
			   st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC))
		snapshot_fail(rd, -EINVAL, "/irqchip: chip ids are not PIC master, slave, IOAPIC");
	node = snapshot_node(rd, 0, "pit");
	snapshot_r_bytes(rd, node, "/pit", "state", &st->pit, sizeof(st->pit), 0);
	node = snapshot_node(rd, 0, "clock");
	snapshot_r_bytes(rd, node, "/clock", "state", &st->clock, sizeof(st->clock), 0);

	node = snapshot_node(rd, 0, "devices");
	if (rd->r)
		return;
	int dev;
	fdt_for_each_subnode(dev, rd->fdt, node)
	{
		if (rd->r)
			return;
		if (st->ndevices == SNAPSHOT_MAX_DEVICES) {
			snapshot_fail(rd, -EINVAL, "/devices: more than %d devices",
				      SNAPSHOT_MAX_DEVICES);
			return;
		}
		snapshot_r_device(rd, dev, st->mem_size, &st->devices[st->ndevices++]);
	}
}

int snapshot_state_read(const void *blob, size_t len, int skip_checksum,
			struct snapshot_state **out, char *err, size_t errlen)
{
	struct snapshot_reader rd = { .fdt = blob, .err = err, .errlen = errlen };
	struct snapshot_state *st = NULL;
	uint32_t ncpus = 0;
	int r;

	if (errlen)
		err[0] = '\0';
	if (len > SNAPSHOT_MAX_BLOB)
		return snapshot_fail(&rd, -EINVAL, "state file too large (%zu bytes)", len);
	if (snapshot_check_blob(&rd, blob, len, skip_checksum) < 0)
		return rd.r;
	snapshot_r_header(&rd, &ncpus);
	if (rd.r)
		return rd.r;
	r = snapshot_state_new(ncpus, &st);
	if (r < 0)
		return snapshot_fail(&rd, r, "out of memory");
	snapshot_r_vm(&rd, st);
	snapshot_r_rest(&rd, st);
	if (rd.r) {
		snapshot_state_free(st);
		return rd.r;
	}
	*out = st;
	return 0;
}
