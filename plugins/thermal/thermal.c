/* thermal.c — the thermal plugin's life cycle: config schema, detect (temperature_high from the
 * hottest sensor, with hysteresis and a hold time before the issue is resolved; the predicted
 * rise is thermal_predict.c's), plan (the escalation ladder the temperature justifies, the
 * gentle steps only for a predicted rise), execute, verify and restore. */
#include "thermal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const thermal_issue_types[] = {THERMAL_ISSUE, THERMAL_PREDICTED, NULL};

static const healer_config_key thermal_config[] = {
    {"high_celsius", HEALER_CFG_DOUBLE, "80", -50, 150,
     "temperature_high is raised at or above this (severity high)"},
    {"critical_celsius", HEALER_CFG_DOUBLE, "90", -50, 150,
     "at or above this the issue is critical"},
    {"emergency_celsius", HEALER_CFG_DOUBLE, "100", -50, 150,
     "emergency thermal protection (the last ladder step) at or above this"},
    {"powersave_at_celsius", HEALER_CFG_DOUBLE, "80", -50, 150,
     "step 0: powersave cpufreq governor at or above this"},
    {"cap_at_celsius", HEALER_CFG_DOUBLE, "85", -50, 150,
     "step 1: scaling_max_freq capped at or above this"},
    {"fans_at_celsius", HEALER_CFG_DOUBLE, "90", -50, 150,
     "step 2: fans to maximum at or above this"},
    {"freeze_at_celsius", HEALER_CFG_DOUBLE, "95", -50, 150,
     "step 3: freeze the freeze_cgroups at or above this"},
    {"cap_percent", HEALER_CFG_INT, "75", 1, 100,
     "step 1 caps scaling_max_freq at this percentage of cpuinfo_max_freq"},
    {"fan_pwm", HEALER_CFG_INT, "255", 0, 255, "step 2 writes this to pwmN (255 = full speed)"},
    {"freeze_cgroups", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "cgroup directories of heavy services to freeze in step 3, relative to "
     "sys_root/fs/cgroup (\"freezer/batch\", \"unified/system.slice/x.service\") or absolute"},
    {"emergency", HEALER_CFG_STRING, "freeze", 0, 0,
     "step 4 besides minimum frequency: \"freeze\" the cgroups of user processes, or \"stop\" "
     "them with SIGSTOP (continued on restore)"},
    {"hysteresis_celsius", HEALER_CFG_DOUBLE, "5", 0, 50,
     "the issue clears only below high_celsius minus this"},
    {"restore_after_seconds", HEALER_CFG_DOUBLE, "60", 0, 86400,
     "and after staying there this long; then resolve, and restore() undoes the changes"},
    {"settle_seconds", HEALER_CFG_DOUBLE, "5", 0, 600,
     "verify waits this long after an action before measuring again"},
    {"restore", HEALER_CFG_BOOL, "true", 0, 0,
     "put governor, frequency and fans back once it has cooled (frozen cgroups and stopped "
     "processes are always released)"},
    {"ignore_sensors", HEALER_CFG_STRING_LIST, NULL, 0, 0,
     "fnmatch patterns of sensors to ignore, on the zone type or hwmon name, or the label "
     "(\"iwlwifi*\", \"hwmon3/*\")"},
    {"rescan_seconds", HEALER_CFG_DOUBLE, "60", 1, 86400,
     "look for new or removed sensors this often"},
    {"predict_horizon_seconds", HEALER_CFG_DOUBLE, "120", 0, 86400,
     "temperature_rise_predicted when the whole 95% interval of a sensor's time to "
     "high_celsius is within this (0 = no prediction)"},
    {"predict_window_seconds", HEALER_CFG_DOUBLE, "120", 4, 86400,
     "the trend is fitted over the samples this recent (the host keeps the last 256)"},
    {"predict_min_r2", HEALER_CFG_DOUBLE, "0.9", 0, 1,
     "and only when the fitted line explains at least this share of the variance"},
    {NULL, 0, NULL, 0, 0, NULL}
};

static int thermal_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    thermal *t = calloc(1, sizeof *t);
    if (!t)
        return HEALER_E_NOMEM;
    t->host = host;
    t->ctx = ctx;
    t->high = host->config_double(ctx, "high_celsius");
    t->critical = host->config_double(ctx, "critical_celsius");
    t->emergency = host->config_double(ctx, "emergency_celsius");
    t->at_powersave = host->config_double(ctx, "powersave_at_celsius");
    t->at_cap = host->config_double(ctx, "cap_at_celsius");
    t->at_fans = host->config_double(ctx, "fans_at_celsius");
    t->at_freeze = host->config_double(ctx, "freeze_at_celsius");
    t->cap_percent = host->config_int(ctx, "cap_percent");
    t->fan_pwm = host->config_int(ctx, "fan_pwm");
    t->hysteresis = host->config_double(ctx, "hysteresis_celsius");
    t->restore_after = host->config_double(ctx, "restore_after_seconds");
    t->settle = host->config_double(ctx, "settle_seconds");
    t->restore = host->config_bool(ctx, "restore");
    t->rescan_every = host->config_double(ctx, "rescan_seconds");
    t->n_ignore = host->config_list_len(ctx, "ignore_sensors");
    t->pred_horizon = host->config_double(ctx, "predict_horizon_seconds");
    t->pred_window = host->config_double(ctx, "predict_window_seconds");
    t->pred_min_r2 = host->config_double(ctx, "predict_min_r2");
    if (t->pred_horizon > 0 && (host->abi_minor < 3 ||
                                offsetof(healer_host, series_forget) >= host->struct_size)) {
        host->log(ctx, HEALER_LOG_INFO, "host without the prediction service (ABI 1.%u): "
                  "no temperature_rise_predicted", (unsigned)host->abi_minor);
        t->pred_horizon = 0;
    }
    const char *em = host->config_string(ctx, "emergency");
    if (!em || (strcmp(em, "freeze") != 0 && strcmp(em, "stop") != 0)) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.thermal.emergency = \"%s\": must be \"freeze\" "
                  "or \"stop\"", em ? em : "");
        free(t);
        return HEALER_E_INVAL;
    }
    t->emergency_stop = strcmp(em, "stop") == 0;
    if (!(t->high <= t->critical && t->critical <= t->emergency)) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.thermal: need high_celsius <= critical_celsius "
                  "<= emergency_celsius (now %g, %g, %g)", t->high, t->critical, t->emergency);
        free(t);
        return HEALER_E_INVAL;
    }
    thermal_sensors_scan(t);
    host->log(ctx, HEALER_LOG_INFO, "%zu temperature sensor(s); high %g C, critical %g C, "
              "emergency %g C (%s); restore after %g s below %g C", t->n_sensors, t->high,
              t->critical, t->emergency, t->emergency_stop ? "stop" : "freeze", t->restore_after,
              t->high - t->hysteresis);
    *state = t;
    return HEALER_OK;
}

static void thermal_destroy(void *state)
{
    thermal *t = state;
    if (thermal_changed_anything(t))
        /* Unloaded mid-episode (stop or reload): the issue never closed, so restore() never
         * came. Say exactly what stays changed; actuators are not allowed here. */
        t->host->log(t->ctx, HEALER_LOG_WARN, "unloaded while its changes are in place: "
                     "%zu cpufreq policy(ies), %zu fan(s), %zu frozen cgroup(s), %zu stopped "
                     "process(es) stay as they are", t->n_cpus, t->n_fans, t->n_frozen,
                     t->n_stopped);
    thermal_sensors_close(t);
    thermal_forget_all(t);
    free(t->cpus);
    free(t->fans);
    free(t->frozen);
    free(t->stopped);
    free(t);
}

/* 100 at 20 C below the high threshold and colder, 0 at the emergency threshold. */
static double thermal_health(const thermal *t, double c)
{
    double cool = t->high - 20, span = t->emergency - cool;
    if (span <= 0)
        return c < t->emergency ? 100 : 0;
    double h = 100.0 * (t->emergency - c) / span;
    return h < 0 ? 0 : h > 100 ? 100 : h;
}

static healer_severity thermal_severity(const thermal *t, double c)
{
    if (c >= t->critical)
        return HEALER_SEV_CRITICAL;
    if (c >= t->high)
        return HEALER_SEV_HIGH;
    return HEALER_SEV_LOW;       /* cooling down, held open until it is safe to restore */
}

static int thermal_publish(thermal *t, size_t good)
{
    const healer_host *h = t->host;
    double c = t->hottest;
    size_t above = 0;
    for (size_t i = 0; i < t->n_sensors; i++)
        if (t->sensors[i].ok && t->sensors[i].celsius >= t->high)
            above++;
    healer_measurement ms[] = {
        {"temperature_celsius", c},
        {"high_celsius", t->high},
        {"critical_celsius", t->critical},
        {"emergency_celsius", t->emergency},
        {"headroom_celsius", t->emergency - c},
        {"sensors_above_high", (double)above},
        {"sensors", (double)good},
    };
    /* The hottest few (at most HEALER_MAX_COMPONENTS), hottest first, as components. */
    const thermal_sensor *top[HEALER_MAX_COMPONENTS];
    size_t nc = 0;
    for (size_t i = 0; i < t->n_sensors; i++) {
        const thermal_sensor *s = &t->sensors[i];
        if (!s->ok || s->celsius < t->high - t->hysteresis)
            continue;
        size_t k = nc < HEALER_MAX_COMPONENTS ? nc++ : HEALER_MAX_COMPONENTS;
        while (k > 0 && top[k - 1]->celsius < s->celsius) {
            if (k < HEALER_MAX_COMPONENTS)
                top[k] = top[k - 1];
            k--;
        }
        if (k < HEALER_MAX_COMPONENTS)
            top[k] = s;
    }
    char comp[HEALER_MAX_COMPONENTS][HEALER_TARGET_MAX];
    const char *cp[HEALER_MAX_COMPONENTS];
    for (size_t k = 0; k < nc; k++) {
        snprintf(comp[k], sizeof comp[k], "%s %.1fC", top[k]->label, top[k]->celsius);
        cp[k] = comp[k];
    }
    char summary[HEALER_MSG_MAX];
    if (c >= t->high)
        snprintf(summary, sizeof summary, "%s at %.1f C (high %g C, critical %g C, emergency "
                 "%g C)", t->hot ? t->hot->label : "?", c, t->high, t->critical, t->emergency);
    else
        snprintf(summary, sizeof summary, "cooling: hottest %.1f C; held open until below %g C "
                 "for %g s, then the changes are restored", c, t->high - t->hysteresis,
                 t->restore_after);
    healer_issue is = {
        .type = THERMAL_ISSUE,
        .severity = thermal_severity(t, c),
        .target = t->target,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = cp,
        .n_components = nc,
    };
    int rc = h->publish_issue(t->ctx, &is);
    if (rc < 0)
        h->log(t->ctx, HEALER_LOG_WARN, "publish %s: %s", THERMAL_ISSUE, healer_rc_str(rc));
    return rc;
}

static int thermal_detect_episode(thermal *t, size_t good, double now);

/* A rescan, telling the prediction service which sensors went away. */
static void thermal_rescan(thermal *t)
{
    size_t n_old = t->pred_horizon > 0 ? t->n_sensors : 0;
    char (*old)[160] = n_old ? calloc(n_old, sizeof *old) : NULL;
    for (size_t i = 0; old && i < n_old; i++)
        memcpy(old[i], t->sensors[i].label, sizeof old[i]);
    thermal_sensors_scan(t);
    if (old)
        thermal_predict_rescanned(t, old, n_old);
    free(old);
}

static int thermal_detect(void *state)
{
    thermal *t = state;
    const healer_host *h = t->host;
    double now = h->now(t->ctx);
    if (now - t->scanned_at >= t->rescan_every)
        thermal_rescan(t);
    size_t good = thermal_sensors_read(t);
    for (size_t i = 0; i < t->n_sensors; i++) {
        const thermal_sensor *s = &t->sensors[i];
        if (!s->ok)
            continue;
        healer_kv lab = {"sensor", s->label};
        h->metric(t->ctx, HEALER_METRIC_GAUGE, "temperature_celsius",
                  "Temperature of each sensor, degrees Celsius", &lab, 1, s->celsius);
    }
    if (!good) {
        /* Nothing readable: no health to report. An open episode stays as it is. */
        return HEALER_OK;
    }
    h->report_health(t->ctx, "thermal", thermal_health(t, t->hottest));
    thermal_predict_feed(t, now);
    int rc = thermal_detect_episode(t, good, now);
    /* After the episode's decision: temperature_high, once raised, takes over the prediction. */
    thermal_predict_detect(t, now);
    return rc;
}

/* temperature_high: raised at high, held open while cooling, resolved once cool for a while. */
static int thermal_detect_episode(thermal *t, size_t good, double now)
{
    const healer_host *h = t->host;
    double c = t->hottest;
    if (c >= t->high) {
        if (!t->episode) {
            t->episode = 1;
            /* The target stays this sensor's for the whole episode, even if another one
             * becomes the hottest: one issue, one restore. */
            snprintf(t->target, sizeof t->target, "%s", t->hot->label);
        }
        t->cool_since = 0;
        return thermal_publish(t, good);
    }
    if (!t->episode)
        return HEALER_OK;
    if (c >= t->high - t->hysteresis) {
        t->cool_since = 0;
        return thermal_publish(t, good);
    }
    if (!t->cool_since)
        t->cool_since = now;
    /* Changes in place are kept until it has stayed cool a while: restoring them at once
     * would heat it up again. Nothing changed (dry-run, nothing applied): resolve now. */
    if (thermal_changed_anything(t) && now - t->cool_since < t->restore_after)
        return thermal_publish(t, good);
    int rc = h->resolve_issue(t->ctx, THERMAL_ISSUE, t->target);
    if (rc < 0)
        return rc;   /* again next interval */
    h->log(t->ctx, HEALER_LOG_INFO, "%s: cooled to %.1f C for %.0f s: resolved%s", t->target, c,
           now - t->cool_since, thermal_changed_anything(t) ? "; restoring" : "");
    t->episode = 0;
    t->cool_since = 0;
    return HEALER_OK;
}

/* ---- plan / execute / verify / restore ----------------------------------------------------- */

enum { A_POWERSAVE, A_CAP, A_FANS, A_FREEZE, A_EMERGENCY, A_COUNT };

static const char *const thermal_action_names[A_COUNT] = {
    "powersave_governor", "cap_max_freq", "fans_max", "freeze_services", "thermal_emergency",
};

static double thermal_issue_temp(thermal *t, const healer_issue *is)
{
    for (size_t i = 0; i < is->n_measurements; i++)
        if (is->measurements[i].name && strcmp(is->measurements[i].name,
                                               "temperature_celsius") == 0)
            return is->measurements[i].value;
    thermal_sensors_read(t);
    return t->hottest;
}

/* A forecast is not heat yet: only the two gentlest steps, both put back by restore(), none
 * of which stops work (no fans at full noise, no freezing, no stopping: those wait for
 * temperature_high and its own ladder). */
static int thermal_plan_predicted(thermal *t, healer_plan *plan)
{
    char d0[HEALER_MSG_MAX], d1[HEALER_MSG_MAX];
    snprintf(d0, sizeof d0, "powersave cpufreq governor where offered, before the rise reaches "
             "%g C (restored once it has stopped)", t->high);
    snprintf(d1, sizeof d1, "cap scaling_max_freq at %lld%% of cpuinfo_max_freq, before the rise "
             "reaches %g C (restored once it has stopped)", t->cap_percent, t->high);
    healer_action acts[] = {
        {.name = thermal_action_names[A_POWERSAVE], .description = d0, .step = 0,
         .impact = 0.1, .confidence = 0.4, .flags = HEALER_ACTION_REVERSIBLE},
        {.name = thermal_action_names[A_CAP], .description = d1, .step = 1,
         .impact = 0.3, .confidence = 0.5, .flags = HEALER_ACTION_REVERSIBLE},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        int rc = t->host->plan_add_action(plan, &acts[i]);
        if (rc < 0)
            return rc;
    }
    return HEALER_OK;
}

static int thermal_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    thermal *t = state;
    const healer_host *h = t->host;
    /* Another plugin's temperature_high (a disk, a GPU) is not cooled by this ladder. */
    if (!issue->plugin || strcmp(issue->plugin, "thermal") != 0)
        return HEALER_OK;
    if (issue->type && strcmp(issue->type, THERMAL_PREDICTED) == 0)
        return thermal_plan_predicted(t, plan);
    double c = thermal_issue_temp(t, issue);
    size_t nfreeze = h->config_list_len(t->ctx, "freeze_cgroups");
    struct {
        double at;
        double impact, confidence;
        uint32_t flags;
        char desc[HEALER_MSG_MAX];
    } steps[A_COUNT] = {
        {t->at_powersave, 0.1, 0.4, HEALER_ACTION_REVERSIBLE, ""},
        {t->at_cap, 0.3, 0.5, HEALER_ACTION_REVERSIBLE, ""},
        {t->at_fans, 0.05, 0.6, HEALER_ACTION_REVERSIBLE, ""},
        /* The operator named these services: they may run under system uids. */
        {t->at_freeze, 0.6, 0.6, HEALER_ACTION_REVERSIBLE | HEALER_ACTION_SYSTEM, ""},
        {t->emergency, 0.9, 0.8, HEALER_ACTION_REVERSIBLE, ""},
    };
    snprintf(steps[A_POWERSAVE].desc, HEALER_MSG_MAX, "powersave cpufreq governor where offered "
             "(at %g C)", t->at_powersave);
    snprintf(steps[A_CAP].desc, HEALER_MSG_MAX, "cap scaling_max_freq at %lld%% of "
             "cpuinfo_max_freq (at %g C)", t->cap_percent, t->at_cap);
    snprintf(steps[A_FANS].desc, HEALER_MSG_MAX, "fans to maximum: pwmN_enable 1, pwmN %lld "
             "(at %g C)", t->fan_pwm, t->at_fans);
    snprintf(steps[A_FREEZE].desc, HEALER_MSG_MAX, "freeze %zu configured service cgroup(s) "
             "(at %g C)", nfreeze, t->at_freeze);
    snprintf(steps[A_EMERGENCY].desc, HEALER_MSG_MAX, "emergency: max frequency to "
             "cpuinfo_min_freq and %s user processes (at %g C)",
             t->emergency_stop ? "SIGSTOP" : "freeze the cgroups of", t->emergency);
    char temp[32], at[32];
    snprintf(temp, sizeof temp, "%.1f", c);
    unsigned step = 0;
    for (int a = 0; a < A_COUNT; a++) {
        if (c < steps[a].at || (a == A_FREEZE && nfreeze == 0))
            continue;   /* only what this temperature justifies */
        snprintf(at, sizeof at, "%g", steps[a].at);
        healer_kv params[] = {{"temperature_celsius", temp}, {"at_celsius", at}};
        healer_action act = {
            .name = thermal_action_names[a],
            .target = NULL,
            .description = steps[a].desc,
            .step = step++,
            .impact = steps[a].impact,
            .confidence = steps[a].confidence,
            .flags = steps[a].flags,
            .params = params,
            .n_params = 2,
        };
        int rc = h->plan_add_action(plan, &act);
        if (rc < 0)
            return rc;
    }
    return HEALER_OK;
}

static int thermal_execute(void *state, const healer_issue *issue, const healer_action *action,
                           healer_result *r)
{
    thermal *t = state;
    int a = -1;
    for (int i = 0; i < A_COUNT; i++)
        if (strcmp(action->name, thermal_action_names[i]) == 0)
            a = i;
    t->last_noop = 0;
    int rc;
    switch (a) {
    case A_POWERSAVE: rc = thermal_act_powersave(t, r); break;
    case A_CAP: rc = thermal_act_cap(t, 0, r); break;
    case A_FANS: rc = thermal_act_fans(t, r); break;
    case A_FREEZE: rc = thermal_act_freeze_services(t, r); break;
    case A_EMERGENCY: rc = thermal_act_emergency(t, r); break;
    default:
        r->outcome = HEALER_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "unknown action %s", action->name);
        return HEALER_E_INVAL;
    }
    if (issue && issue->type && strcmp(issue->type, THERMAL_PREDICTED) == 0)
        t->pred_acted_celsius = thermal_sensor_celsius(t, issue->target ? issue->target : "");
    /* Heat takes seconds to drain: verify after settle_seconds, by the host's timer (detect keeps
     * running meanwhile). An action that changed nothing needs no waiting. */
    if (r->outcome == HEALER_OUTCOME_DONE && !t->last_noop && t->settle > 0)
        r->verify_after_s = t->settle;
    return rc;
}

static int thermal_verify(void *state, const healer_issue *issue, const healer_action *action,
                          healer_verdict *v)
{
    thermal *t = state;
    (void)action;
    if (!thermal_sensors_read(t)) {
        snprintf(v->message, sizeof v->message, "no sensor readable");
        return HEALER_E_IO;
    }
    if (issue && issue->type && strcmp(issue->type, THERMAL_PREDICTED) == 0) {
        /* A forecast is healed when the rise has stopped: its sensor no warmer than when the
         * step ran (0.5 C: one sensor quantum and some noise), and still below high. */
        double c = thermal_sensor_celsius(t, issue->target ? issue->target : "");
        v->healed = c > -1000 && c < t->high && c <= t->pred_acted_celsius + 0.5;
        v->measurements[0] = (healer_measurement){"temperature_celsius", c};
        v->measurements[1] = (healer_measurement){"celsius_when_acted", t->pred_acted_celsius};
        v->n_measurements = 2;
        snprintf(v->message, sizeof v->message, "%.200s at %.1f C (%.1f C when acted): %s",
                 issue->target ? issue->target : "?", c, t->pred_acted_celsius,
                 v->healed ? "the rise stopped" : c >= t->high ? "reached the high threshold" :
                 c <= -1000 ? "unreadable" : "still rising");
        return HEALER_OK;
    }
    v->healed = t->hottest < t->high;
    v->measurements[0] = (healer_measurement){"temperature_celsius", t->hottest};
    v->measurements[1] = (healer_measurement){"high_celsius", t->high};
    v->n_measurements = 2;
    snprintf(v->message, sizeof v->message, "hottest %s at %.1f C: %s",
             t->hot ? t->hot->label : "?", t->hottest,
             v->healed ? "below the high threshold" : "still high");
    return HEALER_OK;
}

static int thermal_restore(void *state, const healer_issue *issue)
{
    thermal *t = state;
    (void)issue;
    if (t->episode || t->pred_open) {
        /* The engine closed the issue on its own (it was not re-published for three
         * intervals while a long heal kept this worker busy), but it is not cool yet: keep
         * the changes. The next detect() publishes again; the new issue's actions find them
         * in place, and its restore() puts them back. The same while a predicted rise is
         * open (its issue, the other one, restores them when it is resolved). */
        t->host->log(t->ctx, HEALER_LOG_INFO, "issue closed while still at %.1f C: changes "
                     "kept until it has cooled", t->hottest);
        return HEALER_OK;
    }
    if (!thermal_changed_anything(t))
        return HEALER_OK;
    if (!t->restore) {
        /* Settings may stay; frozen and stopped work never does. */
        t->host->log(t->ctx, HEALER_LOG_INFO, "restore = false: governor, frequency and fans "
                     "left as they are; thawing and continuing what was paused");
        t->n_cpus = 0;
        t->n_fans = 0;
    }
    thermal_restore_all(t);
    return HEALER_OK;
}

static const healer_plugin thermal_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "thermal",
    .version = "1.0.0",
    .description = "temperatures from thermal zones and hwmon; cools with governor, frequency "
                   "cap, fans, freezing, and restores it all once cool",
    .issue_types = thermal_issue_types,
    .config = thermal_config,
    .interval = 2.0,
    .init = thermal_init,
    .destroy = thermal_destroy,
    .detect = thermal_detect,
    .plan = thermal_plan,
    .execute = thermal_execute,
    .verify = thermal_verify,
    .restore = thermal_restore,
};

HEALER_PLUGIN(thermal_descriptor)
