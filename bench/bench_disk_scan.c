/* bench_disk_scan.c — the disk plugin's costs: the read-only cleanup preview (plan time) and the
 * host's act_remove_old_files (dry-run, then live) over a tree of 100 000 files, with bytes freed
 * per second; and the sampling work of one detect() (mounts, statvfs per filesystem, the fit).
 * Prints numbers; bench/disk_scan.sh runs it under strace -c for the system calls. */
#include "../plugins/disk/disk_scan.c"   /* the plugin's own scanner, compiled in */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "actuators.h"
#include "audit.h"
#include "predict.h"

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100 dirs x 1000 files of 1 KiB; every other file 30 days old. */
static void bench_make_tree(const char *root, int dirs, int per)
{
    char p[4200];
    char buf[1024];
    memset(buf, 'x', sizeof buf);
    struct utimbuf old;
    old.actime = old.modtime = time(NULL) - 30 * 86400;
    for (int d = 0; d < dirs; d++) {
        snprintf(p, sizeof p, "%s/d%03d", root, d);
        mkdir(p, 0755);
        for (int f = 0; f < per; f++) {
            snprintf(p, sizeof p, "%s/d%03d/f%04d.log%s", root, d, f, f % 4 == 1 ? ".1" : "");
            FILE *fp = fopen(p, "w");
            if (!fp)
                continue;
            fwrite(buf, 1, sizeof buf, fp);
            fclose(fp);
            if (f % 2)
                utime(p, &old);
        }
    }
}

/* Usage: bench_disk_scan [BASE_DIR]            every phase on a fresh tree, then removes it
 *        bench_disk_scan --phase P ROOT          one phase (make, preview, dry, live, detect) on
 *                                                ROOT, kept: disk_scan.sh straces each alone */
int main(int argc, char **argv)
{
    const char *phase = NULL;
    if (argc > 2 && strcmp(argv[1], "--phase") == 0) {
        phase = argv[2];
        argv += 2;
        argc -= 2;
    }
#define PHASE(x) (!phase || strcmp(phase, x) == 0)
    const char *base = argc > 1 ? argv[1] : "/tmp";
    int dirs = 100, per = 1000;
    char root[3000], state[3100];
    double t0;
    if (phase) {
        snprintf(root, sizeof root, "%s", base);
        mkdir(root, 0755);
    } else {
        snprintf(root, sizeof root, "%s/bench-disk-XXXXXX", base);
        if (!mkdtemp(root)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(state, sizeof state, "%s.state", root);
    mkdir(state, 0700);
    if (PHASE("make")) {
        t0 = bench_now();
        bench_make_tree(root, dirs, per);
        printf("tree: %d files (%d old) under %s, made in %.2f s\n", dirs * per, dirs * per / 2,
               root, bench_now() - t0);
    }
    if (phase && strcmp(phase, "make") == 0)
        return 0;

    /* 1. the plugin's preview (what plan() does) */
    if (PHASE("preview")) {
    disk_openset os;
    t0 = bench_now();
    disk_openset_load("/proc", &os);
    double t_open = bench_now() - t0;
    disk_preview p;
    t0 = bench_now();
    disk_preview_dir(root, 7, NULL, time(NULL), &os, &p);
    double t_prev = bench_now() - t0;
    printf("preview (plan): %.1f ms for %llu entries (%.0f entries/s), %llu would go "
           "(%llu bytes); held-open set: %zu files in %.1f ms\n", t_prev * 1e3,
           (unsigned long long)p.scanned, p.scanned / t_prev, (unsigned long long)p.count,
           (unsigned long long)p.bytes, os.n, t_open * 1e3);
    disk_openset_free(&os);
    }

    /* 2. the host's actuator, dry-run then live */
    char err[256];
    audit_log *al = audit_open(state, err, sizeof err);
    if (!al) {
        fprintf(stderr, "audit: %s\n", err);
        return 1;
    }
    act_config cfg = {.dry_run = 1, .proc_root = "/proc", .sys_root = "/sys",
                      .state_dir = state, .protect_min_uid = 1000, .scope_cgroup = ""};
    actuators *a = actuators_new(&cfg, al);
    const char *decl[] = {root};
    act_context c = {.plugin = "disk", .action = "bench", .declared_paths = decl,
                     .n_declared_paths = 1};
    healer_remove_opts o = {.recursive = 1, .rotated_first = 1};
    uint64_t freed = 0, count = 0;
    char msg[1024];
    int rc;
    if (PHASE("dry")) {
    t0 = bench_now();
    rc = act_remove_old_files(a, &c, root, 7, &o, &freed, &count, msg, sizeof msg);
    double t_dry = bench_now() - t0;
    printf("act_remove_old_files dry-run: rc %d, %.1f ms, %llu files (%llu bytes) would go\n", rc,
           t_dry * 1e3, (unsigned long long)count, (unsigned long long)freed);
    }
    if (PHASE("live")) {
    actuators_set_dry_run(a, 0);
    t0 = bench_now();
    rc = act_remove_old_files(a, &c, root, 7, &o, &freed, &count, msg, sizeof msg);
    double t_live = bench_now() - t0;
    printf("act_remove_old_files live: rc %d, %.1f ms, %llu files removed, %llu bytes freed: "
           "%.1f MB/s, %.0f files/s\n", rc, t_live * 1e3, (unsigned long long)count,
           (unsigned long long)freed, freed / t_live / 1e6, count / t_live);
    }
    actuators_free(a);
    audit_close(al);

    /* 3. the sampling work of one detect(): mounts, statvfs per real filesystem, a fit */
    if (!PHASE("detect"))
        return 0;
    int n_iter = 2000;
    double t[64], y[64];
    static double scratch[64 * 63 / 2];
    size_t nm_total = 0;
    t0 = bench_now();
    for (int i = 0; i < n_iter; i++) {
        disk_mount *mv;
        size_t n, bad;
        if (disk_read_mounts("/proc/self/mounts", &mv, &n, &bad) != 0)
            break;
        for (size_t k = 0; k < n; k++) {
            if (mv[k].ro || strcmp(mv[k].type, "proc") == 0 || strcmp(mv[k].type, "sysfs") == 0 ||
                strncmp(mv[k].type, "cgroup", 6) == 0 || strcmp(mv[k].type, "devpts") == 0 ||
                strcmp(mv[k].type, "devtmpfs") == 0)
                continue;
            disk_usage u;
            if (disk_usage_of(mv[k].dir, &u) == 0)
                nm_total++;
        }
        free(mv);
        for (int k = 0; k < 64; k++) {
            t[k] = 1.7e9 + 5 * k;
            y[k] = 1e9 - 1e3 * k;
        }
        healer_prediction f;   /* the host's prediction service, as the plugin asks it */
        memset(&f, 0, sizeof f);
        char why[HEALER_MSG_MAX];
        predict_fit(t, y, 64, 0, &f, scratch, why, sizeof why);
    }
    double t_det = (bench_now() - t0) / n_iter;
    printf("detect sampling: %.1f us per cycle (%zu filesystems measured, fit over 64 samples)\n",
           t_det * 1e6, nm_total / (size_t)n_iter);

    if (phase)
        return 0;
    char cmd[6300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, state);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return 0;
}
