/* engine_explain.c — why a heal went as it did, kept in the heal record (knowledge.db column
 * heals.decision, shown by GET /api/v1/heals/ID and healctl explain): the candidates the planner
 * weighed with their expected success and why the first went first, the governor's verdict with
 * its reason (and when a cooldown ends), the operator's word. Bounded: at most
 * EXPLAIN_MAX_CANDS candidates and KB_DECISION_MAX bytes.
 *
 * Captured as plain values on the engine thread (under e->lock) and turned into JSON only when
 * it is read: by the knowledge writer when the heal is stored, or by a view. Formatting it on the
 * engine thread for every heal was a third of that thread's time (bench_pipeline). */
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonbuf.h"

#define EXPLAIN_MAX_CANDS 16

typedef struct explain_cand {
    const char *plugin, *action, *target; /* in the decision's string block */
    int step;
    double impact, prior, expected;
    uint64_t attempts;
    int explored;
    uint32_t flags;
} explain_cand;

struct eng_decision {
    explain_cand *cands;        /* one block: the candidates, then their strings */
    size_t n_cands, total;
    int explored;               /* order[0] went first as exploration */
    int has_gov;
    char verdict[24];
    char *reason;
    double gov_at, cooldown_until;
    int heals_left, max_heals;
    int has_op;
    char op_word[16];
    double op_at;
};

static eng_decision *decision_of(heal *h)
{
    if (!h->decision)
        h->decision = calloc(1, sizeof *h->decision);
    return h->decision;
}

void eng_decision_free(eng_decision *d)
{
    if (!d)
        return;
    free(d->cands);
    free(d->reason);
    free(d);
}

static double fin(double v)
{
    return isfinite(v) ? v : 0.0;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *str_put(char **cur, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *cur;
    memcpy(d, s, n);
    *cur += n;
    return d;
}

void eng_explain_candidates(engine *e, heal *h, int explored)
{
    (void)e;
    eng_decision *d = decision_of(h);
    if (!d || !h->n_order)
        return;
    size_t n = h->n_order < EXPLAIN_MAX_CANDS ? h->n_order : EXPLAIN_MAX_CANDS;
    size_t bytes = n * sizeof(explain_cand);
    for (size_t i = 0; i < n; i++) {
        const msg_action *a = h->order[i].action;
        bytes += str_size(a->plugin) + str_size(a->name) +
                 str_size(a->target ? a->target : h->is->target);
    }
    explain_cand *c = malloc(bytes);
    if (!c)
        return;
    char *cur = (char *)(c + n);
    for (size_t i = 0; i < n; i++) {
        const plan_item *it = &h->order[i];
        const msg_action *a = it->action;
        c[i] = (explain_cand){
            .plugin = str_put(&cur, a->plugin),
            .action = str_put(&cur, a->name),
            .target = str_put(&cur, a->target ? a->target : h->is->target),
            .step = (int)a->step,
            .impact = fin(a->impact),
            .prior = fin(a->confidence),
            .expected = fin(it->expected),
            .attempts = it->attempts,
            .explored = it->explored != 0,
            .flags = a->flags,
        };
    }
    free(d->cands);
    d->cands = c;
    d->n_cands = n;
    d->total = h->n_order;
    d->explored = explored;
}

void eng_explain_verdict(engine *e, heal *h, const char *verdict, const char *reason)
{
    eng_decision *d = decision_of(h);
    if (!d)
        return;
    double now = clock_now();
    gov_budget b;
    governor_budget(e->rt->gov, now, &b);
    double cd = governor_cooldown_until(e->rt->gov, h->is->type, h->is->target,
                                        e->rt->cfg->dry_run, now);
    free(d->reason);
    d->reason = reason ? strdup(reason) : NULL;
    /* as snprintf "%s" would, cut to the field, without its cost once per heal */
    const char *v = verdict ? verdict : "?";
    size_t vl = strnlen(v, sizeof d->verdict - 1);
    memcpy(d->verdict, v, vl);
    d->verdict[vl] = '\0';
    d->gov_at = now;
    d->heals_left = b.heals_left;
    d->max_heals = e->rt->cfg->limits.max_heals_per_hour;
    d->cooldown_until = cd > now && isfinite(cd) ? cd : NAN;
    d->has_gov = 1;
}

void eng_explain_operator(heal *h, const char *word)
{
    eng_decision *d = decision_of(h);
    if (!d)
        return;
    snprintf(d->op_word, sizeof d->op_word, "%s", word);
    d->op_at = clock_now();
    d->has_op = 1;
}

/* ------------------------------------------------------------------ reading it (any thread) */

/* Why cands[0] is first, by the planner's rules (planner.c): step, then expected success,
 * then impact, then names. */
static void why_first(const eng_decision *d, char *b, size_t n)
{
    const explain_cand *a = &d->cands[0];
    const explain_cand *b2 = d->n_cands > 1 ? &d->cands[1] : NULL;
    int step = a->step;
    const char *b2name = b2 && b2->action ? b2->action : "?";
    if (d->explored) {
        snprintf(b, n, "explored: the least tried candidate of step %d (%llu attempts) goes first "
                 "now and then (agent.exploration), so a new action can prove itself", step,
                 (unsigned long long)a->attempts);
    } else if (!b2) {
        snprintf(b, n, "the only candidate");
    } else if (b2->step != step) {
        snprintf(b, n, "the only candidate of the gentlest step (step %d); the ladder's steps are "
                 "never reordered", step);
    } else if (a->expected != b2->expected) {
        snprintf(b, n, "the highest expected success in step %d: %.0f%% against %.0f%% for %s "
                 "(%llu attempts so far)", step, 100 * a->expected, 100 * b2->expected, b2name,
                 (unsigned long long)a->attempts);
    } else if (a->impact != b2->impact) {
        snprintf(b, n, "as likely to succeed as %s (%.0f%%), and gentler (impact %.2f against %.2f)",
                 b2name, 100 * a->expected, a->impact, b2->impact);
    } else {
        snprintf(b, n, "as likely to succeed and as gentle as %s: by plugin and action name",
                 b2name);
    }
}

/* The record as JSON text into b, keys in a fixed order; without the candidates (and marked
 * truncated) when cut. jsonbuf writes what jansson would, a value object per field cost more
 * than the rest of the heal's bookkeeping. */
static int decision_put(jsonbuf *b, const eng_decision *d, int cut)
{
    int bad = JB_LIT(b, "{");
    const char *sep = "";
    if (d->n_cands) {
        if (!cut) {
            bad = bad || JB_LIT(b, "\"candidates\":[");
            for (size_t i = 0; i < d->n_cands && !bad; i++) {
                const explain_cand *c = &d->cands[i];
                bad = (i && JB_LIT(b, ",")) || JB_LIT(b, "{\"plugin\":") || jb_str(b, c->plugin) ||
                      JB_LIT(b, ",\"action\":") || jb_str(b, c->action) ||
                      JB_LIT(b, ",\"target\":") || jb_str(b, c->target) ||
                      JB_LIT(b, ",\"step\":") || jb_int(b, c->step) ||
                      JB_LIT(b, ",\"impact\":") || jb_real(b, c->impact) ||
                      JB_LIT(b, ",\"prior\":") || jb_real(b, c->prior) ||
                      JB_LIT(b, ",\"expected\":") || jb_real(b, c->expected) ||
                      JB_LIT(b, ",\"attempts\":") || jb_int(b, (long long)c->attempts) ||
                      JB_LIT(b, ",\"explored\":") || jb_bool(b, c->explored) ||
                      JB_LIT(b, ",\"flags\":[");
                const char *fs = "";
                for (const eng_flag_name *n = eng_flag_names; n->name && !bad; n++)
                    if (c->flags & n->bit) {
                        bad = jb_put(b, fs, strlen(fs)) || jb_str(b, n->name);
                        fs = ",";
                    }
                bad = bad || JB_LIT(b, "]}");
            }
            bad = bad || JB_LIT(b, "],");
        }
        char why[400];
        why_first(d, why, sizeof why);
        bad = bad || JB_LIT(b, "\"candidates_total\":") || jb_int(b, (long long)d->total) ||
              JB_LIT(b, ",\"first\":") || jb_str(b, why);
        sep = ",";
    }
    if (d->has_gov) {
        bad = bad || jb_put(b, sep, strlen(sep)) || JB_LIT(b, "\"governor\":{\"verdict\":") ||
              jb_str(b, d->verdict) || JB_LIT(b, ",\"at\":") || jb_real(b, d->gov_at) ||
              JB_LIT(b, ",\"heals_left_this_hour\":") || jb_int(b, d->heals_left) ||
              JB_LIT(b, ",\"max_heals_per_hour\":") || jb_int(b, d->max_heals) ||
              JB_LIT(b, ",\"reason\":") || jb_str(b, d->reason) ||
              JB_LIT(b, ",\"cooldown_until\":") ||
              (isnan(d->cooldown_until) ? JB_LIT(b, "null") : jb_real(b, d->cooldown_until)) ||
              JB_LIT(b, "}");
        sep = ",";
    }
    if (d->has_op) {
        bad = bad || jb_put(b, sep, strlen(sep)) || JB_LIT(b, "\"operator\":{\"decision\":") ||
              jb_str(b, d->op_word) || JB_LIT(b, ",\"at\":") || jb_real(b, d->op_at) ||
              JB_LIT(b, "}");
        sep = ",";
    }
    if (cut)
        bad = bad || jb_put(b, sep, strlen(sep)) || JB_LIT(b, "\"truncated\":true");
    return bad || JB_LIT(b, "}") ? -1 : 0;
}

char *eng_decision_text(const eng_decision *d)
{
    if (!d)
        return NULL;
    /* The candidates are bounded, their strings are not: past the bound keep the verdict. */
    for (int cut = 0; cut < 2; cut++) {
        jsonbuf b = { 0 };
        if (decision_put(&b, d, cut) == 0 && b.len <= KB_DECISION_MAX && jb_cstr(&b))
            return b.buf;
        jb_free(&b);
    }
    return NULL;
}

json_t *eng_decision_json(const eng_decision *d)
{
    /* views are rare: one shape, made in one place */
    char *s = eng_decision_text(d);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return j ? j : json_null();
}

/* The knowledge writer's side of kb_heal.decision_later (knowledge.h). */
static char *decision_render(void *obj)
{
    return eng_decision_text(obj);
}

static void decision_release(void *obj)
{
    eng_decision_free(obj);
}

kb_deferred eng_decision_handoff(heal *h)
{
    kb_deferred k = { 0 };
    eng_decision *d = h->decision;
    if (!d)
        return k;
    h->decision = NULL;
    k.obj = d;
    k.render = decision_render;
    k.release = decision_release;
    k.approx_bytes = sizeof *d + d->n_cands * 128;
    return k;
}
