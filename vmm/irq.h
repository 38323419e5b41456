/* An interrupt line as devices see it: an eventfd that KVM injects as an
 * edge on a GSI (irqfd). Devices never see the KVM fd. */
#ifndef AGENTVM_VMM_IRQ_H
#define AGENTVM_VMM_IRQ_H

#include <stdint.h>

struct irq_line {
	int fd;	      /* eventfd registered with KVM_IRQFD, or any eventfd in tests */
	uint32_t gsi; /* the guest interrupt number */
};

/* Raise the line once (an edge). Safe from any thread. */
void irq_line_trigger(const struct irq_line *line);

#endif
