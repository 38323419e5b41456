/* agentvmd's main loop: the listening socket, clients and their line-based
 * JSON-RPC framing, sandbox exit fds, signals and the 1 s tick. See
 * daemon_internal.h for the threads and locks. */
#include "host/daemon.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/api.h"
#include "host/audit.h"
#include "host/daemon_internal.h"
#include "host/task_queue.h"
#include "host/metrics.h"
#include "host/pool.h"
#include "host/state.h"
#include "host/template.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TAG_CLIENT  0u
#define TAG_SANDBOX 1u
#define TAG_SPECIAL 2u
#define EV_LISTEN   ((0u << 2) | TAG_SPECIAL)
#define EV_WAKE	    ((1u << 2) | TAG_SPECIAL)
#define EV_SIGNAL   ((2u << 2) | TAG_SPECIAL)
#define READ_CHUNK  (64 * 1024)

void daemon_config_defaults(struct daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_mem = 8ull << 30;
	c->max_cpus = 4000;
	c->max_pids = 4096;
	c->max_disk = 8ull << 30;
	c->max_sandboxes = 256;
	c->max_per_uid = 64;
	c->max_exec_timeout_ms = 3600 * 1000;
	c->max_output = 64ull << 20;
	c->max_clients = 2048;
	c->max_ops = 1024;
	c->default_image = "minimal";
	c->default_isolation = "auto";
	c->default_pool = 2;
	c->audit_batch = true;
}

void daemon_default_socket(char *out, size_t len)
{
	const char *env = getenv("AGENTVMD_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");

	if (env && *env)
		snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		snprintf(out, len, "/run/agentvm/agentvmd.sock");
	else if (xdg && *xdg)
		snprintf(out, len, "%s/agentvm/agentvmd.sock", xdg);
	else
		snprintf(out, len, "/tmp/agentvm-%u/agentvmd.sock", (unsigned)geteuid());
}

void daemon_default_state_dir(char *out, size_t len)
{
	const char *home = getenv("HOME");

	if (geteuid() == 0)
		snprintf(out, len, "/var/lib/agentvm");
	else if (home && *home)
		snprintf(out, len, "%s/.local/state/agentvm", home);
	else
		snprintf(out, len, "/tmp/agentvm-%u/state", (unsigned)geteuid());
}

int64_t daemon_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t daemon_now_ms(void)
{
	return daemon_now_ns() / 1000000;
}

int64_t daemon_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void daemon_wake(struct daemon *d)
{
	uint64_t one = 1;

	if (write(d->wakefd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: a wake-up is pending anyway */
	}
}

bool daemon_caller_privileged(struct daemon *d, uid_t uid)
{
	(void)d;
	return uid == 0 || uid == geteuid();
}

struct spawn {
	struct daemon *d;
	void *(*fn)(void *);
	void *arg;
};

static void *daemon_trampoline(void *p)
{
	struct spawn s = *(struct spawn *)p;

	free(p);
	s.fn(s.arg);
	pthread_mutex_lock(&s.d->lock);
	s.d->nthreads--;
	pthread_cond_broadcast(&s.d->cond);
	pthread_mutex_unlock(&s.d->lock);
	return NULL;
}

int daemon_spawn(struct daemon *d, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	struct spawn *s = malloc(sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct spawn){ d, fn, arg };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, DAEMON_THREAD_STACK);
	pthread_mutex_lock(&d->lock);
	d->nthreads++;
	pthread_mutex_unlock(&d->lock);
	r = pthread_create(&t, &attr, daemon_trampoline, s);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		free(s);
		pthread_mutex_lock(&d->lock);
		d->nthreads--;
		pthread_mutex_unlock(&d->lock);
		log_warn("cannot start a thread: %s", strerror(r));
		return -EAGAIN;
	}
	return 0;
}

/* --- clients -------------------------------------------------------------------- */

static void daemon_client_free(struct client *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->drained);
	free(c->in);
	free(c->out);
	free(c);
}

void daemon_client_unref(struct client *c)
{
	if (--c->refs == 0)
		daemon_client_free(c);
}

/* Write what the socket takes; c->lock held. */
static void daemon_client_flush_locked(struct client *c)
{
	while (!c->closed && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* The peer is gone; the loop closes it on EPOLLHUP/ERR. */
				c->out_off = c->out_len;
			}
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > (1u << 20)) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	if (c->out_len - c->out_off < DAEMON_OUT_LOW)
		pthread_cond_broadcast(&c->drained);
}

void daemon_client_send(struct client *c, struct json_object *msg)
{
	char *line;
	size_t len;
	bool wake = false;

	if (!msg)
		return;
	if (api_to_line(msg, &line, &len) < 0) {
		json_object_put(msg);
		return;
	}
	json_object_put(msg);
	pthread_mutex_lock(&c->lock);
	if (!c->closed) {
		if (c->out_len + len > c->out_cap) {
			if (c->out_off) {
				memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
				c->out_len -= c->out_off;
				c->out_off = 0;
			}
			size_t cap = c->out_cap ? c->out_cap : 4096;
			while (cap < c->out_len + len)
				cap *= 2;
			char *nb = cap != c->out_cap ? realloc(c->out, cap) : c->out;
			if (!nb) {
				pthread_mutex_unlock(&c->lock);
				free(line);
				return;
			}
			c->out = nb;
			c->out_cap = cap;
		}
		memcpy(c->out + c->out_len, line, len);
		c->out_len += len;
		daemon_client_flush_locked(c);
		if (c->out_off < c->out_len && !c->want_out) {
			c->want_out = true;
			wake = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	free(line);
	if (wake)
		daemon_wake(c->d);
}

bool daemon_client_wait_drained(struct client *c)
{
	bool open;

	pthread_mutex_lock(&c->lock);
	if (!c->closed && c->out_len - c->out_off > DAEMON_OUT_HIGH) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->drained, &c->lock, &ts);
	}
	open = !c->closed;
	pthread_mutex_unlock(&c->lock);
	return open;
}

void daemon_client_wait_room(struct client *c, const bool *cancelled)
{
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool full = !c->closed && c->out_len - c->out_off > DAEMON_OUT_HIGH;
		pthread_mutex_unlock(&c->lock);
		if (!full || (cancelled && __atomic_load_n(cancelled, __ATOMIC_ACQUIRE)))
			return;
		daemon_client_wait_drained(c);
	}
}

static size_t daemon_client_pending(struct client *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->out_len - c->out_off;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void daemon_client_arm(struct daemon *d, struct client *c)
{
	struct epoll_event ev = { .data.u64 = (uint64_t)(uintptr_t)c };
	bool want_out;

	if (c->closed)
		return;
	pthread_mutex_lock(&c->lock);
	want_out = c->want_out;
	pthread_mutex_unlock(&c->lock);
	ev.events = (c->reading ? EPOLLIN | EPOLLRDHUP : 0) | (want_out ? EPOLLOUT : 0);
	if (ev.events == c->armed)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->armed = ev.events;
}

/* Close c's socket and cancel its requests. The loop's reference is dropped
 * after the current batch of events (which may still name c). */
static void daemon_client_close(struct daemon *d, struct client *c, const char *why)
{
	pthread_mutex_lock(&d->lock);
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	c->closed = true;
	d->in_total -= c->in_cap;
	free(c->in);
	c->in = NULL;
	c->in_cap = c->in_len = 0;
	if (c->bad_lines > DAEMON_AUDIT_BAD_LINES) {
		struct json_object *ex = json_object_new_object();
		json_object_object_add(
			ex, "suppressed",
			json_object_new_int64(c->bad_lines - DAEMON_AUDIT_BAD_LINES));
		audit_event(d->audit, "api.error", NULL, c->uid, c->pid, ex);
		json_object_put(ex);
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	pthread_cond_broadcast(&c->drained);
	pthread_mutex_unlock(&c->lock);
	if (c->nops)
		ops_cancel_locked(d, c, NULL, why);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = d->graveyard;
	c->prev = NULL;
	d->graveyard = c;
	d->nclients--;
	metrics_gauge_set(d->metrics, "agentvm_clients", NULL, d->nclients);
	pthread_mutex_unlock(&d->lock);
}

static void daemon_bury_clients(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->graveyard) {
		struct client *c = d->graveyard;
		d->graveyard = c->next;
		daemon_client_unref(c);
	}
	pthread_mutex_unlock(&d->lock);
}

static void daemon_accept(struct daemon *d)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cred = { 0 };
		socklen_t cl = sizeof(cred);
		int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warn("out of file descriptors: a client waits");
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			close(fd);
			continue;
		}
		if (d->nclients >= d->cfg.max_clients || d->stopping) {
			struct json_object *e =
				api_error(NULL, d->stopping ? API_SHUTDOWN : API_BUSY,
					  d->stopping ? "the daemon is stopping"
						      : "too many clients; try again later",
					  NULL);
			char *line;
			size_t len;
			if (e && api_to_line(e, &line, &len) == 0) {
				if (send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
					/* best effort */
				}
				free(line);
			}
			json_object_put(e);
			close(fd);
			metrics_count(d->metrics, "agentvm_clients_refused_total", NULL, 1);
			continue;
		}
		struct client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->d = d;
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->refs = 1;
		c->reading = true;
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->drained, NULL);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = (uint64_t)(uintptr_t)c };
		c->armed = ev.events;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			daemon_client_free(c);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		c->next = d->clients;
		if (d->clients)
			d->clients->prev = c;
		d->clients = c;
		d->nclients++;
		metrics_gauge_set(d->metrics, "agentvm_clients", NULL, d->nclients);
		pthread_mutex_unlock(&d->lock);
	}
}

/* Audit a line that is not a request: the first few of each client one by
 * one, the rest as a count when it goes (a client sending garbage must not
 * turn into a flood of synced audit lines). */
static void daemon_audit_bad_line(struct daemon *d, struct client *c, int code, size_t len)
{
	metrics_count(d->metrics, "agentvm_api_errors_total", api_error_name(code), 1);
	if (c->bad_lines++ >= DAEMON_AUDIT_BAD_LINES)
		return;
	struct json_object *ex = json_object_new_object();
	json_object_object_add(ex, "code", json_object_new_int(code));
	json_object_object_add(ex, "error", json_object_new_string(api_error_name(code)));
	json_object_object_add(ex, "bytes", json_object_new_int64((int64_t)len));
	audit_event(d->audit, "api.error", NULL, c->uid, c->pid, ex);
	json_object_put(ex);
}

static void daemon_handle_line(struct daemon *d, struct client *c, const char *line, size_t len)
{
	struct api_request req;
	struct json_object *reply = NULL;
	int r;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	r = api_parse(line, len, &req, &reply);
	if (r < 0) {
		daemon_audit_bad_line(d, c, r, len);
		if (reply)
			daemon_client_send(c, reply);
		return;
	}
	metrics_count(d->metrics, "agentvm_api_requests_total", req.m->name, 1);
	/* Ownership of the parsed request passes to the dispatcher. */
	daemon_dispatch(d, c, req.root, req.id, req.notification, req.m, req.params);
}

static void daemon_client_read(struct daemon *d, struct client *c, uint32_t events)
{
	bool eof = false;

	for (int rounds = 0; rounds < 16 && c->reading; rounds++) {
		if (c->in_cap - c->in_len < READ_CHUNK) {
			size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
			if (cap > API_REQUEST_MAX + 2 * READ_CHUNK)
				cap = API_REQUEST_MAX + 2 * READ_CHUNK;
			if (cap - c->in_len < 1)
				break;
			/* Big lines from many clients at once must not add up beyond
			 * DAEMON_IN_BUDGET: past it, a line over 1 MiB is refused. */
			if (cap > (1u << 20) && d->in_total - c->in_cap + cap > DAEMON_IN_BUDGET) {
				daemon_client_send(c, api_error(NULL, API_BUSY,
								"too many large requests at once; "
								"try again",
								NULL));
				daemon_audit_bad_line(d, c, API_BUSY, c->in_len);
				c->discarding = true;
				c->in_len = 0;
				d->in_total -= c->in_cap;
				free(c->in);
				c->in = NULL;
				c->in_cap = 0;
				continue;
			}
			char *nb = realloc(c->in, cap);
			if (!nb) {
				daemon_client_close(d, c, "out of memory");
				return;
			}
			d->in_total += cap - c->in_cap;
			c->in = nb;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				eof = true;
			break;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		size_t start = 0, scan = c->in_len;
		c->in_len += (size_t)n;
		for (size_t i = scan; i < c->in_len; i++) {
			if (c->in[i] != '\n')
				continue;
			if (c->discarding)
				c->discarding = false;
			else
				daemon_handle_line(d, c, c->in + start, i - start);
			start = i + 1;
			if (c->closed)
				return;
		}
		if (start) {
			memmove(c->in, c->in + start, c->in_len - start);
			c->in_len -= start;
		}
		if (c->discarding) {
			c->in_len = 0;
		} else if (c->in_len > API_REQUEST_MAX) {
			/* A line longer than any request may be: say so once, skip to its end. */
			daemon_client_send(c, api_error(NULL, API_TOO_BIG,
							"request too long (at most 16 MiB a line)",
							NULL));
			daemon_audit_bad_line(d, c, API_TOO_BIG, c->in_len);
			c->discarding = true;
			c->in_len = 0;
		}
		if (c->in_len == 0 && c->in_cap > (1u << 20)) {
			d->in_total -= c->in_cap;
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
		/* A client that does not read its replies stops being read. */
		if (daemon_client_pending(c) > DAEMON_OUT_HIGH) {
			c->reading = false;
			daemon_client_arm(d, c);
		}
	}
	if ((events & (EPOLLHUP | EPOLLERR)) ||
	    (eof && c->nops == 0 && !daemon_client_pending(c))) {
		daemon_client_close(d, c, "the client disconnected");
		return;
	}
	if (eof) {
		/* Half-closed: finish what it asked for, then close. */
		c->eof = true;
		c->reading = false;
		daemon_client_arm(d, c);
	}
}

static void daemon_client_write(struct daemon *d, struct client *c)
{
	pthread_mutex_lock(&c->lock);
	daemon_client_flush_locked(c);
	if (c->out_off == c->out_len)
		c->want_out = false;
	pthread_mutex_unlock(&c->lock);
	daemon_client_arm(d, c);
}

/* After a wake-up or a tick: arm EPOLLOUT where output waits, resume reading
 * clients that drained, close half-closed clients that are done. Main thread. */
static void daemon_sweep_clients(struct daemon *d)
{
	struct client *c, *next;

	for (c = d->clients; c; c = next) {
		next = c->next;
		size_t pending = daemon_client_pending(c);
		pthread_mutex_lock(&d->lock);
		int nops = c->nops;
		pthread_mutex_unlock(&d->lock);
		if (c->eof) {
			if (nops == 0 && pending == 0) {
				daemon_client_close(d, c, "the client disconnected");
				continue;
			}
		} else if (!c->reading && pending < DAEMON_OUT_LOW) {
			c->reading = true;
		}
		daemon_client_arm(d, c);
	}
}

/* --- set-up --------------------------------------------------------------------- */

static int daemon_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int daemon_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(d->socket_path)];
	int fd, r;

	snprintf(dir, sizeof(dir), "%s", d->socket_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = daemon_mkdirs(dir, 0755);
		if (r < 0) {
			log_err("cannot create %s: %s", dir, strerror(-r));
			return r;
		}
	}
	memcpy(sa.sun_path, d->socket_path, strlen(d->socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Another daemon on this socket? Then leave it be. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_err("%s: another agentvmd answers there", d->socket_path);
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(d->socket_path);
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(d->socket_path, 0660) < 0 || listen(fd, 1024) < 0) {
		r = -errno;
		log_err("%s: %s", d->socket_path, strerror(errno));
		close(fd);
		return r;
	}
	if (d->cfg.socket_group) {
		struct group *g = getgrnam(d->cfg.socket_group);
		if (!g || chown(d->socket_path, (uid_t)-1, g->gr_gid) < 0) {
			log_err("%s: cannot give the socket to group %s", d->socket_path,
				d->cfg.socket_group);
			close(fd);
			return -EINVAL;
		}
	}
	d->lfd = fd;
	return 0;
}

static void daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int daemon_setup(struct daemon *d, const struct daemon_config *cfg)
{
	char buf[PATH_MAX];
	int r;

	d->cfg = *cfg;
	d->epfd = d->lfd = d->wakefd = d->sigfd = -1;
	/* Blocked before any thread starts, so that every thread inherits it and
	 * the signals wait in the loop's signalfd. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	d->next_serial = 1;
	d->started_ms = daemon_wall_ms();
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	pthread_mutex_init(&d->template_lock, NULL);

	if (cfg->state_dir)
		snprintf(buf, sizeof(buf), "%s", cfg->state_dir);
	else
		daemon_default_state_dir(buf, sizeof(buf));
	r = daemon_mkdirs(buf, 0700);
	if (r < 0) {
		log_err("state directory %s: %s", buf, strerror(-r));
		return r;
	}
	if (!realpath(buf, d->state_dir)) {
		log_err("state directory %s: %m", buf);
		return -errno;
	}
	/* Sandboxes keep their sockets and PID files under the state directory,
	 * so that a restart finds them and two daemons never meet. */
	snprintf(d->run_dir, sizeof(d->run_dir), "%.400s/run", d->state_dir);
	if (strlen(d->run_dir) > 64) {
		log_err("state directory %s: too long a path for the sandboxes' sockets (at most "
			"60 bytes)",
			d->state_dir);
		return -ENAMETOOLONG;
	}
	r = daemon_mkdirs(d->run_dir, 0700);
	if (r < 0) {
		log_err("%s: %s", d->run_dir, strerror(-r));
		return r;
	}
	setenv("AGENTVM_RUN_DIR", d->run_dir, 1);

	if (cfg->socket_path)
		snprintf(buf, sizeof(buf), "%s", cfg->socket_path);
	else
		daemon_default_socket(buf, sizeof(buf));
	if (strlen(buf) >= sizeof(d->socket_path)) {
		log_err("socket path %s is too long", buf);
		return -ENAMETOOLONG;
	}
	snprintf(d->socket_path, sizeof(d->socket_path), "%s", buf);

	snprintf(d->audit_path, sizeof(d->audit_path), "%.500s/audit.log", d->state_dir);
	r = audit_open(d->audit_path, &d->audit);
	if (r < 0)
		return r;
	if (cfg->audit_batch)
		audit_set_sync(d->audit, AUDIT_SYNC_BATCH);
	r = state_open(d->state_dir, &d->st);
	if (r < 0)
		return r;
	r = metrics_new(&d->metrics);
	if (r < 0)
		return r;
	template_find_agent(d);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->epfd < 0 || d->wakefd < 0)
		return -errno;
	d->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile();
	return 0;
}

static void daemon_teardown(struct daemon *d)
{
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->socket_path);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->wakefd >= 0)
		close(d->wakefd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	metrics_free(d->metrics);
	state_close(d->st);
	audit_close(d->audit);
	pthread_mutex_destroy(&d->template_lock);
}

/* Stop: no new clients or requests, the pool thread first, then every
 * request in flight (cancelled), then the pool's sandboxes (and all of them
 * with cleanup_on_exit). Running sandboxes are left for the next start. */
static void daemon_stop(struct daemon *d)
{
	struct timespec ts;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	task_queue_stop(d);
	if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->socket_path);
		d->lfd = -1;
	}
	pool_stop(d);
	pthread_mutex_lock(&d->lock);
	ops_cancel_locked(d, NULL, NULL, "the daemon is stopping");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 15;
	while (d->nthreads > 0)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT)
			break;
	if (d->nthreads > 0)
		log_warn("%d requests still running at exit", d->nthreads);
	pthread_mutex_unlock(&d->lock);
	for (;;) {
		struct sandbox *victim = NULL;
		pthread_mutex_lock(&d->lock);
		for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
			/* A backend that cannot adopt (microvm) would only leave
			 * its sandboxes for the next start to remove. */
			bool kept = sb->ops && sb->ops->adopt;
			if (sb->state == SB_POOLED || sb->state == SB_CREATING ||
			    ((d->cfg.cleanup_on_exit || !kept) && sb->state != SB_DESTROYING)) {
				victim = sb;
				break;
			}
		}
		if (victim) {
			victim->state = SB_DESTROYING;
			sandbox_ref_locked(victim);
		}
		pthread_mutex_unlock(&d->lock);
		if (!victim)
			break;
		sandbox_destroy(d, victim, "shutdown", NULL);
		pthread_mutex_lock(&d->lock);
		sandbox_unref_locked(d, victim);
		pthread_mutex_unlock(&d->lock);
	}
	while (d->clients)
		daemon_client_close(d, d->clients, "the daemon is stopping");
	daemon_bury_clients(d);
	/* What is left (sandboxes kept for the next start) is freed here. */
	pthread_mutex_lock(&d->lock);
	while (d->sandboxes) {
		struct sandbox *sb = d->sandboxes;
		d->sandboxes = sb->next;
		sandbox_unwatch_locked(d, sb);
		/* The sandbox keeps running for the next start to adopt. */
		backend_sandbox_release(sb->bsb);
		free(sb->metadata);
		free(sb);
	}
	pthread_mutex_unlock(&d->lock);
}

int daemon_run(const struct daemon_config *cfg)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct epoll_event evs[64];
	int r;

	if (!d)
		return -ENOMEM;
	r = daemon_setup(d, cfg);
	if (r < 0)
		goto out;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_WAKE };
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev);
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev);

	audit_event(d->audit, "daemon.start", NULL, -1, 0, NULL);
	r = template_ensure_default(d);
	if (r < 0)
		goto out;
	daemon_recover(d);
	r = daemon_listen(d);
	if (r < 0)
		goto out;
	ev.data.u64 = EV_LISTEN;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev);
	r = pool_start(d);
	if (r < 0)
		goto out;
	r = task_queue_start(d);
	if (r < 0)
		goto out;
	log_info("listening on %s (state in %s)", d->socket_path, d->state_dir);

	int64_t next_tick = daemon_now_ms() + 1000;
	bool stop = false;
	while (!stop) {
		int64_t now = daemon_now_ms();
		int timeout = next_tick > now ? (int)(next_tick - now) : 0;
		int n = epoll_wait(d->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %m");
			r = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == EV_LISTEN) {
				daemon_accept(d);
			} else if (tag == EV_WAKE) {
				uint64_t v;
				if (read(d->wakefd, &v, sizeof(v)) < 0) {
					/* nothing pending */
				}
				daemon_sweep_clients(d);
			} else if (tag == EV_SIGNAL) {
				struct signalfd_siginfo si;
				if (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
				    si.ssi_signo != SIGHUP) {
					log_info("stopping on signal %d", (int)si.ssi_signo);
					stop = true;
				}
			} else if ((tag & 3) == TAG_SANDBOX) {
				sandbox_failed(d, tag >> 2);
			} else {
				struct client *c = (struct client *)(uintptr_t)tag;
				if (c->closed)
					continue;
				if (evs[i].events & EPOLLOUT)
					daemon_client_write(d, c);
				if (!c->closed &&
				    (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
					daemon_client_read(d, c, evs[i].events);
			}
		}
		if (daemon_now_ms() >= next_tick) {
			next_tick = daemon_now_ms() + 1000;
			sandbox_check_ttls(d);
			audit_sync(d->audit);
			daemon_sweep_clients(d);
		}
		daemon_bury_clients(d);
	}
	daemon_stop(d);
	audit_event(d->audit, "daemon.stop", NULL, -1, 0, NULL);
	r = 0;
out:
	daemon_teardown(d);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
	return r;
}
