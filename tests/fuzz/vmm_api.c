/* Fuzz the VMM control socket's request handling: the input is split into
 * lines, each handled as the server does (JSON-RPC parsing, method lookup,
 * parameter checks) against methods with the VMM's real parameter schemas.
 * Every answer must be one line of JSON-RPC 2.0 with a result or an error. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/api_rpc.h"
#include "vmm/api_server.h"
#include "vmm/api_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_method(void *ctx, struct json_object *params, struct json_object **result,
		       char *err, size_t errlen)
{
	(void)ctx;
	/* vm.snapshot's checks, as the real method makes them. */
	if (params && json_object_object_get_ex(params, "state", NULL)) {
		if (!api_rpc_get_path(params, "state", 4000, err, errlen) ||
		    !api_rpc_get_path(params, "memory", 4000, err, errlen))
			return API_RPC_INVALID_PARAMS;
	}
	*result = json_object_new_object();
	return 0;
}

static void fuzz_reply(const char *reply)
{
	struct json_object *r, *v, *e;
	size_t n = strlen(reply);

	if (n < 2 || reply[n - 1] != '\n' || memchr(reply, '\n', n - 1))
		abort();
	r = json_tokener_parse(reply);
	if (!r || !json_object_object_get_ex(r, "jsonrpc", &v) ||
	    strcmp(json_object_get_string(v), "2.0") || !json_object_object_get_ex(r, "id", NULL))
		abort();
	if (json_object_object_get_ex(r, "error", &e)) {
		if (!json_object_object_get_ex(e, "code", &v) || json_object_get_int(v) >= 0 ||
		    !json_object_object_get_ex(e, "message", &v) || !json_object_get_string_len(v))
			abort();
	} else if (!json_object_object_get_ex(r, "result", NULL)) {
		abort();
	}
	json_object_put(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api_server_method methods[16];
	static struct api_server *api;
	size_t start = 0;

	if (!api) {
		int i;
		for (i = 0; api_vm_methods[i].name && i < 15; i++) {
			methods[i] = api_vm_methods[i];
			methods[i].fn = fuzz_method;
		}
		if (api_server_new(NULL, NULL, methods, NULL, &api) < 0)
			abort();
	}
	while (start <= size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
		char *reply = NULL;
		if (len > 0 && len <= API_SERVER_LINE_MAX) {
			if (api_server_process_line(api, (const char *)data + start, len, &reply) <
			    0)
				abort();
			if (reply)
				fuzz_reply(reply);
			free(reply);
		}
		if (!nl)
			break;
		start += len + 1;
	}
	return 0;
}
