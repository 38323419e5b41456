#include "common/frame.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FRAME_READ_CHUNK (64u << 10)
#define FRAME_IOV_MAX	 64

void frame_put_header(unsigned char hdr[FRAME_HDR_LEN], uint32_t len)
{
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
}

static uint32_t frame_get_header(const unsigned char *hdr)
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
	       (uint32_t)hdr[3];
}

static const char *frame_to_text(struct json_object *obj, size_t *len)
{
	return json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

int frame_encode(struct json_object *obj, char **out, size_t *out_len)
{
	const char *text;
	size_t len = 0;
	char *buf;

	if (!obj)
		return -EINVAL;
	text = frame_to_text(obj, &len);
	if (!text)
		return -ENOMEM;
	if (len > FRAME_MAX)
		return -E2BIG;
	buf = malloc(FRAME_HDR_LEN + len);
	if (!buf)
		return -ENOMEM;
	frame_put_header((unsigned char *)buf, (uint32_t)len);
	memcpy(buf + FRAME_HDR_LEN, text, len);
	*out = buf;
	*out_len = FRAME_HDR_LEN + len;
	return 0;
}

/* --- decoder ----------------------------------------------------------------- */

struct frame_decoder {
	unsigned char *buf;
	size_t cap;
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last buffered byte */
	size_t max;
	int broken; /* an oversized header was seen */
	struct json_tokener *tok;
};

struct frame_decoder *frame_decoder_new(size_t max)
{
	struct frame_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->max = (max == 0 || max > FRAME_MAX) ? FRAME_MAX : max;
	d->tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!d->tok) {
		free(d);
		return NULL;
	}
	json_tokener_set_flags(d->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return d;
}

void frame_decoder_free(struct frame_decoder *d)
{
	if (!d)
		return;
	json_tokener_free(d->tok);
	free(d->buf);
	free(d);
}

/* Make room for at least extra more bytes after end. */
static int frame_decoder_reserve(struct frame_decoder *d, size_t extra)
{
	size_t used = d->end - d->start, need, ncap;
	unsigned char *nbuf;

	if (extra > SIZE_MAX / 2 - used)
		return -ENOMEM;
	if (d->cap - d->end >= extra)
		return 0;
	/* Slide the live bytes to the front before growing. */
	if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, used);
		d->start = 0;
		d->end = used;
		if (d->cap - d->end >= extra)
			return 0;
	}
	need = used + extra;
	ncap = d->cap ? d->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	nbuf = realloc(d->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	d->buf = nbuf;
	d->cap = ncap;
	return 0;
}

int frame_decoder_feed(struct frame_decoder *d, const void *buf, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	r = frame_decoder_reserve(d, len);
	if (r < 0)
		return r;
	memcpy(d->buf + d->end, buf, len);
	d->end += len;
	return 0;
}

long frame_decoder_read(struct frame_decoder *d, int fd)
{
	ssize_t n;
	int r;

	r = frame_decoder_reserve(d, FRAME_READ_CHUNK);
	if (r < 0)
		return r;
	do {
		n = read(fd, d->buf + d->end, FRAME_READ_CHUNK);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	d->end += (size_t)n;
	return n;
}

static int frame_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int frame_decoder_next(struct frame_decoder *d, struct json_object **out)
{
	size_t avail = d->end - d->start, len, i, parsed;
	const unsigned char *p;
	struct json_object *obj;
	enum json_tokener_error jerr;

	*out = NULL;
	if (d->broken)
		return FRAME_ETOOBIG;
	if (avail < FRAME_HDR_LEN)
		return 0;
	p = d->buf + d->start;
	len = frame_get_header(p);
	if (len > d->max) {
		d->broken = 1;
		return FRAME_ETOOBIG;
	}
	if (avail - FRAME_HDR_LEN < len)
		return 0;
	p += FRAME_HDR_LEN;
	d->start += FRAME_HDR_LEN + len;
	if (d->start == d->end)
		d->start = d->end = 0;

	if (len == 0 || len > INT_MAX)
		return FRAME_EJSON;
	json_tokener_reset(d->tok);
	obj = json_tokener_parse_ex(d->tok, (const char *)p, (int)len);
	jerr = json_tokener_get_error(d->tok);
	parsed = json_tokener_get_parse_end(d->tok);
	if (jerr == json_tokener_continue) {
		/* The frame ended inside a value; a bare number only ends at a
		 * terminator, so pass the NUL that the payload lacks. */
		obj = json_tokener_parse_ex(d->tok, "", 1);
		jerr = json_tokener_get_error(d->tok);
		parsed = len;
	}
	if (jerr != json_tokener_success) {
		json_object_put(obj);
		return FRAME_EJSON;
	}
	/* Only whitespace may follow the value. */
	for (i = parsed; i < len; i++) {
		if (!frame_is_space(p[i])) {
			json_object_put(obj);
			return FRAME_EJSON;
		}
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return FRAME_ENOTOBJ;
	}
	*out = obj;
	return 1;
}

size_t frame_decoder_pending(const struct frame_decoder *d)
{
	return d->end - d->start;
}

int frame_decoder_idle(const struct frame_decoder *d)
{
	return d->end == d->start;
}

/* --- writer ------------------------------------------------------------------ */

struct frame_chunk {
	struct frame_chunk *next;
	size_t len, off;
	unsigned char data[];
};

struct frame_writer {
	struct frame_chunk *head, *tail;
	size_t pending;
	int not_socket;
};

struct frame_writer *frame_writer_new(void)
{
	return calloc(1, sizeof(struct frame_writer));
}

void frame_writer_free(struct frame_writer *w)
{
	struct frame_chunk *c, *n;

	if (!w)
		return;
	for (c = w->head; c; c = n) {
		n = c->next;
		free(c);
	}
	free(w);
}

int frame_writer_push_text(struct frame_writer *w, const char *json, size_t len)
{
	struct frame_chunk *c;

	if (len > FRAME_MAX)
		return -E2BIG;
	c = malloc(sizeof(*c) + FRAME_HDR_LEN + len);
	if (!c)
		return -ENOMEM;
	c->next = NULL;
	c->len = FRAME_HDR_LEN + len;
	c->off = 0;
	frame_put_header(c->data, (uint32_t)len);
	memcpy(c->data + FRAME_HDR_LEN, json, len);
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
	w->pending += c->len;
	return 0;
}

int frame_writer_push(struct frame_writer *w, struct json_object *obj)
{
	const char *text;
	size_t len = 0;

	if (!obj)
		return -EINVAL;
	text = frame_to_text(obj, &len);
	if (!text)
		return -ENOMEM;
	return frame_writer_push_text(w, text, len);
}

int frame_writer_flush(struct frame_writer *w, int fd)
{
	struct iovec iov[FRAME_IOV_MAX];
	struct frame_chunk *c;
	ssize_t n;
	size_t left;
	int cnt;

	while (w->head) {
		cnt = 0;
		for (c = w->head; c && cnt < FRAME_IOV_MAX; c = c->next, cnt++) {
			iov[cnt].iov_base = c->data + c->off;
			iov[cnt].iov_len = c->len - c->off;
		}
		do {
			/* sendmsg for MSG_NOSIGNAL on sockets; writev for pipes and files. */
			if (w->not_socket) {
				n = writev(fd, iov, cnt);
			} else {
				struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

				n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n < 0 && errno == ENOTSOCK) {
					w->not_socket = 1;
					n = writev(fd, iov, cnt);
				}
			}
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		w->pending -= (size_t)n;
		left = (size_t)n;
		while (left > 0 && w->head) {
			c = w->head;
			if (left < c->len - c->off) {
				c->off += left;
				break;
			}
			left -= c->len - c->off;
			w->head = c->next;
			if (!w->head)
				w->tail = NULL;
			free(c);
		}
	}
	return 0;
}

size_t frame_writer_pending(const struct frame_writer *w)
{
	return w->pending;
}
