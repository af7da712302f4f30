/* noop_plugin.c — the benchmark's plugin: each detect() resolves the previous burst of issues and
 * publishes `burst` new ones with distinct targets; plan proposes one action, execute does
 * nothing, verify says healed. It measures the agent's pipeline, not any real healing. */
#include <stdio.h>
#include <stdlib.h>

#include <healer/healer.h>

typedef struct noop {
    const healer_host *host;
    healer_ctx *ctx;
    long long burst;
    unsigned long long next, first_open;
    unsigned long long dropped;
} noop;

static const char *const noop_types[] = { "noop_issue", NULL };
static const healer_config_key noop_config[] = {
    { "burst", HEALER_CFG_INT, "1000", 1, 1000000, "issues published per detect()" },
    { NULL, 0, NULL, 0, 0, NULL },
};

static int noop_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    noop *n = calloc(1, sizeof *n);
    if (!n)
        return HEALER_E_NOMEM;
    n->host = host;
    n->ctx = ctx;
    n->burst = host->config_int(ctx, "burst");
    *state = n;
    return HEALER_OK;
}

static void noop_destroy(void *state)
{
    free(state);
}

static int noop_detect(void *state)
{
    noop *n = state;
    char target[32];
    for (; n->first_open < n->next; n->first_open++) {
        snprintf(target, sizeof target, "t%llu", n->first_open);
        n->host->resolve_issue(n->ctx, "noop_issue", target);
    }
    healer_measurement m = { "noop_value", 1.0 };
    for (long long i = 0; i < n->burst; i++) {
        snprintf(target, sizeof target, "t%llu", n->next);
        healer_issue is = { .type = "noop_issue", .severity = HEALER_SEV_LOW, .target = target,
                            .summary = "noop", .measurements = &m, .n_measurements = 1 };
        if (n->host->publish_issue(n->ctx, &is) < 0)
            n->dropped++;
        n->next++;
    }
    return HEALER_OK;
}

static int noop_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    noop *n = state;
    (void)issue;
    healer_action a = { .name = "noop_fix", .description = "nothing", .confidence = 0.9 };
    return n->host->plan_add_action(plan, &a);
}

static int noop_execute(void *state, const healer_issue *issue, const healer_action *action,
                        healer_result *result)
{
    (void)state;
    (void)issue;
    (void)action;
    result->outcome = HEALER_OUTCOME_DONE;
    return HEALER_OK;
}

static int noop_verify(void *state, const healer_issue *issue, const healer_action *action,
                       healer_verdict *verdict)
{
    (void)state;
    (void)issue;
    (void)action;
    verdict->healed = 1;
    return HEALER_OK;
}

static const healer_plugin noop_desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "noop",
    .version = "1.0.0",
    .description = "benchmark plugin",
    .issue_types = noop_types,
    .config = noop_config,
    .init = noop_init,
    .destroy = noop_destroy,
    .detect = noop_detect,
    .plan = noop_plan,
    .execute = noop_execute,
    .verify = noop_verify,
};

HEALER_PLUGIN(noop_desc)
