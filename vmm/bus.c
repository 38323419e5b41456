#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

int bus_add(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops, void *opaque,
	    const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (int i = 0; i < bus->nregions; i++) {
		const struct bus_region *r = &bus->regions[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->nregions == BUS_MAX_REGIONS)
		return -ENOSPC;
	bus->regions[bus->nregions++] = (struct bus_region){
		.base = base, .len = len, .ops = ops, .opaque = opaque, .name = name
	};
	return 0;
}

static const struct bus_region *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	for (int i = 0; i < bus->nregions; i++) {
		const struct bus_region *r = &bus->regions[i];
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
			return r;
	}
	return NULL;
}

int bus_read(const struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_region *r = bus_find(bus, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return r ? 0 : -ENOENT;
	}
	r->ops->read(r->opaque, addr - r->base, data, len);
	return 0;
}

int bus_write(const struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_region *r = bus_find(bus, addr, len);

	if (!r)
		return -ENOENT;
	if (r->ops->write)
		r->ops->write(r->opaque, addr - r->base, data, len);
	return 0;
}
