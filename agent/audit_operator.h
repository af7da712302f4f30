/* audit_operator.h — one audit.jsonl line per operator decision (confirm, reject, pause, resume,
 * hold, unhold), in the same shape as an action's line: plugin "operator", the decision as the
 * action, its arguments as params, what came of it as result. */
#ifndef AGENT_AUDIT_OPERATOR_H
#define AGENT_AUDIT_OPERATOR_H

#include <stdint.h>
#include <jansson.h>
#include "audit.h"

/* result: "ok", "refused", "not_found", "invalid", "failed". params borrowed (may be NULL).
 * A NULL log is no error (tests, --once without a state dir); a line that cannot be written
 * is logged: the decision itself stands (an operator's stop must never wait on the disk). */
void audit_operator(audit_log *a, const char *decision, uint64_t heal_id, const char *target,
                    json_t *params, const char *result, const char *message);

#endif
