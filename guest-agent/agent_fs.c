#include "guest-agent/agent_fs.h"

#include "common/cleanup.h"
#include "common/json_util.h"
#include "guest-agent/agent_proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_LIST_BUDGET	 (12u << 20) /* rough bound on a listing's JSON size */
#define FS_LIST_SCAN_MAX 1000000     /* names read from one directory at most */
#define FS_REMOVE_DEPTH	 1024

static int fs_fail(struct agent_error *err, int e, const char *path, const char *what)
{
	agent_error_errno(err, e, path, "%s %s", what, path);
	return -1;
}

static const char *fs_type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	default:
		return "unknown";
	}
}

static int64_t fs_ms(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

/* --- fs.read ------------------------------------------------------------------------ */

static int fs_read(const struct agent_fs_req *f, struct json_object **result,
		   struct agent_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ unsigned char *buf = NULL;
	size_t want, got = 0, cap, alloc;
	struct stat st;
	int eof = 0;
	ssize_t n;

	if (f->has_length && f->length > AGENT_FS_READ_MAX) {
		agent_error_set(err, "ETOOBIG", "length", "at most %u bytes per fs.read",
				AGENT_FS_READ_MAX);
		snprintf(err->path, sizeof(err->path), "%s", f->path);
		return -1;
	}
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fs_fail(err, errno, f->path, "open");
	if (fstat(fd, &st) < 0)
		return fs_fail(err, errno, f->path, "stat");
	if (S_ISDIR(st.st_mode))
		return fs_fail(err, EISDIR, f->path, "read");
	if (!f->has_length && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size > f->offset &&
	    (uint64_t)st.st_size - f->offset > AGENT_FS_READ_MAX) {
		agent_error_set(err, "ETOOBIG", "length",
				"%s has %llu bytes from offset %llu; read at most %u per request",
				f->path, (unsigned long long)((uint64_t)st.st_size - f->offset),
				(unsigned long long)f->offset, AGENT_FS_READ_MAX);
		snprintf(err->path, sizeof(err->path), "%s", f->path);
		return -1;
	}
	/* One byte more than allowed tells "too big" from "exactly the cap". */
	want = f->has_length ? (size_t)f->length : AGENT_FS_READ_MAX + 1;
	if (f->offset > 0 && lseek(fd, (off_t)f->offset, SEEK_SET) < 0)
		return fs_fail(err, errno, f->path, "seek");
	alloc = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
	cap = alloc < want ? alloc : want;
	buf = malloc(cap ? cap : 1);
	if (!buf)
		return fs_fail(err, ENOMEM, f->path, "read");
	while (got < want) {
		if (got == cap) {
			size_t ncap = cap * 2 < want ? cap * 2 : want;
			unsigned char *nb = realloc(buf, ncap);

			if (!nb)
				return fs_fail(err, ENOMEM, f->path, "read");
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break; /* a FIFO or device with nothing more right now */
		if (n < 0)
			return fs_fail(err, errno, f->path, "read");
		if (n == 0) {
			eof = 1;
			break;
		}
		got += (size_t)n;
	}
	if (!f->has_length && got > AGENT_FS_READ_MAX) {
		agent_error_set(err, "ETOOBIG", "length",
				"%s has more than %u bytes; read it in pieces", f->path,
				AGENT_FS_READ_MAX);
		snprintf(err->path, sizeof(err->path), "%s", f->path);
		return -1;
	}
	if (!eof && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= f->offset + got)
		eof = st.st_size > 0; /* exactly at the end of a file of known size */
	*result = json_object_new_object();
	if (!*result || json_util_add_base64(*result, "data", buf, got) < 0) {
		json_object_put(*result);
		return fs_fail(err, ENOMEM, f->path, "read");
	}
	json_object_object_add(*result, "size", json_object_new_int64(st.st_size));
	json_object_object_add(*result, "offset", json_object_new_int64((int64_t)f->offset));
	json_object_object_add(*result, "length", json_object_new_int64((int64_t)got));
	json_object_object_add(*result, "eof", json_object_new_boolean(eof));
	return 0;
}

/* --- fs.mkdir ------------------------------------------------------------------------ */

/* mkdir -p: create every missing component of path. */
static int fs_mkdir_parents(const char *path, mode_t mode, struct agent_error *err)
{
	char buf[AGENT_PATH_MAX + 1];
	size_t len = strlen(path), i;
	struct stat st;

	if (len > AGENT_PATH_MAX)
		return fs_fail(err, ENAMETOOLONG, path, "mkdir");
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0) {
			int e = errno;

			if (e != EEXIST)
				return fs_fail(err, e, buf, "mkdir");
			if (stat(buf, &st) < 0)
				return fs_fail(err, errno, buf, "stat");
			if (!S_ISDIR(st.st_mode))
				return fs_fail(err, ENOTDIR, buf, "mkdir");
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

static int fs_mkdir(const struct agent_fs_req *f, struct agent_error *err)
{
	if (f->parents)
		return fs_mkdir_parents(f->path, f->mode, err);
	if (mkdir(f->path, f->mode) < 0)
		return fs_fail(err, errno, f->path, "mkdir");
	return 0;
}

/* --- fs.write ------------------------------------------------------------------------ */

static int fs_write(const struct agent_fs_req *f, struct json_object **result,
		    struct agent_error *err)
{
	int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	_cleanup_close_ int fd = -1;
	size_t done = 0;
	struct stat st;
	ssize_t n;

	if (f->parents) {
		char parent[AGENT_PATH_MAX + 1];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", f->path);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (fs_mkdir_parents(parent, 0755, err) < 0)
				return -1;
		}
	}
	if (f->create)
		flags |= O_CREAT;
	if (f->exclusive)
		flags |= O_EXCL;
	if (f->truncate)
		flags |= O_TRUNC;
	if (f->append)
		flags |= O_APPEND;
	fd = open(f->path, flags, f->mode);
	if (fd < 0)
		return fs_fail(err, errno, f->path, "open");
	if (fstat(fd, &st) < 0)
		return fs_fail(err, errno, f->path, "stat");
	while (done < f->len) {
		if (f->has_offset)
			n = pwrite(fd, f->data + done, f->len - done, (off_t)(f->offset + done));
		else
			n = write(fd, f->data + done, f->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fs_fail(err, errno, f->path, "write");
		done += (size_t)n;
	}
	if ((f->has_uid || f->has_gid) &&
	    fchown(fd, f->has_uid ? f->uid : (uid_t)-1, f->has_gid ? f->gid : (gid_t)-1) < 0)
		return fs_fail(err, errno, f->path, "chown");
	if (fstat(fd, &st) < 0)
		return fs_fail(err, errno, f->path, "stat");
	*result = json_object_new_object();
	if (!*result)
		return fs_fail(err, ENOMEM, f->path, "write");
	json_object_object_add(*result, "written", json_object_new_int64((int64_t)done));
	json_object_object_add(*result, "size", json_object_new_int64(st.st_size));
	return 0;
}

/* --- fs.stat -------------------------------------------------------------------------- */

static int fs_stat(const struct agent_fs_req *f, struct json_object **result,
		   struct agent_error *err)
{
	struct json_object *o;
	struct stat st;

	if ((f->follow ? stat(f->path, &st) : lstat(f->path, &st)) < 0)
		return fs_fail(err, errno, f->path, "stat");
	o = json_object_new_object();
	if (!o)
		return fs_fail(err, ENOMEM, f->path, "stat");
	json_object_object_add(o, "type", json_object_new_string(fs_type_name(st.st_mode)));
	json_object_object_add(o, "size", json_object_new_int64(st.st_size));
	json_object_object_add(o, "mode", json_object_new_int(st.st_mode & 07777));
	json_object_object_add(o, "uid", json_object_new_int64(st.st_uid));
	json_object_object_add(o, "gid", json_object_new_int64(st.st_gid));
	json_object_object_add(o, "nlink", json_object_new_int64((int64_t)st.st_nlink));
	json_object_object_add(o, "ino", json_object_new_int64((int64_t)st.st_ino));
	json_object_object_add(o, "mtime_ms", json_object_new_int64(fs_ms(&st.st_mtim)));
	json_object_object_add(o, "atime_ms", json_object_new_int64(fs_ms(&st.st_atim)));
	json_object_object_add(o, "ctime_ms", json_object_new_int64(fs_ms(&st.st_ctim)));
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(f->path, target, sizeof(target));

		if (n >= 0)
			json_object_object_add(o, "target",
					       json_util_new_string_lossy(target, (size_t)n));
	}
	*result = o;
	return 0;
}

/* --- fs.list ------------------------------------------------------------------------- */

static int fs_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fs_free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int fs_list(const struct agent_fs_req *f, struct json_object **result,
		   struct agent_error *err)
{
	struct json_object *o = NULL, *arr = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0, i, budget = 0;
	int truncated = 0, dfd;
	struct dirent *de;
	DIR *d;

	dfd = open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fs_fail(err, errno, f->path, "open");
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return fs_fail(err, errno, f->path, "opendir");
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == FS_LIST_SCAN_MAX) {
			truncated = 1;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(char *));

			if (!nn)
				goto nomem;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto nomem;
		n++;
		errno = 0;
	}
	if (errno && !de) {
		int e = errno;

		closedir(d);
		fs_free_names(names, n);
		return fs_fail(err, e, f->path, "readdir");
	}
	if (names)
		qsort(names, n, sizeof(char *), fs_name_cmp);
	o = json_object_new_object();
	arr = json_object_new_array();
	if (!o || !arr)
		goto nomem;
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		struct json_object *e;
		struct stat st;

		if (i >= f->limit || budget + len * 6 + 160 > FS_LIST_BUDGET) {
			truncated = 1;
			break;
		}
		budget += len * 6 + 160;
		e = json_object_new_object();
		if (!e)
			goto nomem;
		json_object_array_add(arr, e);
		json_object_object_add(e, "name", json_util_new_string_lossy(names[i], len));
		if (!json_util_utf8_valid(names[i], len) &&
		    json_util_add_base64(e, "name_b64", names[i], len) < 0)
			goto nomem;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			json_object_object_add(e, "type", json_object_new_string("unknown"));
			continue;
		}
		json_object_object_add(e, "type", json_object_new_string(fs_type_name(st.st_mode)));
		json_object_object_add(e, "size", json_object_new_int64(st.st_size));
		json_object_object_add(e, "mode", json_object_new_int(st.st_mode & 07777));
		json_object_object_add(e, "mtime_ms", json_object_new_int64(fs_ms(&st.st_mtim)));
	}
	closedir(d);
	fs_free_names(names, n);
	json_object_object_add(o, "entries", arr);
	json_object_object_add(o, "truncated", json_object_new_boolean(truncated));
	*result = o;
	return 0;
nomem:
	closedir(d);
	fs_free_names(names, n);
	json_object_put(arr);
	json_object_put(o);
	return fs_fail(err, ENOMEM, f->path, "list");
}

/* --- fs.remove ----------------------------------------------------------------------- */

struct fs_rm {
	char path[AGENT_PATH_MAX * 2];
	dev_t dev;
	struct agent_error *err;
};

/* Remove the contents of directory dfd (path in rm->path), then name in parent. */
static int fs_rm_tree(struct fs_rm *rm, int parent, const char *name, int depth)
{
	size_t plen = strlen(rm->path);
	struct dirent *de;
	struct stat st;
	int fd, r = 0;
	DIR *d;

	if (depth > FS_REMOVE_DEPTH)
		return fs_fail(rm->err, ELOOP, rm->path, "remove");
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fs_fail(rm->err, errno, rm->path, "open");
	if (fstat(fd, &st) < 0 || st.st_dev != rm->dev) {
		/* A mount point: leave it; its rmdir below reports EBUSY. */
		close(fd);
		goto rmdir;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return fs_fail(rm->err, errno, rm->path, "opendir");
	}
	while (r == 0 && (de = readdir(d))) {
		int isdir;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(rm->path + plen, sizeof(rm->path) - plen, "/%s", de->d_name);
		if (de->d_type == DT_UNKNOWN) {
			struct stat est;

			if (fstatat(dirfd(d), de->d_name, &est, AT_SYMLINK_NOFOLLOW) < 0) {
				r = fs_fail(rm->err, errno, rm->path, "stat");
				break;
			}
			isdir = S_ISDIR(est.st_mode);
		} else {
			isdir = de->d_type == DT_DIR;
		}
		if (isdir)
			r = fs_rm_tree(rm, dirfd(d), de->d_name, depth + 1);
		else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			r = fs_fail(rm->err, errno, rm->path, "unlink");
		rm->path[plen] = '\0';
	}
	closedir(d);
	if (r < 0)
		return r;
rmdir:
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return fs_fail(rm->err, errno, rm->path, "rmdir");
	return 0;
}

static int fs_remove(const struct agent_fs_req *f, struct agent_error *err)
{
	struct stat st;
	size_t len = strlen(f->path);

	while (len > 1 && f->path[len - 1] == '/')
		len--;
	if (len == 1 || strspn(f->path, "/.") == strlen(f->path)) {
		agent_error_set(err, "EBUSY", "path", "refusing to remove /");
		snprintf(err->path, sizeof(err->path), "%s", f->path);
		return -1;
	}
	if (lstat(f->path, &st) < 0)
		return fs_fail(err, errno, f->path, "remove");
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(f->path) < 0)
			return fs_fail(err, errno, f->path, "unlink");
		return 0;
	}
	if (!f->recursive) {
		if (rmdir(f->path) < 0)
			return fs_fail(err, errno, f->path, "rmdir");
		return 0;
	}
	{
		/* "/tmp/.." is / too. */
		char *real = realpath(f->path, NULL);
		int root = real && strcmp(real, "/") == 0;

		free(real);
		if (root) {
			agent_error_set(err, "EBUSY", "path", "refusing to remove /");
			snprintf(err->path, sizeof(err->path), "%s", f->path);
			return -1;
		}
	}
	{
		struct fs_rm *rm = calloc(1, sizeof(*rm));
		int r;

		if (!rm)
			return fs_fail(err, ENOMEM, f->path, "remove");
		snprintf(rm->path, sizeof(rm->path), "%s", f->path);
		rm->dev = st.st_dev;
		rm->err = err;
		r = fs_rm_tree(rm, AT_FDCWD, f->path, 0);
		free(rm);
		return r;
	}
}

/* --- fs.rename ----------------------------------------------------------------------- */

static int fs_rename(const struct agent_fs_req *f, struct agent_error *err)
{
	struct stat st;

	if (renameat2(AT_FDCWD, f->path, AT_FDCWD, f->to, f->overwrite ? 0 : RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL && !f->overwrite) {
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		if (lstat(f->to, &st) == 0)
			return fs_fail(err, EEXIST, f->to, "rename to");
		if (rename(f->path, f->to) == 0)
			return 0;
	}
	if (errno == EEXIST || errno == ENOTEMPTY || errno == EISDIR)
		return fs_fail(err, errno, f->to, "rename to");
	return fs_fail(err, errno, f->path, "rename");
}

int agent_fs_handle(const struct agent_request *req, struct json_object **result,
		    struct agent_error *err)
{
	const struct agent_fs_req *f = &req->fs;

	*result = NULL;
	switch (req->op) {
	case AGENT_OP_FS_READ:
		return fs_read(f, result, err);
	case AGENT_OP_FS_WRITE:
		return fs_write(f, result, err);
	case AGENT_OP_FS_STAT:
		return fs_stat(f, result, err);
	case AGENT_OP_FS_LIST:
		return fs_list(f, result, err);
	case AGENT_OP_FS_MKDIR:
		return fs_mkdir(f, err);
	case AGENT_OP_FS_REMOVE:
		return fs_remove(f, err);
	case AGENT_OP_FS_RENAME:
		return fs_rename(f, err);
	default:
		agent_error_set(err, "EUNKNOWNOP", "op", "not a file operation");
		return -1;
	}
}
