#include "host/egress/egress_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int http_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value byte: visible ASCII, obs-text, space or tab. */
static int http_vchar(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

int egress_http_head_end(const char *buf, size_t len, size_t *head_len)
{
	size_t n = len < EGRESS_HTTP_HEAD_MAX ? len : EGRESS_HTTP_HEAD_MAX;

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\0')
			return -EINVAL;
		if (c == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return -EINVAL; /* a bare CR */
		if (c != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return -EINVAL; /* a bare LF */
		if (i >= 3 && buf[i - 2] == '\n') {
			*head_len = i + 1;
			return 1;
		}
	}
	return len >= EGRESS_HTTP_HEAD_MAX ? -E2BIG : 0;
}

static int http_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

/* host[:port] of an authority; a bracketed IPv6 literal may hold colons. */
static int http_hostport(const char *s, size_t n, int need_port, struct egress_host *host,
			 unsigned *port, const char **why)
{
	const char *colon = NULL;
	size_t hl;

	if (n == 0) {
		*why = "no host";
		return -EINVAL;
	}
	if (memchr(s, '@', n)) {
		*why = "user information in the URL is not accepted";
		return -EINVAL;
	}
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb) {
			*why = "unterminated IPv6 literal";
			return -EINVAL;
		}
		if ((size_t)(rb - s) + 1 < n) {
			if (rb[1] != ':') {
				*why = "junk after the IPv6 literal";
				return -EINVAL;
			}
			colon = rb + 1;
		}
	} else {
		colon = memchr(s, ':', n);
	}
	hl = colon ? (size_t)(colon - s) : n;
	if (egress_host_parse(s, hl, host) < 0) {
		*why = "not a valid host name or address";
		return -EINVAL;
	}
	if (!colon) {
		if (need_port) {
			*why = "CONNECT needs host:port";
			return -EINVAL;
		}
		*port = 80;
		return 0;
	}
	if (http_port(colon + 1, n - hl - 1, port) < 0) {
		*why = "bad port";
		return -EINVAL;
	}
	return 0;
}

int egress_http_parse_authority(const char *s, size_t n, struct egress_host *host, unsigned *port,
				const char **why)
{
	return http_hostport(s, n, 1, host, port, why);
}

int egress_http_parse_url(const char *s, size_t n, struct egress_host *host, unsigned *port,
			  const char **path, size_t *path_len, const char **why)
{
	size_t i, auth_end;

	for (i = 0; i < n && s[i] != ':'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (i > 0 && ((s[i] >= '0' && s[i] <= '9') || strchr("+-.", s[i]))))) {
			*why = s[0] == '/' ? "not a proxy request (origin-form target)"
					   : "the target is not an absolute URI";
			return -EINVAL;
		}
	if (i == n || i == 0) {
		*why = "the target is not an absolute URI";
		return -EINVAL;
	}
	if (i == 5 && strncasecmp(s, "https", 5) == 0) {
		*why = "https:// through the proxy: use CONNECT";
		return -ENOSYS;
	}
	if (i != 4 || strncasecmp(s, "http", 4) != 0) {
		*why = "only http:// URLs (and CONNECT) are proxied";
		return -ENOSYS;
	}
	if (n < i + 3 || s[i + 1] != '/' || s[i + 2] != '/') {
		*why = "the target is not an absolute URI";
		return -EINVAL;
	}
	if (memchr(s, '#', n) || memchr(s, '\\', n)) {
		*why = "a URL with a fragment or a backslash";
		return -EINVAL;
	}
	s += i + 3;
	n -= i + 3;
	for (auth_end = 0; auth_end < n && s[auth_end] != '/' && s[auth_end] != '?'; auth_end++)
		;
	if (http_hostport(s, auth_end, 0, host, port, why) < 0)
		return -EINVAL;
	*path = s + auth_end;
	*path_len = n - auth_end;
	return 0;
}

/* Semantics of the fields that frame the body (we relay it untouched, so the
 * framing must be unambiguous for the server). */
static int http_check_framing(const struct egress_request *req, const char **why)
{
	const char *cl = NULL;
	size_t cl_len = 0;
	int te = 0;

	for (size_t i = 0; i < req->nfields; i++) {
		const struct egress_http_field *f = &req->fields[i];

		if (f->name_len == 14 && strncasecmp(f->name, "content-length", 14) == 0) {
			if (f->value_len == 0 || f->value_len > 18) {
				*why = "bad Content-Length";
				return -EINVAL;
			}
			for (size_t k = 0; k < f->value_len; k++)
				if (f->value[k] < '0' || f->value[k] > '9') {
					*why = "bad Content-Length";
					return -EINVAL;
				}
			if (cl && (cl_len != f->value_len || memcmp(cl, f->value, cl_len) != 0)) {
				*why = "conflicting Content-Length fields";
				return -EINVAL;
			}
			cl = f->value;
			cl_len = f->value_len;
		} else if (f->name_len == 17 &&
			   strncasecmp(f->name, "transfer-encoding", 17) == 0) {
			if (te++ || f->value_len != 7 || strncasecmp(f->value, "chunked", 7) != 0) {
				*why = "only \"Transfer-Encoding: chunked\" is accepted";
				return -EINVAL;
			}
		}
	}
	if (cl && te) {
		*why = "both Content-Length and Transfer-Encoding";
		return -EINVAL;
	}
	return 0;
}

/* The line starting at p: *eol is its CR. Refuses a line without CRLF or with
 * a NUL, CR or LF inside (the head may not have been through head_end). */
static int http_line(const char *p, const char *end, const char **eol)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (!nl || nl == p || nl[-1] != '\r')
		return -EINVAL;
	for (const char *q = p; q < nl - 1; q++)
		if (*q == '\r' || *q == '\0')
			return -EINVAL;
	*eol = nl - 1;
	return 0;
}

int egress_http_parse(const char *buf, size_t head_len, struct egress_request *req,
		      const char **why)
{
	const char *p = buf, *end = buf + head_len, *sp, *eol;
	size_t n;
	int r;

	memset(req, 0, sizeof(*req));
	*why = "malformed request";
	if (head_len < 4 || head_len > EGRESS_HTTP_HEAD_MAX || memcmp(end - 4, "\r\n\r\n", 4))
		return -EINVAL;
	if (http_line(p, end, &eol) < 0)
		return -EINVAL;
	/* method */
	for (n = 0; p + n < eol && http_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || p + n >= eol || p[n] != ' ') {
		*why = "malformed request line";
		return -EINVAL;
	}
	if (n > EGRESS_HTTP_METHOD_MAX) {
		*why = "method name too long";
		return -ENOSYS;
	}
	memcpy(req->method, p, n);
	req->method[n] = '\0';
	p += n + 1;
	/* request-target */
	for (sp = p; sp<eol && * sp> 0x20 && *sp < 0x7f; sp++)
		;
	if (sp == p || sp >= eol || *sp != ' ') {
		*why = "malformed request line";
		return -EINVAL;
	}
	if ((size_t)(sp - p) > EGRESS_HTTP_TARGET_MAX) {
		*why = "request target too long";
		return -E2BIG;
	}
	req->target = p;
	req->target_len = (size_t)(sp - p);
	p = sp + 1;
	/* version */
	if (eol - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')) {
		*why = eol - p == 8 && memcmp(p, "HTTP/", 5) == 0 ? "only HTTP/1.x is proxied"
								  : "malformed request line";
		return eol - p == 8 && memcmp(p, "HTTP/", 5) == 0 ? -ENOSYS : -EINVAL;
	}
	req->minor = p[7] - '0';
	p = eol + 2;
	/* header fields, up to the blank line */
	while (p < end - 2) {
		struct egress_http_field *f;
		const char *v, *ve;

		if (http_line(p, end, &eol) < 0)
			return -EINVAL;
		if (*p == ' ' || *p == '\t') {
			*why = "obsolete line folding";
			return -EINVAL;
		}
		for (n = 0; p + n < eol && http_tchar((unsigned char)p[n]); n++)
			;
		if (n == 0 || p[n] != ':') {
			*why = "malformed header field";
			return -EINVAL;
		}
		if (req->nfields == EGRESS_HTTP_HEADERS_MAX) {
			*why = "too many header fields";
			return -E2BIG;
		}
		for (v = p + n + 1; v < eol; v++)
			if (!http_vchar((unsigned char)*v)) {
				*why = "control character in a header field";
				return -EINVAL;
			}
		v = p + n + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		f = &req->fields[req->nfields++];
		f->name = p;
		f->name_len = n;
		f->value = v;
		f->value_len = (size_t)(ve - v);
		p = eol + 2;
	}
	req->head_len = head_len;
	if (strcmp(req->method, "CONNECT") == 0) {
		req->connect = 1;
		return egress_http_parse_authority(req->target, req->target_len, &req->host,
						   &req->port, why);
	}
	r = egress_http_parse_url(req->target, req->target_len, &req->host, &req->port, &req->path,
				  &req->path_len, why);
	if (r < 0)
		return r;
	return http_check_framing(req, why);
}

/* Is name[0..n) one of the comma-separated tokens in the Connection fields? */
static int http_named_by_connection(const struct egress_request *req, const char *name, size_t n)
{
	for (size_t i = 0; i < req->nfields; i++) {
		const struct egress_http_field *f = &req->fields[i];
		const char *v = f->value, *e = f->value + f->value_len;

		if (f->name_len != 10 || strncasecmp(f->name, "connection", 10) != 0)
			continue;
		while (v < e) {
			const char *t;
			while (v < e && (*v == ',' || *v == ' ' || *v == '\t'))
				v++;
			for (t = v; t < e && *t != ',' && *t != ' ' && *t != '\t'; t++)
				;
			if ((size_t)(t - v) == n && strncasecmp(v, name, n) == 0)
				return 1;
			v = t;
		}
	}
	return 0;
}

static int http_hop_by_hop(const struct egress_request *req, const struct egress_http_field *f)
{
	static const char *const hop[] = { "host", "connection", "proxy-connection", "keep-alive",
					   "te",   "trailer",	 "upgrade" };

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (f->name_len == strlen(hop[i]) && strncasecmp(f->name, hop[i], f->name_len) == 0)
			return 1;
	if (f->name_len >= 6 && strncasecmp(f->name, "proxy-", 6) == 0)
		return 1;
	return http_named_by_connection(req, f->name, f->name_len);
}

int egress_http_rewrite(const struct egress_request *req, char **out, size_t *out_len)
{
	size_t cap = req->head_len + EGRESS_HTTP_HEAD_MAX / 4 + 64, o = 0;
	char *b = malloc(cap);
	int w;

	if (!b)
		return -ENOMEM;
	/* The head only shrinks but for "/", the Host field and "Connection: close". */
	w = snprintf(b, cap, "%s %s%.*s HTTP/1.%d\r\nHost: %s%s%s", req->method,
		     req->path_len && req->path[0] == '/' ? "" : "/", (int)req->path_len, req->path,
		     req->minor, req->host.kind == EGRESS_HOST_IPV6 ? "[" : "", req->host.name,
		     req->host.kind == EGRESS_HOST_IPV6 ? "]" : "");
	if (w < 0 || (size_t)w >= cap)
		goto nomem;
	o = (size_t)w;
	if (req->port != 80) {
		w = snprintf(b + o, cap - o, ":%u", req->port);
		o += (size_t)w;
	}
	memcpy(b + o, "\r\n", 2);
	o += 2;
	for (size_t i = 0; i < req->nfields; i++) {
		const struct egress_http_field *f = &req->fields[i];

		if (http_hop_by_hop(req, f))
			continue;
		if (o + f->name_len + f->value_len + 4 >= cap)
			goto nomem;
		memcpy(b + o, f->name, f->name_len);
		o += f->name_len;
		memcpy(b + o, ": ", 2);
		o += 2;
		memcpy(b + o, f->value, f->value_len);
		o += f->value_len;
		memcpy(b + o, "\r\n", 2);
		o += 2;
	}
	if (o + 22 >= cap)
		goto nomem;
	memcpy(b + o, "Connection: close\r\n\r\n", 21);
	o += 21;
	*out = b;
	*out_len = o;
	return 0;
nomem:
	free(b);
	return -ENOMEM;
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "Connection established";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

size_t egress_http_response(int status, const char *body, char *buf, size_t len)
{
	char head[256];
	size_t bl = strlen(body), hl;
	int w;

	if (len < 300)
		return 0;
	if (bl > len - 300)
		bl = len - 300;
	w = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, http_reason(status), bl + 1);
	hl = (size_t)w;
	memcpy(buf, head, hl);
	memcpy(buf + hl, body, bl);
	buf[hl + bl] = '\n';
	return hl + bl + 1;
}

int egress_http_response_status(const char *buf, size_t len)
{
	int v = 0;

	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
		v = v * 10 + buf[i] - '0';
	}
	return v;
}
