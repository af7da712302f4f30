/* agent.c — owns the agent's life: builds the long-lived services (bus, knowledge base, audit
 * log, metrics, governor, HTTP) from the config, then a generation (config, actuators, plugins,
 * engine); runs the daemon loop (signals, atomic reload, systemd notify), a single --once cycle
 * or --check-config. Services that carry history survive a reload. The HTTP backend's views are
 * in agent_http.c. */
#include "agent.h"
#include "sanitize_json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "govstore.h"
#include "http.h"
#include "http_int.h"
#include "isolation.h"
#include "proxy.h"
#include "loader.h"
#include "fleet_knowledge.h"
#include "notify.h"
#include "history.h"
#include "log.h"
#include "metrics_agent.h"
#include "runtime.h"
#include "fleet_limit.h"
#include "statedir.h"
#include "sdnotify.h"
#include "worker.h"

/* At exit, how long the agent waits for plugin threads stuck past their timeouts (orphans,
 * worker.h) before it exits without them. */
#define ORPHAN_EXIT_WAIT_S 2.0

#include "agent_int.h"
#include "check_plans.h"

static void diag_to_log(void *ud, const char *file, int line, const char *m)
{
    (void)ud;
    log_error("config", "%s:%d: %s", file, line, m);
}

static void diag_to_file(void *ud, const char *file, int line, const char *m)
{
    char *f = sanitize_dup(file, SANITIZE_SPACE_WS), *c = sanitize_dup(m, SANITIZE_SPACE_WS);
    fprintf((FILE *)ud, "%s:%d: %s\n", f ? f : "?", line, c ? c : "?");
    free(f);
    free(c);
}

static void problem_to_file(void *ud, const char *file, const char *why)
{
    char *f = sanitize_dup(file, SANITIZE_SPACE_WS), *c = sanitize_dup(why, SANITIZE_SPACE_WS);
    fprintf((FILE *)ud, "%s: %s\n", f ? f : "?", c ? c : "?");
    free(f);
    free(c);
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

static actuators *make_actuators(const config *c, audit_log *audit, undo_journal *undo,
                                 changelog *changes)
{
    act_config ac = {
        .dry_run = c->dry_run,
        .proc_root = c->proc_root,
        .sys_root = c->sys_root,
        .state_dir = c->state_dir,
        .protect_names = (const char *const *)c->protect_names,
        .n_protect_names = c->n_protect_names,
        .protect_min_uid = c->protect_min_uid,
        .protect_max_uid = c->protect_max_uid,
        .scope_cgroup = c->scope_cgroup,
        .scope_uids = c->scope_uids,
        .n_scope_uids = c->n_scope_uids,
        .undo = undo,
        .changes = changes,
        .deletions_max_bytes = (uint64_t)c->backup_deletions_max_mb << 20,
    };
    return actuators_new(&ac, audit);
}

/* ---- plugins and engine -------------------------------------------------------------------- */

/* A generation from cfg and an already scanned plugin set; both are taken over (on failure
 * too). The actuators are built here, so nothing is left to fail once a reload commits. */
static generation *gen_new(agent *a, config *cfg, plugin_set *set)
{
    generation *g = calloc(1, sizeof *g);
    actuators *act = g ? make_actuators(cfg, a->audit, a->undo, a->changes) : NULL;
    if (!g || !act) {
        free(g);
        loader_free(set);
        config_free(cfg);
        return NULL;
    }
    g->cfg = cfg;
    g->act = act;
    g->plugins = *set;
    set->v = NULL;
    set->n = 0;
    g->rt = (runtime){ .cfg = cfg, .bus = a->bus, .act = act, .metrics = a->metrics,
                       .audit = a->audit, .kb = a->kb, .gov = a->gov, .notify = a->notify,
                       .history = a->history,
                       .generation = ++a->generations };
    /* fleet.etcd: its client and thread exist only when configured. Without them the heals go on
     * unlimited fleet-wide (local healing never depends on the fleet), said loudly. */
    char why[256] = "";
    g->rt.fleet = fleet_limit_new(cfg, a->metrics, why, sizeof why);
    if (!g->rt.fleet && cfg->fleet.etcd.enabled)
        log_error("fleet", "fleet.etcd: the fleet-wide limits are off: %s", why);
    return g;
}

static void gen_free(void *arg)
{
    generation *g = arg;
    fleet_limit_free(g->rt.fleet);
    loader_free(&g->plugins);
    actuators_free(g->act);
    config_free(g->cfg);
    free(g);
}

/* The orphan list's release: the last stuck plugin thread of g has returned. */
static void gen_release(void *arg)
{
    generation *g = arg;
    log_info("agent", "generation %u freed: its stuck plugin thread(s) returned",
             g->rt.generation);
    gen_free(g);
}

/* Starts the engine and a worker (init) per loaded plugin of the current generation. */
static void start_plugins(agent *a)
{
    plugin_set *set = &a->gen->plugins;
    a->engine = engine_new(&a->gen->rt, set, !a->opts.once);
    size_t loaded = 0, refused = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (set->v[i].state == PLUGIN_LOADED)
            loaded++;
        else if (set->v[i].state != PLUGIN_DISABLED)
            refused++;
    }
    log_info("agent", "%zu plugin(s) running, %zu refused or failed, mode %s", loaded, refused,
             a->cfg->dry_run ? "dry-run" : "live");
    /* Every series an alert may take rate() of exists at 0 before its first event. */
    json_t *pj = plugins_json(set, a->cfg->dry_run);
    json_t *kj = a->kb ? knowledge_stats_json(a->kb) : NULL;
    metrics_agent_declare(a->metrics, pj, kj);
    json_decref(pj);
    json_decref(kj);
}

/* Stops the engine and its workers (restore, then destroy), then frees the generation, or,
 * when one of its plugin threads is stuck (an orphan), hands it to the orphan list, which
 * frees it once the last such thread has returned. a->cfg is not touched. */
static void retire_generation(agent *a)
{
    if (a->engine) {
        engine_stop(a->engine, 5.0);
        engine_free(a->engine);
        a->engine = NULL;
    }
    generation *g = a->gen;
    a->gen = NULL;
    if (!g)
        return;
    /* the heals are over: their fleet slots go back now, not when a stuck plugin returns */
    fleet_limit_free(g->rt.fleet);
    g->rt.fleet = NULL;
    g->hold = (worker_hold){ .rt = &g->rt, .release = gen_release, .arg = g };
    if (worker_orphans_hold(&g->hold))
        log_warn("agent", "a plugin of generation %u is stuck: its plugins, config and actuators "
                 "stay allocated until it returns", g->rt.generation);
    else
        gen_free(g);
    worker_orphans_reap();
}

static void prune_history(agent *a);

/* Shared knowledge (fleet.peers): its failure is logged and the agent heals on without it. */
static void start_fleet(agent *a, const config *c)
{
    char err[512];
    a->fleet = fleet_know_start(c, a->kb, a->metrics, err, sizeof err);
    if (!a->fleet && err[0])
        log_error("fleet", "shared knowledge off: %s; local healing goes on", err);
}

/* Two agents on one state_dir would interleave the journal, the audit log and the governor's
 * windows, and each would undo the other's changes at start: the second one is refused. The lock
 * is flock(2) on state_dir/lock (released by the kernel however the holder ends); the holder's
 * pid is written in it for the message. */
static int lock_state_dir(agent *a)
{
    char path[PATH_MAX], why[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/lock", a->cfg->state_dir);
    int dfd = statedir_open(a->cfg->state_dir, why, sizeof why);
    if (dfd < 0) {
        log_error("agent", "cannot start: %s", why);
        return -1;
    }
    int fd = statedir_openat(dfd, a->cfg->state_dir, "lock", O_RDWR | O_CREAT, 0600, why,
                             sizeof why);
    close(dfd);
    if (fd < 0) {
        log_error("agent", "cannot open the state_dir lock: %s", why);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            log_error("agent", "state_dir %s is in use by another healerd%s%s%s: two agents must "
                      "not share one state_dir; stop that one, or give this one its own "
                      "agent.state_dir", a->cfg->state_dir, pid[0] ? " (pid " : "", pid,
                      pid[0] ? ")" : "");
        else
            log_error("agent", "%s: cannot lock: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warn("agent", "%s: cannot write the pid into the lock: %s", path, strerror(errno));
    a->state_lock = fd;
    return 0;
}

agent *agent_open(const agent_opts *o, int *exit_code)
{
    *exit_code = EXIT_RUNTIME;
    agent *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->opts = *o;
    a->state_lock = -1;
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
    log_set_format((log_format)a->cfg->log_format);

    char err[PATH_MAX + 300] = "";
    if (lock_state_dir(a) < 0) {
        /* A state_dir someone else may write is the operator's to fix, like a config error. */
        if (statedir_check(a->cfg->state_dir, err, sizeof err) != 0)
            *exit_code = EXIT_USAGE;
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
    /* The same for the change log: without it heals run, they only cannot be undone later. */
    a->changes = changelog_open(a->cfg->state_dir, 0, 0, err, sizeof err);
    if (!a->changes)
        log_error("agent", "change log: %s; running without it: changes made now cannot be "
                  "undone by healctl undo or restore", err);
    audit_set_metrics(a->audit, a->metrics);
    a->gov = governor_new(&a->cfg->limits, a->cfg->dry_run);
    a->history = history_new();
    if (!a->bus || !a->metrics || !a->gov || !a->history) {
        log_error("agent", "cannot start: out of memory");
        goto fail;
    }
    /* The limits outlive the process: a crash loop must not hand each run a fresh hour. */
    govstore_load(a->kb, a->gov, clock_now());
    gov_store gs = govstore_ops(a->kb);
    governor_set_store(a->gov, &gs);
    /* --once tells nobody: it is a one-shot run whose result is its output */
    if (!o->once) {
        a->notify = notify_new(a->cfg, a->metrics);
        if (!a->notify)
            log_error("agent", "notifications: out of memory; running without them");
        if (governor_paused(a->gov)) { /* restored from knowledge.db: still someone's business */
            notify_event ev = { .kind = NOTIFY_PAUSED, .reason = "paused (since before start)" };
            notify_post(a->notify, &ev);
        }
    }
    if (!o->once) {
        agent_alerts_setup(a, a->cfg);
        start_fleet(a, a->cfg);
    }
    prune_history(a);
    metrics_health(a->metrics, 100.0);
    {
        char abi[16];
        snprintf(abi, sizeof abi, "%d.%d", HEALER_ABI_MAJOR, HEALER_ABI_MINOR);
        metrics_agent_build_info(a->metrics, HEALERD_VERSION, abi);
    }
    /* At start a missing plugin_dir or a refused plugin does not stop the agent (a reload, by
     * contrast, is refused for them: the running set is kept). */
    plugin_set set;
    if (loader_scan(a->cfg, &set, &d) < 0)
        log_warn("agent", "no plugins: %s cannot be read", a->cfg->plugin_dir);
    if (set.unknown_sections) {
        /* A misspelled section would leave the plugin meant on its defaults: a config error
         * like any unknown key (the sections are named above with FILE:LINE). */
        log_error("agent", "cannot start: %d plugin section(s) in %s name no plugin",
                  set.unknown_sections, a->cfg->path);
        loader_free(&set);
        *exit_code = EXIT_USAGE;
        agent_close(a);
        return NULL;
    }
    a->gen = gen_new(a, a->cfg, &set);
    if (!a->gen) {
        a->cfg = NULL; /* gen_new freed it */
        log_error("agent", "cannot start: out of memory");
        goto fail;
    }
    /* What a previous run changed and never gave back (it crashed, was killed, or a restore
     * failed) is undone before any plugin can act on the host as it found it. */
    act_undo_replay(a->gen->act);
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
    alerts_free(a->alerts);   /* no HTTP thread reads it any more */
    a->alerts = NULL;
    if (a->gen)
        retire_generation(a); /* the config in force went with it */
    else
        config_free(a->cfg);
    a->cfg = NULL;
    /* Bounded: a plugin stuck for good must not keep the agent from exiting. */
    size_t stuck = worker_orphans_drain(ORPHAN_EXIT_WAIT_S);
    fleet_know_stop(a->fleet);
    a->fleet = NULL;
    /* what the engine said last (plans dropped with it) still goes out, within bounds */
    notify_free(a->notify, 5.0);
    a->notify = NULL;
    governor_set_store(a->gov, NULL); /* nothing may write through it once kb is closed */
    if (a->kb)
        knowledge_close(a->kb);
    governor_free(a->gov);
    if (!stuck) {
        history_free(a->history);
        undo_close(a->undo);
        changelog_close(a->changes);
        if (a->audit)
            audit_close(a->audit);
        metrics_free(a->metrics);
        if (a->bus)
            bus_free(a->bus);
    } else {
        /* Still reachable from the orphan list through their generation's runtime. */
        log_error("agent", "exiting with %zu plugin thread(s) still stuck: the bus is not "
                  "terminated (zmq_ctx_term would wait for their sockets for ever); it, the "
                  "audit log and the metrics stay open until the process ends", stuck);
    }
    proxy_status_free_all();
    if (a->state_lock >= 0)
        close(a->state_lock); /* last: nothing of this agent writes to state_dir any more */
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

static void reload_problem(void *ud, const char *file, const char *why)
{
    (void)ud;
    log_error("agent", "reload refused: %s: %s", file, why);
}

static void refuse_reload(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void refuse_reload(const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_error("agent", "reload refused: %s; still running the previous config", why);
    char st[600];
    snprintf(st, sizeof st, "READY=1\nSTATUS=reload refused: %s", why);
    sdnotify_send(st);
}

/* SIGHUP. Everything the new config needs is checked and built first: the config itself, every
 * enabled plugin against the schema its file declares (loader_check, as --check-config), a
 * readable plugin_dir, and a new HTTP listener bound when the address changed. Only then is the
 * running generation retired. A refusal at any step changes nothing that runs. */
static void reload(agent *a)
{
    sdnotify_reloading();
    log_info("agent", "reloading %s", a->opts.config_path);
    /* SIGHUP is also logrotate's signal: start a fresh audit.jsonl if it was moved. */
    if (audit_reopen(a->audit) < 0)
        log_error("agent", "cannot reopen the audit log in %s: %s; still writing the old one",
                  a->cfg->state_dir, strerror(errno));
    worker_orphans_reap();
    char sdwhy[PATH_MAX + 300];
    if (statedir_check(a->cfg->state_dir, sdwhy, sizeof sdwhy) != 0) {
        refuse_reload("%s", sdwhy);
        return;
    }
    config *nc = NULL;
    diag d = { .emit = diag_to_log };
    if (config_load(a->opts.config_path, &nc, &d) != 0 || !nc) {
        refuse_reload("%d problem(s) in %s", d.count, a->opts.config_path);
        return;
    }
    if (a->opts.force_dry_run)
        nc->dry_run = 1;
    /* The new config keeps the old state_dir and namespace: those need a restart. */
    if (strcmp(nc->state_dir, a->cfg->state_dir) != 0) {
        log_warn("agent", "agent.state_dir changed: takes effect at the next restart");
        char *keep = strdup(a->cfg->state_dir);
        if (!keep) {
            config_free(nc);
            refuse_reload("out of memory");
            return;
        }
        free(nc->state_dir);
        nc->state_dir = keep;
    }
    if (strcmp(nc->metrics_namespace, a->cfg->metrics_namespace) != 0) {
        log_warn("agent", "metrics.namespace changed: takes effect at the next restart");
        char *keep = strdup(a->cfg->metrics_namespace);
        if (!keep) {
            config_free(nc);
            refuse_reload("out of memory");
            return;
        }
        free(nc->metrics_namespace);
        nc->metrics_namespace = keep;
    }

    plugin_set set;
    int problems = loader_check(nc, &set, &d, reload_problem, a);
    if (problems) {
        loader_free(&set);
        refuse_reload("%d problem(s) with %s or its plugins", problems, a->opts.config_path);
        config_free(nc);
        return;
    }

    /* The old listener keeps serving until the new one is bound; an unchanged address keeps
     * its listener (and its port, even an ephemeral one). */
    int http_swap = strcmp(nc->http_listen, a->cfg->http_listen) != 0;
    int token_changed = strcmp(nc->token_file, a->cfg->token_file) != 0;
    http_server *nh = NULL;
    if (http_swap && nc->http_listen[0]) {
        char err[256];
        nh = http_open(a, nc, err, sizeof err);
        if (!nh) {
            loader_free(&set);
            refuse_reload("cannot listen on %s: %s", nc->http_listen, err);
            config_free(nc);
            return;
        }
    }
    generation *g = gen_new(a, nc, &set); /* takes nc and set */
    if (!g) {
        http_stop(nh);
        refuse_reload("out of memory");
        return;
    }

    /* Commit: nothing below can refuse. */
    pthread_rwlock_wrlock(&a->lock);
    retire_generation(a);
    a->gen = g;
    a->cfg = nc;
    log_set_level((healer_log_level)nc->log_level);
    log_set_format((log_format)nc->log_format);
    governor_set_limits(a->gov, &nc->limits, nc->dry_run);
    metrics_plugin_info_clear(a->metrics);
    agent_alerts_setup(a, nc);
    if (notify_reconfigure(a->notify, nc) < 0)
        log_error("agent", "notifications: out of memory; keeping the previous notify settings");
    /* The fleet's sockets follow fleet.peers: restarted (peers, keys and weight may change). */
    fleet_know_stop(a->fleet);
    a->fleet = NULL;
    if (nc->fleet.peers.enabled)
        start_fleet(a, nc);
    else
        knowledge_fleet_set_weight(a->kb, 0); /* peers no longer configured: no say */
    {
        /* every plugin starts afresh: a failed one is no longer left failed */
        notify_event ev = { .kind = NOTIFY_PLUGIN_RECOVERED, .reason = "reload" };
        notify_post(a->notify, &ev);
    }
    start_plugins(a);
    if (a->engine && engine_start(a->engine) < 0)
        log_error("agent", "cannot start the engine thread after the reload");
    pthread_rwlock_unlock(&a->lock);
    if (http_swap) {
        http_server *old = a->http;
        a->http = nh;
        http_stop(old);
        if (!nh)
            log_info("http", "http.listen is empty: HTTP disabled");
    } else {
        if (token_changed && a->http && http_set_token_file(a->http, nc->token_file) < 0)
            log_error("http", "cannot switch to token file %s: out of memory; POST requests "
                      "are refused", nc->token_file);
        if (a->http && http_set_alerts_token_file(a->http, nc->fleet.alerts.token_file) < 0)
            log_error("http", "cannot switch to fleet.alerts.token_file %s: out of memory; "
                      "only the API token is accepted", nc->fleet.alerts.token_file);
        if (a->http && http_set_allowed_hosts(a->http, (const char *const *)nc->http_allowed_hosts,
                                              nc->n_http_allowed_hosts) < 0)
            log_error("http", "cannot switch to the new http.allowed_hosts: out of memory; "
                      "the previous names stay");
    }
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
        worker_orphans_reap(); /* plugin threads that returned late: free what they held */
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

/* One line of --once output: names, targets and reasons quote processes, files and plugins,
 * so the whole line goes through the sanitizer (no ESC or BEL reaches the terminal). */
static void out_line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(FILE *out, const char *fmt, ...)
{
    char *raw = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    char *clean = n < 0 ? NULL : sanitize_dup(raw, SANITIZE_SPACE_WS);
    fprintf(out, "%s\n", clean ? clean : "(out of memory)");
    free(clean);
    if (n >= 0)
        free(raw);
}

int agent_once(agent *a, FILE *out)
{
    double timeout = a->cfg->action_timeout * 3 + 10;
    int rc = engine_run_once(a->engine, timeout);
    knowledge_flush(a->kb);
    out_line(out, "healerd %s --once: mode %s, health %.0f", HEALERD_VERSION,
            a->cfg->dry_run ? "dry-run" : "live", engine_health(a->engine));
    size_t loaded = 0, refused = 0, n_refused_only = 0, n_failed = 0;
    for (size_t i = 0; a->gen && i < a->gen->plugins.n; i++) {
        const plugin_rec *p = &a->gen->plugins.v[i];
        if (p->state == PLUGIN_LOADED) {
            loaded++;
            out_line(out, "plugin %s %s: loaded", p->name, p->version);
        } else {
            if (p->state != PLUGIN_DISABLED)
                refused++;
            if (p->state == PLUGIN_REFUSED)
                n_refused_only++;
            else if (p->state == PLUGIN_FAILED)
                n_failed++;
            out_line(out, "plugin %s: %s: %s", p->name, plugin_state_name(p->state),
                    p->reason ? p->reason : "");
            if (p->state != PLUGIN_DISABLED)
                log_error("agent", "--once: %s: %s: %s", p->file, plugin_state_name(p->state),
                          p->reason ? p->reason : "");
        }
    }
    json_t *issues = engine_issues_json(a->engine);
    json_t *list = json_object_get(issues, "issues");
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        json_t *reason = json_object_get(it, "reason");
        out_line(out, "issue #%lld %s %s on %s: %s [%s%s%s]",
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
        out_line(out, "heal #%lld %s on %s: %s%s%s",
                (long long)json_integer_value(json_object_get(it, "id")),
                json_string_value(json_object_get(it, "issue_type")),
                json_string_value(json_object_get(it, "target")),
                json_string_value(json_object_get(it, "outcome")), json_is_string(reason) ? ": " : "",
                json_is_string(reason) ? json_string_value(reason) : "");
        size_t k;
        json_t *act;
        json_array_foreach(json_object_get(it, "actions"), k, act) {
            out_line(out, "  %s/%s on %s: %s: %s", json_string_value(json_object_get(act, "plugin")),
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
        out_line(out, "pending #%lld %s on %s: %s (confirm with: healctl confirm %lld)",
                (long long)json_integer_value(json_object_get(it, "id")),
                json_string_value(json_object_get(it, "issue_type")),
                json_string_value(json_object_get(it, "target")),
                json_string_value(json_object_get(it, "reason")),
                (long long)json_integer_value(json_object_get(it, "id")));
    }
    json_decref(pend);
    out_line(out, "summary: %zu plugin(s) loaded, %zu refused, %zu issue(s), %zu heal(s)", loaded,
            refused, n_issues, n_heals);
    /* A plugin refused is a bad plugin folder or config (2, as --check-config says); one whose
     * init failed is a runtime failure (1). Scripts must not read "healed" from either. */
    if (n_refused_only) {
        log_error("agent", "--once: %zu plugin(s) refused (reasons above): exit 2", n_refused_only);
        return EXIT_USAGE;
    }
    if (rc < 0) {
        log_error("agent", "--once: the cycle did not finish within %.0f s", timeout);
        return EXIT_RUNTIME;
    }
    if (n_failed) {
        log_error("agent", "--once: %zu plugin(s) failed in init (reasons above): exit 1", n_failed);
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
    /* Loading checks every plugin's file, symbols, ABI and settings; init is not run. The
     * same check decides whether a reload may apply (reload()). */
    healer_log_level saved = log_get_level();
    log_set_level(HEALER_LOG_ERROR);
    /* Every plugin is read by a child here: one whose constructor crashes is reported with its
     * signal instead of taking --check-config down. */
    isolation_all_in_child(1);
    plugin_set set;
    int problems = loader_check(cfg, &set, &d, problem_to_file, err);
    log_set_level(saved);
    /* plans.d is configuration too (CONTRACT): its problems with FILE:LINE, as init() sees them. */
    problems += check_plans_config(&set, err);
    char why[PATH_MAX + 300];
    if (statedir_check(cfg->state_dir, why, sizeof why) != 0) {
        fprintf(err, "%s: %s\n", path, why);
        problems++;
    }
    size_t loaded = 0;
    for (size_t i = 0; i < set.n; i++)
        if (set.v[i].state == PLUGIN_LOADED)
            loaded++;
    loader_free(&set);
    if (problems)
        fprintf(out, "%s: %d problem(s)\n", path, problems);
    else
        fprintf(out, "%s: ok (%zu plugin(s) would load)\n", path, loaded);
    config_free(cfg);
    return problems ? EXIT_USAGE : EXIT_OK;
}
