/* soak_plugin.c — the soak benchmark's plugin (bench/soak.sh): K targets, each with one steady
 * issue every `period_s` seconds of the agent's clock (the bench runs the agent on a sped-up
 * wall clock, so a week passes in minutes); plan one cheap action, execute does nothing, verify
 * says healed, and the healed issue is resolved so the next one is a new issue. SDK only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <healer/healer.h>

/* One of the K targets: its current name, whether its issue is open, healed, and when the
 * next one is due. */
typedef struct soak_slot {
    char target[32];
    unsigned long long seq;    /* issues this slot raised */
    double next_due, opened;
    int open, healed;
} soak_slot;

/* Periods an issue may stay open unhealed before the plugin lets it go. */
#define SOAK_ABANDON 120

typedef struct soak {
    const healer_host *host;
    healer_ctx *ctx;
    long long k;
    double period;
    int fresh;
    soak_slot *slots;
    unsigned long long raised, late, dropped, abandoned;
} soak;

static const char *const soak_types[] = { "soak_issue", NULL };
static const healer_config_key soak_config[] = {
    { "targets", HEALER_CFG_INT, "20", 1, 100000, "K: targets with one steady issue each" },
    { "period_s", HEALER_CFG_DOUBLE, "60", 0.001, 86400, "seconds (agent clock) between issues on a target" },
    { "fresh", HEALER_CFG_BOOL, "false", 0, 0, "every issue on a new target name (t-000001, ...)" },
    { NULL, 0, NULL, 0, 0, NULL },
};

static int soak_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    soak *s = calloc(1, sizeof *s);
    if (!s)
        return HEALER_E_NOMEM;
    s->host = host;
    s->ctx = ctx;
    s->k = host->config_int(ctx, "targets");
    s->period = host->config_double(ctx, "period_s");
    s->fresh = host->config_bool(ctx, "fresh");
    s->slots = calloc((size_t)s->k, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return HEALER_E_NOMEM;
    }
    /* Spread the first issues over one period, as steady issues on many targets would be. */
    double now = host->now(ctx);
    for (long long i = 0; i < s->k; i++)
        s->slots[i].next_due = now + s->period * (double)i / (double)s->k;
    *state = s;
    return HEALER_OK;
}

static void soak_destroy(void *state)
{
    soak *s = state;
    s->host->log(s->ctx, HEALER_LOG_WARN,
                 "raised %llu issues, %llu late, %llu dropped, %llu abandoned unhealed",
                 s->raised, s->late, s->dropped, s->abandoned);
    free(s->slots);
    free(s);
}

/* The slot a target belongs to: "tNNNNN" (recurring) is the slot's index; "t-NNNNNN" (fresh)
 * is seq * K + index, so every name is new and the slot still follows from it. */
static soak_slot *soak_slot_of(soak *s, const char *target)
{
    char *end;
    unsigned long long n;
    if (target[0] != 't')
        return NULL;
    n = strtoull(target + (target[1] == '-' ? 2 : 1), &end, 10);
    if (*end)
        return NULL;
    soak_slot *sl = &s->slots[n % (unsigned long long)s->k];
    return strcmp(sl->target, target) == 0 ? sl : NULL;
}

static void soak_issue_of(const soak_slot *sl, healer_issue *is, healer_measurement *m)
{
    *is = (healer_issue){ .type = "soak_issue", .severity = HEALER_SEV_MEDIUM,
                          .target = sl->target, .summary = "steady soak issue",
                          .measurements = m, .n_measurements = 1 };
}

static int soak_detect(void *state)
{
    soak *s = state;
    double now = s->host->now(s->ctx);
    healer_measurement m = { "soak_value", 1.0 };
    healer_issue is;
    for (long long i = 0; i < s->k; i++) {
        soak_slot *sl = &s->slots[i];
        /* Healed: gone, so the next one is a new issue. Unhealed for SOAK_ABANDON periods (a
         * heal that failed, e.g. its verdict dropped by a full queue, leaves the issue
         * exhausted): let it go too, counted, so the slot goes on. */
        if (sl->open && (sl->healed || now - sl->opened > SOAK_ABANDON * s->period)) {
            if (!sl->healed)
                s->abandoned++;
            s->host->resolve_issue(s->ctx, "soak_issue", sl->target);
            sl->open = 0;
        }
        if (sl->open) {
            /* Still there: a detector keeps seeing it (three silent intervals would close it). */
            soak_issue_of(sl, &is, &m);
            (void)s->host->publish_issue(s->ctx, &is);
            continue;
        }
        if (now < sl->next_due)
            continue;
        /* Due. When the agent fell more than a period behind, the missed ones are counted as
         * late and the schedule restarts from now rather than bursting to catch up. */
        sl->next_due += s->period;
        if (sl->next_due < now) {
            s->late++;
            sl->next_due = now + s->period;
        }
        if (s->fresh)
            snprintf(sl->target, sizeof sl->target, "t-%06llu",
                     sl->seq * (unsigned long long)s->k + (unsigned long long)i);
        else
            snprintf(sl->target, sizeof sl->target, "t%05lld", i);
        sl->seq++;
        soak_issue_of(sl, &is, &m);
        if (s->host->publish_issue(s->ctx, &is) < 0) {
            s->dropped++;
            continue;
        }
        s->raised++;
        sl->opened = now;
        sl->open = 1;
        sl->healed = 0;
    }
    return HEALER_OK;
}

static int soak_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    soak *s = state;
    (void)issue;
    healer_action a = { .name = "soak_fix", .description = "nothing (soak benchmark)",
                        .confidence = 0.9 };
    return s->host->plan_add_action(plan, &a);
}

static int soak_execute(void *state, const healer_issue *issue, const healer_action *action,
                        healer_result *result)
{
    (void)state;
    (void)issue;
    (void)action;
    result->outcome = HEALER_OUTCOME_DONE;
    return HEALER_OK;
}

static int soak_verify(void *state, const healer_issue *issue, const healer_action *action,
                       healer_verdict *verdict)
{
    soak *s = state;
    (void)action;
    soak_slot *sl = soak_slot_of(s, issue->target);
    if (sl)
        sl->healed = 1;
    verdict->healed = 1;
    return HEALER_OK;
}

static const healer_plugin soak_desc = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "soak",
    .version = "1.0.0",
    .description = "soak benchmark plugin",
    .issue_types = soak_types,
    .config = soak_config,
    .init = soak_init,
    .destroy = soak_destroy,
    .detect = soak_detect,
    .plan = soak_plan,
    .execute = soak_execute,
    .verify = soak_verify,
};

HEALER_PLUGIN(soak_desc)
