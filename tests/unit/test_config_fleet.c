/* test_config_fleet.c — healerd.conf's fleet section against careless and hostile settings:
 * names that travel to peers and into etcd keys are plain, every problem names FILE:LINE and
 * the key, and an absent section leaves the fleet off. */
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
    return confload_setup(dir, sizeof dir, "test_config_fleet");
}

static int teardown(void **state)
{
    (void)state;
    confload_teardown(dir);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    assert_int_equal(confload(dir, "agent = { mode = \"dry-run\"; };\n", &m, &c), 0);
    assert_string_equal(c->fleet.node, "");
    assert_string_equal(c->fleet.group, "default");
    config_free(c);
    assert_int_equal(confload(dir, "fleet = { node = \"web-1.dc2\"; group = \"web_eu\"; };\n", &m,
                              &c), 0);
    assert_string_equal(c->fleet.node, "web-1.dc2");
    assert_string_equal(c->fleet.group, "web_eu");
    config_free(c);
}

static void test_names(void **state)
{
    (void)state;
    msgs m;
    static const char *const bad[] = {"\"\"", "\"a/b\"", "\"../x\"", "\"a b\"", "\"x\\n\"",
        "\"0123456789012345678901234567890123456789012345678901234567890123456789\"", "42"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "fleet = {\n  group = %s;\n};\n", bad[i]);
        assert_int_equal(confload(dir, text, &m, NULL), 1);
        assert_int_equal(m.line[0], 2);
        assert_non_null(strstr(m.text[0], "fleet.group"));
    }
    assert_int_equal(confload(dir, "fleet = {\n\n  nodes = \"a\";\n};\n", &m, NULL), 1);
    assert_int_equal(m.line[0], 3);
    assert_non_null(strstr(m.text[0], "fleet.nodes: unknown key (known: node, group, etcd"));
    assert_int_equal(confload(dir, "fleet = 3;\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet: expected a group"));
}

static void test_etcd(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    /* absent: off, with the documented defaults ready */
    assert_int_equal(confload(dir, "fleet = { node = \"a\"; };\n", &m, &c), 0);
    assert_int_equal(c->fleet.etcd.enabled, 0);
    assert_int_equal(c->fleet.etcd.max_concurrent_risky, 2);
    assert_int_equal(c->fleet.etcd.hourly_budget, 20);
    assert_int_equal(c->fleet.etcd.timeout_ms, 500);
    assert_int_equal(c->fleet.etcd.unreachable_risky, FLEET_UNREACHABLE_WAIT);
    assert_int_equal(c->fleet.etcd.unreachable_critical, FLEET_UNREACHABLE_PROCEED);
    assert_string_equal(c->fleet.etcd.prefix, "/healerd");
    assert_string_equal(c->fleet.etcd.endpoints[0], "http://127.0.0.1:2379");
    config_free(c);
    assert_int_equal(confload(dir,
        "fleet = { etcd = { endpoints = [\"http://10.0.0.1:2379\", \"https://e2:2379\"];\n"
        "  max_concurrent_risky = 1; hourly_budget = 0; timeout_ms = 250; lease_ttl_s = 10;\n"
        "  unreachable = { risky = \"proceed\"; critical = \"wait\"; };\n"
        "  prefix = \"/ops/healerd\"; }; };\n", &m, &c), 0);
    assert_int_equal(c->fleet.etcd.enabled, 1);
    assert_int_equal((int)c->fleet.etcd.n_endpoints, 2);
    assert_string_equal(c->fleet.etcd.endpoints[1], "https://e2:2379");
    assert_int_equal(c->fleet.etcd.max_concurrent_risky, 1);
    assert_int_equal(c->fleet.etcd.hourly_budget, 0);
    assert_int_equal(c->fleet.etcd.timeout_ms, 250);
    assert_int_equal(c->fleet.etcd.lease_ttl_s, 10);
    assert_int_equal(c->fleet.etcd.unreachable_risky, FLEET_UNREACHABLE_PROCEED);
    assert_int_equal(c->fleet.etcd.unreachable_critical, FLEET_UNREACHABLE_WAIT);
    assert_string_equal(c->fleet.etcd.prefix, "/ops/healerd");
    config_free(c);
    /* each bad value: its line and its key */
    static const struct { const char *line, *want; } bad[] = {
        {"max_concurrent_risky = 0;", "fleet.etcd.max_concurrent_risky: must be between 1"},
        {"hourly_budget = -1;", "fleet.etcd.hourly_budget: must be between 0"},
        {"timeout_ms = \"fast\";", "fleet.etcd.timeout_ms: expected an integer"},
        {"endpoints = [\"127.0.0.1:2379\"];", "is not an http:// or https:// URL"},
        {"endpoints = [];", "fleet.etcd.endpoints"},
        {"prefix = \"healerd\";", "fleet.etcd.prefix: \"healerd\" must start with '/'"},
        {"prefix = \"/a/../b\";", "fleet.etcd.prefix"},
        {"prefix = \"/a/\";", "fleet.etcd.prefix"},
        {"prefix = \"/a b\";", "fleet.etcd.prefix"},
        {"unreachable = { risky = \"maybe\"; };", "fleet.etcd.unreachable.risky: expected \"wait\" or \"proceed\", got \"maybe\""},
        {"unreachable = { severe = \"wait\"; };", "fleet.etcd.unreachable.severe: unknown key (known: risky, critical)"},
        {"unreachable = 1;", "fleet.etcd.unreachable: expected a group"},
        {"slots = 3;", "fleet.etcd.slots: unknown key (known: endpoints, max_concurrent_risky"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "fleet = {\n  etcd = {\n    %s\n  };\n};\n", bad[i].line);
        assert_int_equal(confload(dir, text, &m, NULL), 1);
        assert_int_equal(m.line[0], 3);
        if (!strstr(m.text[0], bad[i].want))
            fail_msg("%s: got \"%s\"", bad[i].line, m.text[0]);
    }
    assert_int_equal(confload(dir, "fleet = {\n  etcd = 1;\n};\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet.etcd: expected a group"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_etcd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
