#include "host/cgroup.h"

#include "common/cleanup.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_PARENT "agentvm"

struct cgroup_dir {
	int version;
	char path[640];
	char self[640];	  /* our own cgroup in that hierarchy */
	char parent[640]; /* the shared "agentvm" directory below it */
	unsigned ctrls;	  /* bit (1 << enum cgroup_ctrl) for each controller it holds */
};

struct cgroup {
	char name[64];
	int ndirs;
	struct cgroup_dir dirs[CGROUP_NCTRL];
};

static const char *const cgroup_names[CGROUP_NCTRL] = {
	[CGROUP_MEMORY] = "memory",
	[CGROUP_PIDS] = "pids",
	[CGROUP_CPU] = "cpu",
};

const char *cgroup_ctrl_name(enum cgroup_ctrl c)
{
	return (unsigned)c < CGROUP_NCTRL ? cgroup_names[c] : "?";
}

int cgroup_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (!n)
		return 0;
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static int cgroup_copy(char *dst, size_t len, const char *src, size_t n)
{
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int cgroup_parse_self(const char *text, const char *ctrl, char *path, size_t len)
{
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		const char *c1 = memchr(line, ':', n);
		const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - line)) : NULL;
		char ctrls[256];

		if (n == 0)
			goto next;
		if (!c1 || !c2)
			return -EINVAL;
		if (cgroup_copy(ctrls, sizeof(ctrls), c1 + 1, (size_t)(c2 - c1 - 1)) < 0)
			goto next;
		if (ctrl ? cgroup_list_has(ctrls, ctrl)
			 : (c1 - line == 1 && line[0] == '0' && ctrls[0] == '\0')) {
			const char *p = c2 + 1;
			size_t plen = n - (size_t)(p - line);
			if (plen == 0 || p[0] != '/')
				return -EINVAL;
			return cgroup_copy(path, len, p, plen);
		}
	next:
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

/* Copy one mountinfo field, decoding \ooo escapes. */
static int cgroup_unescape(const char *src, size_t n, char *dst, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = src[i];
		if (ch == '\\' && i + 3 < n && src[i + 1] >= '0' && src[i + 1] <= '3' &&
		    src[i + 2] >= '0' && src[i + 2] <= '7' && src[i + 3] >= '0' &&
		    src[i + 3] <= '7') {
			ch = (char)(((src[i + 1] - '0') << 6) | ((src[i + 2] - '0') << 3) |
				    (src[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		dst[o++] = ch;
	}
	dst[o] = '\0';
	return 0;
}

/* Split a line into space-separated fields (at most max). */
static int cgroup_fields(const char *line, size_t n, const char **f, size_t *flen, int max)
{
	int k = 0;
	size_t i = 0;

	while (i < n && k < max) {
		while (i < n && line[i] == ' ')
			i++;
		if (i >= n)
			break;
		f[k] = line + i;
		while (i < n && line[i] != ' ')
			i++;
		flen[k] = (size_t)(line + i - f[k]);
		k++;
	}
	return k;
}

int cgroup_parse_mountinfo(const char *text, const char *ctrl, char *mnt, size_t mnt_len,
			   char *root, size_t root_len)
{
	const char *line = text;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		const char *f[64];
		size_t fl[64];
		int nf = cgroup_fields(line, n, f, fl, 64);
		int dash = -1;
		char fstype[32], opts[512];

		for (int i = 6; i < nf; i++) {
			if (fl[i] == 1 && f[i][0] == '-') {
				dash = i;
				break;
			}
		}
		if (dash < 0 || dash + 1 >= nf)
			goto next;
		if (cgroup_copy(fstype, sizeof(fstype), f[dash + 1], fl[dash + 1]) < 0)
			goto next;
		if (dash + 3 < nf) {
			if (cgroup_copy(opts, sizeof(opts), f[dash + 3], fl[dash + 3]) < 0)
				goto next;
		} else {
			opts[0] = '\0';
		}
		if (ctrl ? (strcmp(fstype, "cgroup") == 0 && cgroup_list_has(opts, ctrl))
			 : strcmp(fstype, "cgroup2") == 0) {
			int r = cgroup_unescape(f[4], fl[4], mnt, mnt_len);
			if (r < 0)
				return r;
			return cgroup_unescape(f[3], fl[3], root, root_len);
		}
	next:
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

static int cgroup_has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2) {
		int start = s == p || s[-1] == '/';
		int end = s[2] == '\0' || s[2] == '/';
		if (start && end)
			return 1;
	}
	return 0;
}

int cgroup_join_dir(const char *mnt, const char *root, const char *self, char *out, size_t len)
{
	size_t rl = strlen(root);
	const char *rest;
	int n;

	if (self[0] != '/' || root[0] != '/' || cgroup_has_dotdot(self))
		return -EINVAL;
	/* "/" as a mount root: everything is below it. */
	if (rl == 1) {
		rest = self;
	} else {
		if (strncmp(self, root, rl) != 0 || (self[rl] != '\0' && self[rl] != '/'))
			return -EINVAL;
		rest = self + rl;
	}
	while (*rest == '/')
		rest++;
	if (*rest)
		n = snprintf(out, len, "%s/%s", mnt, rest);
	else
		n = snprintf(out, len, "%s", mnt);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* No trailing slash, so paths compare equal. */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

static int cgroup_slurp(const char *path, char **out)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			char *nb;
			if (cap > (1u << 24)) {
				free(buf);
				return -EFBIG;
			}
			nb = realloc(buf, cap + 8192);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap += 8192;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int cgroup_read_file(const char *dir, const char *file, char *buf, size_t len)
{
	char path[768];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int cgroup_write_file(const char *dir, const char *file, const char *val)
{
	char path[768];
	_cleanup_close_ int fd = -1;
	size_t n = strlen(val);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, n) != (ssize_t)n)
		return errno ? -errno : -EIO;
	return 0;
}

int cgroup_locate(enum cgroup_ctrl c, struct cgroup_place *out)
{
	_cleanup_free_ char *mi = NULL;
	_cleanup_free_ char *self = NULL;
	char root[256], path[512], avail[512];
	int r;

	memset(out, 0, sizeof(*out));
	if ((unsigned)c >= CGROUP_NCTRL)
		return -EINVAL;
	r = cgroup_slurp("/proc/self/mountinfo", &mi);
	if (r < 0)
		return r;
	r = cgroup_slurp("/proc/self/cgroup", &self);
	if (r < 0)
		return r;
	/* A v1 hierarchy holding the controller wins: a v2 mount cannot have it then. */
	if (cgroup_parse_mountinfo(mi, cgroup_names[c], out->mount, sizeof(out->mount), root,
				   sizeof(root)) == 0 &&
	    cgroup_parse_self(self, cgroup_names[c], path, sizeof(path)) == 0) {
		r = cgroup_join_dir(out->mount, root, path, out->self_dir, sizeof(out->self_dir));
		if (r < 0)
			return r;
		out->version = 1;
		return 0;
	}
	if (cgroup_parse_mountinfo(mi, NULL, out->mount, sizeof(out->mount), root, sizeof(root)) <
		    0 ||
	    cgroup_parse_self(self, NULL, path, sizeof(path)) < 0)
		return -ENOENT;
	r = cgroup_join_dir(out->mount, root, path, out->self_dir, sizeof(out->self_dir));
	if (r < 0)
		return r;
	if (cgroup_read_file(out->self_dir, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return -ENOENT;
	for (char *p = avail; *p; p++)
		if (*p == ' ')
			*p = ',';
	if (!cgroup_list_has(avail, cgroup_names[c]))
		return -ENOENT;
	out->version = 2;
	return 0;
}

/* v2: make the controllers in `mask` available to the children of dir. */
static int cgroup_v2_enable(const char *dir, unsigned mask)
{
	char have[512], want[128] = "";

	if (cgroup_read_file(dir, "cgroup.subtree_control", have, sizeof(have)) < 0)
		have[0] = '\0';
	for (char *p = have; *p; p++)
		if (*p == ' ')
			*p = ',';
	for (int c = 0; c < CGROUP_NCTRL; c++) {
		if (!(mask & (1u << c)) || cgroup_list_has(have, cgroup_names[c]))
			continue;
		size_t l = strlen(want);
		snprintf(want + l, sizeof(want) - l, "%s+%s", l ? " " : "", cgroup_names[c]);
	}
	if (!want[0])
		return 0;
	return cgroup_write_file(dir, "cgroup.subtree_control", want);
}

static int cgroup_mkdir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int cgroup_dir_create(struct cgroup_dir *d, const char *name)
{
	int r = 0;

	if ((size_t)snprintf(d->path, sizeof(d->path), "%s/%s", d->parent, name) >= sizeof(d->path))
		return -ENAMETOOLONG;
	/* Another sandbox may remove the shared parent between our two mkdirs. */
	for (int tries = 0; tries < 3; tries++) {
		r = cgroup_mkdir(d->parent);
		if (r < 0)
			return r;
		if (d->version == 2) {
			r = cgroup_v2_enable(d->parent, d->ctrls);
			if (r == -ENOENT)
				continue;
			if (r < 0)
				return r;
		}
		if (mkdir(d->path, 0755) == 0)
			return 0;
		r = -errno;
		if (r != -ENOENT)
			return r;
	}
	return r;
}

static int cgroup_set_limits(struct cgroup *cg, const struct cgroup_limits *lim)
{
	char val[64];
	int r;

	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		int v1 = d->version == 1;

		if ((d->ctrls & (1u << CGROUP_MEMORY)) && lim->mem_bytes) {
			snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->mem_bytes);
			r = cgroup_write_file(d->path, v1 ? "memory.limit_in_bytes" : "memory.max",
					      val);
			if (r < 0)
				return log_err("cgroup %s: memory limit: %s", d->path,
					       strerror(-r)),
				       r;
			/* No swapping around the limit; the file is absent without swap accounting. */
			r = cgroup_write_file(
				d->path, v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max",
				v1 ? val : "0");
			if (r < 0 && r != -ENOENT)
				log_warn("cgroup %s: swap limit: %s", d->path, strerror(-r));
		}
		if ((d->ctrls & (1u << CGROUP_PIDS)) && lim->pids_max) {
			snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->pids_max);
			r = cgroup_write_file(d->path, "pids.max", val);
			if (r < 0)
				return log_err("cgroup %s: pids limit: %s", d->path, strerror(-r)),
				       r;
		}
		if ((d->ctrls & (1u << CGROUP_CPU)) && lim->cpu_millis) {
			unsigned long long quota = (unsigned long long)lim->cpu_millis * 100;
			if (v1) {
				r = cgroup_write_file(d->path, "cpu.cfs_period_us", "100000");
				if (r >= 0) {
					snprintf(val, sizeof(val), "%llu", quota);
					r = cgroup_write_file(d->path, "cpu.cfs_quota_us", val);
				}
			} else {
				snprintf(val, sizeof(val), "%llu 100000", quota);
				r = cgroup_write_file(d->path, "cpu.max", val);
			}
			if (r < 0)
				return log_err("cgroup %s: cpu limit: %s", d->path, strerror(-r)),
				       r;
		}
	}
	return 0;
}

static int cgroup_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= 64 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

int cgroup_new(const char *name, const struct cgroup_limits *lim, struct cgroup **out)
{
	struct cgroup *cg;
	struct cgroup_place place[CGROUP_NCTRL];
	uint64_t want[CGROUP_NCTRL] = { lim->mem_bytes, lim->pids_max, lim->cpu_millis };
	int r;

	*out = NULL;
	if (!cgroup_name_ok(name))
		return -EINVAL;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	snprintf(cg->name, sizeof(cg->name), "%s", name);

	for (int c = 0; c < CGROUP_NCTRL; c++) {
		struct cgroup_dir *d = NULL;

		r = cgroup_locate(c, &place[c]);
		if (r < 0) {
			if (!want[c])
				continue;
			log_err("cgroup: no %s controller (neither a v1 hierarchy nor in our v2 "
				"cgroup's cgroup.controllers): cannot apply the %s limit",
				cgroup_names[c], cgroup_names[c]);
			r = -ENOTSUP;
			goto fail;
		}
		/* Controllers mounted together (v2, or co-mounted v1) share one directory. */
		char parent[640];
		snprintf(parent, sizeof(parent), "%s/%s", place[c].self_dir, CGROUP_PARENT);
		for (int i = 0; i < cg->ndirs; i++)
			if (strcmp(parent, cg->dirs[i].parent) == 0)
				d = &cg->dirs[i];
		if (!d) {
			d = &cg->dirs[cg->ndirs++];
			d->version = place[c].version;
			snprintf(d->self, sizeof(d->self), "%s", place[c].self_dir);
			snprintf(d->parent, sizeof(d->parent), "%s", parent);
		}
		d->ctrls |= 1u << c;
	}

	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		const char *self_dir = d->self;

		if (d->version == 2) {
			r = cgroup_v2_enable(self_dir, d->ctrls);
			if (r < 0) {
				log_err("cgroup: cannot enable controllers below %s: %s%s",
					self_dir, strerror(-r),
					r == -EBUSY
						? " (that cgroup holds processes; run agentvm in a "
						  "delegated cgroup, e.g. systemd-run --scope -p "
						  "Delegate=yes)"
						: "");
				goto fail;
			}
		}
		r = cgroup_dir_create(d, name);
		if (r < 0) {
			log_err("cgroup: cannot create %s/%s: %s", d->parent, name, strerror(-r));
			d->path[0] = '\0';
			goto fail;
		}
	}
	r = cgroup_set_limits(cg, lim);
	if (r < 0)
		goto fail;
	*out = cg;
	return 0;
fail:
	cgroup_free(cg);
	return r;
}

int cgroup_add_pid(struct cgroup *cg, pid_t pid)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)pid);
	for (int i = 0; i < cg->ndirs; i++) {
		int r = cgroup_write_file(cg->dirs[i].path, "cgroup.procs", val);
		if (r < 0) {
			log_err("cgroup: cannot move pid %d into %s: %s", (int)pid,
				cg->dirs[i].path, strerror(-r));
			return r;
		}
	}
	return 0;
}

int cgroup_open_join(struct cgroup *cg, int fds[])
{
	char path[768];

	for (int i = 0; i < cg->ndirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", cg->dirs[i].path,
			 cg->dirs[i].version == 1 ? "tasks" : "cgroup.procs");
		fds[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int r = -errno;
			log_err("cgroup: %s: %s", path, strerror(errno));
			while (i-- > 0)
				close(fds[i]);
			return r;
		}
	}
	return cg->ndirs;
}

int cgroup_join_self(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (write(fds[i], "0", 1) != 1)
			return errno ? -errno : -EIO;
	return 0;
}

/* SIGKILL the processes listed in dir/cgroup.procs; returns how many there were. */
static int cgroup_kill_listed(const char *dir)
{
	char path[768];
	_cleanup_fclose_ FILE *f = NULL;
	int pid, n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fscanf(f, "%d", &pid) == 1) {
		if (pid > 0)
			kill(pid, SIGKILL);
		n++;
	}
	return n;
}

int cgroup_kill(struct cgroup *cg)
{
	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		if (!d->path[0])
			continue;
		if (d->version == 2 && cgroup_write_file(d->path, "cgroup.kill", "1") == 0)
			continue;
		cgroup_kill_listed(d->path);
	}
	return 0;
}

int cgroup_read_memory(struct cgroup *cg, uint64_t *bytes)
{
	char buf[64];

	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		if (!(d->ctrls & (1u << CGROUP_MEMORY)))
			continue;
		int r = cgroup_read_file(
			d->path, d->version == 1 ? "memory.usage_in_bytes" : "memory.current", buf,
			sizeof(buf));
		if (r < 0)
			return r;
		*bytes = strtoull(buf, NULL, 10);
		return 0;
	}
	return -ENOENT;
}

void cgroup_release(struct cgroup *cg)
{
	free(cg);
}

void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (!d->path[0])
			continue;
		/* A cgroup with tasks cannot go; give exiting tasks up to ~2 s. */
		for (int tries = 0; rmdir(d->path) < 0 && errno == EBUSY && tries < 200; tries++) {
			if (tries == 20)
				cgroup_kill_listed(d->path);
			nanosleep(&ts, NULL);
		}
		if (access(d->path, F_OK) == 0)
			log_warn("cgroup: could not remove %s: %s", d->path, strerror(errno));
		/* The shared parent goes when its last sandbox does. */
		if (rmdir(d->parent) < 0 && errno != ENOTEMPTY && errno != EBUSY && errno != ENOENT)
			log_debug("cgroup: rmdir %s: %s", d->parent, strerror(errno));
	}
	free(cg);
}

int cgroup_remove_stale(const char *name)
{
	int found = 0;

	if (!cgroup_name_ok(name))
		return -EINVAL;
	for (int c = 0; c < CGROUP_NCTRL; c++) {
		struct cgroup_place pl;
		char dir[700];
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (cgroup_locate(c, &pl) < 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s/%s", pl.self_dir, CGROUP_PARENT, name);
		if (access(dir, F_OK) < 0)
			continue;
		found = 1;
		for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 100; tries++) {
			cgroup_kill_listed(dir);
			nanosleep(&ts, NULL);
		}
		snprintf(dir, sizeof(dir), "%s/%s", pl.self_dir, CGROUP_PARENT);
		rmdir(dir);
	}
	return found ? 0 : -ENOENT;
}

int cgroup_open(const char *name, struct cgroup **out)
{
	struct cgroup *cg;

	*out = NULL;
	if (!cgroup_name_ok(name))
		return -EINVAL;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	for (int c = 0; c < CGROUP_NCTRL; c++) {
		struct cgroup_place pl;
		struct cgroup_dir *d = NULL;
		char parent[640], path[640];

		if (cgroup_locate(c, &pl) < 0)
			continue;
		snprintf(parent, sizeof(parent), "%s/%s", pl.self_dir, CGROUP_PARENT);
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", parent, name) >=
			    sizeof(d->path) ||
		    access(path, F_OK) < 0)
			continue;
		for (int i = 0; i < cg->ndirs; i++)
			if (strcmp(parent, cg->dirs[i].parent) == 0)
				d = &cg->dirs[i];
		if (!d) {
			d = &cg->dirs[cg->ndirs++];
			d->version = pl.version;
			snprintf(d->self, sizeof(d->self), "%s", pl.self_dir);
			snprintf(d->parent, sizeof(d->parent), "%s", parent);
			snprintf(d->path, sizeof(d->path), "%s", path);
		}
		d->ctrls |= 1u << c;
	}
	if (!cg->ndirs) {
		free(cg);
		return -ENOENT;
	}
	*out = cg;
	return 0;
}

static int64_t cgroup_read_i64(const char *dir, const char *file)
{
	char buf[64], *end;

	if (cgroup_read_file(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || end == buf || v < 0)
		return -1;
	return v;
}

/* The value of "key N" in a flat-keyed file such as memory.events. */
static int64_t cgroup_read_key(const char *dir, const char *file, const char *key)
{
	char path[768], k[64];
	long long v;
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (strcmp(k, key) == 0)
			return v;
	return -1;
}

/* CPU time of the tasks listed in dir: their own and that of the children they
 * reaped (PID 1 reaps every orphan of its pid namespace). */
static int64_t cgroup_cpu_from_procs(const char *dir)
{
	char path[768];
	_cleanup_fclose_ FILE *f = NULL;
	long hz = sysconf(_SC_CLK_TCK);
	int64_t ticks = 0;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f || hz <= 0)
		return -1;
	while (fscanf(f, "%d", &pid) == 1) {
		char sp[64], buf[1024];
		unsigned long long ut, st, cut, cst;
		snprintf(sp, sizeof(sp), "/proc/%d/stat", pid);
		_cleanup_close_ int fd = open(sp, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		/* After ") " come fields 3...; utime is field 14. */
		for (int field = 2; field < 14 && p; field++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%llu %llu %llu %llu", &ut, &st, &cut, &cst) == 4)
			ticks += (int64_t)(ut + st + cut + cst);
	}
	return ticks * 1000000 / hz;
}

void cgroup_read_stats(struct cgroup *cg, struct cgroup_stats *out)
{
	out->mem_bytes = out->mem_max = out->pids = out->cpu_usec = out->oom_kills = -1;
	if (!cg)
		return;
	for (int i = 0; i < cg->ndirs; i++) {
		struct cgroup_dir *d = &cg->dirs[i];
		int v1 = d->version == 1;

		if (!d->path[0])
			continue;
		if (d->ctrls & (1u << CGROUP_MEMORY)) {
			out->mem_bytes = cgroup_read_i64(d->path, v1 ? "memory.usage_in_bytes"
								     : "memory.current");
			out->mem_max = cgroup_read_i64(d->path,
						       v1 ? "memory.limit_in_bytes" : "memory.max");
			out->oom_kills = cgroup_read_key(
				d->path, v1 ? "memory.oom_control" : "memory.events", "oom_kill");
		}
		if (d->ctrls & (1u << CGROUP_PIDS))
			out->pids = cgroup_read_i64(d->path, "pids.current");
		if (d->ctrls & (1u << CGROUP_CPU)) {
			if (!v1) {
				out->cpu_usec = cgroup_read_key(d->path, "cpu.stat", "usage_usec");
			} else {
				int64_t ns = cgroup_read_i64(d->path, "cpuacct.usage");
				out->cpu_usec =
					ns >= 0 ? ns / 1000 : cgroup_cpu_from_procs(d->path);
			}
		}
	}
	/* Without a readable cpu controller, count from the processes. */
	if (out->cpu_usec < 0 && cg->ndirs && cg->dirs[0].path[0])
		out->cpu_usec = cgroup_cpu_from_procs(cg->dirs[0].path);
}

int cgroup_stats_by_name(const char *name, struct cgroup_stats *out)
{
	struct cgroup *cg;
	int r = cgroup_open(name, &cg);

	out->mem_bytes = out->mem_max = out->pids = out->cpu_usec = out->oom_kills = -1;
	if (r < 0)
		return r;
	cgroup_read_stats(cg, out);
	free(cg);
	return 0;
}
