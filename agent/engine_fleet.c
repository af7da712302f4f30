/* engine_fleet.c — the engine's half of the fleet-wide limits (fleet.etcd): before a risky step
 * of a live heal, a slot from fleet_limit.c; while there is none the heal waits in H_FLEET (shown
 * as "waiting_fleet_slot", asked again each tick, the engine thread never blocked), audited before
 * it first asks, when it starts waiting, when it gets its slot (or proceeds without one) and when
 * the slot goes back. */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "fleet_limit.h"
#include "log.h"

/* How often a waiting heal asks again, and how soon after a question (its answer takes a few
 * round trips to etcd, a few ms on a LAN); the polls for one answer double up to the retry. */
#define FLEET_RETRY_S 1.0
#define FLEET_FIRST_POLL_S 0.01

static void fleet_audit(engine *e, heal *h, const char *action, const char *result,
                        const char *step, const char *detail)
{
    char waited[32];
    snprintf(waited, sizeof waited, "%.3f",
             h->fleet_wait_since > 0 ? clock_mono() - h->fleet_wait_since : 0.0);
    audit_kv kv[] = { { "step", step }, { "waited_s", waited } };
    audit_rec r = { .heal_id = h->id, .plugin = "fleet", .action = action,
                    .target = h->is->target, .result = result, .message = detail,
                    .dry_run = h->dry_run, .kv_params = 1, .kv = kv, .n_kv = 2 };
    if (e->rt->audit && audit_append(e->rt->audit, &r) < 0)
        log_error("fleet", "heal #%llu: audit line %s not written", (unsigned long long)h->id,
                  action);
}

int eng_fleet_gate(engine *e, heal *h, const msg_action *a)
{
    fleet_limit *fl = e->rt->fleet;
    /* a dry run changes nothing fleet-wide; a heal with a slot keeps it until it ends */
    if (!fl || h->dry_run || !(a->flags & HEALER_ACTION_RISKY) || h->fleet >= 2)
        return 0;
    char d[256];
    int critical = h->severity == HEALER_SEV_CRITICAL;
    if (!h->fleet) {
        /* Written before the question leaves (audit_append is synchronous): etcd can grant a
         * slot before the engine hears of it (its next poll, up to a second later), and an
         * agent killed in that gap leaves a slot held until its lease ends. Every slot etcd
         * ever held for this node then follows an ask in the audit log. */
        snprintf(d, sizeof d, "asks for a fleet slot before %s", a->name);
        fleet_audit(e, h, "fleet_ask", "asking", a->name, d);
    }
    fleet_answer ans = fleet_limit_ask(fl, h->id, critical, d, sizeof d);
    h->fleet = 1;
    if (ans == FLEET_GRANTED || ans == FLEET_PROCEED) {
        h->fleet = ans == FLEET_GRANTED ? 2 : 3;
        h->fleet_polls = 0;
        log_info("fleet", "heal #%llu %s: %s", (unsigned long long)h->id,
                 ans == FLEET_GRANTED ? "got a fleet slot" : "proceeds without a fleet slot", d);
        fleet_audit(e, h, "fleet_slot", ans == FLEET_GRANTED ? "granted" : "proceed", a->name, d);
        h->fleet_waiting = 0;
        return 0;
    }
    h->phase = H_FLEET;
    h->is->state = IS_HEALING;
    if (ans == FLEET_ASKING) {
        double poll = FLEET_FIRST_POLL_S * (double)(1u << (h->fleet_polls < 7 ? h->fleet_polls : 7));
        h->fleet_polls++;
        h->deadline = clock_mono() + (poll < FLEET_RETRY_S ? poll : FLEET_RETRY_S);
        return 1;
    }
    h->fleet_polls = 0;
    h->deadline = clock_mono() + FLEET_RETRY_S;
    if (h->fleet_waiting != (int)ans) {
        if (!h->fleet_wait_since)
            h->fleet_wait_since = clock_mono();
        h->fleet_waiting = (int)ans;
        const char *reason = ans == FLEET_FULL ? "full" : ans == FLEET_BUDGET ? "budget"
                                                                               : "unreachable";
        healer_kv lab = { "reason", reason };
        metrics_counter_add(e->rt->metrics, "fleet_limit_waits_total",
                            FLEET_WAITS_HELP, &lab, 1, 1);
        log_info("fleet", "heal #%llu waits for a fleet slot before %s: %s",
                 (unsigned long long)h->id, a->name, d);
        fleet_audit(e, h, "fleet_wait", "waiting", a->name, d);
    }
    return 1;
}

void eng_fleet_release(engine *e, heal *h)
{
    if (!h->fleet || !e->rt->fleet)
        return;
    fleet_limit_release(e->rt->fleet, h->id);
    if (h->fleet == 2)
        fleet_audit(e, h, "fleet_release", "released", h->cur < h->n_order
                    ? h->order[h->cur].action->name : "", "the heal ended: its slot goes back");
    h->fleet = 0;
}
