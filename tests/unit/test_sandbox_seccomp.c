/* The container sandbox's seccomp filter and capability drop, applied in a
 * child process: denied calls fail with the documented errno, ordinary ones
 * (fork, getpid, file I/O) still work. */
#include "host/sandbox_caps.h"
#include "host/sandbox_seccomp.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child: one byte per check, 0 for pass, written to fd. */
static void child_checks(int fd, const struct sock_fprog *prog)
{
	unsigned char res[16];
	int k = 0;
	pid_t p;
	int st;

	if (sandbox_seccomp_apply(prog) < 0)
		_exit(3);
	errno = 0;
	res[k++] = mount("none", "/mnt", "tmpfs", 0, NULL) < 0 && errno == EPERM;
	res[k++] = unshare(CLONE_NEWUSER) < 0 && errno == EPERM;
	res[k++] = syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS;
	res[k++] = syscall(SYS_keyctl, 0, 0, 0, 0, 0) < 0 && errno == EPERM;
	res[k++] = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0) < 0 && errno == EPERM;
	res[k++] = syscall(SYS_bpf, 0, NULL, 0) < 0 && errno == EPERM;
	res[k++] = syscall(SYS_init_module, NULL, 0, "") < 0 && errno == EPERM;
	res[k++] = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) < 0 && errno == EPERM;
	res[k++] = getpid() > 0;
	p = fork(); /* plain clone: allowed */
	if (p == 0)
		_exit(7);
	res[k++] = p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7;
	res[k++] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
	if (write(fd, res, (size_t)k) != k)
		_exit(4);
	_exit(0);
}

int main(void)
{
	static const char *const names[] = {
		"mount -> EPERM",	"unshare -> EPERM",
		"clone3 -> ENOSYS",	"keyctl -> EPERM",
		"ptrace -> EPERM",	"bpf -> EPERM",
		"init_module -> EPERM", "clone(CLONE_NEWNET) -> EPERM",
		"getpid works",		"fork works",
		"no_new_privs is set",
	};
	struct sock_fprog prog;
	unsigned char res[16];
	int p[2], st;
	pid_t pid;
	ssize_t n;

	ok(sandbox_seccomp_count() > 30, "the deny-list names %d syscalls",
	   sandbox_seccomp_count());
	is(sandbox_seccomp_compile(&prog), 0, "the filter compiles");
	ok(prog.len > 10 && prog.filter, "into %u BPF instructions", prog.len);

	if (pipe(p) < 0)
		return done_testing();
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child_checks(p[1], &prog);
	}
	close(p[1]);
	n = read(p[0], res, sizeof(res));
	waitpid(pid, &st, 0);
	is(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "the filtered child ran to the end");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ok(n > (ssize_t)i && res[i], "%s", names[i]);
	sandbox_seccomp_prog_free(&prog);
	sandbox_seccomp_prog_free(&prog);
	sandbox_seccomp_prog_free(NULL);
	ok(1, "prog_free is idempotent and NULL-safe");

	/* Capabilities (needs CAP_SETPCAP: root). */
	if (geteuid() == 0) {
		uint64_t keep = sandbox_caps_keep_mask();
		ok(!(keep & (1ull << CAP_SYS_ADMIN)) && !(keep & (1ull << CAP_NET_ADMIN)) &&
			   !(keep & (1ull << CAP_SYS_PTRACE)) && !(keep & (1ull << CAP_MKNOD)) &&
			   !(keep & (1ull << CAP_DAC_READ_SEARCH)),
		   "dangerous capabilities are not kept");
		ok((keep & (1ull << CAP_SETUID)) && (keep & (1ull << CAP_CHOWN)),
		   "what the agent needs is kept");
		pid = fork();
		if (pid == 0) {
			if (sandbox_caps_drop() < 0)
				_exit(1);
			if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
				_exit(2);
			if (prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0) != 1)
				_exit(3);
			if (mount("none", "/mnt", "tmpfs", 0, NULL) == 0 || errno != EPERM)
				_exit(4);
			_exit(0);
		}
		waitpid(pid, &st, 0);
		is(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0,
		   "after the drop: no CAP_SYS_ADMIN in the bounding set, CAP_SETUID kept, mount "
		   "refused");
	}
	return done_testing();
}
