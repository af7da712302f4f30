/* governor.h — the one place that enforces the safety limits for every plugin: heals per
 * sliding hour, cooldown per (issue type, target), rollbacks per day, the health floor for
 * automatic healing, confirmation of risky plans, snoozes after a rejection, pause, dry-run, and
 * "confirmed, then automatic". Pure logic: time is passed in, so tests cover hours and days in
 * milliseconds; durability goes through an injected gov_store (govstore.c: knowledge.db). Every
 * function takes the governor's own mutex, so the engine and the HTTP threads may both call it. */
#ifndef AGENT_GOVERNOR_H
#define AGENT_GOVERNOR_H

#include <stdint.h>
#include "config.h"
#include "heal_loops.h"
#include "holds.h"

typedef enum gov_verdict {
    GOV_ALLOW = 0,
    GOV_PAUSED,
    GOV_RATE_LIMIT,
    GOV_COOLDOWN,
    GOV_ROLLBACK_LIMIT,
    GOV_LOW_HEALTH,
    GOV_AWAITING_CONFIRMATION,
    GOV_DRY_RUN,              /* allowed, but only as a dry run: actuators will only report */
    GOV_VERDICT_COUNT
} gov_verdict;

/* The metric label: "rate_limit", "cooldown", "low_health", "awaiting_confirmation",
 * "rollback_limit", "dry_run", "paused"; "allow" for GOV_ALLOW. */
const char *gov_verdict_label(gov_verdict v);

typedef struct gov_request {
    const char *issue_type;
    const char *target;
    int critical;              /* severity critical (same as severity == 3; either counts) */
    int severity;              /* healer_severity 0..3 */
    uint32_t flags;            /* OR of the plan's actions' HEALER_ACTION_* flags */
    int rollbacks;             /* actions flagged HEALER_ACTION_ROLLBACK */
    double health;             /* system health now, 0..100 */
    int confirmed;             /* the operator confirmed this plan */
    int dry_run;               /* decide and record on the simulated windows (see below) */
} gov_request;

typedef struct gov_budget {
    int heals_last_hour, heals_left;
    int rollbacks_today, rollbacks_left;
    int cooldowns_active;
    int paused;
} gov_budget;

typedef struct governor governor;

/* ---- Rules --------------------------------------------------------------------------------
 * Order of governor_check: paused, rate limit, cooldown, rollback limit, low health,
 * confirmation, dry-run.
 *
 * Emergencies. A request is critical when severity is HEALER_SEV_CRITICAL (or .critical is set).
 *  - Pause refuses everything, critical included: it is an operator's explicit word.
 *  - The hourly rate limit and the health floor never refuse a critical request; it still counts
 *    in the hour window. max_heals_per_hour = 0 ("none at all") is a configured "never" and
 *    refuses critical requests too.
 *  - The cooldown of (type, target) remembers the severity it was committed with. It never
 *    refuses a critical request, nor one of higher severity than that recorded one (a gentle
 *    heal that just ran must not hold back an escalation); re-committing records the new
 *    severity.
 *  - A snooze (a rejected plan, governor_snooze) never holds back a critical request.
 *  - The rollback limit and confirmation of risky plans hold for every severity.
 *
 * Dry-run. A request is a dry run when req->dry_run is set or the governor was made/reloaded in
 * dry-run mode. Dry runs are decided and recorded on separate, simulated windows (hour, day,
 * cooldowns) in memory only: they show what live would do, return GOV_DRY_RUN where live would
 * allow, and never consume a live window. Switching from dry-run to live starts with the live
 * windows as dry-run left them: untouched. Dry runs never touch the store.
 *
 * Durability. With a store attached, every live commit, pause, snooze and confirmation streak is
 * written through it synchronously before the call returns (so before the heal executes);
 * governor_restore_* put the stored state back at start. */

governor *governor_new(const agent_limits *limits, int dry_run);
void governor_free(governor *g);
void governor_set_limits(governor *g, const agent_limits *limits, int dry_run); /* reload */

/* Decides, without side effects. A plan with a risky flag (ROOTFS, CONFIG, DELETES) that is not
 * AUTO_OK and not confirmed gets GOV_AWAITING_CONFIRMATION (in dry-run: GOV_DRY_RUN). */
gov_verdict governor_check(governor *g, const gov_request *req, double now);
/* Records that a heal started (a dry run on the simulated windows). A live commit is written to
 * the store before this returns: 0, or -1 when the store failed (logged by the store; the heal
 * may still go ahead: the limits in memory hold for this run). */
int governor_commit(governor *g, const gov_request *req, double now);

void governor_pause(governor *g, int paused);   /* stored */
int governor_paused(governor *g);
/* What is left of the limits at now (the simulated windows when the governor is in dry-run). */
void governor_budget(governor *g, double now, gov_budget *out);

/* When the cooldown of (type, target) ends (epoch seconds), or 0 when none is running. dry_run:
 * of the simulated windows. */
double governor_cooldown_until(governor *g, const char *type, const char *target, int dry_run,
                               double now);

/* ---- Snoozes: after an operator rejected a plan, (type, target) is not planned again until
 * `until` (stored). Critical requests are never held back. */
void governor_snooze(governor *g, const char *type, const char *target, double until);
/* The end of the snooze that holds back a request of this severity, or 0. */
double governor_snoozed_until(governor *g, const char *type, const char *target, int severity,
                              double now);

/* Lists active cooldowns (dry_run: the simulated ones) or snoozes, newest commit first for
 * cooldowns; fn returning nonzero stops. Runs under the governor's mutex: fn must not call the
 * governor. */
typedef struct gov_entry {
    const char *issue_type, *target;
    double until;
    int severity;              /* cooldowns: the severity committed with; snoozes: -1 */
} gov_entry;
typedef int (*gov_entry_fn)(void *ud, const gov_entry *e);
void governor_each_cooldown(governor *g, int dry_run, double now, gov_entry_fn fn, void *ud);
void governor_each_snooze(governor *g, double now, gov_entry_fn fn, void *ud);

/* ---- Human-authorized, then automatic (limits.auto_after_confirmations = N > 0): a risky
 * action of an issue type becomes automatic once it succeeded N times in a row after the
 * operator confirmed it (successes of its automatic runs extend the streak); one failure,
 * confirmed or automatic, resets the streak to 0. Dry runs are never recorded. Stored. */
void governor_record_confirmed(governor *g, const char *type, const char *action, int success);
int governor_confirmed_successes(governor *g, const char *type, const char *action);
int governor_auto_approved(governor *g, const char *type, const char *action);

/* ---- Persistence ---------------------------------------------------------------------------
 * The store's callbacks run on the caller's thread under the governor's mutex (they must not
 * call the governor) and return 0 once the change is durable, -1 otherwise. */
typedef struct gov_commit {
    const char *issue_type, *target;
    int severity;
    int rollbacks;
    double t;                  /* when the heal started */
    double cooldown_until;     /* t + cooldown at the time of the commit */
} gov_commit;

typedef struct gov_store {
    void *ctx;
    int (*commit)(void *ctx, const gov_commit *c);
    int (*pause)(void *ctx, int paused);
    int (*snooze)(void *ctx, const char *type, const char *target, double until);
    int (*streak)(void *ctx, const char *type, const char *action, int successes);
    int (*hold_put)(void *ctx, const hold *h);          /* the holds' store (holds.h) */
    int (*hold_del)(void *ctx, const char *target, const char *type);
    int (*loop_put)(void *ctx, const loop_heal *l);    /* healed heals (heal_loops.h) */
    int (*loop_prune)(void *ctx, double before);
} gov_store;

/* The healed-heal history behind loop escalation and relapse (heal_loops.h), kept for the
 * longer of limits.loop_window_minutes and limits.relapse_window_s. */
loop_table *governor_loops(governor *g);

/* The operator's holds (holds.h), owned by the governor so they share its store and life. */
hold_table *governor_holds(governor *g);

/* Copies *store (NULL detaches). Attach after restoring, so the restore is not written back. */
void governor_set_store(governor *g, const gov_store *store);

/* Put stored state back (not written to the store). Expired entries are ignored. */
void governor_restore_heal(governor *g, double t, int rollbacks, double now);
void governor_restore_cooldown(governor *g, const char *type, const char *target, double t,
                               int severity, double now);
void governor_restore_snooze(governor *g, const char *type, const char *target, double until,
                             double now);
void governor_restore_streak(governor *g, const char *type, const char *action, int successes);
void governor_restore_paused(governor *g, int paused);

#endif
