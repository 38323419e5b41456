/* Fuzz agentvmd's request line parser and param checker: whatever a client
 * sends, api_parse ends in a checked request or one error reply that
 * serialises; the typed getters then read any member safely. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req;
	struct json_object *reply = NULL;
	char *line;
	size_t len;
	int r;

	if (size > (1u << 20))
		return 0;
	r = api_parse((const char *)data, size, &req, &reply);
	if (r < 0) {
		if (req.root || req.m)
			abort();
		if (reply) {
			if (api_to_line(reply, &line, &len) < 0 || line[len - 1] != '\n' ||
			    memchr(line, '\n', len - 1))
				abort();
			free(line);
		}
		json_object_put(reply);
		return 0;
	}
	if (!req.m || !req.params || reply)
		abort();
	for (int i = 0; i < API_MAX_PARAMS && req.m->params[i].name; i++) {
		const char *n = req.m->params[i].name;
		(void)api_get_str(req.params, n, NULL);
		(void)api_get_int(req.params, n, 0);
		(void)api_get_num(req.params, n, 0);
		(void)api_get_bool(req.params, n, false);
	}
	reply = api_result(req.id, json_object_new_object());
	if (!reply || api_to_line(reply, &line, &len) < 0)
		abort();
	free(line);
	json_object_put(reply);
	api_request_free(&req);
	return 0;
}
