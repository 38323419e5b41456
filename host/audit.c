/* The tamper-evident audit log; see audit.h for the line format. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "../common/cleanup.h"
#include "../common/log.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* ,"hash":"<64 hex>"} */
#define HASH_SUFFIX_LEN (9 + 64 + 2)
#define HEAD_LEN	(20 + 1 + 64 + 1)
#define BATCH_NS	(50 * 1000000LL)

struct audit_log {
	pthread_mutex_t lock;
	int fd;
	int head_fd;
	char *path;
	uint64_t seq;  /* seq of the last line */
	char prev[65]; /* SHA-256 of the last line */
	enum audit_sync sync;
	bool dirty;	  /* lines written since the last fdatasync */
	off_t known_size; /* the file's size after our last write: another process
			   * appended when it differs */
	int64_t last_sync_ns;
	/* AUDIT_SYNC_BATCH: a thread that syncs what is dirty every 50 ms. */
	pthread_t flusher;
	pthread_cond_t wake;
	bool flusher_running, stopping;
};

int audit_sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
	return 0;
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void format_ts(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Parse "<20 digits> <64 hex>\n". */
static int head_parse(const char *buf, size_t len, uint64_t *seq, char hash[65])
{
	char *end;

	if (len < HEAD_LEN || buf[20] != ' ' || buf[HEAD_LEN - 1] != '\n')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end != buf + 20)
		return -EINVAL;
	for (int i = 0; i < 64; i++) {
		char c = buf[21 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
	}
	memcpy(hash, buf + 21, 64);
	hash[64] = '\0';
	*seq = v;
	return 0;
}

static int head_read_path(const char *path, uint64_t *seq, char hash[65])
{
	char hpath[4096], buf[HEAD_LEN + 1];

	if ((size_t)snprintf(hpath, sizeof(hpath), "%s.head", path) >= sizeof(hpath))
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = open(hpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	return head_parse(buf, (size_t)n, seq, hash);
}

static void head_write_at(struct audit_log *log, uint64_t seq, const char *prev)
{
	char buf[HEAD_LEN + 1];

	if (log->head_fd < 0)
		return;
	snprintf(buf, sizeof(buf), "%020" PRIu64 " %s\n", seq, prev);
	if (pwrite(log->head_fd, buf, HEAD_LEN, 0) != HEAD_LEN)
		log_warn("audit: cannot update %s.head: %m", log->path);
}

static void head_write(struct audit_log *log)
{
	head_write_at(log, log->seq, log->prev);
}

static int sync_locked(struct audit_log *log)
{
	if (!log->dirty)
		return 0;
	if (fdatasync(log->fd) < 0) {
		int r = -errno;
		log_err("audit: fdatasync %s: %s", log->path, strerror(-r));
		return r;
	}
	log->dirty = false;
	log->last_sync_ns = now_ns(CLOCK_MONOTONIC);
	/* The head only moves once the lines it names are on disk. */
	head_write(log);
	return 0;
}

/* Build the line for event (without its '\n'); *out is malloc'd. */
static int line_build(struct audit_log *log, struct json_object *event, bool truncated,
		      size_t orig_len, char **out, size_t *out_len)
{
	char ts[64], hex[65];
	struct json_object *o = json_object_new_object();

	if (!o)
		return -ENOMEM;
	format_ts(ts, sizeof(ts));
	json_object_object_add(o, "ts", json_object_new_string(ts));
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)(log->seq + 1)));
	json_object_object_add(o, "prev", json_object_new_string(log->prev));
	if (!truncated) {
		json_object_object_foreach(event, key, val)
		{
			if (!strcmp(key, "ts") || !strcmp(key, "seq") || !strcmp(key, "prev") ||
			    !strcmp(key, "hash"))
				continue;
			json_object_object_add(o, key, json_object_get(val));
		}
	} else {
		struct json_object *v;
		if (json_object_object_get_ex(event, "type", &v) &&
		    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) < 256)
			json_object_object_add(o, "type", json_object_get(v));
		if (json_object_object_get_ex(event, "sandbox", &v) &&
		    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) < 256)
			json_object_object_add(o, "sandbox", json_object_get(v));
		json_object_object_add(o, "truncated", json_object_new_boolean(1));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)orig_len));
	}
	size_t blen;
	const char *body = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &blen);
	if (!body || blen < 2 || body[blen - 1] != '}') {
		json_object_put(o);
		return -ENOMEM;
	}
	if (audit_sha256_hex(body, blen, hex) < 0) {
		json_object_put(o);
		return -EIO;
	}
	size_t len = blen - 1 + HASH_SUFFIX_LEN;
	char *line = malloc(len + 2);
	if (!line) {
		json_object_put(o);
		return -ENOMEM;
	}
	memcpy(line, body, blen - 1);
	snprintf(line + blen - 1, HASH_SUFFIX_LEN + 1, ",\"hash\":\"%s\"}", hex);
	json_object_put(o);
	*out = line;
	*out_len = len;
	return 0;
}

static int load_tail(struct audit_log *log, off_t *torn);

/* Append one line; log->lock held, and the file lock (other processes may
 * append to the same log). */
static int append_chained(struct audit_log *log, struct json_object *event)
{
	_cleanup_free_ char *line = NULL;
	size_t len;
	int r = line_build(log, event, false, 0, &line, &len);

	if (r < 0)
		return r;
	if (len > AUDIT_LINE_MAX) {
		size_t orig = len;
		free(take_ptr(&line));
		r = line_build(log, event, true, orig, &line, &len);
		if (r < 0)
			return r;
	}
	char hex[65];
	if (audit_sha256_hex(line, len, hex) < 0)
		return -EIO;
	line[len] = '\n';
	r = write_all(log->fd, line, len + 1);
	if (r < 0) {
		log_err("audit: write %s: %s", log->path, strerror(-r));
		return r;
	}
	log->known_size += (off_t)len + 1;
	log->seq++;
	memcpy(log->prev, hex, 65);
	log->dirty = true;
	if (log->sync == AUDIT_SYNC_EVERY)
		return sync_locked(log);
	if (log->flusher_running) {
		pthread_cond_signal(&log->wake);
		return 0;
	}
	if (now_ns(CLOCK_MONOTONIC) - log->last_sync_ns >= BATCH_NS)
		return sync_locked(log);
	return 0;
}

/* Append with the file lock held; pick up lines other processes appended. */
static int append_locked(struct audit_log *log, struct json_object *event)
{
	struct stat st;
	off_t torn = 0;
	int r;

	while (flock(log->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	if (fstat(log->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size != log->known_size) {
		r = load_tail(log, &torn);
		if (r < 0) {
			log_err("audit: cannot read %s: %s", log->path, strerror(-r));
			goto out;
		}
		if (torn)
			log_warn("audit: %s: cut %lld bytes of a torn last line", log->path,
				 (long long)torn);
	}
	r = append_chained(log, event);
out:
	flock(log->fd, LOCK_UN);
	return r;
}

int audit_append(struct audit_log *log, struct json_object *event)
{
	if (!log || !json_object_is_type(event, json_type_object))
		return -EINVAL;
	pthread_mutex_lock(&log->lock);
	int r = append_locked(log, event);
	pthread_mutex_unlock(&log->lock);
	return r;
}

int audit_event(struct audit_log *log, const char *type, const char *sandbox, long uid, long pid,
		struct json_object *extra)
{
	struct json_object *e = json_object_new_object();
	int r;

	if (!e)
		return -ENOMEM;
	json_object_object_add(e, "type", json_object_new_string(type));
	if (sandbox)
		json_object_object_add(e, "sandbox", json_object_new_string(sandbox));
	if (uid >= 0) {
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "uid", json_object_new_int64(uid));
		json_object_object_add(c, "pid", json_object_new_int64(pid));
		json_object_object_add(e, "caller", c);
	}
	if (extra && json_object_is_type(extra, json_type_object)) {
		json_object_object_foreach(extra, key, val)
		{
			json_object_object_add(e, key, json_object_get(val));
		}
	}
	r = audit_append(log, e);
	json_object_put(e);
	return r;
}

int audit_sync(struct audit_log *log)
{
	if (!log)
		return 0;
	pthread_mutex_lock(&log->lock);
	int r = sync_locked(log);
	pthread_mutex_unlock(&log->lock);
	return r;
}

static void *audit_flusher(void *arg)
{
	struct audit_log *log = arg;

	pthread_mutex_lock(&log->lock);
	while (!log->stopping) {
		/* Asleep until a line is written; then at most 50 ms until it is synced. */
		if (!log->dirty) {
			pthread_cond_wait(&log->wake, &log->lock);
			continue;
		}
		int64_t due = log->last_sync_ns + BATCH_NS;
		if (now_ns(CLOCK_MONOTONIC) < due) {
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000LL),
					       .tv_nsec = (long)(due % 1000000000LL) };
			pthread_cond_timedwait(&log->wake, &log->lock, &ts);
			continue;
		}
		/* fdatasync without the lock: appends go on meanwhile. */
		if (log->dirty) {
			/* The head may only name a line that is on disk: the last one
			 * written before this fdatasync. */
			uint64_t seq = log->seq;
			char prev[65];
			memcpy(prev, log->prev, sizeof(prev));
			int fd = log->fd;
			log->dirty = false;
			pthread_mutex_unlock(&log->lock);
			int r = fdatasync(fd);
			pthread_mutex_lock(&log->lock);
			if (r < 0) {
				log_err("audit: fdatasync %s: %m", log->path);
				log->dirty = true;
				log->last_sync_ns = now_ns(CLOCK_MONOTONIC); /* retry in 50 ms */
			} else {
				log->last_sync_ns = now_ns(CLOCK_MONOTONIC);
				head_write_at(log, seq, prev);
			}
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

void audit_set_sync(struct audit_log *log, enum audit_sync mode)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->lock);
	log->sync = mode;
	if (mode == AUDIT_SYNC_EVERY)
		sync_locked(log);
	bool start = mode == AUDIT_SYNC_BATCH && !log->flusher_running;
	pthread_mutex_unlock(&log->lock);
	if (start) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&log->wake, &ca);
		pthread_condattr_destroy(&ca);
		/* The flusher takes no signals: they belong to the program's own threads. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int r = pthread_create(&log->flusher, NULL, audit_flusher, log);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r == 0) {
			pthread_mutex_lock(&log->lock);
			log->flusher_running = true;
			pthread_mutex_unlock(&log->lock);
		} else {
			pthread_cond_destroy(&log->wake);
		}
	}
}

uint64_t audit_last_seq(struct audit_log *log)
{
	if (!log)
		return 0;
	pthread_mutex_lock(&log->lock);
	uint64_t s = log->seq;
	pthread_mutex_unlock(&log->lock);
	return s;
}

const char *audit_path(struct audit_log *log)
{
	return log ? log->path : NULL;
}

/* Offset of the first byte after the last '\n' at or before end (0 if none),
 * scanning backwards at most limit bytes; -ERANGE if no '\n' within limit. */
static off_t find_line_start(int fd, off_t end, off_t limit)
{
	char buf[8192];
	off_t pos = end, scanned = 0;

	while (pos > 0) {
		size_t chunk = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		ssize_t n = pread(fd, buf, chunk, pos - (off_t)chunk);
		if (n != (ssize_t)chunk)
			return n < 0 ? -errno : -EIO;
		for (ssize_t i = n - 1; i >= 0; i--)
			if (buf[i] == '\n')
				return pos - (off_t)chunk + i + 1;
		pos -= (off_t)chunk;
		scanned += (off_t)chunk;
		if (limit && scanned > limit)
			return -ERANGE;
	}
	return 0;
}

static uint64_t count_lines(int fd)
{
	char buf[65536];
	uint64_t lines = 0;
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		off += n;
	}
	return lines;
}

/* Load seq and prev from the last line of the file; cut a torn tail. */
static int load_tail_inner(struct audit_log *log, off_t *torn)
{
	struct stat st;
	char last;

	*torn = 0;
	if (fstat(log->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	off_t end = st.st_size;
	if (pread(log->fd, &last, 1, end - 1) != 1)
		return -EIO;
	if (last != '\n') {
		off_t start = find_line_start(log->fd, end, 0);
		if (start < 0)
			return (int)start;
		if (ftruncate(log->fd, start) < 0)
			return -errno;
		*torn = end - start;
		end = start;
		if (end == 0)
			return 0;
	}
	/* The last complete line is [start, end - 1). */
	off_t start = find_line_start(log->fd, end - 1, 2 * AUDIT_LINE_MAX);
	if (start == -ERANGE) {
		log->seq = count_lines(log->fd);
		memcpy(log->prev, ZERO_HASH, 65);
		log_warn("audit: %s: last line is too long; continuing at seq %" PRIu64, log->path,
			 log->seq + 1);
		return 0;
	}
	if (start < 0)
		return (int)start;
	size_t len = (size_t)(end - 1 - start);
	_cleanup_free_ char *line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	if (pread(log->fd, line, len, start) != (ssize_t)len)
		return -EIO;
	line[len] = '\0';
	if (audit_sha256_hex(line, len, log->prev) < 0)
		return -EIO;
	struct json_object *o = json_tokener_parse(line), *s;
	if (o && json_object_object_get_ex(o, "seq", &s) && json_object_is_type(s, json_type_int) &&
	    json_object_get_int64(s) > 0) {
		log->seq = (uint64_t)json_object_get_int64(s);
	} else {
		log->seq = count_lines(log->fd);
		log_warn("audit: %s: last line is not an audit record; continuing at seq %" PRIu64,
			 log->path, log->seq + 1);
	}
	json_object_put(o);
	return 0;
}

/* Where the chain stands: seq and prev from the file's last line, and its size. */
static int load_tail(struct audit_log *log, off_t *torn)
{
	struct stat st;

	log->seq = 0;
	memcpy(log->prev, ZERO_HASH, 65);
	int r = load_tail_inner(log, torn);
	if (r < 0)
		return r;
	if (fstat(log->fd, &st) < 0)
		return -errno;
	log->known_size = st.st_size;
	return 0;
}

int audit_open(const char *path, struct audit_log **out)
{
	struct audit_log *log;
	char hpath[4096];
	off_t torn = 0;
	int r;

	if (!path || !out)
		return -EINVAL;
	if ((size_t)snprintf(hpath, sizeof(hpath), "%s.head", path) >= sizeof(hpath))
		return -ENAMETOOLONG;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	pthread_mutex_init(&log->lock, NULL);
	log->head_fd = -1;
	log->sync = AUDIT_SYNC_EVERY;
	memcpy(log->prev, ZERO_HASH, 65);
	log->path = strdup(path);
	if (!log->path) {
		r = -ENOMEM;
		goto fail;
	}
	log->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->fd < 0) {
		r = -errno;
		log_err("audit: cannot open %s: %m", path);
		goto fail;
	}
	/* Other processes may append to the same log: each append takes the file
	 * lock and first reads what they added. */
	while (flock(log->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto fail_fd;
		}
	}
	r = load_tail(log, &torn);
	if (r < 0) {
		log_err("audit: cannot read %s: %s", path, strerror(-r));
		goto fail_fd;
	}
	uint64_t hseq;
	char hhash[65];
	int hr = head_read_path(path, &hseq, hhash);
	log->head_fd = open(hpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->head_fd < 0)
		log_warn("audit: cannot open %s: %m; removal of the last lines will go unnoticed",
			 hpath);
	if (torn) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "type", json_object_new_string("audit.torn"));
		json_object_object_add(e, "bytes", json_object_new_int64(torn));
		log_warn("audit: %s: cut %lld bytes of a torn last line", path, (long long)torn);
		append_chained(log, e);
		json_object_put(e);
	}
	if (hr == 0 && (hseq > log->seq || (hseq == log->seq && strcmp(hhash, log->prev) != 0))) {
		/* The head knows of lines the log no longer holds: say so in the chain
		 * itself before the head moves on. */
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "type", json_object_new_string("audit.tamper"));
		json_object_object_add(e, "head_seq", json_object_new_int64((int64_t)hseq));
		json_object_object_add(e, "log_seq", json_object_new_int64((int64_t)log->seq));
		log_err("audit: %s ends at seq %" PRIu64 " but its head records seq %" PRIu64
			" (or another last line): the log was cut or edited",
			path, log->seq, hseq);
		append_chained(log, e);
		json_object_put(e);
	}
	if (log->head_fd >= 0 && hr != 0 && !torn) {
		log->dirty = true;
		sync_locked(log);
	}
	flock(log->fd, LOCK_UN);
	*out = log;
	return 0;

fail_fd:
	close(log->fd);
fail:
	free(log->path);
	pthread_mutex_destroy(&log->lock);
	free(log);
	return r;
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->lock);
	bool flusher = log->flusher_running;
	log->stopping = true;
	if (flusher)
		pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	if (flusher) {
		pthread_join(log->flusher, NULL);
		pthread_cond_destroy(&log->wake);
	}
	pthread_mutex_lock(&log->lock);
	sync_locked(log);
	pthread_mutex_unlock(&log->lock);
	close(log->fd);
	if (log->head_fd >= 0)
		close(log->head_fd);
	pthread_mutex_destroy(&log->lock);
	free(log->path);
	free(log);
}

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Check line (len bytes, no '\n') against its own hash; 0 or a reason. */
static const char *line_check_self(const char *line, size_t len)
{
	char hex[65];
	static const char pre[] = ",\"hash\":\"";

	if (len < HASH_SUFFIX_LEN + 2 || line[0] != '{')
		return "not an audit record";
	const char *suf = line + len - HASH_SUFFIX_LEN;
	if (memcmp(suf, pre, 9) != 0 || !is_hex64(suf + 9, 64) || suf[73] != '"' || suf[74] != '}')
		return "its hash member is missing or malformed";
	size_t blen = len - HASH_SUFFIX_LEN + 1;
	char *body = malloc(blen);
	if (!body)
		return "out of memory";
	memcpy(body, line, blen - 1);
	body[blen - 1] = '}';
	int r = audit_sha256_hex(body, blen, hex);
	free(body);
	if (r < 0)
		return "cannot hash";
	if (memcmp(hex, suf + 9, 64) != 0)
		return "its contents do not match its hash (the line was edited)";
	return NULL;
}

int audit_verify(const char *path, long *first_bad_line, long *lines_out, char *err, size_t errlen)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, bad = 0;
	char prev[65] = ZERO_HASH, head_hash[65], at_head[65] = "";
	uint64_t head_seq = 0;
	bool have_head = false;

	if (first_bad_line)
		*first_bad_line = 0;
	if (lines_out)
		*lines_out = 0;
	if (err && errlen)
		err[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		if (err)
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	have_head = head_read_path(path, &head_seq, head_hash) == 0;

#define BAD(...)                                            \
	do {                                                \
		bad = lineno;                               \
		if (err)                                    \
			snprintf(err, errlen, __VA_ARGS__); \
		goto out;                                   \
	} while (0)

	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n')
			BAD("line %ld is incomplete (no newline at the end of the file)", lineno);
		size_t len = (size_t)n - 1;
		line[len] = '\0';
		if (len > AUDIT_LINE_MAX)
			BAD("line %ld is longer than %d bytes", lineno, AUDIT_LINE_MAX);
		if (strlen(line) != len)
			BAD("line %ld holds a NUL byte", lineno);
		const char *why = line_check_self(line, len);
		if (why)
			BAD("line %ld: %s", lineno, why);
		struct json_object *o = json_tokener_parse(line), *v;
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			BAD("line %ld is not a JSON object", lineno);
		}
		int64_t seq = -1;
		if (json_object_object_get_ex(o, "seq", &v) &&
		    json_object_is_type(v, json_type_int))
			seq = json_object_get_int64(v);
		char lprev[65] = "";
		if (json_object_object_get_ex(o, "prev", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    is_hex64(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
			memcpy(lprev, json_object_get_string(v), 65);
		json_object_put(o);
		if (seq != lineno) {
			if (seq > lineno)
				BAD("line %ld has seq %lld where %ld was expected: %lld line(s) "
				    "before it were removed",
				    lineno, (long long)seq, lineno, (long long)(seq - lineno));
			BAD("line %ld has seq %lld where %ld was expected: lines were reordered, "
			    "duplicated or inserted",
			    lineno, (long long)seq, lineno);
		}
		if (strcmp(lprev, prev) != 0)
			BAD("line %ld: its prev does not match the SHA-256 of line %ld (a line was "
			    "removed, inserted or reordered)",
			    lineno, lineno - 1);
		if (audit_sha256_hex(line, len, prev) < 0)
			BAD("line %ld: cannot hash", lineno);
		if (have_head && (uint64_t)lineno == head_seq)
			memcpy(at_head, prev, 65);
	}
	if (ferror(f)) {
		int r = -EIO;
		if (err)
			snprintf(err, errlen, "cannot read %s", path);
		return r;
	}
	if (have_head && head_seq > 0) {
		if ((uint64_t)lineno < head_seq) {
			lineno++;
			BAD("the log ends after line %ld but its head file records seq %llu: line "
			    "%ld onwards were removed",
			    lineno - 1, (unsigned long long)head_seq, lineno);
		}
		if (strcmp(at_head, head_hash) != 0) {
			lineno = (long)head_seq;
			BAD("line %ld differs from the line its head file records", lineno);
		}
	}
out:
#undef BAD
	if (first_bad_line)
		*first_bad_line = bad;
	if (lines_out)
		*lines_out = bad ? bad - 1 : lineno;
	return bad ? -EBADMSG : 0;
}

int audit_tail(const char *path, int n, struct json_object **out)
{
	_cleanup_close_ int fd = -1;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;

	if (n < 0 || n > 10000 || !out)
		return -EINVAL;
	if (n == 0) {
		*out = json_object_new_array();
		return *out ? 0 : -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Walk back n newlines (plus the file's final one). */
	off_t pos = st.st_size, start = 0;
	int seen = 0;
	char buf[8192];
	bool found = false;
	while (pos > 0 && !found) {
		size_t chunk = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		ssize_t got = pread(fd, buf, chunk, pos - (off_t)chunk);
		if (got != (ssize_t)chunk)
			return got < 0 ? -errno : -EIO;
		for (ssize_t i = got - 1; i >= 0; i--) {
			if (buf[i] != '\n')
				continue;
			if (pos - (off_t)chunk + i == st.st_size - 1)
				continue;
			if (++seen == n) {
				start = pos - (off_t)chunk + i + 1;
				found = true;
				break;
			}
		}
		pos -= (off_t)chunk;
	}
	struct json_object *arr = json_object_new_array();
	if (!arr)
		return -ENOMEM;
	f = fdopen(take_fd(&fd), "r");
	if (!f || fseeko(f, start, SEEK_SET) < 0) {
		json_object_put(arr);
		return -EIO;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		struct json_object *o = json_tokener_parse(line);
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = json_object_new_object();
			json_object_object_add(o, "unparsable",
					       json_object_new_string_len(line, (int)len));
		}
		json_object_array_add(arr, o);
	}
	*out = arr;
	return 0;
}
