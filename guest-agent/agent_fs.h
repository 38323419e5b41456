/* The fs.* operations: read, write, stat, list, mkdir, remove, rename. */
#ifndef AGENTVM_GUEST_AGENT_FS_H
#define AGENTVM_GUEST_AGENT_FS_H

struct agent_error;
struct agent_request;
struct json_object;

/* Perform the fs.* request req. Returns 0 with a new result object in
 * *result, or -1 with err filled (code, message, path). */
int agent_fs_handle(const struct agent_request *req, struct json_object **result,
		    struct agent_error *err);

#endif
