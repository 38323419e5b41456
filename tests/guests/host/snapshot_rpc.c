/* snapshot_rpc: a small client of agentvm-vmm's control socket (--api) for
 * the snapshot tests and benchmarks.
 *
 *   snapshot_rpc [-w MS] [-n N] SOCKET METHOD [PARAMS-JSON]
 *
 * Sends {"jsonrpc":"2.0","id":K,"method":METHOD[,"params":PARAMS]} N times
 * (default 1) on one connection, one after the other, and prints the last
 * reply. With -n above 1 it also prints, on stderr,
 *   n=<N> min_us=<f> median_us=<f> p99_us=<f> max_us=<f>
 * for the round trips. -w MS waits up to MS milliseconds for the socket to
 * accept connections. Exits 0 when every reply has a "result", 1 at the
 * first "error" reply (printed), 2 when the socket cannot be used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double rpc_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int rpc_connect(const char *path, long wait_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double deadline = rpc_now_us() + (double)wait_ms * 1000;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if (rpc_now_us() >= deadline)
			return -1;
		usleep(2000);
	}
}

/* Read one line (up to cap - 1 bytes) into buf; returns its length or -1. */
static ssize_t rpc_read_line(int fd, char *buf, size_t cap, size_t *have)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		if (nl) {
			size_t len = (size_t)(nl - buf) + 1;
			return (ssize_t)len;
		}
		if (*have + 1 >= cap)
			return -1;
		ssize_t n = read(fd, buf + *have, cap - 1 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		*have += (size_t)n;
		buf[*have] = '\0';
	}
}

static int rpc_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long wait_ms = 0, n = 1;
	static char buf[1 << 20], req[8192];
	size_t have = 0;
	double *us;
	int opt, fd;

	while ((opt = getopt(argc, argv, "w:n:")) != -1) {
		if (opt == 'w')
			wait_ms = atol(optarg);
		else if (opt == 'n')
			n = atol(optarg);
		else
			return 2;
	}
	if (argc - optind < 2 || argc - optind > 3 || n < 1) {
		fprintf(stderr, "usage: snapshot_rpc [-w MS] [-n N] SOCKET METHOD [PARAMS-JSON]\n");
		return 2;
	}
	fd = rpc_connect(argv[optind], wait_ms);
	if (fd < 0) {
		fprintf(stderr, "snapshot_rpc: cannot connect to %s: %s\n", argv[optind],
			strerror(errno));
		return 2;
	}
	us = calloc((size_t)n, sizeof(*us));
	if (!us)
		return 2;
	for (long i = 0; i < n; i++) {
		int len =
			snprintf(req, sizeof(req),
				 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\"%s%s}\n", i + 1,
				 argv[optind + 1], argc - optind == 3 ? ",\"params\":" : "",
				 argc - optind == 3 ? argv[optind + 2] : "");
		double t0 = rpc_now_us();
		ssize_t line;
		if (len < 0 || (size_t)len >= sizeof(req) || write(fd, req, (size_t)len) != len) {
			fprintf(stderr, "snapshot_rpc: cannot send the request\n");
			return 2;
		}
		line = rpc_read_line(fd, buf, sizeof(buf), &have);
		us[i] = rpc_now_us() - t0;
		if (line < 0) {
			fprintf(stderr, "snapshot_rpc: no reply (the VMM closed the socket)\n");
			return 2;
		}
		if (!strstr(buf, "\"result\"") || i == n - 1 || strstr(buf, "\"error\"")) {
			fwrite(buf, 1, (size_t)line, stdout);
			if (!strstr(buf, "\"result\""))
				return 1;
		}
		memmove(buf, buf + line, have - (size_t)line);
		have -= (size_t)line;
		buf[have] = '\0';
	}
	if (n > 1) {
		qsort(us, (size_t)n, sizeof(*us), rpc_cmp);
		fprintf(stderr, "n=%ld min_us=%.1f median_us=%.1f p99_us=%.1f max_us=%.1f\n", n,
			us[0], n % 2 ? us[n / 2] : (us[n / 2 - 1] + us[n / 2]) / 2,
			us[(n * 99) / 100], us[n - 1]);
	}
	free(us);
	close(fd);
	return 0;
}
