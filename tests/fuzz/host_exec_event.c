/* Fuzz the controller's handling of what an agent says about an exec: the
 * input is the JSON text of one message from a hostile agent (stdout/stderr
 * events with base64 data, exit events, error replies, anything else). It
 * must never crash, and an exit status must stay in range. */
#include <fcntl.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "host/agent_client.h"
#include "host/controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int null_fd = -1;
	struct json_tokener *tok;
	struct json_object *msg;
	struct controller_exec ex = { .uid = -1, .stdin_fd = -1, .signal_fd = -1 };
	struct controller_exec_result res = { .exit_code = -1 };
	int64_t id;

	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ex.out_fd = ex.err_fd = null_fd;
	tok = json_tokener_new();
	if (!tok)
		abort();
	msg = json_tokener_parse_ex(tok, (const char *)data,
				    (int)(size > 1 << 20 ? 1 << 20 : size));
	json_tokener_free(tok);
	if (!msg || !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		return 0;
	}
	agent_client_msg_id(msg, &id);
	(void)agent_client_error_code(msg);
	(void)agent_client_error_message(msg);
	if (controller_exec_event(msg, &ex, &res, "fuzz") == 1 && res.started &&
	    (res.signo < 0 || res.signo > 64))
		abort();
	json_object_put(msg);
	return 0;
}
