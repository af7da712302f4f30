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
    assert_non_null(strstr(m.text[0], "fleet.nodes: unknown key (known: node, group"));
    assert_int_equal(confload(dir, "fleet = 3;\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet: expected a group"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
