/* proxy.c — the agent's thread for a plugin with isolation = "process": it owns the healerd-plugin
 * child, bridges the engine's bus and the child's socketpair, serves the child's host calls,
 * pings it, and contains its crashes: reap, log with the signal, count, answer the engine for
 * what was in flight, undo the plugin's journaled changes, restart with back-off or mark failed. */
#include "proxy_int.h"
#include "preview.h"
#include "sanitize_json.h"
#include "rules.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "notify.h"
#include "log.h"

/* ---- the status registry (proxy.h) ---------------------------------------------------------- */

typedef struct pstatus {
    char name[HEALER_NAME_MAX + 1];
    const char *state;
    pid_t pid;
    unsigned long crashes;
    char last_crash[256];
    double last_crash_time;        /* epoch */
    double next_start;             /* epoch, while restarting */
    long long memory_max_mb;
    double cpu_max_percent;
    char limits[160];
    char privileges[320];
    char reason[256];
    struct pstatus *next;
} pstatus;

static pthread_mutex_t st_mu = PTHREAD_MUTEX_INITIALIZER;
static pstatus *statuses;

static pstatus *st_find(const char *name, int create)
{
    for (pstatus *s = statuses; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    if (!create)
        return NULL;
    pstatus *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->state = "starting";
    s->next = statuses;
    statuses = s;
    return s;
}

static const char *state_name(px_state s)
{
    switch (s) {
    case PX_STARTING: return "starting";
    case PX_RUNNING: return "running";
    case PX_RESTARTING: return "restarting";
    case PX_FAILED: return "failed";
    case PX_STOPPED: return "stopped";
    }
    return "?";
}

void proxy_status_update(proxy *px, const char *last_crash)
{
    plugin_rec *p = px->w->p;
    pthread_mutex_lock(&st_mu);
    pstatus *s = st_find(p->name, 1);
    if (s) {
        s->state = state_name(px->state);
        s->pid = px->state == PX_RUNNING || px->state == PX_STARTING ? px->pid : 0;
        s->memory_max_mb = p->memory_max_mb;
        s->cpu_max_percent = p->cpu_max_percent;
        snprintf(s->limits, sizeof s->limits, "%s", px->limits);
        snprintf(s->privileges, sizeof s->privileges, "%s", px->privileges);
        if (last_crash) {
            s->crashes++;
            snprintf(s->last_crash, sizeof s->last_crash, "%s", last_crash);
            s->last_crash_time = clock_now();
        }
        s->next_start = px->state == PX_RESTARTING
                            ? clock_now() + (px->restart_at - clock_mono()) : 0;
        if (px->state == PX_FAILED)
            snprintf(s->reason, sizeof s->reason, "%s", px->init_why);
        else
            s->reason[0] = '\0';
    }
    pthread_mutex_unlock(&st_mu);
}

json_t *proxy_status_json(const char *name)
{
    pthread_mutex_lock(&st_mu);
    pstatus *s = st_find(name, 0);
    json_t *o = NULL;
    if (s) {
        o = json_pack("{s:s, s:I, s:I, s:I, s:f, s:s}", "run_state", s->state, "pid",
                      (json_int_t)s->pid, "crashes", (json_int_t)s->crashes, "memory_max_mb",
                      (json_int_t)s->memory_max_mb, "cpu_max_percent", s->cpu_max_percent,
                      "limits", s->limits);
        json_object_set_new(o, "privileges", json_string(s->privileges));
        json_object_set_new(o, "last_crash", s->last_crash[0] ? sanitize_json_str(s->last_crash)
                                                               : json_null());
        json_object_set_new(o, "last_crash_time", s->last_crash_time > 0
                                                      ? json_real(s->last_crash_time)
                                                      : json_null());
        json_object_set_new(o, "next_start", s->next_start > 0 ? json_real(s->next_start)
                                                               : json_null());
        pid_t pid = s->pid;
        pthread_mutex_unlock(&st_mu);
        json_object_set_new(o, "memory_bytes",
                            json_integer((json_int_t)(pid > 0 ? proxy_child_private(pid) : 0)));
        return o;
    }
    pthread_mutex_unlock(&st_mu);
    return o;
}

int proxy_status_failed(const char *name, char *reason, size_t len)
{
    pthread_mutex_lock(&st_mu);
    pstatus *s = st_find(name, 0);
    int failed = s && strcmp(s->state, "failed") == 0;
    if (failed && reason)
        snprintf(reason, len, "%s", s->reason);
    pthread_mutex_unlock(&st_mu);
    return failed;
}

void proxy_status_free_all(void)
{
    pthread_mutex_lock(&st_mu);
    while (statuses) {
        pstatus *s = statuses;
        statuses = s->next;
        free(s);
    }
    pthread_mutex_unlock(&st_mu);
}

/* ---- life of the proxy ---------------------------------------------------------------------- */

proxy *proxy_new(worker *w)
{
    proxy *px = calloc(1, sizeof *px);
    if (!px)
        return NULL;
    px->in.buf = malloc(DGRAM_MAX);
    if (!px->in.buf) {
        free(px);
        return NULL;
    }
    px->w = w;
    px->pid = -1;
    px->pidfd = px->sock = -1;
    px->first_start = 1;
    backoff_init(&px->bo, w->p->max_crashes);
    return px;
}

static void fl_free(inflight *f)
{
    preview_sink_free(f->preview);
    msg_free(&f->m);
    free(f);
}

void proxy_free(proxy *px)
{
    if (!px)
        return;
    while (px->fl) {
        inflight *f = px->fl;
        px->fl = f->next;
        fl_free(f);
    }
    px->fl_last = NULL;
    free(px->in.buf);
    dgram_out_free(&px->out);
    free(px);
}

void proxy_init_failure(proxy *px, int rc, char *why, size_t len)
{
    if (px->init_why[0])
        snprintf(why, len, "%s", px->init_why);
    else
        snprintf(why, len, "init failed: %s", healer_rc_str(rc));
}

static void to_engine(proxy *px, const msg *m)
{
    worker *w = px->w;
    int rc = bus_send(w->rt->bus, w->push, m);
    if (rc < 0)
        log_warn(w->ph.who, "message %s to the engine dropped: %s", msg_kind_name(m->kind),
                 healer_rc_str(rc));
}

int proxy_send_child(proxy *px, const msg *m)
{
    if (px->sock < 0)
        return HEALER_E_IO;
    if (dgram_pending(&px->out) > PROXY_QUEUE_MAX)
        return HEALER_E_FULL;
    return dgram_queue(&px->out, m);
}

/* Never blocks: what a full socket does not take waits for POLLOUT; a child that does not read is
 * the heartbeat's business, not this thread's. A failed socket means the child is going: its end
 * reads as closed and child_down follows. */
static void flush_child(proxy *px)
{
    if (px->sock < 0 || !dgram_pending(&px->out))
        return;
    unsigned long before = px->out.dropped;
    if (dgram_flush(&px->out, px->sock, 1) == HEALER_E_IO) {
        int e = errno; /* its end closed (EPIPE) is a child on its way out: child_down says so */
        if (e == EPIPE || e == ECONNRESET)
            log_debug(px->w->ph.who, "messages to the child lost: %s", strerror(e));
        else
            log_warn(px->w->ph.who, "messages to the child lost: %s", strerror(e));
    }
    if (px->out.dropped != before)
        log_warn(px->w->ph.who, "%lu message(s) larger than the socket's buffer not delivered to "
                 "the child", px->out.dropped - before);
}

/* Answers an engine message on the child's behalf: it crashed, is restarting, or has failed. */
static void answer_for(proxy *px, const msg *m, int verifying, const char *why)
{
    const char *me = px->w->p->name;
    msg r = { .seq = m->seq, .attempt = m->attempt, .plugin = me, .text = why };
    switch (m->kind) {
    case MSG_EXECUTE:
        if (verifying) {
            r.kind = MSG_VERDICT;
            r.code = 0;
        } else {
            r.kind = MSG_RESULT;
            r.code = HEALER_OUTCOME_FAILED;
        }
        break;
    case MSG_VERIFY: r.kind = MSG_VERDICT; r.code = 0; break;
    case MSG_RESTORE: r.kind = MSG_ACK; r.code = HEALER_E_IO; break;
    case MSG_PLAN_REQ: r.kind = MSG_PLAN; r.code = HEALER_E_IO; break;
    case MSG_DETECT: r.kind = MSG_ACK; r.code = HEALER_E_IO; break;
    case MSG_REQUEST:
        r.kind = MSG_REPLY;
        r.plugin = m->from;
        r.from = me;
        r.code = HEALER_E_IO;
        break;
    default:
        return;
    }
    to_engine(px, &r);
}

static int awaited(msg_kind k)
{
    return k == MSG_EXECUTE || k == MSG_VERIFY || k == MSG_RESTORE || k == MSG_PLAN_REQ ||
           k == MSG_DETECT || k == MSG_REQUEST;
}

/* Takes over m (its arena) as awaiting the child's answer. */
static void fl_add(proxy *px, msg *m)
{
    inflight *f = calloc(1, sizeof *f);
    if (!f)
        return;
    f->m = *m;
    m->arena = NULL;
    if (px->fl_last)
        px->fl_last->next = f;
    else
        px->fl = f;
    px->fl_last = f;
}

inflight *proxy_find(proxy *px, msg_kind kind, uint64_t attempt)
{
    for (inflight *f = px->fl; f; f = f->next)
        if (f->m.kind == kind && f->m.attempt == attempt)
            return f;
    return NULL;
}

static void fl_remove(proxy *px, inflight *f)
{
    inflight *prev = NULL;
    for (inflight **pp = &px->fl; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            if (px->fl_last == f)
                px->fl_last = prev;
            fl_free(f);
            return;
        }
    }
}

/* The first awaiting message matching kind and pred. */
static inflight *fl_match(proxy *px, msg_kind kind, uint64_t seq, uint64_t att, int by_att)
{
    for (inflight *f = px->fl; f; f = f->next) {
        if (f->m.kind != kind)
            continue;
        if (by_att ? f->m.attempt == att : f->m.seq == seq)
            return f;
    }
    return NULL;
}

/* ---- engine -> child ------------------------------------------------------------------------- */

static void from_engine(proxy *px, msg *m)
{
    if (m->kind == MSG_STOP) {
        px->stopping = 1;
        px->stop_deadline = clock_mono() + PROXY_STOP_GRACE_S;
        if (px->state == PX_RUNNING || px->state == PX_STARTING)
            proxy_send_child(px, m);
        return;
    }
    if (m->kind == MSG_REPLY || m->kind == MSG_CANCEL) {
        if (m->kind == MSG_CANCEL) {
            inflight *f = fl_match(px, MSG_EXECUTE, 0, m->attempt, 1);
            if (!f)
                f = fl_match(px, MSG_VERIFY, 0, m->attempt, 1);
            if (f)
                fl_remove(px, f);
        }
        if (px->state == PX_RUNNING)
            proxy_send_child(px, m);
        return;
    }
    if (px->state != PX_RUNNING) {
        char why[300];
        snprintf(why, sizeof why, "plugin %s is %s: %s", px->w->p->name,
                 px->state == PX_FAILED ? "failed" : "restarting after a crash",
                 px->init_why[0] ? px->init_why : "not running");
        answer_for(px, m, 0, why);
        return;
    }
    int rc = proxy_send_child(px, m);
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "not delivered to plugin %s's process: %s", px->w->p->name,
                 healer_rc_str(rc));
        log_warn(px->w->ph.who, "%s %s", msg_kind_name(m->kind), why);
        answer_for(px, m, 0, why);
        return;
    }
    if (awaited(m->kind))
        fl_add(px, m);
}

/* ---- child -> engine ------------------------------------------------------------------------- */

static void child_ready(proxy *px, const msg *m)
{
    worker *w = px->w;
    if (px->state != PX_STARTING)
        return;
    if (m->code < 0)
        snprintf(px->init_why, sizeof px->init_why, "init failed: %s%s%s", healer_rc_str(m->code),
                 m->text && strcmp(m->text, healer_rc_str(m->code)) ? ": " : "",
                 m->text && strcmp(m->text, healer_rc_str(m->code)) ? m->text : "");
    /* Its first init failed: the plugin is failed, as in a thread, and the child's exit that
     * follows is not a crash (child_down). */
    if (m->code < 0 && px->first_start)
        px->state = PX_FAILED;
    if (m->code >= 0) {
        px->state = PX_RUNNING;
        if (!px->first_start)
            log_info(w->ph.who, "restarted (pid %d)", (int)px->pid);
        px->init_why[0] = '\0';
        snprintf(px->privileges, sizeof px->privileges, "%s", m->text ? m->text : "");
        /* A program's MSG_READY is its own: healerd-plugin logged how it confined it. */
        if (w->p->is_exec)
            snprintf(px->privileges, sizeof px->privileges, "%s",
                     !w->p->confine ? "not confined (plugins.<name>.confine = false)"
                     : "confined by healerd-plugin before execve (no_new_privs, seccomp, "
                       "capabilities, write barrier: its log line says which)");
    }
    proxy_status_update(px, NULL);
    if (px->first_start) {
        px->first_start = 0;
        pthread_mutex_lock(&w->mu);
        w->init_done = 1;
        w->init_rc = m->code;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

static void from_child(proxy *px, msg *m)
{
    worker *w = px->w;
    const char *me = w->p->name;
    px->last_heard = clock_mono();
    inflight *f;
    switch (m->kind) {
    case MSG_READY: child_ready(px, m); return;
    case MSG_HOSTCALL: proxy_serve_call(px, m); px->last_heard = clock_mono(); return;
    case MSG_PONG: return;
    case MSG_ISSUE:
    case MSG_RESOLVE:
        /* What the thread host checks, checked again: the child may say anything. */
        if (!m->has_issue || !healer_rules_valid_name(m->issue.type) ||
            (unsigned)m->issue.severity > HEALER_SEV_CRITICAL) {
            log_warn(w->ph.who, "%s with an invalid issue type or severity dropped",
                     msg_kind_name(m->kind));
            return;
        }
        m->issue.plugin = me;
        m->issue.id = 0;
        break;
    case MSG_HEALTH: break;
    case MSG_PLAN:
        if ((f = fl_match(px, MSG_PLAN_REQ, m->seq, 0, 0)))
            fl_remove(px, f);
        else
            return; /* nothing asked */
        for (size_t i = 0; i < m->n_actions; i++)
            ((msg_action *)m->actions)[i].plugin = me;
        break;
    case MSG_RESULT:
        if (!(f = fl_match(px, MSG_EXECUTE, 0, m->attempt, 1)) || f->verifying)
            return;
        /* What the child says it would touch is not taken: the agent's actuators said it. */
        m->touches = NULL;
        m->n_touches = 0;
        if (f->m.preview) {
            char note[160];
            m->plugin = me;
            m->wait = 0;
            m->touches = preview_view(f->preview, &m->n_touches, note);
            to_engine(px, m);
            fl_remove(px, f);
            return;
        }
        if ((m->code == HEALER_OUTCOME_DONE || m->code == HEALER_OUTCOME_DRY_RUN) &&
            w->p->desc.verify)
            f->verifying = 1; /* its verdict comes later, by the child's timer */
        else
            fl_remove(px, f);
        break;
    case MSG_VERDICT:
        f = fl_match(px, MSG_EXECUTE, 0, m->attempt, 1);
        if (!f)
            f = fl_match(px, MSG_VERIFY, 0, m->attempt, 1);
        if (!f)
            return;
        if (m->code != 2)
            fl_remove(px, f);
        break;
    case MSG_ACK:
        if (m->attempt) {
            if (!(f = fl_match(px, MSG_RESTORE, 0, m->attempt, 1)))
                return;
            if (m->code >= 0) /* given back: its undo journal entries for this issue go */
                act_undo_restored(w->rt->act, me, f->m.issue.id);
            fl_remove(px, f);
        } else if ((f = fl_match(px, MSG_DETECT, m->seq, 0, 0))) {
            fl_remove(px, f);
        }
        break;
    case MSG_REQUEST:
        m->from = me;
        /* The asking heal is the step this proxy has in flight, whatever the child wrote: a
         * child must not put its requests' changes on another heal. */
        m->heal = 0;
        for (f = px->fl; f; f = f->next)
            if (f->m.kind == MSG_EXECUTE && !f->m.preview) {
                m->heal = f->m.seq;
                break;
            }
        break;
    case MSG_REPLY:
        for (f = px->fl; f; f = f->next)
            if (f->m.kind == MSG_REQUEST && f->m.seq == m->seq && f->m.from && m->plugin &&
                strcmp(f->m.from, m->plugin) == 0)
                break;
        if (!f)
            return;
        fl_remove(px, f);
        m->from = me;
        break;
    default:
        log_warn(w->ph.who, "unexpected %s message from the child ignored",
                 msg_kind_name(m->kind));
        return;
    }
    /* A REQUEST's plugin is its destination and a REPLY's the requester: both stay; every
     * other message is sent as this plugin, whatever the child wrote. */
    if (m->kind != MSG_REPLY && m->kind != MSG_REQUEST)
        m->plugin = me;
    to_engine(px, m);
}

/* ---- death and restarts ---------------------------------------------------------------------- */

static void close_child(proxy *px)
{
    if (px->sock >= 0)
        close(px->sock);
    if (px->pidfd >= 0)
        close(px->pidfd);
    px->sock = px->pidfd = -1;
    px->pid = -1;
    dgram_out_reset(&px->out);
    px->in.len = px->in.pos = 0;
}

/* Kills (when still alive) and reaps the child; describes how it ended. */
static int reap(proxy *px, int kill_it, char *how, size_t len)
{
    int status = 0;
    if (px->pid <= 0)
        return 0;
    if (kill_it)
        kill(px->pid, SIGKILL);
    pid_t r;
    do {
        r = waitpid(px->pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        snprintf(how, len, "lost (waitpid: %s)", strerror(errno));
    else if (WIFSIGNALED(status))
        snprintf(how, len, "killed by signal %d (SIG%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(how, len, "exited with status %d", WEXITSTATUS(status));
    return r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The child is gone or must go. hung: why it is killed (NULL: it ended by itself). */
static void child_down(proxy *px, const char *hung)
{
    worker *w = px->w;
    char how[200] = "", line[256];
    /* A child that closed its end is exiting (an interpreter closes its sockets on the way
     * out): give it a moment to end by itself, longer when it was asked to stop, so its real
     * exit status is what is logged, not our SIGKILL. */
    if (!hung && px->pidfd >= 0) {
        struct pollfd pf = { .fd = px->pidfd, .events = POLLIN };
        while (poll(&pf, 1, px->stopping ? 2000 : 200) < 0 && errno == EINTR) {
        }
    }
    int clean = reap(px, 1, how, sizeof how);
    close_child(px);
    proxy_cgroup_oom(px, how, sizeof how);
    proxy_cgroup_remove(px);
    if (px->state == PX_FAILED && w->init_rc < 0) { /* its first init failed (child_ready) */
        proxy_status_update(px, NULL);
        goto answer;
    }
    if (hung)
        snprintf(line, sizeof line, "%s", hung);
    else
        snprintf(line, sizeof line, "%s", how);
    if (px->stopping && clean && !hung) {
        px->state = PX_STOPPED;
        proxy_status_update(px, NULL);
        goto answer;
    }
    /* Counted before it is logged: whoever reads the log line finds the count already there. */
    healer_kv lab = { "plugin", w->p->name };
    metrics_counter_add(w->rt->metrics, "plugin_crashes_total",
                        "plugin children that crashed, exited or stopped answering", &lab, 1, 1);
    log_error(w->ph.who, "plugin %s crashed: %s", w->p->name, line);
    notify_event nev = { .kind = NOTIFY_PLUGIN_CRASHED, .plugin = w->p->name, .reason = line };
    notify_post(w->rt->notify, &nev);
    char why[300];
    snprintf(why, sizeof why, "plugin crashed: %s", line);
    snprintf(px->init_why, sizeof px->init_why, "%.200s", why);
    if (px->first_start) {
        /* Its first init never finished: the plugin is failed, as in a thread. */
        px->state = PX_FAILED;
        snprintf(px->init_why, sizeof px->init_why, "init crashed: %.200s", line);
        proxy_status_update(px, why);
        px->first_start = 0;
        pthread_mutex_lock(&w->mu);
        w->init_done = 1;
        w->init_rc = HEALER_E_IO;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        goto answer;
    }
    if (px->stopping) {
        px->state = PX_STOPPED;
        proxy_status_update(px, why);
    } else {
        double d = backoff_crash(&px->bo, clock_mono(), px->started);
        if (d < 0) {
            px->state = PX_FAILED;
            snprintf(px->init_why, sizeof px->init_why, "%d crashes within %.0f minutes (last: "
                     "%.160s); left failed until a reload", px->bo.max_crashes,
                     BACKOFF_WINDOW_S / 60, line);
            log_error(w->ph.who, "%s", px->init_why);
            notify_event fev = { .kind = NOTIFY_PLUGIN_FAILED, .plugin = w->p->name,
                                 .reason = px->init_why };
            notify_post(w->rt->notify, &fev);
        } else {
            px->state = PX_RESTARTING;
            px->restart_at = clock_mono() + d;
            log_warn(w->ph.who, "restarting in %.0f s", d);
        }
        proxy_status_update(px, why);
    }
answer:
    /* Everything it owed the engine is answered now, so no heal waits for a dead process. */
    while (px->fl) {
        inflight *f = px->fl;
        px->fl = f->next;
        if (!px->fl)
            px->fl_last = NULL;
        answer_for(px, &f->m, f->verifying, why);
        fl_free(f);
    }
    /* What it changed and did not give back: the undo journal knows it, by plugin. */
    if (!(px->stopping && clean && !hung))
        act_undo_replay_plugin(w->rt->act, w->p->name);
}

static void start_child(proxy *px)
{
    char why[256];
    px->state = PX_STARTING;
    if (proxy_spawn(px, why, sizeof why) < 0) {
        log_error(px->w->ph.who, "cannot start its process: %s", why);
        snprintf(px->init_why, sizeof px->init_why, "cannot start its process: %.200s", why);
        px->state = PX_STARTING; /* child_down decides: failed at first, else back-off */
        child_down(px, px->init_why);
        return;
    }
    px->started = px->last_heard = clock_mono();
    proxy_status_update(px, NULL);
}

/* Drains the socket: every datagram there now and every message in each (a child speaking
 * protocol 2 batches them), then sends the replies to its host calls at once. */
static void read_child(proxy *px)
{
    for (int k = 0; k < 256 && px->sock >= 0; k++) {
        long n = dgram_recv(&px->in, px->sock, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            child_down(px, NULL);
            return;
        }
        if (n == 0) { /* its end closed: it exited or is about to */
            child_down(px, NULL);
            return;
        }
        for (;;) {
            msg m;
            char err[160];
            int rc = dgram_next(&px->in, &m, err, sizeof err);
            if (rc == HEALER_E_TIMEOUT)
                break;
            if (rc < 0) {
                log_warn(px->w->ph.who, "malformed message from the child dropped: %s", err);
                break;
            }
            from_child(px, &m);
            msg_free(&m);
        }
    }
    flush_child(px);
}

void *proxy_main(void *arg)
{
    worker *w = arg;
    proxy *px = w->px;
    char tname[16];
    snprintf(tname, sizeof tname, "hp-%s", w->p->name);
    pthread_setname_np(pthread_self(), tname);
    w->ph.ctx.thread = pthread_self(); /* host calls are served on this thread */
    w->pull = bus_pull(w->rt->bus, w->endpoint);
    w->push = bus_push(w->rt->bus, w->engine_ep);
    if (!w->pull || !w->push) {
        snprintf(px->init_why, sizeof px->init_why, "the bus refused its sockets");
        pthread_mutex_lock(&w->mu);
        w->init_done = 1;
        w->init_rc = HEALER_E_IO;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        goto out;
    }
    start_child(px);
    double limit = w->rt->cfg->action_timeout + PROXY_HEARTBEAT_MARGIN_S;
    /* A quiet child is pinged a few times within the limit, not every second: each ping is two
     * wake-ups of two processes, and a child that reports every interval is never pinged. */
    double ping_s = limit / 4 > PROXY_PING_MAX_S ? PROXY_PING_MAX_S
                  : limit / 4 < PROXY_PING_S ? PROXY_PING_S : limit / 4;
    double init_deadline = clock_mono() + w->rt->cfg->action_timeout;
    for (;;) {
        int first = px->first_start;
        if (first && px->state == PX_FAILED)
            break; /* worker_start has its verdict */
        if (!first && w->init_rc < 0)
            break;
        if (px->stopping && px->state != PX_RUNNING && px->state != PX_STARTING)
            break;
        if (atomic_load(&w->stopping) && !px->stopping) {
            px->stopping = 1;
            px->stop_deadline = clock_mono() + PROXY_STOP_GRACE_S;
            msg stop = { .kind = MSG_STOP };
            proxy_send_child(px, &stop);
        }
        double now = clock_mono();
        if (px->stopping && now >= px->stop_deadline && px->pid > 0) {
            child_down(px, "did not stop in time: killed");
            continue;
        }
        if (px->state == PX_STARTING && first && now >= init_deadline) {
            char why[128];
            snprintf(why, sizeof why, "init did not return within %g s: killed",
                     w->rt->cfg->action_timeout);
            child_down(px, why);
            continue;
        }
        if ((px->state == PX_RUNNING || px->state == PX_STARTING) && now - px->last_heard > limit) {
            char why[128];
            snprintf(why, sizeof why, "stopped answering for %.0f s: killed",
                     now - px->last_heard);
            child_down(px, why);
            continue;
        }
        if (px->state == PX_RESTARTING && now >= px->restart_at && !px->stopping) {
            start_child(px);
            continue;
        }
        if (px->state == PX_RUNNING && now - px->last_heard >= ping_s &&
            now - px->last_ping >= ping_s) {
            px->last_ping = now;
            msg ping = { .kind = MSG_PING, .seq = ++px->ping_seq };
            proxy_send_child(px, &ping);
        }
        flush_child(px);
        zmq_pollitem_t items[4];
        int n = 0;
        items[n++] = (zmq_pollitem_t){ .socket = w->pull, .events = ZMQ_POLLIN };
        int wake_i = n;
        items[n++] = (zmq_pollitem_t){ .fd = w->wake_fd, .events = ZMQ_POLLIN };
        int sock_i = -1, pid_i = -1;
        if (px->sock >= 0) {
            sock_i = n;
            short ev = ZMQ_POLLIN | (dgram_pending(&px->out) ? ZMQ_POLLOUT : 0);
            items[n++] = (zmq_pollitem_t){ .fd = px->sock, .events = ev };
        }
        if (px->pidfd >= 0) {
            pid_i = n;
            items[n++] = (zmq_pollitem_t){ .fd = px->pidfd, .events = ZMQ_POLLIN };
        }
        /* Until the next of: a ping, the hung limit, init's or stop's deadline, a restart. */
        double next = now + PROXY_IDLE_MAX_S;
        double ping_at = (px->last_heard > px->last_ping ? px->last_heard : px->last_ping) + ping_s;
        if (px->state == PX_RUNNING && ping_at < next)
            next = ping_at;
        if ((px->state == PX_RUNNING || px->state == PX_STARTING) && px->last_heard + limit < next)
            next = px->last_heard + limit;
        if (px->state == PX_STARTING && first && init_deadline < next)
            next = init_deadline;
        if (px->stopping && px->stop_deadline < next)
            next = px->stop_deadline;
        if (px->state == PX_RESTARTING && px->restart_at < next)
            next = px->restart_at;
        long timeout = next <= now ? 0 : (long)((next - now) * 1000) + 1;
        int r = zmq_poll(items, n, timeout);
        if (r < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        if (items[wake_i].revents & ZMQ_POLLIN)
            worker_wake_drain(w); /* w->stopping is set: seen at the top of the loop */
        if (sock_i >= 0 && (items[sock_i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            read_child(px);
        if (items[0].revents & ZMQ_POLLIN) {
            for (int k = 0; k < 256; k++) {
                msg m;
                int rc = bus_recv(w->rt->bus, w->pull, &m, 0);
                if (rc == HEALER_E_TIMEOUT)
                    break;
                if (rc == HEALER_E_IO) {
                    px->stopping = 1;
                    px->stop_deadline = clock_mono() + PROXY_STOP_GRACE_S;
                    break;
                }
                if (rc < 0)
                    continue;
                from_engine(px, &m);
                msg_free(&m);
            }
        }
        /* Its death: read what it said before it died first (above). */
        if (pid_i >= 0 && px->pidfd >= 0 && (items[pid_i].revents & ZMQ_POLLIN)) {
            read_child(px);
            if (px->pid > 0)
                child_down(px, NULL);
        }
    }
    if (px->pid > 0 && w->init_rc < 0) { /* its init failed: it is on its way out */
        char how[128];
        reap(px, 1, how, sizeof how);
        close_child(px);
        proxy_cgroup_remove(px);
    } else if (px->pid > 0) {
        child_down(px, px->stopping ? "did not stop in time: killed" : "the agent stopped it");
    }
    if (px->state != PX_FAILED) {
        px->state = PX_STOPPED;
        proxy_status_update(px, NULL);
    }
out:
    bus_close(w->pull);
    bus_close(w->push);
    w->pull = w->push = NULL;
    worker_finished(w);
    return NULL;
}
