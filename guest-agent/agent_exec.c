#include "guest-agent/agent_exec.h"

#include "common/base64.h"
#include "common/log.h"
#include "guest-agent/agent.h"
#include "guest-agent/agent_conn.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/agent_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define EXEC_CHUNK	 (64u << 10)
#define EXEC_DRAIN_LIMIT (1u << 20) /* per stream, when giving up on lingering writers */

struct agent_stream {
	struct agent_watch w;
	struct agent_exec *x;
	const char *name; /* "stdout" or "stderr" */
	int eof;
};

struct agent_exec {
	struct agent *a;
	struct agent_conn *conn;
	struct agent_list conn_link; /* in conn->execs */
	struct agent_list all_link;  /* in a->execs */
	struct agent_list dead_link; /* in a->dead_execs */
	struct json_object *id;
	pid_t pid;
	int reaped, status;
	struct agent_stream out, err;
	struct agent_watch in; /* stdin: pipe write end, or a dup of the pty master */
	unsigned char *inbuf;
	size_t inlen, inoff;
	int in_stream, in_eof;
	int pty;
	struct agent_watch timer; /* the timeout, then the linger after exit */
	int timed_out, lingering;
	uint64_t cap, forwarded, dropped;
	uint64_t start_ms, end_ms;
	int paused;
	int done;
};

static unsigned char exec_readbuf[EXEC_CHUNK];
static char exec_b64buf[(EXEC_CHUNK + 2) / 3 * 4 + 1];

static void exec_on_stream(struct agent *a, struct agent_watch *w, uint32_t events);
static void exec_on_stdin(struct agent *a, struct agent_watch *w, uint32_t events);
static void exec_on_timer(struct agent *a, struct agent_watch *w, uint32_t events);
static void exec_maybe_finish(struct agent_exec *x);

/* --- helpers ---------------------------------------------------------------------- */

static struct agent_exec *exec_find(struct agent_conn *c, struct json_object *id)
{
	struct agent_list *l;

	for (l = c->execs.next; l != &c->execs; l = l->next) {
		struct agent_exec *x = agent_list_entry(l, struct agent_exec, conn_link);

		if (agent_proto_id_equal(x->id, id))
			return x;
	}
	return NULL;
}

static int exec_timer_arm(struct agent_exec *x, uint64_t ms)
{
	struct itimerspec its = { 0 };

	if (x->timer.fd < 0) {
		x->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (x->timer.fd < 0)
			return -errno;
		x->timer.fn = exec_on_timer;
		if (agent_watch_set(x->a, &x->timer, EPOLLIN) < 0)
			return -errno;
	}
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(x->timer.fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

/* Register each open output stream unless paused. */
static void exec_update_streams(struct agent_exec *x)
{
	struct agent_stream *s[2] = { &x->out, &x->err };
	int i;

	for (i = 0; i < 2; i++)
		if (s[i]->w.fd >= 0)
			agent_watch_set(x->a, &s[i]->w, x->paused ? 0 : EPOLLIN);
}

static void exec_close_fds(struct agent_exec *x)
{
	agent_watch_close(x->a, &x->out.w);
	agent_watch_close(x->a, &x->err.w);
	agent_watch_close(x->a, &x->in);
	agent_watch_close(x->a, &x->timer);
	x->out.eof = x->err.eof = 1;
}

/* Unlink x from its connection and the agent; free it after the batch. */
static void exec_destroy(struct agent_exec *x)
{
	exec_close_fds(x);
	agent_list_del(&x->conn_link);
	agent_list_del(&x->all_link);
	x->conn->nexecs--;
	x->a->nexecs--;
	x->done = 1;
	agent_list_add_tail(&x->a->dead_execs, &x->dead_link);
}

void agent_exec_reap_dead(struct agent *a)
{
	while (!agent_list_empty(&a->dead_execs)) {
		struct agent_exec *x =
			agent_list_entry(a->dead_execs.next, struct agent_exec, dead_link);

		agent_list_del(&x->dead_link);
		json_object_put(x->id);
		free(x->inbuf);
		free(x);
	}
}

/* --- output ------------------------------------------------------------------------ */

static void exec_emit(struct agent_exec *x, struct agent_stream *s, const unsigned char *buf,
		      size_t n)
{
	uint64_t room = x->cap > x->forwarded ? x->cap - x->forwarded : 0;
	size_t fwd = n < room ? n : (size_t)room;
	struct json_object *ev;
	size_t len;

	x->dropped += n - fwd;
	if (fwd == 0)
		return;
	x->forwarded += fwd;
	len = base64_encode_to(buf, fwd, exec_b64buf);
	ev = agent_proto_event(x->id, s->name);
	if (ev)
		json_object_object_add(ev, "data",
				       json_object_new_string_len(exec_b64buf, (int)len));
	agent_conn_send(x->conn, x->id, ev);
}

/* One read from s. Returns bytes read, 0 at end of stream, -EAGAIN. */
static long exec_read_once(struct agent_exec *x, struct agent_stream *s)
{
	ssize_t n;

	do {
		n = read(s->w.fd, exec_readbuf, sizeof(exec_readbuf));
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		exec_emit(x, s, exec_readbuf, (size_t)n);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	/* 0, or EIO from a pty master whose slave is gone: end of stream. */
	agent_watch_close(x->a, &s->w);
	s->eof = 1;
	return 0;
}

static void exec_on_stream(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_stream *s = agent_list_entry(w, struct agent_stream, w);
	struct agent_exec *x = s->x;

	(void)a;
	(void)events;
	if (x->done || x->paused)
		return;
	if (exec_read_once(x, s) == 0)
		exec_maybe_finish(x);
}

/* --- stdin ------------------------------------------------------------------------- */

static void exec_stdin_close(struct agent_exec *x)
{
	agent_watch_close(x->a, &x->in);
	free(x->inbuf);
	x->inbuf = NULL;
	x->inlen = x->inoff = 0;
}

/* Write what is queued; close stdin once drained if eof was asked for. */
static void exec_stdin_kick(struct agent_exec *x)
{
	ssize_t n;

	while (x->in.fd >= 0 && x->inoff < x->inlen) {
		n = write(x->in.fd, x->inbuf + x->inoff, x->inlen - x->inoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			agent_watch_set(x->a, &x->in, EPOLLOUT);
			return;
		}
		if (n < 0) {
			/* The process closed its stdin (EPIPE): drop the rest. */
			exec_stdin_close(x);
			return;
		}
		x->inoff += (size_t)n;
	}
	if (x->in.fd < 0)
		return;
	free(x->inbuf);
	x->inbuf = NULL;
	x->inlen = x->inoff = 0;
	agent_watch_set(x->a, &x->in, 0);
	if (x->in_eof) {
		if (x->pty) {
			struct termios t;
			char eof = 4;

			if (tcgetattr(x->in.fd, &t) == 0 && t.c_cc[VEOF])
				eof = (char)t.c_cc[VEOF];
			if (write(x->in.fd, &eof, 1) < 0)
				log_debug("pty eof: %s", strerror(errno));
		}
		exec_stdin_close(x);
	}
}

static int exec_stdin_queue(struct agent_exec *x, const unsigned char *data, size_t len)
{
	unsigned char *nb;
	size_t live = x->inlen - x->inoff;

	if (len == 0)
		return 0;
	nb = malloc(live + len);
	if (!nb)
		return -ENOMEM;
	if (live)
		memcpy(nb, x->inbuf + x->inoff, live);
	memcpy(nb + live, data, len);
	free(x->inbuf);
	x->inbuf = nb;
	x->inoff = 0;
	x->inlen = live + len;
	return 0;
}

static void exec_on_stdin(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_exec *x = agent_list_entry(w, struct agent_exec, in);

	(void)a;
	if (x->done)
		return;
	if (events & EPOLLERR) {
		exec_stdin_close(x);
		return;
	}
	exec_stdin_kick(x);
}

/* --- lifecycle ---------------------------------------------------------------------- */

static void exec_finish(struct agent_exec *x)
{
	struct json_object *ev = agent_proto_event(x->id, "exit");
	struct agent_conn *c = x->conn;
	const char *sig;

	if (ev) {
		if (WIFEXITED(x->status)) {
			json_object_object_add(ev, "exit_code",
					       json_object_new_int(WEXITSTATUS(x->status)));
			json_object_object_add(ev, "signal", NULL);
		} else {
			json_object_object_add(ev, "exit_code", NULL);
			sig = WIFSIGNALED(x->status) ? agent_proto_signal_name(WTERMSIG(x->status))
						     : NULL;
			json_object_object_add(ev, "signal",
					       sig ? json_object_new_string(sig) : NULL);
		}
		json_object_object_add(ev, "timed_out", json_object_new_boolean(x->timed_out));
		json_object_object_add(ev, "dropped_bytes",
				       json_object_new_int64((int64_t)x->dropped));
		json_object_object_add(ev, "output_bytes",
				       json_object_new_int64((int64_t)(x->dropped + x->forwarded)));
		json_object_object_add(ev, "duration_ms",
				       json_object_new_int64((int64_t)(x->end_ms - x->start_ms)));
	}
	log_debug("exec %d finished (status %#x)", (int)x->pid, x->status);
	agent_conn_send(c, x->id, ev);
	exec_destroy(x);
	agent_conn_exec_done(c);
}

static void exec_maybe_finish(struct agent_exec *x)
{
	if (x->done || !x->reaped)
		return;
	if (x->out.eof && x->err.eof) {
		exec_finish(x);
		return;
	}
	if (!x->lingering) {
		/* Something else still holds the output open: wait a little. */
		x->lingering = 1;
		if (exec_timer_arm(x, AGENT_EXEC_LINGER_MS) < 0)
			exec_finish(x);
	}
}

/* Read what is left in a stream, bounded, ignoring back-pressure. */
static void exec_drain(struct agent_exec *x, struct agent_stream *s)
{
	size_t total = 0;
	long n;

	if (s->w.fd < 0)
		return;
	agent_set_nonblock(s->w.fd);
	while (total < EXEC_DRAIN_LIMIT && (n = exec_read_once(x, s)) > 0)
		total += (size_t)n;
	agent_watch_close(x->a, &s->w);
	s->eof = 1;
}

static void exec_on_timer(struct agent *a, struct agent_watch *w, uint32_t events)
{
	struct agent_exec *x = agent_list_entry(w, struct agent_exec, timer);
	uint64_t ticks;

	(void)a;
	(void)events;
	if (x->done)
		return;
	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	if (x->lingering) {
		exec_drain(x, &x->out);
		exec_drain(x, &x->err);
		if (!x->done)
			exec_finish(x);
		return;
	}
	if (!x->reaped) {
		log_debug("exec %d timed out; killing its process group", (int)x->pid);
		x->timed_out = 1;
		kill(-x->pid, SIGKILL);
	}
}

int agent_exec_reaped(struct agent *a, pid_t pid, int status)
{
	struct agent_list *l;

	for (l = a->execs.next; l != &a->execs; l = l->next) {
		struct agent_exec *x = agent_list_entry(l, struct agent_exec, all_link);

		if (x->pid != pid || x->reaped)
			continue;
		x->reaped = 1;
		x->status = status;
		x->end_ms = agent_now_ms();
		exec_maybe_finish(x);
		return 1;
	}
	return 0;
}

void agent_exec_pause_conn(struct agent_conn *c, int paused)
{
	struct agent_list *l;

	for (l = c->execs.next; l != &c->execs; l = l->next) {
		struct agent_exec *x = agent_list_entry(l, struct agent_exec, conn_link);

		x->paused = paused;
		exec_update_streams(x);
	}
}

void agent_exec_abandon_conn(struct agent_conn *c)
{
	while (!agent_list_empty(&c->execs)) {
		struct agent_exec *x =
			agent_list_entry(c->execs.next, struct agent_exec, conn_link);

		if (!x->reaped || x->lingering)
			kill(-x->pid, SIGKILL);
		exec_destroy(x);
	}
}

void agent_exec_kill_all(struct agent *a)
{
	struct agent_list *l;

	for (l = a->execs.next; l != &a->execs; l = l->next) {
		struct agent_exec *x = agent_list_entry(l, struct agent_exec, all_link);

		if (!x->reaped || x->lingering)
			kill(-x->pid, SIGKILL);
	}
}

/* --- start ------------------------------------------------------------------------- */

static void exec_close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Open a pty master and its slave, sized rows x cols. */
static int exec_open_pty(unsigned short rows, unsigned short cols, int *master, int *slave)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	char name[128];
	int m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto fail;
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto fail;
	if (ioctl(m, TIOCSWINSZ, &ws) < 0) {
		close(s);
		goto fail;
	}
	*master = m;
	*slave = s;
	return 0;
fail:
	s = -errno;
	close(m);
	return s;
}

int agent_exec_start(struct agent *a, struct agent_conn *c, const struct agent_request *req,
		     struct agent_error *err)
{
	const struct agent_exec_req *xr = &req->exec;
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct agent_spawn_fds fds = { 0 };
	struct agent_exec *x;
	struct json_object *ev;
	int r;

	if (exec_find(c, req->id)) {
		agent_error_set(err, "EBUSY", "id", "an exec with this id is still running");
		return -1;
	}
	if (c->nexecs >= AGENT_MAX_EXECS_CONN || a->nexecs >= AGENT_MAX_EXECS) {
		agent_error_set(err, "EBUSY", NULL, "too many running execs (%d here, %d in all)",
				c->nexecs, a->nexecs);
		return -1;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		agent_error_errno(err, ENOMEM, NULL, "exec");
		return -1;
	}
	x->a = a;
	x->conn = c;
	x->out.w.fd = x->err.w.fd = x->in.fd = x->timer.fd = -1;
	x->out.x = x->err.x = x;
	x->out.name = "stdout";
	x->err.name = "stderr";
	x->out.w.fn = x->err.w.fn = exec_on_stream;
	x->in.fn = exec_on_stdin;
	x->cap = xr->output_cap;
	x->pty = xr->pty;
	x->in_stream = xr->stdin_stream;

	if (xr->pty) {
		int m = -1, s = -1;

		r = exec_open_pty(xr->rows, xr->cols, &m, &s);
		if (r < 0) {
			agent_error_errno(err, r, NULL, "open a pty");
			goto fail;
		}
		outp[0] = m;
		outp[1] = s;
		fds.in = fds.out = fds.err = s;
		fds.pty = 1;
		x->err.eof = 1;
		if (xr->has_stdin || xr->stdin_stream) {
			inp[1] = fcntl(m, F_DUPFD_CLOEXEC, 3);
			if (inp[1] < 0) {
				agent_error_errno(err, errno, NULL, "dup pty");
				goto fail;
			}
		}
	} else {
		if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
		    pipe2(errp, O_CLOEXEC) < 0) {
			agent_error_errno(err, errno, NULL, "pipe");
			goto fail;
		}
		fds.in = inp[0];
		fds.out = outp[1];
		fds.err = errp[1];
		/* Nothing to send: the process sees end of file at once. */
		if (!xr->has_stdin && !xr->stdin_stream) {
			close(inp[1]);
			inp[1] = -1;
		}
	}

	x->start_ms = agent_now_ms();
	if (agent_spawn(xr, &fds, &x->pid, err) < 0)
		goto fail;

	/* The child has its copies; keep only our ends. */
	if (xr->pty) {
		close(outp[1]);
		outp[1] = -1;
	} else {
		close(inp[0]);
		close(outp[1]);
		close(errp[1]);
		inp[0] = outp[1] = errp[1] = -1;
		x->err.w.fd = errp[0];
		errp[0] = -1;
	}
	x->out.w.fd = outp[0];
	outp[0] = -1;
	x->in.fd = inp[1];
	inp[1] = -1;
	if (agent_set_nonblock(x->out.w.fd) < 0 ||
	    (x->err.w.fd >= 0 && agent_set_nonblock(x->err.w.fd) < 0) ||
	    (x->in.fd >= 0 && agent_set_nonblock(x->in.fd) < 0))
		log_warn("exec %d: cannot make its pipes non-blocking", (int)x->pid);

	x->id = json_object_get(req->id);
	agent_list_add_tail(&c->execs, &x->conn_link);
	agent_list_add_tail(&a->execs, &x->all_link);
	c->nexecs++;
	a->nexecs++;
	x->paused = c->congested;
	log_debug("exec %d: %s", (int)x->pid, xr->argv[0]);

	ev = agent_proto_event(x->id, "started");
	if (ev)
		json_object_object_add(ev, "pid", json_object_new_int(x->pid));
	agent_conn_send(c, x->id, ev);

	exec_update_streams(x);
	if (xr->timeout_ms && exec_timer_arm(x, xr->timeout_ms) < 0) {
		log_warn("exec %d: cannot arm its timeout; killing it", (int)x->pid);
		x->timed_out = 1;
		kill(-x->pid, SIGKILL);
	}
	if (xr->has_stdin) {
		x->in_eof = 1;
		if (exec_stdin_queue(x, xr->stdin_data, xr->stdin_len) < 0)
			log_warn("exec %d: out of memory queueing stdin", (int)x->pid);
		exec_stdin_kick(x);
	}
	return 0;

fail:
	exec_close_pair(inp);
	exec_close_pair(outp);
	exec_close_pair(errp);
	free(x);
	return -1;
}

/* --- ops on running execs ------------------------------------------------------------ */

static struct agent_exec *exec_target(struct agent_conn *c, const struct agent_request *req,
				      struct agent_error *err)
{
	struct agent_exec *x = exec_find(c, req->target.target);

	if (!x)
		agent_error_set(err, "ESRCH", "target", "no running exec with that id");
	return x;
}

int agent_exec_stdin(struct agent_conn *c, const struct agent_request *req, struct agent_error *err)
{
	const struct agent_target_req *t = &req->target;
	struct agent_exec *x = exec_target(c, req, err);

	if (!x)
		return -1;
	if (!x->in_stream) {
		agent_error_set(err, "EINVAL", "target",
				"the exec was not started with stdin_stream");
		return -1;
	}
	if (x->in.fd < 0 || x->in_eof) {
		agent_error_set(err, x->in_eof ? "EINVAL" : "EPIPE", "target",
				x->in_eof ? "stdin is already closed" : "the process closed stdin");
		return -1;
	}
	if (x->inlen - x->inoff + t->len > AGENT_STDIN_QUEUE_MAX) {
		agent_error_set(err, "EBUSY", NULL,
				"the process has not consumed earlier stdin yet; retry later");
		return -1;
	}
	if (exec_stdin_queue(x, t->data, t->len) < 0) {
		agent_error_errno(err, ENOMEM, NULL, "stdin");
		return -1;
	}
	if (t->eof)
		x->in_eof = 1;
	exec_stdin_kick(x);
	return 0;
}

int agent_exec_signal(struct agent_conn *c, const struct agent_request *req,
		      struct agent_error *err)
{
	const struct agent_target_req *t = &req->target;
	struct agent_exec *x = exec_target(c, req, err);
	pid_t dest;

	if (!x)
		return -1;
	if (x->reaped && !t->group) {
		agent_error_set(err, "ESRCH", "target", "the process has exited");
		return -1;
	}
	dest = t->group ? -x->pid : x->pid;
	if (kill(dest, t->signo) < 0) {
		agent_error_errno(err, errno, NULL, "kill %d", (int)dest);
		return -1;
	}
	return 0;
}

int agent_exec_resize(struct agent_conn *c, const struct agent_request *req,
		      struct agent_error *err)
{
	const struct agent_target_req *t = &req->target;
	struct winsize ws = { .ws_row = t->rows, .ws_col = t->cols };
	struct agent_exec *x = exec_target(c, req, err);

	if (!x)
		return -1;
	if (!x->pty) {
		agent_error_set(err, "ENOTTY", "target", "the exec has no pty");
		return -1;
	}
	if (x->out.w.fd < 0) {
		agent_error_set(err, "ESRCH", "target", "the pty is closed");
		return -1;
	}
	if (ioctl(x->out.w.fd, TIOCSWINSZ, &ws) < 0) {
		agent_error_errno(err, errno, NULL, "resize");
		return -1;
	}
	return 0;
}
