/* audit_operator.c — audit lines for the operator's decisions: every confirm, reject, pause,
 * resume, hold and unhold is written to audit.jsonl like an action, so the log answers "who let
 * this run" and "why did nothing run" as well as "what ran". */
#include "audit_operator.h"

#include "log.h"

void audit_operator(audit_log *a, const char *decision, uint64_t heal_id, const char *target,
                    json_t *params, const char *result, const char *message)
{
    if (!a)
        return;
    audit_rec r = {
        .heal_id = heal_id,
        .plugin = "operator",
        .action = decision,
        .actuator = NULL,
        .target = target,
        .params = params,
        .result = result,
        .message = message,
    };
    if (audit_append(a, &r) < 0)
        log_error("audit", "audit line for the operator's %s not written", decision);
}
