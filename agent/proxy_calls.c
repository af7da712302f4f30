/* proxy_calls.c — the host calls a plugin child makes (MSG_HOSTCALL), served on its proxy thread
 * through the same host table as a thread plugin (hostapi.c), so every check there holds. The
 * callback context is the agent's own record of what it sent the child, never the child's word:
 * an actuator call naming a step that is not in flight for this plugin is refused. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy_int.h"
#include "preview.h"

static const char *arg(const msg *m, const char *key)
{
    for (size_t i = 0; i < m->n_args; i++)
        if (m->args[i].key && strcmp(m->args[i].key, key) == 0)
            return m->args[i].value;
    return NULL;
}

static long long iarg(const msg *m, const char *key)
{
    const char *v = arg(m, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

static unsigned long long uarg(const msg *m, const char *key)
{
    const char *v = arg(m, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

static double darg(const msg *m, const char *key)
{
    const char *v = arg(m, key);
    return v ? strtod(v, NULL) : 0;
}

static void reply(proxy *px, const msg *q, int code, const char *text, const msg_kv *out, size_t n)
{
    msg r = { .kind = MSG_HOSTREPLY, .seq = q->seq, .code = code, .text = text, .args = out,
              .n_args = n };
    if (proxy_send_child(px, &r) < 0)
        log_warn(px->w->ph.who, "the answer to host call %s was not delivered",
                 q->method ? q->method : "?");
}

/* Sets the ctx from the agent's record for the phase the child claims. 0, or -1 (refused). */
static int set_ctx(proxy *px, struct healer_ctx *c, const msg *m, char *why, size_t len)
{
    worker_phase ph = (worker_phase)m->code;
    c->phase = PHASE_IDLE;
    c->heal_id = c->attempt = 0;
    c->issue_type = c->action = NULL;
    c->action_flags = 0;
    c->issue = NULL;
    free(c->before_json);
    c->before_json = NULL;
    c->deadline_mono = 0;
    c->last_msg[0] = '\0';
    c->preview = 0;
    c->preview_sink = NULL; /* borrowed from the inflight step, never freed here */
    inflight *f = NULL;
    switch (ph) {
    case PHASE_INIT:
        if (px->state != PX_STARTING) {
            snprintf(why, len, "init() is over: a call in its phase is refused");
            return -1;
        }
        break;
    case PHASE_EXECUTE:
        f = proxy_find(px, MSG_EXECUTE, m->attempt);
        if (!f || f->verifying || f->m.n_actions < 1) {
            snprintf(why, len, "no step with attempt %" PRIu64 " is executing on this plugin",
                     m->attempt);
            return -1;
        }
        c->heal_id = f->m.seq;
        c->attempt = f->m.attempt;
        c->issue_type = f->m.issue.type;
        c->action = f->m.actions[0].name;
        c->action_flags = f->m.actions[0].flags;
        c->issue = &f->m.issue;
        if (f->m.preview) {
            if (!f->preview)
                f->preview = preview_sink_new();
            c->preview = 1;
            c->preview_sink = f->preview;
        }
        break;
    case PHASE_RESTORE:
        f = proxy_find(px, MSG_RESTORE, m->attempt);
        if (!f) {
            snprintf(why, len, "no restore with attempt %" PRIu64 " is running on this plugin",
                     m->attempt);
            return -1;
        }
        c->heal_id = f->m.seq;
        c->attempt = f->m.attempt;
        c->issue_type = f->m.issue.type;
        c->action = "restore";
        c->issue = &f->m.issue;
        break;
    case PHASE_REQUEST:
        for (f = px->fl; f && f->m.kind != MSG_REQUEST; f = f->next)
            ;
        if (!f) {
            snprintf(why, len, "no request is being served by this plugin");
            return -1;
        }
        c->action = f->m.method;
        c->heal_id = f->m.heal;   /* as the engine sent it: the asking heal */
        break;
    case PHASE_IDLE:
    case PHASE_DETECT:
    case PHASE_PLAN:
    case PHASE_VERIFY:
    case PHASE_FD:
    case PHASE_DESTROY:
        break;
    default:
        snprintf(why, len, "unknown phase %d", m->code);
        return -1;
    }
    c->phase = ph;
    return 0;
}

void proxy_serve_call(proxy *px, const msg *m)
{
    worker *w = px->w;
    struct healer_ctx *c = &w->ph.ctx;
    const healer_host *h = hostapi_table();
    const char *method = m->method ? m->method : "";
    char why[200];
    if (set_ctx(px, c, m, why, sizeof why) < 0) {
        log_warn(w->ph.who, "host call %s refused: %s", method, why);
        reply(px, m, HEALER_E_DENIED, why, NULL, 0);
        return;
    }
    int rc;
    msg_kv out[2];
    size_t n_out = 0;
    char n1[32], n2[32];
    char *buf = NULL;
    if (strcmp(method, "act_signal") == 0) {
        rc = h->act_signal(c, (pid_t)iarg(m, "pid"), uarg(m, "start_time"), (int)iarg(m, "sig"),
                           darg(m, "grace_s"));
    } else if (strcmp(method, "act_renice") == 0) {
        rc = h->act_renice(c, (pid_t)iarg(m, "pid"), uarg(m, "start_time"), (int)iarg(m, "nice"));
    } else if (strcmp(method, "act_write_file") == 0) {
        rc = h->act_write_file(c, arg(m, "path"), arg(m, "value"));
    } else if (strcmp(method, "act_freeze_cgroup") == 0) {
        rc = h->act_freeze_cgroup(c, arg(m, "dir"), (int)iarg(m, "freeze"));
    } else if (strcmp(method, "act_remove_old_files") == 0) {
        healer_remove_opts o = { .pattern = arg(m, "pattern"),
                                 .recursive = (int)iarg(m, "recursive"),
                                 .rotated_first = (int)iarg(m, "rotated_first"),
                                 .stop_after_bytes = uarg(m, "stop_after_bytes") };
        uint64_t freed = 0, count = 0;
        rc = h->act_remove_old_files(c, arg(m, "dir"), darg(m, "older_than_days"), &o, &freed,
                                     &count);
        snprintf(n1, sizeof n1, "%" PRIu64, freed);
        snprintf(n2, sizeof n2, "%" PRIu64, count);
        out[n_out++] = (msg_kv){ "freed", n1 };
        out[n_out++] = (msg_kv){ "count", n2 };
    } else if (strcmp(method, "act_run") == 0 || strcmp(method, "probe_run") == 0) {
        const char *argv[61];
        size_t k = 0;
        char key[8];
        for (; k < 60; k++) {
            snprintf(key, sizeof key, "%zu", k);
            if (!(argv[k] = arg(m, key)))
                break;
        }
        argv[k] = NULL;
        size_t ol = (size_t)uarg(m, "out_len");
        if (ol > 60000)
            ol = 60000; /* one string of the reply, well inside the schema's limits */
        buf = ol ? calloc(1, ol) : NULL;
        int es = -1;
        if (strcmp(method, "act_run") == 0)
            rc = h->act_run(c, argv, darg(m, "timeout_s"), buf, buf ? ol : 0, &es);
        else
            rc = h->probe_run(c, argv, darg(m, "timeout_s"), buf, buf ? ol : 0, &es);
        snprintf(n1, sizeof n1, "%d", es);
        out[n_out++] = (msg_kv){ "exit_status", n1 };
        if (buf)
            out[n_out++] = (msg_kv){ "out", buf };
    } else if (strcmp(method, "declare_path") == 0) {
        const char *path = arg(m, "path");
        plugin_rec *p = w->p;
        int known = 0;
        for (size_t i = 0; path && i < p->n_declared_paths; i++)
            known |= strcmp(p->declared_paths[i], path) == 0;
        if (known) {
            rc = HEALER_OK; /* a restarted child declares again what it declared before */
        } else if (!px->first_start) {
            /* The list is read by HTTP without a lock once the plugin runs: fixed after the
             * first start. */
            rc = HEALER_E_DENIED;
            snprintf(c->last_msg, sizeof c->last_msg, "declare_path: %s was not declared at the "
                     "plugin's first start; takes effect at the next reload", path ? path : "");
        } else {
            rc = h->declare_path(c, path);
        }
    } else if (strcmp(method, "proc_allowed") == 0) {
        /* The agent reads the process itself; the child only names it. */
        healer_proc pr;
        rc = act_proc_read(w->rt->act, (pid_t)iarg(m, "pid"), &pr);
        if (rc == HEALER_OK && pr.start_time != uarg(m, "start_time")) {
            rc = HEALER_E_NOTFOUND;
            snprintf(c->last_msg, sizeof c->last_msg, "pid %lld is another process now",
                     iarg(m, "pid"));
        } else if (rc == HEALER_OK) {
            rc = h->proc_allowed(c, &pr, (int)iarg(m, "allow_system"));
        }
    } else if (strcmp(method, "metric") == 0) {
        healer_kv labels[16];
        size_t nl = 0;
        for (size_t i = 0; i < m->n_args && nl < 16; i++)
            if (m->args[i].key && m->args[i].key[0] == '=')
                labels[nl++] = (healer_kv){ m->args[i].key + 1, m->args[i].value };
        const char *help = arg(m, "help");
        rc = h->metric(c, (healer_metric_kind)iarg(m, "kind"), arg(m, "name"),
                       help && *help ? help : NULL, labels, nl, darg(m, "value"));
    } else {
        rc = HEALER_E_NOTFOUND;
        snprintf(c->last_msg, sizeof c->last_msg, "unknown host call \"%s\"", method);
    }
    reply(px, m, rc, c->last_msg, out, n_out);
    free(buf);
    free(c->before_json);
    c->before_json = NULL;
    c->issue = NULL;
    c->preview = 0;
    c->preview_sink = NULL;
    c->phase = PHASE_IDLE;
}
