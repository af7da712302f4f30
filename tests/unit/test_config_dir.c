/* test_config_dir.c — a plugin schema's string default "${config_dir}/..." is expanded to the
 * directory of the config file the agent read (sdk/docs/abi.md), as the plans plugin's `dir`
 * (plans.d beside healerd.conf) needs; a value the operator sets is taken as written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "confload.h"

static const healer_config_key schema[] = {
    {"dir", HEALER_CFG_STRING, "${config_dir}/plans.d", 0, 0, "folder"},
    {"other", HEALER_CFG_STRING, "x${config_dir}", 0, 0, "only a prefix is expanded"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static void quiet(void *ud, const char *file, int line, const char *msg)
{
    (void)ud;
    fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

static const char *resolve(const char *dir, const char *text, const char *key)
{
    static char out[4096];
    msgs m;
    config *c = NULL;
    assert_int_equal(confload(dir, text, &m, &c), 0);
    diag d = {quiet, NULL, 0};
    plugin_conf *pc = config_plugin_resolve(c, "plans", schema, &d);
    assert_non_null(pc);
    const char *s = NULL;
    assert_int_equal(plugin_conf_string(pc, key, &s), 0);
    snprintf(out, sizeof out, "%s", s);
    plugin_conf_free(pc);
    config_free(c);
    return out;
}

static void test_expanded_beside_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/config-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char want[200];
    snprintf(want, sizeof want, "%s/plans.d", dir);
    assert_string_equal(resolve(dir, "plugins = { plans = { }; };\n", "dir"), want);
    assert_string_equal(resolve(dir, "plugins = { plans = { }; };\n", "other"), "x${config_dir}");
    assert_string_equal(resolve(dir, "plugins = { plans = { dir = \"/srv/p\"; }; };\n", "dir"),
                        "/srv/p");
    confload_teardown(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expanded_beside_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
