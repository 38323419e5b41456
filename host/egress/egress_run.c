#include "host/egress/egress_run.h"

#include "common/log.h"
#include "host/audit.h"
#include "host/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

struct egress_run {
	struct egress *e;
	struct egress_sandbox *sb;
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

void egress_run_audit_to_log(void *ctx, struct json_object *line)
{
	int r = audit_append(ctx, line);

	if (r < 0)
		log_warn("egress: writing the audit log: %s", strerror(-r));
}

int egress_run_start(const char *name, struct egress_policy *policy, const char *audit_path,
		     struct audit_log *log, struct egress_run **out)
{
	struct egress_options eo = { .audit_path = audit_path };
	struct egress_run *er;
	char root[128], dir[160];
	int r, n;

	*out = NULL;
	if (!backend_name_valid(name)) {
		egress_policy_free(policy);
		return -EINVAL;
	}
	er = calloc(1, sizeof(*er));
	if (!er) {
		egress_policy_free(policy);
		return -ENOMEM;
	}
	r = backend_state_root(root, sizeof(root));
	if (r < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/.egress", root);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("sandbox %s: egress: %s: %s", name, dir, strerror(errno));
		goto fail;
	}
	n = snprintf(er->sock, sizeof(er->sock), "%s/%s.sock", dir, name);
	if (n < 0 || (size_t)n >= sizeof(er->sock)) {
		r = -ENAMETOOLONG;
		log_err("sandbox %s: egress: the socket path under %s is too long", name, dir);
		goto fail;
	}
	r = egress_new(&eo, &er->e);
	if (r < 0) {
		log_err("sandbox %s: egress: cannot start the proxy: %s", name, strerror(-r));
		goto fail;
	}
	if (log)
		egress_set_audit_sink(er->e, egress_run_audit_to_log, log);
	r = egress_sandbox_add(er->e, name, er->sock, policy, &er->sb);
	policy = NULL;
	if (r < 0)
		goto fail;
	*out = er;
	return 0;
fail:
	egress_policy_free(policy);
	egress_run_stop(er);
	return r;
}

const char *egress_run_sock(const struct egress_run *er)
{
	return er->sock;
}

void egress_run_stop(struct egress_run *er)
{
	if (!er)
		return;
	if (er->e && er->sb)
		egress_sandbox_remove(er->e, er->sb);
	egress_free(er->e);
	free(er);
}
