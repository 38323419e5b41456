#include "guest-agent/agent_spawn.h"

#include "guest-agent/agent_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What failed in the child, reported through the error pipe. */
enum spawn_stage {
	SPAWN_STAGE_SETSID = 1,
	SPAWN_STAGE_STDIO,
	SPAWN_STAGE_TTY,
	SPAWN_STAGE_RLIMIT,
	SPAWN_STAGE_GROUPS,
	SPAWN_STAGE_SETGID,
	SPAWN_STAGE_SETUID,
	SPAWN_STAGE_CHDIR,
	SPAWN_STAGE_EXEC,
};

struct spawn_report {
	int stage;
	int err;
	int detail; /* the rlimit resource for SPAWN_STAGE_RLIMIT */
};

/* Length of the name part of "K=V". */
static size_t spawn_key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static int spawn_env_has(char *const *env, size_t n, const char *kv)
{
	size_t k = spawn_key_len(kv), i;

	for (i = 0; i < n; i++)
		if (spawn_key_len(env[i]) == k && strncmp(env[i], kv, k) == 0)
			return 1;
	return 0;
}

const char *const *agent_spawn_extra_env;

char **agent_spawn_build_env(const struct agent_exec_req *x)
{
	const char *defaults[] = {
		"PATH=" SPAWN_DEFAULT_PATH,
		(!x->has_uid || x->uid == 0) ? "HOME=/root" : "HOME=/",
		"LANG=C.UTF-8",
		x->pty ? "TERM=xterm-256color" : NULL,
	};
	size_t i, n = 0, nextra = 0, total;
	char **env;

	while (agent_spawn_extra_env && agent_spawn_extra_env[nextra])
		nextra++;
	total = x->nenv + sizeof(defaults) / sizeof(defaults[0]) + nextra + 1;
	env = calloc(total, sizeof(char *));
	if (!env)
		return NULL;
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (defaults[i] && !spawn_env_has(x->env, x->nenv, defaults[i]))
			env[n++] = (char *)defaults[i];
	for (i = 0; i < nextra; i++)
		if (!spawn_env_has(x->env, x->nenv, agent_spawn_extra_env[i]))
			env[n++] = (char *)agent_spawn_extra_env[i];
	/* Later entries of x->env win over earlier ones with the same name. */
	for (i = 0; i < x->nenv; i++)
		if (!spawn_env_has(x->env + i + 1, x->nenv - i - 1, x->env[i]))
			env[n++] = x->env[i];
	env[n] = NULL;
	return env;
}

int agent_spawn_resolve(const char *argv0, char *const envp[], char *out, size_t outlen)
{
	const char *path = SPAWN_DEFAULT_PATH, *p, *colon;
	size_t i, dlen, alen = strlen(argv0);
	int saw_eacces = 0;
	struct stat st;

	if (strchr(argv0, '/')) {
		if (alen + 1 > outlen)
			return -ENAMETOOLONG;
		memcpy(out, argv0, alen + 1);
		return 0;
	}
	for (i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0) {
			path = envp[i] + 5;
			break;
		}
	for (p = path; *p; p = colon + 1) {
		colon = strchrnul(p, ':');
		dlen = (size_t)(colon - p);
		if (dlen > 0 && dlen + 1 + alen + 1 <= outlen) {
			memcpy(out, p, dlen);
			out[dlen] = '/';
			memcpy(out + dlen + 1, argv0, alen + 1);
			if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
				if (access(out, X_OK) == 0)
					return 0;
				saw_eacces = 1;
			}
		}
		if (!*colon)
			break;
	}
	return saw_eacces ? -EACCES : -ENOENT;
}

/* --- the child ----------------------------------------------------------------- */

static void __attribute__((noreturn)) spawn_fail(int errfd, int stage, int detail)
{
	struct spawn_report r = { .stage = stage, .err = errno, .detail = detail };
	ssize_t n __attribute__((unused));

	n = write(errfd, &r, sizeof(r));
	_exit(127);
}

/* Move fd out of 0..2 so the dup2s below cannot clobber it. */
static int spawn_lift(int fd)
{
	return fd >= 0 && fd < 3 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd;
}

static void __attribute__((noreturn))
spawn_child(const struct agent_exec_req *x, const struct agent_spawn_fds *fds, const char *path,
	    char **envp, int errfd)
{
	struct rlimit nofile;
	sigset_t all;
	int s, in, out, err;
	size_t i;
	uid_t uid = x->has_uid ? x->uid : 0;
	gid_t gid = x->has_gid ? x->gid : (x->has_uid ? x->uid : 0);

	/* Default dispositions and an empty mask: ignored signals (SIGPIPE)
	 * would otherwise stay ignored across exec. */
	for (s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	if (setsid() < 0)
		spawn_fail(errfd, SPAWN_STAGE_SETSID, 0);
	errfd = spawn_lift(errfd);
	in = spawn_lift(fds->in);
	out = spawn_lift(fds->out);
	err = spawn_lift(fds->err);
	if (errfd < 0 || in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		spawn_fail(errfd, SPAWN_STAGE_STDIO, 0);
	if (fds->pty && ioctl(0, TIOCSCTTY, 0) < 0)
		spawn_fail(errfd, SPAWN_STAGE_TTY, 0);

	/* The agent raises its own fd limit; programs get the usual 1024
	 * (select() breaks above it) unless the request says otherwise. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > 1024) {
		nofile.rlim_cur = 1024;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	umask(022);
	/* Limits before dropping root, so hard limits can also be raised. */
	for (i = 0; i < x->nrlimits; i++)
		if (setrlimit(x->rlimits[i].resource, &x->rlimits[i].lim) < 0)
			spawn_fail(errfd, SPAWN_STAGE_RLIMIT, x->rlimits[i].resource);

	if (x->has_groups || (x->has_uid && uid != geteuid())) {
		if (setgroups(x->has_groups ? x->ngroups : 0, x->groups) < 0)
			spawn_fail(errfd, SPAWN_STAGE_GROUPS, 0);
	}
	if ((x->has_gid || x->has_uid) && gid != getegid() && setresgid(gid, gid, gid) < 0)
		spawn_fail(errfd, SPAWN_STAGE_SETGID, 0);
	if (x->has_uid && uid != geteuid() && setresuid(uid, uid, uid) < 0)
		spawn_fail(errfd, SPAWN_STAGE_SETUID, 0);

	if (chdir(x->cwd ? x->cwd : "/") < 0)
		spawn_fail(errfd, SPAWN_STAGE_CHDIR, 0);

	/* Nothing of the agent's leaks into the program but the error pipe,
	 * which is close-on-exec. */
	if (errfd > 3)
		close_range(3, (unsigned)errfd - 1, 0);
	close_range((unsigned)errfd + 1, ~0u, 0);

	execve(path, x->argv, envp);
	spawn_fail(errfd, SPAWN_STAGE_EXEC, 0);
}

/* --- the parent ------------------------------------------------------------------ */

static void spawn_report_error(const struct agent_exec_req *x, const struct spawn_report *r,
			       struct agent_error *err)
{
	switch (r->stage) {
	case SPAWN_STAGE_CHDIR:
		agent_error_errno(err, r->err, x->cwd ? x->cwd : "/", "chdir %s",
				  x->cwd ? x->cwd : "/");
		break;
	case SPAWN_STAGE_EXEC:
		agent_error_errno(err, r->err, x->argv[0], "exec %s", x->argv[0]);
		break;
	case SPAWN_STAGE_RLIMIT:
		agent_error_errno(err, r->err, NULL, "setrlimit %d", r->detail);
		break;
	case SPAWN_STAGE_GROUPS:
		agent_error_errno(err, r->err, NULL, "setgroups");
		break;
	case SPAWN_STAGE_SETGID:
		agent_error_errno(err, r->err, NULL, "setgid %u", (unsigned)x->gid);
		break;
	case SPAWN_STAGE_SETUID:
		agent_error_errno(err, r->err, NULL, "setuid %u", (unsigned)x->uid);
		break;
	case SPAWN_STAGE_TTY:
		agent_error_errno(err, r->err, NULL, "set controlling terminal");
		break;
	default:
		agent_error_errno(err, r->err, NULL, "start process (stage %d)", r->stage);
		break;
	}
}

int agent_spawn(const struct agent_exec_req *x, const struct agent_spawn_fds *fds, pid_t *pid,
		struct agent_error *err)
{
	char path[PATH_MAX];
	struct spawn_report rep;
	char **envp;
	int ep[2], r;
	ssize_t n;
	size_t got = 0;
	pid_t child;

	envp = agent_spawn_build_env(x);
	if (!envp) {
		agent_error_errno(err, ENOMEM, NULL, "exec");
		return -1;
	}
	r = agent_spawn_resolve(x->argv[0], envp, path, sizeof(path));
	if (r < 0) {
		agent_error_errno(err, r, x->argv[0], "exec %s", x->argv[0]);
		free(envp);
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		agent_error_errno(err, errno, NULL, "pipe");
		free(envp);
		return -1;
	}
	child = fork();
	if (child < 0) {
		agent_error_errno(err, errno, NULL, "fork");
		close(ep[0]);
		close(ep[1]);
		free(envp);
		return -1;
	}
	if (child == 0) {
		close(ep[0]);
		spawn_child(x, fds, path, envp, ep[1]);
	}
	close(ep[1]);
	free(envp);
	/* The child either execs (closing its end: EOF) or reports and exits. */
	while (got < sizeof(rep)) {
		n = read(ep[0], (char *)&rep + got, sizeof(rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(ep[0]);
	if (got == sizeof(rep)) {
		spawn_report_error(x, &rep, err);
		return -1;
	}
	*pid = child;
	return 0;
}
