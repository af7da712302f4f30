/* metrics.h — the Prometheus registry: counters, gauges and histograms with labels, updated
 * from any thread, rendered as text format 0.0.4. Rendering reads only this memory (no /proc,
 * no database) and is cached until something changes. */
#ifndef AGENT_METRICS_H
#define AGENT_METRICS_H

#include <stddef.h>
#include "healer/host.h"

typedef struct metrics metrics;

metrics *metrics_new(const char *ns);        /* ns: "luminous_nix" */
void metrics_free(metrics *m);

/* The contract's families (names NS_healing_* etc., see CONTRACT.md). */
void metrics_issue_detected(metrics *m, const char *issue_type, const char *severity);
void metrics_attempt(metrics *m, const char *issue_type, const char *action);
void metrics_success(metrics *m, const char *issue_type, const char *action);
void metrics_duration(metrics *m, const char *issue_type, double seconds);
void metrics_confidence(metrics *m, const char *issue_type, double value);
void metrics_suppressed(metrics *m, const char *issue_type, const char *reason);
void metrics_health(metrics *m, double value);
void metrics_plugin_info(metrics *m, const char *plugin, const char *version);
void metrics_plugin_info_clear(metrics *m);  /* on reload */
/* Creates a contract counter's series at 0 (or leaves it as it is), so that rate() and
 * increase() see the first event: a series born at 1 has no increase to show. */
typedef enum metrics_counter {
    METRICS_DETECTED,      /* a: issue_type, b: severity */
    METRICS_ATTEMPTS,      /* a: issue_type, b: action */
    METRICS_SUCCESSES,     /* a: issue_type, b: action */
    METRICS_SUPPRESSED,    /* a: issue_type, b: reason */
} metrics_counter;
void metrics_declare(metrics *m, metrics_counter c, const char *a, const char *b);

/* Generic: NS_<name>. Labels are n pairs. The first use of a name fixes its kind and help;
 * a later use with another kind or other label names is refused (HEALER_E_INVAL). Names and
 * label names must match Prometheus' rules; values are escaped. */
int metrics_counter_add(metrics *m, const char *name, const char *help,
                        const healer_kv *labels, size_t n, double v);
int metrics_gauge_set(metrics *m, const char *name, const char *help,
                      const healer_kv *labels, size_t n, double v);

/* Renders the text exposition. *out is malloc'd (caller frees); returns its length. */
size_t metrics_render(metrics *m, char **out);
size_t metrics_series_count(metrics *m);

#endif
