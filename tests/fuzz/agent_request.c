/* Fuzz the agent's request parser and validator: the input is one frame's
 * JSON text; whatever it holds, parsing must end in a request or one clear
 * error, and the reply built from that error must encode as a frame. Nothing
 * is executed. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/frame.h"
#include "guest-agent/agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder *d;
	struct json_object *msg = NULL, *reply;
	struct agent_request req;
	struct agent_error err;
	unsigned char hdr[FRAME_HDR_LEN];
	char *buf;
	size_t len;
	int r;

	if (size > FRAME_MAX)
		return 0;
	d = frame_decoder_new(0);
	if (!d)
		abort();
	frame_put_header(hdr, (uint32_t)size);
	frame_decoder_feed(d, hdr, sizeof(hdr));
	frame_decoder_feed(d, data, size);
	r = frame_decoder_next(d, &msg);
	frame_decoder_free(d);
	if (r != 1)
		return 0;

	memset(&err, 0, sizeof(err));
	if (agent_proto_parse(msg, &req, &err) < 0) {
		if (!err.code || !err.message[0])
			abort(); /* every failure says what is wrong */
		reply = agent_proto_reply_error(req.id, &err);
	} else {
		/* Invariants the executors rely on. */
		if (req.op == AGENT_OP_EXEC) {
			if (!req.exec.argv || !req.exec.argv[0] || req.exec.argc == 0 ||
			    req.exec.argv[req.exec.argc] != NULL)
				abort();
			if (req.exec.env && req.exec.env[req.exec.nenv] != NULL)
				abort();
			if (req.exec.cwd && req.exec.cwd[0] != '/')
				abort();
		}
		if (req.op >= AGENT_OP_FS_READ && req.op <= AGENT_OP_FS_RENAME &&
		    (!req.fs.path || req.fs.path[0] != '/'))
			abort();
		if ((req.op == AGENT_OP_STDIN || req.op == AGENT_OP_SIGNAL ||
		     req.op == AGENT_OP_RESIZE) &&
		    !req.target.target)
			abort();
		reply = agent_proto_reply_ok(req.id, NULL);
	}
	if (!reply || frame_encode(reply, &buf, &len) < 0)
		abort();
	free(buf);
	json_object_put(reply);
	agent_proto_request_clear(&req);
	json_object_put(msg);
	return 0;
}
