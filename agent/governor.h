/* governor.h — the one place that enforces the safety limits for every plugin: heals per
 * sliding hour, cooldown per (issue type, target), rollbacks per day, the health floor for
 * automatic healing, confirmation of risky plans, pause and dry-run. Pure logic: time is passed
 * in, so tests cover hours and days in milliseconds. Every function takes the governor's own
 * mutex, so the engine and the HTTP threads may both call it. */
#ifndef AGENT_GOVERNOR_H
#define AGENT_GOVERNOR_H

#include <stdint.h>
#include "config.h"

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
    int critical;              /* severity critical: allowed below the health floor */
    uint32_t flags;            /* OR of the plan's actions' HEALER_ACTION_* flags */
    int rollbacks;             /* actions flagged HEALER_ACTION_ROLLBACK */
    double health;             /* system health now, 0..100 */
    int confirmed;             /* the operator confirmed this plan */
} gov_request;

typedef struct gov_budget {
    int heals_last_hour, heals_left;
    int rollbacks_today, rollbacks_left;
    int cooldowns_active;
    int paused;
} gov_budget;

typedef struct governor governor;

governor *governor_new(const agent_limits *limits, int dry_run);
void governor_free(governor *g);
void governor_set_limits(governor *g, const agent_limits *limits, int dry_run); /* reload */

/* Decides, without side effects. Order: paused, rate limit, cooldown, rollback limit, low
 * health, confirmation, dry-run. A plan with a risky flag (ROOTFS, CONFIG, DELETES) that is not
 * AUTO_OK and not confirmed gets GOV_AWAITING_CONFIRMATION (in dry-run: GOV_DRY_RUN). */
gov_verdict governor_check(governor *g, const gov_request *req, double now);
/* Records that a heal started (also in dry-run, so a dry run shows what live would do). */
void governor_commit(governor *g, const gov_request *req, double now);

void governor_pause(governor *g, int paused);
int governor_paused(governor *g);
/* What is left of the limits at now. Thread-safe. */
void governor_budget(governor *g, double now, gov_budget *out);

#endif
