/* Prometheus-style metrics for agentvmd; see metrics.h. */
#include "host/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_kind { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct metric_def {
	const char *name;
	enum metric_kind kind;
	const char *label; /* NULL: none */
	const char *help;
};

static const struct metric_def metric_defs[] = {
	{ "agentvm_sandboxes", M_GAUGE, "state", "Sandboxes by state." },
	{ "agentvm_pool_ready", M_GAUGE, "template", "Warm sandboxes ready, by template." },
	{ "agentvm_clients", M_GAUGE, NULL, "Connected API clients." },
	{ "agentvm_requests_in_flight", M_GAUGE, NULL, "API requests running now." },
	{ "agentvm_resets_total", M_COUNTER, NULL, "Sandbox resets." },
	{ "agentvm_sandboxes_created_total", M_COUNTER, "source",
	  "Sandboxes handed out, by source (pool or cold)." },
	{ "agentvm_sandboxes_destroyed_total", M_COUNTER, "reason",
	  "Sandboxes destroyed, by reason." },
	{ "agentvm_sandbox_failures_total", M_COUNTER, NULL,
	  "Sandboxes whose PID 1 died or that could not start." },
	{ "agentvm_quota_hits_total", M_COUNTER, "kind",
	  "Requests refused by a ceiling or quota, by kind." },
	{ "agentvm_execs_total", M_COUNTER, "outcome", "Commands run, by outcome." },
	{ "agentvm_api_requests_total", M_COUNTER, "method", "API requests, by method." },
	{ "agentvm_api_errors_total", M_COUNTER, "error", "API error replies, by error name." },
	{ "agentvm_clients_refused_total", M_COUNTER, NULL,
	  "Connections refused (too many clients)." },
	{ "agentvm_sandbox_create_seconds", M_HISTOGRAM, "source",
	  "Time to hand out a sandbox, by source (pool or cold)." },
	{ "agentvm_sandbox_reset_seconds", M_HISTOGRAM, NULL, "Time to reset a sandbox." },
	{ "agentvm_restore_seconds", M_HISTOGRAM, "how",
	  "MicroVMs from a snapshot until the guest answers: a new VMM (restore) or the same "
	  "one in place (reset)." },
	{ "agentvm_exec_seconds", M_HISTOGRAM, NULL, "Wall time of commands run." },
};

static const double metric_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					 0.25,	0.5,	1,     2.5,  5,	    10,	  30 };
#define NBUCKETS (sizeof(metric_buckets) / sizeof(metric_buckets[0]))

struct series {
	const struct metric_def *def;
	char value[80];
	int64_t v;
	uint64_t buckets[NBUCKETS];
	uint64_t count;
	double sum;
};

struct metrics {
	pthread_mutex_t lock;
	struct series *s;
	size_t n, cap;
};

int metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->s);
	free(m);
}

static const struct metric_def *metric_def(const char *name)
{
	for (size_t i = 0; i < sizeof(metric_defs) / sizeof(metric_defs[0]); i++)
		if (strcmp(metric_defs[i].name, name) == 0)
			return &metric_defs[i];
	return NULL;
}

/* The series for def{value}; created when absent. m->lock held. */
static struct series *metric_series(struct metrics *m, const struct metric_def *def,
				    const char *value)
{
	char v[80];

	snprintf(v, sizeof(v), "%s", def->label && value ? value : "");
	for (size_t i = 0; i < m->n; i++)
		if (m->s[i].def == def && strcmp(m->s[i].value, v) == 0)
			return &m->s[i];
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;
		if (cap > 4096)
			return NULL;
		struct series *ns = realloc(m->s, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		m->s = ns;
		m->cap = cap;
	}
	struct series *s = &m->s[m->n++];
	memset(s, 0, sizeof(*s));
	s->def = def;
	memcpy(s->value, v, sizeof(v));
	return s;
}

void metrics_count(struct metrics *m, const char *name, const char *value, int64_t delta)
{
	const struct metric_def *def = metric_def(name);

	if (!m || !def || def->kind != M_COUNTER)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *s = metric_series(m, def, value);
	if (s)
		s->v += delta;
	pthread_mutex_unlock(&m->lock);
}

void metrics_gauge_set(struct metrics *m, const char *name, const char *value, int64_t v)
{
	const struct metric_def *def = metric_def(name);

	if (!m || !def || def->kind != M_GAUGE)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *s = metric_series(m, def, value);
	if (s)
		s->v = v;
	pthread_mutex_unlock(&m->lock);
}

void metrics_gauge_clear(struct metrics *m, const char *name)
{
	const struct metric_def *def = metric_def(name);

	if (!m || !def)
		return;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++)
		if (m->s[i].def == def)
			m->s[i].v = 0;
	pthread_mutex_unlock(&m->lock);
}

void metrics_observe(struct metrics *m, const char *name, const char *value, double seconds)
{
	const struct metric_def *def = metric_def(name);

	if (!m || !def || def->kind != M_HISTOGRAM)
		return;
	pthread_mutex_lock(&m->lock);
	struct series *s = metric_series(m, def, value);
	if (s) {
		for (size_t i = 0; i < NBUCKETS; i++)
			if (seconds <= metric_buckets[i])
				s->buckets[i]++;
		s->count++;
		s->sum += seconds;
	}
	pthread_mutex_unlock(&m->lock);
}

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

static void __attribute__((format(printf, 2, 3))) buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* {label="value"} with the value escaped, or "" without a label. */
static void metric_labels(char *out, size_t len, const struct series *s, const char *extra)
{
	char esc[170];
	size_t j = 0;

	for (size_t i = 0; s->value[i] && j + 2 < sizeof(esc); i++) {
		char c = s->value[i];
		if (c == '\\' || c == '"') {
			esc[j++] = '\\';
			esc[j++] = c;
		} else if (c == '\n') {
			esc[j++] = '\\';
			esc[j++] = 'n';
		} else {
			esc[j++] = c;
		}
	}
	esc[j] = '\0';
	if (s->def->label && extra)
		snprintf(out, len, "{%s=\"%s\",%s}", s->def->label, esc, extra);
	else if (s->def->label)
		snprintf(out, len, "{%s=\"%s\"}", s->def->label, esc);
	else if (extra)
		snprintf(out, len, "{%s}", extra);
	else
		out[0] = '\0';
}

char *metrics_render(struct metrics *m)
{
	static const char *const kinds[] = { "counter", "gauge", "histogram" };
	struct buf b = { 0 };
	char labels[300], le[48];

	pthread_mutex_lock(&m->lock);
	for (size_t d = 0; d < sizeof(metric_defs) / sizeof(metric_defs[0]); d++) {
		const struct metric_def *def = &metric_defs[d];
		bool any = false;
		for (size_t i = 0; i < m->n; i++) {
			const struct series *s = &m->s[i];
			if (s->def != def)
				continue;
			if (!any) {
				buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", def->name, def->help,
					   def->name, kinds[def->kind]);
				any = true;
			}
			if (def->kind != M_HISTOGRAM) {
				metric_labels(labels, sizeof(labels), s, NULL);
				buf_printf(&b, "%s%s %lld\n", def->name, labels, (long long)s->v);
				continue;
			}
			for (size_t k = 0; k < NBUCKETS; k++) {
				snprintf(le, sizeof(le), "le=\"%g\"", metric_buckets[k]);
				metric_labels(labels, sizeof(labels), s, le);
				buf_printf(&b, "%s_bucket%s %llu\n", def->name, labels,
					   (unsigned long long)s->buckets[k]);
			}
			metric_labels(labels, sizeof(labels), s, "le=\"+Inf\"");
			buf_printf(&b, "%s_bucket%s %llu\n", def->name, labels,
				   (unsigned long long)s->count);
			metric_labels(labels, sizeof(labels), s, NULL);
			buf_printf(&b, "%s_sum%s %.6f\n%s_count%s %llu\n", def->name, labels,
				   s->sum, def->name, labels, (unsigned long long)s->count);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (b.err) {
		free(b.p);
		return NULL;
	}
	if (!b.p)
		return strdup("");
	return b.p;
}
