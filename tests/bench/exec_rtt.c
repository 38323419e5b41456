/* exec_rtt: round trip of an `exec` of `true` through the agent of one running
 * container sandbox, for tests/bench/container_bench.sh.
 *
 *   exec_rtt ROOTFS AGENT COUNT
 *
 * Starts a container sandbox of the image tree ROOTFS with AGENT as PID 1,
 * waits for hello, runs `true` COUNT times, and prints
 *   start_ms=<f> rtt_median_ms=<f> rtt_p99_ms=<f>
 * where start_ms is sandbox creation up to the agent's hello. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/controller.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const struct backend_ops *ops;
	struct controller_sandbox *sb;
	struct controller_options o = { .isolation = "container", .log_fd = -1 };
	static const char *const argv_true[] = { "true", NULL };
	char why[512];
	double t0, *rtt;
	int count, r;

	if (argc != 4 || (count = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: exec_rtt ROOTFS AGENT COUNT\n");
		return 2;
	}
	o.rootfs = argv[1];
	o.agent_path = argv[2];
	r = controller_choose_backend("container", &ops, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "exec_rtt: %s\n", why);
		return 1;
	}
	rtt = calloc((size_t)count, sizeof(*rtt));
	if (!rtt)
		return 1;
	t0 = now_ms();
	r = controller_sandbox_new(&o, ops, &sb);
	if (r < 0) {
		fprintf(stderr, "exec_rtt: cannot start a sandbox: %s\n", strerror(-r));
		return 1;
	}
	double start_ms = now_ms() - t0;
	for (int i = 0; i < count; i++) {
		struct controller_exec ex = { .argv = argv_true,
					      .uid = -1,
					      .out_fd = 1,
					      .err_fd = 2,
					      .stdin_fd = -1,
					      .signal_fd = -1 };
		struct controller_exec_result res;
		double t = now_ms();
		r = controller_sandbox_exec(sb, &ex, &res);
		rtt[i] = now_ms() - t;
		if (r < 0 || !res.started || res.exit_code != 0) {
			fprintf(stderr, "exec_rtt: exec %d failed (%d, %s)\n", i, r, res.error);
			controller_sandbox_free(sb);
			return 1;
		}
	}
	controller_sandbox_free(sb);
	qsort(rtt, (size_t)count, sizeof(*rtt), cmp_double);
	printf("start_ms=%.3f rtt_median_ms=%.3f rtt_p99_ms=%.3f\n", start_ms,
	       count % 2 ? rtt[count / 2] : (rtt[count / 2 - 1] + rtt[count / 2]) / 2,
	       rtt[(size_t)((count - 1) * 0.99)]);
	free(rtt);
	return 0;
}
