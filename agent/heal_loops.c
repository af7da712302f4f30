/* heal_loops.c — the healed-heal history per (type, target) behind loop escalation and relapse
 * (heal_loops.h): a short list, pruned to the longer window on every change and capped at
 * LOOPS_CAP, so a host that heals often keeps it small; the store is written before memory
 * changes are relied on. */
#include "heal_loops.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct lent {
    char *type, *target;
    uint64_t heal_id;
    double started_at, healed_at;
    int relapsed;
    struct lent *next;
} lent;

struct loop_table {
    pthread_mutex_t mu;
    lent *head;
    size_t n;
    double keep_s;
    loop_store st;
    int has_store;
    int cap_logged;
};

loop_table *loops_new(void)
{
    loop_table *lt = calloc(1, sizeof *lt);
    if (!lt)
        return NULL;
    pthread_mutex_init(&lt->mu, NULL);
    lt->keep_s = 3600;
    return lt;
}

static void lent_free(lent *e)
{
    free(e->type);
    free(e->target);
    free(e);
}

void loops_free(loop_table *lt)
{
    if (!lt)
        return;
    for (lent *e = lt->head, *n; e; e = n) {
        n = e->next;
        lent_free(e);
    }
    pthread_mutex_destroy(&lt->mu);
    free(lt);
}

void loops_set_store(loop_table *lt, const loop_store *st)
{
    if (!lt)
        return;
    pthread_mutex_lock(&lt->mu);
    lt->has_store = st && st->put;
    if (lt->has_store)
        lt->st = *st;
    pthread_mutex_unlock(&lt->mu);
}

void loops_set_keep(loop_table *lt, double keep_s)
{
    if (!lt)
        return;
    pthread_mutex_lock(&lt->mu);
    lt->keep_s = keep_s > 0 ? keep_s : 0;
    pthread_mutex_unlock(&lt->mu);
}

/* Under mu. The store is pruned too, so it cannot grow over a long life. */
static void prune(loop_table *lt, double now)
{
    double before = now - lt->keep_s;
    size_t dropped = 0;
    for (lent **p = &lt->head; *p;) {
        lent *e = *p;
        if (e->healed_at < before && e->started_at < before) {
            *p = e->next;
            lent_free(e);
            lt->n--;
            dropped++;
        } else {
            p = &e->next;
        }
    }
    if (dropped && lt->has_store && lt->st.prune)
        (void)lt->st.prune(lt->st.ctx, before);
}

/* Under mu. Drops the entries added longest ago (the list's tail: newest first) beyond
 * LOOPS_CAP. O(n), like the duplicate check before it. */
static void evict_over_cap(loop_table *lt)
{
    if (lt->n <= LOOPS_CAP)
        return;
    size_t keep = 0;
    lent **p = &lt->head;
    while (*p && keep < LOOPS_CAP) {
        p = &(*p)->next;
        keep++;
    }
    size_t dropped = 0;
    while (*p) {
        lent *e = *p;
        *p = e->next;
        lent_free(e);
        lt->n--;
        dropped++;
    }
    if (dropped && !lt->cap_logged) {
        lt->cap_logged = 1;
        log_warn("governor", "more than %d healed heals within the loop and relapse windows: the "
                 "oldest are forgotten (logged once)", LOOPS_CAP);
    }
}

static lent *add(loop_table *lt, const loop_heal *l)
{
    for (lent *e = lt->head; e; e = e->next)
        if (e->heal_id == l->heal_id && l->heal_id) {
            e->started_at = l->started_at;
            e->healed_at = l->healed_at;
            e->relapsed = l->relapsed;
            return e;
        }
    lent *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->type = strdup(l->type);
    e->target = strdup(l->target);
    if (!e->type || !e->target) {
        lent_free(e);
        return NULL;
    }
    e->heal_id = l->heal_id;
    e->started_at = l->started_at;
    e->healed_at = l->healed_at;
    e->relapsed = l->relapsed;
    e->next = lt->head; /* newest first */
    lt->head = e;
    lt->n++;
    evict_over_cap(lt);
    return e;
}

int loops_note_healed(loop_table *lt, const loop_heal *l)
{
    if (!lt || !l || !l->type || !l->target)
        return -1;
    pthread_mutex_lock(&lt->mu);
    prune(lt, l->healed_at);
    int rc = add(lt, l) ? 0 : -1;
    if (rc == 0 && lt->has_store && lt->st.put(lt->st.ctx, l) != 0) {
        log_error("governor", "the healed heal #%llu of %s on %s could not be stored: the loop "
                  "rule holds for this run only", (unsigned long long)l->heal_id, l->type,
                  l->target);
        rc = -2;
    }
    pthread_mutex_unlock(&lt->mu);
    return rc;
}

void loops_restore(loop_table *lt, const loop_heal *l)
{
    if (!lt || !l || !l->type || !l->target)
        return;
    pthread_mutex_lock(&lt->mu);
    (void)add(lt, l);
    pthread_mutex_unlock(&lt->mu);
}

static int same(const lent *e, const char *type, const char *target)
{
    return strcmp(e->type, type) == 0 && strcmp(e->target, target) == 0;
}

int loops_count(loop_table *lt, const char *type, const char *target, double now, double window_s)
{
    if (!lt || !type || !target)
        return 0;
    int n = 0;
    pthread_mutex_lock(&lt->mu);
    for (const lent *e = lt->head; e; e = e->next)
        if (same(e, type, target) && e->started_at >= now - window_s && e->started_at <= now)
            n++;
    pthread_mutex_unlock(&lt->mu);
    return n;
}

uint64_t loops_relapse(loop_table *lt, const char *type, const char *target, double now,
                       double window_s)
{
    if (!lt || !type || !target || window_s <= 0)
        return 0;
    pthread_mutex_lock(&lt->mu);
    lent *best = NULL;
    for (lent *e = lt->head; e; e = e->next)
        if (same(e, type, target) && !e->relapsed && e->healed_at >= now - window_s &&
            e->healed_at <= now && (!best || e->healed_at > best->healed_at))
            best = e;
    uint64_t id = 0;
    if (best) {
        best->relapsed = 1;
        id = best->heal_id;
        if (lt->has_store) {
            loop_heal l = { best->type, best->target, best->heal_id, best->started_at,
                            best->healed_at, 1 };
            if (lt->st.put(lt->st.ctx, &l) != 0)
                log_error("governor", "the relapse of heal #%llu could not be stored",
                          (unsigned long long)id);
        }
    }
    pthread_mutex_unlock(&lt->mu);
    return id;
}

size_t loops_size(loop_table *lt)
{
    if (!lt)
        return 0;
    pthread_mutex_lock(&lt->mu);
    size_t n = lt->n;
    pthread_mutex_unlock(&lt->mu);
    return n;
}
