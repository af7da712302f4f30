/* worker.c — the thread that runs one plugin. It binds the plugin's inbox, runs init, then loops:
 * bus messages from the engine (plan, execute, verify, restore, requests), the plugin's watched
 * fds, and its detect() timer. Everything the plugin does happens here, one callback at a time. */
#include "worker.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"

struct fd_watch {
    int fd;
    short events;
    healer_fd_cb cb;
};

struct worker {
    struct healer_ctx ctx;
    const runtime *rt;
    plugin_rec *p;
    pthread_t thread;
    char endpoint[160];
    char engine_ep[160];
    void *pull, *push;
    int auto_detect;
    double next_detect;
    struct fd_watch fds[WORKER_MAX_FDS];
    size_t n_fds;
    msg *deferred;                /* received while waiting for a reply, handled afterwards */
    struct vtimer *timers;        /* verifications settling, soonest first */
    size_t n_deferred, cap_deferred;
    uint64_t next_request;
    void *state;
    plan_builder plan;
    char who[HEALER_NAME_MAX + 8];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int init_done, init_rc;
    int finished;
    atomic_int stopping;

    /* Orphan bookkeeping (worker.h): set by the host thread that gave up before orphaned is
     * stored, read by the worker thread only after it loaded orphaned == 1. */
    atomic_int orphaned;
    double orphaned_at;           /* clock_mono() when the host gave up */
    const char *stuck_in;         /* "init" or "a callback", for the logs */
    worker *next_orphan;          /* the orphan list's, under orph_mu */
};

/* A verification waiting for its change to settle (healer_result.verify_after_s,
 * healer_verdict.recheck_after_s): the EXECUTE or VERIFY message it belongs to, kept whole (the
 * worker took over its arena), and when to call verify() next. A timer, not a sleep, so the
 * plugin's detect() and fd callbacks run while a change settles. */
typedef struct vtimer {
    msg m;
    double due;                   /* clock_mono() */
    double started;               /* when the verification began: bounded by HEALER_VERIFY_MAX_S */
    struct vtimer *next;
} vtimer;

/* The orphan list (worker.h). One per process: orphans outlive the engine and the generation
 * that started them, and the agent drains them at exit. */
static pthread_mutex_t orph_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t orph_cv;
static pthread_once_t orph_once = PTHREAD_ONCE_INIT;
static worker *orphans;
static worker_hold *holds;
static unsigned long orph_events;   /* bumped by every worker thread that ends: no lost wake-up */

static void abs_deadline(struct timespec *ts, double seconds);

static void orph_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&orph_cv, &ca);
    pthread_condattr_destroy(&ca);
}

const char *worker_endpoint(const worker *w) { return w->endpoint; }

/* The engine's deadline for a callback it asked for: `wait` seconds from now when it says so,
 * else agent.action_timeout. */
static double msg_deadline(const worker *w, const msg *m)
{
    double d = m->wait > 0 && m->wait < 1e9 ? m->wait : w->rt->cfg->action_timeout;
    return clock_mono() + d;
}

static void worker_send(worker *w, const msg *m)
{
    int rc = bus_send(w->rt->bus, w->push, m);
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

static void set_action_ctx(worker *w, const msg *m)
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
}

const char *worker_before_json(struct healer_ctx *c)
{
    if (!c->before_json && c->issue)
        c->before_json = msg_measures_json(c->issue->measures, c->issue->n_measures);
    return c->before_json;
}

static void clear_action_ctx(worker *w)
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
}

static void run_detect(worker *w, uint64_t seq, int ack)
{
    int rc = HEALER_OK;
    if (w->p->desc.detect) {
        w->ctx.phase = PHASE_DETECT;
        rc = w->p->desc.detect(w->state);
        w->ctx.phase = PHASE_IDLE;
        if (rc < 0)
            log_warn(w->who, "detect failed: %s", healer_rc_str(rc));
    }
    if (ack) {
        msg a = { .kind = MSG_ACK, .seq = seq, .plugin = w->p->name, .code = rc };
        worker_send(w, &a);
    }
}

static void do_plan(worker *w, const msg *m)
{
    plan_builder *pb = &w->plan;
    int rc = HEALER_OK;
    double t0 = clock_mono();
    if (w->p->desc.plan && m->has_issue) {
        issue_view iv;
        view_issue(&m->issue, &iv);
        w->ctx.phase = PHASE_PLAN;
        pb->active = 1;
        rc = w->p->desc.plan(w->state, &iv.issue, (healer_plan *)pb);
        pb->active = 0;
        w->ctx.phase = PHASE_IDLE;
        if (rc < 0)
            log_warn(w->who, "plan for %s failed: %s", m->issue.type, healer_rc_str(rc));
    }
    for (size_t i = 0; i < pb->n; i++)
        pb->v[i].plugin = w->p->name;
    msg r = { .kind = MSG_PLAN, .seq = m->seq, .plugin = w->p->name, .code = rc,
              .actions = pb->v, .n_actions = rc < 0 ? 0 : pb->n,
              .duration = clock_mono() - t0 };
    worker_send(w, &r);
    plan_builder_clear(pb);
}

/* Calls verify() once and reports it. Returns the seconds until the next check when the plugin
 * says the change is still settling (a VERDICT with code 2 went out), else 0 (a final one did). */
static double send_verdict(worker *w, const msg *em, const issue_view *iv, const action_view *av,
                           double started)
{
    uint64_t seq = em->seq;
    healer_verdict v;
    memset(&v, 0, sizeof v);
    double t0 = clock_mono();
    set_action_ctx(w, em);
    w->ctx.phase = PHASE_VERIFY;
    int rc = w->p->desc.verify(w->state, &iv->issue, &av->action, &v);
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
    msg r = { .kind = MSG_VERDICT, .seq = seq, .attempt = em->attempt, .plugin = w->p->name,
              .code = again > 0 ? 2 : (rc < 0 ? 0 : (v.healed != 0)), .text = v.message,
              .measures = mm, .n_measures = n, .duration = clock_mono() - t0, .wait = again };
    worker_send(w, &r);
    return again;
}

/* Takes over m (its arena) into a timer due `after` seconds from now. 0, or -1 when m cannot be
 * kept (built by hand, out of memory): the caller then verifies at once. */
static int schedule_verify(worker *w, msg *m, double after, double started)
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
static void run_timers(worker *w)
{
    double now = clock_mono();
    while (w->timers && w->timers->due <= now && !atomic_load(&w->stopping)) {
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

static void cancel_timers(worker *w, uint64_t attempt)
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
static void start_verify(worker *w, msg *m, double after)
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

static void do_execute(worker *w, msg *m)
{
    if (!m->has_issue || m->n_actions < 1) {
        msg r = { .kind = MSG_RESULT, .seq = m->seq, .attempt = m->attempt, .plugin = w->p->name,
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
    int rc = w->p->desc.execute ? w->p->desc.execute(w->state, &iv.issue, &av.action, &res)
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
    int will_verify = (res.outcome == HEALER_OUTCOME_DONE || res.outcome == HEALER_OUTCOME_DRY_RUN) &&
                      w->p->desc.verify;
    double settle = will_verify && res.verify_after_s > 0 ? res.verify_after_s : 0;
    if (settle > HEALER_VERIFY_MAX_S)
        settle = HEALER_VERIFY_MAX_S;
    msg_measure mm[HEALER_MAX_MEASUREMENTS];
    size_t n = res.n_measurements < HEALER_MAX_MEASUREMENTS ? res.n_measurements : HEALER_MAX_MEASUREMENTS;
    for (size_t i = 0; i < n; i++)
        mm[i] = (msg_measure){ res.measurements[i].name ? res.measurements[i].name : "?",
                               res.measurements[i].value };
    msg r = { .kind = MSG_RESULT, .seq = m->seq, .attempt = m->attempt, .plugin = w->p->name,
              .code = res.outcome, .text = res.message, .measures = mm, .n_measures = n,
              .duration = dur, .wait = settle };
    worker_send(w, &r);
    clear_action_ctx(w);
    /* The engine expects a verdict after DONE or DRY_RUN whenever this plugin has verify():
     * after the settle time the plugin asked for, by a timer. */
    if (will_verify)
        start_verify(w, m, settle);
}

static void do_verify(worker *w, msg *m)
{
    if (!w->p->desc.verify || !m->has_issue || m->n_actions < 1) {
        msg r = { .kind = MSG_VERDICT, .seq = m->seq, .attempt = m->attempt, .plugin = w->p->name,
                  .code = 0, .text = "no verify" };
        worker_send(w, &r);
        return;
    }
    start_verify(w, m, m->wait > 0 ? m->wait : 0);
}

static void do_restore(worker *w, const msg *m)
{
    int rc = HEALER_OK;
    if (w->p->desc.restore && m->has_issue) {
        issue_view iv;
        view_issue(&m->issue, &iv);
        w->ctx.phase = PHASE_RESTORE;
        w->ctx.issue_type = m->issue.type;
        w->ctx.issue = &m->issue;
        w->ctx.action = "restore";
        w->ctx.attempt = m->attempt;
        w->ctx.deadline_mono = msg_deadline(w, m);
        rc = w->p->desc.restore(w->state, &iv.issue);
        w->ctx.phase = PHASE_IDLE;
        clear_action_ctx(w);
        if (rc >= 0) /* given back: its undo journal entries for this issue go */
            act_undo_restored(w->rt->act, w->p->name, m->issue.id);
        if (rc < 0)
            log_warn(w->who, "restore after %s on %s failed: %s", m->issue.type,
                     m->issue.target, healer_rc_str(rc));
    }
    msg a = { .kind = MSG_ACK, .seq = m->seq, .attempt = m->attempt, .plugin = w->p->name,
              .code = rc };
    worker_send(w, &a);
}

static void do_request(worker *w, const msg *m)
{
    healer_reply reply;
    memset(&reply, 0, sizeof reply);
    if (!w->p->desc.handle_request) {
        reply.status = HEALER_E_NOTFOUND;
        snprintf(reply.message, sizeof reply.message, "plugin %s serves no requests", w->p->name);
    } else {
        healer_kv args[64];
        size_t n = m->n_args < 64 ? m->n_args : 64;
        for (size_t i = 0; i < n; i++)
            args[i] = (healer_kv){ m->args[i].key, m->args[i].value };
        w->ctx.phase = PHASE_REQUEST;
        w->ctx.action = m->method;
        w->ctx.deadline_mono = msg_deadline(w, m);
        int rc = w->p->desc.handle_request(w->state, m->method ? m->method : "", args, n, &reply);
        w->ctx.phase = PHASE_IDLE;
        w->ctx.action = NULL;
        w->ctx.deadline_mono = 0;
        if (rc < 0 && reply.status == 0)
            reply.status = rc;
        reply.message[sizeof reply.message - 1] = '\0';
    }
    msg r = { .kind = MSG_REPLY, .seq = m->seq, .plugin = m->from, .from = w->p->name,
              .code = reply.status, .text = reply.message };
    worker_send(w, &r);
}

/* Returns 1 when the worker must stop. m may be taken over (a verification that settles keeps
 * it): msg_free after this is still right, it then frees nothing. */
static int handle(worker *w, msg *m)
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
    default:
        log_warn(w->who, "unexpected %s message ignored", msg_kind_name(m->kind));
        break;
    }
    return 0;
}

static void defer(worker *w, msg *m)
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
static void drain_restores(worker *w)
{
    for (size_t i = 0; i < w->n_deferred; i++) {
        if (w->deferred[i].kind == MSG_RESTORE)
            do_restore(w, &w->deferred[i]);
        msg_free(&w->deferred[i]);
    }
    w->n_deferred = 0;
    for (int k = 0; k < 4096; k++) {
        msg m;
        int r = bus_recv(w->rt->bus, w->pull, &m, 0);
        if (r == HEALER_E_TIMEOUT || r == HEALER_E_IO)
            break;
        if (r < 0)
            continue;
        if (m.kind == MSG_RESTORE)
            do_restore(w, &m);
        msg_free(&m);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->ctx.thread = pthread_self();
    char tname[16];
    snprintf(tname, sizeof tname, "hd-%s", w->p->name); /* visible in top -H, ps -L */
    pthread_setname_np(pthread_self(), tname);
    w->pull = bus_pull(w->rt->bus, w->endpoint);
    w->push = bus_push(w->rt->bus, w->engine_ep);
    int rc = HEALER_E_IO;
    if (w->pull && w->push) {
        w->ctx.phase = PHASE_INIT;
        rc = w->p->desc.init(hostapi_table(), &w->ctx, &w->state);
        w->ctx.phase = PHASE_IDLE;
    }
    /* worker_start sets stopping under mu when it stops waiting, so a late init never enters
     * the loop below: it goes straight to destroy(). */
    pthread_mutex_lock(&w->mu);
    w->init_done = 1;
    w->init_rc = rc;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (rc < 0)
        goto out;

    w->next_detect = clock_mono();
    int stop = 0;
    while (!stop && !atomic_load(&w->stopping)) {
        if (w->n_deferred) {
            msg m = w->deferred[0];
            memmove(w->deferred, w->deferred + 1, --w->n_deferred * sizeof *w->deferred);
            stop = handle(w, &m);
            msg_free(&m);
            continue;
        }
        zmq_pollitem_t items[1 + WORKER_MAX_FDS];
        items[0] = (zmq_pollitem_t){ .socket = w->pull, .events = ZMQ_POLLIN };
        for (size_t i = 0; i < w->n_fds; i++)
            items[1 + i] = (zmq_pollitem_t){ .fd = w->fds[i].fd, .events = w->fds[i].events };
        size_t nitems = 1 + w->n_fds;
        long timeout = 1000; /* the stop flag is seen within a second even if STOP was dropped */
        if (w->auto_detect && w->p->desc.detect) {
            double left = w->next_detect - clock_mono();
            long ms = left <= 0 ? 0 : (long)(left * 1000.0) + 1;
            if (ms < timeout)
                timeout = ms;
        }
        if (w->timers) {
            double left = w->timers->due - clock_mono();
            long ms = left <= 0 ? 0 : (long)(left * 1000.0) + 1;
            if (ms < timeout)
                timeout = ms;
        }
        int n = zmq_poll(items, (int)nitems, timeout);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            if (zmq_errno() == ETERM)
                break;
            log_error(w->who, "poll failed: %s", zmq_strerror(zmq_errno()));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            /* Drain what is there now, so a burst costs one poll. */
            for (int k = 0; k < 256 && !stop; k++) {
                msg m;
                int r = bus_recv(w->rt->bus, w->pull, &m, 0);
                if (r == HEALER_E_TIMEOUT)
                    break;
                if (r == HEALER_E_IO) {
                    stop = 1;
                    break;
                }
                if (r < 0)
                    continue; /* malformed: counted by the bus */
                stop = handle(w, &m);
                msg_free(&m);
            }
        }
        /* Walk the poll snapshot, and look each fd up again: a callback may watch or unwatch
         * fds, which reorders w->fds under us. */
        for (size_t k = 1; k < nitems && !stop; k++) {
            short re = items[k].revents;
            if (!re)
                continue;
            healer_fd_cb cb = NULL;
            for (size_t i = 0; i < w->n_fds; i++)
                if (w->fds[i].fd == items[k].fd)
                    cb = w->fds[i].cb;
            if (!cb)
                continue; /* unwatched by an earlier callback of this round */
            short ev = 0;
            if (re & ZMQ_POLLIN) ev |= POLLIN;
            if (re & ZMQ_POLLPRI) ev |= POLLPRI;
            if (re & ZMQ_POLLOUT) ev |= POLLOUT;
            if (re & ZMQ_POLLERR) ev |= POLLERR;
            w->ctx.phase = PHASE_FD;
            cb(w->state, items[k].fd, ev);
            w->ctx.phase = PHASE_IDLE;
        }
        if (!stop && w->timers)
            run_timers(w);
        if (!stop && w->auto_detect && w->p->desc.detect && clock_mono() >= w->next_detect) {
            run_detect(w, 0, 0);
            double now = clock_mono();
            w->next_detect += w->p->interval;
            if (w->next_detect < now)
                w->next_detect = now + w->p->interval;
        }
    }
    drain_restores(w);
    w->ctx.phase = PHASE_DESTROY;
    w->p->desc.destroy(w->state);
    w->ctx.phase = PHASE_IDLE;
out:
    for (size_t i = 0; i < w->n_deferred; i++)
        msg_free(&w->deferred[i]);
    w->n_deferred = 0;
    while (w->timers) {
        vtimer *tm = w->timers;
        w->timers = tm->next;
        free_timer(tm);
    }
    free(w->ctx.before_json);
    w->ctx.before_json = NULL;
    bus_close(w->pull);
    bus_close(w->push);
    w->pull = w->push = NULL;
    if (atomic_load(&w->orphaned))
        log_warn(w->who, "%s returned %.1f s after the host stopped waiting; cleaned up (%s, "
                 "sockets closed)", w->stuck_in, clock_mono() - w->orphaned_at,
                 rc < 0 ? "init had failed: no destroy()" : "destroy() run");
    pthread_mutex_lock(&w->mu);
    w->finished = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* Past this point the thread touches nothing of w: the reaper may join and free it. */
    pthread_once(&orph_once, orph_init);
    pthread_mutex_lock(&orph_mu);
    orph_events++;
    pthread_cond_broadcast(&orph_cv);
    pthread_mutex_unlock(&orph_mu);
    return NULL;
}

/* Hands w to the orphan list: its thread is still inside the plugin. */
static void orphan_adopt(worker *w, const char *stuck_in)
{
    pthread_once(&orph_once, orph_init);
    w->stuck_in = stuck_in;
    w->orphaned_at = clock_mono();
    atomic_store(&w->orphaned, 1);
    pthread_mutex_lock(&orph_mu);
    w->next_orphan = orphans;
    orphans = w;
    pthread_mutex_unlock(&orph_mu);
}

static int orphan_uses(const runtime *rt)
{
    for (worker *o = orphans; o; o = o->next_orphan)
        if (o->rt == rt)
            return 1;
    return 0;
}

int worker_orphans_hold(worker_hold *h)
{
    pthread_once(&orph_once, orph_init);
    pthread_mutex_lock(&orph_mu);
    int used = orphan_uses(h->rt);
    if (used) {
        h->next = holds;
        holds = h;
    }
    pthread_mutex_unlock(&orph_mu);
    return used;
}

size_t worker_orphans_reap(void)
{
    pthread_once(&orph_once, orph_init);
    worker *done = NULL;
    worker_hold *released = NULL;
    size_t left = 0;
    pthread_mutex_lock(&orph_mu);
    for (worker **pp = &orphans; *pp;) {
        worker *o = *pp;
        pthread_mutex_lock(&o->mu);
        int fin = o->finished;
        pthread_mutex_unlock(&o->mu);
        if (fin) {
            *pp = o->next_orphan;
            o->next_orphan = done;
            done = o;
        } else {
            left++;
            pp = &o->next_orphan;
        }
    }
    for (worker_hold **hp = &holds; *hp;) {
        worker_hold *h = *hp;
        if (!orphan_uses(h->rt)) {
            *hp = h->next;
            h->next = released;
            released = h;
        } else {
            hp = &h->next;
        }
    }
    pthread_mutex_unlock(&orph_mu);
    /* Join before release: a finished thread may still be on its way out of worker_main. */
    while (done) {
        worker *o = done;
        done = o->next_orphan;
        pthread_join(o->thread, NULL);
        worker_free(o);
    }
    while (released) {
        worker_hold *h = released;
        released = h->next;
        h->release(h->arg);
    }
    return left;
}

size_t worker_orphans_drain(double timeout_s)
{
    pthread_once(&orph_once, orph_init);
    struct timespec dl;
    abs_deadline(&dl, timeout_s);
    for (;;) {
        pthread_mutex_lock(&orph_mu);
        unsigned long seen = orph_events;
        pthread_mutex_unlock(&orph_mu);
        size_t left = worker_orphans_reap();
        if (!left)
            return 0;
        int timed_out = 0;
        pthread_mutex_lock(&orph_mu);
        while (orph_events == seen && !timed_out)
            timed_out = pthread_cond_timedwait(&orph_cv, &orph_mu, &dl) == ETIMEDOUT;
        pthread_mutex_unlock(&orph_mu);
        if (!timed_out)
            continue;
        left = worker_orphans_reap();
        pthread_mutex_lock(&orph_mu);
        for (worker *o = orphans; o; o = o->next_orphan)
            log_error(o->who, "still stuck in %s %.0f s after the host stopped waiting: left "
                      "running; what it uses stays allocated until the process exits",
                      o->stuck_in, clock_mono() - o->orphaned_at);
        pthread_mutex_unlock(&orph_mu);
        return left;
    }
}

static void abs_deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    double whole = (double)(long)seconds;
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

worker *worker_start(const runtime *rt, plugin_rec *p, int auto_detect, const char *engine_ep)
{
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->rt = rt;
    w->p = p;
    w->auto_detect = auto_detect;
    w->ctx.w = w;
    w->ctx.plugin = p;
    w->ctx.rt = rt;
    snprintf(w->who, sizeof w->who, "plugin %s", p->name);
    snprintf(w->endpoint, sizeof w->endpoint, "inproc://worker.%s.%u", p->name, rt->generation);
    snprintf(w->engine_ep, sizeof w->engine_ep, "%s", engine_ep);
    atomic_init(&w->stopping, 0);
    atomic_init(&w->orphaned, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        loader_fail(p, "cannot start its worker thread");
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    struct timespec dl;
    abs_deadline(&dl, rt->cfg->action_timeout);
    pthread_mutex_lock(&w->mu);
    while (!w->init_done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
            break;
    }
    int done = w->init_done, rc = w->init_rc;
    if (!done)
        atomic_store(&w->stopping, 1); /* under mu: a late init sees it (worker_main) */
    pthread_mutex_unlock(&w->mu);
    if (!done) {
        char why[128];
        snprintf(why, sizeof why, "init did not return within %g s", rt->cfg->action_timeout);
        log_error("loader", "%s: %s; the plugin is left stopped and cleaned up when init "
                  "returns", p->file, why);
        /* Failed, but the record keeps its .so and settings: the thread still runs in them. */
        p->state = PLUGIN_FAILED;
        free(p->reason);
        p->reason = strdup(why);
        orphan_adopt(w, "init");
        return NULL;
    }
    if (rc < 0) {
        pthread_join(w->thread, NULL);
        char why[160];
        snprintf(why, sizeof why, "init failed: %s", healer_rc_str(rc));
        log_error("loader", "%s: %s", p->file, why);
        loader_fail(p, why);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

int worker_stop(worker *w, double timeout_s)
{
    atomic_store(&w->stopping, 1);
    /* Wake it now rather than at its next poll timeout. */
    void *s = bus_push(w->rt->bus, w->endpoint);
    if (s) {
        msg m = { .kind = MSG_STOP };
        bus_send(w->rt->bus, s, &m);
        bus_close(s);
    }
    struct timespec dl;
    abs_deadline(&dl, timeout_s);
    pthread_mutex_lock(&w->mu);
    while (!w->finished) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
            break;
    }
    int finished = w->finished;
    pthread_mutex_unlock(&w->mu);
    if (!finished) {
        log_error(w->who, "did not stop within %g s (stuck in a callback); left running and "
                  "cleaned up when the callback returns", timeout_s);
        orphan_adopt(w, "a callback");
        return -1;
    }
    pthread_join(w->thread, NULL);
    return 0;
}

void worker_free(worker *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->deferred);
    free(w);
}

int worker_publish(struct healer_ctx *ctx, const msg *m)
{
    return bus_send(ctx->rt->bus, ctx->w->push, m);
}

int worker_request(struct healer_ctx *ctx, const char *plugin, const char *method,
                   const healer_kv *args, size_t n_args, double timeout_s, healer_reply *reply)
{
    worker *w = ctx->w;
    memset(reply, 0, sizeof *reply);
    msg_kv kv[64];
    size_t n = n_args < 64 ? n_args : 64;
    for (size_t i = 0; i < n; i++)
        kv[i] = (msg_kv){ args[i].key, args[i].value };
    uint64_t id = ++w->next_request;
    msg q = { .kind = MSG_REQUEST, .seq = id, .plugin = plugin, .from = w->p->name,
              .method = method, .args = kv, .n_args = n };
    int rc = bus_send(w->rt->bus, w->push, &q);
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
        int r = bus_recv(w->rt->bus, w->pull, &m, (int)(left * 1000.0) + 1);
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
        if (m.kind == MSG_STOP)
            atomic_store(&w->stopping, 1);
        defer(w, &m);
    }
    reply->status = HEALER_E_TIMEOUT;
    snprintf(reply->message, sizeof reply->message, "no answer from plugin %s within %.1f s",
             plugin, timeout_s);
    return HEALER_E_TIMEOUT;
}

int worker_watch_fd(struct healer_ctx *ctx, int fd, short events, healer_fd_cb cb)
{
    worker *w = ctx->w;
    if (fd < 0 || !cb)
        return HEALER_E_INVAL;
    /* zmq_poll has its own flag values (ZMQ_POLLPRI is 8, POLLPRI is 2). */
    short zev = 0;
    if (events & POLLIN) zev |= ZMQ_POLLIN;
    if (events & POLLPRI) zev |= ZMQ_POLLPRI;
    if (events & POLLOUT) zev |= ZMQ_POLLOUT;
    for (size_t i = 0; i < w->n_fds; i++) {
        if (w->fds[i].fd == fd) {
            w->fds[i].events = zev;
            w->fds[i].cb = cb;
            return HEALER_OK;
        }
    }
    if (w->n_fds >= WORKER_MAX_FDS)
        return HEALER_E_FULL;
    w->fds[w->n_fds++] = (struct fd_watch){ fd, zev, cb };
    return HEALER_OK;
}

int worker_unwatch_fd(struct healer_ctx *ctx, int fd)
{
    worker *w = ctx->w;
    for (size_t i = 0; i < w->n_fds; i++) {
        if (w->fds[i].fd == fd) {
            w->fds[i] = w->fds[--w->n_fds];
            return HEALER_OK;
        }
    }
    return HEALER_E_NOTFOUND;
}
