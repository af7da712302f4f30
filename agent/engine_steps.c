/* engine_steps.c — one step at a time per plugin, and what not to try again: the per-plugin slots
 * (steps in flight, abandoned attempts, the wait queue with critical heals first, the clock of a
 * step queued behind others) and the futility marks (an action that ran for a state and changed
 * nothing). Engine thread only. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* ---- futility: an action that ran, changed nothing, and is not tried again for that state ---- */

static char *futile_key(const eissue *is, const char *action, int sev, size_t *klen)
{
    size_t tl = strlen(is->type), gl = strlen(is->target), al = strlen(action);
    char *k = malloc(tl + gl + al + 5);
    if (!k)
        return NULL;
    char *p = k;
    memcpy(p, is->type, tl + 1); p += tl + 1;
    memcpy(p, is->target, gl + 1); p += gl + 1;
    memcpy(p, action, al + 1); p += al + 1;
    *p = (char)('0' + (sev & 3));
    *klen = (size_t)(p - k) + 1;
    return k;
}

void eng_futile_mark(engine *e, const eissue *is, const char *action, int sev, int futile)
{
    size_t kl;
    char *k = futile_key(is, action, sev, &kl);
    if (!k)
        return;
    double *v = strmap_get(e->futile, k, kl);
    if (!futile) {
        free(strmap_del(e->futile, k, kl));
    } else if (v) {
        *v = clock_mono() + FUTILE_TTL;
    } else if ((v = malloc(sizeof *v))) {
        *v = clock_mono() + FUTILE_TTL;
        if (strmap_put(e->futile, k, kl, v) < 0)
            free(v);
    }
    free(k);
}

/* Seconds since the action was marked futile for this state, or -1 when it is not. */
double eng_futile_age(engine *e, const eissue *is, const char *action, int sev)
{
    size_t kl;
    char *k = futile_key(is, action, sev, &kl);
    if (!k)
        return -1;
    double *v = strmap_get(e->futile, k, kl), age = -1;
    double now = clock_mono();
    if (v && now < *v)
        age = now - (*v - FUTILE_TTL);
    else if (v)
        free(strmap_del(e->futile, k, kl));
    free(k);
    return age;
}

/* Drops expired marks; called from the sweep. Bounded work per call. */
void eng_futile_prune(engine *e)
{
    size_t i = 0, klen, n = 0;
    const char *key;
    void *val;
    double now = clock_mono();
    struct { char *k; size_t l; } dead[64];
    while (n < 64 && strmap_next(e->futile, &i, &key, &klen, &val)) {
        if (now >= *(double *)val && (dead[n].k = malloc(klen))) {
            memcpy(dead[n].k, key, klen);
            dead[n++].l = klen;
        }
    }
    for (size_t j = 0; j < n; j++) {
        free(strmap_del(e->futile, dead[j].k, dead[j].l));
        free(dead[j].k);
    }
}

/* ---- one step at a time per plugin ------------------------------------------------------ */

/* FIFO, except that a critical heal goes ahead of every non-critical one. */
void eng_wq_push(engine *e, int idx, heal *h)
{
    pslot *s = &e->slots[idx];
    h->wnext = NULL;
    if (h->severity == HEALER_SEV_CRITICAL) {
        heal **pp = &s->wq_head, *prev = NULL;
        while (*pp && (*pp)->severity == HEALER_SEV_CRITICAL) {
            prev = *pp;
            pp = &(*pp)->wnext;
        }
        h->wnext = *pp;
        *pp = h;
        if (!h->wnext)
            s->wq_tail = h;
        (void)prev;
        return;
    }
    if (s->wq_tail) s->wq_tail->wnext = h; else s->wq_head = h;
    s->wq_tail = h;
}

void eng_wq_remove(engine *e, heal *h)
{
    if (h->step_plugin < 0 || (size_t)h->step_plugin >= e->n)
        return;
    pslot *s = &e->slots[h->step_plugin];
    heal *prev = NULL;
    for (heal *x = s->wq_head; x; prev = x, x = x->wnext) {
        if (x != h)
            continue;
        if (prev) prev->wnext = x->wnext; else s->wq_head = x->wnext;
        if (s->wq_tail == x) s->wq_tail = prev;
        x->wnext = NULL;
        return;
    }
}


int eng_slot_open(const pslot *s)
{
    return s->n_abandoned == 0 && s->inflight < SLOT_PIPE_MAX;
}

/* The engine gives up on a step still running in plugin idx: remember it until its result. */
void eng_slot_abandon(engine *e, int idx, uint64_t attempt)
{
    pslot *s = &e->slots[idx];
    if (s->n_abandoned == s->cap_abandoned) {
        size_t cap = s->cap_abandoned ? s->cap_abandoned * 2 : 4;
        uint64_t *nv = realloc(s->abandoned, cap * sizeof *nv);
        if (!nv) {
            /* cannot remember it: stay stuck until the plugin is restarted (fail closed) */
            if (s->n_abandoned == 0) {
                static uint64_t never = UINT64_MAX;
                s->abandoned = &never;
                s->n_abandoned = 1;
            }
            return;
        }
        s->abandoned = nv;
        s->cap_abandoned = cap;
    }
    s->abandoned[s->n_abandoned++] = attempt;
}

/* 1 when attempt was abandoned on plugin idx (and forgets it: its result has come). */
int eng_slot_take_abandoned(engine *e, int idx, uint64_t attempt)
{
    pslot *s = &e->slots[idx];
    for (size_t i = 0; i < s->n_abandoned; i++) {
        if (s->abandoned[i] != attempt)
            continue;
        s->abandoned[i] = s->abandoned[--s->n_abandoned];
        return 1;
    }
    return 0;
}

/* The plugin may take steps again: waiting heals go, critical ones first. */
void eng_slot_kick(engine *e, int idx)
{
    pslot *s = &e->slots[idx];
    while (eng_slot_open(s) && s->wq_head) {
        heal *h = s->wq_head;
        s->wq_head = h->wnext;
        if (!s->wq_head)
            s->wq_tail = NULL;
        h->wnext = NULL;
        if (e->stopping) { /* its step would follow the restores and undo them */
            kb_action *k = &h->acts[h->n_acts - 1];
            k->outcome = "skipped";
            eng_set_act_message(k, "not run: the agent is stopping");
            eng_finish_heal(e, h, "cancelled", "the agent is stopping");
            continue;
        }
        eng_send_step(e, h);
    }
}

void eng_slot_answered(engine *e, int idx)
{
    if (idx >= 0 && (size_t)idx < e->n)
        e->slots[idx].last_answer = clock_mono();
}

/* The worker runs a plugin's messages one at a time, in order, and gives each callback its action
 * timeout from when it starts it; the engine's deadline counts from when it asked. A step queued
 * behind other heals' long steps would time out while its plugin is healthy (abandoned, the plugin
 * marked stuck, the heal failed). A plugin that answered something the engine was waiting for
 * after h's message was asked was working through what came before it: h gets one action timeout
 * from that answer, as the worker gives it. One that answers nothing times out as ever. Only
 * awaited answers count (not stray or duplicate ones), so each extension is earned by a message
 * the plugin took off its queue. No settle time is added: a settling verification waits on a
 * timer while the worker runs other messages, and runs at the first pause after it is due. */
int eng_step_extend(engine *e, heal *h, double mono)
{
    if ((h->phase != H_EXECUTING && h->phase != H_VERIFYING) || h->step_plugin < 0 ||
        (size_t)h->step_plugin >= e->n)
        return 0;
    double last = e->slots[h->step_plugin].last_answer;
    double d = last + e->rt->cfg->action_timeout;
    if (!(last > h->asked_at) || d <= mono)
        return 0;
    h->deadline = d;
    return 1;
}

/* A risky action that ran under a confirmation (the operator's, or the automatic one it earned)
 * extends or resets its streak towards limits.auto_after_confirmations. */
