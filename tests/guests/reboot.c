/* reboot: asks for a reset through the i8042 (0xfe to port 0x64);
 * agentvm-vmm treats it as a clean stop: status 0. */
#include "rt.h"

int guest_main(uint64_t cpu)
{
	(void)cpu;
	rt_puts("reboot: pulsing the i8042 reset line\n");
	rt_outb(0x64, 0xfe);
	rt_puts("reboot: still running after the reset request\n");
	return 1;
}
