/* test_rules.c — one table of host calls and plugin schemas, run against the real agent (a
 * prober plugin on a real worker thread, driven over the bus as the engine drives it) and
 * against the mock host (the same plugin through healer_mock_*): every verdict must be the
 * same. The cases are the places the two hosts used to disagree (paths, measurement limits,
 * thread checks, the destroy phase, protection predicates, schema defaults); each also states
 * the verdict both must give, so a rule dropped from rules.c fails here too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "healer/mock.h"
#include "loader.h"
#include "rules.h"
#include "worker.h"

/* ---- the cases ------------------------------------------------------------------------- */

typedef enum op {
    OP_DECLARE, OP_PUBLISH_17, OP_PUBLISH_NULL_NAME, OP_PUBLISH_NAN, OP_PUBLISH_BADNAME,
    OP_PUBLISH_OK, OP_HEALTH_150, OP_HEALTH_OK, OP_REQUEST_T0, OP_METRIC_BADNAME,
    OP_THREAD_METRIC, OP_THREAD_PROC_PATH, OP_WATCH, OP_PLAN_IMPACT2, OP_PLAN_17_PARAMS,
    OP_PLAN_BADFLAGS, OP_PLAN_OK, OP_PROC_TRUNC_NAME, OP_PROC_SYSTEM, OP_WRITE, OP_SIGNAL0,
    OP_RUN_ROLLBACK, OP_PROBE_ROLLBACK
} op;

typedef struct rcase {
    healer_rules_phase phase;
    op op;
    const char *arg;
    int want;        /* the verdict both hosts must give */
    const char *why; /* what it shows */
} rcase;

static char g_allowed[PATH_MAX], g_other[PATH_MAX], g_link_root[PATH_MAX], g_proc[1024],
    g_sys[1024];
static char g_core[PATH_MAX], g_gov[PATH_MAX], g_pwm[PATH_MAX];
static pid_t g_child;

#define RC_DRY HEALER_DRY_RUN
static const rcase cases[] = {
    {HEALER_PHASE_INIT, OP_DECLARE, "/", HEALER_E_SCOPE, "declare_path(\"/\")"},
    {HEALER_PHASE_INIT, OP_DECLARE, "//", HEALER_E_SCOPE, "a path that normalises to /"},
    {HEALER_PHASE_INIT, OP_DECLARE, "/tmp/../etc", HEALER_E_INVAL, "a .. component"},
    {HEALER_PHASE_INIT, OP_DECLARE, "@link_root", HEALER_E_SCOPE, "a symlink to /"},
    {HEALER_PHASE_INIT, OP_DECLARE, "@allowed", HEALER_OK, "in paths_allow"},
    {HEALER_PHASE_INIT, OP_DECLARE, "@other", HEALER_E_SCOPE, "not in paths_allow"},
    {HEALER_PHASE_DETECT, OP_DECLARE, "@allowed", HEALER_E_DENIED, "declare outside init"},
    {HEALER_PHASE_DETECT, OP_PUBLISH_17, NULL, HEALER_E_INVAL, "17 measurements"},
    {HEALER_PHASE_DETECT, OP_PUBLISH_NULL_NAME, NULL, HEALER_E_INVAL, "a NULL measurement"},
    {HEALER_PHASE_DETECT, OP_PUBLISH_NAN, NULL, HEALER_E_INVAL, "a NaN measurement"},
    {HEALER_PHASE_DETECT, OP_PUBLISH_BADNAME, NULL, HEALER_E_INVAL, "measurement Bad-Name"},
    {HEALER_PHASE_DETECT, OP_PUBLISH_OK, NULL, HEALER_OK, "a good issue"},
    {HEALER_PHASE_DETECT, OP_HEALTH_150, NULL, HEALER_E_INVAL, "health 150"},
    {HEALER_PHASE_DETECT, OP_HEALTH_OK, NULL, HEALER_OK, "health 80"},
    {HEALER_PHASE_DETECT, OP_METRIC_BADNAME, NULL, HEALER_E_INVAL, "metric name 9x"},
    {HEALER_PHASE_DETECT, OP_THREAD_METRIC, NULL, HEALER_E_DENIED, "metric off-thread"},
    {HEALER_PHASE_DETECT, OP_THREAD_PROC_PATH, NULL, 0, "proc_path off-thread (NULL)"},
    {HEALER_PHASE_DETECT, OP_PROC_TRUNC_NAME, NULL, HEALER_E_PROTECTED, "comm cut at 15"},
    {HEALER_PHASE_DETECT, OP_PROC_SYSTEM, NULL, HEALER_E_PROTECTED, "uid 0 without SYSTEM"},
    {HEALER_PHASE_DETECT, OP_PROBE_ROLLBACK, NULL, HEALER_E_DENIED, "a rollback as a probe"},
    {HEALER_PHASE_PLAN, OP_PLAN_IMPACT2, NULL, HEALER_E_INVAL, "impact 2"},
    {HEALER_PHASE_PLAN, OP_PLAN_17_PARAMS, NULL, HEALER_E_INVAL, "17 params"},
    {HEALER_PHASE_PLAN, OP_PLAN_BADFLAGS, NULL, HEALER_E_INVAL, "unknown flag bits"},
    {HEALER_PHASE_PLAN, OP_PLAN_OK, NULL, HEALER_OK, "a good action"},
    {HEALER_PHASE_EXECUTE, OP_REQUEST_T0, NULL, HEALER_E_INVAL, "request timeout 0"},
    {HEALER_PHASE_EXECUTE, OP_WRITE, "@core", HEALER_E_PROTECTED, "core_pattern (denied)"},
    {HEALER_PHASE_EXECUTE, OP_WRITE, "@gov", RC_DRY, "write in write_allow (dry-run)"},
    {HEALER_PHASE_EXECUTE, OP_WRITE, "@pwm", HEALER_E_SCOPE, "write not in write_allow"},
    {HEALER_PHASE_EXECUTE, OP_SIGNAL0, NULL, HEALER_E_PROTECTED, "signal 0 to pid 1"},
    {HEALER_PHASE_EXECUTE, OP_RUN_ROLLBACK, NULL, HEALER_E_DENIED, "unflagged rollback"},
    {HEALER_PHASE_EXECUTE, OP_PROC_SYSTEM, NULL, HEALER_E_PROTECTED, "SYSTEM not allowed"},
    {HEALER_PHASE_DESTROY, OP_PUBLISH_OK, NULL, HEALER_E_DENIED, "publish in destroy"},
    {HEALER_PHASE_DESTROY, OP_WATCH, NULL, HEALER_E_DENIED, "watch_fd in destroy"},
    {HEALER_PHASE_DESTROY, OP_HEALTH_OK, NULL, HEALER_E_DENIED, "health in destroy"},
};
#define NCASES (sizeof cases / sizeof cases[0])

static int results[NCASES];
static int ran[NCASES];

/* ---- the prober plugin: runs the cases of the callback it is in ------------------------- */

static const healer_host *H;
static healer_ctx *C;

static const char *arg_path(const char *a)
{
    if (!a || a[0] != '@')
        return a;
    if (strcmp(a, "@allowed") == 0) return g_allowed;
    if (strcmp(a, "@other") == 0) return g_other;
    if (strcmp(a, "@link_root") == 0) return g_link_root;
    if (strcmp(a, "@core") == 0) return g_core;
    if (strcmp(a, "@gov") == 0) return g_gov;
    if (strcmp(a, "@pwm") == 0) return g_pwm;
    return a;
}

typedef struct off_thread {
    op op;
    int rc;
} off_thread;

static void *off_main(void *arg)
{
    off_thread *t = arg;
    if (t->op == OP_THREAD_METRIC) {
        t->rc = H->metric(C, HEALER_METRIC_GAUGE, "x", "x", NULL, 0, 1);
    } else {
        char buf[PATH_MAX];
        t->rc = H->proc_path(C, "stat", buf, sizeof buf) ? 1 : 0;
    }
    return NULL;
}

static healer_plan *cur_plan;

static int publish(size_t n, const char *name, double v)
{
    healer_measurement ms[17];
    for (size_t i = 0; i < 17; i++)
        ms[i] = (healer_measurement){ name, v };
    healer_issue is = { .type = "rules_probe", .severity = HEALER_SEV_LOW, .target = "t",
                        .summary = "s", .measurements = ms, .n_measurements = n };
    return H->publish_issue(C, &is);
}

static int run_op(const rcase *c)
{
    switch (c->op) {
    case OP_DECLARE: return H->declare_path(C, arg_path(c->arg));
    case OP_PUBLISH_17: return publish(17, "x_percent", 1);
    case OP_PUBLISH_NULL_NAME: return publish(1, NULL, 1);
    case OP_PUBLISH_NAN: return publish(1, "x_percent", NAN);
    case OP_PUBLISH_BADNAME: return publish(1, "Bad-Name", 1);
    case OP_PUBLISH_OK: return publish(2, "x_percent", 1);
    case OP_HEALTH_150: return H->report_health(C, "disk", 150);
    case OP_HEALTH_OK: return H->report_health(C, "disk", 80);
    case OP_METRIC_BADNAME: return H->metric(C, HEALER_METRIC_GAUGE, "9x", "h", NULL, 0, 1);
    case OP_THREAD_METRIC:
    case OP_THREAD_PROC_PATH: {
        off_thread t = { c->op, -99 };
        pthread_t th;
        pthread_create(&th, NULL, off_main, &t);
        pthread_join(th, NULL);
        return t.rc;
    }
    case OP_WATCH: return H->watch_fd(C, 0, 1, (healer_fd_cb)(void (*)(void))abort);
    case OP_REQUEST_T0: {
        healer_reply r;
        return H->request(C, "other", "m", NULL, 0, 0, &r);
    }
    case OP_PLAN_IMPACT2:
    case OP_PLAN_17_PARAMS:
    case OP_PLAN_BADFLAGS:
    case OP_PLAN_OK: {
        healer_kv kv[17];
        for (size_t i = 0; i < 17; i++)
            kv[i] = (healer_kv){ "k", "v" };
        healer_action a = { .name = "act", .impact = c->op == OP_PLAN_IMPACT2 ? 2 : 0.5,
                            .confidence = 0.5, .params = kv,
                            .n_params = c->op == OP_PLAN_17_PARAMS ? 17 : 1,
                            .flags = c->op == OP_PLAN_BADFLAGS ? 1u << 20 : 0 };
        return H->plan_add_action(cur_plan, &a);
    }
    case OP_PROC_TRUNC_NAME: {
        healer_proc p = { .pid = 4242, .uid = 5000, .name = "systemd-journal" };
        return H->proc_allowed(C, &p, 1);
    }
    case OP_PROC_SYSTEM: {
        /* A child of the test's (a system process when the test runs as root): without
         * allow_system neither host lets a SYSTEM action touch it. */
        healer_proc p;
        if (H->proc_read(C, g_child, &p) != HEALER_OK)
            return -99;
        if (p.uid >= 1000)
            return HEALER_E_PROTECTED; /* not root: nothing to show; agree by construction */
        if (c->phase == HEALER_PHASE_EXECUTE) /* the action is flagged SYSTEM (below) */
            return H->act_renice(C, g_child, p.start_time, 5);
        return H->proc_allowed(C, &p, 0);
    }
    case OP_WRITE: return H->act_write_file(C, arg_path(c->arg), "1");
    case OP_SIGNAL0: {
        healer_proc p;
        if (H->proc_read(C, 1, &p) != HEALER_OK)
            return -99;
        return H->act_signal(C, 1, p.start_time, 0, 0);
    }
    case OP_RUN_ROLLBACK: {
        const char *argv[] = { "nix-env", "--rollback", NULL };
        return H->act_run(C, argv, 5, NULL, 0, NULL);
    }
    case OP_PROBE_ROLLBACK: {
        const char *argv[] = { "nix-env", "--rollback", NULL };
        return H->probe_run(C, argv, 5, NULL, 0, NULL);
    }
    }
    return -100;
}

static void run_phase(healer_rules_phase ph)
{
    for (size_t i = 0; i < NCASES; i++)
        if (cases[i].phase == ph) {
            results[i] = run_op(&cases[i]);
            ran[i] = 1;
        }
}

static int p_init(const healer_host *h, healer_ctx *ctx, void **state)
{
    H = h;
    C = ctx;
    *state = NULL;
    run_phase(HEALER_PHASE_INIT);
    return HEALER_OK;
}
static void p_destroy(void *s) { (void)s; run_phase(HEALER_PHASE_DESTROY); }
static int p_detect(void *s) { (void)s; run_phase(HEALER_PHASE_DETECT); return HEALER_OK; }
static int p_plan(void *s, const healer_issue *is, healer_plan *plan)
{
    (void)s;
    (void)is;
    cur_plan = plan;
    run_phase(HEALER_PHASE_PLAN);
    return HEALER_OK;
}
static int p_execute(void *s, const healer_issue *is, const healer_action *a, healer_result *r)
{
    (void)s;
    (void)is;
    (void)a;
    run_phase(HEALER_PHASE_EXECUTE);
    r->outcome = HEALER_OUTCOME_SKIPPED;
    return HEALER_OK;
}

static const char *const probe_types[] = { "rules_probe", NULL };
static const healer_plugin prober = {
    .struct_size = sizeof(healer_plugin), .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR, .name = "prober", .version = "1", .description = "rules",
    .issue_types = probe_types, .init = p_init, .destroy = p_destroy, .detect = p_detect,
    .plan = p_plan, .execute = p_execute,
};

/* ---- fixtures --------------------------------------------------------------------------- */

static char g_dir[256];

static void mkfile(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("0\n", f);
    fclose(f);
}

static void mkdirs(const char *path)
{
    char b[PATH_MAX];
    assert_true((size_t)snprintf(b, sizeof b, "%s", path) < sizeof b);
    for (char *p = b + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(b, 0755);
            *p = '/';
        }
    mkdir(b, 0755);
}

static void make_fixtures(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_rules.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_allowed, sizeof g_allowed, "%s/allowed/logs", g_dir);
    snprintf(g_other, sizeof g_other, "%s/other", g_dir);
    snprintf(g_link_root, sizeof g_link_root, "%s/allowed/root", g_dir);
    snprintf(g_proc, sizeof g_proc, "%s/proc", g_dir);
    snprintf(g_sys, sizeof g_sys, "%s/sys", g_dir);
    mkdirs(g_allowed);
    mkdirs(g_other);
    assert_int_equal(symlink("/", g_link_root), 0);
    char d[2048];
    snprintf(d, sizeof d, "%s/sys/kernel", g_proc);
    mkdirs(d);
    snprintf(g_core, sizeof g_core, "%s/core_pattern", d);
    mkfile(g_core);
    snprintf(d, sizeof d, "%s/devices/system/cpu/cpu0/cpufreq", g_sys);
    mkdirs(d);
    snprintf(g_gov, sizeof g_gov, "%s/scaling_governor", d);
    mkfile(g_gov);
    snprintf(d, sizeof d, "%s/class/hwmon/hwmon0", g_sys);
    mkdirs(d);
    snprintf(g_pwm, sizeof g_pwm, "%s/pwm1", d);
    mkfile(g_pwm);
    /* proc_read of pid 1 and of the test itself go to the real /proc: link them in. */
    char self[64];
    snprintf(self, sizeof self, "/proc/%d", (int)getpid());
    snprintf(d, sizeof d, "%s/1", g_proc);
    assert_int_equal(symlink("/proc/1", d), 0);
    snprintf(d, sizeof d, "%s/%d", g_proc, (int)getpid());
    assert_int_equal(symlink(self, d), 0);
    g_child = fork();
    assert_true(g_child >= 0);
    if (g_child == 0) {
        for (;;)
            pause();
    }
    snprintf(self, sizeof self, "/proc/%d", (int)g_child);
    snprintf(d, sizeof d, "%s/%d", g_proc, (int)g_child);
    assert_int_equal(symlink(self, d), 0);
}

static void print_diag(void *ud, const char *file, int line, const char *m)
{
    (void)ud;
    print_message("%s:%d: %s\n", file, line, m);
}

/* The operator's policy both hosts get. */
static const char *const write_allow[] = { "proc/sys/kernel/core_pattern",
                                           "sys/devices/system/cpu/" };

/* ---- the agent ---------------------------------------------------------------------------- */

static void run_agent(void)
{
    char conf[sizeof g_dir + 16], state[sizeof g_dir + 16];
    snprintf(conf, sizeof conf, "%s/healerd.conf", g_dir);
    snprintf(state, sizeof state, "%s/state", g_dir);
    mkdirs(state);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "agent = { mode = \"dry-run\"; state_dir = \"%s\"; proc_root = \"%s\"; "
            "sys_root = \"%s\"; plugin_dir = \"%s\"; };\n"
            "protect = { names = [\"systemd-journald\"]; min_uid = 1000; };\n"
            "plugins = { prober = { paths_allow = [\"%s/allowed\"]; write_allow = [\"%s\", "
            "\"%s\"]; }; };\n", state, g_proc, g_sys, g_dir, g_dir, write_allow[0],
            write_allow[1]);
    fclose(f);
    config *cfg = NULL;
    diag d = { print_diag, NULL, 0 };
    assert_int_equal(config_load(conf, &cfg, &d), 0);
    char err[256];
    audit_log *audit = audit_open(state, err, sizeof err);
    act_config ac = { .dry_run = 1, .proc_root = g_proc, .sys_root = g_sys, .state_dir = state,
                      .protect_names = (const char *const *)cfg->protect_names,
                      .n_protect_names = cfg->n_protect_names, .protect_min_uid = 1000,
                      .scope_cgroup = "" };
    runtime rt = { .cfg = cfg, .bus = bus_new(1000), .act = actuators_new(&ac, audit),
                   .metrics = metrics_new("t"), .audit = audit, .generation = 1 };
    void *eng = bus_pull(rt.bus, "inproc://engine.rules");
    assert_non_null(eng);

    plugin_rec p;
    memset(&p, 0, sizeof p);
    p.file = strdup("prober.so");
    p.section = strdup("prober");
    p.name = strdup("prober");
    assert_int_equal(healer_rules_check_descriptor(&prober, &p.desc, err, sizeof err), HEALER_OK);
    p.conf = config_plugin_resolve(cfg, "prober", NULL, &d);
    assert_non_null(p.conf);
    assert_int_equal(plugin_policy_build(&p), 0);
    p.state = PLUGIN_LOADED;

    worker *w = worker_start(&rt, &p, 0, "inproc://engine.rules");
    assert_non_null(w);
    void *to = bus_push(rt.bus, worker_endpoint(w));
    msg_issue is = { .id = 7, .type = "rules_probe", .target = "t", .summary = "s",
                     .plugin = "prober" };
    msg_action act = { .plugin = "prober", .name = "act", .target = "t",
                       .flags = HEALER_ACTION_SYSTEM };
    const struct { msg_kind send, want; } steps[] = {
        { MSG_DETECT, MSG_ACK }, { MSG_PLAN_REQ, MSG_PLAN }, { MSG_EXECUTE, MSG_RESULT } };
    for (size_t i = 0; i < 3; i++) {
        msg m = { .kind = steps[i].send, .seq = 1, .attempt = i + 1, .has_issue = 1,
                  .issue = is, .actions = &act, .n_actions = 1, .plugin = "prober" };
        assert_int_equal(bus_send(rt.bus, to, &m), 0);
        for (;;) {
            msg r;
            int rc = bus_recv(rt.bus, eng, &r, 10000);
            assert_int_equal(rc, 0);
            int done = r.kind == steps[i].want;
            msg_free(&r);
            if (done)
                break;
        }
    }
    bus_close(to);
    assert_int_equal(worker_stop(w, 5), 0);
    worker_free(w);
    bus_close(eng);
    plugin_policy_free(&p);
    plugin_conf_free(p.conf);
    for (size_t i = 0; i < p.n_declared_paths; i++)
        free(p.declared_paths[i]);
    free(p.declared_paths);
    free(p.file);
    free(p.section);
    free(p.name);
    actuators_free(rt.act);
    metrics_free(rt.metrics);
    bus_free(rt.bus);
    audit_close(audit);
    config_free(cfg);
}

/* ---- the mock ----------------------------------------------------------------------------- */

static void run_mock(void)
{
    healer_mock *m = healer_mock_new(g_proc, g_sys);
    assert_int_equal(healer_mock_load(m, &prober), HEALER_OK);
    healer_mock_set_dry_run(m, 1);
    healer_mock_protect_name(m, "systemd-journald");
    char allowed[PATH_MAX + 16];
    snprintf(allowed, sizeof allowed, "%s/allowed", g_dir);
    const char *paths[] = { allowed };
    assert_int_equal(healer_mock_set_list(m, "paths_allow", paths, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_list(m, "write_allow", write_allow, 2), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    healer_issue is = { .type = "rules_probe", .target = "t", .summary = "s", .id = 7 };
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    healer_action act = { .name = "act", .target = "t", .flags = HEALER_ACTION_SYSTEM };
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &is, &act, &res), HEALER_OK);
    healer_mock_free(m);
}

/* The child the cases act on is ours: gone whatever the test's outcome. */
static int reap_child(void **state)
{
    (void)state;
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = 0;
    }
    return 0;
}

/* ---- the test ------------------------------------------------------------------------------ */

static void test_same_verdicts(void **state)
{
    (void)state;
    make_fixtures();
    int agent[NCASES], mock[NCASES];
    memset(ran, 0, sizeof ran);
    run_agent();
    for (size_t i = 0; i < NCASES; i++) {
        if (!ran[i])
            fail_msg("agent never ran case %zu (%s)", i, cases[i].why);
        agent[i] = results[i];
    }
    memset(ran, 0, sizeof ran);
    run_mock();
    for (size_t i = 0; i < NCASES; i++) {
        if (!ran[i])
            fail_msg("mock never ran case %zu (%s)", i, cases[i].why);
        mock[i] = results[i];
    }
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        if (agent[i] != mock[i] || agent[i] != cases[i].want) {
            print_message("case %zu %s(%s) %s: agent %d (%s), mock %d (%s), want %d\n", i,
                          healer_rules_phase_name(cases[i].phase),
                          cases[i].arg ? cases[i].arg : "", cases[i].why, agent[i],
                          healer_rc_str(agent[i]), mock[i], healer_rc_str(mock[i]),
                          cases[i].want);
            bad++;
        }
    }
    reap_child(NULL);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", g_dir);
    assert_int_equal(bad, 0);
}

/* Schemas: the agent's config_plugin_resolve and the mock's load give one verdict each. */
static void test_same_schema_verdicts(void **state)
{
    (void)state;
    static const healer_config_key enabled_bool[] = {
        {"enabled", HEALER_CFG_BOOL, "true", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key hex_int[] = {
        {"n", HEALER_CFG_INT, "0x10", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key upper_bool[] = {
        {"b", HEALER_CFG_BOOL, "TRUE", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key bad_name[] = {
        {"Bad", HEALER_CFG_INT, "1", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key policy_key[] = {
        {"write_allow", HEALER_CFG_STRING_LIST, "", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    static const healer_config_key fine[] = {
        {"n", HEALER_CFG_INT, " 7 ", 0, 10, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    const struct { const healer_config_key *schema; int ok; } sc[] = {
        {enabled_bool, 0}, {hex_int, 0}, {upper_bool, 1}, {bad_name, 0}, {policy_key, 0},
        {fine, 1}};
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        diag d = { NULL, NULL, 0 };
        plugin_conf *pc = config_plugin_resolve(NULL, "prober", sc[i].schema, &d);
        int agent_ok = pc != NULL;
        plugin_conf_free(pc);
        healer_plugin desc = prober;
        desc.config = sc[i].schema;
        healer_mock *m = healer_mock_new(NULL, NULL);
        int mock_ok = healer_mock_load(m, &desc) == HEALER_OK;
        if (agent_ok != mock_ok || agent_ok != sc[i].ok)
            fail_msg("schema %zu (%s): agent %d, mock %d (%s), want %d", i, sc[i].schema[0].name,
                     agent_ok, mock_ok, healer_mock_last_error(m), sc[i].ok);
        healer_mock_free(m);
    }
    /* A list default with an empty item reads the same in both. */
    static const healer_config_key list[] = {
        {"l", HEALER_CFG_STRING_LIST, "a,,b", 0, 0, ""}, {NULL, 0, NULL, 0, 0, NULL}};
    diag d = { NULL, NULL, 0 };
    plugin_conf *pc = config_plugin_resolve(NULL, "prober", list, &d);
    const char *const *items;
    size_t n = 0;
    assert_int_equal(plugin_conf_list(pc, "l", &items, &n), HEALER_OK);
    healer_rules_value v;
    assert_int_equal(healer_rules_parse_text(HEALER_CFG_STRING_LIST, "a,,b", &v, NULL, 0),
                     HEALER_OK);
    assert_int_equal(n, 2);
    assert_int_equal(v.n_items, n);
    healer_rules_value_free(&v);
    plugin_conf_free(pc);
}

/* Issue #10: the login range from login.defs text, a process's cgroup from /proc/PID/cgroup
 * text, and which processes are system ones. */
static void test_system_rules(void **state)
{
    (void)state;
    unsigned lo = 1, hi = 2;
    assert_int_equal(healer_rules_login_defs("# x\nUID_MIN 500\n  UID_MAX\t40000 # c\n", &lo, &hi), 2);
    assert_int_equal(lo, 500);
    assert_int_equal(hi, 40000);
    lo = 7; hi = 8;
    assert_int_equal(healer_rules_login_defs("UID_MIN -5\nUID_MAX 99999999999\nUID_MINX 3\n", &lo, &hi), 0);
    assert_int_equal(lo, 7);
    assert_int_equal(hi, 8);
    char cg[64];
    assert_int_equal(healer_rules_cgroup_of("3:cpu:/a\n0::/system.slice/x.service\n", cg, sizeof cg), 0);
    assert_string_equal(cg, "/system.slice/x.service");
    assert_int_equal(healer_rules_cgroup_of("3:cpu:/a\n1:name=systemd:/init.scope\n", cg, sizeof cg), 0);
    assert_string_equal(cg, "/init.scope");
    assert_int_equal(healer_rules_cgroup_of("garbage\n", cg, sizeof cg), -1);
    assert_true(healer_rules_cgroup_is_system("/system.slice"));
    assert_true(healer_rules_cgroup_is_system("/init.scope"));
    assert_false(healer_rules_cgroup_is_system("/system.slice2"));
    assert_false(healer_rules_cgroup_is_system("/user.slice/system.slice"));

    healer_rules_protect pr = { NULL, 0, 1000, 60000, NULL, NULL, 0 };
    healer_proc p = { .pid = 4242 };
    snprintf(p.name, sizeof p.name, "x");
    char why[256];
    static const struct { unsigned uid; int system; } uids[] = {
        {0, 1}, {999, 1}, {1000, 0}, {60000, 0}, {60001, 1}, {61184, 1}, {65519, 1},
        {65534, 1}, {65533, 1}, {70000, 1},
    };
    for (size_t i = 0; i < sizeof uids / sizeof uids[0]; i++) {
        p.uid = uids[i].uid;
        int rc = healer_rules_proc_protected(&p, NULL, &pr, 0, 0, "t", why, sizeof why);
        if (rc != (uids[i].system ? HEALER_E_PROTECTED : HEALER_OK))
            fail_msg("uid %u: %s", uids[i].uid, why);
        assert_int_equal(healer_rules_proc_protected(&p, NULL, &pr, 1, 0, "t", why, sizeof why),
                         HEALER_OK);
    }
    /* A wider login range still leaves nobody and DynamicUser system. */
    pr.max_uid = 4000000;
    p.uid = 65534;
    assert_int_equal(healer_rules_proc_protected(&p, NULL, &pr, 0, 0, "t", why, sizeof why),
                     HEALER_E_PROTECTED);
    p.uid = 61200;
    assert_int_equal(healer_rules_proc_protected(&p, NULL, &pr, 0, 1, "memory", why, sizeof why),
                     HEALER_E_PROTECTED);
    assert_non_null(strstr(why, "plugins.memory.allow_system"));
    p.uid = 2000;
    assert_int_equal(healer_rules_proc_protected(&p, "/system.slice/a.service", &pr, 0, 0, "t",
                                                 why, sizeof why), HEALER_E_PROTECTED);
    assert_non_null(strstr(why, "cgroup /system.slice/a.service"));
    assert_int_equal(healer_rules_proc_protected(&p, "/user.slice", &pr, 0, 0, "t", why,
                                                 sizeof why), HEALER_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_same_verdicts, reap_child),
        cmocka_unit_test(test_same_schema_verdicts),
        cmocka_unit_test(test_system_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
