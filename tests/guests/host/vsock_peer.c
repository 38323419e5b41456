/* vsock_peer: the host side of the vsock guest (tests/guests/vsock.c), for
 * tests and benchmarks. It talks to agentvm-vmm's hybrid vsock: a host
 * connection is a connect() to the VM's Unix socket, "CONNECT <port>\n",
 * then "OK <hostport>\n" back; a guest connection to host port P arrives on
 * the Unix socket "<uds>_<P>".
 *
 *   vsock_peer echo   UDS PORT [-n CONNS] [-b BYTES] [-t SECS]
 *       CONNS connections at once; on connection i send the echo command,
 *       then BYTES pattern bytes of seed i + 1, check the echo, shut down.
 *   vsock_peer rtt    UDS PORT [-c COUNT] [-s SIZE] [-t SECS]
 *       COUNT round trips of SIZE bytes on one echo connection.
 *   vsock_peer sink   UDS PORT -b BYTES [-t SECS]    host -> guest, timed
 *   vsock_peer source UDS PORT -b BYTES [-t SECS]    guest -> host, timed
 *   vsock_peer count  UDS PORT [-t SECS]
 *       Ask for the guest's count: prints "count: conns=N boot=X", N the
 *       host connections the guest finished before this one, X its boot
 *       nonce (hexadecimal).
 *   vsock_peer serve  PATH [-n CONNS] [-t SECS]
 *       Listen on PATH and echo each connection until it shuts down; exit
 *       after CONNS connections (default 1).
 * Prints one summary line (key=value words); exits 0 when every byte
 * checked out, 1 on a failure (reason on stderr), 2 on usage. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/guests/virtio/gpattern.h"

#define PEER_OP_ECHO   1
#define PEER_OP_SINK   2
#define PEER_OP_SOURCE 3
#define PEER_OP_COUNT  4
#define PEER_CHUNK     65536
#define PEER_MAX_CONNS 64

struct peer_opts {
	const char *mode, *uds;
	uint32_t port;
	unsigned int conns;
	uint64_t bytes, count, size;
	double timeout;
};

static double peer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int peer_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int peer_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("vsock_peer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int peer_wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	double left = deadline - peer_now();

	if (left <= 0)
		return -ETIMEDOUT;
	if (poll(&p, 1, (int)(left * 1000) + 1) < 0)
		return errno == EINTR ? 0 : -errno;
	return 0;
}

/* One line (up to '\n') from fd, byte by byte so nothing after it is taken. */
static int peer_read_line(int fd, char *buf, size_t size, double deadline)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		if (r == 1) {
			if (buf[n++] == '\n')
				break;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (peer_wait_fd(fd, POLLIN, deadline) < 0)
			return -ETIMEDOUT;
	}
	buf[n] = '\0';
	return 0;
}

/* A host-initiated connection to the guest's port, retried until the VM
 * is up and the guest listens, or the deadline. Non-blocking fd, or -errno. */
static int peer_connect(const char *uds, uint32_t port, double deadline, uint32_t *hostport)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int last = -ETIMEDOUT;

	if (strlen(uds) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, uds);
	while (peer_now() < deadline) {
		char line[64];
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
		unsigned int hp;

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			last = -errno;
			goto retry;
		}
		fcntl(fd, F_SETFL, O_NONBLOCK);
		r = snprintf(line, sizeof(line), "CONNECT %u\n", port);
		if (write(fd, line, (size_t)r) != r) {
			last = -errno;
			goto retry;
		}
		r = peer_read_line(fd, line, sizeof(line), deadline);
		if (r < 0) {
			last = r;
			goto retry;
		}
		if (sscanf(line, "OK %u", &hp) != 1) {
			close(fd);
			return -EPROTO;
		}
		*hostport = hp;
		return fd;
	retry:
		close(fd);
		usleep(20000);
	}
	return last;
}

/* Write all of buf (non-blocking fd). 0 or -errno. */
static int peer_write_all(int fd, const void *buf, size_t len, double deadline)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (peer_wait_fd(fd, POLLOUT, deadline) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Read exactly len bytes. 0, -ECONNRESET at EOF, or -errno. */
static int peer_read_all(int fd, void *buf, size_t len, double deadline)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (peer_wait_fd(fd, POLLIN, deadline) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static void peer_command(uint8_t out[16], uint32_t op, uint32_t seed, uint64_t bytes)
{
	memcpy(out, &op, 4);
	memcpy(out + 4, &seed, 4);
	memcpy(out + 8, &bytes, 8);
}

/* ---- echo: many connections at once -------------------------------------- */
struct peer_conn {
	int fd;
	uint32_t hostport;
	uint64_t seed;
	uint8_t cmd[16];
	uint64_t cmd_sent, sent, received;
	bool shut, eof;
	uint8_t out[PEER_CHUNK], in[PEER_CHUNK];
	size_t out_len, out_off;
};

static int peer_echo(const struct peer_opts *o)
{
	static struct peer_conn conns[PEER_MAX_CONNS];
	double deadline = peer_now() + o->timeout, t0;
	struct pollfd pfd[PEER_MAX_CONNS];
	unsigned int done = 0;

	for (unsigned int i = 0; i < o->conns; i++) {
		struct peer_conn *c = &conns[i];
		int fd = peer_connect(o->uds, o->port, deadline, &c->hostport);

		if (fd < 0)
			return peer_fail("connection %u to port %u: %s", i, o->port, strerror(-fd));
		c->fd = fd;
		c->seed = i + 1;
		peer_command(c->cmd, PEER_OP_ECHO, 0, 0);
	}
	t0 = peer_now();
	while (done < o->conns && peer_now() < deadline) {
		for (unsigned int i = 0; i < o->conns; i++) {
			struct peer_conn *c = &conns[i];

			pfd[i] = (struct pollfd){ .fd = -1 };
			if (c->eof)
				continue;
			pfd[i].fd = c->fd;
			pfd[i].events = POLLIN | (c->shut ? 0 : POLLOUT);
		}
		if (poll(pfd, o->conns, 100) < 0 && errno != EINTR)
			return peer_fail("poll: %s", strerror(errno));
		for (unsigned int i = 0; i < o->conns; i++) {
			struct peer_conn *c = &conns[i];
			ssize_t r;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			/* Send: the command, then the pattern. */
			while (!c->shut) {
				if (c->cmd_sent < sizeof(c->cmd)) {
					r = write(c->fd, c->cmd + c->cmd_sent,
						  sizeof(c->cmd) - c->cmd_sent);
					if (r <= 0)
						break;
					c->cmd_sent += (uint64_t)r;
					continue;
				}
				if (c->out_off == c->out_len) {
					if (c->sent == o->bytes) {
						shutdown(c->fd, SHUT_WR);
						c->shut = true;
						break;
					}
					c->out_len = o->bytes - c->sent < PEER_CHUNK
							     ? (size_t)(o->bytes - c->sent)
							     : PEER_CHUNK;
					gpattern_fill(c->seed, c->sent, c->out, c->out_len);
					c->out_off = 0;
				}
				r = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
				if (r <= 0)
					break;
				c->out_off += (size_t)r;
				c->sent += (uint64_t)r;
			}
			/* Receive and check the echo. */
			while ((r = read(c->fd, c->in, sizeof(c->in))) > 0) {
				size_t good =
					gpattern_check(c->seed, c->received, c->in, (size_t)r);

				if (good != (size_t)r || c->received + (uint64_t)r > o->bytes)
					return peer_fail(
						"connection %u (host port %u): echo differs "
						"at byte %llu",
						i, c->hostport,
						(unsigned long long)(c->received + good));
				c->received += (uint64_t)r;
			}
			if (r == 0) {
				if (c->received != o->bytes)
					return peer_fail(
						"connection %u (host port %u): closed after "
						"%llu of %llu bytes echoed",
						i, c->hostport, (unsigned long long)c->received,
						(unsigned long long)o->bytes);
				c->eof = true;
				done++;
			} else if (errno != EAGAIN && errno != EINTR) {
				return peer_fail("connection %u (host port %u): %s", i, c->hostport,
						 strerror(errno));
			}
		}
	}
	if (done < o->conns) {
		for (unsigned int i = 0; i < o->conns; i++)
			if (!conns[i].eof)
				fprintf(stderr,
					"vsock_peer: connection %u (host port %u): sent %llu, "
					"echoed %llu of %llu\n",
					i, conns[i].hostport, (unsigned long long)conns[i].sent,
					(unsigned long long)conns[i].received,
					(unsigned long long)o->bytes);
		return peer_fail("timeout: %u of %u connections finished", done, o->conns);
	}
	double secs = peer_now() - t0;
	printf("echo: conns=%u bytes=%llu total=%llu secs=%.3f mbps=%.2f ok\n", o->conns,
	       (unsigned long long)o->bytes, (unsigned long long)o->bytes * o->conns, secs,
	       (double)o->bytes * o->conns * 2 / secs / 1e6);
	for (unsigned int i = 0; i < o->conns; i++)
		close(conns[i].fd);
	return 0;
}

/* ---- rtt, sink, source: one connection ----------------------------------- */
static int peer_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int peer_rtt(const struct peer_opts *o)
{
	double deadline = peer_now() + o->timeout, *t;
	uint8_t cmd[16], out[PEER_CHUNK], in[PEER_CHUNK];
	uint64_t warm = o->count / 10 + 1;
	uint32_t hp;
	int fd, r;

	if (o->size == 0 || o->size > PEER_CHUNK)
		return peer_fail("size must be 1..%d", PEER_CHUNK);
	fd = peer_connect(o->uds, o->port, deadline, &hp);
	if (fd < 0)
		return peer_fail("connecting to port %u: %s", o->port, strerror(-fd));
	t = calloc(o->count, sizeof(*t));
	if (!t)
		return peer_fail("out of memory");
	peer_command(cmd, PEER_OP_ECHO, 0, 0);
	r = peer_write_all(fd, cmd, sizeof(cmd), deadline);
	for (uint64_t i = 0; r == 0 && i < warm + o->count; i++) {
		double s = peer_now();

		gpattern_fill(7, i * o->size, out, o->size);
		r = peer_write_all(fd, out, o->size, deadline);
		if (r == 0)
			r = peer_read_all(fd, in, o->size, deadline);
		if (r == 0 && memcmp(in, out, o->size))
			r = -EILSEQ;
		if (i >= warm)
			t[i - warm] = (peer_now() - s) * 1e6;
	}
	close(fd);
	if (r < 0) {
		free(t);
		return peer_fail("round trip: %s", strerror(-r));
	}
	qsort(t, o->count, sizeof(*t), peer_cmp_double);
	printf("rtt: count=%llu size=%llu median_us=%.2f p99_us=%.2f min_us=%.2f\n",
	       (unsigned long long)o->count, (unsigned long long)o->size, t[o->count / 2],
	       t[o->count * 99 / 100], t[0]);
	free(t);
	return 0;
}

static int peer_sink(const struct peer_opts *o)
{
	double deadline = peer_now() + o->timeout, t0, secs;
	static uint8_t buf[1 << 20];
	uint8_t cmd[16], reply[16];
	uint64_t got, bad, off = 0;
	uint32_t hp;
	int fd, r;

	fd = peer_connect(o->uds, o->port, deadline, &hp);
	if (fd < 0)
		return peer_fail("connecting to port %u: %s", o->port, strerror(-fd));
	peer_command(cmd, PEER_OP_SINK, 3, o->bytes);
	t0 = peer_now();
	r = peer_write_all(fd, cmd, sizeof(cmd), deadline);
	while (r == 0 && off < o->bytes) {
		size_t n = o->bytes - off < sizeof(buf) ? (size_t)(o->bytes - off) : sizeof(buf);

		gpattern_fill(3, off, buf, n);
		r = peer_write_all(fd, buf, n, deadline);
		off += n;
	}
	if (r == 0)
		r = peer_read_all(fd, reply, sizeof(reply), deadline);
	secs = peer_now() - t0;
	close(fd);
	if (r < 0)
		return peer_fail("sink: %s after %llu bytes", strerror(-r),
				 (unsigned long long)off);
	memcpy(&got, reply, 8);
	memcpy(&bad, reply + 8, 8);
	if (got != o->bytes || bad != ~0ull)
		return peer_fail("sink: the guest got %llu of %llu bytes, first bad byte %lld",
				 (unsigned long long)got, (unsigned long long)o->bytes,
				 (long long)bad);
	printf("sink: bytes=%llu secs=%.3f mbps=%.2f ok\n", (unsigned long long)o->bytes, secs,
	       (double)o->bytes / secs / 1e6);
	return 0;
}

static int peer_source(const struct peer_opts *o)
{
	double deadline = peer_now() + o->timeout, t0, secs;
	static uint8_t buf[1 << 20];
	uint8_t cmd[16];
	uint64_t off = 0;
	uint32_t hp;
	int fd, r = 0;

	fd = peer_connect(o->uds, o->port, deadline, &hp);
	if (fd < 0)
		return peer_fail("connecting to port %u: %s", o->port, strerror(-fd));
	peer_command(cmd, PEER_OP_SOURCE, 5, o->bytes);
	t0 = peer_now();
	r = peer_write_all(fd, cmd, sizeof(cmd), deadline);
	while (r == 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			if (gpattern_check(5, off, buf, (size_t)n) != (size_t)n ||
			    off + (uint64_t)n > o->bytes)
				r = -EILSEQ;
			off += (uint64_t)n;
		} else if (n == 0) {
			break;
		} else if (errno != EAGAIN && errno != EINTR) {
			r = -errno;
		} else if (peer_wait_fd(fd, POLLIN, deadline) < 0) {
			r = -ETIMEDOUT;
		}
	}
	secs = peer_now() - t0;
	close(fd);
	if (r < 0 || off != o->bytes)
		return peer_fail("source: %s after %llu of %llu bytes",
				 r < 0 ? strerror(-r) : "early end", (unsigned long long)off,
				 (unsigned long long)o->bytes);
	printf("source: bytes=%llu secs=%.3f mbps=%.2f ok\n", (unsigned long long)o->bytes, secs,
	       (double)o->bytes / secs / 1e6);
	return 0;
}

static int peer_count(const struct peer_opts *o)
{
	double deadline = peer_now() + o->timeout;
	uint8_t cmd[16], reply[16], extra;
	uint64_t conns, boot;
	uint32_t hp;
	int fd, r;

	fd = peer_connect(o->uds, o->port, deadline, &hp);
	if (fd < 0)
		return peer_fail("connecting to port %u: %s", o->port, strerror(-fd));
	peer_command(cmd, PEER_OP_COUNT, 0, 0);
	r = peer_write_all(fd, cmd, sizeof(cmd), deadline);
	if (r == 0)
		r = peer_read_all(fd, reply, sizeof(reply), deadline);
	/* The guest shuts down after its reply: anything more is wrong. */
	if (r == 0 && peer_read_all(fd, &extra, 1, deadline) != -ECONNRESET)
		r = -EPROTO;
	close(fd);
	if (r < 0)
		return peer_fail("count: %s", strerror(-r));
	memcpy(&conns, reply, 8);
	memcpy(&boot, reply + 8, 8);
	printf("count: conns=%llu boot=%llx\n", (unsigned long long)conns,
	       (unsigned long long)boot);
	return 0;
}

/* ---- serve: the guest connects to us -------------------------------------- */
struct peer_srv {
	int fd;
	uint8_t buf[256 * 1024];
	size_t len;
	bool eof;
	uint64_t bytes;
};

static int peer_serve(const struct peer_opts *o)
{
	static struct peer_srv conns[PEER_MAX_CONNS];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd[PEER_MAX_CONNS + 1];
	double deadline = peer_now() + o->timeout;
	unsigned int accepted = 0, done = 0, live = 0;
	uint64_t total = 0;
	int lfd;

	if (strlen(o->uds) >= sizeof(sa.sun_path))
		return peer_fail("%s: path too long", o->uds);
	strcpy(sa.sun_path, o->uds);
	unlink(o->uds);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0)
		return peer_fail("listening on %s: %s", o->uds, strerror(errno));
	printf("serve: listening on %s\n", o->uds);
	fflush(stdout);
	while (done < o->conns && peer_now() < deadline) {
		unsigned int n = 0;

		pfd[n++] =
			(struct pollfd){ .fd = accepted < o->conns ? lfd : -1, .events = POLLIN };
		for (unsigned int i = 0; i < accepted; i++) {
			struct peer_srv *c = &conns[i];
			short ev = 0;

			if (c->fd >= 0) {
				if (!c->eof && c->len < sizeof(c->buf))
					ev |= POLLIN;
				if (c->len)
					ev |= POLLOUT;
			}
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(pfd, n, 100) < 0 && errno != EINTR)
			return peer_fail("poll: %s", strerror(errno));
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0) {
				conns[accepted++] = (struct peer_srv){ .fd = fd };
				live++;
			}
		}
		for (unsigned int i = 0; i < accepted; i++) {
			struct peer_srv *c = &conns[i];
			ssize_t r;

			if (c->fd < 0 || !pfd[i + 1].revents)
				continue;
			if (c->len) {
				r = write(c->fd, c->buf, c->len);
				if (r > 0) {
					memmove(c->buf, c->buf + r, c->len - (size_t)r);
					c->len -= (size_t)r;
				} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
					return peer_fail("connection %u: write: %s", i,
							 strerror(errno));
				}
			}
			if (!c->eof && c->len < sizeof(c->buf)) {
				r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
				if (r > 0) {
					c->len += (size_t)r;
					c->bytes += (uint64_t)r;
				} else if (r == 0) {
					c->eof = true;
				} else if (errno != EAGAIN && errno != EINTR) {
					return peer_fail("connection %u: read: %s", i,
							 strerror(errno));
				}
			}
			if (c->eof && !c->len) {
				close(c->fd);
				c->fd = -1;
				total += c->bytes;
				done++;
				live--;
			}
		}
	}
	close(lfd);
	unlink(o->uds);
	if (done < o->conns)
		return peer_fail("timeout: %u of %u connections served (%u accepted)", done,
				 o->conns, accepted);
	printf("serve: conns=%u bytes=%llu ok\n", done, (unsigned long long)total);
	return 0;
}

static void peer_usage(void)
{
	fprintf(stderr,
		"usage: vsock_peer echo|rtt|sink|source|count UDS PORT [-n CONNS] [-b BYTES]\n"
		"                  [-c COUNT] [-s SIZE] [-t SECS]\n"
		"       vsock_peer serve PATH [-n CONNS] [-t SECS]\n");
}

static int peer_num(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct peer_opts o = {
		.conns = 1, .bytes = 1 << 20, .count = 1000, .size = 64, .timeout = 30
	};
	uint64_t v;
	int opt, args;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		peer_usage();
		return 2;
	}
	o.mode = argv[1];
	o.uds = argv[2];
	args = strcmp(o.mode, "serve") ? 4 : 3;
	if (argc < args) {
		peer_usage();
		return 2;
	}
	if (args == 4) {
		if (peer_num(argv[3], &v) < 0 || v > UINT32_MAX) {
			peer_usage();
			return 2;
		}
		o.port = (uint32_t)v;
	}
	optind = args;
	while ((opt = getopt(argc, argv, "n:b:c:s:t:")) != -1) {
		if (opt == '?' || peer_num(optarg, &v) < 0) {
			peer_usage();
			return 2;
		}
		switch (opt) {
		case 'n':
			if (v < 1 || v > PEER_MAX_CONNS) {
				fprintf(stderr, "vsock_peer: -n: 1 to %d\n", PEER_MAX_CONNS);
				return 2;
			}
			o.conns = (unsigned int)v;
			break;
		case 'b':
			o.bytes = v;
			break;
		case 'c':
			o.count = v ? v : 1;
			break;
		case 's':
			o.size = v;
			break;
		case 't':
			o.timeout = (double)v;
			break;
		}
	}
	if (!strcmp(o.mode, "echo"))
		return peer_echo(&o);
	if (!strcmp(o.mode, "rtt"))
		return peer_rtt(&o);
	if (!strcmp(o.mode, "sink"))
		return peer_sink(&o);
	if (!strcmp(o.mode, "source"))
		return peer_source(&o);
	if (!strcmp(o.mode, "count"))
		return peer_count(&o);
	if (!strcmp(o.mode, "serve"))
		return peer_serve(&o);
	peer_usage();
	return 2;
}
