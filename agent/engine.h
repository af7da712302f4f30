/* engine.h — the heart of the flow: receives issues from the plugins' workers, merges repeats,
 * asks the governor, collects plans from every plugin that claims the issue type, has the planner
 * order them, runs the ladder action by action on the plugins' workers, verifies, records in the
 * knowledge base, the audit log and the metrics, and restores when an issue clears. One thread;
 * the HTTP threads read its state through the *_json functions under its lock. */
#ifndef AGENT_ENGINE_H
#define AGENT_ENGINE_H

#include <stdio.h>
#include <jansson.h>
#include "http.h"
#include "loader.h"
#include "runtime.h"

typedef struct engine engine;

/* Binds the engine's inbox, starts a worker (and runs init) for every loaded plugin of set
 * (a plugin whose init fails is marked failed in set). auto_detect: workers call detect() on
 * their own timers (the daemon); 0 for --once. set must outlive the engine. */
engine *engine_new(runtime *rt, plugin_set *set, int auto_detect);
/* Runs the engine on a thread of its own until engine_stop. */
int engine_start(engine *e);
/* Stops the engine thread (if any) and every worker (destroy() runs), at most timeout_s each. */
void engine_stop(engine *e, double timeout_s);
void engine_free(engine *e);

/* --once: one detect() on every plugin, then every resulting heal carried to its end (or to
 * the pending queue), at most timeout_s. Runs on the calling thread. 0, or -1 on timeout. */
int engine_run_once(engine *e, double timeout_s);

/* Thread-safe views and commands (HTTP threads). */
double engine_health(engine *e);
void engine_counts(engine *e, size_t *open_issues, size_t *pending);
json_t *engine_issues_json(engine *e);
json_t *engine_pending_json(engine *e);
/* A heal not finished yet (planning, pending, running), shaped like knowledge_heal_json's with
 * "state" (planning | pending | waiting | executing | verifying) and "plan" (every step in
 * order, with "ran" set on the ones done): a new reference, or NULL when there is none. */
json_t *engine_heal_json(engine *e, uint64_t id);
/* One open issue as in engine_issues_json, or NULL when it is not open. */
json_t *engine_issue_json(engine *e, uint64_t id);
/* The components behind the system health: [{"plugin", "component", "score"}]. */
json_t *engine_health_json(engine *e);
/* The heals finished since start, newest first (at most 100): for the --once summary. */
json_t *engine_recent_json(engine *e);
int engine_command(engine *e, http_command cmd, uint64_t id, char *msg, size_t len);
/* Keep (1) or drop (0) the --once list of finished heals; the daemon never keeps it, and the
 * pipeline benchmark turns it off to measure what the daemon does. Before the first heal. */
void engine_keep_recent(engine *e, int keep);
/* Monotonic time of the engine loop's last turn (it turns at least every 0.25 s while alive).
 * The watchdog pings systemd only while this is fresh, so a hung engine gets the agent
 * restarted. Thread-safe. */
double engine_heartbeat(engine *e);
/* Heals finished since start (any outcome). Thread-safe; benchmarks poll it. */
uint64_t engine_heals_finished(engine *e);

/* Alert operations (alerts.h) for the engine thread, taken over (freed in every case): each
 * raises or refreshes an issue of detector "alertmanager" that closes after ttl seconds without
 * a repeat, or resolves one. Never blocks for long: HEALER_OK, or HEALER_E_FULL when more than
 * ENGINE_ALERTS_QUEUE_MAX operations wait already (dropped). Thread-safe. */
#define ENGINE_ALERTS_QUEUE_MAX 50000
#define ENGINE_ALERTS_DETECTOR "alertmanager"
struct alert_op;
int engine_alerts_post(engine *e, struct alert_op *ops, size_t n, double ttl);

#endif
