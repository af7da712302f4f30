/* engine_alerts.c — alerts from Alertmanager entering the engine: HTTP threads queue the
 * operations alerts.c made (bounded, never waiting for the engine), the engine thread raises
 * each as an issue of detector "alertmanager" living by the alert's stale time (Alertmanager
 * re-sends only every repeat_interval, so the plugins' "quiet for three intervals" rule would
 * close it between re-sends), or resolves it. From there it is an issue like any other: plans
 * come from whoever claims its type (plans.d through "*"). */
#include "engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts.h"
#include "log.h"

typedef struct alert_batch {
    alert_op *ops;
    size_t n;
    double ttl;
    struct alert_batch *next;
} alert_batch;

int engine_alerts_post(engine *e, alert_op *ops, size_t n, double ttl)
{
    if (!n) {
        alert_ops_free(ops, n);
        return HEALER_OK;
    }
    alert_batch *b = calloc(1, sizeof *b);
    pthread_mutex_lock(&e->lock);
    if (!b || e->alerts_queued + n > ENGINE_ALERTS_QUEUE_MAX || e->stopping) {
        pthread_mutex_unlock(&e->lock);
        free(b);
        alert_ops_free(ops, n);
        return HEALER_E_FULL;
    }
    *b = (alert_batch){ .ops = ops, .n = n, .ttl = ttl };
    if (e->alerts_tail)
        e->alerts_tail->next = b;
    else
        e->alerts_head = b;
    e->alerts_tail = b;
    e->alerts_queued += n;
    pthread_mutex_unlock(&e->lock);
    uint64_t one = 1;
    if (e->efd >= 0 && write(e->efd, &one, sizeof one) < 0)
        log_warn("engine", "wake-up write failed: %s", strerror(errno));
    return HEALER_OK;
}

static void run_op(engine *e, const alert_op *op, double ttl)
{
    msg_measure ms[HEALER_MAX_MEASUREMENTS];
    size_t n = op->n_measures < HEALER_MAX_MEASUREMENTS ? op->n_measures
                                                       : HEALER_MAX_MEASUREMENTS;
    for (size_t k = 0; k < n; k++)
        ms[k] = (msg_measure){ op->names[k], op->values[k] };
    msg m = { .kind = op->resolve ? MSG_RESOLVE : MSG_ISSUE, .plugin = ENGINE_ALERTS_DETECTOR,
              .has_issue = 1,
              .issue = { .type = op->type, .severity = op->severity, .target = op->target,
                         .summary = op->summary, .plugin = ENGINE_ALERTS_DETECTOR,
                         .measures = ms, .n_measures = n } };
    if (op->resolve)
        eng_dispatch(e, &m);
    else
        eng_on_issue(e, &m, ttl);
}

void eng_run_alerts(engine *e)
{
    while (e->alerts_head) {
        alert_batch *b = e->alerts_head;
        e->alerts_head = b->next;
        if (!e->alerts_head)
            e->alerts_tail = NULL;
        e->alerts_queued -= b->n;
        for (size_t i = 0; i < b->n; i++)
            run_op(e, &b->ops[i], b->ttl);
        alert_ops_free(b->ops, b->n);
        free(b);
    }
}

void eng_free_alerts(engine *e)
{
    while (e->alerts_head) {
        alert_batch *b = e->alerts_head;
        e->alerts_head = b->next;
        alert_ops_free(b->ops, b->n);
        free(b);
    }
    e->alerts_tail = NULL;
    e->alerts_queued = 0;
}
