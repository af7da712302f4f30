/* test_engine_queue.c — steps pipelined to one plugin (engine_steps.c's slot clock): a step or
 * verification queued behind other heals' long steps is not timed out while its plugin keeps
 * answering, and a plugin that answers nothing still times out one action timeout after its
 * last answer. A detached engine (engine_harness.c) driven as its loop drives it: sleep until
 * eng_next_due, sweep. */
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
/* pa plans, executes and verifies itself (every step here is pa's); pb plans nothing. */
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
    { "pb", TX, 0, 1, 0 },
};

#define T 60.0 /* the harness's agent.action_timeout */

static hx *mk(void)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 3, 0);
    h->cfg.limits.cooldown_minutes = 0;
    assert_true(h->cfg.action_timeout == T);
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static void done(hx *h)
{
    hx_free(h);
    free(h);
}

/* The engine loop until mono reaches `until`: it sleeps to the next due time and sweeps, so a
 * deadline a sweep moves is woken for (and one it does not move times out on time). */
static void run_to(hx *h, double until)
{
    for (int turns = 0; h->mono < until; turns++) {
        assert_true(turns < 1000);
        double due = eng_next_due(h->e);
        double t = due < until ? due : until;
        if (t <= h->mono) /* due now (a stale issue closes strictly after its ttl): time passes */
            t = h->mono + 0.001 < until ? h->mono + 0.001 : until;
        h->now += t - h->mono;
        h->mono = t;
        hx_sweep(h);
    }
}

/* A heal on target with pa's one action a1 planned: its EXECUTE goes to pa (pipelined). */
static hx_sent start(hx *h, const char *target)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", target, 1);
    const hx_sent *rq = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    assert_non_null(rq);
    uint64_t id = rq->seq;
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){ { "a1", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", id, NULL, 0);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_int_equal(x->seq, id);
    return *x;
}

/* The heal's phase, or -1 when it has ended. */
static int phase_of(hx *h, uint64_t id)
{
    heal *e = u64map_get(h->e->heals, id);
    return e ? (int)e->phase : -1;
}

static const char *outcome(hx *h, uint64_t id)
{
    json_t *rec = hx_heal(h, id);
    return rec ? json_string_value(json_object_get(rec, "outcome")) : "(running)";
}

static const char *act_outcome(hx *h, uint64_t id)
{
    json_t *a = json_array_get(json_object_get(hx_heal(h, id), "actions"), 0);
    return a ? json_string_value(json_object_get(a, "outcome")) : "(running)";
}

/* Three heals' steps queued on pa, each taking 0.7 action timeouts: all healed, none timed
 * out, pa never stuck. */
static void test_queued_steps_do_not_time_out(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent x[3] = { start(h, "a"), start(h, "b"), start(h, "c") };
    for (int i = 0; i < 3; i++) {
        run_to(h, t0 + 0.7 * T * (i + 1));
        assert_int_equal(h->e->slots[hx_pidx(h, "pa")].n_abandoned, 0);
        assert_int_equal(phase_of(h, x[i].seq), H_EXECUTING);
        hx_result(h, "pa", x[i].seq, x[i].attempt, HEALER_OUTCOME_HEALED, 0, "ok");
        assert_string_equal(outcome(h, x[i].seq), "healed");
    }
    run_to(h, t0 + 10 * T);
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].inflight, 0);
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].n_abandoned, 0);
    done(h);
}

/* pa verifies heal a's step by itself, but only once the steps of b and c queued behind it have
 * run (its worker verifies between messages): a's verification is not timed out meanwhile. */
static void test_verify_behind_queued_steps(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent a = start(h, "a"), b = start(h, "b"), c = start(h, "c");
    run_to(h, t0 + 0.2 * T);
    hx_result(h, "pa", a.seq, a.attempt, HEALER_OUTCOME_DONE, 0, "done");
    assert_int_equal(phase_of(h, a.seq), H_VERIFYING);
    run_to(h, t0 + 0.9 * T);
    hx_result(h, "pa", b.seq, b.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    run_to(h, t0 + 1.6 * T);
    hx_result(h, "pa", c.seq, c.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    run_to(h, t0 + 2.3 * T);
    assert_int_equal(phase_of(h, a.seq), H_VERIFYING);
    hx_verdict(h, "pa", a.seq, a.attempt, 1, 0, "verified");
    assert_string_equal(outcome(h, a.seq), "healed");
    assert_string_equal(outcome(h, b.seq), "healed");
    assert_string_equal(outcome(h, c.seq), "healed");
    done(h);
}

/* A plugin that answers nothing: its first step times out at action_timeout, as before, and
 * the steps queued behind it too (nothing was answered after they were sent). */
static void test_silent_plugin_times_out(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent x[3] = { start(h, "a"), start(h, "b"), start(h, "c") };
    run_to(h, t0 + T - 0.01);
    for (int i = 0; i < 3; i++)
        assert_int_equal(phase_of(h, x[i].seq), H_EXECUTING);
    run_to(h, t0 + T);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(outcome(h, x[i].seq), "failed");
        assert_string_equal(act_outcome(h, x[i].seq), "timeout");
    }
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].n_abandoned, 3);
    done(h);
}

/* A plugin that answers the first step at 0.7 action timeouts, then nothing: the queued steps
 * time out one action timeout after that answer, not later. */
static void test_stalled_plugin_times_out_after_last_answer(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent x[3] = { start(h, "a"), start(h, "b"), start(h, "c") };
    run_to(h, t0 + 0.7 * T);
    hx_result(h, "pa", x[0].seq, x[0].attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(h, x[0].seq), "healed");
    run_to(h, t0 + 1.7 * T - 0.01);
    assert_int_equal(phase_of(h, x[1].seq), H_EXECUTING);
    assert_int_equal(phase_of(h, x[2].seq), H_EXECUTING);
    /* the loop sleeps no later than the moved deadline */
    assert_true(eng_next_due(h->e) <= t0 + 1.7 * T + 1e-9);
    run_to(h, t0 + 1.7 * T);
    for (int i = 1; i < 3; i++) {
        assert_string_equal(outcome(h, x[i].seq), "failed");
        assert_string_equal(act_outcome(h, x[i].seq), "timeout");
    }
    assert_int_equal(h->e->slots[hx_pidx(h, "pa")].n_abandoned, 2);
    done(h);
}

/* Answers that are not to a step in flight on the plugin (wrong attempt, a finished heal's
 * duplicate, another plugin's) prove nothing: the queued step still times out on time. */
static void test_stray_answers_do_not_extend(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent a = start(h, "a");
    run_to(h, t0 + 0.1 * T);
    hx_result(h, "pa", a.seq, a.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    hx_sent b = start(h, "b");
    run_to(h, t0 + 0.8 * T);
    hx_result(h, "pa", a.seq, a.attempt, HEALER_OUTCOME_HEALED, 0, "duplicate");
    hx_result(h, "pa", b.seq, b.attempt + 100, HEALER_OUTCOME_HEALED, 0, "wrong attempt");
    hx_result(h, "pb", b.seq, b.attempt, HEALER_OUTCOME_HEALED, 0, "wrong plugin");
    hx_verdict(h, "pa", b.seq, b.attempt, 1, 0, "verdict while executing");
    run_to(h, t0 + 1.1 * T);
    assert_string_equal(act_outcome(h, b.seq), "timeout");
    done(h);
}

/* A pre-empted step's late result is an answer too: the step queued behind it waits one action
 * timeout from then. */
static void test_late_result_of_preempted_step_counts(void **state)
{
    (void)state;
    hx *h = mk();
    double t0 = h->mono;
    hx_sent a = start(h, "a"), b = start(h, "b");
    run_to(h, t0 + 0.3 * T);
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", "a", 3); /* a critical issue pre-empts heal a's step */
    assert_string_equal(act_outcome(h, a.seq), "preempted");
    const hx_sent *rq = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    assert_non_null(rq);
    hx_plan(h, "pa", rq->seq, (hx_act[]){ { "a9", 0, 0, 0 } }, 1);
    hx_plan(h, "pb", rq->seq, NULL, 0);
    assert_int_equal(phase_of(h, rq->seq), H_WAITING);
    run_to(h, t0 + 0.7 * T);
    hx_result(h, "pa", a.seq, a.attempt, HEALER_OUTCOME_HEALED, 0, "late");
    const hx_sent *sent = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(sent);
    hx_sent x9 = *sent;
    run_to(h, t0 + 1.4 * T);
    assert_int_equal(phase_of(h, b.seq), H_EXECUTING);
    hx_result(h, "pa", b.seq, b.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(h, b.seq), "healed");
    run_to(h, t0 + 2.1 * T);
    hx_result(h, "pa", x9.seq, x9.attempt, HEALER_OUTCOME_HEALED, 0, "ok");
    assert_string_equal(outcome(h, x9.seq), "healed");
    done(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_steps_do_not_time_out),
        cmocka_unit_test(test_verify_behind_queued_steps),
        cmocka_unit_test(test_silent_plugin_times_out),
        cmocka_unit_test(test_stalled_plugin_times_out_after_last_answer),
        cmocka_unit_test(test_stray_answers_do_not_extend),
        cmocka_unit_test(test_late_result_of_preempted_step_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
