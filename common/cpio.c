#include "common/cpio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

#define CPIO_MAX_FILE (1ull << 32) /* newc sizes are 32-bit */

struct cpio_writer {
	int fd;
	int error;
	uint32_t ino;
	uint64_t offset;
};

int cpio_writer_new(int fd, struct cpio_writer **out)
{
	struct cpio_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->ino = 1;
	*out = w;
	return 0;
}

static void cpio_put(struct cpio_writer *w, const void *buf, size_t len)
{
	const char *p = buf;

	while (!w->error && len > 0) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->error = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
		w->offset += (uint64_t)n;
	}
}

static void cpio_pad(struct cpio_writer *w)
{
	static const char zeros[4];

	cpio_put(w, zeros, (4 - (w->offset & 3)) & 3);
}

static int cpio_entry(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		      uint32_t gid, const void *data, size_t size, uint32_t rmaj, uint32_t rmin)
{
	char hdr[111];
	size_t namesize;

	if (w->error)
		return w->error;
	while (*name == '/')
		name++;
	namesize = strlen(name) + 1;
	if (namesize == 1 || namesize > 4096 || size >= CPIO_MAX_FILE)
		return -EINVAL;
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
		 w->ino++, mode, uid, gid, (mode & S_IFMT) == S_IFDIR ? 2u : 1u, 0u, size, 0u, 0u,
		 rmaj, rmin, namesize, 0u);
	cpio_put(w, hdr, 110);
	cpio_put(w, name, namesize);
	cpio_pad(w);
	cpio_put(w, data, size);
	cpio_pad(w);
	return w->error;
}

int cpio_add_file(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		  uint32_t gid, const void *data, size_t size)
{
	return cpio_entry(w, name, S_IFREG | (mode & 07777), uid, gid, data, size, 0, 0);
}

int cpio_add_dir(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid, uint32_t gid)
{
	return cpio_entry(w, name, S_IFDIR | (mode & 07777), uid, gid, NULL, 0, 0, 0);
}

int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target, uint32_t uid,
		     uint32_t gid)
{
	return cpio_entry(w, name, S_IFLNK | 0777, uid, gid, target, strlen(target), 0, 0);
}

int cpio_add_node(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t uid,
		  uint32_t gid, char type, uint32_t major, uint32_t minor)
{
	uint32_t fmt = type == 'c' ? S_IFCHR : type == 'b' ? S_IFBLK : 0;

	if (!fmt)
		return -EINVAL;
	return cpio_entry(w, name, fmt | (mode & 07777), uid, gid, NULL, 0, major, minor);
}

int cpio_writer_finish(struct cpio_writer *w)
{
	int r;

	if (!w)
		return 0;
	cpio_entry(w, "TRAILER!!!", 0, 0, 0, NULL, 0, 0, 0);
	/* Pad the archive to 512 bytes, as cpio(1) does. */
	while (!w->error && (w->offset & 511))
		cpio_put(w, "", 1);
	r = w->error;
	free(w);
	return r;
}

static int cpio_read_file(const char *path, char **data, size_t *size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size >= CPIO_MAX_FILE)
		return -EFBIG;
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	*data = buf;
	*size = got;
	return 0;
}

static int cpio_list_line(struct cpio_writer *w, char *line, char *why, size_t whylen)
{
	char *f[9];
	int n = 0;
	char *save = NULL;

	for (char *t = strtok_r(line, " \t", &save); t && n < 9; t = strtok_r(NULL, " \t", &save))
		f[n++] = t;
	if (n == 0)
		return 0;
#define NUM(i) ((uint32_t)strtoul(f[i], NULL, 8))
#define DEC(i) ((uint32_t)strtoul(f[i], NULL, 10))
	if (!strcmp(f[0], "dir") && n == 5)
		return cpio_add_dir(w, f[1], NUM(2), DEC(3), DEC(4));
	if (!strcmp(f[0], "slink") && n == 6)
		return cpio_add_symlink(w, f[1], f[2], DEC(4), DEC(5));
	if (!strcmp(f[0], "nod") && n == 8 && strlen(f[5]) == 1)
		return cpio_add_node(w, f[1], NUM(2), DEC(3), DEC(4), f[5][0], DEC(6), DEC(7));
	if (!strcmp(f[0], "file") && n == 6) {
		_cleanup_free_ char *data = NULL;
		size_t size = 0;
		int r = cpio_read_file(f[2], &data, &size);
		if (r < 0) {
			snprintf(why, whylen, "%s: %s", f[2], strerror(-r));
			return r;
		}
		return cpio_add_file(w, f[1], NUM(3), DEC(4), DEC(5), data, size);
	}
#undef NUM
#undef DEC
	snprintf(why, whylen, "malformed entry '%s'", f[0]);
	return -EINVAL;
}

int cpio_add_list(struct cpio_writer *w, const char *list, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(list);
	char *rest = copy, *line;
	int lineno = 0;

	if (!copy)
		return -ENOMEM;
	while ((line = strsep(&rest, "\n"))) {
		char why[256] = "";
		int r;

		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0')
			continue;
		r = cpio_list_line(w, line, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "line %d: %s", lineno, *why ? why : strerror(-r));
			return r;
		}
	}
	return 0;
}
