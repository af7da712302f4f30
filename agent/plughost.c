/* plughost.c — the plugin host loop (plughost.h): the callbacks of one plugin driven by bus
 * messages, its fds, its detect() timer, its settling verifications and the messages deferred while
 * it waits for a reply. Transport-agnostic: the agent's threads and the healerd-plugin child share it. */
#include "plughost.h"
#include "rules.h"
#include "preview.h"
#include "predict.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* A verification waiting for its change to settle (healer_result.verify_after_s,
 * healer_verdict.recheck_after_s): the EXECUTE or VERIFY message it belongs to, kept whole (the
 * host took over its arena), and when to call verify() next. A timer, not a sleep, so the
 * plugin's detect() and fd callbacks run while a change settles. */
typedef struct vtimer {
    msg m;
    double due;                   /* clock_mono() */
    double started;               /* when the verification began: bounded by HEALER_VERIFY_MAX_S */
    struct vtimer *next;
} vtimer;

static int ph_stopping(const plughost *w)
{
    return w->stop_seen || (w->stopping && atomic_load(w->stopping));
}

/* The engine's deadline for a callback it asked for: `wait` seconds from now when it says so,
 * else agent.action_timeout. */
static double msg_deadline(const plughost *w, const msg *m)
{
    double d = m->wait > 0 && m->wait < 1e9 ? m->wait : w->action_timeout;
    return clock_mono() + d;
}

static void worker_send(plughost *w, const msg *m)
{
    int rc = w->tr.send(w->tr.ud, m);
    if (rc < 0)
        log_warn(w->who, "message %s to the engine dropped: %s", msg_kind_name(m->kind),
                 healer_rc_str(rc));
}

/* Borrowed views of a decoded message in the SDK's types, for the length of one callback. */
typedef struct issue_view {
    healer_issue issue;
    healer_measurement m[64];
} issue_view;

static void view_issue(const msg_issue *mi, issue_view *v)
{
    size_t n = mi->n_measures < 64 ? mi->n_measures : 64;
    for (size_t i = 0; i < n; i++) {
        v->m[i].name = mi->measures[i].name;
        v->m[i].value = mi->measures[i].value;
    }
    v->issue = (healer_issue){
        .type = mi->type ? mi->type : "",
        .severity = (healer_severity)mi->severity,
        .target = mi->target ? mi->target : "",
        .summary = mi->summary ? mi->summary : "",
        .measurements = v->m,
        .n_measurements = n,
        .components = mi->components,
        .n_components = mi->n_components,
        .id = mi->id,
        .plugin = mi->plugin ? mi->plugin : "",
    };
}

typedef struct action_view {
    healer_action action;
    healer_kv params[64];
} action_view;

static void view_action(const msg_action *ma, const msg_issue *mi, action_view *v)
{
    size_t n = ma->n_params < 64 ? ma->n_params : 64;
    for (size_t i = 0; i < n; i++) {
        v->params[i].key = ma->params[i].key;
        v->params[i].value = ma->params[i].value;
    }
    v->action = (healer_action){
        .name = ma->name ? ma->name : "",
        .target = ma->target ? ma->target : (mi->target ? mi->target : ""),
        .description = ma->description ? ma->description : "",
        .step = ma->step,
        .impact = ma->impact,
        .confidence = ma->confidence,
        .flags = ma->flags,
        .params = v->params,
        .n_params = n,
    };
}

static void set_action_ctx(plughost *w, const msg *m)
{
    struct healer_ctx *c = &w->ctx;
    c->heal_id = m->seq;
    c->attempt = m->attempt;
    c->deadline_mono = msg_deadline(w, m);
    c->issue_type = m->issue.type;
    c->action = m->n_actions ? m->actions[0].name : NULL;
    c->action_flags = m->n_actions ? m->actions[0].flags : 0;
    c->issue = &m->issue;
    free(c->before_json);
    c->before_json = NULL; /* most actions call no actuator: build it only when one does */
    c->preview = m->kind == MSG_EXECUTE && m->preview;
    preview_sink_free(c->preview_sink);
    /* In the agent (a thread plugin) the actuators run here and fill the sink; in a child they
     * run in the agent's proxy, which keeps its own (proxy_calls.c). */
    c->preview_sink = c->preview && c->plugin ? preview_sink_new() : NULL;
}

const char *worker_before_json(struct healer_ctx *c)
{
    if (!c->before_json && c->issue)
        c->before_json = msg_measures_json(c->issue->measures, c->issue->n_measures);
    return c->before_json;
}

static void clear_action_ctx(plughost *w)
{
    struct healer_ctx *c = &w->ctx;
    c->heal_id = 0;
    c->attempt = 0;
    c->deadline_mono = 0;
    c->issue_type = NULL;
    c->action = NULL;
    c->action_flags = 0;
    c->issue = NULL;
    free(c->before_json);
    c->before_json = NULL;
    c->preview = 0;
    preview_sink_free(c->preview_sink);
    c->preview_sink = NULL;
}

static void run_detect(plughost *w, uint64_t seq, int ack)
{
    int rc = HEALER_OK;
    if (w->desc->detect) {
        w->ctx.phase = PHASE_DETECT;
        rc = w->desc->detect(w->state);
        w->ctx.phase = PHASE_IDLE;
        if (rc < 0)
            log_warn(w->who, "detect failed: %s", healer_rc_str(rc));
    }
    if (ack) {
        msg a = { .kind = MSG_ACK, .seq = seq, .plugin = w->name, .code = rc };
        worker_send(w, &a);
    }
}

static void do_plan(plughost *w, const msg *m)
{
    plan_builder *pb = &w->plan;
    int rc = HEALER_OK;
    double t0 = clock_mono();
    if (w->desc->plan && m->has_issue) {
        issue_view iv;
        view_issue(&m->issue, &iv);
        w->ctx.phase = PHASE_PLAN;
        pb->active = 1;
        rc = w->desc->plan(w->state, &iv.issue, (healer_plan *)pb);
        pb->active = 0;
        w->ctx.phase = PHASE_IDLE;
        if (rc < 0)
            log_warn(w->who, "plan for %s failed: %s", m->issue.type, healer_rc_str(rc));
    }
    for (size_t i = 0; i < pb->n; i++)
        pb->v[i].plugin = w->name;
    msg r = { .kind = MSG_PLAN, .seq = m->seq, .plugin = w->name, .code = rc,
              .actions = pb->v, .n_actions = rc < 0 ? 0 : pb->n,
              .duration = clock_mono() - t0 };
    worker_send(w, &r);
    plan_builder_clear(pb);
}

/* Calls verify() once and reports it. Returns the seconds until the next check when the plugin
 * says the change is still settling (a VERDICT with code 2 went out), else 0 (a final one did). */
static double send_verdict(plughost *w, const msg *em, const issue_view *iv, const action_view *av,
                           double started)
{
    uint64_t seq = em->seq;
    healer_verdict v;
    memset(&v, 0, sizeof v);
    double t0 = clock_mono();
    set_action_ctx(w, em);
    w->ctx.phase = PHASE_VERIFY;
    int rc = w->desc->verify(w->state, &iv->issue, &av->action, &v);
    w->ctx.phase = PHASE_IDLE;
    clear_action_ctx(w);
    double again = rc < 0 ? 0 : v.recheck_after_s;
    if (!(again > 0)) /* NaN, negative: final */
        again = 0;
    if (again > 0 && t0 + again - started > HEALER_VERIFY_MAX_S) {
        again = 0; /* settled long enough: what it says now is final */
        if (!v.message[0])
            snprintf(v.message, sizeof v.message, "still settling after %.0f s: not healed",
                     HEALER_VERIFY_MAX_S);
    }
    msg_measure mm[HEALER_MAX_MEASUREMENTS];
    size_t n = v.n_measurements < HEALER_MAX_MEASUREMENTS ? v.n_measurements : HEALER_MAX_MEASUREMENTS;
    for (size_t i = 0; i < n; i++)
        mm[i] = (msg_measure){ v.measurements[i].name ? v.measurements[i].name : "?",
                               v.measurements[i].value };
    v.message[sizeof v.message - 1] = '\0';
    if (rc < 0 && !v.message[0])
        snprintf(v.message, sizeof v.message, "verify failed: %s", healer_rc_str(rc));
    msg r = { .kind = MSG_VERDICT, .seq = seq, .attempt = em->attempt, .plugin = w->name,
              .code = again > 0 ? 2 : (rc < 0 ? 0 : (v.healed != 0)), .text = v.message,
              .measures = mm, .n_measures = n, .duration = clock_mono() - t0, .wait = again };
    worker_send(w, &r);
    return again;
}

/* Takes over m (its arena) into a timer due `after` seconds from now. 0, or -1 when m cannot be
 * kept (built by hand, out of memory): the caller then verifies at once. */
static int schedule_verify(plughost *w, msg *m, double after, double started)
{
    if (!m->arena)
        return -1;
    vtimer *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->m = *m;
    m->arena = NULL; /* ours now: the caller's msg_free leaves it alone */
    t->due = clock_mono() + after;
    t->started = started;
    vtimer **pp = &w->timers;
    while (*pp && (*pp)->due <= t->due)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    return 0;
}

static void free_timer(vtimer *t)
{
    msg_free(&t->m);
    free(t);
}

/* Runs the verifications that are due; one that is still settling goes back in the list. */
static void run_timers(plughost *w)
{
    double now = clock_mono();
    while (w->timers && w->timers->due <= now && !ph_stopping(w)) {
        vtimer *t = w->timers;
        w->timers = t->next;
        issue_view iv;
        action_view av;
        view_issue(&t->m.issue, &iv);
        view_action(&t->m.actions[0], &t->m.issue, &av);
        double again = send_verdict(w, &t->m, &iv, &av, t->started);
        if (again > 0 && schedule_verify(w, &t->m, again, t->started) == 0) {
            free(t);
            continue;
        }
        free_timer(t);
    }
}

static void cancel_timers(plughost *w, uint64_t attempt)
{
    for (vtimer **pp = &w->timers; *pp;) {
        if ((*pp)->m.attempt == attempt) {
            vtimer *t = *pp;
            *pp = t->next;
            free_timer(t);
        } else {
            pp = &(*pp)->next;
        }
    }
}

/* Verifies the action of m now or after `after` seconds, by a timer either way so that a
 * verdict that says "still settling" is rechecked the same way. */
static void start_verify(plughost *w, msg *m, double after)
{
    if (!(after > 0))
        after = 0;
    if (after > HEALER_VERIFY_MAX_S)
        after = HEALER_VERIFY_MAX_S;
    double started = clock_mono();
    if (schedule_verify(w, m, after, started) == 0)
        return;
    issue_view iv;
    action_view av;
    view_issue(&m->issue, &iv);
    view_action(&m->actions[0], &m->issue, &av);
    (void)send_verdict(w, m, &iv, &av, started); /* cannot keep it: a final verdict now */
}

static void do_execute(plughost *w, msg *m)
{
    if (!m->has_issue || m->n_actions < 1) {
        msg r = { .kind = MSG_RESULT, .seq = m->seq, .attempt = m->attempt, .plugin = w->name,
                  .code = HEALER_OUTCOME_FAILED, .text = "malformed execute request" };
        worker_send(w, &r);
        return;
    }
    issue_view iv;
    action_view av;
    view_issue(&m->issue, &iv);
    view_action(&m->actions[0], &m->issue, &av);
    healer_result res;
    memset(&res, 0, sizeof res);
    res.outcome = HEALER_OUTCOME_UNSET; /* a plugin that forgets to set it has not succeeded */
    set_action_ctx(w, m);
    double t0 = clock_mono();
    w->ctx.phase = PHASE_EXECUTE;
    int rc = w->desc->execute ? w->desc->execute(w->state, &iv.issue, &av.action, &res)
                                : HEALER_E_INVAL;
    w->ctx.phase = PHASE_IDLE;
    double dur = clock_mono() - t0;
    res.message[sizeof res.message - 1] = '\0';
    if (rc < 0 && (res.outcome == HEALER_OUTCOME_DONE || res.outcome == HEALER_OUTCOME_HEALED)) {
        res.outcome = HEALER_OUTCOME_FAILED;
        if (!res.message[0])
            snprintf(res.message, sizeof res.message, "execute failed: %s", healer_rc_str(rc));
    }
    if (res.outcome == HEALER_OUTCOME_UNSET) {
        log_error(w->who, "execute(%s) returned without setting result->outcome: recorded as an "
                  "error (a bug in the plugin)", m->actions[0].name);
        if (!res.message[0])
            snprintf(res.message, sizeof res.message,
                     "plugin error: execute() did not set result->outcome");
    } else if ((unsigned)res.outcome > HEALER_OUTCOME_DRY_RUN) {
        res.outcome = HEALER_OUTCOME_FAILED;
    }
    /* A preview changed nothing and nobody waits for its verdict. */
    int will_verify = (res.outcome == HEALER_OUTCOME_DONE || res.outcome == HEALER_OUTCOME_DRY_RUN) &&
                      w->desc->verify && !m->preview;
    double settle = will_verify && res.verify_after_s > 0 ? res.verify_after_s : 0;
    if (settle > HEALER_VERIFY_MAX_S)
        settle = HEALER_VERIFY_MAX_S;
    msg_measure mm[HEALER_MAX_MEASUREMENTS];
    size_t n = res.n_measurements < HEALER_MAX_MEASUREMENTS ? res.n_measurements : HEALER_MAX_MEASUREMENTS;
    for (size_t i = 0; i < n; i++)
        mm[i] = (msg_measure){ res.measurements[i].name ? res.measurements[i].name : "?",
                               res.measurements[i].value };
    msg r = { .kind = MSG_RESULT, .seq = m->seq, .attempt = m->attempt, .plugin = w->name,
              .code = res.outcome, .text = res.message, .measures = mm, .n_measures = n,
              .duration = dur, .wait = settle };
    char note[160];
    if (w->ctx.preview_sink)
        r.touches = preview_view(w->ctx.preview_sink, &r.n_touches, note);
    worker_send(w, &r);
    clear_action_ctx(w);
    /* The engine expects a verdict after DONE or DRY_RUN whenever this plugin has verify():
     * after the settle time the plugin asked for, by a timer. */
    if (will_verify)
        start_verify(w, m, settle);
}

static void do_verify(plughost *w, msg *m)
{
    if (!w->desc->verify || !m->has_issue || m->n_actions < 1) {
        msg r = { .kind = MSG_VERDICT, .seq = m->seq, .attempt = m->attempt, .plugin = w->name,
                  .code = 0, .text = "no verify" };
        worker_send(w, &r);
        return;
    }
    /* A VERIFY's wait is the settle time (the executor's verify_after_s), not the callback's
     * deadline as in other messages: verify() gets agent.action_timeout like any callback. */
    double settle = m->wait > 0 ? m->wait : 0;
    m->wait = 0;
    start_verify(w, m, settle);
}

static void do_restore(plughost *w, const msg *m)
{
    int rc = HEALER_OK;
    if (w->desc->restore && m->has_issue) {
        issue_view iv;
        view_issue(&m->issue, &iv);
        w->ctx.phase = PHASE_RESTORE;
        w->ctx.issue_type = m->issue.type;
        w->ctx.issue = &m->issue;
        w->ctx.action = "restore";
        w->ctx.attempt = m->attempt;
        w->ctx.deadline_mono = msg_deadline(w, m);
        rc = w->desc->restore(w->state, &iv.issue);
        w->ctx.phase = PHASE_IDLE;
        clear_action_ctx(w);
        if (rc >= 0) /* given back: its undo journal entries for this issue go */
            if (w->restored)
                w->restored(w->restored_ud, m->issue.id);
        if (rc < 0)
            log_warn(w->who, "restore after %s on %s failed: %s", m->issue.type,
                     m->issue.target, healer_rc_str(rc));
    }
    msg a = { .kind = MSG_ACK, .seq = m->seq, .attempt = m->attempt, .plugin = w->name,
              .code = rc };
    worker_send(w, &a);
}

static void do_request(plughost *w, const msg *m)
{
    healer_reply reply;
    memset(&reply, 0, sizeof reply);
    if (!w->desc->handle_request) {
        reply.status = HEALER_E_NOTFOUND;
        snprintf(reply.message, sizeof reply.message, "plugin %s serves no requests", w->name);
    } else {
        healer_kv args[64];
        size_t n = m->n_args < 64 ? m->n_args : 64;
        for (size_t i = 0; i < n; i++)
            args[i] = (healer_kv){ m->args[i].key, m->args[i].value };
        w->ctx.phase = PHASE_REQUEST;
        w->ctx.action = m->method;
        w->ctx.heal_id = m->heal;   /* its actuator calls are audited under the asking heal */
        w->ctx.deadline_mono = msg_deadline(w, m);
        int rc = w->desc->handle_request(w->state, m->method ? m->method : "", args, n, &reply);
        w->ctx.phase = PHASE_IDLE;
        w->ctx.action = NULL;
        w->ctx.heal_id = 0;
        w->ctx.deadline_mono = 0;
        if (rc < 0 && reply.status == 0)
            reply.status = rc;
        reply.message[sizeof reply.message - 1] = '\0';
    }
    msg r = { .kind = MSG_REPLY, .seq = m->seq, .plugin = m->from, .from = w->name,
              .code = reply.status, .text = reply.message };
    worker_send(w, &r);
}

/* Returns 1 when the worker must stop. m may be taken over (a verification that settles keeps
 * it): msg_free after this is still right, it then frees nothing. */
static int handle(plughost *w, msg *m)
{
    switch (m->kind) {
    case MSG_DETECT: run_detect(w, m->seq, 1); break;
    case MSG_PLAN_REQ: do_plan(w, m); break;
    case MSG_EXECUTE: do_execute(w, m); break;
    case MSG_VERIFY: do_verify(w, m); break;
    case MSG_RESTORE: do_restore(w, m); break;
    case MSG_REQUEST: do_request(w, m); break;
    case MSG_CANCEL: cancel_timers(w, m->attempt); break;
    case MSG_STOP: return 1;
    case MSG_REPLY: break; /* a reply that came after its request timed out */
    case MSG_PING: {
        msg pong = { .kind = MSG_PONG, .seq = m->seq, .plugin = w->name };
        worker_send(w, &pong);
        break;
    }
    default:
        log_warn(w->who, "unexpected %s message ignored", msg_kind_name(m->kind));
        break;
    }
    return 0;
}

void plughost_defer(plughost *w, msg *m)
{
    if (w->n_deferred == w->cap_deferred) {
        size_t cap = w->cap_deferred ? w->cap_deferred * 2 : 8;
        msg *nv = realloc(w->deferred, cap * sizeof *nv);
        if (!nv) {
            msg_free(m);
            return;
        }
        w->deferred = nv;
        w->cap_deferred = cap;
    }
    w->deferred[w->n_deferred++] = *m;
}

/* Before destroy(): every RESTORE still queued (or deferred) runs, so nothing the plugin
 * changed is left behind because the agent was stopping. Everything else is dropped. */
static void drain_restores(plughost *w)
{
    for (size_t i = 0; i < w->n_deferred; i++) {
        if (w->deferred[i].kind == MSG_RESTORE)
            do_restore(w, &w->deferred[i]);
        msg_free(&w->deferred[i]);
    }
    w->n_deferred = 0;
    for (int k = 0; k < 4096; k++) {
        msg m;
        int r = w->tr.recv(w->tr.ud, &m, 0);
        if (r == HEALER_E_TIMEOUT || r == HEALER_E_IO)
            break;
        if (r < 0)
            continue;
        if (m.kind == MSG_RESTORE)
            do_restore(w, &m);
        msg_free(&m);
    }
}


int worker_publish(struct healer_ctx *ctx, const msg *m)
{
    return ctx->w->tr.send(ctx->w->tr.ud, m);
}

int worker_request(struct healer_ctx *ctx, const char *plugin, const char *method,
                   const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply)
{
    plughost *w = ctx->w;
    memset(reply, 0, sizeof *reply);
    msg_kv kv[64];
    size_t n = n_args < 64 ? n_args : 64;
    for (size_t i = 0; i < n; i++)
        kv[i] = (msg_kv){ args[i].key, args[i].value };
    uint64_t id = ++w->next_request;
    msg q = { .kind = MSG_REQUEST, .seq = id, .plugin = plugin, .from = w->name,
              .method = method, .args = kv, .n_args = n, .heal = ctx->heal_id };
    int rc = w->tr.send(w->tr.ud, &q);
    if (rc < 0) {
        reply->status = rc;
        snprintf(reply->message, sizeof reply->message, "request not sent: %s", healer_rc_str(rc));
        return rc;
    }
    double deadline = clock_mono() + (timeout_s > 0 ? timeout_s : 5.0);
    for (;;) {
        double left = deadline - clock_mono();
        if (left <= 0)
            break;
        msg m;
        int r = w->tr.recv(w->tr.ud, &m, (int)(left * 1000.0) + 1);
        if (r == HEALER_E_TIMEOUT)
            continue;
        if (r == HEALER_E_IO)
            break;
        if (r < 0)
            continue;
        if (m.kind == MSG_REPLY && m.seq == id) {
            int status = m.code;
            reply->status = status;
            snprintf(reply->message, sizeof reply->message, "%s", m.text ? m.text : "");
            msg_free(&m);
            return status < 0 ? status : HEALER_OK;
        }
        if (m.kind == MSG_PING) {
            /* A child waiting on another plugin is alive: its wait has its own timeout, and a
             * deferred ping would get it killed as hung once the wait outlasts the heartbeat. */
            msg pong = { .kind = MSG_PONG, .seq = m.seq, .plugin = w->name };
            worker_send(w, &pong);
            msg_free(&m);
            continue;
        }
        if (m.kind == MSG_STOP)
            w->stop_seen = 1;
        plughost_defer(w, &m);
    }
    reply->status = HEALER_E_TIMEOUT;
    snprintf(reply->message, sizeof reply->message, "no answer from plugin %s within %.1f s",
             plugin, timeout_s);
    return HEALER_E_TIMEOUT;
}

int worker_watch_fd(struct healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    plughost *w = ctx->w;
    if (fd < 0 || !cb)
        return HEALER_E_INVAL;
    short zev = events & (POLLIN | POLLPRI | POLLOUT);
    for (size_t i = 0; i < w->n_fds; i++) {
        if (w->fds[i].fd == fd) {
            w->fds[i].events = zev;
            w->fds[i].cb = cb;
            return HEALER_OK;
        }
    }
    if (w->n_fds >= WORKER_MAX_FDS)
        return HEALER_E_FULL;
    w->fds[w->n_fds++] = (struct ph_fd_watch){ fd, zev, cb };
    return HEALER_OK;
}

int worker_unwatch_fd(struct healer_ctx *ctx, int fd)
{
    plughost *w = ctx->w;
    for (size_t i = 0; i < w->n_fds; i++) {
        if (w->fds[i].fd == fd) {
            w->fds[i] = w->fds[--w->n_fds];
            return HEALER_OK;
        }
    }
    return HEALER_E_NOTFOUND;
}

void plughost_setup(plughost *h, const healer_plugin *desc, const char *name, double interval,
                    double action_timeout, int auto_detect, ph_transport tr, atomic_int *stopping)
{
    h->ctx.w = h;
    h->desc = desc;
    h->name = name;
    h->interval = interval > 0 ? interval : 5.0;
    h->action_timeout = action_timeout > 0 ? action_timeout : 60.0;
    h->auto_detect = auto_detect;
    h->tr = tr;
    h->stopping = stopping;
    snprintf(h->who, sizeof h->who, "plugin %s", name);
}

int plughost_init(plughost *h, const healer_host *host)
{
    h->ctx.thread = pthread_self();
    h->ctx.phase = PHASE_INIT;
    int rc = h->desc->init(host, &h->ctx, &h->state);
    h->ctx.phase = PHASE_IDLE;
    return rc;
}

static long ms_until(double due)
{
    double left = due - clock_mono();
    return left <= 0 ? 0 : (long)(left * 1000.0) + 1;
}

int plughost_health_due(plughost *h, const char *component, double score)
{
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)component; *c; c++)
        hash = (hash ^ *c) * 1099511628211ULL;
    hash |= 1; /* never 0, the free mark */
    double now = clock_mono();
    double refresh = h->interval > HEALER_HEALTH_REFRESH_S ? 0 : HEALER_HEALTH_REFRESH_S;
    struct ph_health_seen *free_slot = NULL;
    for (size_t i = 0; i < PH_HEALTH_SEEN; i++) {
        struct ph_health_seen *e = &h->health[i];
        if (e->hash == hash) {
            /* within a point of what the engine holds is noise (free bytes move all the
             * time), unless it reaches a bound exactly */
            int same = fabs(score - e->score) < HEALER_HEALTH_STEP &&
                       !(score != e->score && (score == 0 || score == 100));
            if (same && now - e->sent < refresh)
                return 0;
            e->score = score;
            e->sent = now;
            return 1;
        }
        if (!e->hash && !free_slot)
            free_slot = e;
    }
    if (free_slot)
        *free_slot = (struct ph_health_seen){ hash, score, now };
    return 1;
}

/* The loop's sleep when nothing is scheduled. Not a stop check: worker_stop wakes it. */
#define PH_IDLE_MAX_MS 60000L

void plughost_run(plughost *w)
{
    w->next_detect = clock_mono();
    int stop = 0;
    while (!stop && !ph_stopping(w)) {
        if (w->n_deferred) {
            msg m = w->deferred[0];
            memmove(w->deferred, w->deferred + 1, --w->n_deferred * sizeof *w->deferred);
            stop = handle(w, &m);
            msg_free(&m);
            continue;
        }
        struct pollfd pf[WORKER_MAX_FDS];
        size_t nfds = w->n_fds;
        for (size_t i = 0; i < nfds; i++)
            pf[i] = (struct pollfd){ .fd = w->fds[i].fd, .events = w->fds[i].events };
        /* Nothing scheduled: sleep until a message, an fd or a stop wakes it (the transport
         * watches the worker's wake eventfd), with a long cap as a last resort only. */
        long timeout = PH_IDLE_MAX_MS;
        if (w->auto_detect && w->desc->detect) {
            long ms = ms_until(w->next_detect);
            if (ms < timeout)
                timeout = ms;
        }
        if (w->timers) {
            long ms = ms_until(w->timers->due);
            if (ms < timeout)
                timeout = ms;
        }
        int inbox = 0;
        int n = w->tr.poll(w->tr.ud, pf, nfds, (int)timeout, &inbox);
        if (n < 0)
            break;
        if (inbox) {
            /* Drain what is there now, so a burst costs one poll. */
            for (int k = 0; k < 256 && !stop; k++) {
                msg m;
                int r = w->tr.recv(w->tr.ud, &m, 0);
                if (r == HEALER_E_TIMEOUT)
                    break;
                if (r == HEALER_E_IO) {
                    stop = 1;
                    break;
                }
                if (r < 0)
                    continue; /* malformed: counted by the transport */
                stop = handle(w, &m);
                msg_free(&m);
            }
        }
        /* Walk the poll snapshot, and look each fd up again: a callback may watch or unwatch
         * fds, which reorders w->fds under us. */
        for (size_t k = 0; k < nfds && !stop; k++) {
            short re = pf[k].revents;
            if (!re)
                continue;
            healer_fd_cb cb = NULL;
            for (size_t i = 0; i < w->n_fds; i++)
                if (w->fds[i].fd == pf[k].fd)
                    cb = w->fds[i].cb;
            if (!cb)
                continue; /* unwatched by an earlier callback of this round */
            w->ctx.phase = PHASE_FD;
            cb(w->state, pf[k].fd, (short)(re & (POLLIN | POLLPRI | POLLOUT | POLLERR)));
            w->ctx.phase = PHASE_IDLE;
        }
        if (!stop && w->timers)
            run_timers(w);
        if (!stop && w->auto_detect && w->desc->detect && clock_mono() >= w->next_detect) {
            run_detect(w, 0, 0);
            double now = clock_mono();
            w->next_detect += w->interval;
            if (w->next_detect < now)
                w->next_detect = now + w->interval;
        }
    }
}

void plughost_finish(plughost *w, int inited)
{
    if (inited) {
        drain_restores(w);
        w->ctx.phase = PHASE_DESTROY;
        w->desc->destroy(w->state);
        w->ctx.phase = PHASE_IDLE;
    }
    for (size_t i = 0; i < w->n_deferred; i++)
        msg_free(&w->deferred[i]);
    w->n_deferred = 0;
    free(w->deferred);
    w->deferred = NULL;
    w->cap_deferred = 0;
    while (w->timers) {
        vtimer *tm = w->timers;
        w->timers = tm->next;
        free_timer(tm);
    }
    free(w->ctx.before_json);
    w->ctx.before_json = NULL;
    plan_builder_clear(&w->plan);
    predict_set_free(w->ctx.series);
    w->ctx.series = NULL;
}

/* Prediction is computed where the plugin runs (its thread, or its child): it reads and changes
 * nothing but the plugin's own points, so there is nothing for the agent to check or audit. */
int plughost_series_feed(struct healer_ctx *ctx, const char *name, double t, double value)
{
    return predict_feed(&ctx->series, name, t, value, ctx->last_msg, sizeof ctx->last_msg);
}

int plughost_series_predict(struct healer_ctx *ctx, const char *name, double threshold,
                            healer_prediction *out)
{
    return predict_query(ctx->series, name, threshold, out, ctx->last_msg, sizeof ctx->last_msg);
}

int plughost_series_forget(struct healer_ctx *ctx, const char *name)
{
    return predict_forget(ctx->series, name, ctx->last_msg, sizeof ctx->last_msg);
}

double plughost_time_left(const struct healer_ctx *ctx)
{
    if (ctx->deadline_mono <= 0)
        return INFINITY;
    double left = ctx->deadline_mono - clock_mono();
    return left > 0 ? left : 0;
}

/* NULL stays NULL, unless empty is set: then it is "" (a param's key or value). Never strndup
 * of a literal "": gcc -O3 reads the bound as an over-read of the one-byte array. */
static char *dup_trunc_or(const char *s, size_t max, int empty)
{
    if (!s)
        return empty ? strdup("") : NULL;
    return strndup(s, max);
}

static char *dup_trunc(const char *s, size_t max)
{
    return dup_trunc_or(s, max, 0);
}

int plughost_plan_add_action(healer_plan *plan, const healer_action *a)
{
    plan_builder *pb = (plan_builder *)plan;
    if (!pb || !pb->active) {
        log_error("host", "plan_add_action called outside plan(): refused");
        return HEALER_E_DENIED;
    }
    char why[HEALER_MSG_MAX];
    if (healer_rules_check_action(a, why, sizeof why) != HEALER_OK) {
        log_warn("host", "%s: refused", why);
        return HEALER_E_INVAL;
    }
    if (pb->n >= HEALER_RULES_MAX_PLAN_ACTIONS)
        return HEALER_E_FULL;
    if (pb->n == pb->cap) {
        size_t cap = pb->cap ? pb->cap * 2 : 4;
        msg_action *nv = realloc(pb->v, cap * sizeof *nv);
        if (!nv)
            return HEALER_E_NOMEM;
        pb->v = nv;
        pb->cap = cap;
    }
    msg_action *c = &pb->v[pb->n];
    memset(c, 0, sizeof *c);
    c->name = dup_trunc(a->name, HEALER_NAME_MAX);
    c->target = dup_trunc(a->target, HEALER_TARGET_MAX);
    c->description = dup_trunc(a->description, HEALER_MSG_MAX);
    c->step = a->step;
    c->impact = a->impact < 0 ? 0 : (a->impact > 1 ? 1 : a->impact);
    c->confidence = a->confidence < 0 ? 0 : (a->confidence > 1 ? 1 : a->confidence);
    if (c->confidence != c->confidence)
        c->confidence = 0.5;
    c->flags = a->flags;
    size_t n = a->params ? (a->n_params < HEALER_MAX_PARAMS ? a->n_params : HEALER_MAX_PARAMS) : 0;
    if (n) {
        msg_kv *kv = calloc(n, sizeof *kv);
        if (!kv)
            return HEALER_E_NOMEM;
        for (size_t i = 0; i < n; i++) {
            kv[i].key = dup_trunc_or(a->params[i].key, HEALER_NAME_MAX, 1);
            kv[i].value = dup_trunc_or(a->params[i].value, HEALER_TARGET_MAX * 4, 1);
        }
        c->params = kv;
        c->n_params = n;
    }
    pb->n++;
    return HEALER_OK;
}

void plan_builder_clear(plan_builder *pb)
{
    for (size_t i = 0; i < pb->n; i++)
        msg_action_release(&pb->v[i]); /* plugin is borrowed from the plugin record */
    free(pb->v);
    memset(pb, 0, sizeof *pb);
}

