/* test_engine_intent.c — issue #11's engine promises on a detached engine (engine_harness.c),
 * simulated clocks and a real governor: partial plans (the automatic steps of a ladder run at
 * once, the heal waits for a person at the first step that needs one), with a model-based test
 * over random interleavings (MODEL_SEED=n replays one schedule). */
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

static const char *const TX[] = { "tx", NULL };
/* det detects; pa plans and verifies itself (each test sets plugins.pa.allow_auto) */
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
};

static hx *mk(void (*tweak)(hx *))
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 2, 0);
    h->cfg.limits.cooldown_minutes = 0;
    if (tweak)
        tweak(h);
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static void done(hx *h)
{
    hx_free(h);
    free(h);
}

static uint64_t raise_on(hx *h, const char *target, int sev)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", target, sev);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    return s ? s->seq : 0;
}

static heal *heal_of(hx *h, uint64_t id)
{
    return u64map_get(h->e->heals, id);
}

static const char *outcome(json_t *rec)
{
    assert_non_null(rec);
    return json_string_value(json_object_get(rec, "outcome"));
}

/* The disk ladder of the issue: two automatic cleanups, then one that deletes more and needs a
 * person (its class not made automatic). */
static const hx_act DISK[] = {
    { "auto_logs", 0, HEALER_ACTION_DELETES | HEALER_ACTION_AUTO_OK, 0.5 },
    { "auto_tmp", 1, HEALER_ACTION_DELETES | HEALER_ACTION_AUTO_OK, 0.5 },
    { "emergency_cleanup", 2, HEALER_ACTION_DELETES, 0.5 },
};

/* Runs the current EXECUTE of heal id (the last one sent) to "done, not healed" (pa verifies:
 * verdict 0). */
static void step_not_healed(hx *h, uint64_t id, size_t mark, const char *want)
{
    (void)mark;
    const hx_sent *x = hx_last(h, 0, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_int_equal(x->seq, id);
    assert_string_equal(x->action, want);
    uint64_t att = x->attempt;
    hx_result(h, "pa", id, att, HEALER_OUTCOME_DONE, 0, "done");
    hx_verdict(h, "pa", id, att, 0, 0, "still full");
}

/* The automatic prefix runs at once; the heal then waits for the step that needs a person, and
 * the pending view names it and shows what ran. Confirmed, it continues from that step. */
static void test_partial_plan_runs_prefix_then_waits(void **state)
{
    (void)state;
    hx *h = mk(NULL);
    h->set.v[1].policy.allow_auto = 1;
    uint64_t id = raise_on(h, "/", 2);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, DISK, 3);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    step_not_healed(h, id, mark, "auto_logs");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 2);
    mark = h->n_log;
    step_not_healed(h, id, mark, "auto_tmp");
    heal *hp = heal_of(h, id);
    assert_non_null(hp);
    assert_int_equal(hp->phase, H_PENDING);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0); /* emergency_cleanup waits */
    eissue *is = hx_open_issue(h, "tx", "/");
    assert_int_equal(is->state, IS_PENDING);

    json_t *pj = engine_pending_json(h->e);
    json_t *p0 = json_array_get(json_object_get(pj, "pending"), 0);
    assert_non_null(p0);
    assert_string_equal(json_string_value(json_object_get(p0, "waiting_action")),
                        "emergency_cleanup");
    assert_int_equal(json_integer_value(json_object_get(p0, "waiting_step")), 3);
    assert_int_equal(json_array_size(json_object_get(p0, "actions")), 1);
    assert_int_equal(json_array_size(json_object_get(p0, "ran")), 2);
    assert_string_equal(json_string_value(json_object_get(p0, "reason")), "deletes files");
    json_decref(pj);

    mark = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_string_equal(x->action, "emergency_cleanup");
    uint64_t att = x->attempt;
    hx_result(h, "pa", id, att, HEALER_OUTCOME_HEALED, 0, "freed");
    json_t *rec = hx_heal(h, id);
    assert_string_equal(outcome(rec), "healed");
    assert_int_equal(json_array_size(json_object_get(rec, "actions")), 3);
    done(h);
}

/* An automatic step that heals ends the heal: nobody is asked. */
static void test_partial_plan_prefix_heals(void **state)
{
    (void)state;
    hx *h = mk(NULL);
    h->set.v[1].policy.allow_auto = 1;
    uint64_t id = raise_on(h, "/", 2);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, DISK, 3);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    uint64_t att = x->attempt;
    hx_result(h, "pa", id, att, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(hx_heal(h, id)), "healed");
    size_t np = 0;
    engine_counts(h->e, NULL, &np);
    assert_int_equal(np, 0);
    done(h);
}

static void five_min_cooldown(hx *h)
{
    h->cfg.limits.cooldown_minutes = 5;
}

/* Reject stops at the step (snoozed); expiry stops; a confirmation is not refused by the
 * cooldown the heal's own start began, but a pause still holds. */
static void test_partial_plan_reject_expire_pause(void **state)
{
    (void)state;
    hx *h = mk(five_min_cooldown);
    h->set.v[1].policy.allow_auto = 1;
    const char *tg[] = { "a", "b", "c", "d" };
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = raise_on(h, tg[i], 2);
        size_t mark = h->n_log;
        hx_plan(h, "pa", ids[i], DISK, 3);
        step_not_healed(h, ids[i], mark, "auto_logs");
        mark = h->n_log;
        step_not_healed(h, ids[i], mark, "auto_tmp");
        assert_int_equal(heal_of(h, ids[i])->phase, H_PENDING);
    }
    size_t mark = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_REJECT, ids[0]), HEALER_OK);
    assert_string_equal(outcome(hx_heal(h, ids[0])), "rejected");
    /* within the cooldown: confirmed, it still continues */
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, ids[1]), HEALER_OK);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_int_equal(x->seq, ids[1]);
    assert_string_equal(x->action, "emergency_cleanup");
    /* paused: the confirmation is refused and the step never runs */
    mark = h->n_log;
    assert_int_equal(hx_command(h, HTTP_CMD_PAUSE, 0), HEALER_OK);
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, ids[2]), HEALER_OK);
    assert_string_equal(outcome(hx_heal(h, ids[2])), "suppressed");
    assert_int_equal(hx_command(h, HTTP_CMD_RESUME, 0), HEALER_OK);
    /* nobody answers: it expires, the risky step never ran */
    hx_advance(h, 61 * 60);
    hx_sweep(h);
    assert_string_equal(outcome(hx_heal(h, ids[3])), "expired");
    for (size_t i = mark; i < h->n_log; i++)
        if (h->log[i].kind == MSG_EXECUTE)
            assert_int_not_equal(h->log[i].seq, ids[3]);
    done(h);
}

/* A plan whose first step needs a person waits as a whole, as before. */
static void test_partial_plan_first_step_risky(void **state)
{
    (void)state;
    hx *h = mk(NULL);
    h->set.v[1].policy.allow_auto = 1;
    uint64_t id = raise_on(h, "/", 2);
    size_t mark = h->n_log;
    const hx_act acts[] = { { "emergency_cleanup", 0, HEALER_ACTION_DELETES, 0.5 },
                            { "auto_tmp", 1, HEALER_ACTION_DELETES | HEALER_ACTION_AUTO_OK, 0.5 } };
    hx_plan(h, "pa", id, acts, 2);
    assert_int_equal(heal_of(h, id)->phase, H_PENDING);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_string_equal(x->action, "emergency_cleanup");
    done(h);
}

/* ---- holds ---------------------------------------------------------------------------- */

/* A hold keeps the engine off (state held, nothing planned); it expires and the next repeat
 * heals; a critical issue gets through unless even_critical; a hold given mid-ladder stops the
 * next step. */
static void test_hold(void **state)
{
    (void)state;
    hx *h = mk(NULL);
    hold_table *hs = governor_holds(h->gov);
    char err[128];
    hold hd = { "web*", "tx", "deploying", "test", h->now, h->now + 600, 0 };
    assert_int_equal(holds_put(hs, &hd, err, sizeof err), 0);
    assert_int_equal(raise_on(h, "web1", 2), 0);
    eissue *is = hx_open_issue(h, "tx", "web1");
    assert_int_equal(is->state, IS_HELD);
    json_t *ij = engine_issues_json(h->e);
    json_t *i0 = json_array_get(json_object_get(ij, "issues"), 0);
    assert_string_equal(json_string_value(json_object_get(i0, "state")), "held");
    assert_string_equal(json_string_value(json_object_get(json_object_get(i0, "hold"), "reason")),
                        "deploying");
    json_decref(ij);
    /* another target, or another type: not held */
    assert_true(raise_on(h, "db", 2) > 0);
    /* critical gets through a plain hold */
    assert_true(raise_on(h, "web2", 3) > 0);
    /* expired: the next repeat heals */
    hx_advance(h, 601);
    assert_true(raise_on(h, "web1", 2) > 0);
    /* even_critical holds an emergency too */
    hold ec = { "vip", "", "", "test", h->now, 0, 1 };
    assert_int_equal(holds_put(hs, &ec, err, sizeof err), 0);
    assert_int_equal(raise_on(h, "vip", 3), 0);
    assert_int_equal(holds_release(hs, "vip", NULL), 1);
    uint64_t id = raise_on(h, "vip", 3);
    assert_true(id > 0);
    /* held mid-ladder (even_critical): no further step */
    const hx_act two[] = { { "n0", 0, 0, 0.5 }, { "n1", 1, 0, 0.5 } };
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, two, 2);
    assert_int_equal(holds_put(hs, &ec, err, sizeof err), 0);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    uint64_t att = x->attempt;
    hx_result(h, "pa", id, att, HEALER_OUTCOME_FAILED, 0, "no");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 1);
    json_t *rec = hx_heal(h, id);
    assert_string_equal(outcome(rec), "suppressed");
    assert_string_equal(json_string_value(json_object_get(rec, "reason")), "hold");
    json_t *all = holds_json(hs, h->now);
    assert_int_equal(json_array_size(json_object_get(all, "holds")), 1); /* web* expired */
    json_decref(all);
    done(h);
}

/* ---- model: random interleavings ----------------------------------------------------------
 * Action names carry their class: "n*" plain, "a*" risky with AUTO_OK, "r*" risky. Invariants,
 * checked on every message and after every event:
 *  I1 no EXECUTE of an "r" action for a heal the test has not confirmed;
 *  I2 a pending heal waits at a step that needs a person (an automatic step never waits);
 *  I3 a pending heal that already ran steps ran exactly the steps before the one it waits at,
 *     every one of them automatic. */

#define MAXID 4096
typedef struct imodel {
    hx h;
    uint64_t rng;
    unsigned char confirmed[MAXID];
    unsigned long n_exec_r, n_parked_mid, n_confirm_mid;
    int failed;
    char why[256];
    unsigned seed, step;
} imodel;

static uint64_t rnd(imodel *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}
static int rn(imodel *m, int n) { return (int)(rnd(m) % (uint64_t)n); }

static void ifail(imodel *m, const char *what, uint64_t id)
{
    if (m->failed)
        return;
    m->failed = 1;
    snprintf(m->why, sizeof m->why, "seed %u step %u: %s (heal %" PRIu64 ")", m->seed, m->step,
             what, id);
}

static void on_sent(void *ud, const hx_sent *s)
{
    imodel *m = ud;
    if (s->kind != MSG_EXECUTE || s->action[0] != 'r')
        return;
    m->n_exec_r++;
    if (s->seq >= MAXID || !m->confirmed[s->seq])
        ifail(m, "I1: a risky step ran unconfirmed", s->seq);
}

static void check_heals(imodel *m)
{
    size_t i = 0;
    uint64_t id;
    void *val;
    while (u64map_next(m->h.e->heals, &i, &id, &val)) {
        heal *hp = val;
        if (hp->phase != H_PENDING)
            continue;
        const msg_action *a = hp->order[hp->cur].action;
        if (a->name[0] != 'r')
            ifail(m, "I2: waits at an automatic step", id);
        if (hp->committed) {
            if (hp->cur == 0)
                ifail(m, "I3: started, yet waits at its first step", id);
            for (size_t k = 0; k < hp->cur; k++)
                if (hp->order[k].action->name[0] == 'r')
                    ifail(m, "I3: a risky step before the one it waits at", id);
        } else if (hp->cur != 0) {
            ifail(m, "I3: waits mid-plan without having started", id);
        }
    }
}

static const char *const ITG[] = { "x0", "x1", "x2" };

static void ev(imodel *m)
{
    hx *h = &m->h;
    int k = rn(m, 100);
    if (k < 20) {
        hx_issue(h, "det", "tx", ITG[rn(m, 3)], rn(m, 4));
        return;
    }
    /* the heals in flight: answer one */
    uint64_t cand[64];
    size_t nc = 0, i = 0;
    uint64_t id;
    void *val;
    while (u64map_next(h->e->heals, &i, &id, &val) && nc < 64)
        cand[nc++] = id;
    if (!nc || k >= 95) {
        hx_advance(h, rn(m, 4) == 0 ? 1800 : rn(m, 30));
        hx_sweep(h);
        return;
    }
    id = cand[rn(m, (int)nc)];
    heal *hp = u64map_get(h->e->heals, id);
    switch (hp->phase) {
    case H_PLANNING: {
        hx_act acts[5];
        static const char *const NM[3][3] = { { "n0", "n1", "n2" }, { "a0", "a1", "a2" },
                                              { "r0", "r1", "r2" } };
        static const uint32_t FL[3] = { 0, HEALER_ACTION_DELETES | HEALER_ACTION_AUTO_OK,
                                        HEALER_ACTION_DELETES };
        int na = 1 + rn(m, 5);
        for (int j = 0; j < na; j++) {
            int c = rn(m, 3);
            acts[j] = (hx_act){ NM[c][rn(m, 3)], (unsigned)j, FL[c], 0.5 };
        }
        hx_plan(h, "pa", id, acts, (size_t)na);
        break;
    }
    case H_PENDING: {
        int c = rn(m, 10);
        if (c < 6) {
            if (id < MAXID)
                m->confirmed[id] = 1;
            if (hp->committed)
                m->n_confirm_mid++;
            hx_command(h, HTTP_CMD_CONFIRM, id);
        } else if (c < 8) {
            hx_command(h, HTTP_CMD_REJECT, id);
        } else {
            hx_resolve(h, "det", "tx", hp->is->target);
        }
        break;
    }
    case H_EXECUTING: {
        int c = rn(m, 4);
        uint64_t att = hp->attempt;
        hx_result(h, "pa", id, att, c == 0 ? HEALER_OUTCOME_HEALED : c == 1 ? HEALER_OUTCOME_FAILED
                                                                            : HEALER_OUTCOME_DONE,
                  0, "r");
        break;
    }
    case H_VERIFYING:
        hx_verdict(h, "pa", id, hp->attempt, rn(m, 3) == 0, 0, "v");
        break;
    default:
        hx_advance(h, 61);
        hx_sweep(h);
        break;
    }
    /* a heal that parked mid-plan */
    hp = u64map_get(h->e->heals, id);
    if (hp && hp->phase == H_PENDING && hp->committed)
        m->n_parked_mid++;
}

static void test_partial_plan_model(void **state)
{
    (void)state;
    const char *one = getenv("MODEL_SEED");
    unsigned first = one ? (unsigned)atoi(one) : 1, count = one ? 1 : 60;
    unsigned long exec_r = 0, parked = 0, conf_mid = 0;
    for (unsigned seed = first; seed < first + count; seed++) {
        imodel *m = calloc(1, sizeof *m);
        assert_non_null(m);
        m->seed = seed;
        m->rng = 0x9e3779b97f4a7c15ull * (seed + 1);
        hx_init(&m->h, PL, 2, 0);
        m->h.cfg.limits.cooldown_minutes = rn(m, 2) ? 0 : 5;
        m->h.cfg.limits.max_heals_per_hour = 1000;
        governor_set_limits(m->h.gov, &m->h.cfg.limits, 0);
        hx_start(&m->h);
        m->h.set.v[1].policy.allow_auto = 1;
        m->h.observe = on_sent;
        m->h.observe_ud = m;
        for (m->step = 0; m->step < 600 && !m->failed; m->step++) {
            ev(m);
            check_heals(m);
        }
        if (m->failed)
            fail_msg("%s", m->why);
        exec_r += m->n_exec_r;
        parked += m->n_parked_mid;
        conf_mid += m->n_confirm_mid;
        hx_free(&m->h);
        free(m);
    }
    /* the schedules reached what they test */
    if (!one) {
        assert_true(exec_r > 10);
        assert_true(parked > 10);
        assert_true(conf_mid > 5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_plan_runs_prefix_then_waits),
        cmocka_unit_test(test_partial_plan_prefix_heals),
        cmocka_unit_test(test_partial_plan_reject_expire_pause),
        cmocka_unit_test(test_partial_plan_first_step_risky),
        cmocka_unit_test(test_partial_plan_model),
        cmocka_unit_test(test_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
