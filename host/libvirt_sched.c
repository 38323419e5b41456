#include "host/libvirt_sched.h"

#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHED_FILE_MAX	(1u << 20)
#define SCHED_VCPUS_MAX 65536u

struct libvirt_sched {
	pthread_mutex_t lock;
	size_t n;
	struct libvirt_sched_host hosts[];
};

static __attribute__((format(printf, 3, 4))) int sched_fail(char *err, size_t len, const char *fmt,
							    ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int libvirt_sched_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
	case 'k':
		mul = 1ull << 10;
		break;
	case 'M':
	case 'm':
		mul = 1ull << 20;
		break;
	case 'G':
	case 'g':
		mul = 1ull << 30;
		break;
	case 'T':
	case 't':
		mul = 1ull << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*p) {
		const char *t = p + 1;

		if (*t == 'i')
			t++;
		if (*t == 'B')
			t++;
		if (*t)
			return -EINVAL;
	}
	if (v && mul > UINT64_MAX / v)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int sched_uri_valid(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > LIBVIRT_SCHED_URI_MAX || !strstr(u, ":/"))
		return 0;
	for (; *u; u++)
		if ((unsigned char)*u <= 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

static int sched_host_parse(struct json_object *o, size_t i, struct libvirt_sched_host *h,
			    char *err, size_t errlen)
{
	struct json_object *uri, *cap, *vcpus, *mem, *vt;
	int64_t v;

	if (!json_object_is_type(o, json_type_object))
		return sched_fail(err, errlen, "host %zu: not an object", i);
	if (!json_object_object_get_ex(o, "uri", &uri) ||
	    !json_object_is_type(uri, json_type_string) ||
	    !sched_uri_valid(json_object_get_string(uri)))
		return sched_fail(err, errlen, "host %zu: \"uri\" must be a libvirt URI", i);
	snprintf(h->uri, sizeof(h->uri), "%s", json_object_get_string(uri));
	if (!json_object_object_get_ex(o, "capacity", &cap) ||
	    !json_object_is_type(cap, json_type_object) ||
	    !json_object_object_get_ex(cap, "vcpus", &vcpus) ||
	    !json_object_object_get_ex(cap, "mem", &mem))
		return sched_fail(err, errlen, "host %zu: needs \"capacity\": {\"vcpus\", \"mem\"}",
				  i);
	v = json_object_get_int64(vcpus);
	if (!json_object_is_type(vcpus, json_type_int) || v < 1 || v > SCHED_VCPUS_MAX)
		return sched_fail(err, errlen, "host %zu: vcpus must be 1..%u", i, SCHED_VCPUS_MAX);
	h->cap_vcpus = (uint32_t)v;
	if (json_object_is_type(mem, json_type_int)) {
		v = json_object_get_int64(mem);
		if (v < 1)
			return sched_fail(err, errlen, "host %zu: mem must be positive", i);
		h->cap_mem = (uint64_t)v;
	} else if (!json_object_is_type(mem, json_type_string) ||
		   libvirt_sched_parse_size(json_object_get_string(mem), &h->cap_mem) < 0 ||
		   !h->cap_mem) {
		return sched_fail(err, errlen, "host %zu: mem must be bytes or like \"64G\"", i);
	}
	snprintf(h->virt_type, sizeof(h->virt_type), "kvm");
	if (json_object_object_get_ex(o, "virt_type", &vt)) {
		const char *t = json_object_get_string(vt);

		if (!json_object_is_type(vt, json_type_string) ||
		    (strcmp(t, "kvm") != 0 && strcmp(t, "qemu") != 0))
			return sched_fail(err, errlen,
					  "host %zu: virt_type must be \"kvm\" or \"qemu\"", i);
		snprintf(h->virt_type, sizeof(h->virt_type), "%s", t);
	}
	return 0;
}

int libvirt_sched_parse(const char *json, size_t len, struct libvirt_sched **out, char *err,
			size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	struct libvirt_sched *s;
	size_t n, i;
	int r;

	*out = NULL;
	if (len > SCHED_FILE_MAX || len > INT32_MAX)
		return sched_fail(err, errlen, "host list too large");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		/* Trailing whitespace is fine. */
		size_t end = root ? json_tokener_get_parse_end(tok) : 0;
		int trailing_ok = root && json_tokener_get_error(tok) == json_tokener_success;

		for (; trailing_ok && end < len; end++)
			if (!strchr(" \t\r\n", json[end]))
				trailing_ok = 0;
		if (!trailing_ok) {
			json_object_put(root);
			json_tokener_free(tok);
			return sched_fail(err, errlen, "host list: not valid JSON");
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return sched_fail(err, errlen, "host list: want a JSON array of hosts");
	}
	n = json_object_array_length(root);
	if (n == 0 || n > LIBVIRT_SCHED_MAX_HOSTS) {
		json_object_put(root);
		return sched_fail(err, errlen, "host list: want 1..%d hosts",
				  LIBVIRT_SCHED_MAX_HOSTS);
	}
	s = calloc(1, sizeof(*s) + n * sizeof(s->hosts[0]));
	if (!s) {
		json_object_put(root);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		r = sched_host_parse(json_object_array_get_idx(root, i), i, &s->hosts[i], err,
				     errlen);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(s->hosts[j].uri, s->hosts[i].uri) == 0)
				r = sched_fail(err, errlen, "host %zu: duplicate uri %s", i,
					       s->hosts[i].uri);
		if (r < 0) {
			json_object_put(root);
			free(s);
			return r;
		}
	}
	json_object_put(root);
	s->n = n;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

int libvirt_sched_load(const char *path, struct libvirt_sched **out, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t k;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		if (err)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SCHED_FILE_MAX)
		return sched_fail(err, errlen, "%s: not a regular file of at most 1 MiB", path);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size && (k = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)k;
	return libvirt_sched_parse(buf, got, out, err, errlen);
}

void libvirt_sched_free(struct libvirt_sched *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t libvirt_sched_count(const struct libvirt_sched *s)
{
	return s->n;
}

int libvirt_sched_host(struct libvirt_sched *s, size_t i, struct libvirt_sched_host *out)
{
	if (i >= s->n)
		return -ERANGE;
	pthread_mutex_lock(&s->lock);
	*out = s->hosts[i];
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The smaller of a host's free vCPU and free memory fractions after adding
 * the request, in millionths. */
static uint64_t sched_room(const struct libvirt_sched_host *h, uint32_t vcpus, uint64_t mem)
{
	uint64_t fv = (uint64_t)(h->cap_vcpus - h->used_vcpus - vcpus) * 1000000 / h->cap_vcpus;
	uint64_t fm = (uint64_t)((long double)(h->cap_mem - h->used_mem - mem) * 1000000 /
				 (long double)h->cap_mem);

	return fv < fm ? fv : fm;
}

int libvirt_sched_place(struct libvirt_sched *s, uint32_t vcpus, uint64_t mem, size_t *host)
{
	size_t i, best = s->n, up = 0;
	uint64_t best_room = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++) {
		struct libvirt_sched_host *h = &s->hosts[i];
		uint64_t room;

		if (h->down)
			continue;
		up++;
		if (h->cap_vcpus - h->used_vcpus < vcpus || h->cap_mem - h->used_mem < mem)
			continue;
		room = sched_room(h, vcpus, mem);
		if (best == s->n || room > best_room) {
			best = i;
			best_room = room;
		}
	}
	if (best < s->n) {
		s->hosts[best].used_vcpus += vcpus;
		s->hosts[best].used_mem += mem;
		s->hosts[best].sandboxes++;
		*host = best;
	}
	pthread_mutex_unlock(&s->lock);
	if (best < s->n)
		return 0;
	return up ? -ENOSPC : -EHOSTDOWN;
}

void libvirt_sched_release(struct libvirt_sched *s, size_t host, uint32_t vcpus, uint64_t mem)
{
	struct libvirt_sched_host *h;

	if (host >= s->n)
		return;
	pthread_mutex_lock(&s->lock);
	h = &s->hosts[host];
	h->used_vcpus = h->used_vcpus > vcpus ? h->used_vcpus - vcpus : 0;
	h->used_mem = h->used_mem > mem ? h->used_mem - mem : 0;
	if (h->sandboxes)
		h->sandboxes--;
	pthread_mutex_unlock(&s->lock);
}

int libvirt_sched_set_down(struct libvirt_sched *s, size_t host, int down)
{
	int was;

	if (host >= s->n)
		return -ERANGE;
	pthread_mutex_lock(&s->lock);
	was = s->hosts[host].down;
	s->hosts[host].down = !!down;
	pthread_mutex_unlock(&s->lock);
	return was;
}
