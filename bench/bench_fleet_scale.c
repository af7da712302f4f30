/* bench_fleet_scale.c — the per-unit costs of shared knowledge that decide how a full mesh
 * scales, measured on the agent's own code (knowledge_local_rows, fleet_state_encode/decode,
 * knowledge_fleet_merge into a real knowledge.db, knowledge_fleet_sums) with NODES-1 peers of
 * PAIRS rows each, then the full mesh's per-node rates at NODES hosts computed from them.
 * Usage: bench_fleet_scale [NODES] [INTERVAL_S] [PAIRS...]   (default 1000 10 10 100 1000) */
#include <ftw.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet_merge.h"
#include "healer/types.h"
#include "knowledge.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* CPU time of the whole process: the knowledge base's writer thread does the disk part. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double heap_mib(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks / (1024.0 * 1024.0);
}

/* Names as a host's history has them: ~12-byte types, ~14-byte actions (as fleet_knowledge.sh). */
static void row_names(size_t i, char *type, char *action)
{
    snprintf(type, 48, "type_%zu_host", i % 50);
    snprintf(action, 48, "action_%zu", i);
}

/* A knowledge.db in DIR whose local statistics hold PAIRS rows, opened. */
static knowledge *open_with_local(const char *dir, size_t pairs)
{
    char err[256], path[4200];
    knowledge *kb = NULL;
    if (knowledge_open(dir, &kb, err, sizeof err) != 0) {
        fprintf(stderr, "knowledge_open %s: %s\n", dir, err);
        exit(1);
    }
    knowledge_close(kb);
    snprintf(path, sizeof path, "%s/knowledge.db", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO stats (issue_type, action, attempts, successes) "
                               "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    for (size_t i = 0; i < pairs; i++) {
        char t[48], a[48];
        row_names(i, t, a);
        sqlite3_bind_text(st, 1, t, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)(i % 97 + 1));
        sqlite3_bind_int64(st, 4, (sqlite3_int64)(i % 97 / 2));
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    if (knowledge_open(dir, &kb, err, sizeof err) != 0) {
        fprintf(stderr, "knowledge_open %s: %s\n", dir, err);
        exit(1);
    }
    return kb;
}

/* The hd-fleet thread's tick (fleet_knowledge.c, send_state): this node's rows copied out,
 * encoded, compared with the last state sent. Runs every second whatever the peer count. */
static double tick_us(knowledge *kb, size_t *state_len)
{
    char *last = NULL;
    size_t last_len = 0;
    int reps = 0;
    double t0 = now(), t;
    do {
        fleet_row *rows;
        size_t n;
        char *buf;
        size_t len;
        if (knowledge_local_rows(kb, &rows, &n) != 0 || fleet_state_encode("host", rows, n, &buf, &len) != 0)
            exit(1);
        free(rows);
        volatile int changed = !last || last_len != len || memcmp(last, buf, len) != 0;
        (void)changed;
        free(last);
        last = buf;
        last_len = len;
        reps++;
        t = now();
    } while (t - t0 < 0.5 || reps < 5);
    *state_len = last_len;
    free(last);
    return (t - t0) / reps * 1e6;
}

static void run(size_t nodes, double iv, size_t pairs, const char *base)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/p%zu", base, pairs);
    mkdir(dir, 0700);
    knowledge *kb = open_with_local(dir, pairs);
    size_t state_len = 0;
    double tick = tick_us(kb, &state_len);

    size_t peers = nodes - 1;
    char **names = calloc(peers, sizeof *names);
    char **msg = calloc(peers, sizeof *msg);
    size_t *msg_len = calloc(peers, sizeof *msg_len);
    fleet_row *rows = calloc(pairs, sizeof *rows);
    char (*tn)[48] = calloc(pairs, sizeof *tn), (*an)[48] = calloc(pairs, sizeof *an);
    if (!names || !msg || !msg_len || !rows || !tn || !an)
        exit(1);
    for (size_t i = 0; i < pairs; i++) {
        row_names(i, tn[i], an[i]);
        rows[i] = (fleet_row){tn[i], an[i], i % 97 + 1, i % 97 / 2};
    }
    for (size_t p = 0; p < peers; p++) {
        char nm[32];
        snprintf(nm, sizeof nm, "node-%04zu", p);
        names[p] = strdup(nm);
        if (fleet_state_encode(nm, rows, pairs, &msg[p], &msg_len[p]) != 0)
            exit(1);
    }

    /* The table alone: what 999 peers' rows take in memory (the hash map of fleet_merge.c). */
    double h0 = heap_mib();
    fleet_table *t = fleet_table_new();
    size_t refused = 0;
    for (size_t p = 0; p < peers; p++)
        for (size_t i = 0; i < pairs; i++)
            if (fleet_table_merge(t, names[p], rows[i].type, rows[i].action, rows[i].attempts,
                                  rows[i].successes) < 0)
                refused++;
    double table_mib = heap_mib() - h0;
    size_t table_rows = fleet_table_rows(t);
    /* The planner's lookup: the sums of one (type, action) over every peer. */
    double l0 = now();
    size_t looks = 0;
    uint64_t a, s, sink = 0;
    while (now() - l0 < 0.2)
        for (int k = 0; k < 1000; k++, looks++) {
            fleet_table_sums(t, tn[looks % pairs], an[looks % pairs], &a, &s);
            sink += a;
        }
    double lookup_ns = (now() - l0) / (double)looks * 1e9;
    fleet_table_free(t);

    /* The receive path as hd-fleet runs it: decode, then merge into memory and knowledge.db. */
    if (knowledge_fleet_enable(kb, (const char *const *)names, peers, 0.5) != 0)
        exit(1);
    fleet_state st;
    char why[256];
    size_t grew;
    double f0 = now(), fc0 = cpu_now();
    for (size_t p = 0; p < peers; p++) { /* first contact: every row new, written to disk */
        if (fleet_state_decode(msg[p], msg_len[p], &st, why, sizeof why) != 0) {
            fprintf(stderr, "decode: %s\n", why);
            exit(1);
        }
        knowledge_fleet_merge(kb, &st, &grew);
        fleet_state_free(&st);
    }
    double first_ms = (now() - f0) / (double)peers * 1e3;
    double first_cpu_ms = (cpu_now() - fc0) / (double)peers * 1e3;
    /* Steady state: the same states again (the idle fleet's every interval): nothing grows. */
    size_t steady = 0;
    double s0 = now(), s1, sc0 = cpu_now();
    do {
        fleet_state_decode(msg[steady % peers], msg_len[steady % peers], &st, why, sizeof why);
        knowledge_fleet_merge(kb, &st, &grew);
        fleet_state_free(&st);
        steady++;
        s1 = now();
    } while (s1 - s0 < 1.0 || steady < 20);
    double steady_us = (s1 - s0) / (double)steady * 1e6;
    double steady_cpu_us = (cpu_now() - sc0) / (double)steady * 1e6;
    /* One row grown per message (a peer healed something since its last state): one upsert. */
    size_t changed = 0;
    double c_spent = 0, c_cpu = 0, c0 = now();
    do {
        size_t p = changed % peers;
        rows[0].attempts = 1000 + changed; /* grows every time */
        char *m;
        size_t ml;
        fleet_state_encode(names[p], rows, pairs, &m, &ml); /* the sender's: not timed */
        double e0 = now(), ec0 = cpu_now();
        fleet_state_decode(m, ml, &st, why, sizeof why);
        knowledge_fleet_merge(kb, &st, &grew);
        fleet_state_free(&st);
        c_spent += now() - e0;
        c_cpu += cpu_now() - ec0;
        free(m);
        changed++;
    } while (now() - c0 < 1.0 || changed < 20);
    double changed_us = c_spent / (double)changed * 1e6;
    double changed_cpu_us = c_cpu / (double)changed * 1e6;
    rows[0].attempts = 1;
    size_t held = knowledge_fleet_rows(kb);
    knowledge_close(kb);
    char dbp[4200];
    snprintf(dbp, sizeof dbp, "%s/knowledge.db", dir);
    struct stat sb;
    double db_mib = stat(dbp, &sb) == 0 ? (double)sb.st_size / 1048576.0 : -1;

    double per_s = (double)peers / iv; /* messages in, and out, per node per second */
    printf("\nPAIRS %zu (rows per state), %zu peers\n", pairs, peers);
    printf("  one state: %zu bytes (%.1f per row); the 1 s tick (copy, encode, compare): %.1f us\n",
           state_len, (double)state_len / (double)(pairs ? pairs : 1), tick);
    printf("  table of %zu rows (%zu refused past FLEET_TABLE_MAX %d): %.1f MiB heap (%.0f B/row); "
           "planner lookup %.0f ns\n", table_rows, refused, FLEET_TABLE_MAX, table_mib,
           table_mib * 1048576.0 / (double)(table_rows ? table_rows : 1), lookup_ns);
    printf("  receive, first contact (all rows new, to knowledge.db): %.2f ms per message "
           "(CPU %.2f ms)\n", first_ms, first_cpu_ms);
    printf("  receive, unchanged state (decode + merge, nothing written): %.1f us per message "
           "(CPU %.1f us)\n", steady_us, steady_cpu_us);
    printf("  receive, one row grown (decode + merge + one synchronous upsert): %.0f us per "
           "message (CPU %.0f us; the rest waits for the disk)\n", changed_us, changed_cpu_us);
    printf("  knowledge.db after: %.1f MiB, %zu fleet rows held\n", db_mib, held);
    printf("  full mesh of %zu at interval %.0f s, per node: %.1f msgs/s in and out, payload "
           "%.1f KB/s each way (before CURVE/TCP framing; fleet-wide %.1f MB/s)\n", nodes, iv,
           per_s, per_s * (double)state_len / 1000.0, (double)nodes * per_s * (double)state_len / 1e6);
    printf("    receive CPU %.2f %% of a core when nothing changes; when every state carries a new "
           "count: CPU %.2f %%, hd-fleet busy %.0f %% of its time (%.0f synchronous writes/s)\n",
           per_s * steady_cpu_us / 1e4, per_s * changed_cpu_us / 1e4, per_s * changed_us / 1e4,
           per_s);
    for (size_t p = 0; p < peers; p++) {
        free(names[p]);
        free(msg[p]);
    }
    free(names);
    free(msg);
    free(msg_len);
    free(rows);
    free(tn);
    free(an);
    (void)sink;
}

int main(int argc, char **argv)
{
    size_t nodes = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    double iv = argc > 2 ? strtod(argv[2], NULL) : 10;
    if (nodes < 2 || iv <= 0) {
        fprintf(stderr, "usage: bench_fleet_scale [NODES>=2] [INTERVAL_S>0] [PAIRS...]\n");
        return 2;
    }
    char base[] = "/tmp/bench_fleet_scale.XXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    printf("bench_fleet_scale: %zu nodes, interval_seconds %.0f\n", nodes, iv);
    if (argc > 3)
        for (int i = 3; i < argc; i++)
            run(nodes, iv, strtoul(argv[i], NULL, 10), base);
    else
        for (size_t p = 10; p <= 1000; p *= 10)
            run(nodes, iv, p, base);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
