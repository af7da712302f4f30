/* plugins/service/service_predict.c — service_start_limit_predicted: a unit's failure count is a
 * series of the host's prediction service (Theil-Sen, agent/predict.c) while it fails, and the
 * issue holds while the whole 95% interval says its failures reach StartLimitBurst within
 * StartLimitIntervalSec soon (predict_horizon_s). service_flapping takes over from it. */
#include <stdio.h>
#include <string.h>

#include "service.h"

/* The rate is fitted over at least this long: systemd's default 10 s interval holds too few
 * points at a detect interval of seconds to say anything. */
#define SERVICE_PREDICT_MIN_WINDOW_S 60.0

static double service_limit_interval(const service *s, const service_unit *u)
{
    return u->limit_known ? u->limit_interval_s : s->default_limit_interval_s;
}

static unsigned service_limit_burst(const service *s, const service_unit *u)
{
    return u->limit_known ? u->limit_burst : (unsigned)s->default_limit_burst;
}

static double service_predict_window(const service *s, const service_unit *u)
{
    double w = service_limit_interval(s, u);
    return w > SERVICE_PREDICT_MIN_WINDOW_S ? w : SERVICE_PREDICT_MIN_WINDOW_S;
}

static void service_predict_feed(service *s, service_unit *u, double now)
{
    int rc = s->h->series_feed(s->ctx, u->name, now, (double)u->n_fails);
    if (rc == HEALER_E_INVAL && s->h->series_forget(s->ctx, u->name) == HEALER_OK)
        rc = s->h->series_feed(s->ctx, u->name, now, (double)u->n_fails);  /* clock went back */
    if (rc < 0 && !u->fed)
        s->h->log(s->ctx, HEALER_LOG_DEBUG, "%s: not fed to the prediction service: %s", u->name,
                  s->h->last_message(s->ctx));
    u->fed = rc == HEALER_OK;
}

void service_predict_failure(service *s, service_unit *u, double now)
{
    (void)now;
    /* The first failure after a quiet spell starts the series. Fed by the evaluation that
     * follows (right after the bus drain): a signal handler is no place for host calls. */
    if (s->predict_horizon_s > 0 && u->watched && service_limit_interval(s, u) > 0)
        u->pred_start = 1;
}

static void service_predict_resolve(service *s, service_unit *u, const char *why)
{
    if (s->h->resolve_issue(s->ctx, SERVICE_PREDICTED, u->name) < 0)
        return;
    s->h->log(s->ctx, HEALER_LOG_INFO, "%s: %s resolved: %s", u->name, SERVICE_PREDICTED, why);
    u->pred_open = 0;
}

void service_predict_evaluate(service *s, service_unit *u, double now, int flapping)
{
    if (!u->fed && !u->pred_start)
        return;
    u->pred_start = 0;
    double interval = service_limit_interval(s, u), window = service_predict_window(s, u);
    unsigned burst = service_limit_burst(s, u);
    unsigned in_interval = service_recent_failures(u, now, interval);
    /* No failure for the whole window: the loop is over, its history goes. */
    if (service_recent_failures(u, now, window) == 0 || interval <= 0) {
        if (u->pred_open)
            service_predict_resolve(s, u, "no failure for the window");
        if (u->fed && !u->pred_open && s->h->series_forget(s->ctx, u->name) >= 0)
            u->fed = 0;
        return;
    }
    service_predict_feed(s, u, now);
    if (!u->fed)
        return;
    /* At the limit, or escalated already: service_flapping is the issue now. */
    if (flapping || u->limit_hit || in_interval >= burst || interval <= 0 || s->predict_horizon_s <= 0) {
        if (u->pred_open)
            service_predict_resolve(s, u, flapping || u->limit_hit ?
                                    "service_flapping took over" : "at its start limit");
        return;
    }
    /* Time until the count is burst - in_interval failures higher, and a rate whose slowest
     * value in the interval still packs burst failures into one StartLimitIntervalSec (else the
     * oldest failures leave the interval faster than new ones come: systemd never refuses). */
    healer_prediction p;
    memset(&p, 0, sizeof p);
    p.window_s = window;
    double threshold = (double)u->n_fails + (double)(burst - in_interval);
    int rc = s->h->series_predict(s->ctx, u->name, threshold, &p);
    int fires = healer_prediction_fires(rc, &p, s->predict_horizon_s) &&
                p.slope_low * interval >= (double)burst;
    if (!fires) {
        if (u->pred_open)
            service_predict_resolve(s, u, "the failures slowed down");
        return;
    }
    char summary[HEALER_MSG_MAX];
    snprintf(summary, sizeof summary, "%.120s fails %.1f times a minute (%u in the last %.0f s): "
             "its start limit (%u in %.0f s%s) is reached in about %.0f s (%.0f-%.0f s), then "
             "systemd stops restarting it", u->name, p.slope * 60, in_interval, interval, burst,
             interval, u->limit_known ? "" : ", assumed", p.eta_s, p.eta_low_s, p.eta_high_s);
    healer_measurement ms[] = {
        {"failures_in_start_limit_interval", (double)in_interval},
        {"start_limit_burst", (double)burst},
        {"start_limit_interval_seconds", interval},
        {"failures_per_minute", p.slope * 60},
        {"time_to_start_limit_seconds", p.eta_s},
        {"time_to_start_limit_low_seconds", p.eta_low_s},
        {"time_to_start_limit_high_seconds", p.eta_high_s},
        {"samples", (double)p.n},
    };
    char comp[SERVICE_UNIT_MAX + 8];
    snprintf(comp, sizeof comp, "unit:%s", u->name);
    const char *comps[] = {comp};
    healer_issue iss = {
        .type = SERVICE_PREDICTED,
        .severity = HEALER_SEV_MEDIUM,
        .target = u->name,
        .summary = summary,
        .measurements = ms,
        .n_measurements = sizeof ms / sizeof ms[0],
        .components = comps,
        .n_components = 1,
    };
    if (s->h->publish_issue(s->ctx, &iss) >= 0)
        u->pred_open = 1;
}
