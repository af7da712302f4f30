/* test_disk_walk.c — the attack tests of the cleanup enumeration (agent/clean_walk.c, which the
 * host's act_remove_old_files and the plugin's preview both run) on real files: a declared
 * directory swapped for a symlink or owned by another user, untrusted parents, ages by the
 * newest of atime/mtime/ctime, login records, hard links, paths over 511 bytes. Mount crossing
 * needs a mount namespace: tests/plugins/disk_attack.sh. */
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
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "clean_walk.h"
#include "disk.h"

static char root[PATH_MAX];

static void mk(const char *rel, mode_t mode)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(mkdir(p, mode), 0);
    assert_int_equal(chmod(p, mode), 0);   /* past the umask */
}

/* A file of 4 KiB whose atime and mtime are days_old before the real clock (its ctime is now). */
static void file(const char *rel, int days_old)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    close(fd);
    struct utimbuf t;
    t.actime = t.modtime = time(NULL) - (time_t)days_old * 86400;
    assert_int_equal(utime(p, &t), 0);
}

static const char *at(const char *rel)
{
    static char p[2][PATH_MAX * 2];   /* two: symlink(at(a), at(b)) */
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", root, rel);
    return p[k];
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/disk-walk-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static time_t far_ahead(void)
{
    return time(NULL) + 1000 * 86400;   /* every file made now is 1000 days old by then */
}

/* Issue 11: a declared directory under a world-writable parent, pre-created by uid 1000 as a
 * symlink to a root-owned directory with three files: all three were deleted. */
static void test_symlinked_declared_dir_refused(void **state)
{
    (void)state;
    mk("ww", 01777);
    mk("rootdir", 0755);
    file("rootdir/a", 30);
    file("rootdir/b", 30);
    file("rootdir/c", 30);
    assert_int_equal(symlink(at("rootdir"), at("ww/cache")), 0);
    assert_int_equal(lchown(at("ww/cache"), 1000, 1000), 0);
    disk_preview p;
    errno = 0;
    assert_int_equal(disk_preview_dir(at("ww/cache"), 7, NULL, far_ahead(), NULL, &p), -1);
    assert_int_equal(errno, ELOOP);
    assert_non_null(strstr(p.why, "symbolic link"));
    assert_non_null(strstr(p.why, "uid 1000"));
    assert_int_equal(p.count, 0);
    /* the host's opener says the same */
    int fd = -1;
    char why[512];
    assert_int_equal(cw_open_trusted_dir(at("ww/cache"), 0, &fd, why, sizeof why), -1);
    /* the real directory itself is fine */
    assert_int_equal(disk_preview_dir(at("rootdir"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 3);
}

/* A subdirectory uid 1000 made under a sticky /tmp-like dir is not trusted; root's is. */
static void test_untrusted_components_refused(void **state)
{
    (void)state;
    mk("ww", 01777);
    mk("ww/users", 0755);
    assert_int_equal(chown(at("ww/users"), 1000, 1000), 0);
    file("ww/users/old", 30);
    mk("ww/roots", 0755);
    file("ww/roots/old", 30);
    mk("open", 0777);                  /* world-writable, not sticky: anything below can be swapped */
    mk("open/x", 0755);
    file("open/x/old", 30);
    mk("grp", 0775);
    assert_int_equal(chown(at("grp"), 0, 1000), 0);   /* writable by a group that is not root's */
    mk("grp/y", 0755);
    disk_preview p;
    assert_int_equal(disk_preview_dir(at("ww/users"), 7, NULL, far_ahead(), NULL, &p), -1);
    assert_non_null(strstr(p.why, "owned by uid 1000"));
    assert_int_equal(disk_preview_dir(at("open/x"), 7, NULL, far_ahead(), NULL, &p), -1);
    assert_non_null(strstr(p.why, "writable by others and not sticky"));
    assert_int_equal(disk_preview_dir(at("grp/y"), 7, NULL, far_ahead(), NULL, &p), -1);
    assert_non_null(strstr(p.why, "writable by its group"));
    /* root's own directory under the sticky one, and the sticky one itself (as /tmp) */
    assert_int_equal(disk_preview_dir(at("ww/roots"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 1);
    assert_int_equal(disk_preview_dir(at("ww"), 7, NULL, far_ahead(), NULL, &p), 0);
    /* inside a declared directory every old file goes, whoever made it: the walk is by
     * descriptors, never through a link, so users/old is as safe to remove as roots/old */
    assert_int_equal(p.count, 2);
    /* ".." is refused lexically, before any open */
    char dots[PATH_MAX * 2];
    snprintf(dots, sizeof dots, "%s/ww/../rootdir", root);
    assert_int_equal(disk_preview_dir(dots, 7, NULL, far_ahead(), NULL, &p), -1);
}

/* Issue 11: files unpacked seconds ago with old mtimes (tar, cp -p) were deleted as old. */
static void test_age_is_newest_of_three(void **state)
{
    (void)state;
    mk("t", 0755);
    file("t/unpacked", 60);   /* mtime and atime 60 days ago, ctime now */
    disk_preview p;
    assert_int_equal(disk_preview_dir(at("t"), 7, NULL, time(NULL), NULL, &p), 0);
    assert_int_equal(p.count, 0);
    /* once its ctime is 1000 days back too, it is old */
    assert_int_equal(disk_preview_dir(at("t"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 1);
    /* a file read yesterday (atime) is not old either */
    struct utimbuf u = { .actime = far_ahead() - 86400, .modtime = far_ahead() - 90 * 86400 };
    assert_int_equal(utime(at("t/unpacked"), &u), 0);
    assert_int_equal(disk_preview_dir(at("t"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 0);
}

/* Issue 11: wtmp, btmp, lastlog were deleted as logs. */
static void test_login_records_kept(void **state)
{
    (void)state;
    static const char *const rec[] = { "wtmp", "btmp", "utmp", "lastlog", "faillog", "wtmp.1",
                                       "btmp-20240101.gz", "lastlog2.db", "wtmpx" };
    static const char *const not_rec[] = { "wtmpreport.log", "mylastlog", "old.log" };
    mk("log", 0755);
    mk("log/sub", 0755);
    for (size_t i = 0; i < sizeof rec / sizeof *rec; i++) {
        assert_true(cw_is_login_record(rec[i]));
        char r[64];
        snprintf(r, sizeof r, "log/%s", rec[i]);
        file(r, 30);
    }
    file("log/sub/wtmp", 30);
    for (size_t i = 0; i < sizeof not_rec / sizeof *not_rec; i++) {
        assert_false(cw_is_login_record(not_rec[i]));
        char r[64];
        snprintf(r, sizeof r, "log/%s", not_rec[i]);
        file(r, 30);
    }
    disk_preview p;
    assert_int_equal(disk_preview_dir(at("log"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 3);
    assert_int_equal(p.login_kept, 10);
}

/* Issue 11: bytes freed overstated (hard links); the preview said 3 files and the action removed
 * 4 (a name over 511 bytes). */
static void test_hard_links_and_long_names(void **state)
{
    (void)state;
    mk("h", 0755);
    file("h/one", 30);
    assert_int_equal(link(at("h/one"), at("h/two")), 0);
    file("h/alone", 30);
    char d[256], rel[PATH_MAX];
    memset(d, 'd', 250);
    d[250] = '\0';
    snprintf(rel, sizeof rel, "h/%s", d);
    mk(rel, 0755);
    snprintf(rel, sizeof rel, "h/%s/%s", d, d);
    mk(rel, 0755);
    snprintf(rel, sizeof rel, "h/%s/%s/%.200s", d, d, d);   /* 703 bytes below h */
    file(rel, 30);
    disk_preview p;
    assert_int_equal(disk_preview_dir(at("h"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 4);      /* one, two, alone and the long one */
    assert_int_equal(p.linked, 2);     /* one and two: another link keeps the blocks */
    assert_int_equal(p.bytes, 2 * 4096);
}

/* Issue 11: raw control bytes of file names in plan descriptions. */
static void test_names_sanitized(void **state)
{
    (void)state;
    mk("c", 0755);
    file("c/evil\x1b[31mred\nline", 30);
    disk_preview p;
    assert_int_equal(disk_preview_dir(at("c"), 7, NULL, far_ahead(), NULL, &p), 0);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.n_names, 1);
    assert_string_equal(p.names[0], "evil\\x1b[31mred\\x0aline");
    for (const char *c = p.names[0]; *c; c++)
        assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
}

/* Deliver 2: a directory systemd-tmpfiles ages is its own to clean. */
static void test_tmpfiles_rule(void **state)
{
    (void)state;
    mk("etc", 0755);
    mk("lib", 0755);
    FILE *f = fopen(at("lib/tmp.conf"), "w");
    assert_non_null(f);
    fputs("# comment\nq /tmp 1777 root root 10d\nd /var/cache/x 0755 root root -\n"
          "D /srv/scratch/ 0755 root root 2d\nL /srv/link - - - - /x\n", f);
    fclose(f);
    f = fopen(at("etc/ignored.txt"), "w");   /* not *.conf */
    assert_non_null(f);
    fputs("d /srv/other 0755 root root 1d\n", f);
    fclose(f);
    char e[PATH_MAX + 8], l[PATH_MAX + 8], where[512];
    snprintf(e, sizeof e, "%s/etc", root);
    snprintf(l, sizeof l, "%s/lib", root);
    const char *dirs[] = { e, l };
    assert_true(disk_tmpfiles_rule(dirs, 2, "/tmp", where, sizeof where));
    assert_non_null(strstr(where, "tmp.conf:2: q /tmp age 10d"));
    assert_true(disk_tmpfiles_rule(dirs, 2, "/srv/scratch", where, sizeof where));
    assert_false(disk_tmpfiles_rule(dirs, 2, "/var/cache/x", where, sizeof where)); /* no age */
    assert_false(disk_tmpfiles_rule(dirs, 2, "/srv/link", where, sizeof where));
    assert_false(disk_tmpfiles_rule(dirs, 2, "/srv/other", where, sizeof where));
    assert_false(disk_tmpfiles_rule(dirs, 2, "/tmp/sub", where, sizeof where));
}

int main(void)
{
    if (geteuid() != 0) {
        print_message("skip: needs root (chown to another uid)\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_symlinked_declared_dir_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_components_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_is_newest_of_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_records_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_links_and_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_sanitized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfiles_rule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
