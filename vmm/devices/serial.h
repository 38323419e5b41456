/* A 16550A UART (COM1: I/O ports 0x3f8-0x3ff, IRQ 4): enough of the register
 * set for Linux's 8250 driver and console. Transmission is instant; received
 * bytes wait in a small FIFO. Its interrupt output is emulated as a level and
 * each rising edge raises the irq_line. Safe to use from any thread. */
#ifndef AGENTVM_VMM_DEVICES_SERIAL_H
#define AGENTVM_VMM_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/irq.h"
#include "vmm/loop.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ	 4
#define SERIAL_PORT_LEN	 8
#define SERIAL_RX_FIFO	 64

/* Register offsets and bits (those the emulation implements). */
#define SERIAL_RBR	    0 /* read, DLAB=0 */
#define SERIAL_THR	    0 /* write, DLAB=0 */
#define SERIAL_DLL	    0 /* DLAB=1 */
#define SERIAL_IER	    1 /* DLAB=0 */
#define SERIAL_DLM	    1 /* DLAB=1 */
#define SERIAL_IIR	    2 /* read */
#define SERIAL_FCR	    2 /* write */
#define SERIAL_LCR	    3
#define SERIAL_MCR	    4
#define SERIAL_LSR	    5
#define SERIAL_MSR	    6
#define SERIAL_SCR	    7

#define SERIAL_IER_RDI	    0x01
#define SERIAL_IER_THRI	    0x02
#define SERIAL_IER_RLSI	    0x04
#define SERIAL_IER_MSI	    0x08

#define SERIAL_IIR_NO_INT   0x01
#define SERIAL_IIR_MSI	    0x00
#define SERIAL_IIR_THRI	    0x02
#define SERIAL_IIR_RDI	    0x04
#define SERIAL_IIR_RLSI	    0x06
#define SERIAL_IIR_FIFO	    0xc0

#define SERIAL_FCR_ENABLE   0x01
#define SERIAL_FCR_CLEAR_RX 0x02
#define SERIAL_FCR_CLEAR_TX 0x04

#define SERIAL_LCR_DLAB	    0x80

#define SERIAL_MCR_DTR	    0x01
#define SERIAL_MCR_RTS	    0x02
#define SERIAL_MCR_OUT1	    0x04
#define SERIAL_MCR_OUT2	    0x08
#define SERIAL_MCR_LOOP	    0x10

#define SERIAL_LSR_DR	    0x01
#define SERIAL_LSR_OE	    0x02
#define SERIAL_LSR_THRE	    0x20
#define SERIAL_LSR_TEMT	    0x40

#define SERIAL_MSR_CTS	    0x10
#define SERIAL_MSR_DSR	    0x20
#define SERIAL_MSR_RI	    0x40
#define SERIAL_MSR_DCD	    0x80

struct serial;

/* The guest-visible UART state (for snapshots). */
struct serial_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t fifo_enabled, overrun, thre_pending, level;
	uint8_t rx_count; /* bytes waiting in rx[], oldest first */
	uint8_t rx[SERIAL_RX_FIFO];
};

/* Bus callbacks; the opaque is the struct serial. */
extern const struct bus_ops serial_bus_ops;

/* A UART whose transmitted bytes go to out_fd (-1: discarded; not owned) and
 * whose interrupt raises irq (NULL: none; copied). */
int serial_new(int out_fd, const struct irq_line *irq, struct serial **out);
/* NULL-safe. Stops reading input first if serial_attach_input() was used. */
void serial_free(struct serial *s);

/* Queue received bytes; returns how many fit in the FIFO. */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Copy the UART's registers and received bytes out; set them back.
 * Restore returns -EINVAL (changing nothing) for a state no UART can be in. */
void serial_save_state(struct serial *s, struct serial_state *st);
int serial_restore_state(struct serial *s, const struct serial_state *st);

/* Feed the receive side from in_fd (not owned) through loop, pausing while
 * the FIFO is full and stopping at end of file. -EPERM if in_fd cannot be
 * polled (a regular file or /dev/null). */
int serial_attach_input(struct serial *s, struct loop *loop, int in_fd);

#endif
