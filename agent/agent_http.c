/* agent_http.c — the agent's HTTP backend: the /api/v1 views (status, issues, heals, pending,
 * plugins, knowledge, holds, history) read from the engine, governor and knowledge base under
 * agent.lock, the commands passed on to the engine, and the listener built from the config. */
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

#include "audit_operator.h"
#include "clock.h"
#include "pitr.h"
#include "when.h"
#include "engine.h"
#include "govstore.h"
#include "http.h"
#include "http_int.h"
#include "isolation.h"
#include "proxy.h"
#include "loader.h"
#include "notify.h"
#include "history.h"
#include "log.h"
#include "metrics_agent.h"
#include "runtime.h"
#include "fleet_limit.h"
#include "statedir.h"
#include "sdnotify.h"
#include "worker.h"

#include "agent_int.h"
#include "fleet_knowledge.h"

static const char *const SEV_NAME[] = { "low", "medium", "high", "critical" };

static int add_entry(void *ud, const gov_entry *e)
{
    json_t *arr = ud;
    if (json_array_size(arr) >= 1000)
        return 1; /* a bounded answer; cooldowns_active has the count */
    json_t *o = json_pack("{s:o, s:o, s:f}", "issue_type", sanitize_json_str(e->issue_type),
                          "target", sanitize_json_str(e->target), "until", e->until);
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
    if (a->fleet) /* shared knowledge (fleet.peers): peers, last heard, refusals */
        json_object_set_new(o, "fleet", fleet_know_json(a->fleet));
    json_object_set_new(o, "snoozes", snoozes);
    json_object_set_new(limits, "auto_after_confirmations",
                        json_integer(l->auto_after_confirmations));
    json_object_set_new(o, "undo_outstanding", json_integer((json_int_t)undo_outstanding(a->undo)));
    /* "failing": no action changes anything until a line can be written again. */
    json_object_set_new(o, "audit", json_string(audit_failing(a->audit) ? "failing" : "ok"));
    if (a->gen && a->gen->rt.fleet) { /* fleet.etcd: "fleet": {"limits": {...}} */
        json_t *f = json_object_get(o, "fleet");
        if (!f)
            json_object_set_new(o, "fleet", f = json_object());
        json_object_set_new(f, "limits", fleet_limit_status(a->gen->rt.fleet));
    }
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

/* What GET /api/v1/heals/ID adds from audit.jsonl: the heal's lines (its actions and every
 * actuator call), the newest AUDIT_LINES_MAX of the file's last AUDIT_SCAN_MAX bytes. */
#define AUDIT_LINES_MAX 200
#define AUDIT_SCAN_MAX ((size_t)16 << 20)

static int be_heal(void *ud, uint64_t id, json_t **out)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *o = a->engine ? engine_heal_json(a->engine, id) : NULL;
    char state_dir[4096];
    snprintf(state_dir, sizeof state_dir, "%s", a->cfg->state_dir);
    pthread_rwlock_unlock(&a->lock);
    int rc = HEALER_OK;
    if (!o)
        rc = knowledge_heal_json(a->kb, id, &o);
    if (rc != HEALER_OK)
        return rc;
    char why[512] = "";
    int truncated = 0;
    json_t *lines = audit_heal_lines(state_dir, id, AUDIT_LINES_MAX, AUDIT_SCAN_MAX, &truncated,
                                     why, sizeof why);
    json_object_set_new(o, "audit", lines ? lines : json_null());
    json_object_set_new(o, "audit_truncated", json_boolean(truncated));
    if (!lines)
        json_object_set_new(o, "audit_error", sanitize_json_str(why));
    *out = o;
    return HEALER_OK;
}

/* An open issue as /api/v1/issues shows it, else as last recorded; with its recorded heals. */
static int be_issue(void *ud, uint64_t id, json_t **out)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *open = a->engine ? engine_issue_json(a->engine, id) : NULL;
    pthread_rwlock_unlock(&a->lock);
    json_t *rec = NULL;
    int rc = knowledge_issue_json(a->kb, id, 20, &rec);
    if (rc != HEALER_OK && rc != HEALER_E_NOTFOUND) {
        json_decref(open);
        return rc;
    }
    if (!open && !rec)
        return HEALER_E_NOTFOUND;
    json_t *o = open ? open : rec;
    json_object_set_new(o, "open", json_boolean(open != NULL));
    if (open) {
        json_t *h = rec ? json_object_get(rec, "heals") : NULL;
        json_object_set_new(o, "heals", h ? json_incref(h) : json_array());
        json_decref(rec);
    } else {
        json_object_set_new(o, "state", json_string("closed"));
    }
    *out = o;
    return HEALER_OK;
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

json_t *plugins_json(const plugin_set *set, int agent_dry)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < set->n; i++) {
        const plugin_rec *p = &set->v[i];
        json_t *types = json_array();
        if (p->state == PLUGIN_LOADED && p->desc.issue_types)
            for (const char *const *t = p->desc.issue_types; *t; t++)
                json_array_append_new(types, sanitize_json_str(*t));
        json_t *paths = json_array();
        /* Only a loaded plugin's list is final: a plugin whose init timed out may still be
         * appending to its list on its own thread. */
        for (size_t k = 0; p->state == PLUGIN_LOADED && k < p->n_declared_paths; k++)
            json_array_append_new(paths, sanitize_json_str(p->declared_paths[k]));
        char abi[32] = "";
        if (p->abi_major || p->abi_minor)
            snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
        /* Names, paths and reasons come from files and plugins: through the sanitizer, so a
         * file name that is not UTF-8 still lists its plugin (json_pack would fail on it). */
        json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:f, s:o}", "name",
                              sanitize_json_str(p->name), "file", sanitize_json_str(p->file),
                              "state", plugin_state_name(p->state), "abi", abi, "description",
                              sanitize_json_str(p->description ? p->description : ""),
                              "issue_types", types, "interval",
                              isfinite(p->interval) ? p->interval : 0.0, "declared_paths", paths);
        if (!o)
            continue;
        json_object_set_new(o, "version", sanitize_json_str(p->version));
        json_object_set_new(o, "reason", sanitize_json_str(p->reason));
        json_object_set_new(o, "isolation", json_string(p->isolation == PLUGIN_ISOLATION_PROCESS
                                                            ? "process" : "thread"));
        /* The mode it acts in: a dry-run agent keeps every plugin in dry-run. */
        json_object_set_new(o, "mode", json_string(agent_dry || p->mode_dry_run ? "dry-run"
                                                                                 : "live"));
        /* A child left failed after its crashes: the plugin is failed, and says why. */
        char why[256];
        if (p->state == PLUGIN_LOADED && proxy_status_failed(p->name, why, sizeof why)) {
            json_object_set_new(o, "state", json_string("failed"));
            json_object_set_new(o, "reason", sanitize_json_str(why));
        }
        json_t *proc = p->state == PLUGIN_LOADED && p->isolation == PLUGIN_ISOLATION_PROCESS
                           ? proxy_status_json(p->name) : NULL;
        if (proc)
            json_object_set_new(o, "process", proc);
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o}", "plugins", arr);
}

static json_t *be_plugins(void *ud)
{
    agent *a = ud;
    pthread_rwlock_rdlock(&a->lock);
    json_t *o = a->gen ? plugins_json(&a->gen->plugins, a->gen->cfg->dry_run) : json_pack("{s:[]}", "plugins");
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

static json_t *be_holds(void *ud)
{
    agent *a = ud;
    return holds_json(governor_holds(a->gov), clock_now());
}

static int be_hold(void *ud, const http_hold_req *rq, char *text, size_t len)
{
    agent *a = ud;
    int rc = http_hold_apply(governor_holds(a->gov), rq, clock_now(), text, len);
    http_hold_audit(a->audit, rq, rc, text);
    return rc;
}

/* Switching a profile back is a rollback: within limits.max_rollbacks_per_day, and counted in it
 * (and in the hour's changes) like the agent's own, durably. */
static int undo_rollback_ok(void *ud, char *why, size_t wl)
{
    agent *a = ud;
    gov_budget b;
    governor_budget(a->gov, clock_now(), &b);
    if (b.rollbacks_left > 0)
        return 1;
    snprintf(why, wl, "limits.max_rollbacks_per_day is used up (%d today)", b.rollbacks_today);
    return 0;
}

static void undo_rollback_done(void *ud, const char *profile)
{
    agent *a = ud;
    gov_request g = { .issue_type = "operator_undo", .target = profile, .rollbacks = 1,
                      .flags = HEALER_ACTION_ROLLBACK };
    if (governor_commit(a->gov, &g, clock_now()) < 0)
        log_write(HEALER_LOG_WARN, "undo", "the switch back of %s could not be counted durably in "
                "knowledge.db (it counts until the agent stops)", profile);
}

/* An operator's undo or restore. Runs on the HTTP thread, under agent.lock as a reader so the
 * generation's actuators stay (a reload waits for it). What governs it: every reversal is an
 * actuator call (protection, scope, pid reuse, audit line, the agent's dry-run: "would" lines
 * and nothing done); it is counted (operator_reversals_total) and audited as a whole (decision
 * "undo" or "restore"). Pause does not refuse it: pause holds the agent's own heals, and an
 * operator who paused a misbehaving agent must still be able to take back what it did. */
static int be_undo(void *ud, const http_undo_req *rq, json_t **out, char *text, size_t len)
{
    agent *a = ud;
    *out = NULL;
    pitr_req pr = { .heal_id = rq->heal_id, .dry_run = rq->dry_run, .force = rq->force,
                    .rollback_ok = undo_rollback_ok, .rollback_done = undo_rollback_done,
                    .gov_ud = a };
    if (!rq->heal_id) {
        char err[300];
        if (when_parse(rq->to, clock_now(), &pr.since, err, sizeof err) < 0) {
            snprintf(text, len, "to=%s", err);
            return HEALER_E_INVAL;
        }
    }
    if (!a->changes) {
        snprintf(text, len, "the change log (state_dir/%s) could not be opened at start: nothing "
                 "is known to undo (see the agent's log)", CHANGELOG_FILE);
        return HEALER_E_IO;
    }
    pthread_rwlock_rdlock(&a->lock);
    int rc = HEALER_E_IO;
    if (a->gen && a->gen->act)
        rc = act_pitr(a->gen->act, a->changes, &pr, out);
    else
        snprintf(text, len, "the agent is reloading");
    pthread_rwlock_unlock(&a->lock);
    const char *what = rq->heal_id ? "undo" : "restore";
    if (rc == HEALER_E_NOTFOUND)
        snprintf(text, len, "no change is recorded for heal %llu (none made, or older than the "
                 "change log keeps)", (unsigned long long)rq->heal_id);
    json_t *p = json_object();
    if (rq->heal_id)
        json_object_set_new(p, "heal_id", json_integer((json_int_t)rq->heal_id));
    else
        json_object_set_new(p, "to", json_real(pr.since));
    json_object_set_new(p, "dry_run", json_boolean(rq->dry_run));
    json_object_set_new(p, "force", json_boolean(rq->force));
    long long undone = *out ? json_integer_value(json_object_get(*out, "undone")) : 0;
    long long not_undone = *out ? json_integer_value(json_object_get(*out, "not_undone")) : 0;
    json_object_set_new(p, "undone", json_integer(undone));
    json_object_set_new(p, "not_undone", json_integer(not_undone));
    char m[256];
    snprintf(m, sizeof m, "%s: %lld change(s) %s, %lld could not be", what, undone,
             rq->dry_run ? "would be undone" : "undone", not_undone);
    audit_operator(a->audit, what, rq->heal_id, rq->heal_id ? "heal" : "restore", p,
                   rc == HEALER_OK ? "ok" : rc == HEALER_E_NOTFOUND ? "not_found" : "failed",
                   rc == HEALER_OK ? m : text);
    json_decref(p);
    if (rc == HEALER_OK) {
        log_notice("operator", "%s", m);
        healer_kv lb[2] = { { "kind", what }, { "dry_run", rq->dry_run ? "true" : "false" } };
        metrics_counter_add(a->metrics, "operator_reversals_total",
                            "Operator undo and restore requests carried out (healctl undo, "
                            "restore)", lb, 2, 1);
    }
    return rc;
}

#define ALERTS_METRIC_HELP "Alerts received on POST /api/v1/alerts by outcome (accepted, ignored: " \
    "no mapping, resolved, invalid, dropped; refused: a whole payload)"

static json_t *be_history(void *ud, int minutes)
{
    agent *a = ud;   /* the ring outlives reloads and has its own lock: no agent.lock */
    return history_json(a->history, clock_mono(), clock_now(), minutes);
}

/* Before each /metrics render: the gauges read from the views rather than pushed. */
static void be_collect(void *ud)
{
    agent *a = ud;
    json_t *st = be_status(ud), *pe = be_pending(ud), *is = be_issues(ud), *pl = be_plugins(ud);
    metrics_agent_refresh(a->metrics, st, pe, is, pl, clock_now());
    json_decref(st);
    json_decref(pe);
    json_decref(is);
    json_decref(pl);
}

/* POST /api/v1/alerts: alerts.c maps the payload, the engine raises and resolves the issues
 * (engine_alerts.c). Under agent.lock as a reader: the engine is not swapped meanwhile. */
static int be_alerts(void *ud, const char *body, size_t len, json_t **out, char *text,
                     size_t tlen)
{
    agent *a = ud;
    *out = NULL;
    pthread_rwlock_rdlock(&a->lock);
    if (!a->alerts || !a->cfg || !a->cfg->fleet.alerts.enabled) {
        pthread_rwlock_unlock(&a->lock);
        snprintf(text, tlen, "alerts are not received: fleet.alerts is not configured");
        return HEALER_E_NOTFOUND;
    }
    alert_op *ops;
    size_t n;
    alerts_summary sum;
    if (alerts_ingest(a->alerts, body, len, clock_mono(), &ops, &n, &sum, text, tlen) < 0) {
        pthread_rwlock_unlock(&a->lock);
        healer_kv lb[1] = { { "outcome", "refused" } };
        metrics_counter_add(a->metrics, "alerts_received_total", ALERTS_METRIC_HELP, lb, 1, 1);
        log_info("alerts", "webhook payload refused: %s", text);
        return HEALER_E_INVAL;
    }
    int rc = a->engine ? engine_alerts_post(a->engine, ops, n, alerts_stale_seconds(a->alerts))
                       : (alert_ops_free(ops, n), HEALER_E_IO);
    pthread_rwlock_unlock(&a->lock);
    if (rc != HEALER_OK) {
        /* the fingerprints are remembered: Alertmanager's retry (or next re-send) raises them */
        snprintf(text, tlen, "the engine's alert queue is full (%d operations) or it is "
                 "reloading; retry", ENGINE_ALERTS_QUEUE_MAX);
        sum.dropped += (unsigned)(sum.accepted + sum.resolved);
        sum.accepted = sum.resolved = 0;
    }
    static const char *const names[] = {"accepted", "ignored", "resolved", "invalid", "dropped"};
    unsigned v[] = {sum.accepted, sum.ignored, sum.resolved, sum.invalid, sum.dropped};
    json_t *o = json_object();
    for (size_t i = 0; i < 5; i++) {
        json_object_set_new(o, names[i], json_integer(v[i]));
        healer_kv lb[1] = { { "outcome", names[i] } };
        if (v[i])
            metrics_counter_add(a->metrics, "alerts_received_total", ALERTS_METRIC_HELP, lb, 1,
                                v[i]);
    }
    if (sum.accepted || sum.resolved || sum.invalid || sum.dropped)
        log_info("alerts", "webhook: %u firing, %u resolved, %u unmapped, %u invalid, %u dropped",
                 sum.accepted, sum.resolved, sum.ignored, sum.invalid, sum.dropped);
    if (rc != HEALER_OK) {
        json_decref(o);
        return HEALER_E_IO;
    }
    *out = o;
    return HEALER_OK;
}

/* fleet.alerts of c: the receiver made (at its first configuration) and given c's mapping. */
void agent_alerts_setup(agent *a, const config *c)
{
    if (!c->fleet.alerts.enabled)
        return;   /* a section removed by a reload: be_alerts answers 404, nothing is kept busy */
    if (!a->alerts && !(a->alerts = alerts_new())) {
        log_error("alerts", "out of memory: POST /api/v1/alerts is not served");
        return;
    }
    if (alerts_configure(a->alerts, &c->fleet.alerts) < 0)
        log_error("alerts", "out of memory: the previous fleet.alerts mapping stays");
    /* every outcome's series from the start, so rate() and absent() see 0 rather than nothing */
    static const char *const outcomes[] = {"accepted", "ignored", "resolved", "invalid",
                                           "dropped", "refused"};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        healer_kv lb[1] = { { "outcome", outcomes[i] } };
        metrics_counter_add(a->metrics, "alerts_received_total", ALERTS_METRIC_HELP, lb, 1, 0);
    }
}

/* A listener for c's address and token, serving this agent. NULL with err set when it cannot
 * bind (or c disables HTTP: then err is empty). */
http_server *http_open(agent *a, const config *c, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!c->http_listen[0])
        return NULL;
    http_backend be = {
        .status = be_status,
        .issues = be_issues,
        .heals = be_heals,
        .plugins = be_plugins,
        .knowledge = be_knowledge,
        .pending = be_pending,
        .command = be_command,
        .holds = be_holds,
        .hold = be_hold,
        .metrics = a->metrics,
        .collect = be_collect,
        .ud = a,
        .heal = be_heal,
        .issue = be_issue,
        .history = be_history,
        .undo = be_undo,
        .alerts = be_alerts,
    };
    http_options o = {
        .allowed_hosts = (const char *const *)c->http_allowed_hosts,
        .n_allowed_hosts = c->n_http_allowed_hosts,
        .alerts_token_file = c->fleet.alerts.token_file,
    };
    http_server *s = http_start_opts(c->http_listen, c->token_file, &o, &be, err, errlen);
    if (!s && !err[0])
        snprintf(err, errlen, "libmicrohttpd could not start");
    return s;
}

int start_http(agent *a)
{
    char err[256];
    a->http = http_open(a, a->cfg, err, sizeof err);
    if (!a->http && err[0]) {
        log_error("http", "cannot listen on %s: %s", a->cfg->http_listen, err);
        return -1;
    }
    return 0;
}

