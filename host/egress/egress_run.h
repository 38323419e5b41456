/* Egress for one sandbox of the embedded controller (`agentvm run`): the
 * proxy's thread and the sandbox's socket, at <state root>/.egress/<name>.sock
 * (a name no sandbox can have, since sandbox names cannot start with '.'),
 * where the backend finds it to hand into the sandbox. */
#ifndef AGENTVM_HOST_EGRESS_RUN_H
#define AGENTVM_HOST_EGRESS_RUN_H

#include "host/egress/egress.h"

struct audit_log;
struct egress_run;

/* Start the proxy for sandbox name with policy (taken, even on failure).
 * Audit lines go to audit_path (JSON lines; NULL: none) and to log (the
 * tamper-evident audit log; NULL: none). Returns 0 or -errno (logged). */
int egress_run_start(const char *name, struct egress_policy *policy, const char *audit_path,
		     struct audit_log *log, struct egress_run **out);
/* The host path of the sandbox's egress socket. */
const char *egress_run_sock(const struct egress_run *er);
/* Stop: end its connections (each audited) and remove the socket. NULL-safe. */
void egress_run_stop(struct egress_run *er);

/* An egress_audit_fn that appends each line to the audit log ctx
 * (struct audit_log *). */
void egress_run_audit_to_log(void *ctx, struct json_object *line);

#endif
