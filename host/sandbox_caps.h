/* Capabilities kept by a container sandbox's processes. The sandbox's root is
 * uid 0 in the host's user namespace, so what it may do comes from this set
 * (bounding, permitted, effective and inheritable alike) plus the seccomp
 * filter; the reasons for each kept capability are in sandbox_caps.c. */
#ifndef AGENTVM_HOST_SANDBOX_CAPS_H
#define AGENTVM_HOST_SANDBOX_CAPS_H

#include <stdint.h>

/* The kept set as a bit mask (1ull << CAP_x). */
uint64_t sandbox_caps_keep_mask(void);

/* Drop every capability outside the kept set from the bounding set, clear the
 * ambient set, and set permitted/effective/inheritable to the kept set. Needs
 * CAP_SETPCAP on entry. Returns 0 or -errno; does not log. */
int sandbox_caps_drop(void);

#endif
