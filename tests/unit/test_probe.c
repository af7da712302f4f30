/* test_probe.c — host->probe_run's contract through act_probe: a read-only command runs even in
 * dry-run (where act_run only reports), its output and exit status come back, timeouts kill it,
 * and it writes no audit line (act_run does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuators.h"
#include "audit.h"

static char dir[64];

static size_t audit_lines(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_probe_in_dry_run(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/healerd-probe.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char err[128];
    audit_log *au = audit_open(dir, err, sizeof err);
    assert_non_null(au);
    act_config cfg = { .dry_run = 1, .proc_root = "/proc", .sys_root = "/sys", .state_dir = dir,
                       .protect_min_uid = 1000 };
    actuators *a = actuators_new(&cfg, au);
    assert_non_null(a);
    act_context c = { .plugin = "test" };
    char out[64], msg[256];
    int status = -5;

    const char *echo[] = { "echo", "hello", NULL };
    assert_int_equal(act_probe(a, &c, echo, 5, out, sizeof out, &status, msg, sizeof msg), HEALER_OK);
    assert_string_equal(out, "hello\n");
    assert_int_equal(status, 0);
    assert_int_equal(audit_lines(), 0);

    const char *fail[] = { "sh", "-c", "exit 3", NULL };
    assert_int_equal(act_probe(a, &c, fail, 5, out, sizeof out, &status, msg, sizeof msg), HEALER_E_IO);
    assert_int_equal(status, 3);

    const char *slow[] = { "sleep", "10", NULL };
    assert_int_equal(act_probe(a, &c, slow, 0.2, out, sizeof out, &status, msg, sizeof msg),
                     HEALER_E_TIMEOUT);

    const char *missing[] = { "healerd-no-such-program", NULL };
    assert_int_equal(act_probe(a, &c, missing, 1, out, sizeof out, &status, msg, sizeof msg),
                     HEALER_E_NOTFOUND);
    assert_int_equal(audit_lines(), 0);

    /* The action counterpart only reports in dry-run, and is audited. */
    assert_int_equal(act_run(a, &c, echo, 5, out, sizeof out, &status, msg, sizeof msg), HEALER_DRY_RUN);
    assert_string_equal(out, "");
    assert_int_equal(audit_lines(), 1);

    actuators_free(a);
    audit_close(au);
    char path[128];
    snprintf(path, sizeof path, "%s/audit.jsonl", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_probe_in_dry_run) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
