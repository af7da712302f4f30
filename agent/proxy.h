/* proxy.h — what the rest of the agent sees of plugin children (process isolation): their state
 * for /api/v1/plugins, healctl and the dashboard, and --check-config's describe in a child. The
 * proxy thread itself is a worker (worker_int.h, proxy.c). */
#ifndef AGENT_PROXY_H
#define AGENT_PROXY_H

#include <jansson.h>

/* The child's state for the plugin named name: {"run_state", "pid", "crashes", "last_crash",
 * "last_crash_time", "next_start", "memory_max_mb", "cpu_max_percent", "memory_bytes",
 * "limits"}; NULL when it never ran in a child. New reference. */
json_t *proxy_status_json(const char *name);
/* 1 when the child of name was marked failed after too many crashes (reason copied). */
int proxy_status_failed(const char *name, char *reason, size_t len);
/* Frees the registry (at exit). */
void proxy_status_free_all(void);

/* The path of healerd-plugin: $HEALERD_PLUGIN_RUNNER, else next to this executable, else the
 * installed one. */
const char *proxy_runner_path(void);

#endif
