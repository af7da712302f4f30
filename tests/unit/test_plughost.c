/* test_plughost.c — the plugin host's idle economy: report_health sends a score to the engine
 * only when it changed or was not sent for HEALER_HEALTH_REFRESH_S (on a simulated clock), never
 * drops a change, and stays bounded (components past its table are always sent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"
#include "plughost.h"

static double sim;
static double sim_clock(void *ud)
{
    (void)ud;
    return sim;
}

static int setup(void **state)
{
    static plughost h;
    memset(&h, 0, sizeof h);
    h.interval = 1.0;
    sim = 1000;
    clock_override_mono(sim_clock, NULL);
    *state = &h;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clock_override_mono(NULL, NULL);
    return 0;
}

static void test_unchanged_score_is_refreshed_not_repeated(void **state)
{
    plughost *h = *state;
    assert_int_equal(plughost_health_due(h, "memory", 100), 1);   /* first: sent */
    for (int i = 1; i < 30; i++) {                                /* 1 s interval, 29 s */
        sim += 1;
        assert_int_equal(plughost_health_due(h, "memory", 100), 0);
    }
    sim += 1;                                                     /* 30 s: refreshed */
    assert_int_equal(plughost_health_due(h, "memory", 100), 1);
    sim += 1;
    assert_int_equal(plughost_health_due(h, "memory", 100), 0);
}

static void test_every_change_is_sent(void **state)
{
    plughost *h = *state;
    assert_int_equal(plughost_health_due(h, "a", 100), 1);
    assert_int_equal(plughost_health_due(h, "b", 100), 1);       /* another component */
    sim += 0.1;
    assert_int_equal(plughost_health_due(h, "a", 99), 1);        /* a point */
    assert_int_equal(plughost_health_due(h, "a", 98.4), 0);      /* noise: within a point */
    assert_int_equal(plughost_health_due(h, "a", 97.9), 1);      /* drift adds up */
    assert_int_equal(plughost_health_due(h, "a", 97.6), 0);
    assert_int_equal(plughost_health_due(h, "a", 100), 1);
    assert_int_equal(plughost_health_due(h, "a", 0.5), 1);
    assert_int_equal(plughost_health_due(h, "a", 0), 1);         /* a bound, exactly */
    assert_int_equal(plughost_health_due(h, "b", 100), 0);       /* b is still known */
    assert_int_equal(plughost_health_due(h, "a", 100), 1);
    assert_int_equal(plughost_health_due(h, "a", 100), 0);
}

static void test_long_interval_sends_every_detect(void **state)
{
    plughost *h = *state;
    h->interval = 60;   /* a detect per minute: each one refreshes the engine */
    assert_int_equal(plughost_health_due(h, "disk", 100), 1);
    sim += 60;
    assert_int_equal(plughost_health_due(h, "disk", 100), 1);
}

static void test_bounded_table(void **state)
{
    plughost *h = *state;
    char name[32];
    for (int i = 0; i < PH_HEALTH_SEEN; i++) {
        snprintf(name, sizeof name, "link%d", i);
        assert_int_equal(plughost_health_due(h, name, 100), 1);
        assert_int_equal(plughost_health_due(h, name, 100), 0);
    }
    /* beyond the table: nothing remembered, so nothing suppressed */
    for (int k = 0; k < 3; k++)
        assert_int_equal(plughost_health_due(h, "link-extra", 100), 1);
    assert_int_equal(plughost_health_due(h, "link0", 100), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unchanged_score_is_refreshed_not_repeated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_change_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_interval_sends_every_detect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
