/* test_nixconfig.c — the nixconfig plugin through the mock host, with the REAL nix-instantiate
 * (the mock runs probe_run for real): detection with file:line:column, each syntax fix found,
 * validated and written only through act_write_file after a backup, files it must not fix,
 * imports, re-validation only on change, the parser-output reader, generations and the
 * per-user profile refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <healer/mock.h>

#include "../nixconfig.h"
#include "../nixconfig_int.h"

const healer_plugin *healer_plugin_entry_v1(void);

typedef struct fx {
    char dir[PATH_MAX];
    char cfg[PATH_MAX + 32];
    healer_mock *m;
} fx;

static const char *fixtures(void)
{
    static char p[PATH_MAX];
    const char *src = getenv("SRC");
    snprintf(p, sizeof p, "%s/tests/fixtures/nix", src && *src ? src : "../..");
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static char *slurp_fixture(const char *name)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", fixtures(), name);
    char *t = slurp(p);
    assert_non_null(t);
    return t;
}

/* The directory part of path (a static copy). */
static const char *dirname_of(const char *path)
{
    static char d[PATH_MAX + 64];
    snprintf(d, sizeof d, "%s", path);
    char *s = strrchr(d, '/');
    if (s)
        *s = '\0';
    return d;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_fixture(fx *f, const char *name, const char *as)
{
    char from[PATH_MAX + 64], to[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/%s", fixtures(), name);
    snprintf(to, sizeof to, "%s/etc/%s", f->dir, as);
    char *t = slurp(from);
    assert_non_null(t);
    put(to, t);
    free(t);
}

/* 1 when text parses with the real nix-instantiate. */
static int parses(fx *f, const char *text)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/check.nix", f->dir);
    put(p, text);
    /* The real parser, as argv without a shell. */
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("nix-instantiate", "nix-instantiate", "--parse", p, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void new_mock(fx *f);

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/nixconfig-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/etc", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(f->cfg, sizeof f->cfg, "%s/etc/configuration.nix", f->dir);
    new_mock(f);
    *state = f;
    return 0;
}

/* A mock host with the plugin loaded and configured in f->dir (setup, and a "restart"). */
static void new_mock(fx *f)
{
    f->m = healer_mock_new(NULL, NULL);
    assert_non_null(f->m);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    char b[PATH_MAX + 32];
    assert_int_equal(healer_mock_set_string(f->m, "config_file", f->cfg), HEALER_OK);
    snprintf(b, sizeof b, "%s/backups", f->dir);
    assert_int_equal(healer_mock_set_string(f->m, "backup_dir", b), HEALER_OK);
    snprintf(b, sizeof b, "%s/state/generations", f->dir);
    assert_int_equal(healer_mock_set_string(f->m, "state_file", b), HEALER_OK);
    snprintf(b, sizeof b, "%s/profiles/system", f->dir);
    assert_int_equal(healer_mock_set_string(f->m, "profile", b), HEALER_OK);
    snprintf(b, sizeof b, "%s/status", f->dir);
    assert_int_equal(healer_mock_set_string(f->m, "status_file", b), HEALER_OK);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int teardown(void **state)
{
    fx *f = *state;
    healer_mock_free(f->m);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Detects on the fixture, plans, executes; returns the fixed content written (owned by the
 * caller) or NULL when no fix was offered. */
static char *run_fix(fx *f, const char *fixture, int want_line, int want_col)
{
    copy_fixture(f, fixture, "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_string_equal(is->target, f->cfg);
    assert_int_equal(is->severity, HEALER_SEV_HIGH);
    double line = 0, col = 0;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "error_line",
                                        &line));
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "error_column",
                                        &col));
    assert_int_equal((int)line, want_line);
    assert_int_equal((int)col, want_col);
    char loc[PATH_MAX + 64];
    snprintf(loc, sizeof loc, "%s:%d:%d: syntax error", f->cfg, want_line, want_col);
    assert_non_null(strstr(is->summary, loc));
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    if (healer_mock_action_count(f->m) == 0)
        return NULL;
    const healer_action *a = healer_mock_action(f->m, 0);
    assert_string_equal(a->name, "fix_syntax");
    assert_true(a->flags & HEALER_ACTION_CONFIG);
    assert_false(a->flags & HEALER_ACTION_AUTO_OK);   /* confirmation by default */
    assert_non_null(strstr(a->description, "@@"));     /* the diff is shown to the operator */
    char *before = slurp(f->cfg);
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    /* Backup first, then the file; the mock performs neither, so the file is unchanged. */
    size_t writes = 0;
    const healer_mock_call *backup = NULL, *write = NULL;
    for (size_t i = 0; i < healer_mock_call_count(f->m); i++) {
        const healer_mock_call *c = healer_mock_call_at(f->m, i);
        if (c->act != HEALER_MOCK_ACT_WRITE_FILE)
            continue;
        if (writes++ == 0)
            backup = c;
        else
            write = c;
    }
    assert_int_equal(writes, 2);
    /* Named after the file's full path; made with the original's mode and owner before the
     * agent fills it (the mock writes nothing: the placeholder is there, empty). */
    char bdir[PATH_MAX * 3 + 32], base[512];
    nc_backup_base(f->cfg, base, sizeof base);
    snprintf(bdir, sizeof bdir, "%s/backups/%s.", f->dir, base);
    assert_int_equal(strncmp(backup->path, bdir, strlen(bdir)), 0);
    assert_non_null(strstr(backup->path, "etc%2Fconfiguration.nix."));
    struct stat bst, ost;
    assert_int_equal(lstat(backup->path, &bst), 0);
    assert_int_equal(stat(f->cfg, &ost), 0);
    assert_true(S_ISREG(bst.st_mode));
    assert_int_equal(bst.st_mode & 07777, ost.st_mode & 0777);
    assert_int_equal(bst.st_uid, ost.st_uid);
    assert_string_equal(backup->value, before);
    assert_int_equal(backup->rc, HEALER_OK);
    assert_string_equal(write->path, f->cfg);
    assert_int_equal(write->rc, HEALER_OK);
    char *after = slurp(f->cfg);
    assert_string_equal(after, before);
    free(after);
    free(before);
    assert_true(parses(f, write->value));
    assert_int_equal(healer_mock_violations(f->m), 0);
    return strdup(write->value);
}

static void test_valid_with_import(void **state)
{
    fx *f = *state;
    copy_fixture(f, "valid.nix", "configuration.nix");
    copy_fixture(f, "hardware.nix", "hardware.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(healer_mock_last_health(f->m, "nixos-config") == 100.0);
    /* Both files were checked: the import was followed. */
    size_t i;
    double files = 0;
    for (i = 0; i < healer_mock_metric_count(f->m); i++) {
        const healer_mock_metric *mm = healer_mock_metric_at(f->m, i);
        if (strcmp(mm->name, "nixconfig_files_checked") == 0)
            files = mm->value;
    }
    assert_true(files == 2.0);
    /* An import that breaks is found on the next cycle (the file changed). */
    char hw[PATH_MAX + 32];
    snprintf(hw, sizeof hw, "%s/etc/hardware.nix", f->dir);
    put(hw, "{ ... }:\n{\n  boot.loader.grub.device = \"/dev/sda\"\n  x = 1;\n}\n");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    char real[PATH_MAX];
    assert_non_null(realpath(hw, real));
    assert_string_equal(is->target, real);
    /* Fixed by hand: resolved. */
    put(hw, "{ ... }:\n{\n  boot.loader.grub.device = \"/dev/sda\";\n  x = 1;\n}\n");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_string_equal(healer_mock_resolved_at(f->m, 0)->target, real);
}

static double files_checked(fx *f)
{
    double files = -1;
    for (size_t i = 0; i < healer_mock_metric_count(f->m); i++) {
        const healer_mock_metric *mm = healer_mock_metric_at(f->m, i);
        if (strcmp(mm->name, "nixconfig_files_checked") == 0)
            files = mm->value;
    }
    return files;
}

/* A flake host: flake.nix and no configuration.nix. No issue while it is fine; flake.nix and
 * the .nix files it names by relative path (not those in a comment or a string, not a
 * directory without default.nix) are validated; a broken one is found and resolved. */
static void test_flake_host(void **state)
{
    fx *f = *state;
    char p[PATH_MAX + 64], a[PATH_MAX + 64], real[PATH_MAX];
    snprintf(p, sizeof p, "%s/etc/hosts", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/etc/common", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/etc/assets", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/etc/common/default.nix", f->dir);
    put(p, "{ ... }:\n{\n  imports = [ ./users.nix ];\n}\n");
    snprintf(p, sizeof p, "%s/etc/common/users.nix", f->dir);
    put(p, "{ ... }:\n{\n  users.users.a.isNormalUser = true;\n}\n");
    snprintf(a, sizeof a, "%s/etc/hosts/a.nix", f->dir);
    put(a, "{ pkgs, ... }:\n{\n  networking.hostName = \"a\";\n}\n");
    snprintf(p, sizeof p, "%s/etc/flake.nix", f->dir);
    put(p, "{\n  # ./commented-out.nix is not a reference\n  inputs.nixpkgs.url = "
           "\"github:NixOS/nixpkgs/nixos-24.05\";\n  outputs = { self, nixpkgs }: {\n"
           "    nixosConfigurations.a = nixpkgs.lib.nixosSystem {\n"
           "      system = \"x86_64-linux\";\n      extraArgs.s = \"./in-a-string.nix\";\n"
           "      extraArgs.assets = ./assets;\n"
           "      modules = [ ./hosts/a.nix ./common ];\n    };\n  };\n}\n");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(healer_mock_last_health(f->m, "nixos-config") == 100.0);
    /* flake.nix, hosts/a.nix, common/default.nix and the users.nix it imports. */
    assert_true(files_checked(f) == 4.0);
    /* The host's module breaks: found (the flake's reference was followed). */
    put(a, "{ pkgs, ... }:\n{\n  networking.hostName = \"a\"\n  x = 1;\n}\n");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(realpath(a, real));
    assert_string_equal(is->target, real);
    assert_non_null(strstr(is->summary, "a validated fix is available"));
    put(a, "{ pkgs, ... }:\n{\n  networking.hostName = \"a\";\n  x = 1;\n}\n");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    /* flake.nix itself is validated. */
    snprintf(p, sizeof p, "%s/etc/flake.nix", f->dir);
    put(p, "{\n  outputs = { self }: {\n    x = ./hosts/a.nix\n  };\n}\n");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(realpath(p, real));
    assert_string_equal(is->target, real);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* A flake.nix written later, beside a configuration.nix that does not change (a host moving
 * to flakes): validated at the next detect, though no file validated so far changed; when it
 * goes again, it is no longer validated and its issue is resolved. */
static void test_flake_appears(void **state)
{
    fx *f = *state;
    char p[PATH_MAX + 64], real[PATH_MAX];
    copy_fixture(f, "valid.nix", "configuration.nix");
    copy_fixture(f, "hardware.nix", "hardware.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    double before = files_checked(f);
    snprintf(p, sizeof p, "%s/etc/flake.nix", f->dir);
    put(p, "{\n  outputs = { self }: {\n    x = 1\n  };\n}\n");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(realpath(p, real));
    assert_string_equal(is->target, real);
    assert_true(files_checked(f) == before + 1);
    assert_int_equal(unlink(p), 0);
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_true(files_checked(f) == before);
}

/* The other way round: a flake-only host where a configuration.nix is written later is
 * validated at the next detect too. */
static void test_config_appears_beside_flake(void **state)
{
    fx *f = *state;
    char p[PATH_MAX + 64], real[PATH_MAX];
    snprintf(p, sizeof p, "%s/etc/flake.nix", f->dir);
    put(p, "{\n  outputs = { self }: { };\n}\n");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_true(files_checked(f) == 1.0);
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(realpath(f->cfg, real));
    assert_string_equal(is->target, real);
    assert_true(files_checked(f) == 2.0);
}

/* A file that comes back broken the same way after every fix (the mock applies nothing, as
 * if something rewrote it each time): the fix is offered max_fix_attempts (3) times, then
 * only reported. Another broken state of the same file is a new problem: offered again. */
static void test_fix_attempts_bounded(void **state)
{
    fx *f = *state;
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    int applied = 0;
    for (int round = 0; round < 6; round++) {
        healer_mock_clear(f->m);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
        assert_non_null(is);
        assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
        if (healer_mock_action_count(f->m) == 0)
            continue;
        healer_result r;
        assert_int_equal(healer_mock_execute(f->m, is, healer_mock_action(f->m, 0), &r),
                         HEALER_OK);
        assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
        applied++;
    }
    assert_int_equal(applied, 3);
    /* Broken differently: a new state, a fix offered. */
    char *t = slurp(f->cfg);
    char *more = malloc(strlen(t) + 32);
    sprintf(more, "%s\n", t);
    put(f->cfg, more);
    free(more);
    free(t);
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
}


/* One detect/plan/execute round; 1 when a fix was offered and applied (the mock writes nothing,
 * so the file stays broken the same way: something writing it back). */
static int fix_round(fx *f)
{
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    if (healer_mock_action_count(f->m) == 0)
        return 0;
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, healer_mock_action(f->m, 0), &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    return 1;
}

static void restart(fx *f)
{
    healer_mock_free(f->m);
    new_mock(f);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
}

/* max_fix_attempts survives a restart (a crash loop must not get the fix offered forever):
 * 2 fixes, restart, 1 more, restart, then refused. */
static void test_fix_attempts_survive_restart(void **state)
{
    fx *f = *state;
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(fix_round(f) + fix_round(f), 2);
    char rec[PATH_MAX + 64];
    snprintf(rec, sizeof rec, "%s/state/fix-attempts", f->dir);
    char *t = slurp(rec);
    assert_non_null(t);
    char want[PATH_MAX + 80];
    snprintf(want, sizeof want, " 2 ");
    assert_non_null(strstr(t, "\nattempt "));
    assert_non_null(strstr(t, want));
    assert_non_null(strstr(t, f->cfg));   /* no blank or '%' in the test's path */
    free(t);
    struct stat st;
    assert_int_equal(stat(rec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    restart(f);
    assert_int_equal(fix_round(f), 1);
    restart(f);
    assert_int_equal(fix_round(f), 0);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_WARN, "after 3 fixes") >= 0);
    /* No temp file left behind. */
    DIR *d = opendir(rec[0] ? dirname_of(rec) : ".");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_null(strstr(de->d_name, ".tmp"));
    closedir(d);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* A garbled record: every bad line logged with the file and line and ignored, the good line
 * kept; never a crash. Then one that is not a record at all. */
static void test_fix_attempts_garbled(void **state)
{
    fx *f = *state;
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(fix_round(f), 1);
    char rec[PATH_MAX + 64];
    snprintf(rec, sizeof rec, "%s/state/fix-attempts", f->dir);
    char *good = slurp(rec);
    assert_non_null(good);
    /* The good line, its count raised to 3; garbage around it. */
    char *line = strstr(good, "\nattempt ");
    assert_non_null(line);
    line++;
    char hash[17];
    assert_int_equal(sscanf(line, "attempt %16s", hash), 1);
    FILE *o = fopen(rec, "we");
    assert_non_null(o);
    fprintf(o, "garbage line\nattempt %s x 1 %s\nattempt zz 1 1 /a\nattempt %s 2 -1 /a\n"
               "attempt %s 2 5 relative\nattempt %s 2 5 /a%%00b\n", hash, f->cfg, hash, hash,
            hash);
    fputc('\0', o);
    fprintf(o, "\x01\xff binary\nattempt %s 3 %.0f %s\nattempt %s 1 5 /cut-short", hash,
            (double)time(NULL), f->cfg, hash);
    fclose(o);
    free(good);
    restart(f);
    char where[PATH_MAX + 160];
    for (int l = 1; l <= 8; l++) {
        if (l == 8)
            continue;   /* the good line */
        snprintf(where, sizeof where, "%s:%d: ", rec, l);
        if (healer_mock_log_find(f->m, HEALER_LOG_ERROR, where) < 0)
            fail_msg("no error logged for %s", where);
    }
    snprintf(where, sizeof where, "%s:9: cut short", rec);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, where) >= 0);
    assert_int_equal(fix_round(f), 0);   /* the good line's 3 holds */

    /* Not a record: a directory in its place. Logged, the count starts again, no crash. */
    assert_int_equal(unlink(rec), 0);
    assert_int_equal(mkdir(rec, 0700), 0);
    restart(f);
    snprintf(where, sizeof where, "%s: not a regular file", rec);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, where) >= 0);
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    rmdir(rec);
}

/* A parser that sees other bytes than the plugin read: the configuration is replaced (written
 * back broken by something) between the plugin's read and nix-instantiate's. It used to be
 * reported "not an error this plugin fixes"; now the file is read again after the parse and
 * validated again when it changed. A file that keeps changing gets no fix and says so. */
static void write_swapping_parser(fx *f, const char *script, int every_time)
{
    char real[PATH_MAX] = "";
    const char *path = getenv("PATH");
    char *dirs = strdup(path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(real, sizeof real, "%s/nix-instantiate", d);
        if (access(real, X_OK) == 0)
            break;
        real[0] = '\0';
    }
    free(dirs);
    assert_true(real[0]);
    FILE *o = fopen(script, "we");
    assert_non_null(o);
    /* every_time: the file flips between two broken versions at each parse of it. */
    fprintf(o, "#!/bin/sh\n"
               "if [ \"$1\" = --parse ] && [ \"$2\" = '%s' ]; then\n"
               "  if [ %d = 1 ] || [ ! -e '%s/swapped' ]; then\n"
               "    if [ -e '%s/swapped' ]; then rm '%s/swapped'; cp '%s/b1' '%s.new';\n"
               "    else : > '%s/swapped'; cp '%s/b2' '%s.new'; fi\n"
               "    mv -f '%s.new' '%s'\n"
               "  fi\n"
               "fi\n"
               "exec '%s' \"$@\"\n",
            f->cfg, every_time, f->dir, f->dir, f->dir, f->dir, f->cfg, f->dir, f->dir, f->cfg,
            f->cfg, f->cfg, real);
    fclose(o);
    assert_int_equal(chmod(script, 0755), 0);
    assert_int_equal(healer_mock_set_string(f->m, "nix_instantiate", script), HEALER_OK);
}

static void test_replaced_while_parsed(void **state)
{
    fx *f = *state;
    char script[PATH_MAX + 32], b1[PATH_MAX + 32], b2[PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/nixi.sh", f->dir);
    snprintf(b1, sizeof b1, "%s/b1", f->dir);
    snprintf(b2, sizeof b2, "%s/b2", f->dir);
    char *valid = slurp_fixture("valid.nix"), *broken = slurp_fixture("unclosed-brace.nix");
    put(b1, valid);
    put(b2, broken);
    put(f->cfg, valid);   /* read by the plugin; replaced by b2 before the parser reads it */
    write_swapping_parser(f, script, 0);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    double fa = -1;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "fix_available",
                                        &fa));
    assert_true(fa == 1.0);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_DEBUG, "changed while it was parsed") >= 0);
    /* The fix is for the bytes on disk now (the broken ones), so execute() applies it. */
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, healer_mock_action(f->m, 0), &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_INFO, "not an error this plugin fixes") < 0);

    /* Changing at every parse: no fix, and the plan says why (not "not an error it fixes"). */
    healer_mock_free(f->m);
    new_mock(f);
    put(b1, broken);
    char *other = malloc(strlen(broken) + 8);
    sprintf(other, "%s\n\n", broken);
    put(b2, other);
    free(other);
    put(f->cfg, broken);
    char sw[PATH_MAX + 32];
    snprintf(sw, sizeof sw, "%s/swapped", f->dir);
    unlink(sw);
    write_swapping_parser(f, script, 1);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(strstr(is->summary, "no fix: the file changed while it was being validated"));
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 0);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_INFO, "no fix offered: the file changed "
                                     "while it was being validated") >= 0);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_INFO, "not an error this plugin fixes") < 0);
    free(valid);
    free(broken);
}


/* verify() after a fix: healed when the file parses; when it does not, the verdict says what
 * happened to the file (written back with the bytes the fix was for, or changed otherwise). */
static void test_verify_says_what_happened(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "missing-semicolon.nix", 4, 27);
    assert_non_null(fixed);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    const healer_action *a = healer_mock_action(f->m, 0);
    healer_verdict v;
    /* The mock wrote nothing: the file still holds the broken bytes the fix was for. */
    assert_int_equal(healer_mock_verify(f->m, is, a, &v), HEALER_OK);
    assert_false(v.healed);
    assert_non_null(strstr(v.message, "written back after the fix with the very bytes it fixed"));
    put(f->cfg, "{ a = 1 }\n");
    assert_int_equal(healer_mock_verify(f->m, is, a, &v), HEALER_OK);
    assert_false(v.healed);
    assert_non_null(strstr(v.message, "changed again after the fix"));
    put(f->cfg, fixed);
    assert_int_equal(healer_mock_verify(f->m, is, a, &v), HEALER_OK);
    assert_true(v.healed);
    free(fixed);
}

static void test_revalidates_only_on_change(void **state)
{
    fx *f = *state;
    copy_fixture(f, "valid.nix", "configuration.nix");
    copy_fixture(f, "hardware.nix", "hardware.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    size_t validations = 0;
    for (size_t i = 0; i < healer_mock_metric_count(f->m); i++)
        if (strcmp(healer_mock_metric_at(f->m, i)->name, "nixconfig_validations_total") == 0)
            validations++;
    assert_int_equal(validations, 1);
    /* Same size, new content: the mtime/ctime change is seen. */
    put(f->cfg, "{ a = 1; }\n");
    put(f->cfg, "{ a = 2; }\n");
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    validations = 0;
    for (size_t i = 0; i < healer_mock_metric_count(f->m); i++)
        if (strcmp(healer_mock_metric_at(f->m, i)->name, "nixconfig_validations_total") == 0)
            validations++;
    assert_int_equal(validations, 2);
}

static void test_fix_missing_semicolon(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "missing-semicolon.nix", 4, 27);
    assert_non_null(fixed);
    assert_string_equal(fixed, "{ config, pkgs, ... }:\n{\n  networking.hostName = \"fixture\";\n"
                               "  services.openssh.enable = true;\n}\n");
    free(fixed);
}

static void test_fix_unclosed_brace(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "unclosed-brace.nix", 6, 5);
    assert_non_null(fixed);
    assert_string_equal(fixed, "{ config, pkgs, ... }:\n{\n  networking.hostName = \"fixture\";\n"
                               "  services.openssh = {\n    enable = true;\n  };\n}\n");
    free(fixed);
}

static void test_fix_unclosed_bracket(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "unclosed-bracket.nix", 3, 51);
    assert_non_null(fixed);
    assert_non_null(strstr(fixed, "[ pkgs.git pkgs.vim];\n"));
    free(fixed);
}

static void test_fix_unclosed_paren(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "unclosed-paren.nix", 3, 66);
    assert_non_null(fixed);
    assert_non_null(strstr(fixed, "[ 21 79 ]);\n"));
    free(fixed);
}

/* An unterminated string is reported with where it starts, never "fixed": any closing quote
 * but its author's moves the content after it out of the string. */
static void test_unterminated_string_reported(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "unterminated-string.nix", 3, 26);
    assert_null(fixed);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(strstr(is->summary, "no fix: unterminated string at 3:25"));
    assert_int_equal(healer_mock_call_count(f->m), 0);
}

/* The attack of issue #11: an unclosed { before an indented string whose lines start at
 * column 0 (and hold }, the ''$ ''' and ''\t escapes, $${, a ${ "b}" } nesting). The old fixer
 * put a } line inside the string (it parses, so it was offered as validated). The only fix
 * now: the closer appended, every byte of the string and of the comments unchanged. */
static void test_indented_string_untouched(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "indented-unclosed.nix", 12, 5);
    assert_non_null(fixed);
    char from[PATH_MAX + 64];
    snprintf(from, sizeof from, "%s/indented-unclosed.nix", fixtures());
    char *orig = slurp(from);
    size_t on = strlen(orig);
    assert_int_equal(strlen(fixed), on + 2);
    assert_memory_equal(fixed, orig, on);
    assert_string_equal(fixed + on, "}\n");
    free(orig);
    free(fixed);
}

/* A NUL byte in a comment (valid Nix) plus a missing ';': reported with the parser's location
 * and the reason, no fix offered; an action forged for it anyway is refused in execute(): no
 * backup, no write (the old plugin truncated the file and its backup at the NUL). */
static void test_nul_never_rewritten(void **state)
{
    fx *f = *state;
    const char text[] = "{\n  # a\0b\n  a = 1\n  b = 2;\n}\n";
    FILE *fp = fopen(f->cfg, "we");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, sizeof text - 1, fp), sizeof text - 1);
    fclose(fp);
    assert_int_equal(healer_mock_set_bool(f->m, "auto_fix", 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(strstr(is->summary, ":4:5: syntax error"));
    assert_non_null(strstr(is->summary, "no fix: a NUL byte at 2:6"));
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 0);
    /* Forged: the right hash, a ';' where it belongs. */
    char hash[17];
    nc_hash(text, sizeof text - 1, hash);
    healer_kv params[] = {{"file", f->cfg}, {"hash", hash}, {"edits", "17:0:3b"}};
    healer_action a = {.name = "fix_syntax", .target = f->cfg, .description = "forged",
                       .flags = HEALER_ACTION_CONFIG, .params = params, .n_params = 3};
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, &a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_FAILED);
    assert_non_null(strstr(r.message, "NUL"));
    assert_null(healer_mock_last_call(f->m, HEALER_MOCK_ACT_WRITE_FILE));
    char b[PATH_MAX + 32];
    snprintf(b, sizeof b, "%s/backups", f->dir);
    DIR *d = opendir(b);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_true(de->d_name[0] == '.');   /* no backup, not even a placeholder */
    closedir(d);
}

/* A FIFO among the imports: detect returns (the old plugin blocked in open() for good), the
 * FIFO is reported for what it is and never parsed, and the other import's error is found. */
static void test_fifo_import_never_blocks(void **state)
{
    fx *f = *state;
    put(f->cfg, "{ ... }:\n{\n  imports = [ ./pipe.nix ./broken.nix ];\n}\n");
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/etc/pipe.nix", f->dir);
    assert_int_equal(mkfifo(p, 0644), 0);
    snprintf(p, sizeof p, "%s/etc/broken.nix", f->dir);
    put(p, "{\n  a = 1\n  b = 2;\n}\n");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_issue_count(f->m), 2);
    int fifo = 0, broken = 0;
    for (size_t i = 0; i < healer_mock_issue_count(f->m); i++) {
        const healer_issue *is = healer_mock_issue(f->m, i);
        if (strstr(is->target, "/etc/pipe.nix") && strstr(is->summary, "is a FIFO, not a "
                                                          "regular file"))
            fifo = 1;
        if (strstr(is->target, "/etc/broken.nix") && strstr(is->summary, ":3:5: syntax error"))
            broken = 1;
    }
    assert_true(fifo);
    assert_true(broken);
    /* The plan for the FIFO offers nothing. */
    const healer_issue *is = NULL;
    for (size_t i = 0; i < healer_mock_issue_count(f->m); i++)
        if (strstr(healer_mock_issue(f->m, i)->target, "pipe.nix"))
            is = healer_mock_issue(f->m, i);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 0);
}

/* A 0600 file of another owner: the backup is made 0600 with that owner before any content
 * goes into it, and named after the full path. */
static void test_backup_mode_owner(void **state)
{
    fx *f = *state;
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(chmod(f->cfg, 0600), 0);
    if (geteuid() == 0)
        assert_int_equal(chown(f->cfg, 1000, 1000), 0);
    char *fixed = run_fix(f, "missing-semicolon.nix", 4, 27);   /* checks mode and owner */
    assert_non_null(fixed);
    free(fixed);
    const healer_mock_call *c = healer_mock_call_at(f->m, 0);
    struct stat st;
    assert_int_equal(lstat(c->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    if (geteuid() == 0)
        assert_int_equal(st.st_uid, 1000);
}

static void test_backup_names(void **state)
{
    (void)state;
    char b[512];
    nc_backup_base("/etc/nixos/configuration.nix", b, sizeof b);
    assert_string_equal(b, "etc%2Fnixos%2Fconfiguration.nix");
    nc_backup_base("/etc/nixos/100%/a.nix", b, sizeof b);
    assert_string_equal(b, "etc%2Fnixos%2F100%25%2Fa.nix");
    assert_true(nc_backup_match("a.nix.20240101-120000", "a.nix"));
    assert_true(nc_backup_match("a.nix.20240101-120000-3", "a.nix"));
    assert_false(nc_backup_match("a.nix.2.20240101-120000", "a.nix"));
    assert_false(nc_backup_match("a.nix.20240101-12000", "a.nix"));
    assert_false(nc_backup_match("a.nix.old", "a.nix"));
    char longp[600];
    memset(longp, 'x', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    nc_backup_base(longp, b, sizeof b);
    assert_true(strlen(b) <= 200);
}

static void test_fix_extra_brace(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "extra-brace.nix", 6, 1);
    assert_non_null(fixed);
    assert_string_equal(fixed, "{ config, pkgs, ... }:\n{\n  networking.hostName = \"fixture\";\n"
                               "  services.openssh.enable = true;\n}\n\n");
    free(fixed);
}

static void test_not_fixable(void **state)
{
    fx *f = *state;
    char *fixed = run_fix(f, "not-fixable.nix", 3, 25);
    assert_null(fixed);   /* no action offered */
    double fa = -1;
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "fix_available",
                                        &fa));
    assert_true(fa == 0.0);
    assert_int_equal(healer_mock_call_count(f->m), 0);
}

/* Looks like a missing ';' but every candidate still fails to parse: not "fixed". */
static void test_fix_that_would_not_validate(void **state)
{
    fx *f = *state;
    put(f->cfg, "{\n  a = 1\n  b = = 2;\n  c = ;\n}\n");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 0);
    assert_int_equal(healer_mock_call_count(f->m), 0);
}

/* The file changes between plan and execute: the planned edits are not applied. */
static void test_changed_after_plan(void **state)
{
    fx *f = *state;
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
    put(f->cfg, "{ a = 1 }\n");
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, healer_mock_action(f->m, 0), &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_FAILED);
    assert_null(healer_mock_last_call(f->m, HEALER_MOCK_ACT_WRITE_FILE));
}

static void test_auto_fix_and_import(void **state)
{
    fx *f = *state;
    copy_fixture(f, "imports-broken.nix", "configuration.nix");
    copy_fixture(f, "hardware.nix", "hardware.nix");
    copy_fixture(f, "broken-module.nix", "broken-module.nix");
    assert_int_equal(healer_mock_set_bool(f->m, "auto_fix", 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_non_null(is);
    assert_non_null(strstr(is->target, "/etc/broken-module.nix"));
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 1);
    assert_true(healer_mock_action(f->m, 0)->flags & HEALER_ACTION_AUTO_OK);
}

static void test_dry_run_fix(void **state)
{
    fx *f = *state;
    healer_mock_set_dry_run(f->m, 1);
    copy_fixture(f, "missing-semicolon.nix", "configuration.nix");
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "nixos_config_invalid");
    assert_int_equal(healer_mock_plan(f->m, is), HEALER_OK);
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, is, healer_mock_action(f->m, 0), &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);
    assert_int_equal(healer_mock_last_call(f->m, HEALER_MOCK_ACT_WRITE_FILE)->rc, HEALER_DRY_RUN);
}

static void test_user_profile_refused(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_string(f->m, "profile",
                                            "/nix/var/nix/profiles/per-user/alice/profile"),
                     HEALER_OK);
    assert_int_not_equal(healer_mock_init(f->m), HEALER_OK);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, "per-user") >= 0);
}

static void test_user_profile_home(void **state)
{
    (void)state;
    assert_true(nc_user_profile("/root/.nix-profile"));
    assert_true(nc_user_profile("/nix/var/nix/profiles/per-user/root/profile"));
    assert_false(nc_user_profile("/nix/var/nix/profiles/system"));
}

static void test_parse_error_formats(void **state)
{
    (void)state;
    nc_perr e;
    assert_true(nc_parse_error("warning: x\nerror: syntax error, unexpected '}', expecting ';'\n"
                               "\n       at /etc/nixos/c.nix:12:5:\n\n", &e));
    assert_string_equal(e.file, "/etc/nixos/c.nix");
    assert_int_equal(e.line, 12);
    assert_int_equal(e.col, 5);
    assert_string_equal(e.msg, "syntax error, unexpected '}', expecting ';'");
    /* Older Nix: location on the same line; colours stripped. */
    assert_true(nc_parse_error("\x1b[31;1merror:\x1b[0m syntax error, unexpected IN, at "
                               "/a/b.nix:3:1\n", &e));
    assert_string_equal(e.file, "/a/b.nix");
    assert_int_equal(e.line, 3);
    assert_string_equal(e.msg, "syntax error, unexpected IN");
    assert_false(nc_parse_error("{ a = 1; }", &e));
}

static void test_edits_roundtrip(void **state)
{
    (void)state;
    nc_edit in[2] = {{.off = 12, .del = 0, .ins = ";"}, {.off = 40, .del = 1, .ins = "  }\n"}};
    char buf[256];
    assert_int_equal(nc_edits_format(in, 2, buf, sizeof buf), 0);
    nc_edit out[4];
    size_t n;
    assert_int_equal(nc_edits_parse(buf, out, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[1].off, 40);
    assert_int_equal(out[1].del, 1);
    assert_string_equal(out[1].ins, "  }\n");
    assert_int_equal(nc_edits_parse("1:x:;", out, 4, &n), -1);
}

static void test_generations(void **state)
{
    fx *f = *state;
    char prof[PATH_MAX + 32], l[PATH_MAX + 64];
    snprintf(prof, sizeof prof, "%s/profile", f->dir);
    for (int g = 1; g <= 3; g++) {
        snprintf(l, sizeof l, "%s-%d-link", prof, g);
        assert_int_equal(symlink("/nonexistent", l), 0);
    }
    assert_int_equal(symlink("profile-2-link", prof), 0);
    int gens[8], cur;
    assert_int_equal(nc_gen_list(prof, gens, 8, &cur), 3);
    assert_int_equal(cur, 2);
    assert_int_equal(gens[0], 1);
    assert_int_equal(gens[2], 3);
    char sf[PATH_MAX + 32];
    snprintf(sf, sizeof sf, "%s/st", f->dir);
    nc_genstate s;
    nc_state_init(&s);
    nc_state_mark(&s, 1, 1);
    nc_state_mark(&s, 3, 0);
    s.last_gen = 1;
    char buf[1024];
    nc_state_format(&s, prof, buf, sizeof buf);
    put(sf, buf);
    nc_genstate t;
    assert_int_equal(nc_state_load(&t, sf), 0);
    assert_true(t.good[1] && t.bad[3] && !t.good[3] && t.last_gen == 1);
    int sg, se;
    put(sf, "7 1\n");
    assert_true(nc_status_read(sf, &sg, &se));
    assert_int_equal(sg, 7);
    assert_int_equal(se, 1);
    put(sf, "garbage\n");
    assert_false(nc_status_read(sf, &sg, &se));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_with_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flake_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flake_appears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_appears_beside_flake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_attempts_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_attempts_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_attempts_garbled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_while_parsed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_says_what_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revalidates_only_on_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_missing_semicolon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_unclosed_brace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_unclosed_bracket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_unclosed_paren, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_string_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indented_string_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_never_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_import_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_mode_owner, setup, teardown),
        cmocka_unit_test(test_backup_names),
        cmocka_unit_test_setup_teardown(test_fix_extra_brace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_fixable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fix_that_would_not_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_after_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_fix_and_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_fix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_profile_refused, setup, teardown),
        cmocka_unit_test(test_user_profile_home),
        cmocka_unit_test(test_parse_error_formats),
        cmocka_unit_test(test_edits_roundtrip),
        cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
