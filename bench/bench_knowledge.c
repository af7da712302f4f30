/* bench_knowledge.c — how fast the knowledge base stores heals on this disk: heals/s through
 * the batched writer (time until flushed), the latency of the durable one-heal path
 * (synchronous=FULL: one fsync per heal), and the cost of the HTTP views on a full table.
 * Usage: bench_knowledge [DIR] [HEALS]   (DIR: where knowledge.db goes, default a temp dir) */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "healer/types.h"
#include "knowledge.h"

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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static kb_heal heal_of(uint64_t id, uint64_t issue, const kb_action *acts)
{
    static const char *const types[] = {"cpu_high", "mem_low", "disk_full", "thermal_high"};
    kb_heal h = {.id = id, .issue_id = issue, .issue_type = types[id % 4], .severity = "high",
                 .target = "cpu", .plugin = "cpu", .summary = "CPU at 97% for 60 s",
                 .outcome = "healed", .detected_at = 1764280000.0, .started_at = 1764280001.0,
                 .finished_at = 1764280002.5, .actions = acts, .n_actions = 2};
    return h;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/bench_knowledge.XXXXXX";
    const char *dir = argc > 1 ? argv[1] : NULL;
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    if (n <= 0)
        n = 200000;
    if (!dir) {
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmp;
    }
    knowledge *kb = NULL;
    char err[512];
    if (knowledge_open(dir, &kb, err, sizeof err) != 0) {
        fprintf(stderr, "bench_knowledge: %s\n", err);
        return 1;
    }
    const kb_action acts[2] = {
        {.plugin = "cpu", .action = "renice", .target = "pid:123", .outcome = "failed",
         .message = "still at 97%", .before_json = "{\"cpu_percent\": 97.0}",
         .after_json = "{\"cpu_percent\": 96.0}", .started_at = 1764280001.0, .duration = 0.2},
        {.plugin = "cpu", .action = "freeze", .target = "cg:/x", .outcome = "healed",
         .success = 1, .message = "froze /x", .before_json = "{\"cpu_percent\": 96.0}",
         .after_json = "{\"cpu_percent\": 20.0}", .started_at = 1764280001.5, .duration = 0.1}};

    /* 1. Batched: the producer runs flat out; a full queue is waited out, not dropped, so the
     * rate is the writer's (the disk's), and the waits are reported. */
    uint64_t full = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        kb_heal h = heal_of(knowledge_next_heal_id(kb), knowledge_next_issue_id(kb), acts);
        int rc;
        while ((rc = knowledge_record_heal(kb, &h)) == HEALER_E_FULL) {
            full++;
            usleep(1000);
        }
        if (rc != HEALER_OK) {
            fprintf(stderr, "bench_knowledge: record: %s\n", healer_rc_str(rc));
            return 1;
        }
    }
    double t_queued = now() - t0;
    if (knowledge_flush(kb) != HEALER_OK) {
        fprintf(stderr, "bench_knowledge: flush failed\n");
        return 1;
    }
    double t_flushed = now() - t0;
    printf("batched: %ld heals x 2 actions queued in %.3f s, committed in %.3f s: %.0f heals/s"
           " (queue-full waits: %" PRIu64 ")\n",
           n, t_queued, t_flushed, (double)n / t_flushed, full);

    /* 2. Durable path: one transaction and one fsync of the WAL per heal. */
    enum { SYNC_N = 200 };
    double lat[SYNC_N];
    for (int i = 0; i < SYNC_N; i++) {
        kb_heal h = heal_of(knowledge_next_heal_id(kb), knowledge_next_issue_id(kb), acts);
        double s = now();
        if (knowledge_record_heal_sync(kb, &h) != HEALER_OK) {
            fprintf(stderr, "bench_knowledge: sync record failed\n");
            return 1;
        }
        lat[i] = now() - s;
    }
    qsort(lat, SYNC_N, sizeof lat[0], cmp_double);
    printf("sync: %d heals, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", SYNC_N,
           lat[SYNC_N / 2] * 1e3, lat[SYNC_N * 99 / 100] * 1e3, lat[SYNC_N - 1] * 1e3);

    /* 3. The HTTP views over the full table. */
    double s = now();
    json_t *j = knowledge_heals_json(kb, 1000);
    double t_heals = now() - s;
    size_t got = json_array_size(json_object_get(j, "heals"));
    json_decref(j);
    s = now();
    j = knowledge_stats_json(kb);
    double t_stats = now() - s;
    json_decref(j);
    printf("views: heals_json(1000) %.2f ms (%zu heals), stats_json %.3f ms\n", t_heals * 1e3,
           got, t_stats * 1e3);

    s = now();
    knowledge_close(kb);
    printf("close: %.3f s\n", now() - s);

    s = now();
    if (knowledge_open(dir, &kb, err, sizeof err) != 0) {
        fprintf(stderr, "bench_knowledge: reopen: %s\n", err);
        return 1;
    }
    printf("reopen (quick_check, stats, ids) with %ld heals: %.3f s\n", n + SYNC_N, now() - s);
    knowledge_close(kb);
    if (dir == tmp)
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
