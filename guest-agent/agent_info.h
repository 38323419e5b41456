/* The "hello" op: what this agent and its machine are. */
#ifndef AGENTVM_GUEST_AGENT_INFO_H
#define AGENTVM_GUEST_AGENT_INFO_H

struct agent;
struct agent_error;
struct json_object;

/* Build the hello result (versions, capabilities, kernel, memory, CPUs,
 * hostname). Returns 0 with a new object in *result, or -1 with err filled. */
int agent_info_hello(struct agent *a, struct json_object **result, struct agent_error *err);

#endif
