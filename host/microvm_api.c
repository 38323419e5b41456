/* agentvm-vmm's control socket and golden snapshots; see microvm_api.h. */
#include "host/microvm_api.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MICROVM_API_REPLY_MAX 65536

static long microvm_api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int microvm_unix_connect(const char *dir, const char *file)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int dfd = -1;

	if (fd < 0)
		return -errno;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, file) >=
	    sizeof(sa.sun_path)) {
		/* Too long for sun_path: through the directory's fd. */
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd,
				     file) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return take_fd(&fd);
}

/* Read one line (up to '\n') before deadline. */
static int microvm_api_read_line(int fd, char *buf, size_t cap, long deadline)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - microvm_api_now_ms();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!p.revents)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len))
			return 0;
		if (len == cap - 1)
			return -EMSGSIZE;
	}
}

int microvm_api_call(const char *dir, const char *file, const char *method, const char *params,
		     int timeout_ms, char *err, size_t errlen)
{
	long deadline = microvm_api_now_ms() + timeout_ms;
	_cleanup_close_ int fd = -1;
	char req[1024];
	static __thread char reply[MICROVM_API_REPLY_MAX];
	int n, r, delay_ms = 1;

	snprintf(err, errlen, "no answer");
	for (;;) {
		fd = microvm_unix_connect(dir, file);
		if (fd >= 0)
			break;
		if ((fd != -ENOENT && fd != -ECONNREFUSED) || microvm_api_now_ms() >= deadline) {
			snprintf(err, errlen, "cannot connect to %s/%s: %s", dir, file,
				 strerror(-fd));
			return fd;
		}
		usleep((useconds_t)delay_ms * 1000);
		delay_ms = delay_ms < 16 ? delay_ms * 2 : 16;
	}
	n = snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}\n",
		     method, params ? ",\"params\":" : "", params ? params : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return -E2BIG;
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", method, strerror(-r));
		return r;
	}
	r = microvm_api_read_line(fd, reply, sizeof(reply), deadline);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", method,
			 r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
		return r;
	}
	reply[strcspn(reply, "\n")] = '\0';
	return microvm_api_parse_reply(method, reply, err, errlen);
}

int microvm_api_parse_reply(const char *method, const char *line, char *err, size_t errlen)
{
	struct json_object *root, *e, *m;
	int r;

	root = json_tokener_parse(line);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		snprintf(err, errlen, "%s: the VMM's answer is not a JSON object", method);
		return -EPROTO;
	}
	if (json_object_object_get_ex(root, "result", NULL)) {
		r = 0;
	} else if (json_object_object_get_ex(root, "error", &e) &&
		   json_object_is_type(e, json_type_object) &&
		   json_object_object_get_ex(e, "message", &m) &&
		   json_object_is_type(m, json_type_string)) {
		snprintf(err, errlen, "%s: %.300s", method, json_object_get_string(m));
		r = -EREMOTEIO;
	} else {
		snprintf(err, errlen, "%s: the VMM's answer has neither result nor error", method);
		r = -EPROTO;
	}
	json_object_put(root);
	return r;
}

/* One line of the key: what identifies the file at path. */
static void microvm_golden_file_id(FILE *f, const char *what, const char *path)
{
	struct stat st;

	if (!path || !*path) {
		fprintf(f, "%s -\n", what);
		return;
	}
	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	fprintf(f, "%s %s %llu %llu %lld %lld.%09ld\n", what, path, (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		st.st_mtim.tv_nsec);
}

int microvm_golden_key(const char *vmm, const char *kernel, const char *initrd, const char *cmdline,
		       unsigned long long mem_mib, unsigned int cpus, char key[17])
{
	char *text = NULL, hex[65];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f)
		return -errno;
	fprintf(f, "agentvm golden snapshot 1\n");
	microvm_golden_file_id(f, "vmm", vmm);
	microvm_golden_file_id(f, "kernel", kernel);
	microvm_golden_file_id(f, "initrd", initrd);
	fprintf(f, "cmdline %s\nmem %llu\ncpus %u\n", cmdline ? cmdline : "", mem_mib, cpus);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	r = audit_sha256_hex(text, len, hex);
	free(text);
	if (r < 0)
		return r;
	memcpy(key, hex, 16);
	key[16] = '\0';
	return 0;
}

int microvm_golden_exists(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/state", dir) >= sizeof(path) ||
	    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/memory", dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int microvm_golden_prepare(const char *tmp)
{
	char path[PATH_MAX];

	/* Its parents, as root's (0700): the snapshots and the template's. */
	if ((size_t)snprintf(path, sizeof(path), "%s", tmp) >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	microvm_golden_discard(tmp);
	if (mkdir(tmp, 0700) < 0)
		return -errno;
	return 0;
}

int microvm_golden_publish(const char *tmp, const char *dir)
{
	static const char *const files[] = { "state", "memory" };
	char path[PATH_MAX];
	int r;

	/* The directory first: once it is root's, the jail's uid can no
	 * longer swap the entries checked below. Its parent is root's. */
	if (lchown(tmp, 0, 0) < 0 || chmod(tmp, 0755) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat st;
		_cleanup_close_ int fd = -1;

		snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
			log_err("golden snapshot %s: %s is missing or not a plain file", tmp,
				files[i]);
			return -EINVAL;
		}
		if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0644) < 0)
			return -errno;
	}
	if (rename(tmp, dir) == 0)
		return 0;
	r = -errno;
	if (r == -EEXIST || r == -ENOTEMPTY)
		return 0; /* another VM of the same boot was first */
	log_err("golden snapshot: rename %s to %s: %s", tmp, dir, strerror(-r));
	return r;
}

void microvm_golden_discard(const char *tmp)
{
	char path[PATH_MAX];

	if (!tmp || !*tmp)
		return;
	snprintf(path, sizeof(path), "%s/state", tmp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/memory", tmp);
	unlink(path);
	rmdir(tmp);
}
