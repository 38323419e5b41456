#include "vmm/devices/debug_exit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct debug_exit {
	void (*exit_fn)(void *opaque, int code);
	void *opaque;
};

static void debug_exit_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void debug_exit_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct debug_exit *d = opaque;
	uint8_t v = *(const uint8_t *)data; /* wider writes: the low byte counts */

	(void)offset;
	(void)len;
	log_debug("guest wrote 0x%02x to the test exit port: exit code %d", v, debug_exit_code(v));
	if (d->exit_fn)
		d->exit_fn(d->opaque, debug_exit_code(v));
}

const struct bus_ops debug_exit_bus_ops = {
	.read = debug_exit_bus_read,
	.write = debug_exit_bus_write,
};

int debug_exit_new(void (*exit_fn)(void *opaque, int code), void *opaque, struct debug_exit **out)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->exit_fn = exit_fn;
	d->opaque = opaque;
	*out = d;
	return 0;
}

void debug_exit_free(struct debug_exit *d)
{
	free(d);
}
