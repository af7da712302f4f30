/* engine_harness.c — the shared fixture of the engine tests: a detached engine on a simulated
 * clock with a real governor and metrics (and optionally a real knowledge base), plugins played
 * by the test, every message the engine sends copied into a log. */
#define _XOPEN_SOURCE 700
#include "engine_harness.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* The engine only checks which callbacks are set; these never run. */
static int d_plan(void *s, const healer_issue *i, healer_plan *p)
{
    (void)s; (void)i; (void)p;
    return 0;
}
static int d_execute(void *s, const healer_issue *i, const healer_action *a, healer_result *r)
{
    (void)s; (void)i; (void)a; (void)r;
    return 0;
}
static int d_verify(void *s, const healer_issue *i, const healer_action *a, healer_verdict *v)
{
    (void)s; (void)i; (void)a; (void)v;
    return 0;
}
static int d_restore(void *s, const healer_issue *i)
{
    (void)s; (void)i;
    return 0;
}

static double now_fn(void *ud) { return ((hx *)ud)->now; }
static double mono_fn(void *ud) { return ((hx *)ud)->mono; }

static void cpy(char *d, size_t n, const char *s)
{
    snprintf(d, n, "%s", s ? s : "");
}

static int hook(void *ud, int idx, const msg *m)
{
    hx *h = ud;
    if (h->n_log == h->cap_log) {
        size_t cap = h->cap_log ? h->cap_log * 2 : 64;
        hx_sent *nv = realloc(h->log, cap * sizeof *nv);
        if (!nv)
            abort();
        h->log = nv;
        h->cap_log = cap;
    }
    hx_sent *s = &h->log[h->n_log++];
    memset(s, 0, sizeof *s);
    s->plugin = idx;
    s->kind = m->kind == MSG_EXECUTE && m->preview ? HX_PREVIEW : m->kind;
    s->seq = m->seq;
    s->attempt = m->attempt;
    s->wait = m->wait;
    s->mono = h->mono;
    s->has_issue = m->has_issue;
    if (m->has_issue) {
        s->issue_id = m->issue.id;
        s->severity = m->issue.severity;
        cpy(s->type, sizeof s->type, m->issue.type);
        cpy(s->target, sizeof s->target, m->issue.target);
    }
    if (m->n_actions) {
        cpy(s->action, sizeof s->action, m->actions[0].name);
        cpy(s->action_plugin, sizeof s->action_plugin, m->actions[0].plugin);
    }
    if (h->observe)
        h->observe(h->observe_ud, s);
    return idx >= 0 && idx < HX_MAXP && h->refuse[idx] ? HEALER_E_FULL : HEALER_OK;
}

void hx_init(hx *h, const hx_plugin *plugins, size_t n, int with_kb)
{
    memset(h, 0, sizeof *h);
    if (!getenv("HX_VERBOSE"))
        log_set_level(HEALER_LOG_ERROR);
    h->now = HX_T0;
    h->mono = 1000.0;
    clock_override(now_fn, h);
    clock_override_mono(mono_fn, h);
    h->cfg.action_timeout = 60;
    h->cfg.interval = 5;
    h->cfg.max_open_issues = 1000;
    h->cfg.limits = (agent_limits){ 10, 3, 30, 5.0, 60.0, 0, 0, 60.0, 300.0 }; /* loop rule off unless a test sets it */
    h->cfg.exploration = 0;
    h->gov = governor_new(&h->cfg.limits, 0);
    h->met = metrics_new("t");
    if (with_kb) {
        snprintf(h->kbdir, sizeof h->kbdir, "/tmp/test_engine.XXXXXX");
        char err[256] = "";
        if (!mkdtemp(h->kbdir) || knowledge_open(h->kbdir, &h->kb, err, sizeof err) != 0) {
            fprintf(stderr, "knowledge base: %s\n", err);
            abort();
        }
    }
    h->set.n = n;
    h->set.v = calloc(n ? n : 1, sizeof *h->set.v);
    for (size_t i = 0; i < n; i++) {
        plugin_rec *p = &h->set.v[i];
        p->name = strdup(plugins[i].name);
        p->state = PLUGIN_LOADED;
        p->interval = plugins[i].interval > 0 ? plugins[i].interval : h->cfg.interval;
        p->desc.name = p->name;
        p->desc.issue_types = plugins[i].types;
        if (plugins[i].types) {
            p->desc.plan = d_plan;
            p->desc.execute = d_execute;
        }
        if (plugins[i].verify)
            p->desc.verify = d_verify;
        if (plugins[i].restore)
            p->desc.restore = d_restore;
    }
}

void hx_start(hx *h)
{
    h->rt = (runtime){ .cfg = &h->cfg, .metrics = h->met, .kb = h->kb, .gov = h->gov,
                       .generation = h->rt.generation + 1 };
    h->e = engine_new_detached(&h->rt, &h->set, hook, h);
    if (!h->e)
        abort();
    engine_keep_recent(h->e, 1);
}

void hx_restart(hx *h)
{
    engine_free(h->e);
    governor_set_limits(h->gov, &h->cfg.limits, h->cfg.dry_run);
    hx_start(h);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void hx_free(hx *h)
{
    engine_free(h->e);
    h->e = NULL;
    governor_free(h->gov);
    metrics_free(h->met);
    if (h->kb) {
        knowledge_close(h->kb);
        nftw(h->kbdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    for (size_t i = 0; i < h->set.n; i++)
        free(h->set.v[i].name);
    free(h->set.v);
    free(h->log);
    json_decref(h->done);
    clock_override(NULL, NULL);
    clock_override_mono(NULL, NULL);
    memset(h, 0, sizeof *h);
}

int hx_pidx(const hx *h, const char *name)
{
    for (size_t i = 0; i < h->set.n; i++)
        if (strcmp(h->set.v[i].name, name) == 0)
            return (int)i;
    return -1;
}

void hx_advance(hx *h, double seconds)
{
    h->now += seconds;
    h->mono += seconds;
}

void hx_sweep(hx *h)
{
    eng_sweep(h->e);
}

static msg_issue issue_of(const char *plugin, const char *type, const char *target, int sev,
                          double now)
{
    return (msg_issue){ .type = type, .target = target, .severity = sev, .plugin = plugin,
                        .summary = "test", .time = now };
}

void hx_issue(hx *h, const char *plugin, const char *type, const char *target, int severity)
{
    msg m = { .kind = MSG_ISSUE, .plugin = plugin, .has_issue = 1,
              .issue = issue_of(plugin, type, target, severity, h->now) };
    eng_dispatch(h->e, &m);
}

void hx_resolve(hx *h, const char *plugin, const char *type, const char *target)
{
    msg m = { .kind = MSG_RESOLVE, .plugin = plugin, .has_issue = 1,
              .issue = issue_of(plugin, type, target, 0, h->now) };
    eng_dispatch(h->e, &m);
}

void hx_plan(hx *h, const char *plugin, uint64_t seq, const hx_act *acts, size_t n)
{
    msg_action a[16];
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n; i++)
        a[i] = (msg_action){ .plugin = plugin, .name = acts[i].name, .description = "test",
                             .step = acts[i].step, .flags = acts[i].flags,
                             .confidence = acts[i].confidence > 0 ? acts[i].confidence : 0.5,
                             .impact = 0.1 };
    msg m = { .kind = MSG_PLAN, .seq = seq, .plugin = plugin, .actions = a, .n_actions = n };
    eng_dispatch(h->e, &m);
}

void hx_result(hx *h, const char *plugin, uint64_t seq, uint64_t attempt, int code, double wait,
               const char *text)
{
    msg m = { .kind = MSG_RESULT, .seq = seq, .attempt = attempt, .plugin = plugin, .code = code,
              .wait = wait, .text = text ? text : "" };
    eng_dispatch(h->e, &m);
}

void hx_verdict(hx *h, const char *plugin, uint64_t seq, uint64_t attempt, int code, double wait,
                const char *text)
{
    msg m = { .kind = MSG_VERDICT, .seq = seq, .attempt = attempt, .plugin = plugin, .code = code,
              .wait = wait, .text = text ? text : "" };
    eng_dispatch(h->e, &m);
}

void hx_ack(hx *h, const char *plugin, uint64_t seq, uint64_t attempt)
{
    msg m = { .kind = MSG_ACK, .seq = seq, .attempt = attempt, .plugin = plugin, .code = 0 };
    eng_dispatch(h->e, &m);
}

int hx_command(hx *h, http_command c, uint64_t id)
{
    char buf[256];
    return eng_command_now(h->e, c, id, buf, sizeof buf);
}

static int match(const hx *h, const hx_sent *s, msg_kind kind, const char *plugin)
{
    return s->kind == kind && (!plugin || strcmp(h->set.v[s->plugin].name, plugin) == 0);
}

size_t hx_count(const hx *h, size_t from, msg_kind kind, const char *plugin)
{
    size_t n = 0;
    for (size_t i = from; i < h->n_log; i++)
        n += match(h, &h->log[i], kind, plugin);
    return n;
}

const hx_sent *hx_last(const hx *h, size_t from, msg_kind kind, const char *plugin)
{
    for (size_t i = h->n_log; i-- > from;)
        if (match(h, &h->log[i], kind, plugin))
            return &h->log[i];
    return NULL;
}

json_t *hx_take_heals(hx *h)
{
    json_t *out = json_array();
    json_t *r = h->e->recent;
    for (size_t i = json_array_size(r); i-- > 0;)
        json_array_append(out, json_array_get(r, i));
    json_array_clear(r);
    return out;
}

json_t *hx_heal(hx *h, uint64_t id)
{
    if (!h->done)
        h->done = json_array();
    json_t *t = hx_take_heals(h);
    json_array_extend(h->done, t);
    json_decref(t);
    size_t i;
    json_t *v;
    json_array_foreach(h->done, i, v)
        if ((uint64_t)json_integer_value(json_object_get(v, "id")) == id)
            return v;
    return NULL;
}

eissue *hx_open_issue(hx *h, const char *type, const char *target)
{
    for (eissue *is = h->e->ihead; is; is = is->next)
        if (strcmp(is->type, type) == 0 && strcmp(is->target, target) == 0)
            return is;
    return NULL;
}
