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

/* The scripts take a quarter of a second to say where an image is (they hash
 * their inputs). Remember the answer beside the images, keyed by what the
 * scripts hash: the agent, the image's folder and lib.sh, and the dpkg
 * database (package versions). Any change there asks the script again. */
static void cli_image_key_add(char *key, size_t len, size_t *used, const char *what,
			      const struct stat *st)
{
	int n;

	if (*used >= len)
		return;
	n = snprintf(key + *used, len - *used, "%s:%lld:%lld.%ld;", what, (long long)st->st_size,
		     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	*used = n < 0 ? len : *used + (size_t)n;
}

static void cli_image_key(const char *images, const char *name, const char *agent, char *key,
			  size_t len)
{
	char path[PATH_MAX + 300];
	const char *files[] = { agent, "lib.sh", name, "/var/lib/dpkg/status" };
	size_t used = 0;
	DIR *d;
	struct dirent *e;
	struct stat st;

	key[0] = '\0';
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (!files[i])
			snprintf(path, sizeof(path), "(none)");
		else if (files[i][0] == '/')
			snprintf(path, sizeof(path), "%s", files[i]);
		else
			snprintf(path, sizeof(path), "%s/%s", images, files[i]);
		if (stat(path, &st) < 0)
			memset(&st, 0, sizeof(st));
		cli_image_key_add(key, len, &used, path, &st);
	}
	snprintf(path, sizeof(path), "%s/%s", images, name);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char f[PATH_MAX + 600];
		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
		if (stat(f, &st) == 0)
			cli_image_key_add(key, len, &used, e->d_name, &st);
	}
	if (d)
		closedir(d);
}

static int cli_image_cache_file(const char *name, char *out, size_t len)
{
	const char *c = getenv("AGENTVM_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
	int n;

	if (c && *c)
		n = snprintf(out, len, "%s/images/.agentvm-%s.where", c, name);
	else if (x && *x)
		n = snprintf(out, len, "%s/agentvm/images/.agentvm-%s.where", x, name);
	else if (h && *h)
		n = snprintf(out, len, "%s/.cache/agentvm/images/.agentvm-%s.where", h, name);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int cli_image_cache_get(const char *file, const char *key, char *dir, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	static char line[8192];

	if (!f || !fgets(line, sizeof(line), f))
		return -ENOENT;
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, key) != 0 || !fgets(line, sizeof(line), f))
		return -ESTALE;
	line[strcspn(line, "\n")] = '\0';
	if (!line[0] || (size_t)snprintf(dir, len, "%s", line) >= len)
		return -EINVAL;
	return 0;
}

static void cli_image_cache_put(const char *file, const char *key, const char *dir)
{
	char tmp[PATH_MAX + 400];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%d", file, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%s\n%s\n", key, dir);
	if (fclose(f) != 0 || rename(tmp, file) < 0)
		unlink(tmp);
}

int cli_image_locate(const char *name, const char *agent, char *dir, size_t len)
{
	static char key[8192];
	char cache[PATH_MAX + 100];
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
	cli_image_key(images, name, agent, key, sizeof(key));
	if (cli_image_cache_file(name, cache, sizeof(cache)) < 0)
		cache[0] = '\0';
	if (cache[0] && cli_image_cache_get(cache, key, dir, len) == 0) {
		snprintf(manifest, sizeof(manifest), "%s/manifest.txt", dir);
		if (access(manifest, F_OK) == 0)
			return 1;
	}
	r = cli_image_script(script, args, dir, len, 30000);
	if (r < 0)
		return r;
	snprintf(manifest, sizeof(manifest), "%s/manifest.txt", dir);
	if (access(manifest, F_OK) != 0)
		return 0;
	if (cache[0])
		cli_image_cache_put(cache, key, dir);
	return 1;
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
