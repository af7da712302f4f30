/* planner.h — turns the candidate actions that plugins propose into an ordered plan. Steps of
 * the escalation ladder are never reordered (gentlest first); within a step candidates are
 * ordered by expected success from the knowledge base (Beta posterior mean, the plugin's own
 * confidence as prior mean). With probability `exploration` the least-tried candidate of the
 * first contested step goes first, so a new action can prove itself. */
#ifndef AGENT_PLANNER_H
#define AGENT_PLANNER_H

#include <stddef.h>
#include <stdint.h>
#include "knowledge.h"
#include "message.h"

typedef struct plan_item {
    const msg_action *action;  /* borrowed */
    double expected;           /* filled by planner_order: expected success 0..1 */
    uint64_t attempts;         /* filled: attempts so far */
    int explored;              /* 1 when moved first by exploration */
} plan_item;

/* Expected success of one action: the Beta posterior mean over the local (successes of
 * attempts) and the peers' counters weighed by fleet_weight, with prior_mean of strength
 * KNOWLEDGE_PRIOR_WEIGHT: (s + W*S + 2p) / (a + W*A + 2). */
double planner_expected(uint64_t attempts, uint64_t successes, uint64_t fleet_attempts,
                        uint64_t fleet_successes, double fleet_weight, double prior_mean);

/* Orders items in place. kb may be NULL (then the plugins' priors alone). rng: xorshift64
 * state, nonzero; tests seed it. Returns 1 when exploration changed the order, else 0. */
int planner_order(plan_item *items, size_t n, const char *issue_type, knowledge *kb,
                  double exploration, uint64_t *rng);

#endif
