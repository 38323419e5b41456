/* One Chromium process tree for a browser session: started headless with
 * --remote-debugging-pipe (its fd 3 reads our commands, its fd 4 writes
 * replies), a fresh profile directory, its own session and process group.
 *
 * A small keeper process (a fork of the agent that never execs) leads the
 * session and the group, starts Chromium in it, waits for it and reports its
 * exit status on a pipe. The keeper is a "clone child" (exit signal 0) held
 * by a pidfd: the agent's waitpid(-1) reaper never takes it, so the status
 * stays ours. (Chromium itself cannot be such a child: execve resets the
 * exit signal to SIGCHLD.) Chromium's own children are ordinary processes;
 * orphaned, they go to the agent (PID 1 or a subreaper), which reaps them.
 * Killing means SIGKILL to the process group and to every process in the
 * same session or naming the profile directory (Chromium's helpers may
 * leave the group). */
#ifndef AGENTVM_GUEST_AGENT_BROWSER_PROC_H
#define AGENTVM_GUEST_AGENT_BROWSER_PROC_H

#include "guest-agent/agent.h"

#include <limits.h>
#include <sys/types.h>

struct agent_error;

#define BROWSER_PROC_ERR_TAIL 2048 /* bytes of Chromium's stderr kept for error messages */

struct browser_launch {
	const char *chromium; /* program; NULL: browser_proc_find_chromium() */
	const char *proxy;    /* --proxy-server value; NULL or "" for none */
	const char *tmpdir;   /* where the profile directory goes; NULL: $TMPDIR or /tmp */
	unsigned width, height;
};

/* The fds live in agent_watch structs so the owner can put them in the
 * agent's epoll set (their fn is the owner's to set). */
struct browser_proc {
	pid_t pid;		  /* the keeper, session and group leader; 0: not started */
	pid_t browser_pid;	  /* Chromium's main process */
	struct agent_watch pid_w; /* the keeper's pidfd: readable once it exited */
	int status_fd;		  /* from the keeper: Chromium's pid, then its wait status */
	struct agent_watch cmd_w; /* ours to write: Chromium's fd 3 */
	struct agent_watch res_w; /* ours to read: Chromium's fd 4 */
	struct agent_watch err_w; /* Chromium's stdout and stderr */
	int reaped;		  /* the keeper was collected */
	int status_code;	  /* si_code (CLD_EXITED, CLD_KILLED...) once reaped */
	int status;		  /* exit status or signal */
	char profile[PATH_MAX];
	char err_tail[BROWSER_PROC_ERR_TAIL];
	size_t err_len;
};

/* Set every fd to -1 and the rest to zero. */
void browser_proc_init(struct browser_proc *p);

/* Find the Chromium program: $AGENTVM_CHROMIUM, then /usr/lib/chromium/chromium
 * (the real binary behind Debian's /usr/bin/chromium script),
 * /usr/bin/chromium, /usr/bin/chromium-browser. Returns 0 with out filled, or
 * -ENOENT. */
int browser_proc_find_chromium(char *out, size_t outlen);

/* Create the profile directory and start Chromium. Our ends of the pipes are
 * non-blocking and close-on-exec. Returns 0, or -1 with err filled (and
 * nothing left behind). */
int browser_proc_start(const struct browser_launch *l, struct browser_proc *p,
		       struct agent_error *err);

/* SIGKILL everything the session started (see above). Safe to repeat. */
void browser_proc_kill(struct browser_proc *p);
/* Collect the keeper if it has exited (it does once Chromium's main process
 * ended). Returns 1 once reaped (the status fields filled), 0 while it runs,
 * -errno. */
int browser_proc_reap(struct browser_proc *p);
/* How many processes of the session are still alive (zombies excluded). */
int browser_proc_count_alive(const struct browser_proc *p);
/* Read what Chromium wrote to stderr into err_tail. Returns 0 at end of
 * file, 1 if more may come. */
int browser_proc_read_stderr(struct browser_proc *p);
/* Describe how the main process ended ("exited with status 1", "killed by
 * signal SEGV"), with the last line of stderr when there is one. */
void browser_proc_describe(const struct browser_proc *p, char *buf, size_t len);
/* Remove the profile directory (once the processes are gone). Returns 0
 * once it is gone, -errno while something is left. */
int browser_proc_remove_profile(struct browser_proc *p);
/* Close our fds (through agent_watch_close when a is not NULL) and remove
 * the profile directory. */
void browser_proc_cleanup(struct agent *a, struct browser_proc *p);

#endif
