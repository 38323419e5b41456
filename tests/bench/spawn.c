/* spawn: run one program once and report what it cost, for tests/bench.
 *
 *   spawn [-k MS] [-o FILE] -- PROG [ARG...]
 *
 * Prints one line: wall_ms=<f> cpu_ms=<f> rss_kib=<n> status=<n>
 *   wall_ms  from just before the spawn to the reaped exit (monotonic clock)
 *   cpu_ms   user + system time of the child (wait4)
 *   rss_kib  peak RSS: VmHWM read just before the kill with -k, otherwise
 *            the child's ru_maxrss
 *   status   exit code, or 128 + signal number
 * -k MS kills the child with SIGKILL after MS milliseconds. The child's
 * stdin is /dev/null, its stdout and stderr go to FILE (default /dev/null).
 * Exits 0 when the child ran, 1 when it could not be started, 2 on usage. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double spawn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* VmHWM of pid in KiB, or -1. */
static long spawn_read_hwm(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int spawn_parse_ms(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 3600 * 1000)
		return -EINVAL;
	*out = v;
	return 0;
}

static void spawn_usage(FILE *f)
{
	fprintf(f, "usage: spawn [-k MS] [-o FILE] -- PROG [ARG...]\n");
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	const char *out = "/dev/null";
	long kill_ms = -1, hwm = -1;
	struct timespec delay;
	struct rusage ru;
	double t0, t1, cpu;
	int opt, err, wst, status;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+k:o:h")) != -1) {
		switch (opt) {
		case 'k':
			if (spawn_parse_ms(optarg, &kill_ms) < 0) {
				fprintf(stderr, "spawn: -k '%s': expected milliseconds\n", optarg);
				return 2;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			spawn_usage(stdout);
			return 0;
		default:
			spawn_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		spawn_usage(stderr);
		return 2;
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	t0 = spawn_now_ms();
	err = posix_spawnp(&pid, argv[optind], &fa, NULL, argv + optind, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		fprintf(stderr, "spawn: %s: %s\n", argv[optind], strerror(err));
		return 1;
	}
	if (kill_ms >= 0) {
		delay.tv_sec = kill_ms / 1000;
		delay.tv_nsec = kill_ms % 1000 * 1000000L;
		while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
			;
		hwm = spawn_read_hwm(pid);
		kill(pid, SIGKILL);
	}
	while (wait4(pid, &wst, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
			return 1;
		}
	}
	t1 = spawn_now_ms();
	cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
	printf("wall_ms=%.3f cpu_ms=%.3f rss_kib=%ld status=%d\n", t1 - t0, cpu,
	       hwm >= 0 ? hwm : ru.ru_maxrss, status);
	return 0;
}
