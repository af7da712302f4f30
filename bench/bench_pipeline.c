/* bench_pipeline.c — issues per second through the whole pipeline: detect (the noop plugin's
 * bursts), merge, govern, plan, dry-run execute, verify, record (knowledge base and audit log),
 * with the real agent in-process, the plugin in a thread and in a healerd-plugin child, side by
 * side (the machine may be loaded: compare within one run). Prints numbers; asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "engine.h"
#include "log.h"

/* Under the build tree: the loader refuses a plugin_dir below a world-writable /tmp. */
static char tmpl[400] = "/var/tmp/healerd-bench.XXXXXX";

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
    double t0 = clock_mono();
    for (int r = 0; r < rounds; r++)
        engine_run_once(e, 60);
    double t1 = clock_mono();
    uint64_t heals = engine_heals_finished(e) - before;
    agent_close(a); /* flushes the knowledge base */
    double t2 = clock_mono();
    printf("pipeline (%s): %llu issues healed (dry-run) in %.3f s: %.0f issues/s through detect, "
           "govern, plan, execute, verify, audit\n", isolation, (unsigned long long)heals, t1 - t0,
           (double)heals / (t1 - t0));
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
