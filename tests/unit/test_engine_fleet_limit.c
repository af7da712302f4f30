/* test_engine_fleet.c — the engine's half of the fleet-wide limits (engine_fleet.c) on a detached
 * engine: with fleet.etcd pointing at an endpoint that refuses connections, a risky step of a
 * high heal waits (waiting_fleet_slot, no EXECUTE, counted) and the heal ends when its issue
 * clears; a critical heal proceeds; a step that is not risky, and a dry run, never ask; with a
 * real etcd (when installed) the step runs once the slot is granted and the slot goes back when
 * the heal ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine_harness.h"
#include "etcdrig.h"
#include "fleet_limit.h"

static const char *const TX[] = { "tx", NULL };
static const hx_plugin PL[] = {
    { "det", NULL, 1, 0, 0 },
    { "pa", TX, 1, 1, 0 },
};

#define RISKY_AUTO (HEALER_ACTION_CONFIG | HEALER_ACTION_AUTO_OK)

static char *endpoint[1];

static hx *mk(const char *url, int dry_run)
{
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 2, 0);
    h->cfg.limits.cooldown_minutes = 0;
    h->cfg.dry_run = dry_run;
    endpoint[0] = (char *)url;
    h->cfg.fleet.node = (char *)"n1";
    h->cfg.fleet.group = (char *)"g";
    h->cfg.fleet.etcd = (fleet_etcd_conf){ .enabled = 1, .endpoints = endpoint,
        .n_endpoints = 1, .max_concurrent_risky = 1, .hourly_budget = 0, .timeout_ms = 200,
        .lease_ttl_s = 10, .unreachable_risky = FLEET_UNREACHABLE_WAIT,
        .unreachable_critical = FLEET_UNREACHABLE_PROCEED, .prefix = (char *)"/eng" };
    h->set.v[1].policy.allow_auto = 1; /* pa's AUTO_OK counts (plugins.pa.allow_auto) */
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    char why[256] = "";
    h->rt.fleet = fleet_limit_new(&h->cfg, h->met, why, sizeof why);
    if (!h->rt.fleet)
        fail_msg("fleet_limit_new: %s", why);
    return h;
}

static void done(hx *h)
{
    fleet_limit_free(h->rt.fleet);
    h->rt.fleet = NULL;
    memset(&h->cfg.fleet, 0, sizeof h->cfg.fleet); /* borrowed strings: not the config's */
    hx_free(h);
    free(h);
}

static uint64_t raise(hx *h, const char *target, int sev, uint32_t flags)
{
    size_t mark = h->n_log;
    hx_issue(h, "det", "tx", target, sev);
    const hx_sent *s = hx_last(h, mark, MSG_PLAN_REQ, NULL);
    assert_non_null(s);
    hx_plan(h, "pa", s->seq, (hx_act[]){ { "a1", 0, flags, 0.5 } }, 1);
    return s->seq;
}

static heal *heal_of(hx *h, uint64_t id)
{
    return u64map_get(h->e->heals, id);
}

/* Ticks the engine (10 ms of its clock, 5 ms of real time for the limiter's thread) until the
 * heal leaves H_FLEET or waits with `want`; at most ~10 s. */
static void tick_until(hx *h, uint64_t id, int want)
{
    for (int i = 0; i < 2000; i++) {
        heal *x = heal_of(h, id);
        if (!x || x->phase != H_FLEET || (want && x->fleet_waiting == want))
            return;
        nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
        hx_advance(h, x->deadline - h->mono > 0 ? x->deadline - h->mono : 0.01);
        hx_sweep(h);
    }
}

static void test_unreachable(void **state)
{
    (void)state;
    hx *h = mk("http://127.0.0.1:1", 0);
    size_t mark = h->n_log;
    uint64_t id = raise(h, "x", HEALER_SEV_HIGH, RISKY_AUTO);
    assert_int_equal(heal_of(h, id)->phase, H_FLEET);
    tick_until(h, id, FLEET_DOWN);
    assert_int_equal(heal_of(h, id)->phase, H_FLEET);
    assert_int_equal(heal_of(h, id)->fleet_waiting, FLEET_DOWN);
    json_t *v = engine_heal_json(h->e, id);
    assert_string_equal(json_string_value(json_object_get(v, "state")), "waiting_fleet_slot");
    json_decref(v);
    /* asked again every second; still no step */
    for (int i = 0; i < 3; i++) {
        hx_advance(h, 1.0);
        hx_sweep(h);
        nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
    }
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);
    char *text = NULL;
    metrics_render(h->met, &text);
    assert_non_null(strstr(text, "fleet_limit_waits_total{reason=\"unreachable\"} 1"));
    assert_non_null(strstr(text, "fleet_etcd_up 0"));
    free(text);
    /* the issue clears: the waiting heal ends, cancelled, without a step */
    hx_resolve(h, "det", "tx", "x");
    json_t *rec = hx_heal(h, id);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "cancelled");
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, NULL), 0);

    /* critical: proceeds without a slot */
    mark = h->n_log;
    id = raise(h, "y", HEALER_SEV_CRITICAL, RISKY_AUTO);
    tick_until(h, id, 0);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id)->fleet, 3);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pa"), 1);

    /* not risky: never asks */
    mark = h->n_log;
    id = raise(h, "z", HEALER_SEV_HIGH, 0);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id)->fleet, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pa"), 1);
    done(h);
}

static void test_dry_run(void **state)
{
    (void)state;
    hx *h = mk("http://127.0.0.1:1", 1);
    size_t mark = h->n_log;
    uint64_t id = raise(h, "x", HEALER_SEV_HIGH, RISKY_AUTO);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id)->fleet, 0);
    assert_int_equal(hx_count(h, mark, MSG_EXECUTE, "pa"), 1);
    done(h);
}

static etcdrig rig;

/* The rig is stopped by the teardown, which cmocka runs after a failed assertion too. */
static int rig_up(void **state)
{
    (void)state;
    return etcdrig_available() ? etcdrig_start(&rig, 0) : 0;
}

static int rig_down(void **state)
{
    (void)state;
    etcdrig_stop(&rig);
    return 0;
}

static void test_granted(void **state)
{
    (void)state;
    if (!etcdrig_available())
        skip();
    hx *h = mk(rig.url, 0);
    size_t mark = h->n_log;
    uint64_t id = raise(h, "x", HEALER_SEV_HIGH, RISKY_AUTO);
    tick_until(h, id, 0);
    assert_int_equal(heal_of(h, id)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id)->fleet, 2);
    const hx_sent *x = hx_last(h, mark, MSG_EXECUTE, "pa");
    assert_non_null(x);
    /* a second heal of another target waits: the group has one slot */
    uint64_t id2 = raise(h, "w", HEALER_SEV_HIGH, RISKY_AUTO);
    tick_until(h, id2, FLEET_FULL);
    assert_int_equal(heal_of(h, id2)->fleet_waiting, FLEET_FULL);
    /* the first heal ends (healed): its slot goes back and the second one runs */
    hx_result(h, "pa", id, x->attempt, HEALER_OUTCOME_HEALED, 0, "done");
    assert_null(heal_of(h, id));
    tick_until(h, id2, 0);
    assert_int_equal(heal_of(h, id2)->phase, H_EXECUTING);
    assert_int_equal(heal_of(h, id2)->fleet, 2);
    done(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test_setup_teardown(test_granted, rig_up, rig_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
