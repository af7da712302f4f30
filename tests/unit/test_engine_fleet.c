/* test_engine_fleet.c — shared knowledge through the whole heal loop (engine_harness.c, a real
 * knowledge base): a host with no history of its own runs, as its very first step, the action
 * its peers found successful, where without them the plugins' priors decide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine_harness.h"
#include "fleet_merge.h"

static const char *const TX[] = {"tx", NULL};
static const hx_plugin PL[] = {
    {"det", NULL, 1, 0, 0},
    {"pa", TX, 1, 1, 0},
    {"pb", TX, 1, 1, 0},
};

/* The first action executed for a fresh tx issue: pa offers a1 (its confidence 0.9), pb offers
 * b1 (0.5), both in step 0. */
static const char *first_action(hx *h, char out[64])
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", "t1", 2);
    const hx_sent *req = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    assert_non_null(req);
    uint64_t id = req->seq;
    mark = h->n_log;
    hx_plan(h, "pa", id, (hx_act[]){{"a1", 0, 0, 0.9}}, 1);
    hx_plan(h, "pb", id, (hx_act[]){{"b1", 0, 0, 0.5}}, 1);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, NULL);
    assert_non_null(x);
    snprintf(out, 64, "%s", x->action);
    return out;
}

static void test_first_heal_follows_the_fleet(void **state)
{
    (void)state;
    char act[64];
    hx *h = calloc(1, sizeof *h);
    hx_init(h, PL, 3, 1);
    hx_start(h);
    assert_string_equal(first_action(h, act), "a1"); /* alone: the priors */
    hx_free(h);
    free(h);

    h = calloc(1, sizeof *h);
    hx_init(h, PL, 3, 1);
    const char *const peers[] = {"web-2"};
    assert_int_equal(knowledge_fleet_enable(h->kb, peers, 1, 0.5), 0);
    fleet_row rows[] = {{"tx", "b1", 30, 29}, {"tx", "a1", 30, 2}};
    fleet_state st = {.node = "web-2", .rows = rows, .n = 2};
    size_t grew;
    assert_int_equal(knowledge_fleet_merge(h->kb, &st, &grew), 0);
    hx_start(h);
    uint64_t a, s;
    knowledge_stats(h->kb, "tx", "b1", &a, &s);
    assert_int_equal(a, 0); /* no history of its own */
    assert_string_equal(first_action(h, act), "b1");
    hx_free(h);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_heal_follows_the_fleet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
