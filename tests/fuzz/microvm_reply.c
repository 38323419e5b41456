/* libFuzzer target: the replies agentvmd reads from a jailed VMM's control
 * socket (host/microvm_api.c). The VMM runs beside a guest that may have
 * taken it over, so every byte is hostile: any input must give 0, -EREMOTEIO
 * or -EPROTO and a NUL-terminated message. */
#include "host/microvm_api.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), err[128];
	int r;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	r = microvm_api_parse_reply("vm.reset", line, err, sizeof(err));
	if (r != 0 && r != -EREMOTEIO && r != -EPROTO)
		abort();
	if (r != 0 && !memchr(err, '\0', sizeof(err)))
		abort();
	free(line);
	return 0;
}
