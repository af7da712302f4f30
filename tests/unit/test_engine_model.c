/* test_engine_model.c — model-based randomized test of the heal loop. A seeded PRNG drives a
 * detached engine (engine_harness.c) through random schedules: issues and repeats, plans,
 * results (late, duplicate, wrong attempt or plugin), verdicts, silence, resolves, acks,
 * confirm/reject, pause, time, reloads. A model of what the engine sent and was told checks the
 * promised invariants after every message and step; a failure prints the seed and the step
 * (MODEL_SEED=n replays one schedule; MODEL_SCHEDULES, MODEL_STEPS, MODEL_FIRST size a longer
 * run; HX_VERBOSE=1 shows the engine's log). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"

#define NP 4           /* d, p0, p1, p2 */
#define NTYPE 3
#define NTGT 4
#define NKEY (NTYPE * NTGT)
#define MAXH 512       /* heals per schedule (ids per engine generation are small) */
#define MAXN 4096      /* answers sent per schedule */

static const char *const TYPES[NTYPE] = { "t0", "t1", "t2" };
static const char *const TGTS[NTGT] = { "x0", "x1", "x2", "x3" };
static const char *const P0T[] = { "t0", "t1", NULL };
static const char *const P1T[] = { "t1", "t2", NULL };
static const char *const P2T[] = { "t0", "t2", NULL };
/* d detects and verifies; p0 verifies and restores; p1 restores and cannot verify (the
 * detector verifies for it, when it can); p2 verifies and has nothing to restore. */
static const hx_plugin PLUGINS[NP] = {
    { "d", NULL, 1, 0, 7 },
    { "p0", P0T, 1, 1, 0 },
    { "p1", P1T, 0, 1, 0 },
    { "p2", P2T, 1, 0, 10 },
};
static const char *const PN[NP] = { "d", "p0", "p1", "p2" };

enum { ST_NONE, ST_EXEC, ST_VERIFY };

typedef struct mstep {
    int kind;
    uint64_t attempt;
    int plugin;                 /* who runs it / verifies it */
    double deadline;
    double asked;               /* when it was asked of the plugin (eng_step_extend) */
} mstep;

typedef struct mheal {
    int known, finished;
    uint64_t id, issue_id;
    int key, severity;
    int asked[NP], answered[NP];
    mstep step;
} mheal;

typedef struct mexec {          /* every EXECUTE of this generation, by attempt */
    uint64_t attempt, seq, issue_id;
    int plugin, key;
    char action[64];
} mexec;

typedef struct mpv {            /* a preview sent: answered at random, never part of a record */
    uint64_t attempt, seq;
    int plugin;
} mpv;

typedef struct manswer {        /* every RESULT/VERDICT sent: its text carries #nonce */
    int verdict, code, plugin;
    uint64_t seq, attempt;
    int accepted, expected, lost, seen;
} manswer;

typedef struct mrestore {
    uint64_t attempt, seq, issue_id;
    int plugin, acked;
} mrestore;

typedef struct macted {         /* a plugin changed something for an issue: restore owed */
    uint64_t issue_id;
    int plugin;
} macted;

typedef struct model {
    hx h;
    uint64_t seed, rng;
    int step, failed;
    double next_due;            /* eng_next_due after the last step: the loop sleeps until then */
    char why[512];
    unsigned gen;
    /* this generation */
    mheal heals[MAXH];
    uint64_t top;               /* highest heal id seen + 1 */
    mexec *execs;
    size_t n_execs, cap_execs;
    uint64_t abandoned[NP][64];
    uint64_t abandoned_seq[NP][64];
    size_t n_abandoned[NP];
    /* when each plugin last answered a message in flight there: a step past its deadline whose
     * plugin answered after it was asked gets one action timeout from that answer */
    double last_answer[NP];
    int resolved[NKEY];         /* RESOLVE sent, no ISSUE for the key since */
    int raised[NKEY];
    macted acted[1024];
    size_t n_acted;
    mrestore restores[1024];
    size_t n_restores;
    uint64_t cancel_want[16];   /* CANCELs the model expects during this operation */
    size_t n_cancel_want;
    mpv pvs[256];               /* previews sent, not yet answered */
    size_t n_pvs;
    uint64_t verify_ok;         /* a VERIFY for this attempt may follow (detector verifies) */
    uint64_t verify_seq;
    double verify_settle;       /* the settle the executor asked for: the detector's VERIFY waits it */
    /* the whole schedule */
    manswer ans[MAXN];
    size_t n_ans;
    double commits[4096];       /* live non-critical commits (epoch seconds) */
    size_t n_commits;
    int paused;
    int stopping;               /* eng_begin_stop ran: nothing is planned, committed or sent */
    unsigned long long n_steps, n_heals, n_execs_total, n_timeouts, n_extended, n_preempts,
        n_restores_total, n_late, n_commits_total, n_restarts;
} model;

static uint64_t rnd(model *m)
{
    /* splitmix64 */
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rn(model *m, int n)
{
    return (int)(rnd(m) % (uint64_t)n);
}

static double ru(model *m, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rnd(m) >> 11) / 9007199254740992.0);
}

static void mfail(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mfail(model *m, const char *fmt, ...)
{
    if (m->failed)
        return;
    m->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "MODEL FAILURE seed %" PRIu64 " step %d: %s\n", m->seed, m->step, m->why);
}

static int key_of(const char *type, const char *target)
{
    for (int t = 0; t < NTYPE; t++)
        for (int g = 0; g < NTGT; g++)
            if (strcmp(type, TYPES[t]) == 0 && strcmp(target, TGTS[g]) == 0)
                return t * NTGT + g;
    return -1;
}

static mheal *heal_get(model *m, uint64_t id)
{
    return id > 0 && id < MAXH ? &m->heals[id] : NULL;
}

static mexec *exec_get(model *m, uint64_t attempt)
{
    for (size_t i = 0; i < m->n_execs; i++)
        if (m->execs[i].attempt == attempt)
            return &m->execs[i];
    return NULL;
}

static int live(model *m)
{
    return !m->h.cfg.dry_run;
}

static void note_acted(model *m, uint64_t issue_id, int plugin)
{
    if (!live(m) || !PLUGINS[plugin].restore)
        return;
    for (size_t i = 0; i < m->n_acted; i++)
        if (m->acted[i].issue_id == issue_id && m->acted[i].plugin == plugin)
            return;
    if (m->n_acted < 1024)
        m->acted[m->n_acted++] = (macted){ issue_id, plugin };
}

static void abandon(model *m, int p, uint64_t attempt, uint64_t seq)
{
    if (m->n_abandoned[p] < 64) {
        m->abandoned_seq[p][m->n_abandoned[p]] = seq;
        m->abandoned[p][m->n_abandoned[p]++] = attempt;
    }
}

static int take_abandoned(model *m, int p, uint64_t attempt)
{
    for (size_t i = 0; i < m->n_abandoned[p]; i++)
        if (m->abandoned[p][i] == attempt) {
            m->n_abandoned[p]--;
            m->abandoned[p][i] = m->abandoned[p][m->n_abandoned[p]];
            m->abandoned_seq[p][i] = m->abandoned_seq[p][m->n_abandoned[p]];
            return 1;
        }
    return 0;
}

/* The answers whose text is in the act of the step (attempt) are lost when the step's message
 * is replaced (a verify timeout). */
static void lose_answers(model *m, uint64_t attempt)
{
    for (size_t i = 0; i < m->n_ans; i++)
        if (m->ans[i].attempt == attempt && m->ans[i].accepted)
            m->ans[i].lost = 1;
}

/* ---- what the engine sends ------------------------------------------------------------ */

static void on_sent(void *ud, const hx_sent *s)
{
    model *m = ud;
    if (m->failed)
        return;
    int key = s->has_issue ? key_of(s->type, s->target) : -1;
    if (m->stopping && (s->kind == MSG_PLAN_REQ || s->kind == MSG_EXECUTE ||
                        s->kind == HX_PREVIEW)) {
        mfail(m, "%s for heal %" PRIu64 " after the stop began", msg_kind_name(s->kind), s->seq);
        return;
    }
    switch ((int)s->kind) {
    case MSG_PLAN_REQ: {
        mheal *h = heal_get(m, s->seq);
        if (!h || key < 0) {
            mfail(m, "PLAN_REQ for heal %" PRIu64 " out of the model's range", s->seq);
            return;
        }
        if (h->finished) {
            mfail(m, "PLAN_REQ for heal %" PRIu64 " that already finished", s->seq);
            return;
        }
        if (!h->known) {
            *h = (mheal){ .known = 1, .id = s->seq, .issue_id = s->issue_id, .key = key,
                          .severity = s->severity };
            m->n_heals++;
            if (s->seq + 1 > m->top)
                m->top = s->seq + 1;
        }
        if (h->key != key || h->issue_id != s->issue_id)
            mfail(m, "heal %" PRIu64 " changed issue", s->seq);
        if (!PLUGINS[s->plugin].types)
            mfail(m, "PLAN_REQ to %s, which plans nothing", PN[s->plugin]);
        h->asked[s->plugin] = 1;
        break;
    }
    case MSG_EXECUTE: {
        m->n_execs_total++;
        mheal *h = heal_get(m, s->seq);
        if (!h || !h->known) {
            mfail(m, "EXECUTE for unknown heal %" PRIu64, s->seq);
            return;
        }
        if (h->finished)
            mfail(m, "EXECUTE for heal %" PRIu64 " after it finished", s->seq);
        if (h->step.kind != ST_NONE)
            mfail(m, "heal %" PRIu64 ": EXECUTE %" PRIu64 " while step %" PRIu64 " is in flight",
                 s->seq, s->attempt, h->step.attempt);
        if (key < 0 || key != h->key || s->issue_id != h->issue_id)
            mfail(m, "EXECUTE for heal %" PRIu64 " names another issue", s->seq);
        if (key >= 0 && m->resolved[key])
            mfail(m, "EXECUTE (heal %" PRIu64 ") for %s/%s after it was resolved", s->seq, s->type,
                 s->target);
        if (m->n_abandoned[s->plugin])
            mfail(m, "EXECUTE to %s while its step %" PRIu64 " is abandoned and unanswered",
                 PN[s->plugin], m->abandoned[s->plugin][0]);
        if (strcmp(s->action_plugin, PN[s->plugin]) != 0)
            mfail(m, "EXECUTE of %s's action sent to %s", s->action_plugin, PN[s->plugin]);
        if (!s->attempt || exec_get(m, s->attempt))
            mfail(m, "EXECUTE attempt %" PRIu64 " not fresh", s->attempt);
        for (size_t i = 0; i < m->n_restores; i++)
            if (m->restores[i].attempt == s->attempt)
                mfail(m, "EXECUTE attempt %" PRIu64 " is a RESTORE's", s->attempt);
        if (m->n_execs == m->cap_execs) {
            m->cap_execs = m->cap_execs ? m->cap_execs * 2 : 64;
            m->execs = realloc(m->execs, m->cap_execs * sizeof *m->execs);
            assert_non_null(m->execs);
        }
        mexec *x = &m->execs[m->n_execs++];
        *x = (mexec){ .attempt = s->attempt, .seq = s->seq, .issue_id = s->issue_id,
                      .plugin = s->plugin, .key = key };
        snprintf(x->action, sizeof x->action, "%s", s->action);
        h->step = (mstep){ ST_EXEC, s->attempt, s->plugin, s->mono + m->h.cfg.action_timeout,
                           s->mono };
        break;
    }
    case HX_PREVIEW: {
        /* a pending plan's preview: only to a free plugin, for a heal that waits */
        mheal *h = heal_get(m, s->seq);
        if (!h || !h->known || h->finished)
            mfail(m, "preview for heal %" PRIu64 " that is not waiting", s->seq);
        if (h && h->step.kind != ST_NONE)
            mfail(m, "preview for heal %" PRIu64 " while its step is in flight", s->seq);
        if (m->n_abandoned[s->plugin])
            mfail(m, "preview to %s while its step %" PRIu64 " is abandoned", PN[s->plugin],
                  m->abandoned[s->plugin][0]);
        if (!s->attempt || exec_get(m, s->attempt))
            mfail(m, "preview attempt %" PRIu64 " not fresh", s->attempt);
        for (size_t i = 0; i < m->n_pvs; i++)
            if (m->pvs[i].plugin == s->plugin)
                mfail(m, "two previews in flight on %s", PN[s->plugin]);
        if (m->n_pvs < 256)
            m->pvs[m->n_pvs++] = (mpv){ s->attempt, s->seq, s->plugin };
        break;
    }
    case MSG_VERIFY: {
        mheal *h = heal_get(m, s->seq);
        if (!h || !h->known || h->finished || m->verify_ok != s->attempt ||
            m->verify_seq != s->seq || h->step.kind != ST_NONE) {
            mfail(m, "unexpected VERIFY heal %" PRIu64 " attempt %" PRIu64, s->seq, s->attempt);
            return;
        }
        m->verify_ok = 0;
        if (s->wait != m->verify_settle)
            mfail(m, "VERIFY heal %" PRIu64 " waits %g s, the executor asked %g", s->seq, s->wait,
                  m->verify_settle);
        h->step = (mstep){ ST_VERIFY, s->attempt, s->plugin,
                           s->mono + m->verify_settle + m->h.cfg.action_timeout, s->mono };
        break;
    }
    case MSG_CANCEL: {
        size_t i;
        for (i = 0; i < m->n_cancel_want; i++)
            if (m->cancel_want[i] == s->attempt)
                break;
        if (i == m->n_cancel_want) {
            mfail(m, "unexpected CANCEL of %" PRIu64 " to %s", s->attempt, PN[s->plugin]);
            return;
        }
        m->cancel_want[i] = m->cancel_want[--m->n_cancel_want];
        break;
    }
    case MSG_RESTORE: {
        m->n_restores_total++;
        if (!PLUGINS[s->plugin].restore)
            mfail(m, "RESTORE to %s, which has no restore()", PN[s->plugin]);
        for (size_t i = 0; i < m->n_restores; i++) {
            mrestore *r = &m->restores[i];
            if (r->attempt != s->attempt)
                continue;
            if (r->acked)
                mfail(m, "RESTORE %" PRIu64 " sent again after its ACK", s->attempt);
            if (r->plugin != s->plugin || r->issue_id != s->issue_id)
                mfail(m, "RESTORE %" PRIu64 " resent elsewhere", s->attempt);
            return;
        }
        if (exec_get(m, s->attempt))
            mfail(m, "RESTORE attempt %" PRIu64 " is an EXECUTE's", s->attempt);
        if (m->n_restores < 1024)
            m->restores[m->n_restores++] = (mrestore){ s->attempt, s->seq, s->issue_id,
                                                       s->plugin, 0 };
        break;
    }
    default:
        break;
    }
}

/* The governor writes every live commit to its store: count them (sliding hour). */
static int st_commit(void *ctx, const gov_commit *c)
{
    model *m = ctx;
    m->n_commits_total++;
    if (m->h.cfg.dry_run)
        mfail(m, "a live window was committed in dry-run (%s/%s)", c->issue_type, c->target);
    if (m->paused)
        mfail(m, "a heal was committed while paused (%s/%s)", c->issue_type, c->target);
    if (m->stopping)
        mfail(m, "a heal was committed after the stop began (%s/%s)", c->issue_type, c->target);
    if (c->severity >= HEALER_SEV_CRITICAL)
        return 0;
    if (m->n_commits < 4096)
        m->commits[m->n_commits++] = c->t;
    int n = 0;
    for (size_t i = 0; i < m->n_commits; i++)
        n += m->commits[i] > c->t - 3600.0 && m->commits[i] <= c->t;
    if (n > m->h.cfg.limits.max_heals_per_hour)
        mfail(m, "%d live non-critical heals in the hour to %.3f (limit %d)", n, c->t,
             m->h.cfg.limits.max_heals_per_hour);
    return 0;
}
static int st_pause(void *ctx, int p) { (void)ctx; (void)p; return 0; }
static int st_snooze(void *ctx, const char *a, const char *b, double u)
{
    (void)ctx; (void)a; (void)b; (void)u;
    return 0;
}
static int st_streak(void *ctx, const char *a, const char *b, int n)
{
    (void)ctx; (void)a; (void)b; (void)n;
    return 0;
}

/* ---- finished heals: what they record ------------------------------------------------- */

static void check_record(model *m, json_t *rec)
{
    uint64_t id = (uint64_t)json_integer_value(json_object_get(rec, "id"));
    const char *outcome = json_string_value(json_object_get(rec, "outcome"));
    mheal *h = heal_get(m, id);
    if (!h || !h->known) {
        mfail(m, "a heal %" PRIu64 " nobody planned was recorded", id);
        return;
    }
    if (h->finished)
        mfail(m, "heal %" PRIu64 " recorded twice", id);
    h->finished = 1;
    if (h->step.kind != ST_NONE)
        mfail(m, "heal %" PRIu64 " ended (%s) with step %" PRIu64 " in flight", id, outcome,
             h->step.attempt);
    if (m->resolved[h->key] && strcmp(outcome, "cancelled") != 0 &&
        strcmp(outcome, "healed") != 0 && strcmp(outcome, "dry_run") != 0)
        mfail(m, "heal %" PRIu64 " of a resolved issue ended %s", id, outcome);
    json_t *acts = json_object_get(rec, "actions");
    size_t i;
    json_t *a;
    json_array_foreach(acts, i, a) {
        const char *msgtext = json_string_value(json_object_get(a, "message"));
        const char *act = json_string_value(json_object_get(a, "action"));
        const char *plugin = json_string_value(json_object_get(a, "plugin"));
        const char *aout = json_string_value(json_object_get(a, "outcome"));
        int final_verdict = -1, result_code = -100;
        for (const char *p = msgtext; p && (p = strchr(p, '#'));) {
            char *end;
            unsigned long long n = strtoull(p + 1, &end, 10);
            p = end;
            if (n >= m->n_ans) {
                mfail(m, "heal %" PRIu64 ": unknown answer #%llu in its record", id, n);
                return;
            }
            manswer *w = &m->ans[n];
            mexec *x = exec_get(m, w->attempt);
            if (!w->accepted)
                mfail(m, "heal %" PRIu64 ": answer #%llu (attempt %" PRIu64 ", from %s) should "
                     "have been ignored but is recorded", id, n, w->attempt, PN[w->plugin]);
            if (w->seen)
                mfail(m, "answer #%llu recorded twice", n);
            w->seen = 1;
            if (!x || x->seq != id || strcmp(x->action, act) != 0 ||
                strcmp(PN[x->plugin], plugin) != 0)
                mfail(m, "heal %" PRIu64 ": act %s/%s carries answer #%llu to attempt %" PRIu64
                     " which was %s/%s of heal %" PRIu64, id, plugin, act, n, w->attempt,
                     x ? PN[x->plugin] : "?", x ? x->action : "?", x ? x->seq : 0);
            if (w->verdict)
                final_verdict = w->code;
            else
                result_code = w->code;
        }
        if (!live(m) || strcmp(aout, "preempted") == 0)
            continue;
        if (final_verdict == 1 && strcmp(aout, "healed") != 0)
            mfail(m, "heal %" PRIu64 ": %s verified healed but recorded %s", id, act, aout);
        if (final_verdict == 0 && strcmp(aout, "not_healed") != 0)
            mfail(m, "heal %" PRIu64 ": %s verified not healed but recorded %s", id, act, aout);
        if (final_verdict < 0 && result_code == HEALER_OUTCOME_HEALED && strcmp(aout, "healed"))
            mfail(m, "heal %" PRIu64 ": %s answered healed but recorded %s", id, act, aout);
        if (result_code == HEALER_OUTCOME_FAILED && strcmp(aout, "failed"))
            mfail(m, "heal %" PRIu64 ": %s answered failed but recorded %s", id, act, aout);
    }
    for (size_t k = 0; k < m->n_ans; k++) {
        manswer *w = &m->ans[k];
        if (w->seq == id && w->expected && !w->lost && !w->seen)
            mfail(m, "heal %" PRIu64 ": accepted answer #%zu (attempt %" PRIu64 ") missing from "
                 "its record", id, k, w->attempt);
    }
}

static void collect(model *m)
{
    json_t *t = hx_take_heals(&m->h);
    size_t i;
    json_t *r;
    json_array_foreach(t, i, r) {
        if (m->failed)
            break;
        check_record(m, r);
    }
    json_decref(t);
}

/* The engine and the model agree on every step in flight and every stuck plugin. */
static void cross_check(model *m)
{
    engine *e = m->h.e;
    for (uint64_t id = 1; id < m->top && !m->failed; id++) {
        mheal *h = &m->heals[id];
        heal *eh = u64map_get(e->heals, id);
        int phase = eh ? (int)eh->phase : -1;
        int want = h->step.kind == ST_EXEC ? H_EXECUTING : h->step.kind == ST_VERIFY ? H_VERIFYING : -2;
        if (want >= 0 && (phase != want || eh->attempt != h->step.attempt))
            mfail(m, "heal %" PRIu64 ": model has step %" PRIu64 " %s, engine phase %d attempt %"
                 PRIu64, id, h->step.attempt, want == H_EXECUTING ? "executing" : "verifying",
                 phase, eh ? eh->attempt : 0);
        else if (want >= 0 && eh->deadline != h->step.deadline)
            mfail(m, "heal %" PRIu64 ": step %" PRIu64 " due at %.6f, the model says %.6f", id,
                 h->step.attempt, eh->deadline, h->step.deadline);
        if (want < 0 && (phase == H_EXECUTING || phase == H_VERIFYING))
            mfail(m, "heal %" PRIu64 ": engine has a step in flight the model does not know", id);
        if (eh && h->finished)
            mfail(m, "heal %" PRIu64 " recorded but still in the engine", id);
    }
    /* every heal belongs to an open issue whose heal it is */
    size_t i = 0;
    void *val;
    while (!m->failed && u64map_next(e->heals, &i, NULL, &val)) {
        heal *eh = val;
        eissue *is = e->ihead;
        while (is && is != eh->is)
            is = is->next;
        if (!is || is->active != eh)
            mfail(m, "heal %" PRIu64 " is not its open issue's active heal", eh->id);
    }
    for (int p = 0; p < NP && !m->failed; p++)
        if (e->slots[p].n_abandoned != m->n_abandoned[p])
            mfail(m, "%s: engine has %zu abandoned steps, model %zu", PN[p], e->slots[p].n_abandoned,
                 m->n_abandoned[p]);
    if (m->n_cancel_want)
        mfail(m, "CANCEL of %" PRIu64 " expected, not sent", m->cancel_want[0]);
}

/* ---- events --------------------------------------------------------------------------- */

static const char *const ACTS[NP][3] = {
    { "", "", "" }, { "p0a", "p0b", "sh" }, { "p1a", "p1b", "sh" }, { "p2a", "p2b", "p2c" } };

static void ev_issue(model *m)
{
    int key = rn(m, NKEY);
    int sev = rn(m, 10);
    sev = sev < 3 ? 0 : sev < 6 ? 1 : sev < 8 ? 2 : 3;
    int from = rn(m, NP);
    /* pre-emption: a critical issue ends a gentler heal's step (abandoned or cancelled) */
    if (sev == HEALER_SEV_CRITICAL)
        for (uint64_t id = 1; id < m->top; id++) {
            mheal *h = &m->heals[id];
            if (!h->known || h->finished || h->key != key || h->severity >= 3 ||
                h->step.kind == ST_NONE)
                continue;
            m->n_preempts++;
            if (h->step.kind == ST_EXEC) {
                abandon(m, h->step.plugin, h->step.attempt, id);
                mexec *x = exec_get(m, h->step.attempt);
                note_acted(m, h->issue_id, x->plugin);
            } else {
                m->cancel_want[m->n_cancel_want++] = h->step.attempt;
            }
            h->step.kind = ST_NONE;
        }
    m->resolved[key] = 0;
    m->raised[key] = 1;
    hx_issue(&m->h, PN[from], TYPES[key / NTGT], TGTS[key % NTGT], sev);
}

static void ev_resolve(model *m)
{
    int key = rn(m, NKEY);
    if (!m->raised[key])
        return;
    m->resolved[key] = 1;
    hx_resolve(&m->h, PN[rn(m, NP)], TYPES[key / NTGT], TGTS[key % NTGT]);
}

static void ev_plan(model *m)
{
    uint64_t cand[MAXH];
    int cp[MAXH];
    size_t n = 0;
    for (uint64_t id = 1; id < m->top; id++)
        for (int p = 0; p < NP; p++)
            if (m->heals[id].known && m->heals[id].asked[p] && !m->heals[id].answered[p]) {
                cand[n] = id;
                cp[n++] = p;
            }
    uint64_t id;
    int p;
    if (n && rn(m, 10)) {
        size_t k = (size_t)rn(m, (int)n);
        id = cand[k];
        p = cp[k];
        m->heals[id].answered[p] = 1;
    } else { /* late, duplicate, or for a heal that does not exist */
        id = (uint64_t)rn(m, 40) + 1;
        p = 1 + rn(m, 3);
    }
    hx_act acts[6];
    int na = rn(m, 7) == 0 ? 0 : 1 + rn(m, 4);
    for (int i = 0; i < na; i++) {
        int f = rn(m, 20);
        acts[i] = (hx_act){ ACTS[p][rn(m, 3)], (unsigned)rn(m, 3),
                            f == 0 ? HEALER_ACTION_CONFIG
                            : f == 1 ? (HEALER_ACTION_CONFIG | HEALER_ACTION_AUTO_OK)
                            : f == 2 ? HEALER_ACTION_ROLLBACK : f == 3 ? HEALER_ACTION_REVERSIBLE : 0,
                            ru(m, 0.05, 0.95) };
    }
    hx_plan(&m->h, PN[p], id, acts, (size_t)na);
}

static manswer *new_answer(model *m, int verdict, int plugin, uint64_t seq, uint64_t attempt,
                           int code, char *text, size_t tl)
{
    if (m->n_ans >= MAXN)
        return NULL;
    manswer *w = &m->ans[m->n_ans];
    *w = (manswer){ .verdict = verdict, .code = code, .plugin = plugin, .seq = seq,
                    .attempt = attempt };
    snprintf(text, tl, "%s#%zu", verdict ? "v" : "r", m->n_ans);
    m->n_ans++;
    return w;
}

static void send_result(model *m, int p, uint64_t seq, uint64_t attempt, int code, double wait)
{
    char text[64];
    manswer *w = new_answer(m, 0, p, seq, attempt, code, text, sizeof text);
    if (!w)
        return;
    mheal *h = heal_get(m, seq);
    size_t k;
    for (k = 0; k < m->n_pvs; k++)
        if (attempt && m->pvs[k].attempt == attempt && m->pvs[k].plugin == p)
            break;
    if (k < m->n_pvs) {
        /* the preview in flight there, whoever sent it (attempts are global: a "wrong attempt"
         * of a step may be a preview's, and the engine takes it as that preview's answer) */
        m->pvs[k] = m->pvs[--m->n_pvs];
        m->last_answer[p] = m->h.mono;
    } else if (attempt && take_abandoned(m, p, attempt)) {
        m->n_late++;
        m->last_answer[p] = m->h.mono;
    } else if (attempt && h && h->known && !h->finished && h->step.kind == ST_EXEC &&
               h->step.attempt == attempt && h->step.plugin == p) {
        w->accepted = 1;
        m->last_answer[p] = m->h.mono;
        /* the act's message is this text unless a verify timeout replaces it */
        w->expected = 1;
        mexec *x = exec_get(m, attempt);
        if (code != HEALER_OUTCOME_FAILED && code != HEALER_OUTCOME_SKIPPED &&
            code != HEALER_OUTCOME_DRY_RUN)
            note_acted(m, x->issue_id, p);
        h->step.kind = ST_NONE;
        if (code == HEALER_OUTCOME_DONE || code == HEALER_OUTCOME_DRY_RUN) {
            double settle = wait > 0 && wait <= HEALER_VERIFY_MAX_S ? wait : 0;
            if (PLUGINS[p].verify) {
                h->step = (mstep){ ST_VERIFY, attempt, p,
                                   m->h.mono + settle + m->h.cfg.action_timeout, m->h.mono };
            } else {
                m->verify_ok = attempt;
                m->verify_seq = seq;
                m->verify_settle = settle;
            }
        }
    }
    hx_result(&m->h, PN[p], seq, attempt, code, wait, text);
    m->verify_ok = 0;
}

static void ev_result(model *m)
{
    static const int codes[] = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, -1, 7 };
    static const double waits[] = { 0, 0, 0, 5, 100, 5000 };
    int code = codes[rn(m, 20)];
    double wait = waits[rn(m, 6)];
    int kind = rn(m, 12);
    if (kind >= 10) { /* a preview's answer: it must end up in no record */
        if (!m->n_pvs)
            return;
        size_t k = (size_t)rn(m, (int)m->n_pvs);
        mpv p = m->pvs[k];
        send_result(m, p.plugin, p.seq, p.attempt, code, wait); /* takes it off pvs */
        return;
    }
    if (kind < 7) { /* the answer to a step in flight */
        uint64_t ids[MAXH];
        size_t n = 0;
        for (uint64_t id = 1; id < m->top; id++)
            if (m->heals[id].known && !m->heals[id].finished && m->heals[id].step.kind == ST_EXEC)
                ids[n++] = id;
        if (!n)
            return;
        mheal *h = &m->heals[ids[rn(m, (int)n)]];
        send_result(m, h->step.plugin, h->id, h->step.attempt, code, wait);
    } else if (kind < 9) { /* a late one */
        int p = rn(m, NP);
        if (!m->n_abandoned[p])
            return;
        size_t k = (size_t)rn(m, (int)m->n_abandoned[p]);
        send_result(m, p, m->abandoned_seq[p][k], m->abandoned[p][k], code, wait);
    } else if (m->n_execs) { /* wrong: plugin, attempt, heal, or a duplicate */
        mexec *x = &m->execs[rn(m, (int)m->n_execs)];
        switch (rn(m, 4)) {
        case 0: send_result(m, (x->plugin + 1 + rn(m, NP - 1)) % NP, x->seq, x->attempt, code, wait); break;
        case 1: send_result(m, x->plugin, x->seq, x->attempt + 1 + (uint64_t)rn(m, 3), code, wait); break;
        case 2: send_result(m, x->plugin, x->seq + 1 + (uint64_t)rn(m, 3), x->attempt, code, wait); break;
        default: send_result(m, x->plugin, x->seq, x->attempt, code, wait); break;
        }
    }
}

static void send_verdict(model *m, int p, uint64_t seq, uint64_t attempt, int code, double wait)
{
    char text[64];
    manswer *w = new_answer(m, 1, p, seq, attempt, code, text, sizeof text);
    if (!w)
        return;
    mheal *h = heal_get(m, seq);
    if (attempt && h && h->known && !h->finished && h->step.kind == ST_VERIFY &&
        h->step.attempt == attempt && h->step.plugin == p) {
        w->accepted = 1;
        m->last_answer[p] = m->h.mono;
        if (code == 2) {
            double ww = wait > 0 && wait <= HEALER_VERIFY_MAX_S ? wait : 0;
            h->step.deadline = m->h.mono + ww + m->h.cfg.action_timeout;
            h->step.asked = m->h.mono;
        } else {
            w->expected = 1;
            h->step.kind = ST_NONE;
        }
    }
    hx_verdict(&m->h, PN[p], seq, attempt, code, wait, text);
}

static void ev_verdict(model *m)
{
    static const double waits[] = { 1, 30, 500, 5000 };
    int code = rn(m, 3);
    double wait = waits[rn(m, 4)];
    uint64_t ids[MAXH];
    size_t n = 0;
    for (uint64_t id = 1; id < m->top; id++)
        if (m->heals[id].known && !m->heals[id].finished && m->heals[id].step.kind != ST_NONE)
            ids[n++] = id;
    if (!n)
        return;
    mheal *h = &m->heals[ids[rn(m, (int)n)]];
    int kind = rn(m, 10);
    if (kind < 7)
        send_verdict(m, h->step.plugin, h->id, h->step.attempt, code, wait);
    else if (kind < 8)
        send_verdict(m, (h->step.plugin + 1 + rn(m, NP - 1)) % NP, h->id, h->step.attempt, code, wait);
    else if (kind < 9)
        send_verdict(m, h->step.plugin, h->id, h->step.attempt + 1, code, wait);
    else
        send_verdict(m, h->step.plugin, h->id + 1, h->step.attempt, code, wait);
}

static void ev_ack(model *m)
{
    size_t open[1024], n = 0;
    for (size_t i = 0; i < m->n_restores; i++)
        if (!m->restores[i].acked)
            open[n++] = i;
    if (!n)
        return;
    mrestore *r = &m->restores[open[rn(m, (int)n)]];
    int k = rn(m, 6);
    if (k == 0) {
        hx_ack(&m->h, PN[(r->plugin + 1 + rn(m, NP - 1)) % NP], r->seq, r->attempt);
    } else if (k == 1) {
        hx_ack(&m->h, PN[r->plugin], r->seq, r->attempt + 100000);
    } else {
        r->acked = 1;
        m->last_answer[r->plugin] = m->h.mono;
        hx_ack(&m->h, PN[r->plugin], r->seq, r->attempt);
    }
}

static void ev_command(model *m)
{
    json_t *all = engine_pending_json(m->h.e);
    json_t *p = json_object_get(all, "pending");
    size_t n = json_array_size(p);
    uint64_t id = n ? (uint64_t)json_integer_value(json_object_get(json_array_get(p, (size_t)rn(m, (int)n)), "id"))
                    : (uint64_t)rn(m, 40) + 1;
    json_decref(all);
    http_command c = rn(m, 3) ? HTTP_CMD_CONFIRM : HTTP_CMD_REJECT;
    int rc = hx_command(&m->h, c, id);
    if (!n && rc != HEALER_E_NOTFOUND)
        mfail(m, "command on heal %" PRIu64 " with nothing pending: %d", id, rc);
    if (n && rc != HEALER_OK)
        mfail(m, "command on pending heal %" PRIu64 ": %d", id, rc);
}

/* Time passes; the sweep then times out what the model says is due. */
static void advance(model *m, double dt)
{
    hx_advance(&m->h, dt);
    double mono = m->h.mono;
    for (uint64_t id = 1; id < m->top; id++) {
        mheal *h = &m->heals[id];
        if (!h->known || h->finished || h->step.kind == ST_NONE || mono < h->step.deadline)
            continue;
        /* the engine thread sleeps until eng_next_due: it must not lie past this deadline */
        if (m->next_due > h->step.deadline + 1e-6)
            mfail(m, "heal %" PRIu64 ": step due at %.3f but the loop would sleep until %.3f", id,
                  h->step.deadline, m->next_due);
        /* its plugin answered a message after this one was asked: it was working through the
         * messages before it, and the step has one action timeout from that answer */
        double la = m->last_answer[h->step.plugin];
        if (la > h->step.asked && la + m->h.cfg.action_timeout > mono) {
            h->step.deadline = la + m->h.cfg.action_timeout;
            m->n_extended++;
            continue;
        }
        m->n_timeouts++;
        if (h->step.kind == ST_EXEC) {
            abandon(m, h->step.plugin, h->step.attempt, id);
            note_acted(m, h->issue_id, h->step.plugin);
        } else {
            m->cancel_want[m->n_cancel_want++] = h->step.attempt;
            lose_answers(m, h->step.attempt);
        }
        h->step.kind = ST_NONE;
    }
    hx_sweep(&m->h);
    /* a sweep leaves nothing overdue: no step, wait, plan or confirmation past its time */
    size_t i = 0;
    void *val;
    while (!m->failed && u64map_next(m->h.e->heals, &i, NULL, &val)) {
        heal *eh = val;
        if (eh->phase == H_PENDING ? m->h.now >= eh->pending_expires : mono >= eh->deadline)
            mfail(m, "heal %" PRIu64 " (phase %d) overdue after a sweep", eh->id, (int)eh->phase);
    }
}

static void ev_time(model *m)
{
    int k = rn(m, 20);
    double dt = k < 10 ? ru(m, 0.001, 1) : k < 16 ? ru(m, 1, 10) : k < 19 ? ru(m, 10, 120)
                                                                           : ru(m, 120, 4000);
    advance(m, dt);
}

static void new_generation(model *m)
{
    m->gen++;
    for (uint64_t id = 0; id < MAXH; id++)
        m->heals[id] = (mheal){ 0 };
    m->top = 1;
    m->n_execs = 0;
    m->n_pvs = 0;
    memset(m->n_abandoned, 0, sizeof m->n_abandoned);
    memset(m->last_answer, 0, sizeof m->last_answer);
    memset(m->resolved, 0, sizeof m->resolved);
    memset(m->raised, 0, sizeof m->raised);
    m->n_acted = 0;
    m->n_restores = 0;
    m->n_cancel_want = 0;
    /* answers of the old generation can no longer be recorded */
    for (size_t i = 0; i < m->n_ans; i++)
        m->ans[i].expected = 0, m->ans[i].seen = 1;
}

/* The stop before a reload (restore_all's first half, eng_begin_stop): every plugin that acted
 * for an issue, or has a step executing, has its RESTORE; while the ACKs are awaited, answers,
 * repeats, confirmations and time go on, but nothing is planned, committed or sent (on_sent,
 * st_commit). */
static void stop_phase(model *m)
{
    for (uint64_t id = 1; id < m->top; id++) {
        mheal *h = &m->heals[id];
        if (h->known && !h->finished && h->step.kind == ST_EXEC)
            note_acted(m, h->issue_id, h->step.plugin);
    }
    pthread_mutex_lock(&m->h.e->lock);
    m->stopping = 1;
    (void)eng_begin_stop(m->h.e);
    pthread_mutex_unlock(&m->h.e->lock);
    for (size_t i = 0; i < m->n_acted && !m->failed; i++) {
        size_t k;
        for (k = 0; k < m->n_restores; k++)
            if (m->restores[k].issue_id == m->acted[i].issue_id &&
                m->restores[k].plugin == m->acted[i].plugin)
                break;
        if (k == m->n_restores)
            mfail(m, "%s changed something for issue %" PRIu64 " and got no RESTORE at the stop",
                 PN[m->acted[i].plugin], m->acted[i].issue_id);
    }
    for (int n = rn(m, 30); n > 0 && !m->failed; n--) {
        switch (rn(m, 7)) {
        case 0: ev_issue(m); break;
        case 1: ev_plan(m); break;
        case 2: ev_result(m); break;
        case 3: ev_verdict(m); break;
        case 4: ev_ack(m); break;
        case 5: ev_command(m); break;
        default: advance(m, ru(m, 0.01, 2)); break;
        }
        collect(m);
        cross_check(m);
    }
    m->stopping = 0;
}

/* A reload: the plugins' workers and the engine go, the governor stays. */
static void ev_restart(model *m)
{
    if (rn(m, 2))
        stop_phase(m);
    collect(m);
    m->n_restarts++;
    if (rn(m, 3) == 0)
        m->h.cfg.dry_run = !m->h.cfg.dry_run;
    hx_restart(&m->h);
    new_generation(m);
}

static void ev_pause(model *m)
{
    m->paused = !m->paused;
    hx_command(&m->h, m->paused ? HTTP_CMD_PAUSE : HTTP_CMD_RESUME, 0);
}

/* End of a schedule: every issue cleared, time passes: every heal ends, every issue closes, and
 * every plugin that acted for one has been sent its RESTORE, which is resent until acked. */
static void drain(model *m)
{
    if (m->paused)
        ev_pause(m);
    for (int k = 0; k < NKEY && !m->failed; k++)
        if (m->raised[k]) {
            m->resolved[k] = 1;
            hx_resolve(&m->h, "d", TYPES[k / NTGT], TGTS[k % NTGT]);
            collect(m);
        }
    for (int i = 0; i < 3 && !m->failed; i++) {
        advance(m, m->h.cfg.action_timeout + HEALER_VERIFY_MAX_S + 1);
        collect(m);
        cross_check(m);
    }
    if (m->failed)
        return;
    if (m->h.e->ihead)
        mfail(m, "issue %s/%s still open after every issue was resolved", m->h.e->ihead->type,
             m->h.e->ihead->target);
    if (u64map_count(m->h.e->heals))
        mfail(m, "%zu heal(s) still running after everything was resolved",
             u64map_count(m->h.e->heals));
    for (size_t i = 0; i < m->n_acted; i++) {
        size_t k;
        for (k = 0; k < m->n_restores; k++)
            if (m->restores[k].issue_id == m->acted[i].issue_id &&
                m->restores[k].plugin == m->acted[i].plugin)
                break;
        if (k == m->n_restores)
            mfail(m, "%s changed something for issue %" PRIu64 " and never got its RESTORE",
                 PN[m->acted[i].plugin], m->acted[i].issue_id);
    }
    /* unacknowledged ones are sent again; then every ACK empties the list */
    size_t before = m->h.n_log, open = 0;
    for (size_t i = 0; i < m->n_restores; i++)
        open += !m->restores[i].acked;
    advance(m, RESTORE_RETRY_MAX + 1);
    if (hx_count(&m->h, before, MSG_RESTORE, NULL) != open)
        mfail(m, "%zu unacknowledged RESTOREs, %zu resent", open,
             hx_count(&m->h, before, MSG_RESTORE, NULL));
    for (size_t i = 0; i < m->n_restores; i++)
        if (!m->restores[i].acked) {
            m->restores[i].acked = 1;
            m->last_answer[m->restores[i].plugin] = m->h.mono;
            hx_ack(&m->h, PN[m->restores[i].plugin], m->restores[i].seq, m->restores[i].attempt);
        }
    if (eng_restores_outstanding(m->h.e))
        mfail(m, "%zu RESTOREs outstanding after every ACK", eng_restores_outstanding(m->h.e));
}

static void run_schedule(model *m, uint64_t seed, int steps)
{
    memset(m, 0, sizeof *m);
    m->seed = seed;
    m->rng = seed * 0x2545f4914f6cdd1dULL + 1;
    hx_init(&m->h, PLUGINS, NP, 0);
    m->h.observe = on_sent;
    m->h.observe_ud = m;
    static const double timeouts[] = { 5, 30, 60 };
    m->h.cfg.action_timeout = timeouts[rn(m, 3)];
    m->h.cfg.limits.max_heals_per_hour = rn(m, 2) ? 1 + rn(m, 4) : 5 + rn(m, 30);
    m->h.cfg.limits.cooldown_minutes = rn(m, 2) ? 0 : ru(m, 0.1, 3);
    m->h.cfg.limits.confirm_timeout_minutes = ru(m, 1, 10);
    m->h.cfg.limits.auto_after_confirmations = rn(m, 2) * 2;
    m->h.cfg.limits.min_health_for_auto = 0;
    m->h.cfg.exploration = rn(m, 2) ? 0 : 0.3;
    m->h.cfg.dry_run = rn(m, 5) == 0;
    governor_set_limits(m->h.gov, &m->h.cfg.limits, m->h.cfg.dry_run);
    gov_store gs = { m, st_commit, st_pause, st_snooze, st_streak, NULL, NULL, NULL, NULL };
    governor_set_store(m->h.gov, &gs);
    hx_start(&m->h);
    new_generation(m);
    for (m->step = 0; m->step < steps && !m->failed; m->step++) {
        int k = rn(m, 200);
        if (m->paused && rn(m, 10) == 0) ev_pause(m); /* resume */
        else if (k < 30) ev_issue(m);
        else if (k < 70) ev_plan(m);
        else if (k < 106) ev_result(m);
        else if (k < 126) ev_verdict(m);
        else if (k < 136) ev_resolve(m);
        else if (k < 146) ev_ack(m);
        else if (k < 154) ev_command(m);
        else if (k < 198) ev_time(m);
        else if (k < 199) ev_restart(m);
        else if (!m->paused) ev_pause(m);
        collect(m);
        cross_check(m);
        if (m->h.e)
            m->next_due = eng_next_due(m->h.e);
        m->n_steps++;
    }
    if (!m->failed)
        drain(m);
    free(m->execs);
    m->execs = NULL;
    hx_free(&m->h);
}

static unsigned long envnum(const char *name, unsigned long def)
{
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 10) : def;
}

static void test_model(void **state)
{
    (void)state;
    model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    unsigned long schedules = envnum("MODEL_SCHEDULES", 2000);
    int steps = (int)envnum("MODEL_STEPS", 200);
    uint64_t first = envnum("MODEL_FIRST", 1);
    if (getenv("MODEL_SEED") && *getenv("MODEL_SEED")) {
        first = envnum("MODEL_SEED", 1);
        schedules = 1;
    }
    unsigned long long tot_steps = 0, heals = 0, execs = 0, timeouts = 0, extended = 0, preempts = 0,
                       restores = 0, late = 0, commits = 0, restarts = 0, answers = 0;
    unsigned long done = 0;
    int failed = 0;
    for (unsigned long s = 0; s < schedules && !failed; s++) {
        run_schedule(m, first + s, steps);
        failed = m->failed;
        tot_steps += m->n_steps;
        heals += m->n_heals;
        execs += m->n_execs_total;
        timeouts += m->n_timeouts;
        extended += m->n_extended;
        preempts += m->n_preempts;
        restores += m->n_restores_total;
        late += m->n_late;
        commits += m->n_commits_total;
        restarts += m->n_restarts;
        answers += m->n_ans;
        done++;
    }
    printf("model: %lu schedule(s), %llu steps: %llu heals, %llu EXECUTEs, %llu answers, "
           "%llu timeouts, %llu deadlines moved (plugin busy), %llu pre-emptions, %llu late "
           "results, %llu RESTOREs, %llu live commits, %llu reloads\n", done, tot_steps, heals,
           execs, answers, timeouts, extended, preempts, late, restores, commits, restarts);
    fflush(stdout);
    if (failed)
        fail_msg("seed %" PRIu64 " step %d: %s (replay: MODEL_SEED=%" PRIu64 ")", m->seed, m->step,
                 m->why, m->seed);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
