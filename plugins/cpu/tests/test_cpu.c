/* test_cpu.c — the cpu plugin through the mock host: the stat parser, the sliding window
 * (high, critical, clearing), top consumers and ladder selection on a fixture proc tree laid
 * out as the kernel does, execute and restore bookkeeping, dry-run, verify, and the scanner
 * on the real /proc with processes this test forks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <healer/mock.h>

#include "cpu_scan.h"

const healer_plugin *healer_plugin_entry_v1(void);

static char fx_proc[256], fx_sys[256];
static long fx_hz;
static unsigned long long fx_busy, fx_total;

static void fx_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");   /* in place: the plugin keeps these files open */
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf without a shell: depth-first, never following symlinks. */
static void fx_rm_rf(const char *dir)
{
    assert_int_equal(nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* A process as the kernel shows it: stat (52 fields), status (Uid line), oom_score_adj. */
static void fx_process(int pid, const char *comm, unsigned uid, unsigned long long ticks, int nice)
{
    char dir[512], path[600], buf[1024];
    snprintf(dir, sizeof dir, "%s/%d", fx_proc, pid);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/stat", dir);
    snprintf(buf, sizeof buf, "%d (%s) R 1 %d %d 0 -1 4194304 100 0 0 0 %llu %llu 0 0 %d %d 1 0 "
             "%d 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 "
             "0 0 0 0 0\n", pid, comm, pid, pid, ticks / 2, ticks - ticks / 2, 20 + nice, nice,
             1000 + pid);
    fx_write(path, buf);
    snprintf(path, sizeof path, "%s/status", dir);
    snprintf(buf, sizeof buf, "Name:\t%s\nPid:\t%d\nPPid:\t1\nUid:\t%u\t%u\t%u\t%u\n"
             "Gid:\t%u\t%u\t%u\t%u\n", comm, pid, uid, uid, uid, uid, uid, uid, uid, uid);
    fx_write(path, buf);
    snprintf(path, sizeof path, "%s/oom_score_adj", dir);
    fx_write(path, "0\n");
}

/* /proc/stat with the given cumulative busy and total jiffies (2 CPUs). */
static void fx_stat(void)
{
    char path[512], buf[512];
    snprintf(path, sizeof path, "%s/stat", fx_proc);
    snprintf(buf, sizeof buf, "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n"
             "cpu1 1 0 0 1 0 0 0 0 0 0\nintr 0\n", fx_busy, fx_total - fx_busy);
    fx_write(path, buf);
}

static int fx_setup(void **state)
{
    (void)state;
    snprintf(fx_proc, sizeof fx_proc, "/tmp/test_cpu_proc.XXXXXX");
    snprintf(fx_sys, sizeof fx_sys, "/tmp/test_cpu_sys.XXXXXX");
    assert_non_null(mkdtemp(fx_proc));
    assert_non_null(mkdtemp(fx_sys));
    fx_hz = sysconf(_SC_CLK_TCK);
    fx_busy = 1000;
    fx_total = 10000;
    fx_stat();
    char path[512];
    snprintf(path, sizeof path, "%s/loadavg", fx_proc);
    fx_write(path, "2.50 1.50 0.50 3/100 999\n");
    return 0;
}

static int fx_teardown(void **state)
{
    (void)state;
    fx_rm_rf(fx_proc);
    fx_rm_rf(fx_sys);
    return 0;
}

static healer_mock *fx_mock(void)
{
    healer_mock *m = healer_mock_new(fx_proc, fx_sys);
    assert_non_null(m);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    return m;
}

/* One interval: utilization util% over dt seconds (2 CPUs), then detect(). */
static void fx_tick(healer_mock *m, double util, double dt)
{
    unsigned long long jiffies = (unsigned long long)(2 * dt * (double)fx_hz);
    fx_busy += (unsigned long long)((double)jiffies * util / 100.0);
    fx_total += jiffies;
    fx_stat();
    healer_mock_advance(m, dt);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
}

/* ---- parser ------------------------------------------------------------------------------ */

static void test_parse_stat(void **state)
{
    (void)state;
    char comm[16];
    uint64_t ticks, start;
    const char *odd = "42 (a b) (c)) S 1 42 42 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 99 0 0\n";
    assert_int_equal(cpu_scan_parse_stat(odd, strlen(odd), comm, &ticks, &start), 0);
    assert_string_equal(comm, "a b) (c)");
    assert_int_equal(ticks, 12);
    assert_int_equal(start, 99);
    const char *shortl = "42 (x) S 1 42 42 0 -1 0 0 0 0 0 7 5";
    assert_int_equal(cpu_scan_parse_stat(shortl, strlen(shortl), comm, &ticks, &start), -1);
    const char *junk = "42 x S 1";
    assert_int_equal(cpu_scan_parse_stat(junk, strlen(junk), comm, &ticks, &start), -1);
    const char *bad = "42 (x) S 1 42 42 0 -1 0 0 0 0 0 zz 5 0 0 20 0 1 0 99 0 0";
    assert_int_equal(cpu_scan_parse_stat(bad, strlen(bad), comm, &ticks, &start), -1);
}

/* ---- the window -------------------------------------------------------------------------- */

static void test_window_high_then_clear(void **state)
{
    (void)state;
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "high_seconds", 10);
    healer_mock_set_double(m, "clear_seconds", 5);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    for (int i = 1; i <= 9; i++) {
        fx_tick(m, 95, 1);
        assert_int_equal(healer_mock_issue_count(m), 0);   /* not yet the whole window */
    }
    fx_tick(m, 95, 1);
    const healer_issue *is = healer_mock_last_issue(m, "cpu_high");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_HIGH);
    assert_string_equal(is->target, "cpu");
    double v;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "cpu_percent", &v));
    assert_true(v > 94 && v < 96);
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "load1", &v));
    assert_true(v > 2.4 && v < 2.6);
    assert_true(healer_mock_last_health(m, "cpu") < 100);
    /* A dip holds the open issue (no resolve before clear_seconds below). */
    size_t before = healer_mock_issue_count(m);
    for (int i = 0; i < 4; i++)
        fx_tick(m, 20, 1);
    assert_int_equal(healer_mock_resolved_count(m), 0);
    assert_true(healer_mock_issue_count(m) > before);
    fx_tick(m, 20, 1);
    assert_int_equal(healer_mock_resolved_count(m), 1);
    assert_string_equal(healer_mock_resolved_at(m, 0)->type, "cpu_high");
    assert_int_equal(healer_mock_last_health(m, "cpu"), 100);
    /* Closed: quiet again, and a short spike is not an issue. */
    size_t n = healer_mock_issue_count(m);
    fx_tick(m, 99, 1);
    fx_tick(m, 20, 1);
    assert_int_equal(healer_mock_issue_count(m), n);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_window_dip_resets(void **state)
{
    (void)state;
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "high_seconds", 5);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    for (int i = 0; i < 4; i++)
        fx_tick(m, 95, 1);
    fx_tick(m, 85, 1);   /* below 90: the run starts again */
    for (int i = 0; i < 4; i++)
        fx_tick(m, 95, 1);
    assert_int_equal(healer_mock_issue_count(m), 0);
    fx_tick(m, 95, 1);
    assert_int_equal(healer_mock_issue_count(m), 1);
    healer_mock_free(m);
}

static void test_window_critical(void **state)
{
    (void)state;
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "high_seconds", 3);
    healer_mock_set_double(m, "critical_seconds", 6);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    for (int i = 0; i < 5; i++)
        fx_tick(m, 99, 1);
    assert_int_equal(healer_mock_last_issue(m, "cpu_high")->severity, HEALER_SEV_HIGH);
    fx_tick(m, 99, 1);
    assert_int_equal(healer_mock_last_issue(m, "cpu_high")->severity, HEALER_SEV_CRITICAL);
    healer_mock_free(m);
}

/* ---- consumers and the ladder ------------------------------------------------------------ */

typedef struct fx_p {
    int pid;
    const char *comm;
    unsigned uid;
    double pct;       /* share of one core */
    unsigned long long ticks;
} fx_p;

static fx_p fx_ps[] = {
    {101, "hog", 1000, 90, 0},
    {102, "medium", 1000, 20, 0},
    {103, "sysd", 100, 80, 0},         /* system: uid < protect.min_uid */
    {104, "guarded", 1000, 85, 0},     /* protected by name */
    {105, "batchjob", 1000, 5, 0},     /* killable by name */
    {106, "idle", 1000, 0, 0},
};
#define FX_NP (sizeof fx_ps / sizeof fx_ps[0])

static void fx_procs_tick(double dt)
{
    for (size_t i = 0; i < FX_NP; i++) {
        fx_ps[i].ticks += (unsigned long long)(fx_ps[i].pct / 100.0 * dt * (double)fx_hz);
        fx_process(fx_ps[i].pid, fx_ps[i].comm, fx_ps[i].uid, fx_ps[i].ticks, 0);
    }
}

/* A mock with the fixture processes, the load at util% for 6 s (high_seconds 5). */
static healer_mock *fx_loaded_opt(double util, int restore)
{
    for (size_t i = 0; i < FX_NP; i++)
        fx_ps[i].ticks = 0;
    fx_procs_tick(0);
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "high_seconds", 5);
    healer_mock_set_double(m, "high_percent", 80);
    const char *killable[] = {"batchjob"};
    healer_mock_set_list(m, "killable", killable, 1);
    healer_mock_protect_name(m, "guarded");
    healer_mock_set_bool(m, "restore", restore);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    for (int i = 0; i < 6; i++) {
        fx_procs_tick(1);
        fx_tick(m, util, 1);
    }
    return m;
}

static healer_mock *fx_loaded(double util)
{
    return fx_loaded_opt(util, 1);
}

static const healer_action *fx_action(healer_mock *m, const char *name)
{
    for (size_t i = 0; i < healer_mock_action_count(m); i++)
        if (strcmp(healer_mock_action(m, i)->name, name) == 0)
            return healer_mock_action(m, i);
    return NULL;
}

static int fx_has_pid(const healer_action *a, int pid)
{
    const char *v = healer_mock_action_param(a, "pids");
    char key[32];
    snprintf(key, sizeof key, "%d:", pid);
    for (const char *p = v; p && (p = strstr(p, key)); p++)
        if (p == v || p[-1] == ',')
            return 1;
    return 0;
}

static void fx_gov(int cpu, const char *avail, const char *cur)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/devices", fx_sys);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/devices/system", fx_sys);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/devices/system/cpu", fx_sys);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/devices/system/cpu/cpu%d", fx_sys, cpu);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/devices/system/cpu/cpu%d/cpufreq", fx_sys, cpu);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/scaling_available_governors", dir);
    fx_write(path, avail);
    snprintf(path, sizeof path, "%s/scaling_governor", dir);
    fx_write(path, cur);
}

static void test_top_consumers_named(void **state)
{
    (void)state;
    healer_mock *m = fx_loaded(100);
    const healer_issue *is = healer_mock_last_issue(m, "cpu_high");
    assert_non_null(is);
    assert_true(is->n_components >= 4);
    assert_string_equal(is->components[0], "pid:101 hog uid=1000 90%");
    assert_string_equal(is->components[1], "pid:104 guarded uid=1000 85%");
    assert_string_equal(is->components[2], "pid:103 sysd uid=100 80%");
    assert_non_null(strstr(is->summary, "hog (pid 101, uid=1000) 90%"));
    for (size_t i = 0; i < is->n_components; i++)
        assert_null(strstr(is->components[i], "idle"));   /* no CPU, not a consumer */
    healer_mock_free(m);
}

static void test_ladder_selection(void **state)
{
    (void)state;
    fx_gov(0, "performance powersave ondemand schedutil\n", "performance\n");
    fx_gov(1, "performance powersave ondemand\n", "ondemand\n");   /* already there */
    fx_gov(2, "performance powersave\n", "performance\n");          /* nothing offered */
    healer_mock *m = fx_loaded(100);
    const healer_issue *is = healer_mock_last_issue(m, "cpu_high");
    assert_int_equal(healer_mock_plan(m, is), HEALER_OK);

    const healer_action *r = fx_action(m, "renice");
    assert_non_null(r);
    assert_int_equal(r->step, 0);
    assert_true(fx_has_pid(r, 101) && fx_has_pid(r, 102));
    assert_false(fx_has_pid(r, 103) || fx_has_pid(r, 104) || fx_has_pid(r, 105));
    assert_string_equal(healer_mock_action_param(r, "nice"), "10");
    assert_true(r->flags & HEALER_ACTION_REVERSIBLE);

    const healer_action *s = fx_action(m, "stop_processes");
    assert_non_null(s);
    assert_int_equal(s->step, 1);
    assert_true(fx_has_pid(s, 101));   /* over 50% of a core */
    assert_true(fx_has_pid(s, 105));   /* killable */
    assert_false(fx_has_pid(s, 102) || fx_has_pid(s, 103) || fx_has_pid(s, 104));

    const healer_action *g = fx_action(m, "cpufreq_governor");
    assert_non_null(g);
    assert_int_equal(g->step, 2);
    assert_non_null(strstr(g->description, "1 CPU(s) to ondemand"));
    assert_null(fx_action(m, "emergency_stop"));   /* not critical */

    /* Critical: the emergency step on the top allowed hog. */
    healer_issue crit = {.type = "cpu_high", .severity = HEALER_SEV_CRITICAL, .target = "cpu",
                         .summary = "critical", .id = 2};   /* the records go with clear() */
    healer_mock_clear(m);
    assert_int_equal(healer_mock_plan(m, &crit), HEALER_OK);
    const healer_action *e = fx_action(m, "emergency_stop");
    assert_non_null(e);
    assert_int_equal(e->step, 3);
    assert_true(fx_has_pid(e, 101));
    assert_false(fx_has_pid(e, 104));
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
    fx_rm_rf(fx_sys);
    mkdir(fx_sys, 0700);
}

static void test_ladder_thresholds(void **state)
{
    (void)state;
    healer_mock *m = fx_loaded(85);   /* >= renice 80, < stop 90, < governor 95 */
    const healer_issue *is = healer_mock_last_issue(m, "cpu_high");
    assert_non_null(is);
    assert_int_equal(healer_mock_plan(m, is), HEALER_OK);
    assert_non_null(fx_action(m, "renice"));
    assert_null(fx_action(m, "stop_processes"));
    assert_null(fx_action(m, "cpufreq_governor"));
    /* Another plugin's cpu_high for something else is not ours. */
    healer_issue other = {.type = "cpu_high", .severity = HEALER_SEV_HIGH, .target = "gpu0",
                          .summary = "not ours", .id = 2};
    healer_mock_clear(m);
    assert_int_equal(healer_mock_plan(m, &other), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    healer_mock_free(m);
}

static void test_emergency_kill_config(void **state)
{
    (void)state;
    healer_mock *m = fx_mock();
    healer_mock_set_string(m, "emergency", "pause");
    assert_int_equal(healer_mock_init(m), HEALER_E_INVAL);
    assert_true(healer_mock_log_find(m, HEALER_LOG_ERROR, "must be \"stop\" or \"kill\"") >= 0);
    healer_mock_free(m);
}

/* ---- execute and restore ----------------------------------------------------------------- */

static const healer_mock_call *fx_call(healer_mock *m, size_t from, healer_mock_act act, int pid)
{
    for (size_t i = from; i < healer_mock_call_count(m); i++) {
        const healer_mock_call *c = healer_mock_call_at(m, i);
        if (c->act == act && (pid == 0 || c->pid == pid))
            return c;
    }
    return NULL;
}

static void test_execute_and_restore(void **state)
{
    (void)state;
    fx_gov(0, "performance ondemand\n", "performance\n");
    healer_mock *m = fx_loaded(100);
    healer_issue is = *healer_mock_last_issue(m, "cpu_high");
    is.id = 7;
    is.severity = HEALER_SEV_CRITICAL;
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    healer_result res;

    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "renice"), &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DONE);
    const healer_mock_call *c = fx_call(m, 0, HEALER_MOCK_ACT_RENICE, 101);
    assert_non_null(c);
    assert_int_equal(c->nice, 10);
    assert_int_equal(c->start_time, 1101);
    assert_non_null(fx_call(m, 0, HEALER_MOCK_ACT_RENICE, 102));
    /* The kernel's side: 101 is at nice 10 now; 102 was changed by someone else to 5. */
    fx_process(101, "hog", 1000, fx_ps[0].ticks, 10);
    fx_process(102, "medium", 1000, fx_ps[1].ticks, 5);

    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "cpufreq_governor"), &res),
                     HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DONE);
    c = fx_call(m, 0, HEALER_MOCK_ACT_WRITE_FILE, 0);
    assert_non_null(c);
    assert_non_null(strstr(c->path, "/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
    assert_string_equal(c->value, "ondemand");

    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "emergency_stop"), &res), HEALER_OK);
    c = fx_call(m, 0, HEALER_MOCK_ACT_SIGNAL, 101);
    assert_non_null(c);
    assert_int_equal(c->sig, SIGSTOP);

    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "stop_processes"), &res), HEALER_OK);
    c = fx_call(m, 0, HEALER_MOCK_ACT_SIGNAL, 105);
    assert_non_null(c);
    assert_int_equal(c->sig, SIGTERM);
    assert_true(c->grace_s > 4.9 && c->grace_s < 5.1);

    /* Another issue's restore touches nothing of issue 7. */
    size_t mark = healer_mock_call_count(m);
    healer_issue other = is;
    other.id = 8;
    assert_int_equal(healer_mock_restore(m, &other), HEALER_OK);
    assert_int_equal(healer_mock_call_count(m), mark);

    assert_int_equal(healer_mock_restore(m, &is), HEALER_OK);
    c = fx_call(m, mark, HEALER_MOCK_ACT_SIGNAL, 101);
    assert_non_null(c);
    assert_int_equal(c->sig, SIGCONT);
    c = fx_call(m, mark, HEALER_MOCK_ACT_WRITE_FILE, 0);
    assert_non_null(c);
    assert_string_equal(c->value, "performance");
    c = fx_call(m, mark, HEALER_MOCK_ACT_RENICE, 101);
    assert_non_null(c);
    assert_int_equal(c->nice, 0);
    assert_null(fx_call(m, mark, HEALER_MOCK_ACT_RENICE, 102));   /* theirs wins */
    /* Restored once: a second restore does nothing. */
    mark = healer_mock_call_count(m);
    assert_int_equal(healer_mock_restore(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_call_count(m), mark);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
    fx_rm_rf(fx_sys);
    mkdir(fx_sys, 0700);
}

static void test_restore_skips_gone_and_disabled(void **state)
{
    (void)state;
    healer_mock *m = fx_loaded(100);
    healer_issue is = *healer_mock_last_issue(m, "cpu_high");
    is.id = 3;
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "renice"), &res), HEALER_OK);
    fx_process(102, "medium", 1000, fx_ps[1].ticks, 10);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/101", fx_proc);
    fx_rm_rf(dir);   /* 101 exited */
    size_t mark = healer_mock_call_count(m);
    assert_int_equal(healer_mock_restore(m, &is), HEALER_OK);
    assert_null(fx_call(m, mark, HEALER_MOCK_ACT_RENICE, 101));
    assert_non_null(fx_call(m, mark, HEALER_MOCK_ACT_RENICE, 102));
    healer_mock_free(m);

    /* restore = false: the records are dropped, nothing is undone. */
    m = fx_loaded_opt(100, 0);
    is = *healer_mock_last_issue(m, "cpu_high");
    is.id = 4;
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "renice"), &res), HEALER_OK);
    assert_non_null(fx_call(m, 0, HEALER_MOCK_ACT_RENICE, 102));
    fx_process(102, "medium", 1000, fx_ps[1].ticks, 10);
    mark = healer_mock_call_count(m);
    assert_int_equal(healer_mock_restore(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_call_count(m), mark);
    assert_true(healer_mock_log_find(m, HEALER_LOG_INFO, "restore = false") >= 0);
    healer_mock_free(m);
}

static void test_dry_run(void **state)
{
    (void)state;
    healer_mock *m = fx_loaded(100);
    healer_mock_set_dry_run(m, 1);
    healer_issue is = *healer_mock_last_issue(m, "cpu_high");
    is.id = 5;
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    healer_result res;
    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "renice"), &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DRY_RUN);
    assert_int_equal(healer_mock_execute(m, &is, fx_action(m, "stop_processes"), &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DRY_RUN);
    healer_verdict v;
    assert_int_equal(healer_mock_verify(m, &is, fx_action(m, "renice"), &v), HEALER_OK);
    assert_int_equal(v.healed, 0);
    size_t mark = healer_mock_call_count(m);
    assert_int_equal(healer_mock_restore(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_call_count(m), mark);   /* nothing was changed, nothing undone */
    healer_mock_free(m);
}

/* ---- idle cost (issue #12) --------------------------------------------------------------- */

/* read(2)-family calls this process made so far (pread included), from the kernel's count:
 * independent of the plugin's own bookkeeping. */
static unsigned long long fx_syscr(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    assert_non_null(f);
    char line[128];
    unsigned long long v = 0;
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "syscr: %llu", &v) == 1)
            found = 1;
    fclose(f);
    assert_true(found);
    return v;
}

static size_t fx_open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

#define FX_MANY 2000

/* 2000 processes in the fixture tree: below the watch level the plugin reads /proc/stat and
 * loadavg only (a handful of reads per interval, no process file opened); at the watch level
 * it reads all 2000 every interval, keeps their descriptors, and the issue's top list and
 * top_window_seconds come from the history built since then; quiet for clear_seconds again,
 * it closes every descriptor and goes back to reading nothing per process. */
static void test_idle_reads_no_process_file(void **state)
{
    (void)state;
    for (int i = 0; i < FX_MANY; i++)
        fx_process(2000 + i, "sleeper", 1000, 5, 0);
    fx_process(9999, "busyone", 1000, 0, 0);
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "high_seconds", 6);
    healer_mock_set_double(m, "clear_seconds", 3);   /* watch level: 90 - 15 = 75 */
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    size_t fds0 = fx_open_fds();
    unsigned long long r0 = fx_syscr();
    for (int i = 0; i < 20; i++)
        fx_tick(m, i % 2 ? 74 : 10, 1);
    unsigned long long idle_reads = fx_syscr() - r0;
    /* /proc/stat + loadavg per interval; one read of 2000 stat files would be >= 2000. */
    assert_true(idle_reads <= 20 * 4);
    assert_int_equal(fx_open_fds(), fds0);
    assert_int_equal(healer_mock_issue_count(m), 0);

    /* Load rises to the watch level: every process is read from that interval on. */
    unsigned long long busy_ticks = 0;
    r0 = fx_syscr();
    fx_tick(m, 80, 1);
    assert_true(fx_syscr() - r0 >= FX_MANY);
    assert_true(fx_open_fds() >= fds0 + FX_MANY);   /* kept open for pread */
    for (int i = 0; i < 8; i++) {
        busy_ticks += (unsigned long long)fx_hz;   /* one core */
        fx_process(9999, "busyone", 1000, busy_ticks, 0);
        fx_tick(m, 95, 1);
    }
    const healer_issue *is = healer_mock_last_issue(m, "cpu_high");
    assert_non_null(is);
    assert_true(is->n_components >= 1);
    assert_string_equal(is->components[0], "pid:9999 busyone uid=1000 100%");
    double span, procs;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "top_window_seconds", &span));
    assert_true(span >= 6 && span <= 9);   /* the window (6 s) give or take one checkpoint */
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "processes",
                                        &procs));
    assert_true(procs >= FX_MANY + 1);

    /* Quiet again: the issue clears, then sampling stops after clear_seconds below 75 %. */
    for (int i = 0; i < 8; i++)
        fx_tick(m, 10, 1);
    assert_int_equal(healer_mock_resolved_count(m), 1);
    assert_int_equal(fx_open_fds(), fds0);
    r0 = fx_syscr();
    for (int i = 0; i < 10; i++)
        fx_tick(m, 10, 1);
    assert_true(fx_syscr() - r0 <= 10 * 4);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* A short spike to the watch level starts sampling; hovering just below it for less than
 * clear_seconds keeps the history (no reopening of every file). */
static void test_watch_hysteresis(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++)
        fx_process(3000 + i, "sleeper", 1000, 5, 0);
    healer_mock *m = fx_mock();
    healer_mock_set_double(m, "watch_percent", 50);
    healer_mock_set_double(m, "clear_seconds", 5);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    size_t fds0 = fx_open_fds();
    fx_tick(m, 10, 1);
    assert_int_equal(fx_open_fds(), fds0);
    fx_tick(m, 55, 1);
    assert_true(fx_open_fds() >= fds0 + 50);
    for (int i = 0; i < 4; i++)
        fx_tick(m, 45, 1);   /* below for 4 s < 5 s: still sampling */
    assert_true(fx_open_fds() >= fds0 + 50);
    fx_tick(m, 45, 1);
    fx_tick(m, 45, 1);
    assert_int_equal(fx_open_fds(), fds0);
    healer_mock_free(m);
}

/* ---- the real /proc ---------------------------------------------------------------------- */

/* Children of the real-/proc tests, killed by the teardown even when an assertion longjmps out
 * (a leftover child would hold ctest's output pipe open until the test's timeout). */
static pid_t children[4];
static size_t n_children;

/* Kills and reaps one of our children and forgets it, so its pid (free for reuse once reaped)
 * is never signalled again. */
static void reap(pid_t pid)
{
    for (size_t i = 0; i < n_children; i++) {
        if (children[i] == pid) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            children[i] = 0;
        }
    }
}

static int kill_children(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_children; i++)
        if (children[i] > 0)
            reap(children[i]);
    n_children = 0;
    return 0;
}

static pid_t fork_busy(int busy)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p > 0 && n_children < 4)
        children[n_children++] = p;
    if (p == 0) {
        volatile unsigned long x = 0;
        if (busy)
            for (;;)
                x++;
        for (;;)
            pause();
    }
    return p;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of pid in clock ticks, -1 when unreadable. */
static long proc_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static void test_real_proc_scan(void **state)
{
    (void)state;
    pid_t busy = fork_busy(1), idle = fork_busy(0);
    cpu_scan s;
    assert_int_equal(cpu_scan_open(&s, "/proc", 100000, 0.1), 0);
    assert_true(cpu_scan_run(&s, mono()) > 2);
    /* Wait for the busy child to have run 20 ticks rather than for a fixed time: on a loaded
     * machine its share of a core is anyone's guess, and tests do not assert on timing. */
    long t0 = proc_ticks(busy);
    assert_true(t0 >= 0);
    sleep_s(0.3);
    for (int k = 0; k < 600 && proc_ticks(busy) - t0 < 20; k++)
        sleep_s(0.05);
    assert_true(cpu_scan_run(&s, mono()) > 2);
    const cpu_proc *b = cpu_scan_find(&s, busy), *i = cpu_scan_find(&s, idle);
    assert_non_null(b);
    assert_non_null(i);
    assert_true(b->fd >= 0);   /* kept open for the next pread */
    assert_true(cpu_scan_recent(&s, b) > 0.5);   /* it ran between the two scans ... */
    assert_true(cpu_scan_recent(&s, b) > cpu_scan_recent(&s, i));   /* ... and the idle one did not */
    assert_true(cpu_scan_share(&s, i, 10) < 5);
    size_t idx[3];
    double sh[3];
    assert_true(cpu_scan_top(&s, 10, idx, sh, 3) >= 1);
    assert_true(sh[0] >= cpu_scan_share(&s, b, 10));
    int bfd = b->fd;
    reap(busy);
    cpu_scan_run(&s, mono());
    assert_null(cpu_scan_find(&s, busy));
    /* The dead process's descriptor was closed. Other processes appear during the scan on a
     * busy machine, so look at that descriptor, not the count: closed, or reused for another
     * process's stat file, never still the dead one's. */
    char fdlink[64], target[256], dead[64], dead_sched[64];
    snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", bfd);
    snprintf(dead, sizeof dead, "/proc/%d/stat", (int)busy);
    snprintf(dead_sched, sizeof dead_sched, "/proc/%d/schedstat", (int)busy);
    ssize_t tl = readlink(fdlink, target, sizeof target - 1);
    if (tl >= 0) {
        target[tl] = '\0';
        assert_string_not_equal(target, dead);
        assert_string_not_equal(target, dead_sched);
    }
    reap(idle);
    cpu_scan_close(&s);
}

static void *spin_thread(void *arg)
{
    (void)arg;
    for (volatile unsigned long x = 0;; x++) {
    }
    return NULL;
}

/* A process seen with one thread is followed through schedstat, which counts its leader thread
 * only. Once it starts threads, the recheck (stat, every CPU_SCAN_RECHECK scans) moves it to
 * stat and adds back what the threads ran: the scanner's run time since first seen equals the
 * group's utime + stime since then (within the ticks stat rounds off), not the leader's. */
static void test_threads_started_later_are_counted(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0 && n_children < 4)
        children[n_children++] = pid;   /* killed by the teardown if an assertion fails */
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, spin_thread, NULL);
        for (;;)
            pause();   /* the leader itself never runs again */
    }
    close(go[0]);
    cpu_scan s;
    assert_int_equal(cpu_scan_open(&s, "/proc", 100000, 0.1), 0);
    assert_true(cpu_scan_run(&s, mono()) > 1);
    const cpu_proc *p = cpu_scan_find(&s, pid);
    assert_non_null(p);
    assert_int_equal(p->src, CPU_SRC_SCHED);   /* one thread: the cheap file */
    long g0 = proc_ticks(pid);
    uint64_t ns0 = p->ns;
    assert_int_equal(write(go[1], "x", 1), 1);
    /* Until the threads have run 30 ticks (no fixed time: the machine may be loaded). */
    for (int k = 0; k < 1200 && proc_ticks(pid) - g0 < 30; k++)
        sleep_s(0.05);
    assert_true(proc_ticks(pid) - g0 >= 30);
    kill(pid, SIGSTOP);   /* hold the count still while it is compared */
    for (int k = 0; k < 200; k++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *q = strrchr(buf, ')');
        if (q && q[2] == 'T')
            break;
        sleep_s(0.01);
    }
    for (int k = 0; k <= CPU_SCAN_RECHECK; k++)
        assert_true(cpu_scan_run(&s, mono()) > 1);
    p = cpu_scan_find(&s, pid);
    assert_non_null(p);
    assert_int_equal(p->src, CPU_SRC_STAT);   /* threads now: the group's file */
    long g1 = proc_ticks(pid);
    double counted = (double)(p->ns - ns0) / (double)s.tick_ns;   /* in ticks */
    print_message("group ran %ld ticks, the scanner counted %.1f\n", g1 - g0, counted);
    assert_true(counted >= (double)(g1 - g0) - 3);
    assert_true(counted <= (double)(g1 - g0) + 3);
    reap(pid);
    close(go[1]);
    cpu_scan_close(&s);
}

/* Descriptors the scanner says it holds: each process's fd and sfd. */
static size_t held_fds(const cpu_scan *s, size_t *sfds)
{
    size_t n = 0;
    *sfds = 0;
    for (size_t i = 0; i < s->n; i++) {
        n += (s->v[i].fd >= 0) + (s->v[i].sfd >= 0);
        *sfds += s->v[i].sfd >= 0;
        if (s->v[i].sfd >= 0)
            assert_int_equal(s->v[i].src, CPU_SRC_SCHED);
    }
    return n;
}

/* Between full listings the scanner lists only the pids above the last pid read two scans
 * before (procfs positions): a process started since is found by such a partial listing, and
 * one that died is dropped through its failing descriptors. A schedstat process keeps its stat
 * descriptor for the recheck when the budget has room, never beyond it. */
static void test_partial_listing(void **state)
{
    (void)state;
    cpu_scan s;
    assert_int_equal(cpu_scan_open(&s, "/proc", 100000, 0.1), 0);
    if (s.loadavg_fd < 0) {
        cpu_scan_close(&s);
        skip();   /* /proc is not this process's pid namespace's procfs */
    }
    assert_true(cpu_scan_run(&s, mono()) > 0);
    assert_true(cpu_scan_run(&s, mono()) > 0);
    assert_int_equal(s.lists_full, 2);   /* no last pid from two scans ago yet */
    assert_true(s.pid_pos >= 0);          /* learned from the entries' d_off */
    pid_t kid = -1;
    /* The pid counter may wrap on a busy machine (then the scan lists in full): try again. */
    for (int k = 0; k < 3 && s.lists_partial == 0; k++) {
        if (kid > 0)
            reap(kid);
        kid = fork_busy(0);
        assert_true(cpu_scan_run(&s, mono()) > 0);
        assert_non_null(cpu_scan_find(&s, kid));
    }
    assert_int_equal(s.lists_partial, 1);
    const cpu_proc *p = cpu_scan_find(&s, kid);
    assert_non_null(p);
    assert_int_equal(p->src, CPU_SRC_SCHED);
    assert_true(p->sfd >= 0);   /* budget to spare: the stat descriptor stays */
    size_t sfds, held = held_fds(&s, &sfds);
    assert_int_equal(held, s.open_fds);
    assert_int_equal(sfds, s.open_sfds);
    reap(kid);
    uint64_t partial = s.lists_partial;
    assert_true(cpu_scan_run(&s, mono()) > 0);
    assert_null(cpu_scan_find(&s, kid));
    print_message("the scan after the death listed %s\n",
                  s.lists_partial > partial ? "in part" : "in full (the pid counter wrapped)");
    held = held_fds(&s, &sfds);
    assert_int_equal(held, s.open_fds);
    assert_int_equal(sfds, s.open_sfds);
    /* A full listing every CPU_SCAN_FULL_LIST scans whatever the pids do. */
    uint64_t full = s.lists_full;
    for (int k = 0; k < CPU_SCAN_FULL_LIST; k++)
        assert_true(cpu_scan_run(&s, mono()) > 0);
    assert_true(s.lists_full > full);
    cpu_scan_close(&s);

    /* A budget smaller than the processes: no second descriptors, never more than the budget. */
    assert_int_equal(cpu_scan_open(&s, "/proc", 4, 0.1), 0);
    for (int k = 0; k < CPU_SCAN_RECHECK + 2; k++) {
        int n = cpu_scan_run(&s, mono());
        assert_true(n > 4);
        assert_true(s.open_fds <= 4);
        assert_int_equal(s.open_sfds, 0);
    }
    held = held_fds(&s, &sfds);
    assert_int_equal(held, s.open_fds);
    cpu_scan_close(&s);
}

static void test_real_proc_verify(void **state)
{
    (void)state;
    pid_t busy = fork_busy(1);
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_non_null(m);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    healer_mock_set_double(m, "high_percent", 1);
    healer_mock_set_double(m, "settle_seconds", 0.3);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    healer_issue is = {.type = "cpu_high", .severity = HEALER_SEV_HIGH, .target = "cpu",
                       .summary = "x", .id = 1};
    healer_action a = {.name = "renice", .target = "cpu"};
    healer_verdict v;
    assert_int_equal(healer_mock_verify(m, &is, &a, &v), HEALER_OK);
    assert_int_equal(v.healed, 0);   /* our busy child alone keeps it above 1% */
    double u;
    assert_true(healer_mock_measurement(v.measurements, v.n_measurements, "cpu_percent", &u));
    assert_true(u >= 1);
    healer_mock_free(m);
    reap(busy);
}

static void test_odd_proc_entries(void **state)
{
    (void)state;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/777", fx_proc);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/stat", dir);
    fx_write(path, "777 (broken\n");
    snprintf(dir, sizeof dir, "%s/778", fx_proc);
    mkdir(dir, 0755);   /* no stat at all: vanished */
    cpu_scan s;
    assert_int_equal(cpu_scan_open(&s, fx_proc, 10, 1), 0);
    assert_true(cpu_scan_run(&s, 1) >= 0);
    assert_null(cpu_scan_find(&s, 777));
    assert_null(cpu_scan_find(&s, 778));
    assert_true(s.read_errors >= 2);
    cpu_scan_close(&s);
    fx_rm_rf(dir);
    snprintf(dir, sizeof dir, "%s/777", fx_proc);
    fx_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test_setup_teardown(test_window_high_then_clear, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_dip_resets, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_window_critical, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_top_consumers_named, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ladder_selection, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ladder_thresholds, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_emergency_kill_config, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_execute_and_restore, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_restore_skips_gone_and_disabled, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_odd_proc_entries, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idle_reads_no_process_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_hysteresis, fx_setup, fx_teardown),
        cmocka_unit_test_teardown(test_real_proc_scan, kill_children),
        cmocka_unit_test_teardown(test_threads_started_later_are_counted, kill_children),
        cmocka_unit_test_teardown(test_partial_listing, kill_children),
        cmocka_unit_test_teardown(test_real_proc_verify, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
