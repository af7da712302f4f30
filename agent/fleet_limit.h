/* fleet_limit.h — the fleet-wide limits on risky steps (fleet.etcd): the engine asks for a slot
 * per heal and never waits for etcd; a thread of its own talks to etcd (fleet_etcd.h), keeps the
 * leases of running heals alive and revokes them when the heals end. */
#ifndef AGENT_FLEET_LIMIT_H
#define AGENT_FLEET_LIMIT_H

#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "metrics.h"

typedef struct fleet_limit fleet_limit;

#define FLEET_WAITS_HELP "Risky steps that waited for a fleet-wide slot, by why"

typedef enum fleet_answer {
    FLEET_ASKING,      /* no answer yet: ask again shortly */
    FLEET_GRANTED,     /* a slot (and this hour's budget) is the heal's until it ends */
    FLEET_PROCEED,     /* etcd unreachable and the policy for this severity is "proceed" */
    FLEET_FULL,        /* every slot of the group is held: wait */
    FLEET_BUDGET,      /* the group's hourly budget is spent: wait */
    FLEET_DOWN,        /* etcd unreachable and the policy is "wait" */
} fleet_answer;

/* NULL (and nothing started) when cfg has no fleet.etcd; NULL with why when it cannot start.
 * m (may be NULL) gets fleet_etcd_up. The thread starts at the first ask. */
fleet_limit *fleet_limit_new(const config *cfg, metrics *m, char *why, size_t n);
/* Stops the thread and revokes the leases still held (each request bounded by timeout_ms). */
void fleet_limit_free(fleet_limit *l);

/* Never blocks on etcd. The first call for heal_id starts an attempt and answers FLEET_ASKING;
 * later calls answer the outcome of the last attempt, and a waiting answer (FULL, BUDGET,
 * DOWN) starts the next attempt. detail gets a line for the log and audit. */
fleet_answer fleet_limit_ask(fleet_limit *l, uint64_t heal_id, int critical, char *detail,
                             size_t n);
/* The heal ended (or no longer waits): its slot's lease is revoked, a pending attempt dropped. */
void fleet_limit_release(fleet_limit *l, uint64_t heal_id);

/* {"group", "max_concurrent_risky", "hourly_budget", "etcd_up", "held", "waiting",
 * "last_error"}: for /api/v1/status. */
json_t *fleet_limit_status(fleet_limit *l);
const char *fleet_answer_name(fleet_answer a);

#endif
