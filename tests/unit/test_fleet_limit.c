/* test_fleet_limit.c — the fleet-wide limits as two agents see them, against a REAL etcd: with
 * max_concurrent_risky = 1 the second agent's heal waits until the first one's ends; the hourly
 * budget stops the third heal; with etcd stopped a risky heal waits and a critical one proceeds
 * (and the other way round when configured so), and waits resume once etcd is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "etcdrig.h"
#include "fleet_limit.h"

static etcdrig rig;

static int setup(void **state)
{
    (void)state;
    return etcdrig_start(&rig, 0);
}

static int teardown(void **state)
{
    (void)state;
    etcdrig_stop(&rig);
    return 0;
}

static void conf(config *c, const char *node, const char *group, int k, int budget)
{
    static char *ep[1];
    static char url[64];
    snprintf(url, sizeof url, "%s", rig.url);
    ep[0] = url;
    memset(c, 0, sizeof *c);
    c->fleet.node = (char *)node;
    c->fleet.group = (char *)group;
    c->fleet.etcd = (fleet_etcd_conf){ .enabled = 1, .endpoints = ep, .n_endpoints = 1,
        .max_concurrent_risky = k, .hourly_budget = budget, .timeout_ms = 300, .lease_ttl_s = 6,
        .unreachable_risky = FLEET_UNREACHABLE_WAIT,
        .unreachable_critical = FLEET_UNREACHABLE_PROCEED, .prefix = (char *)"/hl" };
}

static fleet_limit *limiter(const config *c)
{
    char why[256] = "";
    fleet_limit *l = fleet_limit_new(c, NULL, why, sizeof why);
    if (!l)
        fail_msg("fleet_limit_new: %s", why);
    return l;
}

/* Asks as the engine does (each call returns at once) until an answer other than ASKING. */
static fleet_answer answer(fleet_limit *l, uint64_t heal, int critical)
{
    char d[256];
    fleet_answer a = fleet_limit_ask(l, heal, critical, d, sizeof d);
    for (int i = 0; i < 2000 && a == FLEET_ASKING; i++) {
        nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
        a = fleet_limit_ask(l, heal, critical, d, sizeof d);
    }
    return a;
}

/* A waiting answer stands until the attempt it started has answered: ask until it changes or
 * n attempts have said the same. */
static fleet_answer answer_until(fleet_limit *l, uint64_t heal, int critical, fleet_answer want,
                                 int tries)
{
    fleet_answer a = answer(l, heal, critical);
    for (int i = 0; i < tries && a != want; i++) {
        nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
        a = answer(l, heal, critical);
    }
    return a;
}

static void test_absent(void **state)
{
    (void)state;
    config c;
    memset(&c, 0, sizeof c);
    char why[64] = "";
    assert_null(fleet_limit_new(&c, NULL, why, sizeof why));
    assert_string_equal(why, "");
}

static void test_two_agents(void **state)
{
    (void)state;
    config ca, cb;
    conf(&ca, "a", "g1", 1, 0);
    fleet_limit *a = limiter(&ca);
    conf(&cb, "b", "g1", 1, 0);
    fleet_limit *b = limiter(&cb);
    assert_int_equal(answer(a, 1, 0), FLEET_GRANTED);
    assert_int_equal(answer(b, 7, 0), FLEET_FULL);
    assert_int_equal(answer(b, 7, 1), FLEET_FULL); /* reachable: critical heals count too */
    json_t *st = fleet_limit_status(b);
    assert_int_equal(json_integer_value(json_object_get(st, "waiting")), 1);
    assert_true(json_is_true(json_object_get(st, "etcd_up")));
    assert_string_equal(json_string_value(json_object_get(st, "group")), "/hl/g1");
    json_decref(st);
    /* a's heal keeps its slot past the lease TTL (kept alive) */
    nanosleep(&(struct timespec){ .tv_sec = 7 }, NULL);
    assert_int_equal(answer(b, 7, 0), FLEET_FULL);
    assert_int_equal(answer(a, 1, 0), FLEET_GRANTED);
    fleet_limit_release(a, 1);
    assert_int_equal(answer_until(b, 7, 0, FLEET_GRANTED, 50), FLEET_GRANTED);
    assert_int_equal(answer(a, 2, 0), FLEET_FULL);
    /* freeing b revokes its lease at once (no TTL to wait for) */
    fleet_limit_free(b);
    assert_int_equal(answer_until(a, 2, 0, FLEET_GRANTED, 50), FLEET_GRANTED);
    fleet_limit_free(a);
}

static void test_budget(void **state)
{
    (void)state;
    config c;
    conf(&c, "a", "g2", 5, 2);
    fleet_limit *l = limiter(&c);
    assert_int_equal(answer(l, 1, 0), FLEET_GRANTED);
    fleet_limit_release(l, 1);
    assert_int_equal(answer(l, 2, 0), FLEET_GRANTED);
    /* a heal that holds its slot is not counted twice */
    assert_int_equal(answer(l, 2, 0), FLEET_GRANTED);
    fleet_limit_release(l, 2);
    assert_int_equal(answer(l, 3, 0), FLEET_BUDGET);
    assert_int_equal(answer(l, 3, 0), FLEET_BUDGET); /* retried: still spent */
    fleet_limit_free(l);
}

static void test_unreachable(void **state)
{
    (void)state;
    config c;
    conf(&c, "a", "g3", 1, 0);
    fleet_limit *l = limiter(&c);
    assert_int_equal(answer(l, 1, 0), FLEET_GRANTED);
    fleet_limit_release(l, 1);
    etcdrig_kill(&rig);
    assert_int_equal(answer(l, 2, 0), FLEET_DOWN);     /* risky: fail closed */
    assert_int_equal(answer(l, 3, 1), FLEET_PROCEED);  /* critical: fail open */
    json_t *st = fleet_limit_status(l);
    assert_true(json_is_false(json_object_get(st, "etcd_up")));
    assert_true(strlen(json_string_value(json_object_get(st, "last_error"))) > 0);
    json_decref(st);
    fleet_limit_release(l, 3);
    /* configured the other way round */
    config c2;
    conf(&c2, "b", "g3", 1, 0);
    c2.fleet.etcd.unreachable_risky = FLEET_UNREACHABLE_PROCEED;
    c2.fleet.etcd.unreachable_critical = FLEET_UNREACHABLE_WAIT;
    fleet_limit *l2 = limiter(&c2);
    assert_int_equal(answer(l2, 4, 0), FLEET_PROCEED);
    assert_int_equal(answer(l2, 5, 1), FLEET_DOWN);
    fleet_limit_free(l2);
    /* etcd back: the waiting heal gets its slot */
    assert_int_equal(etcdrig_start(&rig, 1), 0);
    assert_int_equal(answer_until(l, 2, 0, FLEET_GRANTED, 100), FLEET_GRANTED);
    fleet_limit_free(l);
}

int main(void)
{
    if (!etcdrig_available()) {
        printf("SKIP: etcd is not installed\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_two_agents),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
