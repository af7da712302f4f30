/* metrics_agent.c — the metrics an operator alerts on: series declared at 0 (every issue type
 * the plugins claim, every heal outcome, every plugin's crashes), build_info, and the gauges of
 * pending plans, pause, mode, plugin state, open issues and the hourly budget, refreshed from
 * the agent's JSON views at each scrape. Pure on its inputs: the agent hands it the views. */
#include "metrics_agent.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules.h"

static const char *const SEVERITIES[] = {"low", "medium", "high", "critical", NULL};
/* The governor's verdict labels (gov_verdict_label) plus "hold", as the engine counts them. */
static const char *const SUPPRESS_REASONS[] = {"paused", "rate_limit", "cooldown", "rollback_limit",
                                               "low_health", "awaiting_confirmation", "dry_run",
                                               "hold", NULL};
/* Every outcome eng_finish_heal records. */
static const char *const OUTCOMES[] = {"healed", "failed", "dry_run", "cancelled", "expired",
                                       "rejected", "suppressed", NULL};
/* One plugin's state, as /api/v1/plugins tells it (a child's run_state when it has one). */
static const char *const PLUGIN_STATES[] = {"running", "starting", "restarting", "stopped",
                                            "failed", "refused", NULL};

#define HEALS_HELP "Heals finished, by outcome (healed, failed, dry_run, cancelled, expired, " \
                   "rejected, suppressed)"
#define MODE_HELP "The agent's mode: 1 for the one in force (live or dry-run), 0 for the other"
#define CRASH_HELP "plugin children that crashed, exited or stopped answering"

static void gauge(metrics *m, const char *name, const char *help, const char *lname,
                  const char *lval, double v)
{
    healer_kv l = {lname, lval};
    metrics_gauge_set(m, name, help, lname ? &l : NULL, lname ? 1 : 0, v);
}

void metrics_agent_build_info(metrics *m, const char *version, const char *abi)
{
    healer_kv l[2] = {{"version", version}, {"abi", abi}};
    metrics_gauge_set(m, "build_info", "healerd's version and plugin ABI; the value is always 1", l,
                      2, 1);
    for (const char *const *o = OUTCOMES; *o; o++)
        metrics_agent_heal_finished(m, *o, 0);
}

void metrics_agent_heal_finished(metrics *m, const char *outcome, double n)
{
    healer_kv l = {"outcome", outcome};
    metrics_counter_add(m, "heals_total", HEALS_HELP, &l, 1, n);
}

void metrics_agent_declare(metrics *m, json_t *plugins, json_t *knowledge)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(plugins, "plugins"), i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(p, "issue_types"), k, t) {
            const char *type = json_string_value(t);
            if (!type || strcmp(type, HEALER_RULES_ANY_TYPE) == 0)
                continue;
            for (const char *const *s = SEVERITIES; *s; s++)
                metrics_declare(m, METRICS_DETECTED, type, *s);
            for (const char *const *r = SUPPRESS_REASONS; *r; r++)
                metrics_declare(m, METRICS_SUPPRESSED, type, *r);
        }
        const char *iso = json_string_value(json_object_get(p, "isolation"));
        if (name && iso && strcmp(iso, "process") == 0 &&
            strcmp(json_string_value(json_object_get(p, "state")) ?: "", "loaded") == 0) {
            healer_kv l = {"plugin", name};
            metrics_counter_add(m, "plugin_crashes_total", CRASH_HELP, &l, 1, 0);
        }
    }
    /* Actions are not in the descriptors (a plugin proposes them per issue): every
     * (type, action) the knowledge base has seen is declared, so after a restart the counters
     * of the known ladder are there at 0 before the first attempt. */
    json_array_foreach(json_object_get(knowledge, "knowledge"), i, p) {
        const char *type = json_string_value(json_object_get(p, "issue_type"));
        const char *act = json_string_value(json_object_get(p, "action"));
        if (type && act) {
            metrics_declare(m, METRICS_ATTEMPTS, type, act);
            metrics_declare(m, METRICS_SUCCESSES, type, act);
        }
    }
}

static const char *plugin_state(json_t *p)
{
    const char *st = json_string_value(json_object_get(p, "state"));
    if (!st)
        return "failed";
    if (strcmp(st, "loaded") != 0)
        return st;      /* refused, disabled, failed */
    const char *rs = json_string_value(json_object_get(json_object_get(p, "process"), "run_state"));
    return rs ? rs : "running";   /* a plugin in a thread runs while it is loaded */
}

static double num(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

void metrics_agent_refresh(metrics *m, json_t *status, json_t *pending, json_t *issues,
                           json_t *plugins, double now)
{
    if (!m)
        return;
    if (status) {
        const char *mode = json_string_value(json_object_get(status, "mode"));
        gauge(m, "paused", "1 while healing is paused by the operator",
              NULL, NULL, json_is_true(json_object_get(status, "paused")));
        gauge(m, "mode", MODE_HELP, "mode", "live", mode && strcmp(mode, "live") == 0);
        gauge(m, "mode", MODE_HELP, "mode", "dry-run", mode && strcmp(mode, "dry-run") == 0);
        json_t *lim = json_object_get(status, "limits");
        double max = num(lim, "max_heals_per_hour", 0), used = num(lim, "heals_last_hour", 0);
        gauge(m, "heals_last_hour", "Heals started in the sliding hour the governor counts",
              NULL, NULL, used);
        gauge(m, "heal_budget_remaining", "Heals the governor still allows in the sliding hour "
              "(limits.max_heals_per_hour minus those started)", NULL, NULL,
              num(lim, "heals_left_this_hour", 0));
        gauge(m, "heal_budget_used_ratio", "Share (0 to 1) of limits.max_heals_per_hour used in "
              "the sliding hour; 1 when the limit is 0", NULL, NULL,
              max > 0 ? fmin(used / max, 1.0) : 1.0);
    }
    if (pending) {
        size_t i, n = 0;
        json_t *p;
        double oldest = INFINITY;
        json_array_foreach(json_object_get(pending, "pending"), i, p) {
            n++;
            double c = num(p, "created_at", NAN);
            if (isfinite(c) && c < oldest)
                oldest = c;
        }
        gauge(m, "pending_plans", "Plans waiting for an operator's confirmation", NULL, NULL,
              (double)n);
        gauge(m, "pending_oldest_age_seconds", "Age of the oldest plan waiting for "
              "confirmation; 0 when none waits", NULL, NULL,
              n && isfinite(oldest) ? fmax(now - oldest, 0) : 0);
    }
    if (issues) {
        double count[4] = {0};
        size_t i;
        json_t *is;
        json_array_foreach(json_object_get(issues, "issues"), i, is) {
            const char *sev = json_string_value(json_object_get(is, "severity"));
            for (int k = 0; sev && SEVERITIES[k]; k++)
                if (strcmp(sev, SEVERITIES[k]) == 0)
                    count[k]++;
        }
        for (int k = 0; SEVERITIES[k]; k++)
            gauge(m, "open_issues", "Open issues by severity", "severity", SEVERITIES[k], count[k]);
    }
    if (plugins) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(plugins, "plugins"), i, p) {
            const char *name = json_string_value(json_object_get(p, "name"));
            if (!name)
                continue;
            const char *st = plugin_state(p);
            if (strcmp(st, "disabled") == 0)
                continue;   /* switched off by the operator: nothing to alert on */
            gauge(m, "plugin_up", "1 while the plugin runs (loaded, its child running)",
                  "plugin", name, strcmp(st, "running") == 0);
            for (const char *const *s = PLUGIN_STATES; *s; s++) {
                healer_kv l[2] = {{"plugin", name}, {"state", *s}};
                metrics_gauge_set(m, "plugin_state", "The plugin's state: 1 for the one it is in",
                                  l, 2, strcmp(st, *s) == 0);
            }
        }
    }
}
