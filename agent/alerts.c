/* alerts.c — Alertmanager webhook payloads (version "4") into issue operations: the mapping of
 * fleet.alerts, the fingerprints that make a re-send a refresh and let several alerts share one
 * issue, and the bounds and sanitizing every outside string gets. The engine side is
 * engine_alerts.c; the route is in http.c and agent_http.c. */
#include "alerts.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healer/types.h"
#include "sanitize.h"
#include "table.h"

typedef struct fp_entry {
    char *key;          /* type \0 target: the issue it keeps open */
    size_t klen;
    double last_seen;
} fp_entry;

struct alerts {
    pthread_mutex_t mu;
    fleet_alert_map *map;
    size_t n_map;
    double stale;
    strmap *fps;        /* fingerprint -> fp_entry */
    strmap *keys;       /* type \0 target -> size_t * (fingerprints firing for it) */
};

static void map_clear(fleet_alert_map *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].alertname);
        free(m[i].type);
        free(m[i].target_label);
        for (size_t k = 0; k < m[i].n_measurements; k++)
            free(m[i].measurements[k]);
        free(m[i].measurements);
    }
    free(m);
}

alerts *alerts_new(void)
{
    alerts *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->fps = strmap_new();
    a->keys = strmap_new();
    a->stale = 43200;
    if (!a->fps || !a->keys || pthread_mutex_init(&a->mu, NULL) != 0) {
        strmap_free(a->fps);
        strmap_free(a->keys);
        free(a);
        return NULL;
    }
    return a;
}

void alerts_free(alerts *a)
{
    if (!a)
        return;
    size_t i = 0;
    void *v;
    while (strmap_next(a->fps, &i, NULL, NULL, &v)) {
        fp_entry *f = v;
        free(f->key);
        free(f);
    }
    i = 0;
    while (strmap_next(a->keys, &i, NULL, NULL, &v))
        free(v);
    strmap_free(a->fps);
    strmap_free(a->keys);
    map_clear(a->map, a->n_map);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static char *dup_or(const char *s, int *oom)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *oom = 1;
    return d;
}

int alerts_configure(alerts *a, const fleet_alerts_conf *c)
{
    fleet_alert_map *m = calloc(c->n_map ? c->n_map : 1, sizeof *m);
    if (!m)
        return -1;
    int oom = 0;
    for (size_t i = 0; i < c->n_map; i++) {
        const fleet_alert_map *s = &c->map[i];
        m[i].alertname = dup_or(s->alertname, &oom);
        m[i].type = dup_or(s->type, &oom);
        m[i].target_label = dup_or(s->target_label, &oom);
        m[i].severity = s->severity;
        m[i].measurements = calloc(s->n_measurements ? s->n_measurements : 1, sizeof(char *));
        if (!m[i].measurements) {
            oom = 1;
            continue;
        }
        m[i].n_measurements = s->n_measurements;
        for (size_t k = 0; k < s->n_measurements; k++)
            m[i].measurements[k] = dup_or(s->measurements[k], &oom);
    }
    if (oom) {
        map_clear(m, c->n_map);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    fleet_alert_map *old = a->map;
    size_t n_old = a->n_map;
    a->map = m;
    a->n_map = c->n_map;
    a->stale = c->stale_seconds > 0 ? c->stale_seconds : 43200;
    pthread_mutex_unlock(&a->mu);
    map_clear(old, n_old);
    return 0;
}

size_t alerts_tracked(alerts *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = strmap_count(a->fps);
    pthread_mutex_unlock(&a->mu);
    return n;
}

double alerts_stale_seconds(alerts *a)
{
    pthread_mutex_lock(&a->mu);
    double s = a->stale;
    pthread_mutex_unlock(&a->mu);
    return s;
}

void alert_ops_free(alert_op *ops, size_t n)
{
    for (size_t i = 0; ops && i < n; i++) {
        free(ops[i].type);
        free(ops[i].target);
        free(ops[i].summary);
        for (size_t k = 0; k < ops[i].n_measures; k++)
            free(ops[i].names[k]);
        free(ops[i].names);
        free(ops[i].values);
    }
    free(ops);
}

/* ---- fingerprints ------------------------------------------------------------------------ */

static size_t *key_count(alerts *a, const char *key, size_t klen, int create)
{
    size_t *c = strmap_get(a->keys, key, klen);
    if (c || !create)
        return c;
    c = calloc(1, sizeof *c);
    if (c && strmap_put(a->keys, key, klen, c) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

/* Forgets fingerprint fp (its entry e); 1 when it was the last one keeping its issue open. */
static int fp_forget(alerts *a, const char *fp, size_t fplen, fp_entry *e)
{
    strmap_del(a->fps, fp, fplen);
    int last = 0;
    size_t *c = key_count(a, e->key, e->klen, 0);
    if (c && --*c == 0) {
        strmap_del(a->keys, e->key, e->klen);
        free(c);
        last = 1;
    }
    free(e->key);
    free(e);
    return last;
}

/* Alertmanager says nothing when an alert simply stops being sent (a rule deleted, the
 * Alertmanager gone): such fingerprints are forgotten after stale_seconds; the engine closes
 * their issues by the same clock. */
static void prune_stale(alerts *a, double now)
{
    enum { BATCH = 256 };
    for (;;) {
        char *gone[BATCH];
        size_t glen[BATCH], n = 0, i = 0;
        const char *k;
        size_t kl;
        void *v;
        while (n < BATCH && strmap_next(a->fps, &i, &k, &kl, &v)) {
            fp_entry *e = v;
            if (now - e->last_seen > a->stale && (gone[n] = malloc(kl))) {
                memcpy(gone[n], k, kl);
                glen[n++] = kl;
            }
        }
        for (size_t j = 0; j < n; j++) {
            fp_entry *e = strmap_get(a->fps, gone[j], glen[j]);
            if (e)
                (void)fp_forget(a, gone[j], glen[j], e);
            free(gone[j]);
        }
        if (n < BATCH)
            return;
    }
}

/* ---- one alert --------------------------------------------------------------------------- */

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An outside string as the engine may show it: sanitized (no control character, valid UTF-8),
 * at most out_n - 1 bytes. */
static void clean(const char *s, char *out, size_t out_n)
{
    size_t n = 0;
    while (n < ALERTS_VALUE_MAX && s[n])
        n++;
    sanitize_to(s, n, out, out_n, SANITIZE_SPACE_WS);
}

static int fingerprint_ok(const char *fp)
{
    size_t n = strnlen(fp, ALERTS_FP_MAX + 1);
    if (n == 0 || n > ALERTS_FP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = fp[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

/* The mapping's severity, else the alert's severity label as Prometheus rules write it. */
static int severity_of(const fleet_alert_map *m, json_t *labels)
{
    if (m->severity >= 0)
        return m->severity;
    const char *s = str_at(labels, "severity");
    if (!s)
        return HEALER_SEV_MEDIUM;
    if (strcmp(s, "critical") == 0 || strcmp(s, "page") == 0)
        return HEALER_SEV_CRITICAL;
    if (strcmp(s, "high") == 0 || strcmp(s, "error") == 0)
        return HEALER_SEV_HIGH;
    if (strcmp(s, "low") == 0 || strcmp(s, "info") == 0 || strcmp(s, "none") == 0)
        return HEALER_SEV_LOW;
    return HEALER_SEV_MEDIUM;   /* warning, medium, anything else */
}

/* A label or annotation that is a finite number written whole ("0.93", "12"). */
static int number_at(json_t *labels, json_t *ann, const char *name, double *out)
{
    const char *s = str_at(labels, name);
    if (!s)
        s = str_at(ann, name);
    if (!s || !*s || strnlen(s, 65) > 64)
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int fill_measures(alert_op *op, const fleet_alert_map *m, json_t *labels, json_t *ann)
{
    if (!m->n_measurements)
        return 0;
    op->names = calloc(m->n_measurements, sizeof *op->names);
    op->values = calloc(m->n_measurements, sizeof *op->values);
    if (!op->names || !op->values)
        return -1;
    for (size_t k = 0; k < m->n_measurements && op->n_measures < HEALER_MAX_MEASUREMENTS; k++) {
        double v;
        if (!number_at(labels, ann, m->measurements[k], &v))
            continue;   /* not there or not a number: left out, as a plugin would */
        if (!(op->names[op->n_measures] = strdup(m->measurements[k])))
            return -1;
        op->values[op->n_measures++] = v;
    }
    return 0;
}

static const fleet_alert_map *map_find(const alerts *a, const char *alertname)
{
    for (size_t i = 0; i < a->n_map; i++)
        if (strcmp(a->map[i].alertname, alertname) == 0)
            return &a->map[i];
    return NULL;
}

/* Builds the op for one mapped alert (target already cleaned). -1 out of memory. */
static int make_op(alert_op *op, const fleet_alert_map *m, int resolve, const char *target,
                   json_t *labels, json_t *ann, const char *alertname, const char *starts)
{
    memset(op, 0, sizeof *op);
    op->resolve = resolve;
    op->severity = severity_of(m, labels);
    op->type = strdup(m->type);
    op->target = strdup(target);
    const char *text = str_at(ann, "summary");
    if (!text)
        text = str_at(ann, "description");
    char t[HEALER_MSG_MAX], an[128], st[48];
    clean(alertname, an, sizeof an);
    clean(starts ? starts : "?", st, sizeof st);
    if (text) {
        char body[HEALER_MSG_MAX - 200];
        clean(text, body, sizeof body);
        snprintf(t, sizeof t, "alert %s since %s: %s", an, st, body);
    } else {
        snprintf(t, sizeof t, "alert %s since %s", an, st);
    }
    op->summary = strdup(t);
    if (!op->type || !op->target || !op->summary)
        return -1;
    return resolve ? 0 : fill_measures(op, m, labels, ann);
}

typedef struct ingest {
    alert_op *ops;
    size_t n, cap;
    alerts_summary *sum;
    double now;
} ingest;

static alert_op *next_op(ingest *in)
{
    if (in->n == in->cap) {
        size_t nc = in->cap ? in->cap * 2 : 16;
        alert_op *v = realloc(in->ops, nc * sizeof *v);
        if (!v)
            return NULL;
        in->ops = v;
        in->cap = nc;
    }
    return &in->ops[in->n];
}

/* One element of "alerts". -1 only when out of memory. */
static int one_alert(alerts *a, ingest *in, json_t *al)
{
    json_t *labels = json_object_get(al, "labels"), *ann = json_object_get(al, "annotations");
    const char *status = str_at(al, "status"), *fp = str_at(al, "fingerprint");
    const char *alertname = str_at(labels, "alertname");
    if (!json_is_object(al) || !json_is_object(labels) || (ann && !json_is_object(ann)) ||
        !status || (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0) ||
        !alertname) {
        in->sum->invalid++;
        return 0;
    }
    const fleet_alert_map *m = map_find(a, alertname);
    if (!m) {
        in->sum->ignored++;
        return 0;
    }
    const char *raw_target = str_at(labels, m->target_label);
    if (!fp || !fingerprint_ok(fp) || !raw_target || !*raw_target) {
        in->sum->invalid++;
        return 0;
    }
    char target[HEALER_TARGET_MAX];
    clean(raw_target, target, sizeof target);
    int resolve = strcmp(status, "resolved") == 0;
    size_t fplen = strlen(fp);
    fp_entry *e = strmap_get(a->fps, fp, fplen);
    /* the key as the engine makes it: type \0 target */
    size_t tl = strlen(m->type), gl = strlen(target), klen = tl + 1 + gl;
    if (resolve) {
        int last;
        if (e)
            last = fp_forget(a, fp, fplen, e);
        else {
            /* unknown (the agent restarted, or it went stale): resolve unless another alert
             * still keeps that issue open */
            char key[HEALER_NAME_MAX + 1 + HEALER_TARGET_MAX];
            memcpy(key, m->type, tl + 1);
            memcpy(key + tl + 1, target, gl);
            last = key_count(a, key, klen, 0) == NULL;
        }
        in->sum->resolved++;
        if (!last)
            return 0;   /* another firing alert keeps the issue */
    } else if (!e) {
        if (strmap_count(a->fps) >= ALERTS_TRACK_MAX) {
            in->sum->dropped++;
            return 0;
        }
        e = calloc(1, sizeof *e);
        char *key = malloc(klen);
        size_t *c = NULL;
        if (e && key) {
            memcpy(key, m->type, tl + 1);
            memcpy(key + tl + 1, target, gl);
            c = key_count(a, key, klen, 1);
        }
        if (!c || strmap_put(a->fps, fp, fplen, e) < 0) {
            free(key);
            free(e);
            return -1;
        }
        e->key = key;
        e->klen = klen;
        ++*c;
        e->last_seen = in->now;
        in->sum->accepted++;
    } else {
        e->last_seen = in->now;   /* a re-send: the same issue, refreshed */
        in->sum->accepted++;
    }
    alert_op *op = next_op(in);
    if (!op)
        return -1;
    int rc = make_op(op, m, resolve, target, labels, ann, alertname, str_at(al, "startsAt"));
    in->n++;   /* counted even when partly filled, so alert_ops_free frees it */
    return rc;
}

int alerts_ingest(alerts *a, const char *body, size_t len, double now, alert_op **ops,
                  size_t *n_ops, alerts_summary *sum, char *err, size_t errlen)
{
    *ops = NULL;
    *n_ops = 0;
    memset(sum, 0, sizeof *sum);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char why[200];
        clean(je.text, why, sizeof why);
        snprintf(err, errlen, "the body is not JSON: line %d, column %d: %s", je.line,
                 je.column, why);
        return -1;
    }
    const char *version = str_at(root, "version");
    json_t *list = json_object_get(root, "alerts");
    if (!json_is_object(root) || !version || strcmp(version, "4") != 0 || !json_is_array(list)) {
        if (!json_is_object(root))
            snprintf(err, errlen, "the body is not a JSON object (an Alertmanager webhook "
                     "payload)");
        else if (!version || strcmp(version, "4") != 0) {
            char v[40];
            clean(version ? version : "(none)", v, sizeof v);
            snprintf(err, errlen, "webhook payload version \"%s\" is not supported (only \"4\", "
                     "Alertmanager's webhook_config)", v);
        } else
            snprintf(err, errlen, "\"alerts\" must be an array");
        json_decref(root);
        return -1;
    }
    ingest in = { .sum = sum, .now = now };
    int rc = 0;
    pthread_mutex_lock(&a->mu);
    prune_stale(a, now);
    size_t i;
    json_t *al;
    json_array_foreach(list, i, al) {
        if (one_alert(a, &in, al) < 0) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&a->mu);
    json_decref(root);
    if (rc < 0) {
        alert_ops_free(in.ops, in.n);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *ops = in.ops;
    *n_ops = in.n;
    return 0;
}
