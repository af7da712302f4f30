/* test_config_fleet_alerts.c — healerd.conf's fleet.alerts (config_fleet_alerts.c): the
 * defaults, a full mapping read back, and every mistake (unknown keys, wrong types, a bad issue
 * type or label name, a duplicate alertname, a missing key) reported at its FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "confload.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return confload_setup(dir, sizeof dir, "test_config_fleet_alerts");
}

static int teardown(void **state)
{
    (void)state;
    confload_teardown(dir);
    return 0;
}

static void test_defaults_and_full(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    assert_int_equal(confload(dir, "fleet = { node = \"a\"; };\n", &m, &c), 0);
    assert_int_equal(c->fleet.alerts.enabled, 0);   /* off: the route answers 404 */
    assert_int_equal(c->fleet.alerts.n_map, 0);
    assert_true(c->fleet.alerts.stale_seconds == 43200.0);
    config_free(c);
    assert_int_equal(confload(dir,
        "fleet = { alerts = {\n"
        "  token_file = \"/etc/healerd/alerts.token\";\n"
        "  stale_seconds = 900;\n"
        "  map = ( { alertname = \"HighLoad\"; type = \"load_high\"; target_label = \"instance\";\n"
        "            measurements = [\"value\", \"threshold\"]; severity = \"high\"; },\n"
        "          { alertname = \"DiskGone\"; type = \"disk_missing\"; target_label = \"device\"; } );\n"
        "}; };\n", &m, &c), 0);
    const fleet_alerts_conf *a = &c->fleet.alerts;
    assert_int_equal(a->enabled, 1);
    assert_string_equal(a->token_file, "/etc/healerd/alerts.token");
    assert_true(a->stale_seconds == 900.0);
    assert_int_equal(a->n_map, 2);
    assert_string_equal(a->map[0].alertname, "HighLoad");
    assert_string_equal(a->map[0].type, "load_high");
    assert_string_equal(a->map[0].target_label, "instance");
    assert_int_equal(a->map[0].n_measurements, 2);
    assert_string_equal(a->map[0].measurements[1], "threshold");
    assert_int_equal(a->map[0].severity, 2);
    assert_int_equal(a->map[1].severity, -1);   /* from the alert's severity label */
    config_free(c);
}

static void test_mistakes(void **state)
{
    (void)state;
    static const struct { const char *entry; const char *want; } bad[] = {
        {"alertname = \"A\"; type = \"Load-High\"; target_label = \"i\";", "not an issue type"},
        {"alertname = \"A\"; type = \"x\"; target_label = \"in stance\";", "not a Prometheus label"},
        {"alertname = \"A\"; type = \"x\"; target_label = \"i\"; severity = \"urgent\";",
         "not low, medium, high or critical"},
        {"alertname = \"A\"; type = \"x\"; target_label = \"i\"; measurements = [\"Value!\"];",
         "not a measurement name"},
        {"alertname = \"A\"; type = \"x\"; target_label = \"i\"; measurements = 3;", "measurements"},
        {"alertname = \"A\"; type = 5; target_label = \"i\";", "expected a string"},
        {"alertname = \"A\"; type = \"x\"; target_label = \"i\"; targets = \"i\";", "unknown key"},
        {"alertname = \"A\"; type = \"x\";", "target_label is required"},
        {"alertname = \"\"; type = \"x\"; target_label = \"i\";", "1 to 255 bytes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "fleet = {\n  alerts = {\n    map = (\n      { %s }\n    );\n"
                 "  };\n};\n", bad[i].entry);
        msgs m;
        assert_int_equal(confload(dir, text, &m, NULL), 1);
        assert_int_equal(m.line[0], 4);
        if (!strstr(m.text[0], bad[i].want) || !strstr(m.text[0], "fleet.alerts.map[0]"))
            fail_msg("entry %zu: \"%s\" does not say \"%s\"", i, m.text[0], bad[i].want);
    }
    msgs m;
    assert_int_equal(confload(dir,
        "fleet = { alerts = { map = (\n"
        "  { alertname = \"A\"; type = \"x\"; target_label = \"i\"; },\n"
        "  { alertname = \"A\"; type = \"y\"; target_label = \"i\"; }\n"
        "); }; };\n", &m, NULL), 1);
    assert_int_equal(m.line[0], 3);
    assert_non_null(strstr(m.text[0], "mapped already by fleet.alerts.map[0]"));
    assert_int_equal(confload(dir, "fleet = { alerts = {\n  stale_seconds = 1;\n  map = ( { "
                              "alertname = \"A\"; type = \"x\"; target_label = \"i\"; } );\n}; };\n",
                              &m, NULL), 1);
    assert_int_equal(m.line[0], 2);
    assert_non_null(strstr(m.text[0], "fleet.alerts.stale_seconds"));
    assert_int_equal(confload(dir, "fleet = { alerts = {\n  stale = 100;\n  map = ( { "
                              "alertname = \"A\"; type = \"x\"; target_label = \"i\"; } );\n}; };\n",
                              &m, NULL), 1);
    assert_int_equal(m.line[0], 2);
    assert_non_null(strstr(m.text[0], "unknown key (known: token_file, map, stale_seconds)"));
    assert_int_equal(confload(dir, "fleet = { alerts = {\n  token_file = \"alerts.token\";\n  map = "
                              "( { alertname = \"A\"; type = \"x\"; target_label = \"i\"; } );\n}; };\n",
                              &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "absolute path"));
    assert_int_equal(confload(dir, "fleet = {\n  alerts = { stale_seconds = 100; };\n};\n", &m,
                              NULL), 1);
    assert_int_equal(m.line[0], 2);
    assert_non_null(strstr(m.text[0], "map is required"));
    assert_int_equal(confload(dir, "fleet = {\n  alerts = 3;\n};\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet.alerts: expected a group"));
    assert_int_equal(confload(dir, "fleet = {\n  alerts = { map = ( ); };\n};\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "1 to 256 mappings"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_full),
        cmocka_unit_test(test_mistakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
