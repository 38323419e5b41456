#include "vmm/devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	int has_irq;
	struct irq_line irq;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	int fifo_enabled;
	int overrun;	  /* LSR.OE until LSR is read */
	int thre_pending; /* the THR-empty interrupt, until IIR reports it or THR is written */
	int level;	  /* the interrupt output as last computed */

	uint8_t rx[SERIAL_RX_FIFO];
	unsigned int rx_head, rx_count;

	/* Input fed through the event loop (loop thread, except in_paused). */
	struct loop *loop;
	int in_fd;
	int in_watched; /* registered with the loop */
	int in_paused;	/* removed from the loop while the FIFO is full; under lock */
};

static uint8_t serial_pending(const struct serial *s)
{
	if ((s->ier & SERIAL_IER_RLSI) && s->overrun)
		return SERIAL_IIR_RLSI;
	if ((s->ier & SERIAL_IER_RDI) && s->rx_count)
		return SERIAL_IIR_RDI;
	if ((s->ier & SERIAL_IER_THRI) && s->thre_pending)
		return SERIAL_IIR_THRI;
	/* Modem status never changes, so there is never an MSI. */
	return SERIAL_IIR_NO_INT;
}

/* Recompute the interrupt output; raise the line on a rising edge. */
static void serial_update_irq(struct serial *s)
{
	int level = serial_pending(s) != SERIAL_IIR_NO_INT;

	if (level && !s->level && s->has_irq)
		irq_line_trigger(&s->irq);
	s->level = level;
}

static int serial_push(struct serial *s, uint8_t byte)
{
	if (s->rx_count == SERIAL_RX_FIFO) {
		s->overrun = 1;
		return 0;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = byte;
	s->rx_count++;
	return 1;
}

static void serial_transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & SERIAL_MCR_LOOP) {
		serial_push(s, byte);
	} else if (s->out_fd >= 0) {
		ssize_t r;
		do {
			r = write(s->out_fd, &byte, 1);
		} while (r < 0 && errno == EINTR);
		/* A full non-blocking output or a closed reader drops the byte, as a line would. */
	}
	s->thre_pending = 1; /* transmission is instant: THR is empty again */
}

static void serial_input_resume(void *opaque);

/* Called with the lock held; returns the byte read. */
static uint8_t serial_read_rbr(struct serial *s, int *resume)
{
	uint8_t byte = 0;

	if (s->rx_count) {
		byte = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
		s->rx_count--;
	}
	if (s->rx_count == 0 && s->in_paused) {
		s->in_paused = 0;
		*resume = 1;
	}
	return byte;
}

static uint8_t serial_msr(const struct serial *s)
{
	uint8_t msr = 0;

	if (!(s->mcr & SERIAL_MCR_LOOP))
		return SERIAL_MSR_DCD | SERIAL_MSR_DSR | SERIAL_MSR_CTS;
	/* Loopback wires the modem outputs back to the inputs. */
	if (s->mcr & SERIAL_MCR_DTR)
		msr |= SERIAL_MSR_DSR;
	if (s->mcr & SERIAL_MCR_RTS)
		msr |= SERIAL_MSR_CTS;
	if (s->mcr & SERIAL_MCR_OUT1)
		msr |= SERIAL_MSR_RI;
	if (s->mcr & SERIAL_MCR_OUT2)
		msr |= SERIAL_MSR_DCD;
	return msr;
}

static uint8_t serial_read_reg(struct serial *s, uint64_t reg, int *resume)
{
	int dlab = s->lcr & SERIAL_LCR_DLAB;
	uint8_t v = 0;

	switch (reg) {
	case SERIAL_RBR:
		v = dlab ? s->dll : serial_read_rbr(s, resume);
		break;
	case SERIAL_IER:
		v = dlab ? s->dlm : s->ier;
		break;
	case SERIAL_IIR:
		v = serial_pending(s);
		if (v == SERIAL_IIR_THRI)
			s->thre_pending = 0;
		if (s->fifo_enabled)
			v |= SERIAL_IIR_FIFO;
		break;
	case SERIAL_LCR:
		v = s->lcr;
		break;
	case SERIAL_MCR:
		v = s->mcr;
		break;
	case SERIAL_LSR:
		v = SERIAL_LSR_THRE | SERIAL_LSR_TEMT;
		if (s->rx_count)
			v |= SERIAL_LSR_DR;
		if (s->overrun)
			v |= SERIAL_LSR_OE;
		s->overrun = 0;
		break;
	case SERIAL_MSR:
		v = serial_msr(s);
		break;
	case SERIAL_SCR:
		v = s->scr;
		break;
	default:
		v = 0xff;
		break;
	}
	return v;
}

static void serial_write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	int dlab = s->lcr & SERIAL_LCR_DLAB;

	switch (reg) {
	case SERIAL_THR:
		if (dlab)
			s->dll = v;
		else
			serial_transmit(s, v);
		break;
	case SERIAL_IER:
		if (dlab) {
			s->dlm = v;
		} else {
			/* Enabling THRI while THR is empty raises the THR-empty interrupt. */
			if ((v & SERIAL_IER_THRI) && !(s->ier & SERIAL_IER_THRI))
				s->thre_pending = 1;
			s->ier = v & 0x0f;
		}
		break;
	case SERIAL_FCR:
		s->fifo_enabled = v & SERIAL_FCR_ENABLE;
		if (v & SERIAL_FCR_CLEAR_RX) {
			s->rx_head = 0;
			s->rx_count = 0;
		}
		break;
	case SERIAL_LCR:
		s->lcr = v;
		break;
	case SERIAL_MCR:
		s->mcr = v & 0x1f;
		break;
	case SERIAL_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static void serial_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t *out = data;
	int resume = 0;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = offset + i < SERIAL_PORT_LEN ? serial_read_reg(s, offset + i, &resume)
						      : 0xff;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (resume && s->loop)
		loop_call(s->loop, serial_input_resume, s);
}

static void serial_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len && offset + i < SERIAL_PORT_LEN; i++)
		serial_write_reg(s, offset + i, in[i]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

int serial_new(int out_fd, const struct irq_line *irq, struct serial **out)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->in_fd = -1;
	if (irq) {
		s->irq = *irq;
		s->has_irq = 1;
	}
	s->mcr = SERIAL_MCR_OUT2;
	s->lcr = 0x03; /* 8N1 */
	s->dll = 0x0c; /* 9600 baud */
	*out = s;
	return 0;
}

void serial_free(struct serial *s)
{
	if (!s)
		return;
	if (s->in_watched)
		loop_remove(s->loop, s->in_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < SERIAL_RX_FIFO)
		serial_push(s, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void serial_input_ready(void *opaque, int fd, uint32_t events)
{
	struct serial *s = opaque;
	uint8_t buf[SERIAL_RX_FIFO];
	size_t space;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&s->lock);
	space = SERIAL_RX_FIFO - s->rx_count;
	if (space == 0)
		s->in_paused = 1; /* the guest's next read of an empty FIFO resumes us */
	pthread_mutex_unlock(&s->lock);
	if (space == 0) {
		loop_remove(s->loop, fd);
		s->in_watched = 0;
		return;
	}
	n = read(fd, buf, space);
	if (n > 0) {
		serial_receive(s, buf, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		loop_remove(s->loop, fd); /* end of input */
		s->in_watched = 0;
		s->in_fd = -1;
	}
}

static void serial_input_resume(void *opaque)
{
	struct serial *s = opaque;

	if (s->in_fd >= 0 && !s->in_watched &&
	    loop_add(s->loop, s->in_fd, EPOLLIN, serial_input_ready, s) == 0)
		s->in_watched = 1;
}

int serial_attach_input(struct serial *s, struct loop *loop, int in_fd)
{
	int r;

	if (s->in_fd >= 0)
		return -EBUSY;
	r = loop_add(loop, in_fd, EPOLLIN, serial_input_ready, s);
	if (r < 0)
		return r;
	s->loop = loop;
	s->in_fd = in_fd;
	s->in_watched = 1;
	return 0;
}

void serial_save_state(struct serial *s, struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct serial_state){
		.ier = s->ier,
		.lcr = s->lcr,
		.mcr = s->mcr,
		.scr = s->scr,
		.dll = s->dll,
		.dlm = s->dlm,
		.fifo_enabled = (uint8_t)s->fifo_enabled,
		.overrun = (uint8_t)s->overrun,
		.thre_pending = (uint8_t)s->thre_pending,
		.level = (uint8_t)s->level,
		.rx_count = (uint8_t)s->rx_count,
	};
	for (unsigned int i = 0; i < s->rx_count; i++)
		st->rx[i] = s->rx[(s->rx_head + i) % SERIAL_RX_FIFO];
	pthread_mutex_unlock(&s->lock);
}

int serial_restore_state(struct serial *s, const struct serial_state *st)
{
	int resume = 0;

	if (st->rx_count > SERIAL_RX_FIFO || (st->ier & ~0x0f) || (st->mcr & ~0x1f) ||
	    st->fifo_enabled > 1 || st->overrun > 1 || st->thre_pending > 1 || st->level > 1)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fifo_enabled = st->fifo_enabled;
	s->overrun = st->overrun;
	s->thre_pending = st->thre_pending;
	s->level = st->level; /* the irqchip's state was restored with it */
	s->rx_head = 0;
	s->rx_count = st->rx_count;
	memcpy(s->rx, st->rx, st->rx_count);
	if (s->rx_count < SERIAL_RX_FIFO && s->in_paused) {
		s->in_paused = 0;
		resume = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (resume && s->loop)
		loop_call(s->loop, serial_input_resume, s);
	return 0;
}
