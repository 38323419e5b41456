/* idle: vCPU 0 spins at CPL3 forever, touching no memory, for the RSS
 * benchmark (which kills the VMM). Other vCPUs park at CPL0. */
#include "rt.h"

int guest_main(uint64_t cpu)
{
	(void)cpu;
	for (;;)
		__asm__ volatile("pause");
}
