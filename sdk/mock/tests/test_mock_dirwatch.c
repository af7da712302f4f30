/* test_mock_dirwatch.c — the example plugin (sdk/examples/dirwatch/dirwatch.c, compiled into
 * this test) driven through the mock host on a real temporary directory: detection and
 * severities, health, resolve, planning flags, the actuator call, verify, and init's refusals. */
#ifndef _GNU_SOURCE
/* nftw(); the tree's build passes -D_GNU_SOURCE, an out-of-tree build may not. */
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <healer/mock.h>

/* dirwatch.c's entry point, linked into this test. */
const healer_plugin *healer_plugin_entry_v1(void);

typedef struct fx {
    char dir[PATH_MAX];
    healer_mock *m;
} fx;

static void write_file(const char *dir, const char *name, size_t bytes)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (bytes) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        bytes -= n;
    }
    close(fd);
}

static void remove_file(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/dirwatch-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->m = healer_mock_new(NULL, NULL);
    assert_non_null(f->m);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    /* dirwatch is not a built-in: the operator lets it declare its directory (healerd.conf:
     * plugins.dirwatch.paths_allow), or declare_path() is refused. */
    const char *allow[] = { f->dir };
    assert_int_equal(healer_mock_set_list(f->m, "paths_allow", allow, 1), HEALER_OK);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the tree the test made; never follows its symlinks. */
static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
    fx *f = *state;
    healer_mock_free(f->m);
    rm_tree(f->dir);
    free(f);
    return 0;
}

static void init_ok(fx *f, long long max_bytes)
{
    assert_int_equal(healer_mock_set_string(f->m, "directory", f->dir), HEALER_OK);
    assert_int_equal(healer_mock_set_int(f->m, "max_bytes", max_bytes), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
}

static double measurement(const healer_issue *is, const char *name)
{
    double v = -1;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, name, &v));
    return v;
}

static void test_init_declares_directory(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    assert_int_equal(healer_mock_declared_count(f->m), 1);
    assert_string_equal(healer_mock_declared(f->m, 0), f->dir);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_missing_directory_config_fails_init(void **state)
{
    fx *f = *state;
    /* directory has no default: left unset, init must refuse and say which key. */
    assert_int_equal(healer_mock_init(f->m), HEALER_E_INVAL);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, "plugins.dirwatch.directory") >= 0);
    assert_int_equal(healer_mock_declared_count(f->m), 0);
    /* A refused plugin gets no further callback. */
    assert_int_equal(healer_mock_detect(f->m), HEALER_E_INVAL);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_relative_directory_fails_init(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_string(f->m, "directory", "var/log"), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_E_INVAL);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, "absolute path") >= 0);
}

static void test_schema_defaults_and_ranges(void **state)
{
    fx *f = *state;
    const healer_plugin *d = healer_mock_descriptor(f->m);
    assert_non_null(d);
    assert_string_equal(d->name, "dirwatch");
    assert_string_equal(d->issue_types[0], "dir_oversize");
    assert_null(d->issue_types[1]);
    /* Out of range and wrong types are refused as the config file would be. */
    assert_int_equal(healer_mock_set_int(f->m, "max_bytes", 0), HEALER_E_INVAL);
    assert_int_equal(healer_mock_set_bool(f->m, "max_bytes", 1), HEALER_E_INVAL);
    assert_int_equal(healer_mock_set_double(f->m, "max_age_days", -1), HEALER_E_INVAL);
    assert_int_equal(healer_mock_set_string(f->m, "no_such_key", "x"), HEALER_E_NOTFOUND);
    /* Under the default limit (100 MiB) a small directory is healthy. */
    write_file(f->dir, "a", 5000);
    assert_int_equal(healer_mock_set_string(f->m, "directory", f->dir), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(healer_mock_last_health(f->m, f->dir) == 100.0);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_INFO, "limit 104857600 bytes") >= 0);
}

static void test_severity_follows_size(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);

    write_file(f->dir, "a", 1200);          /* 1.2x: medium */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_MEDIUM);
    assert_string_equal(is->target, f->dir);
    assert_string_equal(is->plugin, "dirwatch");
    assert_true(measurement(is, "dir_bytes") == 1200);
    assert_true(measurement(is, "limit_bytes") == 1000);
    assert_true(healer_mock_last_health(f->m, f->dir) == 80.0);

    write_file(f->dir, "a", 1600);          /* 1.6x: high */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_int_equal(is->severity, HEALER_SEV_HIGH);
    assert_true(measurement(is, "dir_bytes") == 1600);

    write_file(f->dir, "a", 2100);          /* 2.1x: critical, health 0 */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_int_equal(is->severity, HEALER_SEV_CRITICAL);
    assert_true(healer_mock_last_health(f->m, f->dir) == 0.0);

    assert_int_equal(healer_mock_issue_count(f->m), 3);
    assert_int_equal(healer_mock_resolved_count(f->m), 0);
    assert_int_equal(healer_mock_call_count(f->m), 0);   /* detect never acts */
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* The edges: "above" the limit, 1.5x and 2x is strictly above. */
static void test_severity_boundaries(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    static const struct { size_t bytes; int issue; healer_severity sev; double health; } cases[] = {
        {1000, 0, 0, 100.0},
        {1001, 1, HEALER_SEV_MEDIUM, 99.9},
        {1500, 1, HEALER_SEV_MEDIUM, 50.0},
        {1501, 1, HEALER_SEV_HIGH, 49.9},
        {2000, 1, HEALER_SEV_HIGH, 0.0},
        {2001, 1, HEALER_SEV_CRITICAL, 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        healer_mock_clear(f->m);
        write_file(f->dir, "a", cases[i].bytes);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
        if (!cases[i].issue) {
            assert_null(is);
        } else {
            assert_non_null(is);
            assert_int_equal(is->severity, cases[i].sev);
        }
        double h = healer_mock_last_health(f->m, f->dir);
        assert_true(h > cases[i].health - 0.001 && h < cases[i].health + 0.001);
    }
}

static void test_counts_subdirectories_not_symlinks(void **state)
{
    fx *f = *state;
    char sub[PATH_MAX + 8], big[PATH_MAX + 8];
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(f->dir, "a", 400);
    write_file(sub, "d", 700);
    /* A symlink to a big file: its target must not count (it may be anywhere). */
    write_file(f->dir, "b", 10);
    snprintf(big, sizeof big, "%s/b", f->dir);
    char link[PATH_MAX + 8];
    snprintf(link, sizeof link, "%s/link", f->dir);
    assert_int_equal(symlink(big, link), 0);
    init_ok(f, 1000);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_non_null(is);
    assert_true(measurement(is, "dir_bytes") == 1110);
}

static void test_back_under_limit_resolves(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    write_file(f->dir, "a", 500);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    /* Never over: nothing to resolve. */
    assert_int_equal(healer_mock_resolved_count(f->m), 0);

    write_file(f->dir, "b", 800);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 1);

    remove_file(f->dir, "b");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    const healer_mock_resolved *r = healer_mock_resolved_at(f->m, 0);
    assert_string_equal(r->type, "dir_oversize");
    assert_string_equal(r->target, f->dir);
    assert_true(healer_mock_last_health(f->m, f->dir) == 100.0);

    /* Resolved once, not on every quiet cycle. */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_plan_flags(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    write_file(f->dir, "a", 1500);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_non_null(is);

    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
    const healer_action *a = healer_mock_action(f->m, 0);
    assert_string_equal(a->name, "remove_old_files");
    assert_string_equal(a->target, f->dir);
    assert_int_equal(a->step, 0);
    assert_true(a->flags & HEALER_ACTION_DELETES);
    assert_false(a->flags & HEALER_ACTION_AUTO_OK);
    assert_string_equal(healer_mock_action_param(a, "older_than_days"), "7");

    /* auto_delete = true marks the risky class automatic: a fresh plugin with that config. */
    healer_mock_destroy(f->m);
    healer_mock_free(f->m);
    f->m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    const char *allow[] = { f->dir };
    assert_int_equal(healer_mock_set_list(f->m, "paths_allow", allow, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_bool(f->m, "auto_delete", 1), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "max_age_days", 3.5), HEALER_OK);
    init_ok(f, 1000);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    a = healer_mock_action(f->m, 0);
    assert_true(a->flags & HEALER_ACTION_DELETES);
    assert_true(a->flags & HEALER_ACTION_AUTO_OK);
    assert_string_equal(healer_mock_action_param(a, "older_than_days"), "3.5");

    /* An issue of the same type for another directory is not ours to plan for. */
    healer_issue other = *is;
    other.target = "/somewhere/else";
    assert_int_equal(healer_mock_plan(f->m, &other), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_plan_refuses_unclaimed_type(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    healer_issue is = {.type = "cpu_high", .target = "cpu"};
    assert_int_equal(healer_mock_plan(f->m, &is), HEALER_E_INVAL);
    assert_non_null(strstr(healer_mock_last_error(f->m), "does not claim"));
}

static void test_execute_calls_remove_old_files(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    write_file(f->dir, "a", 1500);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    const healer_action *a = healer_mock_action(f->m, 0);

    healer_mock_set_remove_result(f->m, 900, 3);
    healer_result res;
    assert_int_equal(healer_mock_execute(f->m, is, a, &res), HEALER_OK);
    const healer_mock_call *c = healer_mock_last_call(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES);
    assert_non_null(c);
    assert_int_equal(healer_mock_call_count(f->m), 1);
    assert_string_equal(c->callback, "execute");
    assert_int_equal(c->rc, HEALER_OK);
    assert_string_equal(c->path, f->dir);
    assert_true(c->older_than_days == 7.0);
    assert_true(c->has_opts);
    assert_true(c->opts.rotated_first);
    assert_true(c->opts.recursive);
    assert_null(c->opts.pattern);
    assert_int_equal(c->opts.stop_after_bytes, 500);   /* just enough to get under the limit */
    assert_int_equal(res.outcome, HEALER_OUTCOME_DONE);
    double v;
    assert_true(healer_mock_measurement(res.measurements, res.n_measurements, "freed_bytes", &v));
    assert_true(v == 900);
    assert_true(healer_mock_measurement(res.measurements, res.n_measurements, "files_removed", &v));
    assert_true(v == 3);

    /* The mock changed nothing; the "host" removing the file makes verify see it healed. */
    healer_verdict verdict;
    assert_int_equal(healer_mock_verify(f->m, is, a, &verdict), HEALER_OK);
    assert_int_equal(verdict.healed, 0);
    write_file(f->dir, "a", 300);
    assert_int_equal(healer_mock_verify(f->m, is, a, &verdict), HEALER_OK);
    assert_int_equal(verdict.healed, 1);
    assert_true(healer_mock_measurement(verdict.measurements, verdict.n_measurements,
                                        "dir_bytes", &v));
    assert_true(v == 300);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_execute_dry_run_and_failure(void **state)
{
    fx *f = *state;
    init_ok(f, 1000);
    write_file(f->dir, "a", 1500);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "dir_oversize");
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    const healer_action *a = healer_mock_action(f->m, 0);
    healer_result res;

    healer_mock_set_dry_run(f->m, 1);
    healer_mock_set_remove_result(f->m, 1200, 4);
    assert_int_equal(healer_mock_execute(f->m, is, a, &res), HEALER_OK);
    assert_int_equal(healer_mock_last_call(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES)->rc,
                     HEALER_DRY_RUN);
    assert_int_equal(res.outcome, HEALER_OUTCOME_DRY_RUN);
    assert_non_null(strstr(res.message, "would free 1200 bytes"));

    healer_mock_set_dry_run(f->m, 0);
    healer_mock_set_actuator_rc(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES, HEALER_E_IO);
    assert_int_equal(healer_mock_execute(f->m, is, a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_FAILED);

    /* Nothing old enough: skipped, not "done". */
    healer_mock_clear_actuator_rc(f->m, HEALER_MOCK_ACT_COUNT);
    healer_mock_set_remove_result(f->m, 0, 0);
    assert_int_equal(healer_mock_execute(f->m, is, a, &res), HEALER_OK);
    assert_int_equal(res.outcome, HEALER_OUTCOME_SKIPPED);
    assert_int_equal(healer_mock_call_count(f->m), 3);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_directory_vanishes(void **state)
{
    fx *f = *state;
    char gone[PATH_MAX + 16];
    snprintf(gone, sizeof gone, "%s/not-yet", f->dir);
    assert_int_equal(healer_mock_set_string(f->m, "directory", gone), HEALER_OK);
    assert_int_equal(healer_mock_set_int(f->m, "max_bytes", 10), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    /* Warned once, not every cycle. */
    long first = healer_mock_log_find(f->m, HEALER_LOG_WARN, "cannot read");
    assert_true(first >= 0);
    size_t warns = 0;
    for (size_t i = 0; i < healer_mock_log_count(f->m); i++)
        if (strstr(healer_mock_log_at(f->m, i)->text, "cannot read"))
            warns++;
    assert_int_equal(warns, 1);
    assert_int_equal(mkdir(gone, 0755), 0);
    write_file(gone, "a", 20);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 1);
    remove_file(gone, "a");
    rmdir(gone);
}

/* The built plugin (build/plugins/dirwatch.so) loads as the agent loads it: RTLD_NOW, one
 * entry symbol, a descriptor that passes every rule. */
static void test_built_plugin_loads(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char so[PATH_MAX];
    snprintf(so, sizeof so, "%s/plugins/dirwatch.so", build ? build : ".");
    if (access(so, R_OK) != 0) {
        print_message("no %s (BUILD not set?): skipped\n", so);
        skip();
    }
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load_so(m, so), HEALER_OK);
    assert_string_equal(healer_mock_descriptor(m)->name, "dirwatch");
    healer_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_declares_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_config_fails_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_directory_fails_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_defaults_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_severity_follows_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_severity_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_subdirectories_not_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_under_limit_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_refuses_unclaimed_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execute_calls_remove_old_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execute_dry_run_and_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_vanishes, setup, teardown),
        cmocka_unit_test(test_built_plugin_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
