/* jailrun: start agentvm-vmm in the jail (host/jail.c), wait for it, and
 * exit with its status (128 + N if signal N ended it; 125 if the jail could
 * not be made). For the tests of the jail and of the VMM's quotas.
 *
 *   jailrun --name NAME --dir DIR --vmm PATH [--bind HOST:PATH[:rw]]...
 *           [--mem BYTES] [--cpu-millis N] [--pids N] [--uid N]
 *           [--nofile N] [--fsize BYTES] [--info FILE] -- VMM-ARGS...
 *
 * --info FILE gets "pid P", "uid U", "gid G" and "run DIR" lines once the
 * VMM runs (written to FILE.tmp, then renamed). SIGINT and SIGTERM are
 * passed on to the VMM. When the OOM killer of the jail's cgroup ended the
 * VMM, a line on stderr says so. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "host/jail.h"

#define JAILRUN_FAILED 125

static int jailrun_number(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* HOST:PATH[:rw] */
static int jailrun_bind(struct jail_config *cfg, char *spec)
{
	char *path = strchr(spec, ':'), *mode;

	if (!path || cfg->nbinds == JAIL_MAX_BINDS)
		return -EINVAL;
	*path++ = '\0';
	mode = strchr(path, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "rw") != 0 && strcmp(mode, "ro") != 0)
			return -EINVAL;
	}
	cfg->binds[cfg->nbinds++] = (struct jail_bind){
		.host = spec,
		.path = path,
		.writable = mode && strcmp(mode, "rw") == 0,
	};
	return 0;
}

static int jailrun_write_info(const char *path, struct jail *j)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "pid %d\nuid %u\ngid %u\nrun %s\n", (int)jail_pid(j), (unsigned)jail_uid(j),
		(unsigned)jail_uid(j), jail_run_dir(j));
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

static void jailrun_usage(void)
{
	fprintf(stderr,
		"usage: jailrun --name NAME --dir DIR --vmm PATH [--bind HOST:PATH[:rw]]...\n"
		"               [--mem BYTES] [--cpu-millis N] [--pids N] [--uid N]\n"
		"               [--nofile N] [--fsize BYTES] [--info FILE] -- VMM-ARGS...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "vmm", required_argument, NULL, 'v' },
		{ "bind", required_argument, NULL, 'b' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpu-millis", required_argument, NULL, 'c' },
		{ "pids", required_argument, NULL, 'p' },
		{ "uid", required_argument, NULL, 'u' },
		{ "nofile", required_argument, NULL, 'f' },
		{ "fsize", required_argument, NULL, 's' },
		{ "info", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct jail_config cfg = { .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2 };
	const char *info = NULL;
	struct jail *j = NULL;
	sigset_t sigs;
	uint64_t v, kills;
	int c, r, status, sfd;

	log_init("jailrun", NULL);
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		r = 0;
		switch (c) {
		case 'n':
			cfg.name = optarg;
			break;
		case 'd':
			cfg.dir = optarg;
			break;
		case 'v':
			cfg.vmm_path = optarg;
			break;
		case 'b':
			r = jailrun_bind(&cfg, optarg);
			break;
		case 'i':
			info = optarg;
			break;
		default:
			if (c == '?' || jailrun_number(optarg, &v) < 0) {
				jailrun_usage();
				return 2;
			}
			if (c == 'm')
				cfg.limits.mem_bytes = v;
			else if (c == 'c')
				cfg.limits.cpu_millis = (uint32_t)v;
			else if (c == 'p')
				cfg.limits.pids_max = v;
			else if (c == 'u')
				cfg.uid = (uid_t)v;
			else if (c == 'f')
				cfg.nofile = v;
			else if (c == 's')
				cfg.fsize = v;
		}
		if (r < 0) {
			jailrun_usage();
			return 2;
		}
	}
	if (!cfg.name || !cfg.dir || !cfg.vmm_path) {
		jailrun_usage();
		return 2;
	}
	cfg.args = (const char *const *)argv + optind;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	r = jail_spawn_vmm(&cfg, &j);
	if (r < 0)
		return JAILRUN_FAILED;
	if (info && (r = jailrun_write_info(info, j)) < 0)
		log_err("%s: %s", info, strerror(-r));
	for (;;) {
		struct pollfd p[2] = { { .fd = jail_pidfd(j), .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			syscall(SYS_pidfd_send_signal, jail_pidfd(j), (int)si.ssi_signo, NULL, 0);
	}
	r = jail_wait(j, &status);
	if (r == 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    jail_oom_kills(j, &kills) == 0 && kills > 0)
		log_err("the VMM ran out of memory: the OOM killer of its cgroup killed it (%llu "
			"kill%s)",
			(unsigned long long)kills, kills == 1 ? "" : "s");
	jail_free(j);
	if (r < 0) {
		log_err("waiting for the VMM: %s", strerror(-r));
		return JAILRUN_FAILED;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
