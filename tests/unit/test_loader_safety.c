/* test_loader_safety.c — the loader against someone who can rename files: a child process swaps
 * a checked plugin with an attacker's library (owned by uid 1000, or a symlink) in a tight loop
 * while the loader scans; the attacker's constructor must never run. Also: plugin folders below
 * unsafe directories, the descriptor kept per plugin, a reused descriptor number, names that
 * differ from files, and unknown plugin sections. Real files under the build tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testtmp.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "loader.h"
#include "loader_fs.h"
#include "log.h"

static char dir[1024];      /* this test's directory, root-owned 0755 */
static char build[512];
static char diags[8192];

static void on_diag(void *ud, const char *file, int line, const char *m)
{
    (void)ud;
    size_t n = strlen(diags);
    snprintf(diags + n, sizeof diags - n, "%s:%d: %s\n", file, line, m);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!out) {
        if (in)
            fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return chmod(to, mode);
}

static void path_of(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", dir, rel);
}

static void install_fixture(const char *built, const char *to_rel)
{
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", build, built);
    path_of(to, sizeof to, to_rel);
    assert_int_equal(copy_file(from, to, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("BUILD");
    if (!b || !*b || getuid() != 0)
        return 0; /* the tests skip: they need the built fixtures and root (chown) */
    snprintf(build, sizeof build, "%s", b);
    char root[512];
    if (!test_tmp_root(build, root, sizeof root))
        return -1;
    snprintf(dir, sizeof dir, "%s", root);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(dir, sizeof dir, "%s/loader-safety.XXXXXX", root);
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
        return -1;
    log_set_level(HEALER_LOG_ERROR); /* thousands of refusals in the race */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dir[0]) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}

static config *load_conf(const char *pd, int check_owner, const char *plugins)
{
    char path[1100];
    path_of(path, sizeof path, "h.conf");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "agent = { plugin_dir = \"%s\"; state_dir = \"%s/state\"; "
               "plugin_check_owner = %s; };\nplugins = {\n%s\n};\n", pd, dir,
            check_owner ? "true" : "false", plugins ? plugins : "");
    fclose(f);
    config *c = NULL;
    diags[0] = '\0';
    diag d = { .emit = on_diag };
    assert_int_equal(config_load(path, &c, &d), 0);
    return c;
}

static const plugin_rec *find(const plugin_set *s, const char *section)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].section, section) == 0)
            return &s->v[i];
    return NULL;
}

static int marker_exists(const char *marker)
{
    return access(marker, F_OK) == 0;
}

/* The swap race. P/good.so is exchanged (renameat2 RENAME_EXCHANGE, atomic) with the attacker's
 * file, alternately a copy of evil.so owned by uid 1000 and a symlink to a root-owned copy of
 * it, as fast as the child can. Stat-then-dlopen of the name would map evil.so whenever the
 * exchange falls between the two calls (the legacy loop below counts how often: printed, not
 * asserted). The loader checks and maps one descriptor: it may see either file, must refuse the
 * attacker's, and must never map it. */
static void test_swap_race_never_loads_the_swapped_file(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char pd[1100], good[1200], stage_uid[1200], stage_link[1200], evil_root[1200];
    char marker[1200], legacy_marker[1200];
    path_of(pd, sizeof pd, "race");
    assert_int_equal(mkdir(pd, 0755), 0);
    install_fixture("tests/abi/good.so", "race/good.so");
    install_fixture("tests/plugins/evil.so", "race/stage_uid");
    install_fixture("tests/plugins/evil.so", "evil_root.so");
    snprintf(good, sizeof good, "%s/good.so", pd);
    snprintf(stage_uid, sizeof stage_uid, "%s/stage_uid", pd);
    snprintf(stage_link, sizeof stage_link, "%s/stage_link", pd);
    path_of(evil_root, sizeof evil_root, "evil_root.so");
    path_of(marker, sizeof marker, "marker");
    path_of(legacy_marker, sizeof legacy_marker, "legacy_marker");
    assert_int_equal(chown(stage_uid, 1000, 1000), 0);
    assert_int_equal(symlink(evil_root, stage_link), 0);
    setenv("HEALER_TEST_MARKER", marker, 1);

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        for (unsigned long i = 0;; i++) {
            const char *stage = (i / 64) % 2 ? stage_link : stage_uid;
            if (renameat2(AT_FDCWD, good, AT_FDCWD, stage, RENAME_EXCHANGE) != 0)
                _exit(3);
        }
    }

    /* In a thread: the checks under test come before the mapping, and the same checked
     * descriptor is what a child would map; 1 500 child starts would take minutes under ASan. */
    config *c = load_conf(pd, 1, "good = { isolation = \"thread\"; };");
    unsigned loaded = 0, refused_owner = 0, refused_link = 0, other = 0;
    /* Until the loader has met the attacker's file often enough for the test to mean something
     * (both kinds), bounded. */
    for (unsigned i = 0; i < 200000; i++) {
        plugin_set set;
        assert_int_equal(loader_scan(c, &set, NULL), 0);
        const plugin_rec *p = find(&set, "good");
        if (p && p->state == PLUGIN_LOADED)
            loaded++;
        else if (p && p->reason && strstr(p->reason, "owned by uid 1000"))
            refused_owner++;
        else if (p && p->reason && strstr(p->reason, "symbolic link"))
            refused_link++;
        else
            other++; /* the name was between the two files of an exchange: never a load */
        loader_free(&set);
        if (loaded >= 1500 && refused_owner >= 50 && refused_link >= 50)
            break;
    }
    int evil_by_loader = marker_exists(marker);

    /* The code this loader replaced, in the same race: printed for the record. */
    setenv("HEALER_TEST_MARKER", legacy_marker, 1);
    unsigned legacy_evil = 0, legacy_tries = 0;
    for (; legacy_tries < 20000 && legacy_evil < 5; legacy_tries++) {
        struct stat st;
        if (stat(good, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
            (st.st_mode & 022))
            continue;
        void *dl = dlopen(good, RTLD_NOW | RTLD_LOCAL);
        if (dl)
            dlclose(dl);
        if (marker_exists(legacy_marker)) {
            legacy_evil++;
            unlink(legacy_marker);
        }
    }
    kill(child, SIGKILL);
    int st;
    waitpid(child, &st, 0);
    unsetenv("HEALER_TEST_MARKER");
    print_message("loader: %u loaded, %u refused (uid 1000), %u refused (symlink), %u other; "
                  "stat-then-dlopen mapped the attacker's file %u time(s) in %u tries\n", loaded,
                  refused_owner, refused_link, other, legacy_evil, legacy_tries);
    assert_false(evil_by_loader);
    assert_true(refused_owner > 0 && refused_link > 0); /* the race was really run */
    assert_true(loaded > 0);
    config_free(c);
}

/* A plugin folder below a directory its owner (uid 1000) could rename it out of, or below a
 * sticky world-writable one: every plugin in it refused, the directory named. */
static void test_unsafe_directory_above(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char user[1100], pd[1200], sticky[1100], pd2[1200];
    path_of(user, sizeof user, "user");
    assert_int_equal(mkdir(user, 0755), 0);
    assert_int_equal(chown(user, 1000, 1000), 0);
    snprintf(pd, sizeof pd, "%s/plugins", user);
    assert_int_equal(mkdir(pd, 0755), 0);
    install_fixture("tests/abi/good.so", "user/plugins/good.so");
    config *c = load_conf(pd, 1, NULL);
    plugin_set set;
    assert_int_equal(loader_scan(c, &set, NULL), 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.v[0].state, PLUGIN_REFUSED);
    char want[2600];
    snprintf(want, sizeof want, "the directory %s above plugin_dir %s is owned by uid 1000", user,
             pd);
    assert_non_null(strstr(set.v[0].reason, want));
    assert_null(set.v[0].dl);
    loader_free(&set);
    config_free(c);

    /* Development mode relaxes owners, never modes: a sticky 1777 directory is refused. */
    path_of(sticky, sizeof sticky, "sticky");
    assert_int_equal(mkdir(sticky, 0755), 0);
    assert_int_equal(chmod(sticky, 01777), 0);
    snprintf(pd2, sizeof pd2, "%s/plugins", sticky);
    assert_int_equal(mkdir(pd2, 0755), 0);
    install_fixture("tests/abi/good.so", "sticky/plugins/good.so");
    c = load_conf(pd2, 0, NULL);
    assert_int_equal(loader_scan(c, &set, NULL), 0);
    assert_int_equal(set.v[0].state, PLUGIN_REFUSED);
    assert_non_null(strstr(set.v[0].reason, "is writable by others (mode 1777)"));
    loader_free(&set);
    config_free(c);
}

/* A symlink on the way to plugin_dir, in a root-owned directory, is followed and its target
 * checked; a symlinked plugin file is refused. The record keeps the descriptor it loaded, and
 * loader_free closes it. */
static void test_symlinks_and_the_kept_descriptor(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char real[1100], link[1100], pd[1200];
    path_of(real, sizeof real, "real");
    path_of(link, sizeof link, "link");
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(symlink("real", link), 0);
    install_fixture("tests/abi/good.so", "real/good.so");
    install_fixture("tests/abi/good.so", "good_elsewhere.so");
    char target[1200], lnk[1200];
    path_of(target, sizeof target, "good_elsewhere.so");
    snprintf(lnk, sizeof lnk, "%s/linked.so", real);
    assert_int_equal(symlink(target, lnk), 0);
    snprintf(pd, sizeof pd, "%s/.", link);
    config *c = load_conf(pd, 1, NULL);
    plugin_set set;
    assert_int_equal(loader_scan(c, &set, NULL), 0);
    const plugin_rec *g = find(&set, "good"), *l = find(&set, "linked");
    assert_non_null(g);
    assert_non_null(l);
    assert_int_equal(g->state, PLUGIN_LOADED);
    assert_int_equal(l->state, PLUGIN_REFUSED);
    assert_non_null(strstr(l->reason, "is a symbolic link"));
    assert_int_equal(l->fd, -1);
    int fd = g->fd;
    assert_true(fd > 2);
    struct stat a, b;
    char gpath[1200];
    snprintf(gpath, sizeof gpath, "%s/good.so", real);
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(stat(gpath, &b), 0);
    assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    assert_true(g->file_ino == b.st_ino);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    loader_free(&set);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed with its record */
    config_free(c);
}

/* glibc remembers every name an object was dlopen'ed under. A descriptor number that named
 * ticker.so and was closed while ticker.so stays mapped (another set still holds it) must not
 * hand ticker.so back for the next file opened at that number. */
static void test_reused_descriptor_number(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char pd[1100];
    path_of(pd, sizeof pd, "reuse");
    assert_int_equal(mkdir(pd, 0755), 0);
    install_fixture("tests/plugins/ticker.so", "reuse/ticker.so");
    install_fixture("plugins/dirwatch.so", "dirwatch_src.so");
    int dfd = open(pd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    char err[512];
    struct stat st;
    int f1 = lfs_open_file(dfd, "ticker.so");
    assert_true(f1 > 2);
    assert_int_equal(fstat(f1, &st), 0);
    void *h1 = lfs_dlopen_fd(&f1, &st, "ticker.so", err, sizeof err);
    assert_non_null(h1);
    int f2 = lfs_open_file(dfd, "ticker.so");
    void *h2 = lfs_dlopen_fd(&f2, &st, "ticker.so", err, sizeof err);
    assert_ptr_equal(h1, h2); /* the same file: glibc shares the mapping */
    int reused = f1;
    lfs_dlclose(h1);
    close(f1);
    /* The next descriptor gets the number just closed: a file that is not ticker.so. */
    char src[1100];
    path_of(src, sizeof src, "dirwatch_src.so");
    int f3 = open(src, O_RDONLY | O_CLOEXEC);
    assert_int_equal(f3, reused);
    struct stat st3;
    assert_int_equal(fstat(f3, &st3), 0);
    void *h3 = lfs_dlopen_fd(&f3, &st3, "dirwatch_src.so", err, sizeof err);
    assert_non_null(h3);
    assert_ptr_not_equal(h3, h2);
    healer_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h3, HEALER_ENTRY_SYMBOL);
    assert_non_null(entry);
    assert_string_equal(entry()->name, "dirwatch");
    lfs_dlclose(h3);
    close(f3);
    lfs_dlclose(h2);
    close(f2);
    close(dfd);
}

/* A descriptor named otherwise than its file is refused with the fix; an unknown section is a
 * config error with its line and the nearest name; a settings error is in the reason itself. */
static void test_names_sections_and_reasons(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char pd[1100];
    path_of(pd, sizeof pd, "names");
    assert_int_equal(mkdir(pd, 0755), 0);
    install_fixture("plugins/dirwatch.so", "names/dirwatch.so");
    install_fixture("plugins/dirwatch.so", "names/memory2.so");
    config *c = load_conf(pd, 1,
                          "dirwatch = { directory = \"/tmp\"; max_bytes = \"big\"; };\n"
                          "dirwacth = { directory = \"/tmp\"; };\n"
                          "memroy = { };\n"
                          "network = { };\n"
                          "zzzzzzzz = { };\n");
    plugin_set set;
    diag d = { .emit = on_diag };
    assert_int_equal(loader_scan(c, &set, &d), 0);
    const plugin_rec *m2 = find(&set, "memory2"), *dw = find(&set, "dirwatch");
    assert_int_equal(m2->state, PLUGIN_REFUSED);
    assert_non_null(strstr(m2->reason, "its descriptor is named \"dirwatch\" but its file is "
                           "memory2.so"));
    assert_non_null(strstr(m2->reason, "fix: rename memory2.so to dirwatch.so"));
    assert_int_equal(dw->state, PLUGIN_REFUSED);
    /* the real reason, with FILE:LINE, not "see the errors above" */
    assert_non_null(strstr(dw->reason, "h.conf:3: plugins.dirwatch.max_bytes"));
    assert_null(strstr(dw->reason, "see the errors above"));
    /* dirwacth (line 4): a swap of two letters; memroy (5): a built-in; network: built-in, not
     * installed, not an error; zzzzzzzz (7): nothing near */
    assert_int_equal(set.unknown_sections, 3);
    assert_non_null(strstr(diags, "h.conf:4: unknown plugin section 'dirwacth': did you mean "
                           "'dirwatch'?"));
    assert_non_null(strstr(diags, "h.conf:5: unknown plugin section 'memroy': did you mean "
                           "'memory'?"));
    assert_non_null(strstr(diags, "h.conf:7: unknown plugin section 'zzzzzzzz': no zzzzzzzz.so"));
    assert_null(strstr(diags, "'network'"));
    loader_free(&set);
    config_free(c);

    const char *known[] = { "cpu", "memory", "disk" };
    assert_string_equal(loader_nearest("memroy", known, 3), "memory");
    assert_string_equal(loader_nearest("dsk", known, 3), "disk");
    assert_null(loader_nearest("network", known, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_race_never_loads_the_swapped_file),
        cmocka_unit_test(test_unsafe_directory_above),
        cmocka_unit_test(test_symlinks_and_the_kept_descriptor),
        cmocka_unit_test(test_reused_descriptor_number),
        cmocka_unit_test(test_names_sections_and_reasons),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
