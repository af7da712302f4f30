/* engine_plan.c — from an issue to a plan: the governor's pre-check, PLAN_REQs to the plugins
 * that claim the type, their answers (with the operator's flag policy), the planner's order,
 * futile steps skipped, and the verdict: run, run the automatic steps and wait for a person at
 * the first that needs one (partial plans), park, or refuse. Engine thread only. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "notify.h"
#include "log.h"
#include "planner.h"

/* A step needs a person when it is risky, the plugin's config did not make its class automatic,
 * it has not earned automatic runs (limits.auto_after_confirmations), and nobody confirmed this
 * heal. A dry run changes nothing, so it never waits. */
int eng_step_needs_confirmation(engine *e, const heal *h, const msg_action *a)
{
    if (h->confirmed || h->dry_run || !(a->flags & HEALER_ACTION_RISKY) ||
        (a->flags & HEALER_ACTION_AUTO_OK))
        return 0;
    return !governor_auto_approved(e->rt->gov, h->is->type, a->name);
}

/* 1 when the line saying an issue of this type is not healed for this reason may be logged;
 * 0 in a flood of them (counted, summarised by eng_storm_say). */
int eng_storm_not_healed(engine *e, const char *type, const char *reason)
{
    char key[160];
    snprintf(key, sizeof key, "%.100s\t%.50s", type, reason);
    return logstorm_admit(e->storm, STORM_NOT_HEALED, key, clock_mono());
}

/* Counts a refusal once per issue and reason, however often the issue repeats. */
static void refuse(engine *e, eissue *is, gov_verdict v)
{
    is->state = IS_SUPPRESSED;
    is->reason = gov_verdict_label(v);
    if (is->last_refusal == (int)v)
        return;
    is->last_refusal = (int)v;
    metrics_suppressed(e->rt->metrics, is->type, gov_verdict_label(v));
    if (eng_storm_not_healed(e, is->type, gov_verdict_label(v)))
        log_info("engine", "issue #%llu %s on %s: not healed: %s", (unsigned long long)is->id,
                 is->type, is->target, gov_verdict_label(v));
}

/* Before a plan exists: 1 when every plugin that would plan for the type is in dry-run, so the
 * pre-check reads the simulated windows (a live heal's cooldown does not hold a dry-run one). */
static int claimants_dry(engine *e, const char *type)
{
    int any = 0;
    for (size_t i = 0; e->set && i < e->set->n; i++) {
        if (!e->live[i] || !eng_claims(&e->set->v[i], type))
            continue;
        if (!e->set->v[i].mode_dry_run)
            return 0;
        any = 1;
    }
    return any;
}

gov_request eng_gov_req(engine *e, const eissue *is, const heal *h, int confirmed)
{
    return (gov_request){
        .issue_type = is->type,
        .target = is->target,
        .critical = is->severity == HEALER_SEV_CRITICAL,
        .severity = is->severity,
        .flags = h ? h->flags : 0,
        .rollbacks = h ? h->rollbacks : 0,
        .health = e->health_value,
        .confirmed = confirmed,
        .dry_run = e->rt->cfg->dry_run || (h ? h->dry_run : claimants_dry(e, is->type)),
    };
}

/* A heal is a dry run when the agent is, or when every plugin that proposed an action is in
 * dry-run (plugins.<name>.mode): then it is decided on the governor's simulated windows and
 * never waits for confirmation. A mixed plan is live; the dry-run plugins' steps only report
 * (their actuator calls carry the plugin's mode). */
static int plan_is_dry(engine *e, const heal *h)
{
    if (e->rt->cfg->dry_run)
        return 1;
    if (h->n_cands == 0)
        return 0;
    for (size_t i = 0; i < h->n_cands; i++) {
        int idx = eng_plugin_index(e, h->cands[i].plugin);
        if (idx < 0 || !e->set->v[idx].mode_dry_run)
            return 0;
    }
    return 1;
}

void eng_start_execution(engine *e, heal *h, gov_verdict v)
{
    if (e->stopping) { /* e.g. a confirmation that came in while the restores are awaited */
        eng_finish_heal(e, h, "cancelled", "the agent is stopping");
        return;
    }
    gov_request req = eng_gov_req(e, h->is, h, 1);
    double now = clock_now();
    /* A live commit is made durable (fsync) before the heal runs, so a crash loop cannot reset
     * the limits. A critical heal is not held by any limit but pause, so its step goes out
     * first and its commit follows: an emergency never waits for a disk flush. */
    char *type = NULL, *target = NULL;
    if (req.severity == HEALER_SEV_CRITICAL) {
        type = eng_sdup(req.issue_type);
        target = eng_sdup(req.target);
        req.issue_type = type;
        req.target = target;
    } else {
        governor_commit(e->rt->gov, &req, now);
    }
    h->dry_run = (v == GOV_DRY_RUN) || e->rt->cfg->dry_run || h->dry_run;
    if (h->dry_run)
        metrics_suppressed(e->rt->metrics, h->is->type, "dry_run");
    h->is->last_refusal = -1;
    h->is->state = IS_HEALING;
    h->is->reason = NULL;
    h->started_at = clock_now();
    h->cur = 0;
    h->committed = 1;
    eng_execute_next(e, h); /* h may be gone after this */
    if (type && target)
        governor_commit(e->rt->gov, &req, now);
    free(type);
    free(target);
}

static const char *risk_reason(uint32_t flags)
{
    if (flags & HEALER_ACTION_DELETES) return "deletes files";
    if (flags & HEALER_ACTION_CONFIG) return "changes the configuration";
    if (flags & HEALER_ACTION_ROOTFS) return "changes the root filesystem";
    if (flags & HEALER_ACTION_STOPS) return "stops or kills processes";
    return "risky";
}

/* The heal reached a step that needs a person (h->cur): it waits in the pending queue for that
 * step. Confirmed, it goes on from there (engine_loop.c); rejected or expired, it stops. */
void eng_park(engine *e, heal *h)
{
    eissue *is = h->is;
    const msg_action *a = h->order[h->cur].action;
    h->phase = H_PENDING;
    h->attempt = 0;
    h->pending_created = clock_now();
    h->pending_expires = h->pending_created + e->rt->cfg->limits.confirm_timeout_minutes * 60.0;
    h->pending_reason = risk_reason(a->flags);
    is->state = IS_PENDING;
    is->reason = "awaiting_confirmation";
    metrics_suppressed(e->rt->metrics, is->type, "awaiting_confirmation");
    log_info("engine", "heal #%llu for %s on %s: step %zu (%s) awaits confirmation (%s): healctl "
             "confirm %llu", (unsigned long long)h->id, is->type, is->target, h->cur + 1, a->name,
             h->pending_reason, (unsigned long long)h->id);
    eng_notify(e, h, NOTIFY_CONFIRMATION_WAITING, NULL, h->loop_reason[0] ? h->loop_reason
                                                                         : h->pending_reason);
    /* a dry run never parks; what a person is asked to allow is shown first, changing nothing */
    eng_preview_start(e, h);
}

/* Drops a heal that never ran a step (no plan, refused, cleared while planning). */
void eng_drop_heal(engine *e, heal *h)
{
    eissue *is = h->is;
    is->active = NULL;
    u64map_del(e->heals, h->id);
    eng_free_heal(h);
    if (is->closing)
        eng_close_issue(e, is);
}

/* Takes out of the order every action that ran for this state within FUTILE_TTL and changed
 * nothing: it is recorded as skipped (with why) and the ladder starts past it. */
static void skip_futile(engine *e, heal *h)
{
    /* An emergency is never held back by what learning says about a gentler time: at critical
     * the plugin plans what works fast (a kill picks a new victim each time), and blocking it
     * would leave the host to the kernel's OOM killer. */
    if (h->severity == HEALER_SEV_CRITICAL)
        return;
    size_t keep = 0;
    for (size_t i = 0; i < h->n_order; i++) {
        const msg_action *a = h->order[i].action;
        double age = h->dry_run ? -1 : eng_futile_age(e, h->is, a->name, h->severity);
        if (age < 0) {
            h->order[keep++] = h->order[i];
            continue;
        }
        kb_action *k = eng_add_act(h, a);
        if (k) {
            char why[200];
            snprintf(why, sizeof why, "skipped: ran %.0f s ago on this target at this severity "
                     "and changed nothing; escalating", age);
            k->outcome = "skipped";
            eng_set_act_message(k, why);
        }
    }
    h->n_order = keep;
}

/* The governor's verdict on the plan in words, for the heal's record (healctl explain). */
static void explain_verdict(engine *e, heal *h, gov_verdict v, size_t first)
{
    char why[300];
    const msg_action *w = first < h->n_order ? h->order[first].action : NULL;
    switch (v) {
    case GOV_ALLOW:
        if (w)
            snprintf(why, sizeof why, "within the limits; %zu automatic step(s) run now, step %zu "
                     "(%s) %s: it waits for a person", first, first + 1, w->name,
                     risk_reason(w->flags));
        else if (h->confirmed == 2)
            snprintf(why, sizeof why, "within the limits; its risky actions run without asking: "
                     "they succeeded %d times in a row after confirmation",
                     e->rt->cfg->limits.auto_after_confirmations);
        else
            snprintf(why, sizeof why, "within the limits: no step needs a person");
        break;
    case GOV_DRY_RUN:
        snprintf(why, sizeof why, "dry-run: every step only reports what it would do");
        break;
    case GOV_AWAITING_CONFIRMATION:
        snprintf(why, sizeof why, "step 1 (%s) %s: it waits for a person",
                 h->n_order ? h->order[0].action->name : "?",
                 risk_reason(h->n_order ? h->order[0].action->flags : 0));
        break;
    case GOV_COOLDOWN:
        snprintf(why, sizeof why, "a heal of %s on %s ran within the last %g min (cooldown)",
                 h->is->type, h->is->target, e->rt->cfg->limits.cooldown_minutes);
        break;
    case GOV_RATE_LIMIT:
        snprintf(why, sizeof why, "limits.max_heals_per_hour (%d) heals ran in the last hour",
                 e->rt->cfg->limits.max_heals_per_hour);
        break;
    case GOV_LOW_HEALTH:
        snprintf(why, sizeof why, "system health %.0f is below limits.min_health_for_auto (%d)",
                 e->health_value, e->rt->cfg->limits.min_health_for_auto);
        break;
    case GOV_ROLLBACK_LIMIT:
        snprintf(why, sizeof why, "limits.max_rollbacks_per_day (%d) rollbacks today",
                 e->rt->cfg->limits.max_rollbacks_per_day);
        break;
    case GOV_PAUSED:
        snprintf(why, sizeof why, "healing is paused (healctl resume)");
        break;
    default:
        snprintf(why, sizeof why, "%s", gov_verdict_label(v));
    }
    eng_explain_verdict(e, h, gov_verdict_label(v), why);
}

/* 1 when every plugin asked for this heal's plan claims its type only through "*". */
static int eng_only_wildcards(engine *e, const heal *h)
{
    for (size_t i = 0; i < e->n; i++) {
        if (!h->asked || !h->asked[i])
            continue;
        for (const char *const *t = e->set->v[i].desc.issue_types; t && *t; t++)
            if (strcmp(*t, h->is->type) == 0)
                return 0;
    }
    return 1;
}

void eng_decide(engine *e, heal *h)
{
    eissue *is = h->is;
    if (is->closing) {
        log_debug("engine", "heal #%llu: the issue cleared while plans were made",
                  (unsigned long long)h->id);
        eng_drop_heal(e, h);
        return;
    }
    if (h->n_cands == 0) {
        /* Nothing was tried, so nothing is recorded as a heal; ask again after the cooldown (at
         * least 30 s) — a plugin may keep an issue open on purpose until it can restore. */
        double wait = e->rt->cfg->limits.cooldown_minutes * 60.0;
        is->retry_at_mono = clock_mono() + (wait > 30 ? wait : 30);
        is->state = IS_OPEN;
        /* Asked only because it claims "*" (plans.d had no plan for it): as before such a
         * claimant existed, nobody plans for this type. */
        is->reason = eng_only_wildcards(e, h) ? "no_planner" : "no_action";
        log_debug("engine", "issue #%llu %s on %s: no plugin proposed an action",
                  (unsigned long long)is->id, is->type, is->target);
        eng_drop_heal(e, h);
        return;
    }
    h->order = calloc(h->n_cands, sizeof *h->order);
    if (!h->order) {
        eng_finish_heal(e, h, "failed", "out of memory");
        return;
    }
    for (size_t i = 0; i < h->n_cands; i++)
        h->order[i].action = &h->cands[i];
    h->n_order = h->n_cands;
    int explored = planner_order(h->order, h->n_order, is->type, e->rt->kb,
                                 e->rt->cfg->exploration, &e->rng);
    eng_explain_candidates(e, h, explored);
    metrics_confidence(e->rt->metrics, is->type, h->order[0].expected);
    h->dry_run = plan_is_dry(e, h);
    skip_futile(e, h);
    if (h->n_order == 0) {
        /* Everything proposed was just tried and changed nothing: nothing runs, nothing is
         * recorded as a heal, and a person must look (logged once per issue). The plugins are
         * asked again when the issue repeats: a worse state may bring a harsher step. */
        if (!is->exhausted)
            log_info("engine", "issue #%llu %s on %s: every action proposed for this state ran "
                     "within the last %.0f min and changed nothing: needs a person",
                     (unsigned long long)is->id, is->type, is->target, FUTILE_TTL / 60);
        is->exhausted = 1;
        is->state = IS_FAILED;
        is->reason = "exhausted";
        eng_drop_heal(e, h);
        return;
    }
    is->exhausted = 0;
    h->flags = 0;
    h->rollbacks = 0;
    /* Partial plans: the steps before the first one that needs a person run now; the heal waits
     * for confirmation when it reaches that step (eng_execute_next parks it), so an automatic
     * step is never held back by a riskier one later on the ladder. The governor judges what
     * runs now; when the very first step needs a person it judges the whole plan, as before. */
    size_t first = h->n_order;
    for (size_t i = 0; i < h->n_order && first == h->n_order; i++)
        if (eng_step_needs_confirmation(e, h, h->order[i].action))
            first = i;
    size_t upto = first == 0 ? h->n_order : first;
    /* AUTO_OK on one action must not wave through another's risk: keep it only when every risky
     * action that runs now carries it or has earned it. */
    int all_auto = 1, any_risky = 0, earned = 0;
    for (size_t i = 0; i < h->n_order; i++) {
        const msg_action *a = h->order[i].action;
        if (a->flags & HEALER_ACTION_ROLLBACK)
            h->rollbacks++; /* the whole plan: the limit is checked once, when the heal starts */
        if (i >= upto)
            continue;
        h->flags |= a->flags;
        if ((a->flags & HEALER_ACTION_RISKY) && !(a->flags & HEALER_ACTION_AUTO_OK)) {
            any_risky = 1;
            if (i < first && !h->dry_run)
                earned = 1;
            else
                all_auto = 0;
        } else if (a->flags & HEALER_ACTION_RISKY) {
            any_risky = 1;
        }
    }
    h->flags &= ~(uint32_t)HEALER_ACTION_AUTO_OK;
    if (any_risky && all_auto)
        h->flags |= HEALER_ACTION_AUTO_OK;
    if (earned && all_auto && first == h->n_order) {
        h->confirmed = 2;
        log_info("engine", "heal #%llu for %s on %s runs without confirmation: its risky actions "
                 "succeeded %d times in a row after confirmation", (unsigned long long)h->id,
                 is->type, is->target, e->rt->cfg->limits.auto_after_confirmations);
    } else if (first > 0 && first < h->n_order) {
        log_info("engine", "heal #%llu for %s on %s: %zu automatic step(s) run now; %s waits for "
                 "confirmation", (unsigned long long)h->id, is->type, is->target, first,
                 h->order[first].action->name);
    }

    gov_request req = eng_gov_req(e, is, h, 0);
    gov_verdict v = governor_check(e->rt->gov, &req, clock_now());
    explain_verdict(e, h, v, first);
    if ((v == GOV_ALLOW || v == GOV_AWAITING_CONFIRMATION) && eng_loop_check(e, h)) {
        /* the same fix keeps "working" and the issue keeps coming back: a person decides */
        h->cur = 0;
        h->committed = 0;
        eng_park(e, h);
        h->pending_reason = h->loop_reason;
        is->reason = "loop";
        eng_explain_verdict(e, h, "loop", h->loop_reason);
        log_info("engine", "heal #%llu for %s on %s waits for a person: %s",
                 (unsigned long long)h->id, is->type, is->target, h->loop_reason);
        return;
    }
    switch (v) {
    case GOV_ALLOW:
    case GOV_DRY_RUN:
        eng_start_execution(e, h, v);
        return;
    case GOV_AWAITING_CONFIRMATION:
        h->cur = 0;
        eng_park(e, h);
        return;
    default:
        refuse(e, is, v);
        if (h->n_acts) {
            /* futile steps were recorded: keep the record honest, as a refused heal */
            eng_finish_heal(e, h, "suppressed", gov_verdict_label(v));
            return;
        }
        eng_drop_heal(e, h);
        return;
    }
}

/* An operator's hold (healctl hold) is explicit intent: the issue stays visible as "held" and
 * nothing is planned or run for it. A critical issue gets through unless the hold was given
 * with even_critical: a safety mechanism must not block an emergency by default. */
int eng_held(engine *e, eissue *is)
{
    if (!holds_match(governor_holds(e->rt->gov), is->type, is->target,
                     is->severity == HEALER_SEV_CRITICAL, clock_now()))
        return 0;
    is->state = IS_HELD;
    is->reason = "hold";
    if (is->last_refusal != ENG_REFUSAL_HOLD) {
        is->last_refusal = ENG_REFUSAL_HOLD;
        metrics_suppressed(e->rt->metrics, is->type, "hold");
        if (eng_storm_not_healed(e, is->type, "held by the operator"))
            log_info("engine", "issue #%llu %s on %s: not healed: held by the operator",
                     (unsigned long long)is->id, is->type, is->target);
    }
    return 1;
}

/* Only "*" answers are still awaited, and a plugin that names the type asked too (and answered):
 * the heal is decided within PLAN_ANY_GRACE, with or without them (eng_sweep at the deadline). */
static void eng_plan_grace(heal *h)
{
    if (h->phase != H_PLANNING || !h->named_asked || h->named_waiting || h->plans_waiting == 0)
        return;
    double grace = clock_mono() + PLAN_ANY_GRACE;
    if (grace < h->deadline)
        h->deadline = grace;
}

void eng_maybe_heal(engine *e, eissue *is)
{
    if (e->stopping || is->active || clock_mono() < is->retry_at_mono)
        return;
    if (eng_held(e, is))
        return;
    if (is->last_refusal == ENG_REFUSAL_HOLD) {
        is->last_refusal = -1; /* released or expired: heal as usual */
        is->state = IS_OPEN;
        is->reason = NULL;
    }
    /* An operator rejected the last plan: not again before the snooze ends (not for critical). */
    if (governor_snoozed_until(e->rt->gov, is->type, is->target, is->severity, clock_now()) > 0)
        return;
    int planners = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->live[i] && eng_claims(&e->set->v[i], is->type))
            planners++;
    if (!planners) {
        if (is->state != IS_OPEN || is->reason == NULL) {
            is->state = IS_OPEN;
            is->reason = "no_planner";
            if (eng_storm_not_healed(e, is->type, "no loaded plugin plans for it"))
                log_info("engine", "issue %s on %s: no loaded plugin plans for it", is->type,
                         is->target);
        }
        return;
    }
    /* A cheap check before asking for plans: most refusals don't depend on the plan. */
    gov_request req = eng_gov_req(e, is, NULL, 0);
    gov_verdict v = governor_check(e->rt->gov, &req, clock_now());
    if (v != GOV_ALLOW && v != GOV_DRY_RUN && v != GOV_AWAITING_CONFIRMATION) {
        refuse(e, is, v);
        return;
    }
    heal *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->asked = calloc(e->n ? e->n : 1, 1);
    if (!h->asked) {
        free(h);
        return;
    }
    h->id = e->rt->kb ? knowledge_next_heal_id(e->rt->kb) : ++e->next_local_id;
    h->is = is;
    h->phase = H_PLANNING;
    h->severity = is->severity;
    h->step_plugin = -1;
    h->detected_at = is->first_seen;
    h->started_at = clock_now();
    if (u64map_put(e->heals, h->id, h) < 0) {
        free(h->asked);
        free(h);
        return;
    }
    is->active = h;
    is->heal_id = h->id;
    is->state = IS_HEALING;
    is->reason = NULL;
    msg m = { .kind = MSG_PLAN_REQ, .seq = h->id, .has_issue = 1, .issue = eng_issue_view(is) };
    for (size_t i = 0; i < e->n; i++) {
        int kind = e->live[i] ? eng_claim_kind(&e->set->v[i], is->type) : 0;
        if (kind && eng_send_to(e, (int)i, &m) == HEALER_OK) {
            h->plans_waiting++;
            if (kind == 2) {
                h->named_waiting++;
                h->named_asked = 1;
            }
            if (h->asked)
                h->asked[i] = 1;
        }
    }
    double pt = e->rt->cfg->action_timeout < PLAN_TIMEOUT_MAX ? e->rt->cfg->action_timeout : PLAN_TIMEOUT_MAX;
    h->deadline = clock_mono() + pt;
    eng_plan_grace(h);
    if (h->plans_waiting == 0)
        eng_decide(e, h);
}


void eng_on_plan(engine *e, const msg *m)
{
    heal *h = u64map_get(e->heals, m->seq);
    if (!h || h->phase != H_PLANNING || !m->plugin)
        return;
    /* Only a plugin that was asked, and only once: another plugin's answer, or a second one,
     * must not count against the plans awaited (the heal would be decided too early). */
    int idx = eng_plugin_index(e, m->plugin);
    if (idx < 0 || !h->asked || h->asked[idx] != 1)
        return;
    h->asked[idx] = 2;
    for (size_t i = 0; i < m->n_actions && h->n_cands < 64; i++) {
        if (!m->actions[i].name || !loader_valid_name(m->actions[i].name))
            continue;
        if (h->n_cands == h->cap_cands) {
            size_t cap = h->cap_cands ? h->cap_cands * 2 : 4;
            msg_action *nv = realloc(h->cands, cap * sizeof *nv);
            if (!nv)
                break;
            h->cands = nv;
            h->cap_cands = cap;
        }
        /* The operator decides which of the plugin's flags count (plugins.<name>.allow_auto):
         * an AUTO_OK it may not give is dropped here, before decide() reads it. SYSTEM is
         * judged where it matters, by the actuators (make_act_ctx). */
        msg_action a = m->actions[i];
        const healer_rules_policy *pol = &e->set->v[idx].policy;
        uint32_t keep = healer_rules_effective_flags(a.flags, pol) | HEALER_ACTION_SYSTEM;
        if ((a.flags & HEALER_ACTION_AUTO_OK) && !(keep & HEALER_ACTION_AUTO_OK))
            log_info("engine", "heal #%llu: %s's action %s asks to run without confirmation; "
                     "ignored: plugins.%s.allow_auto is not set (healerd.conf)",
                     (unsigned long long)h->id, m->plugin, a.name, m->plugin);
        a.flags &= keep;
        eng_copy_action(&h->cands[h->n_cands++], &a, m->plugin);
    }
    if (h->plans_waiting)
        h->plans_waiting--;
    if (h->named_waiting && eng_claim_kind(&e->set->v[idx], h->is->type) == 2)
        h->named_waiting--;
    if (h->plans_waiting == 0)
        eng_decide(e, h);
    else
        eng_plan_grace(h);
}

