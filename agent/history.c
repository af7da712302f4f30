/* history.c — the ring of the last 24 hours, one slot per minute of the monotonic clock: system
 * health (lowest and last), each component's lowest, heals finished by outcome. Fed by the
 * engine (under its lock; ours is a leaf lock, taken last), read by GET /api/v1/history. */
#include "history.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize_json.h"

/* eng_finish_heal's outcomes (metrics_agent.c's list), then "other" for anything else. */
static const char *const HIST_OUTCOMES[] = {"healed", "failed", "dry_run", "cancelled",
                                            "expired", "rejected", "suppressed", "other"};
#define N_OUTCOMES (sizeof HIST_OUTCOMES / sizeof HIST_OUTCOMES[0])

typedef struct hslot {
    int64_t minute;                       /* monotonic minute held, -1: never written */
    float health_min, health_last;        /* NAN: no health known in that minute */
    float comp[HISTORY_COMPONENTS];       /* each column's lowest, NAN: not reported */
    uint32_t heals[N_OUTCOMES];
} hslot;

typedef struct hcol {
    char *plugin, *component;             /* NULL: a free column */
    int64_t last_minute;                  /* the newest minute with data in this column */
    int live;                             /* in the engine's current set: carried into new minutes */
    float cur;                            /* its value now, when live */
} hcol;

struct history {
    pthread_mutex_t mu;
    int64_t newest;                       /* the newest minute written, -1: none yet */
    int have_health;
    float cur_health;
    hcol cols[HISTORY_COMPONENTS];
    unsigned long dropped;                /* components not kept: every column was in use */
    hslot slots[HISTORY_SLOTS];
};

static int64_t minute_of(double mono)
{
    return mono > 0 && isfinite(mono) ? (int64_t)floor(mono / 60.0) : 0;
}

static hslot *slot_of(history *h, int64_t minute)
{
    return &h->slots[(uint64_t)minute % HISTORY_SLOTS];
}

static void slot_init(history *h, hslot *s, int64_t minute)
{
    s->minute = minute;
    s->health_min = s->health_last = h->have_health ? h->cur_health : NAN;
    for (size_t i = 0; i < HISTORY_COMPONENTS; i++) {
        int carry = h->cols[i].plugin && h->cols[i].live;
        s->comp[i] = carry ? h->cols[i].cur : NAN;
        if (carry)
            h->cols[i].last_minute = minute;
    }
    memset(s->heals, 0, sizeof s->heals);
}

/* Makes `minute` the newest slot, carrying the values in force into the minutes between. A
 * time before the newest minute (it cannot happen with a monotonic clock, but a caller may be
 * late by a hair) is counted in the newest minute. Returns the slot to write. */
static hslot *advance(history *h, int64_t minute)
{
    if (h->newest < 0) {
        h->newest = minute;
        slot_init(h, slot_of(h, minute), minute);
        return slot_of(h, minute);
    }
    if (minute <= h->newest)
        return slot_of(h, h->newest);
    int64_t from = h->newest + 1;
    if (minute - from >= HISTORY_SLOTS)
        from = minute - HISTORY_SLOTS + 1;   /* only the last 24 h of a long gap are kept */
    for (int64_t m = from; m <= minute; m++)
        slot_init(h, slot_of(h, m), m);
    h->newest = minute;
    return slot_of(h, minute);
}

static float clamp_score(double v)
{
    return !isfinite(v) ? 0.0f : v < 0 ? 0.0f : v > 100 ? 100.0f : (float)v;
}

static char *dup_name(const char *s, size_t n)
{
    if (n > HISTORY_NAME_MAX)
        n = HISTORY_NAME_MAX;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int name_is(const char *have, const char *s, size_t n)
{
    if (n > HISTORY_NAME_MAX)
        n = HISTORY_NAME_MAX;
    return strlen(have) == n && memcmp(have, s, n) == 0;
}

/* The column of a component, taking a free one or one whose data has left the ring. */
static int column_of(history *h, const history_comp *c, int64_t minute)
{
    int spare = -1;
    for (int i = 0; i < HISTORY_COMPONENTS; i++) {
        hcol *k = &h->cols[i];
        if (!k->plugin) {
            if (spare < 0)
                spare = i;
            continue;
        }
        if (name_is(k->plugin, c->plugin, c->plugin_len) &&
            name_is(k->component, c->component, c->component_len))
            return i;
        if (spare < 0 && !k->live && k->last_minute <= minute - HISTORY_SLOTS)
            spare = i;
    }
    if (spare < 0)
        return -1;
    hcol *k = &h->cols[spare];
    char *p = dup_name(c->plugin, c->plugin_len), *n = dup_name(c->component, c->component_len);
    if (!p || !n) {
        free(p);
        free(n);
        return -1;
    }
    free(k->plugin);
    free(k->component);
    k->plugin = p;
    k->component = n;
    k->live = 0;
    k->last_minute = minute;
    /* a reused column: nothing of the old component may show under the new name */
    for (size_t s = 0; s < HISTORY_SLOTS; s++)
        h->slots[s].comp[spare] = NAN;
    return spare;
}

history *history_new(void)
{
    history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->newest = -1;
    for (size_t i = 0; i < HISTORY_SLOTS; i++)
        h->slots[i].minute = -1;
    return h;
}

void history_free(history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < HISTORY_COMPONENTS; i++) {
        free(h->cols[i].plugin);
        free(h->cols[i].component);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void history_health(history *h, double mono, double score, const history_comp *c, size_t n)
{
    if (!h)
        return;
    int64_t minute = minute_of(mono);
    pthread_mutex_lock(&h->mu);
    hslot *s = advance(h, minute);
    minute = s->minute;
    float v = clamp_score(score);
    h->have_health = 1;
    h->cur_health = v;
    if (isnan(s->health_min) || v < s->health_min)
        s->health_min = v;
    s->health_last = v;
    int seen[HISTORY_COMPONENTS] = {0};
    for (size_t i = 0; i < n; i++) {
        int col = column_of(h, &c[i], minute);
        if (col < 0) {
            h->dropped++;
            continue;
        }
        float cv = clamp_score(c[i].score);
        seen[col] = 1;
        h->cols[col].live = 1;
        h->cols[col].cur = cv;
        h->cols[col].last_minute = minute;
        if (isnan(s->comp[col]) || cv < s->comp[col])
            s->comp[col] = cv;
    }
    for (size_t i = 0; i < HISTORY_COMPONENTS; i++)
        if (!seen[i])
            h->cols[i].live = 0;
    pthread_mutex_unlock(&h->mu);
}

void history_heal(history *h, double mono, const char *outcome)
{
    if (!h)
        return;
    size_t k = N_OUTCOMES - 1;
    for (size_t i = 0; outcome && i + 1 < N_OUTCOMES; i++)
        if (strcmp(outcome, HIST_OUTCOMES[i]) == 0)
            k = i;
    pthread_mutex_lock(&h->mu);
    hslot *s = advance(h, minute_of(mono));
    s->heals[k]++;
    pthread_mutex_unlock(&h->mu);
}

static json_t *score_or_null(float v)
{
    return isnan(v) ? json_null() : json_integer((json_int_t)lroundf(v));
}

json_t *history_json(history *h, double mono_now, double wall_now, int minutes)
{
    if (minutes < 1)
        minutes = 1;
    if (minutes > HISTORY_SLOTS)
        minutes = HISTORY_SLOTS;
    int64_t now = minute_of(mono_now);
    json_t *o = json_object();
    json_t *health = json_array(), *hmin = json_array(), *comps = json_array();
    json_t *heals = json_object();
    json_t *hcols[N_OUTCOMES];
    for (size_t k = 0; k < N_OUTCOMES; k++) {
        hcols[k] = json_array();
        json_object_set_new(heals, HIST_OUTCOMES[k], hcols[k]);
    }
    pthread_mutex_lock(&h->mu);
    /* the minutes up to now carry the values in force, as if a sample had come */
    if (h->newest >= 0)
        (void)advance(h, now);
    if (h->newest > now)
        now = h->newest;
    int64_t first = now - minutes + 1;
    json_t *ccols[HISTORY_COMPONENTS] = {0};
    for (int i = 0; i < HISTORY_COMPONENTS; i++) {
        const hcol *k = &h->cols[i];
        if (!k->plugin || k->last_minute < first)
            continue;   /* no data in the window asked for */
        ccols[i] = json_array();
        json_t *c = json_object();
        json_object_set_new(c, "plugin", sanitize_json_str(k->plugin));
        json_object_set_new(c, "component", sanitize_json_str(k->component));
        json_object_set_new(c, "score", ccols[i]);   /* still filled below: borrowed */
        json_array_append_new(comps, c);
    }
    for (int64_t m = first; m <= now; m++) {
        const hslot *s = m >= 0 ? slot_of(h, m) : NULL;
        int held = s && s->minute == m;
        json_array_append_new(health, score_or_null(held ? s->health_last : NAN));
        json_array_append_new(hmin, score_or_null(held ? s->health_min : NAN));
        for (int i = 0; i < HISTORY_COMPONENTS; i++)
            if (ccols[i])
                json_array_append_new(ccols[i], score_or_null(held ? s->comp[i] : NAN));
        for (size_t k = 0; k < N_OUTCOMES; k++)
            json_array_append_new(hcols[k], json_integer(held ? s->heals[k] : 0));
    }
    unsigned long dropped = h->dropped;
    pthread_mutex_unlock(&h->mu);
    /* the start of the first minute in wall time: monotonic minutes are dated from now */
    double start = wall_now - (mono_now - (double)first * 60.0);
    json_object_set_new(o, "interval_seconds", json_integer(60));
    json_object_set_new(o, "minutes", json_integer(minutes));
    json_object_set_new(o, "start", json_real(floor(start * 1000) / 1000));
    json_object_set_new(o, "now", json_real(wall_now));
    json_object_set_new(o, "health", health);
    json_object_set_new(o, "health_min", hmin);
    json_object_set_new(o, "components", comps);
    json_object_set_new(o, "heals", heals);
    json_object_set_new(o, "components_dropped", json_integer((json_int_t)dropped));
    return o;
}
