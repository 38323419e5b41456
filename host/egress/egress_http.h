/* The HTTP a sandbox sends its egress proxy: a request head (request line and
 * header fields, RFC 9112), either CONNECT host:port or an absolute-URI
 * request for http://. Parsing is strict and bounded: bare LF, obs-fold,
 * whitespace before a colon, control bytes, userinfo, fragments, several
 * Content-Lengths or Content-Length with Transfer-Encoding are all refused.
 * Nothing here does I/O. */
#ifndef AGENTVM_HOST_EGRESS_HTTP_H
#define AGENTVM_HOST_EGRESS_HTTP_H

#include <stddef.h>

#include "host/egress/egress_host.h"

#define EGRESS_HTTP_HEAD_MAX	16384 /* request line + header fields + blank line */
#define EGRESS_HTTP_TARGET_MAX	8192
#define EGRESS_HTTP_HEADERS_MAX 100
#define EGRESS_HTTP_METHOD_MAX	31

struct egress_http_field {
	const char *name; /* points into the parsed buffer; not NUL-terminated */
	size_t name_len;
	const char *value; /* without surrounding whitespace */
	size_t value_len;
};

struct egress_request {
	char method[EGRESS_HTTP_METHOD_MAX + 1];
	int connect; /* CONNECT host:port (else an absolute-URI request) */
	int minor;   /* HTTP/1.<minor> */
	struct egress_host host;
	unsigned port;
	const char *path; /* origin-form (path and query), into the buffer; NULL for CONNECT */
	size_t path_len;
	const char *target; /* the request-target as sent, into the buffer */
	size_t target_len;
	struct egress_http_field fields[EGRESS_HTTP_HEADERS_MAX];
	size_t nfields;
	size_t head_len; /* bytes of buf the head took, blank line included */
};

/* Look for the end of the head in buf[0..len). Returns 1 with *head_len set
 * when it is complete, 0 when more bytes are needed, -EINVAL on a bare LF or
 * NUL, -E2BIG once EGRESS_HTTP_HEAD_MAX bytes hold no complete head. */
int egress_http_head_end(const char *buf, size_t len, size_t *head_len);

/* Parse the complete head buf[0..head_len). On success req points into buf
 * (keep it alive). On failure returns -EINVAL (400), -ENOSYS (501: a method or
 * scheme a proxy of ours does not do) or -E2BIG (431/414), with a short human
 * reason in *why. */
int egress_http_parse(const char *buf, size_t head_len, struct egress_request *req,
		      const char **why);

/* Parse an http:// absolute URI into host, port and origin-form path (the
 * path points into s). Returns 0, -EINVAL or -ENOSYS (another scheme). */
int egress_http_parse_url(const char *s, size_t n, struct egress_host *host, unsigned *port,
			  const char **path, size_t *path_len, const char **why);

/* Parse CONNECT's authority "host:port". Returns 0 or -EINVAL. */
int egress_http_parse_authority(const char *s, size_t n, struct egress_host *host, unsigned *port,
				const char **why);

/* The head to send upstream for a non-CONNECT request: origin-form request
 * line, Host from the URI, the client's fields minus Host, hop-by-hop fields
 * (and those Connection names) and Proxy-*, then "Connection: close".
 * *out is malloc'd. Returns 0 or -ENOMEM. */
int egress_http_rewrite(const struct egress_request *req, char **out, size_t *out_len);

/* A complete response with status, a text/plain body "<body>\n" and
 * Connection: close, into buf. Returns its length (truncating the body to fit). */
size_t egress_http_response(int status, const char *body, char *buf, size_t len);

/* The status code of a response that starts buf[0..len) ("HTTP/1.1 302 ..."),
 * or 0 when it does not look like one (yet). */
int egress_http_response_status(const char *buf, size_t len);

#endif
