/* engine_record.c — the engine's bookkeeping: open issues (keys, measurements, which plugins
 * acted and so get restore()), the heal record (actions as they ran, the audit line of each) and
 * its end (knowledge base, metrics, the --once summary). Engine thread only. */
#include "engine_int.h"
#include "sanitize_json.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "history.h"
#include "log.h"
#include "metrics_agent.h"
#include "notify.h"

/* ---- issues ------------------------------------------------------------------------------ */

/* The open-issue table's key: type, a NUL, target. malloc'd; *klen excludes the final NUL. */
char *eng_issue_key(const char *type, const char *target, size_t *klen)
{
    size_t tl = strlen(type), gl = strlen(target);
    char *key = malloc(tl + gl + 2);
    if (!key)
        return NULL;
    memcpy(key, type, tl + 1);
    memcpy(key + tl + 1, target, gl + 1);
    *klen = tl + 1 + gl;
    return key;
}

static void free_measures(msg_measure *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)m[i].name);
    free(m);
}

void eng_set_measures(eissue *is, const msg_issue *mi)
{
    free_measures(is->measures, is->n_measures);
    is->measures = NULL;
    is->n_measures = 0;
    if (mi->n_measures) {
        is->measures = calloc(mi->n_measures, sizeof *is->measures);
        for (size_t i = 0; is->measures && i < mi->n_measures; i++) {
            is->measures[i].name = eng_sdup(mi->measures[i].name);
            is->measures[i].value = mi->measures[i].value;
            is->n_measures++;
        }
    }
    for (size_t i = 0; i < is->n_components; i++)
        free(is->components[i]);
    free(is->components);
    is->components = NULL;
    is->n_components = 0;
    if (mi->n_components) {
        is->components = calloc(mi->n_components, sizeof *is->components);
        for (size_t i = 0; is->components && i < mi->n_components; i++)
            is->components[is->n_components++] = eng_sdup(mi->components[i]);
    }
}

void eng_free_issue(eissue *is)
{
    free(is->key);
    free(is->type);
    free(is->target);
    free(is->summary);
    free(is->plugin);
    free_measures(is->measures, is->n_measures);
    for (size_t i = 0; i < is->n_components; i++)
        free(is->components[i]);
    free(is->components);
    for (size_t i = 0; i < is->n_acted; i++)
        free(is->acted[i]);
    free(is->acted);
    free(is);
}

void eng_note_acted(eissue *is, const char *plugin)
{
    for (size_t i = 0; i < is->n_acted; i++)
        if (strcmp(is->acted[i], plugin) == 0)
            return;
    char **nv = realloc(is->acted, (is->n_acted + 1) * sizeof *nv);
    if (!nv)
        return;
    is->acted = nv;
    is->acted[is->n_acted++] = eng_sdup(plugin);
}

/* The condition is gone: forget the issue and let every plugin that changed something undo it.
 * Each RESTORE is kept until its ACK comes back (sent again otherwise), so a dropped message or
 * a busy worker never leaves a change behind. */
void eng_notify(engine *e, const heal *h, int kind, const char *outcome, const char *reason)
{
    if (!e->rt->notify)
        return;
    const eissue *is = h->is;
    const msg_action *a = h->order && h->cur < h->n_order ? h->order[h->cur].action : NULL;
    notify_event ev = {
        .kind = (notify_kind)kind, .heal_id = h->id, .issue_id = is->id,
        .issue_type = is->type, .target = is->target, .severity = eng_sev_name(is->severity),
        .plugin = a && a->plugin ? a->plugin : is->plugin, .action = a ? a->name : NULL,
        .outcome = outcome, .reason = reason, .summary = is->summary, .dry_run = h->dry_run,
    };
    notify_post(e->rt->notify, &ev);
}

void eng_close_issue(engine *e, eissue *is)
{
    if (e->rt->notify) {
        /* ends a HealerdHealFailed for (type, target): the condition is gone */
        notify_event ev = { .kind = NOTIFY_ISSUE_CLOSED, .issue_id = is->id,
                            .issue_type = is->type, .target = is->target, .plugin = is->plugin };
        notify_post(e->rt->notify, &ev);
    }
    for (size_t i = 0; i < is->n_acted; i++) {
        int idx = eng_plugin_index(e, is->acted[i]);
        if (idx >= 0 && e->set->v[idx].desc.restore)
            eng_send_restore(e, idx, is);
    }
    log_debug("engine", "issue #%llu %s on %s closed", (unsigned long long)is->id, is->type,
              is->target);
    strmap_del(e->issues, is->key, is->klen);
    if (is->prev) is->prev->next = is->next; else e->ihead = is->next;
    if (is->next) is->next->prev = is->prev; else e->itail = is->prev;
    eng_free_issue(is);
}

/* ---- heals ------------------------------------------------------------------------------- */

static void free_action(msg_action *a)
{
    free((char *)a->plugin);
    msg_action_release(a);
}

void eng_copy_action(msg_action *d, const msg_action *s, const char *plugin)
{
    memset(d, 0, sizeof *d);
    d->plugin = eng_sdup(plugin);
    d->name = eng_sdup(s->name);
    d->target = s->target ? eng_sdup(s->target) : NULL;
    d->description = eng_sdup(s->description);
    d->step = s->step;
    d->impact = s->impact;
    d->confidence = s->confidence;
    d->flags = s->flags;
    if (s->n_params) {
        msg_kv *kv = calloc(s->n_params, sizeof *kv);
        for (size_t i = 0; kv && i < s->n_params; i++) {
            kv[i].key = eng_sdup(s->params[i].key);
            kv[i].value = eng_sdup(s->params[i].value);
        }
        d->params = kv;
        d->n_params = kv ? s->n_params : 0;
    }
}

/* Attempt ids are unique for the process's life (not per engine): a late answer from a worker
 * of a previous load can never match a step of this one. */
static _Atomic uint64_t g_attempt;

uint64_t eng_next_attempt(void)
{
    return atomic_fetch_add(&g_attempt, 1) + 1;
}

void eng_free_heal(heal *h)
{
    free(h->asked);
    for (size_t i = 0; i < h->n_cands; i++)
        free_action(&h->cands[i]);
    free(h->cands);
    free(h->order);
    for (size_t i = 0; i < h->n_acts; i++) {
        kb_action *a = &h->acts[i];
        free((char *)a->plugin);
        free((char *)a->action);
        free((char *)a->target);
        free((char *)a->message);
        free((char *)a->before_json);
        free((char *)a->after_json);
    }
    free(h->acts);
    eng_decision_free(h->decision);
    eng_preview_free(h->pv);
    free(h);
}

const char *eng_outcome_name(int o)
{
    switch (o) {
    case HEALER_OUTCOME_DONE: return "done";
    case HEALER_OUTCOME_HEALED: return "healed";
    case HEALER_OUTCOME_FAILED: return "failed";
    case HEALER_OUTCOME_SKIPPED: return "skipped";
    case HEALER_OUTCOME_DRY_RUN: return "dry_run";
    case HEALER_OUTCOME_UNSET: return "error"; /* the plugin never said: a bug, never success */
    }
    return "failed";
}

static json_t *heal_summary_json(const heal *h, const char *outcome, const char *reason)
{
    json_t *acts = json_array();
    for (size_t i = 0; i < h->n_acts; i++) {
        const kb_action *a = &h->acts[i];
        json_t *ao = json_pack("{s:o, s:o, s:o, s:o, s:b}", "plugin", sanitize_json_str(a->plugin),
                               "action", sanitize_json_str(a->action), "target",
                               sanitize_json_str(a->target), "outcome",
                               sanitize_json_str(a->outcome), "success", a->success);
        if (!ao)
            continue;
        json_object_set_new(ao, "message", sanitize_json_str(a->message));
        json_array_append_new(acts, ao);
    }
    json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:s, s:s, s:b, s:o}", "id", (json_int_t)h->id,
                          "issue_id", (json_int_t)h->is->id, "issue_type",
                          sanitize_json_str(h->is->type), "target",
                          sanitize_json_str(h->is->target), "severity", eng_sev_name(h->is->severity), "outcome", outcome,
                          "dry_run", h->dry_run, "actions", acts);
    json_object_set_new(o, "reason", sanitize_json_str(reason));
    return o;
}

/* Ends a heal: records it, updates metrics and the issue, frees it. */

void eng_finish_heal(engine *e, heal *h, const char *outcome, const char *reason)
{
    eissue *is = h->is;
    double now = clock_now();
    if (h->phase == H_WAITING)
        eng_wq_remove(e, h);
    eng_fleet_release(e, h);
    if (h->phase == H_VERIFYING && h->attempt && h->step_plugin >= 0) {
        /* a verification still settling on the worker: nobody will read its verdict */
        msg c = { .kind = MSG_CANCEL, .seq = h->id, .attempt = h->attempt };
        (void)eng_send_to(e, h->step_plugin, &c);
    }
    h->attempt = 0;
    kb_heal kh = {
        .id = h->id,
        .issue_id = is->id,
        .issue_type = is->type,
        .severity = eng_sev_name(is->severity),
        .target = is->target,
        .plugin = is->plugin,
        .summary = is->summary,
        .outcome = outcome,
        .reason = reason,
        .dry_run = h->dry_run,
        .detected_at = h->detected_at,
        .started_at = h->started_at,
        .finished_at = now,
        .actions = h->acts,
        .n_actions = h->n_acts,
        /* without a knowledge base it stays with the heal and is freed with it */
        .decision_later = e->rt->kb ? eng_decision_handoff(h) : (kb_deferred){ 0 },
    };
    if (e->rt->kb && knowledge_record_heal(e->rt->kb, &kh) < 0)
        log_error("engine", "heal #%llu could not be queued for the knowledge base",
                  (unsigned long long)h->id);
    if (!h->dry_run && h->n_acts)
        metrics_duration(e->rt->metrics, is->type, now - h->started_at);
    metrics_agent_heal_finished(e->rt->metrics, outcome, 1);
    history_heal(e->rt->history, clock_mono(), outcome);
    if (e->recent) {
        json_array_insert_new(e->recent, 0, heal_summary_json(h, outcome, reason));
        while (json_array_size(e->recent) > RECENT_MAX)
            json_array_remove(e->recent, RECENT_MAX);
    }

    int kind = strcmp(outcome, "healed") == 0 || strcmp(outcome, "dry_run") == 0
                   ? NOTIFY_HEAL_EXECUTED
               : strcmp(outcome, "failed") == 0   ? NOTIFY_HEAL_FAILED
               : strcmp(outcome, "expired") == 0  ? NOTIFY_HEAL_EXPIRED
               : strcmp(outcome, "rejected") == 0 ? NOTIFY_PLAN_REJECTED
               /* other ends matter to someone only when a person was asked (its alert ends) */
               : h->pending_created > 0 ? NOTIFY_HEAL_CANCELLED : -1;
    if (kind >= 0)
        eng_notify(e, h, kind, outcome, reason);
    if (strcmp(outcome, "healed") == 0) {
        eng_loop_healed(e, h);
        is->state = IS_HEALED;
        is->reason = NULL;
    } else if (strcmp(outcome, "failed") == 0) {
        is->state = IS_FAILED;
        is->reason = NULL;
    } else if (strcmp(outcome, "dry_run") == 0) {
        is->state = IS_SUPPRESSED;
        is->reason = "dry_run";
    } else {
        is->state = IS_SUPPRESSED;
        is->reason = reason;
    }
    log_info("engine", "heal #%llu %s on %s: %s%s%s%s", (unsigned long long)h->id, is->type,
             is->target, outcome, reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
    is->active = NULL;
    u64map_del(e->heals, h->id);
    eng_free_heal(h);
    atomic_fetch_add(&e->heals_finished, 1);
    if (is->closing)
        eng_close_issue(e, is);
}

kb_action *eng_add_act(heal *h, const msg_action *a)
{
    kb_action *nv = realloc(h->acts, (h->n_acts + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    h->acts = nv;
    kb_action *k = &h->acts[h->n_acts++];
    memset(k, 0, sizeof *k);
    k->plugin = eng_sdup(a->plugin);
    k->action = eng_sdup(a->name);
    k->target = eng_sdup(a->target ? a->target : h->is->target);
    k->outcome = "failed";
    k->message = eng_sdup("");
    k->before_json = msg_measures_json(h->is->measures, h->is->n_measures);
    k->started_at = clock_now();
    return k;
}

void eng_set_act_message(kb_action *k, const char *text)
{
    free((char *)k->message);
    k->message = eng_sdup(text);
}

/* One line per action in audit.jsonl, made when the action's result (and verdict) is known and
 * written with the other lines of this loop iteration (poll_once flushes before it waits). */
void eng_audit_action(engine *e, heal *h, const msg_action *a, const kb_action *k)
{
    if (!e->rt->audit)
        return;
    /* the rules cap an action's params at HEALER_MAX_PARAMS; never more on the stack */
    audit_kv kv[HEALER_MAX_PARAMS];
    size_t n_kv = a->n_params < HEALER_MAX_PARAMS ? a->n_params : HEALER_MAX_PARAMS;
    for (size_t i = 0; i < n_kv; i++) {
        kv[i].key = a->params[i].key;
        kv[i].value = a->params[i].value;
    }
    audit_rec r = {
        .heal_id = h->id,
        .plugin = a->plugin,
        .action = a->name,
        .actuator = NULL,
        .target = k->target,
        .kv_params = 1,
        .kv = kv,
        .n_kv = n_kv,
        .result = k->outcome,
        .message = k->message,
        .before_json = k->before_json,
        .after_json = k->after_json,
        .measures_verbatim = 1, /* msg_measures_json made both */
        .dry_run = h->dry_run,
    };
    if (audit_defer(e->rt->audit, &r) < 0)
        log_error("engine", "audit line for heal #%llu not written", (unsigned long long)h->id);
}
