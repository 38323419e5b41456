#include "host/backend.h"

#include "common/log.h"
#include "host/backend_libvirt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct backend_sandbox {
	const struct backend_ops *ops;
	void *priv;
	char name[BACKEND_NAME_MAX + 1];
};

static const struct backend_ops *const backend_all[] = {
	&backend_microvm_ops,
	&backend_container_ops,
	&backend_libvirt_ops,
};

int backend_lookup(const char *name, const struct backend_ops **out)
{
	for (size_t i = 0; i < sizeof(backend_all) / sizeof(backend_all[0]); i++) {
		if (strcmp(backend_all[i]->name, name) == 0) {
			*out = backend_all[i];
			return 0;
		}
	}
	return -ENOENT;
}

int backend_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > BACKEND_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

int backend_state_root(char *out, size_t len)
{
	const char *env = getenv("AGENTVM_RUN_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0 || !xdg || !*xdg)
		n = snprintf(out, len, "/run/agentvm");
	else
		n = snprintf(out, len, "%s/agentvm", xdg);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (out[0] != '/')
		return -EINVAL;
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		log_err("cannot create the state directory %s: %s", out, strerror(errno));
		return r;
	}
	return 0;
}

int backend_sandbox_new(const struct backend_ops *ops, const struct backend_config *cfg,
			struct backend_sandbox **out)
{
	struct backend_config c = *cfg;
	struct backend_sandbox *sb;
	int r;

	*out = NULL;
	if (!backend_name_valid(c.name)) {
		log_err("invalid sandbox name '%s' (1-%d of A-Z a-z 0-9 _ . -)",
			c.name ? c.name : "", BACKEND_NAME_MAX);
		return -EINVAL;
	}
	if (!c.limits.mem_bytes)
		c.limits.mem_bytes = BACKEND_DEFAULT_MEM;
	if (!c.limits.cpu_millis)
		c.limits.cpu_millis = BACKEND_DEFAULT_CPUS;
	if (!c.limits.pids_max)
		c.limits.pids_max = BACKEND_DEFAULT_PIDS;
	if (!c.limits.disk_bytes)
		c.limits.disk_bytes = BACKEND_DEFAULT_DISK;
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->ops = ops;
	snprintf(sb->name, sizeof(sb->name), "%s", c.name);
	r = ops->create(&c, &sb->priv);
	if (r < 0) {
		free(sb);
		return r;
	}
	*out = sb;
	return 0;
}

int backend_sandbox_adopt(const struct backend_ops *ops, const char *name,
			  struct backend_sandbox **out)
{
	struct backend_sandbox *sb;
	int r;

	*out = NULL;
	if (!ops->adopt)
		return -ENOTSUP;
	if (!backend_name_valid(name))
		return -EINVAL;
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->ops = ops;
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	r = ops->adopt(name, &sb->priv);
	if (r < 0) {
		free(sb);
		return r;
	}
	*out = sb;
	return 0;
}

int backend_sandbox_pid(struct backend_sandbox *sb)
{
	return sb->ops->pid ? sb->ops->pid(sb->priv) : -1;
}

const char *backend_sandbox_log_path(struct backend_sandbox *sb)
{
	return sb->ops->log_path ? sb->ops->log_path(sb->priv) : NULL;
}

int backend_sandbox_connect(struct backend_sandbox *sb, int *fd)
{
	return sb->ops->connect(sb->priv, fd);
}

int backend_sandbox_exit_fd(struct backend_sandbox *sb)
{
	return sb->ops->exit_fd ? sb->ops->exit_fd(sb->priv) : -1;
}

const char *backend_sandbox_name(const struct backend_sandbox *sb)
{
	return sb->name;
}

const char *backend_sandbox_backend(const struct backend_sandbox *sb)
{
	return sb->ops->name;
}

void backend_sandbox_log_tail(struct backend_sandbox *sb, int lines)
{
	const char *path = sb->ops->log_path ? sb->ops->log_path(sb->priv) : NULL;
	char buf[4096];
	FILE *f;
	long size;
	size_t n;
	int k = 0;
	char *p;

	if (!path || !(f = fopen(path, "re")))
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!n)
		return;
	/* Back up over the last `lines` lines. */
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && ++k == lines)
			break;
	log_err("sandbox %s: the last output of its PID 1:", sb->name);
	for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n"))
		log_err("  | %s", line);
}

int backend_sandbox_golden(struct backend_sandbox *sb)
{
	return sb->ops->golden ? sb->ops->golden(sb->priv) : 0;
}

int backend_sandbox_reset(struct backend_sandbox *sb)
{
	return sb->ops->reset ? sb->ops->reset(sb->priv) : -ENOTSUP;
}

int backend_sandbox_pause(struct backend_sandbox *sb)
{
	return sb->ops->pause ? sb->ops->pause(sb->priv) : -ENOTSUP;
}

int backend_sandbox_resume(struct backend_sandbox *sb)
{
	return sb->ops->resume ? sb->ops->resume(sb->priv) : 0;
}

enum backend_origin backend_sandbox_origin(struct backend_sandbox *sb)
{
	return sb->ops->origin ? sb->ops->origin(sb->priv) : BACKEND_BOOTED;
}

const char *backend_sandbox_guest_socket(struct backend_sandbox *sb)
{
	return sb->ops->guest_socket ? sb->ops->guest_socket(sb->priv) : NULL;
}

void backend_sandbox_release(struct backend_sandbox *sb)
{
	if (!sb)
		return;
	if (sb->ops->release)
		sb->ops->release(sb->priv);
	free(sb);
}

void backend_sandbox_free(struct backend_sandbox *sb)
{
	if (!sb)
		return;
	sb->ops->destroy(sb->priv);
	free(sb);
}
