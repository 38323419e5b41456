#include "host/libexec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

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

int libexec_images_query(const char *script, const char *const args[], char *out, size_t len)
{
	char images[PATH_MAX], path[PATH_MAX + 64];
	char *argv[8];
	posix_spawn_file_actions_t fa;
	int p[2], status = 0, r, n = 0;
	size_t got = 0;
	ssize_t k;
	pid_t pid;

	if (len < 2)
		return -EINVAL;
	r = libexec_images_dir(images, sizeof(images));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", images, script);
	argv[n++] = path;
	for (; args && *args && n < 7; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = -posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r == 0) {
		while (got < len - 1 && (k = read(p[0], out + got, len - 1 - got)) > 0)
			got += (size_t)k;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			r = -ENOENT;
	}
	close(p[0]);
	if (r < 0)
		return r;
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out[0] == '/' ? 0 : -ENOENT;
}
