/* test_config.c — agent/config.c against real files: the fixtures in tests/fixtures/config,
 * the installed etc/healerd.conf, the generated development config, and small files written
 * to a temporary directory so each error's exact line is known. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct diag_entry {
    char file[PATH_MAX];
    int line;
    char msg[1024];
} diag_entry;

typedef struct diags {
    int n;
    diag_entry e[64];
} diags;

static void collect(void *ud, const char *file, int line, const char *msg)
{
    diags *ds = ud;
    if (ds->n >= 64)
        return;
    diag_entry *e = &ds->e[ds->n++];
    snprintf(e->file, sizeof e->file, "%s", file);
    e->line = line;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* The diagnostic on line `line` whose message contains every given fragment, or NULL. */
static const diag_entry *find_diag(const diags *ds, int line, const char *frag1, const char *frag2)
{
    for (int i = 0; i < ds->n; i++) {
        const diag_entry *e = &ds->e[i];
        if (e->line == line && strstr(e->msg, frag1) && (!frag2 || strstr(e->msg, frag2)))
            return e;
    }
    return NULL;
}

static void dump(const diags *ds)
{
    for (int i = 0; i < ds->n; i++)
        print_message("  diag: %s:%d: %s\n", ds->e[i].file, ds->e[i].line, ds->e[i].msg);
}

#define assert_diag(ds, line, frag1, frag2)                                   \
    do {                                                                      \
        if (!find_diag((ds), (line), (frag1), (frag2))) {                     \
            dump(ds);                                                         \
            fail_msg("no diagnostic at line %d with \"%s\"%s%s", (line),      \
                     (frag1), (frag2) ? " and " : "", (frag2) ? (frag2) : ""); \
        }                                                                     \
    } while (0)

static char g_fixtures[2048];
static char g_src[1024];
static char g_tmpdir[1024];

static const char *fixture(const char *name)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", g_fixtures, name);
    return buf;
}

/* Writes text to a fresh file in the temp dir; returns its path (static buffer). */
static const char *write_conf(const char *text)
{
    static char path[PATH_MAX];
    static int seq;
    snprintf(path, sizeof path, "%s/t%d.conf", g_tmpdir, ++seq);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads text that must fail; returns the number of problems and fills ds. */
static int load_bad(const char *text, diags *ds)
{
    memset(ds, 0, sizeof *ds);
    diag d = {collect, ds, 0};
    config *cfg = (config *)0x1;
    int n = config_load(write_conf(text), &cfg, &d);
    assert_null(cfg);
    assert_int_equal(n, d.count);
    assert_int_equal(n, ds->n);
    return n;
}

static config *load_good(const char *path)
{
    diags ds = {0};
    diag d = {collect, &ds, 0};
    config *cfg = NULL;
    int n = config_load(path, &cfg, &d);
    if (n != 0)
        dump(&ds);
    assert_int_equal(n, 0);
    assert_int_equal(d.count, 0);
    assert_non_null(cfg);
    return cfg;
}

static void assert_defaults(const config *c)
{
    assert_int_equal(c->dry_run, 0);
    assert_true(c->interval == 5.0);
    /* CMake's install prefix: /usr/lib/healerd/plugins for a /usr install (CONTRACT.md). */
    assert_string_equal(c->plugin_dir, HEALERD_PLUGIN_DIR);
    assert_string_equal(c->state_dir, "/var/lib/healerd");
    assert_string_equal(c->proc_root, "/proc");
    assert_string_equal(c->sys_root, "/sys");
    assert_int_equal(c->log_level, HEALER_LOG_INFO);
    assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
    assert_int_equal(c->plugin_check_owner, 1);
    assert_int_equal(c->bus_hwm, 1000);
    assert_true(c->action_timeout == 60.0);
    assert_int_equal(c->limits.max_heals_per_hour, 10);
    assert_int_equal(c->limits.max_rollbacks_per_day, 3);
    assert_int_equal(c->limits.min_health_for_auto, 30);
    assert_true(c->limits.cooldown_minutes == 5.0);
    assert_true(c->limits.confirm_timeout_minutes == 60.0);
    assert_string_equal(c->http_listen, "127.0.0.1:9191");
    assert_string_equal(c->token_file, "/etc/healerd/token");
    assert_string_equal(c->metrics_namespace, "luminous_nix");
    assert_int_equal(c->n_protect_names, 3);
    assert_string_equal(c->protect_names[0], "sshd");
    assert_string_equal(c->protect_names[1], "systemd");
    assert_string_equal(c->protect_names[2], "healerd");
    assert_int_equal(c->protect_min_uid, 1000);
    assert_string_equal(c->scope_cgroup, "");
    assert_int_equal(c->n_scope_uids, 0);
    assert_true(c->exploration == 0.1);
}

static int setup_all(void **state)
{
    (void)state;
    const char *src = getenv("SRC");
    if (src && *src) {
        snprintf(g_src, sizeof g_src, "%s", src);
    } else {
        /* Run by hand: find the tree from this file's own path. */
        snprintf(g_src, sizeof g_src, "%s", __FILE__);
        char *p = strstr(g_src, "tests/unit/");
        if (p == g_src)
            snprintf(g_src, sizeof g_src, ".");
        else if (p)
            p[-1] = '\0';
    }
    snprintf(g_fixtures, sizeof g_fixtures, "%s/tests/fixtures/config", g_src);
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/test_config.XXXXXX");
    return mkdtemp(g_tmpdir) ? 0 : -1;
}

static int teardown_all(void **state)
{
    (void)state;
    /* Only the files this test wrote: t<N>.conf. */
    for (int i = 1; i < 1000; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/t%d.conf", g_tmpdir, i);
        if (unlink(p) != 0 && errno == ENOENT)
            break;
    }
    rmdir(g_tmpdir);
    return 0;
}

/* ---- good configs ---------------------------------------------------------------------- */

static void test_empty_file_gives_defaults(void **state)
{
    (void)state;
    config *c = load_good(fixture("empty.conf"));
    assert_defaults(c);
    assert_string_equal(c->path, fixture("empty.conf"));
    const char **names = (const char **)0x1;
    assert_int_equal(config_plugin_sections(c, &names), 0);
    assert_int_equal(config_plugin_enabled(c, "cpu"), 1);
    config_free(c);
}

static void test_full_config(void **state)
{
    (void)state;
    config *c = load_good(fixture("good_full.conf"));
    assert_int_equal(c->dry_run, 1);
    assert_true(c->interval == 2.5);
    assert_string_equal(c->plugin_dir, "/opt/healerd/plugins");
    assert_string_equal(c->state_dir, "/tmp/healerd-state");
    assert_string_equal(c->proc_root, "/tmp/fakeproc");
    assert_string_equal(c->sys_root, "/tmp/fakesys");
    assert_int_equal(c->log_level, HEALER_LOG_DEBUG);
    assert_int_equal(c->log_format, LOG_FORMAT_JSON);
    assert_int_equal(c->plugin_check_owner, 0);
    assert_int_equal(c->bus_hwm, 5000);
    assert_true(c->action_timeout == 12.5);
    assert_int_equal(c->limits.max_heals_per_hour, 20);
    assert_int_equal(c->limits.max_rollbacks_per_day, 0);
    assert_int_equal(c->limits.min_health_for_auto, 50);
    assert_true(c->limits.cooldown_minutes == 0.5);
    assert_true(c->limits.confirm_timeout_minutes == 15.0);
    assert_string_equal(c->http_listen, "[::1]:8080");
    assert_string_equal(c->token_file, "/run/healerd/token");
    assert_string_equal(c->metrics_namespace, "healer_test");
    /* protect.names = ["sshd", "postgres"] adds to sshd, systemd, healerd (sshd once) */
    assert_int_equal(c->n_protect_names, 4);
    assert_string_equal(c->protect_names[0], "sshd");
    assert_string_equal(c->protect_names[1], "systemd");
    assert_string_equal(c->protect_names[2], "healerd");
    assert_string_equal(c->protect_names[3], "postgres");
    assert_null(c->protect_names[4]);
    assert_int_equal(c->protect_min_uid, 500);
    assert_string_equal(c->scope_cgroup, "/user.slice");
    assert_int_equal(c->n_scope_uids, 2);
    assert_int_equal(c->scope_uids[0], 1000);
    assert_int_equal(c->scope_uids[1], 1001);
    assert_true(c->exploration == 0.25);

    const char **names = NULL;
    assert_int_equal(config_plugin_sections(c, &names), 3);
    assert_string_equal(names[0], "cpu");
    assert_string_equal(names[1], "disk");
    assert_string_equal(names[2], "my_plugin2");
    assert_int_equal(config_plugin_enabled(c, "cpu"), 0);
    assert_int_equal(config_plugin_enabled(c, "disk"), 1);      /* key absent */
    assert_int_equal(config_plugin_enabled(c, "my_plugin2"), 1);
    assert_int_equal(config_plugin_enabled(c, "network"), 1);   /* section absent */
    config_free(c);
}

static void test_partial_config_int_for_double(void **state)
{
    (void)state;
    config *c = load_good(fixture("good_partial.conf"));
    assert_true(c->interval == 10.0);   /* written as the int 10 */
    assert_string_equal(c->http_listen, "");
    assert_int_equal(c->limits.max_heals_per_hour, 10);
    assert_string_equal(c->state_dir, "/var/lib/healerd");
    config_free(c);
}

/* The installed default config says "every key shown has its default value": it must load
 * and equal what an empty file gives. */
static void test_installed_config_matches_defaults(void **state)
{
    (void)state;
    /* The installed file is etc/healerd.conf with the prefix's plugin_dir written in by CMake
     * (build/etc/healerd.conf): only under ctest. */
    const char *build = getenv("BUILD");
    if (!build || !*build)
        skip();
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/etc/healerd.conf", build);
    config *c = load_good(path);
    /* Issue #10: it ships in dry-run (the one value that is not the built-in default). */
    assert_int_equal(c->dry_run, 1);
    c->dry_run = 0;
    assert_defaults(c);
    const char **names = NULL;
    size_t n = config_plugin_sections(c, &names);
    assert_int_equal(n, 7);
    const char *expect[] = {"cpu", "thermal", "memory", "disk", "nixconfig", "service", "network"};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], expect[i]);
        assert_int_equal(config_plugin_enabled(c, names[i]), 1);
    }
    config_free(c);
}

/* build/healerd.conf, generated by CMake: only when the test runs under ctest. */
static void test_dev_config_loads(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    if (!build || !*build)
        skip();
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/healerd.conf", build);
    if (access(path, R_OK) != 0)
        skip();
    config *c = load_good(path);
    assert_int_equal(c->dry_run, 1);
    assert_true(c->plugin_dir[0] == '/');
    assert_string_equal(c->http_listen, "127.0.0.1:9191");
    config_free(c);
}

static void test_listen_good_values(void **state)
{
    (void)state;
    const char *good[] = {"", "127.0.0.1:0", "0.0.0.0:65535", "[::1]:9191", "[::]:80",
                          "10.1.2.3:443"};
    /* Off loopback needs allow_remote and a token (test_config_http.c has the refusals). */
    char tok[PATH_MAX];
    snprintf(tok, sizeof tok, "%s", write_conf("t0ken\n"));
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[PATH_MAX + 256];
        snprintf(text, sizeof text, "http = { listen = \"%s\"; allow_remote = true; "
                 "token_file = \"%s\"; };\n", good[i], tok);
        config *c = load_good(write_conf(text));
        assert_string_equal(c->http_listen, good[i]);
        config_free(c);
    }
}

static void test_namespace_good_values(void **state)
{
    (void)state;
    const char *good[] = {"_x9", "A", "luminous_nix", "healer2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "metrics = { namespace = \"%s\"; };\n", good[i]);
        config *c = load_good(write_conf(text));
        assert_string_equal(c->metrics_namespace, good[i]);
        config_free(c);
    }
}

static void test_ranges_edges_accepted(void **state)
{
    (void)state;
    config *c = load_good(write_conf(
        "agent = { interval = 86400; queue_limit = 10; action_timeout = 0.001; };\n"
        "limits = { max_heals_per_hour = 0; min_health_for_auto = 100; cooldown_minutes = 0;\n"
        "  max_rollbacks_per_day = 1000; };\n"
        "protect = { names = []; replace_default_names = true; min_uid = 0; };\n"
        "scope = { uids = (0); };\n"
        "planner = { exploration = 1; };\n"));
    assert_true(c->interval == 86400.0);
    assert_int_equal(c->bus_hwm, 10);
    assert_int_equal(c->limits.max_heals_per_hour, 0);
    assert_int_equal(c->limits.min_health_for_auto, 100);
    assert_true(c->limits.cooldown_minutes == 0.0);
    assert_int_equal(c->n_protect_names, 0);
    assert_int_equal(c->protect_min_uid, 0);
    assert_int_equal(c->n_scope_uids, 1);
    assert_int_equal(c->scope_uids[0], 0);
    assert_true(c->exploration == 1.0);
    config_free(c);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_unknown_key(void **state)
{
    (void)state;
    diags ds;
    assert_int_equal(load_bad("agent = {\n  mode = \"live\";\n  intervall = 5;\n};\n", &ds), 1);
    assert_diag(&ds, 3, "agent.intervall", "unknown key");
    assert_true(strstr(ds.e[0].file, "/t") != NULL);   /* the file we wrote */
}

static void test_unknown_section(void **state)
{
    (void)state;
    diags ds;
    assert_int_equal(load_bad("agent = { };\n\nagnet = { mode = \"live\"; };\n", &ds), 1);
    assert_diag(&ds, 3, "agnet", "unknown section");
    /* A top-level scalar is not a section either. */
    assert_int_equal(load_bad("# comment\nloglevel = \"debug\";\n", &ds), 1);
    assert_diag(&ds, 2, "loglevel", "unknown section");
}

static void test_wrong_types(void **state)
{
    (void)state;
    diags ds;
    const char *text =
        "agent = {\n"
        "  interval = \"5\";\n"              /* 2 */
        "  plugin_check_owner = 1;\n"        /* 3 */
        "  queue_limit = 100.0;\n"           /* 4 */
        "  state_dir = 5;\n"                 /* 5 */
        "};\n"
        "limits = 3;\n"                      /* 7 */
        "protect = { names = \"sshd\"; };\n" /* 8 */
        "scope = { uids = [\"root\"]; };\n"  /* 9 */
        "http = { listen = 9191; };\n";      /* 10 */
    assert_int_equal(load_bad(text, &ds), 8);
    assert_diag(&ds, 2, "agent.interval:", "expected a number, got a string");
    assert_diag(&ds, 3, "agent.plugin_check_owner:", "expected a bool");
    assert_diag(&ds, 4, "agent.queue_limit:", "expected an integer, got a float");
    assert_diag(&ds, 5, "agent.state_dir:", "expected a string");
    assert_diag(&ds, 7, "limits:", "expected a group");
    assert_diag(&ds, 8, "protect.names:", "expected a list");
    assert_diag(&ds, 9, "scope.uids[0]:", "expected an integer");
    assert_diag(&ds, 10, "http.listen:", "expected a string");
}

static void test_out_of_range(void **state)
{
    (void)state;
    diags ds;
    const char *text =
        "limits = {\n"
        "  cooldown_minutes = -1;\n"           /* 2 */
        "  max_heals_per_hour = 100001;\n"     /* 3 */
        "  confirm_timeout_minutes = 0;\n"     /* 4 */
        "};\n"
        "agent = {\n"
        "  interval = 86400.5;\n"              /* 7 */
        "  queue_limit = 9;\n"                 /* 8 */
        "  action_timeout = 0;\n"              /* 9 */
        "};\n"
        "planner = { exploration = 1.5; };\n"  /* 11 */
        "protect = { min_uid = -5; };\n"       /* 12 */
        "scope = { uids = [1000, -1]; };\n";   /* 13 */
    assert_int_equal(load_bad(text, &ds), 9);
    /* The exact wording the brief promises. */
    assert_diag(&ds, 2, "limits.cooldown_minutes: must be between 0 and 525600, got -1", NULL);
    assert_diag(&ds, 3, "limits.max_heals_per_hour:", "got 100001");
    assert_diag(&ds, 4, "limits.confirm_timeout_minutes: must be > 0 and <= 525600", "got 0");
    assert_diag(&ds, 7, "agent.interval: must be between 0.01 and 86400", "got 86400.5");
    assert_diag(&ds, 8, "agent.queue_limit: must be between 10 and 1000000", "got 9");
    assert_diag(&ds, 9, "agent.action_timeout: must be between 0.001 and 86400", NULL);
    assert_diag(&ds, 11, "planner.exploration: must be between 0 and 1", "got 1.5");
    assert_diag(&ds, 12, "protect.min_uid:", "got -5");
    assert_diag(&ds, 13, "scope.uids[1]:", "got -1");
}

static void test_bad_strings(void **state)
{
    (void)state;
    diags ds;
    const char *text =
        "agent = {\n"
        "  mode = \"Live\";\n"              /* 2 */
        "  log_level = \"verbose\";\n"      /* 3 */
        "  proc_root = \"proc\";\n"         /* 4 */
        "  sys_root = \"\";\n"              /* 5 */
        "  log_format = \"yaml\";\n"       /* 6 */
        "};\n"
        "scope = { cgroup = \"user.slice\"; };\n"; /* 8 */
    assert_int_equal(load_bad(text, &ds), 6);
    assert_diag(&ds, 2, "agent.mode:", "\"Live\"");
    assert_diag(&ds, 3, "agent.log_level:", "\"verbose\"");
    assert_diag(&ds, 4, "agent.proc_root: must be an absolute path", "\"proc\"");
    assert_diag(&ds, 5, "agent.sys_root: must be an absolute path", NULL);
    assert_diag(&ds, 6, "agent.log_format: must be \"text\" or \"json\"", "\"yaml\"");
    assert_diag(&ds, 8, "scope.cgroup:", "\"user.slice\"");
}

static void test_bad_listen(void **state)
{
    (void)state;
    const char *bad[] = {"127.0.0.1:65536", "127.0.0.1", "127.0.0.1:", "127.0.0.1:80x",
                         ":80", "localhost:80", "::1:80", "[::1]80", "[::1]:", "[nope]:80",
                         "256.1.1.1:80", "127.0.0.1:-1", "127.0.0.1:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "# bad listen\nhttp = {\n  listen = \"%s\";\n};\n", bad[i]);
        diags ds;
        assert_int_equal(load_bad(text, &ds), 1);
        assert_diag(&ds, 3, "http.listen:", bad[i]);
    }
}

static void test_bad_namespace(void **state)
{
    (void)state;
    const char *bad[] = {"", "9lives", "luminous-nix", "a b", "caf\xc3\xa9", "x:y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "\nmetrics = { namespace = \"%s\"; };\n", bad[i]);
        diags ds;
        assert_int_equal(load_bad(text, &ds), 1);
        assert_diag(&ds, 2, "metrics.namespace:", "[a-zA-Z_][a-zA-Z0-9_]*");
    }
}

static void test_syntax_error(void **state)
{
    (void)state;
    diags ds = {0};
    diag d = {collect, &ds, 0};
    config *cfg = NULL;
    assert_int_equal(config_load(fixture("bad_syntax.conf"), &cfg, &d), 1);
    assert_null(cfg);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.e[0].line, 3);
    assert_string_equal(ds.e[0].file, fixture("bad_syntax.conf"));
    assert_non_null(strstr(ds.e[0].msg, "syntax error"));

    /* libconfig's own checks (a duplicate name) come with their line too. */
    assert_int_equal(load_bad("agent = {\n  mode = \"live\";\n  mode = \"live\";\n};\n", &ds), 1);
    assert_int_equal(ds.e[0].line, 3);
    assert_non_null(strstr(ds.e[0].msg, "duplicate"));
}

/* libconfig 1.5's flex scanner calls exit() when it reads a directory (an @include of "" names
 * the include directory) and mis-reads NUL bytes: such files are refused before libconfig sees
 * them, with the file and line, and the process lives (found by fuzz_config). */
static void test_hostile_includes_and_nul(void **state)
{
    (void)state;
    diags ds;
    assert_int_equal(load_bad("agent = { };\n@include \"\"\n", &ds), 1);
    assert_int_equal(ds.e[0].line, 2);
    assert_non_null(strstr(ds.e[0].msg, "@include \"\""));

    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "@include \"%s\"\n", g_tmpdir);
    assert_int_equal(load_bad(text, &ds), 1);
    assert_int_equal(ds.e[0].line, 1);
    assert_non_null(strstr(ds.e[0].msg, "Is a directory"));

    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/fifo", g_tmpdir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(text, sizeof text, "# c\n\n  @include \"fifo\"\n");  /* relative, and no writer */
    assert_int_equal(load_bad(text, &ds), 1);
    assert_int_equal(ds.e[0].line, 3);
    assert_non_null(strstr(ds.e[0].msg, "not a regular file"));
    unlink(fifo);

    assert_int_equal(load_bad("@include \"/dev/zero\"\n", &ds), 1);
    assert_non_null(strstr(ds.e[0].msg, "not a regular file"));
    assert_int_equal(load_bad("@include \"no-such.inc\"\n", &ds), 1);
    assert_non_null(strstr(ds.e[0].msg, "No such file or directory"));

    /* a NUL byte: the fuzzer's input had one inside the include name */
    static const char nul[] = "agent = { };\n@include \"\0\037x\"\n";
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/nul.conf", g_tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(nul, 1, sizeof nul - 1, f), sizeof nul - 1);
    assert_int_equal(fclose(f), 0);
    memset(&ds, 0, sizeof ds);
    diag d = {collect, &ds, 0};
    config *cfg = (config *)0x1;
    assert_int_equal(config_load(path, &cfg, &d), 1);
    assert_null(cfg);
    assert_string_equal(ds.e[0].file, path);
    assert_int_equal(ds.e[0].line, 2);
    assert_non_null(strstr(ds.e[0].msg, "NUL byte"));
}

static void test_missing_and_unreadable(void **state)
{
    (void)state;
    diags ds = {0};
    diag d = {collect, &ds, 0};
    config *cfg = (config *)0x1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/does-not-exist.conf", g_tmpdir);
    assert_int_equal(config_load(path, &cfg, &d), 1);
    assert_null(cfg);
    assert_int_equal(ds.n, 1);
    assert_string_equal(ds.e[0].file, path);
    assert_int_equal(ds.e[0].line, 0);
    assert_string_equal(ds.e[0].msg, "cannot read: No such file or directory");

    ds.n = 0;
    assert_int_equal(config_load(g_tmpdir, &cfg, &d), 1);   /* a directory */
    assert_string_equal(ds.e[0].msg, "cannot read: Is a directory");

    if (geteuid() != 0) {   /* root reads anything */
        const char *p = write_conf("agent = { };\n");
        assert_int_equal(chmod(p, 0), 0);
        ds.n = 0;
        assert_int_equal(config_load(p, &cfg, &d), 1);
        assert_string_equal(ds.e[0].msg, "cannot read: Permission denied");
    }
}

static void test_multiple_errors_all_reported(void **state)
{
    (void)state;
    diags ds = {0};
    diag d = {collect, &ds, 0};
    config *cfg = NULL;
    int n = config_load(fixture("bad_multi.conf"), &cfg, &d);
    assert_null(cfg);
    if (n != 13)
        dump(&ds);
    assert_int_equal(n, 13);
    assert_int_equal(d.count, 13);
    assert_diag(&ds, 3, "agent.mode", NULL);
    assert_diag(&ds, 4, "agent.interval", NULL);
    assert_diag(&ds, 5, "agent.plugin_dir", NULL);
    assert_diag(&ds, 6, "agent.log_level", NULL);
    assert_diag(&ds, 7, "agent.queue_limit", NULL);
    assert_diag(&ds, 10, "limits.cooldown_minutes: must be between 0 and 525600, got -1", NULL);
    assert_diag(&ds, 12, "limits.min_health_for_auto", NULL);
    assert_diag(&ds, 13, "limits.retries", "unknown key");
    assert_diag(&ds, 15, "http.listen", "70000");
    assert_diag(&ds, 16, "metrics.namespace", NULL);
    assert_diag(&ds, 17, "extras", "unknown section");
    assert_diag(&ds, 19, "protect.names[1]", "empty");
    assert_diag(&ds, 23, "plugins.BadName", "[a-z0-9_]+");
    for (int i = 0; i < ds.n; i++)
        assert_string_equal(ds.e[i].file, fixture("bad_multi.conf"));
}

static void test_include_reports_included_file(void **state)
{
    (void)state;
    diags ds = {0};
    diag d = {collect, &ds, 0};
    config *cfg = NULL;
    assert_int_equal(config_load(fixture("bad_include.conf"), &cfg, &d), 1);
    assert_int_equal(ds.n, 1);
    assert_string_equal(ds.e[0].file, fixture("included_bad.inc"));
    assert_int_equal(ds.e[0].line, 2);
    assert_non_null(strstr(ds.e[0].msg, "limits.max_rollbacks_per_day"));

    /* A syntax error inside an included file: that file and its line. */
    memset(&ds, 0, sizeof ds);
    assert_int_equal(config_load(fixture("bad_include_syntax.conf"), &cfg, &d), 1);
    assert_null(cfg);
    assert_string_equal(ds.e[0].file, fixture("included_syntax.inc"));
    assert_int_equal(ds.e[0].line, 3);
    assert_non_null(strstr(ds.e[0].msg, "syntax error"));
}

static void test_plugin_sections_checked(void **state)
{
    (void)state;
    diags ds;
    const char *text =
        "plugins = {\n"
        "  cpu = { enabled = \"yes\"; };\n"   /* 2 */
        "  disk = 5;\n"                       /* 3 */
        "  Net = { };\n"                      /* 4 */
        "};\n";
    assert_int_equal(load_bad(text, &ds), 3);
    assert_diag(&ds, 2, "plugins.cpu.enabled:", "expected a bool");
    assert_diag(&ds, 3, "plugins.disk:", "expected a group");
    assert_diag(&ds, 4, "plugins.Net:", "[a-z0-9_]+");
    assert_int_equal(load_bad("plugins = ( );\n", &ds), 1);
    assert_diag(&ds, 1, "plugins:", "expected a group");
}

static void test_diag_without_emit_counts(void **state)
{
    (void)state;
    diag d = {NULL, NULL, 5};   /* counts add to what is there */
    config *cfg = NULL;
    assert_int_equal(config_load(fixture("bad_multi.conf"), &cfg, &d), 13);
    assert_int_equal(d.count, 18);
    assert_int_equal(config_load(fixture("bad_multi.conf"), &cfg, NULL), 13);
    assert_null(cfg);
    diag_report(NULL, "x", 1, "ignored");
    diag_report(&d, "x", 1, "%s %d", "counted", 1);
    assert_int_equal(d.count, 19);
    config_free(NULL);
}

/* ---- plugin sections against a schema ---------------------------------------------------- */

static const healer_config_key demo_schema[] = {
    {"threshold", HEALER_CFG_INT, "90", 0, 100, "percent"},
    {"ratio", HEALER_CFG_DOUBLE, "0.5", 0, 10, "a ratio"},
    {"label", HEALER_CFG_STRING, "default label", 0, 0, "free text"},
    {"paths", HEALER_CFG_STRING_LIST, "/a, /b ,/c", 0, 0, "paths"},
    {"verbose", HEALER_CFG_BOOL, "false", 0, 0, "chatty"},
    {"unbounded", HEALER_CFG_INT, "-7", 0, 0, "min == max: no range"},
    {"nodefault_s", HEALER_CFG_STRING, NULL, 0, 0, ""},
    {"nodefault_l", HEALER_CFG_STRING_LIST, NULL, 0, 0, ""},
    {"nodefault_d", HEALER_CFG_DOUBLE, NULL, 0, 0, ""},
    {NULL, 0, NULL, 0, 0, NULL},
};

static config *load_plugins_conf(void)
{
    return load_good(fixture("plugins.conf"));
}

static plugin_conf *resolve_ok(const config *c, const char *name, const healer_config_key *schema)
{
    diags ds = {0};
    diag d = {collect, &ds, 0};
    plugin_conf *pc = config_plugin_resolve(c, name, schema, &d);
    if (!pc)
        dump(&ds);
    assert_non_null(pc);
    assert_int_equal(d.count, 0);
    return pc;
}

static void test_resolve_defaults(void **state)
{
    (void)state;
    config *c = load_plugins_conf();
    plugin_conf *pc = resolve_ok(c, "absent", demo_schema);   /* no section at all */
    long long i;
    double dv;
    int b;
    const char *s;
    const char *const *items;
    size_t n;
    assert_int_equal(plugin_conf_int(pc, "threshold", &i), HEALER_OK);
    assert_int_equal(i, 90);
    assert_int_equal(plugin_conf_double(pc, "ratio", &dv), HEALER_OK);
    assert_true(dv == 0.5);
    assert_int_equal(plugin_conf_string(pc, "label", &s), HEALER_OK);
    assert_string_equal(s, "default label");
    assert_int_equal(plugin_conf_list(pc, "paths", &items, &n), HEALER_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "/a");
    assert_string_equal(items[1], "/b");
    assert_string_equal(items[2], "/c");
    assert_int_equal(plugin_conf_bool(pc, "verbose", &b), HEALER_OK);
    assert_int_equal(b, 0);
    assert_int_equal(plugin_conf_int(pc, "unbounded", &i), HEALER_OK);
    assert_int_equal(i, -7);
    assert_int_equal(plugin_conf_string(pc, "nodefault_s", &s), HEALER_OK);
    assert_string_equal(s, "");
    assert_int_equal(plugin_conf_list(pc, "nodefault_l", &items, &n), HEALER_OK);
    assert_int_equal(n, 0);
    assert_int_equal(plugin_conf_double(pc, "nodefault_d", &dv), HEALER_OK);
    assert_true(dv == 0.0);
    /* Implicit keys. */
    assert_int_equal(plugin_conf_bool(pc, "enabled", &b), HEALER_OK);
    assert_int_equal(b, 1);
    assert_true(plugin_conf_interval(pc) == 0.0);
    /* Not in the schema, or another type: NOTFOUND and a zero value. */
    i = 42;
    assert_int_equal(plugin_conf_int(pc, "nope", &i), HEALER_E_NOTFOUND);
    assert_int_equal(i, 0);
    assert_int_equal(plugin_conf_double(pc, "threshold", &dv), HEALER_E_NOTFOUND);
    s = "x";
    assert_int_equal(plugin_conf_string(pc, "paths", &s), HEALER_E_NOTFOUND);
    assert_null(s);
    assert_int_equal(plugin_conf_list(pc, "label", &items, &n), HEALER_E_NOTFOUND);
    assert_null(items);
    assert_int_equal(n, 0);
    assert_int_equal(plugin_conf_bool(pc, "ratio", &b), HEALER_E_NOTFOUND);
    assert_int_equal(plugin_conf_int(NULL, "threshold", &i), HEALER_E_NOTFOUND);
    plugin_conf_free(pc);
    plugin_conf_free(NULL);
    config_free(c);
}

static void test_resolve_from_file_outlives_config(void **state)
{
    (void)state;
    config *c = load_plugins_conf();
    plugin_conf *pc = resolve_ok(c, "demo", demo_schema);
    /* The resolved values must not point into libconfig's memory. */
    config_free(c);
    long long i;
    double dv;
    int b;
    const char *s;
    const char *const *items;
    size_t n;
    assert_int_equal(plugin_conf_int(pc, "threshold", &i), HEALER_OK);
    assert_int_equal(i, 7);
    assert_int_equal(plugin_conf_double(pc, "ratio", &dv), HEALER_OK);
    assert_true(dv == 3.0);   /* an int in the file for a double */
    assert_int_equal(plugin_conf_string(pc, "label", &s), HEALER_OK);
    assert_string_equal(s, "from-file");
    assert_int_equal(plugin_conf_list(pc, "paths", &items, &n), HEALER_OK);
    assert_int_equal(n, 2);
    assert_string_equal(items[0], "/var/log");
    assert_string_equal(items[1], "/tmp");
    assert_null(items[2]);
    assert_int_equal(plugin_conf_bool(pc, "verbose", &b), HEALER_OK);
    assert_int_equal(b, 1);
    assert_true(plugin_conf_interval(pc) == 2.0);
    assert_int_equal(plugin_conf_double(pc, "interval", &dv), HEALER_OK);
    assert_true(dv == 2.0);
    plugin_conf_free(pc);
}

static void test_resolve_range_errors(void **state)
{
    (void)state;
    config *c = load_plugins_conf();
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "ranged", demo_schema, &d));
    assert_int_equal(d.count, 2);
    /* plugins.conf: ranged is at lines 13-16. */
    assert_diag(&ds, 14, "plugins.ranged.threshold: must be between 0 and 100", "got 1000");
    assert_diag(&ds, 15, "plugins.ranged.ratio: must be between 0 and 10", "got -0.5");
    assert_string_equal(ds.e[0].file, fixture("plugins.conf"));
    config_free(c);
}

static void test_resolve_unknown_key(void **state)
{
    (void)state;
    config *c = load_plugins_conf();
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "typo", demo_schema, &d));
    assert_int_equal(d.count, 1);
    assert_diag(&ds, 18, "plugins.typo.threshhold", "unknown key");
    assert_non_null(strstr(ds.e[0].msg, "threshold"));   /* lists the known keys */

    /* No schema: only enabled and interval are allowed. */
    memset(&ds, 0, sizeof ds);
    d.count = 0;
    assert_null(config_plugin_resolve(c, "demo", NULL, &d));
    assert_int_equal(d.count, 5);
    assert_diag(&ds, 7, "plugins.demo.threshold", "unknown key");
    plugin_conf *pc = resolve_ok(c, "off", NULL);
    int b = 1;
    assert_int_equal(plugin_conf_bool(pc, "enabled", &b), HEALER_OK);
    assert_int_equal(b, 0);
    plugin_conf_free(pc);
    config_free(c);
}

static void test_resolve_wrong_types(void **state)
{
    (void)state;
    config *c = load_plugins_conf();
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "wrongtype", demo_schema, &d));
    if (d.count != 6)
        dump(&ds);
    assert_int_equal(d.count, 6);
    assert_diag(&ds, 21, "plugins.wrongtype.threshold", "expected an integer, got a string");
    assert_diag(&ds, 22, "plugins.wrongtype.ratio", "expected a number, got a bool");
    assert_diag(&ds, 23, "plugins.wrongtype.label", "expected a string");
    assert_diag(&ds, 24, "plugins.wrongtype.paths", "expected a list");
    assert_diag(&ds, 25, "plugins.wrongtype.verbose", "expected a bool");
    assert_diag(&ds, 26, "plugins.wrongtype.interval: must be between 0.01 and 86400 seconds", NULL);
    config_free(c);
}

static void test_resolve_bad_schema(void **state)
{
    (void)state;
    static const healer_config_key bad[] = {
        {"count", HEALER_CFG_INT, "ten", 0, 0, ""},
        {"ratio", HEALER_CFG_DOUBLE, "1.5x", 0, 0, ""},
        {"flag", HEALER_CFG_BOOL, "maybe", 0, 0, ""},
        {"pct", HEALER_CFG_INT, "150", 0, 100, ""},
        {"count", HEALER_CFG_INT, "1", 0, 0, ""},
        {"enabled", HEALER_CFG_STRING, "x", 0, 0, ""},
        {"weird", (healer_config_type)99, "x", 0, 0, ""},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    config *c = load_plugins_conf();
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "demo", bad, &d));
    /* 7 schema problems, plus demo's own keys now unknown to this schema (5 of 7). */
    int schema_problems = 0;
    for (int i = 0; i < ds.n; i++)
        if (strstr(ds.e[i].msg, "schema")) {
            schema_problems++;
            assert_non_null(strstr(ds.e[i].msg, "plugin demo"));
            assert_int_equal(ds.e[i].line, 4);   /* the section's line */
        }
    if (schema_problems != 7)
        dump(&ds);
    assert_int_equal(schema_problems, 7);
    assert_non_null(find_diag(&ds, 4, "\"count\"", "bad default_value \"ten\""));
    assert_non_null(find_diag(&ds, 4, "\"ratio\"", "\"1.5x\""));
    assert_non_null(find_diag(&ds, 4, "\"flag\"", "\"maybe\""));
    assert_non_null(find_diag(&ds, 4, "\"pct\"", "outside [0, 100]"));
    assert_non_null(find_diag(&ds, 4, "\"count\"", "twice"));
    assert_non_null(find_diag(&ds, 4, "\"enabled\"", "implicit"));
    assert_non_null(find_diag(&ds, 4, "\"weird\"", "unknown type"));

    /* No section: the schema's problem is reported against the file, line 0. */
    memset(&ds, 0, sizeof ds);
    d.count = 0;
    assert_null(config_plugin_resolve(c, "absent", bad + 3, &d));
    assert_int_equal(ds.e[0].line, 0);
    assert_string_equal(ds.e[0].file, fixture("plugins.conf"));
    config_free(c);
}

static void test_resolve_without_config(void **state)
{
    (void)state;
    /* The mock host resolves defaults with no config at all. */
    plugin_conf *pc = resolve_ok(NULL, "demo", demo_schema);
    long long i;
    assert_int_equal(plugin_conf_int(pc, "threshold", &i), HEALER_OK);
    assert_int_equal(i, 90);
    plugin_conf_free(pc);
}

/* A schema that declares an implicit key itself (same type) keeps its own default. */
/* A schema may not redeclare an implicit key (plugin.h; the mock host refuses it too, with the
 * same rule from rules.c): the section's interval, enabled and policy keys are the operator's. */
static void test_resolve_schema_declares_interval(void **state)
{
    (void)state;
    static const healer_config_key k[] = {
        {"interval", HEALER_CFG_DOUBLE, "30", 1, 3600, "seconds"},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    static const healer_config_key k2[] = {
        {"allow_auto", HEALER_CFG_BOOL, "true", 0, 0, "sneaky"},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    config *c = load_good(write_conf("plugins = {\n  p = { };\n  q = { interval = 7200; };\n};\n"));
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "p", k, &d));
    assert_diag(&ds, 2, "plugins.p: plugin p's schema: key \"interval\" is reserved", NULL);
    memset(&ds, 0, sizeof ds);
    d.count = 0;
    assert_null(config_plugin_resolve(c, "p", k2, &d));
    assert_diag(&ds, 2, "key \"allow_auto\" is reserved", NULL);
    /* Without the redeclaration the section's interval is read as the implicit key. */
    plugin_conf *pc = resolve_ok(c, "q", NULL);
    assert_true(plugin_conf_interval(pc) == 7200.0);
    plugin_conf_free(pc);
    config_free(c);
}

/* libconfig 1.5 stores 4294967296 as 0: the value read must be the one written, so these are
 * refused, not turned into "protect nothing" and "never heal". */
static void test_integers_beyond_32_bits(void **state)
{
    (void)state;
    diags ds;
    assert_int_equal(load_bad("protect = { min_uid = 4294967296; };\n"
                              "limits = {\n"
                              "  max_heals_per_hour = 4294967296;\n"
                              "  max_rollbacks_per_day = -4294967295;\n"
                              "};\n"
                              "agent = { queue_limit = 0x100000010; max_open_issues = 99999999999999999999; };\n"
                              "scope = { uids = [0, 4294967296]; };\n", &ds), 6);
    assert_diag(&ds, 1, "protect.min_uid: must be between 0 and 4294967294", "got 4294967296");
    assert_diag(&ds, 3, "limits.max_heals_per_hour: must be between 0 and 100000",
                "got 4294967296");
    assert_diag(&ds, 4, "limits.max_rollbacks_per_day", "got -4294967295");
    assert_diag(&ds, 6, "agent.queue_limit", "got 4294967312");
    assert_diag(&ds, 6, "agent.max_open_issues", "beyond 64 bits");
    assert_diag(&ds, 7, "scope.uids[1]: must be between 0 and 4294967294", "got 4294967296");

    /* uids past 2^31 are uids: read exactly, with or without L, several on a line, and
     * after an @include and comments holding numbers */
    const char *inc = write_conf("# 4294967296 in a comment\nplanner = { exploration = 0.5; };\n");
    char text[2048];
    snprintf(text, sizeof text,
             "/* 1 2 3 */ protect = { min_uid = 3000000000; }; // 5\n"
             "@include \"%s\"\n"
             "scope = { uids = (1, 4294967294, 2147483648L, 0x80000000); };\n"
             "agent = { log_level = \"debug\"; queue_limit = 2000; };\n", strrchr(inc, '/') + 1);
    config *c = load_good(write_conf(text));
    assert_int_equal(c->protect_min_uid, 3000000000u);
    assert_int_equal(c->n_scope_uids, 4);
    assert_int_equal(c->scope_uids[0], 1);
    assert_int_equal(c->scope_uids[1], 4294967294u);
    assert_int_equal(c->scope_uids[2], 2147483648u);
    assert_int_equal(c->scope_uids[3], 2147483648u);
    assert_int_equal(c->bus_hwm, 2000);
    config_free(c);
}

/* The busy loop and the never-expiring wait of the issue: refused with FILE:LINE. */
static void test_interval_and_timeout_bounds(void **state)
{
    (void)state;
    diags ds;
    assert_int_equal(load_bad("agent = {\n"
                              "  interval = 1e-300;\n"
                              "  action_timeout = 1e400;\n"
                              "};\n"
                              "limits = { confirm_timeout_minutes = 1e308;\n"
                              "  cooldown_minutes = 1e300; };\n", &ds), 4);
    assert_diag(&ds, 2, "agent.interval: must be between 0.01 and 86400", "got 1e-300");
    assert_diag(&ds, 3, "agent.action_timeout: must be between 0.001 and 86400", NULL);
    assert_diag(&ds, 5, "limits.confirm_timeout_minutes: must be > 0 and <= 525600", "1e+308");
    assert_diag(&ds, 6, "limits.cooldown_minutes: must be between 0 and 525600", NULL);

    config *c = load_good(write_conf("agent = { interval = 0.01; };\n"
                                     "limits = { confirm_timeout_minutes = 525600; };\n"
                                     "plugins = { p = { interval = 0.01; }; };\n"));
    diags pd = {0};
    diag d = {collect, &pd, 0};
    plugin_conf *pc = config_plugin_resolve(c, "p", NULL, &d);
    assert_non_null(pc);
    assert_true(plugin_conf_interval(pc) == 0.01);
    plugin_conf_free(pc);
    config_free(c);

    c = load_good(write_conf("plugins = {\n"
                             "  cpu = { interval = 0.000001; };\n"
                             "  big = { interval = 86401; };\n"
                             "  inf = { nodefault_d = 1e400; unbounded = 9223372036854775808; };\n"
                             "};\n"));
    memset(&pd, 0, sizeof pd);
    d.count = 0;
    assert_null(config_plugin_resolve(c, "cpu", NULL, &d));
    assert_diag(&pd, 2, "plugins.cpu.interval: must be between 0.01 and 86400 seconds", "1e-06");
    assert_null(config_plugin_resolve(c, "big", NULL, &d));
    assert_diag(&pd, 3, "plugins.big.interval", "got 86401");
    assert_null(config_plugin_resolve(c, "inf", demo_schema, &d));
    assert_diag(&pd, 4, "plugins.inf.nodefault_d: must be a finite number", NULL);
    assert_diag(&pd, 4, "plugins.inf.unbounded: the number does not fit in 64 bits", NULL);
    config_free(c);
}

/* protect.names adds; replace_default_names = true replaces, wherever it stands. */
static void test_protect_names_add(void **state)
{
    (void)state;
    config *c = load_good(write_conf("protect = { names = [\"postgres\"]; };\n"));
    assert_int_equal(c->n_protect_names, 4);
    assert_string_equal(c->protect_names[0], "sshd");
    assert_string_equal(c->protect_names[1], "systemd");
    assert_string_equal(c->protect_names[2], "healerd");
    assert_string_equal(c->protect_names[3], "postgres");
    config_free(c);

    c = load_good(write_conf("protect = { names = [\"postgres\"]; replace_default_names = true; };\n"));
    assert_int_equal(c->n_protect_names, 1);
    assert_string_equal(c->protect_names[0], "postgres");
    assert_null(c->protect_names[1]);
    config_free(c);

    c = load_good(write_conf("protect = { replace_default_names = false; };\n"));
    assert_int_equal(c->n_protect_names, 3);
    config_free(c);

    diags ds;
    assert_int_equal(load_bad("protect = { replace_default_names = 1; };\n", &ds), 1);
    assert_diag(&ds, 1, "protect.replace_default_names: expected a bool", NULL);
}

/* Issue #10: the login range comes from login.defs; protect.min_uid, when set, moves its lower
 * end; the built-in range when the file is missing. */
static void test_login_range(void **state)
{
    (void)state;
    char defs[PATH_MAX];
    snprintf(defs, sizeof defs, "%s/login.defs", g_tmpdir);
    FILE *f = fopen(defs, "w");
    assert_non_null(f);
    fputs("# shadow\nUID_MIN\t\t\t 500\nUID_MAX  30000  # site\nSYS_UID_MAX 499\nUID_MIN x\n", f);
    assert_int_equal(fclose(f), 0);
    config_set_login_defs(defs);
    config *c = load_good(write_conf("agent = { mode = \"live\"; };\n"));
    assert_int_equal(c->protect_min_uid, 500);
    assert_int_equal(c->protect_max_uid, 30000);
    config_free(c);
    c = load_good(write_conf("protect = { min_uid = 2000; };\n"));
    assert_int_equal(c->protect_min_uid, 2000);
    assert_int_equal(c->protect_max_uid, 30000);
    config_free(c);
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/no-login.defs", g_tmpdir);
    config_set_login_defs(missing);
    c = load_good(write_conf("agent = { mode = \"live\"; };\n"));
    assert_int_equal(c->protect_min_uid, 1000);
    assert_int_equal(c->protect_max_uid, 60000);
    config_free(c);
    config_set_login_defs(NULL);
}

/* plugins.<name>.mode: "live" or "dry-run", anything else is FILE:LINE. */
static void test_plugin_mode(void **state)
{
    (void)state;
    config *c = load_good(write_conf("plugins = {\n  a = { mode = \"dry-run\"; };\n"
                                      "  b = { mode = \"live\"; };\n  d = { mode = \"Live\"; };\n};\n"));
    plugin_conf *pc = resolve_ok(c, "a", demo_schema);
    const char *s;
    assert_int_equal(plugin_conf_string(pc, "mode", &s), HEALER_OK);
    assert_string_equal(s, "dry-run");
    plugin_conf_free(pc);
    pc = resolve_ok(c, "c", demo_schema);   /* no section: the agent's mode */
    assert_int_equal(plugin_conf_string(pc, "mode", &s), HEALER_OK);
    assert_string_equal(s, "");
    plugin_conf_free(pc);
    diags ds = {0};
    diag d = {collect, &ds, 0};
    assert_null(config_plugin_resolve(c, "d", demo_schema, &d));
    assert_diag(&ds, 4, "plugins.d.mode: must be \"live\" or \"dry-run\"", "got \"Live\"");
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file_gives_defaults),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_partial_config_int_for_double),
        cmocka_unit_test(test_installed_config_matches_defaults),
        cmocka_unit_test(test_dev_config_loads),
        cmocka_unit_test(test_listen_good_values),
        cmocka_unit_test(test_namespace_good_values),
        cmocka_unit_test(test_ranges_edges_accepted),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_unknown_section),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_listen),
        cmocka_unit_test(test_bad_namespace),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_missing_and_unreadable),
        cmocka_unit_test(test_multiple_errors_all_reported),
        cmocka_unit_test(test_include_reports_included_file),
        cmocka_unit_test(test_plugin_sections_checked),
        cmocka_unit_test(test_diag_without_emit_counts),
        cmocka_unit_test(test_resolve_defaults),
        cmocka_unit_test(test_resolve_from_file_outlives_config),
        cmocka_unit_test(test_resolve_range_errors),
        cmocka_unit_test(test_resolve_unknown_key),
        cmocka_unit_test(test_resolve_wrong_types),
        cmocka_unit_test(test_resolve_bad_schema),
        cmocka_unit_test(test_resolve_without_config),
        cmocka_unit_test(test_resolve_schema_declares_interval),
        cmocka_unit_test(test_integers_beyond_32_bits),
        cmocka_unit_test(test_hostile_includes_and_nul),
        cmocka_unit_test(test_interval_and_timeout_bounds),
        cmocka_unit_test(test_protect_names_add),
        cmocka_unit_test(test_login_range),
        cmocka_unit_test(test_plugin_mode),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
