/* engine.c — the flow of one issue: detect -> merge -> govern -> plan -> execute -> verify ->
 * learn -> restore. Everything here runs on the engine thread (or the --once caller), which owns
 * the open issues and the heals in flight. Planning and the governor's verdict are in
 * engine_plan.c, records in engine_record.c, per-plugin slots and
 * futility in engine_steps.c, restores in engine_restore.c, the loop and life cycle in
 * engine_loop.c, health and the HTTP views in engine_views.c; shared state in engine_int.h. */
#include "engine_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "planner.h"
#include "rules.h"

static const char *const SEVERITY[] = { "low", "medium", "high", "critical" };

const char *eng_sev_name(int s)
{
    return (s >= 0 && s <= 3) ? SEVERITY[s] : "low";
}


/* ---- small helpers --------------------------------------------------------------------- */

char *eng_sdup(const char *s)
{
    return strdup(s ? s : "");
}

int eng_plugin_index(engine *e, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < e->n; i++)
        if (e->live[i] && strcmp(e->set->v[i].name, name) == 0)
            return (int)i;
    return -1;
}

int eng_claim_kind(const plugin_rec *p, const char *type)
{
    if (!p->desc.plan || !p->desc.issue_types)
        return 0;
    int any = 0;
    for (const char *const *t = p->desc.issue_types; *t; t++) {
        if (strcmp(*t, type) == 0)
            return 2;
        if (strcmp(*t, HEALER_RULES_ANY_TYPE) == 0)
            any = 1;
    }
    return any;
}

int eng_claims(const plugin_rec *p, const char *type)
{
    return eng_claim_kind(p, type) != 0;
}

msg_issue eng_issue_view(const eissue *is)
{
    return (msg_issue){
        .id = is->id,
        .type = is->type,
        .severity = is->severity,
        .target = is->target,
        .summary = is->summary,
        .plugin = is->plugin,
        .time = is->last_seen,
        .measures = is->measures,
        .n_measures = is->n_measures,
        .components = (const char *const *)is->components,
        .n_components = is->n_components,
    };
}

int eng_send_to(engine *e, int idx, const msg *m)
{
    if (idx < 0 || (size_t)idx >= e->n || !e->live[idx])
        return HEALER_E_NOTFOUND;
    if (e->send_hook)
        return e->send_hook(e->hook_ud, idx, m);
    if (!e->push[idx])
        return HEALER_E_NOTFOUND;
    return bus_send(e->rt->bus, e->push[idx], m);
}

static void note_confirmed_result(engine *e, heal *h, const msg_action *a, const kb_action *k)
{
    /* A heal the operator confirmed, or a risky step that ran because it had earned it. */
    if (h->dry_run || (!h->confirmed && !governor_auto_approved(e->rt->gov, h->is->type, a->name)) || !(a->flags & HEALER_ACTION_RISKY) ||
        strcmp(k->outcome, "skipped") == 0 || strcmp(k->outcome, "dry_run") == 0 ||
        strcmp(k->outcome, "preempted") == 0)
        return;
    governor_record_confirmed(e->rt->gov, h->is->type, a->name, k->success);
}

/* The current action is over (healed or not). */
static void action_done(engine *e, heal *h, int healed)
{
    const msg_action *a = h->order[h->cur].action;
    kb_action *k = &h->acts[h->n_acts - 1];
    h->attempt = 0;
    if (healed && !h->dry_run) {
        k->success = 1;
        k->outcome = "healed";
    }
    note_confirmed_result(e, h, a, k);
    eng_audit_action(e, h, a, k);
    int counted = !h->dry_run && strcmp(k->outcome, "skipped") != 0 &&
                  strcmp(k->outcome, "preempted") != 0;
    if (counted) {
        metrics_attempt(e->rt->metrics, h->is->type, a->name);
        if (k->success)
            metrics_success(e->rt->metrics, h->is->type, a->name);
        /* ran and changed nothing: not again for this state until FUTILE_TTL; healed: forget */
        if ((k->success || strcmp(k->outcome, "not_healed") == 0) &&
            h->severity != HEALER_SEV_CRITICAL)
            eng_futile_mark(e, h->is, a->name, h->severity, !k->success);
    }
    if (healed) {
        eng_finish_heal(e, h, h->dry_run ? "dry_run" : "healed", NULL);
        return;
    }
    h->cur++;
    eng_execute_next(e, h);
}

/* Sends the current step to its plugin, which is free. */
void eng_send_step(engine *e, heal *h)
{
    const msg_action *a = h->order[h->cur].action;
    int idx = h->step_plugin;
    kb_action *k = &h->acts[h->n_acts - 1];
    h->attempt = eng_next_attempt();
    msg m = { .kind = MSG_EXECUTE, .seq = h->id, .attempt = h->attempt, .has_issue = 1,
              .issue = eng_issue_view(h->is), .actions = a, .n_actions = 1,
              .wait = e->rt->cfg->action_timeout };
    int rc = eng_send_to(e, idx, &m);
    if (rc == HEALER_OK) {
        e->slots[idx].inflight++;
        h->phase = H_EXECUTING;
        h->act_started = h->asked_at = clock_mono();
        h->deadline = h->act_started + e->rt->cfg->action_timeout;
        k->started_at = clock_now();
        return;
    }
    k->outcome = "error";
    eng_set_act_message(k, rc == HEALER_E_FULL ? "plugin queue full: not sent" : "plugin not running");
    action_done(e, h, 0);
}

void eng_execute_next(engine *e, heal *h)
{
    /* Nothing is dispatched for an issue whose condition has cleared; the heal was cut short
     * by that, even when its last step just failed. */
    if (h->is->closing) {
        eng_finish_heal(e, h, "cancelled", "the issue cleared during the heal");
        return;
    }
    if (e->stopping) {
        eng_finish_heal(e, h, "cancelled", "the agent is stopping");
        return;
    }
    if (h->cur >= h->n_order) {
        eng_finish_heal(e, h, h->dry_run ? "dry_run" : "failed",
                        h->dry_run ? NULL : "no action healed the issue");
        return;
    }
    const msg_action *a = h->order[h->cur].action;
    if (holds_match(governor_holds(e->rt->gov), h->is->type, h->is->target,
                    h->is->severity == HEALER_SEV_CRITICAL, clock_now())) {
        /* held since the heal began: no further step runs */
        metrics_suppressed(e->rt->metrics, h->is->type, "hold"); /* before: finish frees h */
        eng_finish_heal(e, h, "suppressed", "hold");
        return;
    }
    if (eng_step_needs_confirmation(e, h, a)) {
        eng_park(e, h); /* the steps before it ran; this one waits for a person */
        return;
    }
    if (eng_fleet_gate(e, h, a))
        return; /* a risky step waits for a fleet-wide slot (asked again at h->deadline) */
    if (!eng_add_act(h, a)) {
        eng_finish_heal(e, h, "failed", "out of memory");
        return;
    }
    int idx = eng_plugin_index(e, a->plugin);
    h->step_plugin = idx;
    if (idx < 0) {
        kb_action *k = &h->acts[h->n_acts - 1];
        k->outcome = "error";
        eng_set_act_message(k, "plugin not running");
        action_done(e, h, 0);
        return;
    }
    if (!eng_slot_open(&e->slots[idx]) || e->slots[idx].wq_head) {
        /* The plugin is stuck in a step the engine gave up on (or saturated): wait, at most one
         * action timeout, behind the heals already waiting. */
        h->phase = H_WAITING;
        h->deadline = clock_mono() + e->rt->cfg->action_timeout;
        eng_wq_push(e, idx, h);
        return;
    }
    eng_send_step(e, h);
}

static void preempt(engine *e, heal *h);

void eng_storm_say(void *ud, int kind, const char *key, uint64_t n, double span_s)
{
    (void)ud;
    if (kind == STORM_NEW) {
        log_info("engine", "... and %llu more new %s issue%s in the last %.3g s",
                 (unsigned long long)n, key, n == 1 ? "" : "s", span_s);
        return;
    }
    /* STORM_NOT_HEALED: the key is "type\treason" */
    const char *tab = strchr(key, '\t');
    log_info("engine", "... and %llu more %.*s issue%s not healed: %s, in the last %.3g s",
             (unsigned long long)n, tab ? (int)(tab - key) : (int)strlen(key), key,
             n == 1 ? "" : "s", tab ? tab + 1 : "?", span_s);
}

void eng_on_issue(engine *e, const msg *m, double ttl)
{
    if (!m->has_issue || !m->issue.type || !loader_valid_name(m->issue.type))
        return;
    int idx = eng_plugin_index(e, m->plugin);
    const char *target = m->issue.target ? m->issue.target : "";
    size_t klen;
    char *key = eng_issue_key(m->issue.type, target, &klen);
    if (!key)
        return;
    eissue *is = strmap_get(e->issues, key, klen);
    double now = clock_now();
    /* A plugin that publishes endless distinct targets must not grow the agent without bound:
     * beyond agent.max_open_issues new issues are dropped and counted (repeats still merge). */
    if (!is && strmap_count(e->issues) >= (size_t)e->rt->cfg->max_open_issues) {
        free(key);
        metrics_counter_add(e->rt->metrics, "issues_dropped_total",
                            "New issues dropped because the open-issue table was full", NULL, 0, 1);
        if (e->issues_dropped++ % 1000 == 0)
            log_error("engine", "%llu new issue(s) dropped: %d issues are open already (last from "
                      "%s: %s)", (unsigned long long)e->issues_dropped, e->rt->cfg->max_open_issues,
                      m->plugin ? m->plugin : "?", m->issue.type);
        return;
    }
    if (!is) {
        is = calloc(1, sizeof *is);
        if (!is) {
            free(key);
            return;
        }
        is->id = e->rt->kb ? knowledge_next_issue_id(e->rt->kb) : ++e->next_local_id;
        is->key = key;
        is->klen = klen;
        is->type = eng_sdup(m->issue.type);
        is->target = eng_sdup(target);
        is->plugin = eng_sdup(m->plugin);
        is->first_seen = now;
        is->state = IS_OPEN;
        is->last_refusal = -1;
        if (strmap_put(e->issues, key, klen, is) < 0) {
            eng_free_issue(is);
            return;
        }
        is->prev = e->itail;
        if (e->itail) e->itail->next = is; else e->ihead = is;
        e->itail = is;
        int sev = m->issue.severity;
        metrics_issue_detected(e->rt->metrics, is->type, eng_sev_name(sev));
        if (logstorm_admit(e->storm, STORM_NEW, is->type, clock_mono()))
            log_info("engine", "issue #%llu %s (%s) on %s from %s: %s",
                     (unsigned long long)is->id, is->type, eng_sev_name(sev), target,
                     m->plugin ? m->plugin : "?", m->issue.summary ? m->issue.summary : "");
    } else {
        free(key);
    }
    /* new, or back after its heal said healed: a relapse if within relapse_window_s */
    if (!is->count || (is->state == IS_HEALED && !is->active))
        eng_loop_reopened(e, is);
    int old_sev = is->count ? is->severity : -1;
    is->count++;
    is->last_seen = now;
    is->last_seen_mono = clock_mono();
    is->closing = 0;
    is->severity = (m->issue.severity >= 0 && m->issue.severity <= 3) ? m->issue.severity : 0;
    if (old_sev >= 0 && is->severity > old_sev) {
        /* A new, worse state: whatever held this issue back (a rejection's snooze, "nothing
         * worked", a refusal already counted) is re-decided now. */
        is->retry_at_mono = 0;
        is->last_refusal = -1;
    }
    free(is->summary);
    is->summary = eng_sdup(m->issue.summary);
    eng_set_measures(is, &m->issue);
    double iv = idx >= 0 ? e->set->v[idx].interval : e->rt->cfg->interval;
    /* quiet for three detect intervals: cleared; an alert's issue lives by its stale time */
    is->ttl = ttl > 0 ? ttl : 3 * iv + 1;
    if (is->active && is->severity == HEALER_SEV_CRITICAL && is->active->severity < is->severity)
        preempt(e, is->active);
    eng_maybe_heal(e, is);
}

static void on_resolve(engine *e, const msg *m)
{
    if (!m->has_issue || !m->issue.type)
        return;
    size_t klen;
    char *key = eng_issue_key(m->issue.type, m->issue.target ? m->issue.target : "", &klen);
    if (!key)
        return;
    eissue *is = strmap_get(e->issues, key, klen);
    if (!is) {
        free(key);
        return;
    }
    if (is->active && is->active->phase == H_FLEET) {
        /* its risky step never got a fleet slot: nothing more runs for a condition that cleared */
        is->closing = 1;
        eng_finish_heal(e, is->active, "cancelled", "the issue cleared while waiting for a "
                        "fleet slot");
        free(key);
        return;
    }
    if (is->active && is->active->phase == H_WAITING) {
        /* its next step has not started: nothing more runs for a condition that cleared */
        heal *h = is->active;
        kb_action *k = &h->acts[h->n_acts - 1];
        k->outcome = "skipped";
        eng_set_act_message(k, "not run: the issue cleared first");
        is->closing = 1;
        eng_finish_heal(e, h, "cancelled", "the issue cleared during the heal");
        free(key);
        return; /* finish_heal closed it */
    }
    if (is->active && is->active->phase != H_PENDING) {
        is->closing = 1; /* the step in flight finishes; nothing after it is sent */
        free(key);
        return;
    }
    if (is->active) {
        /* The condition cleared while the plan waited for a person: it is moot. */
        eng_finish_heal(e, is->active, "cancelled", "the issue cleared before confirmation");
        if (strmap_get(e->issues, key, klen) != is) {
            free(key);
            return;
        }
    }
    free(key);
    eng_close_issue(e, is);
}

/* The heal whose step in flight a RESULT or VERDICT answers: matched on the step's attempt id,
 * never on the heal id alone, so a late answer from a step that timed out can never be taken
 * for the answer of the step after it. */
static heal *step_heal(engine *e, const msg *m, heal_phase phase)
{
    heal *h = u64map_get(e->heals, m->seq);
    if (!h || h->phase != phase || !m->attempt || h->attempt != m->attempt || h->cur >= h->n_order)
        return NULL;
    return h;
}

static void on_result(engine *e, const msg *m)
{
    int idx = eng_plugin_index(e, m->plugin);
    if (idx < 0 || !m->attempt)
        return;
    if (eng_preview_result(e, m, idx))
        return;
    if (eng_slot_take_abandoned(e, idx, m->attempt)) {
        eng_slot_answered(e, idx);
        if (e->slots[idx].inflight)
            e->slots[idx].inflight--;
        log_info("engine", "late result of step %llu (heal #%llu) from %s discarded: %s%s%s",
                 (unsigned long long)m->attempt, (unsigned long long)m->seq, m->plugin,
                 eng_outcome_name(m->code), m->text && m->text[0] ? ": " : "", m->text ? m->text : "");
        eng_slot_kick(e, idx);
        return;
    }
    heal *h = step_heal(e, m, H_EXECUTING);
    if (!h || h->step_plugin != idx)
        return; /* no step of ours: only the plugin a step was sent to can answer it */
    eng_slot_answered(e, idx);
    if (e->slots[idx].inflight)
        e->slots[idx].inflight--;
    const msg_action *a = h->order[h->cur].action;
    kb_action *k = &h->acts[h->n_acts - 1];
    int outcome = m->code;
    k->outcome = eng_outcome_name(outcome);
    k->duration = m->duration;
    eng_set_act_message(k, m->text);
    free((char *)k->after_json);
    k->after_json = m->n_measures ? msg_measures_json(m->measures, m->n_measures) : NULL;
    if (!h->dry_run && outcome != HEALER_OUTCOME_SKIPPED && outcome != HEALER_OUTCOME_DRY_RUN &&
        outcome != HEALER_OUTCOME_FAILED)
        eng_note_acted(h->is, a->plugin);
    double settle = m->wait > 0 && m->wait <= HEALER_VERIFY_MAX_S ? m->wait : 0;
    switch (outcome) {
    case HEALER_OUTCOME_HEALED:
        action_done(e, h, 1);
        break;
    case HEALER_OUTCOME_DONE:
    case HEALER_OUTCOME_DRY_RUN: {
        if (e->set->v[idx].desc.verify) {
            /* the worker verifies by itself, after the settle time the plugin asked for */
            h->phase = H_VERIFYING;
            h->asked_at = clock_mono();
            h->deadline = h->asked_at + settle + e->rt->cfg->action_timeout;
            break;
        }
        int det = eng_plugin_index(e, h->is->plugin);
        if (det >= 0 && e->set->v[det].desc.verify) {
            /* The executor's settle time goes with it: the detector re-measures only once what
             * the step started has had the time its executor said it needs (a restarted unit
             * coming up), not at once, which would judge the step by the state before it. */
            msg v = { .kind = MSG_VERIFY, .seq = h->id, .attempt = h->attempt, .has_issue = 1,
                      .issue = eng_issue_view(h->is), .actions = a, .n_actions = 1,
                      .wait = settle };
            if (eng_send_to(e, det, &v) == HEALER_OK) {
                h->phase = H_VERIFYING;
                h->step_plugin = det;
                h->asked_at = clock_mono();
                h->deadline = h->asked_at + settle + e->rt->cfg->action_timeout;
                break;
            }
        }
        /* Nobody can re-measure: a done action is taken as healed; a repeat of the issue
         * after the cooldown starts a new heal. A dry run goes on down the ladder. */
        action_done(e, h, outcome == HEALER_OUTCOME_DONE);
        break;
    }
    default:
        action_done(e, h, 0);
        break;
    }
    eng_slot_kick(e, idx);
}

static void on_verdict(engine *e, const msg *m)
{
    heal *h = step_heal(e, m, H_VERIFYING);
    if (!h || eng_plugin_index(e, m->plugin) != h->step_plugin)
        return; /* only the plugin asked to verify (the executor or the detector) answers */
    eng_slot_answered(e, h->step_plugin);
    kb_action *k = &h->acts[h->n_acts - 1];
    if (m->n_measures) {
        free((char *)k->after_json);
        k->after_json = msg_measures_json(m->measures, m->n_measures);
    }
    if (m->code == 2) {
        /* still settling: the plugin checks again in `wait` seconds */
        double w = m->wait > 0 && m->wait <= HEALER_VERIFY_MAX_S ? m->wait : 0;
        h->asked_at = clock_mono();
        h->deadline = h->asked_at + w + e->rt->cfg->action_timeout;
        return;
    }
    if (m->text && m->text[0]) {
        char buf[HEALER_MSG_MAX * 2 + 16];
        snprintf(buf, sizeof buf, "%s%s%s", k->message, k->message[0] ? "; verify: " : "verify: ", m->text);
        eng_set_act_message(k, buf);
    }
    k->duration = clock_mono() - h->act_started;
    if (!m->code && !h->dry_run)
        k->outcome = "not_healed";
    action_done(e, h, m->code != 0);
}

/* A critical issue arrived while a gentler heal of the same issue was under way: that heal is
 * abandoned (recorded as pre-empted) so the emergency is planned at once. A step still running in
 * its plugin cannot be interrupted: the plugin stays busy until it returns, and its result is
 * discarded; the change it may have made is restored when the issue clears. */
static void preempt(engine *e, heal *h)
{
    const char *why = "pre-empted by a critical issue on the same target";
    log_warn("engine", "heal #%llu for %s on %s %s", (unsigned long long)h->id, h->is->type,
             h->is->target, why);
    switch (h->phase) {
    case H_PLANNING:
        eng_drop_heal(e, h);
        return;
    case H_PENDING:
    case H_FLEET:
        eng_finish_heal(e, h, "cancelled", why);
        return;
    case H_WAITING:
    case H_EXECUTING:
    case H_VERIFYING: {
        kb_action *k = &h->acts[h->n_acts - 1];
        const msg_action *a = h->order[h->cur].action;
        if (h->phase == H_EXECUTING) {
            eng_slot_abandon(e, h->step_plugin, h->attempt); /* its result will be late: discard it */
            if (!h->dry_run)
                eng_note_acted(h->is, a->plugin);
        }
        if (h->phase != H_VERIFYING || strcmp(k->outcome, "failed") == 0)
            k->outcome = "preempted";
        char buf[HEALER_MSG_MAX + 64];
        snprintf(buf, sizeof buf, "%s%s%s", k->message, k->message[0] ? "; " : "", why);
        eng_set_act_message(k, buf);
        eng_audit_action(e, h, a, k);
        eng_finish_heal(e, h, "cancelled", why);
        return;
    }
    }
}

static void on_request(engine *e, const msg *m)
{
    int dest = eng_plugin_index(e, m->plugin);
    int from = eng_plugin_index(e, m->from);
    if (from < 0)
        return;
    if (dest < 0) {
        char text[160];
        snprintf(text, sizeof text, "no plugin \"%s\" is loaded", m->plugin ? m->plugin : "");
        msg r = { .kind = MSG_REPLY, .seq = m->seq, .plugin = m->from, .from = m->plugin,
                  .code = HEALER_E_NOTFOUND, .text = text };
        eng_send_to(e, from, &r);
        return;
    }
    if (eng_send_to(e, dest, m) < 0) {
        msg r = { .kind = MSG_REPLY, .seq = m->seq, .plugin = m->from, .from = m->plugin,
                  .code = HEALER_E_FULL, .text = "the plugin's queue is full" };
        eng_send_to(e, from, &r);
    }
}

static void on_reply(engine *e, const msg *m)
{
    int dest = eng_plugin_index(e, m->plugin);
    if (dest >= 0)
        eng_send_to(e, dest, m);
}

void eng_dispatch(engine *e, const msg *m)
{
    switch (m->kind) {
    case MSG_ISSUE: eng_on_issue(e, m, 0); break;
    case MSG_RESOLVE: on_resolve(e, m); break;
    case MSG_PLAN: eng_on_plan(e, m); break;
    case MSG_RESULT: on_result(e, m); break;
    case MSG_VERDICT: on_verdict(e, m); break;
    case MSG_HEALTH: eng_on_health(e, m); break;
    case MSG_REQUEST: on_request(e, m); break;
    case MSG_REPLY: on_reply(e, m); break;
    case MSG_ACK:
        if (m->attempt)
            eng_restore_acked(e, m);
        else if (m->seq == 0 && e->acks_waiting)
            e->acks_waiting--;
        break;
    default:
        log_warn("engine", "unexpected %s message from %s ignored", msg_kind_name(m->kind),
                 m->plugin ? m->plugin : "?");
        break;
    }
}

/* The bus counts drops and malformed messages itself; the metrics get the increments. */
static void export_bus_stats(engine *e)
{
    bus_stats bs;
    bus_get_stats(e->rt->bus, &bs);
    metrics_counter_add(e->rt->metrics, "bus_messages_dropped_total",
                        "Bus messages dropped because a queue was at its high-water mark", NULL, 0,
                        (double)(bs.dropped - e->last_bus.dropped));
    metrics_counter_add(e->rt->metrics, "bus_messages_malformed_total",
                        "Bus messages that could not be decoded and were rejected", NULL, 0,
                        (double)(bs.malformed - e->last_bus.malformed));
    e->last_bus = bs;
}

/* When eng_sweep next has something to do (monotonic): the earliest step or plan deadline,
 * confirmation expiry, restore retry and stale-issue closing. The loop sleeps until then (at
 * most its idle cap) instead of turning four times a second on an idle host; the model test
 * holds it at or before every deadline. A step's deadline the sweep moves (its plugin was busy
 * with earlier messages: eng_step_extend) is woken for at the turn after. */
double eng_next_due(engine *e)
{
    double mono = clock_mono(), now = clock_now(), due = INFINITY;
    size_t i = 0;
    void *val;
    while (u64map_next(e->heals, &i, NULL, &val)) {
        const heal *h = val;
        double t = h->phase == H_PENDING ? mono + (h->pending_expires - now) : h->deadline;
        if (t < due)
            due = t;
        /* a preview step in flight is given up on time (eng_preview_sweep), not a sweep late */
        if (h->phase == H_PENDING && h->pv && h->pv->state == PV_RUNNING && h->pv->attempt &&
            h->pv->deadline < due)
            due = h->pv->deadline;
    }
    for (const rpend *r = e->restores; r; r = r->next)
        if (r->next_try < due)
            due = r->next_try;
    double storm = logstorm_next_due(e->storm);   /* a flood's summary, on time */
    if (storm < due)
        due = storm;
    if (e->auto_detect)
        for (const eissue *is = e->ihead; is; is = is->next)
            if (!is->active && is->last_seen_mono + is->ttl < due)
                due = is->last_seen_mono + is->ttl;
    return due;
}

/* Timeouts: plans and actions that never answered, pending plans that expired, issues that were
 * not raised again for three intervals (taken as cleared). */
void eng_sweep(engine *e)
{
    double mono = clock_mono(), now = clock_now();
    logstorm_flush(e->storm, mono, 0);
    eng_preview_sweep(e);
    size_t i = 0;
    uint64_t id;
    void *val;
    uint64_t due[256];
    size_t ndue = 0;
    while (u64map_next(e->heals, &i, &id, &val) && ndue < 256) {
        heal *h = val;
        /* a step past its deadline whose plugin was busy with earlier messages gets more time */
        if ((h->phase == H_PENDING && now >= h->pending_expires) ||
            (h->phase != H_PENDING && mono >= h->deadline && !eng_step_extend(e, h, mono)))
            due[ndue++] = id;
    }
    /* Every overdue step is given up on before any heal moves on: a heal's next step must not
     * be sent to a plugin whose other step is overdue in this same sweep (it would queue behind
     * a stuck step). */
    for (size_t k = 0; k < ndue; k++) {
        heal *h = u64map_get(e->heals, due[k]);
        if (h && h->phase == H_EXECUTING)
            eng_slot_abandon(e, h->step_plugin, h->attempt); /* its result will be late: discard */
    }
    for (size_t k = 0; k < ndue; k++) {
        heal *h = u64map_get(e->heals, due[k]);
        if (!h)
            continue;
        switch (h->phase) {
        case H_PLANNING:
            if (h->named_waiting)
                log_warn("engine", "heal #%llu: %u plugin(s) did not answer the plan request in "
                         "time", (unsigned long long)h->id, h->plans_waiting);
            else /* only plugins that plan for every type: their grace is over (PLAN_ANY_GRACE) */
                log_debug("engine", "heal #%llu: decided without %u late plan(s) for any type",
                          (unsigned long long)h->id, h->plans_waiting);
            h->plans_waiting = 0;
            eng_decide(e, h);
            break;
        case H_PENDING:
            h->is->retry_at_mono = mono + e->rt->cfg->limits.cooldown_minutes * 60.0;
            eng_finish_heal(e, h, "expired", "nobody confirmed it in time");
            break;
        case H_WAITING: {
            /* the plugin is still stuck in an earlier step: this one never ran */
            eng_wq_remove(e, h);
            kb_action *last = &h->acts[h->n_acts - 1];
            char text[200];
            snprintf(text, sizeof text, "not run: plugin %s was still busy with a step that "
                     "timed out", h->order[h->cur].action->plugin);
            last->outcome = "skipped";
            eng_set_act_message(last, text);
            log_warn("engine", "heal #%llu: %s", (unsigned long long)h->id, text);
            action_done(e, h, 0);
            break;
        }
        case H_EXECUTING:
        case H_VERIFYING: {
            kb_action *last = &h->acts[h->n_acts - 1];
            const char *plugin = h->order[h->cur].action->plugin;
            char text[200];
            snprintf(text, sizeof text, "plugin %s did not %s within %.0f s", plugin,
                     h->phase == H_EXECUTING ? "answer" : "verify", e->rt->cfg->action_timeout);
            last->outcome = "timeout";
            eng_set_act_message(last, text);
            log_warn("engine", "heal #%llu: %s", (unsigned long long)h->id, text);
            if (h->phase == H_EXECUTING) {
                /* It may still act (or have acted): restore it when the issue clears; the
                 * plugin stays busy until its late result (abandoned above), so no later step
                 * inherits it. */
                if (!h->dry_run)
                    eng_note_acted(h->is, plugin);
            } else {
                msg c = { .kind = MSG_CANCEL, .seq = h->id, .attempt = h->attempt };
                (void)eng_send_to(e, h->step_plugin, &c);
            }
            action_done(e, h, 0);
            break;
        }
        case H_FLEET: /* ask the fleet limiter again (holds, pause and clearing re-checked) */
            eng_execute_next(e, h);
            break;
        }
    }
    eng_futile_prune(e);
    eng_retry_restores(e, 0);
    if (e->auto_detect) {
        eissue *is = e->ihead;
        while (is) {
            eissue *next = is->next;
            if (!is->active && mono - is->last_seen_mono > is->ttl)
                eng_close_issue(e, is);
            is = next;
        }
    }
    eng_recompute_health(e);
    export_bus_stats(e);
}

