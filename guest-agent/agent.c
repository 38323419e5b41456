#include "guest-agent/agent.h"

#include "common/log.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_exec.h"
#include "guest-agent/agent_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_EPOLL_BATCH 64

uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int agent_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int agent_watch_set(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	int op;

	if (w->fd < 0)
		return -EBADF;
	if (events == w->events)
		return 0;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else if (w->events == 0)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(a->epfd, op, w->fd, &ev) < 0) {
		int e = errno;

		log_warn("epoll_ctl(%d, fd %d): %s", op, w->fd, strerror(e));
		return -e;
	}
	w->events = events;
	return 0;
}

void agent_watch_close(struct agent *a, struct agent_watch *w)
{
	if (w->fd < 0)
		return;
	if (w->events)
		epoll_ctl(a->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	w->events = 0;
}

/* --- signals -------------------------------------------------------------------------- */

static void agent_reap_children(struct agent *a)
{
	int status;
	pid_t pid;

	/* As PID 1 (or a subreaper) every orphan ends up here: reap them all. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!agent_exec_reaped(a, pid, status))
			log_debug("reaped process %d", (int)pid);
}

static void agent_on_signal(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;
	int chld = 0;
	ssize_t n;

	(void)events;
	while ((n = read(w->fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			chld = 1;
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %d: shutting down", (int)si.ssi_signo);
			agent_begin_shutdown(a);
		}
	}
	if (chld)
		agent_reap_children(a);
}

static void agent_on_shutdown_timer(struct agent *a, struct agent_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	log_debug("shutdown: giving up waiting for clients");
	a->quit = 1;
}

void agent_begin_shutdown(struct agent *a)
{
	struct itimerspec its = { 0 };

	if (a->shutdown_requested)
		return;
	a->shutdown_requested = 1;
	agent_transport_close(a);
	agent_proxy_close(a);
	agent_exec_kill_all(a);
	a->shutdown_timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	a->shutdown_timer.fn = agent_on_shutdown_timer;
	its.it_value.tv_sec = AGENT_SHUTDOWN_WAIT_MS / 1000;
	its.it_value.tv_nsec = (AGENT_SHUTDOWN_WAIT_MS % 1000) * 1000000L;
	if (a->shutdown_timer.fd < 0 || timerfd_settime(a->shutdown_timer.fd, 0, &its, NULL) < 0 ||
	    agent_watch_set(a, &a->shutdown_timer, EPOLLIN) < 0)
		a->quit = 1;
}

/* --- lifecycle ------------------------------------------------------------------------- */

int agent_new(const struct agent_options *opt, struct agent **out)
{
	struct agent *a;
	sigset_t set;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->opt = opt;
	a->sigfd = -1;
	a->sigw.fd = -1;
	a->shutdown_timer.fd = -1;
	a->start_ms = agent_now_ms();
	agent_list_init(&a->listeners);
	agent_list_init(&a->conns);
	agent_list_init(&a->execs);
	agent_list_init(&a->dead_conns);
	agent_list_init(&a->dead_execs);

	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epfd < 0) {
		r = -errno;
		goto fail;
	}
	/* Writes to a vanished reader must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	a->sigw.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigw.fd < 0) {
		r = -errno;
		goto fail;
	}
	a->sigw.fn = agent_on_signal;
	r = agent_watch_set(a, &a->sigw, EPOLLIN);
	if (r < 0)
		goto fail;
	/* Not PID 1: still adopt and reap our execs' orphans. */
	if (!opt->pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_debug("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	r = agent_transport_init(a);
	if (r < 0)
		goto fail;
	r = agent_proxy_init(a);
	if (r < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	agent_free(a);
	return r;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	agent_transport_close(a);
	agent_proxy_free(a);
	agent_exec_kill_all(a);
	while (!agent_list_empty(&a->conns))
		agent_conn_close(agent_list_entry(a->conns.next, struct agent_conn, link));
	agent_conn_reap(a);
	agent_watch_close(a, &a->shutdown_timer);
	agent_watch_close(a, &a->sigw);
	agent_transport_free(a);
	if (a->epfd >= 0)
		close(a->epfd);
	free(a);
}

int agent_run(struct agent *a)
{
	struct epoll_event evs[AGENT_EPOLL_BATCH];
	int n, i;

	while (!a->quit) {
		n = epoll_wait(a->epfd, evs, AGENT_EPOLL_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct agent_watch *w = evs[i].data.ptr;

			/* Closed earlier in this batch: its memory lives until reaped. */
			if (w->fd < 0)
				continue;
			w->fn(a, w, evs[i].events);
		}
		agent_conn_reap(a);
		agent_proxy_reap(a);
		if (a->shutdown_requested && a->nexecs == 0 && agent_conn_all_flushed(a))
			a->quit = 1;
	}
	return 0;
}
