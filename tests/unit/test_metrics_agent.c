/* test_metrics_agent.c — the alerting metrics built from the agent's views (pending plans and
 * the oldest's age, pause, mode, plugin up/state, open issues by severity, budget), the series
 * declared at 0, heals_total, build_info and the process_* families; every render through the
 * real `promtool check metrics`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_agent.h"
#include "metrics_process.h"

static char *render(metrics *m)
{
    char *text = NULL;
    size_t len = metrics_render(m, &text);
    assert_non_null(text);
    assert_int_equal(metrics_process_append(&text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_promtool_ok(const char *text)
{
    char path[] = "/tmp/test_metrics_agent.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    if (rc != 0)
        fprintf(stderr, "promtool refused:\n%s\n", text);
    assert_int_equal(rc, 0);
}

/* The value of the line that starts with `series ` exactly; NAN when there is none. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad fixture JSON: %s", e.text);
    return j;
}

static void test_refresh_from_views(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    json_t *st = load("{\"mode\":\"live\",\"paused\":true,\"limits\":{\"max_heals_per_hour\":10,"
                      "\"heals_last_hour\":4,\"heals_left_this_hour\":6}}");
    json_t *pe = load("{\"pending\":[{\"id\":3,\"created_at\":1000.0},{\"id\":4,\"created_at\":900.0},"
                      "{\"id\":5,\"created_at\":null}]}");
    json_t *is = load("{\"issues\":[{\"severity\":\"high\"},{\"severity\":\"high\"},"
                      "{\"severity\":\"critical\"},{\"severity\":\"bogus\"}]}");
    json_t *pl = load("{\"plugins\":[{\"name\":\"cpu\",\"state\":\"loaded\",\"process\":"
                      "{\"run_state\":\"restarting\"}},{\"name\":\"disk\",\"state\":\"loaded\"},"
                      "{\"name\":\"bad\",\"state\":\"refused\"},{\"name\":\"off\",\"state\":\"disabled\"}]}");
    metrics_agent_refresh(m, st, pe, is, pl, 1060.0);
    char *t = render(m);
    assert_promtool_ok(t);
    assert_true(value_of(t, "luminous_nix_paused") == 1);
    assert_true(value_of(t, "luminous_nix_mode{mode=\"live\"}") == 1);
    assert_true(value_of(t, "luminous_nix_mode{mode=\"dry-run\"}") == 0);
    assert_true(value_of(t, "luminous_nix_pending_plans") == 3);
    assert_true(value_of(t, "luminous_nix_pending_oldest_age_seconds") == 160);
    assert_true(value_of(t, "luminous_nix_open_issues{severity=\"high\"}") == 2);
    assert_true(value_of(t, "luminous_nix_open_issues{severity=\"critical\"}") == 1);
    assert_true(value_of(t, "luminous_nix_open_issues{severity=\"low\"}") == 0);
    assert_true(value_of(t, "luminous_nix_heal_budget_remaining") == 6);
    assert_true(fabs(value_of(t, "luminous_nix_heal_budget_used_ratio") - 0.4) < 1e-12);
    assert_true(value_of(t, "luminous_nix_plugin_up{plugin=\"cpu\"}") == 0);
    assert_true(value_of(t, "luminous_nix_plugin_state{plugin=\"cpu\",state=\"restarting\"}") == 1);
    assert_true(value_of(t, "luminous_nix_plugin_state{plugin=\"cpu\",state=\"running\"}") == 0);
    assert_true(value_of(t, "luminous_nix_plugin_up{plugin=\"disk\"}") == 1);
    assert_true(value_of(t, "luminous_nix_plugin_up{plugin=\"bad\"}") == 0);
    assert_true(value_of(t, "luminous_nix_plugin_state{plugin=\"bad\",state=\"refused\"}") == 1);
    assert_true(isnan(value_of(t, "luminous_nix_plugin_up{plugin=\"off\"}")));
    free(t);

    /* The plans confirmed, the budget spent, the limit 0: age back to 0, ratios stay in 0..1. */
    json_decref(pe);
    pe = load("{\"pending\":[]}");
    json_decref(st);
    st = load("{\"mode\":\"dry-run\",\"paused\":false,\"limits\":{\"max_heals_per_hour\":0,"
              "\"heals_last_hour\":3,\"heals_left_this_hour\":0}}");
    metrics_agent_refresh(m, st, pe, NULL, NULL, 2000.0);
    t = render(m);
    assert_true(value_of(t, "luminous_nix_pending_plans") == 0);
    assert_true(value_of(t, "luminous_nix_pending_oldest_age_seconds") == 0);
    assert_true(value_of(t, "luminous_nix_heal_budget_used_ratio") == 1);
    assert_true(value_of(t, "luminous_nix_mode{mode=\"dry-run\"}") == 1);
    assert_true(value_of(t, "luminous_nix_paused") == 0);
    free(t);
    json_decref(st);
    json_decref(pe);
    json_decref(is);
    json_decref(pl);
    metrics_free(m);
}

static void test_declared_at_zero(void **state)
{
    (void)state;
    metrics *m = metrics_new("luminous_nix");
    json_t *pl = load("{\"plugins\":[{\"name\":\"disk\",\"state\":\"loaded\",\"isolation\":\"process\","
                      "\"issue_types\":[\"disk_space_low\"]},{\"name\":\"t\",\"state\":\"loaded\","
                      "\"isolation\":\"thread\",\"issue_types\":[]}]}");
    json_t *kn = load("{\"knowledge\":[{\"issue_type\":\"disk_space_low\",\"action\":\"nix_gc\"}]}");
    metrics_agent_build_info(m, "0.1.0", "1.2");
    metrics_agent_declare(m, pl, kn);
    metrics_issue_detected(m, "disk_space_low", "high");
    metrics_agent_heal_finished(m, "healed", 1);
    char *t = render(m);
    assert_promtool_ok(t);
    assert_true(value_of(t, "luminous_nix_build_info{version=\"0.1.0\",abi=\"1.2\"}") == 1);
    assert_true(value_of(t, "luminous_nix_healing_issues_detected_total{issue_type=\"disk_space_low\",severity=\"low\"}") == 0);
    assert_true(value_of(t, "luminous_nix_healing_issues_detected_total{issue_type=\"disk_space_low\",severity=\"high\"}") == 1);
    assert_true(value_of(t, "luminous_nix_healing_suppressed_total{issue_type=\"disk_space_low\",reason=\"rate_limit\"}") == 0);
    assert_true(value_of(t, "luminous_nix_healing_attempts_total{issue_type=\"disk_space_low\",action=\"nix_gc\"}") == 0);
    assert_true(value_of(t, "luminous_nix_healing_successes_total{issue_type=\"disk_space_low\",action=\"nix_gc\"}") == 0);
    assert_true(value_of(t, "luminous_nix_plugin_crashes_total{plugin=\"disk\"}") == 0);
    assert_true(isnan(value_of(t, "luminous_nix_plugin_crashes_total{plugin=\"t\"}")));
    assert_true(value_of(t, "luminous_nix_heals_total{outcome=\"healed\"}") == 1);
    assert_true(value_of(t, "luminous_nix_heals_total{outcome=\"expired\"}") == 0);
    /* Declaring again (a reload) keeps the counts. */
    metrics_agent_declare(m, pl, kn);
    free(t);
    t = render(m);
    assert_true(value_of(t, "luminous_nix_healing_issues_detected_total{issue_type=\"disk_space_low\",severity=\"high\"}") == 1);
    free(t);
    json_decref(pl);
    json_decref(kn);
    metrics_free(m);
}

static void test_process_metrics(void **state)
{
    (void)state;
    char *t = strdup("");
    size_t len = 0;
    assert_int_equal(metrics_process_append(&t, &len), 0);
    assert_promtool_ok(t);
    /* Real values of this process: a resident size, a start time after 2020, open fds. */
    assert_true(value_of(t, "process_resident_memory_bytes") > 0);
    assert_true(value_of(t, "process_virtual_memory_bytes") >= value_of(t, "process_resident_memory_bytes"));
    assert_true(value_of(t, "process_start_time_seconds") > 1577836800.0);
    assert_true(value_of(t, "process_cpu_seconds_total") >= 0);
    double fds = value_of(t, "process_open_fds");
    assert_true(fds >= 3);
    /* One more descriptor open is one more counted. */
    FILE *f = fopen("/dev/null", "r");
    assert_non_null(f);
    char *t2 = strdup("");
    len = 0;
    assert_int_equal(metrics_process_append(&t2, &len), 0);
    assert_true(value_of(t2, "process_open_fds") == fds + 1);
    fclose(f);
    free(t);
    free(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_from_views),
        cmocka_unit_test(test_declared_at_zero),
        cmocka_unit_test(test_process_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
