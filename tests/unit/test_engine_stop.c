/* test_engine_stop.c — the engine's stop on a detached engine (engine_harness.c): once the
 * restores before stop have begun, nothing is planned or sent that could undo them (CI found a
 * plan answered during the wait for the ACKs: its step stopped a process again after its
 * restore had continued it), and a step still executing gets its plugin's restore after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"

static const char *const TX[] = { "tx", NULL };
static const hx_plugin PL[] = {
    { "det", NULL, 0, 0, 0 },
    { "pa", TX, 0, 1, 0 },
};
static const hx_act STOP_IT[] = { { "stop_it", 0, 0, 0.9 } };
static const hx_act TWO_STEPS[] = { { "first", 0, 0, 0.9 }, { "second", 1, 0, 0.8 } };

static hx *mk(void)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 2, 0);
    h->cfg.limits.cooldown_minutes = 0;
    h->cfg.limits.max_heals_per_hour = 100000;
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static void done(hx *h)
{
    hx_free(h);
    free(h);
}

static uint64_t raise_issue(hx *h)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", "victim", 2);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    return s ? s->seq : 0;
}

static size_t begin_stop(hx *h)
{
    pthread_mutex_lock(&h->e->lock);
    size_t n = eng_begin_stop(h->e);
    pthread_mutex_unlock(&h->e->lock);
    return n;
}

static const char *outcome(hx *h, uint64_t id)
{
    json_t *rec = hx_heal(h, id);
    return rec ? json_string_value(json_object_get(rec, "outcome")) : NULL;
}

/* The CI case: healed, the issue repeats, a new plan is asked for; the stop begins and only then
 * the plan comes back. */
static void test_plan_after_stop_sends_nothing(void **state)
{
    (void)state;
    hx *h = mk();
    uint64_t id = raise_issue(h);
    assert_true(id > 0);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, STOP_IT, 1);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    hx_result(h, "pa", id, x->attempt, HEALER_OUTCOME_HEALED, 0, "stopped");
    assert_string_equal(outcome(h, id), "healed");

    uint64_t id2 = raise_issue(h); /* back after healed: planned again */
    assert_true(id2 > id);
    mark = h->n_log;
    assert_int_equal(begin_stop(h), 1);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, "pa"), 1);

    hx_plan(h, "pa", id2, STOP_IT, 1);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_string_equal(outcome(h, id2), "cancelled");
    assert_string_equal(json_string_value(json_object_get(hx_heal(h, id2), "reason")),
                        "the agent is stopping");

    /* the issue repeats while the ACK is awaited: no new plan either */
    hx_advance(h, 1);
    assert_int_equal(raise_issue(h), 0);
    hx_sweep(h);
    assert_int_equal(hx_count(h, mark, MSG_PLAN_REQ, NULL), 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    done(h);
}

/* A two-step heal whose first step is in flight at the stop: its plugin restores (after the
 * step, on the same queue), and the second step is never sent. */
static void test_step_in_flight_restored_next_not_sent(void **state)
{
    (void)state;
    hx *h = mk();
    uint64_t id = raise_issue(h);
    size_t mark = h->n_log;
    hx_plan(h, "pa", id, TWO_STEPS, 2);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_string_equal(x->action, "first");
    uint64_t attempt = x->attempt;

    mark = h->n_log;
    assert_int_equal(begin_stop(h), 1);
    const hx_sent *r = hx_last(h, mark, MSG_RESTORE, "pa");
    assert_non_null(r);
    assert_string_equal(r->type, "tx");

    hx_result(h, "pa", id, attempt, HEALER_OUTCOME_FAILED, 0, "did not help");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    assert_string_equal(outcome(h, id), "cancelled");
    done(h);
}

/* Nothing acted and nothing in flight: no restore, nothing to wait for. */
static void test_nothing_to_restore(void **state)
{
    (void)state;
    hx *h = mk();
    uint64_t id = raise_issue(h); /* planning, not executing */
    assert_true(id > 0);
    size_t mark = h->n_log;
    assert_int_equal(begin_stop(h), 0);
    assert_int_equal(hx_count(h, mark, MSG_RESTORE, NULL), 0);
    hx_plan(h, "pa", id, STOP_IT, 1);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    done(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_after_stop_sends_nothing),
        cmocka_unit_test(test_step_in_flight_restored_next_not_sent),
        cmocka_unit_test(test_nothing_to_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
