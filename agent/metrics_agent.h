/* metrics_agent.h — the agent's alerting metrics (pending plans, pause, mode, plugin state,
 * open issues, budget, heals by outcome, build_info) and the series declared at 0 from the
 * start; metrics_process.h has the process_* ones. */
#ifndef AGENT_METRICS_AGENT_H
#define AGENT_METRICS_AGENT_H

#include <jansson.h>
#include "metrics.h"

/* build_info{version,abi} 1, and heals_total at 0 for every outcome. Once at start. */
void metrics_agent_build_info(metrics *m, const char *version, const char *abi);
/* heals_total{outcome} += n. */
void metrics_agent_heal_finished(metrics *m, const char *outcome, double n);
/* Series at 0 for the plugins' issue types (detected by severity, suppressed by reason), their
 * crash counters, and every (type, action) in the knowledge view. After plugins load. Borrowed
 * JSON: /api/v1/plugins and /api/v1/knowledge shapes (knowledge may be NULL). */
void metrics_agent_declare(metrics *m, json_t *plugins, json_t *knowledge);
/* The scrape-time gauges from the /api/v1 views (status, pending, issues, plugins; any NULL is
 * skipped); now is the wall clock the pending plans' created_at is measured on. */
void metrics_agent_refresh(metrics *m, json_t *status, json_t *pending, json_t *issues,
                           json_t *plugins, double now);

#endif
