/* holds.c — the operator's holds: a small list (holds are few and made by hand), matched by
 * fnmatch on the target and by type; expiry checked on every look-up, so no timer is needed.
 * Written through the store before a change is acknowledged. */
#include "holds.h"

#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sanitize_json.h"

typedef struct hent {
    char *target, *type, *reason, *by;
    double since, until;
    int even_critical;
    struct hent *next;
} hent;

struct hold_table {
    pthread_mutex_t mu;
    hent *head;
    hold_store st;
};

hold_table *holds_new(void)
{
    hold_table *hs = calloc(1, sizeof *hs);
    if (hs)
        pthread_mutex_init(&hs->mu, NULL);
    return hs;
}

static void hent_free(hent *e)
{
    free(e->target);
    free(e->type);
    free(e->reason);
    free(e->by);
    free(e);
}

void holds_free(hold_table *hs)
{
    if (!hs)
        return;
    for (hent *e = hs->head, *n; e; e = n) {
        n = e->next;
        hent_free(e);
    }
    pthread_mutex_destroy(&hs->mu);
    free(hs);
}

void holds_set_store(hold_table *hs, const hold_store *st)
{
    pthread_mutex_lock(&hs->mu);
    if (st)
        hs->st = *st;
    else
        memset(&hs->st, 0, sizeof hs->st);
    pthread_mutex_unlock(&hs->mu);
}

static const char *nz(const char *s) { return s ? s : ""; }

static int expired(const hent *e, double now)
{
    return e->until > 0 && now >= e->until;
}

/* Drops expired holds (and their rows). Under the mutex. */
static void prune(hold_table *hs, double now)
{
    for (hent **p = &hs->head; *p;) {
        hent *e = *p;
        if (!expired(e, now)) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        if (hs->st.del)
            hs->st.del(hs->st.ctx, e->target, e->type);
        hent_free(e);
    }
}

static hent *find(hold_table *hs, const char *target, const char *type)
{
    for (hent *e = hs->head; e; e = e->next)
        if (strcmp(e->target, target) == 0 && strcmp(e->type, type) == 0)
            return e;
    return NULL;
}

static int insert(hold_table *hs, const hold *h)
{
    hent *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->target = strdup(h->target);
    e->type = strdup(nz(h->type));
    e->reason = strdup(nz(h->reason));
    e->by = strdup(nz(h->by));
    if (!e->target || !e->type || !e->reason || !e->by) {
        hent_free(e);
        return -1;
    }
    e->since = h->since;
    e->until = h->until;
    e->even_critical = h->even_critical != 0;
    hent *old = find(hs, e->target, e->type);
    if (old) {
        for (hent **p = &hs->head; *p; p = &(*p)->next)
            if (*p == old) {
                *p = old->next;
                break;
            }
        hent_free(old);
    }
    e->next = hs->head;
    hs->head = e;
    return 0;
}

int holds_put(hold_table *hs, const hold *h, char *err, size_t errlen)
{
    if (!h || !h->target || !h->target[0]) {
        snprintf(err, errlen, "a hold needs a target");
        return -1;
    }
    if (strlen(h->target) > HOLD_TEXT_MAX || strlen(nz(h->type)) > HOLD_TEXT_MAX ||
        strlen(nz(h->reason)) > HOLD_TEXT_MAX || strlen(nz(h->by)) > HOLD_TEXT_MAX) {
        snprintf(err, errlen, "target, type, reason and who are at most %d bytes each",
                 HOLD_TEXT_MAX);
        return -1;
    }
    if (!isfinite(h->since) || !isfinite(h->until) || h->until < 0) {
        snprintf(err, errlen, "the hold's end is not a time");
        return -1;
    }
    pthread_mutex_lock(&hs->mu);
    int rc = 0;
    if (hs->st.put && hs->st.put(hs->st.ctx, h) < 0) {
        snprintf(err, errlen, "the hold could not be written to knowledge.db: it holds until the "
                 "agent stops");
        rc = -2;
    }
    if (insert(hs, h) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    pthread_mutex_unlock(&hs->mu);
    return rc;
}

int holds_release(hold_table *hs, const char *target, const char *type)
{
    int n = 0;
    pthread_mutex_lock(&hs->mu);
    for (hent **p = &hs->head; *p;) {
        hent *e = *p;
        if (strcmp(e->target, nz(target)) != 0 || (type && type[0] && strcmp(e->type, type) != 0)) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        if (hs->st.del)
            hs->st.del(hs->st.ctx, e->target, e->type);
        hent_free(e);
        n++;
    }
    pthread_mutex_unlock(&hs->mu);
    return n;
}

void holds_restore(hold_table *hs, const hold *h, double now)
{
    if (!h || !h->target || !h->target[0] || (h->until > 0 && now >= h->until))
        return;
    pthread_mutex_lock(&hs->mu);
    (void)insert(hs, h);
    pthread_mutex_unlock(&hs->mu);
}

static const hent *match(hold_table *hs, const char *type, const char *target, int critical,
                         double now)
{
    for (const hent *e = hs->head; e; e = e->next) {
        if (expired(e, now) || (critical && !e->even_critical))
            continue;
        if (e->type[0] && strcmp(e->type, nz(type)) != 0)
            continue;
        if (strcmp(e->target, nz(target)) == 0 || fnmatch(e->target, nz(target), 0) == 0)
            return e;
    }
    return NULL;
}

static json_t *hent_json(const hent *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "target", sanitize_json_str(e->target));
    json_object_set_new(o, "type", e->type[0] ? sanitize_json_str(e->type) : json_null());
    json_object_set_new(o, "reason", sanitize_json_str(e->reason));
    json_object_set_new(o, "by", sanitize_json_str(e->by));
    json_object_set_new(o, "since", json_real(e->since));
    json_object_set_new(o, "until", e->until > 0 ? json_real(e->until) : json_null());
    json_object_set_new(o, "even_critical", json_boolean(e->even_critical));
    return o;
}

json_t *holds_match_json(hold_table *hs, const char *type, const char *target, int critical,
                         double now)
{
    if (!hs)
        return NULL;
    pthread_mutex_lock(&hs->mu);
    const hent *e = match(hs, type, target, critical, now);
    json_t *o = e ? hent_json(e) : NULL;
    pthread_mutex_unlock(&hs->mu);
    return o;
}

int holds_match(hold_table *hs, const char *type, const char *target, int critical, double now)
{
    if (!hs)
        return 0;
    pthread_mutex_lock(&hs->mu);
    int r = match(hs, type, target, critical, now) != NULL;
    pthread_mutex_unlock(&hs->mu);
    return r;
}

json_t *holds_json(hold_table *hs, double now)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&hs->mu);
    prune(hs, now);
    for (const hent *e = hs->head; e; e = e->next)
        json_array_append_new(arr, hent_json(e));
    pthread_mutex_unlock(&hs->mu);
    return json_pack("{s:o}", "holds", arr);
}
