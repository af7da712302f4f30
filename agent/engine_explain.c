/* engine_explain.c — why a heal went as it did, kept in the heal record (knowledge.db column
 * heals.decision, shown by GET /api/v1/heals/ID and healctl explain): the candidates the planner
 * weighed with their expected success and why the first went first, the governor's verdict with
 * its reason (and when a cooldown ends), the operator's word. Bounded: at most
 * EXPLAIN_MAX_CANDS candidates and KB_DECISION_MAX bytes. Engine thread, under e->lock. */
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sanitize_json.h"

#define EXPLAIN_MAX_CANDS 16

static json_t *decision_of(heal *h)
{
    if (!h->decision)
        h->decision = json_object();
    return h->decision;
}

static double fin(double v)
{
    return isfinite(v) ? v : 0.0;
}

/* Why order[0] is first, by the planner's rules (planner.c): step, then expected success,
 * then impact, then names. */
static void why_first(const heal *h, int explored, char *b, size_t n)
{
    const plan_item *a = &h->order[0];
    const plan_item *b2 = h->n_order > 1 ? &h->order[1] : NULL;
    unsigned step = a->action->step;
    if (explored) {
        snprintf(b, n, "explored: the least tried candidate of step %u (%llu attempts) goes first "
                 "now and then (agent.exploration), so a new action can prove itself", step,
                 (unsigned long long)a->attempts);
    } else if (!b2) {
        snprintf(b, n, "the only candidate");
    } else if (b2->action->step != step) {
        snprintf(b, n, "the only candidate of the gentlest step (step %u); the ladder's steps are "
                 "never reordered", step);
    } else if (a->expected != b2->expected) {
        snprintf(b, n, "the highest expected success in step %u: %.0f%% against %.0f%% for %s "
                 "(%llu attempts so far)", step, 100 * fin(a->expected), 100 * fin(b2->expected),
                 b2->action->name ? b2->action->name : "?", (unsigned long long)a->attempts);
    } else if (fin(a->action->impact) != fin(b2->action->impact)) {
        snprintf(b, n, "as likely to succeed as %s (%.0f%%), and gentler (impact %.2f against %.2f)",
                 b2->action->name ? b2->action->name : "?", 100 * fin(a->expected),
                 fin(a->action->impact), fin(b2->action->impact));
    } else {
        snprintf(b, n, "as likely to succeed and as gentle as %s: by plugin and action name",
                 b2->action->name ? b2->action->name : "?");
    }
}

void eng_explain_candidates(engine *e, heal *h, int explored)
{
    (void)e;
    json_t *d = decision_of(h);
    if (!d || !h->n_order)
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < h->n_order && i < EXPLAIN_MAX_CANDS; i++) {
        const plan_item *it = &h->order[i];
        const msg_action *a = it->action;
        json_t *o = json_pack("{s:o, s:o, s:o, s:i, s:f, s:f, s:f, s:I, s:b}", "plugin",
                              sanitize_json_str(a->plugin), "action", sanitize_json_str(a->name),
                              "target", sanitize_json_str(a->target ? a->target : h->is->target),
                              "step", (int)a->step, "impact", fin(a->impact), "prior",
                              fin(a->confidence), "expected", fin(it->expected), "attempts",
                              (json_int_t)it->attempts, "explored", it->explored != 0);
        if (o)
            json_object_set_new(o, "flags", eng_flags_json(a->flags));
        json_array_append_new(arr, o);
    }
    json_object_set_new(d, "candidates", arr);
    json_object_set_new(d, "candidates_total", json_integer((json_int_t)h->n_order));
    char why[400];
    why_first(h, explored, why, sizeof why);
    json_object_set_new(d, "first", json_string(why));
}

void eng_explain_verdict(engine *e, heal *h, const char *verdict, const char *reason)
{
    json_t *d = decision_of(h);
    if (!d)
        return;
    double now = clock_now();
    gov_budget b;
    governor_budget(e->rt->gov, now, &b);
    double cd = governor_cooldown_until(e->rt->gov, h->is->type, h->is->target,
                                        e->rt->cfg->dry_run, now);
    json_t *g = json_pack("{s:s, s:f, s:i, s:i}", "verdict", verdict, "at", now,
                          "heals_left_this_hour", b.heals_left, "max_heals_per_hour",
                          e->rt->cfg->limits.max_heals_per_hour);
    if (!g)
        return;
    json_object_set_new(g, "reason", sanitize_json_str(reason));
    json_object_set_new(g, "cooldown_until", cd > now && isfinite(cd) ? json_real(cd) : json_null());
    json_object_set_new(d, "governor", g);
}

void eng_explain_operator(heal *h, const char *word)
{
    json_t *d = decision_of(h);
    if (d)
        json_object_set_new(d, "operator", json_pack("{s:s, s:f}", "decision", word, "at",
                                                     clock_now()));
}

char *eng_explain_text(const heal *h)
{
    if (!h->decision)
        return NULL;
    char *s = json_dumps(h->decision, JSON_COMPACT);
    /* The candidates are bounded, their strings are not: past the bound keep the verdict. */
    if (s && strlen(s) > KB_DECISION_MAX) {
        free(s);
        json_t *c = json_deep_copy(h->decision);
        json_object_del(c, "candidates");
        json_object_set_new(c, "truncated", json_true());
        s = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        if (s && strlen(s) > KB_DECISION_MAX) {
            free(s);
            s = NULL;
        }
    }
    return s;
}
