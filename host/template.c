/* Templates; see template.h. */
#include "host/template.h"

#include "common/log.h"
#include "host/api.h"
#include "host/audit.h"
#include "host/cli/cli.h"
#include "host/controller.h"
#include "host/daemon_internal.h"
#include "host/microvm_api.h"
#include "host/pool.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void template_find_agent(struct daemon *d)
{
	char buf[PATH_MAX];
	const char *a = cli_image_agent(buf, sizeof(buf));

	snprintf(d->agent_path, sizeof(d->agent_path), "%s", a ? a : "");
	if (!a)
		log_warn("no static agentvm-agent next to agentvmd: sandboxes run their image's "
			 "/sbin/init");
}

int template_ensure_default(struct daemon *d)
{
	struct state_template t;

	if (state_template_get(d->st, "default", &t) == 0)
		return 0;
	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "default");
	snprintf(t.image, sizeof(t.image), "%s", d->cfg.default_image);
	snprintf(t.isolation, sizeof(t.isolation), "%s", d->cfg.default_isolation);
	t.pool_size = d->cfg.default_pool;
	t.created_ms = daemon_wall_ms();
	int r = state_template_put(d->st, &t);
	if (r < 0)
		log_err("cannot store the default template");
	return r;
}

static bool template_is_dir(const char *p)
{
	struct stat st;

	return p[0] && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int template_resolve(struct daemon *d, const char *name, struct state_template *out, char *msg,
		     size_t len)
{
	int r;

	pthread_mutex_lock(&d->template_lock);
	r = state_template_get(d->st, name, out);
	if (r < 0) {
		pthread_mutex_unlock(&d->template_lock);
		snprintf(msg, len, "no template '%s' (see template.list)", name);
		return r == -ENOENT ? API_NO_TEMPLATE : API_INTERNAL;
	}
	if (!template_is_dir(out->rootfs)) {
		char rootfs[STATE_PATH_MAX];
		r = cli_image_resolve(out->image, d->agent_path[0] ? d->agent_path : NULL, rootfs,
				      sizeof(rootfs));
		if (r < 0) {
			pthread_mutex_unlock(&d->template_lock);
			snprintf(msg, len, "template '%s': image '%s' is not available: %s", name,
				 out->image, strerror(-r));
			return API_BACKEND;
		}
		snprintf(out->rootfs, sizeof(out->rootfs), "%s", rootfs);
		state_template_put(d->st, out);
	}
	pthread_mutex_unlock(&d->template_lock);
	return 0;
}

void template_limits(struct daemon *d, const struct state_template *t, struct backend_limits *out)
{
	*out = t->limits;
	if (!out->mem_bytes)
		out->mem_bytes = BACKEND_DEFAULT_MEM;
	if (!out->cpu_millis)
		out->cpu_millis = BACKEND_DEFAULT_CPUS;
	if (!out->pids_max)
		out->pids_max = BACKEND_DEFAULT_PIDS;
	if (!out->disk_bytes)
		out->disk_bytes = BACKEND_DEFAULT_DISK;
	if (d->cfg.max_mem && out->mem_bytes > d->cfg.max_mem)
		out->mem_bytes = d->cfg.max_mem;
	if (d->cfg.max_cpus && out->cpu_millis > d->cfg.max_cpus)
		out->cpu_millis = d->cfg.max_cpus;
	if (d->cfg.max_pids && out->pids_max > d->cfg.max_pids)
		out->pids_max = d->cfg.max_pids;
	if (d->cfg.max_disk && out->disk_bytes > d->cfg.max_disk)
		out->disk_bytes = d->cfg.max_disk;
}

static struct json_object *template_json(const struct state_template *t)
{
	struct json_object *o = json_object_new_object(), *l = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "image", json_object_new_string(t->image));
	json_object_object_add(o, "rootfs", json_object_new_string(t->rootfs));
	if (t->kernel[0])
		json_object_object_add(o, "kernel", json_object_new_string(t->kernel));
	if (t->cmdline[0])
		json_object_object_add(o, "cmdline", json_object_new_string(t->cmdline));
	json_object_object_add(o, "guest",
			       json_object_new_string(t->guest[0] ? t->guest : "agent"));
	json_object_object_add(o, "isolation", json_object_new_string(t->isolation));
	json_object_object_add(l, "mem_bytes", json_object_new_int64((int64_t)t->limits.mem_bytes));
	json_object_object_add(l, "cpus", json_object_new_double(t->limits.cpu_millis / 1000.0));
	json_object_object_add(l, "pids", json_object_new_int64((int64_t)t->limits.pids_max));
	json_object_object_add(l, "disk_bytes",
			       json_object_new_int64((int64_t)t->limits.disk_bytes));
	json_object_object_add(o, "limits", l);
	json_object_object_add(o, "pool", json_object_new_int(t->pool_size));
	json_object_object_add(o, "created_ms", json_object_new_int64(t->created_ms));
	return o;
}

struct json_object *template_list_json(struct daemon *d)
{
	struct state_template *list;
	size_t n;
	struct json_object *arr = json_object_new_array();

	if (state_template_list(d->st, &list, &n) < 0)
		return arr;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = template_json(&list[i]);
		int ready = 0;
		for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
			if (sb->state == SB_POOLED && !strcmp(sb->template_name, list[i].name))
				ready++;
		json_object_object_add(o, "pool_ready", json_object_new_int(ready));
		json_object_array_add(arr, o);
	}
	pthread_mutex_unlock(&d->lock);
	free(list);
	return arr;
}

void template_forget_snapshots(struct daemon *d, const char *name)
{
	char dir[700], path[1000];
	struct dirent *e;
	DIR *dp;

	sandbox_snapshot_dir(d, name, dir, sizeof(dir));
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		microvm_golden_discard(path);
	}
	closedir(dp);
	rmdir(dir);
}

/* Limits from a checked "limits" param over base. */
static void template_apply_limits(struct json_object *lim, struct backend_limits *base)
{
	if (!lim)
		return;
	if (api_get(lim, "mem_bytes"))
		base->mem_bytes = (uint64_t)api_get_int(lim, "mem_bytes", 0);
	if (api_get(lim, "cpus"))
		base->cpu_millis = (uint32_t)(api_get_num(lim, "cpus", 0) * 1000 + 0.5);
	if (api_get(lim, "pids"))
		base->pids_max = (uint64_t)api_get_int(lim, "pids", 0);
	if (api_get(lim, "disk_bytes"))
		base->disk_bytes = (uint64_t)api_get_int(lim, "disk_bytes", 0);
}

void *template_build_main(void *arg)
{
	struct op *op = arg;
	struct daemon *d = op->d;
	struct state_template t, old;
	const struct backend_ops *ops;
	char why[512], rootfs[STATE_PATH_MAX];
	int r;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", api_get_str(op->params, "name", ""));
	bool exists = state_template_get(d->st, t.name, &old) == 0;
	snprintf(t.image, sizeof(t.image), "%s",
		 api_get_str(op->params, "image", exists ? old.image : d->cfg.default_image));
	snprintf(t.kernel, sizeof(t.kernel), "%s",
		 api_get_str(op->params, "kernel", exists ? old.kernel : ""));
	snprintf(t.cmdline, sizeof(t.cmdline), "%s",
		 api_get_str(op->params, "cmdline", exists ? old.cmdline : ""));
	snprintf(t.guest, sizeof(t.guest), "%s",
		 api_get_str(op->params, "guest", exists && old.guest[0] ? old.guest : "agent"));
	snprintf(t.isolation, sizeof(t.isolation), "%s",
		 api_get_str(op->params, "isolation",
			     exists ? old.isolation : d->cfg.default_isolation));
	bool test_guest = !strcmp(t.guest, "test");
	if (!test_guest && strcmp(t.guest, "agent") != 0) {
		op_error(op, API_INVALID_PARAMS, NULL,
			 "template %s: guest must be \"agent\" or \"test\" (a synthetic test "
			 "guest answering an echo on vsock port 1024 instead of an agent)",
			 t.name);
		goto out;
	}
	for (const char *c = t.cmdline; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			op_error(op, API_INVALID_PARAMS, NULL,
				 "template %s: cmdline must not hold control characters", t.name);
			goto out;
		}
	}
	if (test_guest && (strcmp(t.isolation, "microvm") != 0 || !t.kernel[0])) {
		op_error(op, API_INVALID_PARAMS, NULL,
			 "template %s: a test guest needs isolation \"microvm\" and its kernel "
			 "(e.g. the vsock guest of tests/guests)",
			 t.name);
		goto out;
	}
	if (exists)
		t.limits = old.limits;
	template_apply_limits(api_get(op->params, "limits"), &t.limits);
	t.pool_size = (int)api_get_int(op->params, "pool", exists ? old.pool_size : 0);
	t.created_ms = daemon_wall_ms();

	if ((d->cfg.max_mem && t.limits.mem_bytes > d->cfg.max_mem) ||
	    (d->cfg.max_cpus && t.limits.cpu_millis > d->cfg.max_cpus) ||
	    (d->cfg.max_pids && t.limits.pids_max > d->cfg.max_pids) ||
	    (d->cfg.max_disk && t.limits.disk_bytes > d->cfg.max_disk)) {
		op_error(op, API_LIMIT, NULL,
			 "template %s: its limits are above this daemon's ceilings", t.name);
		goto out;
	}
	r = controller_choose_backend(t.isolation, &ops, why, sizeof(why));
	if (r == 0)
		r = ops->probe(why, sizeof(why));
	/* -ENOTSUP: KVM works but cannot run guest user space, which a
	 * synthetic test guest does not need. */
	if (r == -ENOTSUP && test_guest)
		r = 0;
	if (r < 0) {
		op_error(op, API_NOT_SUPPORTED, NULL,
			 "template %s: %s isolation is not possible "
			 "here: %s",
			 t.name, t.isolation, why);
		goto out;
	}
	pthread_mutex_lock(&d->template_lock);
	r = cli_image_resolve(t.image, d->agent_path[0] ? d->agent_path : NULL, rootfs,
			      sizeof(rootfs));
	if (r == 0) {
		snprintf(t.rootfs, sizeof(t.rootfs), "%s", rootfs);
		r = state_template_put(d->st, &t);
	}
	pthread_mutex_unlock(&d->template_lock);
	if (r < 0) {
		op_error(op, API_BACKEND, NULL, "template %s: image '%s' is not available: %s",
			 t.name, t.image, strerror(-r));
		goto out;
	}
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "template", json_object_new_string(t.name));
	json_object_object_add(ex, "image", json_object_new_string(t.image));
	json_object_object_add(ex, "isolation", json_object_new_string(t.isolation));
	json_object_object_add(ex, "pool", json_object_new_int(t.pool_size));
	op_audit(op, "template.build", ex);
	/* What the guest becomes changed: the old golden snapshots go
	 * (running sandboxes keep their mappings; pooled ones are replaced).
	 * Snapshots are keyed by their boot, so this only frees the disk. */
	if (exists &&
	    (strcmp(old.image, t.image) || strcmp(old.kernel, t.kernel) ||
	     strcmp(old.cmdline, t.cmdline) || strcmp(old.guest, t.guest) ||
	     strcmp(old.isolation, t.isolation) || old.limits.mem_bytes != t.limits.mem_bytes ||
	     old.limits.cpu_millis != t.limits.cpu_millis))
		template_forget_snapshots(d, t.name);
	pool_kick(d);
	op_reply(op, template_json(&t));
out:
	op_finish(op);
	return NULL;
}
