/* metrics_int.h — the registry's insides, shared by metrics.c (families, series, the generic
 * API, rendering) and metrics_contract.c (the contract's fixed families). Not for other
 * modules: they use metrics.h. */
#ifndef AGENT_METRICS_INT_H
#define AGENT_METRICS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* Limits that keep a misbehaving plugin from exhausting memory or making scrapes slow. */
#define MAX_NAME_LEN 200
#define MAX_LABELS 16
#define MAX_LABEL_VALUE_LEN 1024
#define MAX_HELP_LEN 1024
#define MAX_SERIES_PER_FAMILY 10000
#define MAX_FAMILIES 1000
#define MAX_REFUSAL_LOGS 32

typedef enum fam_kind { K_COUNTER, K_GAUGE, K_HISTOGRAM } fam_kind;

typedef struct series {
    struct series *hnext;   /* chain in the family's hash table */
    struct series *next;    /* insertion order, which is also render order */
    uint64_t hash;
    char **values;          /* one per label name of the family */
    /* Pre-rendered starts of this series' lines, so a render is mostly memcpy:
     * counter/gauge: `name{a="x"} `; histogram: `name_bucket{a="x",` (the le label and the
     * rest come from the family), `name_sum{a="x"} ` and `name_count{a="x"} `. */
    char *line;
    char *sum_line, *count_line;
    size_t line_len, sum_len, count_len;
    double value;           /* counter or gauge */
    uint64_t *buckets;      /* histogram: per-bucket (not cumulative) counts, nbounds of them */
    double sum;
    uint64_t count;
} series;

typedef struct family {
    struct family *hnext, *next;
    char *key;              /* lookup key: the caller's name without namespace or _total */
    char *name;             /* the exposed name: NS_key, plus _total for counters */
    char *help;             /* escaped for a HELP line */
    fam_kind kind;
    int reserved;           /* one of the contract's families: the generic API may not touch it */
    size_t nlabels;
    char **label_names;
    char *header;           /* "# HELP ...\n# TYPE ...\n" */
    size_t header_len;
    const double *bounds;   /* histogram only */
    size_t nbounds;
    char **le;              /* `le="0.005"} ` for each bound, then `le="+Inf"} ` */
    size_t *le_len;
    series **tab;
    size_t tab_cap, nseries;
    series *head, *tail;
} family;

struct metrics {
    pthread_mutex_t mu;
    char *ns;
    family **tab;
    size_t tab_cap, nfamilies, nseries;
    family *head, *tail;
    family *f_detected, *f_attempts, *f_successes, *f_duration, *f_confidence, *f_suppressed,
        *f_health, *f_plugin_info;
    uint64_t gen;           /* bumped on every change */
    uint64_t cache_gen;     /* the generation the cache was rendered at */
    char *cache;
    size_t cache_len, cache_cap;
    unsigned refusals;
};

/* The series of f with these label values (one per label name), made when missing; NULL with
 * *rc set when a limit refuses it. Caller holds m->mu. */
series *series_get(metrics *m, family *f, const char *const *values, int *rc);
/* Drops every series of f (the family stays). Caller holds m->mu and fixes m->nseries. */
void family_clear(family *f);

#endif
