#include "vmm/devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct i8042 {
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *opaque;
	uint8_t status;
	uint8_t ctr;	 /* controller command byte */
	uint8_t out;	 /* the byte waiting at port 0x60 when OBF is set */
	uint8_t pending; /* a command waiting for its data byte, or 0 */
};

static void i8042_output(struct i8042 *k, uint8_t v)
{
	k->out = v;
	k->status |= I8042_STATUS_OBF;
}

static void i8042_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = 0xff;

	pthread_mutex_lock(&k->lock);
	if (offset == I8042_CMD) {
		v = k->status;
	} else if (offset == I8042_DATA) {
		v = (k->status & I8042_STATUS_OBF) ? k->out : 0;
		k->status &= (uint8_t)~I8042_STATUS_OBF;
	}
	pthread_mutex_unlock(&k->lock);
	memset(data, 0xff, len);
	*(uint8_t *)data = v;
}

static void i8042_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = *(const uint8_t *)data;
	int reset = 0;

	(void)len;
	pthread_mutex_lock(&k->lock);
	if (offset == I8042_CMD) {
		k->status |= I8042_STATUS_CMD;
		k->pending = 0;
		switch (v) {
		case I8042_CMD_READ_CTR:
			i8042_output(k, k->ctr);
			break;
		case I8042_CMD_WRITE_CTR:
			k->pending = v;
			break;
		case I8042_CMD_SELF_TEST:
			i8042_output(k, 0x55);
			break;
		case I8042_CMD_RESET:
			reset = 1;
			break;
		default: /* other commands are accepted and ignored */
			break;
		}
	} else if (offset == I8042_DATA) {
		k->status &= (uint8_t)~I8042_STATUS_CMD;
		if (k->pending == I8042_CMD_WRITE_CTR)
			k->ctr = v;
		k->pending = 0;
	}
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->opaque);
}

const struct bus_ops i8042_bus_ops = {
	.read = i8042_bus_read,
	.write = i8042_bus_write,
};

int i8042_new(void (*reset)(void *opaque), void *opaque, struct i8042 **out)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->reset = reset;
	k->opaque = opaque;
	k->status = I8042_STATUS_SYS;
	k->ctr = 0x44; /* system flag, translate; keyboard and aux interrupts off */
	*out = k;
	return 0;
}

void i8042_free(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
