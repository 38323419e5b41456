/* fault: CPL3 writes to the supervisor-only page of the runtime. The write
 * must fault (#PF, error code 7: present, write, user) and the runtime's
 * handler must report it and exit with RT_EXIT_EXCEPTION (status 78). */
#include "rt.h"

int guest_main(uint64_t cpu)
{
	(void)cpu;
	rt_puts("fault: writing to the CPL0 page from CPL3\n");
	*(volatile uint8_t *)RT_KERNEL_BASE = 0;
	rt_puts("fault: the write went through\n");
	return 1;
}
