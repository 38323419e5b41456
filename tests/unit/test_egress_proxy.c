/* The egress proxy running for real, in-process: its thread, a Unix socket
 * per sandbox, an origin on 127.0.0.1 served by a thread of this test. Covers
 * allowed and refused requests, CONNECT tunnels, the audit sink, byte and
 * connection quotas, the request timeout, DNS through the resolver threads
 * (falling back from an address that refuses to the next one), and removing
 * a sandbox with a connection open. */
#include "host/egress/egress.h"
#include "tests/unit/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define BIG (512 * 1024)

static int origin_fd = -1;
static int origin_port;

/* The origin: one connection at a time; "GET /big" gets BIG bytes, anything
 * else "hello". It answers whatever request line arrives. */
static void *origin_main(void *arg)
{
	static char body[BIG];
	(void)arg;
	memset(body, 'x', sizeof(body));
	for (;;) {
		char req[4096], head[128];
		size_t n = 0;
		int fd = accept(origin_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		while (n < sizeof(req) - 1) {
			ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
			if (r <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[n] = '\0';
		int big = strncmp(req, "GET /big ", 9) == 0;
		size_t bl = big ? BIG : 6;
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", bl);
		send(fd, head, (size_t)hl, MSG_NOSIGNAL);
		send(fd, big ? body : "hello\n", bl, MSG_NOSIGNAL);
		close(fd);
	}
}

static int start_origin(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	pthread_t t;

	origin_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (origin_fd < 0 || bind(origin_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(origin_fd, 16) < 0 || getsockname(origin_fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	origin_port = ntohs(sa.sin_port);
	return pthread_create(&t, NULL, origin_main, NULL) == 0 ? 0 : -1;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read until EOF (or 5 s of silence); returns the length, *out malloc'd. */
static size_t read_all(int fd, char **out)
{
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap + 1);

	for (;;) {
		ssize_t r;
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
		}
		r = recv(fd, b + n, cap - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*out = b;
	return n;
}

/* One request through the sandbox socket; the whole answer in *out. */
static size_t roundtrip(const char *sock, const char *req, char **out)
{
	int fd = connect_unix(sock);
	size_t n;

	if (fd < 0) {
		*out = strdup("");
		return 0;
	}
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	n = read_all(fd, out);
	close(fd);
	return n;
}

/* The audit sink: keep the lines. */
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static struct json_object *lines[64];
static int nlines;

static void sink(void *ctx, struct json_object *line)
{
	(void)ctx;
	pthread_mutex_lock(&lines_lock);
	if (nlines < 64)
		lines[nlines++] = json_object_get(line);
	pthread_mutex_unlock(&lines_lock);
}

/* Wait until the sink has seen n lines (2 s at most). */
static void wait_lines(int n)
{
	for (int k = 0; k < 200; k++) {
		pthread_mutex_lock(&lines_lock);
		int have = nlines >= n;
		pthread_mutex_unlock(&lines_lock);
		if (have)
			return;
		usleep(10000);
	}
}

/* Wait for audit line i (0-based) and return one of its string fields. */
static const char *line_str(int i, const char *key)
{
	struct json_object *v;

	for (int k = 0; k < 200; k++) {
		pthread_mutex_lock(&lines_lock);
		int have = nlines > i;
		pthread_mutex_unlock(&lines_lock);
		if (have)
			break;
		usleep(10000);
	}
	if (i >= nlines || !json_object_object_get_ex(lines[i], key, &v))
		return "(none)";
	return json_object_get_string(v) ? json_object_get_string(v) : "(null)";
}

static long long line_int(int i, const char *key)
{
	struct json_object *v;

	line_str(i, key);
	if (i >= nlines || !json_object_object_get_ex(lines[i], key, &v))
		return -1;
	return json_object_get_int64(v);
}

static struct egress_policy *policy(const char *extra_json)
{
	char text[1024], err[256];
	struct egress_policy *p = NULL;
	struct json_object *o;

	snprintf(text, sizeof(text),
		 "{\"allow_domains\":[\"allowed.test\",\"localhost\"],\"allow_ports\":[%d],"
		 "\"allow_ranges\":[\"127.0.0.1/32\",\"::1/128\"],"
		 "\"hosts\":{\"allowed.test\":\"127.0.0.1\",\"evil.test\":\"127.0.0.1\"}%s}",
		 origin_port, extra_json);
	o = json_tokener_parse(text);
	if (egress_policy_from_json(o, &p, err, sizeof(err)) < 0)
		printf("# policy: %s\n", err);
	json_object_put(o);
	return p;
}

int main(void)
{
	char dir[] = "/tmp/test_egress_proxy.XXXXXX", sock[128], sock2[128], req[512], *out;
	struct egress_sandbox *sb = NULL, *sb2 = NULL;
	struct egress_options eo = { .resolver_threads = 2 };
	struct egress_stats st;
	struct egress *e = NULL;
	int i = 0, fd;
	size_t n;

	if (!mkdtemp(dir) || start_origin() < 0)
		skip_all("no temporary directory or loopback socket");
	snprintf(sock, sizeof(sock), "%s/egress.sock", dir);
	snprintf(sock2, sizeof(sock2), "%s/small.sock", dir);
	is(egress_new(&eo, &e), 0, "the proxy starts");
	egress_set_audit_sink(e, sink, NULL);
	is(egress_sandbox_add(e, "box", sock, policy(""), &sb), 0, "a sandbox's socket");
	is(egress_sandbox_add(e, "box2", sock, policy(""), &sb2), 0,
	   "a stale socket at the path is replaced");
	egress_sandbox_remove(e, sb2);
	ok(access(sock, F_OK) != 0, "removing the sandbox unlinks its socket");
	is(egress_sandbox_add(e, "box", sock, policy(""), &sb), 0, "listening again");
	is(egress_sandbox_add(e, "x", dir, policy(""), &sb2), -EEXIST,
	   "a path that is not a socket is refused");

	/* allowed */
	snprintf(req, sizeof(req), "GET http://allowed.test:%d/ HTTP/1.1\r\nHost: x\r\n\r\n",
		 origin_port);
	n = roundtrip(sock, req, &out);
	ok(n > 0 && strncmp(out, "HTTP/1.1 200 OK", 15) == 0 && strstr(out, "\r\n\r\nhello\n"),
	   "an allowed GET gets the origin's answer");
	free(out);
	is(strcmp(line_str(i, "verdict"), "allow"), 0, "audit: allow");
	is(line_int(i, "upstream_status"), 200, "audit: upstream 200");
	is(strcmp(line_str(i, "ip"), "127.0.0.1"), 0, "audit: the address it connected to");
	i++;

	/* big: the relay with back-pressure */
	snprintf(req, sizeof(req), "GET http://allowed.test:%d/big HTTP/1.1\r\n\r\n", origin_port);
	n = roundtrip(sock, req, &out);
	ok(n > BIG && out[n - 1] == 'x', "%d bytes come through (%zu with the head)", BIG, n);
	free(out);
	is(line_int(i, "bytes_down"), (long long)n, "audit: bytes_down is what arrived");
	i++;

	/* refused */
	snprintf(req, sizeof(req), "GET http://evil.test:%d/ HTTP/1.1\r\n\r\n", origin_port);
	n = roundtrip(sock, req, &out);
	ok(strncmp(out, "HTTP/1.1 403 Forbidden", 22) == 0 &&
		   strstr(out, "domain evil.test is not allowed"),
	   "a domain not allowed: 403 with the reason");
	free(out);
	is(strcmp(line_str(i, "reason"), "domain"), 0, "audit: domain");
	i++;
	n = roundtrip(sock, "GET http://0x7f.1/ HTTP/1.1\r\n\r\n", &out);
	ok(strncmp(out, "HTTP/1.1 403", 12) == 0, "a hex IP literal: 403");
	free(out);
	is(strcmp(line_str(i, "reason"), "port"), 0, "audit: port 80 is checked first");
	i++;
	n = roundtrip(sock, "BREW /pot HTTP/1.1\r\n\r\n", &out);
	ok(strncmp(out, "HTTP/1.1 400", 12) == 0, "a non-proxy request: 400");
	free(out);
	is(strcmp(line_str(i, "verdict"), "error"), 0, "audit: error");
	i++;
	n = roundtrip(sock, "GET http://a.test/ HTTP/1.1\nHost: a\n\n", &out);
	ok(strncmp(out, "HTTP/1.1 400", 12) == 0, "bare LF: 400");
	free(out);
	i++;

	/* CONNECT: a tunnel, then a plain request inside it */
	fd = connect_unix(sock);
	snprintf(req, sizeof(req),
		 "CONNECT allowed.test:%d HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		 origin_port);
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	n = read_all(fd, &out);
	close(fd);
	ok(strncmp(out, "HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK", 54) == 0,
	   "CONNECT: established, and the bytes sent with it went through");
	free(out);
	is(line_int(i, "status"), 200, "audit: CONNECT 200");
	i++;

	/* DNS through the resolver threads */
	snprintf(req, sizeof(req), "GET http://localhost:%d/ HTTP/1.1\r\n\r\n", origin_port);
	n = roundtrip(sock, req, &out);
	ok(strncmp(out, "HTTP/1.1 200 OK", 15) == 0, "localhost resolved by getaddrinfo works");
	if (strncmp(out, "HTTP/1.1 200 OK", 15) != 0)
		printf("# %.200s\n", out);
	free(out);
	i++;
	n = roundtrip(sock, "GET http://no-such-name.invalid:80/ HTTP/1.1\r\n\r\n", &out);
	ok(strncmp(out, "HTTP/1.1 403", 12) == 0, "(port 80 is not allowed here)");
	free(out);
	i++;

	/* request timeout and removal with a connection open */
	wait_lines(i);
	egress_sandbox_stats(e, sb, &st);
	is(st.conns_open, 0, "stats: nothing open");
	is(st.conns_total, (uint32_t)i, "stats: %d connections", i);
	ok(st.bytes_down > BIG, "stats: bytes_down %llu", (unsigned long long)st.bytes_down);
	fd = connect_unix(sock2);
	ok(fd < 0, "(no second sandbox yet)");
	is(egress_sandbox_add(
		   e, "small", sock2,
		   policy(",\"quota\":{\"bytes_down\":1000,\"connections_concurrent\":1},"
			  "\"timeouts_ms\":{\"request\":300}"),
		   &sb2),
	   0, "a sandbox with quotas and a 300 ms request timeout");
	fd = connect_unix(sock2);
	n = read_all(fd, &out);
	is(n, 0, "silence: closed after the request timeout");
	close(fd);
	free(out);
	is(strcmp(line_str(i, "end"), "timeout"), 0, "audit: timeout");
	is(strcmp(line_str(i, "sandbox"), "small"), 0, "audit: the sandbox's name");
	i++;
	snprintf(req, sizeof(req), "GET http://allowed.test:%d/big HTTP/1.1\r\n\r\n", origin_port);
	n = roundtrip(sock2, req, &out);
	is(n, 1000, "the download stops at the 1000-byte quota");
	free(out);
	is(strcmp(line_str(i, "end"), "quota_bytes_down"), 0, "audit: quota_bytes_down");
	i++;
	fd = connect_unix(sock2);
	{
		int fd2 = connect_unix(sock2);
		n = read_all(fd2, &out);
		ok(strncmp(out, "HTTP/1.1 403", 12) == 0 && strstr(out, "open"),
		   "a second connection at once: 403 (connections_concurrent 1)");
		free(out);
		close(fd2);
	}
	i++;
	wait_lines(i);
	egress_sandbox_remove(e, sb2);
	n = read_all(fd, &out);
	is(n, 0, "removing the sandbox ends its open connection");
	free(out);
	close(fd);
	is(strcmp(line_str(i, "end"), "removed"), 0, "audit: removed");
	i++;

	egress_free(e);
	ok(access(sock, F_OK) != 0, "egress_free removes the sockets");
	is(nlines, i, "one audit line per connection (%d)", i);
	for (int k = 0; k < nlines; k++)
		json_object_put(lines[k]);
	rmdir(dir);
	return done_testing();
}
