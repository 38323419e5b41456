/* The 16550A UART's register logic, driven through its bus callbacks: THR
 * output, LSR bits, IER/IIR interrupt identification and edges, the divisor
 * latch, loopback, the scratch register and the receive FIFO. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "vmm/bus.h"
#include "vmm/devices/serial.h"
#include "vmm/irq.h"

static struct serial *s;
static int out_rd = -1, out_wr = -1, irq_fd = -1;

static uint8_t rd(uint64_t reg)
{
	uint8_t v = 0;

	serial_bus_ops.read(s, reg, &v, 1);
	return v;
}

static void wr(uint64_t reg, uint8_t v)
{
	serial_bus_ops.write(s, reg, &v, 1);
}

/* Edges raised on the irq line since the last call. */
static int edges(void)
{
	uint64_t n = 0;

	if (read(irq_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;
	return (int)n;
}

/* Bytes written to the output since the last call. */
static size_t output(char *buf, size_t len)
{
	ssize_t n = read(out_rd, buf, len - 1);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void test_transmit(void)
{
	char buf[64];

	wr(SERIAL_THR, 'h');
	wr(SERIAL_THR, 'i');
	is(output(buf, sizeof(buf)), 2, "two THR writes make two bytes of output");
	ok(strcmp(buf, "hi") == 0, "THR bytes reach the output in order (got '%s')", buf);
	is(rd(SERIAL_LSR) & (SERIAL_LSR_THRE | SERIAL_LSR_TEMT), SERIAL_LSR_THRE | SERIAL_LSR_TEMT,
	   "LSR: THRE and TEMT are set (transmission is instant)");
	is(rd(SERIAL_LSR) & SERIAL_LSR_DR, 0, "LSR: no data ready with an empty FIFO");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_NO_INT, "IIR: no interrupt with IER = 0");
	is(edges(), 0, "no irq edge while interrupts are disabled");
}

static void test_divisor_latch(void)
{
	char buf[8];

	wr(SERIAL_LCR, SERIAL_LCR_DLAB | 0x03);
	wr(SERIAL_DLL, 0x01);
	wr(SERIAL_DLM, 0x00);
	is(rd(SERIAL_DLL), 0x01, "DLAB=1: offset 0 reads back DLL");
	is(rd(SERIAL_DLM), 0x00, "DLAB=1: offset 1 reads back DLM");
	is(output(buf, sizeof(buf)), 0, "DLAB=1: a write to offset 0 is not transmitted");
	wr(SERIAL_LCR, 0x03);
	is(rd(SERIAL_LCR), 0x03, "LCR reads back");
	is(rd(SERIAL_IER), 0, "DLAB=0: offset 1 is IER again, untouched by the DLM write");
	wr(SERIAL_LCR, SERIAL_LCR_DLAB | 0x03);
	is(rd(SERIAL_DLL), 0x01, "the divisor survives leaving and re-entering DLAB");
	wr(SERIAL_LCR, 0x03);
}

static void test_thre_interrupt(void)
{
	char buf[8];

	wr(SERIAL_IER, SERIAL_IER_THRI);
	is(rd(SERIAL_IER), SERIAL_IER_THRI, "IER reads back");
	is(edges(), 1, "enabling THRI with THR empty raises one edge");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_THRI, "IIR identifies THR empty");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_NO_INT, "reading IIR clears the THR-empty interrupt");
	wr(SERIAL_THR, 'x');
	is(edges(), 1, "a THR write re-arms THR empty: one more edge");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_THRI, "IIR: THR empty again after the write");
	wr(SERIAL_IER, 0);
	wr(SERIAL_IER, SERIAL_IER_THRI);
	is(edges(), 1, "re-enabling THRI re-asserts the interrupt (Linux's THRE test)");
	wr(SERIAL_IER, 0);
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_NO_INT, "IIR: nothing once IER is cleared");
	is(rd(SERIAL_IER), 0, "IER cleared");
	wr(SERIAL_IER, 0xff);
	is(rd(SERIAL_IER), 0x0f, "IER keeps only its four defined bits");
	wr(SERIAL_IER, 0);
	edges();
	output(buf, sizeof(buf));
}

static void test_receive(void)
{
	uint8_t many[SERIAL_RX_FIFO + 8];

	wr(SERIAL_IER, SERIAL_IER_RDI);
	is(edges(), 0, "enabling RDI with an empty FIFO raises nothing");
	is(serial_receive(s, (const uint8_t *)"ab", 2), 2, "two bytes received");
	is(edges(), 1, "received data raises one edge");
	is(rd(SERIAL_LSR) & SERIAL_LSR_DR, SERIAL_LSR_DR, "LSR: data ready");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_RDI, "IIR identifies received data");
	is(rd(SERIAL_RBR), 'a', "RBR returns the first byte");
	is(rd(SERIAL_RBR), 'b', "RBR returns the second byte");
	is(rd(SERIAL_LSR) & SERIAL_LSR_DR, 0, "LSR: no data ready once drained");
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_NO_INT, "IIR: no interrupt once drained");

	memset(many, 'z', sizeof(many));
	is(serial_receive(s, many, sizeof(many)), SERIAL_RX_FIFO, "the FIFO takes %d bytes",
	   SERIAL_RX_FIFO);
	edges();
	wr(SERIAL_IER, SERIAL_IER_RDI | SERIAL_IER_THRI | SERIAL_IER_RLSI);
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_RDI, "IIR: received data outranks THR empty");
	wr(SERIAL_FCR, SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX);
	is(rd(SERIAL_LSR) & SERIAL_LSR_DR, 0, "FCR clears the receive FIFO");
	is(rd(SERIAL_IIR) & 0xcf, SERIAL_IIR_FIFO | SERIAL_IIR_THRI,
	   "IIR: FIFO-enabled bits and THR empty next");
	wr(SERIAL_FCR, 0);
	is(rd(SERIAL_IIR) & SERIAL_IIR_FIFO, 0, "IIR: FIFO bits clear with the FIFO disabled");
	wr(SERIAL_IER, 0);
	edges();
}

static void test_loopback_and_scratch(void)
{
	char buf[8];

	wr(SERIAL_MCR, SERIAL_MCR_LOOP | SERIAL_MCR_OUT2 | SERIAL_MCR_RTS);
	is(rd(SERIAL_MSR) & 0xf0, 0x90,
	   "loopback: MSR mirrors MCR (Linux's UART probe wants 0x90)");
	wr(SERIAL_THR, 'L');
	is(output(buf, sizeof(buf)), 0, "loopback: THR does not reach the output");
	is(rd(SERIAL_RBR), 'L', "loopback: THR comes back on RBR");
	wr(SERIAL_MCR, SERIAL_MCR_OUT2 | SERIAL_MCR_DTR | SERIAL_MCR_RTS);
	is(rd(SERIAL_MSR) & 0xf0, SERIAL_MSR_DCD | SERIAL_MSR_DSR | SERIAL_MSR_CTS,
	   "MSR: carrier, DSR and CTS up outside loopback");
	wr(SERIAL_SCR, 0x5a);
	is(rd(SERIAL_SCR), 0x5a, "SCR reads back");
	wr(SERIAL_LSR, 0x00);
	is(rd(SERIAL_LSR) & SERIAL_LSR_THRE, SERIAL_LSR_THRE, "LSR ignores writes");
}

static void test_overrun(void)
{
	uint8_t fill[SERIAL_RX_FIFO];

	memset(fill, 'o', sizeof(fill));
	wr(SERIAL_MCR, SERIAL_MCR_LOOP);
	serial_receive(s, fill, sizeof(fill));
	wr(SERIAL_THR, '!'); /* into a full FIFO */
	is(rd(SERIAL_LSR) & SERIAL_LSR_OE, SERIAL_LSR_OE, "LSR: overrun when the FIFO is full");
	is(rd(SERIAL_LSR) & SERIAL_LSR_OE, 0, "reading LSR clears the overrun");
	wr(SERIAL_IER, SERIAL_IER_RLSI);
	wr(SERIAL_THR, '!');
	is(rd(SERIAL_IIR) & 0x0f, SERIAL_IIR_RLSI, "IIR: line status outranks everything");
	rd(SERIAL_LSR);
	wr(SERIAL_FCR, SERIAL_FCR_CLEAR_RX);
	wr(SERIAL_IER, 0);
	wr(SERIAL_MCR, SERIAL_MCR_OUT2);
	edges();
}

static void test_wide_and_out_of_range(void)
{
	uint8_t v[4] = { 0 };
	char buf[8];

	serial_bus_ops.read(s, SERIAL_LSR, v, 2);
	is(v[0] & SERIAL_LSR_THRE, SERIAL_LSR_THRE, "a 2-byte read at LSR fills LSR...");
	is(v[1] & 0xf0, SERIAL_MSR_DCD | SERIAL_MSR_DSR | SERIAL_MSR_CTS, "...and MSR");
	serial_bus_ops.read(s, SERIAL_PORT_LEN - 1, v, 4);
	is(v[1], 0xff, "bytes past the register block read as all ones");
	serial_bus_ops.write(s, SERIAL_PORT_LEN - 1, "abcd", 4);
	is(output(buf, sizeof(buf)), 0, "writes past the register block go nowhere");
}

static void test_bus(void)
{
	struct bus bus = { 0 };
	uint8_t v = 'B';
	char buf[8];

	is(bus_add(&bus, SERIAL_COM1_BASE, SERIAL_PORT_LEN, &serial_bus_ops, s, "serial"), 0,
	   "the UART maps on the port bus at COM1");
	bus_write(&bus, SERIAL_COM1_BASE + SERIAL_THR, &v, 1);
	output(buf, sizeof(buf));
	ok(strcmp(buf, "B") == 0, "a port write at 0x3f8 is transmitted");
	v = 0;
	bus_read(&bus, SERIAL_COM1_BASE + SERIAL_LSR, &v, 1);
	is(v & SERIAL_LSR_THRE, SERIAL_LSR_THRE, "a port read at 0x3fd is the LSR");
}

static void test_no_output_no_irq(void)
{
	struct serial *quiet = NULL;
	uint8_t v = 'q';

	is(serial_new(-1, NULL, &quiet), 0, "a UART with no output and no irq");
	serial_bus_ops.write(quiet, SERIAL_IER, &(uint8_t){ SERIAL_IER_THRI }, 1);
	serial_bus_ops.write(quiet, SERIAL_THR, &v, 1);
	serial_bus_ops.read(quiet, SERIAL_IIR, &v, 1);
	is(v & 0x0f, SERIAL_IIR_THRI, "it still identifies its interrupts");
	serial_free(quiet);
	serial_free(NULL);
	ok(1, "serial_free(NULL) is a no-op");
}

int main(void)
{
	int p[2];
	struct irq_line irq;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		skip_all("no pipe");
	out_rd = p[0];
	out_wr = p[1];
	irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (irq_fd < 0)
		skip_all("no eventfd");
	irq = (struct irq_line){ .fd = irq_fd, .gsi = SERIAL_COM1_IRQ };
	if (!ok(serial_new(out_wr, &irq, &s) == 0, "serial_new"))
		return done_testing();

	test_transmit();
	test_divisor_latch();
	test_thre_interrupt();
	test_receive();
	test_loopback_and_scratch();
	test_overrun();
	test_wide_and_out_of_range();
	test_bus();
	test_no_output_no_irq();

	serial_free(s);
	close(out_rd);
	close(out_wr);
	close(irq_fd);
	return done_testing();
}
