/* The egress proxy's thread: one epoll loop over every sandbox's listening
 * socket and connections, the resolver's completions and a wake-up eventfd.
 * Callers on other threads take the same lock the loop holds while it
 * handles events; objects closed meanwhile are only unlinked, and the loop
 * frees them after its batch, so no event ever points at freed memory. */
#include "host/egress/egress_internal.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EGRESS_EPOLL_BATCH   64
#define EGRESS_ACCEPT_BURST  32
#define EGRESS_RESOLVERS_DEF 4

uint64_t egress_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t egress_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int egress_watch_set(struct egress *e, struct egress_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	int op;

	if (w->fd < 0)
		return -EBADF;
	if (events == w->events)
		return 0;
	op = events == 0 ? EPOLL_CTL_DEL : w->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (epoll_ctl(e->epfd, op, w->fd, &ev) < 0) {
		int r = -errno;
		log_warn("egress: epoll_ctl(fd %d): %s", w->fd, strerror(errno));
		return r;
	}
	w->events = events;
	return 0;
}

void egress_watch_close(struct egress *e, struct egress_watch *w)
{
	if (w->fd < 0)
		return;
	if (w->events)
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	w->events = 0;
}

/* --- audit ------------------------------------------------------------------------------ */

static const char *egress_verdict(const struct egress_conn *c)
{
	if (c->allowed)
		return "allow";
	switch (c->deny) {
	case EGRESS_DENY_PORT:
	case EGRESS_DENY_DOMAIN:
	case EGRESS_DENY_LITERAL:
	case EGRESS_DENY_RANGE:
	case EGRESS_DENY_QUOTA_CONNS:
	case EGRESS_DENY_QUOTA_BYTES:
		return "deny";
	default:
		return "error";
	}
}

void egress_audit_conn(struct egress *e, struct egress_conn *c)
{
	struct json_object *o = json_object_new_object();
	char ip[64];

	if (!o)
		return;
	json_object_object_add(o, "type", json_object_new_string("egress"));
	json_object_object_add(o, "time_ms", json_object_new_int64(egress_wall_ms()));
	json_object_object_add(o, "sandbox", json_object_new_string(c->sb->name));
	json_object_object_add(o, "conn", json_object_new_int64((int64_t)c->id));
	json_object_object_add(o, "verdict", json_object_new_string(egress_verdict(c)));
	json_object_object_add(
		o, "reason",
		json_object_new_string(c->allowed ? "allowed" : egress_deny_name(c->deny)));
	json_object_object_add(o, "detail", json_object_new_string(c->why));
	if (c->have_req) {
		json_object_object_add(o, "method", json_object_new_string(c->req.method));
		json_object_object_add(o, "host", json_object_new_string(c->req.host.name));
		json_object_object_add(o, "port", json_object_new_int((int)c->req.port));
	} else {
		json_object_object_add(o, "method", NULL);
		json_object_object_add(o, "host", NULL);
		json_object_object_add(o, "port", NULL);
	}
	json_object_object_add(o, "target",
			       c->target[0] ? json_object_new_string(c->target) : NULL);
	if (c->have_ip && egress_addr_format(&c->ip, ip, sizeof(ip)) == 0)
		json_object_object_add(o, "ip", json_object_new_string(ip));
	else
		json_object_object_add(o, "ip", NULL);
	json_object_object_add(o, "status", c->status ? json_object_new_int(c->status) : NULL);
	json_object_object_add(o, "upstream_status",
			       c->upstream_status ? json_object_new_int(c->upstream_status) : NULL);
	json_object_object_add(o, "bytes_up", json_object_new_int64((int64_t)c->bytes_up));
	json_object_object_add(o, "bytes_down", json_object_new_int64((int64_t)c->bytes_down));
	json_object_object_add(o, "duration_ms",
			       json_object_new_int64((int64_t)(egress_now_ms() - c->start_ms)));
	json_object_object_add(o, "end", json_object_new_string(c->end ? c->end : "closed"));
	if (e->audit_fd >= 0) {
		size_t n;
		const char *s = json_object_to_json_string_length(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		char *line = malloc(n + 1);

		/* One write per line: O_APPEND keeps lines whole between writers. */
		if (line) {
			memcpy(line, s, n);
			line[n] = '\n';
			if (write(e->audit_fd, line, n + 1) != (ssize_t)(n + 1))
				log_warn("egress: writing the audit file: %s", strerror(errno));
			free(line);
		}
	}
	if (e->audit_fn)
		e->audit_fn(e->audit_ctx, o);
	json_object_put(o);
}

/* --- the loop ----------------------------------------------------------------------------- */

static void egress_on_accept(struct egress *e, struct egress_watch *w, uint32_t events)
{
	struct egress_sandbox *sb = egress_entry(w, struct egress_sandbox, lw);

	(void)events;
	for (int i = 0; i < EGRESS_ACCEPT_BURST; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			egress_conn_accept(sb, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			/* Out of fds or memory: stop accepting until the next tick
			 * rather than spin on a listener that stays readable. */
			log_warn("sandbox %s: egress accept: %s; pausing", sb->name,
				 strerror(errno));
			egress_watch_set(e, w, 0);
			sb->paused = 1;
		}
		return;
	}
}

static void egress_on_resolved(struct egress *e, struct egress_watch *w, uint32_t events)
{
	struct egress_resolve_job *job;

	(void)w;
	(void)events;
	while ((job = egress_resolver_done(e->resolver)))
		egress_conn_resolved(job->owner, job);
}

static void egress_on_wake(struct egress *e, struct egress_watch *w, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(w->fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a spurious wake-up */
	}
	(void)e;
}

static void egress_reap(struct egress *e)
{
	while (e->dead.next != &e->dead) {
		struct egress_conn *c = egress_entry(e->dead.next, struct egress_conn, dead_link);

		egress_link_del(&c->dead_link);
		egress_conn_free(c);
	}
	while (e->dead_sandboxes.next != &e->dead_sandboxes) {
		struct egress_sandbox *sb =
			egress_entry(e->dead_sandboxes.next, struct egress_sandbox, link);

		egress_link_del(&sb->link);
		egress_policy_free(sb->policy);
		free(sb);
	}
}

static void egress_tick(struct egress *e, uint64_t now)
{
	struct egress_link *s, *l, *next;

	for (s = e->sandboxes.next; s != &e->sandboxes; s = s->next) {
		struct egress_sandbox *sb = egress_entry(s, struct egress_sandbox, link);

		if (sb->paused && egress_watch_set(e, &sb->lw, EPOLLIN) == 0)
			sb->paused = 0;
		for (l = sb->conns.next; l != &sb->conns; l = next) {
			next = l->next;
			egress_conn_tick(egress_entry(l, struct egress_conn, link), now);
		}
	}
}

static void *egress_thread(void *arg)
{
	struct egress *e = arg;
	struct epoll_event evs[EGRESS_EPOLL_BATCH];
	uint64_t next_tick = egress_now_ms() + EGRESS_TICK_MS;

	for (;;) {
		int n = epoll_wait(e->epfd, evs, EGRESS_EPOLL_BATCH, EGRESS_TICK_MS);
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			log_err("egress: epoll_wait: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&e->lock);
		if (e->stop) {
			pthread_mutex_unlock(&e->lock);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct egress_watch *w = evs[i].data.ptr;

			if (w->fd >= 0)
				w->fn(e, w, evs[i].events);
		}
		now = egress_now_ms();
		if (now >= next_tick) {
			egress_tick(e, now);
			next_tick = now + EGRESS_TICK_MS;
		}
		egress_reap(e);
		pthread_mutex_unlock(&e->lock);
	}
	return NULL;
}

/* --- API --------------------------------------------------------------------------------- */

int egress_new(const struct egress_options *o, struct egress **out)
{
	struct egress *e = calloc(1, sizeof(*e));
	sigset_t all, old;
	int r;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	egress_link_init(&e->sandboxes);
	egress_link_init(&e->dead);
	egress_link_init(&e->dead_sandboxes);
	e->wake.fd = e->resw.fd = e->audit_fd = -1;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		r = -errno;
		goto fail;
	}
	if (o && o->audit_path) {
		e->audit_fd = open(o->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (e->audit_fd < 0) {
			r = -errno;
			log_err("egress: audit file %s: %s", o->audit_path, strerror(errno));
			goto fail;
		}
	}
	r = egress_resolver_new(o && o->resolver_threads ? o->resolver_threads
							 : EGRESS_RESOLVERS_DEF,
				&e->resolver);
	if (r < 0)
		goto fail;
	e->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->wake.fd < 0) {
		r = -errno;
		goto fail;
	}
	e->wake.fn = egress_on_wake;
	e->resw.fd = dup(egress_resolver_fd(e->resolver));
	if (e->resw.fd < 0) {
		r = -errno;
		goto fail;
	}
	e->resw.fn = egress_on_resolved;
	if ((r = egress_watch_set(e, &e->wake, EPOLLIN)) < 0 ||
	    (r = egress_watch_set(e, &e->resw, EPOLLIN)) < 0)
		goto fail;
	/* The loop takes no signals: they belong to the program's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&e->thread, NULL, egress_thread, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	e->thread_started = 1;
	*out = e;
	return 0;
fail:
	egress_free(e);
	return r;
}

/* End every connection of sb and stop listening. Called with the lock held. */
static void egress_sandbox_close(struct egress *e, struct egress_sandbox *sb)
{
	while (sb->conns.next != &sb->conns)
		egress_conn_close(egress_entry(sb->conns.next, struct egress_conn, link),
				  "removed");
	egress_watch_close(e, &sb->lw);
	if (sb->path[0]) {
		struct stat st;
		if (lstat(sb->path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(sb->path);
		sb->path[0] = '\0';
	}
	sb->removed = 1;
	egress_link_del(&sb->link);
	egress_link_add(&e->dead_sandboxes, &sb->link);
}

void egress_free(struct egress *e)
{
	uint64_t one = 1;

	if (!e)
		return;
	if (e->thread_started) {
		pthread_mutex_lock(&e->lock);
		e->stop = 1;
		pthread_mutex_unlock(&e->lock);
		if (write(e->wake.fd, &one, sizeof(one)) < 0) {
			/* the loop still sees stop at its next tick */
		}
		pthread_join(e->thread, NULL);
	}
	pthread_mutex_lock(&e->lock);
	while (e->sandboxes.next != &e->sandboxes)
		egress_sandbox_close(e,
				     egress_entry(e->sandboxes.next, struct egress_sandbox, link));
	egress_reap(e);
	pthread_mutex_unlock(&e->lock);
	egress_watch_close(e, &e->wake);
	egress_watch_close(e, &e->resw);
	/* Jobs still out are cancelled (their connections are gone): freed there. */
	egress_resolver_free(e->resolver);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->audit_fd >= 0)
		close(e->audit_fd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void egress_set_audit_sink(struct egress *e, egress_audit_fn *fn, void *ctx)
{
	pthread_mutex_lock(&e->lock);
	e->audit_fn = fn;
	e->audit_ctx = ctx;
	pthread_mutex_unlock(&e->lock);
}

static int egress_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		unlink(path);
		close(fd);
		return r;
	}
	return fd;
}

int egress_sandbox_add(struct egress *e, const char *name, const char *sock_path,
		       struct egress_policy *policy, struct egress_sandbox **out)
{
	struct egress_sandbox *sb;
	int fd, r;

	*out = NULL;
	if (!policy)
		return -EINVAL;
	sb = calloc(1, sizeof(*sb));
	if (!sb) {
		egress_policy_free(policy);
		return -ENOMEM;
	}
	sb->e = e;
	sb->policy = policy;
	sb->lw.fd = -1;
	sb->lw.fn = egress_on_accept;
	egress_link_init(&sb->conns);
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	if (strlen(sock_path) >= sizeof(sb->path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	fd = egress_listen(sock_path);
	if (fd < 0) {
		r = fd;
		log_err("sandbox %s: egress socket %s: %s", name, sock_path,
			r == -EEXIST ? "something else is there" : strerror(-r));
		goto fail;
	}
	snprintf(sb->path, sizeof(sb->path), "%s", sock_path);
	sb->lw.fd = fd;
	pthread_mutex_lock(&e->lock);
	r = egress_watch_set(e, &sb->lw, EPOLLIN);
	if (r == 0)
		egress_link_add(&e->sandboxes, &sb->link);
	pthread_mutex_unlock(&e->lock);
	if (r < 0) {
		unlink(sock_path);
		close(fd);
		goto fail;
	}
	*out = sb;
	return 0;
fail:
	egress_policy_free(policy);
	free(sb);
	return r;
}

void egress_sandbox_remove(struct egress *e, struct egress_sandbox *sb)
{
	uint64_t one = 1;

	if (!sb)
		return;
	pthread_mutex_lock(&e->lock);
	if (!sb->removed)
		egress_sandbox_close(e, sb);
	pthread_mutex_unlock(&e->lock);
	/* Let the loop free it after its current batch. */
	if (write(e->wake.fd, &one, sizeof(one)) < 0) {
		/* freed at the next tick anyway */
	}
}

void egress_sandbox_stats(struct egress *e, struct egress_sandbox *sb, struct egress_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = sb->stats;
	pthread_mutex_unlock(&e->lock);
}
