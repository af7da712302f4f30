/* sleepy.c — ABI fixture: a valid plugin "sleepy" whose execute() sleeps (config key
 * sleep_seconds, default 30). It claims and detects "sleepy_issue" every cycle, so a test can
 * show that one stuck plugin never stalls the others' detection and healing. */
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct sleepy {
    const healer_host *host;
    healer_ctx *ctx;
    double seconds;
} sleepy;

static const char *const sleepy_types[] = {"sleepy_issue", NULL};

static const healer_config_key sleepy_config[] = {
    {"sleep_seconds", HEALER_CFG_DOUBLE, "30", 0, 3600, "how long execute() sleeps"},
    {NULL, 0, NULL, 0, 0, NULL}
};

static int sleepy_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    sleepy *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->host = host;
    s->ctx = ctx;
    s->seconds = host->config_double(ctx, "sleep_seconds");
    *state = s;
    return HEALER_OK;
}

static void sleepy_destroy(void *state)
{
    free(state);
}

static int sleepy_detect(void *state)
{
    sleepy *s = state;
    healer_measurement m = {"sleep_seconds", s->seconds};
    healer_issue issue = {
        .type = "sleepy_issue",
        .severity = HEALER_SEV_HIGH,
        .target = "sleepy",
        .summary = "sleepy raises its issue every cycle",
        .measurements = &m,
        .n_measurements = 1,
    };
    return s->host->publish_issue(s->ctx, &issue);
}

static int sleepy_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    sleepy *s = state;
    (void)issue;
    healer_action a = {
        .name = "sleep",
        .description = "sleep in execute() to stall this plugin's worker",
        .step = 0,
        .impact = 0,
        .confidence = 0.5,
        .flags = 0,
    };
    return s->host->plan_add_action(plan, &a);
}

static int sleepy_execute(void *state, const healer_issue *issue, const healer_action *action,
                          healer_result *result)
{
    sleepy *s = state;
    (void)issue;
    (void)action;
    struct timespec left = {(time_t)s->seconds,
                            (long)((s->seconds - (double)(time_t)s->seconds) * 1e9)};
    /* A signal must not cut the stall short: the point is to be stuck. */
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    result->outcome = HEALER_OUTCOME_DONE;
    snprintf(result->message, sizeof result->message, "slept %g s", s->seconds);
    return HEALER_OK;
}

static const healer_plugin desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "sleepy",
    .version = "1.0.0",
    .description = "ABI test fixture: execute() sleeps sleep_seconds",
    .issue_types = sleepy_types,
    .config = sleepy_config,
    .init = sleepy_init,
    .destroy = sleepy_destroy,
    .detect = sleepy_detect,
    .plan = sleepy_plan,
    .execute = sleepy_execute,
};

HEALER_PLUGIN(desc)
