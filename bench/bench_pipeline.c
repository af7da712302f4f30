/* bench_pipeline.c — issues per second through the whole pipeline: detect (the noop plugin's
 * bursts), merge, govern, plan, dry-run execute, verify, record (knowledge base and audit log),
 * with the real agent in-process, the plugin in a thread and in a healerd-plugin child, side by
 * side (the machine may be loaded: compare within one run), with the CPU time each spends per issue
 * (the agent's threads; the plugin child's), which depends far less on the load than the rate.
 * Prints numbers; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "engine.h"
#include "log.h"

/* Under the build tree: the loader refuses a plugin_dir below a world-writable /tmp. */
static char tmpl[400] = "/var/tmp/healerd-bench.XXXXXX";

/* CPU seconds of this process (all threads). */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the calling thread: the engine's, which runs here (engine_run_once). */
static double thread_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the children alive now (the plugin child): utime + stime from /proc/PID/stat. */
static double children_cpu(void)
{
    double total = 0;
    long tck = sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        long pid;
        while (f && fscanf(f, "%ld", &pid) == 1) {
            char sp[64], line[1024];
            snprintf(sp, sizeof sp, "/proc/%ld/stat", pid);
            FILE *st = fopen(sp, "r");
            if (st && fgets(line, sizeof line, st)) {
                char *p = strrchr(line, ')');
                unsigned long long ut = 0, stt = 0;
                /* after "pid (comm)": state and 10 fields, then utime and stime */
                if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                &ut, &stt) == 2)
                    total += (double)(ut + stt) / (double)tck;
            }
            if (st)
                fclose(st);
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return total;
}

/* Each thread's CPU seconds (utime + stime) by name, for the split printed per issue. */
#define MAX_THREADS 64
typedef struct tcpu { char name[32]; double s; } tcpu;

static size_t threads_cpu(tcpu *out)
{
    size_t n = 0;
    long tck = sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < MAX_THREADS) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(line, sizeof line, f)) {
            char *l = strchr(line, '('), *r = strrchr(line, ')');
            unsigned long long ut = 0, st = 0;
            if (l && r && r > l &&
                sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                       &st) == 2) {
                snprintf(out[n].name, sizeof out[n].name, "%.*s", (int)(r - l - 1), l + 1);
                out[n++].s = (double)(ut + st) / (double)tck;
            }
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* Per thread name: the CPU it spent between the two readings, per issue. */
static void print_split(const char *isolation, const tcpu *a, size_t na, const tcpu *b, size_t nb,
                        uint64_t heals)
{
    if (!heals)
        return;
    printf("pipeline (%s): CPU per issue by thread:", isolation);
    for (size_t i = 0; i < nb; i++) {
        double before = 0;
        for (size_t k = 0; k < na; k++)
            if (strcmp(a[k].name, b[i].name) == 0)
                before += a[k].s;
        int first = 1; /* same names summed once */
        for (size_t k = 0; k < i; k++)
            if (strcmp(b[k].name, b[i].name) == 0)
                first = 0;
        if (!first)
            continue;
        double after = 0;
        for (size_t k = i; k < nb; k++)
            if (strcmp(b[k].name, b[i].name) == 0)
                after += b[k].s;
        double us = (after - before) * 1e6 / (double)heals;
        if (us >= 0.05)
            printf(" %s %.1f us", b[i].name, us);
    }
    printf("\n");
}

static int run(const char *plugin, int rounds, int burst, const char *isolation)
{
    char dir[sizeof tmpl];
    snprintf(dir, sizeof dir, "%s", tmpl);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755);
    char cmd[4096], conf[600], pdir[600];
    snprintf(pdir, sizeof pdir, "%s/plugins", dir);
    snprintf(cmd, sizeof cmd, "%s/noop.so", pdir);
    mkdir(pdir, 0755);
    FILE *in = fopen(plugin, "rb"), *out = fopen(cmd, "wb");
    if (!in || !out) {
        fprintf(stderr, "cannot copy %s (pass the path of noop.so)\n", plugin);
        return 1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    chmod(cmd, 0755);
    snprintf(conf, sizeof conf, "%s/healerd.conf", dir);
    FILE *c = fopen(conf, "w");
    fprintf(c,
            "agent = { mode = \"dry-run\"; interval = 1.0; plugin_dir = \"%s\"; state_dir = \"%s/state\";\n"
            "  log_level = \"warn\"; queue_limit = 100000; };\n"
            "limits = { max_heals_per_hour = 100000; cooldown_minutes = 0; min_health_for_auto = 0; };\n"
            "http = { listen = \"\"; };\n"
            "plugins = { noop = { burst = %d; isolation = \"%s\"; }; };\n",
            pdir, dir, burst, isolation);
    fclose(c);

    agent_opts o = { .config_path = conf, .once = 1 };
    int code;
    log_set_level(HEALER_LOG_WARN);
    agent *a = agent_open(&o, &code);
    if (!a) {
        fprintf(stderr, "agent_open failed (%d)\n", code);
        return 1;
    }
    engine *e = agent_engine(a);
    engine_keep_recent(e, 0); /* the daemon keeps no --once summary */
    engine_run_once(e, 60); /* warm-up round */
    uint64_t before = engine_heals_finished(e);
    tcpu ta[MAX_THREADS], tb[MAX_THREADS];
    size_t na = threads_cpu(ta);
    double c0 = self_cpu(), k0 = children_cpu(), e0 = thread_cpu();
    double t0 = clock_mono();
    for (int r = 0; r < rounds; r++)
        engine_run_once(e, 60);
    double t1 = clock_mono();
    double c1 = self_cpu(), k1 = children_cpu(), e1 = thread_cpu();
    size_t nb = threads_cpu(tb);
    uint64_t heals = engine_heals_finished(e) - before;
    agent_close(a); /* flushes the knowledge base */
    double t2 = clock_mono();
    printf("pipeline (%s): %llu issues healed (dry-run) in %.3f s: %.0f issues/s through detect, "
           "govern, plan, execute, verify, audit\n", isolation, (unsigned long long)heals, t1 - t0,
           (double)heals / (t1 - t0));
    printf("pipeline (%s): CPU per issue: agent %.1f us (all its threads), plugin child %.1f us, "
           "total %.1f us (%.0f issues per CPU-second)\n", isolation,
           heals ? (c1 - c0) * 1e6 / (double)heals : 0, heals ? (k1 - k0) * 1e6 / (double)heals : 0,
           heals ? (c1 - c0 + k1 - k0) * 1e6 / (double)heals : 0,
           c1 - c0 + k1 - k0 > 0 ? (double)heals / (c1 - c0 + k1 - k0) : 0);
    /* Every issue passes through the one engine thread: its CPU per issue bounds the rate on
     * an otherwise idle core, whatever else the machine is doing. */
    printf("pipeline (%s): engine thread %.1f us CPU per issue: at most %.0f issues/s on an idle "
           "core\n", isolation, heals ? (e1 - e0) * 1e6 / (double)heals : 0,
           e1 - e0 > 0 ? (double)heals / (e1 - e0) : 0);
    print_split(isolation, ta, na, tb, nb, heals);
    printf("pipeline (%s): including the final knowledge-base flush (%.3f s): %.0f issues/s "
           "recorded\n", isolation, t2 - t1, (double)heals / (t2 - t0));
    snprintf(cmd, sizeof cmd, "%s", dir);
    /* Leave no files behind. */
    char rm[700];
    snprintf(rm, sizeof rm, "%s/state/knowledge.db", dir);
    unlink(rm);
    snprintf(rm, sizeof rm, "%s/state/knowledge.db-wal", dir); unlink(rm);
    snprintf(rm, sizeof rm, "%s/state/knowledge.db-shm", dir); unlink(rm);
    snprintf(rm, sizeof rm, "%s/state/audit.jsonl", dir); unlink(rm);
    snprintf(rm, sizeof rm, "%s/state/backups", dir); rmdir(rm);
    snprintf(rm, sizeof rm, "%s/state", dir); rmdir(rm);
    snprintf(rm, sizeof rm, "%s/noop.so", pdir); unlink(rm);
    rmdir(pdir);
    unlink(conf);
    rmdir(dir);
    return 0;
}

/* bench_pipeline [NOOP.SO [ROUNDS [BURST [thread|process|both]]]] */
int main(int argc, char **argv)
{
    const char *plugin = argc > 1 ? argv[1] : "build/bench/plugins/noop.so";
    int rounds = argc > 2 ? atoi(argv[2]) : 90;
    int burst = argc > 3 ? atoi(argv[3]) : 1000;
    const char *iso = argc > 4 ? argv[4] : "both";
    /* The runner of this build tree (build/bin), unless the caller chose one. */
    char exe[4096], runner[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!getenv("HEALERD_PLUGIN_RUNNER") && n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(runner, sizeof runner, "%s/../bin/healerd-plugin", exe);
        if (access(runner, X_OK) == 0)
            setenv("HEALERD_PLUGIN_RUNNER", runner, 1);
    }
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(tmpl, sizeof tmpl, "%.380s/run.XXXXXX", exe);
    }
    int rc = 0;
    if (strcmp(iso, "thread") == 0 || strcmp(iso, "both") == 0)
        rc |= run(plugin, rounds, burst, "thread");
    if (strcmp(iso, "process") == 0 || strcmp(iso, "both") == 0)
        rc |= run(plugin, rounds, burst, "process");
    return rc;
}
