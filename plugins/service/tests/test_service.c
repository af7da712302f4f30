/* plugins/service/tests/test_service.c — unit tests of the service plugin with the mock host:
 * the pure logic (unit names, flapping window, maps, busctl argv), and the callbacks without a
 * reachable systemd (flapping raised and restarts refused, requests validated, dry-run argv).
 * The behaviour against a real systemd is in tests/plugins/service_*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <healer/mock.h>

#include "service.h"

const healer_plugin *healer_plugin_entry_v1(void);

static void test_unit_names(void **st)
{
    (void)st;
    assert_true(service_unit_name_ok("nginx.service"));
    assert_true(service_unit_name_ok("getty@tty1.service"));
    assert_true(service_unit_name_ok("systemd-resolved.service"));
    assert_false(service_unit_name_ok("--address=unix:path=/x.service"));
    assert_false(service_unit_name_ok("nginx"));
    assert_false(service_unit_name_ok("a b.service"));
    assert_false(service_unit_name_ok("x.service;rm"));
    assert_false(service_unit_name_ok(""));
    assert_false(service_unit_name_ok(NULL));
    assert_false(service_unit_name_ok("x."));
}

static void test_flap_window(void **st)
{
    (void)st;
    service_unit u;
    memset(&u, 0, sizeof u);
    assert_int_equal(service_note_failure(&u, 100, 60), 1);
    assert_int_equal(service_note_failure(&u, 110, 60), 2);
    assert_int_equal(service_note_failure(&u, 150, 60), 3);
    assert_int_equal(service_recent_failures(&u, 165, 60), 2); /* 100 fell out */
    assert_int_equal(service_recent_failures(&u, 1000, 60), 0);
    for (int i = 0; i < 200; i++) /* the ring keeps the newest */
        service_note_failure(&u, 2000 + i, 60);
    assert_int_equal(service_recent_failures(&u, 2199, 60), 61 > SERVICE_FAILS_MAX ? SERVICE_FAILS_MAX : 61);
}

static void test_pairs(void **st)
{
    (void)st;
    const char *items[] = {"systemd-resolved.service=dnsmasq.service", "bad", "=x", "a=",
                           "web.service=tcp:127.0.0.1:80"};
    size_t n = 0, bad = 0;
    service_pair *p = service_parse_pairs(items, 5, &n, &bad);
    assert_int_equal(n, 2);
    assert_int_equal(bad, 3);
    const service_pair *f = service_pair_find(p, n, "systemd-resolved.service");
    assert_non_null(f);
    assert_string_equal(f->value, "dnsmasq.service");
    assert_string_equal(service_pair_find(p, n, "web.service")->value, "tcp:127.0.0.1:80");
    assert_null(service_pair_find(p, n, "nope.service"));
    free(p);
}

static void test_busctl_argv(void **st)
{
    (void)st;
    const char *argv[24];
    char store[1024];
    const char *args[] = {"nginx.service", "replace"};
    int n = service_busctl_argv("busctl", "unix:path=/run/x", "RestartUnit", "ss", args, 2, argv,
                                24, store, sizeof store);
    assert_int_equal(n, 11);
    assert_string_equal(argv[1], "--address=unix:path=/run/x");
    assert_string_equal(argv[2], "--");   /* nothing after it is an option */
    assert_string_equal(argv[3], "call");
    assert_string_equal(argv[7], "RestartUnit");
    assert_string_equal(argv[8], "ss");
    assert_string_equal(argv[9], "nginx.service");
    assert_null(argv[11]);
    n = service_busctl_argv("busctl", "", "Reload", NULL, NULL, 0, argv, 24, store, sizeof store);
    assert_int_equal(n, 7);
    assert_string_equal(argv[1], "--");
    assert_int_equal(service_busctl_argv("busctl", "", "Reload", NULL, NULL, 0, argv, 24, store, 10),
                     -1);
    char cmd[] = "/usr/bin/test  -e /run/x";
    const char *cv[8];
    assert_int_equal(service_split_cmd(cmd, cv, 8), 3);
    assert_string_equal(cv[2], "/run/x");
}

/* A mock whose bus address leads nowhere: the plugin runs on what it was told. */
static healer_mock *service_mock(void)
{
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    healer_mock_set_string(m, "bus_address", "unix:path=/nonexistent/healerd-test-bus");
    healer_mock_set_int(m, "flap_failures", 3);
    healer_mock_set_double(m, "flap_window_minutes", 1.0);
    healer_mock_set_double(m, "verify_timeout_s", 0.3);
    const char *alts[] = {"a.service=b.service"};
    healer_mock_set_list(m, "alternatives", alts, 1);
    healer_mock_set_time(m, 1000);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    return m;
}

static void test_no_bus(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(m), 0);
    /* Never had a bus (not a systemd host, or not yet): no health report, so the system's
     * health is not lowered for something it does not run. A bus that was had and lost
     * reports at most 50. */
    assert_int_equal(healer_mock_health_count(m), 0);
    healer_issue is = {.type = "service_failed", .target = "a.service", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0); /* no facts, no guesses */
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_flapping(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "f.service", "active", "running");
    for (int i = 0; i < 3; i++) {
        service_on_state(s, "f.service", "activating", "auto-restart");
        service_on_state(s, "f.service", "active", "running");
        healer_mock_advance(m, 1);
    }
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(m, "service_flapping");
    assert_non_null(is);
    assert_string_equal(is->target, "f.service");
    assert_null(healer_mock_last_issue(m, "service_failed"));
    /* A request to restart it is refused rather than feeding the loop. */
    healer_kv args[] = {{"unit", "f.service"}};
    healer_reply r;
    memset(&r, 0, sizeof r);
    assert_int_equal(healer_mock_handle_request(m, "restart", args, 1, &r), HEALER_OK);
    assert_int_equal(r.status, HEALER_E_DENIED);
    /* So is an execute of restart. */
    healer_issue fi = {.type = "service_failed", .target = "f.service", .summary = "x"};
    healer_action a = {.name = "restart", .target = "f.service"};
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &fi, &a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_SKIPPED);
    assert_null(healer_mock_last_call(m, HEALER_MOCK_ACT_RUN));
    /* After the window the issue resolves. */
    healer_mock_advance(m, 120);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    int resolved = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(m); i++)
        if (strcmp(healer_mock_resolved_at(m, i)->type, "service_flapping") == 0)
            resolved = 1;
    assert_true(resolved);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* systemd 252 sends failed, then auto-restart, for one exit of a Restart= unit: one failure. */
static void test_one_failure_per_exit(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "r.service", "active", "running");
    service_on_state(s, "r.service", "failed", "failed");
    service_on_state(s, "r.service", "activating", "auto-restart");
    service_unit *u = service_unit_get(s, "r.service", 0);
    assert_non_null(u);
    assert_int_equal(service_recent_failures(u, 1000, 60), 1);
    assert_int_equal(u->streak, 1);
    /* the same exit seen only as auto-restart (signals merged) is one failure too */
    service_on_state(s, "r.service", "activating", "start");
    service_on_state(s, "r.service", "active", "running");
    service_on_state(s, "r.service", "activating", "auto-restart");
    assert_int_equal(service_recent_failures(u, 1000, 60), 2);
    healer_mock_free(m);
}

/* A unit that fails at every start, more slowly than the window (a cooldown between heals):
 * the streak with no stable run between the failures makes it flapping, and the escalation
 * holds after the window has passed while the unit stays failed; an operator's reset-failed
 * (inactive) ends it. */
static void test_flapping_sticky(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    for (int i = 0; i < 3; i++) {
        service_on_state(s, "x.service", "activating", "start");
        service_on_state(s, "x.service", "failed", "failed");
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        healer_mock_advance(m, 100); /* beyond the 60 s window each time */
    }
    assert_non_null(healer_mock_last_issue(m, "service_flapping"));
    healer_mock_advance(m, 600);
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_non_null(healer_mock_last_issue(m, "service_flapping"));
    assert_null(healer_mock_last_issue(m, "service_failed"));
    for (size_t i = 0; i < healer_mock_resolved_count(m); i++)
        assert_string_not_equal(healer_mock_resolved_at(m, i)->type, "service_flapping");
    /* no restart while it is escalated */
    healer_issue fi = {.type = "service_failed", .target = "x.service", .summary = "x"};
    healer_action a = {.name = "restart", .target = "x.service"};
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &fi, &a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_SKIPPED);
    assert_null(healer_mock_last_call(m, HEALER_MOCK_ACT_RUN));
    /* the operator resets it: inactive, not failed; the escalation ends, nothing is raised */
    service_on_state(s, "x.service", "inactive", "dead");
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    int resolved = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(m); i++)
        if (strcmp(healer_mock_resolved_at(m, i)->type, "service_flapping") == 0)
            resolved = 1;
    assert_true(resolved);
    assert_int_equal(healer_mock_issue_count(m), 0);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* A Restart=always unit left failed: systemd's verdict is awaited for restart_grace_s (no
 * service_failed meanwhile); still failed after it, systemd gave up (its start limit, whose
 * Result 252 leaves at exit-code): service_flapping, never service_failed, no restart. */
static void test_restart_always_gave_up(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "g.service", "active", "running");
    service_unit *u = service_unit_get(s, "g.service", 0);
    assert_non_null(u);
    snprintf(u->restart, sizeof u->restart, "always");
    snprintf(u->result, sizeof u->result, "exit-code");
    s->restart_grace_s = 0.2;
    service_on_state(s, "g.service", "failed", "failed");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "service_failed"));
    assert_null(healer_mock_last_issue(m, "service_flapping"));
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "service_failed"));
    const healer_issue *fl = healer_mock_last_issue(m, "service_flapping");
    assert_non_null(fl);
    assert_non_null(strstr(fl->summary, "gave up"));
    healer_issue fi = {.type = "service_failed", .target = "g.service", .summary = "x"};
    healer_action a = {.name = "reset_and_retry", .target = "g.service"};
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &fi, &a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_SKIPPED);
    assert_null(healer_mock_last_call(m, HEALER_MOCK_ACT_RUN));
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* One signal for failed -> activating -> failed (a unit that fails at once) is a failure; the
 * stop half of a restart of a failed unit (failed again, never left inactive) is not. */
static void test_merged_refail(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state_at(s, "z.service", "failed", "failed", 100, 50);
    service_unit *u = service_unit_get(s, "z.service", 0);
    assert_non_null(u);
    assert_int_equal(u->n_fails, 1);
    service_on_state_at(s, "z.service", "failed", "failed", 200, 0); /* restart's stop half */
    assert_int_equal(u->n_fails, 1);
    service_on_state_at(s, "z.service", "failed", "failed", 300, 250); /* ran and failed */
    assert_int_equal(u->n_fails, 2);
    healer_mock_free(m);
}

/* Stopped on purpose (inactive, not failed) is not an issue. */
static void test_stopped_is_not_failed(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "y.service", "active", "running");
    service_on_state(s, "y.service", "deactivating", "stop-sigterm");
    service_on_state(s, "y.service", "inactive", "dead");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(m), 0);
    healer_mock_free(m);
}

static void test_failed_and_covered(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "a.service", "failed", "failed");
    service_on_state(s, "b.service", "inactive", "dead");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_non_null(healer_mock_last_issue(m, "service_failed"));
    /* Its alternative runs: the service is provided, the issue clears. */
    service_on_state(s, "b.service", "active", "running");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_true(healer_mock_resolved_count(m) >= 1);
    assert_string_equal(healer_mock_resolved_at(m, 0)->target, "a.service");
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_requests(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    healer_reply r;
    healer_kv bad[] = {{"unit", "--address=x.service"}};
    memset(&r, 0, sizeof r);
    healer_mock_handle_request(m, "restart", bad, 1, &r);
    assert_int_equal(r.status, HEALER_E_INVAL);
    healer_kv prot[] = {{"unit", "dbus.service"}};
    memset(&r, 0, sizeof r);
    healer_mock_handle_request(m, "restart", prot, 1, &r);
    assert_int_equal(r.status, HEALER_E_PROTECTED);
    memset(&r, 0, sizeof r);
    healer_mock_handle_request(m, "stop", prot, 1, &r);
    assert_int_equal(r.status, HEALER_E_INVAL);
    assert_null(healer_mock_last_call(m, HEALER_MOCK_ACT_RUN));

    healer_mock_set_dry_run(m, 1);
    healer_kv ok[] = {{"unit", "leaky.service"}};
    memset(&r, 0, sizeof r);
    healer_mock_handle_request(m, "restart", ok, 1, &r);
    assert_int_equal(r.status, HEALER_DRY_RUN);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_RUN);
    assert_non_null(c);
    assert_string_equal(c->argv[0], "busctl");
    assert_string_equal(c->argv[1], "--address=unix:path=/nonexistent/healerd-test-bus");
    assert_string_equal(c->argv[7], "RestartUnit");
    assert_string_equal(c->argv[9], "leaky.service");
    assert_string_equal(c->callback, "handle_request");

    /* Live, but systemd unreachable: the restart "ran" (mock) and the unit is not seen up. */
    healer_mock_set_dry_run(m, 0);
    healer_mock_set_run_result(m, "o \"/org/freedesktop/systemd1/job/1\"", 0);
    memset(&r, 0, sizeof r);
    healer_mock_handle_request(m, "restart", ok, 1, &r);
    assert_int_equal(r.status, HEALER_E_IO);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_execute_dry_run(void **st)
{
    (void)st;
    healer_mock *m = service_mock();
    healer_mock_set_dry_run(m, 1);
    healer_issue is = {.type = "service_failed", .target = "a.service", .summary = "x"};
    healer_action a = {.name = "daemon_reload", .target = "a.service"};
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &is, &a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DRY_RUN);
    assert_int_equal(healer_mock_call_count(m), 2); /* Reload, then RestartUnit */
    assert_string_equal(healer_mock_call_at(m, 0)->argv[7], "Reload");
    assert_string_equal(healer_mock_call_at(m, 1)->argv[7], "RestartUnit");
    healer_verdict v;
    assert_int_equal(healer_mock_verify(m, &is, &a, &v), HEALER_OK);
    assert_int_equal(v.healed, 0);
    healer_action mask = {.name = "mask_unit", .target = "a.service"};
    assert_int_equal(healer_mock_execute(m, &is, &mask, &res), HEALER_OK);
    assert_string_equal(healer_mock_last_call(m, HEALER_MOCK_ACT_RUN)->argv[7], "StopUnit");
    assert_string_equal(healer_mock_call_at(m, 2)->argv[7], "MaskUnitFiles");
    healer_action bogus = {.name = "rm_rf", .target = "a.service"};
    assert_int_equal(healer_mock_execute(m, &is, &bogus, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_SKIPPED);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_loads_as_so(void **st)
{
    (void)st;
    const char *build = getenv("BUILD");
    if (!build)
        skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/plugins/service.so", build);
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load_so(m, path), HEALER_OK);
    healer_mock_free(m);
}

/* ---- service_start_limit_predicted ------------------------------------------------------- */

#define PRED "service_start_limit_predicted"

static int resolved_of(healer_mock *m, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(m); i++)
        if (strcmp(healer_mock_resolved_at(m, i)->type, type) == 0)
            n++;
    return n;
}

/* No bus here, so the unit's StartLimit* cannot be read: the configured defaults stand in
 * (300 s, 10); flap_failures high so that service_flapping does not come first. */
static healer_mock *predict_mock(void)
{
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    healer_mock_set_string(m, "bus_address", "unix:path=/nonexistent/healerd-test-bus");
    healer_mock_set_int(m, "flap_failures", 50);
    healer_mock_set_double(m, "flap_window_minutes", 10);
    healer_mock_set_double(m, "default_start_limit_interval_s", 300);
    healer_mock_set_int(m, "default_start_limit_burst", 10);
    healer_mock_set_time(m, 1000);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    return m;
}

/* The unit fails every `every` s (+-jitter s, a fixed pseudo-random sequence), one detect every
 * 5 s, for at most `span` s or until its failures in the last 300 s reach 10. Returns the
 * seconds between the first forecast and that moment (-1: no forecast; -2: limit never
 * reached); *n_raised counts the forecasts raised. */
static double restart_loop(healer_mock *m, double every, double jitter, double span,
                           int *n_raised)
{
    service *s = healer_mock_state(m);
    service_on_state(s, "loop.service", "active", "running");
    unsigned seed = 7;
    double t0 = healer_mock_time(m), next = t0 + every, first = -1;
    int open = 0;
    *n_raised = 0;
    while (healer_mock_time(m) - t0 < span) {
        double now = healer_mock_time(m);
        if (now >= next) {
            service_on_state(s, "loop.service", "activating", "auto-restart");
            service_on_state(s, "loop.service", "active", "running");
            seed = seed * 1103515245u + 12345u;
            next = now + every + jitter * (((double)(seed >> 16 & 0x7fff) / 16383.5) - 1.0);
        }
        healer_mock_clear(m);
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        const healer_issue *is = healer_mock_last_issue(m, PRED);
        if (is && !open) {
            (*n_raised)++;
            if (first < 0) {
                first = now;
                assert_string_equal(is->target, "loop.service");
                assert_int_equal(is->severity, HEALER_SEV_MEDIUM);
                double burst = 0;
                assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                                    "start_limit_burst", &burst));
                assert_true(burst == 10);
                /* notify only: nothing is planned for a forecast */
                size_t before = healer_mock_action_count(m);
                assert_int_equal(healer_mock_plan(m, is), HEALER_OK);
                assert_int_equal(healer_mock_action_count(m), before);
                assert_true(healer_mock_log_find(m, HEALER_LOG_INFO, "notifying only") >= 0);
            }
        }
        open = is != NULL;
        service_unit *u = service_unit_get(s, "loop.service", 0);
        if (service_recent_failures(u, now, 300) >= 10) {
            /* at the limit: the forecast is over (service_flapping is systemd's verdict) */
            assert_null(is);
            return first < 0 ? -1 : now - first;
        }
        healer_mock_advance(m, 5);
    }
    return -2;
}

static void test_start_limit_predicted(void **st)
{
    (void)st;
    healer_mock *m = predict_mock();
    int raised = 0;
    /* every 20 s +- 5: 15 in 300 s, the limit (10) after ~180 s */
    double lead = restart_loop(m, 20, 5, 3600, &raised);
    print_message("start limit (10 in 300 s) forecast %.0f s before, failing every 20+-5 s\n",
                  lead);
    assert_true(lead > 0);
    assert_int_equal(raised, 1);
    assert_int_equal(resolved_of(m, PRED), 1);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* Failing every 60 s +- 20 (5 in 300 s, half the limit) for two hours: never forecast. */
static void test_start_limit_slow_loop_not_predicted(void **st)
{
    (void)st;
    healer_mock *m = predict_mock();
    int raised = 0;
    assert_true(restart_loop(m, 60, 20, 7200, &raised) == -2);
    print_message("forecasts for a unit failing every 60+-20 s over 2 h: %d\n", raised);
    assert_int_equal(raised, 0);
    healer_mock_free(m);
}

/* The loop stops (the unit stays up): the forecast resolves and the series is dropped. The
 * unit's own StartLimit* (read from systemd) win over the defaults; 0 s disables it. */
static void test_start_limit_resolves_and_own_limits(void **st)
{
    (void)st;
    healer_mock *m = predict_mock();
    service *s = healer_mock_state(m);
    service_on_state(s, "loop.service", "active", "running");
    int opened = 0;
    for (int i = 0; i < 12 && !opened; i++) {
        service_on_state(s, "loop.service", "activating", "auto-restart");
        service_on_state(s, "loop.service", "active", "running");
        for (int k = 0; k < 4 && !opened; k++) {
            healer_mock_advance(m, 5);
            assert_int_equal(healer_mock_detect(m), HEALER_OK);
            opened = healer_mock_last_issue(m, PRED) != NULL;
        }
    }
    assert_true(opened);
    double stopped = healer_mock_time(m), after = -1;
    for (int k = 0; k < 200 && after < 0; k++) {
        healer_mock_advance(m, 5);
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        if (resolved_of(m, PRED))
            after = healer_mock_time(m) - stopped;
    }
    print_message("forecast resolved %.0f s after the failures stopped\n", after);
    assert_true(after > 0);
    /* quiet for the window: the series is forgotten */
    healer_mock_advance(m, 400);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    service_unit *u = service_unit_get(s, "loop.service", 0);
    assert_int_equal(u->fed, 0);
    /* systemd says StartLimitIntervalSec=0 (no limit): nothing to forecast, nothing fed */
    u->limit_known = 1;
    u->limit_interval_s = 0;
    u->limit_burst = 10;
    healer_mock_clear(m);
    for (int i = 0; i < 20; i++) {
        service_on_state(s, "loop.service", "activating", "auto-restart");
        service_on_state(s, "loop.service", "active", "running");
        healer_mock_advance(m, 10);
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
    }
    assert_null(healer_mock_last_issue(m, PRED));
    assert_int_equal(u->fed, 0);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_names),      cmocka_unit_test(test_flap_window),
        cmocka_unit_test(test_pairs),           cmocka_unit_test(test_busctl_argv),
        cmocka_unit_test(test_no_bus),          cmocka_unit_test(test_flapping),
        cmocka_unit_test(test_one_failure_per_exit), cmocka_unit_test(test_flapping_sticky),
        cmocka_unit_test(test_stopped_is_not_failed), cmocka_unit_test(test_restart_always_gave_up),
        cmocka_unit_test(test_merged_refail),
        cmocka_unit_test(test_failed_and_covered), cmocka_unit_test(test_requests),
        cmocka_unit_test(test_execute_dry_run), cmocka_unit_test(test_loads_as_so),
        cmocka_unit_test(test_start_limit_predicted),
        cmocka_unit_test(test_start_limit_slow_loop_not_predicted),
        cmocka_unit_test(test_start_limit_resolves_and_own_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
