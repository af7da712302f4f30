/* test_thermal.c — the thermal plugin (its sources compiled in) driven through the mock host on
 * a fixture sysfs tree laid out as the kernel's: thresholds and severities, the hottest sensor
 * as target, the ladder each temperature justifies, what each action writes and remembers, the
 * hold before resolving, restore (and what it leaves alone), dry-run, and the emergency's
 * choice of processes from a fixture procfs. The mock performs no actuator: the test applies
 * the recorded writes to the tree itself, as the kernel would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdint.h>

#include <healer/mock.h>

#include "thermal_fixture.h"

const healer_plugin *healer_plugin_entry_v1(void);

typedef struct fx {
    char root[PATH_MAX];
    char sys[PATH_MAX + 8];
    char proc[PATH_MAX + 8];
    healer_mock *m;
} fx;

static void fx_proc(const fx *f, int pid, const char *name, char state, unsigned uid,
                    const char *freezer_cg)
{
    char rel[64], v[512];
    snprintf(rel, sizeof rel, "%d/stat", pid);
    snprintf(v, sizeof v, "%d (%s) %c 1 %d %d 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 100",
             pid, name, state, pid, pid, 5000 + pid);
    fx_put(f->proc, rel, v);
    snprintf(rel, sizeof rel, "%d/status", pid);
    snprintf(v, sizeof v, "Name:\t%s\nUid:\t%u\t%u\t%u\t%u\n", name, uid, uid, uid, uid);
    fx_put(f->proc, rel, v);
    snprintf(rel, sizeof rel, "%d/oom_score_adj", pid);
    fx_put(f->proc, rel, "0");
    snprintf(rel, sizeof rel, "%d/cgroup", pid);
    snprintf(v, sizeof v, "6:freezer:%s\n1:cpu,cpuacct:/\n0::/", freezer_cg);
    fx_put(f->proc, rel, v);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->root, sizeof f->root, "%s/thermal-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->sys, sizeof f->sys, "%s/sys", f->root);
    snprintf(f->proc, sizeof f->proc, "%s/proc", f->root);
    fx_build(f->sys, 8, 4, 16);
    /* A small procfs: two user processes sharing a cgroup, a system one, one in the root
     * cgroup, one already stopped by someone else, and one protected by name. */
    fx_proc(f, 100, "worker", 'S', 1000, "/user/job1");
    fx_proc(f, 101, "worker2", 'R', 1000, "/user/job1");
    fx_proc(f, 102, "daemon", 'S', 0, "/system/daemon");
    fx_proc(f, 103, "rootcg", 'S', 1001, "/");
    fx_proc(f, 104, "paused", 'T', 1000, "/user/job2");
    fx_proc(f, 105, "sshd", 'S', 1000, "/user/ssh");
    fx_put(f->sys, "fs/cgroup/freezer/user/job1/freezer.state", "THAWED");
    fx_put(f->sys, "fs/cgroup/freezer/user/job2/freezer.state", "THAWED");
    fx_put(f->sys, "fs/cgroup/freezer/user/ssh/freezer.state", "THAWED");
    f->m = healer_mock_new(f->proc, f->sys);
    assert_non_null(f->m);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    healer_mock_protect_name(f->m, "sshd");
    assert_int_equal(healer_mock_set_double(f->m, "settle_seconds", 0), HEALER_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    healer_mock_free(f->m);
    fx_rm_tree(f->root);
    free(f);
    return 0;
}

/* What the kernel would do with the recorded actuator calls from index `from` on. */
static void apply_calls(fx *f, size_t from)
{
    for (size_t i = from; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        if (c->rc != HEALER_OK)
            continue;
        if (c->act == HEALER_MOCK_ACT_WRITE_FILE) {
            assert_int_equal(strncmp(c->path, f->sys, strlen(f->sys)), 0);
            fx_put(f->sys, c->path + strlen(f->sys) + 1, c->value);
        } else if (c->act == HEALER_MOCK_ACT_FREEZE_CGROUP) {
            char rel[PATH_MAX];
            snprintf(rel, sizeof rel, "%s/freezer.state", c->path + strlen(f->sys) + 1);
            fx_put(f->sys, rel, c->freeze ? "FROZEN" : "THAWED");
        }
    }
}

static size_t count_calls(fx *f, size_t from, healer_mock_act act, const char *suffix,
                          const char *value)
{
    size_t n = 0;
    for (size_t i = from; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        if (c->act != act)
            continue;
        if (suffix && (!c->path || strlen(c->path) < strlen(suffix) ||
                       strcmp(c->path + strlen(c->path) - strlen(suffix), suffix) != 0))
            continue;
        if (value && (!c->value || strcmp(c->value, value) != 0))
            continue;
        n++;
    }
    return n;
}

static double measurement(const healer_issue *is, const char *name)
{
    double v = -1;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, name, &v));
    return v;
}

/* Plans for the last published issue; returns how many actions were added. */
static size_t plan_last(fx *f)
{
    size_t before = healer_mock_action_count(f->m);
    const healer_issue *is = healer_mock_last_issue(f->m, "temperature_high");
    assert_non_null(is);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    return healer_mock_action_count(f->m) - before;
}

static healer_outcome run_action(fx *f, const char *name, healer_result *res)
{
    const healer_issue *is = healer_mock_last_issue(f->m, "temperature_high");
    assert_non_null(is);
    for (size_t i = healer_mock_action_count(f->m); i-- > 0;) {
        const healer_action *a = healer_mock_action(f->m, i);
        if (strcmp(a->name, name) == 0) {
            assert_int_equal(healer_mock_execute(f->m, is, a, res), HEALER_OK);
            return res->outcome;
        }
    }
    fail_msg("action %s was not planned", name);
    return HEALER_OUTCOME_FAILED;
}

/* ---- detection ----------------------------------------------------------------------------- */

static void test_detect_thresholds(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(healer_mock_last_health(f->m, "thermal") == 100.0);
    assert_true(healer_mock_metric_count(f->m) == 12);   /* 8 zones + 4 hwmon inputs */

    fx_zone_temp(f->sys, 0, 79.9);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);

    fx_zone_temp(f->sys, 0, 82);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "temperature_high");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_HIGH);
    assert_string_equal(is->target, "thermal_zone0 x86_pkg_temp");
    assert_true(measurement(is, "temperature_celsius") == 82.0);
    assert_true(measurement(is, "headroom_celsius") == 18.0);
    assert_int_equal(is->n_components, 1);
    /* health: 100 at 60 C, 0 at 100 C */
    assert_true(healer_mock_last_health(f->m, "thermal") == 45.0);

    /* A hotter hwmon sensor is named in the components, but the target stays for the episode. */
    fx_put(f->sys, "class/hwmon/hwmon0/temp1_input", "93500");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "temperature_high");
    assert_int_equal(is->severity, HEALER_SEV_CRITICAL);
    assert_string_equal(is->target, "thermal_zone0 x86_pkg_temp");
    assert_true(measurement(is, "temperature_celsius") == 93.5);
    assert_int_equal(is->n_components, 2);
    assert_string_equal(is->components[0], "hwmon0/temp1 coretemp Sensor 0 93.5C");
    assert_true(measurement(is, "sensors_above_high") == 2.0);

    /* Implausible readings are sensor errors, not emergencies. */
    fx_put(f->sys, "class/hwmon/hwmon0/temp1_input", "255000");
    fx_zone_temp(f->sys, 0, 40);
    fx_put(f->sys, "class/thermal/thermal_zone1/temp", "-273150");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    /* Nothing changed by the plugin: below high - hysteresis it resolves at once. */
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_string_equal(healer_mock_resolved_at(f->m, 0)->target, "thermal_zone0 x86_pkg_temp");
    assert_true(healer_mock_metric_count(f->m) == 10);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_new_episode_new_target(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_put(f->sys, "class/hwmon/hwmon1/temp1_input", "88000");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_string_equal(healer_mock_last_issue(f->m, NULL)->target, "hwmon1/temp1 nvme Sensor 1");
    /* Between high - hysteresis and high: still open (low), not resolved. */
    fx_put(f->sys, "class/hwmon/hwmon1/temp1_input", "77000");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_last_issue(f->m, NULL)->severity, HEALER_SEV_LOW);
    assert_int_equal(healer_mock_resolved_count(f->m), 0);
}

static void test_ignore_sensors(void **state)
{
    fx *f = *state;
    const char *pat[] = {"iwlwifi*", "hwmon3/*"};
    assert_int_equal(healer_mock_set_list(f->m, "ignore_sensors", pat, 2), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 2, 99);                           /* iwlwifi_1 */
    fx_put(f->sys, "class/hwmon/hwmon3/temp1_input", "99000");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(healer_mock_metric_count(f->m) == 10);
}

static void test_init_refuses_bad_config(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_string(f->m, "emergency", "kill"), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_E_INVAL);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, "must be \"freeze\" or \"stop\"") >= 0);
}

/* ---- the ladder ------------------------------------------------------------------------------ */

static void test_ladder_choice(void **state)
{
    fx *f = *state;
    const char *cg[] = {"freezer/heavy"};
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    static const struct {
        double c;
        size_t n;
    } cases[] = {{80, 1}, {84.9, 1}, {85, 2}, {90, 3}, {94.9, 3}, {95, 3}, {99.9, 3}, {100, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_zone_temp(f->sys, 0, cases[i].c);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        assert_int_equal(plan_last(f), cases[i].n);   /* no freeze_cgroups: no step 3 */
    }
    assert_int_equal(healer_mock_set_list(f->m, "freeze_cgroups", cg, 1), HEALER_OK);
    healer_mock_clear(f->m);
    fx_zone_temp(f->sys, 0, 100);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 5);
    static const char *const names[] = {"powersave_governor", "cap_max_freq", "fans_max",
                                        "freeze_services", "thermal_emergency"};
    for (size_t i = 0; i < 5; i++) {
        const healer_action *a = healer_mock_action(f->m, i);
        assert_string_equal(a->name, names[i]);
        assert_int_equal(a->step, i);
        assert_true(a->flags & HEALER_ACTION_REVERSIBLE);
        assert_int_equal(!!(a->flags & HEALER_ACTION_SYSTEM), i == 3);
        assert_false(a->flags & HEALER_ACTION_RISKY);
        assert_string_equal(a->target, "thermal_zone0 x86_pkg_temp");
    }
    /* Another plugin's temperature_high is not this ladder's. */
    healer_issue other = {.type = "temperature_high", .target = "nvme0", .plugin = "disk"};
    size_t before = healer_mock_action_count(f->m);
    assert_int_equal(healer_mock_plan(f->m, &other), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), before);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_actions_remember_and_restore(void **state)
{
    fx *f = *state;
    char b[64];
    const char *cg[] = {"freezer/heavy"};
    assert_int_equal(healer_mock_set_list(f->m, "freeze_cgroups", cg, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "restore_after_seconds", 60), HEALER_OK);
    healer_mock_set_min_uid(f->m, 1000);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    healer_result res;

    /* 82 C: step 0 only. 15 of 16 cpus offer powersave. */
    fx_zone_temp(f->sys, 0, 82);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 1);
    size_t mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "powersave_governor", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_governor",
                                 "powersave"), 15);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, NULL, NULL), 15);
    apply_calls(f, mark);
    healer_verdict v;
    const healer_issue *is = healer_mock_last_issue(f->m, NULL);
    assert_int_equal(healer_mock_verify(f->m, is, healer_mock_action(f->m, 0), &v), HEALER_OK);
    assert_false(v.healed);

    /* Again (a later heal of the same episode): already in place, nothing written, and the
     * original stays "schedutil", not our "powersave". */
    mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "powersave_governor", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(healer_mock_call_count(f->m), mark);
    assert_non_null(strstr(res.message, "already"));

    /* 100 C: the whole ladder. */
    fx_zone_temp(f->sys, 0, 100);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 5);
    mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "cap_max_freq", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_max_freq",
                                 "2250000"), 16);
    apply_calls(f, mark);

    mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "fans_max", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/pwm1_enable", "1"), 4);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/pwm1", "255"), 4);
    /* manual mode before the speed, per fan */
    const healer_mock_call *c0 = healer_mock_call_at(f->m, mark);
    const healer_mock_call *c1 = healer_mock_call_at(f->m, mark + 1);
    assert_non_null(strstr(c0->path, "hwmon0/pwm1_enable"));
    assert_non_null(strstr(c1->path, "hwmon0/pwm1"));
    apply_calls(f, mark);

    mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "freeze_services", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_FREEZE_CGROUP, "/freezer/heavy", NULL),
                     1);
    apply_calls(f, mark);

    mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "thermal_emergency", &res), HEALER_OUTCOME_DONE);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_max_freq",
                                 "800000"), 16);
    /* user processes' cgroups: job1 once (two processes), not the system daemon's, not the
     * root cgroup, not the protected sshd's; job2 (its process stopped by someone) is frozen
     * too: freezing does not continue it later. */
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_FREEZE_CGROUP, NULL, NULL), 2);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_FREEZE_CGROUP, "/user/job1", NULL), 1);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_FREEZE_CGROUP, "/user/job2", NULL), 1);
    apply_calls(f, mark);

    /* Cooling: held open while below 75 C for less than restore_after_seconds. */
    fx_zone_temp(f->sys, 0, 60);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, NULL);
    assert_int_equal(is->severity, HEALER_SEV_LOW);
    assert_int_equal(healer_mock_resolved_count(f->m), 0);
    /* Nothing is planned while it cools. */
    assert_int_equal(plan_last(f), 0);
    healer_mock_advance(f->m, 30);
    fx_zone_temp(f->sys, 0, 76);                       /* warmed again: the hold starts over */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 0, 60);
    healer_mock_advance(f->m, 30);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    healer_mock_advance(f->m, 59);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 0);
    healer_mock_advance(f->m, 1.5);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);

    /* Someone set cpu3's governor by hand meanwhile: restore leaves it. */
    fx_put(f->sys, "devices/system/cpu/cpu3/cpufreq/scaling_governor", "performance");
    mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, is), HEALER_OK);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_FREEZE_CGROUP, NULL, NULL), 3);
    for (size_t i = mark; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        assert_string_equal(c->callback, "restore");
        if (c->act == HEALER_MOCK_ACT_FREEZE_CGROUP)
            assert_int_equal(c->freeze, 0);
    }
    /* thawed in reverse order: the services last frozen first */
    assert_non_null(strstr(healer_mock_call_at(f->m, mark)->path, "/user/job2"));
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_governor",
                                 "schedutil"), 14);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_max_freq",
                                 "3000000"), 16);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/pwm1", "100"), 4);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/pwm1_enable", "2"), 4);
    apply_calls(f, mark);
    assert_string_equal(fx_get(f->sys, "devices/system/cpu/cpu0/cpufreq/scaling_governor", b,
                               sizeof b), "schedutil");
    assert_string_equal(fx_get(f->sys, "devices/system/cpu/cpu3/cpufreq/scaling_governor", b,
                               sizeof b), "performance");
    assert_string_equal(fx_get(f->sys, "devices/system/cpu/cpu15/cpufreq/scaling_governor", b,
                               sizeof b), "schedutil");
    assert_string_equal(fx_get(f->sys, "devices/system/cpu/cpu9/cpufreq/scaling_max_freq", b,
                               sizeof b), "3000000");
    assert_string_equal(fx_get(f->sys, "class/hwmon/hwmon2/pwm1_enable", b, sizeof b), "2");
    assert_string_equal(fx_get(f->sys, "class/hwmon/hwmon2/pwm1", b, sizeof b), "100");
    assert_string_equal(fx_get(f->sys, "fs/cgroup/freezer/heavy/freezer.state", b, sizeof b),
                        "THAWED");
    /* Everything given back: a second restore does nothing. */
    mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), mark);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_emergency_stop_and_continue(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_string(f->m, "emergency", "stop"), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 0, 101);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 4);
    healer_result res;
    size_t mark = healer_mock_call_count(f->m);
    assert_int_equal(run_action(f, "thermal_emergency", &res), HEALER_OUTCOME_DONE);
    /* worker, worker2 and rootcg; not the daemon (system), sshd (protected), nor paused
     * (stopped by someone else: never ours to continue) */
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_SIGNAL, NULL, NULL), 3);
    for (size_t i = mark; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        if (c->act != HEALER_MOCK_ACT_SIGNAL)
            continue;
        assert_int_equal(c->sig, SIGSTOP);
        assert_true(c->pid == 100 || c->pid == 101 || c->pid == 103);
        assert_int_equal(c->start_time, 5000 + (uint64_t)c->pid);
    }
    double stopped = 0;
    assert_true(healer_mock_measurement(res.measurements, res.n_measurements,
                                        "processes_stopped", &stopped));
    assert_true(stopped == 3);
    /* restore() during the episode (the engine closed the issue on its own): kept. */
    const healer_issue *is = healer_mock_last_issue(f->m, NULL);
    mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), mark);
    /* cooled (restore_after 0 here would resolve at once; the default 60 s holds it) */
    fx_zone_temp(f->sys, 0, 50);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 0);
    healer_mock_advance(f->m, 61);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_int_equal(healer_mock_restore(f->m, is), HEALER_OK);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_SIGNAL, NULL, NULL), 3);
    for (size_t i = mark; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        if (c->act == HEALER_MOCK_ACT_SIGNAL)
            assert_int_equal(c->sig, SIGCONT);
    }
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_restore_false_still_releases(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_bool(f->m, "restore", 0), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "restore_after_seconds", 0), HEALER_OK);
    assert_int_equal(healer_mock_set_string(f->m, "emergency", "stop"), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 0, 100);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    plan_last(f);
    healer_result res;
    size_t mark = healer_mock_call_count(f->m);
    run_action(f, "powersave_governor", &res);
    run_action(f, "thermal_emergency", &res);
    apply_calls(f, mark);
    fx_zone_temp(f->sys, 0, 50);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, healer_mock_last_issue(f->m, NULL)), HEALER_OK);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_SIGNAL, NULL, NULL), 3);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, NULL, NULL), 0);
}

static void test_dry_run_remembers_nothing(void **state)
{
    fx *f = *state;
    const char *cg[] = {"freezer/heavy"};
    assert_int_equal(healer_mock_set_list(f->m, "freeze_cgroups", cg, 1), HEALER_OK);
    healer_mock_set_dry_run(f->m, 1);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 0, 100);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 5);
    healer_result res;
    static const char *const names[] = {"powersave_governor", "cap_max_freq", "fans_max",
                                        "freeze_services", "thermal_emergency"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(run_action(f, names[i], &res), HEALER_OUTCOME_DRY_RUN);
        assert_non_null(strstr(res.message, "would"));
    }
    for (size_t i = 0; i < healer_mock_call_count(f->m); i++)
        assert_int_equal(healer_mock_call_at(f->m, i)->rc, HEALER_DRY_RUN);
    /* Nothing changed: cooling resolves at once, and restore has nothing to do. */
    fx_zone_temp(f->sys, 0, 50);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    size_t mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, healer_mock_last_issue(f->m, NULL)), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), mark);
}

static void test_failures_and_missing_hardware(void **state)
{
    fx *f = *state;
    /* No cpufreq, no fans: skipped, with a reason. */
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/devices", f->sys);
    fx_rm_tree(p);
    for (int h = 0; h < 4; h++) {
        snprintf(p, sizeof p, "%s/class/hwmon/hwmon%d/pwm1", f->sys, h);
        unlink(p);
    }
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_zone_temp(f->sys, 0, 92);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(plan_last(f), 3);
    healer_result res;
    assert_int_equal(run_action(f, "powersave_governor", &res), HEALER_OUTCOME_SKIPPED);
    assert_non_null(strstr(res.message, "no cpufreq policy"));
    assert_int_equal(run_action(f, "fans_max", &res), HEALER_OUTCOME_SKIPPED);
    assert_non_null(strstr(res.message, "no hwmon pwm"));
    /* An actuator refusing: failed, with the actuator's words. */
    fx_build(f->sys, 8, 4, 2);
    healer_mock_set_actuator_rc(f->m, HEALER_MOCK_ACT_WRITE_FILE, HEALER_E_IO);
    assert_int_equal(run_action(f, "cap_max_freq", &res), HEALER_OUTCOME_FAILED);
    assert_non_null(strstr(res.message, "scaling_max_freq"));
    healer_mock_clear_actuator_rc(f->m, HEALER_MOCK_ACT_WRITE_FILE);
    /* A failed write is not remembered: nothing to restore. */
    fx_zone_temp(f->sys, 0, 40);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
}

/* ---- temperature_rise_predicted ------------------------------------------------------------- */

#define PRED "temperature_rise_predicted"

/* A reproducible Gaussian noise (xorshift64, Box-Muller): the same series every run. */
static double noise(uint64_t *st, double sd)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *st ^= *st << 13;
        *st ^= *st >> 7;
        *st ^= *st << 17;
        u[k] = ((double)(*st >> 11) + 1.0) / 9007199254740993.0;
    }
    return sd * sqrt(-2.0 * log(u[0])) * cos(2.0 * M_PI * u[1]);
}

static int resolved_of(fx *f, const char *type)
{
    int n = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(f->m); i++)
        if (strcmp(healer_mock_resolved_at(f->m, i)->type, type) == 0)
            n++;
    return n;
}

/* zone0 rises from `from` at `rate` C/s with Gaussian noise, one detect every 2 s (the default
 * interval), until it is at or above high (80 C). Returns the seconds between the first
 * temperature_rise_predicted and the first reading at or above 80 C (-1: never predicted). */
static double ramp_lead(fx *f, double from, double rate, double sd, uint64_t seed)
{
    double t0 = healer_mock_time(f->m), first = -1;
    for (int i = 0;; i++) {
        double now = healer_mock_time(f->m);
        double c = from + rate * (now - t0) + noise(&seed, sd);
        fx_zone_temp(f->sys, 0, c);
        healer_mock_clear(f->m);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        if (c >= 80) {
            /* temperature_high takes over: the forecast is resolved, not published again */
            assert_non_null(healer_mock_last_issue(f->m, "temperature_high"));
            assert_null(healer_mock_last_issue(f->m, PRED));
            if (first >= 0)
                assert_int_equal(resolved_of(f, PRED), 1);
            return first < 0 ? -1 : now - first;
        }
        const healer_issue *is = healer_mock_last_issue(f->m, PRED);
        if (is && first < 0) {
            first = now;
            assert_string_equal(is->target, "thermal_zone0 x86_pkg_temp");
            assert_int_equal(is->severity, HEALER_SEV_MEDIUM);
            assert_true(measurement(is, "time_to_threshold_high_seconds") <= 120);
            assert_true(measurement(is, "threshold_celsius") == 80);
        }
        assert_true(i < 100000);
        healer_mock_advance(f->m, 2);
    }
}

static void test_predicted_steady_ramp(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    /* 0.2 C/s (12 C a minute: a loaded package with a failing fan) and 0.05 C/s (3 C a minute,
     * a slow room-warming), each with 0.3 C of noise: predicted before the threshold. */
    double fast = ramp_lead(f, 60, 0.2, 0.3, 42);
    print_message("lead before 80 C at 0.2 C/s from 60 C: %.0f s\n", fast);
    assert_true(fast > 0);
    healer_mock_free(f->m);
    f->m = healer_mock_new(f->proc, f->sys);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    double slow = ramp_lead(f, 65, 0.05, 0.3, 7);
    print_message("lead before 80 C at 0.05 C/s from 65 C: %.0f s\n", slow);
    assert_true(slow > 0);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* zone0's temp rewritten in place, same length, no truncation: 43 200 O_TRUNC rewrites cost
 * a flush each on ext4 (auto_da_alloc), minutes for the simulated day. 5 digits (10..99 C). */
static void zone0_fast(fx *f, int *fd, double c)
{
    if (*fd < 0) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/class/thermal/thermal_zone0/temp", f->sys);
        *fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(*fd >= 0);
    }
    char v[16];
    int n = snprintf(v, sizeof v, "%05lld\n", (long long)(c * 1000));
    assert_int_equal(n, 6);
    assert_int_equal(pwrite(*fd, v, (size_t)n, 0), n);
}

/* A day of a noisy flat sensor 5 C below high, in whole degrees as many sensors report: white
 * noise (sd 1 C) for the first half, then a drifting one (Ornstein-Uhlenbeck: sd 1.5 C,
 * correlation time 30 s, so a minute can look like a trend, and it does touch 80 C now and
 * then). A forecast is false when no reading reaches 80 C within predict_horizon_seconds (120)
 * of it; at most one false one a day. */
static void test_predicted_noisy_flat_day(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    uint64_t seed = 12345;
    int raised = 0, open = 0, fd = -1, crossings = 0, hot = 0, n_false = 0;
    double pending[64];
    size_t n_pending = 0;
    double drift = 0, tau = 30, sd = 1.5;
    for (int i = 0; i < 86400 / 2; i++) {
        double now = healer_mock_time(f->m);
        drift += -drift * 2 / tau + noise(&seed, sd * sqrt(2.0 * 2 / tau));
        double c = round(75 + (i < 86400 / 4 ? noise(&seed, 1.0) : drift));
        zone0_fast(f, &fd, c);
        healer_mock_clear(f->m);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        int now_open = healer_mock_last_issue(f->m, PRED) != NULL;
        if (now_open && !open) {
            raised++;
            if (n_pending < 64)
                pending[n_pending++] = now;
        }
        open = now_open;
        crossings += c >= 80 && !hot;
        hot = c >= 80;
        /* forecasts older than the horizon: true if it got hot meanwhile */
        for (size_t k = 0; k < n_pending;) {
            if (hot)
                pending[k] = pending[--n_pending];
            else if (now - pending[k] > 120) {
                n_false++;
                pending[k] = pending[--n_pending];
            } else
                k++;
        }
        healer_mock_advance(f->m, 2);
    }
    close(fd);
    print_message("a simulated day of a noisy flat sensor: %d forecasts, %d false; %d real "
                  "crossings of 80 C\n", raised, n_false, crossings);
    assert_true(n_false <= 1);
}

/* The plan is the two gentle, reversible steps; the forecast resolves when the rise stops: at
 * once when nothing was changed, after restore_after_seconds when a step is in place, and then
 * restore() puts the governor back. */
static void test_predicted_plan_and_resolve(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_double(f->m, "restore_after_seconds", 20), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    uint64_t seed = 3;
    double c = 60;
    const healer_issue *is = NULL;
    for (int i = 0; i < 60 && !is; i++) {
        c += 0.4 + noise(&seed, 0.2);
        fx_zone_temp(f->sys, 0, c);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        is = healer_mock_last_issue(f->m, PRED);
        healer_mock_advance(f->m, 2);
    }
    assert_non_null(is);
    assert_true(c < 80);
    size_t before = healer_mock_action_count(f->m);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m) - before, 2);
    static const char *const names[] = {"powersave_governor", "cap_max_freq"};
    for (size_t i = 0; i < 2; i++) {
        const healer_action *a = healer_mock_action(f->m, before + i);
        assert_string_equal(a->name, names[i]);
        assert_int_equal(a->step, i);
        assert_true(a->flags & HEALER_ACTION_REVERSIBLE);
        assert_false(a->flags & (HEALER_ACTION_RISKY | HEALER_ACTION_SYSTEM));
    }
    /* The governor step runs; the rise stops right after: verify says healed. */
    healer_result res;
    size_t mark = healer_mock_call_count(f->m);
    const healer_action *a0 = healer_mock_action(f->m, before);
    assert_int_equal(healer_mock_execute(f->m, is, a0, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DONE);
    apply_calls(f, mark);
    healer_verdict v;
    assert_int_equal(healer_mock_verify(f->m, is, a0, &v), HEALER_OK);
    assert_true(v.healed);
    /* the mock's records go with healer_mock_clear() below: keep what restore() is given */
    healer_issue pred = {.type = PRED, .target = "thermal_zone0 x86_pkg_temp",
                         .plugin = "thermal"};
    /* Flat from now on: held open (low) while the governor is in place... */
    double stopped = healer_mock_time(f->m), resolved_after = -1;
    for (int i = 0; i < 60 && resolved_after < 0; i++) {
        fx_zone_temp(f->sys, 0, c + noise(&seed, 0.2));
        healer_mock_clear(f->m);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        const healer_issue *held = healer_mock_last_issue(f->m, PRED);
        if (resolved_of(f, PRED))
            resolved_after = healer_mock_time(f->m) - stopped;
        else if (assert_non_null(held), held->severity == HEALER_SEV_LOW) {
            /* restore() while held: the changes stay */
            size_t m2 = healer_mock_call_count(f->m);
            assert_int_equal(healer_mock_restore(f->m, healer_mock_last_issue(f->m, PRED)),
                             HEALER_OK);
            assert_int_equal(healer_mock_call_count(f->m), m2);
        }
        healer_mock_advance(f->m, 2);
    }
    print_message("forecast resolved %.0f s after the rise stopped (hold 20 s)\n", resolved_after);
    assert_true(resolved_after >= 20);
    assert_true(resolved_after < 120);
    /* ...and restore() gives the governor back. */
    mark = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_restore(f->m, &pred), HEALER_OK);
    assert_int_equal(count_calls(f, mark, HEALER_MOCK_ACT_WRITE_FILE, "/scaling_governor",
                                 "schedutil"), 15);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* Nothing changed for it: the forecast resolves as soon as the rise stops. */
static void test_predicted_resolves_when_ramp_stops(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    uint64_t seed = 99;
    double c = 60;
    int opened = 0;
    for (int i = 0; i < 60 && !opened; i++) {
        c += 0.4 + noise(&seed, 0.2);
        fx_zone_temp(f->sys, 0, c);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        opened = healer_mock_last_issue(f->m, PRED) != NULL;
        healer_mock_advance(f->m, 2);
    }
    assert_true(opened);
    double stopped = healer_mock_time(f->m), after = -1;
    for (int i = 0; i < 60 && after < 0; i++) {
        fx_zone_temp(f->sys, 0, c + noise(&seed, 0.2));
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        if (resolved_of(f, PRED))
            after = healer_mock_time(f->m) - stopped;
        healer_mock_advance(f->m, 2);
    }
    print_message("forecast resolved %.0f s after the rise stopped (nothing changed)\n", after);
    assert_true(after >= 0);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
}

static void test_load_so(void **state)
{
    (void)state;
    const char *b = getenv("BUILD");
    if (!b)
        skip();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plugins/thermal.so", b);
    healer_mock *m = healer_mock_new(NULL, "/nonexistent-sys");
    assert_int_equal(healer_mock_load_so(m, path), HEALER_OK);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);   /* no sensor: quiet */
    assert_int_equal(healer_mock_issue_count(m), 0);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detect_thresholds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_episode_new_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_sensors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_refuses_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ladder_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_remember_and_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emergency_stop_and_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_false_still_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_remembers_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_and_missing_hardware, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predicted_steady_ramp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predicted_noisy_flat_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predicted_plan_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predicted_resolves_when_ramp_stops, setup, teardown),
        cmocka_unit_test(test_load_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
