/* A real sandbox cgroup on this host: created below our own, limits written,
 * a child moved in, killed and removed. Skips without root or controllers. */
#include "host/cgroup.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int read_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int r = -1;

	if (!f)
		return -1;
	if (fgets(buf, (int)len, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		r = 0;
	}
	fclose(f);
	return r;
}

int main(void)
{
	struct cgroup_place pl[CGROUP_NCTRL];
	struct cgroup_limits lim = { .mem_bytes = 64 << 20, .pids_max = 32, .cpu_millis = 500 };
	struct cgroup *cg = NULL;
	char name[64], path[1024], buf[128];
	uint64_t mem = 0;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip_all("needs root");
	for (int c = 0; c < CGROUP_NCTRL; c++)
		if (cgroup_locate(c, &pl[c]) < 0)
			skip_all("a controller is missing on this host");

	for (int c = 0; c < CGROUP_NCTRL; c++)
		ok(pl[c].version == 1 || pl[c].version == 2, "%s: v%d at %s", cgroup_ctrl_name(c),
		   pl[c].version, pl[c].self_dir);

	snprintf(name, sizeof(name), "unit-%d", (int)getpid());
	is(cgroup_new(name, &lim, &cg), 0, "cgroup_new");
	if (!cg)
		return done_testing();
	is(cgroup_new("../evil", &lim, &(struct cgroup *){ NULL }), -EINVAL, "bad name refused");

	snprintf(path, sizeof(path), "%s/agentvm/%s/pids.max", pl[CGROUP_PIDS].self_dir, name);
	ok(read_first_line(path, buf, sizeof(buf)) == 0 && strcmp(buf, "32") == 0, "pids.max is %s",
	   buf);
	if (pl[CGROUP_MEMORY].version == 1)
		snprintf(path, sizeof(path), "%s/agentvm/%s/memory.limit_in_bytes",
			 pl[CGROUP_MEMORY].self_dir, name);
	else
		snprintf(path, sizeof(path), "%s/agentvm/%s/memory.max", pl[CGROUP_MEMORY].self_dir,
			 name);
	ok(read_first_line(path, buf, sizeof(buf)) == 0 && strcmp(buf, "67108864") == 0,
	   "memory limit is %s", buf);

	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	is(cgroup_add_pid(cg, pid), 0, "child moved in");
	snprintf(path, sizeof(path), "%s/agentvm/%s/cgroup.procs", pl[CGROUP_PIDS].self_dir, name);
	ok(read_first_line(path, buf, sizeof(buf)) == 0 && atoi(buf) == pid,
	   "cgroup.procs lists it");
	is(cgroup_read_memory(cg, &mem), 0, "memory usage readable (%llu)",
	   (unsigned long long)mem);
	is(cgroup_kill(cg), 0, "kill");
	is(waitpid(pid, &status, 0), pid, "child reaped");
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child was SIGKILLed");
	cgroup_free(cg);
	snprintf(path, sizeof(path), "%s/agentvm/%s", pl[CGROUP_PIDS].self_dir, name);
	ok(access(path, F_OK) < 0 && errno == ENOENT, "directory removed");
	cgroup_free(NULL);
	ok(1, "cgroup_free(NULL) is safe");
	return done_testing();
}
