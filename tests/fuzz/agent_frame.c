/* Fuzz the frame decoder: the input is a byte stream from a hostile peer,
 * fed in pieces whose sizes come from the input itself. Every decoded frame
 * must be an object that re-encodes within FRAME_MAX. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder *d;
	struct json_object *obj;
	size_t off = 0, step;
	char *buf;
	size_t len;
	int r;

	if (size < 1)
		return 0;
	/* A small limit lets the fuzzer reach "oversized" cheaply. */
	d = frame_decoder_new(data[0] & 1 ? 4096 : 0);
	if (!d)
		abort();
	step = (size_t)(data[0] >> 1) + 1;
	off = 1;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		if (frame_decoder_feed(d, data + off, n) < 0)
			abort();
		off += n;
		while ((r = frame_decoder_next(d, &obj)) != 0) {
			if (r == 1) {
				if (!json_object_is_type(obj, json_type_object))
					abort();
				if (frame_encode(obj, &buf, &len) == 0)
					free(buf);
				json_object_put(obj);
				continue;
			}
			if (r != FRAME_EJSON && r != FRAME_ENOTOBJ && r != FRAME_ETOOBIG)
				abort();
			if (r == FRAME_ETOOBIG)
				goto out;
		}
	}
out:
	(void)frame_decoder_pending(d);
	frame_decoder_free(d);
	return 0;
}
