/* logstorm.c — the log storm limiter (logstorm.h): fixed slots keyed by (kind, key), a window
 * each, counts of lines let through and held back. A slot whose window ended with nothing held
 * back is reused for a new key, so the table only fills when that many keys storm at once; then
 * the kind's overflow slot counts for them, so no line is ever lost from the counts. */
#include "logstorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key;              /* NULL: free */
    int kind;
    double start;           /* monotonic: when its window began */
    unsigned passed;        /* let through in this window */
    uint64_t held;          /* held back in this window */
} slot;

struct logstorm {
    double window;
    unsigned burst;
    size_t n;
    slot *v;
    slot other[LOGSTORM_KINDS];
    logstorm_say say;
    void *ud;
    uint64_t total_passed, total_held;
};

logstorm *logstorm_new(double window_s, unsigned burst, size_t max_keys, logstorm_say say,
                       void *ud)
{
    if (!(window_s > 0) || burst < 1 || max_keys < 1 || !say)
        return NULL;
    logstorm *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->v = calloc(max_keys, sizeof *s->v);
    if (!s->v) {
        free(s);
        return NULL;
    }
    s->window = window_s;
    s->burst = burst;
    s->n = max_keys;
    s->say = say;
    s->ud = ud;
    for (int k = 0; k < LOGSTORM_KINDS; k++)
        s->other[k].kind = k;
    return s;
}

/* Ends sl's window at now: its summary if anything was held back, then a fresh window. */
static void close_window(logstorm *s, slot *sl, double now)
{
    if (sl->held)
        s->say(s->ud, sl->kind, sl->key ? sl->key : LOGSTORM_OTHER, sl->held,
               now - sl->start < s->window ? now - sl->start : s->window);
    sl->held = 0;
    sl->passed = 0;
    sl->start = now;
}

void logstorm_free(logstorm *s)
{
    if (!s)
        return;
    logstorm_flush(s, INFINITY, 1);
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].key);
    free(s->v);
    free(s);
}

static slot *find(logstorm *s, int kind, const char *key, double now)
{
    slot *reuse = NULL, *empty = NULL;
    for (size_t i = 0; i < s->n; i++) {
        slot *sl = &s->v[i];
        if (!sl->key) {
            if (!empty)
                empty = sl;
            continue;
        }
        if (sl->kind == kind && strcmp(sl->key, key) == 0)
            return sl;
        if (!reuse && !sl->held && now >= sl->start + s->window)
            reuse = sl;
    }
    slot *sl = empty ? empty : reuse;
    if (!sl)
        return &s->other[kind];
    char *k = strdup(key);
    if (!k)
        return &s->other[kind];
    free(sl->key);
    *sl = (slot){ .key = k, .kind = kind, .start = now };
    return sl;
}

int logstorm_admit(logstorm *s, int kind, const char *key, double now)
{
    if (!s || kind < 0 || kind >= LOGSTORM_KINDS)
        return 1;
    slot *sl = find(s, kind, key ? key : "", now);
    if (now >= sl->start + s->window)
        close_window(s, sl, now);
    if (sl->passed < s->burst) {
        sl->passed++;
        s->total_passed++;
        return 1;
    }
    sl->held++;
    s->total_held++;
    return 0;
}

void logstorm_flush(logstorm *s, double now, int force)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n + LOGSTORM_KINDS; i++) {
        slot *sl = i < s->n ? &s->v[i] : &s->other[i - s->n];
        if (sl->held && (force || now >= sl->start + s->window))
            close_window(s, sl, isfinite(now) ? now : sl->start + s->window);
    }
}

double logstorm_next_due(const logstorm *s)
{
    double due = INFINITY;
    if (!s)
        return due;
    for (size_t i = 0; i < s->n + LOGSTORM_KINDS; i++) {
        const slot *sl = i < s->n ? &s->v[i] : &s->other[i - s->n];
        if (sl->held && sl->start + s->window < due)
            due = sl->start + s->window;
    }
    return due;
}

void logstorm_totals(const logstorm *s, uint64_t *passed, uint64_t *held)
{
    if (passed)
        *passed = s ? s->total_passed : 0;
    if (held)
        *held = s ? s->total_held : 0;
}
