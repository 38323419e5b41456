/* agentvmd's registry of sandboxes and their life cycle: start, watch, fail,
 * expire, destroy. See daemon_internal.h for the locking rules. */
#include "common/log.h"
#include "host/agent_client.h"
#include "host/api.h"
#include "host/audit.h"
#include "host/cgroup.h"
#include "host/controller.h"
#include "host/daemon_internal.h"
#include "host/metrics.h"
#include "host/pool.h"
#include "host/state.h"

#include <errno.h>
#include <poll.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *sandbox_state_name(enum sandbox_state s)
{
	static const char *const names[] = { "creating",  "pooled",	"running",
					     "resetting", "destroying", "failed" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

void sandbox_fresh_name(const char *prefix, char *out, size_t len)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)daemon_now_ns() ^ (uint32_t)getpid();
	snprintf(out, len, "%s-%08x", prefix, v);
}

struct sandbox *sandbox_add_locked(struct daemon *d, const char *name, const char *backend_name)
{
	struct sandbox *sb = calloc(1, sizeof(*sb)), **tail;

	if (!sb)
		return NULL;
	sb->serial = d->next_serial++;
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	snprintf(sb->backend_name, sizeof(sb->backend_name), "%s", backend_name);
	sb->state = SB_CREATING;
	sb->exit_fd = -1;
	sb->refs = 1;
	sb->listed = true;
	sb->owner_uid = -1;
	sb->created_ms = daemon_wall_ms();
	sb->last_used = daemon_now_ms();
	for (tail = &d->sandboxes; *tail; tail = &(*tail)->next)
		;
	*tail = sb;
	return sb;
}

struct sandbox *sandbox_find_locked(struct daemon *d, const char *name)
{
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (!strcmp(sb->name, name) && sb->state != SB_POOLED && !sb->for_pool)
			return sb;
	return NULL;
}

void sandbox_ref_locked(struct sandbox *sb)
{
	sb->refs++;
}

void sandbox_unref_locked(struct daemon *d, struct sandbox *sb)
{
	(void)d;
	if (--sb->refs > 0 || sb->listed)
		return;
	free(sb->metadata);
	free(sb);
}

static void sandbox_unlist_locked(struct daemon *d, struct sandbox *sb)
{
	for (struct sandbox **p = &d->sandboxes; *p; p = &(*p)->next) {
		if (*p == sb) {
			*p = sb->next;
			break;
		}
	}
	sb->next = NULL;
	sb->listed = false;
}

int sandbox_acquire_locked(struct daemon *d, struct sandbox *sb, uid_t uid, char *msg, size_t len)
{
	if (!sb || (!daemon_caller_privileged(d, uid) && sb->owner_uid != (int64_t)uid)) {
		snprintf(msg, len, "no such sandbox");
		return API_NO_SANDBOX;
	}
	switch (sb->state) {
	case SB_RUNNING:
		break;
	case SB_CREATING:
		snprintf(msg, len, "sandbox %s is still being created", sb->name);
		return API_BUSY;
	case SB_RESETTING:
		snprintf(msg, len, "sandbox %s is being reset", sb->name);
		return API_BUSY;
	case SB_DESTROYING:
		snprintf(msg, len, "sandbox %s is being destroyed", sb->name);
		return API_BUSY;
	case SB_FAILED:
		snprintf(msg, len, "sandbox %s has failed: %s", sb->name,
			 sb->error[0] ? sb->error : "unknown reason");
		return API_SANDBOX_FAILED;
	default:
		snprintf(msg, len, "no such sandbox");
		return API_NO_SANDBOX;
	}
	sb->busy++;
	sb->refs++;
	sb->last_used = daemon_now_ms();
	return 0;
}

void sandbox_release_locked(struct daemon *d, struct sandbox *sb)
{
	sb->busy--;
	sb->last_used = daemon_now_ms();
	pthread_cond_broadcast(&d->cond);
	sandbox_unref_locked(d, sb);
}

static int sandbox_store_row(struct daemon *d, struct sandbox *sb, const char *old_name)
{
	struct state_sandbox s;

	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&d->lock);
	snprintf(s.name, sizeof(s.name), "%s", sb->name);
	snprintf(s.backend_name, sizeof(s.backend_name), "%s", sb->backend_name);
	snprintf(s.template_name, sizeof(s.template_name), "%s", sb->template_name);
	snprintf(s.backend, sizeof(s.backend), "%s", sb->ops ? sb->ops->name : "");
	snprintf(s.state, sizeof(s.state), "%s", sandbox_state_name(sb->state));
	snprintf(s.error, sizeof(s.error), "%s", sb->error);
	s.pid = sb->pid;
	s.owner_uid = sb->owner_uid;
	s.limits = sb->limits;
	s.created_ms = sb->created_ms;
	s.ttl_ms = sb->ttl_ms;
	s.idle_ttl_ms = sb->idle_ttl_ms;
	s.metadata = sb->metadata ? strdup(sb->metadata) : NULL;
	pthread_mutex_unlock(&d->lock);
	int r = old_name ? state_sandbox_replace(d->st, old_name, &s)
			 : state_sandbox_put(d->st, &s);
	free(s.metadata);
	return r;
}

int sandbox_store(struct daemon *d, struct sandbox *sb)
{
	return sandbox_store_row(d, sb, NULL);
}

int sandbox_store_replacing(struct daemon *d, struct sandbox *sb, const char *old_name)
{
	return sandbox_store_row(d, sb, old_name);
}

struct backend_sandbox *sandbox_absorb_locked(struct daemon *d, struct sandbox *sb,
					      struct sandbox *p)
{
	struct backend_sandbox *old = sb->bsb;

	sandbox_unwatch_locked(d, sb);
	sandbox_unwatch_locked(d, p);
	sb->bsb = p->bsb;
	sb->ops = p->ops;
	sb->pid = p->pid;
	snprintf(sb->backend_name, sizeof(sb->backend_name), "%s", p->backend_name);
	p->bsb = NULL;
	sandbox_unlist_locked(d, p);
	sandbox_unref_locked(d, p);
	return old;
}

void sandbox_watch_locked(struct daemon *d, struct sandbox *sb)
{
	if (!sb->bsb || sb->exit_fd >= 0)
		return;
	int fd = backend_sandbox_exit_fd(sb->bsb);
	if (fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (sb->serial << 2) | 1u };
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		sb->exit_fd = fd;
}

void sandbox_unwatch_locked(struct daemon *d, struct sandbox *sb)
{
	if (sb->exit_fd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, sb->exit_fd, NULL);
	sb->exit_fd = -1;
}

void sandbox_snapshot_dir(struct daemon *d, const char *template_name, char *out, size_t len)
{
	snprintf(out, len, "%s/snapshots/%s", d->state_dir, template_name);
}

/* A test guest's stand-in for hello: the synthetic vsock guest's op 1
 * (tests/guests/vsock.c) echoes what follows its 16-byte command until we
 * shut down our side. */
static int sandbox_echo_check(int fd, int timeout_ms, char *err, size_t errlen)
{
	static const char probe[] = "agentvm!";
	unsigned char out[16 + sizeof(probe) - 1] = { 1 };
	char back[sizeof(probe)];
	size_t got = 0;
	int64_t deadline = daemon_now_ms() + timeout_ms;

	memcpy(out + 16, probe, sizeof(probe) - 1);
	if (send(fd, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out) ||
	    shutdown(fd, SHUT_WR) < 0) {
		snprintf(err, errlen, "echo: %s", strerror(errno));
		return -errno;
	}
	while (got < sizeof(probe) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - daemon_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			snprintf(err, errlen, "the test guest did not echo in time");
			return -ETIMEDOUT;
		}
		n = recv(fd, back + got, sizeof(probe) - 1 - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "the test guest closed the echo after %zu bytes",
				 got);
			return -ECONNRESET;
		}
		got += (size_t)n;
	}
	if (memcmp(back, probe, sizeof(probe) - 1) != 0) {
		snprintf(err, errlen, "the test guest echoed other bytes");
		return -EPROTO;
	}
	return 0;
}

int sandbox_ready(struct backend_sandbox *bsb, bool test_guest, int timeout_ms, char *err,
		  size_t errlen)
{
	struct agent_client *ac = NULL;
	int fd, r;

	err[0] = '\0';
	r = backend_sandbox_connect(bsb, &fd);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	if (test_guest) {
		r = sandbox_echo_check(fd, timeout_ms, err, errlen);
		close(fd);
		return r;
	}
	r = agent_client_new(fd, &ac);
	if (r == 0)
		r = agent_client_hello(ac, timeout_ms, NULL, err, errlen);
	agent_client_free(ac);
	if (r < 0 && r != -EREMOTEIO && r != -EPROTONOSUPPORT)
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

int sandbox_activate(struct backend_sandbox *bsb, char *err, size_t errlen)
{
	int r = backend_sandbox_resume(bsb);

	if (r < 0)
		snprintf(err, errlen, "cannot resume it: %s", strerror(-r));
	return r;
}

int sandbox_start_instance(struct daemon *d, const char *backend_name,
			   const struct state_template *t, const char *isolation,
			   const struct backend_limits *lim, bool pool_spare,
			   const struct backend_ops **ops, struct backend_sandbox **bsb,
			   bool *paused, char *err, size_t errlen)
{
	char why[512], e[300], snapdir[600];
	bool test_guest = !strcmp(t->guest, "test");
	int r;

	*bsb = NULL;
	*paused = false;
	if (!isolation || !*isolation)
		isolation = t->isolation;
	r = controller_choose_backend(*isolation ? isolation : "auto", ops, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "unknown isolation '%s'", isolation);
		return r;
	}
	if (test_guest && strcmp((*ops)->name, "microvm") != 0) {
		snprintf(err, errlen, "template %s has a test guest, which only a microvm runs",
			 t->name);
		return -ENOTSUP;
	}
	sandbox_snapshot_dir(d, t->name, snapdir, sizeof(snapdir));
	struct backend_config cfg = {
		.name = backend_name,
		.rootfs = t->rootfs,
		.agent_path = d->agent_path[0] ? d->agent_path : NULL,
		.limits = *lim,
		.log_fd = -1,
		.detached = 1,
		.kernel = t->kernel[0] ? t->kernel : NULL,
		.cmdline = t->cmdline[0] ? t->cmdline : NULL,
		.test_guest = test_guest,
		.snapshot_dir = snapdir,
	};
	int64_t t0 = daemon_now_ns();
	r = backend_sandbox_new(*ops, &cfg, bsb);
	int64_t t1 = daemon_now_ns();
	if (r < 0) {
		/* The backend's own verdict says more than an errno when it is
		 * the host that cannot (no libvirtd, no KVM, ...). */
		int pr = (*ops)->probe ? (*ops)->probe(why, sizeof(why)) : 0;
		if (pr < 0 && !(pr == -ENOTSUP && test_guest))
			snprintf(err, errlen, "the %s backend cannot start a sandbox here: %.400s",
				 (*ops)->name, why);
		else
			snprintf(err, errlen,
				 "the %s backend could not start a sandbox: %s (agentvmd's log "
				 "says why)",
				 (*ops)->name, strerror(-r));
		*bsb = NULL;
		return r;
	}
	r = sandbox_ready(*bsb, test_guest, DAEMON_HELLO_MS, e, sizeof(e));
	if (r < 0) {
		snprintf(err, errlen, "sandbox %s: its %s: %s", backend_name,
			 test_guest ? "test guest did not answer" : "agent did not answer hello",
			 e);
		log_err("%s", err);
		backend_sandbox_log_tail(*bsb, 10);
		backend_sandbox_free(*bsb);
		*bsb = NULL;
		return r;
	}
	log_debug("sandbox %s: started in %.2f ms, ready %.2f ms later", backend_name,
		  (t1 - t0) / 1e6, (daemon_now_ns() - t1) / 1e6);
	if (backend_sandbox_origin(*bsb) == BACKEND_RESTORED)
		metrics_observe(d->metrics, "agentvm_restore_seconds", "restore",
				(daemon_now_ns() - t0) / 1e9);
	/* The agent has answered and nobody has used the sandbox yet: the
	 * moment every later sandbox of this boot starts from. */
	if (backend_sandbox_origin(*bsb) == BACKEND_BOOTED)
		backend_sandbox_golden(*bsb);
	/* A spare waits with its CPUs stopped: no CPU, and only the memory it
	 * touched; the hand-off resumes it. */
	if (pool_spare && backend_sandbox_pause(*bsb) == 0)
		*paused = true;
	return 0;
}

void sandbox_destroy(struct daemon *d, struct sandbox *sb, const char *why, struct client *caller)
{
	struct backend_sandbox *bsb;
	bool audit_it;

	pthread_mutex_lock(&d->lock);
	ops_cancel_locked(d, NULL, sb, "the sandbox is being destroyed");
	while (sb->busy > 0)
		pthread_cond_wait(&d->cond, &d->lock);
	sandbox_unwatch_locked(d, sb);
	bsb = sb->bsb;
	sb->bsb = NULL;
	audit_it = sb->owner_uid >= 0;
	pthread_mutex_unlock(&d->lock);

	if (bsb) {
		backend_sandbox_free(bsb);
	} else if (sb->ops && sb->ops->remove_stale && sb->state != SB_FAILED) {
		/* Nothing held: make sure nothing of it is left either. */
		sb->ops->remove_stale(sb->backend_name);
	}
	state_sandbox_delete(d->st, sb->name);
	if (audit_it) {
		struct json_object *ex = json_object_new_object();
		json_object_object_add(ex, "reason", json_object_new_string(why));
		audit_event(d->audit, "sandbox.destroy", sb->name, caller ? (long)caller->uid : -1,
			    caller ? (long)caller->pid : 0, ex);
		json_object_put(ex);
		metrics_count(d->metrics, "agentvm_sandboxes_destroyed_total", why, 1);
		log_info("sandbox %s destroyed (%s)", sb->name, why);
	}
	pthread_mutex_lock(&d->lock);
	if (sb->listed)
		sandbox_unlist_locked(d, sb);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

struct sandbox_job {
	struct daemon *d;
	struct sandbox *sb;
	const char *why;
};

static void *sandbox_destroy_main(void *arg)
{
	struct sandbox_job *j = arg;

	sandbox_destroy(j->d, j->sb, j->why, NULL);
	pthread_mutex_lock(&j->d->lock);
	sandbox_unref_locked(j->d, j->sb);
	pthread_mutex_unlock(&j->d->lock);
	free(j);
	return NULL;
}

/* Free the backend of a failed sandbox; its record stays (state failed). */
static void *sandbox_cleanup_main(void *arg)
{
	struct sandbox_job *j = arg;
	struct daemon *d = j->d;
	struct backend_sandbox *bsb;

	pthread_mutex_lock(&d->lock);
	while (j->sb->busy > 0)
		pthread_cond_wait(&d->cond, &d->lock);
	/* A reset or destroy that came first owns the instance now. */
	bsb = j->sb->state == SB_FAILED ? j->sb->bsb : NULL;
	if (bsb)
		j->sb->bsb = NULL;
	pthread_mutex_unlock(&d->lock);
	backend_sandbox_free(bsb);
	pthread_mutex_lock(&d->lock);
	sandbox_unref_locked(d, j->sb);
	pthread_mutex_unlock(&d->lock);
	free(j);
	return NULL;
}

/* Run fn on a job for sb (a ref is taken here); inline if no thread starts. */
static void sandbox_run_job(struct daemon *d, struct sandbox *sb, void *(*fn)(void *),
			    const char *why)
{
	struct sandbox_job *j = malloc(sizeof(*j));

	pthread_mutex_lock(&d->lock);
	sandbox_ref_locked(sb);
	pthread_mutex_unlock(&d->lock);
	if (!j) {
		pthread_mutex_lock(&d->lock);
		sandbox_unref_locked(d, sb);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	*j = (struct sandbox_job){ d, sb, why };
	if (daemon_spawn(d, fn, j) < 0)
		fn(j);
}

void sandbox_failed(struct daemon *d, uint64_t serial)
{
	struct sandbox *sb;
	enum sandbox_state was;

	pthread_mutex_lock(&d->lock);
	for (sb = d->sandboxes; sb; sb = sb->next)
		if (sb->serial == serial)
			break;
	if (!sb) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	sandbox_unwatch_locked(d, sb);
	was = sb->state;
	if (was == SB_POOLED) {
		sb->state = SB_DESTROYING;
		pool_update_gauge_locked(d);
	} else if (was == SB_RUNNING) {
		sb->state = SB_FAILED;
		snprintf(sb->error, sizeof(sb->error), "its PID 1 exited");
		ops_cancel_locked(d, NULL, sb, "the sandbox failed");
	}
	pthread_mutex_unlock(&d->lock);
	if (was == SB_POOLED) {
		log_warn("pool %s: %s stopped while waiting", sb->template_name, sb->name);
		metrics_count(d->metrics, "agentvm_sandbox_failures_total", NULL, 1);
		sandbox_run_job(d, sb, sandbox_destroy_main, "failed");
		pool_kick(d);
	} else if (was == SB_RUNNING) {
		log_warn("sandbox %s: its PID 1 exited; the sandbox is marked failed", sb->name);
		metrics_count(d->metrics, "agentvm_sandbox_failures_total", NULL, 1);
		audit_event(d->audit, "sandbox.failed", sb->name, -1, 0, NULL);
		state_sandbox_set_state(d->st, sb->name, "failed", sb->error);
		sandbox_run_job(d, sb, sandbox_cleanup_main, "failed");
	}
}

void sandbox_check_ttls(struct daemon *d)
{
	struct sandbox *due[64];
	const char *why[64];
	int n = 0;
	int64_t wall = daemon_wall_ms(), now = daemon_now_ms();

	pthread_mutex_lock(&d->lock);
	int counts[6] = { 0 };
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if ((unsigned)sb->state < 6)
			counts[sb->state]++;
		if ((sb->state != SB_RUNNING && sb->state != SB_FAILED) || sb->owner_uid < 0 ||
		    n >= 64)
			continue;
		const char *reason = NULL;
		if (sb->ttl_ms && wall - sb->created_ms >= sb->ttl_ms)
			reason = "ttl";
		else if (sb->idle_ttl_ms && sb->busy == 0 && now - sb->last_used >= sb->idle_ttl_ms)
			reason = "idle";
		if (!reason)
			continue;
		sb->state = SB_DESTROYING;
		due[n] = sb;
		why[n++] = reason;
	}
	for (int s = 0; s < 6; s++)
		metrics_gauge_set(d->metrics, "agentvm_sandboxes", sandbox_state_name(s),
				  counts[s]);
	metrics_gauge_set(d->metrics, "agentvm_requests_in_flight", NULL, d->nops);
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < n; i++) {
		struct json_object *ex = json_object_new_object();
		json_object_object_add(ex, "reason", json_object_new_string(why[i]));
		audit_event(d->audit, "sandbox.expire", due[i]->name, -1, 0, ex);
		json_object_put(ex);
		log_info("sandbox %s: %s expired", due[i]->name,
			 why[i][0] == 't' ? "its lifetime" : "its idle time");
		sandbox_run_job(d, due[i], sandbox_destroy_main, why[i]);
	}
}

static struct json_object *sandbox_limits_json(const struct backend_limits *l)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "mem_bytes", json_object_new_int64((int64_t)l->mem_bytes));
	json_object_object_add(o, "cpus", json_object_new_double(l->cpu_millis / 1000.0));
	json_object_object_add(o, "pids", json_object_new_int64((int64_t)l->pids_max));
	json_object_object_add(o, "disk_bytes", json_object_new_int64((int64_t)l->disk_bytes));
	return o;
}

static void sandbox_rfc3339(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%.20s.%03dZ", base, (int)(ms % 1000));
}

struct json_object *sandbox_describe_locked(struct daemon *d, struct sandbox *sb, bool stats)
{
	struct json_object *o = json_object_new_object();
	char ts[48];

	(void)d;
	json_object_object_add(o, "name", json_object_new_string(sb->name));
	json_object_object_add(o, "template", json_object_new_string(sb->template_name));
	json_object_object_add(o, "backend", json_object_new_string(sb->ops ? sb->ops->name : ""));
	json_object_object_add(o, "instance", json_object_new_string(sb->backend_name));
	json_object_object_add(o, "state", json_object_new_string(sandbox_state_name(sb->state)));
	json_object_object_add(o, "pid", json_object_new_int(sb->pid));
	json_object_object_add(o, "owner_uid", json_object_new_int64(sb->owner_uid));
	json_object_object_add(o, "limits", sandbox_limits_json(&sb->limits));
	sandbox_rfc3339(sb->created_ms, ts, sizeof(ts));
	json_object_object_add(o, "created", json_object_new_string(ts));
	json_object_object_add(o, "created_ms", json_object_new_int64(sb->created_ms));
	json_object_object_add(o, "ttl", json_object_new_double(sb->ttl_ms / 1000.0));
	json_object_object_add(o, "idle_ttl", json_object_new_double(sb->idle_ttl_ms / 1000.0));
	json_object_object_add(o, "idle",
			       json_object_new_double((daemon_now_ms() - sb->last_used) / 1000.0));
	json_object_object_add(o, "busy", json_object_new_int(sb->busy));
	json_object_object_add(o, "execs", json_object_new_int64(sb->execs));
	json_object_object_add(o, "resets", json_object_new_int64(sb->resets));
	if (sb->metadata)
		json_object_object_add(o, "metadata", json_tokener_parse(sb->metadata));
	if (sb->error[0])
		json_object_object_add(o, "error", json_object_new_string(sb->error));
	json_object_object_add(o, "guest",
			       json_object_new_string(sb->test_guest ? "test" : "agent"));
	if (sb->bsb) {
		const char *gs = backend_sandbox_guest_socket(sb->bsb);
		json_object_object_add(
			o, "origin",
			json_object_new_string(backend_sandbox_origin(sb->bsb) == BACKEND_RESTORED
						       ? "snapshot"
						       : "boot"));
		if (gs)
			json_object_object_add(o, "guest_socket", json_object_new_string(gs));
	}
	if (stats && sb->bsb) {
		struct cgroup_stats cs;
		struct json_object *s = json_object_new_object();
		cgroup_stats_by_name(sb->backend_name, &cs);
		json_object_object_add(s, "mem_bytes", json_object_new_int64(cs.mem_bytes));
		json_object_object_add(s, "mem_max", json_object_new_int64(cs.mem_max));
		json_object_object_add(s, "cpu_usec", json_object_new_int64(cs.cpu_usec));
		json_object_object_add(s, "pids", json_object_new_int64(cs.pids));
		json_object_object_add(s, "oom_kills", json_object_new_int64(cs.oom_kills));
		json_object_object_add(o, "stats", s);
	}
	return o;
}
