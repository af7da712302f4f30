/* metrics_contract.c — the contract's families (issues detected, attempts, successes,
 * suppressed, heal duration, confidence, health, plugin info): fixed names and labels that
 * dashboards rely on, updated by the engine and the agent through metrics.h. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "metrics_int.h"

static const char *nz(const char *s) { return s ? s : ""; }

static void counter_add2(metrics *m, family *f, const char *a, const char *b, double v)
{
    if (!m)
        return;
    const char *vals[2] = {nz(a), nz(b)};
    int rc;
    pthread_mutex_lock(&m->mu);
    series *s = series_get(m, f, vals, &rc);
    if (s) {
        s->value += v;
        m->gen++;
    }
    pthread_mutex_unlock(&m->mu);
}
#define counter_inc2(m, f, a, b) counter_add2(m, f, a, b, 1)

void metrics_declare(metrics *m, metrics_counter c, const char *a, const char *b)
{
    if (!m)
        return;
    family *f = c == METRICS_DETECTED ? m->f_detected : c == METRICS_ATTEMPTS ? m->f_attempts
              : c == METRICS_SUCCESSES ? m->f_successes : m->f_suppressed;
    counter_add2(m, f, a, b, 0);
}

void metrics_issue_detected(metrics *m, const char *issue_type, const char *severity)
{
    if (m)
        counter_inc2(m, m->f_detected, issue_type, severity);
}

void metrics_attempt(metrics *m, const char *issue_type, const char *action)
{
    if (m)
        counter_inc2(m, m->f_attempts, issue_type, action);
}

void metrics_success(metrics *m, const char *issue_type, const char *action)
{
    if (m)
        counter_inc2(m, m->f_successes, issue_type, action);
}

void metrics_suppressed(metrics *m, const char *issue_type, const char *reason)
{
    if (m)
        counter_inc2(m, m->f_suppressed, issue_type, reason);
}

void metrics_duration(metrics *m, const char *issue_type, double seconds)
{
    if (!m || isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;   /* a clock step must not make the sum go backwards */
    const char *vals[1] = {nz(issue_type)};
    int rc;
    pthread_mutex_lock(&m->mu);
    family *f = m->f_duration;
    series *s = series_get(m, f, vals, &rc);
    if (s) {
        for (size_t i = 0; i < f->nbounds; i++) {
            if (seconds <= f->bounds[i]) {
                s->buckets[i]++;
                break;
            }
        }
        s->sum += seconds;
        s->count++;
        m->gen++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_confidence(metrics *m, const char *issue_type, double value)
{
    if (!m)
        return;
    const char *vals[1] = {nz(issue_type)};
    int rc;
    pthread_mutex_lock(&m->mu);
    series *s = series_get(m, m->f_confidence, vals, &rc);
    if (s && memcmp(&s->value, &value, sizeof value) != 0) {
        s->value = value;
        m->gen++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_health(metrics *m, double value)
{
    if (!m)
        return;
    int rc;
    pthread_mutex_lock(&m->mu);
    series *s = series_get(m, m->f_health, NULL, &rc);
    if (s && memcmp(&s->value, &value, sizeof value) != 0) {
        s->value = value;
        m->gen++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_plugin_info(metrics *m, const char *plugin, const char *version)
{
    if (!m)
        return;
    const char *vals[2] = {nz(plugin), nz(version)};
    int rc;
    pthread_mutex_lock(&m->mu);
    series *s = series_get(m, m->f_plugin_info, vals, &rc);
    if (s && s->value != 1) {
        s->value = 1;
        m->gen++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_plugin_info_clear(metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->nseries -= m->f_plugin_info->nseries;
    family_clear(m->f_plugin_info);
    m->gen++;
    pthread_mutex_unlock(&m->mu);
}

