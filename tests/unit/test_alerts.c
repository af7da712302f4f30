/* test_alerts.c — Alertmanager webhook payloads into issues (alerts.c, engine_alerts.c): whole
 * payloads refused with the reason, the mapping (type, target label, numeric measurements,
 * severity), fingerprints (a re-send refreshes the one issue, the last "resolved" of an issue
 * resolves it), hostile strings and sizes bounded, and an alert's issue living by stale_seconds,
 * not by the plugins' "quiet for three intervals" rule, while a "*" planner (plans.d) plans it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alerts.h"
#include "engine_harness.h"

static char *measures_load[] = {"value", "threshold"};
static fleet_alert_map MAP[] = {
    {"HighLoad", "load_high", "instance", measures_load, 2, -1},
    {"DiskGone", "disk_missing", "device", NULL, 0, HEALER_SEV_CRITICAL},
};
static const fleet_alerts_conf CONF = {1, "", MAP, 2, 600};

static alerts *mk_alerts(void)
{
    alerts *a = alerts_new();
    assert_non_null(a);
    assert_int_equal(alerts_configure(a, &CONF), 0);
    return a;
}

/* One alert as Alertmanager writes it; extra is spliced into labels. */
static int alert_json(char *out, size_t n, const char *status, const char *name, const char *fp,
                      const char *instance, const char *extra)
{
    return snprintf(out, n,
                    "{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"instance\":\"%s\"%s},"
                    "\"annotations\":{\"summary\":\"load is high\",\"threshold\":\"4\"},"
                    "\"startsAt\":\"2026-12-03T03:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
                    "\"generatorURL\":\"http://p/graph\",\"fingerprint\":\"%s\"}",
                    status, name, instance, extra ? extra : "", fp);
}

static char *payload(const char *alerts_text)
{
    size_t n = strlen(alerts_text) + 512;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "{\"receiver\":\"healerd\",\"status\":\"firing\",\"alerts\":[%s],"
             "\"groupLabels\":{},\"commonLabels\":{},\"commonAnnotations\":{},"
             "\"externalURL\":\"http://am\",\"version\":\"4\",\"groupKey\":\"{}:{}\","
             "\"truncatedAlerts\":0}", alerts_text);
    return p;
}

static int ingest(alerts *a, const char *body, double now, alert_op **ops, size_t *n,
                  alerts_summary *s, char *err)
{
    return alerts_ingest(a, body, strlen(body), now, ops, n, s, err, 256);
}

static void test_refused(void **state)
{
    (void)state;
    alerts *a = mk_alerts();
    static const struct { const char *body, *want; } bad[] = {
        {"", "not JSON"},
        {"{\"version\":\"4\",\"alerts\":[", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"version\":\"3\",\"alerts\":[]}", "version \"3\""},
        {"{\"alerts\":[]}", "version \"(none)\""},
        {"{\"version\":4,\"alerts\":[]}", "version"},
        {"{\"version\":\"4\",\"alerts\":{}}", "\"alerts\" must be an array"},
        {"{\"version\":\"4\"}", "\"alerts\" must be an array"},
        {"{\"version\":\"4\",\"version\":\"4\",\"alerts\":[]}", "duplicate"},
        {"{\"version\":\"\\u001b[31m\",\"alerts\":[]}", "\\x1b[31m"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        alert_op *ops = (alert_op *)1;
        size_t n = 7;
        alerts_summary s;
        char err[256] = "";
        assert_int_equal(ingest(a, bad[i].body, 0, &ops, &n, &s, err), -1);
        assert_null(ops);
        assert_int_equal(n, 0);
        if (!strstr(err, bad[i].want))
            fail_msg("payload %zu: \"%s\" does not say \"%s\"", i, err, bad[i].want);
    }
    alerts_free(a);
}

static void test_mapping(void **state)
{
    (void)state;
    alerts *a = mk_alerts();
    char al[6][600];
    alert_json(al[0], sizeof al[0], "firing", "HighLoad", "a1b2c3d4e5f60718", "web-1:9100",
               ",\"value\":\"5.25\",\"severity\":\"critical\"");
    alert_json(al[1], sizeof al[1], "firing", "SomethingElse", "0000000000000001", "x", NULL);
    /* no target label: DiskGone reads "device" */
    alert_json(al[2], sizeof al[2], "firing", "DiskGone", "0000000000000002", "x", NULL);
    alert_json(al[3], sizeof al[3], "firing", "HighLoad", "not a fingerprint!", "web-2", NULL);
    alert_json(al[4], sizeof al[4], "firing", "DiskGone", "0000000000000003", "x",
               ",\"device\":\"/dev/sdb\",\"severity\":\"info\"");
    alert_json(al[5], sizeof al[5], "pending", "HighLoad", "0000000000000004", "web-3", NULL);
    char list[4096];
    snprintf(list, sizeof list, "%s,%s,%s,%s,%s,%s,42,\"x\"", al[0], al[1], al[2], al[3], al[4],
             al[5]);
    char *body = payload(list);
    alert_op *ops;
    size_t n;
    alerts_summary s;
    char err[256];
    assert_int_equal(ingest(a, body, 0, &ops, &n, &s, err), 0);
    assert_int_equal(s.accepted, 2);
    assert_int_equal(s.ignored, 1);
    assert_int_equal(s.invalid, 5);   /* no target, bad fingerprint, "pending", 42, "x" */
    assert_int_equal(s.resolved, 0);
    assert_int_equal(n, 2);
    assert_false(ops[0].resolve);
    assert_string_equal(ops[0].type, "load_high");
    assert_string_equal(ops[0].target, "web-1:9100");
    assert_int_equal(ops[0].severity, HEALER_SEV_CRITICAL);   /* from the label */
    assert_non_null(strstr(ops[0].summary, "load is high"));
    assert_non_null(strstr(ops[0].summary, "2026-12-03T03:00:00Z"));
    assert_int_equal(ops[0].n_measures, 2);
    assert_string_equal(ops[0].names[0], "value");
    assert_true(ops[0].values[0] == 5.25);
    assert_string_equal(ops[0].names[1], "threshold");   /* from the annotations */
    assert_true(ops[0].values[1] == 4.0);
    assert_string_equal(ops[1].type, "disk_missing");
    assert_string_equal(ops[1].target, "/dev/sdb");
    assert_int_equal(ops[1].severity, HEALER_SEV_CRITICAL);   /* the mapping's, not "info" */
    alert_ops_free(ops, n);
    free(body);

    /* a measurement that is no number is left out, not 0 */
    alert_json(al[0], sizeof al[0], "firing", "HighLoad", "a1b2c3d4e5f60719", "web-9",
               ",\"value\":\"5.2x\"");
    body = payload(al[0]);
    assert_int_equal(ingest(a, body, 0, &ops, &n, &s, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0].n_measures, 1);
    assert_string_equal(ops[0].names[0], "threshold");
    assert_int_equal(ops[0].severity, HEALER_SEV_MEDIUM);   /* no severity label */
    alert_ops_free(ops, n);
    free(body);
    alerts_free(a);
}

static void test_hostile(void **state)
{
    (void)state;
    alerts *a = mk_alerts();
    /* control characters, bidi overrides and invalid UTF-8 escapes in the target and summary */
    char al[800];
    alert_json(al, sizeof al, "firing", "HighLoad", "00000000000000aa",
               "web\\u001b[2J\\n\\u202eevil\\u0007", NULL);
    char *body = payload(al);
    alert_op *ops;
    size_t n;
    alerts_summary s;
    char err[256];
    assert_int_equal(ingest(a, body, 0, &ops, &n, &s, err), 0);
    assert_int_equal(n, 1);
    for (const unsigned char *p = (const unsigned char *)ops[0].target; *p; p++)
        assert_true(*p >= 0x20 && *p != 0x7f);
    assert_null(strstr(ops[0].target, "\xe2\x80\xae"));   /* U+202E escaped as text */
    assert_non_null(strstr(ops[0].target, "\\x1b"));
    alert_ops_free(ops, n);
    free(body);

    /* a 200 KB label: the target is cut to what a target may be */
    size_t big = 200000;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'h', big);
    huge[big] = '\0';
    char *one = malloc(big + 1024);
    assert_non_null(one);
    alert_json(one, big + 1024, "firing", "HighLoad", "00000000000000ab", huge, NULL);
    body = payload(one);
    assert_int_equal(ingest(a, body, 0, &ops, &n, &s, err), 0);
    assert_int_equal(n, 1);
    assert_true(strlen(ops[0].target) < HEALER_TARGET_MAX);
    assert_true(strlen(ops[0].summary) < HEALER_MSG_MAX);
    alert_ops_free(ops, n);
    free(body);
    free(one);
    free(huge);

    /* 10 000 alerts in one payload: each one taken; beyond ALERTS_TRACK_MAX fingerprints new
     * ones are dropped and counted, never kept */
    size_t count = 25000, per = 220;
    char *list = malloc(count * per);
    assert_non_null(list);
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        char fp[32], inst[32];
        snprintf(fp, sizeof fp, "%016zx", i + 0x1000);
        snprintf(inst, sizeof inst, "h%zu", i % 10000);
        off += (size_t)snprintf(list + off, per, "%s{\"status\":\"firing\",\"labels\":{"
                                "\"alertname\":\"HighLoad\",\"instance\":\"%s\"},"
                                "\"fingerprint\":\"%s\"}", i ? "," : "", inst, fp);
    }
    body = payload(list);
    assert_int_equal(ingest(a, body, 1, &ops, &n, &s, err), 0);
    assert_int_equal(s.accepted + s.dropped, count);
    assert_int_equal(alerts_tracked(a), ALERTS_TRACK_MAX);
    assert_int_equal(s.dropped, count + 2 - ALERTS_TRACK_MAX);   /* 2 tracked from above */
    assert_int_equal(n, s.accepted);
    alert_ops_free(ops, n);
    free(body);
    free(list);
    alerts_free(a);
}

/* The engine side: one issue per (type, target) however many re-sends; the last resolved alert
 * of an issue resolves it; quiet for far more than three intervals it stays, stale it closes. */
static const char *const ANY[] = {"check_failed", "*", NULL};
static const hx_plugin PL[] = {{"plans", ANY, 1, 0, 0}};

static void post(hx *h, alerts *a, const char *alerts_text, alerts_summary *s)
{
    char *body = payload(alerts_text);
    alert_op *ops;
    size_t n;
    char err[256];
    assert_int_equal(ingest(a, body, h->mono, &ops, &n, s, err), 0);
    assert_int_equal(engine_alerts_post(h->e, ops, n, alerts_stale_seconds(a)), HEALER_OK);
    eng_run_alerts(h->e);
    free(body);
}

/* Answers every plan request since mark with no candidate: the heal ends, the issue stays. */
static void no_plans(hx *h, size_t mark)
{
    size_t end = h->n_log;
    for (size_t i = mark; i < end; i++)
        if (h->log[i].kind == MSG_PLAN_REQ)
            hx_plan(h, "plans", h->log[i].seq, NULL, 0);
}

static void test_engine_flow(void **state)
{
    (void)state;
    hx *h = calloc(1, sizeof *h);
    assert_non_null(h);
    hx_init(h, PL, 1, 0);
    h->cfg.limits.cooldown_minutes = 0;
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
    alerts *a = mk_alerts();
    alerts_summary s;
    char f1[600], f2[600], r1[600], r2[600], both[1300];
    alert_json(f1, sizeof f1, "firing", "HighLoad", "1111111111111111", "web-1", ",\"value\":\"7\"");
    alert_json(f2, sizeof f2, "firing", "HighLoad", "2222222222222222", "web-1",
               ",\"job\":\"other\"");
    alert_json(r1, sizeof r1, "resolved", "HighLoad", "1111111111111111", "web-1", NULL);
    alert_json(r2, sizeof r2, "resolved", "HighLoad", "2222222222222222", "web-1", NULL);

    size_t mark = h->n_log;
    post(h, a, f1, &s);
    assert_int_equal(s.accepted, 1);
    eissue *is = hx_open_issue(h, "load_high", "web-1");
    assert_non_null(is);
    assert_string_equal(is->plugin, ENGINE_ALERTS_DETECTOR);
    assert_int_equal(is->n_measures, 2);
    /* the "*" planner (plans.d) is asked to plan it */
    assert_int_equal(hx_count(h, mark, MSG_PLAN_REQ, "plans"), 1);
    no_plans(h, mark);
    uint64_t id = is->id;

    /* a re-send (Alertmanager's repeat_interval) refreshes the same issue */
    hx_advance(h, 300);
    post(h, a, f1, &s);
    is = hx_open_issue(h, "load_high", "web-1");
    assert_non_null(is);
    assert_int_equal(is->id, id);
    assert_int_equal(is->count, 2);
    assert_int_equal(alerts_tracked(a), 1);

    /* quiet for 100 detect intervals: an alert's issue is not closed by that */
    hx_advance(h, 500);
    hx_sweep(h);
    assert_non_null(hx_open_issue(h, "load_high", "web-1"));

    /* a second alert on the same target: one issue, kept open until both resolved */
    snprintf(both, sizeof both, "%s", f2);
    post(h, a, both, &s);
    assert_int_equal(alerts_tracked(a), 2);
    assert_int_equal(hx_open_issue(h, "load_high", "web-1")->id, id);
    post(h, a, r1, &s);
    assert_int_equal(s.resolved, 1);
    assert_non_null(hx_open_issue(h, "load_high", "web-1"));
    post(h, a, r2, &s);
    assert_int_equal(s.resolved, 1);
    assert_int_equal(alerts_tracked(a), 0);
    hx_sweep(h);
    assert_null(hx_open_issue(h, "load_high", "web-1"));

    /* stale: fires once, never re-sent, never resolved: closed after stale_seconds (600) */
    mark = h->n_log;
    post(h, a, f1, &s);
    no_plans(h, mark);
    assert_non_null(hx_open_issue(h, "load_high", "web-1"));
    hx_advance(h, 590);
    hx_sweep(h);
    assert_non_null(hx_open_issue(h, "load_high", "web-1"));
    hx_advance(h, 20);
    hx_sweep(h);
    assert_null(hx_open_issue(h, "load_high", "web-1"));
    /* and its fingerprint is forgotten at the next payload */
    post(h, a, "", &s);
    assert_int_equal(alerts_tracked(a), 0);

    /* a resolved alert the agent never saw (it restarted) still resolves the issue */
    mark = h->n_log;
    post(h, a, f2, &s);
    no_plans(h, mark);
    assert_non_null(hx_open_issue(h, "load_high", "web-1"));
    alerts_free(a);
    a = mk_alerts();
    post(h, a, r2, &s);
    assert_int_equal(s.resolved, 1);
    hx_sweep(h);
    assert_null(hx_open_issue(h, "load_high", "web-1"));

    /* the queue is bounded */
    alert_op *many = calloc(ENGINE_ALERTS_QUEUE_MAX + 1, sizeof *many);
    assert_non_null(many);
    assert_int_equal(engine_alerts_post(h->e, many, ENGINE_ALERTS_QUEUE_MAX + 1, 600),
                     HEALER_E_FULL);
    alerts_free(a);
    hx_free(h);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_engine_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
