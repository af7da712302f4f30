/* test_plans_parse.c — the plans.d parser on good and bad files: every check and step kind read,
 * missing keys, wrong types, unknown keys (with the nearest name), huge values, dangerous steps
 * refused by the actuators' rules (naming the key that would allow it, or none), FILE:LINE on
 * every problem, a bad file refused while the others load, and byte mutations of a good file. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "healer/types.h"
#include "plans_parse.h"

static char tmpdir[256];
static char reports[16384];

static void collect(void *ud, const char *file, int line, const char *msg)
{
    (void)ud;
    const char *base = strrchr(file, '/');
    size_t n = strlen(reports);
    snprintf(reports + n, sizeof reports - n, "%s:%d: %s\n", base ? base + 1 : file, line, msg);
}

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static int load_text(const char *text, const healer_rules_policy *pol, plans_set *s)
{
    reports[0] = '\0';
    memset(s, 0, sizeof *s);
    return plans_load_file(write_file("t.conf", text, strlen(text)), pol, collect, NULL, s);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/plans-parse-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    /* no shell: the directory removed by walking it, as the other unit tests do */
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static const char GOOD[] =
    "checks = (\n"
    "  { name = \"web\"; type = \"http\"; url = \"http://127.0.0.1:8080/health\"; status = 200;\n"
    "    timeout_s = 2.0; interval_s = 5; fail_count = 2; severity = \"high\"; },\n"
    "  { name = \"db\"; type = \"tcp\"; host = \"127.0.0.1\"; port = 5432; },\n"
    "  { name = \"beat\"; type = \"file\"; path = \"/run/worker.beat\"; max_age_s = 30; },\n"
    "  { name = \"spool\"; type = \"file\"; path = \"/var/spool/app\"; max_size_mb = 1.5; },\n"
    "  { name = \"cron\"; type = \"process\"; process = \"cron\"; },\n"
    "  { name = \"ping\"; type = \"command\"; argv = [\"/bin/true\", \"x\"]; }\n"
    ");\n"
    "plans = (\n"
    "  { name = \"web_fix\";\n"
    "    match = { type = \"check_failed\"; target = \"web*\"; when = [\"status_code >= 500\"]; };\n"
    "    steps = (\n"
    "      { name = \"restart\"; run = [\"/usr/local/bin/restart-web\"]; timeout_s = 10; auto = true; },\n"
    "      { name = \"kill\"; signal = \"KILL\"; pidfile = \"/run/web.pid\"; },\n"
    "      { name = \"unit\"; restart_unit = \"nginx.service\"; },\n"
    "      { name = \"clean\"; remove_old = \"/var/spool/app\"; older_than_days = 0.5; pattern = \"*.tmp\"; },\n"
    "      { name = \"drop\"; write = \"/proc/sys/vm/drop_caches\"; value = \"3\"; }\n"
    "    );\n"
    "  },\n"
    "  { name = \"svc\"; match = { type = \"service_failed\"; }; verify_check = \"cron\";\n"
    "    steps = ( { name = \"hup\"; signal = \"HUP\"; process = \"cron\"; } ); }\n"
    ");\n";

static void test_good_file(void **state)
{
    (void)state;
    plans_set s;
    assert_int_equal(load_text(GOOD, NULL, &s), 0);
    assert_string_equal(reports, "");
    assert_int_equal(s.n_checks, 6);
    assert_int_equal(s.n_plans, 2);
    assert_int_equal(s.checks[0].kind, CHK_HTTP);
    assert_int_equal(s.checks[0].status, 200);
    assert_int_equal(s.checks[0].fail_count, 2);
    assert_int_equal(s.checks[0].severity, HEALER_SEV_HIGH);
    assert_int_equal(s.checks[0].line, 2);
    assert_int_equal(s.checks[1].port, 5432);
    assert_true(s.checks[3].max_size_bytes == 1.5 * 1048576);
    assert_string_equal(s.checks[5].argv[1], "x");
    assert_null(s.checks[5].argv[2]);
    const plans_plan *p = &s.plans[0];
    assert_int_equal(p->n_steps, 5);
    assert_int_equal(p->n_when, 1);
    assert_true(plans_cond_holds(&p->when[0], 503));
    assert_false(plans_cond_holds(&p->when[0], 200));
    assert_string_equal(p->steps[0].action, "web_fix_restart");
    assert_true(p->steps[0].flags & HEALER_ACTION_AUTO_OK);
    assert_int_equal(p->steps[1].sig, SIGKILL);
    assert_true(p->steps[1].flags & HEALER_ACTION_STOPS);   /* killing needs a person */
    assert_true(p->steps[3].flags & HEALER_ACTION_DELETES);
    assert_true(p->steps[4].flags & HEALER_ACTION_CONFIG);
    assert_string_equal(s.plans[1].verify_check, "cron");
    assert_false(s.plans[1].steps[0].flags & HEALER_ACTION_STOPS);  /* HUP stops nothing */
    plans_set_free(&s);
}

/* Each bad text must be refused, with the line and the words given. */
static void expect_bad(const char *text, const healer_rules_policy *pol, const char *want1,
                       const char *want2)
{
    plans_set s;
    int n = load_text(text, pol, &s);
    if (n == 0 || !strstr(reports, want1) || (want2 && !strstr(reports, want2)))
        fail_msg("text:\n%s\nreports:\n%s\nwanted \"%s\" and \"%s\"", text, reports, want1,
                 want2 ? want2 : "");
    assert_int_equal(s.n_checks, 0);   /* nothing from a refused file */
    assert_int_equal(s.n_plans, 0);
    plans_set_free(&s);
}

static void test_missing_keys(void **state)
{
    (void)state;
    expect_bad("checks = ( { type = \"tcp\"; host = \"a\"; port = 1; } );\n", NULL,
               "t.conf:1: checks[0]: missing key \"name\"", NULL);
    expect_bad("checks = (\n { name = \"a\"; type = \"tcp\"; host = \"h\"; } );\n", NULL,
               "t.conf:2: check a: missing key \"port\"", NULL);
    expect_bad("checks = ( { name = \"f\"; type = \"file\"; path = \"/x\"; } );\n", NULL,
               "needs \"max_age_s\" or \"max_size_mb\"", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; }; } );\n", NULL,
               "t.conf:1: plan p: \"steps\"", NULL);
    expect_bad("plans = ( { name = \"p\"; steps = ( { name = \"a\"; run = [\"/bin/true\"]; } ); } );\n",
               NULL, "\"match\" = { type", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"disk_space_low\"; };\n"
               "  steps = ( { name = \"a\"; run = [\"/bin/true\"]; } ); } );\n",
               NULL, "needs \"verify_check\"", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"x\"; }; verify_check = \"nope\";\n"
               "  steps = ( { name = \"a\"; run = [\"/bin/true\"]; } ); } );\n",
               NULL, "verify_check \"nope\" names no check", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
               "  steps = ( { name = \"a\"; } ); } );\n", NULL,
               "t.conf:2: plan p: step a: exactly one of run, signal", NULL);
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = \"80\"; } );\n",
               NULL, "check a.port: expected a number", NULL);
    expect_bad("checks = ( { name = 5; type = \"tcp\"; } );\n", NULL, "expected a string", NULL);
    expect_bad("checks = { name = \"a\"; };\n", NULL, "checks: expected a list", NULL);
    expect_bad("checks = ( { name = \"a\"; type = \"ftp\"; } );\n", NULL,
               "must be one of process, http, tcp, file, command (got \"ftp\")", NULL);
    expect_bad("checks = ( { name = \"A-b\"; type = \"tcp\"; } );\n", NULL, "[a-z0-9_]", NULL);
    expect_bad("checks = ( { name = \"c\"; type = \"command\"; argv = [\"true\"]; } );\n", NULL,
               "must be an absolute path", NULL);
    expect_bad("checks = ( { name = \"c\"; type = \"command\"; argv = (\"/bin/a\", 3); } );\n",
               NULL, "argv[1]: expected a string", NULL);
    expect_bad("checks = ( { name = \"h\"; type = \"http\"; url = \"ftp://x\"; } );\n", NULL,
               "http:// or https://", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; when = [\"load >> 3\"]; };\n"
               "  steps = ( { name = \"a\"; run = [\"/bin/true\"]; } ); } );\n", NULL,
               "when[0]: \"load >> 3\": expected a finite number", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
               "  steps = ( { name = \"a\"; signal = \"STOP\"; process = \"x\"; } ); } );\n", NULL,
               "signal: must be TERM, KILL", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
               "  steps = ( { name = \"a\"; restart_unit = \"-rf\"; } ); } );\n", NULL,
               "is not a unit name", NULL);
    expect_bad("checks = ( { name = \"a\"; type = \"process\"; process = \"x\"; pidfile = \"/p\"; } );\n",
               NULL, "exactly one of \"process\"", NULL);
}

static void test_unknown_keys_nearest(void **state)
{
    (void)state;
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = 1;\n"
               "  intervl_s = 5; } );\n", NULL,
               "t.conf:2: check a: unknown key \"intervl_s\" (did you mean \"interval_s\"?)", NULL);
    expect_bad("plans = ( { name = \"p\"; match = { type = \"check_failed\"; trget = \"x\"; };\n"
               "  steps = ( { name = \"a\"; run = [\"/bin/true\"]; timout_s = 3; } ); } );\n", NULL,
               "unknown key \"trget\" (did you mean \"target\"?)",
               "t.conf:2: plan p: step a: unknown key \"timout_s\" (did you mean \"timeout_s\"?)");
    expect_bad("chekcs = ();\n", NULL, "unknown key \"chekcs\" (did you mean \"checks\"?)", NULL);
    /* a key of another check kind is unknown for this one */
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = 1; url = \"x\"; } );\n",
               NULL, "unknown key \"url\"", NULL);
}

static void test_huge_values(void **state)
{
    (void)state;
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = 70000; } );\n",
               NULL, "port: must be between 1 and 65535, got 70000", NULL);
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = 1;\n"
               "  timeout_s = 1e300; } );\n", NULL, "t.conf:2: check a.timeout_s: must be between",
               NULL);
    expect_bad("checks = ( { name = \"a\"; type = \"tcp\"; host = \"h\"; port = 1;\n"
               "  fail_count = 9223372036854775807L; } );\n", NULL, "fail_count: must be between",
               NULL);
    char name[200];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char text[600];
    snprintf(text, sizeof text, "checks = ( { name = \"%s\"; type = \"tcp\"; } );\n", name);
    expect_bad(text, NULL, "1 to 47 characters", NULL);
    /* a plan and step whose action name would pass the engine's limit */
    snprintf(text, sizeof text, "plans = ( { name = \"%.40s\"; match = { type = \"check_failed\"; };\n"
             " steps = ( { name = \"%.30s\"; run = [\"/bin/true\"]; } ); } );\n", name, name);
    expect_bad(text, NULL, "would be longer than 63", NULL);
    char *big = malloc(2 << 20);
    assert_non_null(big);
    memset(big, ' ', 2 << 20);
    memcpy(big, "checks = ();", 12);
    plans_set s = {0};
    reports[0] = '\0';
    assert_true(plans_load_file(write_file("big.conf", big, 2 << 20), NULL, collect, NULL, &s) > 0);
    assert_non_null(strstr(reports, "big.conf:0: larger than 1048576 bytes"));
    free(big);
    plans_set_free(&s);
}

static void test_dangerous_steps(void **state)
{
    (void)state;
    const char *core =
        "plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
        "  steps = ( { name = \"a\"; write = \"/proc/sys/kernel/core_pattern\"; value = \"|/tmp/x\"; } ); } );\n";
    /* the hard deny list: refused even without the operator's policy, and no key opens it */
    expect_bad(core, NULL, "t.conf:2: plan p: step a.write: write to proc/sys/kernel/core_pattern "
               "refused: protected", "no setting allows it");
    const char *const all[] = {"proc/sys/", "proc/sys/kernel/core_pattern"};
    healer_rules_policy open_pol = {.plugin = "plans", .write_allow = all, .n_write_allow = 2};
    expect_bad(core, &open_pol, "protected", NULL);
    /* a write the policy does not list: the key that would allow it */
    healer_rules_policy none = {.plugin = "plans"};
    const char *drop =
        "plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
        "  steps = ( { name = \"a\"; write = \"/proc/sys/vm/drop_caches\"; value = \"3\"; } ); } );\n";
    expect_bad(drop, &none, "not in plugins.plans.write_allow (healerd.conf): add "
               "\"proc/sys/vm/drop_caches\"", NULL);
    const char *const dc[] = {"proc/sys/vm/drop_caches"};
    healer_rules_policy ok_pol = {.plugin = "plans", .write_allow = dc, .n_write_allow = 1};
    plans_set s;
    assert_int_equal(load_text(drop, &ok_pol, &s), 0);
    assert_int_equal(s.n_plans, 1);
    plans_set_free(&s);
    /* removing files needs the folder in paths_allow */
    const char *rm =
        "plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
        "  steps = ( { name = \"a\"; remove_old = \"/var/spool/app\"; older_than_days = 1; } ); } );\n";
    expect_bad(rm, &none, "not in plugins.plans.paths_allow (healerd.conf): add \"/var/spool/app\"",
               NULL);
    const char *rmroot =
        "plans = ( { name = \"p\"; match = { type = \"check_failed\"; };\n"
        "  steps = ( { name = \"a\"; remove_old = \"/\"; older_than_days = 1; } ); } );\n";
    expect_bad(rmroot, &none, "would put the whole system in scope", NULL);
    const char *inc = "@include \"/etc/shadow\"\n";
    expect_bad(inc, NULL, "t.conf:1: @include is not supported", NULL);
}

static void test_dir_refuses_only_the_bad_file(void **state)
{
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/plans.d", tmpdir);
    mkdir(sub, 0755);
    char p[400];
    const char *files[][2] = {
        {"10-good.conf", "checks = ( { name = \"a\"; type = \"process\"; process = \"x\"; } );\n"},
        {"20-bad.conf", "checks = ( { name = \"b\"; type = \"process\"; process = \"x\"; }\n"},
        {"30-dup.conf", "checks = ( { name = \"a\"; type = \"process\"; process = \"y\"; } );\n"},
        {"40-nul.conf", "checks = ();\n\n# x\0y\n"},
        {"50-good.conf", "checks = ( { name = \"c\"; type = \"process\"; process = \"z\"; } );\n"},
        {"notes.txt", "not read"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, files[i][0]);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        size_t len = strlen(files[i][1]);
        if (strcmp(files[i][0], "40-nul.conf") == 0)
            len += 4;
        fwrite(files[i][1], 1, len, f);
        fclose(f);
    }
    plans_set s;
    reports[0] = '\0';
    int n = plans_load_dir(sub, NULL, collect, NULL, &s);
    assert_true(n >= 3);
    assert_int_equal(s.n_files, 5);
    assert_int_equal(s.n_files_refused, 3);
    assert_int_equal(s.n_checks, 2);
    assert_string_equal(s.checks[0].name, "a");
    assert_string_equal(s.checks[1].name, "c");
    assert_non_null(strstr(reports, "20-bad.conf:2:"));
    assert_non_null(strstr(reports, "30-dup.conf:1: check a: already defined in"));
    assert_non_null(strstr(reports, "10-good.conf:1"));
    assert_non_null(strstr(reports, "40-nul.conf:3: a NUL byte"));
    plans_set_free(&s);
    /* a missing folder is nothing configured, not a problem */
    snprintf(p, sizeof p, "%s/none", tmpdir);
    assert_int_equal(plans_load_dir(p, NULL, collect, NULL, &s), 0);
    assert_int_equal(s.n_files, 0);
}

/* Byte mutations of the good file: each is refused or loads, never crashes, and whatever loads
 * keeps the invariants (names valid, steps within bounds). */
static void test_mutations(void **state)
{
    (void)state;
    size_t len = strlen(GOOD);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    unsigned seed = 12345;
    static const char alphabet[] = "\"{}();=[],.-+0123456789eLxyz \n#/*\\";
    int loaded = 0, refused = 0;
    for (int round = 0; round < 1500; round++) {
        memcpy(buf, GOOD, len + 1);
        int flips = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        plans_set s = {0};
        reports[0] = '\0';
        int n = plans_load_file(write_file("m.conf", buf, len), NULL, collect, NULL, &s);
        if (n) {
            refused++;
            assert_int_equal(s.n_checks + s.n_plans, 0);
            assert_non_null(strstr(reports, "m.conf:"));
        } else {
            loaded++;
            for (size_t i = 0; i < s.n_plans; i++) {
                assert_true(s.plans[i].n_steps >= 1 && s.plans[i].n_steps <= PLANS_MAX_STEPS);
                for (size_t j = 0; j < s.plans[i].n_steps; j++)
                    assert_true(strlen(s.plans[i].steps[j].action) < HEALER_NAME_MAX);
            }
        }
        plans_set_free(&s);
    }
    free(buf);
    print_message("mutations: %d loaded, %d refused\n", loaded, refused);
    assert_true(refused > 0);
}

static void test_conditions(void **state)
{
    (void)state;
    plans_cond c;
    char why[200];
    assert_int_equal(plans_parse_cond("load > 3", &c, why, sizeof why), 0);
    assert_string_equal(c.name, "load");
    assert_true(plans_cond_holds(&c, 3.5));
    assert_false(plans_cond_holds(&c, 3));
    assert_int_equal(plans_parse_cond("latency_seconds<=0.25", &c, why, sizeof why), 0);
    assert_true(plans_cond_holds(&c, 0.25));
    assert_int_equal(plans_parse_cond("x != 0", &c, why, sizeof why), 0);
    assert_false(plans_cond_holds(&c, 0));
    assert_int_equal(plans_parse_cond("> 3", &c, why, sizeof why), -1);
    assert_int_equal(plans_parse_cond("a ~ 3", &c, why, sizeof why), -1);
    assert_int_equal(plans_parse_cond("a > nan", &c, why, sizeof why), -1);
    assert_int_equal(plans_parse_cond("a > 1e999", &c, why, sizeof why), -1);
    assert_int_equal(plans_parse_cond("a > 3 junk", &c, why, sizeof why), -1);
}

/* The shipped examples load (with the policy the README asks the operator to set). */
static void test_examples_load(void **state)
{
    (void)state;
    const char *src = getenv("SRC");
    if (!src)
        skip();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/examples/plans.d", src);
    const char *const pa[] = {"/var/spool/app-upload"};
    healer_rules_policy pol = {.plugin = "plans", .paths_allow = pa, .n_paths_allow = 1};
    plans_set s;
    reports[0] = '\0';
    int n = plans_load_dir(dir, &pol, collect, NULL, &s);
    if (n)
        fail_msg("%s", reports);
    assert_int_equal(s.n_files, 3);
    assert_true(s.n_plans >= 3);
    plans_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_keys_nearest),
        cmocka_unit_test(test_huge_values),
        cmocka_unit_test(test_dangerous_steps),
        cmocka_unit_test(test_dir_refuses_only_the_bad_file),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_examples_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
