/* Images for the CLI: a name means the image scripts (<images>/<name>/build.sh,
 * see host/libexec.h), a path means a directory holding a root tree (or an
 * image directory with rootfs/ and manifest.txt). */
#include "host/cli/cli.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/hostprobe.h"
#include "host/libexec.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int cli_image_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cli_image_name_ok(const char *name)
{
	if (!*name || strcmp(name, "kernel") == 0 || strcmp(name, "initramfs") == 0)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return 0;
	return 1;
}

void cli_image_names(char *out, size_t len)
{
	char dir[PATH_MAX], script[PATH_MAX + 300];
	DIR *d;
	struct dirent *e;
	size_t used = 0;

	out[0] = '\0';
	if (libexec_images_dir(dir, sizeof(dir)) < 0 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		if (!cli_image_name_ok(e->d_name))
			continue;
		snprintf(script, sizeof(script), "%s/%s/build.sh", dir, e->d_name);
		if (access(script, X_OK) < 0)
			continue;
		int n = snprintf(out + used, len - used, "%s%s", used ? " " : "", e->d_name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	closedir(d);
}

/* Is path a static ELF program (no PT_INTERP)? */
static int cli_image_is_static(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256)
		return 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			return 0;
		if (ph.p_type == PT_INTERP)
			return 0;
	}
	return 1;
}

const char *cli_image_agent(char *buf, size_t len)
{
	if (libexec_path("agentvm-agent", buf, len) < 0 || !cli_image_is_static(buf))
		return NULL;
	return buf;
}

/* Run the image script with args; its last stdout line goes to out. */
static int cli_image_script(const char *script, const char *const *args, char *out, size_t len,
			    int timeout_ms)
{
	const char *argv[8];
	char buf[4096];
	int n = 0, st;
	char *line;

	argv[n++] = script;
	for (int i = 0; args[i] && n < 7; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	st = hostprobe_run(argv, buf, sizeof(buf), timeout_ms, 0);
	if (st < 0)
		return st;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	/* The last non-empty line. */
	for (size_t l = strlen(buf); l && buf[l - 1] == '\n';)
		buf[--l] = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (!*line || (size_t)snprintf(out, len, "%s", line) >= len)
		return -EIO;
	return 0;
}

int cli_image_locate(const char *name, const char *agent, char *dir, size_t len)
{
	char images[PATH_MAX], script[PATH_MAX + 300], manifest[PATH_MAX + 20];
	const char *args[] = { "--dir", agent ? "--agent" : NULL, agent, NULL };
	int r;

	if (!cli_image_name_ok(name))
		return -ENOENT;
	if (libexec_images_dir(images, sizeof(images)) < 0)
		return -ENOENT;
	snprintf(script, sizeof(script), "%s/%s/build.sh", images, name);
	if (access(script, X_OK) < 0)
		return -ENOENT;
	r = cli_image_script(script, args, dir, len, 30000);
	if (r < 0)
		return r;
	snprintf(manifest, sizeof(manifest), "%s/manifest.txt", dir);
	return access(manifest, F_OK) == 0 ? 1 : 0;
}

/* Build a named image, its progress going to our stderr. */
static int cli_image_build(const char *name, const char *agent, char *dir, size_t len)
{
	char images[PATH_MAX], script[PATH_MAX + 300];
	int p[2], st;
	pid_t pid;
	FILE *f;
	char line[PATH_MAX];

	if (libexec_images_dir(images, sizeof(images)) < 0)
		return -ENOENT;
	snprintf(script, sizeof(script), "%s/%s/build.sh", images, name);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(p[1], 1);
		if (agent)
			execl(script, script, "--agent", agent, (char *)NULL);
		else
			execl(script, script, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f) {
		close(p[0]);
		waitpid(pid, &st, 0);
		return -ENOMEM;
	}
	dir[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(dir, len, "%s", line);
	}
	fclose(f);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !dir[0])
		return -EIO;
	return 0;
}

int cli_image_resolve(const char *spec, const char *agent, char *rootfs, size_t len)
{
	char dir[PATH_MAX], names[256], probe[PATH_MAX + 20];
	int r;

	if (strchr(spec, '/') || strcmp(spec, ".") == 0 || strcmp(spec, "..") == 0) {
		if (!realpath(spec, dir) || !cli_image_is_dir(dir)) {
			log_err("image %s: not a directory", spec);
			return -ENOTDIR;
		}
		/* An image directory as the scripts make them, or a bare root tree. */
		snprintf(probe, sizeof(probe), "%s/manifest.txt", dir);
		if (access(probe, F_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/rootfs", dir);
			if (cli_image_is_dir(probe))
				snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/rootfs");
		}
		if ((size_t)snprintf(rootfs, len, "%s", dir) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	r = cli_image_locate(spec, agent, dir, sizeof(dir));
	if (r == -ENOENT) {
		cli_image_names(names, sizeof(names));
		log_err("unknown image '%s' (images: %s; or give a directory path)", spec,
			names[0] ? names : "none found");
		return -ENOENT;
	}
	if (r < 0) {
		log_err("image %s: its build script failed to say where the image is", spec);
		return r;
	}
	if (r == 0) {
		log_info("image %s is not built yet: building it", spec);
		r = cli_image_build(spec, agent, dir, sizeof(dir));
		if (r < 0) {
			log_err("image %s: the build failed (see above)", spec);
			return r;
		}
	}
	if ((size_t)snprintf(rootfs, len, "%s/rootfs", dir) >= len)
		return -ENAMETOOLONG;
	if (!cli_image_is_dir(rootfs)) {
		log_err("image %s: %s is missing", spec, rootfs);
		return -ENOENT;
	}
	return 0;
}
