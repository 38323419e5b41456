/* The egress proxy's HTTP request parser and the upstream rewrite: CONNECT
 * and absolute-URI requests, strictness (bare LF, folding, whitespace before
 * the colon, control bytes, userinfo, fragments, conflicting framing), limits,
 * and hop-by-hop and Proxy-* fields removed on the way out. */
#include "host/egress/egress_http.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *head, struct egress_request *req, const char **why)
{
	size_t n = strlen(head), hl = 0;
	int r = egress_http_head_end(head, n, &hl);

	if (r != 1)
		return r == 0 ? -EAGAIN : r;
	return egress_http_parse(head, hl, req, why);
}

static void bad(const char *head, int want, const char *what)
{
	struct egress_request req;
	const char *why = "";
	int r = parse(head, &req, &why);

	is(r, want, "%s is refused", what);
	if (r != want)
		printf("#   why: %s\n", why);
}

static void test_head_end(void)
{
	size_t hl = 0;
	char *big;

	is(egress_http_head_end("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\nbody", 39, &hl), 1,
	   "a complete head");
	is(hl, 35, "of 35 bytes");
	is(egress_http_head_end("GET http://a/ HTTP/1.1\r\nHost: a\r\n", 33, &hl), 0,
	   "an incomplete head wants more");
	is(egress_http_head_end("GET http://a/ HTTP/1.1\r\n\r", 25, &hl), 0,
	   "a trailing CR wants more");
	is(egress_http_head_end("GET http://a/ HTTP/1.1\nHost: a\n\n", 32, &hl), -EINVAL,
	   "bare LF");
	is(egress_http_head_end("GET http://a/ HTTP/1.1\rX\r\n\r\n", 27, &hl), -EINVAL, "bare CR");
	is(egress_http_head_end("GET http://a/\0 HTTP/1.1\r\n\r\n", 27, &hl), -EINVAL, "a NUL");
	big = malloc(EGRESS_HTTP_HEAD_MAX + 10);
	memset(big, 'a', EGRESS_HTTP_HEAD_MAX + 10);
	is(egress_http_head_end(big, EGRESS_HTTP_HEAD_MAX + 10, &hl), -E2BIG,
	   "16 KiB without an end is -E2BIG");
	free(big);
}

static void test_connect(void)
{
	struct egress_request req;
	const char *why = "";

	is(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
		 "Proxy-Authorization: x\r\n\r\n",
		 &req, &why),
	   0, "CONNECT example.com:443");
	ok(req.connect && req.port == 443 && strcmp(req.host.name, "example.com") == 0 &&
		   req.host.kind == EGRESS_HOST_NAME,
	   "connect, example.com, 443");
	is(req.nfields, 2, "two fields");
	is(parse("CONNECT [::1]:8443 HTTP/1.0\r\n\r\n", &req, &why), 0, "CONNECT [::1]:8443");
	ok(req.host.kind == EGRESS_HOST_IPV6 && req.port == 8443 && req.minor == 0,
	   "an IPv6 literal, port 8443, HTTP/1.0");
	is(parse("CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n", &req, &why), 0, "CONNECT 0x7f.1:443");
	ok(req.host.kind == EGRESS_HOST_IPV4 && strcmp(req.host.name, "127.0.0.1") == 0,
	   "is the literal 127.0.0.1");
	bad("CONNECT example.com HTTP/1.1\r\n\r\n", -EINVAL, "CONNECT without a port");
	bad("CONNECT example.com:0 HTTP/1.1\r\n\r\n", -EINVAL, "port 0");
	bad("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", -EINVAL, "port 65536");
	bad("CONNECT example.com:+443 HTTP/1.1\r\n\r\n", -EINVAL, "a signed port");
	bad("CONNECT example.com:443: HTTP/1.1\r\n\r\n", -EINVAL, "two colons");
	bad("CONNECT user@example.com:443 HTTP/1.1\r\n\r\n", -EINVAL, "userinfo in CONNECT");
	bad("CONNECT [::1]x:443 HTTP/1.1\r\n\r\n", -EINVAL, "junk after ]");
	bad("CONNECT ::1:443 HTTP/1.1\r\n\r\n", -EINVAL, "an unbracketed IPv6 literal");
}

static void test_absolute(void)
{
	struct egress_request req;
	const char *why = "";
	char *out = NULL;
	size_t olen = 0;

	is(parse("GET http://Allowed.Test:8080/a/b?c=d HTTP/1.1\r\n"
		 "Host: ignored.example\r\n"
		 "User-Agent: curl/7.88.1\r\n"
		 "Accept: */*\r\n"
		 "Proxy-Connection: Keep-Alive\r\n"
		 "Proxy-Authorization: Basic eDp5\r\n"
		 "Connection: keep-alive, X-Secret\r\n"
		 "X-Secret: 1\r\n"
		 "Keep-Alive: 300\r\n"
		 "TE: trailers\r\n"
		 "Upgrade: websocket\r\n"
		 "X-Fine:  spaced value \t\r\n\r\n",
		 &req, &why),
	   0, "an absolute-URI GET");
	ok(!req.connect && req.port == 8080 && strcmp(req.host.name, "allowed.test") == 0,
	   "allowed.test port 8080");
	ok(req.path_len == 8 && memcmp(req.path, "/a/b?c=d", 8) == 0, "path /a/b?c=d");
	is(egress_http_rewrite(&req, &out, &olen), 0, "rewritten");
	if (out) {
		const char *want = "GET /a/b?c=d HTTP/1.1\r\n"
				   "Host: allowed.test:8080\r\n"
				   "User-Agent: curl/7.88.1\r\n"
				   "Accept: */*\r\n"
				   "X-Fine: spaced value\r\n"
				   "Connection: close\r\n\r\n";
		ok(olen == strlen(want) && memcmp(out, want, olen) == 0,
		   "origin-form, Host from the URI, hop-by-hop and Proxy-* gone");
		if (olen != strlen(want) || memcmp(out, want, olen) != 0)
			printf("# got:\n# %.*s\n", (int)olen, out);
		free(out);
	}

	is(parse("POST http://a.test HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &req, &why), 0,
	   "a POST without a path");
	is(req.port, 80, "default port 80");
	is(egress_http_rewrite(&req, &out, &olen), 0, "rewritten");
	if (out) {
		const char *want = "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
				   "Connection: close\r\n\r\n";
		ok(olen == strlen(want) && memcmp(out, want, olen) == 0,
		   "path / and Content-Length kept");
		free(out);
	}
	is(parse("GET http://a.test?q HTTP/1.1\r\n\r\n", &req, &why), 0, "a query without a path");
	is(egress_http_rewrite(&req, &out, &olen), 0, "rewritten");
	if (out) {
		ok(strncmp(out, "GET /?q HTTP/1.1\r\n", 18) == 0, "as /?q");
		free(out);
	}
	is(parse("GET http://[::1]:81/ HTTP/1.1\r\n\r\n", &req, &why), 0, "an IPv6 literal URL");
	is(egress_http_rewrite(&req, &out, &olen), 0, "rewritten");
	if (out) {
		ok(strstr(out, "\r\nHost: [::1]:81\r\n") != NULL, "Host: [::1]:81");
		free(out);
	}
	is(parse("PUT http://a.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req, &why),
	   0, "chunked PUT");
	is(parse("GET HTTP://A.TEST/ HTTP/1.1\r\n\r\n", &req, &why), 0, "an upper-case scheme");
	is(parse("GET http://2130706433/ HTTP/1.1\r\n\r\n", &req, &why), 0, "a decimal host");
	ok(req.host.kind == EGRESS_HOST_IPV4 && strcmp(req.host.name, "127.0.0.1") == 0,
	   "is the literal 127.0.0.1");

	bad("GET / HTTP/1.1\r\nHost: a\r\n\r\n", -EINVAL, "an origin-form request");
	bad("GET https://a.test/ HTTP/1.1\r\n\r\n", -ENOSYS, "https:// without CONNECT");
	bad("GET ftp://a.test/ HTTP/1.1\r\n\r\n", -ENOSYS, "ftp://");
	bad("GET http:/a.test/ HTTP/1.1\r\n\r\n", -EINVAL, "http:/ with one slash");
	bad("GET http://allowed.test@evil.test/ HTTP/1.1\r\n\r\n", -EINVAL, "userinfo");
	bad("GET http://evil.test#@allowed.test/ HTTP/1.1\r\n\r\n", -EINVAL, "a fragment");
	bad("GET http://evil.test\\@allowed.test/ HTTP/1.1\r\n\r\n", -EINVAL, "a backslash");
	bad("GET http://a.test:/ HTTP/1.1\r\n\r\n", -EINVAL, "an empty port");
	bad("GET http:///x HTTP/1.1\r\n\r\n", -EINVAL, "no host");
	bad("GET http://1.2.3.4.5/ HTTP/1.1\r\n\r\n", -EINVAL, "a five-part number host");
	bad("GET http://a.test/ HTTP/2.0\r\n\r\n", -ENOSYS, "HTTP/2.0");
	bad("GET http://a.test/ HTTP/1.2\r\n\r\n", -ENOSYS, "HTTP/1.2");
	bad("GET http://a.test/ http/1.1\r\n\r\n", -EINVAL, "a lower-case version");
	bad("GET  http://a.test/ HTTP/1.1\r\n\r\n", -EINVAL, "two spaces");
	bad("GET http://a.test/ HTTP/1.1 \r\n\r\n", -EINVAL, "a trailing space");
	bad("G(T http://a.test/ HTTP/1.1\r\n\r\n", -EINVAL, "a method that is not a token");
	bad("GET http://a.test/\x7f HTTP/1.1\r\n\r\n", -EINVAL, "DEL in the target");
	bad("GET http://a.test/ HTTP/1.1\r\nHost : a\r\n\r\n", -EINVAL, "space before the colon");
	bad("GET http://a.test/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", -EINVAL, "obs-fold");
	bad("GET http://a.test/ HTTP/1.1\r\nX: a\x01\r\n\r\n", -EINVAL, "a control byte");
	bad("GET http://a.test/ HTTP/1.1\r\nNoColon\r\n\r\n", -EINVAL, "a field without a colon");
	bad("GET http://a.test/ HTTP/1.1\r\n: v\r\n\r\n", -EINVAL, "an empty field name");
	bad("POST http://a.test/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    -EINVAL, "two different Content-Lengths");
	bad("POST http://a.test/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", -EINVAL,
	    "a Content-Length list");
	bad("POST http://a.test/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -EINVAL,
	    "a negative Content-Length");
	bad("POST http://a.test/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n",
	    -EINVAL, "Content-Length with Transfer-Encoding");
	bad("POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -EINVAL,
	    "a coding besides chunked");
	bad("POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    -EINVAL, "two Transfer-Encodings");
	is(parse("POST http://a.test/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		 &req, &why),
	   0, "the same Content-Length twice is fine");
	{
		char *big = malloc(EGRESS_HTTP_HEAD_MAX), *p = big;
		p += sprintf(p, "GET http://a.test/ HTTP/1.1\r\n");
		for (int i = 0; i <= EGRESS_HTTP_HEADERS_MAX; i++)
			p += sprintf(p, "X-%d: v\r\n", i);
		p += sprintf(p, "\r\n");
		bad(big, -E2BIG, "101 header fields");
		p = big;
		p += sprintf(p, "GET http://a.test/");
		memset(p, 'a', EGRESS_HTTP_TARGET_MAX);
		p += EGRESS_HTTP_TARGET_MAX;
		p += sprintf(p, " HTTP/1.1\r\n\r\n");
		bad(big, -E2BIG, "an 8 KiB target");
		free(big);
	}
	/* parse() straight on bytes that never went through head_end */
	is(egress_http_parse("GET http://a/ HTTP/1.1\nX: y\r\n\r\n", 31, &req, &why), -EINVAL,
	   "parse alone refuses a bare LF");
	is(egress_http_parse("GET http://a/ HTTP/1.1\r\n\r", 25, &req, &why), -EINVAL,
	   "parse alone refuses a head without its blank line");
}

static void test_responses(void)
{
	char buf[600];
	size_t n = egress_http_response(403, "agentvm egress: denied: domain x", buf, sizeof(buf));

	ok(n > 0 && strncmp(buf, "HTTP/1.1 403 Forbidden\r\n", 24) == 0, "a 403 response");
	ok(memmem(buf, n, "Content-Length: 33\r\n", 20) != NULL, "with its Content-Length");
	ok(memmem(buf, n, "\r\n\r\nagentvm egress: denied: domain x\n", 37) != NULL,
	   "and its body");
	is(egress_http_response_status("HTTP/1.1 302 Found\r\n", 20), 302, "status 302");
	is(egress_http_response_status("HTTP/1.0 200", 12), 200, "status 200");
	is(egress_http_response_status("HTTP/1.1 20", 11), 0, "too short");
	is(egress_http_response_status("SSH-2.0-OpenSSH_9", 17), 0, "not HTTP");
}

int main(void)
{
	test_head_end();
	test_connect();
	test_absolute();
	test_responses();
	return done_testing();
}
