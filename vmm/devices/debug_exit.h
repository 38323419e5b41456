/* The test exit port (0xf4, like QEMU's isa-debug-exit): a guest that writes
 * byte v there ends the VM, and agentvm-vmm exits with 16 + (v & 63).
 * Synthetic test guests report their verdict this way. */
#ifndef AGENTVM_VMM_DEVICES_DEBUG_EXIT_H
#define AGENTVM_VMM_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "vmm/bus.h"

#define DEBUG_EXIT_PORT	    0xf4
#define DEBUG_EXIT_PORT_LEN 1
#define DEBUG_EXIT_BASE	    16

struct debug_exit;

/* Bus callbacks; the opaque is the struct debug_exit. */
extern const struct bus_ops debug_exit_bus_ops;

/* The process exit code for a guest write of v. */
static inline int debug_exit_code(uint8_t v)
{
	return DEBUG_EXIT_BASE + (v & 63);
}

/* exit(opaque, code) is called, from a vCPU thread, on each guest write. */
int debug_exit_new(void (*exit_fn)(void *opaque, int code), void *opaque, struct debug_exit **out);
/* NULL-safe. */
void debug_exit_free(struct debug_exit *d);

#endif
