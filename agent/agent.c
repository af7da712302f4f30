/* agent.c — owns the agent's life: builds the long-lived services (bus, knowledge base, audit
 * log, metrics, governor, actuators, HTTP) from the config, then the plugins and the engine; runs
 * the daemon loop (signals, reload, systemd notify) or a single --once cycle; serves the HTTP
 * backend. Services that carry history (governor, knowledge, metrics) survive a reload. */
#include "agent.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "govstore.h"
#include "http.h"
#include "loader.h"
#include "log.h"
#include "runtime.h"
#include "sdnotify.h"

struct agent {
    agent_opts opts;
    config *cfg;
    runtime rt;
    bus *bus;
    metrics *metrics;
    audit_log *audit;
    knowledge *kb;
    governor *gov;
    actuators *act;
    undo_journal *undo;
    plugin_set plugins;
    engine *engine;
    http_server *http;
    double started_mono;
    /* Readers: HTTP callbacks. Writer: a reload swapping plugins and the engine. */
    pthread_rwlock_t lock;
    /* Plugin sets and actuators a stuck plugin may still use: never freed (see worker_stop). */
    int leaked;
};

/* What a plugin stuck in a callback may still touch is kept alive, never freed: referenced from
 * here so it is visibly retained on purpose (and leak checkers agree). Bounded: one entry per
 * service per reload that found a stuck plugin. */
#define KEPT_MAX 64
static void *kept_alive[KEPT_MAX];
static size_t n_kept;

static void keep_alive(void *p)
{
    if (p && n_kept < KEPT_MAX)
        kept_alive[n_kept++] = p;
}

static void diag_to_log(void *ud, const char *file, int line, const char *m)
{
    (void)ud;
    log_error("config", "%s:%d: %s", file, line, m);
}

static void diag_to_file(void *ud, const char *file, int line, const char *m)
{
    fprintf((FILE *)ud, "%s:%d: %s\n", file, line, m);
}

void agent_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A client hanging up must not kill the agent; write() reports EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
}

static actuators *make_actuators(const config *c, audit_log *audit, undo_journal *undo)
{
    act_config ac = {
        .dry_run = c->dry_run,
        .proc_root = c->proc_root,
        .sys_root = c->sys_root,
        .state_dir = c->state_dir,
        .protect_names = (const char *const *)c->protect_names,
        .n_protect_names = c->n_protect_names,
        .protect_min_uid = c->protect_min_uid,
        .scope_cgroup = c->scope_cgroup,
        .scope_uids = c->scope_uids,
        .n_scope_uids = c->n_scope_uids,
        .undo = undo,
    };
    return actuators_new(&ac, audit);
}

/* ---- HTTP backend -------------------------------------------------------------------------- */

static const char *const SEV_NAME[] = { "low", "medium", "high", "critical" };

static int add_entry(void *ud, const gov_entry *e)
{
    json_t *arr = ud;
    if (json_array_size(arr) >= 1000)
        return 1; /* a bounded answer; cooldowns_active has the count */
    json_t *o = json_pack("{s:s, s:s, s:f}", "issue_type", e->issue_type, "target", e->target,
                          "until", e->until);
    if (o && e->severity >= 0)
        json_object_set_new(o, "severity", json_string(SEV_NAME[e->severity <= 3 ? e->severity : 3]));
    json_array_append_new(arr, o);
    return 0;
}

static json_t *be_status(void *ud)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    gov_budget b;
    governor_budget(a->gov, clock_now(), &b);
    size_t open = 0, pending = 0;
    double health = 100;
    if (a->engine) {
        engine_counts(a->engine, &open, &pending);
        health = engine_health(a->engine);
    }
    bus_stats bs;
    bus_get_stats(a->bus, &bs);
    const agent_limits *l = &a->cfg->limits;
    char abi[16];
    snprintf(abi, sizeof abi, "%d.%d", HEALER_ABI_MAJOR, HEALER_ABI_MINOR);
    json_t *limits = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i}",
                               "max_heals_per_hour", l->max_heals_per_hour, "heals_last_hour",
                               b.heals_last_hour, "heals_left_this_hour", b.heals_left,
                               "max_rollbacks_per_day", l->max_rollbacks_per_day, "rollbacks_today",
                               b.rollbacks_today, "rollbacks_left_today", b.rollbacks_left,
                               "min_health_for_auto", l->min_health_for_auto, "cooldown_minutes",
                               l->cooldown_minutes, "cooldowns_active", b.cooldowns_active);
    json_t *busj = json_pack("{s:I, s:I, s:I, s:I}", "sent", (json_int_t)bs.sent, "received",
                             (json_int_t)bs.received, "dropped", (json_int_t)bs.dropped,
                             "malformed", (json_int_t)bs.malformed);
    json_t *comps = a->engine ? engine_health_json(a->engine) : json_array();
    json_t *cooldowns = json_array(), *snoozes = json_array();
    governor_each_cooldown(a->gov, a->cfg->dry_run, clock_now(), add_entry, cooldowns);
    governor_each_snooze(a->gov, clock_now(), add_entry, snoozes);
    json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:o, s:f, s:b, s:I, s:I, s:o, s:o}", "version",
                          HEALERD_VERSION, "abi", abi, "mode", a->cfg->dry_run ? "dry-run" : "live",
                          "health", health, "health_components", comps,
                          "uptime_seconds", clock_mono() - a->started_mono,
                          "paused", b.paused, "open_issues", (json_int_t)open, "pending",
                          (json_int_t)pending, "limits", limits, "bus", busj);
    json_object_set_new(o, "cooldowns", cooldowns);
    json_object_set_new(o, "snoozes", snoozes);
    json_object_set_new(limits, "auto_after_confirmations",
                        json_integer(l->auto_after_confirmations));
    json_object_set_new(o, "undo_outstanding", json_integer((json_int_t)undo_outstanding(a->undo)));
    pthread_rwlock_unlock(&a->lock);
    return o;
}

static json_t *be_issues(void *ud)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *o = a->engine ? engine_issues_json(a->engine) : json_pack("{s:[]}", "issues");
    pthread_rwlock_unlock(&a->lock);
    return o;
}

static json_t *be_pending(void *ud)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *o = a->engine ? engine_pending_json(a->engine) : json_pack("{s:[]}", "pending");
    pthread_rwlock_unlock(&a->lock);
    return o;
}

static json_t *be_heals(void *ud, int limit)
{
    agent *a = ud;
    return knowledge_heals_json(a->kb, limit);
}

static json_t *be_knowledge(void *ud)
{
    agent *a = ud;
    json_t *o = knowledge_stats_json(a->kb);
    /* Human-authorized, then automatic: the streak of confirmed successes per (type, action). */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "knowledge"), i, e) {
        const char *type = json_string_value(json_object_get(e, "issue_type"));
        const char *action = json_string_value(json_object_get(e, "action"));
        json_object_set_new(e, "confirmed_successes",
                            json_integer(governor_confirmed_successes(a->gov, type, action)));
        json_object_set_new(e, "automatic",
                            json_boolean(governor_auto_approved(a->gov, type, action)));
    }
    return o;
}

static json_t *plugins_json(const plugin_set *set)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < set->n; i++) {
        const plugin_rec *p = &set->v[i];
        json_t *types = json_array();
        if (p->state == PLUGIN_LOADED && p->desc.issue_types)
            for (const char *const *t = p->desc.issue_types; *t; t++)
                json_array_append_new(types, json_string(*t));
        json_t *paths = json_array();
        for (size_t k = 0; k < p->n_declared_paths; k++)
            json_array_append_new(paths, json_string(p->declared_paths[k]));
        char abi[32] = "";
        if (p->abi_major || p->abi_minor)
            snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:f, s:o}", "name", p->name,
                              "file", p->file, "state", plugin_state_name(p->state), "abi", abi,
                              "description", p->description ? p->description : "", "issue_types",
                              types, "interval", p->interval, "declared_paths", paths);
        json_object_set_new(o, "version", p->version ? json_string(p->version) : json_null());
        json_object_set_new(o, "reason", p->reason ? json_string(p->reason) : json_null());
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o}", "plugins", arr);
}

static json_t *be_plugins(void *ud)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *o = plugins_json(&a->plugins);
    pthread_rwlock_unlock(&a->lock);
    return o;
}

static int be_command(void *ud, http_command c, uint64_t id, char *text, size_t len)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    int rc = HEALER_E_NOTFOUND;
    if (a->engine)
        rc = engine_command(a->engine, c, id, text, len);
    else
        snprintf(text, len, "the agent is reloading");
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

static int start_http(agent *a)
{
    if (!a->cfg->http_listen[0])
        return 0;
    http_backend be = {
        .status = be_status,
        .issues = be_issues,
        .heals = be_heals,
        .plugins = be_plugins,
        .knowledge = be_knowledge,
        .pending = be_pending,
        .command = be_command,
        .metrics = a->metrics,
        .ud = a,
    };
    char err[256] = "";
    a->http = http_start(a->cfg->http_listen, a->cfg->token_file, &be, err, sizeof err);
    if (!a->http) {
        log_error("http", "cannot listen on %s: %s", a->cfg->http_listen, err);
        return -1;
    }
    return 0;
}

/* ---- plugins and engine -------------------------------------------------------------------- */

static void start_plugins(agent *a)
{
    diag d = { .emit = diag_to_log };
    if (loader_scan(a->cfg, &a->plugins, &d) < 0)
        log_warn("agent", "no plugins: %s cannot be read", a->cfg->plugin_dir);
    a->engine = engine_new(&a->rt, &a->plugins, !a->opts.once);
    size_t loaded = 0, refused = 0;
    for (size_t i = 0; i < a->plugins.n; i++) {
        if (a->plugins.v[i].state == PLUGIN_LOADED)
            loaded++;
        else if (a->plugins.v[i].state != PLUGIN_DISABLED)
            refused++;
    }
    log_info("agent", "%zu plugin(s) running, %zu refused or failed, mode %s", loaded, refused,
             a->cfg->dry_run ? "dry-run" : "live");
}

/* Stops the engine and its workers. A plugin stuck in a callback keeps running code from its
 * .so and reading its record, so then the whole plugin set is kept (leaked), never unmapped. */
static void stop_plugins(agent *a)
{
    if (a->engine) {
        engine_stop(a->engine, 5.0);
        engine_free(a->engine);
        a->engine = NULL;
    }
    int stuck = 0;
    for (size_t i = 0; i < a->plugins.n; i++)
        if (a->plugins.v[i].state == PLUGIN_LOADED && !a->plugins.v[i].dl)
            stuck = 1;
    if (stuck) {
        a->leaked = 1;
        keep_alive(a->plugins.v);
        a->plugins.v = NULL;
        a->plugins.n = 0;
    } else {
        loader_free(&a->plugins);
    }
}

static void prune_history(agent *a);

agent *agent_open(const agent_opts *o, int *exit_code)
{
    *exit_code = EXIT_RUNTIME;
    agent *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->opts = *o;
    a->started_mono = clock_mono();
    pthread_rwlock_init(&a->lock, NULL);
    diag d = { .emit = diag_to_log };
    if (config_load(o->config_path, &a->cfg, &d) != 0 || !a->cfg) {
        *exit_code = EXIT_USAGE;
        pthread_rwlock_destroy(&a->lock);
        free(a);
        return NULL;
    }
    if (o->force_dry_run)
        a->cfg->dry_run = 1;
    log_set_level((healer_log_level)a->cfg->log_level);

    char err[256] = "";
    if (mkdir(a->cfg->state_dir, 0750) != 0 && errno != EEXIST) {
        log_error("agent", "%s: cannot create state_dir: %s", a->cfg->state_dir, strerror(errno));
        goto fail;
    }
    a->bus = bus_new(a->cfg->bus_hwm);
    a->metrics = metrics_new(a->cfg->metrics_namespace);
    a->audit = audit_open(a->cfg->state_dir, err, sizeof err);
    if (!a->audit) {
        log_error("agent", "audit log: %s", err);
        goto fail;
    }
    if (knowledge_open(a->cfg->state_dir, &a->kb, err, sizeof err) != 0) {
        log_error("agent", "knowledge base: %s", err);
        goto fail;
    }
    /* Without its journal the agent still heals (refusing to start would block emergencies);
     * it only cannot promise to undo its changes after a crash. */
    a->undo = undo_open(a->cfg->state_dir, err, sizeof err);
    if (!a->undo)
        log_error("agent", "undo journal: %s; running without it: changes are not journaled "
                  "and will not be undone if the agent dies", err);
    undo_set_metrics(a->undo, a->metrics);
    a->gov = governor_new(&a->cfg->limits, a->cfg->dry_run);
    a->act = make_actuators(a->cfg, a->audit, a->undo);
    if (!a->bus || !a->metrics || !a->gov || !a->act) {
        log_error("agent", "cannot start: out of memory");
        goto fail;
    }
    /* The limits outlive the process: a crash loop must not hand each run a fresh hour. */
    govstore_load(a->kb, a->gov, clock_now());
    gov_store gs = govstore_ops(a->kb);
    governor_set_store(a->gov, &gs);
    /* What a previous run changed and never gave back (it crashed, was killed, or a restore
     * failed) is undone before any plugin can act on the host as it found it. */
    act_undo_replay(a->act);
    a->rt = (runtime){ .cfg = a->cfg, .bus = a->bus, .act = a->act, .metrics = a->metrics,
                       .audit = a->audit, .kb = a->kb, .gov = a->gov, .generation = 1 };
    prune_history(a);
    metrics_health(a->metrics, 100.0);
    start_plugins(a);
    if (!a->engine)
        goto fail;
    if (!o->once && start_http(a) < 0)
        goto fail;
    *exit_code = EXIT_OK;
    return a;
fail:
    agent_close(a);
    return NULL;
}

void agent_close(agent *a)
{
    if (!a)
        return;
    if (a->http)
        http_stop(a->http);
    stop_plugins(a);
    governor_set_store(a->gov, NULL); /* nothing may write through it once kb is closed */
    if (a->kb)
        knowledge_close(a->kb);
    if (!a->leaked) {
        actuators_free(a->act);
        undo_close(a->undo);
        if (a->bus)
            bus_free(a->bus);
    } else {
        keep_alive(a->act);
        keep_alive(a->undo);
        keep_alive(a->bus);
        keep_alive(a->cfg);
        a->cfg = NULL;
    }
    if (a->audit)
        audit_close(a->audit);
    governor_free(a->gov);
    metrics_free(a->metrics);
    config_free(a->cfg);
    pthread_rwlock_destroy(&a->lock);
    free(a);
}

struct engine *agent_engine(agent *a)
{
    return a->engine;
}

/* Drops healing history older than agent.history_days from the knowledge base (the learned
 * statistics stay). On the main thread: a large delete must not stall the engine. */
static void prune_history(agent *a)
{
    if (!(a->cfg->history_days > 0))
        return;
    uint64_t removed = 0;
    double before = clock_now() - a->cfg->history_days * 86400.0;
    if (knowledge_prune(a->kb, before, &removed) == HEALER_OK && removed)
        log_info("agent", "knowledge: removed %llu heal(s) older than %g days",
                 (unsigned long long)removed, a->cfg->history_days);
}

/* ---- reload -------------------------------------------------------------------------------- */

static void reload(agent *a)
{
    sdnotify_reloading();
    log_info("agent", "reloading %s", a->opts.config_path);
    /* SIGHUP is also logrotate's signal: start a fresh audit.jsonl if it was moved. */
    if (audit_reopen(a->audit) < 0)
        log_error("agent", "cannot reopen the audit log in %s: %s; still writing the old one",
                  a->cfg->state_dir, strerror(errno));
    config *nc = NULL;
    diag d = { .emit = diag_to_log };
    if (config_load(a->opts.config_path, &nc, &d) != 0 || !nc) {
        log_error("agent", "reload refused: %d problem(s) in %s; still running the previous config",
                  d.count, a->opts.config_path);
        sdnotify_send("READY=1\nSTATUS=reload refused: bad config");
        return;
    }
    if (a->opts.force_dry_run)
        nc->dry_run = 1;
    if (strcmp(nc->state_dir, a->cfg->state_dir) != 0)
        log_warn("agent", "agent.state_dir changed: takes effect at the next restart");
    if (strcmp(nc->metrics_namespace, a->cfg->metrics_namespace) != 0)
        log_warn("agent", "metrics.namespace changed: takes effect at the next restart");
    int http_changed = strcmp(nc->http_listen, a->cfg->http_listen) != 0 ||
                       strcmp(nc->token_file, a->cfg->token_file) != 0;

    if (http_changed && a->http) {
        http_stop(a->http);
        a->http = NULL;
    }
    pthread_rwlock_wrlock(&a->lock);
    stop_plugins(a);
    actuators *old_act = a->act;
    a->act = make_actuators(nc, a->audit, a->undo);
    if (!a->leaked)
        actuators_free(old_act);
    else
        keep_alive(old_act);
    config *old = a->cfg;
    /* The new config keeps the old state_dir and namespace: those need a restart. */
    free(nc->state_dir);
    nc->state_dir = strdup(old->state_dir);
    free(nc->metrics_namespace);
    nc->metrics_namespace = strdup(old->metrics_namespace);
    a->cfg = nc;
    if (!a->leaked)
        config_free(old);
    else
        keep_alive(old); /* a stuck plugin's worker may still read it */
    log_set_level((healer_log_level)nc->log_level);
    governor_set_limits(a->gov, &nc->limits, nc->dry_run);
    metrics_plugin_info_clear(a->metrics);
    a->rt.cfg = nc;
    a->rt.act = a->act;
    a->rt.generation++;
    start_plugins(a);
    if (a->engine)
        engine_start(a->engine);
    pthread_rwlock_unlock(&a->lock);
    if (http_changed)
        start_http(a);
    sdnotify_send("READY=1\nSTATUS=running");
    log_info("agent", "reloaded");
}

/* ---- daemon -------------------------------------------------------------------------------- */

int agent_run(agent *a)
{
    if (engine_start(a->engine) < 0) {
        log_error("agent", "cannot start the engine thread");
        return EXIT_RUNTIME;
    }
    double wd = sdnotify_watchdog_interval();
    sdnotify_send("READY=1\nSTATUS=running");
    log_info("agent", "healerd %s running (pid %d)", HEALERD_VERSION, (int)getpid());
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Ping the watchdog at half its interval, from this thread: if the main loop hangs, systemd
     * sees it. */
    double tick = wd > 0 ? wd / 2 : 3600;
    double next_prune = clock_mono() + 3600;
    for (;;) {
        if (clock_mono() >= next_prune) {
            prune_history(a);
            next_prune = clock_mono() + 3600;
        }
        struct timespec ts = { .tv_sec = (time_t)tick,
                               .tv_nsec = (long)((tick - (double)(time_t)tick) * 1e9) };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0) {
            if (errno == EAGAIN && wd > 0) {
                /* Only vouch for an engine that is still turning: a hung engine thread must
                 * get the agent restarted, not kept alive by this thread's pings. */
                pthread_rwlock_rdlock(&a->lock);
                double beat = a->engine ? engine_heartbeat(a->engine) : clock_mono();
                pthread_rwlock_unlock(&a->lock);
                if (clock_mono() - beat < wd / 2)
                    sdnotify_send("WATCHDOG=1");
                else
                    log_error("agent", "the engine has not turned for %.1f s: no watchdog ping",
                              clock_mono() - beat);
            }
            continue;
        }
        if (sig == SIGHUP) {
            reload(a);
            continue;
        }
        log_info("agent", "%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        sdnotify_send("STOPPING=1");
        return EXIT_OK;
    }
}

/* ---- --once -------------------------------------------------------------------------------- */

int agent_once(agent *a, FILE *out)
{
    double timeout = a->cfg->action_timeout * 3 + 10;
    int rc = engine_run_once(a->engine, timeout);
    knowledge_flush(a->kb);
    fprintf(out, "healerd %s --once: mode %s, health %.0f\n", HEALERD_VERSION,
            a->cfg->dry_run ? "dry-run" : "live", engine_health(a->engine));
    size_t loaded = 0, refused = 0;
    for (size_t i = 0; i < a->plugins.n; i++) {
        const plugin_rec *p = &a->plugins.v[i];
        if (p->state == PLUGIN_LOADED) {
            loaded++;
            fprintf(out, "plugin %s %s: loaded\n", p->name, p->version);
        } else {
            if (p->state != PLUGIN_DISABLED)
                refused++;
            fprintf(out, "plugin %s: %s: %s\n", p->name, plugin_state_name(p->state),
                    p->reason ? p->reason : "");
        }
    }
    json_t *issues = engine_issues_json(a->engine);
    json_t *list = json_object_get(issues, "issues");
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        json_t *reason = json_object_get(it, "reason");
        fprintf(out, "issue #%lld %s %s on %s: %s [%s%s%s]\n",
                (long long)json_integer_value(json_object_get(it, "id")),
                json_string_value(json_object_get(it, "type")),
                json_string_value(json_object_get(it, "severity")),
                json_string_value(json_object_get(it, "target")),
                json_string_value(json_object_get(it, "summary")),
                json_string_value(json_object_get(it, "state")), json_is_string(reason) ? ": " : "",
                json_is_string(reason) ? json_string_value(reason) : "");
    }
    size_t n_issues = json_array_size(list);
    json_decref(issues);
    json_t *heals = engine_recent_json(a->engine);
    json_array_foreach(heals, i, it) {
        json_t *reason = json_object_get(it, "reason");
        fprintf(out, "heal #%lld %s on %s: %s%s%s\n",
                (long long)json_integer_value(json_object_get(it, "id")),
                json_string_value(json_object_get(it, "issue_type")),
                json_string_value(json_object_get(it, "target")),
                json_string_value(json_object_get(it, "outcome")), json_is_string(reason) ? ": " : "",
                json_is_string(reason) ? json_string_value(reason) : "");
        size_t k;
        json_t *act;
        json_array_foreach(json_object_get(it, "actions"), k, act) {
            fprintf(out, "  %s/%s on %s: %s: %s\n", json_string_value(json_object_get(act, "plugin")),
                    json_string_value(json_object_get(act, "action")),
                    json_string_value(json_object_get(act, "target")),
                    json_string_value(json_object_get(act, "outcome")),
                    json_string_value(json_object_get(act, "message")));
        }
    }
    size_t n_heals = json_array_size(heals);
    json_decref(heals);
    json_t *pend = engine_pending_json(a->engine);
    json_array_foreach(json_object_get(pend, "pending"), i, it) {
        fprintf(out, "pending #%lld %s on %s: %s (confirm with: healctl confirm %lld)\n",
                (long long)json_integer_value(json_object_get(it, "id")),
                json_string_value(json_object_get(it, "issue_type")),
                json_string_value(json_object_get(it, "target")),
                json_string_value(json_object_get(it, "reason")),
                (long long)json_integer_value(json_object_get(it, "id")));
    }
    json_decref(pend);
    fprintf(out, "summary: %zu plugin(s) loaded, %zu refused, %zu issue(s), %zu heal(s)\n", loaded,
            refused, n_issues, n_heals);
    if (rc < 0) {
        log_error("agent", "--once: the cycle did not finish within %.0f s", timeout);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* ---- --check-config ------------------------------------------------------------------------ */

int agent_check_config(const char *path, FILE *out, FILE *err)
{
    config *cfg = NULL;
    diag d = { .emit = diag_to_file, .ud = err };
    if (config_load(path, &cfg, &d) != 0 || !cfg) {
        fprintf(out, "%s: %d problem(s)\n", path, d.count);
        return EXIT_USAGE;
    }
    /* Loading checks every plugin's file, symbols, ABI and settings; init is not run. */
    healer_log_level saved = log_get_level();
    log_set_level(HEALER_LOG_ERROR);
    plugin_set set;
    int rc = loader_scan(cfg, &set, &d);
    log_set_level(saved);
    int problems = d.count;
    if (rc < 0) {
        fprintf(err, "%s: cannot read plugin_dir %s\n", path, cfg->plugin_dir);
        problems++;
    }
    size_t loaded = 0;
    for (size_t i = 0; i < set.n; i++) {
        const plugin_rec *p = &set.v[i];
        if (p->state == PLUGIN_REFUSED) {
            fprintf(err, "%s: refused: %s\n", p->file, p->reason);
            problems++;
        } else if (p->state == PLUGIN_LOADED) {
            loaded++;
        }
    }
    loader_free(&set);
    if (problems)
        fprintf(out, "%s: %d problem(s)\n", path, problems);
    else
        fprintf(out, "%s: ok (%zu plugin(s) would load)\n", path, loaded);
    config_free(cfg);
    return problems ? EXIT_USAGE : EXIT_OK;
}
