/* test_mock_host.c — the mock host's own contract: it refuses what the agent refuses (actuators
 * outside execute/restore/handle_request, declare_path outside init, plan_add_action outside
 * plan, calls from other threads, keys outside the schema), records what the plugin did, checks
 * processes for real, and loads the ABI fixture plugins (build/tests/abi) with the loader rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <healer/mock.h>

#include "dryrun.h"

/* ---- a plugin whose callbacks do what the test asks --------------------------------------- */

typedef enum step {
    DO_NOTHING = 0,
    DO_SIGNAL,          /* act_signal(target_pid, target_start, SIGTERM) */
    DO_REMOVE,          /* act_remove_old_files(remove_dir) */
    DO_DECLARE,         /* declare_path(remove_dir) */
    DO_ADD_STASHED,     /* plan_add_action on the plan stashed by an earlier plan() */
    DO_THREAD_PUBLISH,  /* publish_issue from a thread the plugin starts */
    DO_PUBLISH,
    DO_BAD_KEY,         /* config_int("no_such_key") */
    DO_WRONG_TYPE,      /* config_int("name") (a string key) */
    DO_REQUEST,
    DO_WRITE_SYS,       /* act_write_file(sys_root/kernel/x) */
    DO_WRITE_ETC,       /* act_write_file(/etc/passwd) */
    DO_METRIC_FLIP,     /* a counter, then the same name as a gauge */
    DO_BAD_HEALTH,
    DO_SERIES,          /* series_feed(now, 2 * elapsed), then series_predict(threshold 100) */
} step;

typedef struct probe {
    const healer_host *host;
    healer_ctx *ctx;
    step what;
    int rc;                 /* what the host call returned */
    pid_t target_pid;
    uint64_t target_start;
    char remove_dir[PATH_MAX];
    healer_plan *stash;
    int fd_fired;
    healer_reply reply;
    double now_seen;
    healer_prediction pred;
} probe;

static probe P;   /* one per test; reset in setup */

static void *publisher(void *arg)
{
    (void)arg;
    healer_issue is = {.type = "probe_issue", .severity = HEALER_SEV_LOW, .target = "t"};
    P.rc = P.host->publish_issue(P.ctx, &is);
    return NULL;
}

static void do_step(void)
{
    const healer_host *h = P.host;
    healer_issue is = {.type = "probe_issue", .severity = HEALER_SEV_HIGH, .target = "t",
                       .summary = "s"};
    healer_action a = {.name = "late", .impact = 0, .confidence = 0.5};
    char path[PATH_MAX + 32];
    pthread_t t;
    switch (P.what) {
    case DO_NOTHING: break;
    case DO_SIGNAL: P.rc = h->act_signal(P.ctx, P.target_pid, P.target_start, SIGTERM, 0); break;
    case DO_REMOVE: {
        uint64_t freed = 1, count = 1;
        healer_remove_opts o = {.pattern = "*.log", .rotated_first = 1};
        P.rc = h->act_remove_old_files(P.ctx, P.remove_dir, 2.5, &o, &freed, &count);
        break;
    }
    case DO_DECLARE: P.rc = h->declare_path(P.ctx, P.remove_dir); break;
    case DO_ADD_STASHED: P.rc = h->plan_add_action(P.stash, &a); break;
    case DO_THREAD_PUBLISH:
        assert_int_equal(pthread_create(&t, NULL, publisher, NULL), 0);
        pthread_join(t, NULL);
        break;
    case DO_PUBLISH: P.rc = h->publish_issue(P.ctx, &is); break;
    case DO_BAD_KEY: P.rc = (int)h->config_int(P.ctx, "no_such_key"); break;
    case DO_WRONG_TYPE: P.rc = (int)h->config_int(P.ctx, "name"); break;
    case DO_REQUEST: {
        healer_kv args[] = {{"unit", "x.service"}};
        P.rc = h->request(P.ctx, "service", "restart", args, 1, 5.0, &P.reply);
        break;
    }
    case DO_WRITE_SYS:
        P.rc = h->act_write_file(P.ctx, h->sys_path(P.ctx, "kernel/x", path, sizeof path), "1");
        break;
    case DO_WRITE_ETC: P.rc = h->act_write_file(P.ctx, "/etc/passwd", "x"); break;
    case DO_METRIC_FLIP:
        P.rc = h->metric(P.ctx, HEALER_METRIC_COUNTER, "probe_total", "help", NULL, 0, 1);
        if (P.rc == HEALER_OK)
            P.rc = h->metric(P.ctx, HEALER_METRIC_GAUGE, "probe_total", "help", NULL, 0, 1);
        break;
    case DO_BAD_HEALTH: P.rc = h->report_health(P.ctx, "x", 101); break;
    case DO_SERIES: {
        double tn = h->now(P.ctx);
        P.rc = h->series_feed(P.ctx, "ramp", tn, 2 * (tn - P.now_seen));
        if (P.rc == HEALER_OK) {
            memset(&P.pred, 0, sizeof P.pred);
            P.rc = h->series_predict(P.ctx, "ramp", 100, &P.pred);
        }
        break;
    }
    }
}

static void probe_fd_cb(void *state, int fd, short revents)
{
    (void)state;
    (void)fd;
    (void)revents;
    P.fd_fired++;
    do_step();
}

static int probe_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    P.host = host;
    P.ctx = ctx;
    P.now_seen = host->now(ctx);
    *state = &P;
    do_step();
    return HEALER_OK;
}

static void probe_destroy(void *state)
{
    (void)state;
}

static int probe_detect(void *state)
{
    (void)state;
    do_step();
    return HEALER_OK;
}

static int probe_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    (void)state;
    (void)issue;
    P.stash = plan;
    healer_action a = {.name = "probe_action", .impact = 0.1, .confidence = 0.5,
                       .flags = HEALER_ACTION_SYSTEM};
    return P.host->plan_add_action(plan, &a);
}

static int probe_execute(void *state, const healer_issue *issue, const healer_action *action,
                         healer_result *result)
{
    (void)state;
    (void)issue;
    (void)action;
    do_step();
    result->outcome = HEALER_OUTCOME_DONE;
    return HEALER_OK;
}

static int probe_restore(void *state, const healer_issue *issue)
{
    (void)state;
    (void)issue;
    do_step();
    return HEALER_OK;
}

static int probe_handle_request(void *state, const char *method, const healer_kv *args,
                                size_t n_args, healer_reply *reply)
{
    (void)state;
    (void)args;
    (void)n_args;
    do_step();
    reply->status = HEALER_OK;
    snprintf(reply->message, sizeof reply->message, "did %s", method);
    return HEALER_OK;
}

static const char *const probe_types[] = {"probe_issue", NULL};
static const healer_config_key probe_config[] = {
    {"name", HEALER_CFG_STRING, "default-name", 0, 0, "a string"},
    {"count", HEALER_CFG_INT, "3", 1, 10, "an int in 1..10"},
    {"ratio", HEALER_CFG_DOUBLE, "0.5", 0, 1, "a double in 0..1"},
    {"flag", HEALER_CFG_BOOL, "true", 0, 0, "a bool"},
    {"names", HEALER_CFG_STRING_LIST, "a, b,c", 0, 0, "a list"},
    {NULL, 0, NULL, 0, 0, NULL}
};

static const healer_plugin probe_desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "probe",
    .version = "0.0.1",
    .description = "test plugin for the mock host",
    .issue_types = probe_types,
    .config = probe_config,
    .init = probe_init,
    .destroy = probe_destroy,
    .detect = probe_detect,
    .plan = probe_plan,
    .execute = probe_execute,
    .restore = probe_restore,
    .handle_request = probe_handle_request,
};

static healer_issue probe_issue = {.type = "probe_issue", .severity = HEALER_SEV_HIGH,
                                   .target = "t"};

static int setup(void **state)
{
    memset(&P, 0, sizeof P);
    snprintf(P.remove_dir, sizeof P.remove_dir, "/var/tmp/probe");
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_non_null(m);
    assert_int_equal(healer_mock_load(m, &probe_desc), HEALER_OK);
    /* What the operator grants this third-party probe (healerd.conf: plugins.probe.*). */
    const char *paths[] = { "/var/tmp/probe" }, *writes[] = { "sys/kernel/x" };
    assert_int_equal(healer_mock_set_list(m, "paths_allow", paths, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_list(m, "write_allow", writes, 1), HEALER_OK);
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    healer_mock_free(*state);
    return 0;
}

/* ---- rules -------------------------------------------------------------------------------- */

static void test_actuator_denied_in_detect(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    P.what = DO_REMOVE;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_violations(m), 1);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES);
    assert_non_null(c);
    assert_string_equal(c->callback, "detect");
    assert_int_equal(c->rc, HEALER_E_DENIED);
    assert_true(healer_mock_log_find(m, HEALER_LOG_ERROR, "actuators are allowed only") >= 0);
}

static void test_actuator_denied_in_init_and_plan_side(void **state)
{
    healer_mock *m = *state;
    P.what = DO_SIGNAL;
    P.target_pid = getpid();
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_violations(m), 1);
}

static void test_declare_only_in_init(void **state)
{
    healer_mock *m = *state;
    P.what = DO_DECLARE;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_OK);
    assert_int_equal(healer_mock_declared_count(m), 1);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_declared_count(m), 1);
    assert_int_equal(healer_mock_violations(m), 1);
}

static void test_remove_needs_declared_dir(void **state)
{
    healer_mock *m = *state;
    P.what = DO_DECLARE;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_result res;
    P.what = DO_REMOVE;
    healer_mock_set_remove_result(m, 4096, 2);
    assert_int_equal(healer_mock_execute(m, &probe_issue, &(healer_action){.name = "x"}, &res),
                     HEALER_OK);
    assert_int_equal(P.rc, HEALER_OK);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES);
    assert_string_equal(c->path, "/var/tmp/probe");
    assert_string_equal(c->opts.pattern, "*.log");
    assert_true(c->older_than_days == 2.5);
    /* A subdirectory of a declared path is in scope; a sibling is not. */
    snprintf(P.remove_dir, sizeof P.remove_dir, "/var/tmp/probe/sub");
    healer_mock_execute(m, &probe_issue, &(healer_action){.name = "x"}, &res);
    assert_int_equal(P.rc, HEALER_OK);
    snprintf(P.remove_dir, sizeof P.remove_dir, "/var/tmp/probe2");
    healer_mock_execute(m, &probe_issue, &(healer_action){.name = "x"}, &res);
    assert_int_equal(P.rc, HEALER_E_SCOPE);
    snprintf(P.remove_dir, sizeof P.remove_dir, "/var/tmp/probe/../../etc");
    healer_mock_execute(m, &probe_issue, &(healer_action){.name = "x"}, &res);
    assert_int_equal(P.rc, HEALER_E_SCOPE);
    assert_int_equal(healer_mock_violations(m), 0);   /* scope refusals are answers, not bugs */
}

static void test_plan_add_action_only_in_plan(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_plan(m, &probe_issue), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 1);
    const healer_action *a = healer_mock_action(m, 0);
    assert_string_equal(a->name, "probe_action");
    assert_string_equal(a->target, "t");          /* NULL target: the issue's */
    /* The plan pointer kept past plan() is dead: refused from execute. */
    P.what = DO_ADD_STASHED;
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &probe_issue, a, &res), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_action_count(m), 1);
    assert_int_equal(healer_mock_violations(m), 1);
}

static void test_other_thread_refused(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    P.what = DO_THREAD_PUBLISH;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_issue_count(m), 0);
    assert_int_equal(healer_mock_violations(m), 1);
    /* From the callback's own thread it is fine. */
    P.what = DO_PUBLISH;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_OK);
    const healer_issue *is = healer_mock_issue(m, 0);
    assert_string_equal(is->type, "probe_issue");
    assert_string_equal(is->plugin, "probe");
    assert_int_equal(is->id, 1);
}

/* ABI 1.3: the prediction service on the mock clock, the agent's own predict.c; the table's
 * size covers it; outside a callback it is refused like every ctx call. */
static void test_series_on_the_mock_clock(void **state)
{
    healer_mock *m = *state;
    healer_mock_set_time(m, 1.7e9);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    const healer_host *h = healer_mock_host(m);
    assert_true(offsetof(healer_host, series_forget) < h->struct_size);
    assert_int_equal(h->abi_minor, 3);
    P.what = DO_SERIES;
    for (int i = 0; i < 7; i++) {
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        assert_int_equal(P.rc, HEALER_E_NODATA);           /* fewer than 8 points */
        healer_mock_advance(m, 5);
    }
    assert_int_equal(healer_mock_detect(m), HEALER_OK);      /* 8th point: 70 at t0 + 35 */
    assert_int_equal(P.rc, HEALER_OK);
    assert_float_equal(P.pred.slope, 2, 1e-9);
    assert_float_equal(P.pred.eta_s, 15, 1e-6);
    assert_float_equal(P.pred.eta_high_s, 15, 1e-6);
    assert_int_equal(P.pred.n, 8);
    healer_prediction p;
    memset(&p, 0, sizeof p);
    assert_int_equal(h->series_predict(healer_mock_ctx(m), "ramp", 100, &p), HEALER_E_DENIED);
    assert_int_equal(h->series_feed(healer_mock_ctx(m), "ramp", 1.8e9, 1), HEALER_E_DENIED);
    assert_int_equal(healer_mock_violations(m), 2);
}

static void test_outside_callback_refused(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    const healer_host *h = healer_mock_host(m);
    healer_issue is = {.type = "probe_issue", .target = "t"};
    assert_int_equal(h->publish_issue(healer_mock_ctx(m), &is), HEALER_E_DENIED);
    assert_int_equal(healer_mock_violations(m), 1);
    /* log() and now() are for any thread, any time. */
    h->log(healer_mock_ctx(m), HEALER_LOG_INFO, "hello %d", 42);
    assert_true(healer_mock_log_find(m, HEALER_LOG_INFO, "hello 42") >= 0);
    healer_mock_set_time(m, 1234.5);
    healer_mock_advance(m, 0.5);
    assert_true(h->now(healer_mock_ctx(m)) == 1235.0);
    assert_int_equal(healer_mock_violations(m), 1);
}

static void test_config_values_and_schema(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_set_int(m, "count", 11), HEALER_E_INVAL);
    assert_int_equal(healer_mock_set_int(m, "ratio", 1), HEALER_OK);   /* int for a double */
    assert_int_equal(healer_mock_set_double(m, "count", 2.0), HEALER_E_INVAL);
    assert_int_equal(healer_mock_set_string(m, "nope", "x"), HEALER_E_NOTFOUND);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    /* Wrong key and wrong type inside a callback: 0 and a violation. */
    P.what = DO_BAD_KEY;
    P.rc = 99;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, 0);
    P.what = DO_WRONG_TYPE;
    P.rc = 99;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, 0);
    assert_int_equal(healer_mock_violations(m), 2);
}

/* Reads every config key from inside init. */
static struct {
    const char *name;
    long long count;
    double ratio;
    int flag;
    size_t n_names;
    const char *second;
    const char *past_end;
    double interval;
    int enabled;
} seen;

static int reader_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    seen.name = h->config_string(ctx, "name");
    seen.count = h->config_int(ctx, "count");
    seen.ratio = h->config_double(ctx, "ratio");
    seen.flag = h->config_bool(ctx, "flag");
    seen.n_names = h->config_list_len(ctx, "names");
    seen.second = h->config_list_item(ctx, "names", 1);
    seen.past_end = h->config_list_item(ctx, "names", 99);
    seen.interval = h->config_double(ctx, "interval");
    seen.enabled = h->config_bool(ctx, "enabled");
    *state = NULL;
    return HEALER_OK;
}

static void test_config_defaults_and_set_values(void **state)
{
    (void)state;
    healer_plugin d = probe_desc;
    d.init = reader_init;
    d.interval = 7.5;
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(m, &d), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_string_equal(seen.name, "default-name");
    assert_int_equal(seen.count, 3);
    assert_true(seen.ratio == 0.5);
    assert_int_equal(seen.flag, 1);
    assert_int_equal(seen.n_names, 3);
    assert_string_equal(seen.second, "b");
    assert_null(seen.past_end);
    assert_true(seen.interval == 7.5);
    assert_int_equal(seen.enabled, 1);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);

    m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(m, &d), HEALER_OK);
    const char *items[] = {"x"};
    assert_int_equal(healer_mock_set_string(m, "name", "set"), HEALER_OK);
    assert_int_equal(healer_mock_set_int(m, "count", 10), HEALER_OK);
    assert_int_equal(healer_mock_set_double(m, "ratio", 0.25), HEALER_OK);
    assert_int_equal(healer_mock_set_bool(m, "flag", 0), HEALER_OK);
    assert_int_equal(healer_mock_set_list(m, "names", items, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_double(m, "interval", 2), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_string_equal(seen.name, "set");
    assert_int_equal(seen.count, 10);
    assert_true(seen.ratio == 0.25);
    assert_int_equal(seen.flag, 0);
    assert_int_equal(seen.n_names, 1);
    assert_null(seen.second);
    assert_true(seen.interval == 2);
    /* A string handed out stays valid after a later set (until the mock is freed). */
    const char *old = seen.name;
    assert_int_equal(healer_mock_set_string(m, "name", "newer"), HEALER_OK);
    assert_string_equal(old, "set");
    healer_mock_free(m);
}

static void test_bad_schema_refused(void **state)
{
    (void)state;
    static const healer_config_key bad_default[] = {
        {"count", HEALER_CFG_INT, "30", 1, 10, "default outside its range"},
        {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key reserved[] = {
        {"interval", HEALER_CFG_DOUBLE, "1", 0, 0, "implicit key"}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key twice[] = {
        {"a", HEALER_CFG_BOOL, NULL, 0, 0, ""}, {"a", HEALER_CFG_BOOL, NULL, 0, 0, ""},
        {NULL, 0, NULL, 0, 0, NULL}};
    const healer_config_key *schemas[] = {bad_default, reserved, twice};
    for (size_t i = 0; i < 3; i++) {
        healer_plugin d = probe_desc;
        d.config = schemas[i];
        healer_mock *m = healer_mock_new(NULL, NULL);
        assert_int_equal(healer_mock_load(m, &d), HEALER_E_INVAL);
        assert_null(healer_mock_descriptor(m));
        healer_mock_free(m);
    }
}

static void test_dry_run_and_forced_rc(void **state)
{
    healer_mock *m = *state;
    P.what = DO_DECLARE;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_result res;
    healer_action act = {.name = "x"};
    P.what = DO_REMOVE;
    healer_mock_set_dry_run(m, 1);
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_DRY_RUN);
    assert_non_null(strstr(P.host->last_message(P.ctx), "would remove"));
    /* In the agent's words (dryrun.c, which the agent's actuators use too). */
    char want[HEALER_MSG_MAX];
    healer_dry_remove(want, sizeof want, P.remove_dir, 0, 0, "",
                      "0 held open kept, 0 special files skipped");
    assert_string_equal(P.host->last_message(P.ctx), want);
    healer_mock_set_actuator_rc(m, HEALER_MOCK_ACT_COUNT, HEALER_E_IO);
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_E_IO);
    healer_mock_clear_actuator_rc(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES);
    healer_mock_set_dry_run(m, 0);
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_OK);
    /* Forcing does not lift the callback rule. */
    healer_mock_set_actuator_rc(m, HEALER_MOCK_ACT_REMOVE_OLD_FILES, HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(healer_mock_call_count(m), 4);
}

static void test_write_file_scope(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_result res;
    healer_action act = {.name = "x"};
    P.what = DO_WRITE_SYS;
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_OK);
    assert_string_equal(healer_mock_last_call(m, HEALER_MOCK_ACT_WRITE_FILE)->path,
                        "/sys/kernel/x");
    P.what = DO_WRITE_ETC;
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_E_SCOPE);
    /* restore() and handle_request() may act too. */
    P.what = DO_WRITE_SYS;
    assert_int_equal(healer_mock_restore(m, &probe_issue), HEALER_OK);
    assert_int_equal(P.rc, HEALER_OK);
    healer_reply reply;
    assert_int_equal(healer_mock_handle_request(m, "poke", NULL, 0, &reply), HEALER_OK);
    assert_int_equal(P.rc, HEALER_OK);
    assert_string_equal(reply.message, "did poke");
    assert_int_equal(healer_mock_violations(m), 0);
}

/* A real child process: the mock reads its identity from /proc, refuses a stale start time,
 * and never sends the signal (the child is still alive afterwards). */
static void test_signal_checks_real_process(void **state)
{
    healer_mock *m = *state;
    healer_mock_set_min_uid(m, 0);   /* the test may run as root */
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(healer_mock_plan(m, &probe_issue), HEALER_OK);
    const healer_action *a = healer_mock_action(m, 0);   /* flagged HEALER_ACTION_SYSTEM */
    healer_result res;
    P.target_pid = child;
    P.target_start = 1;          /* wrong identity: the pid was "reused" */
    P.what = DO_SIGNAL;
    healer_mock_execute(m, &probe_issue, a, &res);
    assert_int_equal(P.rc, HEALER_E_GONE);

    /* The right identity, from /proc/PID/stat field 22. */
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')') + 2;
    for (int field = 3; field < 22; field++)
        p = strchr(p, ' ') + 1;
    P.target_start = strtoull(p, NULL, 10);
    healer_mock_execute(m, &probe_issue, a, &res);
    assert_int_equal(P.rc, HEALER_OK);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_SIGNAL);
    assert_int_equal(c->pid, child);
    assert_int_equal(c->sig, SIGTERM);

    /* Protected by name. */
    char comm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)child);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(comm, sizeof comm, f));
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    assert_int_equal(healer_mock_protect_name(m, comm), HEALER_OK);
    healer_mock_execute(m, &probe_issue, a, &res);
    assert_int_equal(P.rc, HEALER_E_PROTECTED);

    /* Still alive: nothing was sent. */
    assert_int_equal(waitpid(child, NULL, WNOHANG), 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* Now gone for real. */
    healer_mock_execute(m, &probe_issue, a, &res);
    assert_int_equal(P.rc, HEALER_E_GONE);
}

static int answer(void *ud, const char *plugin, const char *method, const healer_kv *args,
                  size_t n_args, double timeout_s, healer_reply *reply)
{
    int *calls = ud;
    (*calls)++;
    assert_string_equal(plugin, "service");
    assert_string_equal(method, "restart");
    assert_int_equal(n_args, 1);
    assert_string_equal(args[0].value, "x.service");
    assert_true(timeout_s == 5.0);
    reply->status = HEALER_OK;
    snprintf(reply->message, sizeof reply->message, "restarted");
    return HEALER_OK;
}

static void test_request(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_result res;
    healer_action act = {.name = "x"};
    P.what = DO_REQUEST;
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_E_NOTFOUND);       /* nobody answers */
    int calls = 0;
    healer_mock_set_request_handler(m, answer, &calls);
    healer_mock_execute(m, &probe_issue, &act, &res);
    assert_int_equal(P.rc, HEALER_OK);
    assert_string_equal(P.reply.message, "restarted");
    assert_int_equal(calls, 1);
    assert_int_equal(healer_mock_request_count(m), 2);
    assert_string_equal(healer_mock_request_at(m, 1)->args[0].key, "unit");
    /* Not from detect. */
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_DENIED);
    assert_int_equal(calls, 1);
}

static int watch_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    P.host = h;
    P.ctx = ctx;
    *state = &P;
    return h->watch_fd(ctx, P.target_pid /* the fd, here */, 1 /* POLLIN */, probe_fd_cb);
}

static void test_fd_watch(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    healer_plugin d = probe_desc;
    d.init = watch_init;
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(m, &d), HEALER_OK);
    P.target_pid = fds[0];
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_watched_fds(m), 1);
    P.what = DO_PUBLISH;
    assert_int_equal(healer_mock_fire_fd(m, fds[0], 1), HEALER_OK);
    assert_int_equal(P.fd_fired, 1);
    assert_int_equal(healer_mock_issue_count(m), 1);
    assert_int_equal(healer_mock_fire_fd(m, fds[1], 1), HEALER_E_NOTFOUND);
    healer_mock_free(m);
    close(fds[0]);
    close(fds[1]);
}

static void test_bad_records_are_violations(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    P.what = DO_METRIC_FLIP;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_INVAL);
    assert_int_equal(healer_mock_metric_count(m), 1);
    P.what = DO_BAD_HEALTH;
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(P.rc, HEALER_E_INVAL);
    assert_int_equal(healer_mock_violations(m), 2);
    healer_mock_clear(m);
    assert_int_equal(healer_mock_violations(m), 0);
    assert_int_equal(healer_mock_metric_count(m), 0);
}

static void test_lifecycle_order(void **state)
{
    healer_mock *m = *state;
    assert_int_equal(healer_mock_detect(m), HEALER_E_INVAL);   /* before init */
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_E_INVAL);     /* twice */
    assert_int_equal(healer_mock_verify(m, &probe_issue, &(healer_action){.name = "x"},
                                        &(healer_verdict){0}), HEALER_E_NOTFOUND);
    healer_mock_destroy(m);
    assert_int_equal(healer_mock_detect(m), HEALER_E_INVAL);   /* after destroy */
    assert_non_null(strstr(healer_mock_last_error(m), "destroy"));
}

/* ---- the ABI fixtures, loaded through the mock ---------------------------------------------- */

static const char *abi_dir(char *buf, size_t len)
{
    const char *build = getenv("BUILD");
    snprintf(buf, len, "%s/tests/abi", build ? build : ".");
    char good[PATH_MAX + 16];
    snprintf(good, sizeof good, "%s/good.so", buf);
    return access(good, R_OK) == 0 ? buf : NULL;
}

static void test_abi_fixtures(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    if (!abi_dir(dir, sizeof dir)) {
        print_message("ABI fixtures not built (BUILD not set?): skipped\n");
        skip();
    }
    static const struct {
        const char *file;
        int rc;
        const char *reason;
    } cases[] = {
        {"good", HEALER_OK, NULL},
        {"duplicate_name", HEALER_OK, NULL},         /* valid; the agent refuses its file name */
        {"sleepy", HEALER_OK, NULL},
        {"init_fails", HEALER_OK, NULL},             /* loads; its init fails (below) */
        {"major2", HEALER_E_NOTFOUND, "no healer_plugin_entry_v1"},
        {"no_entry", HEALER_E_NOTFOUND, "no healer_plugin_entry_v1"},
        {"major_mismatch", HEALER_E_INVAL, "major 2"},
        {"newer_minor", HEALER_E_INVAL, "needs ABI"},
        {"small_descriptor", HEALER_E_INVAL, "too small"},
        {"no_init", HEALER_E_INVAL, "init is missing"},
        {"no_destroy", HEALER_E_INVAL, "destroy is missing"},
        {"plan_without_execute", HEALER_E_INVAL, "execute is missing"},
        {"no_detect_no_plan", HEALER_E_INVAL, "neither detect nor plan"},
        {"bad_name", HEALER_E_INVAL, "invalid name"},
        {"unresolved_symbol", HEALER_E_IO, "healer_no_such_function"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char so[PATH_MAX + 64];
        snprintf(so, sizeof so, "%s/%s.so", dir, cases[i].file);
        healer_mock *m = healer_mock_new(NULL, NULL);
        int rc = healer_mock_load_so(m, so);
        if (rc != cases[i].rc || (cases[i].reason &&
                                  !strstr(healer_mock_last_error(m), cases[i].reason)))
            fail_msg("%s: rc %d (want %d), reason \"%s\" (want \"%s\")", cases[i].file, rc,
                     cases[i].rc, healer_mock_last_error(m),
                     cases[i].reason ? cases[i].reason : "");
        if (rc == HEALER_OK && strcmp(cases[i].file, "init_fails") == 0) {
            assert_int_equal(healer_mock_init(m), HEALER_E_IO);
            assert_true(healer_mock_log_find(m, HEALER_LOG_ERROR, "on purpose") >= 0);
        }
        if (rc == HEALER_OK && strcmp(cases[i].file, "duplicate_name") == 0)
            assert_string_equal(healer_mock_descriptor(m)->name, "good");
        healer_mock_free(m);
    }
}

/* sleepy: claims and detects sleepy_issue every cycle; execute sleeps sleep_seconds. */
static void test_abi_sleepy(void **state)
{
    (void)state;
    char dir[PATH_MAX], so[PATH_MAX + 16];
    if (!abi_dir(dir, sizeof dir))
        skip();
    snprintf(so, sizeof so, "%s/sleepy.so", dir);
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load_so(m, so), HEALER_OK);
    assert_int_equal(healer_mock_set_double(m, "sleep_seconds", 0), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(m), 2);
    const healer_issue *is = healer_mock_last_issue(m, "sleepy_issue");
    assert_non_null(is);
    double secs = -1;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "sleep_seconds",
                                        &secs));
    assert_true(secs == 0);
    assert_int_equal(healer_mock_plan(m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 1);
    healer_result res;
    assert_int_equal(healer_mock_execute(m, is, healer_mock_action(m, 0), &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DONE);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_actuator_denied_in_detect),
        T(test_actuator_denied_in_init_and_plan_side),
        T(test_declare_only_in_init),
        T(test_remove_needs_declared_dir),
        T(test_plan_add_action_only_in_plan),
        T(test_other_thread_refused),
        T(test_outside_callback_refused),
        T(test_series_on_the_mock_clock),
        T(test_config_values_and_schema),
        cmocka_unit_test(test_config_defaults_and_set_values),
        cmocka_unit_test(test_bad_schema_refused),
        T(test_dry_run_and_forced_rc),
        T(test_write_file_scope),
        T(test_signal_checks_real_process),
        T(test_request),
        cmocka_unit_test(test_fd_watch),
        T(test_bad_records_are_violations),
        T(test_lifecycle_order),
        cmocka_unit_test(test_abi_fixtures),
        cmocka_unit_test(test_abi_sleepy),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
