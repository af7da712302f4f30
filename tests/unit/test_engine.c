/* test_engine.c — one test per promise of the heal loop (engine.c), on a detached engine whose
 * plugins the test plays (engine_harness.c) with a simulated clock and a real governor: attempt
 * matching, timeouts and stuck plugins, settling verdicts, resolves, pre-emption, futility,
 * restore retries, the hourly limit and dry-run windows, the confirm/reject commands. */
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
/* det detects and can verify; pa plans, verifies itself, restores; pb plans and restores but
 * cannot verify (its done actions are verified by the detector). */
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
    { "pb", TX, 0, 1, 0 },
};

static hx *mk(int with_kb, void (*tweak)(hx *))
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 3, with_kb);
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

/* Raises tx on target from det; returns the heal id of the PLAN_REQ it caused, or 0. */
static uint64_t raise(hx *h, const char *target, int sev)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", target, sev);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    return s ? s->seq : 0;
}

/* The EXECUTE for heal seq sent since mark (the only one: asserted). */
static hx_sent exec_of(hx *h, size_t mark, uint64_t seq)
{
    const hx_sent *found = NULL;
    int n = 0;
    for (size_t i = mark; i < h->n_log; i++)
        if (h->log[i].kind == MSG_EXECUTE && h->log[i].seq == seq) {
            found = &h->log[i];
            n++;
        }
    assert_int_equal(n, 1);
    return *found;
}

static size_t execs_of(hx *h, size_t mark, uint64_t seq)
{
    size_t n = 0;
    for (size_t i = mark; i < h->n_log; i++)
        n += h->log[i].kind == MSG_EXECUTE && h->log[i].seq == seq;
    return n;
}

static heal *heal_of(hx *h, uint64_t id)
{
    return u64map_get(h->e->heals, id);
}

static const char *act_field(json_t *rec, size_t i, const char *key)
{
    json_t *a = json_array_get(json_object_get(rec, "actions"), i);
    assert_non_null(a);
    return json_string_value(json_object_get(a, key));
}

static const char *outcome(json_t *rec)
{
    return json_string_value(json_object_get(rec, "outcome"));
}

static size_t n_actions(json_t *rec)
{
    return json_array_size(json_object_get(rec, "actions"));
}

/* ---- attempts: fresh per EXECUTE, answers matched on (seq, attempt, plugin) ---------------- */

static void test_attempt_matching(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    assert_true(id > 0);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x1 = exec_of(h, mark, id);
    assert_string_equal(x1.action, "a1");
    assert_true(x1.attempt > 0);

    /* wrong attempt, wrong plugin, wrong heal, no attempt: all ignored */
    mark = h->n_log;
    hx_result(h, "pa", id, x1.attempt + 1000, HEALER_OUTCOME_FAILED, 0, "wrong attempt");
    hx_result(h, "pb", id, x1.attempt, HEALER_OUTCOME_FAILED, 0, "wrong plugin");
    hx_result(h, "det", id, x1.attempt, HEALER_OUTCOME_FAILED, 0, "wrong plugin");
    hx_result(h, "pa", id + 7, x1.attempt, HEALER_OUTCOME_FAILED, 0, "wrong heal");
    hx_result(h, "pa", id, 0, HEALER_OUTCOME_FAILED, 0, "no attempt");
    hx_verdict(h, "pa", id, x1.attempt, 1, 0, "verdict while executing");
    assert_int_equal(h->n_log, mark);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id)->attempt, x1.attempt);

    /* still one step in flight however long it takes (below the timeout) */
    hx_advance(h, 59);
    hx_sweep(h);
    assert_int_equal(execs_of(h, mark, id), 0);

    hx_result(h, "pa", id, x1.attempt, HEALER_OUTCOME_FAILED, 0, "the right one");
    hx_sent x2 = exec_of(h, mark, id);
    assert_string_equal(x2.action, "a2");
    assert_true(x2.attempt > x1.attempt);

    /* a duplicate of the first answer is not taken for the second step */
    mark = h->n_log;
    hx_result(h, "pa", id, x1.attempt, HEALER_OUTCOME_HEALED, 0, "duplicate");
    assert_null(hx_heal(h, id));
    assert_int_equal(heal_of(h, id)->attempt, x2.attempt);
    hx_result(h, "pa", id, x2.attempt, HEALER_OUTCOME_HEALED, 0, "second");
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    assert_string_equal(outcome(rec), "healed");
    assert_int_equal(n_actions(rec), 2);
    assert_string_equal(act_field(rec, 0, "action"), "a1");
    assert_string_equal(act_field(rec, 0, "outcome"), "failed");
    assert_string_equal(act_field(rec, 0, "message"), "the right one");
    assert_string_equal(act_field(rec, 1, "action"), "a2");
    assert_string_equal(act_field(rec, 1, "outcome"), "healed");
    assert_string_equal(act_field(rec, 1, "message"), "second");
    done(h);
}

/* A VERDICT is taken only from the plugin asked to verify. */
static void test_verdict_from_other_plugin_ignored(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x1 = exec_of(h, mark, id);
    hx_result(h, "pa", id, x1.attempt, HEALER_OUTCOME_DONE, 0, "done");
    assert_int_equal(heal_of(h, id)->phase, H_VERIFYING);
    hx_verdict(h, "pb", id, x1.attempt, 1, 0, "not mine");
    hx_verdict(h, "det", id, x1.attempt, 1, 0, "not mine either");
    assert_null(hx_heal(h, id));
    assert_int_equal(heal_of(h, id)->phase, H_VERIFYING);
    hx_verdict(h, "pa", id, x1.attempt, 1, 0, "mine");
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    assert_string_equal(outcome(rec), "healed");
    assert_string_equal(act_field(rec, 0, "message"), "done; verify: mine");

    /* the detector verifies pb's done actions: only its verdict counts */
    uint64_t id2 = raise(h, "b", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id2, NULL, 0);
    hx_plan(h, "pb", id2, (hx_act[]){ { "b1", 0, 0, 0 } }, 1);
    hx_sent y = exec_of(h, mark, id2);
    hx_result(h, "pb", id2, y.attempt, HEALER_OUTCOME_DONE, 0, "done");
    const hx_sent *v = hx_last(h, mark, MSG_VERIFY, "det");
    assert_non_null(v);
    assert_int_equal(v->attempt, y.attempt);
    hx_verdict(h, "pb", id2, y.attempt, 1, 0, "the executor cannot verify");
    assert_null(hx_heal(h, id2));
    hx_verdict(h, "det", id2, y.attempt, 1, 0, "detector");
    assert_string_equal(outcome(hx_heal(h, id2)), "healed");
    done(h);
}

/* ---- timeouts: recorded, the plugin acted (restore), stuck until its late result ---------- */

static void test_timeout_stuck_until_late_result(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, (hx_act[]){ { "b1", 1, 0, 0 } }, 1);
    hx_sent x1 = exec_of(h, mark, id);
    assert_string_equal(x1.action_plugin, "pa");

    hx_advance(h, 59.5);
    hx_sweep(h);
    assert_int_equal(execs_of(h, mark, id), 1);
    hx_advance(h, 0.5);
    hx_sweep(h); /* action_timeout reached: a1 timed out, the ladder goes on to pb */
    assert_int_equal(execs_of(h, mark, id), 2);
    const hx_sent *x2 = hx_last(h, mark, MSG_EXECUTE, "pb");
    assert_non_null(x2);
    uint64_t b1_attempt = x2->attempt;

    /* a second issue needs pa, which is stuck: it waits, nothing is sent to pa */
    uint64_t id2 = raise(h, "b", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id2, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id2, NULL, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pa"), 0);
    assert_int_equal(heal_of(h, id2)->phase, H_WAITING);

    /* the late result is discarded (never credited) and frees pa for the waiting heal */
    hx_result(h, "pa", id, x1.attempt, HEALER_OUTCOME_HEALED, 0, "late");
    assert_null(hx_heal(h, id));
    assert_int_equal(heal_of(h, id)->attempt, b1_attempt);
    hx_sent w = exec_of(h, mark, id2);
    assert_string_equal(w.action_plugin, "pa");

    hx_result(h, "pb", id, b1_attempt, HEALER_OUTCOME_HEALED, 0, "b1 healed");
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    assert_string_equal(outcome(rec), "healed");
    assert_string_equal(act_field(rec, 0, "action"), "a1");
    assert_string_equal(act_field(rec, 0, "outcome"), "timeout");
    assert_null(strstr(act_field(rec, 0, "message"), "late"));
    assert_string_equal(act_field(rec, 1, "outcome"), "healed");

    /* the timed-out plugin may have changed something: it gets a RESTORE, as does pb */
    mark = h->n_log;
    hx_resolve(h, "det", "tx", "a");
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pb"), 1);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, NULL), 2);
    done(h);
}

static void test_waiting_heal_skipped_after_one_timeout(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    exec_of(h, mark, id);
    hx_advance(h, 60);
    hx_sweep(h); /* pa stuck from now on: its result never comes */
    assert_string_equal(outcome(hx_heal(h, id)), "failed");

    uint64_t id2 = raise(h, "b", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id2, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id2, (hx_act[]){ { "b1", 1, 0, 0 } }, 1);
    assert_int_equal(heal_of(h, id2)->phase, H_WAITING);
    hx_advance(h, 59.9);
    hx_sweep(h);
    assert_int_equal(heal_of(h, id2)->phase, H_WAITING);
    assert_int_equal(execs_of(h, mark, id2), 0);
    hx_advance(h, 0.1);
    hx_sweep(h);
    hx_sent b = exec_of(h, mark, id2);
    assert_string_equal(b.action, "b1");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pa"), 0);
    hx_result(h, "pb", id2, b.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    json_t *rec = hx_heal(h, id2);
    assert_string_equal(act_field(rec, 0, "action"), "a1");
    assert_string_equal(act_field(rec, 0, "outcome"), "skipped");
    assert_string_equal(act_field(rec, 1, "outcome"), "healed");
    done(h);
}

/* Two steps overdue in one sweep: the heal that moves on first must not send its next step to
 * the plugin of the other overdue step (it would queue behind a stuck step). Run both ways round,
 * since the sweep's order follows the heal table's. */
static void overdue_pair(hx *h, const char *tv, const char *tx)
{
    /* heal V: pa's a1 is verifying, its next step is pb's; heal X: pb's step is executing */
    uint64_t v = raise(h, tv, 1), x = raise(h, tx, 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", v, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", v, (hx_act[]){ { "b2", 1, 0, 0 } }, 1);
    hx_plan(h, "pa", x, NULL, 0);
    hx_plan(h, "pb", x, (hx_act[]){ { "b1", 0, 0, 0 } }, 1);
    hx_sent va = exec_of(h, mark, v);
    hx_sent xb = exec_of(h, mark, x);
    assert_string_equal(xb.action_plugin, "pb");
    hx_result(h, "pa", v, va.attempt, HEALER_OUTCOME_DONE, 0, "done");
    mark = h->n_log;
    hx_advance(h, 60);
    hx_sweep(h); /* both due: X's step is abandoned, V's verify timed out */
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pb"), 0);
    assert_int_equal(heal_of(h, v)->phase, H_WAITING);
    hx_result(h, "pb", x, xb.attempt, HEALER_OUTCOME_FAILED, 0, "late");
    hx_sent vb = exec_of(h, mark, v);
    assert_string_equal(vb.action, "b2");
    hx_result(h, "pb", v, vb.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(hx_heal(h, v)), "healed");
}

static void test_overdue_steps_abandoned_first(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    overdue_pair(h, "v1", "x1");
    done(h);
    h = mk(0, NULL);
    raise(h, "pad", 1); /* shift the ids: the other order in the table */
    overdue_pair(h, "x2", "v2");
    done(h);
    h = mk(0, NULL);
    overdue_pair(h, "v3", "x3");
    overdue_pair(h, "v4", "x4");
    overdue_pair(h, "v5", "x5");
    done(h);
}

/* ---- verification: settle time, settling verdicts, verify timeout + CANCEL ---------------- */

static void test_settling_extends_deadline_then_cancel(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 100, "done, verify in 100 s");
    assert_int_equal(heal_of(h, id)->phase, H_VERIFYING);
    hx_advance(h, 150); /* past action_timeout, inside wait + action_timeout */
    hx_sweep(h);
    assert_int_equal(heal_of(h, id)->phase, H_VERIFYING);
    hx_verdict(h, "pa", id, x.attempt, 2, 200, "settling");
    hx_advance(h, 259);
    hx_sweep(h);
    assert_int_equal(heal_of(h, id)->phase, H_VERIFYING);
    assert_int_equal(hx_count(h, mark, MSG_CANCEL, NULL), 0);
    hx_advance(h, 1);
    hx_sweep(h); /* 200 + 60 after the settling verdict: verify timed out */
    const hx_sent *c = hx_last(h, mark, MSG_CANCEL, "pa");
    assert_non_null(c);
    assert_int_equal(c->attempt, x.attempt);
    assert_int_equal(c->seq, id);
    assert_int_equal(execs_of(h, mark, id), 2);
    /* the verdict that finally comes for the cancelled attempt is ignored */
    hx_verdict(h, "pa", id, x.attempt, 1, 0, "too late");
    assert_null(hx_heal(h, id));
    const hx_sent *x2 = hx_last(h, mark, MSG_EXECUTE, "pa");
    hx_result(h, "pa", id, x2->attempt, HEALER_OUTCOME_FAILED, 0, "no");
    json_t *rec = hx_heal(h, id);
    assert_string_equal(outcome(rec), "failed");
    assert_string_equal(act_field(rec, 0, "outcome"), "timeout");
    assert_null(strstr(act_field(rec, 0, "message"), "too late"));
    done(h);
}

static void test_verdict_codes(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 0, "done");
    mark = h->n_log;
    hx_verdict(h, "pa", id, x.attempt, 0, 0, "still bad");
    hx_sent x2 = exec_of(h, mark, id); /* not healed: the next step */
    assert_string_equal(x2.action, "a2");
    hx_result(h, "pa", id, x2.attempt, HEALER_OUTCOME_DONE, 0, "done");
    hx_verdict(h, "pa", id, x2.attempt, 1, 0, "fine now");
    json_t *rec = hx_heal(h, id);
    assert_string_equal(outcome(rec), "healed");
    assert_string_equal(act_field(rec, 0, "outcome"), "not_healed");
    assert_string_equal(act_field(rec, 1, "outcome"), "healed");
    done(h);
}

/* ---- resolves ------------------------------------------------------------------------------ */

static void test_resolve_while_executing(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    /* the step in flight fails: nothing after it, cancelled, nothing to restore */
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_resolve(h, "det", "tx", "a");
    assert_non_null(hx_open_issue(h, "tx", "a"));
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_FAILED, 0, "no");
    assert_int_equal(execs_of(h, mark, id), 1);
    assert_string_equal(outcome(hx_heal(h, id)), "cancelled");
    assert_null(hx_open_issue(h, "tx", "a"));
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, NULL), 0);

    /* the same when that failed step was the last one of the plan */
    id = raise(h, "e", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    x = exec_of(h, mark, id);
    hx_resolve(h, "det", "tx", "e");
    hx_advance(h, 60);
    hx_sweep(h); /* timed out */
    assert_string_equal(outcome(hx_heal(h, id)), "cancelled");
    assert_null(hx_open_issue(h, "tx", "e"));
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_FAILED, 0, "late"); /* pa is free again */

    /* done, then the verify says not healed: cancelled, and pa restores what it did */
    id = raise(h, "b", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 0, "done");
    hx_resolve(h, "det", "tx", "b");
    hx_verdict(h, "pa", id, x.attempt, 0, 0, "no");
    assert_int_equal(execs_of(h, mark, id), 1);
    assert_string_equal(outcome(hx_heal(h, id)), "cancelled");
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);

    /* the step in flight heals: the heal says so */
    id = raise(h, "c", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    x = exec_of(h, mark, id);
    hx_resolve(h, "det", "tx", "c");
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_HEALED, 0, "yes");
    assert_string_equal(outcome(hx_heal(h, id)), "healed");
    assert_null(hx_open_issue(h, "tx", "c"));
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);

    /* raised again before the step ends: the heal goes on */
    id = raise(h, "d", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    x = exec_of(h, mark, id);
    hx_resolve(h, "det", "tx", "d");
    hx_issue(h, "det", "tx", "d", 1);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_FAILED, 0, "no");
    assert_int_equal(execs_of(h, mark, id), 2);
    done(h);
}

static void test_resolve_while_waiting(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_advance(h, 60);
    hx_sweep(h); /* pa is stuck */

    uint64_t id2 = raise(h, "b", 1);
    mark = h->n_log;
    hx_plan(h, "pa", id2, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id2, (hx_act[]){ { "b1", 1, 0, 0 } }, 1);
    assert_int_equal(heal_of(h, id2)->phase, H_WAITING);
    hx_resolve(h, "det", "tx", "b");
    json_t *rec = hx_heal(h, id2);
    assert_non_null(rec); /* at once */
    assert_string_equal(outcome(rec), "cancelled");
    assert_int_equal(n_actions(rec), 1);
    assert_string_equal(act_field(rec, 0, "outcome"), "skipped");
    assert_null(hx_open_issue(h, "tx", "b"));
    /* pa's late result frees it; nothing is sent for the cleared issue */
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 0, "late");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    done(h);
}

/* ---- emergencies ------------------------------------------------------------------------- */

static void one_per_hour(hx *h)
{
    h->cfg.limits.max_heals_per_hour = 1;
    h->cfg.limits.cooldown_minutes = 30;
}

static void test_critical_preempts(void **state)
{
    (void)state;
    hx *h = mk(0, one_per_hour);
    uint64_t id = raise(h, "a", 0);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);

    /* the hour's one heal is used and the cooldown runs: a high repeat does not pre-empt */
    assert_int_equal(raise(h, "a", 2), 0);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    /* a critical one does, and is planned at once */
    uint64_t id2 = raise(h, "a", 3);
    assert_true(id2 > 0 && id2 != id);
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    assert_string_equal(outcome(rec), "cancelled");
    assert_string_equal(act_field(rec, 0, "outcome"), "preempted");

    /* pa is still running the pre-empted step: the emergency waits for it, on pa only */
    mark = h->n_log;
    hx_plan(h, "pa", id2, (hx_act[]){ { "a9", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id2, (hx_act[]){ { "b9", 1, 0, 0 } }, 1);
    assert_int_equal(heal_of(h, id2)->phase, H_WAITING);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_HEALED, 0, "late");
    hx_sent x2 = exec_of(h, mark, id2);
    assert_string_equal(x2.action, "a9");
    hx_result(h, "pa", id2, x2.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(hx_heal(h, id2)), "healed");
    /* nothing of the late result went anywhere */
    assert_null(strstr(act_field(hx_heal(h, id2), 0, "message"), "late"));
    assert_null(strstr(act_field(hx_heal(h, id), 0, "message"), "late"));
    assert_string_equal(act_field(hx_heal(h, id), 0, "outcome"), "preempted");

    mark = h->n_log;
    hx_resolve(h, "det", "tx", "a");
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);
    done(h);
}

static void test_pause_holds_even_critical(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    assert_int_equal(hx_command(h, HTTP_CMD_PAUSE, 0), HEALER_OK);
    assert_int_equal(raise(h, "a", 3), 0);
    assert_int_equal(hx_command(h, HTTP_CMD_RESUME, 0), HEALER_OK);
    assert_true(raise(h, "a", 3) > 0);
    done(h);
}

static void test_critical_first_in_wait_queue(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "s", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_advance(h, 60);
    hx_sweep(h); /* pa stuck */

    const char *tg[] = { "l1", "l2", "c1", "l3", "c2" };
    int sev[] = { 1, 0, 3, 2, 3 };
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = raise(h, tg[i], sev[i]);
        assert_true(ids[i] > 0);
        hx_plan(h, "pa", ids[i], (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
        hx_plan(h, "pb", ids[i], NULL, 0);
        assert_int_equal(heal_of(h, ids[i])->phase, H_WAITING);
    }
    mark = h->n_log;
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 0, "late");
    /* critical ones first (in their order), then the others in theirs */
    uint64_t want[] = { ids[2], ids[4], ids[0], ids[1], ids[3] };
    size_t k = 0;
    for (size_t i = mark; i < h->n_log; i++)
        if (h->log[i].kind == MSG_EXECUTE) {
            assert_true(k < 5);
            assert_int_equal(h->log[i].seq, want[k]);
            k++;
        }
    assert_int_equal(k, 5);
    done(h);
}

/* ---- futility ------------------------------------------------------------------------------ */

/* Runs one heal of tx on target at sev with pa's a1 then a2; verdicts v1 (and v2 if a2 runs);
 * returns the heal record. */
static json_t *ladder(hx *h, const char *target, int sev, int v1, int v2)
{
    uint64_t id = raise(h, target, sev);
    assert_true(id > 0);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    for (int i = 0; i < 2; i++) {
        const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
        if (!x || hx_heal(h, id))
            break;
        hx_sent c = *x;
        mark = h->n_log;
        hx_result(h, "pa", id, c.attempt, HEALER_OUTCOME_DONE, 0, c.action);
        hx_verdict(h, "pa", id, c.attempt, strcmp(c.action, "a1") == 0 ? v1 : v2, 0, "v");
    }
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    hx_resolve(h, "det", "tx", target);
    hx_advance(h, 1);
    return rec;
}

/* A critical issue is never held back by futility: an emergency kill that "changed nothing"
 * (the memory was not back yet when it re-measured) runs again at the next emergency — found by
 * bench/memory_emergency.sh, where the marks silenced every emergency after the sixth. */
static void test_critical_ignores_futility(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    json_t *r = ladder(h, "a", 3, 0, 0);
    assert_string_equal(act_field(r, 0, "outcome"), "not_healed");
    assert_string_equal(act_field(r, 1, "outcome"), "not_healed");
    size_t mark = h->n_log;
    r = ladder(h, "a", 3, 0, 1);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 2);
    assert_string_equal(act_field(r, 0, "action"), "a1");
    assert_string_equal(act_field(r, 0, "outcome"), "not_healed");
    assert_string_equal(act_field(r, 1, "outcome"), "healed");
    done(h);
}

static void test_futile_skipped_then_exhausted(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    json_t *r = ladder(h, "a", 1, 0, 1);
    assert_string_equal(act_field(r, 0, "outcome"), "not_healed");
    assert_string_equal(act_field(r, 1, "outcome"), "healed");

    /* the same state again: a1 is skipped without running, a2 runs */
    size_t mark = h->n_log;
    r = ladder(h, "a", 1, 1, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 1);
    assert_string_equal(act_field(r, 0, "action"), "a1");
    assert_string_equal(act_field(r, 0, "outcome"), "skipped");
    assert_string_equal(act_field(r, 1, "action"), "a2");
    assert_string_equal(act_field(r, 1, "outcome"), "not_healed");
    assert_string_equal(outcome(r), "failed");

    /* both futile now: nothing runs, no heal is recorded, the issue says why */
    mark = h->n_log;
    uint64_t id = raise(h, "a", 1);
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id, NULL, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_null(hx_heal(h, id));
    assert_null(heal_of(h, id));
    eissue *is = hx_open_issue(h, "tx", "a");
    assert_non_null(is);
    assert_int_equal(is->state, IS_FAILED);
    assert_string_equal(is->reason, "exhausted");

    /* a worse state is re-decided at once, and its own marks are not those of the milder one */
    mark = h->n_log;
    uint64_t id2 = raise(h, "a", 2);
    assert_true(id2 > 0);
    hx_plan(h, "pa", id2, (hx_act[]){ { "a1", 0, 0, 0 }, { "a2", 1, 0, 0 } }, 2);
    hx_plan(h, "pb", id2, NULL, 0);
    hx_sent x = exec_of(h, mark, id2);
    assert_string_equal(x.action, "a1");
    hx_result(h, "pa", id2, x.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    hx_resolve(h, "det", "tx", "a");

    /* after FUTILE_TTL the marks are gone */
    hx_advance(h, FUTILE_TTL);
    hx_sweep(h);
    mark = h->n_log;
    r = ladder(h, "a", 1, 1, 1);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 1);
    assert_string_equal(act_field(r, 0, "outcome"), "healed");
    done(h);
}

static void test_futile_cleared_by_heal(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    /* pa's a1 changes nothing; pb's a1 (same action name) heals: the mark goes */
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, (hx_act[]){ { "a1", 1, 0, 0 } }, 1);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DONE, 0, "done");
    mark = h->n_log;
    hx_verdict(h, "pa", id, x.attempt, 0, 0, "no");
    hx_sent y = exec_of(h, mark, id);
    assert_string_equal(y.action_plugin, "pb");
    hx_result(h, "pb", id, y.attempt, HEALER_OUTCOME_HEALED, 0, "yes");
    assert_string_equal(outcome(hx_heal(h, id)), "healed");
    hx_resolve(h, "det", "tx", "a");

    mark = h->n_log;
    uint64_t id2 = raise(h, "a", 1);
    hx_plan(h, "pa", id2, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id2, NULL, 0);
    hx_sent z = exec_of(h, mark, id2);
    assert_string_equal(z.action, "a1");
    done(h);
}

/* ---- restores ------------------------------------------------------------------------------ */

static void test_restore_resent_until_acked(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    mark = h->n_log;
    hx_resolve(h, "det", "tx", "a");
    const hx_sent *r0 = hx_last(h, mark, MSG_RESTORE, "pa");
    assert_non_null(r0);
    uint64_t ra = r0->attempt, rseq = r0->seq;
    assert_true(ra > x.attempt);
    assert_string_equal(r0->type, "tx");
    assert_string_equal(r0->target, "a");
    double t0 = h->mono;

    /* ACKs that are not this one's: wrong plugin, wrong attempt */
    hx_ack(h, "pb", rseq, ra);
    hx_ack(h, "pa", rseq, ra + 1);
    assert_int_equal(eng_restores_outstanding(h->e), 1);

    double want[] = { 5, 15, 35, 75, 155, 315, 615, 915 };
    size_t k = 0;
    size_t seen = h->n_log;
    for (int s = 0; s < 1000; s++) {
        hx_advance(h, 1);
        hx_sweep(h);
        for (size_t i = seen; i < h->n_log; i++) {
            if (h->log[i].kind != MSG_RESTORE)
                continue;
            assert_int_equal(h->log[i].attempt, ra);
            assert_true(k < 8);
            assert_true(h->log[i].mono - t0 == want[k]);
            k++;
        }
        seen = h->n_log;
    }
    assert_int_equal(k, 8);
    hx_ack(h, "pa", rseq, ra);
    assert_int_equal(eng_restores_outstanding(h->e), 0);
    mark = h->n_log;
    hx_advance(h, 1000);
    hx_sweep(h);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, NULL), 0);
    done(h);
}

/* ---- the governor's windows ------------------------------------------------------------ */

static void two_per_hour(hx *h)
{
    h->cfg.limits.max_heals_per_hour = 2;
}

static void heal_quickly(hx *h, uint64_t id)
{
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
}

static void test_hourly_limit_and_emergency(void **state)
{
    (void)state;
    hx *h = mk(0, two_per_hour);
    heal_quickly(h, raise(h, "a", 1));
    hx_advance(h, 600);
    heal_quickly(h, raise(h, "b", 2));
    hx_advance(h, 600);
    assert_int_equal(raise(h, "c", 2), 0);
    eissue *is = hx_open_issue(h, "tx", "c");
    assert_int_equal(is->state, IS_SUPPRESSED);
    assert_string_equal(is->reason, "rate_limit");
    /* an emergency gets through, and counts */
    heal_quickly(h, raise(h, "d", 3));
    gov_budget b;
    governor_budget(h->gov, h->now, &b);
    assert_int_equal(b.heals_last_hour, 3);
    hx_advance(h, 2399); /* the first heal is 3599 s old */
    assert_int_equal(raise(h, "c", 2), 0);
    hx_advance(h, 1); /* the first one is out of the hour; the second and the critical one
                         still fill it */
    assert_int_equal(raise(h, "c", 2), 0);
    hx_advance(h, 600);
    assert_true(raise(h, "c", 2) > 0);
    done(h);
}

static void dry_two_per_hour(hx *h)
{
    h->cfg.limits.max_heals_per_hour = 2;
    h->cfg.dry_run = 1;
}

static void test_dry_run_keeps_live_windows(void **state)
{
    (void)state;
    hx *h = mk(0, dry_two_per_hour);
    const char *tg[] = { "a", "b", "c" };
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t id = raise(h, tg[i], 1);
        if (!id)
            continue;
        size_t mark = h->n_log;
        hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
        hx_plan(h, "pb", id, NULL, 0);
        hx_sent x = exec_of(h, mark, id);
        hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_DRY_RUN, 0, "would");
        hx_verdict(h, "pa", id, x.attempt, 1, 0, "would heal");
        json_t *rec = hx_heal(h, id);
        assert_string_equal(outcome(rec), "dry_run");
        assert_true(json_is_true(json_object_get(rec, "dry_run")));
        ran++;
    }
    assert_int_equal(ran, 2); /* the simulated hour holds the third back */
    /* switched to live: the live hour is untouched, and no restore is owed for dry runs */
    size_t mark = h->n_log;
    for (int i = 0; i < 3; i++)
        hx_resolve(h, "det", "tx", tg[i]);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, NULL), 0);
    h->cfg.dry_run = 0;
    hx_restart(h);
    gov_budget b;
    governor_budget(h->gov, h->now, &b);
    assert_int_equal(b.heals_last_hour, 0);
    heal_quickly(h, raise(h, "a", 1));
    heal_quickly(h, raise(h, "b", 1));
    assert_int_equal(raise(h, "c", 1), 0);
    done(h);
}

/* ---- the operator's commands --------------------------------------------------------------- */

static void five_min_cooldown(hx *h)
{
    h->cfg.limits.cooldown_minutes = 5;
}

static void test_confirm_and_reject(void **state)
{
    (void)state;
    hx *h = mk(0, five_min_cooldown);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "risky", 0, HEALER_ACTION_CONFIG, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    assert_int_equal(heal_of(h, id)->phase, H_PENDING);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id + 100), HEALER_E_NOTFOUND);
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
    hx_sent x = exec_of(h, mark, id);
    assert_string_equal(x.action, "risky");
    assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_E_NOTFOUND);

    uint64_t id2 = raise(h, "b", 1);
    hx_plan(h, "pa", id2, (hx_act[]){ { "risky", 0, HEALER_ACTION_CONFIG, 0 } }, 1);
    hx_plan(h, "pb", id2, NULL, 0);
    assert_int_equal(hx_command(h, HTTP_CMD_REJECT, id2), HEALER_OK);
    assert_string_equal(outcome(hx_heal(h, id2)), "rejected");
    /* snoozed: a repeat asks nobody, a critical one does */
    assert_int_equal(raise(h, "b", 2), 0);
    assert_true(raise(h, "b", 3) > 0);
    done(h);
}

static void two_confirmations(hx *h)
{
    h->cfg.limits.auto_after_confirmations = 2;
}

/* Confirmed and healed twice: the third plan of that (type, action) runs without asking; one
 * failure sends it back to asking. */
static void test_auto_after_confirmations(void **state)
{
    (void)state;
    hx *h = mk(0, two_confirmations);
    const char *targets[] = { "a", "b" };
    for (int i = 0; i < 2; i++) {
        uint64_t id = raise(h, targets[i], 1);
        size_t mark = h->n_log;
        hx_plan(h, "pa", id, (hx_act[]){ { "risky", 0, HEALER_ACTION_CONFIG, 0 } }, 1);
        hx_plan(h, "pb", id, NULL, 0);
        assert_int_equal(heal_of(h, id)->phase, H_PENDING);
        assert_int_equal(hx_command(h, HTTP_CMD_CONFIRM, id), HEALER_OK);
        hx_sent x = exec_of(h, mark, id);
        hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
        assert_string_equal(outcome(hx_heal(h, id)), "healed");
    }
    /* earned: no confirmation this time, and it fails */
    uint64_t id = raise(h, "c", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "risky", 0, HEALER_ACTION_CONFIG, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    hx_sent x = exec_of(h, mark, id);
    hx_result(h, "pa", id, x.attempt, HEALER_OUTCOME_FAILED, 0, "no");
    assert_string_equal(outcome(hx_heal(h, id)), "failed");
    /* one failure: back to asking */
    uint64_t id2 = raise(h, "d", 1);
    hx_plan(h, "pa", id2, (hx_act[]){ { "risky", 0, HEALER_ACTION_CONFIG, 0 } }, 1);
    hx_plan(h, "pb", id2, NULL, 0);
    assert_int_equal(heal_of(h, id2)->phase, H_PENDING);
    done(h);
}

/* ---- ids and the durable record --------------------------------------------------------- */

/* Without a knowledge base the engine still never gives two heals one id. */
static void test_heal_ids_unique_without_kb(void **state)
{
    (void)state;
    hx *h = mk(0, NULL);
    uint64_t a = raise(h, "a", 1);
    uint64_t b = raise(h, "b", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", a, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", a, NULL, 0);
    hx_plan(h, "pa", b, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", b, NULL, 0);
    hx_sent xa = exec_of(h, mark, a);
    hx_sent xb = exec_of(h, mark, b);
    hx_result(h, "pa", a, xa.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    uint64_t c = raise(h, "c", 1);
    assert_true(c != a && c != b);
    assert_non_null(heal_of(h, b));
    assert_string_equal(heal_of(h, b)->is->target, "b");
    hx_result(h, "pa", b, xb.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(json_string_value(json_object_get(hx_heal(h, b), "target")), "b");
    assert_true(hx_open_issue(h, "tx", "a")->id != hx_open_issue(h, "tx", "b")->id);
    done(h);
}

static void test_recorded_in_knowledge_base(void **state)
{
    (void)state;
    hx *h = mk(1, NULL);
    uint64_t id = raise(h, "a", 1);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, (hx_act[]){ { "b1", 1, 0, 0 } }, 1);
    exec_of(h, mark, id);
    hx_advance(h, 60);
    hx_sweep(h);
    const hx_sent *y = hx_last(h, mark, MSG_EXECUTE, "pb");
    assert_non_null(y);
    hx_result(h, "pb", id, y->attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_int_equal(knowledge_flush(h->kb), 0);
    json_t *j = knowledge_heals_json(h->kb, 10);
    json_t *heals = json_object_get(j, "heals");
    assert_int_equal(json_array_size(heals), 1);
    json_t *rec = json_array_get(heals, 0);
    assert_int_equal(json_integer_value(json_object_get(rec, "id")), (json_int_t)id);
    assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "healed");
    json_t *acts = json_object_get(rec, "actions");
    assert_int_equal(json_array_size(acts), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 0), "outcome")),
                        "timeout");
    assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 1), "action")),
                        "b1");
    json_decref(j);
    done(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_matching),
        cmocka_unit_test(test_verdict_from_other_plugin_ignored),
        cmocka_unit_test(test_timeout_stuck_until_late_result),
        cmocka_unit_test(test_waiting_heal_skipped_after_one_timeout),
        cmocka_unit_test(test_overdue_steps_abandoned_first),
        cmocka_unit_test(test_settling_extends_deadline_then_cancel),
        cmocka_unit_test(test_verdict_codes),
        cmocka_unit_test(test_resolve_while_executing),
        cmocka_unit_test(test_resolve_while_waiting),
        cmocka_unit_test(test_critical_preempts),
        cmocka_unit_test(test_pause_holds_even_critical),
        cmocka_unit_test(test_critical_first_in_wait_queue),
        cmocka_unit_test(test_futile_skipped_then_exhausted),
        cmocka_unit_test(test_critical_ignores_futility),
        cmocka_unit_test(test_futile_cleared_by_heal),
        cmocka_unit_test(test_restore_resent_until_acked),
        cmocka_unit_test(test_hourly_limit_and_emergency),
        cmocka_unit_test(test_dry_run_keeps_live_windows),
        cmocka_unit_test(test_confirm_and_reject),
        cmocka_unit_test(test_auto_after_confirmations),
        cmocka_unit_test(test_heal_ids_unique_without_kb),
        cmocka_unit_test(test_recorded_in_knowledge_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
