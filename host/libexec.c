#include "host/libexec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int libexec_dir(char *out, size_t len)
{
	const char *env = getenv("AGENTVM_LIBEXEC");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (!realpath(env, exe))
			snprintf(exe, sizeof(exe), "%s", env);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -errno;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (!slash)
			return -EINVAL;
		*slash = '\0';
		if (!exe[0])
			snprintf(exe, sizeof(exe), "/");
	}
	if ((size_t)snprintf(out, len, "%s", exe) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int libexec_path(const char *rel, char *out, size_t len)
{
	char dir[PATH_MAX];
	int r = libexec_dir(dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(out, len, "%s/%s", dir, rel) >= len)
		return -ENAMETOOLONG;
	return access(out, F_OK) == 0 ? 0 : -ENOENT;
}

int libexec_images_dir(char *out, size_t len)
{
	const char *env = getenv("AGENTVM_IMAGES");
	char dir[PATH_MAX], real[PATH_MAX];
	int r;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		r = libexec_dir(dir, sizeof(dir));
		if (r < 0)
			return r;
		if (strlen(dir) + sizeof("/../images") > sizeof(dir))
			return -ENAMETOOLONG;
		strcat(dir, "/../images");
	}
	if (realpath(dir, real))
		snprintf(dir, sizeof(dir), "%s", real);
	if ((size_t)snprintf(out, len, "%s", dir) >= len)
		return -ENAMETOOLONG;
	return access(out, F_OK) == 0 ? 0 : -ENOENT;
}
