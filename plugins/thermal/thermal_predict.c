/* thermal_predict.c — temperature_rise_predicted: every sensor's temperature is a series of the
 * host's prediction service (Theil-Sen, agent/predict.c), and the issue holds while the whole 95%
 * interval of a sensor's time to high_celsius is within predict_horizon_seconds. One sensor at a
 * time; temperature_high (the real crossing) takes over from it, never both for one episode. */
#include "thermal.h"

#include <stdio.h>
#include <string.h>

double thermal_sensor_celsius(const thermal *t, const char *label)
{
    for (size_t i = 0; i < t->n_sensors; i++)
        if (t->sensors[i].ok && strcmp(t->sensors[i].label, label) == 0)
            return t->sensors[i].celsius;
    return -1000;
}

void thermal_predict_feed(thermal *t, double now)
{
    if (t->pred_horizon <= 0)
        return;
    const healer_host *h = t->host;
    for (size_t i = 0; i < t->n_sensors; i++) {
        const thermal_sensor *s = &t->sensors[i];
        if (!s->ok)
            continue;
        int rc = h->series_feed(t->ctx, s->label, now, s->celsius);
        /* A clock that went back: the old points say nothing about the new ones. */
        if (rc == HEALER_E_INVAL && h->series_forget(t->ctx, s->label) == HEALER_OK)
            rc = h->series_feed(t->ctx, s->label, now, s->celsius);
        if (rc == HEALER_E_FULL && !t->pred_full_logged) {
            h->log(t->ctx, HEALER_LOG_INFO, "more than %d sensors: %s and later ones are not "
                   "predicted (ignore_sensors can leave the uninteresting out)",
                   HEALER_SERIES_MAX, s->label);
            t->pred_full_logged = 1;
        }
    }
}

void thermal_predict_rescanned(thermal *t, char (*old)[160], size_t n_old)
{
    for (size_t k = 0; k < n_old; k++) {
        int still = 0;
        for (size_t i = 0; i < t->n_sensors && !still; i++)
            still = strcmp(t->sensors[i].label, old[k]) == 0;
        if (!still)
            t->host->series_forget(t->ctx, old[k]);
    }
}

/* The prediction of one sensor; 1 when it fires. */
static int thermal_predict_one(thermal *t, const char *label, healer_prediction *p)
{
    memset(p, 0, sizeof *p);
    p->window_s = t->pred_window;
    int rc = t->host->series_predict(t->ctx, label, t->high, p);
    return healer_prediction_fires(rc, p, t->pred_horizon) && p->r2 >= t->pred_min_r2;
}

static void thermal_predict_publish(thermal *t, const healer_prediction *p, int held, double now)
{
    const healer_host *h = t->host;
    double c = thermal_sensor_celsius(t, t->pred_target);
    char summary[HEALER_MSG_MAX];
    if (held)
        snprintf(summary, sizeof summary, "%.160s: no longer rising toward %g C (%.1f C); held "
                 "open until it stays so for %g s, then the changes are restored", t->pred_target,
                 t->high, c, t->restore_after);
    else
        snprintf(summary, sizeof summary, "%.160s at %.1f C reaches %g C in %.0f s (%.0f-%.0f s) "
                 "at %.3f C/s (R^2 %.2f over %d samples)", t->pred_target, c, t->high, p->eta_s,
                 p->eta_low_s, p->eta_high_s, p->slope, p->r2, p->n);
    /* Measurements are finite: while held there is no time to the threshold to give. */
    healer_measurement ms[] = {
        {"temperature_celsius", c},
        {"threshold_celsius", t->high},
        {"rise_celsius_per_second", p->slope},
        {"fit_r2", p->r2},
        {"samples", (double)p->n},
        {"quiet_seconds", held ? now - t->pred_quiet_since : 0},
        {"time_to_threshold_seconds", p->eta_s},
        {"time_to_threshold_low_seconds", p->eta_low_s},
        {"time_to_threshold_high_seconds", p->eta_high_s},
    };
    healer_issue is = {
        .type = THERMAL_PREDICTED,
        /* a forecast, not yet heat: below temperature_high's high */
        .severity = held ? HEALER_SEV_LOW : HEALER_SEV_MEDIUM,
        .target = t->pred_target,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0] - (held ? 3 : 0),
    };
    int rc = h->publish_issue(t->ctx, &is);
    if (rc < 0)
        h->log(t->ctx, HEALER_LOG_WARN, "publish %s: %s", THERMAL_PREDICTED, healer_rc_str(rc));
    else
        t->pred_open = 1;
}

static void thermal_predict_resolve(thermal *t, const char *why)
{
    if (t->host->resolve_issue(t->ctx, THERMAL_PREDICTED, t->pred_target) < 0)
        return;   /* again next interval */
    t->host->log(t->ctx, HEALER_LOG_INFO, "%s: %s resolved: %s%s", t->pred_target,
                 THERMAL_PREDICTED, why, !t->episode && thermal_changed_anything(t) ?
                 "; restoring" : "");
    t->pred_open = 0;
    t->pred_quiet_since = 0;
}

void thermal_predict_detect(thermal *t, double now)
{
    if (t->pred_horizon <= 0)
        return;
    if (t->episode) {
        /* temperature_high holds the zone now (its ladder, its restore): one heal per episode.
         * restore() of the predicted issue keeps the changes while the episode is open. */
        if (t->pred_open)
            thermal_predict_resolve(t, "temperature_high took over");
        return;
    }
    healer_prediction p, best;
    memset(&best, 0, sizeof best);
    if (t->pred_open) {
        /* One sensor per issue, kept while it fires (one issue, one restore); another one's
         * rise is looked at once this one is resolved. */
        if (thermal_sensor_celsius(t, t->pred_target) > -1000 &&
            thermal_predict_one(t, t->pred_target, &p)) {
            t->pred_quiet_since = 0;
            thermal_predict_publish(t, &p, 0, now);
            return;
        }
    } else {
        const char *pick = NULL;
        for (size_t i = 0; i < t->n_sensors; i++) {
            const thermal_sensor *s = &t->sensors[i];
            if (s->ok && thermal_predict_one(t, s->label, &p) && (!pick || p.eta_s < best.eta_s)) {
                best = p;
                pick = s->label;   /* the one that crosses soonest */
            }
        }
        if (pick) {
            snprintf(t->pred_target, sizeof t->pred_target, "%s", pick);
            t->pred_quiet_since = 0;
            thermal_predict_publish(t, &best, 0, now);
        }
        return;
    }
    /* Not rising any more. Changes in place are kept a while (restoring them at once would
     * start the rise again, a loop of heals); nothing changed: resolved now. */
    if (!t->pred_quiet_since)
        t->pred_quiet_since = now;
    if (thermal_changed_anything(t) && now - t->pred_quiet_since < t->restore_after) {
        memset(&p, 0, sizeof p);
        p.window_s = t->pred_window;
        t->host->series_predict(t->ctx, t->pred_target, t->high, &p);
        thermal_predict_publish(t, &p, 1, now);
        return;
    }
    thermal_predict_resolve(t, "the rise stopped");
}
