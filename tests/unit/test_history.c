/* test_history.c — agent/history.c, the dashboard's 24 h ring: an empty ring, a partial minute
 * (lowest and last), minutes without samples carrying the values in force, the wrap-around
 * after 1440 minutes and after a longer gap, heals by outcome, components that stop reporting,
 * and the fixed component table (full: counted; a column reused once its data aged out). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "history.h"

#define WALL 1700000000.0   /* the wall clock when mono is 0 in these tests */

static json_t *read_at(history *h, double mono, int minutes)
{
    json_t *o = history_json(h, mono, WALL + mono, minutes);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "health")), (size_t)minutes);
    assert_int_equal(json_array_size(json_object_get(o, "health_min")), (size_t)minutes);
    return o;
}

/* -1 for null */
static long at(json_t *o, const char *col, size_t i)
{
    json_t *v = json_array_get(json_object_get(o, col), i);
    assert_non_null(v);
    return json_is_null(v) ? -1 : (long)json_integer_value(v);
}

static long heals_at(json_t *o, const char *outcome, size_t i)
{
    json_t *v = json_array_get(json_object_get(json_object_get(o, "heals"), outcome), i);
    assert_non_null(v);
    return (long)json_integer_value(v);
}

static json_t *comp(json_t *o, const char *plugin, const char *component)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(o, "components"), i, c)
        if (strcmp(json_string_value(json_object_get(c, "plugin")), plugin) == 0 &&
            strcmp(json_string_value(json_object_get(c, "component")), component) == 0)
            return json_object_get(c, "score");
    return NULL;
}

static history_comp C(const char *p, const char *c, double s)
{
    return (history_comp){p, strlen(p), c, strlen(c), s};
}

static void empty_ring(void **st)
{
    (void)st;
    history *h = history_new();
    json_t *o = read_at(h, 6000.5, 1440);
    for (size_t i = 0; i < 1440; i++) {
        assert_int_equal(at(o, "health", i), -1);
        assert_int_equal(heals_at(o, "healed", i), 0);
    }
    assert_int_equal(json_array_size(json_object_get(o, "components")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "interval_seconds")), 60);
    /* the first of 1440 minutes ending with minute 100 (6000.5 s) is minute -1339 */
    assert_true(fabs(json_real_value(json_object_get(o, "start")) - (WALL - 1339 * 60.0)) < 0.01);
    json_decref(o);
    history_free(h);
}

static void partial_minute(void **st)
{
    (void)st;
    history *h = history_new();
    history_comp c1[] = {C("disk", "/var", 70)};
    history_health(h, 600.0, 80, c1, 1);     /* minute 10 */
    c1[0].score = 40;
    history_health(h, 610.0, 60.4, c1, 1);
    c1[0].score = 95;
    history_health(h, 650.0, 90.6, c1, 1);
    history_heal(h, 655.0, "healed");
    history_heal(h, 656.0, "healed");
    history_heal(h, 657.0, "no-such-outcome");
    json_t *o = read_at(h, 659.9, 3);        /* minutes 8, 9, 10: 10 is still running */
    assert_int_equal(at(o, "health", 0), -1);
    assert_int_equal(at(o, "health", 1), -1);
    assert_int_equal(at(o, "health", 2), 91);        /* the last, rounded */
    assert_int_equal(at(o, "health_min", 2), 60);    /* the lowest */
    assert_int_equal(heals_at(o, "healed", 2), 2);
    assert_int_equal(heals_at(o, "other", 2), 1);
    assert_int_equal(heals_at(o, "failed", 2), 0);
    json_t *d = comp(o, "disk", "/var");
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_array_get(d, 2)), 40);
    assert_true(json_is_null(json_array_get(d, 0)));
    assert_true(fabs(json_real_value(json_object_get(o, "start")) - (WALL + 480)) < 0.01);
    json_decref(o);
    history_free(h);
}

static void gaps_carry_the_state(void **st)
{
    (void)st;
    history *h = history_new();
    history_comp c2[] = {C("cpu", "load", 50), C("disk", "/", 30)};
    history_health(h, 600.0, 45, c2, 2);          /* minute 10 */
    history_health(h, 601.0, 55, c2, 1);          /* disk stopped reporting (stale) */
    json_t *o = read_at(h, 13 * 60 + 1, 4);       /* minutes 10..13 */
    for (size_t i = 1; i < 4; i++) {
        assert_int_equal(at(o, "health", i), 55);     /* carried: health is a state */
        assert_int_equal(at(o, "health_min", i), 55);
    }
    assert_int_equal(at(o, "health_min", 0), 45);
    json_t *cpu = comp(o, "cpu", "load"), *disk = comp(o, "disk", "/");
    assert_non_null(cpu);
    assert_non_null(disk);
    assert_int_equal(json_integer_value(json_array_get(cpu, 3)), 50);
    assert_int_equal(json_integer_value(json_array_get(disk, 0)), 30);
    assert_true(json_is_null(json_array_get(disk, 1)));   /* not carried once gone */
    json_decref(o);
    /* a heal in a later minute writes there, and the minutes between carry the health */
    history_heal(h, 20 * 60 + 5, "failed");
    o = read_at(h, 20 * 60 + 6, 2);
    assert_int_equal(at(o, "health", 1), 55);
    assert_int_equal(heals_at(o, "failed", 1), 1);
    assert_int_equal(heals_at(o, "failed", 0), 0);
    json_decref(o);
    history_free(h);
}

static void wraps_around(void **st)
{
    (void)st;
    history *h = history_new();
    const int total = HISTORY_SLOTS + 100;
    for (int m = 0; m < total; m++) {
        history_health(h, m * 60.0 + 1, m % 100, NULL, 0);
        history_heal(h, m * 60.0 + 2, "healed");
    }
    json_t *o = read_at(h, (total - 1) * 60.0 + 3, HISTORY_SLOTS);
    long sum = 0;
    for (size_t i = 0; i < HISTORY_SLOTS; i++) {
        int m = total - HISTORY_SLOTS + (int)i;     /* the oldest 100 minutes were overwritten */
        assert_int_equal(at(o, "health", i), m % 100);
        sum += heals_at(o, "healed", i);
    }
    assert_int_equal(sum, HISTORY_SLOTS);
    json_decref(o);
    /* a day and more without anything: every minute carries the last value, none older */
    history_heal(h, (total + 5000) * 60.0, "expired");
    o = read_at(h, (total + 5000) * 60.0 + 1, HISTORY_SLOTS);
    sum = 0;
    for (size_t i = 0; i < HISTORY_SLOTS; i++) {
        assert_int_equal(at(o, "health", i), (total - 1) % 100);
        sum += heals_at(o, "healed", i) + heals_at(o, "expired", i);
    }
    assert_int_equal(sum, 1);
    json_decref(o);
    /* minutes beyond the ring are refused by the HTTP layer; here they are clamped */
    o = history_json(h, (total + 5000) * 60.0 + 1, WALL, 99999);
    assert_int_equal(json_array_size(json_object_get(o, "health")), HISTORY_SLOTS);
    json_decref(o);
    history_free(h);
}

static void component_table_is_bounded(void **st)
{
    (void)st;
    history *h = history_new();
    char names[HISTORY_COMPONENTS + 1][16];
    history_comp c[HISTORY_COMPONENTS + 1];
    for (int i = 0; i <= HISTORY_COMPONENTS; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        c[i] = C("p", names[i], i);
    }
    history_health(h, 60, 50, c, HISTORY_COMPONENTS + 1);
    json_t *o = read_at(h, 61, 1);
    assert_int_equal(json_array_size(json_object_get(o, "components")), HISTORY_COMPONENTS);
    assert_int_equal(json_integer_value(json_object_get(o, "components_dropped")), 1);
    assert_null(comp(o, "p", names[HISTORY_COMPONENTS]));
    json_decref(o);
    /* all of them stop; a day later their data has aged out and a new one gets a column */
    history_health(h, 120, 50, NULL, 0);
    history_comp fresh = C("q", "new", 12);
    history_health(h, (2 + HISTORY_SLOTS) * 60.0, 50, &fresh, 1);
    o = read_at(h, (2 + HISTORY_SLOTS) * 60.0 + 1, HISTORY_SLOTS);
    json_t *q = comp(o, "q", "new");
    assert_non_null(q);
    assert_int_equal(json_integer_value(json_array_get(q, HISTORY_SLOTS - 1)), 12);
    for (size_t i = 0; i + 1 < HISTORY_SLOTS; i++)
        assert_true(json_is_null(json_array_get(q, i)));   /* nothing of the old owner */
    assert_int_equal(json_integer_value(json_object_get(o, "components_dropped")), 1);
    json_decref(o);
    /* a name that is not UTF-8 still shows, escaped */
    char bad[] = {'d', (char)0xff, 'x', 0};
    history_comp b = C("p", bad, 5);
    history_health(h, (3 + HISTORY_SLOTS) * 60.0, 50, &b, 1);
    o = read_at(h, (3 + HISTORY_SLOTS) * 60.0 + 1, 1);
    assert_non_null(comp(o, "p", "d\\xFFx") ? comp(o, "p", "d\\xFFx") : comp(o, "p", "d\\xffx"));
    json_decref(o);
    history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_ring),
        cmocka_unit_test(partial_minute),
        cmocka_unit_test(gaps_carry_the_state),
        cmocka_unit_test(wraps_around),
        cmocka_unit_test(component_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
