/* engine_views.c — what the engine shows: system health from the plugins' components, and the
 * JSON views the HTTP threads read under e->lock (issues, pending plans, health, recent heals). */
#include "engine_int.h"
#include "plughost.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "history.h"
#include "sanitize_json.h"

const char *const ENG_ISSUE_STATE[] = { "open", "healing", "pending", "healed", "failed",
                                        "suppressed", "held" };

/* ---- health ------------------------------------------------------------------------------
 * System health (0..100) comes from the components the plugins report (report_health): half the
 * worst component plus half the mean of all. The worst dominates (one full disk makes the host
 * unhealthy) without one component hiding the rest. A component not reported for three of its
 * plugin's intervals is dropped; with none, the health is 100. */

void eng_recompute_health(engine *e)
{
    double now = clock_mono(), min = 100, sum = 0;
    size_t n = 0, i = 0, klen;
    const char *key;
    void *val;
    struct { char *key; size_t len; } stale[64];
    size_t nstale = 0;
    while (strmap_next(e->health, &i, &key, &klen, &val)) {
        hcomp *c = val;
        if (now - c->at > c->stale_after) {
            if (nstale < 64 && (stale[nstale].key = malloc(klen))) {
                memcpy(stale[nstale].key, key, klen);
                stale[nstale++].len = klen;
            }
            continue;
        }
        if (c->score < min)
            min = c->score;
        sum += c->score;
        n++;
    }
    for (size_t k = 0; k < nstale; k++) {
        free(strmap_del(e->health, stale[k].key, stale[k].len));
        free(stale[k].key);
    }
    e->health_value = n ? 0.5 * min + 0.5 * (sum / (double)n) : 100.0;
    metrics_health(e->rt->metrics, e->health_value);
    eng_history_health(e, now);
}

/* The dashboard's ring (history.c) gets the score and the components now in force. Under
 * e->lock; the ring's own lock is a leaf. More than HISTORY_COMPONENTS components: the ring
 * keeps what fits and counts the rest. */
void eng_history_health(engine *e, double now)
{
    if (!e->rt->history)
        return;
    history_comp comps[HISTORY_COMPONENTS * 2];
    size_t n = 0, i = 0, klen;
    const char *key;
    void *val;
    while (n < sizeof comps / sizeof comps[0] && strmap_next(e->health, &i, &key, &klen, &val)) {
        size_t pl = strnlen(key, klen);
        comps[n++] = (history_comp){ .plugin = key, .plugin_len = pl,
                                     .component = pl < klen ? key + pl + 1 : "",
                                     .component_len = pl < klen ? klen - pl - 1 : 0,
                                     .score = ((const hcomp *)val)->score };
    }
    history_health(e->rt->history, now, e->health_value, comps, n);
}

void eng_on_health(engine *e, const msg *m)
{
    int idx = eng_plugin_index(e, m->plugin);
    if (idx < 0)
        return;
    for (size_t i = 0; i < m->n_measures; i++) {
        const char *comp = m->measures[i].name;
        if (!comp)
            continue;
        size_t pl = strlen(m->plugin), cl = strlen(comp);
        char key[512];
        if (pl + cl + 2 > sizeof key)
            continue;
        memcpy(key, m->plugin, pl + 1);
        memcpy(key + pl + 1, comp, cl);
        hcomp *c = strmap_get(e->health, key, pl + 1 + cl);
        if (!c) {
            c = calloc(1, sizeof *c);
            if (!c || strmap_put(e->health, key, pl + 1 + cl, c) < 0) {
                free(c);
                continue;
            }
        }
        double v = m->measures[i].value;
        c->score = isfinite(v) ? (v < 0 ? 0 : (v > 100 ? 100 : v)) : 0;
        c->at = clock_mono();
        /* an unchanged score comes again only every HEALER_HEALTH_REFRESH_S (plughost.h) */
        double iv = e->set->v[idx].interval;
        c->stale_after = 3 * (iv > HEALER_HEALTH_REFRESH_S ? iv : HEALER_HEALTH_REFRESH_S) + 1;
    }
    eng_recompute_health(e);
}

/* ---- views ------------------------------------------------------------------------------- */

double engine_health(engine *e)
{
    pthread_mutex_lock(&e->lock);
    double h = e->health_value;
    pthread_mutex_unlock(&e->lock);
    return h;
}

void engine_counts(engine *e, size_t *open_issues, size_t *pending)
{
    pthread_mutex_lock(&e->lock);
    size_t p = 0, i = 0;
    void *val;
    while (u64map_next(e->heals, &i, NULL, &val))
        if (((heal *)val)->phase == H_PENDING)
            p++;
    if (open_issues)
        *open_issues = strmap_count(e->issues);
    if (pending)
        *pending = p;
    pthread_mutex_unlock(&e->lock);
}

static json_t *time_or_null(double t)
{
    return t > 0 && isfinite(t) ? json_real(t) : json_null();
}

static json_t *finite_or_null(double t)
{
    return isfinite(t) ? json_real(t) : json_null();
}

json_t *engine_issues_json(engine *e)
{
    json_t *arr = json_array();
    double now = clock_now();
    pthread_mutex_lock(&e->lock);
    for (eissue *is = e->ihead; is; is = is->next) {
        json_t *comps = json_array();
        for (size_t i = 0; i < is->n_components; i++)
            json_array_append_new(comps, sanitize_json_str(is->components[i]));
        /* Types, targets and summaries quote process names and paths: sanitized, so an ESC
         * never reaches a terminal and a byte that is not UTF-8 never drops the issue. */
        json_t *o = json_pack("{s:I, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:s, s:o, s:o}",
                              "id", (json_int_t)is->id, "type", sanitize_json_str(is->type),
                              "severity", eng_sev_name(is->severity), "target",
                              sanitize_json_str(is->target), "summary",
                              sanitize_json_str(is->summary), "plugin", sanitize_json_str(is->plugin),
                              "first_seen", finite_or_null(is->first_seen), "last_seen",
                              finite_or_null(is->last_seen), "count", (json_int_t)is->count, "state",
                              ENG_ISSUE_STATE[is->state], "measurements",
                              msg_measures_object(is->measures, is->n_measures), "components", comps);
        if (!o)
            continue;
        json_object_set_new(o, "reason", sanitize_json_str(is->reason));
        json_object_set_new(o, "heal_id", is->heal_id ? json_integer((json_int_t)is->heal_id) : json_null());
        /* When the governor lets this (type, target) heal again: the windows of the mode the
         * agent runs in (dry-run keeps its own). */
        json_object_set_new(o, "cooldown_until",
                            time_or_null(governor_cooldown_until(e->rt->gov, is->type, is->target,
                                                                 e->rt->cfg->dry_run, now)));
        /* The operator's hold on it, if one is in force (state "held" once the engine met it). */
        json_t *hj = holds_match_json(governor_holds(e->rt->gov), is->type, is->target,
                                      is->severity == HEALER_SEV_CRITICAL, now);
        json_object_set_new(o, "hold", hj ? hj : json_null());
        json_object_set_new(o, "snoozed_until",
                            time_or_null(governor_snoozed_until(e->rt->gov, is->type, is->target,
                                                                is->severity, now)));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&e->lock);
    return json_pack("{s:o}", "issues", arr);
}

const eng_flag_name eng_flag_names[] = {
    { HEALER_ACTION_REVERSIBLE, "reversible" }, { HEALER_ACTION_ROOTFS, "rootfs" },
    { HEALER_ACTION_CONFIG, "config" },         { HEALER_ACTION_DELETES, "deletes" },
    { HEALER_ACTION_SYSTEM, "system" },         { HEALER_ACTION_ROLLBACK, "rollback" },
    { HEALER_ACTION_STOPS, "stops" },           { 0, NULL },
};

json_t *eng_flags_json(uint32_t f)
{
    json_t *a = json_array();
    for (const eng_flag_name *n = eng_flag_names; n->name; n++)
        if (f & n->bit)
            json_array_append_new(a, json_string(n->name));
    return a;
}

json_t *engine_pending_json(engine *e)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&e->lock);
    size_t i = 0;
    void *val;
    while (u64map_next(e->heals, &i, NULL, &val)) {
        heal *h = val;
        if (h->phase != H_PENDING)
            continue;
        /* A partial plan shows what is left, from the step that waits; what already ran is in
         * "ran" (automatic steps, with their outcomes). */
        json_t *acts = json_array();
        for (size_t k = h->cur; k < h->n_order; k++) {
            const msg_action *a = h->order[k].action;
            double x = h->order[k].expected;
            json_array_append_new(acts, json_pack("{s:o, s:o, s:o, s:o, s:i, s:f, s:o}",
                                                  "plugin", sanitize_json_str(a->plugin), "action",
                                                  sanitize_json_str(a->name), "target",
                                                  sanitize_json_str(a->target ? a->target
                                                                              : h->is->target),
                                                  "description",
                                                  sanitize_json_str(a->description ? a->description
                                                                                   : ""),
                                                  "step", (int)a->step, "expected",
                                                  isfinite(x) ? x : 0.0, "flags",
                                                  eng_flags_json(a->flags)));
        }
        /* A plan that never expires (an infinite deadline) shows expires_at null: jansson
         * refuses a non-finite number, and the plan must not vanish from the list. */
        json_t *ran = json_array();
        for (size_t k = 0; k < h->n_acts; k++)
            json_array_append_new(ran, json_pack("{s:o, s:o, s:s}", "action",
                                                 sanitize_json_str(h->acts[k].action), "plugin",
                                                 sanitize_json_str(h->acts[k].plugin), "outcome",
                                                 h->acts[k].outcome ? h->acts[k].outcome : ""));
        const msg_action *w = h->cur < h->n_order ? h->order[h->cur].action : NULL;
        json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}",
                                             "id", (json_int_t)h->id, "issue_id",
                                             (json_int_t)h->is->id, "issue_type",
                                             sanitize_json_str(h->is->type), "target",
                                             sanitize_json_str(h->is->target), "severity",
                                             eng_sev_name(h->is->severity), "summary",
                                             sanitize_json_str(h->is->summary), "created_at",
                                             finite_or_null(h->pending_created), "expires_at",
                                             finite_or_null(h->pending_expires), "reason",
                                             sanitize_json_str(h->pending_reason), "actions", acts);
        if (!o) {
            json_decref(ran);
            continue;
        }
        json_object_set_new(o, "waiting_step", json_integer((json_int_t)h->cur + 1));
        json_object_set_new(o, "waiting_action", sanitize_json_str(w ? w->name : ""));
        json_object_set_new(o, "ran", ran);
        json_object_set_new(o, "preview", eng_preview_json(h));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&e->lock);
    return json_pack("{s:o}", "pending", arr);
}

double engine_heartbeat(engine *e)
{
    return atomic_load(&e->heartbeat);
}

void engine_keep_recent(engine *e, int keep)
{
    pthread_mutex_lock(&e->lock);
    if (!keep) {
        json_decref(e->recent);
        e->recent = NULL;
    } else if (!e->recent) {
        e->recent = json_array();
    }
    pthread_mutex_unlock(&e->lock);
}

uint64_t engine_heals_finished(engine *e)
{
    return atomic_load(&e->heals_finished);
}

json_t *engine_health_json(engine *e)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&e->lock);
    size_t i = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(e->health, &i, &key, &klen, &val)) {
        const hcomp *c = val;
        size_t pl = strnlen(key, klen);
        json_t *o = json_object();
        json_object_set_new(o, "plugin", json_stringn(key, pl));
        json_object_set_new(o, "component", pl < klen ? json_stringn(key + pl + 1, klen - pl - 1)
                                                      : json_string(""));
        json_object_set_new(o, "score", json_real(c->score));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&e->lock);
    return arr;
}

json_t *engine_recent_json(engine *e)
{
    pthread_mutex_lock(&e->lock);
    json_t *c = e->recent ? json_deep_copy(e->recent) : json_array();
    pthread_mutex_unlock(&e->lock);
    return c;
}


static const char *is_target(const heal *h)
{
    return h->is->target;
}

static const char *const HEAL_PHASE[] = { "planning", "pending", "waiting", "executing",
                                          "verifying", "waiting_fleet_slot" };

json_t *engine_heal_json(engine *e, uint64_t id)
{
    pthread_mutex_lock(&e->lock);
    heal *h = u64map_get(e->heals, id);
    json_t *o = NULL;
    if (h) {
        eissue *is = h->is;
        o = json_pack("{s:I, s:I, s:o, s:s, s:o, s:o, s:o, s:s, s:b, s:o, s:o}", "id",
                      (json_int_t)h->id, "issue_id", (json_int_t)is->id, "issue_type",
                      sanitize_json_str(is->type), "severity", eng_sev_name(h->severity),
                      "target", sanitize_json_str(is->target), "plugin",
                      sanitize_json_str(is->plugin), "summary", sanitize_json_str(is->summary),
                      "state", HEAL_PHASE[h->phase], "dry_run", h->dry_run != 0, "detected_at",
                      finite_or_null(h->detected_at), "started_at", time_or_null(h->started_at));
    }
    if (o) {
        json_object_set_new(o, "outcome", json_null());
        json_object_set_new(o, "reason", sanitize_json_str(h->phase == H_PENDING
                                                               ? h->pending_reason : NULL));
        if (h->phase == H_PENDING) {
            json_object_set_new(o, "expires_at", finite_or_null(h->pending_expires));
            json_object_set_new(o, "preview", eng_preview_json(h));
        }
        json_t *acts = json_array();
        for (size_t k = 0; k < h->n_acts; k++) {
            const kb_action *a = &h->acts[k];
            json_array_append_new(acts, json_pack("{s:o, s:o, s:o, s:s, s:o, s:f}", "plugin",
                                                  sanitize_json_str(a->plugin), "action",
                                                  sanitize_json_str(a->action), "target",
                                                  sanitize_json_str(a->target), "outcome",
                                                  a->outcome ? a->outcome : "", "message",
                                                  sanitize_json_str(a->message), "started_at",
                                                  isfinite(a->started_at) ? a->started_at : 0.0));
        }
        json_object_set_new(o, "actions", acts);
        json_t *plan = json_array();
        for (size_t k = 0; k < h->n_order; k++) {
            const msg_action *a = h->order[k].action;
            json_array_append_new(plan, json_pack("{s:i, s:o, s:o, s:o, s:b}", "step",
                                                  (int)k + 1, "plugin", sanitize_json_str(a->plugin),
                                                  "action", sanitize_json_str(a->name), "target",
                                                  sanitize_json_str(a->target ? a->target
                                                                              : is_target(h)),
                                                  "ran", k < h->cur));
        }
        json_object_set_new(o, "plan", plan);
        json_object_set_new(o, "decision", eng_decision_json(h->decision));
    }
    pthread_mutex_unlock(&e->lock);
    return o;
}

json_t *engine_issue_json(engine *e, uint64_t id)
{
    /* The list is small (open issues) and this view is rare: one shape, built in one place. */
    json_t *all = engine_issues_json(e), *found = NULL, *it;
    size_t i;
    json_array_foreach(json_object_get(all, "issues"), i, it) {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) == id) {
            found = json_incref(it);
            break;
        }
    }
    json_decref(all);
    return found;
}
