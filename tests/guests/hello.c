/* hello: the smallest useful guest. Prints one line on COM1 and exits with
 * test-exit code 0 (agentvm-vmm status 16). */
#include "rt.h"

int guest_main(uint64_t cpu)
{
	(void)cpu;
	rt_puts("hello from a synthetic guest\n");
	return 0;
}
