/* test_disk.c — the disk plugin (disk.c, disk_scan.c compiled in) driven through the mock host:
 * mounts parsing and which filesystems count, the least-squares fit and time-to-full, issues and
 * severities from fixture usage, the ladder chosen per use level and per mount, previews on real
 * files, the actuator calls, the bytes-freed metric, verify, dry-run, and the built .so loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <healer/mock.h>

#include "disk.h"

const healer_plugin *healer_plugin_entry_v1(void);

/* ---- fixture usage: the hook answers for the fixture mountpoints ------------------------- */

#define FX_MAX 16
static struct {
    char dir[PATH_MAX];
    disk_usage u;
} fx_use[FX_MAX];
static size_t fx_n;
static char fx_asked[64][PATH_MAX];
static size_t fx_n_asked;

static int fx_hook(const char *dir, disk_usage *u)
{
    if (fx_n_asked < 64)
        snprintf(fx_asked[fx_n_asked++], PATH_MAX, "%s", dir);
    for (size_t i = 0; i < fx_n; i++)
        if (strcmp(fx_use[i].dir, dir) == 0) {
            *u = fx_use[i].u;
            return 0;
        }
    errno = ENOENT;
    return -1;
}

static int fx_was_asked(const char *dir)
{
    for (size_t i = 0; i < fx_n_asked; i++)
        if (strcmp(fx_asked[i], dir) == 0)
            return 1;
    return 0;
}

/* Sets (or adds) the fixture usage of dir: pct of 1 GiB used, inodes at ipct. */
static void fx_set(const char *dir, dev_t dev, double pct, double ipct)
{
    size_t i = 0;
    while (i < fx_n && strcmp(fx_use[i].dir, dir) != 0)
        i++;
    if (i == fx_n) {
        assert_true(fx_n < FX_MAX);
        fx_n++;
    }
    snprintf(fx_use[i].dir, PATH_MAX, "%s", dir);
    disk_usage *u = &fx_use[i].u;
    memset(u, 0, sizeof *u);
    u->dev = dev;
    u->total_bytes = 1ull << 30;
    u->used_bytes = (uint64_t)(pct / 100.0 * (double)u->total_bytes);
    u->avail_bytes = u->total_bytes - u->used_bytes;
    u->used_percent = pct;
    u->inodes = 100000;
    u->inodes_free = (uint64_t)(100000 * (1 - ipct / 100));
    u->inodes_used_percent = ipct;
}

static void fx_set_avail(const char *dir, uint64_t avail)
{
    for (size_t i = 0; i < fx_n; i++)
        if (strcmp(fx_use[i].dir, dir) == 0) {
            disk_usage *u = &fx_use[i].u;
            u->avail_bytes = avail;
            u->used_bytes = u->total_bytes - avail;
            u->used_percent = 100.0 * (double)u->used_bytes / (double)u->total_bytes;
        }
}

/* ---- the per-test tree --------------------------------------------------------------------- */

typedef struct fx {
    char root[PATH_MAX];       /* temp dir: proc/, mounts, logs/, tmp/, store/ */
    char proc[PATH_MAX + 16];
    char mnt[PATH_MAX + 16];   /* the "full" mountpoint: a real directory */
    char logs[PATH_MAX + 16], tmp[PATH_MAX + 16], store[PATH_MAX + 16];
    dev_t dev;                 /* the real st_dev of the tree */
    healer_mock *m;
} fx;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static time_t fx_now;   /* the plugin's wall clock in the plan tests */

static void make_file(const char *dir, const char *name, size_t bytes, int days_old)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (bytes) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        bytes -= n;
    }
    close(fd);
    /* ctime cannot be set back: files are made old by running the plan on a clock fx_now far
     * ahead of the real one, and a "fresh" file gets fx_now itself as atime and mtime. */
    struct utimbuf t;
    t.actime = t.modtime = fx_now - (time_t)days_old * 86400;
    assert_int_equal(utime(p, &t), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    fx_now = time(NULL) + 1000 * 86400;
    snprintf(f->root, sizeof f->root, "/tmp/disk-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->proc, sizeof f->proc, "%s/proc", f->root);
    snprintf(f->mnt, sizeof f->mnt, "%s/mnt", f->root);
    snprintf(f->logs, sizeof f->logs, "%s/mnt/logs", f->root);
    snprintf(f->tmp, sizeof f->tmp, "%s/mnt/tmp", f->root);
    snprintf(f->store, sizeof f->store, "%s/mnt/store", f->root);
    char self[PATH_MAX * 2];
    snprintf(self, sizeof self, "%s/self", f->proc);
    assert_int_equal(mkdir(f->proc, 0755), 0);
    assert_int_equal(mkdir(self, 0755), 0);
    assert_int_equal(mkdir(f->mnt, 0755), 0);
    assert_int_equal(mkdir(f->logs, 0755), 0);
    assert_int_equal(mkdir(f->tmp, 0755), 0);
    assert_int_equal(mkdir(f->store, 0755), 0);
    struct stat st;
    assert_int_equal(stat(f->mnt, &st), 0);
    f->dev = st.st_dev;

    /* The fixture mounts: the watched one, pseudo filesystems, a read-only one, a squashfs,
     * an excluded one, a malformed line, a bind mount of the same device, and a mountpoint with
     * a space (\040). */
    char mounts[8192], path[PATH_MAX * 2];
    snprintf(mounts, sizeof mounts,
             "/dev/vda1 %s ext4 rw,relatime,errors=remount-ro 0 0\n"
             "proc /proc proc rw,nosuid 0 0\n"
             "sysfs /sys sysfs rw 0 0\n"
             "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
             "/dev/vdb /ro ext4 ro,relatime 0 0\n"
             "/dev/loop0 /snap/core squashfs ro 0 0\n"
             "tmpfs /run tmpfs rw,size=100m 0 0\n"
             "garbage\n"
             "/dev/vda1 /bind ext4 rw 0 0\n"
             "/dev/vdc /data\\040disk xfs rw 0 0\n"
             "/dev/vdd /home ext4 ro,relatime 0 0\n",
             f->mnt);
    assert_true((size_t)snprintf(path, sizeof path, "%s/mounts", self) < sizeof path);
    put(path, mounts);
    /* mountinfo: /ro is read-only itself; /home only in this view (ProtectHome=read-only). */
    assert_true((size_t)snprintf(path, sizeof path, "%s/mountinfo", self) < sizeof path);
    put(path, "40 1 254:16 / /ro ro,relatime - ext4 /dev/vdb ro\n"
              "41 1 254:48 / /home rw,relatime shared:9 - ext4 /dev/vdd rw\n"
              "90 41 254:48 / /home ro,relatime shared:9 - ext4 /dev/vdd rw,errors=remount-ro\n");

    fx_n = 0;
    fx_n_asked = 0;
    disk_usage_hook = fx_hook;
    fx_set(f->mnt, f->dev, 50, 10);
    fx_set("/run", 1001, 10, 1);
    fx_set("/bind", f->dev, 50, 10);
    fx_set("/data disk", 1002, 20, 2);
    fx_set("/ro", 1003, 99, 1);
    fx_set("/snap/core", 1004, 100, 100);
    fx_set("/home", 1005, 40, 4);

    f->m = healer_mock_new(f->proc, NULL);
    assert_non_null(f->m);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    const char *logs[] = {f->logs};
    const char *tmps[] = {f->tmp};
    const char *none[] = {"/nonexistent-journal-dir"};
    assert_int_equal(healer_mock_set_list(f->m, "log_dirs", logs, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_list(f->m, "tmp_dirs", tmps, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_list(f->m, "journal_dirs", none, 1), HEALER_OK);
    assert_int_equal(healer_mock_set_string(f->m, "nix_store", f->store), HEALER_OK);
    assert_int_equal(healer_mock_set_bool(f->m, "preview_nix", 0), HEALER_OK);
    char prof[PATH_MAX * 2];
    snprintf(prof, sizeof prof, "%s/profile", f->root);   /* absent: no generations step */
    assert_int_equal(healer_mock_set_string(f->m, "nix_profile", prof), HEALER_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    healer_mock_free(f->m);
    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    disk_usage_hook = NULL;
    free(f);
    return 0;
}

static size_t count_issues(healer_mock *m, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < healer_mock_issue_count(m); i++)
        if (strcmp(healer_mock_issue(m, i)->type, type) == 0)
            n++;
    return n;
}

static const healer_action *find_action(healer_mock *m, const char *name)
{
    for (size_t i = 0; i < healer_mock_action_count(m); i++)
        if (strcmp(healer_mock_action(m, i)->name, name) == 0)
            return healer_mock_action(m, i);
    return NULL;
}

/* The plan for a disk_space_low on the fixture mount at pct. */
static void plan_at(fx *f, double pct)
{
    fx_set(f->mnt, f->dev, pct, 5);
    healer_mock_clear(f->m);
    healer_mock_set_time(f->m, (double)fx_now);
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_HIGH, .target = f->mnt,
                       .summary = "test"};
    assert_int_equal(healer_mock_plan(f->m, &is), HEALER_OK);
}

/* ---- pure functions ------------------------------------------------------------------------ */

static void test_parse_mount_line(void **state)
{
    (void)state;
    disk_mount m;
    char l1[] = "/dev/sda1 /mnt/my\\040disk ext4 rw,relatime,errors=remount-ro 0 0\n";
    assert_int_equal(disk_parse_mount_line(l1, &m), 0);
    assert_string_equal(m.dir, "/mnt/my disk");
    assert_string_equal(m.type, "ext4");
    assert_int_equal(m.ro, 0);   /* "errors=remount-ro" is not "ro" */
    char l2[] = "/dev/sdb /x xfs ro,noatime 0 0";
    assert_int_equal(disk_parse_mount_line(l2, &m), 0);
    assert_int_equal(m.ro, 1);
    char l3[] = "nonsense";
    assert_int_equal(disk_parse_mount_line(l3, &m), -1);
    char l4[] = "dev relative ext4 rw 0 0";
    assert_int_equal(disk_parse_mount_line(l4, &m), -1);
    char l5[] = "";
    assert_int_equal(disk_parse_mount_line(l5, &m), -1);
}

static void test_super_rw(void **state)
{
    fx *f = *state;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/mountinfo.t", f->root);
    put(path, "22 1 8:1 / / ro,relatime - ext4 /dev/sda1 rw,errors=remount-ro\n"
              "23 22 8:2 / /my\\040data ro shared:3 master:1 - xfs /dev/sda2 rw\n"
              "24 22 8:3 / /boot rw - ext4 /dev/sda3 ro\n"
              "25 22 8:4 / /stacked rw - ext4 /dev/sda4 rw\n"
              "26 25 7:0 / /stacked ro - squashfs /dev/loop0 ro\n"
              "garbage line\n");
    assert_true(disk_super_rw(path, "/"));            /* errors=remount-ro is not ro */
    assert_true(disk_super_rw(path, "/my data"));     /* optional fields, escaped name */
    assert_false(disk_super_rw(path, "/boot"));       /* read-only itself */
    assert_false(disk_super_rw(path, "/stacked"));    /* the visible (last) mount counts */
    assert_false(disk_super_rw(path, "/nowhere"));
    assert_true((size_t)snprintf(path, sizeof path, "%s/no-such-mountinfo", f->root) < sizeof path);
    assert_false(disk_super_rw(path, "/"));
}

static void test_is_rotated(void **state)
{
    (void)state;
    assert_true(disk_is_rotated("syslog.1"));
    assert_true(disk_is_rotated("app.log.2.gz"));
    assert_true(disk_is_rotated("app-20240101"));
    assert_false(disk_is_rotated("app.log"));
    assert_false(disk_is_rotated("syslog"));
}

/* ---- detect -------------------------------------------------------------------------------- */

static void test_detect_which_mounts(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    /* pseudo, read-only (superblock too) and squashfs filesystems are never even measured */
    assert_false(fx_was_asked("/proc"));
    assert_false(fx_was_asked("/sys"));
    assert_false(fx_was_asked("/sys/fs/cgroup/unified"));
    assert_false(fx_was_asked("/ro"));
    assert_false(fx_was_asked("/snap/core"));
    /* tmpfs is real space; the escaped name is decoded */
    assert_true(healer_mock_last_health(f->m, "/run") == 100);
    assert_true(healer_mock_last_health(f->m, "/data disk") == 100);
    assert_true(healer_mock_last_health(f->m, f->mnt) == 100);
    /* the bind mount of the same device is watched once */
    assert_true(healer_mock_last_health(f->m, "/bind") < 0);
    /* read-only to us, writable underneath: others fill it, so it is watched */
    assert_true(healer_mock_last_health(f->m, "/home") == 100);
    assert_int_equal(healer_mock_issue_count(f->m), 0);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_detect_include_exclude(void **state)
{
    fx *f = *state;
    const char *inc[] = {"/run", "/data*"};
    const char *exc[] = {"/data*"};
    assert_int_equal(healer_mock_set_list(f->m, "mounts", inc, 2), HEALER_OK);
    assert_int_equal(healer_mock_set_list(f->m, "exclude_mounts", exc, 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_true(healer_mock_last_health(f->m, "/run") == 100);
    assert_true(healer_mock_last_health(f->m, "/data disk") < 0);
    assert_true(healer_mock_last_health(f->m, f->mnt) < 0);
    /* tmpfs configured out */
    healer_mock_clear(f->m);
    const char *types[] = {"tmpfs"};
    assert_int_equal(healer_mock_set_list(f->m, "skip_fstypes", types, 1), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_true(healer_mock_last_health(f->m, "/run") < 0);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_detect_thresholds(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_set(f->mnt, f->dev, 92, 5);
    fx_set("/run", 1001, 10, 96);     /* inodes alone make it critical */
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(count_issues(f->m, "disk_space_low"), 2);
    const healer_issue *a = NULL, *b = NULL;
    for (size_t i = 0; i < healer_mock_issue_count(f->m); i++) {
        const healer_issue *is = healer_mock_issue(f->m, i);
        if (strcmp(is->target, f->mnt) == 0)
            a = is;
        if (strcmp(is->target, "/run") == 0)
            b = is;
    }
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->severity, HEALER_SEV_HIGH);
    assert_int_equal(b->severity, HEALER_SEV_CRITICAL);
    double v;
    assert_true(healer_mock_measurement(a->measurements, a->n_measurements, "used_percent", &v));
    assert_true(fabs(v - 92) < 1e-9);
    assert_true(healer_mock_measurement(b->measurements, b->n_measurements,
                                        "inodes_used_percent", &v));
    assert_true(fabs(v - 96) < 1e-9);
    assert_true(healer_mock_last_health(f->m, f->mnt) < 50);

    /* configured thresholds */
    healer_mock_free(f->m);
    f->m = healer_mock_new(f->proc, NULL);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "high_percent", 95), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "critical_percent", 98), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(count_issues(f->m, "disk_space_low"), 1);   /* only /run's inodes (96) */
    assert_int_equal(healer_mock_last_issue(f->m, "disk_space_low")->severity, HEALER_SEV_HIGH);

    /* clears: resolved once */
    healer_mock_clear(f->m);
    fx_set("/run", 1001, 10, 10);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    assert_int_equal(healer_mock_resolved_count(f->m), 1);
    assert_string_equal(healer_mock_resolved_at(f->m, 0)->type, "disk_space_low");
    assert_string_equal(healer_mock_resolved_at(f->m, 0)->target, "/run");
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_init_refuses_bad_config(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_double(f->m, "high_percent", 95), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "critical_percent", 90), HEALER_OK);
    assert_true(healer_mock_init(f->m) < 0);
    healer_mock_free(f->m);
    f->m = healer_mock_new(f->proc, NULL);
    assert_int_equal(healer_mock_load(f->m, healer_plugin_entry_v1()), HEALER_OK);
    const char *rel[] = {"relative/dir"};
    assert_int_equal(healer_mock_set_list(f->m, "log_dirs", rel, 1), HEALER_OK);
    assert_true(healer_mock_init(f->m) < 0);
    assert_true(healer_mock_log_find(f->m, HEALER_LOG_ERROR, "not an absolute path") >= 0);
}

/* ---- prediction ---------------------------------------------------------------------------- */

static void test_predict_linear_fill(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_int(f->m, "predict_min_samples", 6), HEALER_OK);
    assert_int_equal(healer_mock_set_double(f->m, "predict_window_seconds", 600), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_set(f->mnt, f->dev, 50, 5);
    uint64_t avail = 500ull << 20;          /* 500 MiB free, 100 KiB/s written: 5120 s */
    for (int i = 0; i < 5; i++) {
        fx_set_avail(f->mnt, avail - (uint64_t)i * 10 * 102400);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 10);
    }
    assert_int_equal(count_issues(f->m, "disk_full_predicted"), 0);   /* too few samples */
    fx_set_avail(f->mnt, avail - 5ull * 10 * 102400);
    assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(f->m, "disk_full_predicted");
    assert_non_null(is);
    assert_string_equal(is->target, f->mnt);
    double ttf, rate, r2;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "time_to_full_seconds", &ttf));
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "fill_rate_bytes_per_second", &rate));
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "fit_r2", &r2));
    assert_true(fabs(rate - 102400) < 1);
    double expect = (double)(avail - 5ull * 10 * 102400) / 102400;
    assert_true(fabs(ttf - expect) < 1);
    assert_true(r2 > 0.999);
    assert_int_equal(is->severity, HEALER_SEV_MEDIUM);
    assert_int_equal(count_issues(f->m, "disk_space_low"), 0);

    /* verify: the same rate, but now lots free -> beyond the horizon */
    fx_set_avail(f->mnt, 900ull << 20);
    healer_action a = {.name = "clean_tmp", .target = f->mnt};
    healer_verdict v;
    assert_int_equal(healer_mock_verify(f->m, is, &a, &v), HEALER_OK);
    assert_true(v.healed);        /* 900 MiB at 100 KiB/s: 9216 s, beyond 7200 s */
    fx_set_avail(f->mnt, 500ull << 20);
    assert_int_equal(healer_mock_verify(f->m, is, &a, &v), HEALER_OK);
    assert_false(v.healed);       /* 500 MiB: 5120 s, still within */
}

/* Issue 11: a steady 2 MiB/s fill after a flat period was never predicted (the whole window's
 * fit, R^2 0.34, is dominated by the flat part). */
static void test_predict_fill_after_flat(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);   /* window 1800 s, 10 samples, 0.9 */
    fx_set(f->mnt, f->dev, 50, 5);
    uint64_t avail = 8ull << 30;
    for (int i = 0; i < 150; i++) {        /* 25 minutes flat, a sample every 10 s */
        fx_set_avail(f->mnt, avail);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 10);
    }
    assert_int_equal(count_issues(f->m, "disk_full_predicted"), 0);
    for (int i = 1; i <= 30; i++) {        /* then 5 minutes at 2 MiB/s */
        fx_set_avail(f->mnt, avail - (uint64_t)i * 10 * (2ull << 20));
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 10);
    }
    const healer_issue *is = healer_mock_last_issue(f->m, "disk_full_predicted");
    assert_non_null(is);
    double rate, ttf;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "fill_rate_bytes_per_second", &rate));
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements,
                                        "time_to_full_seconds", &ttf));
    assert_true(fabs(rate - (2 << 20)) < 1024);           /* the recent rate, not the average */
    assert_true(fabs(ttf - (double)(avail - 300ull * (2ull << 20)) / (2 << 20)) < 5);
}

static void test_predict_noise_and_flat(void **state)
{
    fx *f = *state;
    assert_int_equal(healer_mock_set_int(f->m, "predict_min_samples", 6), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    fx_set(f->mnt, f->dev, 50, 5);
    uint64_t avail = 500ull << 20;
    /* noisy: big swings with a small downward drift, R^2 low */
    for (int i = 0; i < 20; i++) {
        uint64_t a = avail - (uint64_t)i * 1000 + ((i % 2) ? (50ull << 20) : 0);
        fx_set_avail(f->mnt, a);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 5);
    }
    assert_int_equal(count_issues(f->m, "disk_full_predicted"), 0);
    healer_mock_advance(f->m, 2000);        /* past the window: a fresh trend */
    /* a slow steady fill: straight, but full only after the horizon */
    for (int i = 0; i < 20; i++) {
        fx_set_avail(f->mnt, avail - (uint64_t)i * 5 * 1024);   /* 1 KiB/s: days */
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 5);
    }
    assert_int_equal(count_issues(f->m, "disk_full_predicted"), 0);
    healer_mock_advance(f->m, 2000);
    /* a fast fill is raised, and resolved once the writer stops and the space comes back */
    for (int i = 0; i < 20; i++) {
        fx_set_avail(f->mnt, avail - (uint64_t)i * 5 * (1 << 20));  /* 1 MiB/s: 400 s */
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 5);
    }
    assert_true(count_issues(f->m, "disk_full_predicted") > 0);
    healer_mock_advance(f->m, 2000);        /* the fast samples leave the window */
    for (int i = 0; i < 10; i++) {
        fx_set_avail(f->mnt, avail);
        assert_int_equal(healer_mock_detect(f->m), HEALER_OK);
        healer_mock_advance(f->m, 5);
    }
    int resolved = 0;
    for (size_t i = 0; i < healer_mock_resolved_count(f->m); i++)
        resolved |= strcmp(healer_mock_resolved_at(f->m, i)->type, "disk_full_predicted") == 0;
    assert_true(resolved);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* ---- the ladder ---------------------------------------------------------------------------- */

static void fill_tree(fx *f)
{
    make_file(f->logs, "app.log", 4096, 0);            /* new: stays */
    make_file(f->logs, "app.log.1", 8192, 30);         /* rotated, old */
    make_file(f->logs, "old.log", 8192, 30);           /* old */
    char sub[PATH_MAX * 2];
    snprintf(sub, sizeof sub, "%s/nested", f->logs);
    assert_int_equal(mkdir(sub, 0755), 0);
    make_file(sub, "deep.log.2.gz", 4096, 40);
    make_file(f->tmp, "scratch", 4096, 20);            /* old temp */
    make_file(f->tmp, "fresh", 4096, 0);
    char target[PATH_MAX * 2], link[PATH_MAX * 2];
    snprintf(target, sizeof target, "%s/outside", f->root);
    make_file(f->root, "outside", 4096, 60);
    snprintf(link, sizeof link, "%s/link", f->tmp);
    assert_int_equal(symlink(target, link), 0);       /* never followed */
}

static void test_ladder_by_level(void **state)
{
    fx *f = *state;
    fill_tree(f);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);

    plan_at(f, 80);   /* below every action's threshold */
    assert_int_equal(healer_mock_action_count(f->m), 0);

    plan_at(f, 86);   /* nix GC only */
    assert_int_equal(healer_mock_action_count(f->m), 1);
    const healer_action *a = find_action(f->m, "nix_gc");
    assert_non_null(a);
    assert_int_equal(a->step, 0);
    assert_true(a->flags & HEALER_ACTION_DELETES);
    assert_false(a->flags & HEALER_ACTION_AUTO_OK);
    /* never by age (issue 11: --delete-older-than took generations keep_generations promised
     * to keep, and the users'): the count to keep travels with the action */
    assert_null(healer_mock_action_param(a, "delete_older_than"));
    assert_string_equal(healer_mock_action_param(a, "keep"), "5");
    assert_non_null(strstr(a->description, "user profiles untouched"));

    plan_at(f, 91);   /* + old logs, with the preview in the description */
    assert_int_equal(healer_mock_action_count(f->m), 2);
    a = find_action(f->m, "remove_old_logs");
    assert_non_null(a);
    assert_int_equal(a->step, 1);
    assert_string_equal(a->target, f->mnt);
    assert_non_null(strstr(a->description, "3 files"));
    assert_non_null(strstr(a->description, "app.log.1"));
    assert_non_null(strstr(a->description, "deep.log.2.gz"));
    assert_null(strstr(a->description, "app.log,"));   /* the new one is not listed */
    assert_null(find_action(f->m, "journal_vacuum"));  /* no journald here */

    plan_at(f, 94);   /* + temp files */
    a = find_action(f->m, "clean_tmp");
    assert_non_null(a);
    assert_int_equal(a->step, 2);
    assert_non_null(strstr(a->description, "1 file"));
    assert_non_null(strstr(a->description, "scratch"));
    assert_null(strstr(a->description, "outside"));
    assert_null(find_action(f->m, "emergency_cleanup"));

    plan_at(f, 96);   /* critical: + emergency (no profile: no generations step) */
    assert_null(find_action(f->m, "delete_generations"));
    a = find_action(f->m, "emergency_cleanup");
    assert_non_null(a);
    assert_int_equal(a->step, 4);
    assert_string_equal(healer_mock_action_param(a, "log_age_days"), "1");
    assert_int_equal(healer_mock_action_count(f->m), 4);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_ladder_other_filesystem(void **state)
{
    fx *f = *state;
    fill_tree(f);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    /* the full filesystem is another device: the log, temp and store dirs free nothing there */
    fx_set("/elsewhere", f->dev + 1, 97, 5);
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_CRITICAL,
                       .target = "/elsewhere", .summary = "test"};
    assert_int_equal(healer_mock_plan(f->m, &is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(f->m), 0);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_ladder_auto_flags(void **state)
{
    fx *f = *state;
    fill_tree(f);
    assert_int_equal(healer_mock_set_bool(f->m, "auto_logs", 1), HEALER_OK);
    assert_int_equal(healer_mock_set_bool(f->m, "auto_nix_gc", 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 96);
    assert_true(find_action(f->m, "remove_old_logs")->flags & HEALER_ACTION_AUTO_OK);
    assert_true(find_action(f->m, "nix_gc")->flags & HEALER_ACTION_AUTO_OK);
    assert_false(find_action(f->m, "clean_tmp")->flags & HEALER_ACTION_AUTO_OK);
    assert_false(find_action(f->m, "emergency_cleanup")->flags & HEALER_ACTION_AUTO_OK);
}

/* A temp directory systemd-tmpfiles ages is left to it: nothing planned, nothing removed. */
static void test_tmpfiles_defers(void **state)
{
    fx *f = *state;
    fill_tree(f);
    char td[PATH_MAX * 2], conf[PATH_MAX * 3], rule[PATH_MAX * 3];
    snprintf(td, sizeof td, "%s/tmpfiles.d", f->root);
    assert_int_equal(mkdir(td, 0755), 0);
    snprintf(conf, sizeof conf, "%s/test.conf", td);
    snprintf(rule, sizeof rule, "q %s 1777 root root 10d\n", f->tmp);
    put(conf, rule);
    const char *tds[] = {td};
    assert_int_equal(healer_mock_set_list(f->m, "tmpfiles_dirs", tds, 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 94);
    assert_null(find_action(f->m, "clean_tmp"));
    assert_non_null(find_action(f->m, "remove_old_logs"));   /* no rule for the logs */
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_HIGH, .target = f->mnt,
                       .summary = "test"};
    healer_action a = {.name = "clean_tmp", .target = f->mnt};
    healer_result r;
    size_t before = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_execute(f->m, &is, &a, &r), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), before);   /* no act_remove_old_files */
    assert_int_equal(r.outcome, HEALER_OUTCOME_SKIPPED);
}

static void test_held_open_not_listed(void **state)
{
    fx *f = *state;
    fill_tree(f);
    /* a fixture proc with one process holding old.log open */
    char pfd[PATH_MAX * 2], lnk[PATH_MAX * 2], tgt[PATH_MAX * 2];
    snprintf(pfd, sizeof pfd, "%s/4242", f->proc);
    assert_int_equal(mkdir(pfd, 0755), 0);
    snprintf(pfd, sizeof pfd, "%s/4242/fd", f->proc);
    assert_int_equal(mkdir(pfd, 0755), 0);
    assert_true((size_t)snprintf(lnk, sizeof lnk, "%s/3", pfd) < sizeof lnk);
    snprintf(tgt, sizeof tgt, "%s/old.log", f->logs);
    assert_int_equal(symlink(tgt, lnk), 0);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 91);
    const healer_action *a = find_action(f->m, "remove_old_logs");
    assert_non_null(a);
    assert_non_null(strstr(a->description, "2 files"));
    assert_null(strstr(a->description, "old.log,"));
    assert_non_null(strstr(a->description, "1 held open kept"));
}

static void test_journal_and_generations(void **state)
{
    fx *f = *state;
    /* journald "runs": its socket exists; the journal dir is on the mount */
    char sock[PATH_MAX * 2], jdir[PATH_MAX * 2];
    snprintf(sock, sizeof sock, "%s/journal.sock", f->root);
    snprintf(jdir, sizeof jdir, "%s/journal", f->mnt);
    assert_int_equal(mkdir(jdir, 0755), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    /* a cut path would bind a socket the plugin is never told about */
    assert_true(strlen(sock) < sizeof sa.sun_path);
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(healer_mock_set_string(f->m, "journald_socket", sock), HEALER_OK);
    const char *jd[] = {jdir};
    assert_int_equal(healer_mock_set_list(f->m, "journal_dirs", jd, 1), HEALER_OK);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 91);
    const healer_action *a = find_action(f->m, "journal_vacuum");
    assert_non_null(a);
    assert_int_equal(a->step, 1);
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_HIGH, .target = f->mnt,
                       .summary = "test"};
    healer_result r;
    healer_mock_set_run_result(f->m, "Vacuuming done", 0);
    assert_int_equal(healer_mock_execute(f->m, &is, a, &r), HEALER_OK);
    const healer_mock_call *c = healer_mock_last_call(f->m, HEALER_MOCK_ACT_RUN);
    assert_non_null(c);
    assert_int_equal(c->argc, 4);
    assert_string_equal(c->argv[0], "journalctl");
    assert_string_equal(c->argv[1], "--vacuum-time=7d");
    assert_string_equal(c->argv[2], "-D");
    assert_string_equal(c->argv[3], jdir);
    close(fd);
    unlink(sock);

    /* generations: executed argv (the step itself needs a profile; see disk_nix.sh for real) */
    healer_action g = {.name = "delete_generations", .target = f->mnt};
    char prof[PATH_MAX * 2];
    snprintf(prof, sizeof prof, "%s/profile", f->root);
    assert_int_equal(symlink("/nonexistent", prof), 0);
    healer_kv kv[] = {{"keep", "3"}};
    g.params = kv;
    g.n_params = 1;
    healer_mock_clear(f->m);
    assert_int_equal(healer_mock_execute(f->m, &is, &g, &r), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), 2);
    c = healer_mock_call_at(f->m, 0);
    assert_string_equal(c->argv[0], "nix-env");
    assert_string_equal(c->argv[1], "-p");
    assert_string_equal(c->argv[2], prof);
    assert_string_equal(c->argv[3], "--delete-generations");
    assert_string_equal(c->argv[4], "+3");
    c = healer_mock_call_at(f->m, 1);
    assert_string_equal(c->argv[0], "nix-store");
    assert_string_equal(c->argv[1], "--gc");
    assert_int_equal(healer_mock_violations(f->m), 0);
}

/* ---- execute, metric, verify, dry-run ------------------------------------------------------ */

static void test_execute_remove_and_metric(void **state)
{
    fx *f = *state;
    fill_tree(f);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 91);
    const healer_action *a = find_action(f->m, "remove_old_logs");
    assert_non_null(a);
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_HIGH, .target = f->mnt,
                       .summary = "test"};
    healer_mock_set_remove_result(f->m, 20480, 3);
    healer_result r;
    assert_int_equal(healer_mock_execute(f->m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    const healer_mock_call *c = healer_mock_last_call(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES);
    assert_non_null(c);
    assert_string_equal(c->path, f->logs);
    assert_true(c->older_than_days == 7);
    assert_true(c->opts.recursive);
    assert_true(c->opts.rotated_first);
    double v;
    assert_true(healer_mock_measurement(r.measurements, r.n_measurements, "freed_bytes", &v));
    assert_true(v == 20480);
    int found = 0;
    for (size_t i = 0; i < healer_mock_metric_count(f->m); i++) {
        const healer_mock_metric *mm = healer_mock_metric_at(f->m, i);
        if (strcmp(mm->name, "bytes_freed_total") != 0)
            continue;
        found = 1;
        assert_int_equal(mm->kind, HEALER_METRIC_COUNTER);
        assert_int_equal(mm->n_labels, 2);
        assert_string_equal(mm->labels[0].key, "action");
        assert_string_equal(mm->labels[0].value, "remove_old_logs");
        assert_string_equal(mm->labels[1].key, "mount");
        assert_string_equal(mm->labels[1].value, f->mnt);
        assert_true(mm->value == 20480);
    }
    assert_true(found);

    /* the age shown at plan time travels with the action */
    healer_kv kv[] = {{"older_than_days", "3.5"}};
    healer_action b = *a;
    b.params = kv;
    b.n_params = 1;
    assert_int_equal(healer_mock_execute(f->m, &is, &b, &r), HEALER_OK);
    assert_true(healer_mock_last_call(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES)->older_than_days
                == 3.5);

    /* nothing old: skipped; a failing actuator: failed */
    healer_mock_set_remove_result(f->m, 0, 0);
    assert_int_equal(healer_mock_execute(f->m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_SKIPPED);
    healer_mock_set_actuator_rc(f->m, HEALER_MOCK_ACT_REMOVE_OLD_FILES, HEALER_E_IO);
    assert_int_equal(healer_mock_execute(f->m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_FAILED);

    /* nix GC argv: the system profile's generations beyond keep_generations, then a plain GC;
     * never nix-collect-garbage, never a user's profile unless gc_user_profiles */
    healer_mock_clear_actuator_rc(f->m, HEALER_MOCK_ACT_COUNT);
    char prof[PATH_MAX * 2];
    snprintf(prof, sizeof prof, "%s/profile", f->root);
    assert_int_equal(symlink("/nonexistent", prof), 0);
    healer_action g = {.name = "nix_gc", .target = f->mnt};
    size_t before = healer_mock_call_count(f->m);
    assert_int_equal(healer_mock_execute(f->m, &is, &g, &r), HEALER_OK);
    assert_int_equal(healer_mock_call_count(f->m), before + 2);
    c = healer_mock_call_at(f->m, before);
    assert_int_equal(c->argc, 5);
    assert_string_equal(c->argv[0], "nix-env");
    assert_string_equal(c->argv[2], prof);
    assert_string_equal(c->argv[3], "--delete-generations");
    assert_string_equal(c->argv[4], "+5");
    c = healer_mock_call_at(f->m, before + 1);
    assert_int_equal(c->argc, 2);
    assert_string_equal(c->argv[0], "nix-store");
    assert_string_equal(c->argv[1], "--gc");
    /* verify: healed below the high threshold only */
    healer_verdict vd;
    fx_set(f->mnt, f->dev, 91, 5);
    assert_int_equal(healer_mock_verify(f->m, &is, a, &vd), HEALER_OK);
    assert_false(vd.healed);
    fx_set(f->mnt, f->dev, 70, 92);
    assert_int_equal(healer_mock_verify(f->m, &is, a, &vd), HEALER_OK);
    assert_false(vd.healed);     /* inodes still high */
    fx_set(f->mnt, f->dev, 70, 10);
    assert_int_equal(healer_mock_verify(f->m, &is, a, &vd), HEALER_OK);
    assert_true(vd.healed);
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_dry_run(void **state)
{
    fx *f = *state;
    fill_tree(f);
    healer_mock_set_dry_run(f->m, 1);
    assert_int_equal(healer_mock_init(f->m), HEALER_OK);
    plan_at(f, 96);
    healer_issue is = {.type = "disk_space_low", .severity = HEALER_SEV_CRITICAL,
                       .target = f->mnt, .summary = "test"};
    healer_mock_set_remove_result(f->m, 4096, 1);
    size_t before = healer_mock_metric_count(f->m);
    for (size_t i = 0; i < healer_mock_action_count(f->m); i++) {
        healer_result r;
        assert_int_equal(healer_mock_execute(f->m, &is, healer_mock_action(f->m, i), &r),
                         HEALER_OK);
        assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);
    }
    for (size_t i = before; i < healer_mock_metric_count(f->m); i++)
        assert_string_not_equal(healer_mock_metric_at(f->m, i)->name, "bytes_freed_total");
    assert_int_equal(healer_mock_violations(f->m), 0);
}

static void test_so_loads(void **state)
{
    (void)state;
    const char *b = getenv("BUILD");
    if (!b)
        skip();
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/plugins/disk.so", b);
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_int_equal(healer_mock_load_so(m, p), HEALER_OK);
    assert_string_equal(healer_mock_descriptor(m)->name, "disk");
    healer_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_mount_line),
        cmocka_unit_test(test_is_rotated),
        cmocka_unit_test_setup_teardown(test_super_rw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detect_which_mounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detect_include_exclude, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detect_thresholds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_refuses_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predict_linear_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predict_fill_after_flat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predict_noise_and_flat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ladder_by_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ladder_other_filesystem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ladder_auto_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfiles_defers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_open_not_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_and_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execute_remove_and_metric, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test(test_so_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
