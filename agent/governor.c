/* governor.c — the safety limits every heal passes through: heals per sliding hour, cooldown
 * per (issue type, target), rollbacks per sliding day, the health floor, confirmation of risky
 * plans, snoozes, pause, dry-run on simulated windows, the emergency rules and the confirmation
 * streaks. Pure logic on an injected clock; one mutex makes it thread-safe; durability is the
 * injected gov_store's job. */
#include "governor.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "healer/types.h"
#include "table.h"

#define HOUR 3600.0
#define DAY 86400.0

/* Memory bounds. The windows keep at least max(limit, GOV_WINDOW_MIN_CAP) entries and drop
 * the oldest beyond that: when the engine honours check() there are never more than `limit`
 * entries in a window anyway, and keeping the newest >= limit entries preserves every refusal
 * and the exact moment it ends (the limit-th newest entry expiring). The cooldown table holds
 * at most GOV_COOLDOWN_CAP pairs; beyond that the pair committed longest ago is evicted. With
 * the rate limit honoured, active cooldowns are bounded by heals per cooldown window, so the
 * cap only bites when commits bypass check(); ~16k pairs is a few MB at most. */
#define GOV_WINDOW_MIN_CAP 1024
#define GOV_COOLDOWN_CAP 16384
/* Snoozes come from an operator's rejections and streaks from (issue type, action) pairs: both
 * are few; the caps only guard against a runaway caller. */
#define GOV_SNOOZE_CAP 4096
#define GOV_STREAK_CAP 65536

/* One commit in a sliding window: n events at time t (n > 1 for a plan of several rollbacks). */
typedef struct win_ent {
    double t;
    int n;
    long long cum;       /* n of this entry and every older one still in the ring */
} win_ent;

/* A ring of entries in commit order. */
typedef struct window {
    win_ent *e;
    size_t cap, head, len;
    int unsorted;        /* an entry older than its predecessor (the clock went back) */
} window;

/* Cooldown entry: in a chained hash table and in a doubly linked list in commit order (a
 * re-commit moves it to the tail), so expiry pruning and eviction work from the head in O(1)
 * per entry removed. */
typedef struct cd_ent {
    struct cd_ent *hnext;
    struct cd_ent *prev, *next;
    uint64_t hash;
    double t;              /* commit time: the cooldown runs until t + cooldown (current) */
    int severity;          /* of the commit: a higher one is not held back */
    size_t tlen;           /* strlen(issue_type); key = issue_type '\0' target '\0' */
    char key[];
} cd_ent;

/* One set of windows. The governor has two: live, and the simulated one dry runs use. */
typedef struct gstate {
    window heals;
    window rollbacks;
    cd_ent **buckets;
    size_t nbuckets, ncd;
    cd_ent *oldest, *newest;
} gstate;

struct governor {
    pthread_mutex_t mu;
    agent_limits lim;
    int dry_run;
    int paused;
    gstate live, sim;
    strmap *snoozes;       /* "type\0target" -> double* until */
    strmap *streaks;       /* "type\0action" -> int* confirmed successes in a row */
    gov_store store;       /* store.commit NULL: none attached */
    hold_table *holds;          /* the operator's holds (holds.c: own mutex) */
    loop_table *loops;          /* healed heals per (type, target) (heal_loops.c: own mutex) */
};

/* For tests: cooldown entries held in memory (of the windows the governor's mode uses),
 * expired ones included until pruned. */
size_t governor_debug_cooldown_entries(governor *g);

const char *gov_verdict_label(gov_verdict v)
{
    switch (v) {
    case GOV_ALLOW: return "allow";
    case GOV_PAUSED: return "paused";
    case GOV_RATE_LIMIT: return "rate_limit";
    case GOV_COOLDOWN: return "cooldown";
    case GOV_ROLLBACK_LIMIT: return "rollback_limit";
    case GOV_LOW_HEALTH: return "low_health";
    case GOV_AWAITING_CONFIRMATION: return "awaiting_confirmation";
    case GOV_DRY_RUN: return "dry_run";
    case GOV_VERDICT_COUNT: break;
    }
    return "unknown";
}

/* ---- limits, sanitised so a bad config value can never loosen a limit or crash ---- */

static int lim_nonneg(int v) { return v < 0 ? 0 : v; }

static double cooldown_seconds(const governor *g)
{
    double m = g->lim.cooldown_minutes;
    if (isnan(m) || m <= 0)
        return 0;
    if (m > 1e9)  /* keeps t + cd finite and exact enough; ~1900 years is "forever" */
        m = 1e9;
    return m * 60.0;
}

/* ---- sliding windows ---- */

static size_t window_cap_for(int limit)
{
    size_t l = (size_t)lim_nonneg(limit);
    return l > GOV_WINDOW_MIN_CAP ? l : GOV_WINDOW_MIN_CAP;
}

static win_ent *window_at(const window *w, size_t i)
{
    return &w->e[(w->head + i) % w->cap];
}

static void window_drop_oldest(window *w)
{
    w->head = (w->head + 1) % w->cap;
    w->len--;
}

/* An entry counts while now < t + span. An entry from the "future" (the wall clock went
 * back) keeps counting: when in doubt, the stricter reading. */
static int window_count(const window *w, double span, double now)
{
    long long sum = 0;
    if (w->len == 0)
        return 0;
    if (w->unsorted) {
        for (size_t i = 0; i < w->len; i++) {
            const win_ent *e = window_at(w, i);
            if (now < e->t + span)
                sum += e->n;
        }
    } else {
        /* Commit order is time order: binary-search the oldest entry still counting and take
         * the difference of cumulative sums. O(log n) on the engine's hot path. */
        size_t lo = 0, hi = w->len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (now < window_at(w, mid)->t + span)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo < w->len) {
            const win_ent *first = window_at(w, lo), *last = window_at(w, w->len - 1);
            sum = last->cum - first->cum + first->n;
        }
    }
    return sum > INT32_MAX ? INT32_MAX : (int)sum;
}

/* Drops expired entries from the oldest end (commit order: the oldest expire first while the
 * clock moves forward; after a backward jump an unexpired entry stops the sweep, which only
 * delays pruning). */
static void window_prune(window *w, double span, double now)
{
    while (w->len > 0 && !(now < window_at(w, 0)->t + span))
        window_drop_oldest(w);
}

/* Re-lays the ring into a buffer of new_cap, keeping the newest entries. */
static int window_resize(window *w, size_t new_cap)
{
    win_ent *ne = malloc(new_cap * sizeof *ne);
    if (!ne)
        return -1;
    while (w->len > new_cap)
        window_drop_oldest(w);
    for (size_t i = 0; i < w->len; i++)
        ne[i] = *window_at(w, i);
    free(w->e);
    w->e = ne;
    w->cap = new_cap;
    w->head = 0;
    return 0;
}

/* Appends (t, n), first dropping the oldest entry when the ring is at max_cap. Grows by
 * doubling up to max_cap. On allocation failure the oldest entry gives way (still bounded). */
static void window_add(window *w, double t, int n, size_t max_cap)
{
    if (w->len == w->cap && w->cap < max_cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        if (nc > max_cap)
            nc = max_cap;
        (void)window_resize(w, nc);
    }
    if (w->cap == 0)
        return;
    if (w->len == w->cap)
        window_drop_oldest(w);
    long long prev = 0;
    if (w->len == 0) {
        w->unsorted = 0;
    } else {
        const win_ent *last = window_at(w, w->len - 1);
        prev = last->cum;
        if (t < last->t)
            w->unsorted = 1;
    }
    *window_at(w, w->len) = (win_ent){ t, n, prev + n };
    w->len++;
}

/* ---- cooldown table ---- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t pair_hash(const char *type, const char *target)
{
    uint64_t h = fnv1a(type, 0xcbf29ce484222325ULL);
    h ^= 0xff;  /* separator: ("ab","c") and ("a","bc") differ */
    h *= 0x100000001b3ULL;
    return fnv1a(target, h);
}

static cd_ent *cd_find(const gstate *g, const char *type, const char *target, uint64_t h)
{
    if (!g->nbuckets)
        return NULL;
    for (cd_ent *e = g->buckets[h & (g->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, type) == 0 && strcmp(e->key + e->tlen + 1, target) == 0)
            return e;
    return NULL;
}

static void list_unlink(gstate *g, cd_ent *e)
{
    if (e->prev) e->prev->next = e->next; else g->oldest = e->next;
    if (e->next) e->next->prev = e->prev; else g->newest = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(gstate *g, cd_ent *e)
{
    e->prev = g->newest;
    e->next = NULL;
    if (g->newest) g->newest->next = e; else g->oldest = e;
    g->newest = e;
}

static void rehash(gstate *g, size_t nb)
{
    cd_ent **nbk = calloc(nb, sizeof *nbk);
    if (!nbk)
        return;  /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < g->nbuckets; i++) {
        cd_ent *e = g->buckets[i];
        while (e) {
            cd_ent *nx = e->hnext;
            size_t b = e->hash & (nb - 1);
            e->hnext = nbk[b];
            nbk[b] = e;
            e = nx;
        }
    }
    free(g->buckets);
    g->buckets = nbk;
    g->nbuckets = nb;
}

static void cd_remove(gstate *g, cd_ent *e)
{
    cd_ent **pp = &g->buckets[e->hash & (g->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(g, e);
    free(e);
    g->ncd--;
}

/* Shrinks the bucket array after mass expiry so memory follows the live count down. */
static void cd_maybe_shrink(gstate *g)
{
    if (g->nbuckets > 64 && g->ncd < g->nbuckets / 8) {
        size_t nb = g->nbuckets;
        while (nb > 64 && g->ncd < nb / 8)
            nb /= 2;
        rehash(g, nb);
    }
}

static void cd_prune(gstate *g, double cd, double now)
{
    while (g->oldest && !(now < g->oldest->t + cd))
        cd_remove(g, g->oldest);
    cd_maybe_shrink(g);
}

static void cd_record(gstate *g, const char *type, const char *target, double now, int severity)
{
    uint64_t h = pair_hash(type, target);
    cd_ent *e = cd_find(g, type, target, h);
    if (e) {
        e->t = now;
        e->severity = severity;
        list_unlink(g, e);
        list_append(g, e);
        return;
    }
    while (g->ncd >= GOV_COOLDOWN_CAP && g->oldest)
        cd_remove(g, g->oldest);
    if (g->ncd + 1 > g->nbuckets)
        rehash(g, g->nbuckets ? g->nbuckets * 2 : 64);
    if (!g->nbuckets)
        return;  /* no memory for even the first table: the cooldown is lost, nothing else */
    size_t tl = strlen(type), gl = strlen(target);
    e = malloc(sizeof *e + tl + gl + 2);
    if (!e)
        return;
    e->hash = h;
    e->t = now;
    e->severity = severity;
    e->tlen = tl;
    memcpy(e->key, type, tl + 1);
    memcpy(e->key + tl + 1, target, gl + 1);
    size_t b = h & (g->nbuckets - 1);
    e->hnext = g->buckets[b];
    g->buckets[b] = e;
    e->prev = e->next = NULL;
    list_append(g, e);
    g->ncd++;
}

/* ---- keyed small tables (snoozes, streaks) ---- */

/* "a\0b" as one key; *klen gets its length. NULL when out of memory. */
static char *pair_key(const char *a, const char *b, size_t *klen)
{
    size_t al = strlen(a), bl = strlen(b);
    char *k = malloc(al + bl + 2);
    if (!k)
        return NULL;
    memcpy(k, a, al + 1);
    memcpy(k + al + 1, b, bl + 1);
    *klen = al + bl + 1;
    return k;
}

static void map_free_values(strmap *m)
{
    size_t i = 0, kl;
    const char *k;
    void *v;
    while (m && strmap_next(m, &i, &k, &kl, &v))
        free(v);
    strmap_free(m);
}

/* Drops snoozes that ended at now. Deleting shifts entries, so collect first. */
static void snooze_prune(governor *g, double now)
{
    size_t n = strmap_count(g->snoozes), i = 0, kl, nd = 0;
    if (!n)
        return;
    char **keys = malloc(n * sizeof *keys);
    size_t *lens = malloc(n * sizeof *lens);
    const char *k;
    void *v;
    while (keys && lens && strmap_next(g->snoozes, &i, &k, &kl, &v))
        if (!(now < *(double *)v)) {
            keys[nd] = malloc(kl);
            if (!keys[nd])
                break;
            memcpy(keys[nd], k, kl);
            lens[nd++] = kl;
        }
    for (size_t j = 0; j < nd; j++) {
        free(strmap_del(g->snoozes, keys[j], lens[j]));
        free(keys[j]);
    }
    free(keys);
    free(lens);
}

static void snooze_set(governor *g, const char *type, const char *target, double until,
                       double now)
{
    size_t kl;
    char *k = pair_key(type, target, &kl);
    if (!k)
        return;
    double *v = strmap_get(g->snoozes, k, kl);
    if (v) {
        *v = until;
    } else if (now < until) {
        if (strmap_count(g->snoozes) >= GOV_SNOOZE_CAP)
            snooze_prune(g, now);
        if (strmap_count(g->snoozes) < GOV_SNOOZE_CAP && (v = malloc(sizeof *v))) {
            *v = until;
            if (strmap_put(g->snoozes, k, kl, v) < 0)
                free(v);
        }
    }
    free(k);
}

static int *streak_slot(governor *g, const char *type, const char *action, int create)
{
    size_t kl;
    char *k = pair_key(type, action, &kl);
    if (!k)
        return NULL;
    int *v = strmap_get(g->streaks, k, kl);
    if (!v && create && strmap_count(g->streaks) < GOV_STREAK_CAP && (v = calloc(1, sizeof *v)))
        if (strmap_put(g->streaks, k, kl, v) < 0) {
            free(v);
            v = NULL;
        }
    free(k);
    return v;
}

/* ---- public ---- */

static const char *nz(const char *s) { return s ? s : ""; }

static int req_critical(const gov_request *req)
{
    return req->critical || req->severity >= HEALER_SEV_CRITICAL;
}

static int req_severity(const gov_request *req)
{
    int s = req->severity;
    if (req->critical)
        s = HEALER_SEV_CRITICAL;
    return s < 0 ? 0 : s > HEALER_SEV_CRITICAL ? HEALER_SEV_CRITICAL : s;
}

/* The windows a request uses. Under the mutex. */
static gstate *state_for(governor *g, int dry_run)
{
    return (dry_run || g->dry_run) ? &g->sim : &g->live;
}

static void gstate_free(gstate *s)
{
    cd_ent *e = s->oldest;
    while (e) {
        cd_ent *nx = e->next;
        free(e);
        e = nx;
    }
    free(s->buckets);
    free(s->heals.e);
    free(s->rollbacks.e);
}

static void gstate_fit(gstate *s, const agent_limits *l)
{
    /* History survives a reload; only a window now over its (smaller) cap is trimmed, from
     * the oldest end, which keeps every refusal the new limit implies. */
    size_t hc = window_cap_for(l->max_heals_per_hour);
    if (s->heals.cap > hc)
        (void)window_resize(&s->heals, hc);
    size_t rc = window_cap_for(l->max_rollbacks_per_day);
    if (s->rollbacks.cap > rc)
        (void)window_resize(&s->rollbacks, rc);
}

static double loops_keep(const agent_limits *l);

governor *governor_new(const agent_limits *limits, int dry_run)
{
    governor *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return NULL;
    }
    g->snoozes = strmap_new();
    g->streaks = strmap_new();
    g->holds = holds_new();
    g->loops = loops_new();
    if (!g->snoozes || !g->streaks || !g->holds || !g->loops) {
        strmap_free(g->snoozes);
        strmap_free(g->streaks);
        holds_free(g->holds);
        loops_free(g->loops);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    if (limits)
        g->lim = *limits;
    else  /* the seed's defaults */
        g->lim = (agent_limits){ 10, 3, 30, 5.0, 60.0, 0, 3, 60.0, 300.0 };
    g->dry_run = dry_run ? 1 : 0;
    loops_set_keep(g->loops, loops_keep(&g->lim));
    return g;
}

void governor_free(governor *g)
{
    if (!g)
        return;
    gstate_free(&g->live);
    gstate_free(&g->sim);
    map_free_values(g->snoozes);
    map_free_values(g->streaks);
    holds_free(g->holds);
    loops_free(g->loops);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

loop_table *governor_loops(governor *g)
{
    return g ? g->loops : NULL;
}

/* What the loop history must remember: the longer of its two windows. */
static double loops_keep(const agent_limits *l)
{
    double w = l->loop_window_minutes * 60.0;
    return w > l->relapse_window_s ? w : l->relapse_window_s;
}

hold_table *governor_holds(governor *g)
{
    return g ? g->holds : NULL;
}

void governor_set_limits(governor *g, const agent_limits *limits, int dry_run)
{
    if (!g || !limits)
        return;
    pthread_mutex_lock(&g->mu);
    g->lim = *limits;
    g->dry_run = dry_run ? 1 : 0;
    loops_set_keep(g->loops, loops_keep(&g->lim));
    gstate_fit(&g->live, &g->lim);
    gstate_fit(&g->sim, &g->lim);
    pthread_mutex_unlock(&g->mu);
}

void governor_set_store(governor *g, const gov_store *store)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    if (store)
        g->store = *store;
    else
        memset(&g->store, 0, sizeof g->store);
    hold_store hst = { g->store.ctx, g->store.hold_put, g->store.hold_del };
    holds_set_store(g->holds, store ? &hst : NULL);
    loop_store lst = { g->store.ctx, g->store.loop_put, g->store.loop_prune };
    loops_set_store(g->loops, store && store->loop_put ? &lst : NULL);
    pthread_mutex_unlock(&g->mu);
}

static int risky_unconfirmed(const gov_request *req)
{
    return (req->flags & HEALER_ACTION_RISKY) && !(req->flags & HEALER_ACTION_AUTO_OK) &&
           !req->confirmed;
}

gov_verdict governor_check(governor *g, const gov_request *req, double now)
{
    if (!g || !req)
        return GOV_PAUSED;  /* nothing sensible to decide: refuse */
    const char *type = nz(req->issue_type);
    const char *target = nz(req->target);
    int crit = req_critical(req), sev = req_severity(req);
    gov_verdict v;

    pthread_mutex_lock(&g->mu);
    int dry = req->dry_run || g->dry_run;
    gstate *s = state_for(g, req->dry_run);
    int hmax = lim_nonneg(g->lim.max_heals_per_hour);
    if (g->paused) {
        v = GOV_PAUSED;
    } else if (hmax == 0 || (!crit && window_count(&s->heals, HOUR, now) >= hmax)) {
        v = GOV_RATE_LIMIT;  /* max 0: no automatic heals at all, not even critical ones */
    } else {
        double cd = cooldown_seconds(g);
        const cd_ent *e = cd > 0 ? cd_find(s, type, target, pair_hash(type, target)) : NULL;
        int want_rb = req->rollbacks > 0 ? req->rollbacks : 0;
        if (e && now < e->t + cd && !crit && sev <= e->severity) {
            v = GOV_COOLDOWN;
        } else if (want_rb > 0 &&
                   (long long)window_count(&s->rollbacks, DAY, now) + want_rb >
                       lim_nonneg(g->lim.max_rollbacks_per_day)) {
            v = GOV_ROLLBACK_LIMIT;
        } else if (!crit && !(req->health >= g->lim.min_health_for_auto)) {
            v = GOV_LOW_HEALTH;  /* NaN health counts as low */
        } else if (risky_unconfirmed(req)) {
            /* a dry run changes nothing, so there is nothing to confirm */
            v = dry ? GOV_DRY_RUN : GOV_AWAITING_CONFIRMATION;
        } else {
            v = dry ? GOV_DRY_RUN : GOV_ALLOW;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return v;
}

/* Records one heal in s. Under the mutex. */
static void state_commit(governor *g, gstate *s, const char *type, const char *target,
                         int rollbacks, int severity, double now)
{
    /* Pruning lives here, not in check(), so check() stays free of side effects even when
     * a caller hands it a clock that goes back. */
    window_prune(&s->heals, HOUR, now);
    window_prune(&s->rollbacks, DAY, now);
    cd_prune(s, cooldown_seconds(g), now);
    window_add(&s->heals, now, 1, window_cap_for(g->lim.max_heals_per_hour));
    if (rollbacks > 0)
        window_add(&s->rollbacks, now, rollbacks, window_cap_for(g->lim.max_rollbacks_per_day));
    cd_record(s, type, target, now, severity);
}

int governor_commit(governor *g, const gov_request *req, double now)
{
    if (!g || !req || isnan(now))
        return -1;
    const char *type = nz(req->issue_type);
    const char *target = nz(req->target);
    int sev = req_severity(req);
    int rb = req->rollbacks > 0 ? req->rollbacks : 0;
    int rc = 0;

    pthread_mutex_lock(&g->mu);
    int dry = req->dry_run || g->dry_run;
    state_commit(g, state_for(g, req->dry_run), type, target, rb, sev, now);
    if (!dry && g->store.commit) {
        /* Durable before the heal runs: a crash right after must not hand the next run a
         * fresh hour. */
        gov_commit c = { type, target, sev, rb, now, now + cooldown_seconds(g) };
        rc = g->store.commit(g->store.ctx, &c);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void governor_pause(governor *g, int paused)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->paused = paused ? 1 : 0;
    if (g->store.pause)
        (void)g->store.pause(g->store.ctx, g->paused);
    pthread_mutex_unlock(&g->mu);
}

int governor_paused(governor *g)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    int p = g->paused;
    pthread_mutex_unlock(&g->mu);
    return p;
}

void governor_budget(governor *g, double now, gov_budget *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    gstate *s = state_for(g, 0);
    int hmax = lim_nonneg(g->lim.max_heals_per_hour);
    int rmax = lim_nonneg(g->lim.max_rollbacks_per_day);
    out->heals_last_hour = window_count(&s->heals, HOUR, now);
    out->heals_left = out->heals_last_hour >= hmax ? 0 : hmax - out->heals_last_hour;
    out->rollbacks_today = window_count(&s->rollbacks, DAY, now);
    out->rollbacks_left = out->rollbacks_today >= rmax ? 0 : rmax - out->rollbacks_today;
    double cd = cooldown_seconds(g);
    int active = 0;
    for (const cd_ent *e = s->oldest; e; e = e->next)
        if (now < e->t + cd)
            active++;
    out->cooldowns_active = active;
    out->paused = g->paused;
    pthread_mutex_unlock(&g->mu);
}

double governor_cooldown_until(governor *g, const char *type, const char *target, int dry_run,
                               double now)
{
    if (!g)
        return 0;
    type = nz(type);
    target = nz(target);
    double until = 0;
    pthread_mutex_lock(&g->mu);
    double cd = cooldown_seconds(g);
    gstate *s = state_for(g, dry_run);
    const cd_ent *e = cd > 0 ? cd_find(s, type, target, pair_hash(type, target)) : NULL;
    if (e && now < e->t + cd)
        until = e->t + cd;
    pthread_mutex_unlock(&g->mu);
    return until;
}

void governor_each_cooldown(governor *g, int dry_run, double now, gov_entry_fn fn, void *ud)
{
    if (!g || !fn)
        return;
    pthread_mutex_lock(&g->mu);
    double cd = cooldown_seconds(g);
    gstate *s = state_for(g, dry_run);
    for (const cd_ent *e = s->newest; e && cd > 0; e = e->prev) {
        if (!(now < e->t + cd))
            continue;
        gov_entry ge = { e->key, e->key + e->tlen + 1, e->t + cd, e->severity };
        if (fn(ud, &ge))
            break;
    }
    pthread_mutex_unlock(&g->mu);
}

void governor_snooze(governor *g, const char *type, const char *target, double until)
{
    if (!g || isnan(until))
        return;
    type = nz(type);
    target = nz(target);
    pthread_mutex_lock(&g->mu);
    /* "now" for pruning is unknown here; an entry that ended is harmless until pruned. */
    snooze_set(g, type, target, until, -INFINITY);
    if (g->store.snooze)
        (void)g->store.snooze(g->store.ctx, type, target, until);
    pthread_mutex_unlock(&g->mu);
}

double governor_snoozed_until(governor *g, const char *type, const char *target, int severity,
                              double now)
{
    if (!g || severity >= HEALER_SEV_CRITICAL)
        return 0;
    size_t kl;
    char *k = pair_key(nz(type), nz(target), &kl);
    if (!k)
        return 0;
    double until = 0;
    pthread_mutex_lock(&g->mu);
    const double *v = strmap_count(g->snoozes) ? strmap_get(g->snoozes, k, kl) : NULL;
    if (v && now < *v)
        until = *v;
    pthread_mutex_unlock(&g->mu);
    free(k);
    return until;
}

void governor_each_snooze(governor *g, double now, gov_entry_fn fn, void *ud)
{
    if (!g || !fn)
        return;
    pthread_mutex_lock(&g->mu);
    size_t i = 0, kl;
    const char *k;
    void *v;
    while (strmap_next(g->snoozes, &i, &k, &kl, &v)) {
        if (!(now < *(double *)v))
            continue;
        gov_entry ge = { k, k + strlen(k) + 1, *(double *)v, -1 };
        if (fn(ud, &ge))
            break;
    }
    pthread_mutex_unlock(&g->mu);
}

void governor_record_confirmed(governor *g, const char *type, const char *action, int success)
{
    if (!g)
        return;
    type = nz(type);
    action = nz(action);
    pthread_mutex_lock(&g->mu);
    int *n = streak_slot(g, type, action, success);
    if (n) {
        int before = *n;
        *n = success ? (*n < INT32_MAX ? *n + 1 : *n) : 0;
        if (*n != before && g->store.streak)
            (void)g->store.streak(g->store.ctx, type, action, *n);
    }
    pthread_mutex_unlock(&g->mu);
}

int governor_confirmed_successes(governor *g, const char *type, const char *action)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    const int *n = strmap_count(g->streaks) ? streak_slot(g, nz(type), nz(action), 0) : NULL;
    int v = n ? *n : 0;
    pthread_mutex_unlock(&g->mu);
    return v;
}

int governor_auto_approved(governor *g, const char *type, const char *action)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    int need = g->lim.auto_after_confirmations;
    const int *n = need > 0 && strmap_count(g->streaks)
                       ? streak_slot(g, nz(type), nz(action), 0) : NULL;
    int ok = n && *n >= need;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* ---- restore ---- */

void governor_restore_heal(governor *g, double t, int rollbacks, double now)
{
    if (!g || !isfinite(t) || !(now < t + DAY))
        return;
    pthread_mutex_lock(&g->mu);
    gstate *s = &g->live;
    if (now < t + HOUR)
        window_add(&s->heals, t, 1, window_cap_for(g->lim.max_heals_per_hour));
    if (rollbacks > 0)
        window_add(&s->rollbacks, t, rollbacks, window_cap_for(g->lim.max_rollbacks_per_day));
    pthread_mutex_unlock(&g->mu);
}

void governor_restore_cooldown(governor *g, const char *type, const char *target, double t,
                               int severity, double now)
{
    if (!g || !isfinite(t))
        return;
    pthread_mutex_lock(&g->mu);
    if (now < t + cooldown_seconds(g)) {
        if (severity < 0)
            severity = 0;
        if (severity > HEALER_SEV_CRITICAL)
            severity = HEALER_SEV_CRITICAL;
        cd_record(&g->live, nz(type), nz(target), t, severity);
    }
    pthread_mutex_unlock(&g->mu);
}

void governor_restore_snooze(governor *g, const char *type, const char *target, double until,
                             double now)
{
    if (!g || !(now < until))
        return;
    pthread_mutex_lock(&g->mu);
    snooze_set(g, nz(type), nz(target), until, now);
    pthread_mutex_unlock(&g->mu);
}

void governor_restore_streak(governor *g, const char *type, const char *action, int successes)
{
    if (!g || successes <= 0)
        return;
    pthread_mutex_lock(&g->mu);
    int *n = streak_slot(g, nz(type), nz(action), 1);
    if (n)
        *n = successes;
    pthread_mutex_unlock(&g->mu);
}

void governor_restore_paused(governor *g, int paused)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->paused = paused ? 1 : 0;
    pthread_mutex_unlock(&g->mu);
}

size_t governor_debug_cooldown_entries(governor *g)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    size_t n = state_for(g, 0)->ncd;
    pthread_mutex_unlock(&g->mu);
    return n;
}
