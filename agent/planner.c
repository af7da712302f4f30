/* planner.c — orders the candidate actions of a plan: escalation steps never reordered,
 * within a step by expected success (knowledge base posterior, plugin prior), with a little
 * exploration so a new or rarely tried action can prove itself. */
#include "planner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * The ordering rule (documented for operators in docs/):
 *
 *  1. Step ascends: every action of step k comes before every action of step k+1, always.
 *     Exploration never moves an action across steps.
 *  2. Within a step, expected success descends. expected = (s + w*p) / (n + w), the mean of
 *     a Beta posterior: n attempts and s successes of this action for this issue type in the
 *     knowledge base, p the plugin's own confidence (clamped to 0..1) as prior mean, w =
 *     KNOWLEDGE_PRIOR_WEIGHT. With no history (or no knowledge base) expected = p.
 *     With shared knowledge (fleet.peers, docs/fleet.md) the peers' counters join in, each
 *     peer attempt worth W = fleet.peers.knowledge_weight of a local one: expected =
 *     (s + W*S + w*p) / (n + W*A + w), S and A summed over the peers. A host with no history
 *     of its own so starts from what its peers learned; its own attempts outweigh theirs as
 *     they come (W < 1). Exploration still counts local attempts only: trying an action here
 *     is what tells whether it works here.
 *  3. Ties: lower impact first, then plugin name, then action name, then target (all
 *     byte-wise), so the same inputs always give the same plan.
 *
 * Exploration: each call with exploration > 0 draws exactly one number u in [0,1) from the
 * caller's xorshift64 state. If u < exploration and some step has two or more candidates, the
 * first such step (the gentlest contested one) is explored: among its candidates other than
 * the one rule 2 put first, the one with the fewest attempts moves to the front of the step
 * and is marked explored. Equal attempts go to the one rule 2 ranked higher (the best bet
 * among the equally unknown). The current favourite is excluded because moving it "first"
 * would change nothing; so exploration, when drawn, always changes the order, and a plan is
 * explored with probability `exploration` whenever it has a contested step.
 */

static const char *nz(const char *s) { return s ? s : ""; }

static double clamp01(double x)
{
    if (isnan(x))
        return 0;
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Impact as a sort key: NaN sorts as the most disruptive. */
static double impact_key(const msg_action *a)
{
    return isnan(a->impact) ? INFINITY : a->impact;
}

/* Total order; items without an action go last. */
static int cmp_items(const void *pa, const void *pb)
{
    const plan_item *x = pa, *y = pb;
    const msg_action *a = x->action, *b = y->action;
    if (!a || !b)
        return (a == NULL) - (b == NULL);
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    if (x->expected != y->expected)
        return x->expected > y->expected ? -1 : 1;
    double ia = impact_key(a), ib = impact_key(b);
    if (ia != ib)
        return ia < ib ? -1 : 1;
    int c = strcmp(nz(a->plugin), nz(b->plugin));
    if (!c)
        c = strcmp(nz(a->name), nz(b->name));
    if (!c)
        c = strcmp(nz(a->target), nz(b->target));
    if (!c && a != b)  /* identical in every key: input position of the action decides */
        c = (uintptr_t)a < (uintptr_t)b ? -1 : 1;
    return c;
}

double planner_expected(uint64_t attempts, uint64_t successes, uint64_t fleet_attempts,
                        uint64_t fleet_successes, double fleet_weight, double prior_mean)
{
    double w = KNOWLEDGE_PRIOR_WEIGHT;
    double fw = fleet_weight > 0 && isfinite(fleet_weight) ? fleet_weight : 0;
    return ((double)successes + fw * (double)fleet_successes + w * prior_mean) /
           ((double)attempts + fw * (double)fleet_attempts + w);
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    if (!x)
        x = 0x9e3779b97f4a7c15ULL;  /* a zero state would stay zero forever */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

int planner_order(plan_item *items, size_t n, const char *issue_type, knowledge *kb,
                  double exploration, uint64_t *rng)
{
    if (!items || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        plan_item *it = &items[i];
        it->explored = 0;
        it->attempts = 0;
        it->expected = 0;
        if (!it->action)
            continue;
        uint64_t att = 0, succ = 0;
        if (kb && it->action->name)
            knowledge_stats(kb, nz(issue_type), it->action->name, &att, &succ);
        if (succ > att)  /* impossible from a sane base; keep the estimate within 0..1 */
            succ = att;
        it->attempts = att;
        uint64_t fa = 0, fs = 0;
        double w = 0;
        if (kb && it->action->name)
            knowledge_fleet_sums(kb, nz(issue_type), it->action->name, &fa, &fs, &w);
        if (fs > fa)
            fs = fa;
        it->expected = clamp01(planner_expected(att, succ, fa, fs, w,
                                                clamp01(it->action->confidence)));
    }
    if (n > 1)
        qsort(items, n, sizeof *items, cmp_items);

    if (!(exploration > 0) || !rng)
        return 0;
    double u = (double)(xorshift64(rng) >> 11) * 0x1.0p-53;
    if (!(u < exploration))
        return 0;

    /* The first step with at least two candidates. */
    size_t lo = 0;
    while (lo < n && items[lo].action) {
        size_t hi = lo + 1;
        while (hi < n && items[hi].action && items[hi].action->step == items[lo].action->step)
            hi++;
        if (hi - lo >= 2) {
            size_t pick = lo + 1;
            for (size_t j = lo + 2; j < hi; j++)
                if (items[j].attempts < items[pick].attempts)
                    pick = j;  /* strict: equal attempts keep the earlier (better ranked) */
            plan_item chosen = items[pick];
            memmove(&items[lo + 1], &items[lo], (pick - lo) * sizeof *items);
            chosen.explored = 1;
            items[lo] = chosen;
            return 1;
        }
        lo = hi;
    }
    return 0;
}
