/* rtt_plugin.c — the host-call round-trip benchmark's plugin: detect() times `calls` calls of
 * proc_allowed() and of metric() (a gauge), execute() times `calls` dry-run
 * act_signal(pid, start, 0) calls on the target_pid the script started; each logs p50/p99/max at
 * warn level (bench/hostcall.sh reads them). In a thread these are function calls, in a child
 * they are host calls over the socket. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <healer/healer.h>

typedef struct rtt {
    const healer_host *host;
    healer_ctx *ctx;
    long long calls, target;
    int published;
} rtt;

static const char *const rtt_types[] = { "rtt_issue", NULL };
static const healer_config_key rtt_config[] = {
    { "calls", HEALER_CFG_INT, "20000", 1, 10000000, "host calls timed per phase" },
    { "target_pid", HEALER_CFG_INT, "1", 1, 4194304, "process act_signal(…, 0) is aimed at" },
    { NULL, 0, NULL, 0, 0, NULL },
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the samples and logs what the script greps: "rtt WHAT: N calls, rc R, p50 … us". */
static void report(rtt *r, const char *what, double *us, long long n, int rc)
{
    qsort(us, (size_t)n, sizeof *us, cmp_double);
    r->host->log(r->ctx, HEALER_LOG_WARN, "rtt %s: %lld calls, rc %d, p50 %.1f us, p99 %.1f us, max %.1f us",
                 what, n, rc, us[n / 2], us[(n * 99) / 100], us[n - 1]);
}

static int rtt_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    rtt *r = calloc(1, sizeof *r);
    if (!r)
        return HEALER_E_NOMEM;
    r->host = host;
    r->ctx = ctx;
    r->calls = host->config_int(ctx, "calls");
    r->target = host->config_int(ctx, "target_pid");
    *state = r;
    return HEALER_OK;
}

static void rtt_destroy(void *state)
{
    free(state);
}

static int rtt_detect(void *state)
{
    rtt *r = state;
    if (r->published)
        return HEALER_OK;
    healer_proc p;
    int rc = r->host->proc_read(r->ctx, (pid_t)r->target, &p);
    double *us = malloc((size_t)r->calls * sizeof *us);
    if (rc == HEALER_OK && us) {
        for (long long i = 0; i < r->calls; i++) {
            double t0 = now_us();
            rc = r->host->proc_allowed(r->ctx, &p, 0);
            us[i] = now_us() - t0;
        }
        report(r, "proc_allowed", us, r->calls, rc);
        /* A host call that changes nothing outside the agent: a gauge with one label. */
        healer_kv lab = { "phase", "detect" };
        for (long long i = 0; i < r->calls; i++) {
            double t0 = now_us();
            rc = r->host->metric(r->ctx, HEALER_METRIC_GAUGE, "rtt_calls_timed", "host-call benchmark",
                                 &lab, 1, (double)i);
            us[i] = now_us() - t0;
        }
        report(r, "metric", us, r->calls, rc);
    }
    free(us);
    healer_measurement m = { "rtt_value", 1.0 };
    healer_issue is = { .type = "rtt_issue", .severity = HEALER_SEV_LOW, .target = "rtt",
                        .summary = "time host calls", .measurements = &m, .n_measurements = 1 };
    r->host->publish_issue(r->ctx, &is);
    r->published = 1;
    return HEALER_OK;
}

static int rtt_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    rtt *r = state;
    (void)issue;
    healer_action a = { .name = "rtt_signal", .description = "time act_signal", .confidence = 0.9 };
    return r->host->plan_add_action(plan, &a);
}

static int rtt_execute(void *state, const healer_issue *issue, const healer_action *action,
                       healer_result *result)
{
    rtt *r = state;
    (void)issue;
    (void)action;
    healer_proc p;
    int rc = r->host->proc_read(r->ctx, (pid_t)r->target, &p);
    double *us = malloc((size_t)r->calls * sizeof *us);
    if (rc == HEALER_OK && us) {
        for (long long i = 0; i < r->calls; i++) {
            double t0 = now_us();
            rc = r->host->act_signal(r->ctx, p.pid, p.start_time, 0, 0);
            us[i] = now_us() - t0;
        }
        report(r, "act_signal", us, r->calls, rc);
    }
    free(us);
    result->outcome = HEALER_OUTCOME_DONE;
    return HEALER_OK;
}

static int rtt_verify(void *state, const healer_issue *issue, const healer_action *action,
                      healer_verdict *verdict)
{
    (void)state;
    (void)issue;
    (void)action;
    verdict->healed = 1;
    return HEALER_OK;
}

static const healer_plugin rtt_desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "rtt",
    .version = "1.0.0",
    .description = "host-call round-trip benchmark plugin",
    .issue_types = rtt_types,
    .config = rtt_config,
    .init = rtt_init,
    .destroy = rtt_destroy,
    .detect = rtt_detect,
    .plan = rtt_plan,
    .execute = rtt_execute,
    .verify = rtt_verify,
};

HEALER_PLUGIN(rtt_desc)
