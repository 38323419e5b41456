/* The warm pool; see pool.h. */
#include "host/pool.h"

#include "common/log.h"
#include "host/audit.h"
#include "host/daemon_internal.h"
#include "host/metrics.h"
#include "host/state.h"
#include "host/template.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_BACKOFF_MIN_MS 1000
#define POOL_BACKOFF_MAX_MS 60000
#define POOL_MAX_TEMPLATES  64

struct pool_backoff {
	char name[STATE_NAME_MAX];
	int64_t until;
	int64_t delay;
};

static struct pool_backoff pool_backoffs[POOL_MAX_TEMPLATES];

static struct pool_backoff *pool_backoff_for(const char *name)
{
	struct pool_backoff *free_slot = NULL;

	for (int i = 0; i < POOL_MAX_TEMPLATES; i++) {
		if (!strcmp(pool_backoffs[i].name, name))
			return &pool_backoffs[i];
		if (!pool_backoffs[i].name[0] && !free_slot)
			free_slot = &pool_backoffs[i];
	}
	if (free_slot)
		snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
	return free_slot;
}

void pool_update_gauge_locked(struct daemon *d)
{
	metrics_gauge_clear(d->metrics, "agentvm_pool_ready");
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if (sb->state != SB_POOLED)
			continue;
		int n = 0;
		for (struct sandbox *o = d->sandboxes; o; o = o->next)
			if (o->state == SB_POOLED && !strcmp(o->template_name, sb->template_name))
				n++;
		metrics_gauge_set(d->metrics, "agentvm_pool_ready", sb->template_name, n);
	}
}

static bool pool_limits_equal(const struct backend_limits *a, const struct backend_limits *b)
{
	return a->mem_bytes == b->mem_bytes && a->cpu_millis == b->cpu_millis &&
	       a->pids_max == b->pids_max && a->disk_bytes == b->disk_bytes;
}

struct sandbox *pool_take_locked(struct daemon *d, const char *template_name,
				 const struct backend_limits *lim)
{
	for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next) {
		if (sb->state != SB_POOLED || strcmp(sb->template_name, template_name) ||
		    !pool_limits_equal(&sb->limits, lim))
			continue;
		sb->state = SB_CREATING;
		sb->for_pool = false;
		sandbox_ref_locked(sb);
		pool_update_gauge_locked(d);
		/* The refill waits for pool_kick() from the caller, once the
		 * hand-off is done: starting a replacement meanwhile would take
		 * the CPU the hand-off needs. */
		d->pool_kicked = true;
		return sb;
	}
	return NULL;
}

void pool_kick(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->pool_kicked = true;
	pthread_cond_signal(&d->pool_cond);
	pthread_mutex_unlock(&d->lock);
}

/* Destroy one pooled sandbox that no longer fits its template; true if one was. */
static bool pool_trim(struct daemon *d, const struct state_template *tl, size_t n)
{
	struct sandbox *victim = NULL;

	pthread_mutex_lock(&d->lock);
	for (struct sandbox *sb = d->sandboxes; sb && !victim; sb = sb->next) {
		if (sb->state != SB_POOLED)
			continue;
		const struct state_template *t = NULL;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(tl[i].name, sb->template_name))
				t = &tl[i];
		struct backend_limits lim;
		if (t)
			template_limits(d, t, &lim);
		int ready = 0;
		for (struct sandbox *o = d->sandboxes; o; o = o->next)
			if ((o->state == SB_POOLED || (o->state == SB_CREATING && o->for_pool)) &&
			    !strcmp(o->template_name, sb->template_name))
				ready++;
		if (!t || sb->template_gen != t->created_ms ||
		    !pool_limits_equal(&lim, &sb->limits) || ready > t->pool_size)
			victim = sb;
	}
	if (victim) {
		victim->state = SB_DESTROYING;
		sandbox_ref_locked(victim);
		pool_update_gauge_locked(d);
	}
	pthread_mutex_unlock(&d->lock);
	if (!victim)
		return false;
	sandbox_destroy(d, victim, "pool", NULL);
	pthread_mutex_lock(&d->lock);
	sandbox_unref_locked(d, victim);
	pthread_mutex_unlock(&d->lock);
	return true;
}

/* Start one sandbox for template t's pool. */
static void pool_fill_one(struct daemon *d, const struct state_template *tin)
{
	struct state_template t;
	struct backend_limits lim;
	char name[BACKEND_NAME_MAX + 1], msg[512];
	const struct backend_ops *ops = NULL;
	struct backend_sandbox *bsb = NULL;
	struct sandbox *sb;
	struct pool_backoff *bo = pool_backoff_for(tin->name);
	int r;

	r = template_resolve(d, tin->name, &t, msg, sizeof(msg));
	if (r < 0) {
		log_warn("pool %s: %s", tin->name, msg);
		goto fail_nosb;
	}
	template_limits(d, &t, &lim);
	sandbox_fresh_name("pool", name, sizeof(name));
	pthread_mutex_lock(&d->lock);
	sb = sandbox_add_locked(d, name, name);
	if (!sb) {
		pthread_mutex_unlock(&d->lock);
		goto fail_nosb;
	}
	sb->for_pool = true;
	sb->owner_uid = -1;
	sb->limits = lim;
	sb->template_gen = t.created_ms;
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", t.name);
	pthread_mutex_unlock(&d->lock);
	sandbox_store(d, sb);

	int64_t t0 = daemon_now_ns();
	bool paused = false;
	r = sandbox_start_instance(d, name, &t, NULL, &lim, true, &ops, &bsb, &paused, msg,
				   sizeof(msg));
	pthread_mutex_lock(&d->lock);
	if (r < 0) {
		sb->state = SB_DESTROYING;
		pthread_mutex_unlock(&d->lock);
		log_warn("pool %s: %s", t.name, msg);
		metrics_count(d->metrics, "agentvm_sandbox_failures_total", NULL, 1);
		sandbox_destroy(d, sb, "failed", NULL);
		pthread_mutex_lock(&d->lock);
		sandbox_unref_locked(d, sb);
		pthread_mutex_unlock(&d->lock);
		goto fail_nosb;
	}
	sb->ops = ops;
	sb->bsb = bsb;
	sb->pid = backend_sandbox_pid(bsb);
	sb->paused = paused;
	sb->test_guest = !strcmp(t.guest, "test");
	sb->state = SB_POOLED;
	sandbox_watch_locked(d, sb);
	pool_update_gauge_locked(d);
	pthread_mutex_unlock(&d->lock);
	sandbox_store(d, sb);
	log_debug("pool %s: %s %s in %.1f ms", t.name, name, paused ? "restored, paused" : "ready",
		  (daemon_now_ns() - t0) / 1e6);
	pthread_mutex_lock(&d->lock);
	sandbox_unref_locked(d, sb);
	pthread_mutex_unlock(&d->lock);
	if (bo)
		bo->delay = 0;
	return;
fail_nosb:
	if (bo) {
		bo->delay = bo->delay ? bo->delay * 2 : POOL_BACKOFF_MIN_MS;
		if (bo->delay > POOL_BACKOFF_MAX_MS)
			bo->delay = POOL_BACKOFF_MAX_MS;
		bo->until = daemon_now_ms() + bo->delay;
	}
}

/* One step of work; true if there may be more right away. */
static bool pool_step(struct daemon *d)
{
	struct state_template *tl;
	size_t n;
	bool more = false;

	if (state_template_list(d->st, &tl, &n) < 0)
		return false;
	if (pool_trim(d, tl, n)) {
		free(tl);
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		struct state_template *t = &tl[i];
		struct pool_backoff *bo = pool_backoff_for(t->name);
		int have = 0;

		if (t->pool_size <= 0 || (bo && bo->until > daemon_now_ms()))
			continue;
		pthread_mutex_lock(&d->lock);
		for (struct sandbox *sb = d->sandboxes; sb; sb = sb->next)
			if ((sb->state == SB_POOLED ||
			     (sb->state == SB_CREATING && sb->for_pool)) &&
			    !strcmp(sb->template_name, t->name))
				have++;
		bool stopping = d->stopping;
		pthread_mutex_unlock(&d->lock);
		if (stopping)
			break;
		if (have >= t->pool_size)
			continue;
		pool_fill_one(d, t);
		more = true;
		break;
	}
	free(tl);
	return more;
}

static void *pool_main(void *arg)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		d->pool_kicked = false;
		pthread_mutex_unlock(&d->lock);
		bool more = pool_step(d);
		pthread_mutex_lock(&d->lock);
		if (!more && !d->pool_kicked && !d->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&d->pool_cond, &d->lock, &ts);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int pool_start(struct daemon *d)
{
	pthread_cond_init(&d->pool_cond, NULL);
	int r = pthread_create(&d->pool_thread, NULL, pool_main, d);
	if (r != 0) {
		log_err("cannot start the pool thread: %s", strerror(r));
		return -r;
	}
	d->pool_running = true;
	return 0;
}

void pool_stop(struct daemon *d)
{
	if (!d->pool_running)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->pool_cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->pool_thread, NULL);
	d->pool_running = false;
	pthread_cond_destroy(&d->pool_cond);
}
