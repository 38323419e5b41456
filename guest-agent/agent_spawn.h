/* fork + exec of one exec request: the child's side (session, stdio,
 * credentials, limits, cwd, clean signal state and fds) and the PATH lookup.
 * Failures before the program runs come back as an error, not an exit code. */
#ifndef AGENTVM_GUEST_AGENT_SPAWN_H
#define AGENTVM_GUEST_AGENT_SPAWN_H

#include <sys/types.h>

struct agent_error;
struct agent_exec_req;

struct agent_spawn_fds {
	int in, out, err; /* become the child's 0, 1, 2 */
	int pty;	  /* out is a pty slave: make it the controlling terminal */
};

/* More "K=V" defaults for every exec (NULL-terminated), set once at start by
 * the agent (the egress proxy's http_proxy...); NULL: none. */
extern const char *const *agent_spawn_extra_env;

/* The environment for x: defaults (PATH, HOME, LANG, TERM with a pty, then
 * agent_spawn_extra_env) with x->env merged over them. Returns a malloc'd NULL-terminated array whose
 * strings are owned by x or static (free only the array), or NULL. */
char **agent_spawn_build_env(const struct agent_exec_req *x);

/* Find argv0 in the PATH of envp (argv0 containing '/' is taken as is).
 * Writes the path to out (size outlen). Returns 0, -ENOENT, -EACCES or
 * -ENAMETOOLONG. */
int agent_spawn_resolve(const char *argv0, char *const envp[], char *out, size_t outlen);

/* Fork and exec x with fds. Blocks until the child has exec'd or failed.
 * Returns 0 with *pid set, or -1 with err filled (the child, if any, is left
 * for the SIGCHLD reaper). */
int agent_spawn(const struct agent_exec_req *x, const struct agent_spawn_fds *fds, pid_t *pid,
		struct agent_error *err);

#endif
