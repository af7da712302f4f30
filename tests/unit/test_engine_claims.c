/* test_engine_claims.c — which plugins the engine asks to plan (eng_claims, sdk/docs/abi.md): a
 * plugin whose issue_types lists a type is asked for that type only; one that lists "*" (the
 * plans plugin: plans.d may match any type) is asked for every type, and its answer runs like a
 * claimant's. The descriptor rules accept "*" and nothing else outside [a-z0-9_]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"
#include "rules.h"

static const char *const TX[] = {"tx", NULL};
static const char *const ANY[] = {"check_failed", "*", NULL};
static const hx_plugin PL[] = {
    {"det", NULL, 1, 0, 0},
    {"pa", TX, 1, 0, 0},
    {"plans", ANY, 1, 0, 0},
};

static hx *mk(void)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 3, 0);
    h->cfg.limits.cooldown_minutes = 0;
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    return h;
}

static size_t plan_reqs(hx *h, size_t from, const char *plugin)
{
    return hx_count(h, from, MSG_PLAN_REQ, plugin);
}

static void test_claims(void **state)
{
    (void)state;
    hx *h = mk();
    plugin_rec *pa = &h->set.v[hx_pidx(h, "pa")], *pl = &h->set.v[hx_pidx(h, "plans")],
               *det = &h->set.v[hx_pidx(h, "det")];
    assert_true(eng_claims(pa, "tx"));
    assert_false(eng_claims(pa, "other"));
    assert_true(eng_claims(pl, "tx"));
    assert_true(eng_claims(pl, "service_failed"));
    assert_true(eng_claims(pl, "check_failed"));
    assert_false(eng_claims(det, "tx"));   /* no issue_types: asked for nothing */
    hx_free(h);
    free(h);
}

/* An issue of a type only "*" claims is planned by the wildcard plugin alone, and its step runs;
 * an issue of a listed type goes to both. */
static void test_wildcard_plans_and_runs(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    hx_issue(h, "det", "service_failed", "web.service", 2);
    assert_int_equal(plan_reqs(h, mark, "plans"), 1);
    assert_int_equal(plan_reqs(h, mark, "pa"), 0);
    const hx_sent *req = hx_last(h, mark, MSG_PLAN_REQ, "plans");
    assert_non_null(req);
    uint64_t id = req->seq;
    mark = h->n_log;
    hx_plan(h, "plans", id, (hx_act[]){{"web_fix_restart", 0, 0, 0.5}}, 1);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "plans");
    assert_non_null(x);
    assert_string_equal(x->action, "web_fix_restart");

    mark = h->n_log;
    hx_issue(h, "det", "tx", "a", 2);
    assert_int_equal(plan_reqs(h, mark, "plans"), 1);
    assert_int_equal(plan_reqs(h, mark, "pa"), 1);
    hx_free(h);
    free(h);
}

/* A type nobody lists, which the "*" claimant has no plan for: nothing is recorded, and the issue
 * says no plugin plans for it (as before a "*" claimant existed), not that plans came back empty. */
static void test_wildcard_without_plan_is_no_planner(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    hx_issue(h, "det", "dns_slow", "resolver", 0);
    const hx_sent *req = hx_last(h, mark, MSG_PLAN_REQ, "plans");
    assert_non_null(req);
    hx_plan(h, "plans", req->seq, NULL, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    eissue *is = hx_open_issue(h, "dns_slow", "resolver");
    assert_non_null(is);
    assert_string_equal(is->reason, "no_planner");
    assert_null(hx_heal(h, req->seq));
    /* a listed claimant that proposes nothing still reads no_action */
    mark = h->n_log;
    hx_issue(h, "det", "tx", "b", 1);
    uint64_t id = hx_last(h, mark, MSG_PLAN_REQ, "pa")->seq;
    hx_plan(h, "pa", id, NULL, 0);
    hx_plan(h, "plans", id, NULL, 0);
    assert_string_equal(hx_open_issue(h, "tx", "b")->reason, "no_action");
    hx_free(h);
    free(h);
}

/* A "*" plugin busy elsewhere (plans.d running a slow check) holds up nobody's heal for long: once
 * the plugins that name the type have answered, it gets PLAN_ANY_GRACE, and its late answer is
 * ignored. For a type only it plans for, it is waited for as any planner is. */
static void test_wildcard_late_does_not_hold_up(void **state)
{
    (void)state;
    hx *h = mk();
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", "c", 2);
    uint64_t id = hx_last(h, mark, MSG_PLAN_REQ, "pa")->seq;
    hx_plan(h, "pa", id, (hx_act[]){{"fix_it", 0, 0, 0.9}}, 1);
    hx_advance(h, PLAN_ANY_GRACE / 2);
    hx_sweep(h);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);  /* still within the grace */
    hx_advance(h, PLAN_ANY_GRACE);
    hx_sweep(h);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    assert_string_equal(x->action, "fix_it");
    size_t after = h->n_log;
    hx_plan(h, "plans", id, (hx_act[]){{"late_one", 0, 0, 0.99}}, 1);
    assert_int_equal(hx_count(h, after, MSG_EXECUTE, NULL), 0);

    /* nobody names service_failed: the "*" plugin is its only planner and is waited for */
    mark = h->n_log;
    hx_issue(h, "det", "service_failed", "db.service", 2);
    id = hx_last(h, mark, MSG_PLAN_REQ, "plans")->seq;
    hx_advance(h, 1.0);
    hx_sweep(h);
    heal *hl = u64map_get(h->e->heals, id);
    assert_non_null(hl);
    assert_int_equal(hl->phase, H_PLANNING);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    hx_plan(h, "plans", id, (hx_act[]){{"db_restart", 0, 0, 0.5}}, 1);
    assert_non_null(hx_last(h, mark, MSG_EXECUTE, "plans"));
    hx_free(h);
    free(h);
}

static void test_descriptor_rules(void **state)
{
    (void)state;
    static const char *const ok[] = {"check_failed", "*", NULL};
    static const char *const bad[] = {"**", NULL};
    static const char *const bad2[] = {"check_*", NULL};
    healer_plugin d = {.struct_size = sizeof d, .abi_major = HEALER_ABI_MAJOR,
                       .abi_minor = HEALER_ABI_MINOR, .name = "plans", .version = "1",
                       .description = "x", .issue_types = ok,
                       .init = (int (*)(const healer_host *, healer_ctx *, void **))1,
                       .destroy = (void (*)(void *))1, .detect = (int (*)(void *))1};
    char why[512];
    assert_int_equal(healer_rules_check_descriptor(&d, NULL, why, sizeof why), HEALER_OK);
    d.issue_types = bad;
    assert_int_equal(healer_rules_check_descriptor(&d, NULL, why, sizeof why), HEALER_E_INVAL);
    assert_non_null(strstr(why, "\"**\""));
    d.issue_types = bad2;
    assert_int_equal(healer_rules_check_descriptor(&d, NULL, why, sizeof why), HEALER_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_wildcard_plans_and_runs),
        cmocka_unit_test(test_wildcard_without_plan_is_no_planner),
        cmocka_unit_test(test_wildcard_late_does_not_hold_up),
        cmocka_unit_test(test_descriptor_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
