/* notify.c — the notifier: one lane per kind of sink (webhooks with retries and back-off, the
 * exec hook, Alertmanager with active alerts re-sent every resend_s and ended ones sent with
 * endsAt), each a bounded queue (engine and proxies post, never waiting) and its own thread, so a
 * sink that is down delays only itself; and its configuration across reloads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "notify.h"

/* One lane per kind of sink, each with its own queue and thread, so that a webhook that is down
 * (its retries can take minutes) never delays the Alertmanager push or the exec hook. */
enum { LANE_WEBHOOK, LANE_ALERT, LANE_EXEC, N_LANES };
static const char *const LANE_NAME[N_LANES] = {"webhook", "alertmanager", "exec"};

typedef struct nlane {
    struct notifier *n;
    int which;                   /* LANE_* */
    nqueue q;                    /* under n->mu */
    pthread_cond_t cv;           /* its thread waits here (events, resend time, stop) */
    pthread_t th;
    int running;                 /* the thread was started (on the lane's first event) */
} nlane;

struct notifier {
    pthread_mutex_t mu;
    notify_conf conf;            /* under mu; a lane works on a copy per event */
    char *instance;              /* conf.instance or the host name */
    metrics *m;
    nlane lanes[N_LANES];
    nalerts alerts;              /* the alertmanager lane's own */
    double next_resend;          /* monotonic; under mu (the alert lane's wait reads it) */
    int stop;
    double stop_deadline;        /* monotonic: past it, no retry and no more queue draining */
    _Atomic double abort_at;     /* the same deadline for a POST in flight (INFINITY until stop) */
    atomic_ullong dropped;
};

static void count(notifier *n, const char *name, const char *help, const char *sink, double v)
{
    if (!n->m)
        return;
    healer_kv lab = {"sink", sink};
    metrics_counter_add(n->m, name, help, sink ? &lab : NULL, sink ? 1 : 0, v);
}

static char **strv_dup(char **v, size_t n)
{
    char **o = calloc(n + 1, sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        if (!(o[i] = strdup(v[i]))) {
            for (size_t j = 0; j < i; j++)
                free(o[j]);
            free(o);
            return NULL;
        }
    return o;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void conf_free(notify_conf *c)
{
    strv_free(c->webhooks, c->n_webhooks);
    strv_free(c->alertmanagers, c->n_alertmanagers);
    strv_free(c->exec_argv, c->n_exec_argv);
    free(c->instance);
    memset(c, 0, sizeof *c);
}

static int conf_copy(notify_conf *d, const notify_conf *s)
{
    *d = *s;
    d->webhooks = strv_dup(s->webhooks, s->n_webhooks);
    d->alertmanagers = strv_dup(s->alertmanagers, s->n_alertmanagers);
    d->exec_argv = strv_dup(s->exec_argv, s->n_exec_argv);
    d->instance = strdup(s->instance ? s->instance : "");
    if (!d->webhooks || !d->alertmanagers || !d->exec_argv || !d->instance) {
        conf_free(d);
        return -1;
    }
    return 0;
}

/* 1 when the configuration has a sink of this lane's kind. */
static int lane_wanted(const notify_conf *c, int which)
{
    return which == LANE_WEBHOOK ? c->n_webhooks > 0
         : which == LANE_ALERT   ? c->n_alertmanagers > 0
                                 : c->n_exec_argv > 0;
}

/* ---- delivery (the notifier's thread) ------------------------------------------------------ */

/* Waits up to s seconds unless stopping; 1 when the notifier is stopping. */
static int pause_for(nlane *l, double s)
{
    notifier *n = l->n;
    pthread_mutex_lock(&n->mu);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t = (double)ts.tv_sec + ts.tv_nsec / 1e9 + s;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (!n->stop && pthread_cond_timedwait(&l->cv, &n->mu, &ts) != ETIMEDOUT)
        ;
    int stop = n->stop;
    pthread_mutex_unlock(&n->mu);
    return stop;
}

static int stopping(notifier *n)
{
    pthread_mutex_lock(&n->mu);
    int s = n->stop;
    pthread_mutex_unlock(&n->mu);
    return s;
}

/* One body to one URL: the first attempt, then c->retries more after the back-off (none once
 * the agent is stopping: it must not hang its exit on a dead receiver). */
static int post_retrying(nlane *l, const notify_conf *c, const char *sink, const char *url,
                         const char *body)
{
    notifier *n = l->n;
    char why[256] = "";
    for (int attempt = 0; attempt <= c->retries; attempt++) {
        if (attempt > 0) {
            double d = notify_backoff_delay(attempt, c->backoff_s, c->backoff_max_s);
            if (stopping(n) || pause_for(l, d))
                break;
        }
        if (notify_http_post(url, body, c->timeout_s, &n->abort_at, why, sizeof why) == 0) {
            count(n, "notifications_sent_total", "notifications delivered, by sink", sink, 1);
            return 0;
        }
        log_warn("notify", "%s %s: attempt %d of %d failed: %s", sink, url, attempt + 1,
                 c->retries + 1, why);
    }
    count(n, "notifications_failed_total",
          "notifications given up on after every retry, by sink", sink, 1);
    log_error("notify", "%s %s: not delivered: %s", sink, url, why);
    return -1;
}

static void post_alerts(nlane *l, const notify_conf *c, const nalert *list, double ends_at,
                        int only_first)
{
    if (!list || !c->n_alertmanagers)
        return;
    json_t *p = nalerts_payload(list, ends_at, only_first);
    char *body = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!body) {
        log_error("notify", "alertmanager: out of memory");
        return;
    }
    for (size_t i = 0; i < c->n_alertmanagers; i++) {
        char url[2048];
        const char *base = c->alertmanagers[i];
        size_t len = strlen(base);
        while (len && base[len - 1] == '/')
            len--;
        snprintf(url, sizeof url, "%.*s/api/v2/alerts", (int)len, base);
        post_retrying(l, c, "alertmanager", url, body);
    }
    free(body);
}

static void run_hook(notifier *n, const notify_conf *c, const nevent *e)
{
    char **env = notify_event_env(e, c->instance);
    if (!env) {
        log_error("notify", "exec hook: out of memory");
        return;
    }
    char out[NOTIFY_EXEC_OUTPUT_MAX + 1];
    int st = notify_exec_run(c->exec_argv, env, c->exec_timeout_s, out, sizeof out);
    notify_env_free(env);
    /* its output, bounded, on one line: the log sanitizer turns newlines into spaces */
    if (st == 0) {
        count(n, "notifications_sent_total", "notifications delivered, by sink", "exec", 1);
        log_info("notify", "exec hook %s (%s): ok%s%s", c->exec_argv[0], notify_kind_name(e->kind),
                 out[0] ? ": " : "", out);
    } else {
        count(n, "notifications_failed_total",
              "notifications given up on after every retry, by sink", "exec", 1);
        log_warn("notify", "exec hook %s (%s): %s %d%s%s", c->exec_argv[0],
                 notify_kind_name(e->kind), st < 0 ? "could not run" : st > 128 ? "killed by signal"
                 : "exit status", st > 128 ? st - 128 : st, out[0] ? ": " : "", out);
    }
}

static void deliver(nlane *l, const notify_conf *c, const nevent *e)
{
    notifier *n = l->n;
    int wanted = (c->events & (1u << e->kind)) && e->kind != NOTIFY_ISSUE_CLOSED;
    if (l->which == LANE_WEBHOOK && wanted && c->n_webhooks) {
        json_t *j = notify_event_json(e, c->instance);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        for (size_t i = 0; body && i < c->n_webhooks; i++)
            post_retrying(l, c, "webhook", c->webhooks[i], body);
        free(body);
    } else if (l->which == LANE_EXEC && wanted && c->n_exec_argv) {
        run_hook(n, c, e);
    } else if (l->which == LANE_ALERT) {
        nalert *ended = NULL;
        nalert *started = nalerts_apply(&n->alerts, e, c->instance, &ended);
        if (started)
            post_alerts(l, c, started, 0, 1);
        if (ended) {
            post_alerts(l, c, ended, e->time, 0);
            nalert_free_list(ended);
        }
    }
}

static void *lane_main(void *arg)
{
    nlane *l = arg;
    notifier *n = l->n;
    int alerts = l->which == LANE_ALERT;
    char name[16];
    snprintf(name, sizeof name, "hd-notify-%.5s", LANE_NAME[l->which]);
    pthread_setname_np(pthread_self(), name);
    for (;;) {
        pthread_mutex_lock(&n->mu);
        for (;;) {
            if (l->q.len || n->stop)
                break;
            int have_alerts = alerts && n->alerts.head != NULL;
            if (have_alerts && clock_mono() >= n->next_resend)
                break;
            if (!have_alerts) {
                pthread_cond_wait(&l->cv, &n->mu); /* idle: no clock of its own */
                continue;
            }
            struct timespec ts;
            double t = n->next_resend;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&l->cv, &n->mu, &ts);
        }
        if (n->stop && (!l->q.len || clock_mono() >= n->stop_deadline)) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        nevent *e = nqueue_pop(&l->q);
        notify_conf c;
        int ok = conf_copy(&c, &n->conf) == 0;
        if (ok) { /* the resolved name, not the setting: a reload may free n->instance */
            free(c.instance);
            ok = (c.instance = strdup(n->instance)) != NULL;
        }
        pthread_mutex_unlock(&n->mu);
        if (!ok) {
            conf_free(&c);
            log_error("notify", "out of memory: an event was not delivered");
            notify_event_free(e);
            continue;
        }
        if (e) {
            deliver(l, &c, e);
            notify_event_free(e);
        } else if (alerts && n->alerts.head) {
            /* Alertmanager drops an alert not re-sent within its resolve_timeout */
            post_alerts(l, &c, n->alerts.head, 0, 0);
        }
        if (alerts && n->alerts.head && (!e || n->next_resend <= clock_mono())) {
            pthread_mutex_lock(&n->mu);
            n->next_resend = clock_mono() + c.resend_s;
            pthread_mutex_unlock(&n->mu);
        }
        conf_free(&c);
    }
    return NULL;
}

/* ---- the public side ------------------------------------------------------------------------ */

static char *instance_name(const notify_conf *c)
{
    if (c->instance && *c->instance)
        return strdup(c->instance);
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    return strdup(host);
}

notifier *notify_new(const config *cfg, metrics *m)
{
    notifier *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    int qok = 1;
    for (int i = 0; i < N_LANES; i++)
        qok &= nqueue_init(&n->lanes[i].q, (size_t)cfg->notify.queue_limit) == 0;
    if (!qok || conf_copy(&n->conf, &cfg->notify) != 0 || !(n->instance = instance_name(&n->conf))) {
        for (int i = 0; i < N_LANES; i++)
            nqueue_free(&n->lanes[i].q);
        conf_free(&n->conf);
        free(n->instance);
        free(n);
        return NULL;
    }
    n->m = m;
    atomic_store(&n->abort_at, INFINITY);
    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < N_LANES; i++) {
        n->lanes[i].n = n;
        n->lanes[i].which = i;
        pthread_cond_init(&n->lanes[i].cv, &ca);
    }
    pthread_condattr_destroy(&ca);
    /* present at 0 from the start, so an alert rule on them has a series to read */
    count(n, "notifications_dropped_total",
          "notification events dropped because the queue was full (oldest first)", NULL, 0);
    for (size_t i = 0; i < N_LANES; i++) {
        count(n, "notifications_sent_total", "notifications delivered, by sink", LANE_NAME[i], 0);
        count(n, "notifications_failed_total",
              "notifications given up on after every retry, by sink", LANE_NAME[i], 0);
    }
    return n;
}

int notify_reconfigure(notifier *n, const config *cfg)
{
    if (!n)
        return 0;
    notify_conf c;
    if (conf_copy(&c, &cfg->notify) != 0)
        return -1;
    char *inst = instance_name(&c);
    if (!inst) {
        conf_free(&c);
        return -1;
    }
    pthread_mutex_lock(&n->mu);
    notify_conf old = n->conf;
    n->conf = c;
    /* the queue's bound applies to events from now on; what is queued stays */
    char *old_inst = n->instance;
    n->instance = inst;
    pthread_mutex_unlock(&n->mu);
    conf_free(&old);
    free(old_inst); /* the thread reads its own copy, taken under the lock */
    return 0;
}

/* Starts the lane's thread on its first event (caller holds n->mu): a host without that kind of
 * sink never has its thread. 0, or -1 when it cannot be started (logged once). */
static int lane_start(nlane *l)
{
    if (l->running)
        return 0;
    if (pthread_create(&l->th, NULL, lane_main, l) != 0) {
        log_error("notify", "cannot start the %s notifier thread: %s notifications are off",
                  LANE_NAME[l->which], LANE_NAME[l->which]);
        l->running = -1;
    } else {
        l->running = 1;
    }
    return l->running > 0 ? 0 : -1;
}

static void count_drop(notifier *n)
{
    atomic_fetch_add(&n->dropped, 1);
    count(n, "notifications_dropped_total",
          "notification events dropped because the queue was full (oldest first)", NULL, 1);
}

void notify_post(notifier *n, const notify_event *ev)
{
    if (!n || !ev || (unsigned)ev->kind >= NOTIFY_KIND_COUNT)
        return;
    int want[N_LANES], any = 0;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < N_LANES; i++)
        any |= want[i] = !n->stop && n->lanes[i].running >= 0 && lane_wanted(&n->conf, i);
    pthread_mutex_unlock(&n->mu);
    if (!any)
        return;
    /* copied outside the lock (one copy per lane): the engine holds its own lock while posting */
    nevent *e[N_LANES] = {NULL};
    for (int i = 0; i < N_LANES; i++)
        if (want[i] && !(e[i] = notify_event_copy(ev)))
            count_drop(n);
    int dropped = 0;
    pthread_mutex_lock(&n->mu);
    for (int i = 0; i < N_LANES; i++) {
        if (!e[i])
            continue;
        nlane *l = &n->lanes[i];
        if (n->stop || lane_start(l) < 0) {
            notify_event_free(e[i]);
            continue;
        }
        dropped += nqueue_push(&l->q, e[i]);
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&n->mu);
    while (dropped-- > 0)
        count_drop(n);
}

void notify_free(notifier *n, double timeout_s)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    n->stop_deadline = clock_mono() + timeout_s;
    atomic_store(&n->abort_at, n->stop_deadline);
    for (int i = 0; i < N_LANES; i++)
        pthread_cond_broadcast(&n->lanes[i].cv);
    pthread_mutex_unlock(&n->mu);
    for (int i = 0; i < N_LANES; i++) {
        nlane *l = &n->lanes[i];
        if (l->running > 0)
            pthread_join(l->th, NULL);
        nqueue_free(&l->q);
        pthread_cond_destroy(&l->cv);
    }
    nalert_free_list(n->alerts.head);
    conf_free(&n->conf);
    free(n->instance);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

unsigned long long notify_dropped(const notifier *n)
{
    return n ? atomic_load(&n->dropped) : 0;
}

size_t notify_queued(notifier *n)
{
    if (!n)
        return 0;
    pthread_mutex_lock(&n->mu);
    size_t len = 0;
    for (int i = 0; i < N_LANES; i++)
        len += n->lanes[i].q.len;
    pthread_mutex_unlock(&n->mu);
    return len;
}
