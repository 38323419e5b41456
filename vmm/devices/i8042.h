/* The i8042 keyboard controller, only as far as a guest needs it to reboot:
 * status at port 0x64, data at 0x60, the controller command byte, self test,
 * and command 0xfe (pulse the reset line), which ends the VM. */
#ifndef AGENTVM_VMM_DEVICES_I8042_H
#define AGENTVM_VMM_DEVICES_I8042_H

#include "vmm/bus.h"

#define I8042_BASE	    0x60 /* one region covers 0x60-0x64; 0x61 is KVM's PIT speaker port */
#define I8042_PORT_LEN	    5
#define I8042_DATA	    0x0 /* port 0x60 */
#define I8042_CMD	    0x4 /* port 0x64: status on read, command on write */

#define I8042_STATUS_OBF    0x01 /* output buffer full: a byte waits at 0x60 */
#define I8042_STATUS_SYS    0x04 /* system flag: self test passed */
#define I8042_STATUS_CMD    0x08 /* last write was to 0x64 */

#define I8042_CMD_READ_CTR  0x20
#define I8042_CMD_WRITE_CTR 0x60
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_RESET	    0xfe

struct i8042;

/* Bus callbacks; the opaque is the struct i8042. */
extern const struct bus_ops i8042_bus_ops;

/* reset(opaque) is called, from a vCPU thread, when the guest pulses reset. */
int i8042_new(void (*reset)(void *opaque), void *opaque, struct i8042 **out);
/* NULL-safe. */
void i8042_free(struct i8042 *k);

#endif
