/* bench_knowledge_growth.c — the knowledge base after a long life (issue #12): one million heals
 * recorded through the real batched writer (agent/knowledge.c), stamped over 7 simulated days of
 * steady issues; the process's RSS sampled every 100 000 heals (flat = no growth per heal); the
 * file's size; p50/p99 of the two HTTP views (/api/v1/heals at its default and maximum limit,
 * /api/v1/knowledge) on the full table; start-up (knowledge_open) on the full file; pruning the
 * oldest half (agent.history_days at work) and the size after it.
 * Usage: bench_knowledge_growth [DIR] [HEALS]   (DIR: where knowledge.db goes, default a new
 * directory under the current one: /tmp may be memory) */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "healer/types.h"
#include "knowledge.h"

static double mono(void)
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

static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static double file_mib(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (double)st.st_size / 1048576.0 : 0;
}

/* p50 and p99 of n calls of a view, in ms. */
typedef json_t *(*view_fn)(knowledge *kb, int arg);
static json_t *heals_view(knowledge *kb, int limit) { return knowledge_heals_json(kb, limit); }
static json_t *stats_view(knowledge *kb, int unused)
{
    (void)unused;
    return knowledge_stats_json(kb);
}

static void view_p99(knowledge *kb, const char *label, view_fn fn, int arg, int n)
{
    double *lat = calloc((size_t)n, sizeof *lat);
    size_t items = 0;
    for (int i = 0; i < n; i++) {
        double s = mono();
        json_t *j = fn(kb, arg);
        lat[i] = (mono() - s) * 1e3;
        char *text = json_dumps(j, JSON_COMPACT);   /* what the handler sends: encoding counts */
        lat[i] = (mono() - s) * 1e3;
        json_t *arr = json_object_get(j, "heals") ? json_object_get(j, "heals")
                                                  : json_object_get(j, "knowledge");
        items = json_array_size(arr);
        free(text);
        json_decref(j);
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("%-34s %6zu items  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (%d calls)\n", label,
           items, lat[n / 2], lat[n * 99 / 100], lat[n - 1], n);
    free(lat);
}

int main(int argc, char **argv)
{
    char tmp[] = "./bench_knowledge_growth.XXXXXX";
    const char *dir = argc > 1 ? argv[1] : NULL;
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000;
    if (n < 1000)
        n = 1000;
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
        fprintf(stderr, "bench_knowledge_growth: %s\n", err);
        return 1;
    }
    /* Steady issues over 7 days: a heal every 7*86400/n s of simulated time, the issue mix a
     * host sees (cpu, memory, disk, a flapping service), two actions each. */
    static const char *const types[] = {"cpu_high", "memory_high", "disk_space_low",
                                        "service_failed"};
    static const char *const plugins[] = {"cpu", "memory", "disk", "service"};
    static const char *const actions[][2] = {{"renice", "stop_processes"},
                                             {"drop_caches", "kill_low_priority"},
                                             {"clean_tmp", "remove_old_logs"},
                                             {"restart", "reset_failed"}};
    const double day = 86400.0, span = 7 * day;
    const double t_start = 1764280000.0;
    const double step = span / (double)n;
    printf("recording %ld heals over 7 simulated days (one every %.2f s of simulated time)\n", n,
           step);
    printf("%10s %10s %10s %10s %12s\n", "heals", "rss_MiB", "db_MiB", "wal_MiB", "heals/s");
    long rss0 = -1, rss_first = -1;
    uint64_t full = 0;
    double t0 = mono(), tlast = t0;
    for (long i = 0; i < n; i++) {
        int k = (int)(i % 4);
        double t = t_start + (double)i * step;
        char summary[96], target[48];
        snprintf(summary, sizeof summary, "%s on target %ld", types[k], i % 97);
        snprintf(target, sizeof target, "%s-%ld", plugins[k], i % 97);
        kb_action acts[2] = {
            {.plugin = plugins[k], .action = actions[k][0], .target = target,
             .outcome = "not_healed", .message = "still there",
             .before_json = "{\"value\": 97.0}", .after_json = "{\"value\": 96.0}",
             .started_at = t + 1, .duration = 0.2},
            {.plugin = plugins[k], .action = actions[k][1], .target = target,
             .outcome = "healed", .success = (i % 5) != 0, .message = "done",
             .before_json = "{\"value\": 96.0}", .after_json = "{\"value\": 20.0}",
             .started_at = t + 2, .duration = 0.1}};
        kb_heal h = {.id = knowledge_next_heal_id(kb), .issue_id = knowledge_next_issue_id(kb),
                     .issue_type = types[k], .severity = "high", .target = target,
                     .plugin = plugins[k], .summary = summary,
                     .outcome = (i % 5) ? "healed" : "failed", .detected_at = t,
                     .started_at = t + 1, .finished_at = t + 3, .actions = acts, .n_actions = 2};
        int rc;
        while ((rc = knowledge_record_heal(kb, &h)) == HEALER_E_FULL) {
            full++;
            usleep(1000);
        }
        if (rc != HEALER_OK) {
            fprintf(stderr, "bench_knowledge_growth: record: %s\n", healer_rc_str(rc));
            return 1;
        }
        if ((i + 1) % (n / 10) == 0) {
            knowledge_flush(kb);
            long rss = status_kib("VmRSS");
            if (rss0 < 0)
                rss0 = rss;
            if (rss_first < 0 && i + 1 >= n / 5)
                rss_first = rss;
            double tn = mono();
            printf("%10ld %10.1f %10.1f %10.1f %12.0f\n", i + 1, (double)rss / 1024,
                   file_mib(dir, "knowledge.db"), file_mib(dir, "knowledge.db-wal"),
                   (double)(n / 10) / (tn - tlast));
            fflush(stdout);
            tlast = tn;
        }
    }
    knowledge_flush(kb);
    long rss_end = status_kib("VmRSS");
    printf("recorded in %.1f s (queue-full waits %" PRIu64 "); RSS %.1f MiB after the first "
           "10%%, %.1f MiB at the end: %+.1f bytes per heal after 20%%\n",
           mono() - t0, full, (double)rss0 / 1024, (double)rss_end / 1024,
           rss_first > 0 ? (double)(rss_end - rss_first) * 1024.0 / ((double)n * 0.8) : 0.0);

    view_p99(kb, "GET /api/v1/heals (default 50)", heals_view, 50, 200);
    view_p99(kb, "GET /api/v1/heals?limit=1000", heals_view, 1000, 50);
    view_p99(kb, "GET /api/v1/knowledge", stats_view, 0, 200);

    double s = mono();
    knowledge_close(kb);
    printf("close: %.3f s; knowledge.db %.1f MiB (%.0f bytes per heal)\n", mono() - s,
           file_mib(dir, "knowledge.db"), file_mib(dir, "knowledge.db") * 1048576.0 / (double)n);
    s = mono();
    if (knowledge_open(dir, &kb, err, sizeof err) != 0) {
        fprintf(stderr, "bench_knowledge_growth: reopen: %s\n", err);
        return 1;
    }
    printf("start-up: knowledge_open on %ld heals: %.3f s\n", n, mono() - s);

    /* history_days at work: everything older than 3.5 simulated days goes. */
    uint64_t removed = 0;
    s = mono();
    if (knowledge_prune(kb, t_start + span / 2, &removed) != HEALER_OK) {
        fprintf(stderr, "bench_knowledge_growth: prune failed\n");
        return 1;
    }
    double tp = mono() - s;
    printf("prune: %" PRIu64 " heals older than 3.5 days removed in %.2f s (%.1f us per heal)\n",
           removed, tp, removed ? tp * 1e6 / (double)removed : 0.0);
    s = mono();
    uint64_t again = 0;
    knowledge_prune(kb, t_start + span / 2, &again);
    printf("prune again (nothing to remove): %.3f s\n", mono() - s);
    view_p99(kb, "GET /api/v1/heals after prune", heals_view, 50, 200);
    knowledge_close(kb);
    printf("after prune: knowledge.db %.1f MiB (free pages are reused, the file does not "
           "shrink without VACUUM)\n", file_mib(dir, "knowledge.db"));
    if (dir == tmp)
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
