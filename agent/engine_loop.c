/* engine_loop.c — the engine's life: its thread and poll loop, commands from HTTP (confirm,
 * reject, pause), --once, restores before the plugins stop, start and stop of the workers. */
#include "engine_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "audit_operator.h"
#include "clock.h"
#include "sdnotify.h"
#include "log.h"
#include "notify.h"

/* ---- commands from HTTP ------------------------------------------------------------------ */

static void run_command_inner(engine *e, cmd *c)
{
    heal *h = u64map_get(e->heals, c->id);
    if (!h || h->phase != H_PENDING) {
        c->rc = HEALER_E_NOTFOUND;
        snprintf(c->msg, sizeof c->msg, "no pending plan %llu", (unsigned long long)c->id);
        return;
    }
    eng_explain_operator(h, c->c == HTTP_CMD_REJECT ? "rejected" : "confirmed");
    if (c->c == HTTP_CMD_REJECT) {
        governor_snooze(e->rt->gov, h->is->type, h->is->target,
                        clock_now() + e->rt->cfg->limits.cooldown_minutes * 60.0);
        snprintf(c->msg, sizeof c->msg, "plan %llu rejected", (unsigned long long)c->id);
        eng_finish_heal(e, h, "rejected", "rejected by the operator");
        c->rc = HEALER_OK;
        return;
    }
    if (h->committed) {
        /* A partial plan: its automatic steps ran (counted once, when it started: its own
         * cooldown must not refuse it now); only the operator's pause still holds. */
        if (governor_paused(e->rt->gov)) {
            snprintf(c->msg, sizeof c->msg, "plan %llu confirmed but refused now: %s",
                     (unsigned long long)c->id, gov_verdict_label(GOV_PAUSED));
            c->refused = 1;
            metrics_suppressed(e->rt->metrics, h->is->type, gov_verdict_label(GOV_PAUSED));
            eng_finish_heal(e, h, "suppressed", gov_verdict_label(GOV_PAUSED));
        } else {
            snprintf(c->msg, sizeof c->msg, "plan %llu confirmed: continuing from step %zu (%s)",
                     (unsigned long long)c->id, h->cur + 1, h->order[h->cur].action->name);
            log_info("engine", "heal #%llu confirmed by the operator at step %zu (%s)",
                     (unsigned long long)h->id, h->cur + 1, h->order[h->cur].action->name);
            h->confirmed = 1;
            eng_notify(e, h, NOTIFY_PLAN_CONFIRMED, "confirmed", "confirmed by the operator");
            h->phase = H_EXECUTING; /* eng_execute_next sets what it really is */
            h->is->state = IS_HEALING;
            h->is->reason = NULL;
            eng_execute_next(e, h);
        }
        c->rc = HEALER_OK;
        return;
    }
    gov_request req = eng_gov_req(e, h->is, h, 1);
    gov_verdict v = governor_check(e->rt->gov, &req, clock_now());
    if (v == GOV_ALLOW || v == GOV_DRY_RUN) {
        snprintf(c->msg, sizeof c->msg, "plan %llu confirmed: executing", (unsigned long long)c->id);
        log_info("engine", "heal #%llu confirmed by the operator", (unsigned long long)h->id);
        h->confirmed = 1;
        eng_notify(e, h, NOTIFY_PLAN_CONFIRMED, "confirmed", "confirmed by the operator");
        eng_start_execution(e, h, v);
    } else {
        snprintf(c->msg, sizeof c->msg, "plan %llu confirmed but refused now: %s",
                 (unsigned long long)c->id, gov_verdict_label(v));
        c->refused = 1;
        metrics_suppressed(e->rt->metrics, h->is->type, gov_verdict_label(v));
        eng_finish_heal(e, h, "suppressed", gov_verdict_label(v));
    }
    c->rc = HEALER_OK;
}

/* The decision and what came of it go to audit.jsonl; the issue's (type, target) are taken
 * before the command runs, since a rejected heal is freed by it. */
static void run_command(engine *e, cmd *c)
{
    heal *h = u64map_get(e->heals, c->id);
    char *type = h ? eng_sdup(h->is->type) : NULL, *target = h ? eng_sdup(h->is->target) : NULL;
    run_command_inner(e, c);
    json_t *params = json_object();
    if (type)
        json_object_set_new(params, "type", json_string(type));
    audit_operator(e->rt->audit, c->c == HTTP_CMD_REJECT ? "reject" : "confirm", c->id, target,
                   params, c->rc == HEALER_E_NOTFOUND ? "not_found" : c->refused ? "refused" : "ok",
                   c->msg);
    json_decref(params);
    free(type);
    free(target);
}

static void run_commands(engine *e)
{
    while (e->cmds) {
        cmd *c = e->cmds;
        e->cmds = c->next;
        run_command(e, c);
        c->done = 1;
    }
    pthread_cond_broadcast(&e->cmd_cv);
}

int engine_command(engine *e, http_command c, uint64_t id, char *msgbuf, size_t len)
{
    if (c == HTTP_CMD_PAUSE || c == HTTP_CMD_RESUME) {
        governor_pause(e->rt->gov, c == HTTP_CMD_PAUSE);
        log_info("engine", "healing %s by the operator", c == HTTP_CMD_PAUSE ? "paused" : "resumed");
        snprintf(msgbuf, len, "healing %s", c == HTTP_CMD_PAUSE ? "paused" : "resumed");
        audit_operator(e->rt->audit, c == HTTP_CMD_PAUSE ? "pause" : "resume", 0, NULL, NULL, "ok",
                       msgbuf);
        notify_event ev = { .kind = c == HTTP_CMD_PAUSE ? NOTIFY_PAUSED : NOTIFY_RESUMED,
                            .reason = c == HTTP_CMD_PAUSE ? "paused by the operator"
                                                          : "resumed by the operator" };
        notify_post(e->rt->notify, &ev);
        return HEALER_OK;
    }
    pthread_mutex_lock(&e->lock);
    heal *h = u64map_get(e->heals, id);
    if (!h || h->phase != H_PENDING || !e->running) {
        pthread_mutex_unlock(&e->lock);
        snprintf(msgbuf, len, "no pending plan %llu", (unsigned long long)id);
        audit_operator(e->rt->audit, c == HTTP_CMD_REJECT ? "reject" : "confirm", id, NULL, NULL,
                       "not_found", msgbuf);
        return HEALER_E_NOTFOUND;
    }
    cmd cm = { .c = c, .id = id };
    cm.next = e->cmds;
    e->cmds = &cm;
    uint64_t one = 1;
    if (write(e->efd, &one, sizeof one) < 0)
        log_warn("engine", "wake-up write failed: %s", strerror(errno));
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 10;
    while (!cm.done) {
        if (pthread_cond_timedwait(&e->cmd_cv, &e->lock, &dl) == ETIMEDOUT)
            break;
    }
    if (!cm.done) {
        /* Unlink it: the engine must never touch our stack frame after we return. */
        for (cmd **p = &e->cmds; *p; p = &(*p)->next)
            if (*p == &cm) {
                *p = cm.next;
                break;
            }
        pthread_mutex_unlock(&e->lock);
        snprintf(msgbuf, len, "the engine did not answer in time");
        return HEALER_E_TIMEOUT;
    }
    pthread_mutex_unlock(&e->lock);
    snprintf(msgbuf, len, "%s", cm.msg);
    return cm.rc;
}

int eng_command_now(engine *e, http_command c, uint64_t id, char *msgbuf, size_t len)
{
    if (c == HTTP_CMD_PAUSE || c == HTTP_CMD_RESUME)
        return engine_command(e, c, id, msgbuf, len);
    cmd cm = { .c = c, .id = id };
    run_command(e, &cm);
    if (e->rt->audit)
        (void)audit_flush(e->rt->audit);
    snprintf(msgbuf, len, "%s", cm.msg);
    return cm.rc;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void drain(engine *e)
{
    for (int k = 0; k < 4096; k++) {
        msg m;
        int r = bus_recv(e->rt->bus, e->pull, &m, 0);
        if (r == HEALER_E_TIMEOUT || r == HEALER_E_IO)
            break;
        if (r < 0)
            continue;
        eng_dispatch(e, &m);
        msg_free(&m);
    }
}

static int poll_once(engine *e, long timeout_ms)
{
    zmq_pollitem_t items[2] = {
        { .socket = e->pull, .events = ZMQ_POLLIN },
        { .fd = e->efd, .events = ZMQ_POLLIN },
    };
    int n = zmq_poll(items, 2, timeout_ms);
    if (n < 0)
        return (zmq_errno() == EINTR) ? 0 : -1;
    if (items[1].revents & ZMQ_POLLIN) {
        uint64_t v;
        if (read(e->efd, &v, sizeof v) < 0 && errno != EAGAIN)
            log_warn("engine", "eventfd read failed: %s", strerror(errno));
    }
    pthread_mutex_lock(&e->lock);
    if (items[0].revents & ZMQ_POLLIN)
        drain(e);
    run_commands(e);
    eng_run_alerts(e);
    double mono = clock_mono();
    if (mono >= e->next_sweep) {
        eng_sweep(e);
        mono = clock_mono();
        e->next_sweep = mono + e->idle_max;
    }
    /* whatever this turn started (a step's deadline, a pending plan) may be due sooner */
    double due = eng_next_due(e);
    if (due < e->next_sweep)
        e->next_sweep = due;
    /* the per-action lines made in this iteration, in one write, before the engine waits */
    if (e->rt->audit)
        (void)audit_flush(e->rt->audit);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* Before the plugins are destroyed (stop, reload, end of --once), every plugin that changed
 * something for a still-open issue undoes it: a plugin forgets its changes on destroy, and a
 * process left SIGSTOPped or a cgroup left frozen with nobody to release it is worse than the
 * issue coming back. Waits for the restores, at most timeout_s. Runs on the thread that owns
 * the engine's sockets. */
static void restore_all(engine *e, double timeout_s)
{
    pthread_mutex_lock(&e->lock);
    size_t sent = eng_begin_stop(e);
    pthread_mutex_unlock(&e->lock);
    if (!sent)
        return;
    log_info("engine", "undoing what the plugins changed (%zu restore(s)) before stopping", sent);
    double deadline = clock_mono() + timeout_s;
    while (clock_mono() < deadline) {
        if (poll_once(e, 50) < 0)
            break;
        pthread_mutex_lock(&e->lock);
        eng_retry_restores(e, 1); /* every second now, not with back-off */
        size_t left = eng_restores_outstanding(e);
        pthread_mutex_unlock(&e->lock);
        if (!left)
            return;
    }
    log_warn("engine", "%zu restore(s) not acknowledged within %.0f s", eng_restores_outstanding(e),
             timeout_s);
}

static void *engine_main(void *arg)
{
    engine *e = arg;
    pthread_setname_np(pthread_self(), "hd-engine");
    while (!atomic_load(&e->stop)) {
        atomic_store(&e->heartbeat, clock_mono());
        double wait = e->next_sweep - clock_mono();
        long ms = wait <= 0 ? 0 : wait >= e->idle_max ? (long)(e->idle_max * 1000)
                                                     : (long)ceil(wait * 1000);
        if (poll_once(e, ms) < 0) {
            log_error("engine", "poll failed: %s", zmq_strerror(zmq_errno()));
            break;
        }
    }
    restore_all(e, 10.0);
    return NULL;
}

static int busy(engine *e)
{
    size_t i = 0;
    void *val;
    while (u64map_next(e->heals, &i, NULL, &val))
        if (((heal *)val)->phase != H_PENDING)
            return 1;
    return 0;
}

int engine_run_once(engine *e, double timeout_s)
{
    msg m = { .kind = MSG_DETECT, .seq = 0 };
    e->acks_waiting = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->live[i] && e->set->v[i].desc.detect && eng_send_to(e, (int)i, &m) == HEALER_OK)
            e->acks_waiting++;
    double deadline = clock_mono() + timeout_s;
    while (clock_mono() < deadline) {
        if (poll_once(e, 50) < 0)
            return -1;
        pthread_mutex_lock(&e->lock);
        int done = e->acks_waiting == 0 && !busy(e);
        pthread_mutex_unlock(&e->lock);
        if (done)
            return 0;
    }
    return -1;
}

/* Everything but the bus and the workers. */
static engine *engine_alloc(runtime *rt, plugin_set *set, int auto_detect)
{
    engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->rt = rt;
    e->set = set;
    e->n = set->n;
    e->auto_detect = auto_detect;
    e->efd = -1;
    e->workers = calloc(e->n ? e->n : 1, sizeof *e->workers);
    e->live = calloc(e->n ? e->n : 1, sizeof *e->live);
    e->slots = calloc(e->n ? e->n : 1, sizeof *e->slots);
    e->push = calloc(e->n ? e->n : 1, sizeof *e->push);
    e->futile = strmap_new();
    e->issues = strmap_new();
    e->heals = u64map_new();
    e->health = strmap_new();
    /* The daemon's history is the knowledge base; only --once prints its own heals. */
    e->recent = auto_detect ? NULL : json_array();
    e->health_value = 100.0;
    e->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(clock_now() * 1e6);
    if (!e->rng)
        e->rng = 1;
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->storm = logstorm_new(ENGINE_STORM_WINDOW, ENGINE_STORM_BURST, ENGINE_STORM_KEYS,
                            eng_storm_say, e);
    /* a systemd watchdog shorter than 8 s: turn at least four times per interval */
    double wd = sdnotify_watchdog_interval();
    e->idle_max = wd > 0 && wd / 4 < ENGINE_IDLE_MAX ? wd / 4 : ENGINE_IDLE_MAX;
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cmd_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->stop, 0);
    if (!e->workers || !e->live || !e->slots || !e->push || !e->futile || !e->issues || !e->heals ||
        !e->health || e->efd < 0 || !e->storm) {
        log_error("engine", "cannot start: out of memory");
        engine_free(e);
        return NULL;
    }
    return e;
}

engine *engine_new_detached(runtime *rt, plugin_set *set, engine_send_hook hook, void *ud)
{
    engine *e = engine_alloc(rt, set, 1);
    if (!e)
        return NULL;
    e->send_hook = hook;
    e->hook_ud = ud;
    for (size_t i = 0; i < e->n; i++)
        e->live[i] = set->v[i].state == PLUGIN_LOADED;
    return e;
}

engine *engine_new(runtime *rt, plugin_set *set, int auto_detect)
{
    engine *e = engine_alloc(rt, set, auto_detect);
    if (!e)
        return NULL;
    snprintf(e->endpoint, sizeof e->endpoint, "inproc://engine.%u", rt->generation);
    e->pull = bus_pull(rt->bus, e->endpoint);
    bus_get_stats(rt->bus, &e->last_bus); /* counters carry over a reload: count from here */
    if (!e->pull) {
        log_error("engine", "cannot start: the bus refused the engine's inbox");
        engine_free(e);
        return NULL;
    }
    for (size_t i = 0; i < e->n; i++) {
        plugin_rec *p = &set->v[i];
        if (p->state != PLUGIN_LOADED)
            continue;
        e->workers[i] = worker_start(rt, p, auto_detect, e->endpoint);
        if (e->workers[i]) {
            e->push[i] = bus_push(rt->bus, worker_endpoint(e->workers[i]));
            e->live[i] = 1;
            metrics_plugin_info(rt->metrics, p->name, p->version);
        }
    }
    return e;
}

int engine_start(engine *e)
{
    e->running = 1;
    atomic_store(&e->heartbeat, clock_mono());
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        e->running = 0;
        return -1;
    }
    return 0;
}

void engine_stop(engine *e, double timeout_s)
{
    if (!e)
        return;
    if (!e->running && !e->stopped && !e->send_hook && e->pull)
        restore_all(e, 10.0); /* --once: this thread owns the sockets */
    e->stopped = 1;
    if (e->running) {
        atomic_store(&e->stop, 1);
        uint64_t one = 1;
        if (write(e->efd, &one, sizeof one) < 0)
            log_warn("engine", "wake-up write failed: %s", strerror(errno));
        pthread_join(e->thread, NULL);
        pthread_mutex_lock(&e->lock);
        e->running = 0;
        /* Anyone still waiting on a command gets "not found" rather than a hang. */
        for (cmd *c = e->cmds; c; c = c->next) {
            c->rc = HEALER_E_NOTFOUND;
            snprintf(c->msg, sizeof c->msg, "the agent is stopping");
            c->done = 1;
        }
        e->cmds = NULL;
        pthread_cond_broadcast(&e->cmd_cv);
        pthread_mutex_unlock(&e->lock);
    }
    for (size_t i = 0; i < e->n; i++) {
        if (e->push[i]) {
            bus_close(e->push[i]);
            e->push[i] = NULL;
        }
        if (e->workers[i]) {
            if (worker_stop(e->workers[i], timeout_s) == 0)
                worker_free(e->workers[i]);
            e->workers[i] = NULL;
        }
        e->live[i] = 0;
    }
}

void engine_free(engine *e)
{
    if (!e)
        return;
    engine_stop(e, 5.0);
    if (e->heals) {
        size_t i = 0;
        void *val;
        while (u64map_next(e->heals, &i, NULL, &val)) {
            heal *h = val;
            /* a plan that waited for a person is gone with this engine: its alert ends */
            if (h->phase == H_PENDING)
                eng_notify(e, h, NOTIFY_HEAL_CANCELLED, "dropped",
                           "the agent stopped or reloaded before anyone decided");
        }
    }
    logstorm_free(e->storm);   /* says what it still held back */
    while (e->ihead) {
        eissue *is = e->ihead;
        e->ihead = is->next;
        eng_free_issue(is);
    }
    if (e->heals) {
        size_t i = 0;
        void *val;
        while (u64map_next(e->heals, &i, NULL, &val))
            eng_free_heal(val);
        u64map_free(e->heals);
    }
    strmap_free(e->issues);
    if (e->futile) {
        size_t i = 0;
        void *val;
        while (strmap_next(e->futile, &i, NULL, NULL, &val))
            free(val);
        strmap_free(e->futile);
    }
    eng_free_restores(e);
    eng_free_alerts(e);
    if (e->health) {
        size_t i = 0;
        void *val;
        while (strmap_next(e->health, &i, NULL, NULL, &val))
            free(val);
        strmap_free(e->health);
    }
    if (e->pull)
        bus_close(e->pull);
    if (e->efd >= 0)
        close(e->efd);
    json_decref(e->recent);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->cmd_cv);
    free(e->workers);
    free(e->live);
    for (size_t i = 0; e->slots && i < e->n; i++)
        if (e->slots[i].cap_abandoned)
            free(e->slots[i].abandoned);
    free(e->slots);
    free(e->push);
    free(e);
}

