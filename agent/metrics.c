/* metrics.c — the Prometheus registry: families (counter, gauge, histogram) with labelled
 * series, hash-indexed and guarded by one mutex, rendered as text format 0.0.4. The rendered
 * text is cached and re-rendered only when a generation counter says something changed. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "metrics_int.h"

/* Heal durations: seconds, from a quick renice to a slow rebuild. */
static const double duration_bounds[] = {0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300};
#define N_DURATION_BOUNDS (sizeof duration_bounds / sizeof duration_bounds[0])

/* ---- small helpers ------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        /* The length goes in too, so ("ab","c") and ("a","bc") differ. */
        size_t len = strlen(values[i]);
        h = fnv1a(h, values[i], len);
        h = fnv1a(h, (const char *)&len, sizeof len);
    }
    return h;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra)
{
    if (b->oom)
        return;
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
    b->p[b->len] = '\0';
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. The text
 * parser of Prometheus rejects label values that are not UTF-8, so those bytes are replaced. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Escapes for the exposition format: label values escape \ " and newline; HELP escapes \
 * and newline only. Invalid UTF-8 becomes U+FFFD. */
static void sb_escape(sbuf *b, const char *s, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c == '\\') { sb_put(b, "\\\\", 2); i++; continue; }
        if (c == '\n') { sb_put(b, "\\n", 2); i++; continue; }
        if (c == '"' && quote) { sb_put(b, "\\\"", 2); i++; continue; }
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0) {
            sb_put(b, "\xEF\xBF\xBD", 3);
            i++;
            continue;
        }
        sb_put(b, s + i, l);
        i += l;
    }
}

/* Numbers as the Go parser reads them: NaN, +Inf, -Inf, integers without exponent, and the
 * shortest %g that reads back to the same double. */
static size_t fmt_double(char *buf, size_t cap, double v)
{
    int n;
    if (isnan(v))
        n = snprintf(buf, cap, "NaN");
    else if (isinf(v))
        n = snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        n = snprintf(buf, cap, "%.0f", v);
    else {
        n = snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v)
            n = snprintf(buf, cap, "%.17g", v);
        /* A locale with a decimal comma would make the text unparsable. */
        for (char *p = buf; *p; p++)
            if (*p == ',')
                *p = '.';
    }
    return n < 0 ? 0 : (size_t)n;
}



static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]*) narrowed to what `promtool check metrics`
 * lints clean: lower snake_case, no colon (reserved for recording rules). */
static int valid_metric_name(const char *s)
{
    if (!s || !*s || strlen(s) > MAX_NAME_LEN)
        return 0;
    if (!(( *s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, names starting with __ are Prometheus' own, "le" and "quantile"
 * belong to histograms and summaries; lower case only so the linter finds no camelCase. */
static int valid_label_name(const char *s)
{
    if (!valid_metric_name(s))
        return 0;
    if (strncmp(s, "__", 2) == 0 || strcmp(s, "le") == 0 || strcmp(s, "quantile") == 0)
        return 0;
    return 1;
}

static const char *kind_name(fam_kind k)
{
    switch (k) {
    case K_COUNTER: return "counter";
    case K_GAUGE: return "gauge";
    default: return "histogram";
    }
}

static void refuse(metrics *m, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Called with m->mu held. Logs the first few refusals only: a plugin that gets its metric
 * wrong usually does so on every cycle. */
static void refuse(metrics *m, const char *name, const char *fmt, ...)
{
    if (m->refusals >= MAX_REFUSAL_LOGS)
        return;
    m->refusals++;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("metrics", "metric \"%s\" refused: %s%s", name ? name : "(null)", msg,
             m->refusals == MAX_REFUSAL_LOGS ? " (further refusals are not logged)" : "");
}

/* ---- families and series --------------------------------------------------------------- */

static void series_free(series *s, size_t nlabels)
{
    if (!s)
        return;
    if (s->values)
        for (size_t i = 0; i < nlabels; i++)
            free(s->values[i]);
    free(s->values);
    free(s->line);
    free(s->sum_line);
    free(s->count_line);
    free(s->buckets);
    free(s);
}

void family_clear(family *f)
{
    series *s = f->head;
    while (s) {
        series *n = s->next;
        series_free(s, f->nlabels);
        s = n;
    }
    memset(f->tab, 0, f->tab_cap * sizeof *f->tab);
    f->head = f->tail = NULL;
    f->nseries = 0;
}

static void family_free(family *f)
{
    if (!f)
        return;
    family_clear(f);
    free(f->tab);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    if (f->le)
        for (size_t i = 0; i <= f->nbounds; i++)
            free(f->le[i]);
    free(f->le);
    free(f->le_len);
    free(f->header);
    free(f->key);
    free(f->name);
    free(f->help);
    free(f);
}

static family *family_find(metrics *m, const char *key)
{
    uint64_t h = fnv1a(1469598103934665603ULL, key, strlen(key));
    for (family *f = m->tab[h & (m->tab_cap - 1)]; f; f = f->hnext)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static int families_grow(metrics *m)
{
    size_t cap = m->tab_cap * 2;
    family **tab = calloc(cap, sizeof *tab);
    if (!tab)
        return HEALER_E_NOMEM;
    for (family *f = m->head; f; f = f->next) {
        uint64_t h = fnv1a(1469598103934665603ULL, f->key, strlen(f->key));
        f->hnext = tab[h & (cap - 1)];
        tab[h & (cap - 1)] = f;
    }
    free(m->tab);
    m->tab = tab;
    m->tab_cap = cap;
    return HEALER_OK;
}

/* Called with m->mu held (or before m is shared). */
static family *family_add(metrics *m, const char *key, const char *help, fam_kind kind,
                          const char *const *label_names, size_t nlabels, int reserved)
{
    if (m->nfamilies >= MAX_FAMILIES)
        return NULL;
    if ((m->nfamilies + 1) * 2 > m->tab_cap && families_grow(m) < 0)
        return NULL;
    family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    f->reserved = reserved;
    f->key = strdup(key);
    sbuf nb = {0};
    if (m->ns[0]) {
        sb_puts(&nb, m->ns);
        sb_puts(&nb, "_");
    }
    sb_puts(&nb, key);
    if (kind == K_COUNTER)
        sb_puts(&nb, "_total");
    f->name = nb.p;
    sbuf hb = {0};
    char helpbuf[MAX_HELP_LEN + 1];
    snprintf(helpbuf, sizeof helpbuf, "%s", help && *help ? help : key);
    sb_escape(&hb, helpbuf, 0);
    f->help = hb.p;
    f->tab_cap = 16;
    f->tab = calloc(f->tab_cap, sizeof *f->tab);
    f->nlabels = nlabels;
    f->label_names = nlabels ? calloc(nlabels, sizeof *f->label_names) : NULL;
    int ok = f->key && f->name && !nb.oom && f->help && !hb.oom && f->tab &&
             (nlabels == 0 || f->label_names);
    for (size_t i = 0; ok && i < nlabels; i++)
        ok = (f->label_names[i] = strdup(label_names[i])) != NULL;
    if (ok) {
        sbuf hd = {0};
        sb_puts(&hd, "# HELP ");
        sb_puts(&hd, f->name);
        sb_puts(&hd, " ");
        sb_puts(&hd, f->help);
        sb_puts(&hd, "\n# TYPE ");
        sb_puts(&hd, f->name);
        sb_puts(&hd, " ");
        sb_puts(&hd, kind_name(kind));
        sb_puts(&hd, "\n");
        f->header = hd.p;
        f->header_len = hd.len;
        ok = f->header && !hd.oom;
    }
    if (ok && kind == K_HISTOGRAM) {
        f->bounds = duration_bounds;
        f->nbounds = N_DURATION_BOUNDS;
        f->le = calloc(f->nbounds + 1, sizeof *f->le);
        f->le_len = calloc(f->nbounds + 1, sizeof *f->le_len);
        ok = f->le && f->le_len;
        for (size_t i = 0; ok && i <= f->nbounds; i++) {
            char num[40];
            if (i < f->nbounds)
                fmt_double(num, sizeof num, f->bounds[i]);
            else
                snprintf(num, sizeof num, "+Inf");
            sbuf lb = {0};
            sb_puts(&lb, "le=\"");
            sb_puts(&lb, num);
            sb_puts(&lb, "\"} ");
            f->le[i] = lb.p;
            f->le_len[i] = lb.len;
            ok = lb.p && !lb.oom;
        }
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }
    uint64_t h = fnv1a(1469598103934665603ULL, key, strlen(key));
    f->hnext = m->tab[h & (m->tab_cap - 1)];
    m->tab[h & (m->tab_cap - 1)] = f;
    if (m->tail)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    m->nfamilies++;
    m->gen++;
    return f;
}

static int series_grow(family *f)
{
    size_t cap = f->tab_cap * 2;
    series **tab = calloc(cap, sizeof *tab);
    if (!tab)
        return HEALER_E_NOMEM;
    for (series *s = f->head; s; s = s->next) {
        s->hnext = tab[s->hash & (cap - 1)];
        tab[s->hash & (cap - 1)] = s;
    }
    free(f->tab);
    f->tab = tab;
    f->tab_cap = cap;
    return HEALER_OK;
}

/* Builds `name suffix{labels} ` (no braces without labels) or, for a bucket, leaves the
 * braces open for the le label: `name_bucket{labels,`. 1 on success. */
static int line_start(char **out, size_t *len, const char *name, const char *suffix,
                      const char *labels, int bucket)
{
    sbuf b = {0};
    sb_puts(&b, name);
    sb_puts(&b, suffix);
    if (bucket) {
        sb_puts(&b, "{");
        if (*labels) {
            sb_puts(&b, labels);
            sb_puts(&b, ",");
        }
    } else if (*labels) {
        sb_puts(&b, "{");
        sb_puts(&b, labels);
        sb_puts(&b, "} ");
    } else {
        sb_puts(&b, " ");
    }
    if (b.oom || !b.p) {
        free(b.p);
        return 0;
    }
    *out = b.p;
    *len = b.len;
    return 1;
}

/* Finds or creates the series for values (one per label name, in the family's order).
 * Called with m->mu held. *rc says why on NULL. */
series *series_get(metrics *m, family *f, const char *const *values, int *rc)
{
    uint64_t h = hash_values(values, f->nlabels);
    for (series *s = f->tab[h & (f->tab_cap - 1)]; s; s = s->hnext) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        if (strlen(values[i]) > MAX_LABEL_VALUE_LEN) {
            *rc = HEALER_E_INVAL;
            refuse(m, f->name, "value of label %s longer than %d bytes", f->label_names[i],
                   MAX_LABEL_VALUE_LEN);
            return NULL;
        }
    }
    if (f->nseries >= MAX_SERIES_PER_FAMILY) {
        *rc = HEALER_E_FULL;
        refuse(m, f->name, "more than %d series", MAX_SERIES_PER_FAMILY);
        return NULL;
    }
    if ((f->nseries + 1) * 2 > f->tab_cap && series_grow(f) < 0) {
        *rc = HEALER_E_NOMEM;
        return NULL;
    }
    *rc = HEALER_E_NOMEM;
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = h;
    s->values = f->nlabels ? calloc(f->nlabels, sizeof *s->values) : NULL;
    if (f->nlabels && !s->values) {
        free(s);
        return NULL;
    }
    sbuf lb = {0};
    sb_reserve(&lb, 0);
    int ok = !lb.oom;
    for (size_t i = 0; ok && i < f->nlabels; i++) {
        ok = (s->values[i] = strdup(values[i])) != NULL;
        if (i)
            sb_puts(&lb, ",");
        sb_puts(&lb, f->label_names[i]);
        sb_puts(&lb, "=\"");
        sb_escape(&lb, values[i], 1);
        sb_puts(&lb, "\"");
    }
    if (ok && lb.oom)
        ok = 0;
    if (ok && f->kind != K_HISTOGRAM) {
        ok = line_start(&s->line, &s->line_len, f->name, "", lb.p, 0);
    } else if (ok) {
        ok = line_start(&s->line, &s->line_len, f->name, "_bucket", lb.p, 1) &&
             line_start(&s->sum_line, &s->sum_len, f->name, "_sum", lb.p, 0) &&
             line_start(&s->count_line, &s->count_len, f->name, "_count", lb.p, 0) &&
             (s->buckets = calloc(f->nbounds, sizeof *s->buckets)) != NULL;
    }
    free(lb.p);
    if (!ok) {
        series_free(s, f->nlabels);
        return NULL;
    }
    s->hnext = f->tab[h & (f->tab_cap - 1)];
    f->tab[h & (f->tab_cap - 1)] = s;
    if (f->tail)
        f->tail->next = s;
    else
        f->head = s;
    f->tail = s;
    f->nseries++;
    m->nseries++;
    m->gen++;
    *rc = HEALER_OK;
    return s;
}

/* ---- construction --------------------------------------------------------------------- */

metrics *metrics_new(const char *ns)
{
    if (!ns)
        ns = "";
    if (*ns && !valid_metric_name(ns)) {
        log_error("metrics", "namespace \"%s\" is not a valid metric name prefix "
                  "(lower case letters, digits and _, not starting with a digit)", ns);
        return NULL;
    }
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->ns = strdup(ns);
    m->tab_cap = 32;
    m->tab = calloc(m->tab_cap, sizeof *m->tab);
    if (!m->ns || !m->tab) {
        metrics_free(m);
        return NULL;
    }
    static const char *const l_type_sev[] = {"issue_type", "severity"};
    static const char *const l_type_action[] = {"issue_type", "action"};
    static const char *const l_type[] = {"issue_type"};
    static const char *const l_type_reason[] = {"issue_type", "reason"};
    static const char *const l_plugin[] = {"plugin", "version"};
    m->f_detected = family_add(m, "healing_issues_detected",
                               "Issues detected, by issue type and severity.", K_COUNTER,
                               l_type_sev, 2, 1);
    m->f_attempts = family_add(m, "healing_attempts",
                               "Healing actions attempted, by issue type and action.", K_COUNTER,
                               l_type_action, 2, 1);
    m->f_successes = family_add(m, "healing_successes",
                                "Healing actions that healed the issue, by issue type and action.",
                                K_COUNTER, l_type_action, 2, 1);
    m->f_duration = family_add(m, "healing_duration_seconds",
                               "Time from the start of a heal to its verdict, in seconds.",
                               K_HISTOGRAM, l_type, 1, 1);
    m->f_confidence = family_add(m, "healing_confidence",
                                 "Confidence (0 to 1) of the best known action for the issue type.",
                                 K_GAUGE, l_type, 1, 1);
    m->f_suppressed = family_add(m, "healing_suppressed",
                                 "Heals the governor refused or deferred, by issue type and reason.",
                                 K_COUNTER, l_type_reason, 2, 1);
    m->f_health = family_add(m, "system_health",
                             "Overall system health score, 0 to 100 (100 is healthy).", K_GAUGE,
                             NULL, 0, 1);
    m->f_plugin_info = family_add(m, "plugin_info", "Loaded plugins; the value is always 1.",
                                  K_GAUGE, l_plugin, 2, 1);
    if (!m->f_detected || !m->f_attempts || !m->f_successes || !m->f_duration ||
        !m->f_confidence || !m->f_suppressed || !m->f_health || !m->f_plugin_info) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    family *f = m->head;
    while (f) {
        family *n = f->next;
        family_free(f);
        f = n;
    }
    free(m->tab);
    free(m->ns);
    free(m->cache);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const char *nz(const char *s) { return s ? s : ""; }

/* ---- the generic API ------------------------------------------------------------------ */

static int generic_update(metrics *m, fam_kind kind, const char *name, const char *help,
                          const healer_kv *labels, size_t n, double v)
{
    if (!m)
        return HEALER_E_INVAL;
    int rc = HEALER_E_INVAL;
    pthread_mutex_lock(&m->mu);
    /* The key is the name without _total, so "x" and "x_total" are one counter and a gauge
     * "x" after a counter "x" is a kind mismatch rather than a second family. */
    char key[MAX_NAME_LEN + 1];
    if (!valid_metric_name(name)) {
        refuse(m, name, "not a valid metric name (lower snake_case: [a-z_][a-z0-9_]*, "
               "at most %d characters)", MAX_NAME_LEN);
        goto out;
    }
    memcpy(key, name, strlen(name) + 1); /* valid: at most MAX_NAME_LEN bytes (no snprintf
                                           * per update: the engine makes several per heal) */
    if (kind == K_COUNTER && ends_with(key, "_total"))
        key[strlen(key) - 6] = '\0';
    if (!*key) {
        refuse(m, name, "empty name");
        goto out;
    }
    if (kind == K_GAUGE && ends_with(key, "_total")) {
        refuse(m, name, "a gauge must not end in _total (that suffix is for counters)");
        goto out;
    }
    if (ends_with(key, "_count") || ends_with(key, "_sum") || ends_with(key, "_bucket")) {
        refuse(m, name, "the suffixes _count, _sum and _bucket belong to histograms");
        goto out;
    }
    if (ends_with(key, kind == K_COUNTER ? "_counter" : "_gauge") ||
        strstr(key, kind == K_COUNTER ? "_counter_" : "_gauge_")) {
        refuse(m, name, "the name must not contain its type");
        goto out;
    }
    if (n > MAX_LABELS || (n && !labels)) {
        refuse(m, name, "at most %d labels", MAX_LABELS);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!valid_label_name(labels[i].key)) {
            refuse(m, name, "label name \"%s\" is invalid (lower snake_case, not le, quantile "
                   "or __*)", nz(labels[i].key));
            goto out;
        }
        if (!labels[i].value) {
            refuse(m, name, "label %s has no value", labels[i].key);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i].key, labels[j].key) == 0) {
                refuse(m, name, "label %s given twice", labels[i].key);
                goto out;
            }
    }
    if (kind == K_COUNTER && (isnan(v) || v < 0 || isinf(v))) {
        refuse(m, name, "a counter only grows: cannot add %g", v);
        goto out;
    }
    family *f = family_find(m, key);
    if (f) {
        if (f->reserved) {
            refuse(m, name, "%s is one of the agent's own metrics", f->name);
            goto out;
        }
        if (f->kind != kind) {
            refuse(m, name, "already registered as a %s, not a %s", kind_name(f->kind),
                   kind_name(kind));
            goto out;
        }
        if (f->nlabels != n) {
            refuse(m, name, "registered with %zu labels, used with %zu", f->nlabels, n);
            goto out;
        }
    } else {
        const char *names[MAX_LABELS];
        for (size_t i = 0; i < n; i++)
            names[i] = labels[i].key;
        f = family_add(m, key, help, kind, names, n, 0);
        if (!f) {
            rc = m->nfamilies >= MAX_FAMILIES ? HEALER_E_FULL : HEALER_E_NOMEM;
            refuse(m, name, rc == HEALER_E_FULL ? "too many metric families" : "out of memory");
            goto out;
        }
    }
    /* Labels may come in any order: put the values in the family's order. */
    const char *vals[MAX_LABELS];
    for (size_t i = 0; i < f->nlabels; i++) {
        vals[i] = NULL;
        for (size_t j = 0; j < n; j++)
            if (strcmp(f->label_names[i], labels[j].key) == 0)
                vals[i] = labels[j].value;
        if (!vals[i]) {
            refuse(m, name, "registered with label %s, which is missing", f->label_names[i]);
            goto out;
        }
    }
    series *s = series_get(m, f, vals, &rc);
    if (!s)
        goto out;
    if (kind == K_COUNTER) {
        if (v != 0) {
            s->value += v;
            m->gen++;
        }
    } else if (memcmp(&s->value, &v, sizeof v) != 0) {
        s->value = v;
        m->gen++;
    }
    rc = HEALER_OK;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int metrics_counter_add(metrics *m, const char *name, const char *help,
                        const healer_kv *labels, size_t n, double v)
{
    return generic_update(m, K_COUNTER, name, help, labels, n, v);
}

int metrics_gauge_set(metrics *m, const char *name, const char *help,
                      const healer_kv *labels, size_t n, double v)
{
    return generic_update(m, K_GAUGE, name, help, labels, n, v);
}

/* ---- rendering ------------------------------------------------------------------------ */

/* Integers (counts, most counter values) without snprintf: the bulk of a render. */
static void sb_u64(sbuf *b, uint64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_put(b, p, (size_t)(buf + sizeof buf - p));
}

static void sb_value(sbuf *b, double v)
{
    if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v && !signbit(v)) {
        sb_u64(b, (uint64_t)v);
        return;
    }
    char buf[40];
    size_t n = fmt_double(buf, sizeof buf, v);
    sb_put(b, buf, n);
}

static void render_all(metrics *m, sbuf *b)
{
    for (family *f = m->head; f; f = f->next) {
        sb_put(b, f->header, f->header_len);
        for (series *s = f->head; s; s = s->next) {
            if (f->kind != K_HISTOGRAM) {
                sb_put(b, s->line, s->line_len);
                sb_value(b, s->value);
                sb_put(b, "\n", 1);
                continue;
            }
            uint64_t cum = 0;
            for (size_t i = 0; i <= f->nbounds; i++) {
                cum = i < f->nbounds ? cum + s->buckets[i] : s->count;
                sb_put(b, s->line, s->line_len);
                sb_put(b, f->le[i], f->le_len[i]);
                sb_u64(b, cum);
                sb_put(b, "\n", 1);
            }
            sb_put(b, s->sum_line, s->sum_len);
            sb_value(b, s->sum);
            sb_put(b, "\n", 1);
            sb_put(b, s->count_line, s->count_len);
            sb_u64(b, s->count);
            sb_put(b, "\n", 1);
        }
    }
}

size_t metrics_render(metrics *m, char **out)
{
    if (!out)
        return 0;
    *out = NULL;
    if (!m)
        return 0;
    size_t len = 0;
    pthread_mutex_lock(&m->mu);
    if (!m->cache || m->cache_gen != m->gen) {
        /* Render into a buffer of the last size so the common case allocates once. */
        sbuf b = {0};
        sb_reserve(&b, m->cache_cap ? m->cache_cap - 1 : 0);
        render_all(m, &b);
        if (!b.oom) {
            free(m->cache);
            m->cache = b.p;
            m->cache_len = b.len;
            m->cache_cap = b.cap;
            m->cache_gen = m->gen;
        } else {
            free(b.p);
        }
    }
    if (m->cache && m->cache_gen == m->gen) {
        char *p = malloc(m->cache_len + 1);
        if (p) {
            memcpy(p, m->cache, m->cache_len + 1);
            *out = p;
            len = m->cache_len;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return len;
}

size_t metrics_series_count(metrics *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    size_t n = m->nseries;
    pthread_mutex_unlock(&m->mu);
    return n;
}
