/* bench_changelog.c — what the change log (changes.jsonl) costs each change an actuator makes on
 * this disk: the latency of one synced record (median, p99), and the time of a reopen with the
 * file at its 4 MiB bound (the agent's start).
 * Usage: bench_changelog [DIR] [RECORDS]   (DIR: where changes.jsonl goes, default a temp dir) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "changelog.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/bench_changelog_XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmp);
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (!dir || n < 1)
        return 2;
    chmod(dir, 0700);
    char err[256];
    changelog *l = changelog_open(dir, 0, 0, err, sizeof err);
    if (!l) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    /* a write_file record as the actuators make it: paths, backup, hash */
    json_t *r = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}",
                          "heal_id", (json_int_t)42, "issue_id", (json_int_t)7, "plugin", "disk",
                          "action", "rotate_logs", "actuator", "write_file", "target",
                          "/etc/app/app.conf", "kind", "write", "undoable", 1, "path",
                          "/etc/app/app.conf", "backup",
                          "/var/lib/healerd/backups/20261202T164550.042Z-disk-etc_app_app.conf",
                          "written_hash", "0123456789abcdef");
    for (int i = 0; i < n; i++) {
        double t0 = now();
        if (!changelog_add(l, r))
            return 1;
        lat[i] = now() - t0;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("changelog_add (synced): %d records, median %.3f ms, p99 %.3f ms, file %zu bytes, "
           "%zu records kept\n", n, lat[n / 2] * 1e3, lat[(size_t)(n * 0.99)] * 1e3,
           changelog_file_bytes(l), changelog_count(l));
    changelog_close(l);
    /* fill towards the bound without syncing each line, then time the reopen */
    l = changelog_open(dir, 0, 0, err, sizeof err);
    while (l && changelog_file_bytes(l) < CHANGELOG_MAX_BYTES - 4096 &&
           changelog_count(l) < 20000)
        changelog_add(l, r);
    size_t recs = changelog_count(l), bytes = changelog_file_bytes(l);
    changelog_close(l);
    double t0 = now();
    l = changelog_open(dir, 0, 0, err, sizeof err);
    double t1 = now();
    printf("reopen with %zu records (%zu bytes): %.1f ms\n", recs, bytes, (t1 - t0) * 1e3);
    changelog_close(l);
    json_decref(r);
    free(lat);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (argc <= 1 && system(cmd) != 0)
        return 1;
    return 0;
}
