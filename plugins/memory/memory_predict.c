/* memory_predict.c — memory_exhaustion_predicted: the system's used share of RAM (from
 * MemAvailable) and each watched cgroup's used share of its limit, fed to the host's prediction
 * service every predict_sample_s; raised when the whole 95% interval of the time until they reach
 * high_percent is within predict_horizon_s. Its plan: gentle steps only (a configured swap turned
 * on); a restart of a leaking unit is marked as stopping processes, so it waits for a person. */
#include "memory_int.h"

#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MEMORY_SERIES_SYSTEM "system"   /* cgroups are named by their directory ("/...") */

void memory_predict_config(memory *s)
{
    const healer_host *h = s->h;
    s->predict_on = h->config_bool(s->ctx, "predict");
    s->predict_horizon = h->config_double(s->ctx, "predict_horizon_s");
    s->predict_sample = h->config_double(s->ctx, "predict_sample_s");
    s->predict_window = h->config_double(s->ctx, "predict_window_s");
    /* A host before ABI 1.3 has no prediction service: the issue is never raised there. */
    if (s->predict_on && offsetof(healer_host, series_forget) >= h->struct_size) {
        h->log(s->ctx, HEALER_LOG_WARN, "this agent has no prediction service (ABI 1.%u): "
               "memory_exhaustion_predicted is off", (unsigned)h->abi_minor);
        s->predict_on = 0;
    }
}

/* Publishes, refreshes or resolves the prediction of one series (target "" is the system). */
static void memory_predict_check(memory *s, const char *series, const char *target,
                                 double used_pct, int *open)
{
    const healer_host *h = s->h;
    healer_prediction p;
    memset(&p, 0, sizeof p);
    p.window_s = s->predict_window;
    int rc = h->series_predict(s->ctx, series, s->high, &p);
    healer_kv l = {"scope", *target ? target : "system"};
    h->metric(s->ctx, HEALER_METRIC_GAUGE, "memory_exhaustion_eta_seconds",
              "Seconds until memory use reaches high_percent at the fitted trend (+Inf: no trend "
              "towards it)", &l, 1, rc == HEALER_OK ? p.eta_s : INFINITY);
    /* Already at high_percent: memory_high speaks for it, the prediction is over. */
    int fires = used_pct < s->high && healer_prediction_fires(rc, &p, s->predict_horizon);
    if (!fires) {
        if (*open && h->resolve_issue(s->ctx, MEMORY_PREDICTED, target) == HEALER_OK)
            *open = 0;
        return;
    }
    char summary[HEALER_MSG_MAX];
    snprintf(summary, sizeof summary, "%s reaches %.3g%% used in %.0f s (%.0f-%.0f s): %.1f%% "
             "now, %+.4f points/s over %d samples", *target ? target : "memory", s->high, p.eta_s,
             p.eta_low_s, p.eta_high_s, used_pct, p.slope, p.n);
    healer_measurement ms[] = {
        {"time_to_high_seconds", p.eta_s},
        {"time_to_high_low_seconds", p.eta_low_s},
        {"time_to_high_high_seconds", p.eta_high_s},
        {"memory_used_percent", used_pct},
        {"used_percent_per_second", p.slope},
        {"fit_r2", p.r2},
        {"samples", (double)p.n},
        {"horizon_seconds", s->predict_horizon},
        {"high_percent", s->high},
    };
    healer_issue is = {
        .type = MEMORY_PREDICTED,
        .severity = p.eta_high_s < s->predict_horizon / 4 ? HEALER_SEV_HIGH : HEALER_SEV_MEDIUM,
        .target = target,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
    };
    if (h->publish_issue(s->ctx, &is) == HEALER_OK)
        *open = 1;
}

/* Feeds (at most every predict_sample_s) and judges one series. A clock that went back starts
 * the series over; the per-plugin series limit is logged once. */
static void memory_predict_feed(memory *s, const char *series, const char *target,
                                double used_pct, double now, double *last_t, int *open)
{
    const healer_host *h = s->h;
    if (*last_t > 0 && now >= *last_t && now - *last_t < s->predict_sample)
        return;
    int rc = h->series_feed(s->ctx, series, now, used_pct);
    if (rc == HEALER_E_INVAL && h->series_forget(s->ctx, series) == HEALER_OK)
        rc = h->series_feed(s->ctx, series, now, used_pct);
    if (rc < 0) {
        if (!s->predict_warned)
            h->log(s->ctx, HEALER_LOG_WARN, "%s: not predicted: %s", series,
                   h->last_message(s->ctx));
        s->predict_warned = 1;
        return;
    }
    *last_t = now;
    memory_predict_check(s, series, target, used_pct, open);
}

void memory_predict_system(memory *s, const memory_level *lv, double now)
{
    if (s->predict_on)
        memory_predict_feed(s, MEMORY_SERIES_SYSTEM, "", lv->used_pct, now, &s->pred_sys_t,
                            &s->open_pred_sys);
}

void memory_predict_cg(memory *s, memory_cg *c, const memory_level *lv, double now)
{
    if (!s->predict_on || !lv->has_limit)
        return;
    memory_predict_feed(s, c->dir, c->dir, lv->used_pct, now, &c->pred_t, &c->open_pred);
}

void memory_predict_drop_cg(memory *s, memory_cg *c)
{
    if (!s->predict_on || c->pred_t <= 0)
        return;
    if (c->open_pred)
        s->h->resolve_issue(s->ctx, MEMORY_PREDICTED, c->dir);
    s->h->series_forget(s->ctx, c->dir);
    c->pred_t = 0;
    c->open_pred = 0;
}

/* Nothing here kills, freezes, drops caches or changes a setting: a prediction can be wrong, so
 * only what adds room without touching a process runs by itself (a configured swap that exists
 * and is off; swapoff undoes it). Restarting a leaking unit stops its processes: marked
 * HEALER_ACTION_STOPS, it waits for a person's confirmation (or allow_auto). Once memory really
 * reaches high_percent, memory_high's ladder takes over. */
void memory_plan_predicted(memory *s, const healer_issue *issue, healer_plan *plan)
{
    const char *target = issue->target ? issue->target : "";
    char desc[HEALER_MSG_MAX];
    if (!*target) {
        char buf[16384];
        int have = memory_read_proc(s, "swaps", buf, sizeof buf) >= 0;
        for (size_t i = 0; have && i < s->n_swaps; i++) {
            struct stat st;
            char real[PATH_MAX];
            const char *r = realpath(s->swaps[i], real) ? real : NULL;
            if (stat(s->swaps[i], &st) != 0 || memory_swap_active(buf, s->swaps[i], r))
                continue;
            snprintf(desc, sizeof desc, "swapon %s: room before memory runs out (gentle: no "
                     "process touched; swapoff undoes it)", s->swaps[i]);
            healer_kv p[] = {{"path", s->swaps[i]}};
            healer_action a = {.name = "swapon", .description = desc, .step = 0, .impact = 0.05,
                               .confidence = 0.5, .params = p, .n_params = 1};
            s->h->plan_add_action(plan, &a);
            return;
        }
        return;
    }
    memory_cg *c = memory_find_cg(s, target);
    if (!c || !s->restart_leaking)
        return;
    char unit[HEALER_TARGET_MAX];
    memory_unit_of(c->dir, unit, sizeof unit);
    snprintf(desc, sizeof desc, "restart %s before %s reaches %.3g%% of its limit (stops its "
             "processes: needs confirmation)", unit, c->dir, s->high);
    healer_kv rp[] = {{"unit", unit}, {"scope", c->dir}};
    healer_action a = {.name = "restart_service", .target = unit, .description = desc,
                       .step = 1, .impact = 0.5, .confidence = 0.6,
                       .flags = HEALER_ACTION_STOPS, .params = rp, .n_params = 2};
    s->h->plan_add_action(plan, &a);
}

/* Healed when the trend, measured afresh, no longer crosses high_percent within the horizon. */
int memory_verify_predicted(memory *s, const healer_issue *issue, healer_verdict *v)
{
    const char *target = issue->target ? issue->target : "";
    healer_prediction p;
    memset(&p, 0, sizeof p);
    p.window_s = s->predict_window;
    int rc = s->h->series_predict(s->ctx, *target ? target : MEMORY_SERIES_SYSTEM, s->high, &p);
    int fires = healer_prediction_fires(rc, &p, s->predict_horizon);
    v->healed = !fires;
    size_t n = 0;
    v->measurements[n++] = (healer_measurement){"time_to_high_seconds",
                                                rc == HEALER_OK ? p.eta_s : INFINITY};
    v->measurements[n++] = (healer_measurement){"time_to_high_high_seconds",
                                                rc == HEALER_OK ? p.eta_high_s : INFINITY};
    v->n_measurements = n;
    snprintf(v->message, sizeof v->message, "%s: %s", *target ? target : "memory",
             fires ? "still trending to high_percent within the horizon"
                   : "no longer predicted to reach high_percent within the horizon");
    return HEALER_OK;
}
