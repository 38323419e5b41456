#include "guest-agent/browser_cdp.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- parsing ------------------------------------------------------------------- */

const char *browser_cdp_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t browser_cdp_int(struct json_object *obj, const char *key, int64_t def)
{
	struct json_object *v;
	double d;

	if (!obj || !json_object_object_get_ex(obj, key, &v))
		return def;
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		if (isfinite(d) && d >= -9.0e15 && d <= 9.0e15)
			return (int64_t)d;
	}
	return def;
}

double browser_cdp_num(struct json_object *obj, const char *key, double def)
{
	struct json_object *v;
	double d;

	if (!obj || !json_object_object_get_ex(obj, key, &v))
		return def;
	if (json_object_is_type(v, json_type_int))
		return (double)json_object_get_int64(v);
	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		return isfinite(d) ? d : def;
	}
	return def;
}

struct json_object *browser_cdp_obj(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

int browser_cdp_copy(struct json_object *obj, const char *key, char *out, size_t n)
{
	const char *s = browser_cdp_str(obj, key);

	if (n == 0)
		return -ENOENT;
	out[0] = '\0';
	if (!s)
		return -ENOENT;
	snprintf(out, n, "%s", s);
	return 0;
}

int browser_cdp_parse(const char *text, size_t len, struct json_object **root,
		      struct browser_cdp_msg *m)
{
	struct json_tokener *tok;
	struct json_object *o, *v, *e;

	memset(m, 0, sizeof(*m));
	*root = NULL;
	if (len == 0 || len > BROWSER_CDP_MSG_MAX)
		return -EBADMSG;
	tok = json_tokener_new_ex(BROWSER_CDP_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(o);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	m->session_id = browser_cdp_str(o, "sessionId");
	if (json_object_object_get_ex(o, "id", &v)) {
		if (!json_object_is_type(v, json_type_int))
			goto bad;
		m->kind = BROWSER_CDP_RESPONSE;
		m->id = json_object_get_int64(v);
		if (json_object_object_get_ex(o, "error", &e)) {
			m->has_error = 1;
			m->error_code = browser_cdp_int(e, "code", 0);
			m->error_message = browser_cdp_str(e, "message");
			if (!m->error_message)
				m->error_message = "unknown error";
		} else {
			/* A response without a result object counts as {}. */
			m->result = browser_cdp_obj(o, "result");
			if (!m->result) {
				struct json_object *empty = json_object_new_object();

				if (!empty)
					goto nomem;
				json_object_object_add(o, "result", empty);
				m->result = empty;
			}
		}
		*root = o;
		return 0;
	}
	m->method = browser_cdp_str(o, "method");
	if (!m->method)
		goto bad;
	m->kind = BROWSER_CDP_EVENT;
	m->params = browser_cdp_obj(o, "params");
	*root = o;
	return 0;
nomem:
	json_object_put(o);
	memset(m, 0, sizeof(*m));
	return -ENOMEM;
bad:
	json_object_put(o);
	memset(m, 0, sizeof(*m));
	return -EBADMSG;
}

int64_t browser_cdp_peek_id(const char *text, size_t len)
{
	static const char prefix[] = "{\"id\":";
	size_t i = sizeof(prefix) - 1;
	int64_t v = 0;

	if (len < i + 2 || memcmp(text, prefix, i) != 0)
		return -1;
	if (text[i] < '0' || text[i] > '9')
		return -1;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (text[i] - '0');
	}
	if (i >= len || (text[i] != ',' && text[i] != '}'))
		return -1;
	return v;
}

/* --- incoming stream ------------------------------------------------------------ */

void browser_cdp_rx_init(struct browser_cdp_rx *rx, size_t max)
{
	memset(rx, 0, sizeof(*rx));
	rx->max = max && max < BROWSER_CDP_MSG_MAX ? max : BROWSER_CDP_MSG_MAX;
}

void browser_cdp_rx_free(struct browser_cdp_rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

int browser_cdp_rx_append(struct browser_cdp_rx *rx, const void *data, size_t n)
{
	size_t need;

	if (n == 0)
		return 0;
	/* Drop what was consumed before growing. */
	if (rx->start > 0 && (rx->start == rx->len || rx->len + n > rx->cap)) {
		memmove(rx->buf, rx->buf + rx->start, rx->len - rx->start);
		rx->len -= rx->start;
		rx->start = 0;
	}
	need = rx->len + n + 1;
	if (need > rx->cap) {
		size_t cap = rx->cap ? rx->cap : 65536;
		char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(rx->buf, cap);
		if (!b)
			return -ENOMEM;
		rx->buf = b;
		rx->cap = cap;
	}
	memcpy(rx->buf + rx->len, data, n);
	rx->len += n;
	rx->buf[rx->len] = '\0';
	return 0;
}

int browser_cdp_rx_next(struct browser_cdp_rx *rx, const char **text, size_t *len, int64_t *id)
{
	char *p, *nul;
	size_t avail;

	for (;;) {
		avail = rx->len - rx->start;
		if (avail == 0) {
			/* Give back what a big message took. */
			rx->start = rx->len = rx->scanned = 0;
			if (rx->cap > BROWSER_CDP_KEEP) {
				free(rx->buf);
				rx->buf = NULL;
				rx->cap = 0;
			}
			return 0;
		}
		p = rx->buf + rx->start;
		nul = memchr(p + rx->scanned, '\0', avail - rx->scanned);
		if (rx->skipping) {
			/* Throw away the rest of the oversized message. */
			if (!nul) {
				rx->start = rx->len;
				rx->scanned = 0;
				return 0;
			}
			rx->start += (size_t)(nul - p) + 1;
			rx->scanned = 0;
			rx->skipping = 0;
			continue;
		}
		if (!nul) {
			rx->scanned = avail;
			if (avail <= rx->max)
				return 0;
			*id = browser_cdp_peek_id(p, avail);
			rx->skipping = 1;
			rx->start = rx->len;
			rx->scanned = 0;
			return BROWSER_CDP_RX_DROPPED;
		}
		*len = (size_t)(nul - p);
		rx->start += *len + 1;
		rx->scanned = 0;
		if (*len > rx->max) {
			*id = browser_cdp_peek_id(p, *len);
			return BROWSER_CDP_RX_DROPPED;
		}
		if (*len == 0)
			continue; /* stray NUL */
		*text = p;
		return BROWSER_CDP_RX_MSG;
	}
}

int browser_cdp_rx_idle(const struct browser_cdp_rx *rx)
{
	return rx->len == rx->start && !rx->skipping;
}

/* --- outgoing queue ---------------------------------------------------------------- */

static int cdp_tx_append(struct browser_cdp_tx *tx, const char *s, size_t n)
{
	if (tx->off > 0 && tx->off == tx->len)
		tx->off = tx->len = 0;
	if (tx->len - tx->off + n > BROWSER_CDP_TX_MAX)
		return -E2BIG;
	if (tx->len + n > tx->cap) {
		size_t cap = tx->cap ? tx->cap : 16384;
		char *b;

		if (tx->off > 0) {
			memmove(tx->buf, tx->buf + tx->off, tx->len - tx->off);
			tx->len -= tx->off;
			tx->off = 0;
		}
		while (cap < tx->len + n)
			cap *= 2;
		if (cap > tx->cap) {
			b = realloc(tx->buf, cap);
			if (!b)
				return -ENOMEM;
			tx->buf = b;
			tx->cap = cap;
		}
	}
	memcpy(tx->buf + tx->len, s, n);
	tx->len += n;
	return 0;
}

int browser_cdp_tx_command(struct browser_cdp_tx *tx, int64_t id, const char *method,
			   struct json_object *params, const char *session)
{
	struct json_object *m = json_object_new_object();
	const char *s;
	size_t n;
	int r;

	if (!params)
		params = json_object_new_object();
	if (!m || !params) {
		json_object_put(m);
		json_object_put(params);
		return -ENOMEM;
	}
	json_object_object_add(m, "id", json_object_new_int64(id));
	json_object_object_add(m, "method", json_object_new_string(method));
	json_object_object_add(m, "params", params);
	if (session)
		json_object_object_add(m, "sessionId", json_object_new_string(session));
	s = json_object_to_json_string_length(
		m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s) {
		json_object_put(m);
		return -ENOMEM;
	}
	r = cdp_tx_append(tx, s, n + 1); /* with the NUL terminator */
	json_object_put(m);
	return r;
}

int browser_cdp_tx_flush(struct browser_cdp_tx *tx, int fd)
{
	ssize_t n;

	while (tx->off < tx->len) {
		n = write(fd, tx->buf + tx->off, tx->len - tx->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		tx->off += (size_t)n;
	}
	tx->off = tx->len = 0;
	if (tx->cap > BROWSER_CDP_KEEP) {
		free(tx->buf);
		tx->buf = NULL;
		tx->cap = 0;
	}
	return 0;
}

size_t browser_cdp_tx_pending(const struct browser_cdp_tx *tx)
{
	return tx->len - tx->off;
}

void browser_cdp_tx_free(struct browser_cdp_tx *tx)
{
	free(tx->buf);
	memset(tx, 0, sizeof(*tx));
}
