/* I/O buses: port I/O and MMIO address ranges mapped to device callbacks.
 * vCPU threads dispatch their exits here concurrently; each device guards its
 * own state. Regions are added during set-up only, before vCPUs run. */
#ifndef AGENTVM_VMM_BUS_H
#define AGENTVM_VMM_BUS_H

#include <stdint.h>

#define BUS_MAX_REGIONS 32

struct bus_ops {
	/* offset is relative to the region base; len is 1, 2, 4 or 8. A read
	 * must fill all len bytes of data. */
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus_region {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

struct bus {
	int nregions;
	struct bus_region regions[BUS_MAX_REGIONS];
};

/* Map [base, base+len) to ops. -EEXIST if it overlaps a region, -ENOSPC if full. */
int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque,
	    const char *name);
/* Dispatch an access. Returns 0, or -ENOENT when no region covers the whole
 * access (a read then returns all ones in data). */
int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len);
int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len);

#endif
