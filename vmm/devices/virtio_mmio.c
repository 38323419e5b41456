#include "vmm/devices/virtio_mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"

#define TRANSPORT_FEATURES                                                      \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))

struct virtio_mmio_notifier {
	struct virtio_mmio *t;
	uint32_t q;
	int fd;
	bool on_loop;
	bool ioeventfd;
};

struct virtio_mmio {
	pthread_mutex_t lock;
	char name[32];
	uint64_t base;
	struct irq_line irq;
	struct memory *mem;
	struct loop *loop;
	struct virtio_mmio_hooks hooks;
	bool have_hooks;
	const struct virtio_device_ops *ops;
	void *dev;
	uint64_t device_features;
	struct virtio_mmio_state st; /* queue states live in queues[].st */
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_notifier notifiers[VIRTIO_MMIO_MAX_QUEUES];
	bool broken;
	bool logged_broken;
};

static const struct bus_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};

int virtio_mmio_cmdline(uint64_t base, uint32_t gsi, char *buf, size_t size)
{
	int n = snprintf(buf, size, "virtio_mmio.device=%u@0x%" PRIx64 ":%" PRIu32,
			 VIRTIO_MMIO_REGION_SIZE, base, gsi);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

void virtio_mmio_slot(unsigned int index, uint64_t *base, uint32_t *gsi)
{
	*base = VIRTIO_MMIO_BASE + (uint64_t)index * VIRTIO_MMIO_STRIDE;
	*gsi = VIRTIO_MMIO_GSI_FIRST + index;
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
	pthread_mutex_unlock(&t->lock);
}

const char *virtio_mmio_name(const struct virtio_mmio *t)
{
	return t->name;
}

bool virtio_mmio_running(const struct virtio_mmio *t)
{
	return (t->st.status & VIRTIO_STATUS_DRIVER_OK) && !t->broken;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned int bit)
{
	return bit < 64 && (t->st.status & VIRTIO_STATUS_FEATURES_OK) &&
	       (t->st.driver_features & (1ull << bit));
}

static void virtio_mmio_interrupt(struct virtio_mmio *t, uint32_t bits)
{
	t->st.interrupt_status |= bits;
	irq_line_trigger(&t->irq);
}

void virtio_mmio_fail(struct virtio_mmio *t, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (t->broken)
		return;
	t->broken = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A hostile guest can break and reset a device in a loop: say it once. */
	if (!t->logged_broken)
		log_warn("virtio %s: %s; device needs reset", t->name, msg);
	else
		log_debug("virtio %s: %s; device needs reset", t->name, msg);
	t->logged_broken = true;
	t->st.status |= VIRTIO_STATUS_NEEDS_RESET;
	t->st.config_generation++;
	virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->st.config_generation++;
	if (t->st.status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
}

static struct virtq *virtio_mmio_queue(struct virtio_mmio *t, uint32_t q)
{
	return q < t->ops->num_queues ? &t->queues[q] : NULL;
}

int virtio_mmio_pop(struct virtio_mmio *t, uint32_t q, struct virtq_chain *c)
{
	struct virtq *vq = virtio_mmio_queue(t, q);
	int r;

	if (!vq || !virtio_mmio_running(t))
		return 0;
	r = virtq_pop(vq, c);
	if (r < 0) {
		virtio_mmio_fail(t, "queue %u: %s", q, vq->error);
		return -EIO;
	}
	return r;
}

void virtio_mmio_unpop(struct virtio_mmio *t, uint32_t q)
{
	struct virtq *vq = virtio_mmio_queue(t, q);

	if (vq)
		virtq_unpop(vq);
}

void virtio_mmio_push(struct virtio_mmio *t, uint32_t q, uint16_t head, uint32_t len)
{
	struct virtq *vq = virtio_mmio_queue(t, q);

	if (vq && !t->broken && virtq_push(vq, head, len) < 0)
		virtio_mmio_fail(t, "queue %u: completing bad head %u", q, head);
}

void virtio_mmio_signal(struct virtio_mmio *t, uint32_t q)
{
	struct virtq *vq = virtio_mmio_queue(t, q);

	if (vq && virtq_need_interrupt(vq))
		virtio_mmio_interrupt(t, VIRTIO_MMIO_INT_VRING);
}

/* Lock held. */
static void virtio_mmio_notify_locked(struct virtio_mmio *t, uint32_t q)
{
	struct virtq *vq = virtio_mmio_queue(t, q);

	if (vq && vq->st.ready && virtio_mmio_running(t))
		t->ops->queue_notify(t->dev, q);
}

void virtio_mmio_process(struct virtio_mmio *t, uint32_t q)
{
	pthread_mutex_lock(&t->lock);
	virtio_mmio_notify_locked(t, q);
	pthread_mutex_unlock(&t->lock);
}

static void virtio_mmio_on_kick(void *opaque, int fd, uint32_t events)
{
	struct virtio_mmio_notifier *n = opaque;
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("virtio %s: notify eventfd: %m", n->t->name);
	virtio_mmio_process(n->t, n->q);
}

/* Lock held. Status 0: everything back to its initial state. */
static void virtio_mmio_reset(struct virtio_mmio *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtq_reset(&t->queues[i]);
	memset(&t->st, 0, sizeof(t->st));
	t->broken = false;
}

static bool virtio_mmio_features_ok(const struct virtio_mmio *t)
{
	uint64_t f = t->st.driver_features;

	return (f & (1ull << VIRTIO_F_VERSION_1)) && !(f & ~t->device_features);
}

static void virtio_mmio_write_status(struct virtio_mmio *t, uint32_t val)
{
	uint32_t old = t->st.status;

	if (val == 0) {
		virtio_mmio_reset(t);
		return;
	}
	val &= ~VIRTIO_STATUS_NEEDS_RESET; /* only the device sets it */
	if ((val & old & ~VIRTIO_STATUS_NEEDS_RESET) != (old & ~VIRTIO_STATUS_NEEDS_RESET)) {
		log_debug("virtio %s: driver cleared status bits (0x%x -> 0x%x); ignored", t->name,
			  old, val);
		return;
	}
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    !virtio_mmio_features_ok(t)) {
		log_debug("virtio %s: features 0x%" PRIx64 " refused", t->name,
			  t->st.driver_features);
		val &= ~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK))
		val &= ~VIRTIO_STATUS_DRIVER_OK;
	t->st.status = val | (old & VIRTIO_STATUS_NEEDS_RESET);
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && !t->broken &&
	    t->ops->driver_ok)
		t->ops->driver_ok(t->dev);
}

static void virtio_mmio_queue_ready(struct virtio_mmio *t, struct virtq *vq, uint32_t val)
{
	if (!val) {
		virtq_reset(vq);
		return;
	}
	if (vq->st.ready)
		return;
	if (!(t->st.status & VIRTIO_STATUS_FEATURES_OK)) {
		log_debug("virtio %s: queue enabled before FEATURES_OK; ignored", t->name);
		return;
	}
	if (virtq_enable(vq, virtio_mmio_has_feature(t, VIRTIO_RING_F_EVENT_IDX),
			 virtio_mmio_has_feature(t, VIRTIO_RING_F_INDIRECT_DESC)) < 0)
		virtio_mmio_fail(t, "queue %u: %s", t->st.queue_sel, vq->error);
}

static uint32_t virtio_mmio_reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *vq = virtio_mmio_queue(t, t->st.queue_sel);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR:
		return VIRTIO_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->st.device_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->st.device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->st.ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->st.interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return t->st.status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->st.config_generation;
	default:
		return 0;
	}
}

static void virtio_mmio_set_half(uint64_t *v, bool high, uint32_t val)
{
	if (high)
		*v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*v = (*v & ~0xffffffffull) | val;
}

static void virtio_mmio_reg_write(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtq *vq = virtio_mmio_queue(t, t->st.queue_sel);
	bool setup = vq && !vq->st.ready; /* queue registers are writable */

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->st.device_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->st.driver_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if ((t->st.status & VIRTIO_STATUS_FEATURES_OK) || t->st.driver_features_sel > 1)
			break;
		virtio_mmio_set_half(&t->st.driver_features, t->st.driver_features_sel == 1, val);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->st.queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (setup)
			vq->st.num = val > UINT16_MAX ? 0 : (uint16_t)val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq)
			virtio_mmio_queue_ready(t, vq, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (setup)
			virtio_mmio_set_half(&vq->st.desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if (setup)
			virtio_mmio_set_half(&vq->st.driver, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
					     val);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if (setup)
			virtio_mmio_set_half(&vq->st.device, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
					     val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->st.interrupt_status &= ~val;
		break;
	case VIRTIO_MMIO_STATUS:
		virtio_mmio_write_status(t, val);
		break;
	default:
		break; /* read-only or unknown: ignored */
	}
}

void virtio_mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (c < t->ops->config_size && len <= t->ops->config_size - c &&
		    t->ops->config_read)
			t->ops->config_read(t->dev, (uint32_t)c, data, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = virtio_mmio_reg_read(t, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static void virtio_mmio_kick(struct virtio_mmio *t, uint32_t q)
{
	uint64_t one = 1;

	if (q >= t->ops->num_queues)
		return;
	if (t->notifiers[q].on_loop) {
		/* Queue work belongs to the loop thread: hand it over. */
		if (write(t->notifiers[q].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_debug("virtio %s: notify: %m", t->name);
		return;
	}
	virtio_mmio_notify_locked(t, q);
}

void virtio_mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (c < t->ops->config_size && len <= t->ops->config_size - c &&
		    t->ops->config_write)
			t->ops->config_write(t->dev, (uint32_t)c, data, len);
	} else if (len == 4 && !(off & 3)) {
		memcpy(&v, data, 4);
		if (off == VIRTIO_MMIO_QUEUE_NOTIFY)
			virtio_mmio_kick(t, v);
		else
			virtio_mmio_reg_write(t, off, v);
	}
	pthread_mutex_unlock(&t->lock);
}

static int virtio_mmio_wire_queue(struct virtio_mmio *t, const struct virtio_mmio_env *env,
				  uint32_t q)
{
	struct virtio_mmio_notifier *n = &t->notifiers[q];
	int r;

	n->t = t;
	n->q = q;
	n->fd = -1;
	if (!env->loop)
		return 0;
	n->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->fd < 0)
		return -errno;
	r = loop_add(env->loop, n->fd, EPOLLIN, virtio_mmio_on_kick, n);
	if (r < 0)
		return r;
	n->on_loop = true;
	if (env->hooks && env->hooks->add_ioeventfd) {
		r = env->hooks->add_ioeventfd(env->hooks->ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY,
					      4, q, n->fd);
		if (r < 0)
			return r;
		n->ioeventfd = true;
	}
	return 0;
}

int virtio_mmio_new(const struct virtio_mmio_env *env, const struct virtio_device_ops *ops,
		    void *dev, struct virtio_mmio **out)
{
	struct virtio_mmio *t;
	int r;

	if (!env->mem || !env->bus || !ops->queue_notify || ops->num_queues == 0 ||
	    ops->num_queues > VIRTIO_MMIO_MAX_QUEUES || ops->config_size > 0x100)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->name, sizeof(t->name), "%s", env->name ? env->name : "device");
	t->base = env->base;
	t->irq = env->irq;
	t->mem = env->mem;
	t->loop = env->loop;
	if (env->hooks) {
		t->hooks = *env->hooks;
		t->have_hooks = true;
	}
	t->ops = ops;
	t->dev = dev;
	t->device_features = ops->features | TRANSPORT_FEATURES;
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		virtq_init(&t->queues[i], env->mem);
		t->notifiers[i].fd = -1;
	}
	for (uint32_t i = 0; i < ops->num_queues; i++) {
		r = virtio_mmio_wire_queue(t, env, i);
		if (r < 0)
			goto fail;
	}
	r = bus_add(env->bus, env->base, VIRTIO_MMIO_REGION_SIZE, &virtio_mmio_bus_ops, t, t->name);
	if (r < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	log_err("virtio %s: cannot set up the transport at 0x%" PRIx64 ": %s", t->name, env->base,
		strerror(-r));
	virtio_mmio_free(t);
	return r;
}

void virtio_mmio_free(struct virtio_mmio *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		struct virtio_mmio_notifier *n = &t->notifiers[i];
		if (n->ioeventfd && t->hooks.del_ioeventfd)
			t->hooks.del_ioeventfd(t->hooks.ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4,
					       i, n->fd);
		if (n->on_loop)
			loop_remove(t->loop, n->fd);
		if (n->fd >= 0)
			close(n->fd);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void virtio_mmio_save_state(struct virtio_mmio *t, struct virtio_mmio_state *st)
{
	pthread_mutex_lock(&t->lock);
	*st = t->st;
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		st->queues[i] = t->queues[i].st;
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_restore_state(struct virtio_mmio *t, const struct virtio_mmio_state *st)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	virtio_mmio_reset(t);
	t->st = *st;
	if (t->st.driver_features & ~t->device_features)
		r = -EINVAL;
	for (uint32_t i = 0; i < VIRTIO_MMIO_MAX_QUEUES && r == 0; i++) {
		struct virtq *vq = &t->queues[i];
		vq->st = st->queues[i];
		vq->st.ready = 0;
		if (!st->queues[i].ready)
			continue;
		if (i >= t->ops->num_queues ||
		    virtq_enable(vq, virtio_mmio_has_feature(t, VIRTIO_RING_F_EVENT_IDX),
				 virtio_mmio_has_feature(t, VIRTIO_RING_F_INDIRECT_DESC)) < 0)
			r = -EINVAL;
	}
	if (r < 0) {
		log_err("virtio %s: saved transport state is inconsistent", t->name);
		virtio_mmio_reset(t);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}
