/* agentvmd's metrics, rendered in the Prometheus text format (0.0.4).
 * Counters, gauges and histograms, each with at most one label whose key is
 * fixed per metric (metrics.c lists them). Thread-safe. */
#ifndef AGENTVM_HOST_METRICS_H
#define AGENTVM_HOST_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

int metrics_new(struct metrics **out);
void metrics_free(struct metrics *m);

/* Add delta to counter name{label=value} (value NULL: no label). Unknown
 * names are ignored. */
void metrics_count(struct metrics *m, const char *name, const char *value, int64_t delta);
/* Set gauge name{label=value}. */
void metrics_gauge_set(struct metrics *m, const char *name, const char *value, int64_t v);
/* Reset every series of gauge name to 0 (before setting the current ones). */
void metrics_gauge_clear(struct metrics *m, const char *name);
/* Record one observation (seconds) in histogram name{label=value}. */
void metrics_observe(struct metrics *m, const char *name, const char *value, double seconds);

/* The exposition text in a new buffer (free()). NULL on allocation failure. */
char *metrics_render(struct metrics *m);

#endif
